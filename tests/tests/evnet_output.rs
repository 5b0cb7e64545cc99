//! evnet's output path by nature: output within `max_output_buffer` is finished by the
//! loop; a handler that writes more in one request streams it from its worker, and that is
//! counted, bounded by `write_timeout`, and leaves the other workers serving.

use std::io::{self, BufRead, Write};
use std::time::Duration;

use evnet::{Action, Connection, EvOptions, EvServer, Handler, Server, ServerParams};
use tests::{await_stats, line_frame, start_ev, stop, Client, PATIENCE};

/// `big N` answers N MiB of `x`; any other line is echoed.
struct BigOrEcho;

impl Handler for BigOrEcho {
    type Session = ();
    fn open(&self, _: &Connection) {}
    fn serve(&self, _: &mut (), conn: &mut Connection) -> io::Result<Action> {
        let mut line = String::new();
        if conn.read_line(&mut line)? == 0 {
            return Ok(Action::Close);
        }
        if let Some(n) = line.trim().strip_prefix("big ") {
            let n: usize = n.parse().unwrap_or(1);
            let chunk = vec![b'x'; 1 << 20];
            for _ in 0..n {
                conn.write_all(&chunk)?;
            }
        } else {
            conn.write_all(line.as_bytes())?;
        }
        Ok(Action::KeepAlive)
    }
    fn frame(&self, _: &mut Self::Session, buffered: &[u8]) -> evnet::Frame {
        line_frame(buffered)
    }
}

fn server(max_output: usize) -> EvServer {
    let params = ServerParams::builder()
        .max_output_buffer(max_output)
        .write_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    start_ev(BigOrEcho, params, EvOptions::default().loops(1).workers(2))
}

/// A response larger than `max_output_buffer` to a client that never reads streams from
/// its worker: counted in `streamed_responses`, cut at `write_timeout`, and while it runs
/// (one stream, two workers) other clients keep being served.
#[test]
fn oversized_response_streams_from_its_worker_and_others_are_served() {
    let mut server = server(64 << 10);
    let mut hog = Client::connect(server.local_addr());
    hog.send(b"big 64\n");
    // The hog's worker is waiting for the peer: nothing is finished yet.
    let mut other = Client::connect(server.local_addr());
    for i in 0..50 {
        other.echo(&format!("ping {i}"));
    }
    let stats = await_stats(&server, "the stream cut at write_timeout", |s| {
        s.timed_out == 1 && s.streamed_responses == 1
    });
    assert_eq!(stats.handler_panics, 0);
    // Served, and still serving after the cut.
    other.echo("after");
    drop(hog);
    drop(other);
    await_stats(&server, "connections closed", |s| {
        s.current_connections == 0
    });
    stop(&mut server);
}

/// The same response within `max_output_buffer` is held by the loop: nothing streams, the
/// loop holds the output (`buffered_output`), both workers stay free, and a client that
/// then reads everything receives it intact.
#[test]
fn response_within_the_limit_is_finished_by_the_loop() {
    let mut server = server(32 << 20);
    let mut slow = std::net::TcpStream::connect(server.local_addr()).unwrap();
    slow.set_read_timeout(Some(PATIENCE)).unwrap();
    slow.write_all(b"big 16\n").unwrap();
    let held = await_stats(&server, "output held by the loop", |s| {
        s.buffered_output > 0
    });
    assert!(held.buffered_output <= 32 << 20, "{held:?}");
    // Both workers are free: two clients each get answers while the output is held.
    let mut a = Client::connect(server.local_addr());
    let mut b = Client::connect(server.local_addr());
    for i in 0..20 {
        a.echo(&format!("a {i}"));
        b.echo(&format!("b {i}"));
    }
    assert_eq!(server.stats().streamed_responses, 0);
    // Now read it all: 16 MiB of `x`, then the connection still works.
    let mut body = vec![0u8; 16 << 20];
    io::Read::read_exact(&mut slow, &mut body).unwrap();
    assert!(body.iter().all(|&b| b == b'x'));
    slow.write_all(b"still open\n").unwrap();
    let mut line = String::new();
    io::BufReader::new(&slow).read_line(&mut line).unwrap();
    assert_eq!(line, "still open\n");
    let stats = await_stats(&server, "output drained", |s| s.buffered_output == 0);
    assert_eq!(stats.timed_out, 0);
    drop((slow, a, b));
    await_stats(&server, "connections closed", |s| {
        s.current_connections == 0
    });
    stop(&mut server);
}

/// A connection whose output the loop is finishing when shutdown begins is closed once the
/// output is sent (the client gets all of it, then EOF), not returned to idle to wait for
/// the shutdown deadline.
#[test]
fn output_finished_during_shutdown_then_closed() {
    let params = ServerParams::builder()
        .max_output_buffer(32 << 20)
        .keep_alive_timeout(Duration::from_secs(60))
        .write_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut server = start_ev(BigOrEcho, params, EvOptions::default().loops(1).workers(1));
    let addr = server.local_addr();
    let mut slow = std::net::TcpStream::connect(addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    slow.write_all(b"big 8\n").unwrap();
    await_stats(&server, "output held by the loop", |s| {
        s.buffered_output > 0
    });
    let stopper = std::thread::spawn(move || {
        let stats = server.shutdown(Duration::from_secs(30));
        stats.unwrap()
    });
    // The drain has begun once the listener is closed.
    assert!(tests::wait_until(PATIENCE, || {
        std::net::TcpStream::connect(addr).is_err()
    }));
    let mut body = Vec::new();
    io::Read::read_to_end(&mut slow, &mut body).expect("EOF after the output");
    assert_eq!(body.len(), 8 << 20);
    let stats = stopper.join().unwrap();
    assert_eq!((stats.requests, stats.timed_out), (1, 0));
}

/// Adaptive dispatch, one loop and two spares: three clients ask for a response far over
/// `max_output_buffer` and never read. The first one's handler waits on its peer on the
/// loop's thread, and a spare takes the loop over; the other two are refused the wait at
/// once (only `spares - 1` runners may wait on peers: closed, counted as shed) instead of
/// each holding a spare, so the loop never stalls and a fresh client is answered while
/// the first still waits (`write_timeout` is a minute away).
#[test]
fn runners_waiting_on_peers_leave_a_spare() {
    let params = ServerParams::builder()
        .max_output_buffer(64 << 10)
        .write_timeout(Duration::from_secs(60))
        .keep_alive_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let options = EvOptions::default()
        .loops(1)
        .workers(2)
        .spares(2)
        .dispatch(evnet::Dispatch::Adaptive);
    let mut server = start_ev(BigOrEcho, params, options);
    let addr = server.local_addr();
    let hog = |line: &[u8]| {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.write_all(line).unwrap();
        stream
    };
    let first = hog(b"big 256\n");
    await_stats(
        &server,
        "the first stream waits and its loop is taken over",
        |s| s.loop_takeovers >= 1,
    );
    let refused: Vec<_> = (0..2).map(|_| hog(b"big 256\n")).collect();
    await_stats(&server, "two waits refused", |s| s.shed_connections == 2);
    for (i, mut stream) in refused.into_iter().enumerate() {
        // Some of the response was sent before the refused wait; then the connection
        // closes (or resets, with bytes unread).
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut sink = Vec::new();
        if let Err(e) = io::Read::read_to_end(&mut stream, &mut sink) {
            let timed_out = matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            );
            assert!(
                !timed_out,
                "refused stream {i} still open after {PATIENCE:?}"
            );
        }
    }
    let mut fresh = Client::connect(addr);
    for i in 0..20 {
        fresh.echo(&format!("fresh {i}"));
    }
    let stats = server.stats();
    assert_eq!(stats.loop_stalls, 0, "{stats:?}");
    assert_eq!(stats.timed_out, 0, "the first still waits: {stats:?}");
    drop((first, fresh));
    await_stats(&server, "connections closed", |s| {
        s.current_connections == 0
    });
    stop(&mut server);
}
