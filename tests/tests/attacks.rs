//! The attacker's suite (issue 6): clients that pipeline requests and never read the
//! answers, read a large answer slowly, trickle a request head (slowloris) or its body, or
//! fill an evented loop's input budget. Each behavioural test is written once and runs on
//! both servers (`tests::server_tests!`); tests of the evented server's own nature are
//! plain `#[test]`s named `evnet_...`.
//!
//! What every attack must show: the attacker is cut at its deadline (never before it, and
//! long before ten times it), other clients are served while the attacker is still held,
//! and afterwards the server gives back everything it held: `current_connections` returns
//! to 0 and the process's descriptor count (`/proc/self/fd`, the server runs in-process)
//! returns to its value before the attack and, after shutdown, before the server.
//!
//! Timing is asserted only with generous bounds (the machine is shared and noisy). Because
//! every test counts this process's descriptors, the tests of this file run one at a time
//! (see [`serial`]).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use evnet::{Dispatch, EvOptions};
use examples::http::{HttpHandler, HttpSession, HELLO};
use net::{Action, Connection, Frame, Handler, Server, ServerParams, ServerParamsBuilder, Stats};
use tests::{
    await_sample, fd_count, is_reset, line_frame, read_http_response, start_ev, start_with, stop,
    wait_until, TestServer, CLIENT_TIMEOUT, PATIENCE,
};

// ----- constants ----------------------------------------------------------------------

/// How much earlier than its deadline a cut may be observed (clock reads, not the server).
const SLACK: Duration = Duration::from_millis(50);

/// A cut must come before this many times its timeout (a generous upper bound).
const UPPER: u32 = 10;

/// `write_timeout` in the non-reader attacks: short, yet long enough that a fresh client's
/// few requests surely fit between "the non-readers are held" and "they are cut".
const WRITE_TIMEOUT: Duration = Duration::from_secs(4);

/// `read_timeout` in the trickle attacks.
const READ_TIMEOUT: Duration = Duration::from_secs(2);

/// Every other timeout in an attack: long, so that only the timeout under test can cut.
const LONG: Duration = Duration::from_secs(60);

/// A non-reader's writes wait this long before it concludes that TCP pushed back.
const PUSHED_BACK: Duration = Duration::from_millis(500);

/// How often a trickling client sends its next byte.
const TICK: Duration = Duration::from_millis(150);

/// One pipelined HTTP request.
const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

/// The [`Flood`] request answered with [`BIG`] bytes.
const FLOOD: &[u8] = b"big\n";

/// Size of a [`Flood`] answer.
const BIG: usize = 64 * 1024;

// ----- one test at a time -------------------------------------------------------------

static SERIAL: Mutex<()> = Mutex::new(());

/// Every test of this file holds this lock for its whole run: they count this process's
/// descriptors, which any other test running at the same time would disturb.
fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

// ----- descriptors --------------------------------------------------------------------

/// The process's descriptor count at one moment.
#[derive(Debug, Clone, Copy)]
struct Fds(usize);

impl Fds {
    fn now() -> Fds {
        Fds(fd_count())
    }

    /// Wait (closing is asynchronous) until the count is back to this one; panic otherwise.
    fn assert_back(self, when: &str) {
        await_sample(
            &format!("descriptors back to {} {when}", self.0),
            fd_count,
            |&n| n == self.0,
        );
    }
}

// ----- servers and stats --------------------------------------------------------------

/// Parameters for an attack: long timeouts (so only the one under test cuts), and enough
/// threads that `net` can hold 200 attackers and still serve others.
fn attack_params() -> ServerParamsBuilder {
    ServerParams::builder()
        .keep_alive_timeout(LONG)
        .read_timeout(LONG)
        .write_timeout(LONG)
        .max_threads(512)
        .max_queued(64)
}

/// What the test saw of the server's gauges while it watched.
#[derive(Debug, Default)]
struct Gauges {
    /// The most `buffered_output` seen.
    max_output: usize,
    /// The most `buffered_input` seen.
    max_input: usize,
    /// When `timed_out` was first seen above 0.
    first_cut: Option<Instant>,
}

impl Gauges {
    /// Take one stats snapshot and note its gauges.
    fn sample<S: Server>(&mut self, server: &S) -> Stats {
        let s = server.stats();
        self.max_output = self.max_output.max(s.buffered_output);
        self.max_input = self.max_input.max(s.buffered_input);
        if s.timed_out > 0 && self.first_cut.is_none() {
            self.first_cut = Some(Instant::now());
        }
        s
    }
}

/// Sample the server's stats (noting its gauges) until `done` holds, up to [`PATIENCE`];
/// panic naming `what` otherwise. Returns the last snapshot.
fn watch<S: Server>(
    server: &S,
    gauges: &mut Gauges,
    what: &str,
    mut done: impl FnMut(&Stats) -> bool,
) -> Stats {
    let mut last = gauges.sample(server);
    let held = wait_until(PATIENCE, || {
        last = gauges.sample(server);
        done(&last)
    });
    assert!(held, "timed out waiting for {what}; last stats: {last:?}");
    last
}

/// After an attack: every connection closed (`current_connections` 0, `buffered_*` 0) and
/// the descriptors back to `running`; then shut down and check the descriptors are back to
/// `before` (the count before the server existed).
fn assert_whole_and_stop<S: Server>(
    server: &mut S,
    gauges: &mut Gauges,
    running: Fds,
    before: Fds,
) {
    watch(
        server,
        gauges,
        "no connection and no buffered byte left",
        |s| s.current_connections == 0 && s.buffered_input == 0 && s.buffered_output == 0,
    );
    running.assert_back("after the attack, server running");
    let stats = stop(server);
    assert_eq!(stats.current_connections, 0, "after shutdown: {stats:?}");
    before.assert_back("after shutdown");
}

/// Assert that a cut observed at `closed` for a request or response begun at `started`
/// came at its `timeout`: not before it (less [`SLACK`]) and before [`UPPER`] times it.
fn assert_cut_at(what: &str, started: Instant, closed: Instant, timeout: Duration) {
    let after = closed.saturating_duration_since(started);
    assert!(
        after + SLACK >= timeout,
        "{what} was cut {after:?} after its start, before its timeout {timeout:?}"
    );
    assert!(
        after <= timeout * UPPER,
        "{what} was cut only after {after:?} (timeout {timeout:?})"
    );
}

// ----- handlers -----------------------------------------------------------------------

/// Line protocol: [`FLOOD`] is answered with [`BIG`] bytes; any other line is echoed.
/// Large answers to tiny requests let 200 non-readers fill their sockets quickly.
#[derive(Debug, Clone, Copy, Default)]
struct Flood;

impl Handler for Flood {
    type Session = ();
    fn open(&self, _: &Connection) {}
    fn serve(&self, _: &mut (), conn: &mut Connection) -> io::Result<Action> {
        static ANSWER: [u8; BIG] = [b'b'; BIG];
        let mut line = Vec::new();
        if conn.read_until(b'\n', &mut line)? == 0 {
            return Ok(Action::Close);
        }
        if line == FLOOD {
            conn.write_all(&ANSWER)?;
        } else {
            conn.write_all(&line)?;
        }
        Ok(Action::KeepAlive)
    }
    fn frame(&self, _: &mut Self::Session, buffered: &[u8]) -> Frame {
        line_frame(buffered)
    }
}

/// The HTTP example handler, plus a rendezvous: a `GET /?meet` request is held until
/// [`MEET`] of them are being served at the same time (bounded by [`MEET_BOUND`]), then
/// answered as `GET /`. Seeing [`MEET`] of them held at once proves that [`MEET`] workers
/// are free.
#[derive(Debug, Clone)]
struct Meeting {
    http: HttpHandler,
    room: Arc<Room>,
}

/// How many `GET /?meet` requests must be in service together.
const MEET: usize = 2;

/// Longest a `GET /?meet` request waits for the others (a failing test still ends).
const MEET_BOUND: Duration = Duration::from_secs(20);

/// The request that waits at the rendezvous.
const MEET_REQUEST: &[u8] = b"GET /?meet HTTP/1.1\r\nHost: x\r\n\r\n";

#[derive(Debug, Default)]
struct Room {
    /// `GET /?meet` requests arrived so far, and whether the room is open for good.
    state: Mutex<(usize, bool)>,
    changed: Condvar,
}

impl Room {
    fn inside(&self) -> usize {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).0
    }

    /// Let everyone through from now on (also when a test fails, so no worker stays held).
    fn open(&self) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
        self.changed.notify_all();
    }

    fn meet(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.0 += 1;
        self.changed.notify_all();
        let (mut state, _) = self
            .changed
            .wait_timeout_while(state, MEET_BOUND, |(inside, open)| *inside < MEET && !*open)
            .unwrap_or_else(|e| e.into_inner());
        // The first to pass opens the room for the others.
        state.1 = true;
        self.changed.notify_all();
    }
}

/// Opens the room when dropped (declared after the server, so dropped before it).
struct OpenOnDrop(Arc<Room>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.open();
    }
}

impl Handler for Meeting {
    type Session = HttpSession;
    fn open(&self, conn: &Connection) -> HttpSession {
        self.http.open(conn)
    }
    fn serve(&self, session: &mut HttpSession, conn: &mut Connection) -> io::Result<Action> {
        // Framing (evnet) or the first read (net) has the request line buffered here.
        if conn.buffered().starts_with(&MEET_REQUEST[..11]) {
            self.room.meet();
        }
        self.http.serve(session, conn)
    }
    fn frame(&self, session: &mut HttpSession, buffered: &[u8]) -> Frame {
        self.http.frame(session, buffered)
    }
}

// ----- HTTP clients -------------------------------------------------------------------

/// Connect to `addr` with [`CLIENT_TIMEOUT`] on reads and writes.
fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

fn bad(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// Read one HTTP response: its status and its body (by `Content-Length`).
fn read_response(reader: &mut impl BufRead) -> io::Result<(u16, Vec<u8>)> {
    read_http_response(reader).map(|r| (r.status, r.body))
}

/// Send one `GET /` on `stream` and check the answer.
fn get(reader: &mut BufReader<TcpStream>) -> io::Result<()> {
    reader.get_ref().write_all(GET)?;
    match read_response(reader)? {
        (200, body) if body == HELLO => Ok(()),
        (status, body) => Err(bad(format!(
            "GET / answered {status} {:?}",
            String::from_utf8_lossy(&body)
        ))),
    }
}

/// A probe: a fresh HTTP client that completes three `GET /` requests.
fn http_probe(addr: SocketAddr) -> io::Result<()> {
    let mut reader = BufReader::new(connect(addr)?);
    for _ in 0..3 {
        get(&mut reader)?;
    }
    Ok(())
}

/// A probe: a fresh [`Flood`] client that has three lines echoed.
fn flood_probe(addr: SocketAddr) -> io::Result<()> {
    let mut reader = BufReader::new(connect(addr)?);
    for i in 0..3 {
        let sent = format!("ping {i}\n");
        reader.get_ref().write_all(sent.as_bytes())?;
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if line != sent {
            return Err(bad(format!("echoed {line:?} for {sent:?}")));
        }
    }
    Ok(())
}

/// Run `probe` on another thread; panic if it fails or does not finish in [`PATIENCE`]
/// (while watching the server's gauges); returns when it completed.
fn probe_now<S: Server>(
    server: &S,
    gauges: &mut Gauges,
    probe: fn(SocketAddr) -> io::Result<()>,
    during: &str,
) -> Instant {
    let addr = server.local_addr();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(probe(addr).map(|()| Instant::now()));
    });
    let mut result = None;
    let done = wait_until(PATIENCE, || {
        gauges.sample(server);
        result = rx.try_recv().ok();
        result.is_some()
    });
    assert!(done, "a fresh client was not served {during} (no answer)");
    result
        .unwrap()
        .unwrap_or_else(|e| panic!("a fresh client was not served {during}: {e}"))
}

/// Fresh clients served one after another on another thread until [`Prober::finish`].
struct Prober {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Result<Vec<Instant>, String>>,
}

impl Prober {
    fn start(addr: SocketAddr, probe: fn(SocketAddr) -> io::Result<()>) -> Prober {
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut done = Vec::new();
                while !stop.load(SeqCst) {
                    probe(addr).map_err(|e| format!("probe {}: {e}", done.len()))?;
                    done.push(Instant::now());
                    // Pacing only: a probe a few times a tenth of a second.
                    thread::sleep(Duration::from_millis(20));
                }
                Ok(done)
            })
        };
        Prober { stop, handle }
    }

    /// Stop probing; the completion time of every probe (panics if one failed).
    fn finish(self) -> Vec<Instant> {
        self.stop.store(true, SeqCst);
        self.handle
            .join()
            .expect("prober thread")
            .unwrap_or_else(|e| panic!("a fresh client was not served during the attack: {e}"))
    }
}

/// Read `stream` until the server's close shows (EOF or a reset), at most `limit` bytes;
/// returns the bytes read before it. Panics if the connection stays open.
fn read_until_closed(stream: &mut TcpStream, limit: usize) -> usize {
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    let mut buf = vec![0; 256 * 1024];
    let mut total = 0;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return total,
            Ok(n) => {
                total += n;
                assert!(total <= limit, "read {total} bytes and still no close");
            }
            Err(e) if is_reset(&e) => return total,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("expected the server to have closed the connection: {e}"),
        }
    }
}

// ----- non-readers --------------------------------------------------------------------

/// How a non-reader's writing ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fill {
    /// A write waited [`PUSHED_BACK`] without progress after this many bytes: TCP pushed
    /// back, the server is no longer reading this client.
    PushedBack(usize),
    /// It wrote its whole allowance without being pushed back.
    Capped(usize),
    /// The connection failed after this many bytes.
    Failed(usize, io::ErrorKind),
}

/// Connect a client that writes `request` again and again (in 64 KiB writes, a byte stream
/// of whole requests) and never reads, until TCP pushes back or it wrote `cap` bytes. The
/// thread gives the socket back, still open and unread.
fn spawn_non_reader(
    addr: SocketAddr,
    request: &'static [u8],
    cap: usize,
) -> JoinHandle<(TcpStream, Fill)> {
    let stream = connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            let fill = fill_until_pushed_back(&stream, request, cap);
            (stream, fill)
        })
        .expect("spawn a non-reader")
}

fn fill_until_pushed_back(mut stream: &TcpStream, request: &[u8], cap: usize) -> Fill {
    stream.set_write_timeout(Some(PUSHED_BACK)).unwrap();
    let chunk = request.repeat((64 * 1024 / request.len()).max(1));
    let (mut written, mut offset) = (0, 0);
    while written < cap {
        match stream.write(&chunk[offset..]) {
            Ok(0) => return Fill::Failed(written, io::ErrorKind::WriteZero),
            Ok(n) => {
                written += n;
                offset = (offset + n) % chunk.len();
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Fill::PushedBack(written)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Fill::Failed(written, e.kind()),
        }
    }
    Fill::Capped(written)
}

/// Bytes waiting unread in `stream`'s receive queue, up to [`UNREAD`] (a peek: nothing is
/// consumed, so the server's view of the client does not change).
fn unread(stream: &TcpStream) -> usize {
    let mut buf = vec![0; UNREAD];
    stream.set_nonblocking(true).unwrap();
    let n = match stream.peek(&mut buf) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
        Err(e) => panic!("peek at a non-reader: {e}"),
    };
    stream.set_nonblocking(false).unwrap();
    n
}

/// A non-reader counts as held once this much of its answers waits unread on its side:
/// the server is answering into a window that is closing.
const UNREAD: usize = 32 * 1024;

/// Start `count` non-readers (see [`spawn_non_reader`]) and wait until each is held: its
/// writes pushed back by TCP (the server stopped reading it, so its input is bounded) or,
/// when `may_cap`, `cap` bytes written; and [`UNREAD`] bytes of answers waiting unread on
/// its side. Returns their sockets.
fn hold_non_readers<S: Server>(
    server: &S,
    gauges: &mut Gauges,
    count: usize,
    request: &'static [u8],
    cap: usize,
    may_cap: bool,
) -> Vec<TcpStream> {
    let addr = server.local_addr();
    let writers: Vec<_> = (0..count)
        .map(|_| spawn_non_reader(addr, request, cap))
        .collect();
    watch(server, gauges, "every non-reader done writing", |_| {
        writers.iter().all(|w| w.is_finished())
    });
    let held: Vec<TcpStream> = writers
        .into_iter()
        .enumerate()
        .map(|(i, writer)| {
            let (stream, fill) = writer.join().expect("non-reader thread");
            let ok = match fill {
                Fill::PushedBack(_) => true,
                Fill::Capped(_) => may_cap,
                Fill::Failed(..) => false,
            };
            assert!(
                ok,
                "non-reader {i} of {count}: {fill:?} (the server should stop reading a \
                 client that does not read its answers, and not close it yet)"
            );
            stream
        })
        .collect();
    let mut answered = vec![false; count];
    watch(
        server,
        gauges,
        "answers waiting unread at every non-reader",
        |_| {
            for (done, stream) in answered.iter_mut().zip(&held) {
                *done = *done || unread(stream) >= UNREAD;
            }
            answered.iter().all(|&d| d)
        },
    );
    // Until the server has filled every socket it can and stops serving them.
    let mut moved = (gauges.sample(server).requests, Instant::now());
    watch(
        server,
        gauges,
        "the server to stop serving the non-readers",
        |s| {
            if s.requests != moved.0 {
                moved = (s.requests, Instant::now());
            }
            moved.1.elapsed() >= QUIET
        },
    );
    held
}

/// The server counts as stuck on its non-readers once it served no request for this long.
const QUIET: Duration = Duration::from_millis(300);

/// `count` clients pipeline `request` without ever reading, on a server with `handler`,
/// `write_timeout` `timeout` and `max_output_buffer` `max_output`; each writes
/// until TCP pushes back or (when `may_cap`) `cap` bytes. Checks: once all are held, a
/// fresh client (`probe`) is served before any of them is cut; they are all cut at the
/// write timeout, counted in `timed_out` (as write timeouts), and their sockets see the
/// close; output held by an evented server stays within `count × max_output` and no
/// answer is streamed by a worker; everything is given back.
fn pipelining_non_readers<S: TestServer, H: Handler>(
    count: usize,
    handler: H,
    (request, cap, may_cap): (&'static [u8], usize, bool),
    (timeout, max_output): (Duration, usize),
    probe: fn(SocketAddr) -> io::Result<()>,
) {
    let _serial = serial();
    let before = Fds::now();
    let params = attack_params()
        .write_timeout(timeout)
        .max_output_buffer(max_output)
        .build()
        .unwrap();
    let mut server = start_with::<S, _>(handler, params, 2, 2);
    let running = Fds::now();
    let mut gauges = Gauges::default();

    let attack = Instant::now();
    let mut held = hold_non_readers(&server, &mut gauges, count, request, cap, may_cap);
    probe_now(
        &server,
        &mut gauges,
        probe,
        "while the non-readers were held",
    );
    let stats = gauges.sample(&server);
    assert_eq!(
        stats.timed_out,
        0,
        "{}: a non-reader was cut before a fresh client was served (was the fresh client \
         only served once a non-reader was gone?): {stats:?}",
        S::NAME
    );
    // (The probe's own connection may not be closed yet.)
    assert!(stats.current_connections >= count, "{stats:?}");

    let stats = watch(&server, &mut gauges, "every non-reader cut", |s| {
        s.timed_out >= count as u64 && s.current_connections == 0
    });
    assert_eq!(stats.timed_out, count as u64, "{stats:?}");
    assert_eq!(stats.timed_out_write, count as u64, "{stats:?}");
    let first_cut = gauges.first_cut.expect("a cut was seen");
    assert_cut_at("the first non-reader", attack, first_cut, timeout);
    for stream in &mut held {
        // What is left in the kernel's buffers, then the close.
        read_until_closed(stream, 256 << 20);
    }
    drop(held);

    if S::EVENTED {
        assert!(
            gauges.max_output > 0,
            "evnet never showed held output (buffered_output) while the non-readers were held"
        );
        assert!(
            gauges.max_output <= count * max_output,
            "evnet held {} output bytes for {count} non-readers, more than {count} × \
             max_output_buffer {max_output}",
            gauges.max_output
        );
    } else {
        assert_eq!(
            (gauges.max_output, gauges.max_input),
            (0, 0),
            "net has no buffered_* gauges"
        );
    }
    assert_eq!(
        stats.streamed_responses,
        0,
        "{}: answers within max_output_buffer were streamed (a worker waited for a \
         non-reader)",
        S::NAME
    );
    assert_whole_and_stop(&mut server, &mut gauges, running, before);
}

/// Two clients pipeline `GET /` without reading (the two-client outage): a fresh
/// client is served while they are held; they are cut at `write_timeout` and counted; an
/// evented server holds at most their output limits and streams nothing.
fn two_pipelining_non_readers<S: TestServer>() {
    // Until TCP pushes back: a few MiB of kernel buffers each way.
    let requests = (GET, 64 << 20, false);
    let limits = (WRITE_TIMEOUT, 64 * 1024);
    pipelining_non_readers::<S, _>(2, HttpHandler::new(), requests, limits, http_probe);
}

/// 200 clients pipeline requests (each answered with 64 KiB) without reading: a fresh
/// client is served while all are held; all are cut at `write_timeout` and counted; an
/// evented server holds at most 200 × its output limit and streams nothing.
fn two_hundred_pipelining_non_readers<S: TestServer>() {
    // 512 KiB each (200 × the few MiB until TCP pushes back would strain the kernel's TCP
    // memory); that is 131,072 requests, each answered with 64 KiB: all are held.
    let requests = (FLOOD, 512 << 10, true);
    // A longer write timeout: filling 200 sockets takes a while on a busy machine, and the
    // first must not be cut before the last is held.
    let limits = (WRITE_TIMEOUT + Duration::from_secs(1), 256 * 1024);
    pipelining_non_readers::<S, _>(200, Flood, requests, limits, flood_probe);
}

// ----- a 16 MiB echo nobody reads (evnet) -----------------------------------------------

/// A 16 MiB `POST /echo` whose client never reads, with 2 workers: the answer fits the
/// output limit, so the loop holds it and the worker is free at once. While the loop holds
/// it (`buffered_output` > 0, nothing streamed, nobody cut), two `GET /?meet` requests are
/// in service at the same time, which needs both workers. The client is then cut at
/// `write_timeout` and has received only part of the answer.
#[test]
fn evnet_unread_16_mib_echo_frees_its_worker() {
    const BODY: usize = 16 << 20;
    let _serial = serial();
    let before = Fds::now();
    let params = attack_params()
        .read_timeout(Duration::from_secs(30))
        .write_timeout(WRITE_TIMEOUT)
        .max_request_buffer(17 << 20)
        .max_output_buffer(17 << 20)
        .build()
        .unwrap();
    let room = Arc::new(Room::default());
    let handler = Meeting {
        http: HttpHandler::new().max_body_bytes(32 << 20),
        room: Arc::clone(&room),
    };
    // Budgets (per loop) well above the one request and answer.
    let options = EvOptions::default()
        .loops(2)
        .workers(2)
        .input_budget(64 << 20)
        .output_budget(64 << 20);
    let mut server = start_ev(handler, params, options);
    let _open = OpenOnDrop(Arc::clone(&room));
    let addr = server.local_addr();
    let running = Fds::now();
    let mut gauges = Gauges::default();

    let started = Instant::now();
    let mut echo = connect(addr).unwrap();
    let head = format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {BODY}\r\n\r\n");
    echo.write_all(head.as_bytes()).unwrap();
    echo.write_all(&vec![b'e'; BODY]).unwrap();
    let held = watch(
        &server,
        &mut gauges,
        "the echo served and its output held",
        |s| s.requests == 1 && s.buffered_output > 0,
    );
    assert_eq!(held.streamed_responses, 0, "{held:?}");

    // Both workers at once, while the loop holds the echo's output.
    let meets: Vec<_> = (0..MEET)
        .map(|_| {
            thread::spawn(move || -> io::Result<()> {
                let mut reader = BufReader::new(connect(addr)?);
                reader.get_ref().write_all(MEET_REQUEST)?;
                match read_response(&mut reader)? {
                    (200, body) if body == HELLO => Ok(()),
                    other => Err(bad(format!("GET /?meet answered {other:?}"))),
                }
            })
        })
        .collect();
    watch(&server, &mut gauges, "both workers serving at once", |_| {
        room.inside() == MEET
    });
    let stats = gauges.sample(&server);
    assert_eq!(
        stats.timed_out, 0,
        "the echo was cut before both workers were seen free: {stats:?}"
    );
    assert!(stats.buffered_output > 0, "{stats:?}");
    assert_eq!(stats.streamed_responses, 0, "{stats:?}");
    for meet in meets {
        meet.join()
            .expect("meet thread")
            .expect("GET /?meet answered");
    }
    probe_now(&server, &mut gauges, http_probe, "while the echo was held");

    let stats = watch(&server, &mut gauges, "the echo client cut", |s| {
        s.timed_out == 1
    });
    assert_cut_at(
        "the unread echo",
        started,
        gauges.first_cut.unwrap(),
        WRITE_TIMEOUT,
    );
    assert_eq!(stats.streamed_responses, 0, "{stats:?}");
    assert!(
        gauges.max_output <= 17 << 20,
        "held {} bytes for one connection, over max_output_buffer",
        gauges.max_output
    );
    let received = read_until_closed(&mut echo, BODY + 1024);
    assert!(
        received < BODY,
        "the unread client got all {received} bytes: it was not cut"
    );
    drop(echo);
    assert_whole_and_stop(&mut server, &mut gauges, running, before);
}

// ----- a slow, steady reader ------------------------------------------------------------

/// `len` bytes that do not repeat with a short period, so that a lost or repeated piece of
/// a long answer shows.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// One slow reader on a server with `params`: a 4 MiB echo read 16 KiB at a time with a
/// short pause after each read. Returns the final stats.
fn slow_reader_once<S: TestServer>(params: ServerParams) -> Stats {
    const BODY: usize = 4 << 20;
    let before = Fds::now();
    let handler = HttpHandler::new().max_body_bytes(8 << 20);
    let mut server = start_with::<S, _>(handler, params, 2, 2);
    let running = Fds::now();
    let mut gauges = Gauges::default();

    let body = pattern(BODY, 6);
    let stream = connect(server.local_addr()).unwrap();
    let head = format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {BODY}\r\n\r\n");
    let mut writer = stream.try_clone().unwrap();
    writer.write_all(head.as_bytes()).unwrap();
    writer.write_all(&body).unwrap();
    drop(writer);

    let mut reader = BufReader::with_capacity(16 * 1024, stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200 "), "{line:?}");
    while line != "\r\n" {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "EOF in the head");
    }
    let mut got = Vec::with_capacity(BODY);
    let mut buf = vec![0; 16 * 1024];
    while got.len() < BODY {
        let want = buf.len().min(BODY - got.len());
        match reader.read(&mut buf[..want]) {
            Ok(0) => panic!(
                "{}: the slow reader was cut after {} of {BODY} bytes",
                S::NAME,
                got.len()
            ),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("{}: after {} bytes: {e}", S::NAME, got.len()),
        }
        // Reading slowly but steadily is the point of this client.
        thread::sleep(Duration::from_millis(1));
    }
    assert!(got == body, "{}: the answer arrived altered", S::NAME);
    // Still open and in step: exactly one answer came, the next request gets its own.
    get(&mut reader).unwrap();
    drop(reader);

    let stats = gauges.sample(&server);
    assert_eq!(stats.timed_out, 0, "{stats:?}");
    assert_eq!(stats.requests, 2, "{stats:?}");
    assert_whole_and_stop(&mut server, &mut gauges, running, before);
    stats
}

/// A client that reads a 4 MiB answer slowly but steadily (16 KiB reads, well within
/// `write_timeout`) receives it intact and in order, and its connection stays usable:
/// with the default output limit (evnet: the worker streams the answer, counted) and
/// with limits large enough that evnet's loop holds request and answer (nothing streamed).
fn slow_steady_reader_gets_everything<S: TestServer>() {
    let _serial = serial();
    let base = || {
        attack_params()
            .read_timeout(Duration::from_secs(20))
            .write_timeout(Duration::from_secs(20))
    };
    let streamed = slow_reader_once::<S>(base().build().unwrap());
    assert_eq!(
        streamed.streamed_responses,
        u64::from(S::EVENTED),
        "{}: a 4 MiB answer over the 2 MiB output limit is streamed on evnet only",
        S::NAME
    );
    let held = base()
        .max_request_buffer(8 << 20)
        .max_output_buffer(8 << 20)
        .build()
        .unwrap();
    let held = slow_reader_once::<S>(held);
    assert_eq!(held.streamed_responses, 0, "{held:?}");
}

// ----- input budget (evnet) -------------------------------------------------------------

/// With a 64 KiB input budget, 16 clients send partial `POST /echo` requests (24 KiB of a
/// 32 KiB body each, 384 KiB in all): `buffered_input` never exceeds the budget by more
/// than one read's worth; when the whole budget is used the loop sheds its largest holders
/// (closed, counted in `shed_connections`) rather than holding every client, so once the
/// clients finish their bodies each one either gets exactly one answer with its own body
/// (then a normal answer to its next request) or was closed without an answer, and the
/// closed ones are exactly the shed ones. Nothing is dropped silently.
#[test]
fn evnet_input_budget_bounds_buffering_and_sheds_the_largest() {
    const CLIENTS: usize = 16;
    const BODY: usize = 32 * 1024;
    const FIRST: usize = 24 * 1024;
    const BUDGET: usize = 64 * 1024;
    /// What one read may add beyond the budget before the loop stops.
    const ONE_READ: usize = 64 * 1024;
    let _serial = serial();
    let before = Fds::now();
    let params = attack_params()
        .read_timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let options = EvOptions::default()
        .loops(1)
        .workers(2)
        .input_budget(BUDGET);
    let mut server = start_ev(HttpHandler::new(), params, options);
    let addr = server.local_addr();
    let running = Fds::now();
    let mut gauges = Gauges::default();

    let bodies: Vec<Vec<u8>> = (0..CLIENTS).map(|i| pattern(BODY, i as u64)).collect();
    let mut clients: Vec<BufReader<TcpStream>> = bodies
        .iter()
        .map(|body| {
            let mut stream = connect(addr).unwrap();
            let head = format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {BODY}\r\n\r\n");
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(&body[..FIRST]).unwrap();
            BufReader::new(stream)
        })
        .collect();
    watch(
        &server,
        &mut gauges,
        "the loop buffering partial requests",
        |s| s.buffered_input >= BUDGET / 2,
    );
    // Watch the bound hold for a moment.
    let until = Instant::now() + Duration::from_millis(300);
    while Instant::now() < until {
        gauges.sample(&server);
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(server.stats().requests, 0, "no request is complete yet");

    for (client, body) in clients.iter_mut().zip(&bodies) {
        // A shed client's socket may be closed already: its write may fail.
        let _ = client.get_ref().write_all(&body[FIRST..]);
    }
    let mut answered = 0;
    let mut closed = 0;
    for (i, (client, body)) in clients.iter_mut().zip(&bodies).enumerate() {
        match read_response(client) {
            Ok((status, echoed)) => {
                assert_eq!(status, 200, "client {i}");
                assert!(echoed == *body, "client {i}: the echo differs");
                // The next answer is the next request's: the echo was answered once.
                get(client).unwrap_or_else(|e| panic!("client {i}: {e}"));
                answered += 1;
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof || is_reset(&e) => closed += 1,
            Err(e) => panic!("client {i}: neither answered nor closed: {e}"),
        }
    }
    assert!(
        gauges.max_input <= BUDGET + ONE_READ,
        "buffered_input reached {} with an input budget of {BUDGET}",
        gauges.max_input
    );
    let stats = gauges.sample(&server);
    assert!(answered > 0, "every client was shed: {stats:?}");
    assert_eq!(stats.shed_connections, closed, "closed = shed: {stats:?}");
    assert_eq!(stats.requests, 2 * answered, "{stats:?}");
    assert_eq!(stats.timed_out, 0, "{stats:?}");
    drop(clients);
    assert_whole_and_stop(&mut server, &mut gauges, running, before);
}

// ----- trickling clients ----------------------------------------------------------------

/// A client that sends its request's first bytes at once, then one more byte every tick,
/// and notes when the server closes its connection.
struct Trickler {
    stream: TcpStream,
    /// The bytes still to trickle; the last one is repeated once they run out.
    drip: Vec<u8>,
    next: usize,
    /// Just before the request's first byte was sent.
    started: Instant,
    /// When the close was first seen.
    closed: Option<Instant>,
}

impl Trickler {
    /// Connect and send `head` at once.
    fn start(addr: SocketAddr, head: &[u8], drip: &[u8]) -> Trickler {
        let mut stream = connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        let started = Instant::now();
        stream.write_all(head).unwrap();
        stream.set_nonblocking(true).unwrap();
        Trickler {
            stream,
            drip: drip.to_vec(),
            next: 0,
            started,
            closed: None,
        }
    }

    /// Note whether the server closed the connection; if not, send the next byte.
    fn tick(&mut self) {
        if self.closed.is_some() {
            return;
        }
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => break self.closed = Some(Instant::now()),
                Ok(_) => {} // an answer (an error status, say) before the close
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break self.closed = Some(Instant::now()),
            }
        }
        if self.closed.is_some() {
            return;
        }
        let byte = self.drip[self.next.min(self.drip.len() - 1)];
        match self.stream.write(&[byte]) {
            Ok(_) => self.next += 1,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => self.closed = Some(Instant::now()),
        }
    }
}

/// Trickle every client's bytes until all are closed or [`UPPER`] × `timeout` passed,
/// watching the server's gauges.
fn trickle_until_cut<S: Server>(
    server: &S,
    gauges: &mut Gauges,
    clients: &mut [Trickler],
    timeout: Duration,
) {
    let end = Instant::now() + timeout * UPPER;
    while clients.iter().any(|c| c.closed.is_none()) && Instant::now() < end {
        for c in clients.iter_mut() {
            c.tick();
        }
        gauges.sample(server);
        // The trickle's pace, not a wait for state.
        thread::sleep(TICK);
    }
}

/// Trickle `clients` to the end on `server`, with a prober running meanwhile, and check:
/// each is cut at `READ_TIMEOUT` from its first byte; fresh clients are served while all
/// of them are still held; `timed_out` counts them (as read timeouts); the server is
/// whole again afterwards.
fn trickle_attack<S: TestServer>(
    mut server: S,
    running: Fds,
    before: Fds,
    mut clients: Vec<Trickler>,
    what: &str,
) {
    let mut gauges = Gauges::default();
    let prober = Prober::start(server.local_addr(), http_probe);
    trickle_until_cut(&server, &mut gauges, &mut clients, READ_TIMEOUT);
    let probes = prober.finish();
    for (i, c) in clients.iter().enumerate() {
        let closed = c.closed.unwrap_or_else(|| {
            panic!(
                "{}: {what} {i} was never cut (read_timeout {READ_TIMEOUT:?})",
                S::NAME
            )
        });
        assert_cut_at(
            &format!("{}: {what} {i}", S::NAME),
            c.started,
            closed,
            READ_TIMEOUT,
        );
    }
    let first_close = clients.iter().filter_map(|c| c.closed).min().unwrap();
    let meanwhile = probes.iter().filter(|&&t| t < first_close).count();
    assert!(
        meanwhile >= 1,
        "{}: no fresh client was served while the {} {what}s were held ({} served in all)",
        S::NAME,
        clients.len(),
        probes.len()
    );
    let count = clients.len() as u64;
    let stats = watch(&server, &mut gauges, "every trickler counted", |s| {
        s.timed_out >= count && s.current_connections == 0
    });
    assert_eq!(stats.timed_out, count, "{}: {stats:?}", S::NAME);
    assert_eq!(stats.timed_out_read, count, "{}: {stats:?}", S::NAME);
    probe_now(&server, &mut gauges, http_probe, "after the attack");
    for c in &mut clients {
        read_until_closed(&mut c.stream, 1 << 20);
    }
    drop(clients);
    assert_whole_and_stop(&mut server, &mut gauges, running, before);
}

/// 200 slowloris clients, each sending one byte of a request head every 150 ms: each is
/// cut at `read_timeout` from its first byte (not before, long before 10 × it), counted in
/// `timed_out`, while fresh clients are served meanwhile (`net` with enough threads).
fn slowloris_two_hundred<S: TestServer>() {
    let _serial = serial();
    let before = Fds::now();
    let params = attack_params().read_timeout(READ_TIMEOUT).build().unwrap();
    let server = start_with::<S, _>(HttpHandler::new(), params, 2, 2);
    let addr = server.local_addr();
    let running = Fds::now();
    let head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: a";
    let clients: Vec<Trickler> = (0..200)
        .map(|_| Trickler::start(addr, &head[..1], &head[1..]))
        .collect();
    trickle_attack(server, running, before, clients, "slowloris client");
}

/// The requests of the trickled-body attacks: complete heads, then a body that never ends
/// (one byte every tick), two of them with more than the evented loop's 64 KiB request
/// buffer sent at once first. `chunked` picks the framing.
fn trickled_bodies<S: TestServer>(chunked: bool) {
    const AT_ONCE: usize = 100 * 1024;
    let _serial = serial();
    let before = Fds::now();
    let params = attack_params()
        .read_timeout(READ_TIMEOUT)
        .max_request_buffer(64 * 1024)
        .build()
        .unwrap();
    // Three workers: the two past the loop's buffer may each hold one until their cut.
    let server = start_with::<S, _>(HttpHandler::new(), params, 2, 3);
    let addr = server.local_addr();
    let running = Fds::now();
    let mut head = if chunked {
        // One 200 KiB chunk (hex 32000), which never ends.
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n32000\r\n".to_vec()
    } else {
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 204800\r\n\r\n".to_vec()
    };
    let mut clients = vec![
        Trickler::start(addr, &head, b"a"),
        Trickler::start(addr, &head, b"a"),
    ];
    head.resize(head.len() + AT_ONCE, b'a');
    clients.push(Trickler::start(addr, &head, b"a"));
    clients.push(Trickler::start(addr, &head, b"a"));
    let what = if chunked {
        "trickled chunked body"
    } else {
        "trickled Content-Length body"
    };
    trickle_attack(server, running, before, clients, what);
}

/// A `Content-Length` body trickled after a complete head is cut at `read_timeout` from the
/// request's first byte, also when 100 KiB of it (more than the evented loop buffers)
/// arrived at once first; others are served meanwhile.
fn trickled_content_length_body<S: TestServer>() {
    trickled_bodies::<S>(false);
}

/// As [`trickled_content_length_body`], with a chunked body.
fn trickled_chunked_body<S: TestServer>() {
    trickled_bodies::<S>(true);
}

// ----- inline dispatch (evnet) ----------------------------------------------------------

/// `Inline` with two loops and 16 non-reading pipeliners (with `SO_REUSEPORT` spreading by
/// hash, both loops get some, but for a chance of 2 in 65,536): eight fresh clients, each
/// on a loop holding non-readers, are served while all are held (a blocked write would
/// freeze its loop), and `shutdown` with a 2 s deadline returns long before 10 s, closing
/// the non-readers.
#[test]
fn evnet_inline_non_readers_freeze_no_loop() {
    const NON_READERS: usize = 16;
    let _serial = serial();
    let before = Fds::now();
    let params = attack_params()
        .write_timeout(Duration::from_secs(30))
        .max_output_buffer(256 * 1024)
        .build()
        .unwrap();
    let options = EvOptions::default()
        .loops(2)
        .workers(0)
        .dispatch(Dispatch::Inline);
    let mut server = start_ev(Flood, params, options);
    let mut gauges = Gauges::default();

    let mut held = hold_non_readers(&server, &mut gauges, NON_READERS, FLOOD, 64 << 20, false);
    for _ in 0..8 {
        probe_now(
            &server,
            &mut gauges,
            flood_probe,
            "while the non-readers were held",
        );
    }
    let stats = gauges.sample(&server);
    assert_eq!(stats.timed_out, 0, "{stats:?}");
    assert!(stats.current_connections >= NON_READERS, "{stats:?}");
    assert!(gauges.max_output > 0, "the loops never showed held output");

    let (tx, rx) = mpsc::channel();
    let started = Instant::now();
    thread::spawn(move || {
        let result = server.shutdown(Duration::from_secs(2));
        let _ = tx.send(result.map_err(|e| e.to_string()));
    });
    let stats = match rx.recv_timeout(Duration::from_secs(3 * UPPER as u64)) {
        Ok(result) => result.expect("shutdown"),
        Err(_) => panic!("shutdown with a 2 s deadline had not returned after 30 s"),
    };
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "shutdown with a 2 s deadline took {took:?}"
    );
    assert_eq!(stats.current_connections, 0, "{stats:?}");
    for stream in &mut held {
        read_until_closed(stream, 256 << 20);
    }
    drop(held);
    before.assert_back("after shutdown");
}

// ----- descriptors per connection -------------------------------------------------------

/// With 200 idle keep-alive connections open to an in-process server, the process holds
/// two descriptors per connection (the client's end and the server's), not three (`net`
/// used to keep a second descriptor per connection to wake its thread at shutdown); all
/// are given back when the clients leave.
fn one_descriptor_per_connection<S: TestServer>() {
    const CONNS: usize = 200;
    let _serial = serial();
    let before = Fds::now();
    let mut server = start_with::<S, _>(HttpHandler::new(), attack_params().build().unwrap(), 2, 2);
    let addr = server.local_addr();
    let running = Fds::now();
    let mut gauges = Gauges::default();
    let clients: Vec<_> = (0..CONNS)
        .map(|_| {
            let mut reader = BufReader::new(connect(addr).unwrap());
            get(&mut reader).unwrap();
            reader
        })
        .collect();
    watch(&server, &mut gauges, "all connections open", |s| {
        s.current_connections == CONNS
    });
    let held = fd_count() - running.0;
    assert!(
        (2 * CONNS..2 * CONNS + 3).contains(&held),
        "{}: {held} descriptors for {CONNS} connections, want 2 per connection",
        S::NAME
    );
    drop(clients);
    assert_whole_and_stop(&mut server, &mut gauges, running, before);
}

tests::server_tests!(
    two_pipelining_non_readers,
    two_hundred_pipelining_non_readers,
    slow_steady_reader_gets_everything,
    slowloris_two_hundred,
    trickled_content_length_body,
    trickled_chunked_body,
    one_descriptor_per_connection,
);
