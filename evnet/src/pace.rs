//! The loop's pace: how long a busy loop lets I/O events gather before it polls again.
//!
//! A loop that polls after every event or two spends its time (and the workers', and the
//! scheduler's) on wake-ups: each poll that finds one ready connection hands one request
//! over, wakes a worker for it and is woken again for its return. Letting events gather
//! turns those into batches: one poll finds many requests, one hand-over queues them, a
//! worker serves them back to back and returns them together.
//!
//! The wait is libev's I/O collect interval ([`crate::ev::Loop::set_io_collect_interval`]),
//! set before each poll from the number of connection events (readable, writable, taken
//! back) the iteration just handled: [`PER_EVENT`] per event, at most [`MAX_INTERVAL`],
//! none for a single event. It adapts both ways:
//! - a loop serving one connection at a time sees one event per iteration and never
//!   waits, and a poll later than the interval after the previous one does not wait at
//!   all, so an idle loop answers at once;
//! - with `n` connections active, each can be slowed to at most one request per `n ×
//!   PER_EVENT`, so the loop's rate is never capped below `1 / PER_EVENT` (250,000 events
//!   a second), and no request waits more than [`MAX_INTERVAL`] for its poll.
//!
//! Measured (2 cores, `wrk -t1`, `scripts/fastpath.py`, default topology): 1.34× the
//! requests at 50 connections, 1.29× at 2,000, 0.75-0.81× the CPU per request, p99 at 50
//! connections 0.66 ms against 2.27 ms; at 1 and 8 connections 0.93× and 1.09×. Twice the
//! wait per event (8 µs) gained another 1.10× at 50 connections but lost 0.76× at 8: the
//! wait then outgrows the natural round trip of a few busy connections.

/// Wait per connection event of the last iteration (seconds).
pub(crate) const PER_EVENT: f64 = 4e-6;

/// The longest wait between two polls (seconds).
pub(crate) const MAX_INTERVAL: f64 = 200e-6;

/// Counts an iteration's connection events and turns them into the next poll's wait.
#[derive(Debug, Default)]
pub(crate) struct Pace {
    events: usize,
}

impl Pace {
    /// Count `n` connection events of the current iteration.
    pub fn note(&mut self, n: usize) {
        self.events += n;
    }

    /// The wait before the next poll, from the iteration that just ended (whose count
    /// starts again from zero).
    pub fn next_interval(&mut self) -> f64 {
        match std::mem::take(&mut self.events) {
            0 | 1 => 0.0,
            n => (n as f64 * PER_EVENT).min(MAX_INTERVAL),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_event_never_waits_and_more_wait_in_proportion_up_to_the_cap() {
        let mut pace = Pace::default();
        assert_eq!(pace.next_interval(), 0.0);
        pace.note(1);
        assert_eq!(pace.next_interval(), 0.0);
        pace.note(10);
        pace.note(5);
        assert!((pace.next_interval() - 15.0 * PER_EVENT).abs() < 1e-12);
        assert_eq!(pace.next_interval(), 0.0, "each iteration counts afresh");
        pace.note(1_000_000);
        assert_eq!(pace.next_interval(), MAX_INTERVAL);
    }
}
