//! `Connection`: buffered, timed I/O over one accepted socket, for blocking and
//! non-blocking sockets alike.
//!
//! - this module: the handler's API (`Connection`, its `Read`/`BufRead`/`Write`);
//! - [`transport`]: the socket (plain or TLS), blocking or not, and timed reads and writes;
//! - [`buffers`]: room in the read buffer, and sending the write buffer;
//! - [`deadlines`]: the request's read deadline and the response's write deadline;
//! - [`server`]: the server side, the sealed trait [`ServerConnection`].

use std::fmt;
use std::io::{self, BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::params::{ServerParams, MAX_TIMEOUT};
use crate::proxy::{ProxyHeader, ProxyReader};
use crate::stats::TimeoutKind;
use transport::{read_timed, write_timed, Mode, Socket};

mod buffers;
mod deadlines;
mod server;
mod transport;

pub use server::ServerConnection;

/// On a blocking socket, writes are collected up to this many bytes before they go to the
/// socket. (On a non-blocking one the limit is `ServerParams::max_output_buffer`.)
const WRITE_FLUSH_THRESHOLD: usize = 64 * 1024;

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
}

fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
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

/// What the tests of the connection's modules share.
#[cfg(test)]
mod testing {
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    use super::Connection;
    use crate::params::ServerParams;

    /// A client socket and the server's end of its connection.
    pub(super) fn sockets() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (socket, _) = listener.accept().unwrap();
        (client, socket)
    }

    /// A client and a blocking server connection to it.
    pub(super) fn pair(params: &ServerParams) -> (TcpStream, Connection) {
        let (client, socket) = sockets();
        (client, Connection::new(socket, params).unwrap())
    }

    /// Parameters with a read timeout of `read_ms` milliseconds.
    pub(super) fn params(read_ms: u64) -> ServerParams {
        ServerParams::builder()
            .read_timeout(Duration::from_millis(read_ms))
            .build()
            .unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::pair;
    use super::*;

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
}
