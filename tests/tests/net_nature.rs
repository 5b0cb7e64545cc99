//! The blocking server's own nature, which the evented server does not share: a thread per
//! connection grown up to `max_threads`, a bounded queue of accepted connections
//! (`max_queued`) with refusal when it is full, and idle extra threads that exit after
//! `thread_idle_time` while the last one stays.

use std::thread;
use std::time::Duration;

use net::{Server, ServerParams, TcpServer};
use tests::{await_counts, await_stats, counts, start, stop, Client, Echo};

fn start_echo(params: ServerParams) -> TcpServer {
    start::<TcpServer, _>(Echo::new(), params)
}

/// max_threads 1, max_queued 1: one connection served, one queued, the next refused.
#[test]
fn queue_full_refusal() {
    let params = ServerParams::builder()
        .max_threads(1)
        .max_queued(1)
        .build()
        .unwrap();
    let mut server = start_echo(params);
    let addr = server.local_addr();

    let mut c1 = Client::connect(addr);
    c1.echo("served");
    await_counts(&server, counts(1, 1, 0, 1));
    let mut c2 = Client::connect(addr);
    c2.send(b"queued\n");
    await_counts(&server, counts(1, 1, 1, 1));

    let mut c3 = Client::connect(addr);
    c3.expect_closed();
    await_stats(&server, "refused_connections 1", |s| {
        s.refused_connections == 1
    });
    assert_eq!(tests::Counts::of(&server.stats()), counts(1, 1, 1, 1));

    // The thread, freed, takes the queued connection.
    drop(c1);
    assert_eq!(c2.line(), "queued\n");
    await_counts(&server, counts(1, 1, 0, 2));
    c2.echo("still served");

    let stats = stop(&mut server);
    assert_eq!(stats.refused_connections, 1);
    assert_eq!(stats.total_connections, 2);
}

/// `current_threads` follows the connections up to `max_threads`; beyond, connections
/// queue; a freed thread is reused rather than a new one created.
#[test]
fn thread_per_connection() {
    let params = ServerParams::builder()
        .max_threads(3)
        .max_queued(4)
        .build()
        .unwrap();
    let mut server = start_echo(params);
    let addr = server.local_addr();

    let mut clients = Vec::new();
    for i in 1..=3 {
        let mut c = Client::connect(addr);
        c.echo("hello");
        await_counts(&server, counts(i, i, 0, i as u64));
        clients.push(c);
    }
    let mut c4 = Client::connect(addr);
    c4.send(b"fourth\n");
    await_counts(&server, counts(3, 3, 1, 3));

    // Closing one hands its thread to the queued connection: no new thread.
    drop(clients.remove(0));
    assert_eq!(c4.line(), "fourth\n");
    await_counts(&server, counts(3, 3, 0, 4));

    // A connection arriving while a thread idles (the default idle time is long) reuses
    // it; the thread count never passes max_threads.
    drop(clients.remove(0));
    await_stats(&server, "current_connections 2", |s| {
        s.current_connections == 2
    });
    let mut c5 = Client::connect(addr);
    c5.echo("fifth");
    await_counts(&server, counts(3, 3, 0, 5));
    assert_eq!(server.stats().max_concurrent_connections, 3);
    stop(&mut server);
}

/// An idle extra thread exits after `thread_idle_time`; the last thread stays and serves
/// the next connection.
#[test]
fn idle_threads_exit_but_the_last() {
    let idle = Duration::from_millis(100);
    let params = ServerParams::builder()
        .max_threads(4)
        .thread_idle_time(idle)
        .build()
        .unwrap();
    let mut server = start_echo(params);
    let addr = server.local_addr();

    let mut clients: Vec<Client> = (0..3).map(|_| Client::connect(addr)).collect();
    for c in &mut clients {
        c.echo("hello");
    }
    await_counts(&server, counts(3, 3, 0, 3));
    drop(clients);
    await_counts(&server, counts(0, 1, 0, 3));

    // Several idle times later the last thread is still there. This sleep synchronises
    // nothing: it only leaves time for a wrong exit to happen.
    thread::sleep(idle * 5);
    assert_eq!(server.stats().current_threads, 1);
    let mut c = Client::connect(addr);
    c.echo("served by the last thread");
    await_counts(&server, counts(1, 1, 0, 4));
    stop(&mut server);
}

/// max_queued 0: connections are served while threads are free, refused once none is.
#[test]
fn max_queued_zero_serves_while_threads_are_free() {
    let params = ServerParams::builder()
        .max_threads(2)
        .max_queued(0)
        .build()
        .unwrap();
    let mut server = start_echo(params);
    let addr = server.local_addr();

    let mut c1 = Client::connect(addr);
    c1.echo("one");
    let mut c2 = Client::connect(addr);
    c2.echo("two");
    await_counts(&server, counts(2, 2, 0, 2));

    let mut c3 = Client::connect(addr);
    c3.expect_closed();
    await_stats(&server, "refused_connections 1", |s| {
        s.refused_connections == 1
    });
    c1.echo("one again");
    c2.echo("two again");
    let stats = stop(&mut server);
    assert_eq!(stats.total_connections, 2);
    assert_eq!(stats.refused_connections, 1);
}

/// Shutdown closes connections still waiting in the queue (they are never served) and
/// returns; the connection being served is idle and closed too.
///
/// `total_connections` stays 1 however the threads are scheduled: c1's thread can finish
/// c1 only after shutdown began (it is woken by shutdown, or it sees the stop flag after
/// answering "served"), and a thread freed then exits without taking c2 or c3 from the
/// queue (see `net::tcp_server::tests::shutdown_begins_no_queued_connection`).
#[test]
fn shutdown_closes_queued_connections() {
    let params = ServerParams::builder()
        .max_threads(1)
        .max_queued(2)
        .build()
        .unwrap();
    let mut server = start_echo(params);
    let addr = server.local_addr();
    let mut c1 = Client::connect(addr);
    c1.echo("served");
    let mut c2 = Client::connect(addr);
    c2.send(b"queued\n");
    let mut c3 = Client::connect(addr);
    await_counts(&server, counts(1, 1, 2, 1));

    let stats = stop(&mut server);
    c1.expect_closed();
    c2.expect_closed();
    c3.expect_closed();
    assert_eq!(stats.total_connections, 1, "queued connections were served");
    assert_eq!(stats.current_connections, 0);
    assert_eq!(stats.queued_connections, 0);
}

/// A connection whose thread is still in the handler's `open` when shutdown begins has not
/// begun its first request: it keeps its grace (it is not taken for one that has given
/// up waiting), and the request its client sends meanwhile is served as its last. (An
/// evented server runs `open` on its loop, which then cannot begin a drain at all.)
#[test]
fn a_connection_still_opening_when_shutdown_begins_is_served_its_first_request() {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;
    use tests::gate::Gates;

    /// An echo whose second connection's `open` waits at the gate "open".
    struct SlowOpen {
        gates: Arc<Gates>,
        opened: AtomicUsize,
        echo: Echo,
    }
    impl net::Handler for SlowOpen {
        type Session = ();
        fn open(&self, _: &net::Connection) {
            if self.opened.fetch_add(1, SeqCst) == 1 {
                self.gates.wait("open");
            }
        }
        fn serve(&self, _: &mut (), conn: &mut net::Connection) -> std::io::Result<net::Action> {
            self.echo.serve(&mut (), conn)
        }
    }

    let gates = Arc::new(Gates::default());
    let handler = SlowOpen {
        gates: Arc::clone(&gates),
        opened: AtomicUsize::new(0),
        echo: Echo::new(),
    };
    let params = ServerParams::builder()
        .first_request_grace(Duration::from_secs(60))
        .build()
        .unwrap();
    let server = start::<TcpServer, _>(handler, params);
    let addr = server.local_addr();
    let mut idle = Client::connect(addr);
    idle.echo("idle");
    let mut opening = Client::connect(addr);
    assert!(tests::wait_until(tests::PATIENCE, || gates.waiting() == 1));
    let stopping = tests::shutdown_in_background(server, Duration::from_secs(60));
    // The drain has begun once the idle connection is closed; the other is still in
    // `open`, its request sent meanwhile.
    idle.expect_closed();
    opening.send(b"first\n");
    thread::sleep(Duration::from_millis(50));
    gates.open("open");
    assert_eq!(opening.line(), "first\n");
    opening.expect_closed();
    let stats = stopping.stats("a request sent while `open` ran");
    assert_eq!(stats.requests, 2, "{stats:?}");
}
