//! evnet's hot path allocates nothing per request (a target of the project, in
//! docs/ARCHITECTURE.md): after a warm-up, thousands of keep-alive requests, in both
//! dispatch modes, cost no heap allocation in the server (loop and worker threads). A
//! counting global allocator (`stats_alloc`) counts every allocation in this process; the
//! client uses fixed buffers, so whatever is counted is the server's.
//!
//! One test function, so that no other test of this binary allocates meanwhile.

use std::alloc::System;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::thread;
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

/// Client threads: enough to keep several requests in flight at once, so that the loop
/// hands over batches and the workers return them in batches.
const CLIENTS: usize = 4;

fn allocations_per_request(dispatch: Dispatch) -> f64 {
    let options = EvOptions::default().loops(1).workers(2).dispatch(dispatch);
    let mut server = evnet::EvServer::bind_with(
        "127.0.0.1:0",
        HttpHandler::new(),
        ServerParams::default(),
        options,
    )
    .unwrap();
    server.start().unwrap();
    let addr = server.local_addr();
    let rounds = 1000;
    // Both phases start and end together; what happens between the marks is counted.
    let marks = Arc::new(Barrier::new(CLIENTS + 1));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let marks = Arc::clone(&marks);
            thread::spawn(move || {
                let mut client = TcpStream::connect(addr).unwrap();
                client
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                client.set_nodelay(true).unwrap();
                let mut buf = [0u8; 4096];
                // Warm-up: pools, queues and mailboxes reach their working sizes.
                requests(&mut client, &mut buf, 300);
                marks.wait();
                requests(&mut client, &mut buf, rounds);
                marks.wait();
            })
        })
        .collect();
    marks.wait();
    let before = allocations();
    marks.wait();
    let counted = allocations() - before;
    for client in clients {
        client.join().unwrap();
    }
    server.shutdown(Duration::from_secs(5)).unwrap();
    counted as f64 / (rounds * CLIENTS) as f64
}

#[test]
fn evnet_hot_path_allocates_nothing_per_request() {
    for dispatch in [Dispatch::Adaptive, Dispatch::Workers, Dispatch::Inline] {
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
