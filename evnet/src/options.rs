//! Options only the evented server has.

use std::thread;
use std::time::Duration;

use net::Error;

/// Where a complete request is served.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Dispatch {
    /// The default: on the thread that runs the loop, right after the loop iteration that
    /// read it, with no hand-off; handlers may block. If a handler stays in one request
    /// longer than [`EvOptions::takeover_after`], another thread (a *spare*) takes the
    /// whole loop over, so its other connections go on being served while the slow
    /// request finishes on the thread it started on; that thread then becomes a spare.
    /// Requests that [`Handler::frame`](net::Handler::frame) marks
    /// [`Frame::Blocking`](net::Frame::Blocking), and requests larger than
    /// `max_request_buffer`, go straight to the worker pool.
    #[default]
    Adaptive,
    /// On the worker pool: the loop hands the connection to a worker, which serves one
    /// request and hands it back. Handlers may block. Every request crosses two threads.
    Workers,
    /// On the event loop thread itself, with no handoff. Only for handlers that never block:
    /// while one request is served, the loop's other connections wait. The handler needs a
    /// real [`Handler::frame`](net::Handler::frame). Connections served inline never wait
    /// for their peer: a read or write that would block fails at once with `TimedOut`, so
    /// the whole request must fit `max_request_buffer` and its response
    /// `max_output_buffer` (the loop finishes sending it); otherwise the connection is
    /// closed and counted in `timed_out`.
    Inline,
}

/// Event loops, workers, spares and dispatch mode for [`EvServer`](crate::EvServer);
/// everything else comes from [`ServerParams`](net::ServerParams).
///
/// ```
/// let options = evnet::EvOptions::default().loops(2).workers(4);
/// assert_eq!(options.loop_count(), 2);
/// assert_eq!(options.worker_count(), 4);
/// ```
///
/// **Defaults** (measured on 2 cores shared with the load generator, see
/// `docs/PERFORMANCE.md`): adaptive dispatch, one worker and one spare per core, and one
/// loop per two cores (rounded up) with adaptive or workers dispatch, one per core inline.
/// A loop's thread does most of the work with adaptive dispatch, yet one loop on 2 cores
/// served more than two (1.03× tokio's requests at 50 connections with p99 0.58 ms,
/// against 0.74× with p99 1.06 ms; 1.02× redis-server's at RESP pipeline 1 against
/// 0.90×): with the client on the same cores, a second loop's thread is descheduled
/// behind it and its connections wait a scheduler slice. On a machine whose clients are
/// elsewhere, give it one loop per core (`loops`). With workers dispatch a loop that
/// hands requests over has less to do than a worker (1 loop + 2 workers served 1.05×
/// the requests of 2 + 2 at 50 connections and 1.28× at 2,000).
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct EvOptions {
    /// `None`: the default for the dispatch mode ([`EvOptions::loop_count`]).
    loops: Option<usize>,
    cores: usize,
    workers: usize,
    queue: Option<usize>,
    dispatch: Dispatch,
    input_budget: usize,
    output_budget: usize,
    /// `None`: as many as workers.
    spares: Option<usize>,
    takeover_after: Duration,
}

/// Default per-loop budget of buffered request bytes, and of held response bytes.
const DEFAULT_BUDGET: usize = 64 << 20;
/// Default time a request may stay in its handler on a loop's thread before another
/// thread takes the loop over (adaptive dispatch).
pub const DEFAULT_TAKEOVER_AFTER: Duration = Duration::from_millis(1);
/// The shortest takeover threshold accepted (the watch ticks at half of it).
const MIN_TAKEOVER_AFTER: Duration = Duration::from_micros(100);

impl Default for EvOptions {
    /// One worker per core and one loop per two cores, requests served by workers (see
    /// the type's docs).
    fn default() -> Self {
        let cores = thread::available_parallelism().map_or(1, |n| n.get());
        EvOptions {
            loops: None,
            cores,
            workers: cores,
            queue: None,
            dispatch: Dispatch::Adaptive,
            input_budget: DEFAULT_BUDGET,
            output_budget: DEFAULT_BUDGET,
            spares: None,
            takeover_after: DEFAULT_TAKEOVER_AFTER,
        }
    }
}

impl EvOptions {
    /// Number of event-loop threads, each with its own `SO_REUSEPORT` listener (at least 1).
    ///
    /// `max_connections` is split evenly across the loops, and the kernel spreads new
    /// connections over their listeners by a hash of the addresses, so one loop can fill up
    /// (and refuse newcomers) while another still has room: leave some headroom.
    /// Default: one per two cores (rounded up) with [`Dispatch::Adaptive`] and
    /// [`Dispatch::Workers`], one per core with [`Dispatch::Inline`].
    pub fn loops(mut self, n: usize) -> Self {
        self.loops = Some(n);
        self
    }

    /// Number of worker threads (at least 1 with [`Dispatch::Adaptive`] and
    /// [`Dispatch::Workers`]; unused with [`Dispatch::Inline`]). With adaptive dispatch
    /// they serve the requests framed [`Frame::Blocking`](net::Frame::Blocking) and
    /// those larger than `max_request_buffer`.
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }

    /// Most complete requests waiting for a worker (at least 1; default 1,024 per worker,
    /// at most `max_connections`). When the queue is full, loops stop reading ready
    /// connections, so the kernel's buffers throttle the clients (backpressure).
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.queue = Some(n);
        self
    }

    /// Where requests are served (default [`Dispatch::Adaptive`]).
    pub fn dispatch(mut self, dispatch: Dispatch) -> Self {
        self.dispatch = dispatch;
        self
    }

    /// Adaptive dispatch: how long a request may stay in its handler on a loop's thread
    /// before another thread takes that loop over (default 1 ms, at least 100 µs, at most
    /// 60 s). The loop is taken over between once and twice this time after the request
    /// started (a watch thread looks every half of it, and only while requests are being
    /// served). Shorter moves loops away from handlers that block sooner, at the cost of
    /// more frequent looks and of takeovers of requests that were merely slow.
    pub fn takeover_after(mut self, threshold: Duration) -> Self {
        self.takeover_after = threshold;
        self
    }

    /// Adaptive dispatch: threads kept to take over loops whose request blocks (default:
    /// as many as workers). Each takeover uses one until the blocked handler returns
    /// (that thread then becomes a spare in its place); a request that blocks while none
    /// is free holds its loop until it returns (counted in `Stats::loop_stalls`). 0 turns
    /// takeovers off. Handlers on these threads that wait on their peer (a response
    /// streamed past `max_output_buffer`) may do so `spares - 1` at a time (one with a
    /// single spare); a wait beyond that fails at once and its connection is shed, so that
    /// clients that never read cannot hold every spare.
    pub fn spares(mut self, n: usize) -> Self {
        self.spares = Some(n);
        self
    }

    /// The configured takeover threshold.
    pub fn takeover_threshold(&self) -> Duration {
        self.takeover_after
    }

    /// Spare threads started: as configured (default: as many as workers) with adaptive
    /// dispatch, none otherwise.
    pub fn spare_count(&self) -> usize {
        match self.dispatch {
            Dispatch::Adaptive => self.spares.unwrap_or(self.workers),
            Dispatch::Workers | Dispatch::Inline => 0,
        }
    }

    /// Most request bytes one loop buffers (partial requests, and complete ones waiting
    /// for or served by a worker); default 64 MiB, at least 1. The last eighth is a
    /// reserve for connections holding less than 64 KiB (new requests, heads, short
    /// bodies): above the reserve line larger holders stop reading (the kernel's buffers
    /// throttle their clients, their read deadlines keep running) except the oldest
    /// partial request; when the whole budget is used, the loop closes its largest
    /// holders (counted in `Stats::shed_connections`) until the reserve is free again, so
    /// a client that holds little is never made to wait for one that holds much.
    /// `Stats::buffered_input` shows the bytes buffered now.
    pub fn input_budget(mut self, bytes: usize) -> Self {
        self.input_budget = bytes;
        self
    }

    /// Most response bytes one loop holds for peers that have not read them yet; default
    /// 64 MiB, at least 1. Held output never stops new requests: when it passes the
    /// budget, the loop closes the connections holding the most (counted in
    /// `Stats::shed_connections`) until an eighth of the budget is free again.
    /// `Stats::buffered_output` shows the bytes held now.
    ///
    /// Keep both budgets well above one request (`max_request_buffer`), one response
    /// (`max_output_buffer`) and, with TLS, 16 KiB per handshake in progress: a budget
    /// that one holder fills sheds (or parks) on nearly every read.
    pub fn output_budget(mut self, bytes: usize) -> Self {
        self.output_budget = bytes;
        self
    }

    /// The configured per-loop input budget.
    pub fn input_budget_bytes(&self) -> usize {
        self.input_budget
    }

    /// The configured per-loop output budget.
    pub fn output_budget_bytes(&self) -> usize {
        self.output_budget
    }

    /// The loop count: as configured, or the default for the dispatch mode.
    ///
    /// ```
    /// use evnet::{Dispatch, EvOptions};
    /// let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    /// assert_eq!(EvOptions::default().loop_count(), cores.div_ceil(2));
    /// assert_eq!(EvOptions::default().dispatch(Dispatch::Workers).loop_count(), cores.div_ceil(2));
    /// assert_eq!(EvOptions::default().dispatch(Dispatch::Inline).loop_count(), cores);
    /// assert_eq!(EvOptions::default().loops(3).loop_count(), 3);
    /// ```
    pub fn loop_count(&self) -> usize {
        self.loops.unwrap_or(match self.dispatch {
            Dispatch::Workers => self.cores.div_ceil(2),
            Dispatch::Inline => self.cores,
            Dispatch::Adaptive => self.cores.div_ceil(2),
        })
    }

    /// The configured worker count (0 threads are started with `Inline`).
    pub fn worker_count(&self) -> usize {
        self.workers
    }

    /// The worker-queue capacity used with `max_connections` connections.
    pub fn queue_capacity_for(&self, max_connections: usize) -> usize {
        self.queue
            .unwrap_or(self.workers.saturating_mul(1024))
            .clamp(1, max_connections.max(1))
    }

    /// The configured dispatch mode.
    pub fn dispatch_mode(&self) -> Dispatch {
        self.dispatch
    }

    /// Check the options against the connection limit.
    pub(crate) fn validate(&self, max_connections: usize) -> Result<(), Error> {
        let loops = self.loop_count();
        if loops == 0 {
            return Err(Error::invalid_param("loops", "must be at least 1"));
        }
        if loops > 1024 {
            return Err(Error::invalid_param("loops", "must be at most 1024"));
        }
        if loops > max_connections {
            return Err(Error::invalid_param(
                "loops",
                "must not exceed max_connections (each loop needs at least one slot)",
            ));
        }
        if self.dispatch != Dispatch::Inline && self.workers == 0 {
            return Err(Error::invalid_param("workers", "must be at least 1"));
        }
        if self.queue == Some(0) {
            return Err(Error::invalid_param("queue_capacity", "must be at least 1"));
        }
        if self.input_budget == 0 {
            return Err(Error::invalid_param("input_budget", "must be at least 1"));
        }
        if self.output_budget == 0 {
            return Err(Error::invalid_param("output_budget", "must be at least 1"));
        }
        if self.workers > 4096 {
            return Err(Error::invalid_param("workers", "must be at most 4096"));
        }
        if self.spares.is_some_and(|n| n > 4096) {
            return Err(Error::invalid_param("spares", "must be at most 4096"));
        }
        if self.takeover_after < MIN_TAKEOVER_AFTER {
            return Err(Error::invalid_param(
                "takeover_after",
                "must be at least 100 µs",
            ));
        }
        if self.takeover_after > Duration::from_secs(60) {
            return Err(Error::invalid_param(
                "takeover_after",
                "must be at most 60 s",
            ));
        }
        Ok(())
    }

    /// Worker threads actually started.
    pub(crate) fn threads_for_workers(&self) -> usize {
        match self.dispatch {
            Dispatch::Workers | Dispatch::Adaptive => self.workers,
            Dispatch::Inline => 0,
        }
    }
}
