//! Closing a connection cleanly after an error reply, for the example handlers.

use std::io::{self, Read, Write};
use std::net::Shutdown;

use net::Connection;

/// After an error reply, at most this many unread request bytes are discarded.
pub(crate) const DISCARD_BUDGET: usize = 1024 * 1024;

/// Send the reply written so far and a FIN, then read and drop the request bytes that
/// have already arrived (never waiting for more, at most [`DISCARD_BUDGET`]).
///
/// A socket closed with unread input is reset (RST) instead of closed, and a reset can
/// destroy the error reply before the client reads it; a client that sends a body or a
/// value over a limit along with its head leaves exactly such input behind. (The
/// connection is about to close, so making its socket non-blocking is harmless. When the
/// socket did not take the whole reply at once, which an evented server's non-blocking
/// flush allows, nothing is done: the server sends the rest, then closes.)
pub(crate) fn discard_input(conn: &mut Connection) {
    if conn.flush().is_err() || conn.pending_output() > 0 {
        return;
    }
    let mut socket = conn.socket();
    if socket.shutdown(Shutdown::Write).is_err() || socket.set_nonblocking(true).is_err() {
        return;
    }
    let mut scratch = [0u8; 16 * 1024];
    let mut budget = DISCARD_BUDGET;
    while budget > 0 {
        match socket.read(&mut scratch) {
            Ok(0) => break,
            Ok(n) => budget = budget.saturating_sub(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}
