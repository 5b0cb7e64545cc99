//! One event loop: accepts on its own `SO_REUSEPORT` listener, watches idle connections,
//! buffers partial requests, hands complete ones to workers (or serves them inline), and
//! takes them back.

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::{mpsc, Arc};

use net::support::{self, AcceptFailure};
use net::{Connection, Frame, Handler};

use crate::ev::{self, AsyncWatch, IoSet, Loop, LoopEvents, Timer};
use crate::queue::Sender;
use crate::shared::Shared;
use crate::slab::{List, Phase, Slab};
use crate::worker::{Job, Mailbox, Returned};

/// Timer tokens.
const SWEEP: usize = 0;
const ACCEPT_RESUME: usize = 1;
/// Pause of the listener after EMFILE/ENFILE and the like (seconds).
const ACCEPT_BACKOFF: f64 = 0.1;
/// Buffer pairs a loop keeps for reuse; more are freed.
const POOL_LIMIT: usize = 256;
/// Most connections accepted per readiness of the listener.
const ACCEPT_BATCH: usize = 256;
/// Write buffers that grew beyond this are freed rather than pooled.
const POOLED_WRITE_CAPACITY: usize = 64 * 1024;

/// What a loop thread needs from the server.
pub(crate) struct LoopSetup<H: Handler> {
    /// Loop index (its mailbox index).
    pub id: usize,
    /// This loop's listener (non-blocking).
    pub listener: TcpListener,
    /// The handler.
    pub handler: Arc<H>,
    /// Shared state.
    pub shared: Arc<Shared>,
    /// The worker queue (`None` with inline dispatch).
    pub jobs: Option<Sender<Job<H::Session>>>,
    /// Connection slots of this loop.
    pub capacity: usize,
}

/// The mailbox a started loop reports, or why it could not start.
pub(crate) type Ready<S> = io::Result<Arc<Mailbox<S>>>;

/// A loop thread's body.
pub(crate) fn run_loop<H: Handler>(
    setup: LoopSetup<H>,
    ready: mpsc::Sender<(usize, Ready<H::Session>)>,
) {
    let shared = Arc::clone(&setup.shared);
    let lp = match Loop::new() {
        Ok(lp) => lp,
        Err(e) => {
            let _ = ready.send((setup.id, Err(e)));
            shared.loop_exited();
            return;
        }
    };
    let watch = AsyncWatch::new(&lp);
    let mailbox = Arc::new(Mailbox::new(watch.waker()));
    let capacity = setup.capacity;
    let params = &shared.params;
    let mut ctx = LoopCtx {
        id: setup.id,
        lp: &lp,
        io: IoSet::new(&lp, capacity + 1, 0),
        sweep: Timer::new(&lp, SWEEP),
        sweep_at: 0.0,
        epoch: std::time::Instant::now(),
        accept_resume: Timer::new(&lp, ACCEPT_RESUME),
        listen_token: capacity,
        local_addr: setup
            .listener
            .local_addr()
            .ok()
            .filter(|a| !a.ip().is_unspecified()),
        listener: Some(setup.listener),
        handler: setup.handler,
        jobs: setup.jobs,
        mailbox: Arc::clone(&mailbox),
        slab: Slab::new(capacity),
        stalled: VecDeque::with_capacity(capacity),
        pool: Vec::new(),
        returned: Vec::new(),
        busy: 0,
        draining: false,
        keep_alive: params.keep_alive_timeout().as_secs_f64(),
        read_timeout: params.read_timeout().as_secs_f64(),
        max_buffer: params.max_request_buffer(),
        shared: Arc::clone(&shared),
    };
    ctx.watch_listener();
    if ready.send((setup.id, Ok(mailbox))).is_ok() {
        // Wakes sent before the loop ran are pending in the async watcher; none is lost.
        if !lp.run(&mut ctx) {
            // A bug in the loop's own code panicked (handler panics are caught nearer).
            ctx.shared.counters.handler_panics.fetch_add(1, Relaxed);
        }
    }
    ctx.close_everything();
    drop(ctx);
    drop(watch);
    drop(lp);
    shared.loop_exited();
}

struct LoopCtx<'l, H: Handler> {
    id: usize,
    lp: &'l Loop,
    io: IoSet<'l>,
    sweep: Timer<'l>,
    /// Origin of [`LoopCtx::now`].
    epoch: std::time::Instant,
    /// When the sweep timer is armed to fire (loop time), valid while it is active.
    sweep_at: f64,
    accept_resume: Timer<'l>,
    listen_token: usize,
    listener: Option<TcpListener>,
    /// The listener's address when it is a specific one (then every accepted socket has
    /// it as its local address); `None` for a wildcard address.
    local_addr: Option<SocketAddr>,
    handler: Arc<H>,
    shared: Arc<Shared>,
    jobs: Option<Sender<Job<H::Session>>>,
    mailbox: Arc<Mailbox<H::Session>>,
    slab: Slab<H::Session>,
    /// Slots with a complete request (or unread readiness) waiting for queue room.
    stalled: VecDeque<u32>,
    pool: Vec<(Vec<u8>, Vec<u8>)>,
    returned: Vec<Returned<H::Session>>,
    busy: usize,
    draining: bool,
    keep_alive: f64,
    read_timeout: f64,
    max_buffer: usize,
}

impl<H: Handler> LoopEvents for LoopCtx<'_, H> {
    fn on_io(&mut self, token: usize, _readable: bool, _writable: bool) {
        if token == self.listen_token {
            self.accept_all();
        } else {
            self.on_readable(token);
        }
    }

    fn on_timer(&mut self, token: usize) {
        match token {
            SWEEP => self.sweep_timeouts(),
            _ => self.watch_listener(),
        }
    }

    fn on_async(&mut self) {
        self.take_returns();
        if self.shared.stopping.load(SeqCst) && !self.draining {
            self.begin_drain();
        }
        if self.shared.force.load(SeqCst) {
            self.cut_busy();
        }
        self.retry_stalled();
        if self.draining && self.busy == 0 && self.stalled.is_empty() {
            self.lp.break_all();
        }
    }
}

impl<H: Handler> LoopCtx<'_, H> {
    /// Monotonic seconds since the loop started: the clock of the timeout lists (libev's
    /// `ev_now` follows the wall clock, which can jump).
    fn now(&self) -> f64 {
        self.epoch.elapsed().as_secs_f64()
    }

    // ----- accepting -----

    fn watch_listener(&mut self) {
        if let Some(listener) = &self.listener {
            self.io
                .start(self.listen_token, listener.as_raw_fd(), false);
        }
    }

    /// Accept until the backlog is empty (`EAGAIN`), or `ACCEPT_BATCH` connections, so a
    /// connection flood cannot starve the loop's other connections (the listener is
    /// level-triggered: what is left is announced again on the next iteration).
    fn accept_all(&mut self) {
        for _ in 0..ACCEPT_BATCH {
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok((stream, peer)) => {
                    if !self.shared.params.accepts(&peer) {
                        continue;
                    }
                    let Some(i) = self.slab.alloc() else {
                        self.shared
                            .counters
                            .refused_connections
                            .fetch_add(1, Relaxed);
                        continue;
                    };
                    self.open(i, stream, peer);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => match support::classify_accept_error(&e) {
                    AcceptFailure::Retry => {}
                    _ => {
                        // Out of descriptors or memory: pause this listener, do not spin.
                        self.io.stop(self.listen_token);
                        self.accept_resume.start_in(ACCEPT_BACKOFF);
                        return;
                    }
                },
            }
        }
    }

    fn open(&mut self, i: usize, stream: std::net::TcpStream, peer: SocketAddr) {
        let params = &self.shared.params;
        if params.nodelay() {
            let _ = stream.set_nodelay(true);
        }
        let fd = stream.as_raw_fd();
        let local = match self.local_addr {
            Some(local) => Ok(local),
            None => stream.local_addr(),
        };
        let conn = local.and_then(|local| {
            Connection::from_accepted(stream, peer, local, params, Some(ev::poll_wait))
        });
        let conn = match conn {
            Ok(conn) => conn,
            Err(_) => return self.slab.release(i),
        };
        let counters = &self.shared.counters;
        let Some(session) = support::open_session(&*self.handler, &conn, counters) else {
            return self.slab.release(i);
        };
        counters.connection_begins();
        let slot = self.slab.get(i);
        slot.conn = Some(conn);
        slot.session = Some(session);
        slot.fd = fd;
        self.go_idle(i);
    }

    // ----- reading and framing -----

    fn on_readable(&mut self, i: usize) {
        let phase = self.slab.get(i).phase;
        match phase {
            Phase::Idle => self.slab.unlink(List::Idle, i),
            // A partial request keeps its place in the reading list: its read timeout runs
            // from its first byte, however slowly the rest trickles in.
            Phase::Reading => {}
            _ => {
                // Busy or stalled: the watcher was left running to save epoll_ctl calls
                // (see `dispatch`); bytes arrived before the connection came back, so stop
                // it now, or level-triggered readiness would fire on every iteration.
                return self.io.stop(i);
            }
        }
        if !self.stalled.is_empty() {
            // Backpressure: workers are saturated; leave the bytes in the kernel.
            if phase == Phase::Reading {
                self.slab.unlink(List::Reading, i);
            }
            self.io.stop(i);
            self.slab.get(i).phase = Phase::Stalled;
            self.stalled.push_back(i as u32);
            return;
        }
        self.read_and_route(i, phase);
    }

    /// Read what a ready connection has and decide what to do with it; `phase` is where it
    /// goes back if nothing was there after all.
    fn read_and_route(&mut self, i: usize, phase: Phase) {
        self.lend_buffers(i);
        let conn = self.slab.conn(i);
        match conn.read_available() {
            Ok(0) => self.close(i),
            Ok(_) => self.route(i),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.relist(i, phase),
            Err(_) => self.close(i),
        }
    }

    /// Nothing was there after all (a spurious wake-up): an idle connection goes idle again
    /// (giving back its buffers); a reading one is still in its list and just keeps
    /// watching.
    fn relist(&mut self, i: usize, phase: Phase) {
        if phase == Phase::Reading && self.slab.get(i).phase == Phase::Reading {
            let fd = self.slab.get(i).fd;
            self.io.start(i, fd, false);
        } else {
            self.go_idle(i);
        }
    }

    /// Decide, from the buffered bytes, whether to serve now or wait for more.
    fn route(&mut self, i: usize) {
        // With inline dispatch, successive pipelined requests are served in this loop
        // (never by recursion: a client can pipeline thousands of requests at once).
        loop {
            let conn = self.slab.conn(i);
            let buffered = conn.buffered();
            let len = buffered.len();
            let handler = &*self.handler;
            let frame = match catch_unwind(AssertUnwindSafe(|| handler.frame(buffered))) {
                Ok(frame) => frame,
                Err(_) => {
                    self.shared.counters.handler_panics.fetch_add(1, Relaxed);
                    return self.close(i);
                }
            };
            if matches!(frame, Frame::Partial) && len < self.max_buffer {
                if self.slab.get(i).phase != Phase::Reading {
                    // The request's first bytes: its read deadline starts now.
                    let now = self.now();
                    self.slab.get(i).phase = Phase::Reading;
                    self.slab.push_back(List::Reading, i, now);
                    self.arm_sweep();
                }
                self.io.start(i, self.slab.get(i).fd, false);
                return;
            }
            // Complete, invalid (the handler answers with its error) or too big to buffer.
            if self.jobs.is_some() {
                return self.send_to_worker(i);
            }
            if !self.serve_inline(i) {
                return;
            }
        }
    }

    // ----- dispatching and returns -----

    /// Take the connection and session out of a slot that is about to be served.
    ///
    /// The READ watcher stays started: in the usual request/response exchange nothing
    /// arrives while the request is served, and stopping it here and starting it again on
    /// return would cost two epoll_ctl calls per request. If bytes do arrive meanwhile,
    /// `on_readable` stops it then; `go_idle` starts it again (a no-op when it still runs).
    fn take_for_service(&mut self, i: usize) -> (Connection, H::Session) {
        if self.slab.get(i).phase == Phase::Reading {
            self.slab.unlink(List::Reading, i);
        }
        let slot = self.slab.get(i);
        let taken = match (slot.conn.take(), slot.session.take()) {
            (Some(c), Some(s)) => (c, s),
            _ => unreachable!("serving a slot without a connection"),
        };
        slot.phase = Phase::Busy;
        self.busy += 1;
        taken
    }

    /// Serve one request on the loop thread. True when the connection stays open with
    /// more bytes buffered (the caller routes them next).
    fn serve_inline(&mut self, i: usize) -> bool {
        let (mut conn, mut session) = self.take_for_service(i);
        let max = self.shared.params.max_requests_per_connection();
        let keep = support::serve_request(
            &*self.handler,
            &mut session,
            &mut conn,
            &self.shared.counters,
            max,
        );
        self.take_back(i, conn, session, keep)
    }

    fn send_to_worker(&mut self, i: usize) {
        let (conn, session) = self.take_for_service(i);
        let job = Job {
            loop_id: self.id,
            slot: i as u32,
            conn,
            session,
        };
        let jobs = self.jobs.as_ref().expect("worker dispatch has a queue");
        let queued = &self.shared.counters.queued_connections;
        queued.fetch_add(1, Relaxed);
        if let Err(job) = jobs.try_send(job) {
            queued.fetch_sub(1, Relaxed);
            self.busy -= 1;
            let slot = self.slab.get(i);
            slot.conn = Some(job.conn);
            slot.session = Some(job.session);
            slot.phase = Phase::Stalled;
            self.stalled.push_back(i as u32);
            self.mailbox.mark_stalled();
            // Workers wake stalled loops when the queue is down to half; if it got there
            // between try_send and mark_stalled, that wake-up was missed: wake ourselves.
            if jobs.has_room() {
                self.mailbox.wake();
            }
        }
    }

    fn take_returns(&mut self) {
        let mut returned = std::mem::take(&mut self.returned);
        self.mailbox.take_all(&mut returned);
        for r in returned.drain(..) {
            self.finish(r.slot as usize, r.conn, r.session, r.keep);
        }
        self.returned = returned;
    }

    /// A worker served a request: close, serve the next pipelined one, or go idle.
    fn finish(&mut self, i: usize, conn: Connection, session: H::Session, keep: bool) {
        if self.take_back(i, conn, session, keep) {
            // Pipelined bytes are already here: no readiness will announce them.
            self.route(i);
        }
    }

    /// Put a served connection back in its slot: close it, or let it go idle. True when it
    /// stays open with bytes buffered, which the caller must route.
    fn take_back(&mut self, i: usize, conn: Connection, session: H::Session, keep: bool) -> bool {
        self.busy -= 1;
        let has_more = !conn.buffered().is_empty();
        let slot = self.slab.get(i);
        slot.conn = Some(conn);
        slot.session = Some(session);
        if !keep || self.draining {
            self.close(i);
            return false;
        }
        if !has_more {
            self.go_idle(i);
        }
        has_more
    }

    /// Workers made room: dispatch stalled slots in order.
    fn retry_stalled(&mut self) {
        while let Some(&i) = self.stalled.front() {
            if let Some(jobs) = self.jobs.as_ref().filter(|j| j.is_full()) {
                self.mailbox.mark_stalled();
                if jobs.has_room() {
                    self.mailbox.wake();
                }
                return;
            }
            self.stalled.pop_front();
            let i = i as usize;
            let has_request = self
                .slab
                .get(i)
                .conn
                .as_ref()
                .is_some_and(|c| !c.buffered().is_empty());
            if has_request {
                // Frame again: a partial request parked here goes back to reading.
                self.route(i);
            } else {
                // Readiness noticed on an idle connection but not read: read it now.
                self.read_and_route(i, Phase::Idle);
            }
        }
    }

    fn go_idle(&mut self, i: usize) {
        if let Some(buffers) = self
            .slab
            .get(i)
            .conn
            .as_mut()
            .and_then(|c| c.take_buffers())
        {
            self.recycle(buffers);
        }
        let now = self.now();
        let slot = self.slab.get(i);
        slot.phase = Phase::Idle;
        let fd = slot.fd;
        self.slab.push_back(List::Idle, i, now);
        self.io.start(i, fd, false);
        self.arm_sweep();
    }

    /// Keep an idle connection's buffers for the next one that needs them, if they are of
    /// ordinary size (one grown for a big request is freed) and the pool has room.
    fn recycle(&mut self, buffers: (Vec<u8>, Vec<u8>)) {
        let (read, write) = &buffers;
        let ordinary = read.len() <= self.shared.params.read_buffer_size()
            && write.capacity() <= POOLED_WRITE_CAPACITY;
        if read.capacity() > 0 && ordinary && self.pool.len() < POOL_LIMIT {
            self.pool.push(buffers);
        }
    }

    fn lend_buffers(&mut self, i: usize) {
        if let Some((r, w)) = self.pool.pop() {
            let conn = self.slab.conn(i);
            if let Some(unused) = conn.give_buffers(r, w) {
                self.pool.push(unused);
            }
        }
    }

    // ----- timeouts -----

    fn deadline(&self, list: List) -> Option<f64> {
        let timeout = match list {
            List::Idle => self.keep_alive,
            List::Reading => self.read_timeout,
        };
        self.slab.front(list).map(|(_, since)| since + timeout)
    }

    /// Make sure the sweep timer fires by the earliest deadline of either list.
    fn arm_sweep(&mut self) {
        let next = match (self.deadline(List::Idle), self.deadline(List::Reading)) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return,
        };
        // Appending never makes a list's own deadline earlier, but a connection moving to
        // the reading list can make the earliest of the two earlier than the armed one.
        if self.sweep.is_active() && self.sweep_at <= next {
            return;
        }
        self.sweep_at = next;
        self.sweep.start_in(next - self.now());
    }

    fn sweep_timeouts(&mut self) {
        let now = self.now();
        for list in [List::Idle, List::Reading] {
            while let Some(deadline) = self.deadline(list) {
                if deadline > now {
                    break;
                }
                let (i, _) = self.slab.front(list).expect("deadline implies an entry");
                self.slab.unlink(list, i);
                self.shared.counters.timed_out.fetch_add(1, Relaxed);
                self.close(i);
            }
        }
        self.arm_sweep();
    }

    // ----- closing and shutdown -----

    /// Close an open slot that is not busy and not in a list.
    fn close(&mut self, i: usize) {
        self.io.stop(i);
        let slot = self.slab.get(i);
        match slot.phase {
            Phase::Idle => self.slab.unlink(List::Idle, i),
            Phase::Reading => self.slab.unlink(List::Reading, i),
            _ => {}
        }
        let slot = self.slab.get(i);
        let conn = slot.conn.take();
        let session = slot.session.take();
        if let Some(session) = session {
            support::close_session(session, &self.shared.counters);
        }
        if let Some(mut conn) = conn {
            if let Some(buffers) = conn.take_buffers() {
                self.recycle(buffers);
            }
            drop(conn);
            self.shared.counters.connection_ends();
        }
        self.slab.release(i);
    }

    fn begin_drain(&mut self) {
        self.draining = true;
        self.io.stop(self.listen_token);
        self.accept_resume.stop();
        self.listener = None;
        let idle = self
            .slab
            .used_where(|p| matches!(p, Phase::Idle | Phase::Reading));
        for i in idle {
            self.close(i);
        }
    }

    /// Deadline passed: cut connections still being served so their workers return.
    fn cut_busy(&mut self) {
        let busy = self.slab.used_where(|p| p == Phase::Busy);
        for i in busy {
            // The slot is busy, so its connection (and fd) is alive with a worker, which
            // never closes it: the loop is the only place connections are dropped.
            ev::shutdown_socket(self.slab.get(i).fd);
        }
        while let Some(i) = self.stalled.pop_front() {
            self.close(i as usize);
        }
    }

    /// After the loop ends: close what is left that this loop holds.
    fn close_everything(&mut self) {
        self.take_returns();
        let open = self
            .slab
            .used_where(|p| p != Phase::Busy && p != Phase::Free);
        self.stalled.clear();
        for i in open {
            self.close(i);
        }
    }
}
