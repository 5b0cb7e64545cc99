//! Server statistics: Poco's counters plus request-level ones.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// A snapshot of a server's counters, the same for both servers.
///
/// The first seven follow Poco's `TCPServer`; `requests`, `timed_out` and `handler_panics`
/// are request-level additions. See each server's docs for what "thread" and "queued" mean
/// in it.
///
/// ```
/// let s = net::Stats::default();
/// assert_eq!(s.current_connections, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Threads the server runs now (for `net`, connection threads; for `evnet`, loops plus
    /// workers).
    pub current_threads: usize,
    /// The most threads the server may run.
    pub max_threads: usize,
    /// Connections whose service has begun, since start.
    pub total_connections: u64,
    /// Connections being served now (queued ones excluded in `net`).
    pub current_connections: usize,
    /// The most connections served at once, since start.
    pub max_concurrent_connections: usize,
    /// Accepted connections (`net`) or requests (`evnet`) waiting for a thread.
    pub queued_connections: usize,
    /// Connections accepted and closed at once because the server was full.
    pub refused_connections: u64,
    /// Requests served (handler calls that returned).
    pub requests: u64,
    /// Connections closed by the server because a timeout expired.
    pub timed_out: u64,
    /// Handler calls that panicked (each closed its connection).
    pub handler_panics: u64,
    /// Responses whose output outgrew `max_output_buffer`, so that the worker waited for
    /// the peer (`evnet`; always 0 in `net`, whose threads always wait for the peer).
    pub streamed_responses: u64,
    /// Request bytes buffered in event loops now: partial requests and complete ones
    /// waiting for or being served by a worker (`evnet`; 0 in `net`).
    pub buffered_input: usize,
    /// Response bytes held by event loops now, waiting for their peers to read (`evnet`;
    /// 0 in `net`).
    pub buffered_output: usize,
    /// TLS handshakes that failed, each closing its connection: a client that stalled
    /// past `read_timeout` (also counted in `timed_out`), sent something that is not TLS
    /// (plain HTTP to the TLS port, say), sent an alert, or closed midway. A client that
    /// connects and closes without sending a byte is not counted. Always 0 without TLS
    /// (feature `tls`). Counted the same way by both servers.
    pub tls_handshake_failures: u64,
    /// Connections an event loop closed to keep its service for others (`evnet`; always 0
    /// in `net`): at a full input or output budget the largest holders of buffered bytes
    /// are closed rather than every new request made to wait; a connection parked
    /// (waiting for room in the loop) longer than `read_timeout` is closed; at the bound
    /// on TLS handshakes in progress the oldest is closed for a new one; and each wait on
    /// a peer refused because the other workers wait already (its connection closes).
    /// See evnet's budget policy.
    pub shed_connections: u64,
    /// `evnet` (adaptive dispatch): times a request stayed in its handler on a loop's
    /// thread past `EvOptions::takeover_after`, and another thread took that loop over so
    /// its other connections went on being served. Always 0 on `net`.
    pub loop_takeovers: u64,
    /// `evnet` (adaptive dispatch): requests that stayed in their handler on a loop's
    /// thread past the takeover threshold while no spare thread was free to take the loop
    /// over: that loop's other connections waited for the handler. Always 0 on `net`.
    pub loop_stalls: u64,
    /// Connections closed because they did not begin with a valid PROXY protocol header
    /// when the server expects one (`ServerParamsBuilder::proxy_protocol`): bytes that are
    /// not a header, a malformed one, or none within `read_timeout` (also counted in
    /// `timed_out`). A connection closed before its first byte is not counted. Counted
    /// the same way by both servers.
    pub proxy_header_failures: u64,
    /// How long `Handler::serve` took, each call counted in fixed buckets (see
    /// [`crate::metrics`]). Both servers time every call.
    pub handler_time: crate::metrics::HistogramSnapshot,
}

/// Live counters behind [`Stats`], updated by a server's threads.
///
/// This is a building block for server implementations (both `net` and `evnet` use it);
/// handlers never need it.
#[derive(Debug, Default)]
pub struct Counters {
    /// See [`Stats::current_threads`].
    pub current_threads: AtomicUsize,
    /// See [`Stats::max_threads`].
    pub max_threads: AtomicUsize,
    /// See [`Stats::total_connections`].
    pub total_connections: AtomicU64,
    /// See [`Stats::current_connections`].
    pub current_connections: AtomicUsize,
    /// See [`Stats::max_concurrent_connections`].
    pub max_concurrent_connections: AtomicUsize,
    /// See [`Stats::queued_connections`].
    pub queued_connections: AtomicUsize,
    /// See [`Stats::refused_connections`].
    pub refused_connections: AtomicU64,
    /// See [`Stats::requests`].
    pub requests: AtomicU64,
    /// See [`Stats::timed_out`].
    pub timed_out: AtomicU64,
    /// See [`Stats::handler_panics`].
    pub handler_panics: AtomicU64,
    /// See [`Stats::streamed_responses`].
    pub streamed_responses: AtomicU64,
    /// See [`Stats::buffered_input`].
    pub buffered_input: AtomicUsize,
    /// See [`Stats::buffered_output`].
    pub buffered_output: AtomicUsize,
    /// See [`Stats::tls_handshake_failures`].
    pub tls_handshake_failures: AtomicU64,
    /// See [`Stats::shed_connections`].
    pub shed_connections: AtomicU64,
    /// See [`Stats::loop_takeovers`].
    pub loop_takeovers: AtomicU64,
    /// See [`Stats::loop_stalls`].
    pub loop_stalls: AtomicU64,
    /// See [`Stats::proxy_header_failures`].
    pub proxy_header_failures: AtomicU64,
    /// See [`Stats::handler_time`].
    pub handler_time: crate::metrics::Histogram,
}

impl Counters {
    /// Record that a connection's service begins: total and current go up, and the
    /// high-water mark follows.
    pub fn connection_begins(&self) {
        self.total_connections.fetch_add(1, Relaxed);
        let now = self.current_connections.fetch_add(1, Relaxed) + 1;
        self.max_concurrent_connections.fetch_max(now, Relaxed);
    }

    /// Record that a connection's service ended.
    pub fn connection_ends(&self) {
        self.current_connections.fetch_sub(1, Relaxed);
    }

    /// A consistent-enough snapshot (each counter is read once, without a lock).
    pub fn snapshot(&self) -> Stats {
        Stats {
            current_threads: self.current_threads.load(Relaxed),
            max_threads: self.max_threads.load(Relaxed),
            total_connections: self.total_connections.load(Relaxed),
            current_connections: self.current_connections.load(Relaxed),
            max_concurrent_connections: self.max_concurrent_connections.load(Relaxed),
            queued_connections: self.queued_connections.load(Relaxed),
            refused_connections: self.refused_connections.load(Relaxed),
            requests: self.requests.load(Relaxed),
            timed_out: self.timed_out.load(Relaxed),
            handler_panics: self.handler_panics.load(Relaxed),
            streamed_responses: self.streamed_responses.load(Relaxed),
            buffered_input: self.buffered_input.load(Relaxed),
            buffered_output: self.buffered_output.load(Relaxed),
            tls_handshake_failures: self.tls_handshake_failures.load(Relaxed),
            shed_connections: self.shed_connections.load(Relaxed),
            loop_takeovers: self.loop_takeovers.load(Relaxed),
            loop_stalls: self.loop_stalls.load(Relaxed),
            proxy_header_failures: self.proxy_header_failures.load(Relaxed),
            handler_time: self.handler_time.snapshot(),
        }
    }
}
