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
    /// The TLS configuration connections are served with, if any (feature `tls`).
    #[cfg(feature = "tls")]
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
    /// Most threads serving connections at once (at least 1).
    pub fn max_threads(mut self, n: usize) -> Self {
        self.params.max_threads = n;
        self
    }
    /// Most accepted connections waiting for a thread (0: refuse when no thread is free).
    pub fn max_queued(mut self, n: usize) -> Self {
        self.params.max_queued = n;
        self
    }
    /// How long an extra idle thread lives (more than zero).
    pub fn thread_idle_time(mut self, d: Duration) -> Self {
        self.params.thread_idle_time = d;
        self
    }
    /// Most open connections (at least 1).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.params.max_connections = n;
        self
    }
    /// Longest idle wait between requests (more than zero).
    pub fn keep_alive_timeout(mut self, d: Duration) -> Self {
        self.params.keep_alive_timeout = d;
        self
    }
    /// Longest wait for more bytes of a request in progress (more than zero).
    pub fn read_timeout(mut self, d: Duration) -> Self {
        self.params.read_timeout = d;
        self
    }
    /// Longest wait for the peer to take response bytes (more than zero).
    pub fn write_timeout(mut self, d: Duration) -> Self {
        self.params.write_timeout = d;
        self
    }
    /// Close a connection after this many requests (at least 1).
    pub fn max_requests_per_connection(mut self, n: u64) -> Self {
        self.params.max_requests_per_connection = Some(n);
        self
    }
    /// Serve any number of requests per connection (the default).
    pub fn unlimited_requests_per_connection(mut self) -> Self {
        self.params.max_requests_per_connection = None;
        self
    }
    /// The listen backlog (at least 1).
    pub fn backlog(mut self, n: u32) -> Self {
        self.params.backlog = n;
        self
    }
    /// Set `TCP_NODELAY` on accepted sockets.
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
    /// Initial read buffer capacity per connection (64 bytes to 16 MiB).
    pub fn read_buffer_size(mut self, n: usize) -> Self {
        self.params.read_buffer_size = n;
        self
    }
    /// Most bytes of one partial request buffered by an evented loop (at least 1).
    pub fn max_request_buffer(mut self, n: usize) -> Self {
        self.params.max_request_buffer = n;
        self
    }
    /// Most response bytes held unsent per connection by an evented server (at least
    /// 1 KiB).
    pub fn max_output_buffer(mut self, n: usize) -> Self {
        self.params.max_output_buffer = n;
        self
    }
    /// Accept or reject connections by peer address before they are counted.
    pub fn filter(mut self, filter: impl ConnectionFilter) -> Self {
        self.params.filter = Some(Arc::new(filter));
        self
    }

    /// Serve every connection over TLS with `config` (feature `tls`; `net::TcpServer` and
    /// `evnet::EvServer` alike). [`tls::server_config`](crate::tls::server_config) builds
    /// a configuration from PEM files. Handlers see plaintext.
    #[cfg(feature = "tls")]
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
        Ok(p)
    }
}
