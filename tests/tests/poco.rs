//! Ports of Poco's `TCPServerTest` (Net/testsuite/src/TCPServerTest.cpp): an echo server,
//! connections opened and closed step by step, and Poco's four counters checked after
//! each step (`current_connections / current_threads / queued_connections /
//! total_connections`).
//!
//! Which values hold for which server, and why:
//!
//! - `net::TcpServer` has Poco's semantics: a thread per connection, created lazily up to
//!   `max_threads` (`current_threads` counts them, idle ones included, and an extra thread
//!   exits after `thread_idle_time`, the last one stays), and a queue of accepted
//!   connections waiting for a thread (`queued_connections`, not included in
//!   `current_connections`). Every value of Poco's test holds as written, except that Poco
//!   sleeps a fixed time before each check where these tests wait until the value holds.
//! - `evnet::EvServer` has a fixed set of threads, started with the server: `loops` event
//!   loops plus `workers` workers (here 2 + 2), so `current_threads` is 4 from start to
//!   shutdown whatever the connections, and `max_threads` reports the same 4.
//!   `queued_connections` counts *requests* waiting for a worker, 0 between requests. It
//!   has no per-connection thread and no queue of connections: every accepted connection is
//!   served at once, so the queueing steps of `multi_connections` do not apply; instead
//!   all six clients must be served concurrently (`current_connections` 6).
//!   `current_connections` and `total_connections` mean the same in both servers.

use std::time::Duration;

use net::{RejectAll, ServerParams};
use tests::{await_counts, await_stats, counts, start_with, stop, Client, Echo, TestServer};

/// Event loops and workers given to the evented server.
const LOOPS: usize = 2;
const WORKERS: usize = 2;

/// The `current_threads` expected: `net_threads` for `net`, the fixed count when evented.
fn threads<S: TestServer>(net_threads: usize) -> usize {
    if S::EVENTED {
        S::fixed_threads(LOOPS, WORKERS)
    } else {
        net_threads
    }
}

fn start_echo<S: TestServer>(params: ServerParams) -> S {
    start_with::<S, _>(Echo::new(), params, LOOPS, WORKERS)
}

/// Poco: testOneConnection.
fn one_connection<S: TestServer>() {
    let mut server = start_echo::<S>(ServerParams::default());
    await_counts(&server, counts(0, threads::<S>(0), 0, 0));

    let mut c1 = Client::connect(server.local_addr());
    c1.echo("hello, world");
    await_counts(&server, counts(1, threads::<S>(1), 0, 1));

    drop(c1);
    await_stats(&server, "current_connections 0", |s| {
        s.current_connections == 0
    });
    stop(&mut server);
}

/// Poco: testTwoConnections (with a short thread idle time so that `net`'s extra thread
/// exits soon after its connection closes).
fn two_connections<S: TestServer>() {
    let params = ServerParams::builder()
        .thread_idle_time(Duration::from_millis(100))
        .build()
        .unwrap();
    let mut server = start_echo::<S>(params);
    await_counts(&server, counts(0, threads::<S>(0), 0, 0));

    let mut c1 = Client::connect(server.local_addr());
    c1.echo("hello, world");
    await_counts(&server, counts(1, threads::<S>(1), 0, 1));
    let mut c2 = Client::connect(server.local_addr());
    c2.echo("hello, world");
    await_counts(&server, counts(2, threads::<S>(2), 0, 2));

    drop(c1);
    await_counts(&server, counts(1, threads::<S>(1), 0, 2));
    c2.echo("still here");

    drop(c2);
    await_stats(&server, "current_connections 0", |s| {
        s.current_connections == 0
    });
    stop(&mut server);
}

/// Poco: testMultiConnections (max_threads 4, max_queued 4, thread_idle_time 100 ms).
fn multi_connections<S: TestServer>() {
    let params = ServerParams::builder()
        .max_threads(4)
        .max_queued(4)
        .thread_idle_time(Duration::from_millis(100))
        .build()
        .unwrap();
    let mut server = start_echo::<S>(params);
    let addr = server.local_addr();

    let mut clients = Vec::new();
    for i in 1..=4 {
        let mut c = Client::connect(addr);
        c.echo("hello, world");
        await_counts(&server, counts(i, threads::<S>(i), 0, i as u64));
        clients.push(c);
    }
    let [mut c1, mut c2, mut c3, mut c4]: [Client; 4] = clients.try_into().unwrap();

    if S::EVENTED {
        // No thread per connection and no connection queue: the 5th and 6th are served at
        // once, all six concurrently, by the same fixed threads.
        let mut c5 = Client::connect(addr);
        c5.echo("five");
        let mut c6 = Client::connect(addr);
        c6.echo("six");
        await_counts(&server, counts(6, threads::<S>(0), 0, 6));
        for c in [&mut c1, &mut c2, &mut c3, &mut c4, &mut c5, &mut c6] {
            c.echo("all at once");
        }
        drop((c1, c2, c3, c4, c5, c6));
        await_stats(&server, "current_connections 0", |s| {
            s.current_connections == 0
        });
        stop(&mut server);
        return;
    }

    // net: every thread is busy, so the 5th and 6th wait in the queue.
    let mut c5 = Client::connect(addr);
    c5.send(b"five\n");
    await_counts(&server, counts(4, 4, 1, 4));
    let mut c6 = Client::connect(addr);
    c6.send(b"six\n");
    await_counts(&server, counts(4, 4, 2, 4));

    // Closing c1 frees its thread, which takes c5 from the queue.
    drop(c1);
    await_counts(&server, counts(4, 4, 1, 5));
    assert_eq!(c5.line(), "five\n");

    drop(c2);
    await_counts(&server, counts(4, 4, 0, 6));
    assert_eq!(c6.line(), "six\n");

    // No more queued work: a freed thread exits after thread_idle_time.
    drop(c3);
    await_counts(&server, counts(3, 3, 0, 6));
    drop(c4);
    await_counts(&server, counts(2, 2, 0, 6));

    c5.echo("still served");
    c6.echo("still served");
    drop((c5, c6));
    await_stats(&server, "current_connections 0", |s| {
        s.current_connections == 0
    });
    stop(&mut server);
}

/// Poco: testThreadCapacity (max_threads 64 is what the server reports).
fn thread_capacity<S: TestServer>() {
    let params = ServerParams::builder().max_threads(64).build().unwrap();
    let mut server = start_echo::<S>(params);
    let want = if S::EVENTED {
        S::fixed_threads(LOOPS, WORKERS)
    } else {
        64
    };
    assert_eq!(server.stats().max_threads, want, "{}", S::NAME);
    stop(&mut server);
}

/// Poco: testFilter (a filter rejecting every connection: closed unseen, nothing counted).
fn filter<S: TestServer>() {
    let params = ServerParams::builder().filter(RejectAll).build().unwrap();
    let mut server = start_echo::<S>(params);
    await_counts(&server, counts(0, threads::<S>(0), 0, 0));

    let mut c1 = Client::connect(server.local_addr());
    c1.expect_closed();
    // The server has handled the connection (it closed it): nothing was counted.
    let stats = server.stats();
    assert_eq!(tests::Counts::of(&stats), counts(0, threads::<S>(0), 0, 0));
    assert_eq!(stats.refused_connections, 0);
    assert_eq!(stats.requests, 0);
    assert_eq!(stats.max_concurrent_connections, 0);
    stop(&mut server);
}

tests::server_tests!(
    one_connection,
    two_connections,
    multi_connections,
    thread_capacity,
    filter,
);
