//! TLS (issue 11): both servers serve TLS with rustls, end to end, with real clients
//! (`curl`, `openssl s_client`) and a rustls client. The behavioural tests run on
//! `net::TcpServer` and on `evnet::EvServer` (workers; a few more on evnet alone: inline
//! dispatch, a stalled handshake holding no worker, the memory an idle TLS connection
//! costs). Built with the `tls` feature of this crate (`cargo test -p tests
//! --all-features --test tls`).
//!
//! Certificates are made at run time with rcgen (a CA and a leaf for `localhost` and
//! `127.0.0.1` signed by it) in a temporary directory: no key ships in the repository.
//! The tests of this file run one at a time (see [`serial`]): one of them counts this
//! process's descriptors. Timing is asserted only with generous bounds.
#![cfg(feature = "tls")]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use evnet::{Dispatch, EvOptions};
use examples::http::{HttpHandler, HELLO};
use net::{Server, ServerParams, ServerParamsBuilder};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, HandshakeKind, StreamOwned};
use tests::{
    await_sample, await_stats, fd_count, server_tests, start_ev, stop, TestServer, CLIENT_TIMEOUT,
};

// ----- one test at a time -------------------------------------------------------------

static SERIAL: Mutex<()> = Mutex::new(());

/// Every test of this file holds this lock for its whole run: one counts this process's
/// descriptors, which any other test running at the same time would disturb.
fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

// ----- certificates -------------------------------------------------------------------

/// A test CA and a leaf it signed for `localhost` and `127.0.0.1`, as PEM files in a
/// directory of their own (removed on drop).
struct Certs {
    dir: PathBuf,
    ca_der: CertificateDer<'static>,
}

impl Certs {
    fn new() -> Certs {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
            KeyUsagePurpose,
        };
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tls-tests-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();

        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "net test CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().unwrap();
        let ca = ca_params.self_signed(&ca_key).unwrap();

        let mut leaf_params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).unwrap();

        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.join("cert.pem"), leaf.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), leaf_key.serialize_pem()).unwrap();
        Certs {
            dir,
            ca_der: ca.der().clone(),
        }
    }

    fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    fn cert(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }
    fn key(&self) -> PathBuf {
        self.dir.join("key.pem")
    }

    /// Server parameters serving TLS with the leaf (from the PEM files, as a user would),
    /// offering ALPN `http/1.1`.
    fn params(&self) -> ServerParamsBuilder {
        self.params_offering(net::tls::ALPN_HTTP11)
    }

    /// [`Certs::params`] offering the ALPN protocols `alpn`.
    fn params_offering(&self, alpn: &[&[u8]]) -> ServerParamsBuilder {
        let config = net::tls::server_config(&self.cert(), &self.key(), alpn).unwrap();
        ServerParams::builder().tls(config)
    }

    /// A rustls client configuration trusting the test CA, offering ALPN `http/1.1`. Its
    /// session cache (rustls' default) lets a second connection resume.
    fn client_config(&self) -> Arc<ClientConfig> {
        client_config_trusting(self.ca_der.clone())
    }
}

/// A rustls client configuration trusting `ca`, offering ALPN `http/1.1`.
fn client_config_trusting(ca: CertificateDer<'static>) -> Arc<ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ----- servers and clients ------------------------------------------------------------

/// A server of type `S` serving TLS (evnet: one loop, two workers).
fn start_tls<S: TestServer, H: net::Handler>(handler: H, params: ServerParams) -> S {
    tests::start_with::<S, H>(handler, params, 1, 2)
}

type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// A rustls client connected to `addr` with the handshake done (as `localhost`).
fn tls_connect(config: &Arc<ClientConfig>, addr: SocketAddr) -> TlsStream {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    tcp.set_write_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = ClientConnection::new(Arc::clone(config), name).unwrap();
    let mut stream = StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .unwrap_or_else(|e| panic!("handshake with {addr}: {e}"));
    }
    stream
}

/// Read one HTTP response (head and `Content-Length` body); returns (head, body).
fn read_response(reader: &mut impl BufRead) -> (String, Vec<u8>) {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        let n = reader
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("reading a response head: {e} (got {head:?})"));
        assert!(n > 0, "connection closed in a response head: {head:?}");
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().unwrap())
        })
        .unwrap_or_else(|| panic!("no Content-Length in {head:?}"));
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    (head, body)
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";

/// Send `GET /` and check the answer is `Hello, World!`.
fn hello(stream: &mut BufReader<TlsStream>) {
    stream.get_mut().write_all(GET).unwrap();
    stream.get_mut().flush().unwrap();
    let (head, body) = read_response(stream);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, HELLO);
}

/// The bytes of a real ClientHello, as a rustls client would send them.
fn client_hello(config: &Arc<ClientConfig>) -> Vec<u8> {
    let name = ServerName::try_from("localhost").unwrap();
    let mut conn = ClientConnection::new(Arc::clone(config), name).unwrap();
    let mut bytes = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut bytes).unwrap();
    }
    bytes
}

/// Read from `sock` until EOF (or a reset); what arrived, and when it ended.
fn read_to_close(mut sock: &TcpStream) -> (Vec<u8>, Instant) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match sock.read(&mut buf) {
            Ok(0) => return (got, Instant::now()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if tests::is_reset(&e) => return (got, Instant::now()),
            Err(e) => panic!("waiting for the server to close: {e} (got {got:?})"),
        }
    }
}

/// `program` is installed (scripts/test.sh installs it through scripts/ensure-deps.sh);
/// `version_arg` makes it print its version and nothing else (no network).
fn require(program: &str, version_arg: &str) {
    let found = Command::new(program)
        .arg(version_arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "{program} is not installed: run scripts/ensure-deps.sh {program}"
    );
}

// ----- the tests ------------------------------------------------------------------------

/// curl over HTTPS with the test CA gets `Hello, World!` from the http handler, over
/// HTTP/1.1 negotiated by ALPN.
fn curl_gets_hello_over_https<S: TestServer>() {
    let _serial = serial();
    require("curl", "--version");
    let certs = Certs::new();
    let mut server = start_tls::<S, _>(HttpHandler::new(), certs.params().build().unwrap());
    let port = server.local_addr().port();
    let out = Command::new("curl")
        .args(["-sS", "-v", "--http1.1", "--max-time", "10", "--cacert"])
        .arg(certs.ca())
        .arg("--resolve")
        .arg(format!("localhost:{port}:127.0.0.1"))
        .arg(format!("https://localhost:{port}/"))
        .output()
        .expect("run curl");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "curl failed: {stderr}");
    assert_eq!(out.stdout, HELLO, "{stderr}");
    assert!(
        stderr.contains("ALPN: server accepted http/1.1")
            || stderr.contains("ALPN, server accepted to use http/1.1"),
        "no ALPN http/1.1 in curl's trace: {stderr}"
    );
    let stats = await_stats(&server, "one request, no connection", |s| {
        s.requests == 1 && s.current_connections == 0
    });
    assert_eq!(stats.tls_handshake_failures, 0, "{stats:?}");
    stop(&mut server);
}

/// A handler sees plaintext and the ALPN protocol; a rustls client sees `http/1.1` too.
fn alpn_is_http11_on_both_sides<S: TestServer>() {
    struct Alpn;
    impl net::Handler for Alpn {
        type Session = ();
        fn open(&self, _: &net::Connection) {}
        fn serve(&self, _: &mut (), conn: &mut net::Connection) -> io::Result<net::Action> {
            let mut line = String::new();
            conn.read_line(&mut line)?;
            let alpn =
                String::from_utf8_lossy(conn.alpn_protocol().unwrap_or(b"none")).into_owned();
            writeln!(
                conn,
                "tls={} alpn={alpn} got={}",
                conn.is_tls(),
                line.trim()
            )?;
            Ok(net::Action::KeepAlive)
        }
    }
    let _serial = serial();
    let certs = Certs::new();
    let mut server = start_tls::<S, _>(Alpn, certs.params().build().unwrap());
    let mut client = BufReader::new(tls_connect(&certs.client_config(), server.local_addr()));
    assert_eq!(
        client.get_ref().conn.alpn_protocol(),
        Some(&b"http/1.1"[..])
    );
    client.get_mut().write_all(b"ping\n").unwrap();
    let mut line = String::new();
    client.read_line(&mut line).unwrap();
    assert_eq!(line, "tls=true alpn=http/1.1 got=ping\n");
    stop(&mut server);
}

/// A server of a protocol without ALPN (the echo handler, configured with none) agrees on
/// none, whatever the client offers: `http/1.1` or `h2` alone, it is served all the same.
fn no_alpn_when_the_server_offers_none<S: TestServer>() {
    let _serial = serial();
    let certs = Certs::new();
    let params = certs.params_offering(&[]).build().unwrap();
    let mut server = start_tls::<S, _>(examples::echo::Echo::new(), params);
    let mut h2_only = Arc::unwrap_or_clone(certs.client_config());
    h2_only.alpn_protocols = vec![b"h2".to_vec()];
    for config in [certs.client_config(), Arc::new(h2_only)] {
        let offered = String::from_utf8_lossy(&config.alpn_protocols[0]).into_owned();
        let mut client = BufReader::new(tls_connect(&config, server.local_addr()));
        assert_eq!(client.get_ref().conn.alpn_protocol(), None, "{offered}");
        client.get_mut().write_all(b"ping\n").unwrap();
        let mut line = String::new();
        client.read_line(&mut line).unwrap();
        assert_eq!(line, "ping\n", "{offered}");
    }
    let stats = server.stats();
    assert_eq!(stats.tls_handshake_failures, 0, "{stats:?}");
    stop(&mut server);
}

/// `openssl s_client` round trip with the echo handler: a line sent comes back.
fn openssl_s_client_echoes_a_line<S: TestServer>() {
    let _serial = serial();
    require("openssl", "version");
    let certs = Certs::new();
    let params = certs.params_offering(&[]).build().unwrap();
    let mut server = start_tls::<S, _>(examples::echo::Echo::new(), params);
    let mut child = Command::new("openssl")
        .args(["s_client", "-quiet", "-verify_return_error", "-connect"])
        .arg(server.local_addr().to_string())
        .arg("-CAfile")
        .arg(certs.ca())
        .args(["-verify_ip", "127.0.0.1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run openssl s_client");
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    stdin.write_all(b"hello over tls\n").unwrap();
    stdin.flush().unwrap();
    let line = rx.recv_timeout(Duration::from_secs(20));
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    let _ = reader.join();
    let line = line.unwrap_or_else(|_| {
        panic!(
            "no echo from s_client; its stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert_eq!(line, "hello over tls\n");
    await_stats(&server, "one request served", |s| s.requests == 1);
    assert_eq!(server.stats().tls_handshake_failures, 0);
    stop(&mut server);
}

/// Ten requests written at once over TLS are answered in order.
fn pipelined_requests_over_tls<S: TestServer>() {
    let _serial = serial();
    let certs = Certs::new();
    let mut server = start_tls::<S, _>(HttpHandler::new(), certs.params().build().unwrap());
    let mut client = BufReader::new(tls_connect(&certs.client_config(), server.local_addr()));
    let mut batch = Vec::new();
    for i in 0..10 {
        let body = format!("request {i}");
        batch.extend_from_slice(
            format!(
                "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
    }
    client.get_mut().write_all(&batch).unwrap();
    client.get_mut().flush().unwrap();
    for i in 0..10 {
        let (head, body) = read_response(&mut client);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert_eq!(String::from_utf8(body).unwrap(), format!("request {i}"));
    }
    hello(&mut client);
    await_stats(&server, "11 requests", |s| s.requests == 11);
    stop(&mut server);
}

/// A body of 1 MiB each way: rustls' 64 KiB outgoing limit is filled and drained many
/// times within one response, and the request arrives in many records.
fn a_large_body_each_way_over_tls<S: TestServer>() {
    let _serial = serial();
    let certs = Certs::new();
    let mut server = start_tls::<S, _>(HttpHandler::new(), certs.params().build().unwrap());
    let mut client = BufReader::new(tls_connect(&certs.client_config(), server.local_addr()));
    let body: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    let head = format!(
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    client.get_mut().write_all(head.as_bytes()).unwrap();
    client.get_mut().write_all(&body).unwrap();
    client.get_mut().flush().unwrap();
    let (head, echoed) = read_response(&mut client);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(echoed == body, "the echo differs ({} bytes)", echoed.len());
    hello(&mut client);
    stop(&mut server);
}

/// A TLS client that never reads a large response is cut at `write_timeout` (the TCP
/// socket's `SO_SNDTIMEO` still bounds the writes under rustls), counted in `timed_out`
/// as a write timeout.
fn a_client_that_never_reads_is_cut_at_write_timeout<S: TestServer>() {
    struct Flood;
    impl net::Handler for Flood {
        type Session = ();
        fn open(&self, _: &net::Connection) {}
        fn serve(&self, _: &mut (), conn: &mut net::Connection) -> io::Result<net::Action> {
            let mut line = String::new();
            conn.read_line(&mut line)?;
            let chunk = vec![b'x'; 1 << 20];
            for _ in 0..256 {
                conn.write_all(&chunk)?;
            }
            Ok(net::Action::KeepAlive)
        }
    }
    let _serial = serial();
    let certs = Certs::new();
    let write_timeout = Duration::from_millis(300);
    let params = certs.params().write_timeout(write_timeout).build().unwrap();
    let mut server = start_tls::<S, _>(Flood, params);
    let mut client = tls_connect(&certs.client_config(), server.local_addr());
    client.write_all(b"flood\n").unwrap();
    let started = Instant::now();
    let stats = await_stats(&server, "the non-reader cut", |s| {
        s.timed_out == 1 && s.current_connections == 0
    });
    assert!(started.elapsed() < Duration::from_secs(10), "{stats:?}");
    assert_eq!(stats.tls_handshake_failures, 0, "{stats:?}");
    assert_eq!(stats.timed_out_write, 1, "{stats:?}");
    assert_eq!(stats.tls_handshakes_full, 1, "{stats:?}");
    drop(client);
    stop(&mut server);
}

/// A second connection with the same client configuration resumes the session; the
/// server counts the first handshake as full and the second as resumed.
fn second_connection_resumes_the_session<S: TestServer>() {
    let _serial = serial();
    let certs = Certs::new();
    let mut server = start_tls::<S, _>(HttpHandler::new(), certs.params().build().unwrap());
    let config = certs.client_config();
    let mut first = BufReader::new(tls_connect(&config, server.local_addr()));
    assert_eq!(
        first.get_ref().conn.handshake_kind(),
        Some(HandshakeKind::Full)
    );
    // A request and its answer: the client reads the session tickets sent after the
    // handshake on the way.
    hello(&mut first);
    let stats = server.stats();
    assert_eq!(
        (stats.tls_handshakes_full, stats.tls_handshakes_resumed),
        (1, 0),
        "{stats:?}"
    );
    drop(first);
    let mut second = BufReader::new(tls_connect(&config, server.local_addr()));
    assert_eq!(
        second.get_ref().conn.handshake_kind(),
        Some(HandshakeKind::Resumed)
    );
    hello(&mut second);
    let stats = stop(&mut server);
    assert_eq!(
        (stats.tls_handshakes_full, stats.tls_handshakes_resumed),
        (1, 1),
        "{stats:?}"
    );
    assert_eq!(stats.tls_handshake_failures, 0, "{stats:?}");
}

/// A client whose one key share the server cannot use gets a `HelloRetryRequest` and
/// completes its handshake in a second round: a full handshake all the same, counted in
/// `tls_handshakes_full`. (The server knows secp256r1 only; the client offers X25519
/// first, with its key share, then secp256r1; TLS 1.3, where the retry exists.)
fn a_hello_retry_request_is_a_full_handshake<S: TestServer>() {
    use rustls::crypto::ring::{default_provider, kx_group};
    use rustls::crypto::CryptoProvider;
    use rustls::pki_types::PrivateKeyDer;
    let _serial = serial();
    let certs = Certs::new();
    let chain = CertificateDer::pem_file_iter(certs.cert())
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(certs.key()).unwrap();
    let server_provider = CryptoProvider {
        kx_groups: vec![kx_group::SECP256R1],
        ..default_provider()
    };
    let server_config = rustls::ServerConfig::builder_with_provider(Arc::new(server_provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let params = ServerParams::builder()
        .tls(Arc::new(server_config))
        .build()
        .unwrap();
    let mut server = start_tls::<S, _>(HttpHandler::new(), params);
    let client_provider = CryptoProvider {
        kx_groups: vec![kx_group::X25519, kx_group::SECP256R1],
        ..default_provider()
    };
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certs.ca_der.clone()).unwrap();
    let client_config = ClientConfig::builder_with_provider(Arc::new(client_provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut client = BufReader::new(tls_connect(&Arc::new(client_config), server.local_addr()));
    assert_eq!(
        client.get_ref().conn.handshake_kind(),
        Some(HandshakeKind::FullWithHelloRetryRequest)
    );
    hello(&mut client);
    drop(client);
    let stats = stop(&mut server);
    assert_eq!(
        (stats.tls_handshakes_full, stats.tls_handshakes_resumed),
        (1, 0),
        "{stats:?}"
    );
    assert_eq!(stats.tls_handshake_failures, 0, "{stats:?}");
}

/// A client that sends the first 20 bytes of a ClientHello and stalls is closed at about
/// `read_timeout`, counted in `tls_handshake_failures` (and in `timed_out`, as a read
/// timeout).
fn stalled_handshake_is_cut_at_read_timeout<S: TestServer>() {
    let _serial = serial();
    let certs = Certs::new();
    let read_timeout = Duration::from_millis(300);
    let params = certs.params().read_timeout(read_timeout).build().unwrap();
    let mut server = start_tls::<S, _>(HttpHandler::new(), params);
    let hello_bytes = client_hello(&certs.client_config());
    assert!(hello_bytes.len() > 20);
    let mut sock = TcpStream::connect(server.local_addr()).unwrap();
    sock.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    let started = Instant::now();
    sock.write_all(&hello_bytes[..20]).unwrap();
    let (got, closed) = read_to_close(&sock);
    let took = closed - started;
    assert!(
        took >= read_timeout - Duration::from_millis(50),
        "cut after {took:?}, before the read timeout {read_timeout:?}"
    );
    assert!(took < Duration::from_secs(10), "cut only after {took:?}");
    assert!(
        !got.windows(5).any(|w| w == b"HTTP/"),
        "an HTTP answer to a stalled handshake: {got:?}"
    );
    let stats = await_stats(&server, "one failed handshake, no connection", |s| {
        s.tls_handshake_failures == 1 && s.current_connections == 0
    });
    assert_eq!(stats.timed_out, 1, "{stats:?}");
    assert_eq!(stats.timed_out_read, 1, "{stats:?}");
    assert_eq!(stats.requests, 0, "{stats:?}");
    assert_eq!(
        (stats.tls_handshakes_full, stats.tls_handshakes_resumed),
        (0, 0),
        "{stats:?}"
    );
    stop(&mut server);
}

/// Plain HTTP sent to the TLS port gets a clean close (an alert at most, never an HTTP
/// response), is counted, and the server serves a TLS client afterwards.
fn plain_http_to_the_tls_port_is_closed_and_counted<S: TestServer>() {
    let _serial = serial();
    let certs = Certs::new();
    let mut server = start_tls::<S, _>(HttpHandler::new(), certs.params().build().unwrap());
    let mut sock = TcpStream::connect(server.local_addr()).unwrap();
    sock.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    sock.write_all(GET).unwrap();
    let (got, _) = read_to_close(&sock);
    assert!(
        !got.windows(5).any(|w| w == b"HTTP/"),
        "an HTTP answer on the TLS port: {:?}",
        String::from_utf8_lossy(&got)
    );
    // Nothing, or TLS alert records (content type 21).
    assert!(got.is_empty() || got[0] == 21, "not an alert: {got:?}");
    await_stats(&server, "one failed handshake", |s| {
        s.tls_handshake_failures == 1 && s.current_connections == 0
    });
    // A garbage ClientHello-sized blob, and a client that closes midway: counted too.
    let mut sock = TcpStream::connect(server.local_addr()).unwrap();
    sock.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    sock.write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff])
        .unwrap();
    read_to_close(&sock);
    let mut sock = TcpStream::connect(server.local_addr()).unwrap();
    sock.write_all(&client_hello(&certs.client_config())[..20])
        .unwrap();
    drop(sock);
    // A client that connects and closes without a byte is not a failed handshake.
    drop(TcpStream::connect(server.local_addr()).unwrap());
    await_stats(&server, "three failed handshakes, no connection", |s| {
        s.tls_handshake_failures == 3 && s.current_connections == 0 && s.total_connections == 4
    });
    let mut client = BufReader::new(tls_connect(&certs.client_config(), server.local_addr()));
    hello(&mut client);
    drop(client);
    let stats = stop(&mut server);
    assert_eq!(stats.tls_handshake_failures, 3, "{stats:?}");
    assert_eq!(stats.tls_handshakes_full, 1, "the TLS client's: {stats:?}");
    assert_eq!(stats.handler_panics, 0, "{stats:?}");
    assert_eq!(stats.timed_out, 0, "{stats:?}");
}

/// `Connection: close`, the keep-alive timeout and shutdown: each time the server ends with
/// `close_notify`, so the rustls client reads a clean EOF (`read` returns 0, not an
/// `UnexpectedEof` error).
fn close_notify_on_a_clean_close<S: TestServer>() {
    let _serial = serial();
    let certs = Certs::new();
    let mut server = start_tls::<S, _>(HttpHandler::new(), certs.params().build().unwrap());
    let mut client = tls_connect(&certs.client_config(), server.local_addr());
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut all = Vec::new();
    client
        .read_to_end(&mut all)
        .expect("a clean end of the TLS stream (close_notify)");
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("Hello, World!"), "{text}");
    // The keep-alive timeout ends with close_notify too.
    stop(&mut server);
    let params = certs
        .params()
        .keep_alive_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let mut server = start_tls::<S, _>(HttpHandler::new(), params);
    let mut client = BufReader::new(tls_connect(&certs.client_config(), server.local_addr()));
    hello(&mut client);
    let mut rest = Vec::new();
    client
        .read_to_end(&mut rest)
        .expect("a clean end after the keep-alive timeout");
    assert!(rest.is_empty(), "{rest:?}");
    let stats = await_stats(&server, "timed out once", |s| s.timed_out == 1);
    assert_eq!(stats.timed_out_idle, 1, "{stats:?}");
    stop(&mut server);
    // And so does shutdown, for a connection idle between requests.
    let mut server = start_tls::<S, _>(HttpHandler::new(), certs.params().build().unwrap());
    let mut client = BufReader::new(tls_connect(&certs.client_config(), server.local_addr()));
    hello(&mut client);
    await_stats(&server, "the request served", |s| s.requests == 1);
    stop(&mut server);
    let mut rest = Vec::new();
    client
        .read_to_end(&mut rest)
        .expect("a clean end at shutdown");
    assert!(rest.is_empty(), "{rest:?}");
}

/// 1,000 idle TLS keep-alive connections: each served, idle a second, served again, then
/// closed; the server's connections and the process's descriptors come back. On evnet the
/// threads stay loops + workers throughout.
fn thousand_idle_tls_connections<S: TestServer>() {
    const N: usize = 1000;
    let _serial = serial();
    let certs = Certs::new();
    let before = fd_count();
    let params = certs
        .params()
        .max_threads(N + 100)
        .keep_alive_timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let mut server = start_tls::<S, _>(HttpHandler::new(), params);
    let running = fd_count();
    let config = certs.client_config();
    let mut clients: Vec<BufReader<TlsStream>> = (0..N)
        .map(|_| {
            let mut client = BufReader::new(tls_connect(&config, server.local_addr()));
            hello(&mut client);
            client
        })
        .collect();
    let held = await_stats(&server, "1,000 connections held", |s| {
        s.current_connections == N && s.requests == N as u64
    });
    assert_eq!(held.tls_handshake_failures, 0, "{held:?}");
    if S::EVENTED {
        let fixed = S::fixed_threads(1, 2);
        assert_eq!(held.current_threads, fixed, "1 loop + 2 workers: {held:?}");
    }
    thread::sleep(Duration::from_secs(1));
    for client in &mut clients {
        hello(client);
    }
    let stats = await_stats(&server, "2,000 requests", |s| s.requests == 2 * N as u64);
    assert_eq!(stats.current_connections, N, "{stats:?}");
    assert_eq!(stats.timed_out, 0, "{stats:?}");
    if S::EVENTED {
        let fixed = S::fixed_threads(1, 2);
        assert_eq!(
            stats.current_threads, fixed,
            "1 loop + 2 workers: {stats:?}"
        );
    }
    for client in &mut clients {
        client.get_mut().conn.send_close_notify();
        let _ = client.get_mut().flush();
    }
    drop(clients);
    await_stats(&server, "every connection closed", |s| {
        s.current_connections == 0
    });
    await_sample(
        &format!("descriptors back to {running} with the server running"),
        fd_count,
        |&n| n == running,
    );
    let stats = stop(&mut server);
    assert_eq!(stats.total_connections, N as u64, "{stats:?}");
    assert_eq!(stats.tls_handshake_failures, 0, "{stats:?}");
    await_sample(
        &format!("descriptors back to {before} after shutdown"),
        fd_count,
        |&n| n == before,
    );
}

/// Bad files make `server_config` fail with an error naming the file, never a panic, and
/// the parameter it was given for (`invalid_param_name`): the certificate chain's
/// (`tls_cert`) or the key's (`tls_key`).
#[test]
fn bad_files_are_errors_naming_them() {
    use net::tls::{TLS_CERT, TLS_KEY};
    let _serial = serial();
    let certs = Certs::new();
    let missing = certs.dir.join("missing.pem");
    let err = net::tls::server_config(&missing, &certs.key(), &[]).unwrap_err();
    assert!(err.is_invalid_param(), "{err:?}");
    assert!(err.to_string().contains("missing.pem"), "{err}");
    assert_eq!(
        err.io_error().map(io::Error::kind),
        Some(io::ErrorKind::NotFound)
    );
    assert_eq!(err.invalid_param_name(), Some(TLS_CERT), "{err}");
    let err = net::tls::server_config(&certs.cert(), &missing, &[]).unwrap_err();
    assert!(err.to_string().contains("missing.pem"), "{err}");
    assert_eq!(
        err.io_error().map(io::Error::kind),
        Some(io::ErrorKind::NotFound)
    );
    assert_eq!(err.invalid_param_name(), Some(TLS_KEY), "{err}");

    let garbage = certs.dir.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let err = net::tls::server_config(&garbage, &certs.key(), &[]).unwrap_err();
    assert!(err.is_invalid_param(), "{err:?}");
    assert!(err.to_string().contains("garbage.pem"), "{err}");
    assert_eq!(err.invalid_param_name(), Some(TLS_CERT), "{err}");
    // A certificate where the key should be: no key in it.
    let err = net::tls::server_config(&certs.cert(), &certs.cert(), &[]).unwrap_err();
    assert!(err.to_string().contains("private key"), "{err}");
    assert!(err.to_string().contains("cert.pem"), "{err}");
    assert_eq!(err.invalid_param_name(), Some(TLS_KEY), "{err}");

    let broken = certs.dir.join("broken.pem");
    std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\n!!!!\n").unwrap();
    let err = net::tls::server_config(&broken, &certs.key(), &[]).unwrap_err();
    assert!(err.to_string().contains("broken.pem"), "{err}");
    assert_eq!(err.invalid_param_name(), Some(TLS_CERT), "{err}");

    // The CA's certificate with the leaf's key: they do not match.
    let err = net::tls::server_config(&certs.ca(), &certs.key(), &[]).unwrap_err();
    assert!(err.is_invalid_param(), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("key.pem") && text.contains("ca.pem"),
        "{text}"
    );
    assert_eq!(err.invalid_param_name(), Some(TLS_KEY), "{err}");

    // ALPN protocol identifiers have 1 to 255 bytes.
    let long = [b'x'; 256];
    for bad in [&b""[..], &long[..]] {
        let alpn = [net::tls::ALPN_HTTP11[0], bad];
        let err = net::tls::server_config(&certs.cert(), &certs.key(), &alpn).unwrap_err();
        assert!(err.is_invalid_param(), "{err:?}");
        assert!(err.to_string().contains("ALPN"), "{err}");
        assert_eq!(err.invalid_param_name(), Some("tls"), "{err}");
    }
}

/// A request written before the handshake ends goes out right behind the client's
/// `Finished`, in the same write, so the server's last handshake step reads it too: it is
/// answered at once, and so are the requests after it. (On evnet's adaptive dispatch it
/// once waited for an unrelated event: the handshake step framed it for the loop's thread
/// after that thread had looked for work, and the loop went to sleep.)
fn a_request_in_the_last_handshake_flight_is_answered<S: TestServer>() {
    let _serial = serial();
    let certs = Certs::new();
    let mut server = start_tls::<S, _>(HttpHandler::new(), certs.params().build().unwrap());
    for _ in 0..5 {
        let tcp = TcpStream::connect(server.local_addr()).unwrap();
        tcp.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let mut conn = ClientConnection::new(certs.client_config(), name).unwrap();
        conn.writer().write_all(GET).unwrap();
        let mut stream = BufReader::new(StreamOwned::new(conn, tcp));
        let (head, body) = read_response(&mut stream);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert_eq!(body, HELLO);
        hello(&mut stream);
    }
    let stats = stop(&mut server);
    assert_eq!(
        (stats.requests, stats.tls_handshake_failures),
        (10, 0),
        "{stats:?}"
    );
}

/// A TLS handshake under way when shutdown begins (the ClientHello sent, the client's
/// Finished not yet) is not an idle connection: the handshake finishes and the first
/// request is served within `first_request_grace`, its response the connection's last
/// (`Connection: close`), while an idle TLS connection closes at once. On evnet the
/// handshake finishes in the draining loop (a fresh slot going idle then keeps its
/// grace); on net on the connection's thread, which shutdown leaves waiting.
fn a_handshake_under_way_at_shutdown_finishes_and_its_first_request_is_served<
    S: TestServer + 'static,
>() {
    let _serial = serial();
    let certs = Certs::new();
    let params = certs
        .params()
        .first_request_grace(Duration::from_secs(60))
        .build()
        .unwrap();
    let server = start_tls::<S, _>(HttpHandler::new(), params);
    let addr = server.local_addr();
    let config = certs.client_config();
    let mut idle = BufReader::new(tls_connect(&config, addr));
    hello(&mut idle);
    // Only the ClientHello of this one goes out before shutdown.
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut conn = ClientConnection::new(Arc::clone(&config), name).unwrap();
    while conn.wants_write() {
        conn.write_tls(&mut tcp).unwrap();
    }
    await_stats(&server, "two connections", |s| s.current_connections == 2);
    let stopping = tests::shutdown_in_background(server, Duration::from_secs(60));
    // The drain has begun once the idle connection is closed.
    let mut rest = Vec::new();
    if let Err(e) = idle.read_to_end(&mut rest) {
        let timed_out = matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        );
        assert!(!timed_out, "the idle connection was not closed: {e}");
    }
    assert!(rest.is_empty(), "{rest:?}");
    let mut stream = BufReader::new(StreamOwned::new(conn, tcp));
    stream.get_mut().write_all(GET).unwrap();
    let (head, body) = read_response(&mut stream);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "the last: {head}"
    );
    assert_eq!(body, HELLO);
    let stats = stopping.stats("a handshake under way");
    assert_eq!(
        (stats.requests, stats.tls_handshake_failures),
        (2, 0),
        "{stats:?}"
    );
}

/// TLS behind HAProxy in TCP mode with `send-proxy` and `send-proxy-v2` (health checks
/// with the header included): the PROXY header is read before the handshake, the
/// handshake and requests pass through, and the handler sees the client's address.
fn proxied_tls_behind_haproxy<S: TestServer>() {
    let _serial = serial();
    let certs = Certs::new();
    let params = certs.params().proxy_protocol(true).build().unwrap();
    let mut server = start_tls::<S, _>(tests::WhoAmI, params);
    let haproxy = tests::haproxy::Haproxy::start(server.local_addr());
    await_stats(&server, "health checks", |s| s.total_connections >= 6);
    let config = certs.client_config();
    for frontend in [haproxy.v1, haproxy.v2] {
        let stream = tls_connect(&config, frontend);
        let me = stream.sock.local_addr().unwrap();
        let mut stream = BufReader::new(stream);
        for _ in 0..2 {
            stream.get_mut().write_all(b"who\n").unwrap();
            stream.get_mut().flush().unwrap();
            let mut line = String::new();
            stream.read_line(&mut line).unwrap();
            let (peer, balancer) = line.trim_end().split_once(' ').unwrap();
            assert_eq!(peer, format!("peer={me}"), "through {frontend}: {line:?}");
            assert_ne!(balancer, "balancer=-", "through {frontend}: {line:?}");
        }
    }
    let stats = server.stats();
    assert_eq!(stats.proxy_header_failures, 0, "{stats:?}");
    assert_eq!(stats.tls_handshake_failures, 0, "{stats:?}");
    drop(haproxy);
    stop(&mut server);
}

server_tests!(
    curl_gets_hello_over_https,
    alpn_is_http11_on_both_sides,
    no_alpn_when_the_server_offers_none,
    openssl_s_client_echoes_a_line,
    pipelined_requests_over_tls,
    a_large_body_each_way_over_tls,
    a_client_that_never_reads_is_cut_at_write_timeout,
    second_connection_resumes_the_session,
    a_hello_retry_request_is_a_full_handshake,
    stalled_handshake_is_cut_at_read_timeout,
    plain_http_to_the_tls_port_is_closed_and_counted,
    close_notify_on_a_clean_close,
    thousand_idle_tls_connections,
    idle_tls_connection_memory,
    proxied_tls_behind_haproxy,
    a_request_in_the_last_handshake_flight_is_answered,
    a_handshake_under_way_at_shutdown_finishes_and_its_first_request_is_served,
);

// ----- evnet alone ----------------------------------------------------------------------

/// Every way to build evnet takes a TLS configuration (the refusal of the first part of
/// issue 11 is gone), `from_listener` included.
#[test]
fn evnet_serves_tls_from_a_listener() {
    let _serial = serial();
    let certs = Certs::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let params = certs.params().build().unwrap();
    let mut server = evnet::EvServer::from_listener(listener, HttpHandler::new(), params)
        .expect("evnet takes a TLS configuration");
    server.start().unwrap();
    let mut client = BufReader::new(tls_connect(&certs.client_config(), server.local_addr()));
    hello(&mut client);
    drop(client);
    stop(&mut server);
}

/// With one worker, handshakes stalled midway (and one that never sent a byte) hold no
/// worker: they live in the loop, and a normal TLS client is served at once, long before
/// the stalled ones are cut.
#[test]
fn evnet_a_stalled_handshake_holds_no_worker() {
    let _serial = serial();
    let certs = Certs::new();
    let read_timeout = Duration::from_secs(8);
    let params = certs.params().read_timeout(read_timeout).build().unwrap();
    let options = EvOptions::default().loops(1).workers(1);
    let mut server = start_ev(HttpHandler::new(), params, options);
    let partial = client_hello(&certs.client_config());
    let mut stalled: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(server.local_addr()).unwrap())
        .collect();
    stalled[0].write_all(&partial[..20]).unwrap();
    stalled[1].write_all(&partial[..partial.len() - 1]).unwrap();
    await_stats(&server, "three connections", |s| s.current_connections == 3);
    let started = Instant::now();
    let mut client = BufReader::new(tls_connect(&certs.client_config(), server.local_addr()));
    hello(&mut client);
    hello(&mut client);
    let took = started.elapsed();
    assert!(took < read_timeout / 2, "served only after {took:?}");
    let stats = server.stats();
    assert_eq!(stats.requests, 2, "{stats:?}");
    assert_eq!(stats.tls_handshake_failures, 0, "{stats:?}");
    // 1 loop + 1 worker + 1 spare (adaptive dispatch).
    assert_eq!(
        stats.current_threads, 3,
        "1 loop + 1 worker + 1 spare: {stats:?}"
    );
    drop(client);
    drop(stalled);
    // Two sent a part of a handshake and closed: failed handshakes; one sent nothing.
    await_stats(&server, "two failed handshakes, no connection", |s| {
        s.tls_handshake_failures == 2 && s.current_connections == 0
    });
    let stats = stop(&mut server);
    assert_eq!(stats.tls_handshake_failures, 2, "{stats:?}");
}

/// Handshakes stalled midway stay within a loop's budget: of 600 connections that each
/// sent part of a ClientHello (with timeouts far beyond the test), at most 256 are in
/// progress on the one loop; the oldest were closed for newer ones and counted as shed;
/// each one in progress is charged 16 KiB in the input budget; and a normal TLS client
/// still completes its handshake and is served. Afterwards everything is given back.
#[test]
fn evnet_stalled_handshakes_stay_within_the_budget() {
    const STALLED: usize = 600;
    const MAX_HANDSHAKES: usize = 256;
    const CHARGE: usize = 16 * 1024;
    let _serial = serial();
    let before = fd_count();
    let certs = Certs::new();
    let long = Duration::from_secs(120);
    let params = certs
        .params()
        .read_timeout(long)
        .keep_alive_timeout(long)
        .build()
        .unwrap();
    let options = EvOptions::default().loops(1).workers(1);
    let mut server = start_ev(HttpHandler::new(), params, options);
    let running = fd_count();
    let partial = client_hello(&certs.client_config());
    let stalled: Vec<TcpStream> = (0..STALLED)
        .map(|_| {
            let mut sock = TcpStream::connect(server.local_addr()).unwrap();
            sock.write_all(&partial[..partial.len() - 1]).unwrap();
            sock
        })
        .collect();
    await_stats(&server, "every stalled handshake accepted", |s| {
        s.total_connections == STALLED as u64
    });
    let stats = await_stats(&server, "the oldest handshakes shed", |s| {
        s.shed_connections == (STALLED - MAX_HANDSHAKES) as u64
    });
    assert_eq!(stats.current_connections, MAX_HANDSHAKES, "{stats:?}");
    assert_eq!(stats.buffered_input, MAX_HANDSHAKES * CHARGE, "{stats:?}");
    assert_eq!(stats.timed_out, 0, "{stats:?}");
    let mut client = BufReader::new(tls_connect(&certs.client_config(), server.local_addr()));
    hello(&mut client);
    drop(client);
    drop(stalled);
    await_stats(&server, "no connection and no buffered byte", |s| {
        s.current_connections == 0 && s.buffered_input == 0
    });
    await_sample("descriptors back (server running)", fd_count, |&n| {
        n == running
    });
    stop(&mut server);
    await_sample("descriptors back (server stopped)", fd_count, |&n| {
        n == before
    });
}

/// A burst of ClientHellos (replayed bytes: the attacker does no cryptography) and an
/// established client's request arrive together: the loop serves the established request
/// before it spends its time on the handshakes (they run at the end of its iteration,
/// within a budget). Observed as an order: at least a quarter of the flood's
/// ServerHellos reach their clients after the established client's answer. (Before the
/// budget, each handshake ran as its bytes were read; with workers the answer then came
/// after all 64 of them, three runs out of three.) On inline and worker dispatch.
fn established_requests_go_before_a_hello_flood(dispatch: Dispatch) {
    const FLOOD: usize = 64;
    /// ServerHellos that must arrive after the answer (of 64; a flood run first would
    /// leave about none).
    const AFTER: usize = 16;
    let _serial = serial();
    let certs = Certs::new();
    let params = certs.params().build().unwrap();
    let options = EvOptions::default().loops(1).workers(1).dispatch(dispatch);
    let mut server = start_ev(HttpHandler::new(), params, options);
    let addr = server.local_addr();
    let mut established = BufReader::new(tls_connect(&certs.client_config(), addr));
    hello(&mut established);
    let raw_hello = client_hello(&certs.client_config());
    let flood: Vec<TcpStream> = (0..FLOOD)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    await_stats(&server, "the flood's connections accepted", |s| {
        s.current_connections == FLOOD + 1
    });
    // Each flood client notes when its ServerHello's first bytes arrive.
    let (tx, rx) = std::sync::mpsc::channel();
    let readers: Vec<_> = flood
        .iter()
        .map(|sock| {
            let mut sock = sock.try_clone().unwrap();
            sock.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
            let tx = tx.clone();
            thread::spawn(move || {
                let mut first = [0u8; 1];
                if sock.read(&mut first).unwrap_or(0) == 1 {
                    let _ = tx.send(Instant::now());
                }
            })
        })
        .collect();
    drop(tx);
    for mut sock in &flood {
        sock.write_all(&raw_hello).unwrap();
    }
    established.get_mut().write_all(GET).unwrap();
    established.get_mut().flush().unwrap();
    let (head, _) = read_response(&mut established);
    let answered = Instant::now();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    for reader in readers {
        reader.join().unwrap();
    }
    let hellos: Vec<Instant> = rx.iter().collect();
    assert_eq!(
        hellos.len(),
        FLOOD,
        "every flood client got its ServerHello"
    );
    let after = hellos.iter().filter(|&&at| at > answered).count();
    assert!(
        after >= AFTER,
        "{dispatch:?}: only {after} of {FLOOD} ServerHellos came after the established \
         client's answer: the handshakes went first"
    );
    drop(flood);
    drop(established);
    stop(&mut server);
}

#[test]
fn evnet_established_requests_go_before_a_hello_flood_inline() {
    established_requests_go_before_a_hello_flood(Dispatch::Inline);
}

#[test]
fn evnet_established_requests_go_before_a_hello_flood_workers() {
    established_requests_go_before_a_hello_flood(Dispatch::Workers);
}

/// Inline dispatch serves TLS too (handshakes, decryption and the handler all on the
/// loop): a request, ten pipelined ones, and a 1 MiB body each way (the response is
/// finished by the loop as the client reads it).
#[test]
fn evnet_inline_dispatch_round_trip_over_tls() {
    let _serial = serial();
    let certs = Certs::new();
    let options = EvOptions::default().loops(1).dispatch(Dispatch::Inline);
    let mut server = start_ev(HttpHandler::new(), certs.params().build().unwrap(), options);
    let mut client = BufReader::new(tls_connect(&certs.client_config(), server.local_addr()));
    hello(&mut client);
    let mut batch = Vec::new();
    for i in 0..10 {
        let body = format!("request {i}");
        batch.extend_from_slice(
            format!(
                "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
    }
    client.get_mut().write_all(&batch).unwrap();
    for i in 0..10 {
        let (head, body) = read_response(&mut client);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert_eq!(String::from_utf8(body).unwrap(), format!("request {i}"));
    }
    let body: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    let head = format!(
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    client.get_mut().write_all(head.as_bytes()).unwrap();
    client.get_mut().write_all(&body).unwrap();
    let (head, echoed) = read_response(&mut client);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(echoed == body, "the echo differs ({} bytes)", echoed.len());
    hello(&mut client);
    let stats = server.stats();
    assert_eq!(stats.current_threads, 1, "one loop, no worker: {stats:?}");
    drop(client);
    let stats = stop(&mut server);
    assert_eq!(stats.requests, 13, "{stats:?}");
    assert_eq!(stats.tls_handshake_failures, 0, "{stats:?}");
}

/// A TLS client that asks for a 1 MiB response and never reads it: the records the socket
/// does not take are the loop's (the worker returns at once), so with one worker another
/// TLS client is served meanwhile; the non-reader is cut at `write_timeout`.
#[test]
fn evnet_a_tls_non_reader_holds_no_worker() {
    struct Big;
    impl net::Handler for Big {
        type Session = ();
        fn open(&self, _: &net::Connection) {}
        fn serve(&self, _: &mut (), conn: &mut net::Connection) -> io::Result<net::Action> {
            let mut line = String::new();
            conn.read_line(&mut line)?;
            let size = if line.trim() == "big" { 1 << 20 } else { 3 };
            conn.write_all(&vec![b'x'; size - 1])?;
            conn.write_all(b"\n")?;
            Ok(net::Action::KeepAlive)
        }
    }
    let _serial = serial();
    let certs = Certs::new();
    let write_timeout = Duration::from_millis(1500);
    let params = certs.params().write_timeout(write_timeout).build().unwrap();
    let options = EvOptions::default().loops(1).workers(1);
    let mut server = start_ev(Big, params, options);
    let mut stalled = tls_connect(&certs.client_config(), server.local_addr());
    stalled.write_all(b"big\n").unwrap();
    await_stats(&server, "the big response held by the loop", |s| {
        s.requests == 1 && s.buffered_output > 0
    });
    let mut other = BufReader::new(tls_connect(&certs.client_config(), server.local_addr()));
    other.get_mut().write_all(b"small\n").unwrap();
    let mut line = String::new();
    other.read_line(&mut line).unwrap();
    assert_eq!(line, "xx\n");
    let stats = await_stats(&server, "the non-reader cut", |s| {
        s.timed_out == 1 && s.current_connections == 1
    });
    assert_eq!(stats.timed_out_write, 1, "{stats:?}");
    assert_eq!(stats.streamed_responses, 0, "{stats:?}");
    assert_eq!(stats.buffered_output, 0, "{stats:?}");
    drop(stalled);
    drop(other);
    stop(&mut server);
}

/// An idle TLS connection that sends part of a record and stops is cut at `read_timeout`
/// from that byte, not kept at the keep-alive timeout: bytes that decrypt to nothing yet
/// start a request's deadline, as any byte does on a plain connection.
#[test]
fn evnet_a_trickled_record_is_cut_at_read_timeout() {
    let _serial = serial();
    let certs = Certs::new();
    let read_timeout = Duration::from_millis(300);
    let params = certs
        .params()
        .read_timeout(read_timeout)
        .keep_alive_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let options = EvOptions::default().loops(1).workers(1);
    let mut server = start_ev(HttpHandler::new(), params, options);
    let mut client = BufReader::new(tls_connect(&certs.client_config(), server.local_addr()));
    hello(&mut client);
    let sock = client.get_ref().sock.try_clone().unwrap();
    let started = Instant::now();
    // The header of an application-data record, and nothing more.
    (&sock).write_all(&[0x17, 0x03, 0x03, 0x00]).unwrap();
    let (_, closed) = read_to_close(&sock);
    let took = closed - started;
    assert!(took >= read_timeout - Duration::from_millis(50), "{took:?}");
    assert!(took < Duration::from_secs(10), "cut only after {took:?}");
    let stats = await_stats(&server, "the trickler cut", |s| {
        s.timed_out == 1 && s.current_connections == 0
    });
    assert_eq!(
        stats.timed_out_read, 1,
        "a record begun, not an idle wait: {stats:?}"
    );
    assert_eq!(stats.tls_handshake_failures, 0, "{stats:?}");
    drop(client);
    stop(&mut server);
}

// ----- memory per idle TLS connection -----------------------------------------------------

/// The environment variable that turns [`idle_tls_clients`] on: `ADDR N CA_PATH`.
const IDLE_CLIENTS: &str = "TLS_TESTS_IDLE_CLIENTS";

/// Not a test of its own: run by [`idle_tls_connection_memory`] in a child process (this
/// test binary again), so that the clients' memory is not in the server's process. Opens
/// N TLS connections to ADDR, one request each, prints `READY`, and holds them until its
/// stdin closes.
#[test]
#[ignore = "a helper run in a child process by idle_tls_connection_memory"]
fn idle_tls_clients() {
    let Ok(spec) = std::env::var(IDLE_CLIENTS) else {
        return;
    };
    let mut parts = spec.split(' ');
    let addr: SocketAddr = parts.next().unwrap().parse().unwrap();
    let n: usize = parts.next().unwrap().parse().unwrap();
    let ca = CertificateDer::from_pem_file(parts.next().unwrap()).unwrap();
    let config = client_config_trusting(ca);
    let clients: Vec<BufReader<TlsStream>> = (0..n)
        .map(|_| {
            let mut client = BufReader::new(tls_connect(&config, addr));
            hello(&mut client);
            client
        })
        .collect();
    // On a line of its own: the harness may have printed the test's name before it.
    println!("\nREADY");
    io::stdout().flush().unwrap();
    let mut rest = Vec::new();
    let _ = io::stdin().read_to_end(&mut rest);
    drop(clients);
}

/// This process's resident set, in bytes.
fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kb * 1024
}

/// A child process killed on drop.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Bytes of this process's RSS per idle TLS keep-alive connection, with 1,000 of them
/// (handshake done, one request served, then idle); the clients live in a child process.
/// Printed, not asserted: RSS depends on the allocator and the machine.
fn idle_tls_connection_memory<S: TestServer>() {
    const N: usize = 1000;
    let _serial = serial();
    let certs = Certs::new();
    let params = certs
        .params()
        .max_threads(N + 100)
        .keep_alive_timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let mut server = start_tls::<S, _>(HttpHandler::new(), params);
    // Warm up: the first handshake initialises what every later one shares.
    let mut warm = BufReader::new(tls_connect(&certs.client_config(), server.local_addr()));
    hello(&mut warm);
    drop(warm);
    await_stats(&server, "the warm-up closed", |s| {
        s.current_connections == 0
    });
    let before = rss_bytes();
    let exe = std::env::current_exe().unwrap();
    let spec = format!("{} {N} {}", server.local_addr(), certs.ca().display());
    let mut child = Killed(
        Command::new(exe)
            .args(["--exact", "idle_tls_clients", "--ignored", "--nocapture"])
            .args(["--test-threads", "1"])
            .env(IDLE_CLIENTS, spec)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run the client helper"),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.trim_end().ends_with("READY") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(120))
        .expect("the clients connected");
    let held = await_stats(&server, "1,000 idle TLS connections", |s| {
        s.current_connections == N && s.requests == N as u64 + 1
    });
    thread::sleep(Duration::from_millis(200));
    let after = rss_bytes();
    let per = after.saturating_sub(before) / N;
    eprintln!(
        "{}: {per} bytes of RSS per idle TLS connection ({N} connections, RSS {} KiB -> {} KiB)",
        S::NAME,
        before / 1024,
        after / 1024
    );
    eprintln!(
        "(rustls::ServerConnection itself, before its heap buffers and keys: {} bytes)",
        std::mem::size_of::<rustls::ServerConnection>()
    );
    assert_eq!(held.tls_handshake_failures, 0, "{held:?}");
    drop(child.0.stdin.take());
    drop(child);
    await_stats(&server, "every connection closed", |s| {
        s.current_connections == 0
    });
    stop(&mut server);
}
