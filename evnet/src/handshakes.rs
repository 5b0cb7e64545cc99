//! TLS handshakes under a budget: a loop's established connections are served first, and
//! handshake computation (the server's signature, the key exchange) gets a bounded share
//! of the loop's time when others are waiting.
//!
//! A handshake step that is due (a new connection, or a handshaking one that became
//! readable or writable) is not run in the event's callback: its connection is queued, and
//! the loop runs queued steps at the end of the iteration, after every established
//! connection's event of that iteration was handled. Steps are paid from a time budget:
//!
//! - the loop earns [`SHARE`] of its busy time, and all of the time it slept waiting for
//!   events (handshakes may use what nobody else wanted: with no other load they run at
//!   full speed);
//! - a step runs while the balance is positive, and its measured cost is taken from it
//!   (one step may overdraw: a signature cannot be cut in two);
//! - the balance never exceeds [`BURST`], so a loop that was idle for a while does not
//!   then run handshakes for long at a stretch while established requests arrive.
//!
//! When steps are left and the balance is spent, the loop arms a timer for the moment the
//! balance is positive again and serves established connections meanwhile. So under a
//! flood of handshakes (RSA-2048 signatures cost about a millisecond each) established
//! connections keep at least `1 - SHARE` of the loop, and one of their requests waits at
//! most about `BURST` plus one step behind handshakes; new clients still complete their
//! handshakes, at the budget's rate.
//!
//! Concurrent handshakes are bounded per loop ([`MAX_HANDSHAKES`]); at the bound the
//! oldest one is closed (counted as shed) for a new one, since a handshake that has lasted
//! longest is the likeliest to be stalled. Each handshake in progress is charged
//! [`HANDSHAKE_CHARGE`] in the loop's input budget, an estimate of what rustls holds for
//! it.

use std::collections::VecDeque;

use crate::slab::SlotId;

/// The share of the loop's busy time that handshakes may use.
pub(crate) const SHARE: f64 = 1.0 / 3.0;

/// The most handshake time (seconds) a loop may have saved up.
pub(crate) const BURST: f64 = 0.002;

/// Handshakes in progress on one loop at most.
pub(crate) const MAX_HANDSHAKES: usize = 256;

/// Input-budget bytes charged for one handshake in progress.
pub(crate) const HANDSHAKE_CHARGE: usize = 16 * 1024;

/// The queue of handshake steps due, and the time budget they are paid from.
#[derive(Debug)]
pub(crate) struct Handshakes {
    due: VecDeque<SlotId>,
    /// When the loop last went to wait for events (loop time), until it wakes.
    asleep_since: Option<f64>,
    /// Seconds the loop slept since the budget last earned.
    slept: f64,
    /// When the budget last earned (loop time).
    earned_at: f64,
    /// Seconds of handshake work the loop may still do (negative: overdrawn).
    balance: f64,
}

impl Handshakes {
    /// No step due, a full burst to spend.
    pub(crate) fn new() -> Handshakes {
        Handshakes {
            due: VecDeque::new(),
            asleep_since: None,
            slept: 0.0,
            earned_at: 0.0,
            balance: BURST,
        }
    }

    /// Queue a step for connection `id`.
    pub(crate) fn queue(&mut self, id: SlotId) {
        self.due.push_back(id);
    }

    /// True when steps are queued.
    pub(crate) fn any_due(&self) -> bool {
        !self.due.is_empty()
    }

    /// The loop goes to wait for events at loop time `now` (the end of an iteration).
    pub(crate) fn sleeping(&mut self, now: f64) {
        self.asleep_since = Some(now);
    }

    /// The loop runs a callback: if it was asleep, it woke at `now()` (read only then,
    /// so the first callback of an iteration pays one clock read and the others none).
    pub(crate) fn woke(&mut self, now: impl FnOnce() -> f64) {
        if let Some(since) = self.asleep_since.take() {
            self.slept += now() - since;
        }
    }

    /// Earn for the time since the last call, up to loop time `now`: all of what the
    /// loop slept, [`SHARE`] of the rest (its own work).
    pub(crate) fn earn_until(&mut self, now: f64) {
        let slept = std::mem::take(&mut self.slept);
        let elapsed = now - std::mem::replace(&mut self.earned_at, now);
        self.earn(elapsed - slept, slept);
    }

    /// Earn for `busy` seconds of the loop's own work and `slept` seconds waiting.
    fn earn(&mut self, busy: f64, slept: f64) {
        self.balance = (self.balance + SHARE * busy.max(0.0) + slept.max(0.0)).min(BURST);
    }

    /// The next step to run, if one is due and the balance allows it.
    pub(crate) fn next(&mut self) -> Option<SlotId> {
        if self.balance > 0.0 {
            self.due.pop_front()
        } else {
            None
        }
    }

    /// A step cost `secs`.
    pub(crate) fn spent(&mut self, secs: f64) {
        self.balance -= secs.max(0.0);
    }

    /// Seconds until the balance is positive again, if the loop does nothing else (it
    /// then sleeps, and sleeping earns in full).
    pub(crate) fn wait(&self) -> f64 {
        (-self.balance).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_run_while_the_balance_is_positive_one_may_overdraw() {
        let mut h = Handshakes::new();
        for i in 0..3 {
            h.queue(SlotId::new(i));
        }
        assert_eq!(h.next(), Some(SlotId::new(0)));
        // An RSA signature: far more than the burst.
        h.spent(0.0015);
        assert_eq!(
            h.next(),
            Some(SlotId::new(1)),
            "the balance was still positive"
        );
        h.spent(0.0015);
        assert_eq!(h.next(), None, "overdrawn");
        assert!(h.any_due());
        assert!((h.wait() - 0.001).abs() < 1e-9);
    }

    #[test]
    fn the_loop_clock_splits_busy_from_slept_time() {
        let mut h = Handshakes::new();
        h.earn_until(1.0);
        h.spent(BURST + 0.006);
        // Busy from 1.0 to 1.003, asleep until 1.006, busy again until 1.009.
        h.sleeping(1.003);
        h.woke(|| 1.006);
        h.woke(|| panic!("only the first callback after a sleep reads the clock"));
        h.earn_until(1.009);
        // Earned 0.003 slept + a third of 0.006 busy = 0.005 of the 0.006 owed.
        assert!((h.wait() - 0.001).abs() < 1e-9, "{}", h.wait());
    }

    #[test]
    fn busy_time_earns_a_share_sleep_earns_in_full_up_to_the_burst() {
        let mut h = Handshakes::new();
        h.spent(BURST + 0.003);
        // 6 ms of serving others earn 2 ms: still 1 ms short.
        h.earn(0.006, 0.0);
        assert!((h.wait() - 0.001).abs() < 1e-9);
        h.queue(SlotId::new(9));
        assert_eq!(h.next(), None);
        // Sleeping a millisecond (nothing else to do) pays it back.
        h.earn(0.0, 0.0011);
        assert_eq!(h.next(), Some(SlotId::new(9)));
        // Never more than the burst saved up.
        h.earn(10.0, 10.0);
        h.spent(BURST);
        assert_eq!(h.wait(), 0.0);
        h.queue(SlotId::new(1));
        assert_eq!(h.next(), None, "the burst is spent");
    }
}
