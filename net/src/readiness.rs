//! Readiness: what a connection on a non-blocking socket waits for, and where its TLS
//! handshake stands. A leaf shared by the connection and its TLS layer (it imports
//! neither).

use std::io;
use std::net::TcpStream;
use std::time::Duration;

/// Where a non-blocking TLS handshake stands (`ServerConnection::handshake_step`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeStep {
    /// Complete (or no TLS): requests may be served. Plaintext that came with the
    /// client's last flight is in the read buffer already.
    Done,
    /// Waiting for the peer's bytes: step again when the socket is readable.
    WantRead,
    /// rustls' records wait for room in the socket: step again when it is writable.
    WantWrite,
    /// The peer closed before sending a byte (not a failed handshake).
    Closed,
}

/// Which readiness a [`WaitFn`] waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Interest {
    /// The socket has bytes to read (or EOF).
    Read,
    /// The socket can take more bytes.
    Write,
}

/// Waits until a non-blocking socket is ready for `Interest`, at most the given time.
/// Returns `Ok(true)` when ready, `Ok(false)` on timeout.
///
/// An evented server supplies one (built on `poll(2)`) so that handler code written for
/// blocking sockets works unchanged on its non-blocking ones.
pub type WaitFn = fn(&TcpStream, Interest, Duration) -> io::Result<bool>;
