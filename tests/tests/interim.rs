//! Interim responses (`Handler::frame` answering [`net::Frame::Interim`]), with the `http`
//! example's `Expect: 100-continue`, on every server and every evented dispatch mode:
//!
//! - an upload that asks for the go-ahead gets `100 Continue`, then its answer, and the
//!   connection is reused (inline too, where the handler cannot wait for a body);
//! - curl's upload with `Expect` sees the `100 Continue` (it does not just time out and
//!   send the body anyway);
//! - a request that asks for the go-ahead behind a pipelined one gets it after the first
//!   answer;
//! - the attack: clients that ask for the go-ahead and never send their body hold no
//!   worker (a fresh client is answered while they are all still held, with one worker),
//!   and are cut at `read_timeout` from their first byte; everything is given back.

use std::io::{self, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use examples::http::{HttpHandler, HELLO};
use net::ServerParams;
use tests::{
    await_sample, await_stats, fd_count, read_http_response, start_with, stop, HttpResponse,
    TestServer, CLIENT_TIMEOUT,
};

/// `read_timeout` of the servers here (the cut the attack test waits for).
const READ_TIMEOUT: Duration = Duration::from_secs(3);

/// How much earlier than its deadline a cut may be observed (clock reads).
const SLACK: Duration = Duration::from_millis(50);

/// The head of an upload to `/echo` that waits for the go-ahead.
const UPLOAD: &[u8] =
    b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n";

static SERIAL: Mutex<()> = Mutex::new(());

/// The attack test counts this process's descriptors: no two tests of this file at once.
fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn params() -> ServerParams {
    ServerParams::builder()
        .keep_alive_timeout(Duration::from_secs(30))
        .read_timeout(READ_TIMEOUT)
        .write_timeout(Duration::from_secs(30))
        .max_threads(64)
        .build()
        .expect("params")
}

/// One loop, one worker: the smallest evented server, where one held worker is all.
fn start<S: TestServer>() -> S {
    start_with::<S, _>(HttpHandler::new(), params(), 1, 1)
}

fn connect(addr: SocketAddr) -> BufReader<TcpStream> {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    BufReader::new(stream)
}

fn get_hello(reader: &mut BufReader<TcpStream>) {
    reader
        .get_mut()
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let HttpResponse { status, body, .. } = read_http_response(reader).expect("GET / answered");
    assert_eq!((status, body.as_slice()), (200, HELLO));
}

/// True when the server has closed `stream` (EOF or reset seen without waiting).
fn closed_by_server(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let mut byte = [0; 1];
    let closed = match stream.peek(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != io::ErrorKind::WouldBlock,
    };
    stream.set_nonblocking(false).unwrap();
    closed
}

// ----- the tests ------------------------------------------------------------------------

/// `Expect: 100-continue`: the go-ahead, then the body echoed, then the connection
/// serves another request.
fn upload_gets_the_go_ahead<S: TestServer>() {
    let _serial = serial();
    let mut server = start::<S>();
    let mut c = connect(server.local_addr());
    for round in 0..2 {
        c.get_mut().write_all(UPLOAD).unwrap();
        let HttpResponse { status, body, .. } =
            read_http_response(&mut c).expect("interim response");
        assert_eq!((status, body.len()), (100, 0), "round {round}");
        c.get_mut().write_all(b"ping").unwrap();
        let HttpResponse { status, body, .. } = read_http_response(&mut c).expect("final response");
        assert_eq!(
            (status, body.as_slice()),
            (200, &b"ping"[..]),
            "round {round}"
        );
        get_hello(&mut c);
    }
    drop(c);
    let stats = await_stats(&server, "the connection closed", |s| {
        s.current_connections == 0
    });
    assert_eq!((stats.requests, stats.timed_out), (4, 0), "{stats:?}");
    stop(&mut server);
}

/// Behind a pipelined request, in the same write: its answer, then the go-ahead.
fn go_ahead_behind_a_pipelined_request<S: TestServer>() {
    let _serial = serial();
    let mut server = start::<S>();
    let mut c = connect(server.local_addr());
    let mut both = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n".to_vec();
    both.extend_from_slice(UPLOAD);
    c.get_mut().write_all(&both).unwrap();
    let HttpResponse { status, body, .. } = read_http_response(&mut c).expect("first answer");
    assert_eq!((status, body.as_slice()), (200, HELLO));
    let HttpResponse { status, .. } = read_http_response(&mut c).expect("interim response");
    assert_eq!(status, 100);
    c.get_mut().write_all(b"pong").unwrap();
    let HttpResponse { status, body, .. } = read_http_response(&mut c).expect("final response");
    assert_eq!((status, body.as_slice()), (200, &b"pong"[..]));
    stop(&mut server);
}

/// A route that wants no body: the final answer at once, without a go-ahead, and the
/// connection closes (the body may still come).
fn no_go_ahead_where_no_body_is_wanted<S: TestServer>() {
    let _serial = serial();
    let mut server = start::<S>();
    let mut c = connect(server.local_addr());
    c.get_mut()
        .write_all(
            b"POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 9\r\n\r\n",
        )
        .unwrap();
    let HttpResponse {
        status, headers, ..
    } = read_http_response(&mut c).expect("final answer");
    assert_eq!(status, 405);
    assert!(
        headers.contains(&("connection".into(), "close".into())),
        "{headers:?}"
    );
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).expect("closed cleanly");
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    stop(&mut server);
}

/// curl's upload with `Expect: 100-continue` (waiting up to 30 s for it): the server's
/// `100 Continue` is in curl's trace, and the body comes back whole.
fn curl_upload_with_expect<S: TestServer>() {
    let _serial = serial();
    let found = Command::new("curl")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "curl is not installed: run scripts/ensure-deps.sh curl"
    );
    let mut server = start::<S>();
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let dir = std::env::temp_dir().join(format!("interim-{}-{}", std::process::id(), S::NAME));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("body");
    std::fs::write(&file, &body).unwrap();
    let out = Command::new("curl")
        .args(["-sS", "-v", "--http1.1", "--max-time", "20"])
        .args(["--expect100-timeout", "30", "-H", "Expect: 100-continue"])
        .arg("--data-binary")
        .arg(format!("@{}", file.display()))
        .arg(format!("http://{}/echo", server.local_addr()))
        .output()
        .expect("run curl");
    std::fs::remove_dir_all(&dir).ok();
    let trace = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "curl failed: {trace}");
    assert!(
        trace.contains("HTTP/1.1 100 Continue"),
        "no 100 Continue in curl's trace: {trace}"
    );
    assert!(out.stdout == body, "the echoed body differs: {trace}");
    stop(&mut server);
}

/// Clients that ask for the go-ahead and never send the body. On the evented server (one
/// worker) they hold no worker: a fresh client is answered while every one of them is
/// still held. On `net` each holds a thread (its nature), and the pool has room. Either
/// way they are cut at `read_timeout` from their first byte, counted, and everything is
/// given back.
fn go_ahead_without_a_body_holds_nothing<S: TestServer>() {
    const ATTACKERS: usize = 3;
    let _serial = serial();
    let before = fd_count();
    let mut server = start::<S>();
    let running = fd_count();
    let addr = server.local_addr();
    let mut attackers = Vec::new();
    for _ in 0..ATTACKERS {
        let mut c = connect(addr);
        let sent = Instant::now();
        c.get_mut()
            .write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 1000000\r\n\r\n")
            .unwrap();
        let HttpResponse { status, .. } = read_http_response(&mut c).expect("interim response");
        assert_eq!(status, 100, "{}", S::NAME);
        attackers.push((c, sent));
    }
    // A fresh client, while all of them wait.
    let mut probe = connect(addr);
    get_hello(&mut probe);
    get_hello(&mut probe);
    for (c, _) in &attackers {
        assert!(
            !closed_by_server(c.get_ref()),
            "{}: an attacker was cut before a fresh client was answered: it held the worker",
            S::NAME
        );
    }
    drop(probe);
    // Each is cut at the read timeout from its head.
    for (mut c, sent) in attackers {
        let mut rest = Vec::new();
        let _ = c.read_to_end(&mut rest);
        let after = sent.elapsed();
        assert!(
            after + SLACK >= READ_TIMEOUT,
            "{}: cut after {after:?}, before the read timeout",
            S::NAME
        );
        assert!(
            after <= READ_TIMEOUT * 5,
            "{}: cut only after {after:?}",
            S::NAME
        );
    }
    let stats = await_stats(&server, "every connection closed", |s| {
        s.current_connections == 0 && s.buffered_input == 0
    });
    assert_eq!(stats.timed_out, ATTACKERS as u64, "{stats:?}");
    assert_eq!(stats.timed_out_read, ATTACKERS as u64, "{stats:?}");
    await_sample("descriptors back (server running)", fd_count, |&n| {
        n == running
    });
    stop(&mut server);
    await_sample("descriptors back (server stopped)", fd_count, |&n| {
        n == before
    });
}

tests::server_tests_every_mode!(
    upload_gets_the_go_ahead,
    go_ahead_behind_a_pipelined_request,
    no_go_ahead_where_no_body_is_wanted,
    curl_upload_with_expect,
    go_ahead_without_a_body_holds_nothing,
);
