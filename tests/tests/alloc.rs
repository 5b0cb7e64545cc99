//! evnet's hot path allocates nothing per request (DESIGN: "allocations per request on
//! evnet's hot path: 0"): after a warm-up, thousands of keep-alive requests, in both
//! dispatch modes, cost no heap allocation in the server (loop and worker threads). A
//! counting global allocator (`stats_alloc`) counts every allocation in this process; the
//! client uses fixed buffers, so whatever is counted is the server's.
//!
//! One test function, so that no other test of this binary allocates meanwhile.

use std::alloc::System;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use evnet::{Dispatch, EvOptions, Server, ServerParams};
use examples::http::HttpHandler;
use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Heap allocations (and reallocations) made so far in this process.
fn allocations() -> usize {
    let stats = GLOBAL.stats();
    stats.allocations + stats.reallocations
}

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
const RESPONSE_END: &[u8] = b"Hello, World!";

/// Send `n` requests one after another on `client`, reading each response into `buf`.
fn requests(client: &mut TcpStream, buf: &mut [u8], n: usize) {
    for _ in 0..n {
        client.write_all(REQUEST).unwrap();
        let mut len = 0;
        while !buf[..len].ends_with(RESPONSE_END) {
            let got = client.read(&mut buf[len..]).unwrap();
            assert!(got > 0, "server closed");
            len += got;
        }
    }
}

fn allocations_per_request(dispatch: Dispatch) -> f64 {
    let options = EvOptions::default().loops(1).workers(1).dispatch(dispatch);
    let mut server = evnet::EvServer::bind_with(
        "127.0.0.1:0",
        HttpHandler::new(),
        ServerParams::default(),
        options,
    )
    .unwrap();
    server.start().unwrap();
    let mut clients: Vec<TcpStream> = (0..4)
        .map(|_| {
            let c = TcpStream::connect(server.local_addr()).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            c.set_nodelay(true).unwrap();
            c
        })
        .collect();
    let mut buf = vec![0u8; 4096];
    // Warm-up: pools, queues and mailboxes reach their working sizes.
    for c in clients.iter_mut() {
        requests(c, &mut buf, 200);
    }
    let before = allocations();
    let rounds = 500;
    for _ in 0..rounds {
        for c in clients.iter_mut() {
            requests(c, &mut buf, 2);
        }
    }
    let counted = allocations() - before;
    drop(clients);
    server.shutdown(Duration::from_secs(5)).unwrap();
    counted as f64 / (rounds * 4 * 2) as f64
}

#[test]
fn evnet_hot_path_allocates_nothing_per_request() {
    for dispatch in [Dispatch::Workers, Dispatch::Inline] {
        let per_request = allocations_per_request(dispatch);
        eprintln!("{dispatch:?}: {per_request} allocations per request");
        // Zero in steady state; allow a handful in all (a late-growing queue, say), which
        // is far below one per request.
        assert!(
            per_request < 0.01,
            "{dispatch:?}: {per_request} allocations per request"
        );
    }
}
