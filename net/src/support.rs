//! Building blocks shared by server implementations (`net::TcpServer` and
//! `evnet::EvServer`): serving one request with panic isolation and counting, and
//! classifying `accept(2)` errors. Handlers never need this module.

use std::any::Any;
use std::io::{self, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Condvar, MutexGuard};
use std::time::Instant;

use crate::connection::{Connection, ServerConnection};
use crate::handler::{Action, Frame, Handler};
use crate::stats::{Counters, TimeoutKind};

/// Drop the payload of a caught panic, isolating a panic in the payload's own `Drop`: a
/// handler's panic may carry a value of its own type, whose drop is the handler's code, and
/// must not unwind through the server's (a second panic there would be taken for one of
/// the server's own, or end the thread). That second panic belongs to the same handler
/// call, so it is not counted again; its payload is leaked rather than dropped, since it
/// could panic in turn.
pub fn discard_panic(payload: Box<dyn Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
}

/// Run `call`, a call into the handler's code, isolating a panic in it: `None` when it
/// panicked, counted in `handler_panics`, its payload dropped by [`discard_panic`].
pub fn catch_handler<T>(counters: &Counters, call: impl FnOnce() -> T) -> Option<T> {
    match catch_unwind(AssertUnwindSafe(call)) {
        Ok(value) => Some(value),
        Err(payload) => {
            counters.handler_panicked();
            discard_panic(payload);
            None
        }
    }
}

/// Create a connection's session, isolating a panic in [`Handler::open`] (counted in
/// `handler_panics`; the caller closes the connection on `None`).
pub fn open_session<H: Handler>(
    handler: &H,
    conn: &Connection,
    counters: &Counters,
) -> Option<H::Session> {
    catch_handler(counters, || handler.open(conn))
}

/// Count a TLS handshake that completed on `conn` in `tls_handshakes_full` or
/// `tls_handshakes_resumed` (nothing without TLS).
pub fn count_tls_handshake(conn: &Connection, counters: &Counters) {
    match conn.tls_resumed() {
        Some(true) => counters.tls_handshake_resumed(),
        Some(false) => counters.tls_handshake_full(),
        None => {}
    }
}

/// Drop a session, isolating a panic in its destructor (counted in `handler_panics`).
pub fn close_session<S>(session: S, counters: &Counters) {
    let _ = catch_handler(counters, move || drop(session));
}

/// Pipelined requests served in one go at most, when the next one is already complete in
/// the buffer (see [`serve_request`]).
pub const PIPELINE_BATCH: usize = 16;

/// Response bytes a batch of pipelined requests may accumulate before it is sent.
const BATCH_OUTPUT: usize = 64 * 1024;

/// Serve the request at the front of `conn`, and the pipelined ones behind it while each
/// is already complete in the buffer ([`Handler::frame`] says so), up to `batch` in all;
/// then flush their responses together.
///
/// A client that pipelines (RESP's `-P 16`, HTTP pipelining) thus costs one hand-off and
/// one `write` per batch instead of per request. A batch stops early when a response
/// asked to close, when the output reaches 64 KiB, when this is the connection's last
/// request, or when the next request is not all there (its response must not wait for
/// bytes the client may be waiting to send).
///
/// Returns true when the connection stays open for another request: never after its
/// last one ([`Connection::is_last_request`]: the connection's own
/// `max_requests_per_connection`, taken from the parameters it was made with, is reached,
/// or the server said so). Counts `requests` (handler calls that returned), `timed_out` (a
/// `TimedOut` error from the handler or the flush: by the connection's deadline that
/// expired, a read's or a write's, or as the handler's own when none did),
/// `handler_panics`.
pub fn serve_request<H: Handler>(
    handler: &H,
    session: &mut H::Session,
    conn: &mut Connection,
    counters: &Counters,
    batch: usize,
) -> bool {
    let mut served = 0;
    loop {
        let consumed_before = conn.bytes_consumed();
        let began = Instant::now();
        let result = catch_handler(counters, || handler.serve(session, conn));
        counters.handler_took(began.elapsed());
        let Some(action) = result else {
            __log_warn!("handler panicked serving {}", conn.peer_addr());
            return false;
        };
        counters.request_served();
        served += 1;
        // A handler that asks to keep the connection but took nothing of the request in
        // front of it would be handed the same bytes again forever: close instead.
        let stuck = conn.bytes_consumed() == consumed_before && !conn.buffered().is_empty();
        let go_on = served < batch
            && matches!(action, Ok(Action::KeepAlive))
            && !stuck
            && !conn.streamed()
            && !conn.is_last_request()
            && conn.pending_output() < BATCH_OUTPUT
            && !conn.buffered().is_empty();
        if go_on {
            match next_is_complete(handler, session, conn) {
                Some(true) => {
                    conn.count_request();
                    conn.begin_request(Instant::now());
                    continue;
                }
                Some(false) => {}
                None => {
                    counters.handler_panicked();
                    return false;
                }
            }
        }
        // Send what the handler wrote, even when it then failed or asked to close (on a
        // non-blocking socket: what the socket takes now; the server finishes the rest).
        let flushed = conn.flush();
        if conn.streamed() {
            counters.response_streamed();
        }
        let expired = conn.take_expired();
        // The last request (`max_requests_per_connection`, or the server said so:
        // draining, the connection's age, ...) closes the connection whatever the handler
        // asked.
        let last = conn.is_last_request();
        conn.count_request();
        let keep = match (action, flushed) {
            (Ok(Action::KeepAlive), Ok(())) => true,
            (Ok(_), Ok(())) => false,
            (Err(e), _) | (_, Err(e)) => {
                if e.kind() == io::ErrorKind::TimedOut {
                    counters.timed_out(expired.unwrap_or(TimeoutKind::Handler));
                }
                __log_debug!("closing {}: {e}", conn.peer_addr());
                false
            }
        };
        return keep && !stuck && !last;
    }
}

/// Whether the bytes buffered after a served request hold a whole request, by the
/// handler's framing (`None`: `frame` panicked).
///
/// An interim response that framing asks for ([`Frame::Interim`]) is written behind the
/// responses already buffered, so it goes out with them: the handler has recorded it as
/// sent, and the server frames the request again (as partial) when it takes the
/// connection back.
fn next_is_complete<H: Handler>(
    handler: &H,
    session: &mut H::Session,
    conn: &mut Connection,
) -> Option<bool> {
    let buffered = conn.buffered();
    let frame = match catch_unwind(AssertUnwindSafe(|| handler.frame(session, buffered))) {
        Ok(frame) => frame,
        Err(payload) => {
            discard_panic(payload);
            return None;
        }
    };
    if let Frame::Interim(bytes) = frame {
        // Buffered whatever the output limit (never waiting here); sent by the flush
        // that ends the batch.
        conn.push_output(bytes);
    }
    Some(matches!(frame, Frame::Complete(_)))
}

pub use crate::error::AcceptFailure;

/// Classify an `accept(2)` error (see [`AcceptFailure`]). Never says "stop": an acceptor
/// lives until shutdown.
pub fn classify_accept_error(err: &io::Error) -> AcceptFailure {
    crate::error::classify_accept(err)
}

/// Wait on `cond` until `done` holds for the guarded value or `deadline` passes (`None`:
/// no deadline). Returns the guard; check `done` again to know which happened.
pub fn wait_while_before<'a, T>(
    cond: &Condvar,
    mut guard: MutexGuard<'a, T>,
    deadline: Option<Instant>,
    mut done: impl FnMut(&T) -> bool,
) -> MutexGuard<'a, T> {
    while !done(&guard) {
        guard = match deadline {
            None => cond.wait(guard).unwrap_or_else(|e| e.into_inner()),
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                cond.wait_timeout(guard, deadline - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
        };
    }
    guard
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, Read};
    use std::net::{TcpListener, TcpStream};

    use super::*;
    use crate::params::ServerParams;

    /// Answers each `\n`-terminated line with `ok\n`, and frames by line.
    struct Lines;

    impl Handler for Lines {
        type Session = ();
        fn open(&self, _: &Connection) {}
        fn serve(&self, _: &mut (), conn: &mut Connection) -> io::Result<Action> {
            let mut line = Vec::new();
            conn.read_until(b'\n', &mut line)?;
            conn.write_all(b"ok\n")?;
            Ok(Action::KeepAlive)
        }
        fn frame(&self, _: &mut (), buffered: &[u8]) -> Frame {
            match buffered.iter().position(|&b| b == b'\n') {
                Some(i) => Frame::Complete(i + 1),
                None => Frame::Partial,
            }
        }
    }

    fn pair_with(params: &ServerParams) -> (TcpStream, Connection) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (socket, _) = listener.accept().unwrap();
        (client, Connection::new(socket, params).unwrap())
    }

    fn pair() -> (TcpStream, Connection) {
        pair_with(&ServerParams::default())
    }

    /// [`serve_request`] with [`Lines`].
    fn serve(conn: &mut Connection, counters: &Counters, batch: usize) -> bool {
        serve_request(&Lines, &mut (), conn, counters, batch)
    }

    fn buffer(client: &mut TcpStream, conn: &mut Connection, bytes: &[u8]) {
        client.write_all(bytes).unwrap();
        while conn.buffered().len() < bytes.len() {
            conn.fill_more().unwrap();
        }
    }

    /// Complete pipelined requests are served in one call, up to the batch; a partial one
    /// behind them is left for later, and the responses are all sent.
    #[test]
    fn a_batch_serves_the_complete_pipelined_requests_and_stops_at_a_partial_one() {
        let (mut client, mut conn) = pair();
        let counters = Counters::default();
        buffer(&mut client, &mut conn, b"a\nb\nc\npart");
        assert!(serve(&mut conn, &counters, 16));
        assert_eq!(counters.snapshot().requests, 3);
        assert_eq!(conn.requests_served(), 3);
        assert_eq!(conn.buffered(), b"part", "the partial request waits");
        let mut answers = [0u8; 9];
        client.read_exact(&mut answers).unwrap();
        assert_eq!(&answers, b"ok\nok\nok\n");
    }

    /// A batch is bounded by its size, and by the connection's `max_requests_per_connection`.
    #[test]
    fn a_batch_is_bounded_by_its_size_and_by_max_requests() {
        let params = ServerParams::builder()
            .max_requests_per_connection(3)
            .build()
            .unwrap();
        let (mut client, mut conn) = pair_with(&params);
        let counters = Counters::default();
        buffer(&mut client, &mut conn, b"1\n2\n3\n4\n5\n");
        assert!(serve(&mut conn, &counters, 2));
        assert_eq!(counters.snapshot().requests, 2, "batch of 2");
        assert!(!serve(&mut conn, &counters, 16));
        assert_eq!(
            counters.snapshot().requests,
            3,
            "the third is the last allowed"
        );
        assert_eq!(conn.buffered(), b"4\n5\n");
    }

    #[test]
    fn a_batch_of_one_serves_one() {
        let (mut client, mut conn) = pair();
        let counters = Counters::default();
        buffer(&mut client, &mut conn, b"x\ny\n");
        assert!(serve(&mut conn, &counters, 1));
        assert_eq!(counters.snapshot().requests, 1);
        let _ = conn.fill_buf();
        assert_eq!(conn.buffered(), b"y\n");
    }

    /// A panic payload whose drop panics, as a handler's own type may.
    struct Bomb;

    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("Bomb dropped (this panic is expected)");
        }
    }

    /// Panics in every call, with a [`Bomb`].
    struct Bombs;

    impl Handler for Bombs {
        type Session = ();
        fn open(&self, _: &Connection) {
            std::panic::panic_any(Bomb);
        }
        fn serve(&self, _: &mut (), _: &mut Connection) -> io::Result<Action> {
            std::panic::panic_any(Bomb);
        }
        fn frame(&self, _: &mut (), _: &[u8]) -> Frame {
            std::panic::panic_any(Bomb);
        }
    }

    /// A handler's panic is one handler panic whatever its payload does when dropped: the
    /// payload's own panic is contained here, never reaching the caller (the server's
    /// code) to be counted again or to end its thread.
    #[test]
    fn a_handler_panic_whose_payload_panics_is_counted_once_and_contained() {
        let (_client, mut conn) = pair();
        let counters = Counters::default();
        assert!(open_session(&Bombs, &conn, &counters).is_none());
        assert!(!serve_request(&Bombs, &mut (), &mut conn, &counters, 1));
        close_session(Bomb, &counters);
        assert_eq!(next_is_complete(&Bombs, &mut (), &mut conn), None);
        let s = counters.snapshot();
        assert_eq!((s.handler_panics, s.server_panics, s.requests), (3, 0, 0));
    }
}
