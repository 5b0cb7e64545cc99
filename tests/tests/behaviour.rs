//! Behaviour every server must show, whatever its nature: keep-alive, pipelining, split
//! requests, timeouts, limits, refusal, panics, parameters, shutdown, filters, sessions
//! and statistics. Each test runs against both servers (see `tests::server_tests!`).

use std::io::{self, BufRead};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use net::{Action, Connection, Handler, ServerParams};
use tests::{
    assert_timeouts, await_stats, shutdown_in_background, start, start_with, stop, Client, Counter,
    Echo, Slow, TestServer, PATIENCE,
};

/// Many requests on one connection, one at a time; `requests` counts each.
fn keep_alive<S: TestServer>() {
    let mut server = start::<S, _>(Echo::new(), ServerParams::default());
    let mut c = Client::connect(server.local_addr());
    for i in 0..100 {
        c.echo(&format!("request {i}"));
    }
    await_stats(&server, "requests 100", |s| s.requests == 100);
    let stats = stop(&mut server);
    assert_eq!(stats.total_connections, 1);
    assert_eq!(stats.requests, 100);
}

/// Several requests in one write are answered in order.
fn pipelining<S: TestServer>() {
    let mut server = start::<S, _>(Echo::new(), ServerParams::default());
    let mut c = Client::connect(server.local_addr());
    c.send(b"one\ntwo\nthree\n");
    assert_eq!(c.line(), "one\n");
    assert_eq!(c.line(), "two\n");
    assert_eq!(c.line(), "three\n");
    // The connection is still usable afterwards.
    c.echo("four");
    await_stats(&server, "requests 4", |s| s.requests == 4);
    stop(&mut server);
}

/// Requests arriving one byte at a time (two of them, the boundary inside the stream).
fn split_request<S: TestServer>() {
    let mut server = start::<S, _>(Echo::new(), ServerParams::default());
    let mut c = Client::connect(server.local_addr());
    for &b in b"split one\nsplit two\n" {
        c.send(&[b]);
        // Pacing only (so that the bytes tend to arrive separately), not synchronisation.
        thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(c.line(), "split one\n");
    assert_eq!(c.line(), "split two\n");
    await_stats(&server, "requests 2", |s| s.requests == 2);
    stop(&mut server);
}

/// An idle keep-alive connection is closed after `keep_alive_timeout`, counted in
/// `timed_out` as an idle timeout; so is a connection that never sends its first request.
fn keep_alive_timeout<S: TestServer>() {
    let params = ServerParams::builder()
        .keep_alive_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let mut server = start::<S, _>(Echo::new(), params);
    let mut c = Client::connect(server.local_addr());
    c.echo("hello");
    // Now stay idle: the server closes the connection (well within the client's timeout).
    c.expect_closed();
    await_stats(&server, "timed_out 1, current_connections 0", |s| {
        s.timed_out == 1 && s.current_connections == 0
    });
    let stats = server.stats();
    assert_eq!(
        (stats.timed_out_idle, stats.timed_out_read),
        (1, 0),
        "{stats:?}"
    );
    // A connection that sends nothing at all is idle too (not a stalled request).
    let mut silent = Client::connect(server.local_addr());
    silent.expect_closed();
    await_stats(&server, "timed_out 2, current_connections 0", |s| {
        s.timed_out == 2 && s.current_connections == 0
    });
    let stats = stop(&mut server);
    assert_eq!(stats.requests, 1);
    assert_eq!(stats.timed_out, 2);
    assert_timeouts(&stats, [2, 0, 0, 0]);
}

/// `max_requests_per_connection`: the last allowed response arrives, then EOF.
fn max_requests_per_connection<S: TestServer>() {
    let params = ServerParams::builder()
        .max_requests_per_connection(3)
        .build()
        .unwrap();
    let mut server = start::<S, _>(Echo::new(), params);
    let mut c = Client::connect(server.local_addr());
    c.echo("one");
    c.echo("two");
    c.echo("three");
    c.expect_closed();
    await_stats(&server, "current_connections 0", |s| {
        s.current_connections == 0
    });
    // A new connection gets its own allowance.
    let mut c2 = Client::connect(server.local_addr());
    c2.echo("again");
    let stats = stop(&mut server);
    assert_eq!(stats.requests, 4);
    assert_eq!(stats.total_connections, 2);
    assert_eq!(stats.timed_out, 0);
}

/// With `max_connections` open, a new connection is refused (closed, counted); once one
/// closes, a new one is served again. The evented server splits `max_connections` across
/// its loops, so it runs with one loop here.
fn refusal_when_full<S: TestServer>() {
    let params = ServerParams::builder().max_connections(2).build().unwrap();
    let mut server = start_with::<S, _>(Echo::new(), params, 1, 2);
    let addr = server.local_addr();
    let mut c1 = Client::connect(addr);
    c1.echo("one");
    let mut c2 = Client::connect(addr);
    c2.echo("two");
    await_stats(&server, "current_connections 2", |s| {
        s.current_connections == 2
    });

    let mut c3 = Client::connect(addr);
    c3.expect_closed();
    await_stats(&server, "refused_connections 1", |s| {
        s.refused_connections == 1
    });
    // The open ones are unaffected.
    c1.echo("one again");
    c2.echo("two again");

    drop(c1);
    await_stats(&server, "current_connections 1", |s| {
        s.current_connections == 1
    });
    let mut c4 = Client::connect(addr);
    c4.echo("four");
    let stats = stop(&mut server);
    assert_eq!(stats.refused_connections, 1);
    assert_eq!(stats.total_connections, 3);
    assert_eq!(stats.max_concurrent_connections, 2);
}

/// A handler panic closes its connection, is counted, and leaves the server serving.
fn handler_panic<S: TestServer>() {
    let mut server = start::<S, _>(Echo::panicking_on("boom"), ServerParams::default());
    let addr = server.local_addr();
    let mut c1 = Client::connect(addr);
    c1.echo("before");
    c1.send(b"boom\n");
    c1.expect_closed();
    await_stats(&server, "handler_panics 1, current_connections 0", |s| {
        s.handler_panics == 1 && s.current_connections == 0
    });

    let mut c2 = Client::connect(addr);
    c2.echo("after");
    let stats = stop(&mut server);
    assert_eq!(stats.handler_panics, 1);
    assert_eq!(stats.requests, 2, "a panicked call is not a served request");
    assert_eq!(stats.total_connections, 2);
}

/// A handler panic whose payload panics again when dropped is still one panic of the
/// handler's (the payload's `Drop` is its code): counted once in `handler_panics`, its
/// connection closed and counted as ended, and the server serving on. The server must not
/// let the second panic unwind through its own code (a connection thread, a worker's or a
/// loop's guard), nor count it as another handler panic.
fn handler_panic_whose_payload_panics_when_dropped<S: TestServer>() {
    let mut server = start::<S, _>(Echo::panicking_twice_on("boom"), ServerParams::default());
    let addr = server.local_addr();
    let mut c1 = Client::connect(addr);
    c1.echo("before");
    c1.send(b"boom\n");
    c1.expect_closed();
    await_stats(&server, "handler_panics, current_connections 0", |s| {
        s.handler_panics > 0 && s.current_connections == 0
    });

    let mut c2 = Client::connect(addr);
    c2.echo("after");
    let stats = stop(&mut server);
    assert_eq!(stats.handler_panics, 1, "{}: one handler panic", S::NAME);
    assert_eq!(stats.server_panics, 0, "{}: not the server's", S::NAME);
    assert_eq!(stats.requests, 2);
    assert_eq!(stats.total_connections, 2);
}

/// Every invalid builder value is an `InvalidParam` error naming the parameter; the
/// smallest valid values give a server that works.
fn bad_params<S: TestServer>() {
    let b = ServerParams::builder;
    let cases = [
        ("max_threads", b().max_threads(0).build()),
        (
            "thread_idle_time",
            b().thread_idle_time(Duration::ZERO).build(),
        ),
        (
            "keep_alive_timeout",
            b().keep_alive_timeout(Duration::ZERO).build(),
        ),
        ("read_timeout", b().read_timeout(Duration::ZERO).build()),
        ("write_timeout", b().write_timeout(Duration::ZERO).build()),
        ("max_connections", b().max_connections(0).build()),
        (
            "max_requests_per_connection",
            b().max_requests_per_connection(0).build(),
        ),
        ("backlog", b().backlog(0).build()),
        ("read_buffer_size", b().read_buffer_size(63).build()),
        (
            "read_buffer_size",
            b().read_buffer_size((16 << 20) + 1).build(),
        ),
        ("max_request_buffer", b().max_request_buffer(0).build()),
        ("max_output_buffer", b().max_output_buffer(1023).build()),
    ];
    for (name, result) in cases {
        let err = result.expect_err(name);
        assert!(err.is_invalid_param(), "{name}: {err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("`{name}`")),
            "{name}: message {msg:?}"
        );
    }

    // The smallest valid values are accepted and give a working server (one loop, so the
    // evented server's single connection slot is not split across loops).
    let params = b()
        .max_threads(1)
        .max_queued(0)
        .max_connections(1)
        .max_requests_per_connection(1)
        .backlog(1)
        .read_buffer_size(64)
        .max_request_buffer(1)
        .max_output_buffer(1024)
        .thread_idle_time(Duration::from_nanos(1))
        .build()
        .expect("smallest valid values");
    let mut server = start_with::<S, _>(Echo::new(), params, 1, 1);
    let mut c = Client::connect(server.local_addr());
    c.echo("a request longer than the 64-byte read buffer and the 1-byte request buffer");
    c.expect_closed();
    let stats = stop(&mut server);
    assert_eq!(stats.requests, 1);
}

/// Shutdown while a request is being served: the client still gets the whole response,
/// and shutdown returns.
fn shutdown_with_request_in_flight<S: TestServer>() {
    let (handler, started) = Slow::new(Duration::from_millis(300));
    let mut server = start::<S, _>(handler, ServerParams::default());
    let addr = server.local_addr();
    let client = thread::spawn(move || {
        let mut c = Client::connect(addr);
        let reply = c.roundtrip("work");
        c.expect_closed();
        reply
    });
    assert!(
        tests::wait_until(PATIENCE, || started.load(Ordering::SeqCst) == 1),
        "the slow request never started"
    );
    let stats = stop(&mut server);
    assert_eq!(client.join().expect("client thread"), "done work\n");
    assert_eq!(stats.requests, 1);
    assert_eq!(stats.current_connections, 0);
}

/// Run `server.shutdown(60 s)` on a thread and insist that it return well before that
/// deadline (within `PATIENCE`): with nothing in flight it must not wait for the deadline.
fn shutdown_promptly<S: TestServer + 'static>(server: S) -> net::Stats {
    shutdown_in_background(server, Duration::from_secs(60))
        .stats("with nothing in flight, waiting for its deadline,")
}

/// Shutdown of an idle server (acceptor blocked in accept, no connection) returns
/// promptly; so does shutdown of a server never started.
fn shutdown_idle<S: TestServer + 'static>() {
    let server = start::<S, _>(Echo::new(), ServerParams::default());
    let stats = shutdown_promptly(server);
    assert_eq!(stats.total_connections, 0);

    let never_started = S::bind_with(
        "127.0.0.1:0",
        Echo::new(),
        ServerParams::default(),
        S::options(2, 2),
    )
    .unwrap();
    shutdown_promptly(never_started);
}

/// Shutdown with idle keep-alive connections open closes them and returns promptly.
fn shutdown_with_idle_connections<S: TestServer + 'static>() {
    let server = start::<S, _>(Echo::new(), ServerParams::default());
    let addr = server.local_addr();
    let mut c1 = Client::connect(addr);
    c1.echo("one");
    let mut c2 = Client::connect(addr);
    c2.echo("two");
    let stats = shutdown_promptly(server);
    c1.expect_closed();
    c2.expect_closed();
    assert_eq!(stats.total_connections, 2);
    assert_eq!(stats.current_connections, 0);
}

/// Shutdown drains: an idle keep-alive connection closes at once, a request already begun
/// (part of a line buffered, in evnet's loop) is finished and answered as the
/// connection's last, and a client that never finishes its request holds the server only
/// until the shutdown deadline (well before its 30 s read timeout), when it is cut.
fn shutdown_finishes_a_begun_request_and_cuts_a_trickler_at_the_deadline<
    S: TestServer + 'static,
>() {
    let server = start::<S, _>(Echo::new(), ServerParams::default());
    let addr = server.local_addr();
    let mut idle = Client::connect(addr);
    idle.echo("idle");
    let mut begun = Client::connect(addr);
    begun.send(b"hal");
    let mut trickler = Client::connect(addr);
    trickler.send(b"never end");
    await_stats(&server, "three connections", |s| s.current_connections == 3);
    let stopping = shutdown_in_background(server, Duration::from_secs(3));
    // The drain has begun once the idle connection is closed.
    idle.expect_closed();
    begun.send(b"f\n");
    assert_eq!(begun.line(), "half\n");
    begun.expect_closed();
    trickler.expect_closed();
    let stats = stopping.stats("a trickler, past its deadline,");
    // Served: `idle` and `begun`; net also counts the trickler's handler call, which the
    // deadline cut (its handler reads the request; evnet's loop buffers it unserved).
    let served = if S::NAME == "net" { 3 } else { 2 };
    assert_eq!(stats.requests, served, "{}: {stats:?}", S::NAME);
    assert_eq!(stats.current_connections, 0, "{stats:?}");
}

/// Shutdown does not take its first request from a connection accepted before it: a
/// client that has connected but not yet sent anything when the drain begins is not idle
/// (a request lost on a fresh connection is one no client sends again). Within its
/// `first_request_grace` its request is served as the connection's last, while an idle
/// keep-alive connection closes at once; and a newcomer that stays silent is closed when
/// its grace ends (uncounted: the drain closed it, it did not time out), long before the
/// shutdown deadline.
fn shutdown_serves_the_first_request_of_a_connection_accepted_before_it<S: TestServer + 'static>() {
    // A grace longer than the test: the request comes within it, however slow the test.
    let params = ServerParams::builder()
        .first_request_grace(Duration::from_secs(60))
        .build()
        .unwrap();
    let server = start::<S, _>(Echo::new(), params);
    let addr = server.local_addr();
    let mut idle = Client::connect(addr);
    idle.echo("idle");
    let mut fresh = Client::connect(addr);
    await_stats(&server, "two connections", |s| s.current_connections == 2);
    let stopping = shutdown_in_background(server, Duration::from_secs(60));
    // The drain has begun once the idle connection is closed.
    idle.expect_closed();
    fresh.send(b"first\n");
    assert_eq!(fresh.line(), "first\n");
    fresh.expect_closed();
    let stats = stopping.stats("a request within its grace");
    assert_eq!(stats.requests, 2, "{}: {stats:?}", S::NAME);
    assert_eq!(stats.current_connections, 0, "{stats:?}");

    let params = ServerParams::builder()
        .first_request_grace(Duration::from_millis(300))
        .build()
        .unwrap();
    let server = start::<S, _>(Echo::new(), params);
    let mut silent = Client::connect(server.local_addr());
    await_stats(&server, "the silent one", |s| s.current_connections == 1);
    let stopping = shutdown_in_background(server, Duration::from_secs(60));
    silent.expect_closed();
    let stats = stopping.stats("a silent newcomer past its grace");
    assert_eq!(stats.current_connections, 0, "{stats:?}");
    assert_eq!(stats.timed_out, 0, "{}: {stats:?}", S::NAME);
}

/// A handler that notes when it starts serving, then reads a line; a client that never
/// ends its line keeps it stuck in that read (no `frame`, so the evented server hands the
/// first byte to a worker at once).
struct Stuck(Arc<AtomicUsize>);

impl Handler for Stuck {
    type Session = ();
    fn open(&self, _conn: &Connection) {}
    fn serve(&self, _: &mut (), conn: &mut Connection) -> io::Result<Action> {
        self.0.fetch_add(1, Ordering::SeqCst);
        let mut line = String::new();
        conn.read_line(&mut line)?;
        Ok(Action::Close)
    }
}

/// A request still in flight when the shutdown deadline passes is cut off: its socket is
/// closed (waking the handler blocked reading it) and shutdown returns, long before the
/// 30 s read timeout.
fn shutdown_deadline_cuts_a_stuck_request<S: TestServer + 'static>() {
    let started = Arc::new(AtomicUsize::new(0));
    let server = start::<S, _>(Stuck(Arc::clone(&started)), ServerParams::default());
    let mut c = Client::connect(server.local_addr());
    c.send(b"never ends");
    assert!(
        tests::wait_until(PATIENCE, || started.load(Ordering::SeqCst) == 1),
        "the handler was never called"
    );
    shutdown_in_background(server, Duration::from_millis(200))
        .stats("the stuck request, not cut at its deadline,");
    c.expect_closed();
}

/// A request that stops half-way is closed after `read_timeout` and counted in
/// `timed_out` as a read timeout (the keep-alive timeout, much longer here, does not
/// apply to it).
fn read_timeout_mid_request<S: TestServer>() {
    let params = ServerParams::builder()
        .read_timeout(Duration::from_millis(300))
        .keep_alive_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut server = start::<S, _>(Echo::new(), params);
    let mut c = Client::connect(server.local_addr());
    c.echo("a whole line first");
    c.send(b"half a li");
    c.expect_closed();
    await_stats(&server, "timed_out 1, current_connections 0", |s| {
        s.timed_out == 1 && s.current_connections == 0
    });
    // Other connections are unaffected.
    let mut c2 = Client::connect(server.local_addr());
    c2.echo("fine");
    let stats = stop(&mut server);
    assert_eq!(stats.timed_out, 1);
    assert_timeouts(&stats, [0, 1, 0, 0]);
}

/// A handler that fails with a `TimedOut` error of its own (a backend's, say: no deadline
/// of the connection expired) closes its connection, counted in `timed_out` as the
/// handler's timeout, after answering the line before it.
fn a_handlers_own_timeout_is_counted_as_its_own<S: TestServer>() {
    let backend = net::handler_fn(|conn| {
        let mut line = String::new();
        if conn.read_line(&mut line)? == 0 {
            return Ok(Action::Close);
        }
        if line == "backend\n" {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the backend did not answer",
            ));
        }
        io::Write::write_all(conn, line.as_bytes())?;
        Ok(Action::KeepAlive)
    })
    .framed_by(tests::line_frame);
    let mut server = start::<S, _>(backend, ServerParams::default());
    let mut c = Client::connect(server.local_addr());
    c.echo("fine");
    c.send(b"backend\n");
    c.expect_closed();
    await_stats(&server, "timed_out 1, current_connections 0", |s| {
        s.timed_out == 1 && s.current_connections == 0
    });
    let stats = stop(&mut server);
    assert_timeouts(&stats, [0, 0, 0, 1]);
}

/// A request much larger than the read buffer and the evented request buffer, answered
/// by a response larger than the socket buffers, then a normal request on the same
/// connection.
fn large_request_and_response<S: TestServer>() {
    let mut server = start::<S, _>(Echo::new(), ServerParams::default());
    let mut c = Client::connect(server.local_addr());
    let big: String = (0..300_000u32)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let sender = {
        let mut writer = c.writer();
        let line = format!("{big}\n");
        thread::spawn(move || std::io::Write::write_all(&mut writer, line.as_bytes()))
    };
    let reply = c.line();
    sender.join().unwrap().expect("send the large request");
    assert_eq!(reply.len(), big.len() + 1);
    assert!(reply == format!("{big}\n"), "the large reply differs");
    c.echo("small after large");
    stop(&mut server);
}

/// A closure filter rejects a connection by its peer address (here its port) before it
/// is counted, and lets the others through.
fn filter_by_address<S: TestServer>() {
    let blocked: Arc<Mutex<Option<u16>>> = Arc::default();
    let seen: Arc<Mutex<Vec<SocketAddr>>> = Arc::default();
    let filter = {
        let (blocked, seen) = (Arc::clone(&blocked), Arc::clone(&seen));
        move |peer: &SocketAddr| {
            seen.lock().unwrap().push(*peer);
            Some(peer.port()) != *blocked.lock().unwrap()
        }
    };
    let params = ServerParams::builder().filter(filter).build().unwrap();
    // Bound but not started: both clients wait in the backlog, so the blocked port is
    // known before the filter first runs.
    let mut server = S::bind_with("127.0.0.1:0", Echo::new(), params, S::options(2, 2)).unwrap();
    let addr = server.local_addr();
    let mut rejected = Client::connect(addr);
    let mut accepted = Client::connect(addr);
    *blocked.lock().unwrap() = Some(rejected.local_addr().port());
    server.start().unwrap();

    rejected.expect_closed();
    accepted.echo("let through");
    {
        let seen = seen.lock().unwrap();
        assert!(seen.contains(&rejected.local_addr()), "{seen:?}");
        assert!(seen.contains(&accepted.local_addr()), "{seen:?}");
    }
    let stats = stop(&mut server);
    assert_eq!(stats.total_connections, 1);
    assert_eq!(stats.refused_connections, 0);
}

/// `start` twice is a state error; so is `start` after shutdown.
fn start_twice<S: TestServer>() {
    let mut server = start::<S, _>(Echo::new(), ServerParams::default());
    let err = server.start().expect_err("second start");
    assert!(err.is_state(), "{err:?}");
    let mut c = Client::connect(server.local_addr());
    c.echo("still running");
    drop(c);
    stop(&mut server);
    let err = server.start().expect_err("start after shutdown");
    assert!(err.is_state(), "{err:?}");
    // Shutdown again gives the same final statistics.
    let again = server.shutdown(Duration::from_secs(1)).unwrap();
    assert_eq!(again.total_connections, 1);
}

/// A session lives across the requests of one connection and is separate per connection.
fn session_state<S: TestServer>() {
    let mut server = start::<S, _>(Counter, ServerParams::default());
    let addr = server.local_addr();
    let mut c1 = Client::connect(addr);
    let mut c2 = Client::connect(addr);
    assert_eq!(c1.roundtrip("x"), "1\n");
    assert_eq!(c1.roundtrip("x"), "2\n");
    assert_eq!(c2.roundtrip("x"), "1\n");
    assert_eq!(c1.roundtrip("x"), "3\n");
    assert_eq!(c2.roundtrip("x"), "2\n");
    // Pipelined requests share the session too.
    c2.send(b"x\nx\n");
    assert_eq!(c2.line(), "3\n");
    assert_eq!(c2.line(), "4\n");
    let mut c3 = Client::connect(addr);
    assert_eq!(c3.roundtrip("x"), "1\n");
    stop(&mut server);
}

/// Dropping a running server shuts it down: open connections are closed and new ones are
/// refused or closed at once.
fn drop_shuts_down<S: TestServer>() {
    let server = start::<S, _>(Echo::new(), ServerParams::default());
    let addr = server.local_addr();
    let mut c = Client::connect(addr);
    c.echo("hello");
    drop(server);
    c.expect_closed();
    if let Ok(stream) = TcpStream::connect(addr) {
        stream
            .set_read_timeout(Some(tests::CLIENT_TIMEOUT))
            .unwrap();
        let mut buf = [0u8; 16];
        match std::io::Read::read(&mut &stream, &mut buf) {
            Ok(0) => {}
            Err(e) if tests::is_reset(&e) => {}
            other => panic!("a connection after drop was answered: {other:?}"),
        }
    }
}

/// `requests`, `total_connections` and `max_concurrent_connections` over several
/// connections open at once.
fn stats_count_requests<S: TestServer>() {
    let mut server = start::<S, _>(Echo::new(), ServerParams::default());
    let addr = server.local_addr();
    let mut clients: Vec<Client> = (0..3).map(|_| Client::connect(addr)).collect();
    for round in 0..4 {
        for c in &mut clients {
            c.echo(&format!("round {round}"));
        }
    }
    let stats = await_stats(&server, "requests 12", |s| s.requests == 12);
    assert_eq!(stats.total_connections, 3);
    assert_eq!(stats.current_connections, 3);
    assert_eq!(stats.max_concurrent_connections, 3);
    drop(clients);
    await_stats(&server, "current_connections 0", |s| {
        s.current_connections == 0
    });
    let stats = stop(&mut server);
    assert_eq!(stats.requests, 12);
    assert_eq!(stats.handler_panics, 0);
    assert_eq!(stats.timed_out, 0);
    assert_eq!(stats.refused_connections, 0);
}

tests::server_tests!(
    keep_alive,
    pipelining,
    split_request,
    keep_alive_timeout,
    a_handlers_own_timeout_is_counted_as_its_own,
    max_requests_per_connection,
    refusal_when_full,
    handler_panic,
    handler_panic_whose_payload_panics_when_dropped,
    bad_params,
    shutdown_with_request_in_flight,
    shutdown_idle,
    shutdown_with_idle_connections,
    shutdown_finishes_a_begun_request_and_cuts_a_trickler_at_the_deadline,
    shutdown_serves_the_first_request_of_a_connection_accepted_before_it,
    filter_by_address,
    start_twice,
    session_state,
    drop_shuts_down,
    stats_count_requests,
    shutdown_deadline_cuts_a_stuck_request,
    read_timeout_mid_request,
    large_request_and_response,
);
