//! Server statistics: Poco's counters plus request-level ones.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// A snapshot of a server's counters, the same for both servers.
///
/// The first seven follow Poco's `TCPServer`; `requests`, `timed_out` and `handler_panics`
/// are request-level additions (`timed_out` split by [`TimeoutKind`] into the
/// `timed_out_*` counters). See each server's docs for what "thread" and "queued" mean
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
    /// Connections closed by the server because a timeout expired: the sum of
    /// `timed_out_idle`, `timed_out_read`, `timed_out_write` and `timed_out_handler` (in
    /// every snapshot), which say which timeout it was (see [`TimeoutKind`]).
    pub timed_out: u64,
    /// Connections closed because no request began within `keep_alive_timeout`: idle
    /// between requests, or before the first one ([`TimeoutKind::Idle`]).
    pub timed_out_idle: u64,
    /// Connections closed because something did not all arrive within `read_timeout`: a
    /// request, from its first byte (a slowloris), or the PROXY header or TLS handshake a
    /// connection must begin with, from its start ([`TimeoutKind::Read`]).
    pub timed_out_read: u64,
    /// Connections closed because the peer did not take a response within
    /// `write_timeout` (a client that does not read, or reads too slowly;
    /// [`TimeoutKind::Write`]).
    pub timed_out_write: u64,
    /// Connections closed because the handler returned an [`std::io::ErrorKind::TimedOut`]
    /// error that none of the connection's deadlines raised: a timeout of the handler's
    /// own ([`TimeoutKind::Handler`]).
    pub timed_out_handler: u64,
    /// Calls of the handler's code that panicked (`Handler::open`, `serve` or `frame`, or
    /// a session's drop), each closing its connection: one per call, even when the
    /// panic's payload panics again as it is dropped (that is the handler's code too). A
    /// panic in the server's own code is counted in `server_panics` instead.
    pub handler_panics: u64,
    /// Panics in the server's own code, never the handler's (see `handler_panics`): a bug
    /// in the server, caught so that it does not take the process down. In `evnet`, one
    /// while a worker or a loop's thread serves a request but outside the handler's calls
    /// (sending its response, say) closes that connection; one in an event loop's own
    /// code stops that loop, closing its connections. Always 0 in `net`, whose threads
    /// catch the handler's calls only.
    pub server_panics: u64,
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
    /// TLS handshakes completed in full (with a `HelloRetryRequest` or without): the
    /// client did not resume an earlier session. Always 0 without TLS (feature `tls`).
    /// Counted the same way by both servers.
    pub tls_handshakes_full: u64,
    /// TLS handshakes completed by resuming an earlier session (a TLS 1.3 ticket, a TLS
    /// 1.2 session id or ticket): cheaper than a full one. Always 0 without TLS (feature
    /// `tls`). Counted the same way by both servers.
    pub tls_handshakes_resumed: u64,
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
    /// Connections closed at once because their client already had
    /// `max_connections_per_client` open (the client's address from the PROXY header
    /// when the server expects one). Counted the same way by both servers.
    pub client_limited: u64,
    /// Connections closed because they reached `max_connection_age`: a request begun
    /// past that age was served as the connection's last, or the connection was idle
    /// when it reached it. Counted the same way by both servers.
    pub aged_out: u64,
    /// Times an acceptor (`net`) or an event loop (`evnet`) stopped accepting for a while
    /// because `max_accept_rate` was reached; the newcomers meanwhile wait in the listen
    /// backlog, none is refused.
    pub accept_pauses: u64,
    /// Idle connections closed to make room for a newcomer at `max_connections`
    /// (`evict_idle_at_capacity`; in `evnet`, at a loop's share of it).
    pub evicted_idle: u64,
    /// Requests made their connection's last because more than 90 % of
    /// `max_connections` were open (`evict_idle_at_capacity`): those clients reconnect
    /// rather than hold a place idle.
    pub keep_alive_declined: u64,
    /// How long `Handler::serve` took, each call counted in fixed buckets (see
    /// [`crate::metrics`]). Both servers time every call.
    pub handler_time: crate::metrics::HistogramSnapshot,
}

impl Stats {
    /// The connections closed at a timeout of `kind` (one of the `timed_out_*` fields).
    ///
    /// ```
    /// use net::{Stats, TimeoutKind};
    /// let s = Stats::default();
    /// let total: u64 = TimeoutKind::ALL.iter().map(|&k| s.timed_out_by(k)).sum();
    /// assert_eq!(total, s.timed_out);
    /// ```
    pub fn timed_out_by(&self, kind: TimeoutKind) -> u64 {
        match kind {
            TimeoutKind::Idle => self.timed_out_idle,
            TimeoutKind::Read => self.timed_out_read,
            TimeoutKind::Write => self.timed_out_write,
            TimeoutKind::Handler => self.timed_out_handler,
        }
    }
}

/// Which timeout closed a connection: the kinds [`Stats::timed_out`] is split into
/// (`Stats::timed_out_idle` and the others; [`Stats::timed_out_by`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimeoutKind {
    /// `keep_alive_timeout`: no request began on an open connection, between requests or
    /// before the first one.
    Idle,
    /// `read_timeout`: a request did not all arrive within it of its first byte (a
    /// slowloris), or the PROXY header or TLS handshake a connection must begin with did
    /// not within it of its start.
    Read,
    /// `write_timeout`: the peer did not take a response in time (it does not read, or
    /// reads too slowly).
    Write,
    /// The handler returned an [`std::io::ErrorKind::TimedOut`] error that none of the
    /// connection's deadlines raised: a timeout of its own (a backend's, say).
    Handler,
}

impl TimeoutKind {
    /// Every kind, in a fixed order.
    pub const ALL: [TimeoutKind; 4] = [
        TimeoutKind::Idle,
        TimeoutKind::Read,
        TimeoutKind::Write,
        TimeoutKind::Handler,
    ];

    /// A short lowercase name: `idle`, `read`, `write`, `handler` (the `kind` label of
    /// the `timeouts_total` metric).
    pub fn name(self) -> &'static str {
        match self {
            TimeoutKind::Idle => "idle",
            TimeoutKind::Read => "read",
            TimeoutKind::Write => "write",
            TimeoutKind::Handler => "handler",
        }
    }
}

/// Live counters behind [`Stats`], updated by a server's threads.
///
/// This is a building block for server implementations (both `net` and `evnet` use it);
/// handlers never need it. The counters are private: a server records each event through
/// the method named after it (`refused`, `request_served`, `handler_panicked`, ...), and
/// reads them back through [`Counters::snapshot`]. `buffered_input` and `buffered_output`
/// are not kept here: `evnet` sums them from its loops into the snapshot (0 in `net`).
#[derive(Debug, Default)]
pub struct Counters {
    /// See [`Stats::current_threads`].
    current_threads: AtomicUsize,
    /// See [`Stats::max_threads`].
    max_threads: AtomicUsize,
    /// See [`Stats::total_connections`].
    total_connections: AtomicU64,
    /// See [`Stats::current_connections`].
    current_connections: AtomicUsize,
    /// See [`Stats::max_concurrent_connections`].
    max_concurrent_connections: AtomicUsize,
    /// See [`Stats::queued_connections`].
    queued_connections: AtomicUsize,
    /// See [`Stats::refused_connections`].
    refused_connections: AtomicU64,
    /// See [`Stats::requests`].
    requests: AtomicU64,
    /// Per [`TimeoutKind`] (in the order of [`TimeoutKind::ALL`]); counted only through
    /// [`Counters::timed_out`], and summed into [`Stats::timed_out`] by the snapshot, so
    /// that the total and its kinds always agree.
    timeouts: [AtomicU64; TimeoutKind::ALL.len()],
    /// See [`Stats::handler_panics`].
    handler_panics: AtomicU64,
    /// See [`Stats::server_panics`].
    server_panics: AtomicU64,
    /// See [`Stats::streamed_responses`].
    streamed_responses: AtomicU64,
    /// See [`Stats::tls_handshake_failures`].
    tls_handshake_failures: AtomicU64,
    /// See [`Stats::tls_handshakes_full`].
    tls_handshakes_full: AtomicU64,
    /// See [`Stats::tls_handshakes_resumed`].
    tls_handshakes_resumed: AtomicU64,
    /// See [`Stats::shed_connections`].
    shed_connections: AtomicU64,
    /// See [`Stats::loop_takeovers`].
    loop_takeovers: AtomicU64,
    /// See [`Stats::loop_stalls`].
    loop_stalls: AtomicU64,
    /// See [`Stats::proxy_header_failures`].
    proxy_header_failures: AtomicU64,
    /// See [`Stats::client_limited`].
    client_limited: AtomicU64,
    /// See [`Stats::aged_out`].
    aged_out: AtomicU64,
    /// See [`Stats::accept_pauses`].
    accept_pauses: AtomicU64,
    /// See [`Stats::evicted_idle`].
    evicted_idle: AtomicU64,
    /// See [`Stats::keep_alive_declined`].
    keep_alive_declined: AtomicU64,
    /// See [`Stats::handler_time`].
    handler_time: crate::metrics::Histogram,
}

/// Connections: their service beginning and ending, and every way the server closes or
/// refuses one.
impl Counters {
    /// A connection's service begins: total and current go up, and the high-water mark
    /// follows ([`Stats::total_connections`], [`Stats::current_connections`],
    /// [`Stats::max_concurrent_connections`]).
    pub fn connection_begins(&self) {
        self.total_connections.fetch_add(1, Relaxed);
        let now = self.current_connections.fetch_add(1, Relaxed) + 1;
        self.max_concurrent_connections.fetch_max(now, Relaxed);
    }

    /// A connection's service ended ([`Stats::current_connections`]).
    pub fn connection_ends(&self) {
        self.current_connections.fetch_sub(1, Relaxed);
    }

    /// The connections being served now ([`Stats::current_connections`]): for a server's
    /// `max_connections` check.
    pub fn current_connections(&self) -> usize {
        self.current_connections.load(Relaxed)
    }

    /// A connection was accepted and closed at once: the server was full
    /// ([`Stats::refused_connections`]).
    pub fn refused(&self) {
        self.refused_connections.fetch_add(1, Relaxed);
    }

    /// A connection was closed at once: its client had `max_connections_per_client` open
    /// ([`Stats::client_limited`]).
    pub fn client_limited(&self) {
        self.client_limited.fetch_add(1, Relaxed);
    }

    /// An idle connection was closed to make room for a newcomer
    /// ([`Stats::evicted_idle`]).
    pub fn idle_evicted(&self) {
        self.evicted_idle.fetch_add(1, Relaxed);
    }

    /// A connection reached `max_connection_age`: its request was made its last, or it
    /// was closed idle ([`Stats::aged_out`]).
    pub fn aged_out(&self) {
        self.aged_out.fetch_add(1, Relaxed);
    }

    /// A request was made its connection's last because the server is nearly full
    /// ([`Stats::keep_alive_declined`]).
    pub fn keep_alive_declined(&self) {
        self.keep_alive_declined.fetch_add(1, Relaxed);
    }

    /// A connection was closed to keep the service for others ([`Stats::shed_connections`]).
    pub fn shed(&self) {
        self.shed_connections.fetch_add(1, Relaxed);
    }

    /// An acceptor or a loop stopped accepting for a while at `max_accept_rate`
    /// ([`Stats::accept_pauses`]).
    pub fn accept_paused(&self) {
        self.accept_pauses.fetch_add(1, Relaxed);
    }

    /// A connection is closed because a timeout of `kind` expired (counted in
    /// [`Stats::timed_out`] and in the kind's own counter).
    pub fn timed_out(&self, kind: TimeoutKind) {
        self.timeouts[kind as usize].fetch_add(1, Relaxed);
    }

    /// A connection is closed without a valid PROXY header
    /// ([`Stats::proxy_header_failures`]).
    pub fn proxy_header_failed(&self) {
        self.proxy_header_failures.fetch_add(1, Relaxed);
    }

    /// A TLS handshake failed, closing its connection ([`Stats::tls_handshake_failures`]).
    pub fn tls_handshake_failed(&self) {
        self.tls_handshake_failures.fetch_add(1, Relaxed);
    }

    /// A TLS handshake completed in full ([`Stats::tls_handshakes_full`]).
    pub fn tls_handshake_full(&self) {
        self.tls_handshakes_full.fetch_add(1, Relaxed);
    }

    /// A TLS handshake completed by resuming a session ([`Stats::tls_handshakes_resumed`]).
    pub fn tls_handshake_resumed(&self) {
        self.tls_handshakes_resumed.fetch_add(1, Relaxed);
    }
}

/// Requests: the handler's calls and what became of them.
impl Counters {
    /// A call of `Handler::serve` took `took`, whether it returned or panicked
    /// ([`Stats::handler_time`]).
    pub fn handler_took(&self, took: std::time::Duration) {
        self.handler_time.record(took);
    }

    /// A call of `Handler::serve` returned ([`Stats::requests`]).
    pub fn request_served(&self) {
        self.requests.fetch_add(1, Relaxed);
    }

    /// A call of the handler's (`Handler::open`, `serve` or `frame`, or a session's
    /// drop) panicked ([`Stats::handler_panics`]).
    pub fn handler_panicked(&self) {
        self.handler_panics.fetch_add(1, Relaxed);
    }

    /// The server's own code panicked, outside the handler's calls
    /// ([`Stats::server_panics`]).
    pub fn server_panicked(&self) {
        self.server_panics.fetch_add(1, Relaxed);
    }

    /// A response outgrew `max_output_buffer`, and its worker waited for the peer
    /// ([`Stats::streamed_responses`]).
    pub fn response_streamed(&self) {
        self.streamed_responses.fetch_add(1, Relaxed);
    }

    /// `n` loops were taken over from a handler that held their thread
    /// ([`Stats::loop_takeovers`]).
    pub fn loops_taken_over(&self, n: u64) {
        self.loop_takeovers.fetch_add(n, Relaxed);
    }

    /// `n` handlers held their loop's thread while no spare thread could take the loop
    /// over ([`Stats::loop_stalls`]).
    pub fn loops_stalled(&self, n: u64) {
        self.loop_stalls.fetch_add(n, Relaxed);
    }
}

/// Gauges: threads and queued work, set or moved by the server as they change.
impl Counters {
    /// The server runs `n` threads now ([`Stats::current_threads`]).
    pub fn set_threads(&self, n: usize) {
        self.current_threads.store(n, Relaxed);
    }

    /// The server may run `n` threads at most ([`Stats::max_threads`]).
    pub fn set_max_threads(&self, n: usize) {
        self.max_threads.store(n, Relaxed);
    }

    /// `n` connections (`net`) or requests (`evnet`) wait for a thread now
    /// ([`Stats::queued_connections`]).
    pub fn set_queued(&self, n: usize) {
        self.queued_connections.store(n, Relaxed);
    }

    /// `n` more requests wait for a worker ([`Stats::queued_connections`]).
    pub fn queued(&self, n: usize) {
        self.queued_connections.fetch_add(n, Relaxed);
    }

    /// A worker took a queued request ([`Stats::queued_connections`]).
    pub fn dequeued(&self) {
        self.queued_connections.fetch_sub(1, Relaxed);
    }
}

impl Counters {
    /// A consistent-enough snapshot (each counter is read once, without a lock).
    pub fn snapshot(&self) -> Stats {
        let timeouts: [u64; TimeoutKind::ALL.len()] =
            std::array::from_fn(|i| self.timeouts[i].load(Relaxed));
        let timed_out = |kind: TimeoutKind| timeouts[kind as usize];
        Stats {
            current_threads: self.current_threads.load(Relaxed),
            max_threads: self.max_threads.load(Relaxed),
            total_connections: self.total_connections.load(Relaxed),
            current_connections: self.current_connections.load(Relaxed),
            max_concurrent_connections: self.max_concurrent_connections.load(Relaxed),
            queued_connections: self.queued_connections.load(Relaxed),
            refused_connections: self.refused_connections.load(Relaxed),
            requests: self.requests.load(Relaxed),
            timed_out: timeouts.iter().sum(),
            timed_out_idle: timed_out(TimeoutKind::Idle),
            timed_out_read: timed_out(TimeoutKind::Read),
            timed_out_write: timed_out(TimeoutKind::Write),
            timed_out_handler: timed_out(TimeoutKind::Handler),
            handler_panics: self.handler_panics.load(Relaxed),
            server_panics: self.server_panics.load(Relaxed),
            streamed_responses: self.streamed_responses.load(Relaxed),
            buffered_input: 0,
            buffered_output: 0,
            tls_handshake_failures: self.tls_handshake_failures.load(Relaxed),
            tls_handshakes_full: self.tls_handshakes_full.load(Relaxed),
            tls_handshakes_resumed: self.tls_handshakes_resumed.load(Relaxed),
            shed_connections: self.shed_connections.load(Relaxed),
            loop_takeovers: self.loop_takeovers.load(Relaxed),
            loop_stalls: self.loop_stalls.load(Relaxed),
            proxy_header_failures: self.proxy_header_failures.load(Relaxed),
            client_limited: self.client_limited.load(Relaxed),
            aged_out: self.aged_out.load(Relaxed),
            accept_pauses: self.accept_pauses.load(Relaxed),
            evicted_idle: self.evicted_idle.load(Relaxed),
            keep_alive_declined: self.keep_alive_declined.load(Relaxed),
            handler_time: self.handler_time.snapshot(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_by_kind_sum_to_the_total() {
        let counters = Counters::default();
        counters.timed_out(TimeoutKind::Idle);
        counters.timed_out(TimeoutKind::Read);
        counters.timed_out(TimeoutKind::Read);
        counters.timed_out(TimeoutKind::Write);
        let s = counters.snapshot();
        assert_eq!(
            (s.timed_out_idle, s.timed_out_read, s.timed_out_write),
            (1, 2, 1)
        );
        assert_eq!((s.timed_out_handler, s.timed_out), (0, 4));
        for (i, kind) in TimeoutKind::ALL.into_iter().enumerate() {
            assert_eq!(kind as usize, i, "ALL is in slot order");
            let slot = counters.timeouts[i].load(Relaxed);
            assert_eq!(s.timed_out_by(kind), slot, "{kind:?}");
        }
    }
}
