//! `loadgen` over TLS, against a small rustls server made here (a thread per connection
//! answering every request head with the http example's `Hello, World!`), with a
//! certificate made at run time: keep-alive, a new connection per request with session
//! resumption and without, and a TLS client against a plain server; a ClientHello flood
//! beside TLS clients, and TLS probes.

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
    let mut c = config(&server, true, None);
    c.expect_stallers = 1;
    assert_eq!(c.validate().unwrap_err().flag(), "--tls-ca");
    // The hello flood sends TLS bytes, and the probes speak TLS like the measured load.
    let mut c = config(&server, true, None);
    c.hello_flood = 1;
    c.probe_interval = Some(Duration::from_millis(100));
    assert_eq!(c.validate(), Ok(()));
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

#[test]
fn hello_flood_gets_server_hellos_while_tls_clients_and_probes_are_served() {
    let server = tls_server("hello");
    let mut c = config(&server, true, None);
    c.stop = Stop::Duration(Duration::from_millis(500));
    c.hello_flood = 4;
    c.probe_interval = Some(Duration::from_millis(50));
    let report = loadgen::run(&c).unwrap();
    assert_eq!(report.errors_total, 0, "{report:?}");
    assert!(report.requests > 0, "{report:?}");
    let p = report.background.hello_flood;
    assert!(p.reconnecting, "{p:?}");
    assert!(p.opened >= 4, "{p:?}");
    assert_eq!(
        p.opened,
        p.closed_by_server + p.closed_by_client + p.open_at_end,
        "{p:?}"
    );
    let a = p.activity.expect("activity");
    assert_eq!(a.sent, p.opened, "one hello per connection: {a:?}");
    // The server answers hellos with its own, not with an alert; the client closes at
    // once and starts again.
    assert!(a.answered >= 1, "{a:?}");
    assert_eq!(a.errors, 0, "{a:?}");
    assert!(a.bytes_received > 0, "{a:?}");
    assert!(p.closed_by_client >= a.answered, "{p:?}");
    // TLS probes: a new connection each, with its handshake.
    let probes = report.probes.expect("probes");
    assert!(probes.sent >= 1, "{probes:?}");
    assert_eq!(
        (probes.answered, probes.failed),
        (probes.sent, 0),
        "{probes:?}"
    );
    assert!(report
        .summary()
        .contains("hello-flood 4 kept (reconnecting)"));
}

#[test]
fn a_captured_client_hello_is_one_tls_record_naming_the_server() {
    let hello = loadgen::client_hello("example.test").unwrap();
    // A handshake record of TLS 1.0 to 1.2 framing, carrying a ClientHello.
    assert_eq!(hello[0], 22);
    assert_eq!(hello[1], 3);
    let len = usize::from(u16::from_be_bytes([hello[3], hello[4]]));
    assert_eq!(hello.len(), 5 + len);
    assert_eq!(hello[5], 1);
    assert!(hello.windows(12).any(|w| w == b"example.test"));
    assert!(hello.windows(8).any(|w| w == b"http/1.1"));
    assert!(loadgen::client_hello("not a name!").is_err());
}
