//! **Not part of the supported API.** What a server implementation living in another crate
//! (`evnet`) needs from `net`: the server side of [`Connection`](crate::Connection), the live counters, and
//! the building blocks both servers share. Handlers never need any of it, and it may
//! change in any release; it is public only because Rust has no "visible to this other
//! crate" and hidden from the docs for that reason.
//!
//! A handler cannot call a server-only method by accident: they are methods of
//! [`ServerConnection`], which must be imported from here.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use crate::connection::{HandshakeStep, Interest, WaitFn};
pub use crate::lifecycle::{handle_of, Engine, Lifecycle, Starter};
pub use crate::limits::{admit_client, ClientLimits, ClientSlot, OverClientLimit, TokenBucket};
pub use crate::listening::Listening;
pub use crate::stats::Counters;
pub use crate::support::{
    catch_handler, close_session, count_tls_handshake, discard_panic, open_session, serve_request,
    wait_while_before, AcceptFailure, PIPELINE_BATCH,
};

#[cfg(feature = "log")]
pub use log;

use crate::params::ServerParams;

/// Accept errors, classified for a server's acceptor.
pub use crate::support::classify_accept_error;

mod sealed {
    /// Only `net` implements [`super::ServerConnection`] (in `connection.rs`).
    pub trait Sealed {}
    impl Sealed for crate::Connection {}
}

/// The server side of a [`Connection`](crate::Connection): creating it from an accepted socket, waiting for
/// and framing requests, the deadlines, and lending its buffers. Sealed: implemented by
/// `Connection` only.
pub trait ServerConnection: sealed::Sealed + Sized {
    /// Wrap a socket in non-blocking mode; reads and writes that would block wait in
    /// `wait` up to the connection's deadlines. Sets the socket non-blocking.
    fn new_nonblocking(stream: TcpStream, params: &ServerParams, wait: WaitFn) -> io::Result<Self>;

    /// Wrap a socket just accepted whose addresses the caller knows (saves two system
    /// calls). With `wait`, the socket is made non-blocking and would-block waits go
    /// through `wait`; without, it stays blocking. With a TLS configuration in `params`
    /// (feature `tls`) the connection is a TLS one: drive its handshake with
    /// [`handshake_step`](ServerConnection::handshake_step) before anything else.
    ///
    /// The socket is shared: the server may keep a clone of `stream` to shut it down
    /// from another thread while the connection is out (at a shutdown deadline), without
    /// a second descriptor and without naming a descriptor it does not own.
    fn from_accepted(
        stream: Arc<TcpStream>,
        peer: SocketAddr,
        local: SocketAddr,
        params: &ServerParams,
        wait: Option<WaitFn>,
    ) -> io::Result<Self>;

    /// The request's first byte arrived at `first_byte`: all of it must arrive within the
    /// read timeout of then, whatever reads the handler makes.
    fn begin_request(&mut self, first_byte: Instant);

    /// When the current request must have arrived, if one is in progress.
    fn read_deadline(&self) -> Option<Instant>;

    /// No further request will be taken on this connection (the server is draining).
    fn set_last_request(&mut self);

    /// Record that one more request was served (after its response was flushed or handed
    /// to the server's output path). Its read deadline ends; its write deadline ends too
    /// unless output is still pending (that output keeps it).
    fn count_request(&mut self);

    /// One non-blocking read appended to the buffer: the count (0: the peer closed), or
    /// `WouldBlock`.
    fn read_available(&mut self) -> io::Result<usize>;

    /// Send buffered output without waiting: `Ok(true)` once nothing is left (the
    /// response's write deadline then ends), `Ok(false)` when the socket is full (watch
    /// for writability and call again); an expired write deadline is `TimedOut`.
    fn try_flush(&mut self) -> io::Result<bool>;

    /// Append a few bytes the server makes itself (an interim response) to the output,
    /// whatever the output limit: never sends, never waits.
    fn push_output(&mut self, bytes: &[u8]);

    /// When the pending output must have been taken by the peer (`None`: nothing pending).
    fn output_deadline(&self) -> Option<Instant>;

    /// True when this request's output outgrew the output limit and waited for the peer.
    fn streamed(&self) -> bool;

    /// Give up the (empty) buffers so an idle connection holds no heap memory; `None`
    /// while bytes are buffered in either.
    fn take_buffers(&mut self) -> Option<(Vec<u8>, Vec<u8>)>;

    /// Lend buffers to a connection that has none; buffers it holds are kept and the lent
    /// ones handed back.
    fn give_buffers(&mut self, read: Vec<u8>, write: Vec<u8>) -> Option<(Vec<u8>, Vec<u8>)>;

    /// Close both directions now (wakes a thread blocked on this socket).
    fn shutdown(&self) -> io::Result<()>;

    /// The server expects a PROXY header on this connection and has not read it yet.
    fn awaits_proxy_header(&self) -> bool;

    /// Read the PROXY header as far as the socket allows (on a non-blocking socket,
    /// without waiting): `Ok` once it is read (or none is expected), and the connection's
    /// addresses are the ones it gave; `WouldBlock` until more arrives; `UnexpectedEof`
    /// when the peer closed first; `InvalidData` for a missing or malformed header. Runs
    /// before the TLS handshake.
    fn proxy_step(&mut self) -> io::Result<()>;

    /// Drive the TLS handshake as far as the socket allows without waiting (on a
    /// blocking socket: to its end, within the read timeout). `Done` at once without TLS.
    /// Errors are failed handshakes (rustls' alert sent, best effort).
    fn handshake_step(&mut self) -> io::Result<HandshakeStep>;

    /// A clean close: with TLS, queue `close_notify` and send it (best effort; never
    /// waits on a non-blocking socket, at most a second on a blocking one). Nothing
    /// without TLS, after a TLS error, or before the handshake completed.
    fn close_notify(&mut self);

    /// TLS: bytes arrived that made no plaintext yet (a record on its way) and nothing is
    /// buffered: the peer has begun to send, so the server times it as a request in
    /// progress rather than as an idle connection. Always false without TLS.
    fn records_pending(&self) -> bool;

    /// Wait up to `keep_alive` for the first bytes of the next request (blocking servers);
    /// at once when bytes are already buffered (pipelining). True when bytes are buffered
    /// (the request's read deadline then starts), false when the peer closed; nothing
    /// within `keep_alive` is a `TimedOut` error.
    fn await_request(&mut self, keep_alive: Duration) -> io::Result<bool>;
}
