//! The certificate `compare`'s TLS scenarios use: self-signed for `localhost`, made with
//! `rcgen` when the run starts (no key ships in the repository).

use std::io;
use std::path::{Path, PathBuf};

/// The name the certificate is for, and the load generator asks for.
pub const TLS_NAME: &str = "localhost";

/// A certificate and its key, as PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate (self-signed: the load generator trusts it as its CA).
    pub cert: PathBuf,
    /// Its private key (PKCS#8).
    pub key: PathBuf,
}

impl TlsFiles {
    /// Make a new self-signed certificate for [`TLS_NAME`] and `127.0.0.1` in `dir`
    /// (created if needed): `cert.pem` and `key.pem`.
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("tls-doc-{}", std::process::id()));
    /// let files = examples::compare::tls::TlsFiles::make(&dir)?;
    /// assert!(std::fs::read_to_string(&files.cert)?.starts_with("-----BEGIN CERTIFICATE-----"));
    /// std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn make(dir: &Path) -> io::Result<TlsFiles> {
        std::fs::create_dir_all(dir)?;
        let names = vec![TLS_NAME.to_owned(), "127.0.0.1".to_owned()];
        let made = rcgen::generate_simple_self_signed(names)
            .map_err(|e| io::Error::other(format!("cannot make a certificate: {e}")))?;
        let files = TlsFiles {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        };
        std::fs::write(&files.cert, made.cert.pem())?;
        std::fs::write(&files.key, made.key_pair.serialize_pem())?;
        Ok(files)
    }

    /// [`TlsFiles::make`] with an RSA-2048 key, made by the `openssl` command (rcgen on
    /// ring signs with RSA keys but cannot generate them): what most servers on the web
    /// still present, and a handshake's most expensive signature (about 0.7 ms of server
    /// CPU here, against 0.14 ms for a whole P-256 handshake). An error when `openssl`
    /// is missing or fails.
    pub fn make_rsa(dir: &Path) -> io::Result<TlsFiles> {
        std::fs::create_dir_all(dir)?;
        let key = rsa_key()?;
        let names = vec![TLS_NAME.to_owned(), "127.0.0.1".to_owned()];
        let cert = rcgen::CertificateParams::new(names)
            .and_then(|params| params.self_signed(&key))
            .map_err(|e| io::Error::other(format!("cannot make a certificate: {e}")))?;
        let files = TlsFiles {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        };
        std::fs::write(&files.cert, cert.pem())?;
        std::fs::write(&files.key, key.serialize_pem())?;
        Ok(files)
    }
}

/// A new RSA-2048 key pair, made by the `openssl` command (rcgen on ring signs with RSA
/// keys but cannot generate them); an error naming openssl when it is missing or fails.
pub fn rsa_key() -> io::Result<rcgen::KeyPair> {
    let out = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .stderr(std::process::Stdio::null())
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run openssl: {e}")))?;
    let pem = String::from_utf8(out.stdout)
        .ok()
        .filter(|_| out.status.success())
        .ok_or_else(|| io::Error::other("openssl genpkey made no RSA key"))?;
    rcgen::KeyPair::from_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256)
        .map_err(|e| io::Error::other(format!("cannot read openssl's RSA key: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_rsa_certificate_when_openssl_is_there() {
        let dir = std::env::temp_dir().join(format!("tls-rsa-{}", std::process::id()));
        match TlsFiles::make_rsa(&dir) {
            Ok(files) => {
                let key = std::fs::read_to_string(&files.key).unwrap();
                let parsed = rcgen::KeyPair::from_pem_and_sign_algo(&key, &rcgen::PKCS_RSA_SHA256);
                assert!(parsed.is_ok(), "an RSA key");
                assert!(std::fs::read_to_string(&files.cert)
                    .unwrap()
                    .starts_with("-----BEGIN CERTIFICATE-----"));
            }
            // scripts/test.sh installs openssl; without it the error says why.
            Err(e) => assert!(e.to_string().contains("openssl"), "{e}"),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
