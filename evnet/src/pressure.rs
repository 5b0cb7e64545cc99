//! A loop's backpressure: the input and output budgets, whether the worker queue had room,
//! and the connections parked until the loop has room again.
//!
//! What each state allows:
//! - **New requests** (an idle connection becoming readable, a complete request to
//!   dispatch) need everything open: the worker queue not full, input and output under
//!   their budgets. Otherwise the connection is parked *unread*: its bytes stay in the
//!   kernel, whose buffers then throttle the client.
//! - **A partial request** may keep reading while the input budget has room; at the
//!   budget only the oldest partial request reads on (so one always makes progress and the
//!   overshoot is at most one request buffer), the others are parked.
//!
//! - **A complete request** that finds the worker queue full waits for queue room only.
//!
//! Each kind of wait has its own queue, so one kind never blocks another (a parked unread
//! connection waiting for input room must not hold back complete requests whose service
//! would free that room). Nothing is dropped: parked connections are taken up again, in
//! order within their kind, when room returns.

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
    pub fn new(input_budget: usize, output_budget: usize) -> Pressure {
        Pressure {
            input: 0,
            output: 0,
            input_budget,
            output_budget,
            queue_full: false,
            parked: [VecDeque::new(), VecDeque::new(), VecDeque::new()],
        }
    }

    /// True when a new request may be read or dispatched now.
    pub fn admits_new_requests(&self) -> bool {
        !self.queue_full && self.input < self.input_budget && self.output < self.output_budget
    }

    /// True while request bytes are under their budget.
    pub fn input_has_room(&self) -> bool {
        self.input < self.input_budget
    }

    /// Record whether the worker queue refused a job (true) or had room again (false).
    pub fn set_queue_full(&mut self, full: bool) {
        self.queue_full = full;
    }

    /// True while the worker queue is known to be full.
    pub fn queue_full(&self) -> bool {
        self.queue_full
    }

    /// A connection's request bytes are now `bytes` (its charge was `*charge`).
    pub fn charge_input(&mut self, charge: &mut usize, bytes: usize) {
        self.input = self.input - *charge + bytes;
        *charge = bytes;
    }

    /// A connection's pending response bytes are now `bytes` (its charge was `*charge`).
    pub fn charge_output(&mut self, charge: &mut usize, bytes: usize) {
        self.output = self.output - *charge + bytes;
        *charge = bytes;
    }

    /// Publish the loop's totals for `Stats`.
    pub fn publish(&self, gauges: &Gauges) {
        gauges.input.store(self.input, Relaxed);
        gauges.output.store(self.output, Relaxed);
    }

    /// True when a connection waiting for `wait` may go on now.
    pub fn has_room_for(&self, wait: Wait) -> bool {
        match wait {
            Wait::Queue => !self.queue_full,
            Wait::Input => self.input_has_room(),
            Wait::All => self.admits_new_requests(),
        }
    }

    /// Park `id` until there is room for `wait`.
    pub fn park(&mut self, id: SlotId, wait: Wait) {
        self.parked[wait as usize].push_back(id);
    }

    /// The connection parked longest for `wait`.
    pub fn first_parked(&self, wait: Wait) -> Option<SlotId> {
        self.parked[wait as usize].front().copied()
    }

    /// Take the connection parked longest for `wait`.
    pub fn unpark(&mut self, wait: Wait) -> Option<SlotId> {
        self.parked[wait as usize].pop_front()
    }

    /// True when a connection is parked.
    pub fn has_parked(&self) -> bool {
        self.parked.iter().any(|q| !q.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_and_queue_gate_new_requests() {
        let mut p = Pressure::new(100, 50);
        assert!(p.admits_new_requests());
        let (mut a, mut b) = (0, 0);
        p.charge_input(&mut a, 60);
        p.charge_input(&mut b, 40);
        assert!(!p.admits_new_requests() && !p.input_has_room());
        p.charge_input(&mut a, 10);
        assert!(p.admits_new_requests());
        assert_eq!(a, 10);
        let mut c = 0;
        p.charge_output(&mut c, 50);
        assert!(!p.admits_new_requests() && p.input_has_room());
        p.charge_output(&mut c, 0);
        p.set_queue_full(true);
        assert!(!p.admits_new_requests());
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
        // Each kind has its own condition.
        p.set_queue_full(true);
        assert!(!p.has_room_for(Wait::Queue) && p.has_room_for(Wait::Input));
        assert!(!p.has_room_for(Wait::All));
        let mut charge = 0;
        p.charge_input(&mut charge, 7);
        let gauges = Gauges::default();
        p.publish(&gauges);
        assert_eq!(gauges.input.load(Relaxed), 7);
    }
}
