//! The handler trait: what a protocol implements, once, for both servers.

use std::io;

use crate::connection::Connection;

/// What a handler says after serving one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Keep the connection open and wait for its next request.
    KeepAlive,
    /// Close the connection (after the response is flushed).
    Close,
}

/// The answer of [`Handler::frame`] about the bytes buffered so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frame {
    /// A complete request of this many bytes is at the start of the buffer.
    Complete(usize),
    /// The request is not complete yet: more bytes are needed before serving it.
    Partial,
    /// The bytes cannot start a valid request; the handler will be called at once so that
    /// it can answer with its protocol's error.
    Invalid,
}

/// A protocol: serves one request at a time on a [`Connection`].
///
/// The same handler runs unchanged on `net::TcpServer` (a thread per connection) and on
/// `evnet::EvServer` (event loops plus a worker pool). The server, not the handler, waits
/// for the first bytes of each request; [`serve`](Handler::serve) is only called when a
/// request has started to arrive, and must read exactly one request (leaving any pipelined
/// bytes after it in the connection's buffer) and write its response.
///
/// ```
/// use std::io::{self, BufRead, Write};
/// use net::{Action, Connection, Handler};
///
/// /// Answers each line with its length; the session counts lines per connection.
/// struct LineLen;
///
/// impl Handler for LineLen {
///     type Session = u64;
///     fn open(&self, _conn: &Connection) -> u64 {
///         0
///     }
///     fn serve(&self, lines: &mut u64, conn: &mut Connection) -> io::Result<Action> {
///         let mut line = String::new();
///         if conn.read_line(&mut line)? == 0 {
///             return Ok(Action::Close);
///         }
///         *lines += 1;
///         writeln!(conn, "{} {}", lines, line.trim_end().len())?;
///         Ok(Action::KeepAlive)
///     }
/// }
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Per-connection state: created by [`open`](Handler::open), passed to every request
    /// of that connection, dropped when it closes.
    type Session: Send + 'static;

    /// Called once when a connection opens, before its first request.
    fn open(&self, conn: &Connection) -> Self::Session;

    /// Serve one request: read it from `conn`, write the response, and say whether to keep
    /// the connection. An `Err` closes the connection (a [`io::ErrorKind::TimedOut`] one is
    /// counted in `timed_out`). A panic closes the connection, is counted in
    /// `handler_panics`, and leaves the server running.
    fn serve(&self, session: &mut Self::Session, conn: &mut Connection) -> io::Result<Action>;

    /// Say whether `buffered` (the bytes received so far, starting at a request boundary)
    /// holds a complete request.
    ///
    /// An evented server uses it to collect a slow client's partial request in its event
    /// loop instead of occupying a worker; the blocking server ignores it. The default,
    /// `Frame::Complete(buffered.len())`, starts serving as soon as any byte arrives.
    fn frame(&self, buffered: &[u8]) -> Frame {
        Frame::Complete(buffered.len())
    }
}
