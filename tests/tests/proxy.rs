//! The PROXY protocol (issue 18): both servers, with `proxy_protocol(true)`, read a version
//! 1 or 2 header before anything else and report the client's address; a connection
//! without a valid header is closed cleanly and counted; a real HAProxy (`send-proxy`,
//! `send-proxy-v2`, health checks with `check-send-proxy`) in front of each server.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use net::ServerParams;
use tests::haproxy::Haproxy;
use tests::{await_stats, server_tests, start_with, stop, Client, TestServer, WhoAmI};

static SERIAL: Mutex<()> = Mutex::new(());

/// One test at a time: the HAProxy tests run a child process on fixed ports.
fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn proxied<S: TestServer>(read_timeout: Duration) -> S {
    let params = ServerParams::builder()
        .proxy_protocol(true)
        .read_timeout(read_timeout)
        .build()
        .unwrap();
    start_with::<S, _>(WhoAmI, params, 1, 2)
}

fn v2(command: u8, family: u8, block: &[u8]) -> Vec<u8> {
    let mut bytes = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    bytes.push(0x20 | command);
    bytes.push(family);
    bytes.extend_from_slice(&(block.len() as u16).to_be_bytes());
    bytes.extend_from_slice(block);
    bytes
}

/// A version 1 header, a version 2 one (IPv6, with a TLV), one trickled a byte at a time
/// and a version 2 `LOCAL` (health check): each connection's `peer_addr` is the client's
/// from the header (the real one for `LOCAL`) and `balancer_addr` the socket's peer, and
/// the request after the header (sent with it) is served.
fn headers_give_the_clients_address<S: TestServer>() {
    let _serial = serial();
    let mut server = proxied::<S>(Duration::from_secs(10));
    let addr = server.local_addr();

    let mut c = Client::connect(addr);
    let me = c.local_addr();
    c.send(b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\nwho\n");
    assert_eq!(c.line(), format!("peer=192.0.2.1:56324 balancer={me}\n"));
    // The header is read once: later requests keep the addresses.
    assert_eq!(
        c.roundtrip("again"),
        format!("peer=192.0.2.1:56324 balancer={me}\n")
    );

    let mut block = vec![0u8; 36];
    block[..16].copy_from_slice(
        &"2001:db8::5"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    block[15] = 5;
    block[32..34].copy_from_slice(&4242u16.to_be_bytes());
    block[34..36].copy_from_slice(&443u16.to_be_bytes());
    block.extend_from_slice(&[0x04, 0x00, 0x02, 0xAB, 0xCD]);
    let mut c = Client::connect(addr);
    let me = c.local_addr();
    c.send(&[v2(1, 0x21, &block), b"who\n".to_vec()].concat());
    assert_eq!(c.line(), format!("peer=[2001:db8::5]:4242 balancer={me}\n"));

    let mut c = Client::connect(addr);
    let me = c.local_addr();
    for byte in b"PROXY TCP4 10.1.2.3 10.0.0.1 1000 80\r\n" {
        c.send(&[*byte]);
        thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(
        c.roundtrip("who"),
        format!("peer=10.1.2.3:1000 balancer={me}\n")
    );

    let mut c = Client::connect(addr);
    let me = c.local_addr();
    c.send(&v2(0, 0x00, &[]));
    assert_eq!(c.roundtrip("who"), format!("peer={me} balancer=-\n"));
    let mut c = Client::connect(addr);
    let me = c.local_addr();
    c.send(b"PROXY UNKNOWN\r\n");
    assert_eq!(c.roundtrip("who"), format!("peer={me} balancer=-\n"));

    let stats = stop(&mut server);
    assert_eq!(stats.proxy_header_failures, 0, "{stats:?}");
    assert_eq!(stats.requests, 6, "{stats:?}");
    assert_eq!(stats.total_connections, 5, "{stats:?}");
}

/// A client that connects directly (no header), one with a malformed header and one
/// whose header is closed midway are each closed without an answer and counted; one that
/// closes before its first byte is not counted; a connection with a valid header beside
/// them is served throughout.
fn connections_without_a_valid_header_are_closed_and_counted<S: TestServer>() {
    let _serial = serial();
    let mut server = proxied::<S>(Duration::from_secs(10));
    let addr = server.local_addr();
    let mut good = Client::connect(addr);
    good.send(b"PROXY TCP4 192.0.2.9 192.0.2.10 9 10\r\n");
    assert!(good.roundtrip("who").starts_with("peer=192.0.2.9:9 "));

    let mut direct = Client::connect(addr);
    direct.send(b"who\n");
    direct.expect_closed();
    let mut malformed = Client::connect(addr);
    malformed.send(b"PROXY TCP4 192.0.2.1 198.51.100.7 99999 443\r\nwho\n");
    malformed.expect_closed();
    let mut bad_v2 = Client::connect(addr);
    bad_v2.send(&v2(1, 0x11, &[0; 4]));
    bad_v2.expect_closed();
    let mut midway = TcpStream::connect(addr).unwrap();
    midway.write_all(b"PROXY TCP4 192.0").unwrap();
    await_stats(&server, "the half header taken", |s| {
        s.total_connections >= 5
    });
    drop(midway);
    drop(TcpStream::connect(addr).unwrap());

    assert!(good.roundtrip("who").starts_with("peer=192.0.2.9:9 "));
    let stats = await_stats(&server, "all closed", |s| s.current_connections == 1);
    assert_eq!(stats.proxy_header_failures, 4, "{stats:?}");
    assert_eq!(stats.timed_out, 0, "{stats:?}");
    drop(good);
    let stats = stop(&mut server);
    assert_eq!(stats.requests, 2, "{stats:?}");
}

/// A client that sends part of a header and stalls is closed at `read_timeout` from the
/// accept, counted as timed out and as a header failure (it holds no worker or thread
/// of service meanwhile on evnet: the loop reads the header).
fn a_header_that_never_completes_is_cut_at_read_timeout<S: TestServer>() {
    let _serial = serial();
    let mut server = proxied::<S>(Duration::from_millis(300));
    let mut stalled = Client::connect(server.local_addr());
    stalled.send(b"PROXY TCP6 2001:db8::1 ");
    stalled.expect_closed();
    let stats = await_stats(&server, "the stall counted", |s| {
        s.proxy_header_failures == 1
    });
    assert_eq!(stats.timed_out, 1, "{stats:?}");
    assert_eq!(
        stats.timed_out_read, 1,
        "a stalled header, not an idle one: {stats:?}"
    );
    assert_eq!(stats.requests, 0, "{stats:?}");
    stop(&mut server);
}

// ----- HAProxy ---------------------------------------------------------------------------

/// Through HAProxy's `send-proxy` and `send-proxy-v2` frontends each client's
/// `peer_addr` is its own address and `balancer_addr` HAProxy's; the health checks (a
/// dozen, with the header) pass and count no failure; and a direct connection without the
/// header is closed cleanly while the proxied ones go on.
fn haproxy_in_front<S: TestServer>() {
    let _serial = serial();
    let mut server = proxied::<S>(Duration::from_secs(10));
    let haproxy = Haproxy::start(server.local_addr());
    // Checks every 100 ms on each backend: a dozen connections from them.
    await_stats(&server, "health checks", |s| s.total_connections >= 12);
    for frontend in [haproxy.v1, haproxy.v2] {
        let mut c = Client::connect(frontend);
        let me = c.local_addr();
        let answer = c.roundtrip("who");
        let (peer, balancer) = answer
            .trim_end()
            .strip_prefix("peer=")
            .and_then(|rest| rest.split_once(" balancer="))
            .unwrap_or_else(|| panic!("through {frontend}: {answer:?}"));
        assert_eq!(peer, me.to_string(), "through {frontend}");
        let balancer: SocketAddr = balancer.parse().unwrap();
        assert_eq!(balancer.ip(), me.ip());
        assert_ne!(balancer.port(), me.port());
        assert_eq!(c.roundtrip("who"), answer, "the same on a kept connection");
    }
    let mut direct = Client::connect(server.local_addr());
    direct.send(b"who\n");
    direct.expect_closed();
    let mut c = Client::connect(haproxy.v2);
    assert!(c
        .roundtrip("who")
        .starts_with(&format!("peer={}", c.local_addr())));
    let stats = server.stats();
    assert_eq!(
        stats.proxy_header_failures, 1,
        "only the direct one: {stats:?}"
    );
    drop(c);
    drop(haproxy);
    let stats = stop(&mut server);
    assert_eq!(stats.requests, 5, "{stats:?}");
}

/// Without `proxy_protocol` a header is just bytes of the first request (here: a line the
/// handler answers with the socket's own addresses).
fn off_by_default<S: TestServer>() {
    let _serial = serial();
    let mut server = start_with::<S, _>(WhoAmI, ServerParams::default(), 1, 2);
    let mut c = Client::connect(server.local_addr());
    let me = c.local_addr();
    let answer = c.roundtrip("PROXY TCP4 1.2.3.4 5.6.7.8 1 2");
    assert_eq!(answer, format!("peer={me} balancer=-\n"));
    drop(c);
    let stats = stop(&mut server);
    assert_eq!(stats.proxy_header_failures, 0, "{stats:?}");
}

server_tests!(
    headers_give_the_clients_address,
    connections_without_a_valid_header_are_closed_and_counted,
    a_header_that_never_completes_is_cut_at_read_timeout,
    haproxy_in_front,
    off_by_default,
);
