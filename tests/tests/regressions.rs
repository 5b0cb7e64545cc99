//! Regression tests for defects found in review, each against both servers unless it is
//! about one server's nature.

use std::io::{self, BufRead};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use evnet::{Dispatch, EvOptions, EvServer};
use net::{Action, Connection, Handler, Server, ServerParams};
use tests::{start, stop, wait_until, Client, Echo, TestServer, PATIENCE};

/// Thousands of pipelined requests in one write are all answered, in order (the inline
/// evented loop once recursed per buffered request and overflowed its stack).
fn many_pipelined_requests<S: TestServer>() {
    let mut server: S = start(Echo::new(), ServerParams::default());
    pipeline_5000(server.local_addr());
    assert_eq!(stop(&mut server).requests, 5000);
}

fn pipeline_5000(addr: std::net::SocketAddr) {
    let mut client = Client::connect(addr);
    let batch: String = (0..5000).map(|i| format!("{i}\n")).collect();
    client.send(batch.as_bytes());
    for i in 0..5000 {
        assert_eq!(client.line(), format!("{i}\n"));
    }
}

#[test]
fn evnet_inline_many_pipelined_requests() {
    let options = EvOptions::default()
        .loops(1)
        .workers(0)
        .dispatch(Dispatch::Inline);
    let mut server =
        EvServer::bind_with("127.0.0.1:0", Echo::new(), ServerParams::default(), options).unwrap();
    server.start().unwrap();
    pipeline_5000(server.local_addr());
    assert_eq!(stop(&mut server).requests, 5000);
}

/// A handler that keeps the connection open without consuming anything.
struct Stubborn;

impl Handler for Stubborn {
    type Session = ();
    fn open(&self, _: &Connection) {}
    fn serve(&self, _: &mut (), conn: &mut Connection) -> io::Result<Action> {
        // Looks at the request but never consumes it.
        let _ = conn.fill_buf()?;
        Ok(Action::KeepAlive)
    }
}

/// Such a connection is closed instead of being served the same bytes forever; the
/// server keeps serving others.
fn handler_that_consumes_nothing_is_closed<S: TestServer>() {
    let mut server: S = start(Stubborn, ServerParams::default());
    let mut client = Client::connect(server.local_addr());
    client.send(b"stuck\n");
    client.expect_closed();
    assert!(wait_until(PATIENCE, || server.stats().current_connections == 0));
    let stats = stop(&mut server);
    assert_eq!(stats.requests, 1, "served once, then closed");
}

/// Timeouts too large to add to a clock reading are rejected, naming the parameter.
fn huge_timeouts_are_rejected<S: TestServer>() {
    let huge = Duration::MAX;
    let cases = [
        (
            "keep_alive_timeout",
            ServerParams::builder().keep_alive_timeout(huge),
        ),
        ("read_timeout", ServerParams::builder().read_timeout(huge)),
        ("write_timeout", ServerParams::builder().write_timeout(huge)),
        (
            "thread_idle_time",
            ServerParams::builder().thread_idle_time(huge),
        ),
    ];
    for (name, builder) in cases {
        let err = builder.build().unwrap_err();
        assert!(err.is_invalid_param(), "{name}: {err}");
        assert!(err.to_string().contains(name), "{name}: {err}");
    }
    // The largest accepted value works, and an unbounded shutdown deadline is fine.
    let params = ServerParams::builder()
        .read_timeout(net::MAX_TIMEOUT)
        .write_timeout(net::MAX_TIMEOUT)
        .keep_alive_timeout(net::MAX_TIMEOUT)
        .thread_idle_time(net::MAX_TIMEOUT)
        .build()
        .unwrap();
    let mut server: S = start(Echo::new(), params);
    Client::connect(server.local_addr()).echo("far future");
    let stats = server.shutdown(Duration::MAX).unwrap();
    assert_eq!(stats.requests, 1, "{}", S::NAME);
}

/// Binding a port another socket already listens on is a bind error for both servers
/// (the evented one must not join it through SO_REUSEPORT).
fn busy_port_is_a_bind_error<S: TestServer>() {
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = other.local_addr().unwrap();
    let err =
        S::bind_with(addr, Echo::new(), ServerParams::default(), S::options(2, 2)).unwrap_err();
    assert!(err.is_bind(), "{}: {err}", S::NAME);
    // Two servers of this kind cannot share a port either.
    let mut first: S = S::bind_with(
        "127.0.0.1:0",
        Echo::new(),
        ServerParams::default(),
        S::options(2, 2),
    )
    .unwrap();
    let err = S::bind_with(
        first.local_addr(),
        Echo::new(),
        ServerParams::default(),
        S::options(2, 2),
    )
    .unwrap_err();
    assert!(err.is_bind(), "{}: {err}", S::NAME);
    first.shutdown(Duration::from_secs(1)).unwrap();
}

/// Answers `big` with 64 MiB written in 1 MiB `write_all` calls.
struct Big;

impl Handler for Big {
    type Session = ();
    fn open(&self, _: &Connection) {}
    fn serve(&self, _: &mut (), conn: &mut Connection) -> io::Result<Action> {
        let mut line = String::new();
        conn.read_line(&mut line)?;
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..64 {
            io::Write::write_all(conn, &chunk)?;
        }
        Ok(Action::KeepAlive)
    }
}

/// A client that reads a large response steadily but slowly (each 1 MiB `write_all` chunk
/// gets through well within the write timeout, the whole 64 MiB would take half a minute)
/// cannot stretch the response: the write timeout bounds the whole request, so the server
/// gives up on it (counted in `timed_out`, as a write timeout) while the client is still
/// reading.
fn trickle_reader_is_cut_at_the_write_timeout<S: TestServer>() {
    let params = ServerParams::builder()
        .write_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let mut server: S = start(Big, params);
    let mut client = std::net::TcpStream::connect(server.local_addr()).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    io::Write::write_all(&mut client, b"big\n").unwrap();
    let stop_reading = Arc::new(AtomicBool::new(false));
    let reader = {
        let stop_reading = Arc::clone(&stop_reading);
        std::thread::spawn(move || {
            let mut received = 0usize;
            let mut buf = vec![0u8; 256 * 1024];
            while !stop_reading.load(SeqCst) {
                match io::Read::read(&mut client, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => received += n,
                }
                // About 2.5 MB/s.
                std::thread::sleep(Duration::from_millis(100));
            }
            received
        })
    };
    let cut = wait_until(PATIENCE, || server.stats().timed_out == 1);
    stop_reading.store(true, SeqCst);
    let received = reader.join().unwrap();
    assert!(cut, "{}: not cut off after {received} bytes", S::NAME);
    assert!(received < 64 << 20, "{}: got everything", S::NAME);
    let stats = stop(&mut server);
    assert_eq!(
        (stats.timed_out, stats.timed_out_write),
        (1, 1),
        "{}: {stats:?}",
        S::NAME
    );
}

tests::server_tests!(
    many_pipelined_requests,
    handler_that_consumes_nothing_is_closed,
    huge_timeouts_are_rejected,
    busy_port_is_a_bind_error,
    trickle_reader_is_cut_at_the_write_timeout,
);
