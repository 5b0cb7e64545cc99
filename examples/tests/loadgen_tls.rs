//! `loadgen` over TLS, against a small rustls server made here (a thread per connection
//! answering every request head with the http example's `Hello, World!`), with a
//! certificate made at run time: keep-alive, a new connection per request with session
//! resumption and without, and a TLS client against a plain server.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use examples::loadgen::{self, Config, Proto, Stop, TlsClient};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";

/// A TLS HTTP server on a free port, and the PEM file of its (self-signed) certificate.
struct TlsServer {
    addr: SocketAddr,
    ca: PathBuf,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ca);
    }
}

fn tls_server(name: &str) -> TlsServer {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let ca = std::env::temp_dir().join(format!("loadgen-tls-{name}-{}.pem", std::process::id()));
    std::fs::write(&ca, cert.cert.pem()).unwrap();
    let chain = vec![CertificateDer::from(cert.cert.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let config = Arc::clone(&config);
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, stream);
                let _ = serve(&mut tls);
            });
        }
    });
    TlsServer { addr, ca }
}

/// Answer each request head; end at the client's close.
fn serve(
    tls: &mut rustls::StreamOwned<rustls::ServerConnection, std::net::TcpStream>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(tls);
    let mut line = String::new();
    loop {
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            if line == "\r\n" {
                break;
            }
        }
        reader.get_mut().write_all(RESPONSE)?;
        reader.get_mut().flush()?;
    }
}

fn config(server: &TlsServer, resume: bool, per_connection: Option<u64>) -> Config {
    let mut c = Config::new(server.addr, Proto::Http, Stop::Requests(60));
    c.connections = 2;
    c.warmup = Duration::ZERO;
    c.timeout = Duration::from_secs(10);
    c.tls = Some(TlsClient::from_ca_file(&server.ca, "localhost", resume).unwrap());
    c.requests_per_connection = per_connection;
    c
}

#[test]
fn keep_alive_over_tls_one_handshake_per_connection() {
    let server = tls_server("keepalive");
    let report = loadgen::run(&config(&server, true, None)).unwrap();
    assert_eq!(
        (report.requests, report.errors_total),
        (60, 0),
        "{report:?}"
    );
    assert!(report.tls);
    assert_eq!(report.handshakes.full + report.handshakes.resumed, 2);
}

#[test]
fn a_new_connection_per_request_resumes_sessions() {
    let server = tls_server("resume");
    let report = loadgen::run(&config(&server, true, Some(1))).unwrap();
    assert_eq!(
        (report.requests, report.errors_total),
        (60, 0),
        "{report:?}"
    );
    let h = report.handshakes;
    assert_eq!(h.full + h.resumed, 60, "one handshake per request: {h:?}");
    assert!(h.resumed > 0, "{h:?}");
    assert!(report.summary().contains("resumed"));
}

#[test]
fn without_resumption_every_handshake_is_full() {
    let server = tls_server("full");
    let report = loadgen::run(&config(&server, false, Some(1))).unwrap();
    assert_eq!(
        (report.requests, report.errors_total),
        (60, 0),
        "{report:?}"
    );
    assert_eq!((report.handshakes.full, report.handshakes.resumed), (60, 0));
}

#[test]
fn tls_against_a_plain_server_is_counted_as_errors() {
    let server = tls_server("plain");
    // A plain HTTP server: its answer is not TLS.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut head = String::new();
                let _ = BufReader::new(&stream).read_line(&mut head);
                let _ = stream.write_all(RESPONSE);
            });
        }
    });
    let mut c = config(&server, true, None);
    c.addr = addr;
    c.connections = 1;
    c.stop = Stop::Requests(1);
    let report = loadgen::run(&c).unwrap();
    // The answer is not TLS: the request fails, and so may a connection that failed
    // before sending it (the server can answer the ClientHello alone); all as reads.
    assert_eq!(report.requests, 0, "{report:?}");
    assert!(report.errors_total >= 1, "{report:?}");
    assert_eq!(report.errors.read, report.errors_total, "{report:?}");
}

#[test]
fn tls_with_background_populations_is_refused() {
    let server = tls_server("bg");
    let mut c = config(&server, true, None);
    c.idle = 1;
    assert_eq!(c.validate().unwrap_err().flag(), "--tls-ca");
    let mut c = config(&server, true, Some(0));
    c.requests_per_connection = Some(0);
    assert_eq!(
        c.validate().unwrap_err().flag(),
        "--requests-per-connection"
    );
}

#[test]
fn a_ca_file_without_certificates_is_an_error_naming_it() {
    let path = std::env::temp_dir().join(format!("loadgen-empty-{}.pem", std::process::id()));
    std::fs::write(&path, "not a certificate\n").unwrap();
    let err = TlsClient::from_ca_file(&path, "localhost", true).unwrap_err();
    assert!(err.to_string().contains("loadgen-empty"), "{err}");
    let _ = std::fs::remove_file(&path);
    let err = TlsClient::from_ca_file("/nonexistent/ca.pem".as_ref(), "localhost", true);
    assert!(err.unwrap_err().to_string().contains("/nonexistent/ca.pem"));
}
