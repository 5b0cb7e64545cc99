//! A loop's clock and timeouts: the deadline of each timeout list and when the loop's one
//! sweep timer must fire. Pure arithmetic over the slab's lists; the loop owns the timer.

use std::time::{Duration, Instant};

use net::ServerParams;

use crate::slab::{List, Slab, SlotId};

/// Monotonic loop time in seconds since the loop started (libev's `ev_now` follows the
/// wall clock, which can jump).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    epoch: Instant,
}

impl Clock {
    /// A clock starting now.
    pub(crate) fn new() -> Clock {
        Clock {
            epoch: Instant::now(),
        }
    }

    /// Seconds since the epoch.
    pub(crate) fn now(&self) -> f64 {
        self.epoch.elapsed().as_secs_f64()
    }

    /// The loop time of `instant` (0 for one before the epoch).
    pub(crate) fn at(&self, instant: Instant) -> f64 {
        instant.saturating_duration_since(self.epoch).as_secs_f64()
    }

    /// The instant of loop time `t`.
    pub(crate) fn instant(&self, t: f64) -> Instant {
        self.epoch + Duration::from_secs_f64(t.max(0.0))
    }
}

/// The timeouts of every list (constant but for the write deadline, which a response's
/// first write sets), and the armed sweep time.
#[derive(Debug)]
pub struct Timeouts {
    keep_alive: f64,
    read: f64,
    write: f64,
    first_request_grace: f64,
    /// When the sweep timer is armed to fire, if it is.
    armed: Option<f64>,
}

impl Timeouts {
    /// The timeouts of `params`.
    pub fn new(params: &ServerParams) -> Timeouts {
        Timeouts {
            keep_alive: params.keep_alive_timeout().as_secs_f64(),
            read: params.read_timeout().as_secs_f64(),
            write: params.write_timeout().as_secs_f64(),
            first_request_grace: params.first_request_grace().as_secs_f64(),
            armed: None,
        }
    }

    /// The deadline of a connection going idle at `now`.
    pub fn idle_deadline(&self, now: f64) -> f64 {
        now + self.keep_alive
    }

    /// The deadline of a TLS handshake whose connection was accepted at `accepted`: the
    /// whole handshake must be done within the read timeout.
    pub fn handshake_deadline(&self, accepted: f64) -> f64 {
        accepted + self.read
    }

    /// The deadline of a connection parked at `now` (waiting for room in the loop): the
    /// read timeout, as for a request.
    pub fn parked_deadline(&self, now: f64) -> f64 {
        now + self.read
    }

    /// The deadline of output left for the loop to send at `now`: the response's own
    /// (`set`, from its first write, in loop time) if it has one, else `write_timeout`
    /// from now.
    pub fn write_deadline(&self, now: f64, set: Option<f64>) -> f64 {
        set.unwrap_or(now + self.write)
    }

    /// During a drain, the deadline of a connection accepted at `opened` for its first
    /// request to begin (`first_request_grace` from its accept).
    pub fn first_request_deadline(&self, opened: f64) -> f64 {
        opened + self.first_request_grace
    }

    /// The deadline of a request whose first byte arrived at `started`.
    pub fn read_deadline(&self, started: f64) -> f64 {
        started + self.read
    }

    /// The earliest deadline over every list.
    pub fn next_due<S>(&self, slab: &Slab<S>) -> Option<f64> {
        List::ALL
            .iter()
            .filter_map(|&list| slab.front(list).map(|(_, due)| due))
            .min_by(f64::total_cmp)
    }

    /// A connection whose deadline passed by `now`, and its list.
    pub fn expired<S>(&self, slab: &Slab<S>, now: f64) -> Option<(SlotId, List)> {
        List::ALL.iter().find_map(|&list| {
            slab.front(list)
                .filter(|&(_, due)| due <= now)
                .map(|(id, _)| (id, list))
        })
    }

    /// Whether the sweep timer must be (re)started, and for when: only when the earliest
    /// deadline is earlier than the armed one (or none is armed). Call after any change
    /// to the lists; `fired` says the timer just fired (so it is no longer armed).
    pub fn rearm<S>(&mut self, slab: &Slab<S>, fired: bool) -> Option<f64> {
        if fired {
            self.armed = None;
        }
        let next = self.next_due(slab)?;
        if self.armed.is_some_and(|at| at <= next) {
            return None;
        }
        self.armed = Some(next);
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slab::Phase;

    fn timeouts() -> Timeouts {
        let params = ServerParams::builder()
            .keep_alive_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(3))
            .build()
            .unwrap();
        Timeouts::new(&params)
    }

    #[test]
    fn earliest_deadline_over_all_lists() {
        let t = timeouts();
        let mut slab: Slab<()> = Slab::new(3);
        assert_eq!(t.next_due(&slab), None);
        let a = slab.alloc().unwrap();
        let b = slab.alloc().unwrap();
        slab.set_phase(a, Phase::Idle, t.idle_deadline(1.0));
        slab.set_phase(b, Phase::READING, t.read_deadline(2.0));
        assert_eq!(t.next_due(&slab), Some(5.0));
        assert_eq!(t.expired(&slab, 4.9), None);
        assert_eq!(t.expired(&slab, 5.0), Some((b, List::Reading)));
        slab.set_phase(b, Phase::BUSY, 0.0);
        assert_eq!(t.expired(&slab, 12.0), Some((a, List::Idle)));
    }

    #[test]
    fn rearm_only_for_an_earlier_deadline() {
        let mut t = timeouts();
        let mut slab: Slab<()> = Slab::new(2);
        let a = slab.alloc().unwrap();
        slab.set_phase(a, Phase::Idle, t.idle_deadline(0.0));
        assert_eq!(t.rearm(&slab, false), Some(10.0));
        assert_eq!(t.rearm(&slab, false), None);
        let b = slab.alloc().unwrap();
        slab.set_phase(b, Phase::Writing { then_close: false }, 4.0);
        assert_eq!(t.rearm(&slab, false), Some(4.0));
        slab.set_phase(b, Phase::Idle, t.idle_deadline(1.0));
        // The timer fires at 4 for nothing due; it is re-armed for the next deadline.
        assert_eq!(t.rearm(&slab, true), Some(10.0));
    }

    #[test]
    fn a_write_deadline_is_the_responses_own_or_write_timeout_from_now() {
        let params = ServerParams::builder()
            .write_timeout(Duration::from_secs(7))
            .build()
            .unwrap();
        let t = Timeouts::new(&params);
        assert_eq!(t.write_deadline(1.0, None), 8.0);
        assert_eq!(t.write_deadline(1.0, Some(3.0)), 3.0);
    }

    #[test]
    fn clock_round_trips() {
        let clock = Clock::new();
        let later = clock.instant(2.5);
        assert!((clock.at(later) - 2.5).abs() < 1e-6);
        assert!(clock.now() >= 0.0);
    }
}
