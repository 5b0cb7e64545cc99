//! A loop's backpressure: the input and output budgets, whether the worker queue had room,
//! and the connections parked until the loop has room again.
//!
//! **A budget is never one gate for everybody.** Each budget keeps a *reserve* (an eighth
//! of it) for the connections that hold little, and is enforced against the ones that
//! hold much:
//!
//! - **Input** (request bytes buffered): below `budget - reserve` every connection reads.
//!   Above it, only *small holders* (less than [`SMALL_HOLDER`] buffered: new requests,
//!   short heads) read on, in the reserve; large holders are parked unread (their bytes
//!   wait in the kernel, and their read deadline keeps running), except the oldest partial
//!   request, which always reads on so that one request makes progress. When a small
//!   holder finds the whole budget used ([`Read::Shed`]), the loop closes the largest
//!   holders it has in hand until the reserve is whole again, and reads.
//! - **Output** (response bytes held for slow readers): new requests are never held back
//!   by it. When the held output passes the budget, the loop closes the largest writers
//!   until the reserve is free again ([`Pressure::output_to_shed`]).
//! - **The worker queue**: while it is full, new requests are parked unread and complete
//!   requests wait for room (in order); both with a deadline (`read_timeout` from being
//!   parked), after which they are closed.
//!
//! Closed connections are counted in `Stats::shed_connections`. An attacker thus pays for
//! its holdings: the clients shed first are the ones holding the most, and the clients
//! that hold nothing keep being served.
//!
//! Each kind of wait has its own queue, so one kind never blocks another (a parked unread
//! connection waiting for input room must not hold back complete requests whose service
//! would free that room). Parked connections are taken up again, in order within their
//! kind, when room returns.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use crate::slab::SlotId;

/// A loop's buffered bytes as other threads see them (summed into `Stats`). Each loop
/// writes only its own, on its own cache line.
#[derive(Debug, Default)]
#[repr(align(64))]
pub(crate) struct Gauges {
    /// Request bytes buffered in the loop.
    pub input: AtomicUsize,
    /// Response bytes held by the loop.
    pub output: AtomicUsize,
}

/// Why a connection is parked, which is what it waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// A complete request: room in the worker queue.
    Queue,
    /// A partial request at the input budget: input room.
    Input,
    /// A new request not read yet: everything ([`Pressure::admits_new_requests`]).
    All,
}

/// A connection holding less than this many request bytes is a *small holder*: it may
/// read into the budget's reserve. (A request head, a short body, a new request.)
pub(crate) const SMALL_HOLDER: usize = 64 * 1024;

/// The least a connection must hold to be shed for input room: smaller ones (a head, a
/// short body) are never closed to make room for others.
pub(crate) const SHED_FLOOR: usize = SMALL_HOLDER / 2;

/// The share of each budget kept for small holders: `budget / RESERVE_SHARE`.
const RESERVE_SHARE: usize = 8;

/// A budget less its reserve.
fn reserve_line(budget: usize) -> usize {
    budget - budget / RESERVE_SHARE
}

/// What a connection that became readable may do ([`Pressure::may_read`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Read {
    /// Read now.
    Yes,
    /// Wait unread until there is room (a large holder above the reserve line).
    Park,
    /// A small holder, and the whole budget is used: close the largest holders (of at
    /// least [`SHED_FLOOR`]) until [`Pressure::input_to_shed`] is 0, if closing them can
    /// bring the input under the budget ([`Pressure::shedding_frees_input`]); then read
    /// if there is room, else wait parked.
    Shed,
}

/// Budgets, the queue-full flag and the parked connections of one loop.
pub(crate) struct Pressure {
    input: usize,
    output: usize,
    input_budget: usize,
    output_budget: usize,
    queue_full: bool,
    parked: [VecDeque<SlotId>; 3],
}

impl Pressure {
    /// The budgets. The parked queues grow on demand (only under pressure) and keep their
    /// capacity, so an idle connection costs no queue entry up front.
    pub(crate) fn new(input_budget: usize, output_budget: usize) -> Pressure {
        Pressure {
            input: 0,
            output: 0,
            input_budget,
            output_budget,
            queue_full: false,
            parked: [VecDeque::new(), VecDeque::new(), VecDeque::new()],
        }
    }

    /// Where large holders stop reading: the input budget less its reserve.
    fn input_line(&self) -> usize {
        reserve_line(self.input_budget)
    }

    /// True when a new request may be read or dispatched now: the worker queue has room
    /// and the input budget is not used up. (Held output never stops new requests: it is
    /// bounded by shedding its largest holders.)
    pub(crate) fn admits_new_requests(&self) -> bool {
        !self.queue_full && self.input < self.input_budget
    }

    /// May a readable connection holding `held` request bytes read now? See the module
    /// docs for the policy.
    pub(crate) fn may_read(&self, held: usize) -> Read {
        if self.input < self.input_line() {
            Read::Yes
        } else if held >= SMALL_HOLDER {
            Read::Park
        } else if self.input < self.input_budget {
            Read::Yes
        } else {
            Read::Shed
        }
    }

    /// Whether closing holders of `sheddable` request bytes in all would bring the input
    /// under the budget (otherwise shedding them would free nothing a reader could use).
    pub(crate) fn shedding_frees_input(&self, sheddable: usize) -> bool {
        self.input - sheddable.min(self.input) < self.input_budget
    }

    /// Request bytes to free (by closing their largest holders) before the reserve is
    /// whole again; 0 below the reserve line.
    pub(crate) fn input_to_shed(&self) -> usize {
        (self.input + 1).saturating_sub(self.input_line())
    }

    /// Response bytes to free (by closing their largest holders) once the held output
    /// passed the budget: down to the budget less its reserve. 0 within the budget.
    pub(crate) fn output_to_shed(&self) -> usize {
        if self.output <= self.output_budget {
            return 0;
        }
        self.output - reserve_line(self.output_budget)
    }

    /// True while request bytes are under the line where large holders stop reading.
    pub(crate) fn input_has_room(&self) -> bool {
        self.input < self.input_line()
    }

    /// Record whether the worker queue refused a job (true) or had room again (false).
    pub(crate) fn set_queue_full(&mut self, full: bool) {
        self.queue_full = full;
    }

    /// True while the worker queue is known to be full.
    pub(crate) fn queue_full(&self) -> bool {
        self.queue_full
    }

    /// A connection's request bytes are now `bytes` (its charge was `*charge`).
    pub(crate) fn charge_input(&mut self, charge: &mut usize, bytes: usize) {
        self.input = self.input - *charge + bytes;
        *charge = bytes;
    }

    /// A connection's pending response bytes are now `bytes` (its charge was `*charge`).
    pub(crate) fn charge_output(&mut self, charge: &mut usize, bytes: usize) {
        self.output = self.output - *charge + bytes;
        *charge = bytes;
    }

    /// Publish the loop's totals for `Stats`.
    pub(crate) fn publish(&self, gauges: &Gauges) {
        gauges.input.store(self.input, Relaxed);
        gauges.output.store(self.output, Relaxed);
    }

    /// True when a connection waiting for `wait` and holding `held` request bytes may go
    /// on now (a partial request holding little reads in the reserve, as a new one would;
    /// a large one waits for room below the reserve line).
    pub(crate) fn has_room_for(&self, wait: Wait, held: usize) -> bool {
        match wait {
            Wait::Queue => !self.queue_full,
            Wait::Input => self.may_read(held) == Read::Yes,
            Wait::All => self.admits_new_requests(),
        }
    }

    /// Park `id` until there is room for `wait`.
    pub(crate) fn park(&mut self, id: SlotId, wait: Wait) {
        self.parked[wait as usize].push_back(id);
    }

    /// The connection parked longest for `wait`.
    pub(crate) fn first_parked(&self, wait: Wait) -> Option<SlotId> {
        self.parked[wait as usize].front().copied()
    }

    /// Take the connection parked longest for `wait`.
    pub(crate) fn unpark(&mut self, wait: Wait) -> Option<SlotId> {
        self.parked[wait as usize].pop_front()
    }

    /// True when a connection is parked.
    pub(crate) fn has_parked(&self) -> bool {
        self.parked.iter().any(|q| !q.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_holders_stop_at_the_reserve_small_ones_use_it() {
        // Budget 800: the reserve is 100, the line 700.
        let mut p = Pressure::new(800, 800);
        let big = SMALL_HOLDER;
        assert_eq!(p.may_read(big), Read::Yes);
        let mut a = 0;
        p.charge_input(&mut a, 699);
        assert_eq!(p.may_read(big), Read::Yes);
        assert_eq!(p.input_to_shed(), 0);
        p.charge_input(&mut a, 700);
        assert!(!p.input_has_room());
        assert_eq!(p.may_read(big), Read::Park, "a large holder waits");
        assert_eq!(
            p.may_read(0),
            Read::Yes,
            "a new request reads, in the reserve"
        );
        assert_eq!(p.may_read(big - 1), Read::Yes);
        assert!(p.admits_new_requests());
        p.charge_input(&mut a, 800);
        assert_eq!(p.may_read(0), Read::Shed, "the reserve is used up");
        assert!(!p.admits_new_requests());
        assert_eq!(p.input_to_shed(), 101, "down below the line again");
        assert!(p.shedding_frees_input(1) && !p.shedding_frees_input(0));
        p.charge_input(&mut a, 699);
        assert_eq!(p.input_to_shed(), 0);
        assert_eq!(p.may_read(0), Read::Yes);
    }

    #[test]
    fn output_never_gates_new_requests_and_sheds_past_its_budget() {
        let mut p = Pressure::new(800, 800);
        let mut c = 0;
        p.charge_output(&mut c, 800);
        assert!(
            p.admits_new_requests(),
            "held output does not stop new requests"
        );
        assert_eq!(p.output_to_shed(), 0, "within the budget");
        p.charge_output(&mut c, 900);
        assert_eq!(
            p.output_to_shed(),
            200,
            "down to the budget less its reserve"
        );
        p.charge_output(&mut c, 0);
        assert_eq!(p.output_to_shed(), 0);
    }

    #[test]
    fn the_queue_gates_new_requests() {
        let mut p = Pressure::new(100, 50);
        assert!(p.admits_new_requests());
        p.set_queue_full(true);
        assert!(!p.admits_new_requests());
        assert!(!p.has_room_for(Wait::All, 0) && !p.has_room_for(Wait::Queue, 0));
        assert!(p.has_room_for(Wait::Input, SMALL_HOLDER));
        p.set_queue_full(false);
        assert!(p.admits_new_requests());
    }

    #[test]
    fn parked_in_order_per_kind_and_published() {
        let mut p = Pressure::new(10, 10);
        p.park(SlotId::new(3), Wait::All);
        p.park(SlotId::new(1), Wait::All);
        p.park(SlotId::new(2), Wait::Queue);
        assert_eq!(p.first_parked(Wait::All), Some(SlotId::new(3)));
        assert_eq!(p.unpark(Wait::Queue), Some(SlotId::new(2)));
        assert_eq!(p.unpark(Wait::All), Some(SlotId::new(3)));
        assert_eq!(p.unpark(Wait::All), Some(SlotId::new(1)));
        assert!(!p.has_parked());
        let mut charge = 0;
        p.charge_input(&mut charge, 7);
        let gauges = Gauges::default();
        p.publish(&gauges);
        assert_eq!(gauges.input.load(Relaxed), 7);
    }
}
