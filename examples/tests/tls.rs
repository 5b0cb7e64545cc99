//! `--tls-cert` and `--tls-key` on the example binaries: both or neither (one alone exits
//! with 2 naming the other); without the `tls` feature
//! they exit with 2 saying the binary was built without TLS; with it, a bad file exits with
//! 2 naming it, and good files serve TLS and print an `https://` (or `tls://`) listening
//! line, `http` offering ALPN `http/1.1` and `echo` and `resp` none. Runs under whatever
//! features the test build has.

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

#[cfg(not(feature = "tls"))]
#[test]
fn without_the_tls_feature_the_flags_say_so() {
    for bin in [HTTP, ECHO, RESP] {
        let stderr = refused(bin, &["--tls-cert", "cert.pem", "--tls-key", "key.pem"]);
        assert!(stderr.contains("built without TLS"), "{bin}: {stderr}");
        assert!(stderr.contains("--features tls"), "{bin}: {stderr}");
    }
}

#[cfg(feature = "tls")]
mod with_tls {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpStream};
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::time::Duration;

    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    use rustls::{ClientConfig, ClientConnection, RootCertStore};

    use super::*;

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

    /// A self-signed certificate and its key in a directory of their own (removed on drop).
    struct Files(PathBuf);

    impl Files {
        fn new(name: &str) -> Files {
            let dir =
                std::env::temp_dir().join(format!("examples-tls-{name}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
            std::fs::write(dir.join("cert.pem"), cert.cert.pem()).unwrap();
            std::fs::write(dir.join("key.pem"), cert.key_pair.serialize_pem()).unwrap();
            Files(dir)
        }
        fn path(&self, name: &str) -> String {
            self.0.join(name).to_string_lossy().into_owned()
        }
    }

    impl Drop for Files {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_bad_file_exits_2_naming_it() {
        let files = Files::new("bad");
        let missing = files.path("missing.pem");
        let stderr = refused(
            HTTP,
            &["--tls-cert", &missing, "--tls-key", &files.path("key.pem")],
        );
        assert!(stderr.contains("missing.pem"), "{stderr}");
        // The certificate where the key should be.
        let cert = files.path("cert.pem");
        let stderr = refused(HTTP, &["--tls-cert", &cert, "--tls-key", &cert]);
        assert!(stderr.contains("private key"), "{stderr}");
    }

    /// On both servers (`net`, and evnet with the `evented` feature).
    #[test]
    fn good_files_serve_tls_with_an_https_line() {
        let files = Files::new("good");
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
        let files = Files::new("alpn");
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
}
