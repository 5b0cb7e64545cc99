//! Budget floods (issue 16): a few dozen hostile connections that fill an event loop's
//! input budget (partial bodies that stall) or its output budget (large answers never
//! read) must not take the other clients' service. On `evnet` the loop sheds the largest
//! holders (`Stats::shed_connections`) instead of making every new request wait; on `net`
//! each attacker holds a thread of a pool with room (its nature), and others are served.
//!
//! Every attack runs with timeouts far longer than the test's patience, so it is the
//! budget policy, never a timeout, that keeps the probes answered. Afterwards everything
//! is given back: connections, buffered bytes and descriptors.
//!
//! Also here: a connection parked while the workers are saturated is closed at its
//! deadline (`read_timeout` from being parked) and counted as shed.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use evnet::EvOptions;
use examples::http::{HttpHandler, HELLO};
use net::{Action, Connection, Frame, Handler, Server, ServerParams, Stats};
use tests::gate::Gates;
use tests::{
    await_sample, await_stats, fd_count, line_frame, read_http_response, start_ev, stop,
    wait_until, TestServer, CLIENT_TIMEOUT, PATIENCE,
};

/// Every timeout but the one under test: far beyond the test's patience.
const LONG: Duration = Duration::from_secs(120);

/// The budget of the evented server under attack (per loop; one loop).
const BUDGET: usize = 1 << 20;

/// One read's worth the loop may take beyond a budget (the oldest partial request reads
/// on, a read fills at most what the buffer has room for).
const ONE_READ: usize = 256 * 1024;

static SERIAL: Mutex<()> = Mutex::new(());

/// These tests count this process's descriptors: one at a time.
fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn params() -> ServerParams {
    ServerParams::builder()
        .keep_alive_timeout(LONG)
        .read_timeout(LONG)
        .write_timeout(LONG)
        .max_threads(256)
        .build()
        .expect("params")
}

/// Evented: one loop and one worker with [`BUDGET`] for input and output.
fn options<S: TestServer>() -> S::Options {
    S::with_budgets(S::options(1, 1), BUDGET, BUDGET)
}

fn start<S: TestServer, H: Handler>(handler: H) -> S {
    let mut server = S::bind_with("127.0.0.1:0", handler, params(), options::<S>())
        .unwrap_or_else(|e| panic!("{}: bind: {e}", S::NAME));
    server.start().expect("start");
    server
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// The most `buffered_input` and `buffered_output` seen while watching.
#[derive(Debug, Default)]
struct Peaks {
    input: usize,
    output: usize,
}

impl Peaks {
    fn sample<S: Server>(&mut self, server: &S) -> Stats {
        let s = server.stats();
        self.input = self.input.max(s.buffered_input);
        self.output = self.output.max(s.buffered_output);
        s
    }
}

/// Run `probe` on another thread while sampling the server; panic unless it succeeds
/// within [`PATIENCE`] (far below every timeout of the attack).
fn probe_during<S: Server>(server: &S, peaks: &mut Peaks, probe: fn(SocketAddr) -> io::Result<()>) {
    let addr = server.local_addr();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(probe(addr));
    });
    let mut result = None;
    let answered = wait_until(PATIENCE, || {
        peaks.sample(server);
        result = rx.try_recv().ok();
        result.is_some()
    });
    assert!(
        answered,
        "a fresh client got no answer during the attack; stats: {:?}",
        server.stats()
    );
    if let Some(Err(e)) = result {
        panic!("a fresh client failed during the attack: {e}");
    }
}

/// After an attack: no connection, no buffered byte, descriptors back; then stopped.
fn assert_whole_and_stop<S: Server>(server: &mut S, running: usize, before: usize) {
    await_stats(server, "no connection and no buffered byte left", |s| {
        s.current_connections == 0 && s.buffered_input == 0 && s.buffered_output == 0
    });
    await_sample("descriptors back (server running)", fd_count, |&n| {
        n == running
    });
    let stats = stop(server);
    assert_eq!(stats.current_connections, 0, "{stats:?}");
    await_sample("descriptors back (server stopped)", fd_count, |&n| {
        n == before
    });
}

// ----- input ------------------------------------------------------------------------------

/// Three fresh HTTP clients, three `GET /` each.
fn http_probe(addr: SocketAddr) -> io::Result<()> {
    for _ in 0..3 {
        let mut reader = BufReader::new(connect(addr));
        for _ in 0..3 {
            reader
                .get_mut()
                .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")?;
            let body = http_response(&mut reader)?;
            if body != HELLO {
                return Err(io::Error::other("GET / answered with another body"));
            }
        }
    }
    Ok(())
}

/// Read one HTTP response; its body (an error unless its status is 200).
fn http_response(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let response = read_http_response(reader)?;
    if response.status != 200 {
        return Err(io::Error::other(format!("status {}", response.status)));
    }
    Ok(response.body)
}

/// 40 clients each send the head of a 512 KiB upload and 200 KiB of it, then stall:
/// 8 MiB of partial bodies against a 1 MiB input budget. Fresh clients are answered while
/// the attackers are still there; the loop's buffered input stays within the budget (and
/// one read); on `evnet` the largest holders were shed.
fn input_budget_flood<S: TestServer>() {
    const ATTACKERS: usize = 40;
    const SENT: usize = 200 * 1024;
    let _serial = serial();
    let before = fd_count();
    let mut server = start::<S, _>(HttpHandler::new());
    let running = fd_count();
    let addr = server.local_addr();
    let mut peaks = Peaks::default();
    let body = vec![b'x'; SENT];
    let mut attackers = Vec::new();
    for _ in 0..ATTACKERS {
        let mut stream = connect(addr);
        stream
            .write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 524288\r\n\r\n")
            .unwrap();
        // The server may stop reading (or close) this one: a write that cannot finish is
        // part of the attack, not a failure.
        stream
            .set_write_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let _ = stream.write_all(&body);
        attackers.push(stream);
        peaks.sample(&server);
    }
    await_stats(&server, "the attack held by the server", |s| {
        s.current_connections >= 1 && (!S::EVENTED || s.buffered_input >= BUDGET / 2)
    });
    probe_during(&server, &mut peaks, http_probe);
    probe_during(&server, &mut peaks, http_probe);
    let stats = peaks.sample(&server);
    if S::EVENTED {
        assert!(
            peaks.input <= BUDGET + ONE_READ,
            "buffered input reached {} with a budget of {BUDGET}",
            peaks.input
        );
        assert!(stats.shed_connections > 0, "nothing was shed: {stats:?}");
    }
    assert_eq!(
        stats.timed_out, 0,
        "no timeout may be what served the probes"
    );
    drop(attackers);
    assert_whole_and_stop(&mut server, running, before);
}

// ----- output -----------------------------------------------------------------------------

/// A line protocol: `big\n` is answered with [`BIG_ANSWER`] bytes, any other line echoed.
#[derive(Debug, Clone, Copy)]
struct Big;

/// The size of the answer to `big\n` (within the default `max_output_buffer`).
const BIG_ANSWER: usize = 1 << 20;

impl Handler for Big {
    type Session = ();
    fn open(&self, _: &Connection) {}
    fn serve(&self, _: &mut (), conn: &mut Connection) -> io::Result<Action> {
        static ANSWER: [u8; BIG_ANSWER] = [b'b'; BIG_ANSWER];
        let mut line = Vec::new();
        if conn.read_until(b'\n', &mut line)? == 0 {
            return Ok(Action::Close);
        }
        if line == b"big\n" {
            conn.write_all(&ANSWER)?;
        } else {
            conn.write_all(&line)?;
        }
        Ok(Action::KeepAlive)
    }
    fn frame(&self, _: &mut (), buffered: &[u8]) -> Frame {
        line_frame(buffered)
    }
}

/// Three fresh [`Big`] clients, three echoed lines each.
fn echo_probe(addr: SocketAddr) -> io::Result<()> {
    for _ in 0..3 {
        let mut reader = BufReader::new(connect(addr));
        for i in 0..3 {
            let sent = format!("ping {i}\n");
            reader.get_mut().write_all(sent.as_bytes())?;
            let mut line = String::new();
            reader.read_line(&mut line)?;
            if line != sent {
                return Err(io::Error::other(format!("echoed {line:?} for {sent:?}")));
            }
        }
    }
    Ok(())
}

/// 12 clients each ask for a 1 MiB answer and never read it: about 12 MiB of output
/// (less what the kernel buffers) against a 1 MiB output budget. Fresh clients are
/// answered while the non-readers are still there; on `evnet` the held output stays near
/// the budget (plus one answer) and the largest holders were shed.
fn output_budget_flood<S: TestServer>() {
    const NON_READERS: usize = 12;
    let _serial = serial();
    let before = fd_count();
    let mut server = start::<S, _>(Big);
    let running = fd_count();
    let addr = server.local_addr();
    let mut peaks = Peaks::default();
    let mut non_readers = Vec::new();
    for _ in 0..NON_READERS {
        let mut stream = connect(addr);
        stream.write_all(b"big\n").unwrap();
        non_readers.push(stream);
    }
    await_stats(&server, "the non-readers held by the server", |s| {
        peaks.input = peaks.input.max(s.buffered_input);
        peaks.output = peaks.output.max(s.buffered_output);
        s.requests >= NON_READERS as u64
    });
    probe_during(&server, &mut peaks, echo_probe);
    probe_during(&server, &mut peaks, echo_probe);
    let stats = peaks.sample(&server);
    if S::EVENTED {
        assert!(
            peaks.output <= BUDGET + BIG_ANSWER,
            "held output reached {} with a budget of {BUDGET}",
            peaks.output
        );
        assert!(stats.shed_connections > 0, "nothing was shed: {stats:?}");
    }
    assert_eq!(
        stats.timed_out, 0,
        "no timeout may be what served the probes"
    );
    drop(non_readers);
    assert_whole_and_stop(&mut server, running, before);
}

// ----- parked connections ---------------------------------------------------------------------

/// Holds every request until the test opens the gate (or [`GATE_BOUND`] passes, so a
/// failing test still ends), then answers the line.
#[derive(Clone)]
struct Gate(Arc<Gates>);

/// Longest a request waits at a closed gate.
const GATE_BOUND: Duration = Duration::from_secs(30);

/// The one gate a [`Gate`] handler's requests wait at.
const ALL: &str = "all";

impl Default for Gate {
    fn default() -> Self {
        Gate(Arc::new(Gates::bounded(GATE_BOUND)))
    }
}

impl Gate {
    fn release(&self) {
        self.0.open(ALL);
    }
}

impl Handler for Gate {
    type Session = ();
    fn open(&self, _: &Connection) {}
    fn serve(&self, _: &mut (), conn: &mut Connection) -> io::Result<Action> {
        let mut line = Vec::new();
        if conn.read_until(b'\n', &mut line)? == 0 {
            return Ok(Action::Close);
        }
        self.0.wait(ALL);
        conn.write_all(&line)?;
        Ok(Action::KeepAlive)
    }
    fn frame(&self, _: &mut (), buffered: &[u8]) -> Frame {
        line_frame(buffered)
    }
}

/// One worker held at a gate, a queue of one: further requests are parked by the loop.
/// Parked, they are closed at their deadline (`read_timeout` from being parked) and
/// counted in `shed_connections`, not held for as long as the worker is; the connection
/// being served and the one queued are answered once the gate opens.
#[test]
fn evnet_parked_connections_are_cut_at_their_deadline() {
    const READ: Duration = Duration::from_secs(1);
    const PARKED: usize = 4;
    let _serial = serial();
    let before = fd_count();
    let gate = Gate::default();
    let params = ServerParams::builder()
        .keep_alive_timeout(LONG)
        .read_timeout(READ)
        .write_timeout(LONG)
        .build()
        .unwrap();
    let options = EvOptions::default()
        .loops(1)
        .workers(1)
        .queue_capacity(1)
        .dispatch(evnet::Dispatch::Workers);
    let mut server = start_ev(gate.clone(), params, options);
    let running = fd_count();
    let addr = server.local_addr();
    let send = |line: &str| {
        let mut stream = connect(addr);
        stream.write_all(line.as_bytes()).unwrap();
        stream
    };
    let served = send("served\n");
    await_stats(&server, "one request with the worker", |s| {
        s.queued_connections == 0 && s.current_connections == 1
    });
    let queued = send("queued\n");
    await_stats(&server, "one request queued", |s| s.queued_connections == 1);
    let started = Instant::now();
    let parked: Vec<TcpStream> = (0..PARKED).map(|i| send(&format!("p{i}\n"))).collect();
    for (i, mut stream) in parked.into_iter().enumerate() {
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
        let after = started.elapsed();
        assert!(
            rest.is_empty(),
            "parked {i} was answered while the gate was shut"
        );
        assert!(
            after + Duration::from_millis(50) >= READ,
            "parked {i} closed after {after:?}, before its deadline"
        );
        assert!(after < GATE_BOUND / 2, "parked {i} held until {after:?}");
    }
    let stats = server.stats();
    assert_eq!(stats.shed_connections, PARKED as u64, "{stats:?}");
    assert_eq!(stats.timed_out, 0, "{stats:?}");
    gate.release();
    for (name, stream) in [("served", served), ("queued", queued)] {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert_eq!(line, format!("{name}\n"));
    }
    assert_whole_and_stop(&mut server, running, before);
}

// ----- workers waiting on peers -----------------------------------------------------------

/// Two workers and a 64 KiB `max_request_buffer`: two clients start 512 KiB uploads and
/// stall, so each request outgrows the loop's buffer and goes to a worker that must wait
/// for the rest. Only one worker may wait on a peer: one upload is refused at once
/// (closed without an answer, counted as shed), a fresh client is answered while the
/// other still waits, and that one, once its client sends the rest, gets its whole echo.
#[test]
fn evnet_workers_waiting_on_peers_leave_one_free() {
    const BODY: usize = 512 * 1024;
    const FIRST: usize = 200 * 1024;
    let _serial = serial();
    let before = fd_count();
    let params = ServerParams::builder()
        .keep_alive_timeout(LONG)
        .read_timeout(LONG)
        .write_timeout(LONG)
        .max_request_buffer(64 * 1024)
        .build()
        .unwrap();
    let options = EvOptions::default().loops(1).workers(2);
    let mut server = start_ev(HttpHandler::new(), params, options);
    let running = fd_count();
    let addr = server.local_addr();
    let body: Vec<u8> = (0..BODY).map(|i| (i % 253) as u8).collect();
    let mut uploads: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut stream = connect(addr);
            let head = format!("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {BODY}\r\n\r\n");
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(&body[..FIRST]).unwrap();
            stream
        })
        .collect();
    let stats = await_stats(&server, "one upload shed", |s| s.shed_connections == 1);
    assert_eq!(stats.timed_out, 0, "{stats:?}");
    // The shed one is closed without an answer; the other is still open.
    let closed = |stream: &TcpStream| {
        stream.set_nonblocking(true).unwrap();
        let mut byte = [0; 1];
        let closed = match stream.peek(&mut byte) {
            Ok(0) => true,
            Ok(_) => panic!("an upload was answered before its body was complete"),
            Err(e) => e.kind() != io::ErrorKind::WouldBlock,
        };
        stream.set_nonblocking(false).unwrap();
        closed
    };
    let shed = await_sample(
        "the shed upload closed",
        || uploads.iter().map(closed).collect::<Vec<_>>(),
        |c| c.iter().filter(|&&c| c).count() == 1,
    );
    let waiting = uploads.swap_remove(if shed[0] { 1 } else { 0 });
    drop(uploads);
    let mut peaks = Peaks::default();
    probe_during(&server, &mut peaks, http_probe);
    let mut waiting = BufReader::new(waiting);
    waiting.get_mut().write_all(&body[FIRST..]).unwrap();
    let echoed = http_response(&mut waiting).expect("the waiting upload answered");
    assert!(echoed == body, "the echo differs");
    drop(waiting);
    assert_whole_and_stop(&mut server, running, before);
}

// ----- a slow large RESP value -------------------------------------------------------------

/// Three fresh RESP clients, three `PING`s each.
fn resp_probe(addr: SocketAddr) -> io::Result<()> {
    for _ in 0..3 {
        let mut reader = BufReader::new(connect(addr));
        for _ in 0..3 {
            reader.get_mut().write_all(b"*1\r\n$4\r\nPING\r\n")?;
            let mut line = String::new();
            reader.read_line(&mut line)?;
            if line != "+PONG\r\n" {
                return Err(io::Error::other(format!("PING answered {line:?}")));
            }
        }
    }
    Ok(())
}

/// Four clients each start a `SET` of a 3 MiB value (over the default 2 MiB
/// `max_request_buffer`), send 2.5 MiB of it and stall. On `evnet` (two workers) such a
/// request goes to a worker that must wait for the rest, and at most one may (the others
/// are shed; inline, none may: closed); on `net` each holds a thread of a pool with room.
/// Either way fresh clients are answered while the attackers are still there (with
/// 120 s timeouts: before the cap on waiting workers, two attackers held both workers
/// and no fresh client was answered), and everything is given back.
fn slow_large_resp_value<S: TestServer>() {
    const ATTACKERS: usize = 4;
    const VALUE: usize = 3 << 20;
    const SENT: usize = 5 << 19;
    let _serial = serial();
    let before = fd_count();
    let handler = examples::resp::RespHandler::new();
    let mut server = S::bind_with("127.0.0.1:0", handler, params(), S::options(1, 2))
        .unwrap_or_else(|e| panic!("{}: bind: {e}", S::NAME));
    server.start().expect("start");
    let running = fd_count();
    let addr = server.local_addr();
    let head = format!("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${VALUE}\r\n");
    let value = vec![b'v'; SENT];
    let attackers: Vec<TcpStream> = (0..ATTACKERS)
        .map(|_| {
            let mut stream = connect(addr);
            stream.write_all(head.as_bytes()).unwrap();
            stream
                .set_write_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            // Shed (or throttled) attackers may not take it all.
            let _ = stream.write_all(&value);
            stream
        })
        .collect();
    let mut peaks = Peaks::default();
    probe_during(&server, &mut peaks, resp_probe);
    probe_during(&server, &mut peaks, resp_probe);
    drop(attackers);
    assert_whole_and_stop(&mut server, running, before);
}

tests::server_tests_every_mode!(
    input_budget_flood,
    output_budget_flood,
    slow_large_resp_value
);
