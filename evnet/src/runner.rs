//! The threads that run event loops.
//!
//! A *runner* runs whichever loop it holds: it serves the requests the loop's last
//! iteration framed for it (adaptive dispatch), then runs the next iteration, and so on
//! until the loop ends. With [`Dispatch::Adaptive`](crate::Dispatch::Adaptive) it lends
//! the loop to its [`Seat`] around every handler call, and if the watch took the loop
//! meanwhile (the handler blocked), the runner sends the served connection back to the
//! loop's mailbox, as a worker would, and becomes a *spare*: it waits in [`Spares`] to be
//! given a loop to run. A server starts `loops` runners that each hold a loop and
//! `spares` runners that wait, and never starts another (see [`crate::takeover`]).

use std::sync::Arc;

use net::Handler;

use crate::event_loop::EventLoop;
use crate::peer_wait::Role;
use crate::shared::Shared;
use crate::takeover::{Seat, Spares, Watch};
use crate::worker::Mailbox;

/// What every runner of one server shares.
pub(crate) struct Runners<H: Handler> {
    pub handler: Arc<H>,
    pub shared: Arc<Shared>,
    /// Each loop's mailbox, by loop id.
    pub mailboxes: Arc<[Arc<Mailbox<H::Session>>]>,
    /// Each loop's seat, by loop id (adaptive dispatch; unused otherwise).
    pub seats: Box<[Seat<EventLoop<H>>]>,
    pub spares: Spares<EventLoop<H>>,
    pub watch: Watch,
}

impl<H: Handler> Runners<H> {
    /// A runner thread's body: run `first` (if any), then whatever loop it is given as a
    /// spare, until every loop has ended.
    pub(crate) fn run(&self, first: Option<Box<EventLoop<H>>>) {
        crate::peer_wait::enter(Arc::clone(&self.shared), Role::Runner);
        let mut next = first;
        loop {
            let lp = match next.take() {
                Some(lp) => lp,
                None => match self.spares.wait() {
                    Some(lp) => lp,
                    None => return,
                },
            };
            self.drive(lp);
        }
    }

    /// Run `lp` until it ends or is taken over.
    fn drive(&self, mut lp: Box<EventLoop<H>>) {
        loop {
            while let Some(mut job) = lp.next_here() {
                let seat = &self.seats[job.loop_id];
                let lent = seat.lend(lp);
                self.watch.lent();
                let keep = job.serve(&*self.handler, &self.shared);
                match seat.reclaim(lent) {
                    Some(back) => {
                        lp = back;
                        lp.served_here(job, keep);
                    }
                    None => {
                        // Taken over while the handler blocked: the loop runs on another
                        // thread now; its connection goes back as a worker's would.
                        let loop_id = job.loop_id;
                        self.mailboxes[loop_id].post(job.returned(keep));
                        return;
                    }
                }
            }
            if !lp.turn() {
                break;
            }
        }
        self.end(lp);
    }

    /// `lp` has ended (or never ran): close what it holds and count it; after the last
    /// loop, spares and the watch have nothing left to do.
    pub(crate) fn end(&self, lp: Box<EventLoop<H>>) {
        lp.finish();
        if self.shared.loop_exited() == 0 {
            self.spares.close();
            self.watch.stop();
        }
    }
}
