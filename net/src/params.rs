//! Server parameters: a validated builder shared by both servers.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::filter::ConnectionFilter;

/// The longest timeout accepted (365 days): longer ones would overflow deadlines.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

/// Tunables shared by `net::TcpServer` and `evnet::EvServer`.
///
/// Build one with [`ServerParams::builder`]; every setter is checked in
/// [`ServerParamsBuilder::build`], which returns an [`Error`] naming the bad parameter.
///
/// ```
/// use std::time::Duration;
/// let params = net::ServerParams::builder()
///     .max_threads(8)
///     .max_queued(32)
///     .keep_alive_timeout(Duration::from_secs(5))
///     .build()?;
/// assert_eq!(params.max_threads(), 8);
/// # Ok::<(), net::Error>(())
/// ```
#[derive(Clone)]
pub struct ServerParams {
    max_threads: usize,
    max_queued: usize,
    thread_idle_time: Duration,
    max_connections: usize,
    keep_alive_timeout: Duration,
    read_timeout: Duration,
    write_timeout: Duration,
    max_requests_per_connection: Option<u64>,
    backlog: u32,
    nodelay: bool,
    proxy_protocol: bool,
    read_buffer_size: usize,
    max_request_buffer: usize,
    max_output_buffer: usize,
    filter: Option<Arc<dyn ConnectionFilter>>,
    max_connections_per_client: Option<usize>,
    max_connection_age: Option<Duration>,
    first_request_grace: Duration,
    max_accept_rate: Option<u32>,
    evict_idle_at_capacity: bool,
    #[cfg(feature = "tls")]
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl Default for ServerParams {
    fn default() -> Self {
        ServerParams {
            max_threads: 64,
            max_queued: 64,
            thread_idle_time: Duration::from_secs(10),
            max_connections: 16_384,
            keep_alive_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            max_requests_per_connection: None,
            backlog: 1024,
            nodelay: true,
            proxy_protocol: false,
            read_buffer_size: 8 * 1024,
            max_request_buffer: 2 << 20,
            max_output_buffer: 2 << 20,
            filter: None,
            max_connections_per_client: None,
            max_connection_age: None,
            first_request_grace: Duration::from_secs(1),
            max_accept_rate: None,
            evict_idle_at_capacity: false,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

impl ServerParams {
    /// A builder starting from the defaults.
    pub fn builder() -> ServerParamsBuilder {
        ServerParamsBuilder {
            params: ServerParams::default(),
        }
    }

    /// Most threads serving connections at once (`net`); default 64.
    pub fn max_threads(&self) -> usize {
        self.max_threads
    }
    /// Most accepted connections waiting for a thread (`net`); default 64.
    pub fn max_queued(&self) -> usize {
        self.max_queued
    }
    /// How long an extra idle thread lives before it exits (`net`); default 10 s.
    pub fn thread_idle_time(&self) -> Duration {
        self.thread_idle_time
    }
    /// Most open connections; beyond it a new connection is refused; default 16,384.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }
    /// Longest wait between requests on an open connection; default 15 s.
    pub fn keep_alive_timeout(&self) -> Duration {
        self.keep_alive_timeout
    }
    /// Longest time a request may take to arrive, from its first byte to its last;
    /// default 30 s. One deadline per request, on both servers, wherever its bytes are
    /// read (by `evnet`'s loop, or by the handler): a client that trickles a request
    /// (slowloris) is cut there and counted in `timed_out`.
    pub fn read_timeout(&self) -> Duration {
        self.read_timeout
    }
    /// Longest time the peer may take to accept one response, from its first write (one
    /// deadline for all of its writes, however it trickles; in `evnet` the loop finishes
    /// the output and cuts the connection at this deadline); default 30 s.
    pub fn write_timeout(&self) -> Duration {
        self.write_timeout
    }
    /// Requests served on one connection before the server closes it; default unlimited.
    pub fn max_requests_per_connection(&self) -> Option<u64> {
        self.max_requests_per_connection
    }
    /// The listen backlog; default 1024.
    pub fn backlog(&self) -> u32 {
        self.backlog
    }
    /// Whether accepted sockets get `TCP_NODELAY`; default true.
    pub fn nodelay(&self) -> bool {
        self.nodelay
    }

    /// Whether every connection must begin with a PROXY protocol header (see
    /// [`crate::proxy`]).
    pub fn proxy_protocol(&self) -> bool {
        self.proxy_protocol
    }
    /// Initial capacity of a connection's read buffer; default 8 KiB.
    pub fn read_buffer_size(&self) -> usize {
        self.read_buffer_size
    }
    /// Most bytes of one partial request an evented server buffers in its loop before
    /// handing the connection to the handler anyway; default 2 MiB. A request that fits
    /// never occupies a worker while it arrives; a larger one is read by its handler on a
    /// worker (within the request's one `read_timeout` deadline). `net` ignores it.
    pub fn max_request_buffer(&self) -> usize {
        self.max_request_buffer
    }
    /// Most response bytes one connection holds unsent in an evented server; default
    /// 2 MiB. A handler's output up to this size is buffered and finished by the event
    /// loop, so the worker is free at once, whether or not the client reads. A handler that
    /// writes more in one request *streams* it: its writes wait for the peer (within
    /// `write_timeout`) on the worker, counted in `Stats::streamed_responses`. `net` sends
    /// as it goes and ignores it.
    pub fn max_output_buffer(&self) -> usize {
        self.max_output_buffer
    }
    /// The connection filter, if any.
    pub fn filter(&self) -> Option<&Arc<dyn ConnectionFilter>> {
        self.filter.as_ref()
    }
    /// Most connections open at once from one client address; default `None` (no limit).
    /// See [`ServerParamsBuilder::max_connections_per_client`].
    pub fn max_connections_per_client(&self) -> Option<usize> {
        self.max_connections_per_client
    }
    /// How old a connection may grow before its next request is its last; default `None`
    /// (no limit). See [`ServerParamsBuilder::max_connection_age`].
    pub fn max_connection_age(&self) -> Option<Duration> {
        self.max_connection_age
    }
    /// How long after its accept a connection that has not sent its first request may
    /// still send it once shutdown has begun; default 1 s. See
    /// [`ServerParamsBuilder::first_request_grace`].
    pub fn first_request_grace(&self) -> Duration {
        self.first_request_grace
    }
    /// Most connections accepted per second by one acceptor (`net`) or one event loop
    /// (`evnet`); default `None` (no limit). See [`ServerParamsBuilder::max_accept_rate`].
    pub fn max_accept_rate(&self) -> Option<u32> {
        self.max_accept_rate
    }
    /// Whether a server at `max_connections` closes its longest-idle connection for a
    /// newcomer, and stops keeping connections alive near it; default false. See
    /// [`ServerParamsBuilder::evict_idle_at_capacity`].
    pub fn evict_idle_at_capacity(&self) -> bool {
        self.evict_idle_at_capacity
    }
    /// True when `open` connections (of `capacity`: `max_connections`, or an event loop's
    /// share of it) are above the high-water mark of
    /// [`evict_idle_at_capacity`](ServerParamsBuilder::evict_idle_at_capacity): more
    /// than 90 % of `capacity`. Always false when that option is off.
    ///
    /// ```
    /// let params = net::ServerParams::builder().evict_idle_at_capacity(true).build()?;
    /// assert!(!params.above_high_water(90, 100));
    /// assert!(params.above_high_water(91, 100));
    /// assert!(params.above_high_water(4, 4));
    /// assert!(!params.above_high_water(3, 4));
    /// assert!(!net::ServerParams::default().above_high_water(100, 100));
    /// # Ok::<(), net::Error>(())
    /// ```
    pub fn above_high_water(&self, open: usize, capacity: usize) -> bool {
        self.evict_idle_at_capacity && open as u128 * 10 > capacity as u128 * 9
    }
    /// The TLS configuration connections are served with, if any (feature `tls`).
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls(&self) -> Option<&Arc<rustls::ServerConfig>> {
        self.tls.as_ref()
    }
    /// True when connections are to be served over TLS (`ServerParamsBuilder::tls`);
    /// always false without the `tls` feature. A server that cannot serve TLS checks it
    /// and refuses the parameters rather than serve plaintext (both servers of this
    /// workspace serve it).
    pub fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }
    /// True when the filter (if any) accepts a connection from `peer`.
    pub fn accepts(&self, peer: &SocketAddr) -> bool {
        self.filter.as_ref().is_none_or(|f| f.accept(peer))
    }
}

impl fmt::Debug for ServerParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerParams")
            .field("max_threads", &self.max_threads)
            .field("max_queued", &self.max_queued)
            .field("thread_idle_time", &self.thread_idle_time)
            .field("max_connections", &self.max_connections)
            .field("keep_alive_timeout", &self.keep_alive_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("write_timeout", &self.write_timeout)
            .field(
                "max_requests_per_connection",
                &self.max_requests_per_connection,
            )
            .field("backlog", &self.backlog)
            .field("nodelay", &self.nodelay)
            .field("proxy_protocol", &self.proxy_protocol)
            .field("read_buffer_size", &self.read_buffer_size)
            .field("max_request_buffer", &self.max_request_buffer)
            .field("max_output_buffer", &self.max_output_buffer)
            .field("filter", &self.filter.is_some())
            .field(
                "max_connections_per_client",
                &self.max_connections_per_client,
            )
            .field("max_connection_age", &self.max_connection_age)
            .field("first_request_grace", &self.first_request_grace)
            .field("max_accept_rate", &self.max_accept_rate)
            .field("evict_idle_at_capacity", &self.evict_idle_at_capacity)
            .field("tls", &self.is_tls())
            .finish()
    }
}

/// Builder for [`ServerParams`]; each option reads as one line of a checklist.
///
/// ```
/// let err = net::ServerParams::builder().backlog(0).build().unwrap_err();
/// assert_eq!(err.to_string(), "invalid parameter `backlog`: must be at least 1");
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct ServerParamsBuilder {
    params: ServerParams,
}

impl ServerParamsBuilder {
    /// `net`: most threads serving connections at once (at least 1; default 64). Each open
    /// connection holds one for its whole life, idle or not, so this is also how many
    /// clients `net` serves at once; the next ones wait in the queue (`max_queued`).
    /// `evnet` ignores it: its threads are its loops and workers (`evnet::EvOptions`).
    pub fn max_threads(mut self, n: usize) -> Self {
        self.params.max_threads = n;
        self
    }
    /// `net`: most accepted connections waiting for a thread (default 64; 0: refuse when
    /// no thread is free). One more is closed at once and counted in
    /// [`Stats::refused_connections`](crate::Stats). `evnet` ignores it.
    pub fn max_queued(mut self, n: usize) -> Self {
        self.params.max_queued = n;
        self
    }
    /// `net`: how long a thread with no connection waits for one before it exits (more
    /// than zero; default 10 s); the last thread stays. `evnet` ignores it.
    pub fn thread_idle_time(mut self, d: Duration) -> Self {
        self.params.thread_idle_time = d;
        self
    }
    /// Most open connections (at least 1; default 16,384): a newcomer beyond it is
    /// refused, or, with [`evict_idle_at_capacity`](Self::evict_idle_at_capacity), takes
    /// the place of the connection idle longest. `evnet` gives each loop its share.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.params.max_connections = n;
        self
    }
    /// Longest wait for the next request on an open connection, the first one included
    /// (more than zero; default 15 s). An idle connection is closed at it and counted as an
    /// idle timeout ([`TimeoutKind::Idle`](crate::TimeoutKind)).
    pub fn keep_alive_timeout(mut self, d: Duration) -> Self {
        self.params.keep_alive_timeout = d;
        self
    }
    /// Longest time for a request to arrive whole, from its first byte, however its bytes
    /// trickle in and whatever reads the handler makes (more than zero; default 30 s); it
    /// also bounds a PROXY header and a TLS handshake from the accept. A client that
    /// misses it is cut, counted as a read timeout: a slowloris holds a place no longer.
    pub fn read_timeout(mut self, d: Duration) -> Self {
        self.params.read_timeout = d;
        self
    }
    /// Longest time for the peer to take a response, from its first write (more than
    /// zero; default 30 s). A client that does not read is cut at it, counted as a write
    /// timeout.
    pub fn write_timeout(mut self, d: Duration) -> Self {
        self.params.write_timeout = d;
        self
    }
    /// Close a connection after this many requests (at least 1; default: no limit). The
    /// last one's handler sees [`Connection::is_last_request`](crate::Connection) (the
    /// http example then says `Connection: close`).
    pub fn max_requests_per_connection(mut self, n: u64) -> Self {
        self.params.max_requests_per_connection = Some(n);
        self
    }
    /// Serve any number of requests per connection (the default).
    pub fn unlimited_requests_per_connection(mut self) -> Self {
        self.params.max_requests_per_connection = None;
        self
    }
    /// The listen backlog (at least 1; default 1024): connections the kernel completes
    /// and holds until the server accepts them (each `evnet` loop's listener has its own).
    pub fn backlog(mut self, n: u32) -> Self {
        self.params.backlog = n;
        self
    }
    /// Set `TCP_NODELAY` on accepted sockets (default true): responses leave at once
    /// instead of waiting for the peer's acknowledgement of the previous segment.
    pub fn nodelay(mut self, on: bool) -> Self {
        self.params.nodelay = on;
        self
    }
    /// Expect a PROXY protocol header (version 1 or 2, as HAProxy's `send-proxy` and
    /// `send-proxy-v2` send it) at the start of every connection, before TLS (default
    /// off). Turn it on only behind a balancer that sends it: the header is the only
    /// source of the client's address, so a client that could connect directly could
    /// claim any address. A connection without a valid header within `read_timeout` is
    /// closed and counted in [`Stats::proxy_header_failures`](crate::Stats). The
    /// connection filter sees the balancer's address (it runs at accept).
    pub fn proxy_protocol(mut self, on: bool) -> Self {
        self.params.proxy_protocol = on;
        self
    }
    /// Initial read buffer capacity per connection (64 bytes to 16 MiB; default 8 KiB).
    /// `evnet` lends a buffer only while a connection has bytes buffered, and takes it
    /// back when it goes idle.
    pub fn read_buffer_size(mut self, n: usize) -> Self {
        self.params.read_buffer_size = n;
        self
    }
    /// `evnet`: most bytes of one partial request its loop buffers (at least 1; default
    /// 2 MiB). A larger request goes to a worker, whose handler reads the rest within the
    /// request's read deadline. `net` reads on the connection's own thread.
    pub fn max_request_buffer(mut self, n: usize) -> Self {
        self.params.max_request_buffer = n;
        self
    }
    /// `evnet`: most response bytes held unsent per connection (at least 1 KiB; default
    /// 2 MiB); the loop sends them as the peer reads. A handler that writes more waits,
    /// on a worker, for the peer to take them, within the write timeout. `net` writes on
    /// the connection's own thread.
    pub fn max_output_buffer(mut self, n: usize) -> Self {
        self.params.max_output_buffer = n;
        self
    }
    /// Accept or reject connections by peer address before they are counted.
    pub fn filter(mut self, filter: impl ConnectionFilter) -> Self {
        self.params.filter = Some(Arc::new(filter));
        self
    }

    /// At most `n` connections open at once from one client IP address (at least 1;
    /// default: no limit). The client is the peer address, or, with
    /// [`proxy_protocol`](ServerParamsBuilder::proxy_protocol), the address the PROXY
    /// header gives, so that behind a balancer the limit applies to each real client and
    /// not to the balancer (its own `LOCAL` health checks count under its address). A
    /// connection over the limit is closed as soon as its address is known, before the
    /// handler's `open` sees it, and counted in [`Stats::client_limited`](crate::Stats);
    /// the client's other connections, and other clients, are untouched. An IPv4 address
    /// mapped into IPv6 is the IPv4 client. Both servers count in one table for the
    /// whole server (all of `evnet`'s loops).
    ///
    /// ```
    /// let params = net::ServerParams::builder()
    ///     .proxy_protocol(true)
    ///     .max_connections_per_client(20)
    ///     .build()?;
    /// assert_eq!(params.max_connections_per_client(), Some(20));
    /// let err = net::ServerParams::builder().max_connections_per_client(0).build().unwrap_err();
    /// assert!(err.to_string().contains("max_connections_per_client"));
    /// # Ok::<(), net::Error>(())
    /// ```
    pub fn max_connections_per_client(mut self, n: usize) -> Self {
        self.params.max_connections_per_client = Some(n);
        self
    }

    /// Make a connection's request its last once the connection is older than `d`
    /// (more than zero, at most [`MAX_TIMEOUT`]; default: no limit), as nginx's
    /// `keepalive_time`: a request that begins after that age is served with
    /// [`Connection::is_last_request`](crate::Connection::is_last_request) true (an HTTP
    /// handler answers `Connection: close`) and the connection closes after its response;
    /// a connection idle when it reaches that age is closed then rather than kept waiting
    /// for a request it could not keep alive. Clients reconnect, and so spread again over
    /// servers behind a balancer, and long-lived connections give back what they hold.
    /// Counted in [`Stats::aged_out`](crate::Stats).
    ///
    /// ```
    /// use std::time::Duration;
    /// let params = net::ServerParams::builder()
    ///     .max_connection_age(Duration::from_secs(600))
    ///     .build()?;
    /// assert_eq!(params.max_connection_age(), Some(Duration::from_secs(600)));
    /// let err = net::ServerParams::builder().max_connection_age(Duration::ZERO).build();
    /// assert!(err.unwrap_err().to_string().contains("max_connection_age"));
    /// # Ok::<(), net::Error>(())
    /// ```
    pub fn max_connection_age(mut self, d: Duration) -> Self {
        self.params.max_connection_age = Some(d);
        self
    }

    /// During a graceful shutdown, how long after its accept a connection that has not
    /// yet begun its first request may still send it (default 1 s, at most 365 days; zero
    /// for none). Shutdown closes idle keep-alive connections at once, but a connection
    /// accepted a moment before it began is not idle: its client has just connected and
    /// its first request is on the way, and a request lost on a fresh connection is one
    /// no HTTP client sends again (RFC 9112, 9.3.1, allows a retry only on a reused
    /// connection). Such a connection is served that request, as its last, if it begins
    /// within this grace; then (or if it had been silent longer) it is closed. The
    /// shutdown deadline bounds it. A silent client costs a shutdown at most this long.
    ///
    /// ```
    /// use std::time::Duration;
    /// let params = net::ServerParams::builder()
    ///     .first_request_grace(Duration::from_millis(300))
    ///     .build()?;
    /// assert_eq!(params.first_request_grace(), Duration::from_millis(300));
    /// assert_eq!(net::ServerParams::default().first_request_grace(), Duration::from_secs(1));
    /// # Ok::<(), net::Error>(())
    /// ```
    pub fn first_request_grace(mut self, d: Duration) -> Self {
        self.params.first_request_grace = d;
        self
    }

    /// Accept at most `per_second` connections a second (at least 1; default: no limit),
    /// with a burst of one second's worth. Above it newcomers are not refused: they wait
    /// in the kernel's listen backlog (`backlog`) until the acceptor takes them, each pause
    /// counted in [`Stats::accept_pauses`](crate::Stats). `net`'s acceptor sleeps until its
    /// next token; each `evnet` loop has its own rate (so an evented server accepts up to
    /// `loops × per_second`) and pauses its listener meanwhile, its connections served as
    /// usual. A flood of connections then costs the server a steady rate of accepts (and
    /// TLS handshakes) instead of a spike; a backlog that overflows makes the kernel drop
    /// or refuse the excess, as without the option.
    ///
    /// ```
    /// let params = net::ServerParams::builder().max_accept_rate(500).build()?;
    /// assert_eq!(params.max_accept_rate(), Some(500));
    /// let err = net::ServerParams::builder().max_accept_rate(0).build().unwrap_err();
    /// assert!(err.to_string().contains("max_accept_rate"));
    /// # Ok::<(), net::Error>(())
    /// ```
    pub fn max_accept_rate(mut self, per_second: u32) -> Self {
        self.params.max_accept_rate = Some(per_second);
        self
    }

    /// Near `max_connections`, give up idle keep-alive connections rather than refuse
    /// newcomers (default off). When a newcomer arrives and the server is full, the
    /// connection idle longest (waiting for its next request, none in progress) is closed
    /// to make room, counted in [`Stats::evicted_idle`](crate::Stats), and the newcomer is
    /// served; and while more than 90 % of `max_connections` are open, each request served
    /// is its connection's last ([`Connection::is_last_request`](crate::Connection::is_last_request);
    /// counted in [`Stats::keep_alive_declined`](crate::Stats)), so that clients reconnect
    /// and spread instead of holding the last places idle. A server without idle
    /// connections still refuses. `evnet` applies it per loop (each loop has its share of
    /// `max_connections`); there the connection idle longest is the one whose idle
    /// deadline comes first (with [`max_connection_age`](Self::max_connection_age), one
    /// about to age out may come before it). On `net` the evicted connection's thread
    /// closes it and takes the newcomer, which may keep one more connection open than
    /// `max_connections` for that moment.
    ///
    /// ```
    /// let params = net::ServerParams::builder()
    ///     .max_connections(1000)
    ///     .evict_idle_at_capacity(true)
    ///     .build()?;
    /// assert!(params.evict_idle_at_capacity());
    /// # Ok::<(), net::Error>(())
    /// ```
    pub fn evict_idle_at_capacity(mut self, on: bool) -> Self {
        self.params.evict_idle_at_capacity = on;
        self
    }

    /// Serve every connection over TLS with `config` (feature `tls`; `net::TcpServer` and
    /// `evnet::EvServer` alike). [`tls::server_config`](crate::tls::server_config) builds
    /// a configuration from PEM files. Handlers see plaintext.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        self.params.tls = Some(config);
        self
    }

    /// Check every value and return the parameters, or an error naming the first bad one.
    pub fn build(self) -> Result<ServerParams> {
        let p = self.params;
        if p.max_threads == 0 {
            return Err(Error::invalid_param("max_threads", "must be at least 1"));
        }
        for (name, d) in [
            ("thread_idle_time", p.thread_idle_time),
            ("keep_alive_timeout", p.keep_alive_timeout),
            ("read_timeout", p.read_timeout),
            ("write_timeout", p.write_timeout),
        ] {
            if d.is_zero() {
                return Err(Error::invalid_param(name, "must be more than zero"));
            }
            if d > MAX_TIMEOUT {
                return Err(Error::invalid_param(name, "must be at most 365 days"));
            }
        }
        if p.max_connections == 0 {
            return Err(Error::invalid_param(
                "max_connections",
                "must be at least 1",
            ));
        }
        if p.max_requests_per_connection == Some(0) {
            return Err(Error::invalid_param(
                "max_requests_per_connection",
                "must be at least 1",
            ));
        }
        if p.backlog == 0 {
            return Err(Error::invalid_param("backlog", "must be at least 1"));
        }
        if !(64..=16 << 20).contains(&p.read_buffer_size) {
            return Err(Error::invalid_param(
                "read_buffer_size",
                "must be between 64 bytes and 16 MiB",
            ));
        }
        if p.max_request_buffer == 0 {
            return Err(Error::invalid_param(
                "max_request_buffer",
                "must be at least 1",
            ));
        }
        if p.max_output_buffer < 1024 {
            return Err(Error::invalid_param(
                "max_output_buffer",
                "must be at least 1 KiB",
            ));
        }
        if p.max_connections_per_client == Some(0) {
            return Err(Error::invalid_param(
                "max_connections_per_client",
                "must be at least 1 (leave it unset for no limit)",
            ));
        }
        if let Some(age) = p.max_connection_age {
            if age.is_zero() {
                return Err(Error::invalid_param(
                    "max_connection_age",
                    "must be more than zero (leave it unset for no limit)",
                ));
            }
            if age > MAX_TIMEOUT {
                return Err(Error::invalid_param(
                    "max_connection_age",
                    "must be at most 365 days",
                ));
            }
        }
        if p.first_request_grace > MAX_TIMEOUT {
            return Err(Error::invalid_param(
                "first_request_grace",
                "must be at most 365 days",
            ));
        }
        if p.max_accept_rate == Some(0) {
            return Err(Error::invalid_param(
                "max_accept_rate",
                "must be at least 1 a second (leave it unset for no limit)",
            ));
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_client_limits_are_off_by_default() {
        let p = ServerParams::default();
        assert_eq!(p.max_connections_per_client(), None);
        assert_eq!(p.max_connection_age(), None);
        assert_eq!(p.max_accept_rate(), None);
        assert!(!p.evict_idle_at_capacity());
        assert!(!p.above_high_water(usize::MAX, 1));
    }

    #[test]
    fn bad_per_client_limits_name_their_parameter() {
        let b = ServerParams::builder;
        let cases = [
            (
                b().max_connections_per_client(0),
                "max_connections_per_client",
            ),
            (b().max_connection_age(Duration::ZERO), "max_connection_age"),
            (
                b().max_connection_age(MAX_TIMEOUT + Duration::from_secs(1)),
                "max_connection_age",
            ),
            (b().max_accept_rate(0), "max_accept_rate"),
        ];
        for (builder, name) in cases {
            let err = builder.build().unwrap_err();
            assert!(err.is_invalid_param(), "{err}");
            assert!(err.to_string().contains(&format!("`{name}`")), "{err}");
        }
        let p = b()
            .max_connections_per_client(1)
            .max_connection_age(MAX_TIMEOUT)
            .max_accept_rate(u32::MAX)
            .evict_idle_at_capacity(true)
            .build()
            .unwrap();
        assert_eq!(p.max_connections_per_client(), Some(1));
        assert_eq!(p.max_accept_rate(), Some(u32::MAX));
        assert!(p.above_high_water(usize::MAX, usize::MAX));
    }

    #[test]
    fn the_first_request_grace_may_be_zero_and_at_most_a_year() {
        let b = ServerParams::builder;
        assert_eq!(
            b().first_request_grace(Duration::ZERO)
                .build()
                .unwrap()
                .first_request_grace(),
            Duration::ZERO
        );
        assert!(b().first_request_grace(MAX_TIMEOUT).build().is_ok());
        let err = b()
            .first_request_grace(MAX_TIMEOUT + Duration::from_secs(1))
            .build()
            .unwrap_err();
        assert_eq!(err.invalid_param_name(), Some("first_request_grace"));
    }
}
