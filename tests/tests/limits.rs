//! Per-client limits (issue 18, part 5), on every server: connections per client address
//! (the peer's, or the one a PROXY header names), the maximum age of a connection, the
//! accept rate, and giving up idle connections at `max_connections`. Each limit closes or
//! delays only the client over it, counts it, and leaves the others served.
//!
//! No timing assertion: outcomes and counters, each awaited within a bound.

use std::io::BufReader;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use examples::http::HttpHandler;
use net::{Server as _, ServerParams};
use tests::{
    await_stats, read_http_response, server_tests, start_with, stop, Client, Echo, LastFlag,
    TestServer, WhoAmI,
};

/// Another client on this machine: a second loopback address.
const OTHER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// Start `S` with one event loop (so that evnet's loop has all of `max_connections`) and
/// two workers.
fn serve<S: TestServer, H: net::Handler>(handler: H, params: ServerParams) -> S {
    start_with::<S, _>(handler, params, 1, 2)
}

// ----- connections per client ------------------------------------------------------------

/// With a limit of 2, a client's third connection is closed unanswered and counted
/// (never served: `total_connections` does not count it), while its first two and
/// another client's go on; once one of its connections ends it may open another.
fn a_client_over_its_limit_is_closed_and_the_others_go_on<S: TestServer>() {
    let params = ServerParams::builder()
        .max_connections_per_client(2)
        .build()
        .unwrap();
    let mut server = serve::<S, _>(Echo::new(), params);
    let addr = server.local_addr();
    let mut a1 = Client::connect(addr);
    a1.echo("a1");
    let mut a2 = Client::connect(addr);
    a2.echo("a2");
    let mut a3 = Client::connect(addr);
    a3.expect_closed();
    let stats = await_stats(&server, "the third counted", |s| s.client_limited == 1);
    assert_eq!(stats.total_connections, 2, "{}: {stats:?}", S::NAME);

    a1.echo("a1 again");
    a2.echo("a2 again");
    let mut b1 = Client::connect_from(addr, OTHER);
    b1.echo("b1");
    let mut b2 = Client::connect_from(addr, OTHER);
    b2.echo("b2");
    let mut b3 = Client::connect_from(addr, OTHER);
    b3.expect_closed();
    await_stats(&server, "b's third counted", |s| s.client_limited == 2);

    drop(a1);
    await_stats(&server, "a1's end", |s| s.current_connections == 3);
    let mut a4 = Client::connect(addr);
    a4.echo("a4 takes a1's place");
    a2.echo("a2 still");
    b1.echo("b1 still");
    drop((a2, a4, b1, b2));
    let stats = stop(&mut server);
    assert_eq!(stats.client_limited, 2, "{}: {stats:?}", S::NAME);
    assert_eq!(stats.refused_connections, 0, "{}: {stats:?}", S::NAME);
    assert_eq!(stats.total_connections, 5, "{}: {stats:?}", S::NAME);
}

/// A PROXY protocol version 2 header (`PROXY`, TCP over IPv4) from `src` to
/// 198.51.100.7:443.
fn v2_header(src: [u8; 4], port: u16) -> Vec<u8> {
    let mut bytes = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    bytes.extend_from_slice(&[0x21, 0x11, 0, 12]);
    bytes.extend_from_slice(&src);
    bytes.extend_from_slice(&[198, 51, 100, 7]);
    bytes.extend_from_slice(&port.to_be_bytes());
    bytes.extend_from_slice(&443u16.to_be_bytes());
    bytes
}

/// Behind a balancer (all connections from 127.0.0.1) the limit applies to the clients
/// the PROXY headers name: with a limit of 1, 192.0.2.1 and 192.0.2.2 each have one
/// connection served, a second one of 192.0.2.1 (by a version 2 header, then by a
/// version 1 header) is closed and counted, and the first two go on.
fn behind_a_balancer_each_real_client_has_its_own_limit<S: TestServer>() {
    let params = ServerParams::builder()
        .proxy_protocol(true)
        .max_connections_per_client(1)
        .build()
        .unwrap();
    let mut server = serve::<S, _>(WhoAmI, params);
    let addr = server.local_addr();
    let mut x = Client::connect(addr);
    x.send(b"PROXY TCP4 192.0.2.1 198.51.100.7 1000 443\r\n");
    assert!(x.roundtrip("who").starts_with("peer=192.0.2.1:1000 "));
    let mut y = Client::connect(addr);
    y.send(&v2_header([192, 0, 2, 2], 2000));
    assert!(y.roundtrip("who").starts_with("peer=192.0.2.2:2000 "));

    let mut x2 = Client::connect(addr);
    x2.send(&v2_header([192, 0, 2, 1], 3000));
    x2.expect_closed();
    let mut x3 = Client::connect(addr);
    x3.send(b"PROXY TCP4 192.0.2.1 198.51.100.7 4000 443\r\n");
    x3.expect_closed();
    await_stats(&server, "both counted", |s| s.client_limited == 2);

    assert!(x.roundtrip("who").starts_with("peer=192.0.2.1:1000 "));
    assert!(y.roundtrip("who").starts_with("peer=192.0.2.2:2000 "));
    drop(x);
    await_stats(&server, "x's end", |s| s.current_connections == 1);
    let mut x4 = Client::connect(addr);
    x4.send(&v2_header([192, 0, 2, 1], 5000));
    assert!(x4.roundtrip("who").starts_with("peer=192.0.2.1:5000 "));
    drop((x4, y));
    let stats = stop(&mut server);
    assert_eq!(stats.client_limited, 2, "{}: {stats:?}", S::NAME);
    assert_eq!(stats.proxy_header_failures, 0, "{}: {stats:?}", S::NAME);
    assert_eq!(stats.requests, 5, "{}: {stats:?}", S::NAME);
}

/// However a connection ends (its client closes, its handler panics, its keep-alive
/// timeout), its client's place is given back: with a limit of 1 the next connection is
/// served each time; and never given back twice: a second connection beside an open one
/// is still refused at the end.
fn every_end_of_a_connection_gives_its_place_back<S: TestServer>() {
    let params = ServerParams::builder()
        .max_connections_per_client(1)
        .keep_alive_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let mut server = serve::<S, _>(Echo::panicking_on("boom"), params);
    let addr = server.local_addr();
    let closed = |server: &S| {
        await_stats(server, "the connection's end", |s| {
            s.current_connections == 0
        });
    };
    let mut refused = 0;
    let mut refuse_one_more = |server: &S| {
        let mut extra = Client::connect(addr);
        extra.expect_closed();
        refused += 1;
        await_stats(server, "the extra one counted", |s| {
            s.client_limited == refused
        });
    };

    // The client closes.
    let mut c = Client::connect(addr);
    c.echo("one");
    refuse_one_more(&server);
    drop(c);
    closed(&server);
    // The handler panics.
    let mut c = Client::connect(addr);
    c.echo("two");
    refuse_one_more(&server);
    c.send(b"boom\n");
    c.expect_closed();
    closed(&server);
    // The keep-alive timeout.
    let mut c = Client::connect(addr);
    c.echo("three");
    c.expect_closed();
    closed(&server);
    // Still exactly one place.
    let mut c = Client::connect(addr);
    c.echo("four");
    refuse_one_more(&server);
    c.echo("four again");
    drop(c);
    let stats = stop(&mut server);
    assert_eq!(stats.client_limited, 3, "{}: {stats:?}", S::NAME);
    assert_eq!(stats.handler_panics, 1, "{}: {stats:?}", S::NAME);
    assert_eq!(stats.timed_out_idle, 1, "{}: {stats:?}", S::NAME);
    assert_eq!(stats.total_connections, 4, "{}: {stats:?}", S::NAME);
}

// ----- connection age ----------------------------------------------------------------------

/// Requests pipelined on one connection, each taking 150 ms, past its age of 1 s: the
/// first one begun past that age is served as the connection's last (`is_last_request`),
/// the connection closes after its response, and the rest are not served.
fn a_request_begun_past_the_connections_age_is_its_last<S: TestServer>() {
    let params = ServerParams::builder()
        .max_connection_age(Duration::from_secs(1))
        .keep_alive_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut server = serve::<S, _>(LastFlag, params);
    let mut c = Client::connect(server.local_addr());
    let burst: String = (0..20).map(|i| format!("sleep 150 #{i}\n")).collect();
    c.send(burst.as_bytes());
    let mut answers = Vec::new();
    loop {
        let line = c.line();
        let last = line.ends_with(" last=true\n");
        assert!(
            last || line.ends_with(" last=false\n"),
            "{}: {line:?}",
            S::NAME
        );
        answers.push(line);
        if last {
            break;
        }
        assert!(answers.len() < 20, "{}: none was the last", S::NAME);
    }
    c.expect_closed();
    let stats = await_stats(&server, "the connection's end", |s| {
        s.current_connections == 0
    });
    assert_eq!(stats.aged_out, 1, "{}: {stats:?}", S::NAME);
    assert_eq!(stats.timed_out, 0, "{}: {stats:?}", S::NAME);
    assert_eq!(
        stats.requests,
        answers.len() as u64,
        "{}: {stats:?}",
        S::NAME
    );
    stop(&mut server);
}

/// The HTTP example handler says so: the response to the request begun past the age
/// carries `Connection: close`, and the connection closes after it.
fn an_http_request_past_the_age_is_answered_with_close<S: TestServer>() {
    let params = ServerParams::builder()
        .max_connection_age(Duration::from_secs(1))
        .keep_alive_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut server = serve::<S, _>(HttpHandler::new(), params);
    let mut c = Client::connect(server.local_addr());
    let request = "GET /work?ms=150 HTTP/1.1\r\nHost: t\r\n\r\n";
    c.send(request.repeat(20).as_bytes());
    let mut reader = BufReader::new(c.writer());
    let mut served = 0;
    loop {
        let response = read_http_response(&mut reader)
            .unwrap_or_else(|e| panic!("{}: response {served}: {e}", S::NAME));
        assert_eq!(response.status, 200);
        served += 1;
        if response.header("connection") == Some("close") {
            break;
        }
        assert!(served < 20, "{}: no response said close", S::NAME);
    }
    let mut rest = Vec::new();
    let n = std::io::Read::read_to_end(&mut reader, &mut rest);
    assert!(
        matches!(n, Ok(0)) || n.as_ref().is_err_and(tests::is_reset),
        "{}: after close: {n:?} {rest:?}",
        S::NAME
    );
    let stats = await_stats(&server, "aged out", |s| s.aged_out == 1);
    assert_eq!(stats.requests, served, "{}: {stats:?}", S::NAME);
    stop(&mut server);
}

/// A connection idle when it reaches its age (300 ms, its keep-alive timeout 30 s) is
/// closed then, counted as aged out and not as timed out; a connection opened after it is
/// served.
fn an_idle_connection_is_closed_at_its_age<S: TestServer>() {
    let params = ServerParams::builder()
        .max_connection_age(Duration::from_millis(300))
        .keep_alive_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut server = serve::<S, _>(Echo::new(), params);
    let mut c = Client::connect(server.local_addr());
    c.echo("hello");
    c.expect_closed();
    let stats = await_stats(&server, "the close counted", |s| s.aged_out == 1);
    assert_eq!(stats.timed_out, 0, "{}: {stats:?}", S::NAME);
    let mut next = Client::connect(server.local_addr());
    next.echo("a new connection");
    drop(next);
    stop(&mut server);
}

// ----- accept rate -------------------------------------------------------------------------

/// At 2 accepts a second, a crowd of 8 connecting at once is served whole (none refused),
/// the acceptor pausing meanwhile (counted) while an open connection is served as usual.
fn above_the_accept_rate_newcomers_wait_and_all_are_served<S: TestServer>() {
    let params = ServerParams::builder().max_accept_rate(2).build().unwrap();
    let mut server = serve::<S, _>(Echo::new(), params);
    let addr = server.local_addr();
    let mut first = Client::connect(addr);
    first.echo("first");
    let mut crowd: Vec<Client> = (0..8).map(|_| Client::connect(addr)).collect();
    first.echo("served meanwhile");
    for (i, c) in crowd.iter_mut().enumerate() {
        c.echo(&format!("newcomer {i}"));
    }
    let stats = server.stats();
    assert!(stats.accept_pauses >= 1, "{}: {stats:?}", S::NAME);
    assert_eq!(stats.refused_connections, 0, "{}: {stats:?}", S::NAME);
    assert_eq!(stats.total_connections, 9, "{}: {stats:?}", S::NAME);
    drop((first, crowd));
    stop(&mut server);
}

// ----- idle connections at capacity ----------------------------------------------------------

/// `max_connections` 4 filled with idle keep-alive connections, opened one after the
/// other, the first three having made a request each (below the high-water mark).
fn fill_with_idle<S: TestServer>(server: &S) -> Vec<Client> {
    let addr = server.local_addr();
    let mut idle = Vec::new();
    for i in 0..4 {
        let mut c = Client::connect(addr);
        if i < 3 {
            c.echo(&format!("idle {i}"));
        }
        idle.push(c);
        await_stats(server, "the connection open", |s| {
            s.current_connections == i + 1
        });
    }
    idle
}

/// With `evict_idle_at_capacity`, a newcomer at `max_connections` is served: the
/// connection idle longest (the first) is closed for it and counted; the others are still
/// served.
fn at_capacity_the_longest_idle_connection_makes_room<S: TestServer>() {
    let params = ServerParams::builder()
        .max_connections(4)
        .evict_idle_at_capacity(true)
        .keep_alive_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut server = serve::<S, _>(Echo::new(), params);
    let mut idle = fill_with_idle(&server);
    let mut newcomer = Client::connect(server.local_addr());
    newcomer.echo("newcomer");
    idle[0].expect_closed();
    let stats = await_stats(&server, "the eviction counted", |s| s.evicted_idle == 1);
    assert_eq!(stats.refused_connections, 0, "{}: {stats:?}", S::NAME);
    for (i, c) in idle.iter_mut().enumerate().skip(1) {
        c.echo(&format!("still here {i}"));
    }
    drop((idle, newcomer));
    let stats = stop(&mut server);
    assert_eq!(stats.evicted_idle, 1, "{}: {stats:?}", S::NAME);
    assert_eq!(stats.refused_connections, 0, "{}: {stats:?}", S::NAME);
}

/// Without it (the default) the same newcomer is refused and the idle connections stay.
fn without_eviction_a_newcomer_at_capacity_is_refused<S: TestServer>() {
    let params = ServerParams::builder()
        .max_connections(4)
        .keep_alive_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut server = serve::<S, _>(Echo::new(), params);
    let mut idle = fill_with_idle(&server);
    let mut newcomer = Client::connect(server.local_addr());
    newcomer.expect_closed();
    await_stats(&server, "the refusal", |s| s.refused_connections == 1);
    idle[0].echo("the oldest is still here");
    drop(idle);
    let stats = stop(&mut server);
    assert_eq!(stats.evicted_idle, 0, "{}: {stats:?}", S::NAME);
    assert_eq!(stats.keep_alive_declined, 0, "{}: {stats:?}", S::NAME);
}

/// With 9 of 10 connections open every request keeps its connection alive; with 10 (over
/// the 90 % mark) a request is its connection's last, counted, and the connection closes
/// after it; below the mark again, keep-alive is granted again.
fn above_the_high_water_mark_no_connection_is_kept_alive<S: TestServer>() {
    let params = ServerParams::builder()
        .max_connections(10)
        .evict_idle_at_capacity(true)
        .keep_alive_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut server = serve::<S, _>(LastFlag, params);
    let addr = server.local_addr();
    let mut clients: Vec<Client> = (0..9)
        .map(|i| {
            let mut c = Client::connect(addr);
            assert_eq!(c.roundtrip(&format!("c{i}")), format!("c{i} last=false\n"));
            c
        })
        .collect();
    let tenth = Client::connect(addr);
    await_stats(&server, "ten open", |s| s.current_connections == 10);
    assert_eq!(clients[0].roundtrip("full"), "full last=true\n");
    clients[0].expect_closed();
    await_stats(&server, "nine open", |s| s.current_connections == 9);
    assert_eq!(clients[1].roundtrip("room"), "room last=false\n");
    assert_eq!(clients[1].roundtrip("again"), "again last=false\n");
    drop((clients, tenth));
    let stats = stop(&mut server);
    assert_eq!(stats.keep_alive_declined, 1, "{}: {stats:?}", S::NAME);
    assert_eq!(stats.evicted_idle, 0, "{}: {stats:?}", S::NAME);
}

/// `net` with every thread holding an idle connection and no queue (`max_threads` 2,
/// `max_queued` 0, `max_connections` 2): the newcomer is queued past both bounds, the
/// evicted connection's thread closes it and takes the newcomer, and no thread is added.
#[test]
fn net_an_evicted_connections_thread_takes_the_newcomer() {
    let params = ServerParams::builder()
        .max_threads(2)
        .max_queued(0)
        .max_connections(2)
        .evict_idle_at_capacity(true)
        .keep_alive_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut server = serve::<net::TcpServer, _>(Echo::new(), params);
    let addr = server.local_addr();
    let mut c1 = Client::connect(addr);
    c1.echo("idle 1");
    let c2 = Client::connect(addr);
    await_stats(&server, "both open", |s| s.current_connections == 2);
    let mut newcomer = Client::connect(addr);
    newcomer.echo("newcomer");
    c1.expect_closed();
    let stats = server.stats();
    assert_eq!(stats.evicted_idle, 1, "{stats:?}");
    assert_eq!(stats.refused_connections, 0, "{stats:?}");
    assert_eq!(stats.current_threads, 2, "{stats:?}");
    drop((c2, newcomer));
    let stats = stop(&mut server);
    assert_eq!(stats.total_connections, 3, "{stats:?}");
}

server_tests!(
    a_client_over_its_limit_is_closed_and_the_others_go_on,
    behind_a_balancer_each_real_client_has_its_own_limit,
    every_end_of_a_connection_gives_its_place_back,
    a_request_begun_past_the_connections_age_is_its_last,
    an_http_request_past_the_age_is_answered_with_close,
    an_idle_connection_is_closed_at_its_age,
    above_the_accept_rate_newcomers_wait_and_all_are_served,
    at_capacity_the_longest_idle_connection_makes_room,
    without_eviction_a_newcomer_at_capacity_is_refused,
    above_the_high_water_mark_no_connection_is_kept_alive,
);

// The evented server's inline dispatch too (requests served on the loop's thread): the
// handlers here never wait on a peer, and those that sleep only hold their own loop.
tests::inline_server_tests!(
    a_client_over_its_limit_is_closed_and_the_others_go_on,
    behind_a_balancer_each_real_client_has_its_own_limit,
    every_end_of_a_connection_gives_its_place_back,
    a_request_begun_past_the_connections_age_is_its_last,
    an_idle_connection_is_closed_at_its_age,
    above_the_accept_rate_newcomers_wait_and_all_are_served,
    at_capacity_the_longest_idle_connection_makes_room,
    above_the_high_water_mark_no_connection_is_kept_alive,
);
