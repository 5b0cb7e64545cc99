//! `--tls-self-signed`: a certificate made at start, for trying TLS without files.

/// The names [`--tls-self-signed`](super::ServerArgs::tls_self_signed)'s certificate is for.
pub const SELF_SIGNED_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// What a server started with `--tls-self-signed` prints on stderr.
pub const SELF_SIGNED_WARNING: &str = "warning: --tls-self-signed: serving TLS with a \
    self-signed certificate for localhost, 127.0.0.1 and ::1, made at start and never \
    saved. No client can verify it (`curl -k` skips the check): use it to try TLS only, \
    never in production, where --tls-cert and --tls-key serve a real certificate.";

/// A TLS configuration with a new self-signed certificate for [`SELF_SIGNED_NAMES`]
/// (rcgen, an ECDSA P-256 key), offering the ALPN protocols `alpn`.
#[cfg(feature = "tls")]
pub(super) fn self_signed_config(
    alpn: &[&[u8]],
) -> net::Result<std::sync::Arc<net::tls::rustls::ServerConfig>> {
    use net::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let names = SELF_SIGNED_NAMES.map(str::to_owned).to_vec();
    let made = rcgen::generate_simple_self_signed(names).map_err(|e| {
        net::Error::invalid_param(
            "--tls-self-signed",
            format_args!("cannot make a certificate: {e}"),
        )
    })?;
    let chain = vec![CertificateDer::from(made.cert.der().to_vec())];
    let key = PrivateKeyDer::from(PrivatePkcs8KeyDer::from(made.key_pair.serialize_der()));
    net::tls::server_config_from_der(chain, key, alpn)
}
