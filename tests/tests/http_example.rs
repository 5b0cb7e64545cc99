//! The HTTP example handler (`examples::http::HttpHandler`) over real sockets, on every
//! server: routes (origin- and absolute-form targets), persistence (and the last request
//! a server takes on a connection), pipelining, bodies, the error statuses, and the `Date`
//! every final response carries.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use examples::http::{date, HttpHandler};
use net::{Server, ServerParams, ServerParamsBuilder};
use tests::{wait_until, TestServer, PATIENCE};

/// How long a client read may wait: a server bug fails the test instead of hanging it.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

fn start<S: TestServer>() -> S {
    start_with::<S>(|params| params)
}

/// [`start`] with server parameters changed by `tune`.
fn start_with<S: TestServer>(tune: impl FnOnce(ServerParamsBuilder) -> ServerParamsBuilder) -> S {
    let params = tune(
        ServerParams::builder()
            .keep_alive_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(10))
            .write_timeout(Duration::from_secs(10)),
    )
    .build()
    .expect("params");
    let mut server = S::bind_with(
        "127.0.0.1:0",
        HttpHandler::default(),
        params,
        S::options(2, 2),
    )
    .unwrap_or_else(|e| panic!("{}: bind: {e}", S::NAME));
    server
        .start()
        .unwrap_or_else(|e| panic!("{}: start: {e}", S::NAME));
    server
}

fn stop<S: Server>(mut server: S) {
    server.shutdown(Duration::from_secs(5)).expect("shutdown");
}

/// One parsed response.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A raw HTTP client on one connection.
struct Client {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(CLIENT_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            writer: stream.try_clone().unwrap(),
            reader: BufReader::new(stream),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("send");
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("read a line");
        assert!(line.ends_with("\r\n"), "line without CRLF: {line:?}");
        line.truncate(line.len() - 2);
        line
    }

    /// Read one response; `head_only` for the answer to a HEAD request (no body).
    fn read_response(&mut self, head_only: bool) -> Response {
        let status_line = self.line();
        let mut parts = status_line.splitn(3, ' ');
        assert_eq!(
            parts.next(),
            Some("HTTP/1.1"),
            "status line {status_line:?}"
        );
        let status = parts
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("status line {status_line:?}"));
        let mut headers = Vec::new();
        loop {
            let line = self.line();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').expect("header line");
            headers.push((name.to_string(), value.trim().to_string()));
        }
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
        };
        if status != 100 && !head_only {
            let len: usize = response
                .header("content-length")
                .expect("Content-Length")
                .parse()
                .expect("a number");
            response.body = vec![0; len];
            self.reader.read_exact(&mut response.body).expect("body");
        }
        response
    }

    fn response(&mut self) -> Response {
        self.read_response(false)
    }

    fn request(&mut self, bytes: &[u8]) -> Response {
        self.send(bytes);
        self.response()
    }

    /// The server has closed the connection: the next read sees end of input.
    fn assert_closed(&mut self) {
        let mut byte = [0u8; 1];
        match self.reader.read(&mut byte) {
            Ok(0) => {}
            Ok(_) => panic!("unexpected byte {:?} after the response", byte[0] as char),
            Err(e) => panic!("expected end of input, got {e}"),
        }
    }
}

const GET_ROOT: &[u8] = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n";

/// The response has a `Date`, an IMF-fixdate of now (within the test's patience).
fn assert_dated(r: &Response) {
    let value = r.header("date").unwrap_or_else(|| panic!("no Date: {r:?}"));
    let dated = date::parse(value.as_bytes()).unwrap_or_else(|| panic!("bad Date: {r:?}"));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        dated <= now && now - dated <= PATIENCE.as_secs() + 1,
        "Date {value} is not now ({now}): {r:?}"
    );
}

fn assert_hello(r: &Response) {
    assert_eq!(r.status, 200, "{r:?}");
    assert_dated(r);
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("content-length"), Some("13"));
    assert_eq!(r.body, b"Hello, World!");
}

fn get_root<S: TestServer>() {
    let server = start::<S>();
    let mut c = Client::connect(server.local_addr());
    let r = c.request(GET_ROOT);
    assert_hello(&r);
    assert_eq!(
        r.header("connection"),
        None,
        "keep-alive is implicit in 1.1"
    );
    stop(server);
}

fn head_root<S: TestServer>() {
    let server = start::<S>();
    let mut c = Client::connect(server.local_addr());
    c.send(b"HEAD / HTTP/1.1\r\nHost: test\r\n\r\n");
    let r = c.read_response(true);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("13"));
    // No body came: the next response follows directly.
    assert_hello(&c.request(GET_ROOT));
    stop(server);
}

fn get_json<S: TestServer>() {
    let server = start::<S>();
    let mut c = Client::connect(server.local_addr());
    let r = c.request(b"GET /json HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.text(), r#"{"message":"Hello, World!"}"#);
    stop(server);
}

fn post_echo_content_length<S: TestServer>() {
    let server = start::<S>();
    let mut c = Client::connect(server.local_addr());
    let r = c.request(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"hello world");
    // A larger body, spanning several reads.
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    c.send(
        format!(
            "POST /echo HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    c.send(&body);
    let r = c.response();
    assert_eq!(r.status, 200);
    assert!(r.body == body, "echoed body differs");
    stop(server);
}

fn post_echo_chunked<S: TestServer>() {
    let server = start::<S>();
    let mut c = Client::connect(server.local_addr());
    let r = c.request(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
          5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: yes\r\n\r\n",
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), "hello, world");
    assert_eq!(r.header("content-length"), Some("12"));
    // The connection is still in sync after the trailer.
    assert_hello(&c.request(GET_ROOT));
    stop(server);
}

fn expect_continue<S: TestServer>() {
    let server = start::<S>();
    let mut c = Client::connect(server.local_addr());
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    let interim = c.response();
    assert_eq!(interim.status, 100);
    c.send(b"ping");
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"ping");
    stop(server);
}

fn keep_alive<S: TestServer>() {
    let server = start::<S>();
    let mut c = Client::connect(server.local_addr());
    assert_hello(&c.request(GET_ROOT));
    assert_hello(&c.request(GET_ROOT));
    let stats = server.stats();
    assert_eq!(stats.total_connections, 1, "{stats:?}");
    stop(server);
}

fn connection_close_honoured<S: TestServer>() {
    let server = start::<S>();
    let mut c = Client::connect(server.local_addr());
    let r = c.request(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_hello(&r);
    assert_eq!(r.header("connection"), Some("close"));
    c.assert_closed();
    stop(server);
}

fn http10_closes_by_default<S: TestServer>() {
    let server = start::<S>();
    let mut c = Client::connect(server.local_addr());
    let r = c.request(b"GET / HTTP/1.0\r\n\r\n");
    assert_hello(&r);
    assert_eq!(r.header("connection"), Some("close"));
    c.assert_closed();
    stop(server);
}

fn http10_keep_alive<S: TestServer>() {
    let server = start::<S>();
    let mut c = Client::connect(server.local_addr());
    let r = c.request(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_hello(&r);
    assert_eq!(r.header("connection"), Some("keep-alive"));
    let r = c.request(b"GET /json HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), Some("keep-alive"));
    stop(server);
}

fn pipelined_in_order<S: TestServer>() {
    let server = start::<S>();
    let mut c = Client::connect(server.local_addr());
    c.send(
        b"GET /json HTTP/1.1\r\nHost: t\r\n\r\n\
          POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc\
          GET / HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    let first = c.response();
    assert_eq!(first.header("content-type"), Some("application/json"));
    let second = c.response();
    assert_eq!(second.body, b"abc");
    assert_hello(&c.response());
    assert!(
        wait_until(PATIENCE, || server.stats().requests >= 3),
        "{:?}",
        server.stats()
    );
    stop(server);
}

fn one_byte_writes<S: TestServer>() {
    let server = start::<S>();
    let mut c = Client::connect(server.local_addr());
    let request = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
                    3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n\
                    GET /json HTTP/1.1\r\nHost: t\r\n\r\n";
    for byte in request {
        c.send(std::slice::from_ref(byte));
    }
    let r = c.response();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, b"abcde");
    let r = c.response();
    assert_eq!(r.header("content-type"), Some("application/json"));
    stop(server);
}

/// Send `request`, expect `status` with `Connection: close`, then end of input.
fn assert_error_and_close(addr: SocketAddr, request: &[u8], status: u16) -> Response {
    let mut c = Client::connect(addr);
    c.send(request);
    let r = c.response();
    assert_eq!(
        r.status,
        status,
        "{r:?} for {:?}",
        String::from_utf8_lossy(&request[..request.len().min(80)])
    );
    assert_eq!(r.header("connection"), Some("close"));
    assert_dated(&r);
    c.assert_closed();
    r
}

fn bad_request_line<S: TestServer>() {
    let server = start::<S>();
    let addr = server.local_addr();
    assert_error_and_close(addr, b"GARBAGE\r\n\r\n", 400);
    assert_error_and_close(addr, b"GET / HTTP/1.1 extra\r\n\r\n", 400);
    assert_error_and_close(addr, b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n", 400);
    // Binary noise is refused before any line end arrives.
    assert_error_and_close(addr, b"\x16\x03\x01\x00\xa5", 400);
    assert_error_and_close(addr, b"GET / HTTP/3.0\r\n\r\n", 505);
    stop(server);
}

fn bad_content_length<S: TestServer>() {
    let server = start::<S>();
    let addr = server.local_addr();
    assert_error_and_close(
        addr,
        b"POST /echo HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        400,
    );
    assert_error_and_close(
        addr,
        b"POST /echo HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        400,
    );
    assert_error_and_close(
        addr,
        b"POST /echo HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        400,
    );
    assert_error_and_close(
        addr,
        b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nnothex\r\n",
        400,
    );
    assert_error_and_close(
        addr,
        b"POST /echo HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        501,
    );
    stop(server);
}

fn huge_head_431<S: TestServer>() {
    let server = start::<S>();
    let mut request = b"GET / HTTP/1.1\r\nHost: t\r\n".to_vec();
    for i in 0..200 {
        request.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "v".repeat(40)).as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    assert!(request.len() > 8 * 1024);
    assert_error_and_close(server.local_addr(), &request, 431);
    stop(server);
}

fn big_body_413<S: TestServer>() {
    let server = start::<S>();
    let r = assert_error_and_close(
        server.local_addr(),
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n",
        413,
    );
    assert!(r.text().contains("too large"), "{r:?}");
    stop(server);
}

fn not_found_404<S: TestServer>() {
    let server = start::<S>();
    let mut c = Client::connect(server.local_addr());
    let r = c.request(b"GET /missing HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 404);
    // Not an error of the protocol: the connection stays usable.
    assert_hello(&c.request(GET_ROOT));
    stop(server);
}

fn method_not_allowed_405<S: TestServer>() {
    let server = start::<S>();
    let mut c = Client::connect(server.local_addr());
    let r = c.request(b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    // A body sent to a route that does not take one is skipped, keeping the stream in sync.
    let r = c.request(b"DELETE / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nxxxxx");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    assert_hello(&c.request(GET_ROOT));
    stop(server);
}

/// `GET /work?ms=N` blocks N ms in the handler, then answers as `GET /`; HEAD too.
fn work_blocks_then_answers_hello<S: TestServer>() {
    let server = start::<S>();
    let mut c = Client::connect(server.local_addr());
    assert_hello(&c.request(b"GET /work?ms=0 HTTP/1.1\r\nHost: t\r\n\r\n"));
    let started = Instant::now();
    let r = c.request(b"GET /work?ms=20 HTTP/1.1\r\nHost: t\r\n\r\n");
    let elapsed = started.elapsed();
    assert_hello(&r);
    // Only a lower bound: a loaded machine may take longer.
    assert!(
        elapsed >= Duration::from_millis(20),
        "{}: {elapsed:?}",
        S::NAME
    );
    c.send(b"HEAD /work?ms=1 HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.read_response(true);
    assert_eq!(r.status, 200, "{}: {r:?}", S::NAME);
    assert_eq!(r.header("content-length"), Some("13"));
    assert_hello(&c.request(GET_ROOT));
    stop(server);
}

/// A missing, non-numeric or too large `ms` gets 400 naming the problem; like 404, it
/// is not an error of the protocol: the connection stays usable. Other methods get 405.
fn work_bad_query_400<S: TestServer>() {
    let server = start::<S>();
    let mut c = Client::connect(server.local_addr());
    for (target, problem) in [
        ("/work?ms=5000", "too large"),
        ("/work?ms=x", "not a number"),
        ("/work", "missing ms"),
    ] {
        let request = format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n");
        let r = c.request(request.as_bytes());
        assert_eq!(r.status, 400, "{}: {target}: {r:?}", S::NAME);
        assert_eq!(r.header("connection"), None, "{}: {target}: {r:?}", S::NAME);
        assert!(r.text().contains(problem), "{}: {target}: {r:?}", S::NAME);
    }
    let r = c.request(b"POST /work?ms=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nxx");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    assert_hello(&c.request(GET_ROOT));
    stop(server);
}

/// With `max_requests_per_connection(2)`, the second response says `Connection: close`
/// and the connection then closes (the client is told, not dropped silently).
fn last_request_says_close<S: TestServer>() {
    let server = start_with::<S>(|p| p.max_requests_per_connection(2));
    let addr = server.local_addr();

    let mut c = Client::connect(addr);
    let first = c.request(GET_ROOT);
    assert_hello(&first);
    assert_eq!(first.header("connection"), None, "{}: {first:?}", S::NAME);
    let second = c.request(b"GET /json HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(second.status, 200, "{}: {second:?}", S::NAME);
    assert_eq!(
        second.header("connection"),
        Some("close"),
        "{}: {second:?}",
        S::NAME
    );
    c.assert_closed();

    // Pipelined: the second of three is the last, says so, and the third is not answered.
    let mut c = Client::connect(addr);
    c.send(&[GET_ROOT, GET_ROOT, GET_ROOT].concat());
    assert_eq!(c.response().header("connection"), None, "{}", S::NAME);
    let last = c.response();
    assert_hello(&last);
    assert_eq!(
        last.header("connection"),
        Some("close"),
        "{}: {last:?}",
        S::NAME
    );
    c.assert_closed();

    // The echo route, and HTTP/1.0 keep-alive (no `Connection: keep-alive` on the last).
    let mut c = Client::connect(addr);
    let r = c.request(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi");
    assert_eq!((r.status, r.header("connection")), (200, None), "{r:?}");
    let r = c.request(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nbye");
    assert_eq!(r.body, b"bye");
    assert_eq!(r.header("connection"), Some("close"), "{}: {r:?}", S::NAME);
    c.assert_closed();

    let mut c = Client::connect(addr);
    let keep = b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    assert_eq!(c.request(keep).header("connection"), Some("keep-alive"));
    let last = c.request(keep);
    assert_hello(&last);
    assert_eq!(
        last.header("connection"),
        Some("close"),
        "{}: {last:?}",
        S::NAME
    );
    c.assert_closed();

    stop(server);
}

/// RFC 9112 §3.2.2: a server must accept a target in absolute-form; it routes by the
/// target's path (the authority is the host), and the connection stays usable.
fn absolute_form_target<S: TestServer>() {
    let server = start::<S>();
    let mut c = Client::connect(server.local_addr());
    let r = c.request(b"GET http://test/json HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(r.status, 200, "{}: {r:?}", S::NAME);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.text(), r#"{"message":"Hello, World!"}"#);
    assert_hello(&c.request(b"GET HTTP://test:8080 HTTP/1.1\r\nHost: test:8080\r\n\r\n"));
    let r = c.request(
        b"POST https://test/echo?x=1 HTTP/1.1\r\nHost: test\r\nContent-Length: 4\r\n\r\nabsf",
    );
    assert_eq!((r.status, r.body.as_slice()), (200, &b"absf"[..]), "{r:?}");
    let r = c.request(b"GET http://test/missing HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(r.status, 404);
    assert_hello(&c.request(GET_ROOT));
    // An http URI without a valid host is a bad request.
    let addr = server.local_addr();
    assert_error_and_close(
        addr,
        b"GET http:///json HTTP/1.1\r\nHost: test\r\n\r\n",
        400,
    );
    assert_error_and_close(
        addr,
        b"GET http://user@test/ HTTP/1.1\r\nHost: test\r\n\r\n",
        400,
    );
    stop(server);
}

/// A chunk size may carry leading zeros past 16 digits: only its value must fit.
fn chunk_size_leading_zeros<S: TestServer>() {
    let server = start::<S>();
    let mut c = Client::connect(server.local_addr());
    let r = c.request(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
          00000000000000000005\r\nhello\r\n0000000000000000000000\r\n\r\n",
    );
    assert_eq!(r.status, 200, "{}: {r:?}", S::NAME);
    assert_eq!(r.text(), "hello");
    assert_hello(&c.request(GET_ROOT));
    // A value past 64 bits is still refused, however it is written.
    assert_error_and_close(
        server.local_addr(),
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
          0000010000000000000000\r\n",
        400,
    );
    stop(server);
}

/// A chunked body's framing is bounded against its data: chunk extensions of 4,000
/// bytes around one-byte chunks (540 such chunks were 2.1 MB on the wire for 540 bytes)
/// get 400 once the framing passes 16 KiB; a trailer section over `max_head` (8 KiB),
/// counted with its line ends as a head is, gets 431. Ordinary small chunks are served.
fn chunked_framing_is_bounded_by_its_data<S: TestServer>() {
    let server = start::<S>();
    let addr = server.local_addr();
    let head = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    // Six such chunks, a whole request: 24 KB of framing for 6 bytes of data.
    let mut request = head.to_vec();
    for _ in 0..6 {
        request.extend_from_slice(b"1;");
        request.resize(request.len() + 3998, b'e');
        request.extend_from_slice(b"\r\nx\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let r = assert_error_and_close(addr, &request, 400);
    assert!(r.text().contains("framing"), "{}: {r:?}", S::NAME);
    // 2,800 trailer lines `a`: 2,800 bytes of fields, 8,402 with the line ends.
    let mut request = head.to_vec();
    request.extend_from_slice(b"1\r\nx\r\n0\r\n");
    request.extend_from_slice(&b"a\r\n".repeat(2800));
    request.extend_from_slice(b"\r\n");
    assert_error_and_close(addr, &request, 431);
    // 4 KiB in 16-byte chunks: 6 bytes of framing each, served.
    let mut c = Client::connect(addr);
    let mut request = head.to_vec();
    request.extend_from_slice(&b"10\r\n0123456789abcdef\r\n".repeat(256));
    request.extend_from_slice(b"0\r\n\r\n");
    let r = c.request(&request);
    assert_eq!(r.status, 200, "{}: {r:?}", S::NAME);
    assert_eq!(r.body, b"0123456789abcdef".repeat(256));
    assert_hello(&c.request(GET_ROOT));
    stop(server);
}

/// A `Host` whose value is not `uri-host [ ":" port ]` gets 400 (RFC 9112 §3.2).
fn invalid_host_400<S: TestServer>() {
    let server = start::<S>();
    let addr = server.local_addr();
    for host in [
        &b"a b"[..],
        b"a/b",
        b"user@a",
        b"[::1",
        b"a:port",
        b"\xc3\xa9",
    ] {
        let mut request = b"GET / HTTP/1.1\r\nHost: ".to_vec();
        request.extend_from_slice(host);
        request.extend_from_slice(b"\r\n\r\n");
        let r = assert_error_and_close(addr, &request, 400);
        assert!(r.text().contains("Host"), "{}: {r:?}", S::NAME);
    }
    // Valid forms still work, on one connection.
    let mut c = Client::connect(addr);
    for host in ["test", "test:8080", "127.0.0.1", "[::1]:80", ""] {
        let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
        assert_hello(&c.request(request.as_bytes()));
    }
    stop(server);
}

tests::server_tests!(
    get_root,
    head_root,
    get_json,
    post_echo_content_length,
    post_echo_chunked,
    expect_continue,
    keep_alive,
    connection_close_honoured,
    http10_closes_by_default,
    http10_keep_alive,
    pipelined_in_order,
    one_byte_writes,
    bad_request_line,
    bad_content_length,
    huge_head_431,
    big_body_413,
    not_found_404,
    method_not_allowed_405,
    last_request_says_close,
    absolute_form_target,
    chunk_size_leading_zeros,
    chunked_framing_is_bounded_by_its_data,
    invalid_host_400,
    work_blocks_then_answers_hello,
    work_bad_query_400,
);
