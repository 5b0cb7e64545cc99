//! One event loop. It owns its connections' sockets from accept to close; workers only
//! compute on bytes already buffered. The path of one request, top to bottom:
//!
//! 1. **accept** ([`EventLoop::accept`], [`EventLoop::open`]): a slot, a session, then idle.
//!    With TLS the handshake comes first, here in the loop and never waiting
//!    ([`EventLoop::handshake`]): the session opens only once it is complete, and a stall is
//!    cut at `read_timeout` from accept. Records are decrypted by the loop's reads, so
//!    everything below sees plaintext.
//! 2. **idle** ([`EventLoop::go_idle`]): a READ watcher, the keep-alive deadline, no buffer.
//! 3. **read and frame** ([`EventLoop::on_readable`], [`EventLoop::read`], [`EventLoop::route`]):
//!    bytes go into the connection's buffer; [`Handler::frame`] says whether a request is
//!    complete. A partial one stays here (reading), bounded by `max_request_buffer` and its
//!    read deadline.
//! 4. **serve** ([`EventLoop::dispatch`]): on a worker or inline. Jobs for the workers wait
//!    in the loop's outbox until the iteration ends, then go over together
//!    ([`EventLoop::hand_over`], [`crate::queue`]). Output up to `max_output_buffer` is
//!    buffered; the server sends what the socket takes at once, without waiting.
//! 5. **take back** ([`EventLoop::take_back`]): output still pending makes the connection
//!    *writing* (a WRITE watcher, the write deadline, reading paused); then close, the next
//!    pipelined request (already buffered: framed at once, and served in its fair share,
//!    see [`crate::queue`] and [`EventLoop::take_turns`]), or idle again.
//!
//! Under pressure (worker queue full, input or output budget reached) readable connections
//! are parked unread and taken up again in order when room returns ([`crate::pressure`]).
//!
//! At the end of every iteration ([`EventLoop::end_iteration`]) the outbox is handed over.

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

use net::__private::{
    self as support, HandshakeStep, Interest, ServerConnection, TokenBucket, WaitFn,
};
use net::{Connection, Frame, Handler, TimeoutKind};

use crate::acceptor::{Acceptor, Batch, ACCEPT_BATCH};
use crate::ev::{self, LoopEvents, Reactor};
use crate::handshakes::{Handshakes, HANDSHAKE_CHARGE, MAX_HANDSHAKES};
use crate::pool::BufferPool;
use crate::pressure::{Pressure, Read, Wait, SHED_FLOOR};
use crate::queue::{Kind, Sender, FRESH_PER_PIPELINED};
use crate::shared::Shared;
use crate::slab::{List, Phase, Slab, Slot, SlotId, Watching};
use crate::timeouts::{Clock, Timeouts};
use crate::worker::{Job, Mailbox, Returned};

/// The loop's timers, each a token of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tick {
    /// The earliest deadline of the timeout lists.
    Sweep = 0,
    /// The listener's pause is over: after EMFILE and the like, or until the accept
    /// rate's next token.
    AcceptResume = 1,
    /// Pipelined requests waiting for their turn (inline dispatch).
    NextTurn = 2,
    /// The handshake budget has room again.
    Handshakes = 3,
}

impl Tick {
    /// How many timers a loop has.
    const COUNT: usize = 4;

    fn token(self) -> usize {
        self as usize
    }

    /// The timer of `token` (only the loop's own tokens reach it).
    fn of(token: usize) -> Tick {
        match token {
            0 => Tick::Sweep,
            1 => Tick::AcceptResume,
            2 => Tick::NextTurn,
            _ => Tick::Handshakes,
        }
    }
}

/// Where a loop serves complete requests (see [`crate::Dispatch`]).
pub(crate) enum Serving<S> {
    /// On the loop's thread, inside its callbacks; connections never wait.
    Inline,
    /// Always on the worker pool, through the job queue.
    Workers(Sender<Job<S>>),
    /// On the thread that runs the loop, after the iteration that framed them, with the
    /// loop lent for takeover meanwhile ([`crate::takeover`]); requests framed
    /// [`Frame::Blocking`] (and requests larger than `max_request_buffer`, whose handler
    /// waits for the rest) go to the worker pool.
    Adaptive(Sender<Job<S>>),
}

impl<S> Serving<S> {
    /// The worker queue, if requests may go to workers.
    fn workers(&self) -> Option<&Sender<Job<S>>> {
        match self {
            Serving::Workers(jobs) | Serving::Adaptive(jobs) => Some(jobs),
            Serving::Inline => None,
        }
    }

    fn inline(&self) -> bool {
        matches!(self, Serving::Inline)
    }

    fn adaptive(&self) -> bool {
        matches!(self, Serving::Adaptive(_))
    }

    /// Every request goes to a worker (a full queue then holds new requests unread).
    fn workers_only(&self) -> bool {
        matches!(self, Serving::Workers(_))
    }
}

/// Where the loop is in its life; shutdown moves it forward, never back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    /// Accepting and serving.
    Open,
    /// Shutting down: no accepts, connections close once their request is answered.
    Draining,
    /// The shutdown deadline passed: everything closes, served connections as they come
    /// back.
    Cutting,
    /// Nothing left: the loop ends.
    Done,
}

/// Unsent bytes the kernel may queue per connection (see [`ev::set_notsent_lowat`]).
const NOTSENT_LOWAT: usize = 16 * 1024;
/// Jobs an iteration collects before it hands them over without waiting for its end.
const OUTBOX_MAX: usize = 64;
/// Pipelined requests served inline per turn when no fresh request came meanwhile.
const TURN_BATCH: usize = 16;
/// Pause of the listener after EMFILE/ENFILE and the like (seconds).
const ACCEPT_BACKOFF: f64 = 0.1;

/// What a loop needs from the server.
pub(crate) struct LoopSetup<H: Handler> {
    /// Loop index (its mailbox index).
    pub id: usize,
    /// This loop's listener (non-blocking).
    pub listener: TcpListener,
    /// The handler.
    pub handler: Arc<H>,
    /// Shared state.
    pub shared: Arc<Shared>,
    /// Where complete requests are served.
    pub serving: Serving<H::Session>,
    /// Connection slots of this loop.
    pub capacity: usize,
    /// Request bytes this loop may buffer before it stops reading new requests.
    pub input_budget: usize,
    /// Response bytes this loop may hold before it stops reading new requests.
    pub output_budget: usize,
}

/// One event loop: its libev reactor, its connections and everything it decides about
/// them. A plain value that owns all of its state (no borrow of the thread that made
/// it), so that with adaptive dispatch a stuck thread's loop can be handed to another
/// thread whole ([`crate::takeover`]); only one thread runs it at a time.
pub(crate) struct EventLoop<H: Handler> {
    id: usize,
    /// The libev loop with the slots' I/O watchers (token = slot index, the listener's
    /// after them) and the timers ([`Tick`]).
    ev: Reactor,
    turn_armed: bool,
    /// Connections whose next pipelined request waits for its turn (inline and adaptive
    /// dispatch).
    turns: VecDeque<SlotId>,
    /// TLS handshake steps due, and the time budget they run on.
    handshakes: Handshakes,
    /// Fresh requests served on the loop's thread since the last turn of pipelined ones.
    fresh_served: usize,
    listen_token: usize,
    acceptor: Acceptor,
    /// This loop's accept rate (`max_accept_rate`), if limited.
    accept_rate: Option<TokenBucket>,
    /// `max_connection_age` in seconds, if limited.
    max_age: Option<f64>,
    /// Connections accepted in the current batch, not opened yet (reused, no allocation).
    fresh: Vec<(TcpStream, SocketAddr)>,
    handler: Arc<H>,
    shared: Arc<Shared>,
    serving: Serving<H::Session>,
    /// Jobs of the current iteration, handed to the workers together at its end
    /// ([`EventLoop::hand_over`]); reused, no allocation in steady state.
    outbox: Vec<(Job<H::Session>, Kind)>,
    /// Adaptive dispatch: requests the thread running the loop serves after the
    /// iteration ([`EventLoop::next_here`]).
    here: VecDeque<Job<H::Session>>,
    /// Adaptive dispatch: connections the iteration found readable, read and framed
    /// by [`EventLoop::next_here`] one at a time.
    ready: VecDeque<SlotId>,
    mailbox: Arc<Mailbox<H::Session>>,
    slab: Slab<H::Session>,
    clock: Clock,
    timeouts: Timeouts,
    pool: BufferPool,
    pressure: Pressure,
    returned: Vec<Returned<H::Session>>,
    stage: Stage,
    max_buffer: usize,
    wait: WaitFn,
}

impl<H: Handler> EventLoop<H> {
    /// A new loop (its reactor, slots and mailbox), not running yet: a thread runs it with
    /// [`turn`](EventLoop::turn).
    pub(crate) fn new(setup: LoopSetup<H>) -> io::Result<Box<EventLoop<H>>> {
        let capacity = setup.capacity;
        let shared = setup.shared;
        let params = &shared.params;
        let ev = Reactor::new(capacity + 1, Tick::COUNT)?;
        let mailbox = Arc::new(Mailbox::new(ev.waker()));
        // Inline connections must never wait on the loop thread: their would-block reads and
        // writes fail at once. Elsewhere they may wait (only beyond the buffer limits).
        let wait: WaitFn = match setup.serving {
            Serving::Inline => ev::never_wait,
            Serving::Workers(_) | Serving::Adaptive(_) => ev::poll_wait,
        };
        let mut lp = Box::new(EventLoop {
            id: setup.id,
            ev,
            turn_armed: false,
            handshakes: Handshakes::new(),
            turns: VecDeque::new(),
            fresh_served: 0,
            listen_token: capacity,
            acceptor: Acceptor::new(setup.listener),
            accept_rate: TokenBucket::for_params(params, std::time::Instant::now()),
            max_age: params.max_connection_age().map(|d| d.as_secs_f64()),
            fresh: Vec::new(),
            handler: setup.handler,
            outbox: Vec::new(),
            here: VecDeque::new(),
            ready: VecDeque::new(),
            serving: setup.serving,
            mailbox,
            slab: Slab::new(capacity),
            clock: Clock::new(),
            timeouts: Timeouts::new(params),
            pool: BufferPool::new(params.read_buffer_size()),
            pressure: Pressure::new(setup.input_budget, setup.output_budget),
            returned: Vec::new(),
            stage: Stage::Open,
            max_buffer: params.max_request_buffer(),
            wait,
            shared: Arc::clone(&shared),
        });
        lp.watch_listener();
        Ok(lp)
    }

    /// The mailbox workers (and stuck threads) return served connections to.
    pub(crate) fn mailbox(&self) -> &Arc<Mailbox<H::Session>> {
        &self.mailbox
    }

    /// Run one iteration: first what the last one left for its end (jobs to the workers,
    /// TLS handshake steps within their budget), then wait for events and run their
    /// callbacks. False when the loop has ended (shutdown complete, or a bug in the loop's
    /// own code panicked, counted in `server_panics`: the handler's panics are caught
    /// nearer, their payloads dropped there, and counted in `handler_panics`).
    pub(crate) fn turn(&mut self) -> bool {
        self.end_iteration();
        if self.stage == Stage::Done {
            return false;
        }
        if !self.here.is_empty() {
            // The iteration's end framed requests for this thread (a request that came
            // with a client's last handshake flight, a parked one taken up): serve them
            // before waiting, since no event may come to end that wait.
            return true;
        }
        if self.shared.params.is_tls() {
            self.handshakes.sleeping(self.clock.now());
        }
        if !ev::run_once(self) {
            self.shared.counters.server_panicked();
            net::__log_warn!("event loop {} stopped by a panic", self.id);
            return false;
        }
        self.stage != Stage::Done
    }

    /// The end of an iteration (after the requests it framed for this thread were
    /// served): the outbox goes to the workers, then queued TLS handshake steps run
    /// within their budget (after established connections: see `crate::handshakes`).
    fn end_iteration(&mut self) {
        self.hand_over_all();
        if self.shared.params.is_tls() {
            // A completed handshake may have routed a request that came with the
            // client's last flight.
            self.run_handshakes();
            self.hand_over_all();
        }
    }

    /// Adaptive dispatch: the next request this thread should serve itself, with its
    /// connection and session (its slot stays busy meanwhile). Connections the iteration
    /// found readable are read and framed here, one at a time, so that a request is
    /// served before the next connection's bytes are read: one buffer is lent at a time
    /// (the iteration could find thousands ready) and a request's bytes are still in
    /// cache when it is served.
    pub(crate) fn next_here(&mut self) -> Option<Job<H::Session>> {
        loop {
            if let Some(job) = self.here.pop_front() {
                return Some(job);
            }
            let id = self.ready.pop_front()?;
            // Closed (or parked, or reused) since the iteration saw it ready.
            if self.slab.phase(id).reads() {
                self.on_readable(id);
                self.settle(false);
            }
        }
    }

    /// A request from [`next_here`](EventLoop::next_here) was served (`keep`: keep the
    /// connection): put it back, as a worker's return would be.
    pub(crate) fn served_here(&mut self, job: Job<H::Session>, keep: bool) {
        if self.take_back(job.slot, job.conn, job.session, keep) {
            // The next pipelined request waits for its turn, as inline.
            self.wait_turn(job.slot);
        }
        self.settle(false);
    }

    /// After the loop ended: close what is left that this loop holds.
    pub(crate) fn finish(mut self: Box<Self>) {
        self.close_everything();
    }
}

impl<H: Handler> LoopEvents for EventLoop<H> {
    fn reactor(&self) -> &Reactor {
        &self.ev
    }

    fn on_io(&mut self, token: usize, readable: bool, writable: bool) {
        self.woke();
        if token == self.listen_token {
            self.accept();
        } else {
            let id = SlotId::new(token);
            match self.slab.phase(id) {
                // Adaptive: read, frame and serve after the iteration, one connection at
                // a time (one buffer lent at a time, however many are ready).
                phase if readable && phase.reads() && self.serving.adaptive() => {
                    self.ready.push_back(id)
                }
                phase if readable && phase.reads() => self.on_readable(id),
                Phase::Writing { .. } if writable => self.on_writable(id),
                Phase::ProxyHeader if readable => self.read_proxy_header(id),
                // Run at the end of the iteration, within the handshake budget.
                Phase::Handshaking { .. } => self.queue_handshake(id),
                Phase::Idle
                | Phase::Reading { .. }
                | Phase::Writing { .. }
                | Phase::ProxyHeader => {}
                // Busy: the READ watcher was left running to save epoll_ctl calls (see
                // `dispatch`), and bytes arrived before the connection came back: stop it
                // now, or level-triggered readiness would fire on every iteration, and
                // read them as soon as it comes back (`take_back`).
                Phase::Busy { .. } => self.enter(id, Phase::Busy { readable: true }, 0.0),
                Phase::Queued | Phase::Parked | Phase::Free => self.ev.unwatch(token),
            }
        }
        self.settle(false);
    }

    fn on_timer(&mut self, token: usize) {
        self.woke();
        match Tick::of(token) {
            Tick::Sweep => {
                self.sweep_timeouts();
                self.settle(true);
            }
            Tick::NextTurn => {
                self.take_turns();
                self.settle(false);
            }
            // The steps run at the iteration's end.
            Tick::Handshakes => {}
            Tick::AcceptResume => self.watch_listener(),
        }
    }

    fn on_async(&mut self) {
        self.woke();
        self.take_returns();
        if self.shared.stopping.load(SeqCst) && self.stage == Stage::Open {
            self.begin_drain();
        }
        if self.shared.force.load(SeqCst) {
            self.cut_everything();
        }
        self.settle(false);
    }
}

impl<H: Handler> EventLoop<H> {
    /// After every event: take up parked connections if there is room, keep the sweep
    /// timer armed for the earliest deadline, publish the gauges, end a finished drain.
    fn settle(&mut self, timer_fired: bool) {
        if self.pressure.output_to_shed() > 0 {
            self.shed_output();
        }
        if self.pressure.has_parked() {
            self.retry_parked();
        }
        if let Some(at) = self.timeouts.rearm(&self.slab, timer_fired) {
            self.ev
                .start_timer(Tick::Sweep.token(), at - self.clock.now());
        }
        self.pressure.publish(&self.shared.gauges[self.id]);
        if self.stage >= Stage::Draining && self.slab.in_use() == 0 {
            self.stage = Stage::Done;
            self.ev.break_all();
        }
    }

    // ----- 1. accept -----

    fn watch_listener(&mut self) {
        if let Some(fd) = self.acceptor.fd() {
            self.ev.watch(self.listen_token, fd, Interest::Read);
        }
    }

    fn accept(&mut self) {
        // With an accept rate, as many as there are tokens for.
        let tokens = match &mut self.accept_rate {
            Some(bucket) => bucket.available(std::time::Instant::now()),
            None => usize::MAX,
        };
        let batch = self
            .acceptor
            .accept_batch(tokens, |s, p| self.fresh.push((s, p)));
        if let Some(bucket) = &mut self.accept_rate {
            bucket.take(self.fresh.len());
        }
        while let Some((stream, peer)) = self.fresh.pop() {
            self.open(stream, peer);
        }
        if batch == Batch::BackOff {
            // Out of descriptors or memory: pause this listener, do not spin.
            self.ev.unwatch(self.listen_token);
            self.ev
                .start_timer(Tick::AcceptResume.token(), ACCEPT_BACKOFF);
        } else if batch == Batch::Full && tokens <= ACCEPT_BATCH {
            self.pause_for_rate();
        }
    }

    /// The accept rate's tokens ran out with newcomers (perhaps) waiting: stop watching
    /// the listener until the next token (they wait in the backlog meanwhile), counted in
    /// `accept_pauses`. The loop serves its connections as usual.
    fn pause_for_rate(&mut self) {
        let Some(bucket) = &mut self.accept_rate else {
            return;
        };
        let wait = bucket.wait(std::time::Instant::now());
        self.shared.counters.accept_paused();
        net::__log_debug!("loop {}: accept rate reached, pausing {wait:?}", self.id);
        self.ev.unwatch(self.listen_token);
        self.ev
            .start_timer(Tick::AcceptResume.token(), wait.as_secs_f64());
    }

    fn open(&mut self, stream: TcpStream, peer: SocketAddr) {
        let params = &self.shared.params;
        if !params.accepts(&peer) {
            net::__log_debug!("filter rejected a connection from {peer}");
            return;
        }
        // Behind a balancer the client is known from the PROXY header only: it is counted
        // then (`read_proxy_header`).
        let mut client = None;
        if !params.proxy_protocol() {
            match self.admit_client(peer) {
                Ok(slot) => client = slot,
                Err(support::OverClientLimit) => return,
            }
        }
        let Some(id) = self.slab.alloc().or_else(|| self.evict_idle()) else {
            self.shared.counters.refused();
            net::__log_debug!("refused a connection from {peer}: loop {} full", self.id);
            return;
        };
        let now = self.clock.now();
        let slot = self.slab.get(id);
        slot.client = client;
        slot.opened = now;
        let params = &self.shared.params;
        let counters = &self.shared.counters;
        if params.nodelay() {
            let _ = stream.set_nodelay(true);
        }
        let fd = stream.as_raw_fd();
        ev::set_notsent_lowat(stream.as_fd(), NOTSENT_LOWAT);
        let socket = Arc::new(stream);
        let conn = self.acceptor.local_addr_of(&socket).and_then(|local| {
            let shared = Arc::clone(&socket);
            Connection::from_accepted(shared, peer, local, params, Some(self.wait))
        });
        let Ok(conn) = conn else {
            return self.slab.release(id);
        };
        let slot = self.slab.get(id);
        slot.fd = fd;
        slot.socket = Some(socket);
        if conn.awaits_proxy_header() {
            // Read in the loop, before TLS and before any session (a PROXY header from a
            // balancer usually comes with the accept: try at once).
            counters.connection_begins();
            slot.conn = Some(conn);
            let deadline = self.timeouts.handshake_deadline(self.clock.now());
            self.enter(id, Phase::ProxyHeader, deadline);
            return self.read_proxy_header(id);
        }
        self.greet(id, conn, false);
    }

    /// [`support::admit_client`] with the server's table: `Err` closes the connection.
    fn admit_client(
        &self,
        peer: SocketAddr,
    ) -> std::result::Result<Option<support::ClientSlot>, support::OverClientLimit> {
        let shared = &self.shared;
        support::admit_client(shared.clients.as_ref(), peer.ip(), &shared.counters)
    }

    /// The loop is full and a newcomer arrives: with `evict_idle_at_capacity`, close the
    /// idle connection due to close first (the front of the idle list: the longest idle,
    /// unless `max_connection_age` brings another's end nearer) to make room, counted in
    /// `evicted_idle`, and return its slot for the newcomer.
    fn evict_idle(&mut self) -> Option<SlotId> {
        if !self.shared.params.evict_idle_at_capacity() {
            return None;
        }
        let (victim, _) = self.slab.front(List::Idle)?;
        self.shared.counters.idle_evicted();
        net::__log_debug!("loop {} full: evicted an idle connection", self.id);
        self.close(victim);
        self.slab.alloc()
    }

    /// The PROXY header of `id` may have come: read what there is of it, count the
    /// client it names (closing a connection over its client's limit), then greet the
    /// connection; a missing or malformed one closes it, counted (one closed before its
    /// first byte is not).
    fn read_proxy_header(&mut self, id: SlotId) {
        match self.slab.conn(id).proxy_step() {
            Ok(()) => {
                let client = self.slab.conn(id).peer_addr();
                match self.admit_client(client) {
                    Ok(slot) => self.slab.get(id).client = slot,
                    Err(support::OverClientLimit) => return self.close(id),
                }
                let conn = self.slab.get(id).conn.take().expect("open slot");
                self.greet(id, conn, true);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => {
                if e.kind() != io::ErrorKind::UnexpectedEof && self.stage == Stage::Open {
                    self.shared.counters.proxy_header_failed();
                }
                net::__log_debug!("no PROXY header: {e}");
                self.close(id);
            }
        }
    }

    /// A connection ready for its protocol (accepted, and its PROXY header read if one
    /// was expected) in slot `id`, whose `fd` is set: begin its TLS handshake, or open
    /// its session and let it wait for its first request. `begun`: counted as begun
    /// already (when its PROXY header was awaited).
    fn greet(&mut self, id: SlotId, conn: Connection, begun: bool) {
        let counters = &self.shared.counters;
        if conn.is_tls() {
            // The handshake runs here, in the loop, before any session or worker sees the
            // connection; `Handler::open` runs once it is complete.
            if !begun {
                counters.connection_begins();
            }
            let deadline = self.timeouts.handshake_deadline(self.clock.now());
            let slot = self.slab.get(id);
            slot.conn = Some(conn);
            if self.slab.handshaking() >= MAX_HANDSHAKES {
                // At the bound the longest-running handshake (the likeliest stalled) goes.
                if let Some((oldest, _)) = self.slab.front(List::Handshake) {
                    self.shed(oldest);
                }
            }
            let slot = self.slab.get(id);
            self.pressure
                .charge_input(&mut slot.input_charge, HANDSHAKE_CHARGE);
            self.enter(id, Phase::HANDSHAKING, deadline);
            return self.queue_handshake(id);
        }
        let Some(session) = support::open_session(&*self.handler, &conn, counters) else {
            if begun {
                counters.connection_ends();
            }
            self.ev.unwatch(id.index());
            return self.slab.release(id);
        };
        if !begun {
            counters.connection_begins();
        }
        let slot = self.slab.get(id);
        slot.conn = Some(conn);
        slot.session = Some(session);
        self.go_idle(id);
    }

    /// The loop woke from waiting for events: note how long it slept (what the handshake
    /// budget earns in full).
    fn woke(&mut self) {
        let clock = self.clock;
        self.handshakes.woke(|| clock.now());
    }

    /// A handshake step of `id` is due: queue it for the end of the iteration (its
    /// watcher stopped meanwhile).
    fn queue_handshake(&mut self, id: SlotId) {
        if self.slab.phase(id) == Phase::HANDSHAKING {
            self.enter(id, Phase::Handshaking { step_queued: true }, 0.0);
            self.handshakes.queue(id);
        }
    }

    /// End of an iteration: the handshake budget earns for it, and queued handshake steps
    /// run while it has room (see [`crate::handshakes`]); if some are left, a timer wakes
    /// the loop when there is room again.
    fn run_handshakes(&mut self) {
        self.handshakes.earn_until(self.clock.now());
        if !self.handshakes.any_due() {
            return;
        }
        while let Some(id) = self.handshakes.next() {
            if self.slab.phase(id) != (Phase::Handshaking { step_queued: true }) {
                continue; // closed (or its slot reused) since it was queued
            }
            self.enter(id, Phase::HANDSHAKING, 0.0);
            let started = std::time::Instant::now();
            self.handshake(id);
            self.handshakes.spent(started.elapsed().as_secs_f64());
        }
        if self.handshakes.any_due() {
            // From now, not from when the loop woke (the steps just run took time).
            self.ev.now_update();
            self.ev
                .start_timer(Tick::Handshakes.token(), self.handshakes.wait());
        }
        self.settle(false);
    }

    /// Drive a TLS handshake as far as the socket allows (rustls in the loop, never
    /// waiting): watch for what it needs next, open the session once it is complete, or
    /// close a failed one (rustls' alert sent, best effort), counted in
    /// `tls_handshake_failures`. A stall is cut by the handshake list's deadline.
    fn handshake(&mut self, id: SlotId) {
        let fd = self.slab.get(id).fd;
        match self.slab.conn(id).handshake_step() {
            Ok(HandshakeStep::Done) => self.handshake_done(id),
            Ok(HandshakeStep::WantRead) => self.ev.watch(id.index(), fd, Interest::Read),
            Ok(HandshakeStep::WantWrite) => self.ev.watch(id.index(), fd, Interest::Write),
            // Connected and closed without a byte: not a failed handshake.
            Ok(HandshakeStep::Closed) => self.close(id),
            Err(_e) => {
                if self.stage == Stage::Open {
                    self.shared.counters.tls_handshake_failed();
                }
                net::__log_debug!("TLS handshake failed: {_e}");
                self.close(id);
            }
        }
    }

    /// The handshake is complete (counted, full or resumed): the handler's session opens,
    /// and the connection is served like any other (plaintext that came with the client's
    /// last flight is buffered already: route it).
    fn handshake_done(&mut self, id: SlotId) {
        let counters = &self.shared.counters;
        let conn = self.slab.conn(id);
        support::count_tls_handshake(conn, counters);
        let Some(session) = support::open_session(&*self.handler, conn, counters) else {
            return self.close(id);
        };
        let slot = self.slab.get(id);
        slot.session = Some(session);
        let fd = slot.fd;
        self.ev.watch(id.index(), fd, Interest::Read);
        if self.slab.conn(id).buffered().is_empty() {
            self.go_idle(id);
        } else {
            self.slab.get(id).started = Some(self.clock.now());
            self.account_input(id);
            self.route(id, Kind::Fresh);
        }
    }

    // ----- 2. idle -----

    /// Wait for the next request: READ watcher, keep-alive deadline, buffers returned.
    /// With `max_connection_age` the deadline is no later than the connection's age
    /// (already passed, the sweep closes it at once): an idle connection is not kept
    /// waiting for a request it could not keep alive.
    fn go_idle(&mut self, id: SlotId) {
        self.pool.reclaim(self.slab.conn(id));
        self.account_input(id);
        let mut deadline = self.timeouts.idle_deadline(self.clock.now());
        if let Some(aged_at) = self.aged_at(id) {
            deadline = deadline.min(aged_at);
        }
        self.slab.get(id).started = None;
        self.enter(id, Phase::Idle, deadline);
        if self.stage >= Stage::Draining {
            // (A handshake or PROXY header finished during the drain.)
            self.close_idle_in_drain(id);
        }
    }

    /// When the connection of `id` reaches `max_connection_age` (loop time), if limited.
    fn aged_at(&mut self, id: SlotId) -> Option<f64> {
        let opened = self.slab.get(id).opened;
        self.max_age.map(|age| opened + age)
    }

    /// Move `id` to `phase`: its timeout list (at `deadline`, for a phase that has one),
    /// the busy and handshake counts and what its I/O watcher watches change together
    /// (see [`Phase::watching`]). Budget charges follow the bytes a slot holds, not its
    /// phase: they change where those bytes do (`account_input`, `start_writing`,
    /// `on_writable`, `close`).
    fn enter(&mut self, id: SlotId, phase: Phase, deadline: f64) {
        self.slab.set_phase(id, phase, deadline);
        let i = id.index();
        match phase.watching() {
            Watching::Read => self.ev.watch(i, self.slab.get(id).fd, Interest::Read),
            Watching::Write => self.ev.watch(i, self.slab.get(id).fd, Interest::Write),
            Watching::Nothing => self.ev.unwatch(i),
            Watching::AsItIs => {}
        }
    }

    // ----- 3. read and frame -----

    fn on_readable(&mut self, id: SlotId) {
        let idle = self.slab.phase(id) == Phase::Idle;
        if idle && self.serving.workers_only() && self.pressure.queue_full() {
            // The workers are saturated: a new request waits unread (TCP throttles it).
            return self.park_unread(id);
        }
        let held = self.slab.get(id).input_charge;
        let may_read = match self.pressure.may_read(held) {
            Read::Yes => true,
            // Above the reserve line a large holder waits, except the oldest partial
            // request, which reads on so that one request always makes progress.
            Read::Park => !idle && self.is_oldest_reading(id),
            // A small holder and the whole budget used: the largest holders go.
            Read::Shed => {
                self.shed_input(id);
                self.pressure.may_read(held) == Read::Yes
            }
        };
        if may_read {
            self.read(id);
        } else {
            self.park_unread(id);
        }
    }

    fn is_oldest_reading(&self, id: SlotId) -> bool {
        self.slab
            .front(List::Reading)
            .is_some_and(|(head, _)| head == id)
    }

    /// Read what a ready connection has and route it.
    fn read(&mut self, id: SlotId) {
        let conn = self.slab.conn(id);
        self.pool.lend(conn);
        let result = conn.read_available();
        let open = match &result {
            Ok(n) => *n > 0,
            Err(e) => e.kind() == io::ErrorKind::WouldBlock,
        };
        if open {
            // TLS: reading made rustls answer (session tickets, a key update) and the
            // socket did not take it all: send it before anything else, as output.
            if self.slab.conn(id).pending_output() > 0 {
                self.account_input(id);
                return self.start_writing(id, false);
            }
        }
        match result {
            Ok(0) => self.close(id),
            Ok(_) => {
                self.account_input(id);
                self.route(id, Kind::Fresh);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.nothing_read(id),
            Err(_) => self.close(id),
        }
    }

    /// A wake-up with nothing to read: a partial request keeps watching; anything else
    /// goes (back) to idle, giving back its buffers.
    fn nothing_read(&mut self, id: SlotId) {
        // TLS: when part of a record came, the request has begun as far as deadlines go:
        // a client trickling records is cut at the read timeout from its first byte, never
        // kept idle (with its idle deadline renewed) by bytes that decrypt to nothing.
        let reading = matches!(self.slab.phase(id), Phase::Reading { .. });
        if reading || self.slab.conn(id).records_pending() {
            self.keep_reading(id);
        } else {
            self.go_idle(id);
        }
    }

    /// Decide from the buffered bytes whether to serve now or read on. `kind` says
    /// whether the request is the first read since the connection was last read (fresh) or
    /// was buffered behind one just served (pipelined); see [`crate::queue`] for how the
    /// two share the workers.
    fn route(&mut self, id: SlotId, kind: Kind) {
        let slot = self.slab.get(id);
        let (Some(conn), Some(session)) = (&slot.conn, &mut slot.session) else {
            unreachable!("routing a slot without a connection")
        };
        let buffered = conn.buffered();
        let len = buffered.len();
        let handler = &*self.handler;
        let counters = &self.shared.counters;
        let Some(frame) = support::catch_handler(counters, || handler.frame(session, buffered))
        else {
            return self.close(id);
        };
        let (partial, blocking) = match frame {
            Frame::Partial => (true, false),
            Frame::Interim(bytes) => {
                if !self.send_interim(id, bytes) {
                    // Writing it (framed again once it is sent) or closed.
                    return;
                }
                (true, false)
            }
            Frame::Blocking(_) => (false, true),
            _ => (false, false),
        };
        if partial && len < self.max_buffer {
            return self.keep_reading(id);
        }
        // Complete, invalid (the handler answers with its error) or too big to buffer
        // (the handler reads the rest, within the request's read deadline: it will wait
        // on its peer, as a request the handler says blocks will wait on something).
        if self.dispatch(id, kind, blocking || partial) {
            // Served inline, and the next request is already buffered: it waits for its
            // turn, so a client that pipelines thousands of requests at once cannot hold
            // the loop (and is never served by recursion).
            self.wait_turn(id);
        }
    }

    /// Send an interim response ([`Frame::Interim`]) for the partial request in front of
    /// the buffer, from the loop: the client waits for it before it sends the rest, so no
    /// worker ever waits for that rest. True when it is sent and the request reads on;
    /// false when the socket did not take it all (the connection goes *writing*, reading
    /// paused; once it is sent the request is framed again, and the handler, which
    /// recorded the interim as sent, says partial) or the connection failed and closed.
    fn send_interim(&mut self, id: SlotId, bytes: &[u8]) -> bool {
        if bytes.len() > self.shared.params.max_output_buffer() {
            // Larger than a whole response may be: a handler's mistake, not held for it.
            net::__log_warn!("interim response over max_output_buffer: connection closed");
            self.close(id);
            return false;
        }
        // The request has begun: its read deadline runs from now at the latest.
        let now = self.clock.now();
        self.slab.get(id).started.get_or_insert(now);
        let conn = self.slab.conn(id);
        conn.push_output(bytes);
        let sent = conn.try_flush();
        match sent {
            Ok(true) => true,
            Ok(false) => {
                self.start_writing(id, false);
                false
            }
            Err(_e) => {
                net::__log_debug!("closed a connection sending an interim response: {_e}");
                self.close(id);
                false
            }
        }
    }

    /// Inline dispatch: queue a connection's next pipelined request for a later turn.
    fn wait_turn(&mut self, id: SlotId) {
        self.enter(id, Phase::Queued, 0.0);
        self.turns.push_back(id);
        if !self.turn_armed {
            self.turn_armed = true;
            self.ev.start_timer(Tick::NextTurn.token(), 0.0);
        }
    }

    /// Serve waiting pipelined requests, one per connection, in order: as many as a
    /// [`FRESH_PER_PIPELINED`] share of the fresh requests served since the last turn (at
    /// least one), or a batch when no fresh request came, so that many connections sending
    /// one request at a time keep their share against a few that pipeline.
    fn take_turns(&mut self) {
        self.turn_armed = false;
        let budget = match self.fresh_served {
            0 => TURN_BATCH,
            fresh => fresh.div_ceil(FRESH_PER_PIPELINED as usize),
        };
        self.fresh_served = 0;
        for _ in 0..budget {
            let Some(id) = self.turns.pop_front() else {
                break;
            };
            if self.slab.phase(id) == Phase::Queued {
                self.route(id, Kind::Pipelined);
            }
        }
        if !self.turns.is_empty() && !self.turn_armed {
            self.turn_armed = true;
            self.ev.start_timer(Tick::NextTurn.token(), 0.0);
        }
    }

    /// A partial request: watch for more; its read deadline runs from its first byte.
    fn keep_reading(&mut self, id: SlotId) {
        let now = self.clock.now();
        let started = *self.slab.get(id).started.get_or_insert(now);
        let deadline = self.timeouts.read_deadline(started);
        self.enter(id, Phase::READING, deadline);
    }

    // ----- 4. serve -----

    /// Serve the request at the front of the buffer, on a worker or inline. True when it
    /// was served inline and more pipelined bytes are buffered (the caller routes them).
    ///
    /// The READ watcher stays started: in the usual request/response exchange nothing
    /// arrives while the request is served, and stopping and restarting it would cost two
    /// epoll_ctl calls per request. If bytes do arrive meanwhile, `on_io` stops it then.
    fn dispatch(&mut self, id: SlotId, kind: Kind, blocks: bool) -> bool {
        let to_workers = match self.serving {
            Serving::Inline => false,
            Serving::Workers(_) => true,
            Serving::Adaptive(_) => blocks,
        };
        if to_workers && self.pressure.queue_full() {
            self.park_request(id);
            return false;
        }
        let now = self.clock.now();
        let aged_at = self.aged_at(id);
        let slot = self.slab.get(id);
        let started = slot.started.take().unwrap_or(now);
        let (mut conn, session) = match (slot.conn.take(), slot.session.take()) {
            (Some(c), Some(s)) => (c, s),
            _ => unreachable!("dispatching a slot without a connection"),
        };
        conn.begin_request(self.clock.instant(started));
        if self.stage >= Stage::Draining {
            conn.set_last_request();
        }
        if !conn.is_last_request() {
            let params = &self.shared.params;
            let counters = &self.shared.counters;
            if aged_at.is_some_and(|at| started >= at) {
                // Begun past the connection's age: its last request.
                conn.set_last_request();
                counters.aged_out();
            } else if params.above_high_water(self.slab.in_use(), self.slab.capacity()) {
                // Near this loop's share of max_connections: no keep-alive.
                conn.set_last_request();
                counters.keep_alive_declined();
            }
        }
        self.enter(id, Phase::BUSY, 0.0);
        if self.serving.inline() {
            if kind == Kind::Fresh {
                self.fresh_served += 1;
            }
            return self.serve_inline(id, conn, session);
        }
        let job = Job {
            loop_id: self.id,
            slot: id,
            conn,
            session,
            started,
        };
        if !to_workers {
            // Adaptive: served by the thread running this loop once the iteration's
            // callbacks are done (`next_here`), outside libev.
            if kind == Kind::Fresh {
                self.fresh_served += 1;
            }
            self.here.push_back(job);
            return false;
        }
        self.outbox.push((job, kind));
        if self.outbox.len() >= OUTBOX_MAX {
            // Larger batches save nothing more; the outbox stays small.
            self.hand_over();
        }
        false
    }

    /// Hand over everything collected: handing over may make room or park connections,
    /// and taking parked ones up may dispatch more; repeat until nothing is left.
    fn hand_over_all(&mut self) {
        while !self.outbox.is_empty() {
            self.hand_over();
            self.settle(false);
        }
    }

    /// Hand the iteration's jobs to the workers (one lock, and wake-ups only where needed:
    /// see [`crate::queue`]). Jobs that find the queue full go back to their slots and wait
    /// parked, in order, until workers make room.
    fn hand_over(&mut self) {
        let Some(jobs) = self.serving.workers() else {
            return;
        };
        let sent = jobs.send_all(&mut self.outbox);
        self.shared.counters.queued(sent);
        if self.outbox.is_empty() {
            return;
        }
        let mut unsent = std::mem::take(&mut self.outbox);
        for (job, _) in unsent.drain(..) {
            let id = self.take_unsent(job);
            self.park_request(id);
        }
        self.outbox = unsent;
        self.pressure.set_queue_full(true);
        self.watch_queue();
    }

    /// Put a job that was never handed over back in its slot (still `Busy`: the caller
    /// parks or closes it).
    fn take_unsent(&mut self, job: Job<H::Session>) -> SlotId {
        let id = job.slot;
        let slot = self.slab.get(id);
        slot.conn = Some(job.conn);
        slot.session = Some(job.session);
        slot.started = Some(job.started);
        id
    }

    /// Serve one request on the loop thread (its connection never waits: see `run_loop`).
    fn serve_inline(&mut self, id: SlotId, mut conn: Connection, mut session: H::Session) -> bool {
        let counters = &self.shared.counters;
        let batch = support::PIPELINE_BATCH;
        let keep = support::serve_request(&*self.handler, &mut session, &mut conn, counters, batch);
        self.take_back(id, conn, session, keep)
    }

    // ----- 5. take back, write, close -----

    fn take_returns(&mut self) {
        let mut returned = std::mem::take(&mut self.returned);
        self.mailbox.take_all(&mut returned);
        for r in returned.drain(..) {
            let id = r.slot;
            if self.take_back(id, r.conn, r.session, r.keep) {
                // Pipelined bytes are already here: no readiness will announce them.
                self.route(id, Kind::Pipelined);
            }
        }
        self.returned = returned;
    }

    /// Put a served connection back in its slot: finish its output, close it, or let it
    /// go idle. True when it stays open with bytes buffered, which the caller must route.
    fn take_back(&mut self, id: SlotId, conn: Connection, session: H::Session, keep: bool) -> bool {
        let more = !conn.buffered().is_empty();
        // Output of a connection that is closing and already past its write deadline (its
        // handler's write timed out, and was counted) is dropped, not finished.
        let expired = conn
            .output_deadline()
            .is_some_and(|d| d <= std::time::Instant::now());
        let pending = if !keep && expired {
            0
        } else {
            conn.pending_output()
        };
        let slot = self.slab.get(id);
        slot.conn = Some(conn);
        slot.session = Some(session);
        self.account_input(id);
        let keep = keep && self.stage == Stage::Open;
        if self.stage >= Stage::Cutting {
            // Past the shutdown deadline: nothing more is sent.
            self.close(id);
            return false;
        }
        if pending > 0 {
            self.start_writing(id, !keep);
            false
        } else if !keep {
            self.close(id);
            false
        } else if more {
            true
        } else if self.slab.phase(id) == (Phase::Busy { readable: true }) {
            // The next request started to arrive while this one was served: read it now
            // rather than a poll later.
            self.go_idle(id);
            self.on_readable(id);
            false
        } else {
            self.go_idle(id);
            false
        }
    }

    /// Output is pending: the loop sends it as the peer reads, by the response's write
    /// deadline; reading is paused until it is all sent.
    fn start_writing(&mut self, id: SlotId, then_close: bool) {
        let now = self.clock.now();
        let conn = self.slab.conn(id);
        let pending = conn.pending_output();
        let set = conn.output_deadline().map(|d| self.clock.at(d));
        let deadline = self.timeouts.write_deadline(now, set);
        let slot = self.slab.get(id);
        self.pressure
            .charge_output(&mut slot.output_charge, pending);
        self.enter(id, Phase::Writing { then_close }, deadline);
    }

    fn on_writable(&mut self, id: SlotId) {
        let conn = self.slab.conn(id);
        match conn.try_flush() {
            Ok(true) => {
                let slot = self.slab.get(id);
                self.pressure.charge_output(&mut slot.output_charge, 0);
                let then_close = self.slab.phase(id) == (Phase::Writing { then_close: true });
                if then_close || self.stage >= Stage::Draining {
                    return self.close(id);
                }
                if self.slab.conn(id).buffered().is_empty() {
                    self.go_idle(id);
                } else {
                    // Pipelined requests (or the rest of a request whose interim response
                    // this was) waited for this output to drain: reading again, with its
                    // read deadline (the watcher watched writing).
                    self.keep_reading(id);
                    self.route(id, Kind::Pipelined);
                }
            }
            Ok(false) => {
                let pending = conn.pending_output();
                let slot = self.slab.get(id);
                self.pressure
                    .charge_output(&mut slot.output_charge, pending);
            }
            Err(e) => {
                if e.kind() == io::ErrorKind::TimedOut {
                    self.shared.counters.timed_out(TimeoutKind::Write);
                }
                net::__log_debug!("closed a connection while writing: {e}");
                self.close(id);
            }
        }
    }

    /// Close an open slot that holds its connection (not one out with a worker).
    fn close(&mut self, id: SlotId) {
        self.ev.unwatch(id.index());
        let slot = self.slab.get(id);
        let conn = slot.conn.take();
        let session = slot.session.take();
        // The client's place first: whoever sees the open connections fall (another
        // loop's thread, a test) finds it free.
        slot.client = None;
        self.pressure.charge_input(&mut slot.input_charge, 0);
        self.pressure.charge_output(&mut slot.output_charge, 0);
        if let Some(session) = session {
            support::close_session(session, &self.shared.counters);
        }
        if let Some(mut conn) = conn {
            // TLS: `close_notify` (unless the session failed or never began), sent only
            // if the socket takes it now: the loop never waits.
            conn.close_notify();
            self.pool.reclaim(&mut conn);
            drop(conn);
            // The slot's share of the socket last: the descriptor closes here, before
            // the connection is counted as ended.
            self.slab.get(id).socket = None;
            self.shared.counters.connection_ends();
        }
        self.slab.release(id);
    }

    /// Count a connection's buffered request bytes in the input budget.
    fn account_input(&mut self, id: SlotId) {
        let slot = self.slab.get(id);
        let bytes = slot.conn.as_ref().map_or(0, |c| c.buffered().len());
        self.pressure.charge_input(&mut slot.input_charge, bytes);
    }

    // ----- pressure -----

    /// The input budget is used up and a connection holding little (`asking`) wants to
    /// read: close the largest holders of request bytes this loop has in hand (not those
    /// out with a worker, and none holding less than [`SHED_FLOOR`]) until the budget's
    /// reserve is free again; but only if closing all of those would bring the input
    /// under the budget (when workers hold most of it, closing others frees nothing
    /// useful, and the asking connection waits instead).
    fn shed_input(&mut self, asking: SlotId) {
        let weight = |slot: &Slot<H::Session>| match slot.input_charge {
            held if held >= SHED_FLOOR => held,
            _ => 0,
        };
        let sheddable = self.slab.total(Some(asking), weight);
        if !self.pressure.shedding_frees_input(sheddable) {
            return;
        }
        while self.pressure.input_to_shed() > 0 {
            let Some(id) = self.slab.heaviest(Some(asking), weight) else {
                break;
            };
            net::__log_debug!("input budget full: shed a connection holding the most");
            self.shed(id);
        }
    }

    /// Held output passed its budget: close the connections holding the most until an
    /// eighth of the budget is free again. New requests are never held back by output.
    fn shed_output(&mut self) {
        while self.pressure.output_to_shed() > 0 {
            let Some(id) = self.slab.heaviest(None, |slot| slot.output_charge) else {
                break;
            };
            net::__log_debug!("output budget passed: shed a connection holding the most");
            self.shed(id);
        }
    }

    /// Close a connection to keep the loop's service for others, counted.
    fn shed(&mut self, id: SlotId) {
        self.shared.counters.shed();
        self.close(id);
    }

    /// Park a readable connection unread until the loop has room (its bytes wait in the
    /// kernel). A partial request keeps its place and read deadline on the reading list.
    fn park_unread(&mut self, id: SlotId) {
        if let Phase::Reading { .. } = self.slab.phase(id) {
            self.enter(id, Phase::Reading { parked: true }, 0.0);
            self.pressure.park(id, Wait::Input);
        } else {
            self.park(id, Wait::All);
        }
    }

    /// Park a connection with a complete request until the worker queue has room.
    fn park_request(&mut self, id: SlotId) {
        self.park(id, Wait::Queue);
    }

    /// Move `id` to the parked phase, with its deadline, in the queue of `wait`.
    fn park(&mut self, id: SlotId, wait: Wait) {
        let deadline = self.timeouts.parked_deadline(self.clock.now());
        self.enter(id, Phase::Parked, deadline);
        self.pressure.park(id, wait);
    }

    /// The worker queue refused a job: ask workers to wake this loop when they have taken
    /// enough, or notice room that appeared meanwhile.
    fn watch_queue(&mut self) {
        let Some(jobs) = self.serving.workers() else {
            return;
        };
        if !self.pressure.queue_full() {
            return;
        }
        if !jobs.is_full() {
            self.pressure.set_queue_full(false);
            return;
        }
        self.mailbox.mark_stalled();
        // Workers wake stalled loops when the queue is down to half; if it got there
        // between the failed send and the mark, that wake-up was missed: wake ourselves.
        if jobs.has_room() {
            self.mailbox.wake();
        }
    }

    /// Take up parked connections while there is room: complete requests first (serving
    /// them frees input), then partial requests, then unread new ones; in order within
    /// each kind.
    fn retry_parked(&mut self) {
        self.watch_queue();
        for wait in [Wait::Queue, Wait::Input, Wait::All] {
            while let Some(id) = self.pressure.first_parked(wait) {
                let slot = self.slab.get(id);
                let has_request = slot.conn.as_ref().is_some_and(|c| !c.buffered().is_empty());
                let still_parked = match wait {
                    Wait::Input => self.slab.phase(id) == (Phase::Reading { parked: true }),
                    Wait::Queue => self.slab.phase(id) == Phase::Parked && has_request,
                    Wait::All => self.slab.phase(id) == Phase::Parked && !has_request,
                };
                if !still_parked {
                    // Stale: closed, or taken up already.
                    self.pressure.unpark(wait);
                    continue;
                }
                let held = self.slab.get(id).input_charge;
                if !self.pressure.has_room_for(wait, held) {
                    break;
                }
                self.pressure.unpark(wait);
                match wait {
                    Wait::Queue => self.route(id, Kind::Fresh),
                    Wait::Input | Wait::All => self.take_up(id),
                }
            }
        }
        if !self.pressure.input_has_room() {
            // At the input budget the oldest partial request still reads on.
            if let Some((id, _)) = self.slab.front(List::Reading) {
                if self.slab.phase(id) == (Phase::Reading { parked: true }) {
                    self.take_up(id);
                }
            }
        }
    }

    /// Resume a connection parked unread: its readiness was consumed when it was parked,
    /// so read directly.
    fn take_up(&mut self, id: SlotId) {
        if let Phase::Reading { .. } = self.slab.phase(id) {
            self.enter(id, Phase::READING, 0.0);
        }
        self.read(id);
    }

    // ----- timeouts -----

    fn sweep_timeouts(&mut self) {
        let now = self.clock.now();
        while let Some((id, list)) = self.timeouts.expired(&self.slab, now) {
            let kind = match list {
                List::Parked => {
                    // It waited for the server, not the server for it: shed, not timed
                    // out.
                    self.shed(id);
                    continue;
                }
                List::Idle if self.stage >= Stage::Draining => {
                    // A fresh connection whose grace ended (`close_idle_in_drain`):
                    // closed by the drain, not timed out.
                    self.close(id);
                    continue;
                }
                List::Idle if self.aged_at(id).is_some_and(|at| at <= now) => {
                    // Idle when it reached max_connection_age: closed, not timed out.
                    self.shared.counters.aged_out();
                    net::__log_debug!("closed an idle connection: max connection age");
                    self.close(id);
                    continue;
                }
                List::Idle => TimeoutKind::Idle,
                // Begun and not all come (a request, a TLS record, a handshake, a PROXY
                // header): a slowloris.
                List::Reading | List::Handshake | List::ProxyHeader => TimeoutKind::Read,
                List::Writing => TimeoutKind::Write,
            };
            let counters = &self.shared.counters;
            counters.timed_out(kind);
            match list {
                List::Handshake => counters.tls_handshake_failed(),
                List::ProxyHeader => counters.proxy_header_failed(),
                _ => {}
            }
            net::__log_debug!("closed a connection: {list:?} timeout");
            self.close(id);
        }
    }

    // ----- shutdown -----

    /// Stop accepting and close the idle connections; every request begun (being read,
    /// parked, served, its output being written) and every connection accepted (its
    /// PROXY header or TLS handshake under way) goes on, its request served as the
    /// connection's last one; each closes once answered. The loop ends when no slot is in
    /// use (the deadline cuts what is left).
    ///
    /// An idle connection is read once before it is closed: its next request may already
    /// be in the socket, its readiness not yet handled in this iteration, and closing
    /// then would reset the connection under the request (the client would see it lost).
    /// What comes later is the race every server closing keep-alive connections has: the
    /// client sees the close and sends again (RFC 9112, 9.3.1).
    fn begin_drain(&mut self) {
        self.stage = Stage::Draining;
        self.ev.unwatch(self.listen_token);
        self.ev.stop_timer(Tick::AcceptResume.token());
        self.acceptor.close();
        for id in self.slab.used_where(|p| p == Phase::Idle) {
            self.read(id);
            // Still idle: nothing came (a closed or failed one is free already).
            if self.slab.phase(id) == Phase::Idle {
                self.close_idle_in_drain(id);
            }
        }
    }

    /// An idle connection while the server drains: closed if it served a request; one
    /// awaiting its first is not idle (its client may have just connected and be sending
    /// it, and a request lost on a fresh connection is one no client sends again), so it
    /// may begin it within `first_request_grace` of its accept (the sweep closes it then,
    /// uncounted), served as its last. One silent for longer is closed now.
    fn close_idle_in_drain(&mut self, id: SlotId) {
        let deadline = self
            .timeouts
            .first_request_deadline(self.slab.get(id).opened);
        if self.slab.conn(id).requests_served() > 0 || deadline <= self.clock.now() {
            self.close(id);
        } else {
            self.slab.bring_forward(id, deadline);
        }
    }

    /// Deadline passed: close everything this loop holds, and cut connections being served
    /// so their workers return (their slots close when they come back).
    fn cut_everything(&mut self) {
        self.stage = self.stage.max(Stage::Cutting);
        let busy = if self.slab.busy() > 0 {
            self.slab.used_where(|p| matches!(p, Phase::Busy { .. }))
        } else {
            Vec::new()
        };
        for id in busy {
            // Its connection is out with a worker; the slot shares its socket.
            if let Some(socket) = &self.slab.get(id).socket {
                ev::shutdown_socket(socket.as_fd());
            }
        }
        for id in self.slab.used_where(|p| !matches!(p, Phase::Busy { .. })) {
            self.close(id);
        }
    }

    /// After the loop ends: close what is left that this loop holds.
    fn close_everything(&mut self) {
        self.stage = Stage::Done;
        self.take_returns();
        let unserved = std::mem::take(&mut self.outbox)
            .into_iter()
            .map(|(job, _)| job);
        for job in unserved.chain(std::mem::take(&mut self.here)) {
            // Never handed over, or never served here.
            let id = self.take_unsent(job);
            self.close(id);
        }
        for id in self.slab.used_where(|p| !matches!(p, Phase::Busy { .. })) {
            self.close(id);
        }
        self.pressure.publish(&self.shared.gauges[self.id]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_timer_comes_back_from_its_token() {
        let ticks = [
            Tick::Sweep,
            Tick::AcceptResume,
            Tick::NextTurn,
            Tick::Handshakes,
        ];
        assert_eq!(ticks.len(), Tick::COUNT);
        for tick in ticks {
            assert!(tick.token() < Tick::COUNT);
            assert_eq!(Tick::of(tick.token()), tick);
        }
    }

    #[test]
    fn inline_serving_has_no_worker_queue() {
        let inline: Serving<()> = Serving::Inline;
        assert!(inline.inline() && inline.workers().is_none());
        assert!(!inline.workers_only());
    }

    #[test]
    fn adaptive_serving_keeps_a_worker_queue_but_does_not_send_everything_there() {
        let (jobs, _rx) = crate::queue::bounded::<Job<()>>(1);
        let adaptive = Serving::Adaptive(jobs.clone());
        assert!(adaptive.workers().is_some() && !adaptive.inline());
        assert!(!adaptive.workers_only());
        assert!(Serving::Workers(jobs).workers_only());
    }

    #[test]
    fn shutdown_stages_only_move_forward() {
        assert!(Stage::Open < Stage::Draining);
        assert!(Stage::Draining < Stage::Cutting);
        assert!(Stage::Cutting < Stage::Done);
        assert_eq!(Stage::Cutting.max(Stage::Draining), Stage::Cutting);
    }
}
