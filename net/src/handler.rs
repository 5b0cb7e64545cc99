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
    /// The request is not complete yet, and its client waits for these bytes before it
    /// sends the rest: an *interim response*, such as HTTP's `100 Continue` to a request
    /// that said `Expect: 100-continue`.
    ///
    /// An evented server writes the bytes itself (from its event loop, or behind the
    /// responses of a pipelined batch it is serving), ahead of anything else it sends for
    /// this request, and then goes on reading the request exactly as after
    /// [`Frame::Partial`]; only the complete request reaches [`serve`](Handler::serve). So a client that asks for the go-ahead and then sends
    /// nothing never holds a worker: it is cut at `read_timeout` like any slow request.
    ///
    /// The server sends the bytes once per answer: `frame` should return `Interim` once
    /// for a request (keep in the session that it did) and `Partial` afterwards, and
    /// `serve` should then not send the interim response again. The blocking server never
    /// frames, so there `serve` sends it, as it would without this variant.
    Interim(&'static [u8]),
    /// A complete request of this many bytes is at the start of the buffer, and serving
    /// it will block (on a database, a file, a sleep, another service): a hint for the
    /// evented server's adaptive dispatch, which then hands it straight to a worker
    /// instead of serving it on the event loop's thread and moving the loop away once it
    /// has blocked for a while. Otherwise the same as [`Frame::Complete`]: the other
    /// dispatch modes, and the blocking server (which never frames), ignore the hint.
    Blocking(usize),
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
/// use net::{Action, Connection, Frame, Handler};
///
/// /// Answers each line with its number and length.
/// struct LineLen;
///
/// /// Per connection: lines served, and what `frame` learned about the next line.
/// #[derive(Default)]
/// struct Lines {
///     count: u64,
///     /// Bytes already searched for `\n` without finding one.
///     scanned: usize,
///     /// Where `frame` found the `\n` ending the next line.
///     newline: Option<usize>,
/// }
///
/// impl Handler for LineLen {
///     type Session = Lines;
///     fn open(&self, _conn: &Connection) -> Lines {
///         Lines::default()
///     }
///     // Resumes where the last call stopped; `serve` reuses what it found.
///     fn frame(&self, s: &mut Lines, buffered: &[u8]) -> Frame {
///         match buffered[s.scanned..].iter().position(|&b| b == b'\n') {
///             Some(i) => {
///                 s.newline = Some(s.scanned + i);
///                 Frame::Complete(s.scanned + i + 1)
///             }
///             None => {
///                 s.scanned = buffered.len();
///                 Frame::Partial
///             }
///         }
///     }
///     fn serve(&self, s: &mut Lines, conn: &mut Connection) -> io::Result<Action> {
///         let newline = match s.newline.take() {
///             Some(at) => at,
///             // Not framed (the blocking server does not call `frame`): search here.
///             None => loop {
///                 let buffered = conn.buffered();
///                 if let Some(i) = buffered[s.scanned..].iter().position(|&b| b == b'\n') {
///                     break s.scanned + i;
///                 }
///                 s.scanned = buffered.len();
///                 if conn.fill_more()? == 0 {
///                     return Ok(Action::Close);
///                 }
///             },
///         };
///         s.scanned = 0;
///         s.count += 1;
///         conn.consume(newline + 1);
///         writeln!(conn, "{} {}", s.count, newline)?;
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
    /// An evented server calls it in its event loop each time bytes arrive, so that a slow
    /// client's partial request is collected there instead of occupying a worker; the
    /// blocking server never calls it. The default, `Frame::Complete(buffered.len())`,
    /// starts serving as soon as any byte arrives: on an evented server a request that
    /// arrives in pieces is then read by its handler on a worker that waits for the
    /// rest, which the server allows only to all workers but one at a time (beyond that
    /// the connection is closed, counted in `Stats::shed_connections`).
    ///
    /// `Complete` promises that the whole request is buffered: an evented server may serve
    /// it right after the request before it, in the same turn, and send both responses
    /// together (a batch of pipelined requests). The default, `Complete` as soon as any
    /// byte is there, suits protocols whose clients never wait for a response in the
    /// middle of sending a request; a handler whose clients might should implement `frame`.
    ///
    /// **Parse once.** `session` is the connection's session: keep in it what framing
    /// learned (how far a partial request was scanned, the parsed head of a complete one)
    /// so that the next call resumes where this one stopped and [`serve`](Handler::serve)
    /// takes the request's facts from the session instead of scanning its bytes again.
    /// Until the request is served, every call sees the same request at the start of
    /// `buffered`, with more bytes behind it. `serve` must not depend on `frame` having
    /// run: the blocking server never calls it, and an evented server also serves a
    /// request that outgrew `max_request_buffer` while still `Partial`. So `serve` takes
    /// (and thereby clears) what `frame` left, and parses for itself when nothing is there.
    fn frame(&self, session: &mut Self::Session, buffered: &[u8]) -> Frame {
        let _ = session;
        Frame::Complete(buffered.len())
    }
}
