//! Adaptive dispatch (evnet's default): requests are served on the thread that runs their
//! loop, and a request that blocks there loses its loop to a spare thread, so the loop's
//! other connections go on: accepts, quick requests, timeouts, slowloris cuts. Requests
//! framed `Frame::Blocking` go to the workers, and when every worker is busy they wait in
//! the queue, in order. Panics on a loop's thread stay isolated, and shutdown keeps its
//! deadline for everything but the blocked request.
//!
//! These tests are about one server's nature (the takeover), so they run on evnet only;
//! the behavioural suite runs on adaptive dispatch as evnet's default.

use std::io::{self, BufRead, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use evnet::{Action, Connection, EvOptions, EvServer, Frame, Handler, Server, ServerParams};
use tests::gate::{Gates, OpenOnDrop};
use tests::{await_stats, line_frame, start_ev, stop, wait_until, Client, PATIENCE};

/// A line protocol:
/// - `wait NAME`: wait at gate NAME, then answer `done NAME` (framed as any request: an
///   unmarked blocking handler);
/// - `block NAME`: the same, framed [`Frame::Blocking`] (goes to a worker);
/// - `panic`: the handler panics at once; `panic-late`: after 100 ms (past the takeover
///   threshold);
/// - anything else is echoed.
#[derive(Debug, Clone)]
struct Lines(Arc<Gates>);

impl Handler for Lines {
    type Session = ();
    fn open(&self, _: &Connection) {}
    fn serve(&self, _: &mut (), conn: &mut Connection) -> io::Result<Action> {
        let mut line = String::new();
        if conn.read_line(&mut line)? == 0 {
            return Ok(Action::Close);
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["wait" | "block", name] => {
                self.0.wait(name);
                writeln!(conn, "done {name}")?;
            }
            ["panic"] => panic!("a handler panics on the loop's thread"),
            ["panic-late"] => {
                std::thread::sleep(Duration::from_millis(100));
                panic!("a handler panics after its loop was taken over")
            }
            _ => conn.write_all(line.as_bytes())?,
        }
        Ok(Action::KeepAlive)
    }
    fn frame(&self, _: &mut (), buffered: &[u8]) -> Frame {
        match line_frame(buffered) {
            Frame::Complete(n) if buffered.starts_with(b"block ") => Frame::Blocking(n),
            frame => frame,
        }
    }
}

/// Parameters: keep-alive and read timeouts of `timeout`.
fn params(timeout: Duration) -> ServerParams {
    ServerParams::builder()
        .keep_alive_timeout(timeout)
        .read_timeout(timeout)
        .build()
        .unwrap()
}

/// One loop, two workers, adaptive dispatch (the default), and a takeover threshold far above what the scheduler can
/// delay a quick request on a busy machine (1 ms was not: an echo preempted past it was
/// taken over or counted as a stall, and the counts these tests check were off by one),
/// yet far below how long a gated request blocks.
fn one_loop() -> EvOptions {
    EvOptions::default()
        .loops(1)
        .workers(2)
        .takeover_after(Duration::from_millis(100))
}

fn start(timeout: Duration, options: EvOptions) -> (EvServer, Arc<Gates>) {
    let gates = Arc::new(Gates::default());
    let server = start_ev(Lines(Arc::clone(&gates)), params(timeout), options);
    (server, gates)
}

#[test]
fn the_default_dispatch_is_adaptive() {
    assert_eq!(
        EvOptions::default().dispatch_mode(),
        evnet::Dispatch::Adaptive
    );
    assert_eq!(
        EvOptions::default().takeover_threshold(),
        evnet::DEFAULT_TAKEOVER_AFTER
    );
}

#[test]
fn a_blocked_handler_loses_its_loop_and_the_loop_goes_on() {
    let (mut server, gates) = start(Duration::from_millis(500), one_loop());
    let _open = OpenOnDrop(Arc::clone(&gates), vec!["a"]);
    let addr = server.local_addr();
    let mut blocked = Client::connect(addr);
    let mut idle = Client::connect(addr);
    idle.echo("hello");
    blocked.send(b"wait a\n");
    assert!(wait_until(PATIENCE, || gates.waiting() == 1));
    await_stats(&server, "a takeover", |s| s.loop_takeovers >= 1);

    // The same (only) loop serves another client, and accepts a new one...
    let mut other = Client::connect(addr);
    other.echo("quick");
    // ... and its timeouts run: the idle connection is cut at keep-alive.
    let idle_cut = Instant::now();
    idle.expect_closed();
    assert!(idle_cut.elapsed() < PATIENCE);
    assert_eq!(gates.waiting(), 1, "still blocked meanwhile");

    // Released: the answer arrives and the connection is reused.
    gates.open("a");
    assert_eq!(blocked.line(), "done a\n");
    blocked.echo("again");
    other.echo("still here");
    let stats = stop(&mut server);
    assert_eq!(stats.loop_stalls, 0);
    assert_eq!(stats.handler_panics, 0);
}

#[test]
fn with_every_worker_blocked_marked_requests_queue_in_order_and_the_loop_goes_on() {
    let (mut server, gates) = start(Duration::from_millis(500), one_loop());
    let _open = OpenOnDrop(Arc::clone(&gates), vec!["w1", "w2", "q"]);
    let addr = server.local_addr();
    // Two marked requests take both workers.
    let mut w1 = Client::connect(addr);
    let mut w2 = Client::connect(addr);
    w1.send(b"block w1\n");
    w2.send(b"block w2\n");
    assert!(wait_until(PATIENCE, || gates.waiting() == 2));
    // Three more wait in the queue, in order.
    let mut queued: Vec<Client> = (0..3).map(|_| Client::connect(addr)).collect();
    for (i, c) in queued.iter_mut().enumerate() {
        c.send(b"block q\n");
        await_stats(&server, "queued", |s| s.queued_connections == i + 1);
    }
    // The loop still accepts and serves quick requests itself...
    let mut quick = Client::connect(addr);
    quick.echo("quick");
    // ... and cuts a slowloris client at the read timeout.
    let mut slowloris = Client::connect(addr);
    slowloris.send(b"half a line");
    slowloris.expect_closed();
    await_stats(&server, "the slowloris cut", |s| s.timed_out >= 1);
    assert_eq!(server.stats().queued_connections, 3);

    // Gate q open: the queued requests pass it at once; one worker freed serves them.
    gates.open("q");
    gates.open("w1");
    assert_eq!(w1.line(), "done w1\n");
    for c in &mut queued {
        assert_eq!(c.line(), "done q\n");
    }
    gates.open("w2");
    assert_eq!(w2.line(), "done w2\n");
    // (The quick client idled past the keep-alive timeout meanwhile.)
    quick.expect_closed();
    Client::connect(addr).echo("after");
    let stats = stop(&mut server);
    assert_eq!(
        stats.loop_takeovers, 0,
        "marked requests never block a loop"
    );
}

#[test]
fn queued_marked_requests_are_served_in_the_order_they_came() {
    let options = EvOptions::default().loops(1).workers(1);
    let (mut server, gates) = start(Duration::from_secs(30), options);
    let _open = OpenOnDrop(Arc::clone(&gates), vec!["first", "q0", "q1", "q2"]);
    let addr = server.local_addr();
    let mut first = Client::connect(addr);
    first.send(b"block first\n");
    assert!(wait_until(PATIENCE, || gates.waiting() == 1));
    let mut queued: Vec<Client> = (0..3).map(|_| Client::connect(addr)).collect();
    for (i, c) in queued.iter_mut().enumerate() {
        c.send(format!("block q{i}\n").as_bytes());
        await_stats(&server, "queued", |s| s.queued_connections == i + 1);
    }
    gates.open("first");
    assert_eq!(first.line(), "done first\n");
    // The single worker takes q0 first: until q0 opens, q1 and q2 are still queued.
    assert!(wait_until(PATIENCE, || gates.waiting() == 1));
    assert_eq!(server.stats().queued_connections, 2);
    for (i, c) in queued.iter_mut().enumerate() {
        gates.open(&format!("q{i}"));
        assert_eq!(c.line(), format!("done q{i}\n"));
    }
    stop(&mut server);
}

#[test]
fn a_panic_on_the_loops_thread_closes_only_its_connection() {
    let (mut server, gates) = start(Duration::from_secs(30), one_loop());
    let addr = server.local_addr();
    let mut other = Client::connect(addr);
    other.echo("before");
    let mut panicking = Client::connect(addr);
    panicking.send(b"panic\n");
    panicking.expect_closed();
    await_stats(&server, "the panic counted", |s| s.handler_panics == 1);
    other.echo("after a panic");
    // Also after a takeover: the handler panics on the thread that lost the loop.
    let mut late = Client::connect(addr);
    late.send(b"panic-late\n");
    await_stats(&server, "the takeover", |s| s.loop_takeovers >= 1);
    late.expect_closed();
    await_stats(&server, "the late panic counted", |s| s.handler_panics == 2);
    other.echo("after a late panic");
    Client::connect(addr).echo("new");
    assert_eq!(gates.waiting(), 0);
    stop(&mut server);
}

#[test]
fn without_a_spare_a_blocked_handler_holds_its_loop_and_is_counted() {
    let (mut server, gates) = start(Duration::from_secs(30), one_loop().spares(0));
    let _open = OpenOnDrop(Arc::clone(&gates), vec!["a"]);
    let addr = server.local_addr();
    let mut blocked = Client::connect(addr);
    blocked.send(b"wait a\n");
    assert!(wait_until(PATIENCE, || gates.waiting() == 1));
    let mut other = Client::connect(addr);
    other.send(b"queued behind\n");
    // spares(0) starts no watch: nothing takes the loop, nothing is counted, and the
    // other client waits for the handler.
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(server.stats().loop_takeovers, 0);
    gates.open("a");
    assert_eq!(blocked.line(), "done a\n");
    assert_eq!(other.line(), "queued behind\n");
    stop(&mut server);
}

#[test]
fn a_stall_is_counted_when_every_spare_is_taken() {
    // One spare: the first blocked handler's loop goes to it; the spare, now running the
    // loop, serves a second blocked request with no spare left: a stall.
    let (mut server, gates) = start(Duration::from_secs(30), one_loop().spares(1));
    let _open = OpenOnDrop(Arc::clone(&gates), vec!["a", "b"]);
    let addr = server.local_addr();
    let mut a = Client::connect(addr);
    a.send(b"wait a\n");
    await_stats(&server, "the first takeover", |s| s.loop_takeovers == 1);
    let mut b = Client::connect(addr);
    b.send(b"wait b\n");
    await_stats(&server, "the stall", |s| s.loop_stalls == 1);
    // Released in turn: a's thread becomes the spare, which then takes the loop from b.
    gates.open("a");
    assert_eq!(a.line(), "done a\n");
    await_stats(&server, "the second takeover", |s| s.loop_takeovers == 2);
    a.echo("served while b still blocks");
    gates.open("b");
    assert_eq!(b.line(), "done b\n");
    let stats = stop(&mut server);
    assert_eq!(stats.loop_stalls, 1, "counted once");
}

#[test]
fn shutdown_keeps_its_deadline_for_everything_but_the_blocked_request() {
    let (mut server, gates) = start(Duration::from_secs(30), one_loop());
    let open = OpenOnDrop(Arc::clone(&gates), vec!["a"]);
    let addr = server.local_addr();
    let mut blocked = Client::connect(addr);
    blocked.send(b"wait a\n");
    await_stats(&server, "the takeover", |s| s.loop_takeovers == 1);
    let mut idle = Client::connect(addr);
    idle.echo("idle");
    let handle = server.handle();
    let stopping = std::thread::spawn(move || {
        let started = Instant::now();
        let _ = handle.shutdown(Duration::from_millis(300));
        started.elapsed()
    });
    // The idle connection is closed at once (by the loop, which another thread runs),
    // and a new connection is no longer accepted.
    idle.expect_closed();
    // Past the deadline the blocked request's socket is cut; its handler still waits at
    // the gate (not on the socket), so shutdown waits for it: open it.
    std::thread::sleep(Duration::from_millis(400));
    drop(open);
    let took = stopping.join().unwrap();
    assert!(took < PATIENCE);
    let _ = server.shutdown(Duration::from_secs(1));
}

#[test]
fn bad_takeover_options_are_errors() {
    let bind = |options: EvOptions| {
        EvServer::bind_with(
            "127.0.0.1:0",
            Lines(Arc::default()),
            ServerParams::default(),
            options,
        )
    };
    let short = bind(EvOptions::default().takeover_after(Duration::from_micros(10)));
    let err = short.unwrap_err();
    assert!(err.to_string().contains("takeover_after"), "{err}");
    let long = bind(EvOptions::default().takeover_after(Duration::from_secs(3600)));
    assert!(long.unwrap_err().to_string().contains("takeover_after"));
    let spares = bind(EvOptions::default().spares(1_000_000));
    assert!(spares.unwrap_err().to_string().contains("spares"));
}
