//! Helpers for the behavioural test suite.
//!
//! Every behavioural test is a generic function `fn name<S: TestServer>()`; the
//! [`server_tests!`] macro instantiates each one for every server type, so a test written
//! once runs against `net::TcpServer` and `evnet::EvServer`.

#![forbid(unsafe_code)]

pub mod child;
pub mod gate;
pub mod haproxy;

use std::fmt::Debug;
use std::time::{Duration, Instant};

use net::Server;

/// A server type under test, with what the tests need to know about its nature.
pub trait TestServer: Server {
    /// Short name for messages.
    const NAME: &'static str;
    /// True for the evented server (fixed threads: loops, spares and workers).
    const EVENTED: bool;
    /// Options giving `loops` event loops and `workers` workers (ignored by `net`).
    fn options(loops: usize, workers: usize) -> Self::Options;
    /// The fixed thread count (`Stats::current_threads`) of an evented server started
    /// with [`options`](TestServer::options)`(loops, workers)`; `net`'s follows its
    /// connections (0 here).
    fn fixed_threads(loops: usize, workers: usize) -> usize {
        let _ = (loops, workers);
        0
    }
    /// `options` with per-loop input and output budgets of `input` and `output` bytes
    /// (`net` has no budgets: unchanged).
    fn with_budgets(options: Self::Options, input: usize, output: usize) -> Self::Options {
        let _ = (input, output);
        options
    }
}

impl TestServer for net::TcpServer {
    const NAME: &'static str = "net";
    const EVENTED: bool = false;
    fn options(_loops: usize, _workers: usize) {}
}

impl TestServer for evnet::EvServer {
    const NAME: &'static str = "evnet";
    const EVENTED: bool = true;
    fn options(loops: usize, workers: usize) -> evnet::EvOptions {
        evnet::EvOptions::default().loops(loops).workers(workers)
    }
    /// Adaptive dispatch: loops, one spare per worker, workers.
    fn fixed_threads(loops: usize, workers: usize) -> usize {
        evnet_threads(&<Self as TestServer>::options(loops, workers))
    }
    fn with_budgets(options: evnet::EvOptions, input: usize, output: usize) -> evnet::EvOptions {
        options.input_budget(input).output_budget(output)
    }
}

/// The fixed threads (`Stats::current_threads`) of an evented server started with
/// `options`: its loops, its spares and, unless inline, its workers.
fn evnet_threads(options: &evnet::EvOptions) -> usize {
    let workers = match options.dispatch_mode() {
        evnet::Dispatch::Inline => 0,
        _ => options.worker_count(),
    };
    options.loop_count() + options.spare_count() + workers
}

/// Declare a server type that is the evented server in one dispatch mode, so that
/// generic tests run on that mode too: every call goes to the wrapped
/// [`evnet::EvServer`]; only the options differ.
macro_rules! evnet_in_mode {
    ($(#[$doc:meta])* $ty:ident, $mode:ident, $name:literal) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $ty(pub evnet::EvServer);

        impl Server for $ty {
            type Options = evnet::EvOptions;
            fn bind_with<A: std::net::ToSocketAddrs, H: Handler>(
                addr: A,
                handler: H,
                params: ServerParams,
                options: evnet::EvOptions,
            ) -> net::Result<Self> {
                let options = options.dispatch(evnet::Dispatch::$mode);
                evnet::EvServer::bind_with(addr, handler, params, options).map($ty)
            }
            fn from_listener_with<H: Handler>(
                listener: std::net::TcpListener,
                handler: H,
                params: ServerParams,
                options: evnet::EvOptions,
            ) -> net::Result<Self> {
                let options = options.dispatch(evnet::Dispatch::$mode);
                evnet::EvServer::from_listener_with(listener, handler, params, options).map($ty)
            }
            fn start(&mut self) -> net::Result<()> {
                self.0.start()
            }
            fn local_addr(&self) -> SocketAddr {
                self.0.local_addr()
            }
            fn stats(&self) -> Stats {
                self.0.stats()
            }
            fn handle(&self) -> net::ServerHandle {
                self.0.handle()
            }
            fn shutdown(&mut self, deadline: Duration) -> net::Result<Stats> {
                self.0.shutdown(deadline)
            }
        }

        impl TestServer for $ty {
            const NAME: &'static str = $name;
            const EVENTED: bool = true;
            fn options(loops: usize, workers: usize) -> evnet::EvOptions {
                evnet::EvOptions::default()
                    .loops(loops)
                    .workers(workers)
                    .dispatch(evnet::Dispatch::$mode)
            }
            fn fixed_threads(loops: usize, workers: usize) -> usize {
                evnet_threads(&<Self as TestServer>::options(loops, workers))
            }
            fn with_budgets(
                options: evnet::EvOptions,
                input: usize,
                output: usize,
            ) -> evnet::EvOptions {
                options.input_budget(input).output_budget(output)
            }
        }
    };
}

evnet_in_mode!(
    /// The evented server in [`evnet::Dispatch::Inline`] mode (requests served on the
    /// loop's thread, no workers), for [`server_tests_every_mode!`].
    InlineEvServer,
    Inline,
    "evnet-inline"
);

evnet_in_mode!(
    /// The evented server in [`evnet::Dispatch::Workers`] mode (every request handed to a
    /// worker); `evnet::EvServer` itself runs the default, adaptive dispatch.
    WorkersEvServer,
    Workers,
    "evnet-workers"
);

/// Instantiate generic tests `fn name<S: TestServer>()` once per server type, as
/// `net_server::name`, `evnet_server::name` (the default, adaptive dispatch) and
/// `evnet_workers_server::name` ([`WorkersEvServer`]).
#[macro_export]
macro_rules! server_tests {
    ($($name:ident),* $(,)?) => {
        mod net_server {
            $( #[test] fn $name() { super::$name::<net::TcpServer>() } )*
        }
        mod evnet_server {
            $( #[test] fn $name() { super::$name::<evnet::EvServer>() } )*
        }
        mod evnet_workers_server {
            $( #[test] fn $name() { super::$name::<$crate::WorkersEvServer>() } )*
        }
    };
}

/// [`server_tests!`] plus the evented server's inline mode ([`InlineEvServer`], as
/// `evnet_inline_server::name`), for tests whose handlers never block (inline, a read or
/// write that would block fails at once).
#[macro_export]
macro_rules! server_tests_every_mode {
    ($($name:ident),* $(,)?) => {
        $crate::server_tests!($($name),*);
        $crate::inline_server_tests!($($name),*);
    };
}

/// The evented server's inline mode only ([`InlineEvServer`], as
/// `evnet_inline_server::name`): beside [`server_tests!`] for the subset of a file's tests
/// whose handlers never block.
#[macro_export]
macro_rules! inline_server_tests {
    ($($name:ident),* $(,)?) => {
        mod evnet_inline_server {
            $( #[test] fn $name() { super::$name::<$crate::InlineEvServer>() } )*
        }
    };
}

/// Poll `cond` every few milliseconds until it holds or `timeout` passes; returns whether
/// it held. Used for counters that change asynchronously (never a fixed sleep).
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The descriptors this process has open now (entries in `/proc/self/fd`): tests that
/// run a server in-process check that an attack gives every one back.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap_or_else(|e| panic!("cannot list /proc/self/fd: {e}"))
        .count()
}

/// One HTTP/1.1 response as a test client reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The header fields, names in lowercase, in order.
    pub headers: Vec<(String, String)>,
    /// The body (by `Content-Length`; empty without one).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Read one HTTP response from `reader`. End of input before its end is
/// `UnexpectedEof`; a malformed status line, header field or `Content-Length` is
/// `InvalidData` naming it.
pub fn read_http_response(reader: &mut impl BufRead) -> io::Result<HttpResponse> {
    let bad = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let field = line.trim_end();
        if field.is_empty() {
            break;
        }
        let (name, value) = field
            .split_once(':')
            .ok_or_else(|| bad(format!("header {field:?}")))?;
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    let mut response = HttpResponse {
        status,
        headers,
        body: Vec::new(),
    };
    if let Some(len) = response.header("content-length") {
        let len = len
            .parse()
            .map_err(|_| bad(format!("Content-Length {len:?}")))?;
        response.body = vec![0; len];
        reader.read_exact(&mut response.body)?;
    }
    Ok(response)
}

/// The default bound for [`wait_until`] in tests: generous, since the machine is shared.
pub const PATIENCE: Duration = Duration::from_secs(10);

// ----- shared helpers: servers, clients, handlers ------------------------------------

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use net::{Action, Connection, Frame, Handler, ServerParams, Stats};

/// How long a test client waits for a read before failing (a bug cannot hang a test).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// The deadline tests give to `shutdown`.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);

/// Bind a server of type `S` on `127.0.0.1:0` with `loops` event loops and `workers`
/// workers (ignored by `net`), and start it. Panics on failure.
pub fn start_with<S: TestServer, H: Handler>(
    handler: H,
    params: ServerParams,
    loops: usize,
    workers: usize,
) -> S {
    let mut server = S::bind_with("127.0.0.1:0", handler, params, S::options(loops, workers))
        .unwrap_or_else(|e| panic!("{}: bind failed: {e}", S::NAME));
    server
        .start()
        .unwrap_or_else(|e| panic!("{}: start failed: {e}", S::NAME));
    server
}

/// Bind an evented server on `127.0.0.1:0` with `options` and start it (for tests about
/// evnet's own nature and options). Panics on failure.
pub fn start_ev<H: Handler>(
    handler: H,
    params: ServerParams,
    options: evnet::EvOptions,
) -> evnet::EvServer {
    let mut server = evnet::EvServer::bind_with("127.0.0.1:0", handler, params, options)
        .unwrap_or_else(|e| panic!("evnet: bind failed: {e}"));
    server
        .start()
        .unwrap_or_else(|e| panic!("evnet: start failed: {e}"));
    server
}

/// [`start_with`] two loops and two workers.
pub fn start<S: TestServer, H: Handler>(handler: H, params: ServerParams) -> S {
    start_with(handler, params, 2, 2)
}

/// Shut `server` down with [`SHUTDOWN_DEADLINE`], asserting success; returns the final stats.
pub fn stop<S: Server>(server: &mut S) -> Stats {
    server
        .shutdown(SHUTDOWN_DEADLINE)
        .unwrap_or_else(|e| panic!("shutdown failed: {e}"))
}

/// Poco's four connection counters, for compact assertions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// `current_connections`
    pub current: usize,
    /// `current_threads`
    pub threads: usize,
    /// `queued_connections`
    pub queued: usize,
    /// `total_connections`
    pub total: u64,
}

impl Counts {
    /// The counts in a stats snapshot.
    pub fn of(stats: &Stats) -> Counts {
        Counts {
            current: stats.current_connections,
            threads: stats.current_threads,
            queued: stats.queued_connections,
            total: stats.total_connections,
        }
    }
}

/// Shorthand for [`Counts`]: current connections, threads, queued, total connections.
pub fn counts(current: usize, threads: usize, queued: usize, total: u64) -> Counts {
    Counts {
        current,
        threads,
        queued,
        total,
    }
}

/// Wait (up to [`PATIENCE`]) until the server's stats satisfy `cond`; panic naming `what`
/// and showing the last snapshot otherwise. Returns the snapshot that satisfied it.
pub fn await_stats<S: Server>(server: &S, what: &str, cond: impl FnMut(&Stats) -> bool) -> Stats {
    await_sample(what, || server.stats(), cond)
}

/// Take samples with `sample` (up to [`PATIENCE`]) until one satisfies `cond`, and return
/// it; panic naming `what` and showing the last sample otherwise.
pub fn await_sample<T: Debug>(
    what: &str,
    mut sample: impl FnMut() -> T,
    mut cond: impl FnMut(&T) -> bool,
) -> T {
    let mut last = sample();
    if wait_until(PATIENCE, || {
        last = sample();
        cond(&last)
    }) {
        last
    } else {
        panic!("timed out waiting for {what}; last: {last:?}")
    }
}

/// Wait (up to [`PATIENCE`]) until the server's [`Counts`] equal `want`.
pub fn await_counts<S: Server>(server: &S, want: Counts) -> Stats {
    await_stats(server, &format!("{want:?}"), |s| Counts::of(s) == want)
}

/// A server shutting down on a thread of its own ([`shutdown_in_background`]), so that a
/// test can act on its clients while it drains.
#[derive(Debug)]
pub struct Stopping(std::sync::mpsc::Receiver<Result<Stats, String>>);

/// Run `server.shutdown(deadline)` on a thread of its own.
pub fn shutdown_in_background<S: Server + Send + 'static>(
    mut server: S,
    deadline: Duration,
) -> Stopping {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(server.shutdown(deadline).map_err(|e| e.to_string()));
    });
    Stopping(rx)
}

impl Stopping {
    /// The final statistics, once shutdown has returned within [`PATIENCE`]; panics
    /// saying that `held` held it otherwise, or when shutdown failed.
    pub fn stats(self, held: &str) -> Stats {
        match self.0.recv_timeout(PATIENCE) {
            Ok(result) => result.expect("shutdown"),
            Err(_) => panic!("{held} held the shutdown"),
        }
    }
}

/// A test client: a socket with [`CLIENT_TIMEOUT`] read and write timeouts, line helpers,
/// and a check that the server closed the connection.
#[derive(Debug)]
pub struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    /// Connect to `addr`; panics on failure.
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        stream.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(CLIENT_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            reader: BufReader::new(stream),
        }
    }

    /// The client's own address (the peer address the server sees).
    pub fn local_addr(&self) -> SocketAddr {
        self.reader.get_ref().local_addr().unwrap()
    }

    /// Write all of `bytes`; panics on failure.
    pub fn send(&mut self, bytes: &[u8]) {
        let mut stream = self.reader.get_ref();
        stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("send {:?}: {e}", String::from_utf8_lossy(bytes)));
    }

    /// Read one line (with its `\n`); panics on EOF, error or timeout.
    pub fn line(&mut self) -> String {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => panic!("connection closed while a line was expected"),
            Ok(_) if line.ends_with('\n') => line,
            Ok(_) => panic!("connection closed in the middle of line {line:?}"),
            Err(e) => panic!("reading a line: {e} (got {line:?} so far)"),
        }
    }

    /// Send `text` plus `\n` and return the line received.
    pub fn roundtrip(&mut self, text: &str) -> String {
        self.send(format!("{text}\n").as_bytes());
        self.line()
    }

    /// Send `text` plus `\n` and assert that it comes back unchanged.
    pub fn echo(&mut self, text: &str) {
        assert_eq!(self.roundtrip(text), format!("{text}\n"));
    }

    /// Assert that the server closes the connection without sending anything more: a read
    /// gives EOF or a reset (never data, never a timeout).
    pub fn expect_closed(&mut self) {
        let mut buf = [0u8; 256];
        match self.reader.read(&mut buf) {
            Ok(0) => {}
            Ok(n) => panic!(
                "expected the server to close the connection, got {:?}",
                String::from_utf8_lossy(&buf[..n])
            ),
            Err(e) if is_reset(&e) => {}
            Err(e) => panic!("expected the server to close the connection, got: {e}"),
        }
    }
}

/// True for the errors a client sees when the server reset the connection.
pub fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

/// Framing for line protocols: a request is complete at its first `\n`.
pub fn line_frame(buffered: &[u8]) -> Frame {
    match buffered.iter().position(|&b| b == b'\n') {
        Some(i) => Frame::Complete(i + 1),
        None => Frame::Partial,
    }
}

/// Assert the timeouts `stats` counts by kind: `[idle, read, write, handler]`
/// (`net::TimeoutKind::ALL`'s order).
#[track_caller]
pub fn assert_timeouts(stats: &Stats, expected: [u64; 4]) {
    let counted = net::TimeoutKind::ALL.map(|kind| stats.timed_out_by(kind));
    assert_eq!(
        counted, expected,
        "timeouts [idle, read, write, handler]: {stats:?}"
    );
}

/// Read one line request; `None` at EOF.
fn read_request(conn: &mut Connection) -> io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    if conn.read_until(b'\n', &mut line)? == 0 {
        return Ok(None);
    }
    Ok(Some(line))
}

/// Answers each line with the addresses the server gives its connection:
/// `peer=<addr> balancer=<addr, or ->` (see `Connection::balancer_addr`).
#[derive(Debug, Clone, Copy, Default)]
pub struct WhoAmI;

impl Handler for WhoAmI {
    type Session = ();
    fn open(&self, _: &Connection) {}
    fn serve(&self, _: &mut (), conn: &mut Connection) -> io::Result<Action> {
        let mut line = String::new();
        if conn.read_line(&mut line)? == 0 {
            return Ok(Action::Close);
        }
        let balancer = conn.balancer_addr().map_or("-".into(), |a| a.to_string());
        writeln!(conn, "peer={} balancer={balancer}", conn.peer_addr())?;
        Ok(Action::KeepAlive)
    }
    fn frame(&self, _: &mut (), buffered: &[u8]) -> Frame {
        line_frame(buffered)
    }
}

/// Echoes each line; optionally panics on one given line (without its `\n`).
#[derive(Debug, Clone, Default)]
pub struct Echo {
    panic_on: Option<Vec<u8>>,
    /// Panic with a [`PanickyPayload`] rather than a message.
    panicky_payload: bool,
}

impl Echo {
    /// A plain line echo.
    pub fn new() -> Echo {
        Echo::default()
    }

    /// A line echo that panics when it receives the line `trigger`.
    pub fn panicking_on(trigger: &str) -> Echo {
        Echo {
            panic_on: Some(trigger.as_bytes().to_vec()),
            panicky_payload: false,
        }
    }

    /// A line echo that panics when it receives the line `trigger`, with a payload that
    /// panics again when dropped ([`PanickyPayload`]).
    pub fn panicking_twice_on(trigger: &str) -> Echo {
        Echo {
            panicky_payload: true,
            ..Echo::panicking_on(trigger)
        }
    }
}

impl Handler for Echo {
    type Session = ();
    fn open(&self, _conn: &Connection) {}
    fn serve(&self, _: &mut (), conn: &mut Connection) -> io::Result<Action> {
        let Some(line) = read_request(conn)? else {
            return Ok(Action::Close);
        };
        if self.panic_on.as_deref() == Some(line.strip_suffix(b"\n").unwrap_or(&line)) {
            if self.panicky_payload {
                std::panic::panic_any(PanickyPayload);
            }
            panic!("Echo: panicking on request, as asked (this panic is expected)");
        }
        conn.write_all(&line)?;
        Ok(Action::KeepAlive)
    }
    fn frame(&self, _: &mut Self::Session, buffered: &[u8]) -> Frame {
        line_frame(buffered)
    }
}

/// A panic payload whose drop panics in turn: whoever catches a handler's panic carrying
/// it and drops the payload meets a second panic, still the handler's (its type's `Drop`).
/// Raise it with `std::panic::panic_any(PanickyPayload)`.
#[derive(Debug)]
pub struct PanickyPayload;

impl Drop for PanickyPayload {
    fn drop(&mut self) {
        panic!("PanickyPayload dropped: a handler panic's payload panics (this panic is expected)");
    }
}

/// Reads a line, notes that a request is being served, sleeps `delay`, then answers
/// `done <line>`. For tests of shutdown with a request in flight.
#[derive(Debug)]
pub struct Slow {
    delay: Duration,
    started: Arc<AtomicUsize>,
}

impl Slow {
    /// A slow handler and the counter of requests it has started serving.
    pub fn new(delay: Duration) -> (Slow, Arc<AtomicUsize>) {
        let started = Arc::new(AtomicUsize::new(0));
        (
            Slow {
                delay,
                started: Arc::clone(&started),
            },
            started,
        )
    }
}

impl Handler for Slow {
    type Session = ();
    fn open(&self, _conn: &Connection) {}
    fn serve(&self, _: &mut (), conn: &mut Connection) -> io::Result<Action> {
        let Some(line) = read_request(conn)? else {
            return Ok(Action::Close);
        };
        self.started.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(self.delay);
        conn.write_all(b"done ")?;
        conn.write_all(&line)?;
        Ok(Action::KeepAlive)
    }
    fn frame(&self, _: &mut Self::Session, buffered: &[u8]) -> Frame {
        line_frame(buffered)
    }
}

/// Answers each line with how many lines this connection has sent so far (the session).
#[derive(Debug, Clone, Copy, Default)]
pub struct Counter;

impl Handler for Counter {
    type Session = u64;
    fn open(&self, _conn: &Connection) -> u64 {
        0
    }
    fn serve(&self, count: &mut u64, conn: &mut Connection) -> io::Result<Action> {
        if read_request(conn)?.is_none() {
            return Ok(Action::Close);
        }
        *count += 1;
        writeln!(conn, "{count}")?;
        Ok(Action::KeepAlive)
    }
    fn frame(&self, _: &mut Self::Session, buffered: &[u8]) -> Frame {
        line_frame(buffered)
    }
}

/// Answers each line `<text>` with `<text> last=<true|false>`: whether the server said
/// this request is the connection's last (`Connection::is_last_request`). A line
/// `sleep <ms> ...` sleeps that long first (at most 5 s), so that a test can age a connection
/// while a request is served.
#[derive(Debug, Clone, Copy, Default)]
pub struct LastFlag;

impl Handler for LastFlag {
    type Session = ();
    fn open(&self, _conn: &Connection) {}
    fn serve(&self, _: &mut (), conn: &mut Connection) -> io::Result<Action> {
        let Some(line) = read_request(conn)? else {
            return Ok(Action::Close);
        };
        let text = String::from_utf8_lossy(&line).trim_end().to_owned();
        if let Some(rest) = text.strip_prefix("sleep ") {
            let ms = rest.split_whitespace().next().unwrap_or("0");
            let ms = ms.parse::<u64>().unwrap_or(0).min(5000);
            std::thread::sleep(Duration::from_millis(ms));
        }
        writeln!(conn, "{text} last={}", conn.is_last_request())?;
        Ok(Action::KeepAlive)
    }
    fn frame(&self, _: &mut Self::Session, buffered: &[u8]) -> Frame {
        line_frame(buffered)
    }
}

impl Client {
    /// Connect to `addr` from the local address `from` (another loopback address, say
    /// `127.0.0.2`, to be another client); panics on failure.
    pub fn connect_from(addr: SocketAddr, from: std::net::IpAddr) -> Client {
        let domain = socket2::Domain::for_address(addr);
        let socket = socket2::Socket::new(domain, socket2::Type::STREAM, None)
            .unwrap_or_else(|e| panic!("socket: {e}"));
        let local = SocketAddr::new(from, 0);
        socket
            .bind(&local.into())
            .unwrap_or_else(|e| panic!("bind {local}: {e}"));
        socket
            .connect(&addr.into())
            .unwrap_or_else(|e| panic!("connect to {addr} from {from}: {e}"));
        let stream = TcpStream::from(socket);
        stream.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(CLIENT_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            reader: BufReader::new(stream),
        }
    }

    /// A second handle on the client's socket, to write from another thread while this
    /// one reads (for requests and responses larger than the socket buffers).
    pub fn writer(&self) -> TcpStream {
        self.reader.get_ref().try_clone().unwrap()
    }
}
