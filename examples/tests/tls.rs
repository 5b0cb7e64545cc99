//! `--tls-cert` and `--tls-key` on the example binaries: both or neither (one alone exits
//! with 2 naming the other), and not with `--tls-self-signed`; without the `tls` feature
//! they exit with 2 saying the binary was built without TLS; with it, a bad file exits with
//! 2 naming it, and good files serve TLS and print an `https://` (or `tls://`) listening
//! line, `http` offering ALPN `http/1.1` and `echo` and `resp` none; `--tls-self-signed`
//! serves TLS without files. Runs under whatever features the test build has.

mod common;

use common::run;

const HTTP: &str = env!("CARGO_BIN_EXE_http");
const ECHO: &str = env!("CARGO_BIN_EXE_echo");
const RESP: &str = env!("CARGO_BIN_EXE_resp");

fn refused(bin: &str, args: &[&str]) -> String {
    let output = run(bin, args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{bin} {args:?}: {output:?}");
    assert!(output.stdout.is_empty(), "{bin} {args:?}: {output:?}");
    stderr
}

#[test]
fn one_tls_flag_alone_exits_2_naming_the_other() {
    for bin in [HTTP, ECHO, RESP] {
        let stderr = refused(bin, &["--tls-cert", "cert.pem"]);
        assert!(stderr.contains("--tls-key"), "{bin}: {stderr}");
        let stderr = refused(bin, &["--tls-key", "key.pem"]);
        assert!(stderr.contains("--tls-cert"), "{bin}: {stderr}");
    }
}

#[test]
fn self_signed_is_not_with_files() {
    for bin in [HTTP, ECHO, RESP] {
        for files in [
            &["--tls-cert", "cert.pem"][..],
            &["--tls-key", "key.pem"],
            &["--tls-cert", "cert.pem", "--tls-key", "key.pem"],
        ] {
            let mut args = vec!["--tls-self-signed"];
            args.extend_from_slice(files);
            let stderr = refused(bin, &args);
            assert!(
                stderr.contains("--tls-self-signed"),
                "{bin} {args:?}: {stderr}"
            );
            assert!(
                stderr.contains("cannot be used with"),
                "{bin} {args:?}: {stderr}"
            );
        }
    }
}

#[cfg(not(feature = "tls"))]
#[test]
fn without_the_tls_feature_the_flags_say_so() {
    for bin in [HTTP, ECHO, RESP] {
        for args in [
            &["--tls-cert", "cert.pem", "--tls-key", "key.pem"][..],
            &["--tls-self-signed"],
        ] {
            let stderr = refused(bin, args);
            assert!(stderr.contains("built without TLS"), "{bin}: {stderr}");
            assert!(stderr.contains("--features tls"), "{bin}: {stderr}");
        }
    }
}

#[cfg(feature = "tls")]
mod with_tls {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpStream};
    use std::sync::Arc;
    use std::time::Duration;

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::client::WebPkiServerVerifier;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore};

    use super::*;
    use crate::common::CertFiles;

    /// A TLS client of `addr` for the name `name`, offering ALPN `http/1.1`, checking the
    /// server's certificate with `config`'s verifier; the handshake is done.
    fn connect(
        config: ClientConfig,
        addr: SocketAddr,
        name: &str,
    ) -> rustls::StreamOwned<ClientConnection, TcpStream> {
        let mut config = config;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let name = ServerName::try_from(name.to_owned()).unwrap();
        let mut conn = ClientConnection::new(Arc::new(config), name).unwrap();
        let mut sock = TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        while conn.is_handshaking() {
            conn.complete_io(&mut sock).unwrap();
        }
        rustls::StreamOwned::new(conn, sock)
    }

    fn client_builder() -> rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
    }

    /// A client configuration trusting the certificate in `cert_pem` (self-signed).
    fn trusting(cert_pem: &str) -> ClientConfig {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_file(cert_pem).unwrap())
            .unwrap();
        client_builder()
            .with_root_certificates(roots)
            .with_no_client_auth()
    }

    /// Trust on first use: the certificate the server presents is taken as its own root,
    /// and checked as any would be against it (its signature, its validity period, the
    /// name asked for), so that only the trust in it is skipped. `--tls-self-signed`'s
    /// certificate is made at start and never saved: no client can know it beforehand.
    #[derive(Debug)]
    struct FirstUse(Arc<rustls::crypto::CryptoProvider>);

    impl ServerCertVerifier for FirstUse {
        fn verify_server_cert(
            &self,
            end_entity: &CertificateDer<'_>,
            intermediates: &[CertificateDer<'_>],
            server_name: &ServerName<'_>,
            ocsp_response: &[u8],
            now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            let mut roots = RootCertStore::empty();
            roots.add(end_entity.clone().into_owned())?;
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&self.0))
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            let algorithms = &self.0.signature_verification_algorithms;
            rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            let algorithms = &self.0.signature_verification_algorithms;
            rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    fn first_use() -> ClientConfig {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        client_builder()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(FirstUse(provider)))
            .with_no_client_auth()
    }

    /// `GET /` over `stream`: the whole response (the server closes after it).
    fn get_root(mut stream: rustls::StreamOwned<ClientConnection, TcpStream>) -> String {
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut response = Vec::new();
        match stream.read_to_end(&mut response) {
            Ok(_) => {}
            // A peer that closes without close_notify; the response is there all the same.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
            Err(e) => panic!("reading the response: {e}"),
        }
        String::from_utf8(response).unwrap()
    }

    #[test]
    fn a_bad_file_exits_2_naming_it() {
        let files = CertFiles::new("bad");
        let missing = files.path("missing.pem");
        let stderr = refused(
            HTTP,
            &["--tls-cert", &missing, "--tls-key", &files.path("key.pem")],
        );
        assert!(stderr.contains("missing.pem"), "{stderr}");
        assert!(stderr.contains("for '--tls-cert'"), "{stderr}");
        // The certificate where the key should be.
        let cert = files.path("cert.pem");
        let stderr = refused(HTTP, &["--tls-cert", &cert, "--tls-key", &cert]);
        assert!(stderr.contains("private key"), "{stderr}");
        assert!(stderr.contains("for '--tls-key'"), "{stderr}");
    }

    /// On both servers (`net`, and evnet with the `evented` feature).
    #[test]
    fn good_files_serve_tls_with_an_https_line() {
        let files = CertFiles::new("good");
        let (cert, key) = (files.path("cert.pem"), files.path("key.pem"));
        for (bin, scheme) in [(HTTP, "https://"), (ECHO, "tls://"), (RESP, "rediss://")] {
            let server = common::Running::start(bin, &["--tls-cert", &cert, "--tls-key", &key]);
            assert!(
                server
                    .first_line
                    .starts_with(&format!("listening on {scheme}127.0.0.1:")),
                "{bin}: {}",
                server.first_line
            );
            server.signal("TERM");
            let (status, _) = server.wait();
            assert!(status.success(), "{bin}: {status:?}");
        }
    }

    /// ALPN per server: `http` agrees on `http/1.1`, `echo` and `resp` on nothing, though
    /// the client offers `http/1.1` to each.
    #[test]
    fn alpn_is_http11_on_http_and_none_elsewhere() {
        let files = CertFiles::new("alpn");
        let (cert, key) = (files.path("cert.pem"), files.path("key.pem"));
        for (bin, alpn) in [(HTTP, Some(&b"http/1.1"[..])), (ECHO, None), (RESP, None)] {
            let server = common::Running::start(bin, &["--tls-cert", &cert, "--tls-key", &key]);
            let stream = connect(trusting(&cert), server.addr, "localhost");
            assert_eq!(stream.conn.alpn_protocol(), alpn, "{bin}");
            if bin == HTTP {
                let response = get_root(stream);
                assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
            }
            server.signal("TERM");
            let (status, _) = server.wait();
            assert!(status.success(), "{bin}: {status:?}");
        }
    }

    /// `--tls-self-signed`: an `https://` line, the warning on stderr, and a client that
    /// trusts the certificate it is shown (for `localhost` and for `127.0.0.1`) gets 200
    /// over `http/1.1`.
    #[test]
    fn self_signed_serves_https() {
        let mut server = common::Running::start(HTTP, &["--tls-self-signed"]);
        assert!(
            server
                .first_line
                .starts_with("listening on https://127.0.0.1:"),
            "{}",
            server.first_line
        );
        let mut stderr = server.child.stderr.take().unwrap();
        for name in ["localhost", "127.0.0.1"] {
            let stream = connect(first_use(), server.addr, name);
            assert_eq!(stream.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
            let response = get_root(stream);
            assert!(
                response.starts_with("HTTP/1.1 200 OK\r\n"),
                "{name}: {response}"
            );
            assert!(
                response.ends_with("\r\n\r\nHello, World!"),
                "{name}: {response}"
            );
        }
        // Not for another name: the certificate is checked, only trusted blindly.
        let mut config = first_use();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let name = ServerName::try_from("example.com").unwrap();
        let mut conn = ClientConnection::new(Arc::new(config), name).unwrap();
        let mut sock = TcpStream::connect(server.addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let err = loop {
            match conn.complete_io(&mut sock) {
                Ok(_) if conn.is_handshaking() => {}
                Ok(_) => panic!("a certificate for localhost accepted for example.com"),
                Err(e) => break e,
            }
        };
        assert!(err.to_string().contains("certificate"), "{err}");
        server.signal("TERM");
        let (status, _) = server.wait();
        assert!(status.success(), "{status:?}");
        let mut text = String::new();
        stderr.read_to_string(&mut text).unwrap();
        assert!(text.contains(examples::cli::SELF_SIGNED_WARNING), "{text}");
    }
}
