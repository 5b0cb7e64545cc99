//! Building blocks shared by server implementations (`net::TcpServer` and
//! `evnet::EvServer`): serving one request with panic isolation and counting, and
//! classifying `accept(2)` errors. Handlers never need this module.

use std::io::{self, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Condvar, MutexGuard};
use std::time::Instant;

use crate::__private::ServerConnection;
use crate::connection::Connection;
use crate::handler::{Action, Handler};
use crate::stats::Counters;

/// Create a connection's session, isolating a panic in [`Handler::open`] (counted in
/// `handler_panics`; the caller closes the connection on `None`).
pub fn open_session<H: Handler>(
    handler: &H,
    conn: &Connection,
    counters: &Counters,
) -> Option<H::Session> {
    match catch_unwind(AssertUnwindSafe(|| handler.open(conn))) {
        Ok(session) => Some(session),
        Err(_) => {
            counters.handler_panics.fetch_add(1, Relaxed);
            None
        }
    }
}

/// Drop a session, isolating a panic in its destructor (counted in `handler_panics`).
pub fn close_session<S>(session: S, counters: &Counters) {
    if catch_unwind(AssertUnwindSafe(move || drop(session))).is_err() {
        counters.handler_panics.fetch_add(1, Relaxed);
    }
}

/// Serve one request on `conn` and flush its response.
///
/// Returns true when the connection stays open for another request. Counts `requests`
/// (handler calls that returned), `timed_out` (a `TimedOut` error from the handler or the
/// flush), `handler_panics`; applies `max_requests` (the connection's limit).
pub fn serve_request<H: Handler>(
    handler: &H,
    session: &mut H::Session,
    conn: &mut Connection,
    counters: &Counters,
    max_requests: Option<u64>,
) -> bool {
    let consumed_before = conn.bytes_consumed();
    let result = catch_unwind(AssertUnwindSafe(|| handler.serve(session, conn)));
    let action = match result {
        Ok(result) => {
            counters.requests.fetch_add(1, Relaxed);
            result
        }
        Err(_) => {
            counters.handler_panics.fetch_add(1, Relaxed);
            __log_warn!("handler panicked serving {}", conn.peer_addr());
            return false;
        }
    };
    // Send what the handler wrote, even when it then failed or asked to close (on a
    // non-blocking socket: what the socket takes now; the server finishes the rest).
    let flushed = conn.flush();
    if conn.streamed() {
        counters.streamed_responses.fetch_add(1, Relaxed);
    }
    conn.count_request();
    let keep = match (action, flushed) {
        (Ok(Action::KeepAlive), Ok(())) => true,
        (Ok(_), Ok(())) => false,
        (Err(e), _) | (_, Err(e)) => {
            if e.kind() == io::ErrorKind::TimedOut {
                counters.timed_out.fetch_add(1, Relaxed);
            }
            __log_debug!("closing {}: {e}", conn.peer_addr());
            false
        }
    };
    // A handler that asks to keep the connection but took nothing of the request in front
    // of it would be handed the same bytes again forever: close instead.
    let stuck = conn.bytes_consumed() == consumed_before && !conn.buffered().is_empty();
    keep && !stuck && max_requests.is_none_or(|max| conn.requests_served() < max)
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
