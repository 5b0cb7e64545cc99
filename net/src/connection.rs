//! `Connection`: buffered, timed I/O over one accepted socket, for blocking and
//! non-blocking sockets alike.

use std::fmt;
use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::__private::ServerConnection;
use crate::params::{ServerParams, MAX_TIMEOUT};
use crate::proxy::{ProxyHeader, ProxyReader};
use crate::stats::TimeoutKind;

/// On a blocking socket, writes are collected up to this many bytes before they go to the
/// socket. (On a non-blocking one the limit is `ServerParams::max_output_buffer`.)
const WRITE_FLUSH_THRESHOLD: usize = 64 * 1024;

/// The socket, owned or shared with the server (which keeps a handle to wake a thread
/// blocked on it at shutdown without a second descriptor), or a TLS session over a shared
/// one (blocking for `net`, non-blocking for an evented server's loops and workers).
enum Socket {
    Owned(TcpStream),
    Shared(Arc<TcpStream>),
    #[cfg(feature = "tls")]
    Tls(Box<crate::tls::TlsSocket>),
}

impl Socket {
    fn get(&self) -> &TcpStream {
        match self {
            Socket::Owned(s) => s,
            Socket::Shared(s) => s,
            #[cfg(feature = "tls")]
            Socket::Tls(t) => &t.tcp,
        }
    }
}

/// The timeout caches of a blocking mode, for the TLS layer's blocking paths (the
/// non-blocking mode has paths of its own and never asks).
#[cfg(feature = "tls")]
fn tls_timeouts(mode: &mut Mode) -> io::Result<crate::tls::Timeouts<'_>> {
    match mode {
        Mode::Blocking { rcv, snd } => Ok(crate::tls::Timeouts { rcv, snd }),
        Mode::NonBlocking(_) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "a blocking TLS path used on a non-blocking socket",
        )),
    }
}

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

#[derive(Clone, Copy)]
enum Mode {
    /// A blocking socket; the timeouts currently applied with `SO_RCVTIMEO`/`SO_SNDTIMEO`.
    Blocking {
        rcv: Option<Duration>,
        snd: Option<Duration>,
    },
    /// A non-blocking socket; would-block waits go through the server's wait function.
    NonBlocking(WaitFn),
}

/// One accepted connection as a handler sees it: [`Read`], [`BufRead`] and [`Write`] over
/// the socket, with a read buffer and a write buffer.
///
/// - Bytes read into the buffer but not consumed by a request (pipelined requests) stay
///   for the next request.
/// - Writes are buffered and flushed by the server at the end of each request (or by an
///   explicit [`flush`](Write::flush)), so a response that fits is one `write(2)`.
/// - **Whole-request deadlines.** A request must arrive within
///   [`read_timeout`](Connection::read_timeout) of its first byte, however its bytes
///   trickle in: every read the handler makes shares that one deadline. A response must be
///   taken by the peer within [`write_timeout`](Connection::write_timeout) of its first
///   write. Expiry is an [`io::ErrorKind::TimedOut`] error. (Outside a request started by
///   a server, each read waits at most `read_timeout`.)
/// - **TLS** (the `tls` feature and `ServerParamsBuilder::tls`, on either server): the
///   handler reads and writes plaintext through these same methods, under the same
///   deadlines;
///   [`is_tls`](Connection::is_tls) and [`alpn_protocol`](Connection::alpn_protocol) tell
///   it so.
/// - **Non-blocking sockets** (an evented server): writes are buffered up to
///   `ServerParams::max_output_buffer` and [`flush`](Write::flush) sends what the socket
///   takes *without waiting*; the server finishes sending the rest. Only output beyond that
///   limit makes a write wait for the peer.
///
/// ```
/// use std::io::{BufRead, Write};
/// use std::net::{TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let mut client = TcpStream::connect(listener.local_addr()?)?;
/// let (socket, _) = listener.accept()?;
/// let mut conn = net::Connection::new(socket, &net::ServerParams::default())?;
///
/// client.write_all(b"one\ntwo\n")?;
/// let mut line = String::new();
/// conn.read_line(&mut line)?;
/// assert_eq!(line, "one\n");
/// assert_eq!(conn.buffered(), b"two\n"); // the pipelined rest stays buffered
/// conn.write_all(b"ok\n")?;
/// conn.flush()?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// A handler sees only the handler's side: what a server does with the connection
/// (counting requests, lending buffers, deadlines) is out of its reach, so it cannot
/// defeat `max_requests_per_connection` or corrupt a server's buffer pool:
///
/// ```compile_fail
/// fn serve(conn: &mut net::Connection) {
///     conn.count_request(); // error: private to the servers
/// }
/// ```
pub struct Connection {
    stream: Socket,
    /// The client's address: the socket's peer, or the one a PROXY header gave.
    peer: SocketAddr,
    local: SocketAddr,
    /// The socket's peer when a PROXY header named the client (the load balancer).
    balancer: Option<SocketAddr>,
    /// Reading the PROXY header this connection must begin with, until it is read.
    proxy: Option<Box<ProxyReader>>,
    /// Read buffer: always initialised to its full length; `rpos..rend` holds unread bytes.
    rbuf: Vec<u8>,
    rpos: usize,
    rend: usize,
    wbuf: Vec<u8>,
    read_buffer_size: usize,
    read_timeout: Duration,
    write_timeout: Duration,
    mode: Mode,
    requests: u64,
    /// Bytes handed to the reader so far (buffered bytes consumed plus direct reads).
    consumed: u64,
    /// When the current response's writes must be done: set by its first write, cleared
    /// once the response is sent. One deadline per response, not per write.
    write_deadline: Option<Instant>,
    /// When the current request must be fully read: set by the server at the request's
    /// first byte, cleared by `count_request`. One deadline per request, not per read.
    read_deadline: Option<Instant>,
    /// Output buffered beyond this is sent at once (waiting for the peer if need be).
    output_limit: usize,
    /// This request's output had to wait for the peer (it outgrew `output_limit` on a
    /// non-blocking socket).
    streamed: bool,
    /// A large write failed after part of it was sent: `write` reported the part (as
    /// `Write::write` must) and returns this error on the next call instead of trying
    /// (and waiting on the peer) again.
    write_failed: Option<io::Error>,
    /// `ServerParams::max_requests_per_connection`.
    max_requests: Option<u64>,
    /// `ServerParams::max_output_buffer`, for [`Connection::max_output_buffer`].
    max_output_buffer: usize,
    /// The server will take no further request on this connection (it is draining).
    last: bool,
    /// The deadline that expired last in this request (a read's or a write's `TimedOut`
    /// error), so that the server can say which timeout closed the connection even when
    /// the handler's error is its own. Cleared when a request begins or ends.
    expired: Option<TimeoutKind>,
}

impl Connection {
    /// Wrap a blocking socket, taking buffer size and timeouts from `params`.
    pub fn new(stream: TcpStream, params: &ServerParams) -> io::Result<Connection> {
        Self::with_mode(
            Socket::Owned(stream),
            params,
            Mode::Blocking {
                rcv: None,
                snd: None,
            },
        )
    }

    /// Wrap a blocking socket that the server also holds (to shut it down from another
    /// thread at shutdown, without a second descriptor).
    pub(crate) fn new_shared(
        stream: Arc<TcpStream>,
        params: &ServerParams,
    ) -> io::Result<Connection> {
        let mode = Mode::Blocking {
            rcv: None,
            snd: None,
        };
        Self::with_mode(Socket::Shared(stream), params, mode)
    }

    /// Wrap a blocking socket that the server also holds in a TLS session with `config`
    /// (the handshake is run by [`Connection::tls_handshake`]).
    #[cfg(feature = "tls")]
    pub(crate) fn new_shared_tls(
        stream: Arc<TcpStream>,
        params: &ServerParams,
        config: &Arc<rustls::ServerConfig>,
    ) -> io::Result<Connection> {
        let mode = Mode::Blocking {
            rcv: None,
            snd: None,
        };
        let tls = crate::tls::TlsSocket::new(stream, config)?;
        Self::with_mode(Socket::Tls(Box::new(tls)), params, mode)
    }

    /// Run the TLS handshake on a blocking socket (nothing to do without TLS), bounded by
    /// the read timeout as one deadline from now. `Ok(false)`: the peer closed before
    /// sending anything.
    pub(crate) fn tls_handshake(&mut self) -> io::Result<bool> {
        #[cfg(feature = "tls")]
        if let Socket::Tls(tls) = &mut self.stream {
            let deadline = Instant::now() + self.read_timeout;
            return tls.handshake(deadline, tls_timeouts(&mut self.mode)?);
        }
        Ok(true)
    }

    /// End the connection cleanly: with TLS, send `close_notify` (best effort: on a
    /// blocking socket waiting at most a second, on a non-blocking one never). Nothing to
    /// do without TLS.
    pub(crate) fn close_gracefully(&mut self) {
        #[cfg(feature = "tls")]
        if let Socket::Tls(tls) = &mut self.stream {
            match tls_timeouts(&mut self.mode) {
                Ok(timeouts) => tls.close(timeouts),
                Err(_) => tls.close_nonblocking(),
            }
        }
    }

    /// Non-blocking TLS: move the plaintext rustls holds into the read buffer (growing it
    /// as needed), so that bytes received are never left where no socket readiness would
    /// announce them. Returns how many bytes came, and whether the peer closed.
    #[cfg(feature = "tls")]
    fn absorb_plaintext(&mut self) -> io::Result<(usize, bool)> {
        let mut total = 0;
        loop {
            self.make_room();
            let Connection {
                stream, rbuf, rend, ..
            } = self;
            let Socket::Tls(tls) = stream else {
                return Ok((total, false));
            };
            match tls.plaintext(&mut rbuf[*rend..]) {
                Ok(0) => return Ok((total, true)),
                Ok(n) => {
                    *rend += n;
                    total += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok((total, false)),
                Err(e) => return Err(e),
            }
        }
    }

    /// After a read on a non-blocking TLS connection: what rustls still holds goes to the
    /// read buffer too.
    fn absorb_after_read(&mut self) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if matches!(self.mode, Mode::NonBlocking(_)) && self.is_tls() {
            self.absorb_plaintext()?;
        }
        Ok(())
    }

    fn with_mode(stream: Socket, params: &ServerParams, mode: Mode) -> io::Result<Connection> {
        let (peer, local) = (stream.get().peer_addr()?, stream.get().local_addr()?);
        Ok(Self::assemble(stream, peer, local, params, mode))
    }

    fn assemble(
        stream: Socket,
        peer: SocketAddr,
        local: SocketAddr,
        params: &ServerParams,
        mode: Mode,
    ) -> Connection {
        let output_limit = match mode {
            Mode::Blocking { .. } => WRITE_FLUSH_THRESHOLD,
            Mode::NonBlocking(_) => params.max_output_buffer(),
        };
        Connection {
            peer,
            local,
            balancer: None,
            proxy: params
                .proxy_protocol()
                .then(|| Box::new(ProxyReader::new())),
            stream,
            rbuf: Vec::new(),
            rpos: 0,
            rend: 0,
            wbuf: Vec::new(),
            read_buffer_size: params.read_buffer_size(),
            read_timeout: params.read_timeout(),
            write_timeout: params.write_timeout(),
            mode,
            requests: 0,
            consumed: 0,
            write_deadline: None,
            read_deadline: None,
            output_limit,
            streamed: false,
            write_failed: None,
            max_requests: params.max_requests_per_connection(),
            max_output_buffer: params.max_output_buffer(),
            last: false,
            expired: None,
        }
    }

    /// The client's address: the socket's peer, or, behind a load balancer that sends
    /// the PROXY protocol ([`ServerParamsBuilder::proxy_protocol`]), the client's address
    /// the balancer gave.
    ///
    /// [`ServerParamsBuilder::proxy_protocol`]: crate::ServerParamsBuilder::proxy_protocol
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// The load balancer's address, when a PROXY header named the client (`peer_addr` is
    /// then the client's); `None` for a direct connection, and for the balancer's own
    /// `LOCAL` (health check) and `UNKNOWN` connections.
    pub fn balancer_addr(&self) -> Option<SocketAddr> {
        self.balancer
    }

    /// Take the addresses of a PROXY header: both change together.
    fn adopt(&mut self, header: ProxyHeader) {
        if let (false, Some(client)) = (header.local, header.source) {
            self.balancer = Some(self.peer);
            self.peer = client;
        }
    }

    /// Read the PROXY header on a blocking socket (nothing to do unless the server
    /// expects one), within the read timeout from now: [`ServerConnection::proxy_step`]
    /// until it is read, each step waiting at most what is left.
    pub(crate) fn read_proxy_header(&mut self) -> io::Result<()> {
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
            match self.proxy_step() {
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

    /// The local address the connection was accepted on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// How long a request may take to arrive, from its first byte to its last (and how
    /// long one read waits outside a request).
    pub fn read_timeout(&self) -> Duration {
        self.read_timeout
    }

    /// How long the peer may take to accept one response, from its first write.
    pub fn write_timeout(&self) -> Duration {
        self.write_timeout
    }

    /// Change the read timeout for the rest of this connection (zero or more than
    /// [`MAX_TIMEOUT`](crate::MAX_TIMEOUT) is rejected).
    pub fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        if timeout.is_zero() || timeout > MAX_TIMEOUT {
            return Err(invalid(
                "read timeout must be more than zero and at most 365 days",
            ));
        }
        self.read_timeout = timeout;
        Ok(())
    }

    /// Change the write timeout for the rest of this connection (zero or more than
    /// [`MAX_TIMEOUT`](crate::MAX_TIMEOUT) is rejected).
    pub fn set_write_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        if timeout.is_zero() || timeout > MAX_TIMEOUT {
            return Err(invalid(
                "write timeout must be more than zero and at most 365 days",
            ));
        }
        self.write_timeout = timeout;
        Ok(())
    }

    /// The bytes received and not consumed yet (no I/O).
    pub fn buffered(&self) -> &[u8] {
        &self.rbuf[self.rpos..self.rend]
    }

    /// Bytes written and not yet sent (no I/O). With TLS on an evented server this
    /// includes encrypted records the socket has not taken yet.
    pub fn pending_output(&self) -> usize {
        #[cfg(feature = "tls")]
        if let Socket::Tls(tls) = &self.stream {
            return self.wbuf.len() + tls.unsent();
        }
        self.wbuf.len()
    }

    /// Read more bytes, appending them to [`buffered`](Connection::buffered) (which
    /// grows as needed), waiting up to the read timeout. Returns how many arrived; 0 means
    /// the peer closed its side. Parsers use it to see a whole request head at once; they
    /// bound the size themselves.
    pub fn fill_more(&mut self) -> io::Result<usize> {
        self.make_room();
        let n = self.read_socket_into_spare()?;
        self.rend += n;
        self.absorb_after_read()?;
        Ok(n)
    }

    /// The timeout of the last deadline that expired in this request (`None`: none did),
    /// forgotten once asked.
    pub(crate) fn take_expired(&mut self) -> Option<TimeoutKind> {
        self.expired.take()
    }

    /// Whether the TLS handshake resumed an earlier session (`None` without TLS, or
    /// before the handshake completed). A `HelloRetryRequest` is still a full handshake.
    pub(crate) fn tls_resumed(&self) -> Option<bool> {
        #[cfg(feature = "tls")]
        if let Socket::Tls(tls) = &self.stream {
            return tls.resumed();
        }
        None
    }

    /// How many bytes the handler has taken from the connection so far. Servers use it to
    /// notice a handler that keeps a connection open without consuming its request.
    pub fn bytes_consumed(&self) -> u64 {
        self.consumed
    }

    /// How many requests the server has finished on this connection.
    pub fn requests_served(&self) -> u64 {
        self.requests
    }

    /// True when the request being served is the last the server will take on this
    /// connection: `max_requests_per_connection` is reached with it, or the server is
    /// shutting down. The connection closes after its response whatever the handler
    /// returns, so a protocol should say so in the response (HTTP: `Connection: close`).
    ///
    /// ```
    /// # use std::net::{TcpListener, TcpStream};
    /// let params = net::ServerParams::builder().max_requests_per_connection(1).build()?;
    /// # let listener = TcpListener::bind("127.0.0.1:0")?;
    /// # let _client = TcpStream::connect(listener.local_addr()?)?;
    /// # let (socket, _) = listener.accept()?;
    /// let conn = net::Connection::new(socket, &params)?;
    /// assert!(conn.is_last_request()); // the first request is also the last
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_last_request(&self) -> bool {
        self.last
            || self
                .max_requests
                .is_some_and(|max| self.requests + 1 >= max)
    }

    /// The server's `ServerParams::max_output_buffer` (default 2 MiB): the most response
    /// bytes an evented server holds unsent for this connection (`net` sends as it goes
    /// and ignores it for sending). A handler that assembles a response in memory can use
    /// it to refuse one that would outgrow the output limit.
    ///
    /// ```
    /// # use std::net::{TcpListener, TcpStream};
    /// let params = net::ServerParams::builder().max_output_buffer(64 * 1024).build()?;
    /// # let listener = TcpListener::bind("127.0.0.1:0")?;
    /// # let _client = TcpStream::connect(listener.local_addr()?)?;
    /// # let (socket, _) = listener.accept()?;
    /// let conn = net::Connection::new(socket, &params)?;
    /// assert_eq!(conn.max_output_buffer(), 64 * 1024);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_output_buffer(&self) -> usize {
        self.max_output_buffer
    }

    /// The underlying socket (for options such as TTL; reading or writing it directly
    /// bypasses the buffers, and TLS when the connection is a TLS one).
    pub fn socket(&self) -> &TcpStream {
        self.stream.get()
    }

    /// True when the connection is a TLS one (its bytes are decrypted for the handler).
    pub fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        if let Socket::Tls(_) = self.stream {
            return true;
        }
        false
    }

    /// The application protocol agreed on with ALPN in the TLS handshake (`b"http/1.1"`),
    /// if any (always `None` without TLS).
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        #[cfg(feature = "tls")]
        if let Socket::Tls(tls) = &self.stream {
            return tls.alpn_protocol();
        }
        None
    }

    // ----- internals -----

    /// Make sure there is spare room after `rend`: allocate, compact, or grow.
    fn make_room(&mut self) {
        if self.rbuf.is_empty() {
            self.rbuf.resize(self.read_buffer_size, 0);
        }
        if self.rpos == self.rend {
            self.rpos = 0;
            self.rend = 0;
        }
        if self.rend == self.rbuf.len() {
            if self.rpos > 0 {
                self.rbuf.copy_within(self.rpos..self.rend, 0);
                self.rend -= self.rpos;
                self.rpos = 0;
            } else {
                let len = self.rbuf.len() * 2;
                self.rbuf.resize(len, 0);
            }
        }
    }

    /// `result`, noting a `TimedOut` error as an expired deadline of `kind`.
    fn noting<T>(&mut self, kind: TimeoutKind, result: io::Result<T>) -> io::Result<T> {
        if matches!(&result, Err(e) if e.kind() == io::ErrorKind::TimedOut) {
            self.expired = Some(kind);
        }
        result
    }

    /// How long the next read may wait: what is left of the request's deadline, or the
    /// read timeout outside a request. A passed deadline is a `TimedOut` error.
    fn read_wait(&self) -> io::Result<Duration> {
        match self.read_deadline {
            None => Ok(self.read_timeout),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    Err(timed_out("request not complete within the read timeout"))
                } else {
                    Ok(left)
                }
            }
        }
    }

    /// Read into the spare part of the read buffer, waiting as the mode says.
    fn read_socket_into_spare(&mut self) -> io::Result<usize> {
        let rend = self.rend;
        let result = self.read_wait().and_then(|timeout| {
            let Connection {
                stream, rbuf, mode, ..
            } = self;
            read_timed(stream, mode, timeout, &mut rbuf[rend..])
        });
        self.noting(TimeoutKind::Read, result)
    }

    /// Send everything buffered, waiting up to the response's write deadline.
    fn write_out(&mut self) -> io::Result<()> {
        let result = self.write_out_timed();
        self.noting(TimeoutKind::Write, result)
    }

    fn write_out_timed(&mut self) -> io::Result<()> {
        let mut done = 0;
        let (deadline, fresh) = self.write_deadline();
        let timeout = self.write_timeout;
        let result = write_timed(
            &mut self.stream,
            &mut self.mode,
            (deadline, fresh.then_some(timeout)),
            &self.wbuf,
            &mut done,
        );
        self.wbuf.drain(..done);
        result
    }

    /// Write what the socket takes now (a non-blocking socket never waits here; a
    /// blocking one sends everything, as `write_out`). Starts the response's write
    /// deadline if this is its first write.
    fn send_available(&mut self) -> io::Result<()> {
        if self.pending_output() == 0 {
            return Ok(());
        }
        if matches!(self.mode, Mode::Blocking { .. }) {
            return self.write_out();
        }
        self.write_deadline();
        #[cfg(feature = "tls")]
        if let Socket::Tls(tls) = &mut self.stream {
            let taken = tls.send_nonblocking(&self.wbuf);
            if let Ok(n) = taken {
                self.wbuf.drain(..n);
            }
            return self.noting(TimeoutKind::Write, taken.map(drop));
        }
        let mut done = 0;
        let result = loop {
            if done == self.wbuf.len() {
                break Ok(());
            }
            match self.stream.get().write(&self.wbuf[done..]) {
                Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        self.wbuf.drain(..done);
        self.noting(TimeoutKind::Write, result)
    }

    /// The current request's write deadline, set by its first write; and whether it was
    /// set just now.
    fn write_deadline(&mut self) -> (Instant, bool) {
        match self.write_deadline {
            Some(deadline) => (deadline, false),
            None => {
                let deadline = Instant::now() + self.write_timeout;
                self.write_deadline = Some(deadline);
                (deadline, true)
            }
        }
    }
}

/// The server side (see [`ServerConnection`]); the trait documents each method.
impl ServerConnection for Connection {
    fn new_nonblocking(
        stream: TcpStream,
        params: &ServerParams,
        wait: WaitFn,
    ) -> io::Result<Connection> {
        stream.set_nonblocking(true)?;
        Self::with_mode(Socket::Owned(stream), params, Mode::NonBlocking(wait))
    }
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
        let Some(reader) = &mut self.proxy else {
            return Ok(());
        };
        let header = reader.step(self.stream.get())?;
        self.proxy = None;
        self.adopt(header);
        Ok(())
    }

    fn handshake_step(&mut self) -> io::Result<HandshakeStep> {
        #[cfg(feature = "tls")]
        if let Socket::Tls(tls) = &mut self.stream {
            if let Mode::Blocking { .. } = self.mode {
                return Ok(match self.tls_handshake()? {
                    true => HandshakeStep::Done,
                    false => HandshakeStep::Closed,
                });
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
        self.close_gracefully();
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
}

fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn timed_out(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what)
}

fn read_timed(
    stream: &mut Socket,
    mode: &mut Mode,
    timeout: Duration,
    buf: &mut [u8],
) -> io::Result<usize> {
    #[cfg(feature = "tls")]
    if let Socket::Tls(tls) = stream {
        return match mode {
            Mode::NonBlocking(wait) => tls.read_waiting(buf, timeout, *wait),
            Mode::Blocking { .. } => tls.read(buf, timeout, tls_timeouts(mode)?),
        };
    }
    let mut stream = stream.get();
    if let Mode::Blocking { rcv, .. } = mode {
        if *rcv != Some(timeout) {
            stream.set_read_timeout(Some(timeout))?;
            *rcv = Some(timeout);
        }
    }
    loop {
        match stream.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => match mode {
                Mode::Blocking { .. } => return Err(timed_out("read timed out")),
                Mode::NonBlocking(wait) => {
                    if !wait(stream, Interest::Read, timeout)? {
                        return Err(timed_out("read timed out"));
                    }
                }
            },
            Err(e) => return Err(e),
        }
    }
}

/// Write all of `buf`, counting progress in `done` (so a failure keeps the unsent rest),
/// by `deadline.0`. `deadline.1` is the full timeout when the deadline was set just now
/// (so the usual case reuses the socket's timeout setting without a system call).
fn write_timed(
    stream: &mut Socket,
    mode: &mut Mode,
    deadline: (Instant, Option<Duration>),
    buf: &[u8],
    done: &mut usize,
) -> io::Result<()> {
    let (deadline, fresh) = deadline;
    #[cfg(feature = "tls")]
    if let Socket::Tls(tls) = stream {
        return match mode {
            Mode::NonBlocking(wait) => tls.write_waiting(buf, deadline, done, *wait),
            Mode::Blocking { .. } if *done == buf.len() => Ok(()),
            Mode::Blocking { .. } => tls.write_all(buf, deadline, fresh, done, tls_timeouts(mode)?),
        };
    }
    let mut stream = stream.get();
    // One deadline for the whole request: a peer that takes a few bytes now and then
    // cannot stretch the wait beyond the write timeout.
    let mut remaining = match fresh {
        Some(timeout) => timeout,
        None => deadline.saturating_duration_since(Instant::now()),
    };
    if remaining.is_zero() && *done < buf.len() {
        return Err(timed_out("write timed out"));
    }
    while *done < buf.len() {
        if let Mode::Blocking { snd, .. } = mode {
            if *snd != Some(remaining) {
                stream.set_write_timeout(Some(remaining))?;
                *snd = Some(remaining);
            }
        }
        match stream.write(&buf[*done..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => *done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => match mode {
                Mode::Blocking { .. } => return Err(timed_out("write timed out")),
                Mode::NonBlocking(wait) => {
                    if !wait(stream, Interest::Write, remaining)? {
                        return Err(timed_out("write timed out"));
                    }
                }
            },
            Err(e) => return Err(e),
        }
        if *done < buf.len() {
            remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(timed_out("write timed out"));
            }
        }
    }
    Ok(())
}

impl Read for Connection {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.rpos == self.rend && buf.len() >= self.read_buffer_size {
            // Large read with nothing buffered: skip the copy.
            let result = self
                .read_wait()
                .and_then(|timeout| read_timed(&mut self.stream, &mut self.mode, timeout, buf));
            let n = self.noting(TimeoutKind::Read, result)?;
            self.consumed += n as u64;
            self.absorb_after_read()?;
            return Ok(n);
        }
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Connection {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.rpos == self.rend {
            self.fill_more()?;
        }
        Ok(&self.rbuf[self.rpos..self.rend])
    }

    fn consume(&mut self, amt: usize) {
        let amt = amt.min(self.rend - self.rpos);
        self.rpos += amt;
        self.consumed += amt as u64;
    }
}

impl Write for Connection {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(e) = self.write_failed.take() {
            return Err(e);
        }
        if self.wbuf.len() + buf.len() > self.output_limit {
            // Over the limit: send what the socket takes now; if that is not enough, the
            // rest waits for the peer (on a non-blocking socket, this is streaming).
            self.send_available()?;
            if self.wbuf.len() + buf.len() <= self.output_limit {
                self.wbuf.extend_from_slice(buf);
                return Ok(buf.len());
            }
            if matches!(self.mode, Mode::NonBlocking(_)) {
                self.streamed = true;
            }
            self.write_out()?;
            if buf.len() >= self.output_limit {
                // Large write: send it directly. Report what was sent before a failure,
                // as `Write::write` must.
                let mut done = 0;
                let (deadline, fresh) = self.write_deadline();
                let fresh = fresh.then_some(self.write_timeout);
                let result = write_timed(
                    &mut self.stream,
                    &mut self.mode,
                    (deadline, fresh),
                    buf,
                    &mut done,
                );
                return match self.noting(TimeoutKind::Write, result) {
                    Ok(()) => Ok(buf.len()),
                    Err(e) if done > 0 => {
                        self.write_failed = Some(e);
                        Ok(done)
                    }
                    Err(e) => Err(e),
                };
            }
        }
        self.wbuf.extend_from_slice(buf);
        Ok(buf.len())
    }

    /// On a blocking socket, send everything buffered (waiting up to the write deadline).
    /// On a non-blocking one, send what the socket takes now and keep the rest for the
    /// server to finish (never waits: the buffered output is within the output limit).
    /// A large write that failed after sending part of itself fails the flush too.
    fn flush(&mut self) -> io::Result<()> {
        if let Some(e) = self.write_failed.take() {
            return Err(e);
        }
        self.send_available()
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.peer)
            .field("local", &self.local)
            .field("buffered", &(self.rend - self.rpos))
            .field("pending_output", &self.wbuf.len())
            .field("requests", &self.requests)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn pair(params: &ServerParams) -> (TcpStream, Connection) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (socket, _) = listener.accept().unwrap();
        (client, Connection::new(socket, params).unwrap())
    }

    fn params(read_ms: u64) -> ServerParams {
        ServerParams::builder()
            .read_timeout(Duration::from_millis(read_ms))
            .build()
            .unwrap()
    }

    /// A large write to a peer that does not read reports the part that was sent; the
    /// failure comes with the next call, at once, rather than another wait.
    #[test]
    fn a_failed_large_write_fails_the_next_call() {
        let params = ServerParams::builder()
            .write_timeout(Duration::from_millis(100))
            .max_output_buffer(1024)
            .build()
            .unwrap();
        let big = vec![b'x'; 64 << 20];
        let (_client, mut conn) = pair(&params);
        let sent = conn.write(&big).expect("part of it was sent");
        assert!(sent > 0 && sent < big.len(), "{sent}");
        let err = conn.write(b"more").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(conn.take_expired(), Some(TimeoutKind::Write));
        // The same when the handler's next call is a flush.
        let (_client, mut conn) = pair(&params);
        let sent = conn.write(&big).expect("part of it was sent");
        assert!(sent > 0 && sent < big.len(), "{sent}");
        assert_eq!(conn.flush().unwrap_err().kind(), io::ErrorKind::TimedOut);
    }

    #[test]
    fn reads_share_the_request_deadline() {
        let (mut client, mut conn) = pair(&params(60_000));
        client.write_all(b"GET").unwrap();
        // The request's first byte came a minute ago: its deadline has passed, so even
        // bytes already on their way are not waited for.
        let long_ago = Instant::now() - Duration::from_secs(61);
        conn.begin_request(long_ago);
        let err = conn.fill_more().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(conn.expired, Some(TimeoutKind::Read));
        // Once the request is counted, reads wait per read again (and its expired
        // deadline is forgotten).
        conn.count_request();
        assert_eq!(conn.take_expired(), None);
        assert_eq!(conn.read_deadline(), None);
        assert_eq!(conn.fill_more().unwrap(), 3);
    }

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

    /// A client and a non-blocking server connection whose waits always time out at once.
    fn nonblocking_pair(max_output: usize) -> (TcpStream, Connection) {
        fn no_wait(_: &TcpStream, _: Interest, _: Duration) -> io::Result<bool> {
            Ok(false)
        }
        let params = ServerParams::builder()
            .max_output_buffer(max_output)
            .build()
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (socket, _) = listener.accept().unwrap();
        let conn = Connection::new_nonblocking(socket, &params, no_wait).unwrap();
        (client, conn)
    }

    #[test]
    fn nonblocking_output_is_buffered_up_to_the_limit_and_never_waits() {
        let (client, mut conn) = nonblocking_pair(64 << 20);
        // 32 MiB to a client that does not read: more than the socket buffers take.
        let chunk = vec![7u8; 1 << 20];
        for _ in 0..32 {
            conn.write_all(&chunk).unwrap();
        }
        conn.flush().unwrap();
        assert!(conn.pending_output() > 0, "the kernel took 32 MiB?");
        assert!(!conn.streamed());
        assert!(conn.output_deadline().is_some());
        assert!(!conn.try_flush().unwrap());
        // The client reads everything; the server side finishes with try_flush.
        let reader = std::thread::spawn(move || {
            let mut n = 0;
            let mut buf = vec![0u8; 1 << 16];
            let mut client = client;
            while n < 32 << 20 {
                match client.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => n += k,
                }
            }
            n
        });
        while !conn.try_flush().unwrap() {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(conn.output_deadline(), None);
        assert_eq!(reader.join().unwrap(), 32 << 20);
    }

    #[test]
    fn nonblocking_output_over_the_limit_streams() {
        let (_client, mut conn) = nonblocking_pair(1024);
        let chunk = vec![7u8; 1 << 20];
        // The socket buffers fill, then a write must wait; this wait function refuses.
        let err = (0..64)
            .try_for_each(|_| conn.write_all(&chunk))
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(conn.streamed());
    }
}
