//! The evented server's own nature, which the blocking server does not share: idle
//! keep-alive connections cost a slot, not a thread; a request occupies a worker only while
//! it is served (a slow request or a slow client does not hold up other connections);
//! pipelined requests are served in order from the loop; a full slab refuses; shutdown lets
//! requests in flight finish and gives every descriptor back; inline dispatch; option
//! checks; panics in the loop's handler calls (`frame`, `open`) stay isolated.
//!
//! Tests that look at a server's threads or descriptors run it in a child process
//! (`ev_child`), so that the parallel tests of this binary cannot disturb the counts.

use std::io::{self, BufRead, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use evnet::{
    Action, Connection, Dispatch, EvOptions, EvServer, Frame, Handler, Server, ServerParams,
};
use tests::child::ChildServer;
use tests::gate::{Gates, OpenOnDrop};
use tests::{
    await_stats, line_frame, start_ev, stop, wait_until, Client, Echo, PanickyPayload, Slow,
    PATIENCE,
};

// ----- helpers ------------------------------------------------------------------------

/// Parameters with long keep-alive and read timeouts, so that no timeout of the server
/// can close a connection (or rescue a blocked worker) during a test.
fn long_params() -> ServerParams {
    ServerParams::builder()
        .keep_alive_timeout(Duration::from_secs(60))
        .read_timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// The gate a [`Gated`] handler's `slow` requests wait at.
const SLOW: &str = "slow";

/// What a test observes of a [`Gated`] handler.
#[derive(Debug, Clone, Default)]
struct Probes {
    gate: Arc<Gates>,
    /// "slow" requests that have started being served.
    started: Arc<AtomicUsize>,
    /// `frame` calls that answered `Partial` for a non-empty buffer.
    partials: Arc<AtomicUsize>,
}

/// Line protocol with framing: `slow` waits at the gate, then answers `done slow`; any other
/// line is echoed at once.
#[derive(Debug)]
struct Gated(Probes);

/// Start a server with a [`Gated`] handler and `options`; returns it with the handler's
/// probes and the guard that opens the gate when the test ends (last in the tuple, so that
/// it is dropped, and the gate opened, before the server).
fn start_gated(options: EvOptions) -> (EvServer, Probes, OpenOnDrop) {
    let probes = Probes::default();
    let server = start_ev(Gated(probes.clone()), long_params(), options);
    let release = OpenOnDrop(Arc::clone(&probes.gate), vec![SLOW]);
    (server, probes, release)
}

impl Handler for Gated {
    type Session = ();
    fn open(&self, _: &Connection) {}
    fn serve(&self, _: &mut (), conn: &mut Connection) -> io::Result<Action> {
        let mut line = Vec::new();
        if conn.read_until(b'\n', &mut line)? == 0 {
            return Ok(Action::Close);
        }
        if line == b"slow\n" {
            self.0.started.fetch_add(1, SeqCst);
            self.0.gate.wait(SLOW);
            conn.write_all(b"done slow\n")?;
        } else {
            conn.write_all(&line)?;
        }
        Ok(Action::KeepAlive)
    }
    fn frame(&self, _: &mut Self::Session, buffered: &[u8]) -> Frame {
        let frame = line_frame(buffered);
        if frame == Frame::Partial && !buffered.is_empty() {
            self.0.partials.fetch_add(1, SeqCst);
        }
        frame
    }
}

/// A gated server with one loop, one worker and `queue` slots of worker queue (workers
/// dispatch: every request goes to the queue), saturated:
/// client A's `slow` request holds the worker and client B's waits in the queue.
fn saturated(queue: usize) -> (EvServer, Probes, OpenOnDrop, Client, Client) {
    let options = EvOptions::default()
        .loops(1)
        .workers(1)
        .queue_capacity(queue)
        .dispatch(Dispatch::Workers);
    let (server, probes, release) = start_gated(options);
    let addr = server.local_addr();
    let mut a = Client::connect(addr);
    a.send(b"slow\n");
    assert!(wait_until(PATIENCE, || probes.started.load(SeqCst) == 1));
    let mut b = Client::connect(addr);
    b.send(b"slow\n");
    assert!(wait_until(PATIENCE, || server.stats().queued_connections == 1));
    (server, probes, release, a, b)
}

/// Entries in `/proc/<pid>/fd`.
fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|e| panic!("cannot list /proc/{pid}/fd: {e}"))
        .count()
}

/// The `Threads:` line of `/proc/<pid>/status`.
fn thread_count(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Threads: line in /proc/{pid}/status"))
}

/// Start `ev_child <mode> <loops> <workers> <max_connections> 60` (a keep-alive timeout of
/// 60 s) and wait for its port.
fn spawn_ev_child(mode: &str, loops: usize, workers: usize, max_connections: usize) -> ChildServer {
    let args = [
        mode.to_string(),
        loops.to_string(),
        workers.to_string(),
        max_connections.to_string(),
        "60".to_string(),
    ];
    ChildServer::spawn(env!("CARGO_BIN_EXE_ev_child"), args)
}

/// `count` clients of `addr`, each having had the line `<prefix> <i>` echoed.
fn echoed_clients(addr: SocketAddr, count: usize, prefix: &str) -> Vec<Client> {
    (0..count)
        .map(|i| {
            let mut c = Client::connect(addr);
            c.echo(&format!("{prefix} {i}"));
            c
        })
        .collect()
}

// ----- 1. idle connections cost no threads --------------------------------------------

/// 2,000 keep-alive connections, idle between two requests each, are all held and served
/// by loops + workers threads: the child's thread count stays at loops + workers + main.
#[test]
fn idle_keepalive_connections_cost_no_threads() {
    const CONNS: usize = 2000;
    const LOOPS: usize = 2;
    const WORKERS: usize = 2;
    let mut child = spawn_ev_child("echo", LOOPS, WORKERS, 4096);
    let pid = child.pid();

    let mut clients = echoed_clients(child.addr(), CONNS, "first");
    // Let them idle (the child's keep-alive timeout is 60 s).
    thread::sleep(Duration::from_secs(1));
    for (i, c) in clients.iter_mut().enumerate() {
        c.send(format!("second {i}\n").as_bytes());
    }
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(c.line(), format!("second {i}\n"), "connection {i}");
    }

    // All 2,000 are open now. Adaptive dispatch (the default) keeps one spare per worker
    // and a watch thread.
    const SPARES: usize = WORKERS;
    let threads = thread_count(pid);
    assert!(
        threads <= LOOPS + SPARES + WORKERS + 2,
        "ev_child runs {threads} threads while holding {CONNS} connections; \
         want at most loops + spares + workers + watch + main = {}",
        LOOPS + SPARES + WORKERS + 2
    );
    let fds = fd_count(pid);
    assert!(
        fds >= CONNS,
        "ev_child has {fds} descriptors open, want >= {CONNS}"
    );
    child.command("stats");
    let live = child.expect("LIVE");
    assert_eq!(
        live[0], CONNS as u64,
        "current_connections while all are open"
    );
    assert_eq!(
        live[3],
        (LOOPS + SPARES + WORKERS) as u64,
        "current_threads"
    );

    drop(clients);
    child.command("quit");
    let stats = child.expect("STATS");
    assert_eq!(stats[0], 0, "current_connections after shutdown");
    assert_eq!(stats[1], CONNS as u64, "total_connections");
    assert_eq!(stats[2], 2 * CONNS as u64, "requests");
    assert!(child.wait_exit().success(), "ev_child failed");
}

// ----- 2. a slow request or a slow client does not block others -----------------------

/// While one request is being served (held at a gate), other connections' requests are
/// answered by the other worker.
#[test]
fn slow_request_does_not_block_other_connections() {
    let (mut server, probes, _release) = start_gated(EvOptions::default().loops(1).workers(2));
    let addr = server.local_addr();

    let mut a = Client::connect(addr);
    a.send(b"slow\n");
    let a_answered = Arc::new(AtomicBool::new(false));
    let reader = {
        let a_answered = Arc::clone(&a_answered);
        thread::spawn(move || {
            let line = a.line();
            a_answered.store(true, SeqCst);
            line
        })
    };
    assert!(
        wait_until(PATIENCE, || probes.started.load(SeqCst) == 1),
        "the slow request never started"
    );

    for name in ["B", "C", "D"] {
        let mut c = Client::connect(addr);
        c.echo("fast");
        assert!(
            !a_answered.load(SeqCst),
            "A's slow request was answered before {name}'s fast one: it was not in flight"
        );
    }
    assert!(!a_answered.load(SeqCst));

    probes.gate.open(SLOW);
    assert_eq!(reader.join().unwrap(), "done slow\n");
    assert!(a_answered.load(SeqCst));
    let stats = stop(&mut server);
    assert_eq!(stats.requests, 4);
    assert_eq!(stats.total_connections, 4);
}

/// With a single worker, a client that sends half a request and then nothing does not
/// occupy the worker: its partial request waits in the loop while other connections are
/// served, and it is served once the rest arrives.
#[test]
fn slow_client_does_not_occupy_a_worker() {
    let (mut server, probes, _release) = start_gated(EvOptions::default().loops(1).workers(1));
    let addr = server.local_addr();

    let mut a = Client::connect(addr);
    a.send(b"par");
    assert!(
        wait_until(PATIENCE, || probes.partials.load(SeqCst) >= 1),
        "the loop never framed A's partial request"
    );

    // If A's partial request were on the only worker, it would block there (the server's
    // read timeout is 60 s) and these reads would time out.
    for _ in ["B", "C", "D"] {
        let mut c = Client::connect(addr);
        c.echo("fast");
    }

    a.send(b"tial\n");
    assert_eq!(a.line(), "partial\n");
    let stats = stop(&mut server);
    assert_eq!(stats.requests, 4);
}

// ----- 3. pipelining ------------------------------------------------------------------

fn pipelined(options: EvOptions) {
    let mut server = start_ev(Echo::new(), long_params(), options.clone());
    let mut c = Client::connect(server.local_addr());
    let batch: String = (0..100).map(|i| format!("request {i}\n")).collect();
    c.send(batch.as_bytes());
    for i in 0..100 {
        assert_eq!(c.line(), format!("request {i}\n"), "{options:?}");
    }
    await_stats(&server, "requests 100", |s| s.requests == 100);
    let stats = stop(&mut server);
    assert_eq!(stats.requests, 100, "{options:?}");
    assert_eq!(stats.total_connections, 1, "{options:?}");
}

/// 100 requests in one write on one connection are answered in order, with workers and
/// inline.
#[test]
fn pipelined_requests_answered_in_order() {
    pipelined(EvOptions::default().loops(1).workers(2));
    pipelined(
        EvOptions::default()
            .loops(1)
            .workers(0)
            .dispatch(Dispatch::Inline),
    );
}

// ----- 4. a full slab refuses ---------------------------------------------------------

/// One loop with 3 slots: a 4th connection is accepted and closed at once, and counted;
/// when a slot frees, a new connection is served; the others are never disturbed.
#[test]
fn slab_full_refuses_and_counts() {
    let params = ServerParams::builder()
        .max_connections(3)
        .keep_alive_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let options = EvOptions::default().loops(1).workers(1);
    let mut server = start_ev(Echo::new(), params, options);
    let addr = server.local_addr();

    let mut held = echoed_clients(addr, 3, "held");
    let mut fourth = Client::connect(addr);
    fourth.expect_closed();
    await_stats(&server, "refused_connections 1", |s| {
        s.refused_connections == 1
    });
    assert_eq!(server.stats().current_connections, 3);

    drop(held.remove(0));
    await_stats(&server, "current_connections 2", |s| {
        s.current_connections == 2
    });
    let mut fresh = Client::connect(addr);
    fresh.echo("a freed slot serves a new connection");
    for c in &mut held {
        c.echo("still served");
    }

    let stats = stop(&mut server);
    assert_eq!(stats.refused_connections, 1);
    assert_eq!(stats.total_connections, 4);
    assert_eq!(stats.current_connections, 0);
}

// ----- 5. shutdown with requests in flight --------------------------------------------

/// Requests in flight when shutdown begins are finished and answered; idle connections are
/// closed; shutdown returns.
#[test]
fn shutdown_with_requests_in_flight() {
    let (mut server, probes, _release) = start_gated(EvOptions::default().loops(2).workers(4));
    let addr = server.local_addr();

    let idle = echoed_clients(addr, 2, "idle");
    let busy: Vec<_> = (0..4)
        .map(|_| {
            let mut c = Client::connect(addr);
            c.send(b"slow\n");
            thread::spawn(move || {
                let line = c.line();
                c.expect_closed();
                line
            })
        })
        .collect();
    assert!(
        wait_until(PATIENCE, || probes.started.load(SeqCst) == 4),
        "the 4 slow requests did not all start"
    );

    // The gate opens only once shutdown has visibly begun (idle connections closed), so
    // the 4 requests are surely in flight when it starts.
    let releaser = {
        let gate = Arc::clone(&probes.gate);
        thread::spawn(move || {
            let _open = OpenOnDrop(gate, vec![SLOW]);
            for mut c in idle {
                c.expect_closed();
            }
        })
    };
    let stats = server
        .shutdown(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("shutdown failed: {e}"));
    releaser
        .join()
        .expect("idle connections were not closed by shutdown");
    for (i, reader) in busy.into_iter().enumerate() {
        assert_eq!(
            reader.join().unwrap(),
            "done slow\n",
            "request in flight {i}"
        );
    }
    assert_eq!(stats.requests, 6);
    assert_eq!(stats.total_connections, 6);
    assert_eq!(stats.current_connections, 0);
}

/// A request still running when the shutdown deadline passes: shutdown returns and the
/// client sees its connection closed.
#[test]
fn shutdown_deadline_cuts_request_in_flight() {
    let (handler, started) = Slow::new(Duration::from_secs(3));
    let options = EvOptions::default().loops(1).workers(1);
    let mut server = start_ev(handler, long_params(), options);
    let mut c = Client::connect(server.local_addr());
    c.send(b"slow\n");
    assert!(
        wait_until(PATIENCE, || started.load(SeqCst) == 1),
        "the slow request never started"
    );
    server
        .shutdown(Duration::from_millis(200))
        .unwrap_or_else(|e| panic!("shutdown failed: {e}"));
    c.expect_closed();
    assert_eq!(server.stats().current_connections, 0);
}

// ----- 6. descriptors ------------------------------------------------------------------

/// After shutdown, the server process has exactly the descriptors it had before the server
/// was created, though 25 connections (5 with a partial request) were still open.
#[test]
fn fds_return_to_start_after_shutdown() {
    let mut child = spawn_ev_child("fdcheck", 2, 2, 1024);
    let mut clients = echoed_clients(child.addr(), 50, "hello");
    for (i, c) in clients.iter_mut().enumerate().step_by(3) {
        c.echo(&format!("again {i}"));
    }
    clients.truncate(25);
    for c in &mut clients[..5] {
        c.send(b"partial, never finished");
    }

    child.command("quit");
    let fds = child.expect("FDS");
    assert_eq!(
        fds[0], fds[1],
        "ev_child descriptors before the server / after shutdown"
    );
    let stats = child.expect("STATS");
    assert_eq!(stats[0], 0, "current_connections after shutdown");
    assert_eq!(stats[1], 50, "total_connections");
    for c in &mut clients {
        c.expect_closed();
    }
    assert!(child.wait_exit().success(), "ev_child failed");
}

// ----- 7. inline dispatch -------------------------------------------------------------

/// Inline dispatch with no workers serves requests on the loops; the threads are the loops.
#[test]
fn inline_dispatch_serves() {
    let options = EvOptions::default()
        .loops(2)
        .workers(0)
        .dispatch(Dispatch::Inline);
    let mut server = start_ev(Echo::new(), long_params(), options);
    let addr = server.local_addr();
    let mut clients: Vec<Client> = (0..8).map(|_| Client::connect(addr)).collect();
    for round in 0..3 {
        for (i, c) in clients.iter_mut().enumerate() {
            c.echo(&format!("round {round} client {i}"));
        }
    }
    let live = server.stats();
    assert_eq!(live.current_threads, 2, "inline: threads are the loops");
    assert_eq!(live.current_connections, 8);
    let stats = stop(&mut server);
    assert_eq!(stats.requests, 24);
    assert_eq!(stats.total_connections, 8);
}

// ----- 8. options ---------------------------------------------------------------------

/// Bad evented options are errors naming the option, never panics.
#[test]
fn bad_options_are_errors() {
    let cases = [
        (EvOptions::default().loops(0).workers(1), 16, "`loops`"),
        (
            EvOptions::default()
                .loops(1)
                .workers(0)
                .dispatch(Dispatch::Workers),
            16,
            "`workers`",
        ),
        (EvOptions::default().loops(4).workers(1), 3, "`loops`"),
        (
            EvOptions::default().loops(1).input_budget(0),
            16,
            "`input_budget`",
        ),
        (
            EvOptions::default().loops(1).output_budget(0),
            16,
            "`output_budget`",
        ),
    ];
    for (options, max_connections, name) in cases {
        let params = ServerParams::builder()
            .max_connections(max_connections)
            .build()
            .unwrap();
        let result = EvServer::bind_with("127.0.0.1:0", Echo::new(), params, options.clone());
        let err = result.expect_err(&format!("{options:?} must be rejected"));
        assert!(err.is_invalid_param(), "{options:?}: {err:?}");
        assert!(
            err.to_string().contains(name),
            "{options:?}: message {:?} does not name {name}",
            err.to_string()
        );
    }
}

// ----- 9. panics in the loop's handler calls ------------------------------------------

/// Echo whose `open` panics for the first connection and whose `frame` panics on a request
/// starting with `boom`.
#[derive(Debug, Default)]
struct Panicky {
    opened: AtomicBool,
    echo: Echo,
}

impl Handler for Panicky {
    type Session = ();
    fn open(&self, _: &Connection) {
        if !self.opened.swap(true, SeqCst) {
            panic!("Panicky::open: first connection (this panic is expected)");
        }
    }
    fn serve(&self, session: &mut (), conn: &mut Connection) -> io::Result<Action> {
        self.echo.serve(session, conn)
    }
    fn frame(&self, _: &mut Self::Session, buffered: &[u8]) -> Frame {
        if buffered.starts_with(b"boom") {
            panic!("Panicky::frame: boom (this panic is expected)");
        }
        line_frame(buffered)
    }
}

/// A panic in `open` or `frame` (both called on the loop thread) closes that connection,
/// is counted, and leaves the loop serving everyone else.
#[test]
fn handler_panic_in_frame_and_open() {
    let options = EvOptions::default().loops(1).workers(1);
    let mut server = start_ev(Panicky::default(), long_params(), options);
    let addr = server.local_addr();

    let mut first = Client::connect(addr);
    first.expect_closed();
    await_stats(&server, "handler_panics 1 (open)", |s| {
        s.handler_panics == 1
    });

    let mut steady = Client::connect(addr);
    steady.echo("served after the open panic");

    let mut bomb = Client::connect(addr);
    bomb.echo("fine so far");
    bomb.send(b"boom\n");
    bomb.expect_closed();
    await_stats(&server, "handler_panics 2 (frame)", |s| {
        s.handler_panics == 2
    });
    steady.echo("served after the frame panic");

    // A pipelined request behind a good one: framed by the loop after the return.
    let mut piped = Client::connect(addr);
    piped.send(b"ok\nboom\n");
    assert_eq!(piped.line(), "ok\n");
    piped.expect_closed();
    await_stats(&server, "handler_panics 3 (pipelined frame)", |s| {
        s.handler_panics == 3
    });

    let mut late = Client::connect(addr);
    late.echo("the loop still runs");
    steady.echo("and still serves the old ones");
    await_stats(&server, "current_connections 2", |s| {
        s.current_connections == 2
    });

    let stats = stop(&mut server);
    assert_eq!(stats.handler_panics, 3);
    assert_eq!(stats.requests, 6);
    assert_eq!(stats.current_connections, 0);
}

/// Echo whose `open` (first connection), `frame` (a request starting with `boom`) and
/// `serve` (a request `bang`) panic with a [`PanickyPayload`]: a payload that panics again
/// when dropped.
#[derive(Debug, Default)]
struct PanickyTwice {
    opened: AtomicBool,
    echo: Echo,
}

impl Handler for PanickyTwice {
    type Session = ();
    fn open(&self, _: &Connection) {
        if !self.opened.swap(true, SeqCst) {
            std::panic::panic_any(PanickyPayload);
        }
    }
    fn serve(&self, session: &mut (), conn: &mut Connection) -> io::Result<Action> {
        if conn.buffered().starts_with(b"bang\n") {
            std::panic::panic_any(PanickyPayload);
        }
        self.echo.serve(session, conn)
    }
    fn frame(&self, _: &mut Self::Session, buffered: &[u8]) -> Frame {
        if buffered.starts_with(b"boom") {
            std::panic::panic_any(PanickyPayload);
        }
        line_frame(buffered)
    }
}

/// A panic in `open`, `frame` or `serve` whose payload panics again when dropped is one
/// handler panic each, in every dispatch mode: the loop (whose callbacks run `open` and
/// `frame`, and `serve` too inline) goes on serving, and neither the loop's guard nor the
/// worker's counts the payload's panic as another handler panic or as the server's own.
fn handler_panics_whose_payload_panics(dispatch: Dispatch) {
    let options = EvOptions::default().loops(1).workers(1).dispatch(dispatch);
    let mut server = start_ev(PanickyTwice::default(), long_params(), options);
    let addr = server.local_addr();

    let mut first = Client::connect(addr);
    first.expect_closed();
    await_stats(&server, "handler_panics (open)", |s| s.handler_panics > 0);
    let mut steady = Client::connect(addr);
    steady.echo("served after the open panic");

    let mut framed = Client::connect(addr);
    framed.send(b"boom\n");
    framed.expect_closed();
    steady.echo("served after the frame panic");

    let mut served = Client::connect(addr);
    served.send(b"bang\n");
    served.expect_closed();
    steady.echo("served after the serve panic");
    await_stats(&server, "current_connections 1", |s| {
        s.current_connections == 1
    });

    let stats = stop(&mut server);
    assert_eq!(stats.handler_panics, 3, "{dispatch:?}: {stats:?}");
    assert_eq!(stats.server_panics, 0, "{dispatch:?}: not the server's");
    assert_eq!(stats.requests, 3, "{dispatch:?}");
}

#[test]
fn handler_panics_whose_payload_panics_inline() {
    handler_panics_whose_payload_panics(Dispatch::Inline);
}

#[test]
fn handler_panics_whose_payload_panics_adaptive() {
    handler_panics_whose_payload_panics(Dispatch::Adaptive);
}

#[test]
fn handler_panics_whose_payload_panics_workers() {
    handler_panics_whose_payload_panics(Dispatch::Workers);
}

/// Backpressure: with one worker and room for one queued request, further complete
/// requests wait in the loop (the first with its bytes read, later ones unread in the
/// kernel) and are all served, in order, once the worker is free again. None is lost, and
/// the queue never holds more than its capacity.
#[test]
fn full_worker_queue_holds_requests_in_the_loop_until_room() {
    let (mut server, probes, _release, mut a, mut b) = saturated(1);
    let addr = server.local_addr();
    let mut waiting: Vec<Client> = (0..4)
        .map(|i| {
            let mut c = Client::connect(addr);
            c.send(format!("waiting {i}\n").as_bytes());
            c
        })
        .collect();
    assert!(wait_until(PATIENCE, || server.stats().current_connections == 6));
    assert_eq!(
        server.stats().queued_connections,
        1,
        "the queue holds one request"
    );
    assert_eq!(
        probes.started.load(SeqCst),
        1,
        "B waits for the busy worker"
    );

    probes.gate.open(SLOW);
    assert_eq!(a.line(), "done slow\n");
    assert_eq!(b.line(), "done slow\n");
    for (i, c) in waiting.iter_mut().enumerate() {
        assert_eq!(c.line(), format!("waiting {i}\n"));
    }
    // Everything flows normally afterwards.
    a.echo("after");
    let stats = stop(&mut server);
    assert_eq!(stats.requests, 7);
    assert_eq!(stats.queued_connections, 0);
}

/// A zero worker-queue capacity is a parameter error naming it.
#[test]
fn zero_queue_capacity_is_an_error() {
    let options = EvOptions::default().queue_capacity(0);
    let err =
        EvServer::bind_with("127.0.0.1:0", tests::Echo::new(), long_params(), options).unwrap_err();
    assert!(err.is_invalid_param(), "{err}");
    assert!(err.to_string().contains("queue_capacity"), "{err}");
}

/// A client that trickles a partial request (one byte at a time, each well within the read
/// timeout) is closed once the request as a whole has been in the loop longer than the
/// read timeout (slowloris): the deadline runs from the request's first byte.
#[test]
fn trickled_partial_request_is_cut_at_the_read_timeout() {
    let params = ServerParams::builder()
        .read_timeout(Duration::from_millis(600))
        .keep_alive_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut server = start_ev(
        Gated(Probes::default()),
        params,
        EvOptions::default().loops(1).workers(1),
    );
    let mut client = Client::connect(server.local_addr());
    let writer = client.writer();
    let quit = Arc::new(AtomicBool::new(false));
    let trickler = {
        let quit = Arc::clone(&quit);
        thread::spawn(move || {
            let mut writer = writer;
            // One byte every 150 ms, never a newline; stops on error (closed) or when asked.
            while !quit.load(SeqCst) {
                if writer.write_all(b"a").is_err() {
                    break;
                }
                thread::sleep(Duration::from_millis(150));
            }
        })
    };
    let cut = wait_until(PATIENCE, || server.stats().timed_out == 1);
    quit.store(true, SeqCst);
    trickler.join().unwrap();
    assert!(cut, "the trickling client was never cut off");
    client.expect_closed();
    let stats = stop(&mut server);
    assert_eq!(stats.requests, 0);
}

// ----- 10. review regressions ---------------------------------------------------------

/// A request that becomes complete (its last bytes arriving) while the worker queue is
/// full waits for room with its bytes, and is served when room returns: it is not mistaken
/// for a partial one and left unread until its read deadline.
#[test]
fn request_completed_while_the_queue_is_full_is_served() {
    let (mut server, probes, _release, mut a, mut b) = saturated(1);
    let addr = server.local_addr();
    let mut c = Client::connect(addr);
    c.send(b"hal");
    assert!(wait_until(PATIENCE, || probes.partials.load(SeqCst) >= 1));
    // D's complete request finds the queue full: the loop now knows it is full.
    let mut d = Client::connect(addr);
    d.send(b"d\n");
    assert!(wait_until(PATIENCE, || server.stats().buffered_input >= 5 + 5 + 3 + 2));
    c.send(b"f\n");
    assert!(wait_until(PATIENCE, || server.stats().buffered_input >= 5 + 5 + 5 + 2));
    probes.gate.open(SLOW);
    assert_eq!(a.line(), "done slow\n");
    assert_eq!(b.line(), "done slow\n");
    assert_eq!(d.line(), "d\n");
    assert_eq!(c.line(), "half\n");
    let stats = stop(&mut server);
    assert_eq!((stats.requests, stats.timed_out), (4, 0));
}

/// Past the shutdown deadline, requests still waiting in the worker queue are not served
/// (the worker hands them back to be closed), so shutdown is not delayed by the backlog.
#[test]
fn requests_queued_past_the_shutdown_deadline_are_not_served() {
    let options = EvOptions::default()
        .loops(1)
        .workers(1)
        .queue_capacity(4)
        .dispatch(Dispatch::Workers);
    let (mut server, probes, release) = start_gated(options);
    let addr = server.local_addr();
    let mut a = Client::connect(addr);
    a.send(b"slow\n");
    assert!(wait_until(PATIENCE, || probes.started.load(SeqCst) == 1));
    let mut queued: Vec<Client> = (0..2)
        .map(|_| {
            let mut c = Client::connect(addr);
            c.send(b"slow\n");
            c
        })
        .collect();
    assert!(wait_until(PATIENCE, || server.stats().queued_connections == 2));
    let stopper = thread::spawn(move || {
        let stats = server.shutdown(Duration::from_millis(300));
        (server, stats)
    });
    // The deadline passes: the busy connection is cut (its client sees the close) ...
    a.expect_closed();
    // ... and only then may the blocked handler return.
    probes.gate.open(SLOW);
    let (_server, stats) = stopper.join().unwrap();
    let stats = stats.unwrap();
    assert_eq!(
        stats.requests, 1,
        "queued requests were served after the deadline"
    );
    assert_eq!(stats.current_connections, 0);
    for c in &mut queued {
        c.expect_closed();
    }
    drop(release);
}
