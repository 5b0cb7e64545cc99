//! The worker pool: fixed threads serving one request per job, and the per-loop mailboxes
//! that carry connections back to their loops.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use net::__private as support;
use net::{Connection, Handler};

use crate::ev::Waker;
use crate::queue::Receiver;
use crate::shared::Shared;
use crate::slab::SlotId;

/// A complete request to serve: the connection and its session travel by value, so no
/// allocation is made per request.
pub(crate) struct Job<S> {
    /// The loop that owns the connection's slot.
    pub loop_id: usize,
    /// The slot in that loop.
    pub slot: SlotId,
    /// The connection, with the request's bytes buffered.
    pub conn: Connection,
    /// The handler's per-connection state.
    pub session: S,
    /// When the request's first byte arrived (loop clock), kept in case the job is handed
    /// back to the loop unserved.
    pub started: f64,
}

impl<S> Job<S> {
    /// Serve the request (see [`serve`]) unless the shutdown deadline has passed, in
    /// which case it is not served any more; true to keep the connection.
    pub(crate) fn serve<H: Handler<Session = S>>(&mut self, handler: &H, shared: &Shared) -> bool {
        if shared.force.load(Relaxed) {
            return false;
        }
        serve(handler, self, &shared.counters)
    }

    /// The served connection, on its way back to its loop.
    pub(crate) fn returned(self, keep: bool) -> Returned<S> {
        Returned {
            slot: self.slot,
            conn: self.conn,
            session: self.session,
            keep,
        }
    }
}

/// A served connection on its way back to its loop.
pub(crate) struct Returned<S> {
    /// The slot it came from.
    pub slot: SlotId,
    /// The connection (pipelined bytes may be buffered).
    pub conn: Connection,
    /// The session.
    pub session: S,
    /// False to close the connection.
    pub keep: bool,
}

/// A loop's inbox for served connections, and its wake-up handle.
pub(crate) struct Mailbox<S> {
    returned: Mutex<Vec<Returned<S>>>,
    waker: Waker,
    /// Set by the loop when its worker-queue sends failed for lack of room.
    stalled: AtomicBool,
}

impl<S> Mailbox<S> {
    /// An empty mailbox that wakes its loop with `waker`.
    pub(crate) fn new(waker: Waker) -> Self {
        Mailbox {
            returned: Mutex::new(Vec::new()),
            waker,
            stalled: AtomicBool::new(false),
        }
    }

    /// Hand a served connection back; wakes the loop unless a wake is already on its way
    /// (and libev's `ev_async_send` costs no system call while the loop is awake: wakes
    /// are coalesced per loop iteration).
    pub(crate) fn post(&self, item: Returned<S>) {
        let was_empty = {
            let mut returned = self.returned.lock().unwrap_or_else(|e| e.into_inner());
            let was_empty = returned.is_empty();
            returned.push(item);
            was_empty
        };
        if was_empty {
            self.waker.wake();
        }
    }

    /// Move everything posted into `into` (which should be empty; capacities are swapped,
    /// so no allocation happens in steady state).
    pub(crate) fn take_all(&self, into: &mut Vec<Returned<S>>) {
        let mut returned = self.returned.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::swap(&mut *returned, into);
    }

    /// The loop's wake-up handle.
    pub(crate) fn waker(&self) -> Waker {
        self.waker.clone()
    }

    /// Wake the loop.
    pub(crate) fn wake(&self) {
        self.waker.wake();
    }

    /// The loop could not queue a job: ask workers to wake it when they take one.
    pub(crate) fn mark_stalled(&self) {
        self.stalled.store(true, Relaxed);
    }

    /// Wake the loop if it was waiting for room in the worker queue.
    fn wake_if_stalled(&self) {
        if self.stalled.load(Relaxed) && self.stalled.swap(false, Relaxed) {
            self.waker.wake();
        }
    }
}

/// A worker thread's body: serve jobs until every sender is gone.
///
/// Each served connection goes back to its loop at once. Holding them to return them in
/// batches (up to 16, or until the queue was empty) measured no better with the loop's
/// pacing on (0.97-1.02× the requests at 8 and 50 connections, 0.89× at 2,000; see
/// `docs/PERFORMANCE.md`), and would keep a connection whose response is sent from being
/// taken back while a later job of the batch blocks in its handler.
pub(crate) fn run_worker<H: Handler>(
    handler: Arc<H>,
    shared: Arc<Shared>,
    jobs: Receiver<Job<H::Session>>,
    mailboxes: Arc<[Arc<Mailbox<H::Session>>]>,
) {
    crate::peer_wait::enter(Arc::clone(&shared), crate::peer_wait::Role::Worker);
    while let Some((mut job, room)) = jobs.recv() {
        shared.counters.dequeued();
        if room {
            // The queue is down to half: let loops waiting for room send again.
            for mailbox in mailboxes.iter() {
                mailbox.wake_if_stalled();
            }
        }
        let keep = job.serve(&*handler, &shared);
        let loop_id = job.loop_id;
        mailboxes[loop_id].post(job.returned(keep));
    }
}

/// Serve one job's request; true to keep the connection.
///
/// `serve_request` isolates the handler's panics (counted in `handler_panics`, their
/// payloads dropped there); this guard covers the server's own code around them (the
/// flush, say), so a worker never dies and the connection always goes back to its loop,
/// the only place connections are closed. What it catches is the server's bug, counted
/// in `server_panics`.
fn serve<H: Handler>(handler: &H, job: &mut Job<H::Session>, counters: &support::Counters) -> bool {
    let served = catch_unwind(AssertUnwindSafe(|| {
        support::serve_request(
            handler,
            &mut job.session,
            &mut job.conn,
            counters,
            support::PIPELINE_BATCH,
        )
    }));
    served.unwrap_or_else(|payload| {
        counters.server_panicked();
        support::discard_panic(payload);
        net::__log_warn!("serving a request panicked outside the handler: a server bug");
        false
    })
}
