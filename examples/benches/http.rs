//! Benchmarks of the `http` example's request path: framing ([`HttpHandler::frame`],
//! which an evented server calls on every read), the parser under it ([`parse_head`],
//! [`request_len`]), [`serve`](Handler::serve) itself (parse, route, assemble the
//! response into the connection's output buffer) without the socket's system calls, and
//! the response's `Date` ([`date::now`], read from the cache on every response, and
//! [`date::format`], once a second).
//!
//! Run with `cargo bench -p examples`; `cargo bench -p examples -- --test` only checks that
//! each runs once.

use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use criterion::{criterion_main, Criterion, Throughput};
use examples::http::parse::{parse_head, request_len, Limits, Parsed};
use examples::http::{date, HttpHandler, HttpSession};
use net::{Action, Connection, Frame, Handler, ServerParams};

/// The request `wrk` sends for `wrk http://127.0.0.1:8080/`.
const WRK_GET: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";

/// Where `WRK_GET` is cut when it arrives in three reads: inside the request line, and
/// inside the `Host` field.
const CUTS: [usize; 2] = [9, 27];

/// A chunked `POST /echo` of two chunks, as a client streaming a body sends it.
const CHUNKED_POST: &[u8] = b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\
    Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n\
    5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";

fn frame(c: &mut Criterion) {
    check_inputs();
    let handler = HttpHandler::new();
    let mut group = c.benchmark_group("http/frame");

    // The whole request in one read. A fresh session per call, as `serve` leaves it.
    group.throughput(Throughput::Bytes(WRK_GET.len() as u64));
    group.bench_function("wrk_get", |b| {
        b.iter(|| {
            let mut session = HttpSession::default();
            handler.frame(&mut session, black_box(WRK_GET))
        });
    });

    // The same request in three reads: each call sees every byte so far, and the session
    // resumes where the last call stopped.
    group.bench_function("wrk_get_3_pieces", |b| {
        b.iter(|| {
            let mut session = HttpSession::default();
            for cut in CUTS {
                let partial = handler.frame(&mut session, black_box(&WRK_GET[..cut]));
                debug_assert_eq!(partial, Frame::Partial);
            }
            handler.frame(&mut session, black_box(WRK_GET))
        });
    });

    group.throughput(Throughput::Bytes(CHUNKED_POST.len() as u64));
    group.bench_function("chunked_post", |b| {
        b.iter(|| {
            let mut session = HttpSession::default();
            handler.frame(&mut session, black_box(CHUNKED_POST))
        });
    });

    group.finish();
}

fn parse(c: &mut Criterion) {
    let limits = Limits::default();

    let mut group = c.benchmark_group("http/parse_head");
    group.throughput(Throughput::Bytes(WRK_GET.len() as u64));
    group.bench_function("wrk_get", |b| {
        b.iter(|| {
            let parsed = parse_head(black_box(WRK_GET), &limits);
            matches!(parsed, Ok(Parsed::Complete(_)))
        });
    });
    group.throughput(Throughput::Bytes(CHUNKED_POST.len() as u64));
    group.bench_function("chunked_post", |b| {
        b.iter(|| {
            let parsed = parse_head(black_box(CHUNKED_POST), &limits);
            matches!(parsed, Ok(Parsed::Complete(_)))
        });
    });
    group.finish();

    let mut group = c.benchmark_group("http/request_len");
    group.throughput(Throughput::Bytes(WRK_GET.len() as u64));
    group.bench_function("wrk_get", |b| {
        b.iter(|| request_len(black_box(WRK_GET), &limits));
    });
    group.throughput(Throughput::Bytes(CHUNKED_POST.len() as u64));
    group.bench_function("chunked_post", |b| {
        b.iter(|| request_len(black_box(CHUNKED_POST), &limits));
    });
    group.finish();
}

/// Requests sent at once for `http/serve`: their bytes are buffered in the connection
/// before the timed `serve` calls, and the responses sent after them.
const PIPELINED: usize = 64;

/// `serve` on a connection whose next request is buffered already: parsing, routing and
/// assembling the response into the output buffer, as a blocking server (which does not
/// frame) does for each request of a pipelined batch. The socket's reads and writes
/// happen between the timed batches.
fn serve(c: &mut Criterion) {
    let handler = HttpHandler::new();
    let params = ServerParams::default();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    client.set_nodelay(true).unwrap();
    let (socket, _) = listener.accept().unwrap();
    let mut conn = Connection::new(socket, &params).unwrap();
    let mut session = HttpSession::default();
    let batch = WRK_GET.repeat(PIPELINED);
    let mut sink = vec![0u8; 64 * 1024];

    let mut group = c.benchmark_group("http/serve");
    group.throughput(Throughput::Elements(1));
    group.bench_function("wrk_get", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(PIPELINED as u64);
                left -= n;
                let bytes = &batch[..WRK_GET.len() * n as usize];
                client.write_all(bytes).unwrap();
                while conn.buffered().len() < bytes.len() {
                    conn.fill_more().unwrap();
                }
                let start = Instant::now();
                for _ in 0..n {
                    let action = handler.serve(&mut session, black_box(&mut conn));
                    debug_assert!(matches!(action, Ok(Action::KeepAlive)));
                }
                timed += start.elapsed();
                let sent = conn.pending_output();
                conn.flush().unwrap();
                let mut got = 0;
                while got < sent {
                    got += client.read(&mut sink).unwrap();
                }
            }
            timed
        });
    });
    group.finish();
}

/// The `Date` of a response: the cached value of this second (what every response costs),
/// and formatting a second's value (once a second).
fn dates(c: &mut Criterion) {
    let mut group = c.benchmark_group("http/date");
    group.bench_function("now", |b| b.iter(date::now));
    group.bench_function("format", |b| {
        let mut second = 1_700_000_000u64;
        b.iter(|| {
            second += 1;
            date::format(black_box(second))
        });
    });
    group.finish();
}

/// Every input is what the benchmarks say it is: complete, in one piece or in three.
fn check_inputs() {
    let handler = HttpHandler::new();
    let limits = Limits::default();
    for request in [WRK_GET, CHUNKED_POST] {
        let whole = Frame::Complete(request.len());
        assert_eq!(handler.frame(&mut HttpSession::default(), request), whole);
        assert_eq!(
            request_len(request, &limits),
            Ok(Parsed::Complete(request.len()))
        );
    }
    let mut session = HttpSession::default();
    for cut in CUTS {
        assert_eq!(handler.frame(&mut session, &WRK_GET[..cut]), Frame::Partial);
    }
    assert_eq!(
        handler.frame(&mut session, WRK_GET),
        Frame::Complete(WRK_GET.len())
    );
}

/// The benchmark groups (in a module: `criterion_group!` makes an undocumented `pub fn`).
mod groups {
    use super::{dates, frame, parse, serve};
    criterion::criterion_group!(benches, frame, parse, serve, dates);
}
criterion_main!(groups::benches);
