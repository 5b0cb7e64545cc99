//! The server side of a [`Connection`](super::Connection): the sealed trait
//! [`ServerConnection`] (re-exported by `net::__private` for `evnet`) and its
//! implementation, the only face through which a server drives a connection.

use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[cfg(feature = "tls")]
use super::transport::tls_timeouts;
use super::transport::{timed_out, Mode, Socket};
use super::Connection;
use crate::params::ServerParams;
use crate::readiness::{HandshakeStep, WaitFn};
use crate::stats::TimeoutKind;

mod sealed {
    /// Only `net` implements [`super::ServerConnection`].
    pub trait Sealed {}
    impl Sealed for crate::Connection {}
}

/// The server side of a [`Connection`]: creating it from an accepted socket, its PROXY
/// header and TLS handshake, waiting for and framing requests, the deadlines, lending its
/// buffers, and closing it. Sealed: implemented by `Connection` only.
///
/// The one face of a connection for both servers, the blocking `TcpServer` and an evented
/// one (`evnet`): where the two need a step done differently, the method does it the way
/// the socket's mode asks (on a blocking socket, to its end within the read timeout; on a
/// non-blocking one, as far as it goes without waiting), as its documentation says.
pub trait ServerConnection: sealed::Sealed + Sized {
    /// Wrap a socket just accepted whose addresses the caller knows (an acceptor has them
    /// from `accept(2)` or its listener, saving system calls). With `wait`, the socket is
    /// made non-blocking and would-block waits go through `wait` up to the connection's
    /// deadlines (an evented server); without, it stays blocking (`TcpServer`). With a TLS configuration in `params`
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

    /// Read the PROXY header as far as the socket allows: `Ok` once it is read (or none
    /// is expected), and the connection's addresses are the ones it gave; `UnexpectedEof`
    /// when the peer closed first; `InvalidData` for a missing or malformed header. Runs
    /// before the TLS handshake.
    ///
    /// On a non-blocking socket it never waits: `WouldBlock` until more arrives (call
    /// again when the socket is readable). On a blocking one it reads the whole header
    /// within the read timeout from now, each wait bounded by what is left of it; a
    /// header not complete by then is `TimedOut`.
    fn proxy_step(&mut self) -> io::Result<()>;

    /// Drive the TLS handshake as far as the socket allows without waiting (on a
    /// blocking socket: to its end, within the read timeout from now, as one deadline, so
    /// that the step is `Done` or `Closed`). `Done` at once without TLS. Errors are failed
    /// handshakes (rustls' alert sent, best effort); a stall on a blocking socket is
    /// `TimedOut`.
    fn handshake_step(&mut self) -> io::Result<HandshakeStep>;

    /// Whether the completed TLS handshake resumed an earlier session (`None` without
    /// TLS, or before the handshake completed), for the server's handshake counters. A
    /// `HelloRetryRequest` is still a full handshake.
    fn tls_resumed(&self) -> Option<bool>;

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

    /// The timeout of the last deadline that expired in this request (`None`: none did),
    /// forgotten once asked: a read's, a write's, or the keep-alive wait's. The server
    /// counts a `TimedOut` error under it, even when the handler's error is its own.
    fn take_expired(&mut self) -> Option<TimeoutKind>;
}

/// The server side (see [`ServerConnection`]); the trait documents each method.
impl ServerConnection for Connection {
    fn from_accepted(
        stream: Arc<TcpStream>,
        peer: SocketAddr,
        local: SocketAddr,
        params: &ServerParams,
        wait: Option<WaitFn>,
    ) -> io::Result<Connection> {
        let mode = match wait {
            Some(wait) => {
                stream.set_nonblocking(true)?;
                Mode::NonBlocking(wait)
            }
            None => Mode::Blocking {
                rcv: None,
                snd: None,
            },
        };
        #[cfg(feature = "tls")]
        if let Some(config) = params.tls() {
            let tls = crate::tls::TlsSocket::new(stream, config)?;
            let socket = Socket::Tls(Box::new(tls));
            return Ok(Self::assemble(socket, peer, local, params, mode));
        }
        Ok(Self::assemble(
            Socket::Shared(stream),
            peer,
            local,
            params,
            mode,
        ))
    }
    fn awaits_proxy_header(&self) -> bool {
        self.proxy.is_some()
    }

    fn proxy_step(&mut self) -> io::Result<()> {
        match self.mode {
            Mode::Blocking { .. } => self.read_proxy_header(),
            Mode::NonBlocking(_) => self.read_proxy_bytes(),
        }
    }

    fn handshake_step(&mut self) -> io::Result<HandshakeStep> {
        #[cfg(feature = "tls")]
        if let Socket::Tls(tls) = &mut self.stream {
            if let Mode::Blocking { .. } = self.mode {
                let deadline = Instant::now() + self.read_timeout;
                return Ok(
                    match tls.handshake(deadline, tls_timeouts(&mut self.mode)?)? {
                        true => HandshakeStep::Done,
                        false => HandshakeStep::Closed,
                    },
                );
            }
            let step = tls.handshake_step()?;
            if step == HandshakeStep::Done {
                self.absorb_plaintext()?;
            }
            return Ok(step);
        }
        Ok(HandshakeStep::Done)
    }
    fn close_notify(&mut self) {
        #[cfg(feature = "tls")]
        if let Socket::Tls(tls) = &mut self.stream {
            match tls_timeouts(&mut self.mode) {
                Ok(timeouts) => tls.close(timeouts),
                Err(_) => tls.close_nonblocking(),
            }
        }
    }
    fn tls_resumed(&self) -> Option<bool> {
        #[cfg(feature = "tls")]
        if let Socket::Tls(tls) = &self.stream {
            return tls.resumed();
        }
        None
    }
    fn records_pending(&self) -> bool {
        #[cfg(feature = "tls")]
        if let Socket::Tls(tls) = &self.stream {
            return tls.records_pending && self.rpos == self.rend;
        }
        false
    }
    fn set_last_request(&mut self) {
        self.last = true;
    }
    fn await_request(&mut self, keep_alive: Duration) -> io::Result<bool> {
        if self.rpos < self.rend {
            self.begin_request(Instant::now());
            return Ok(true);
        }
        let saved = self.read_timeout;
        self.read_timeout = keep_alive;
        self.read_deadline = None;
        let result = self.fill_more();
        self.read_timeout = saved;
        // Nothing began: the keep-alive wait expired, not a request's read deadline.
        let result = self.noting(TimeoutKind::Idle, result);
        let arrived = result? > 0;
        if arrived {
            self.begin_request(Instant::now());
        }
        Ok(arrived)
    }
    fn begin_request(&mut self, first_byte: Instant) {
        self.read_deadline = first_byte.checked_add(self.read_timeout);
        self.expired = None;
    }
    fn read_deadline(&self) -> Option<Instant> {
        self.read_deadline
    }
    fn output_deadline(&self) -> Option<Instant> {
        self.write_deadline.filter(|_| self.pending_output() > 0)
    }
    fn streamed(&self) -> bool {
        self.streamed
    }
    fn try_flush(&mut self) -> io::Result<bool> {
        self.send_available()?;
        if self.pending_output() == 0 {
            self.write_deadline = None;
            return Ok(true);
        }
        if self
            .write_deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
        {
            self.expired = Some(TimeoutKind::Write);
            return Err(timed_out("write timed out"));
        }
        Ok(false)
    }
    fn push_output(&mut self, bytes: &[u8]) {
        self.wbuf.extend_from_slice(bytes);
    }
    fn read_available(&mut self) -> io::Result<usize> {
        #[cfg(feature = "tls")]
        if let Socket::Tls(tls) = &mut self.stream {
            // One read of records from the socket, decrypted; then all the plaintext
            // rustls holds goes to the buffer (none may stay where no readiness would
            // announce it).
            let received = tls.receive_nonblocking();
            let (n, closed) = self.absorb_plaintext()?;
            if n > 0 {
                if let Socket::Tls(tls) = &mut self.stream {
                    tls.records_pending = false;
                }
            }
            return match received {
                _ if n > 0 => Ok(n),
                Ok(eof) if eof || closed => Ok(0),
                Ok(_) => Err(io::ErrorKind::WouldBlock.into()),
                Err(e) => Err(e),
            };
        }
        self.make_room();
        let spare = &mut self.rbuf[self.rend..];
        let n = loop {
            match self.stream.get().read(spare) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        self.rend += n;
        Ok(n)
    }
    fn count_request(&mut self) {
        self.requests += 1;
        self.read_deadline = None;
        self.expired = None;
        self.streamed = false;
        if self.pending_output() == 0 {
            self.write_deadline = None;
        }
    }
    fn take_buffers(&mut self) -> Option<(Vec<u8>, Vec<u8>)> {
        if self.rpos < self.rend || !self.wbuf.is_empty() {
            return None;
        }
        self.rpos = 0;
        self.rend = 0;
        Some((
            std::mem::take(&mut self.rbuf),
            std::mem::take(&mut self.wbuf),
        ))
    }
    fn give_buffers(&mut self, read: Vec<u8>, write: Vec<u8>) -> Option<(Vec<u8>, Vec<u8>)> {
        if !self.rbuf.is_empty() || self.wbuf.capacity() != 0 {
            return Some((read, write));
        }
        self.rbuf = read;
        self.wbuf = write;
        self.wbuf.clear();
        None
    }
    fn shutdown(&self) -> io::Result<()> {
        self.stream.get().shutdown(Shutdown::Both)
    }
    fn take_expired(&mut self) -> Option<TimeoutKind> {
        self.expired.take()
    }
}

/// The two ways of [`ServerConnection::proxy_step`].
impl Connection {
    /// Read the PROXY header's bytes as far as the socket allows (waiting as a blocking
    /// socket's timeout says, never on a non-blocking one).
    fn read_proxy_bytes(&mut self) -> io::Result<()> {
        let Some(reader) = &mut self.proxy else {
            return Ok(());
        };
        let header = reader.step(self.stream.get())?;
        self.proxy = None;
        self.adopt(header);
        Ok(())
    }

    /// Read the PROXY header on a blocking socket (nothing to do unless the server
    /// expects one), within the read timeout from now: [`Connection::read_proxy_bytes`]
    /// until it is read, each step waiting at most what is left.
    fn read_proxy_header(&mut self) -> io::Result<()> {
        if !self.awaits_proxy_header() {
            return Ok(());
        }
        let deadline = Instant::now() + self.read_timeout;
        while self.awaits_proxy_header() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no PROXY header"));
            }
            self.stream.get().set_read_timeout(Some(left))?;
            match self.read_proxy_bytes() {
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                other => other?,
            }
        }
        // As the connection's blocking mode expects it (no timeout set yet).
        self.stream.get().set_read_timeout(None)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::super::testing::{pair, params};
    use super::*;

    /// Nothing within the keep-alive wait is an idle timeout, not a read one.
    #[test]
    fn an_empty_keep_alive_wait_is_an_idle_timeout() {
        let (_client, mut conn) = pair(&params(60_000));
        let err = conn.await_request(Duration::from_millis(50)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(conn.take_expired(), Some(TimeoutKind::Idle));
    }

    #[test]
    fn await_request_starts_the_deadline_at_the_first_byte() {
        let (mut client, mut conn) = pair(&params(300));
        client.write_all(b"G").unwrap();
        let before = Instant::now();
        assert!(conn.await_request(Duration::from_secs(10)).unwrap());
        let deadline = conn.read_deadline().expect("a request is in progress");
        assert!(deadline >= before + Duration::from_millis(300));
        // Nothing more comes: the next read fails at the request deadline, not later.
        let err = conn.fill_more().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(Instant::now() >= deadline);
    }
}
