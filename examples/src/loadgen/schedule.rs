//! The open-loop schedule: when each request is meant to be sent.

use std::time::{Duration, Instant};

/// Request `n` (from 0) is meant to be sent at `start + n / rate`, whether or not the
/// server has answered the ones before it. Its latency counts from that intended time,
/// so a server that stalls delays every request due during the stall, and all of them
/// show in the percentiles (no "coordinated omission").
///
/// ```
/// use std::time::{Duration, Instant};
/// use examples::loadgen::Schedule;
///
/// let start = Instant::now();
/// let schedule = Schedule::new(start, 1000.0);
/// assert_eq!(schedule.intended(250), start + Duration::from_millis(250));
/// assert_eq!(schedule.due(start + Duration::from_micros(2500)), 3); // requests 0, 1, 2
/// // Request 10 answered at 15 ms waited 5 ms, counted from its intended 10 ms.
/// let late = schedule.latency(10, start + Duration::from_millis(15));
/// assert_eq!(late, Duration::from_millis(5));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    start: Instant,
    per_sec: f64,
}

impl Schedule {
    /// A schedule of `per_sec` requests per second from `start`; `per_sec` must be finite
    /// and positive.
    pub fn new(start: Instant, per_sec: f64) -> Schedule {
        assert!(
            per_sec.is_finite() && per_sec > 0.0,
            "rate must be finite and positive"
        );
        Schedule { start, per_sec }
    }

    /// The requests per second.
    pub fn rate(&self) -> f64 {
        self.per_sec
    }

    /// When request `n` is meant to be sent: `start + n / rate`.
    pub fn intended(&self, n: u64) -> Instant {
        self.start + Duration::from_secs_f64(n as f64 / self.per_sec)
    }

    /// How many requests are due at `now`: the count of `n` with `intended(n) <= now`.
    pub fn due(&self, now: Instant) -> u64 {
        if now < self.start {
            return 0;
        }
        let elapsed = now.duration_since(self.start).as_secs_f64();
        // An estimate, then corrected against `intended` so the two always agree.
        let mut n = (elapsed * self.per_sec).floor() as u64 + 1;
        while n > 0 && self.intended(n - 1) > now {
            n -= 1;
        }
        while self.intended(n) <= now {
            n += 1;
        }
        n
    }

    /// The latency of request `n` answered at `done`: from its intended send time (zero
    /// if answered before it, which a correct client never sees).
    pub fn latency(&self, n: u64, done: Instant) -> Duration {
        done.saturating_duration_since(self.intended(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nth_request_is_at_start_plus_n_over_rate() {
        let start = Instant::now();
        let s = Schedule::new(start, 400.0);
        assert_eq!(s.intended(0), start);
        assert_eq!(s.intended(1), start + Duration::from_micros(2500));
        assert_eq!(s.intended(400), start + Duration::from_secs(1));
        assert_eq!(s.intended(1000), start + Duration::from_millis(2500));
    }

    #[test]
    fn due_counts_requests_whose_time_has_come() {
        let start = Instant::now();
        let s = Schedule::new(start, 400.0);
        assert_eq!(s.due(start), 1);
        assert_eq!(s.due(start + Duration::from_micros(2499)), 1);
        assert_eq!(s.due(start + Duration::from_micros(2500)), 2);
        assert_eq!(s.due(start + Duration::from_secs(1)), 401);
        for ms in 0..3000 {
            let now = start + Duration::from_millis(ms);
            let n = s.due(now);
            assert!(s.intended(n - 1) <= now && s.intended(n) > now, "{ms} ms");
        }
        // An odd rate: every request still falls on exactly one side of `now`.
        let s = Schedule::new(start, 333.3);
        for us in (0..2_000_000).step_by(777) {
            let now = start + Duration::from_micros(us);
            let n = s.due(now);
            assert!(s.intended(n - 1) <= now && s.intended(n) > now, "{us} µs");
        }
    }

    #[test]
    fn late_responses_count_from_the_intended_time() {
        let start = Instant::now();
        let s = Schedule::new(start, 100.0);
        // A server that stalls for 1 s from 0: the request due at 500 ms, answered when
        // the stall ends, waited 500 ms, not the time since it could be sent.
        let done = start + Duration::from_secs(1);
        assert_eq!(s.latency(50, done), Duration::from_millis(500));
        assert_eq!(s.latency(0, done), Duration::from_secs(1));
        assert_eq!(s.latency(100, done), Duration::ZERO);
        assert_eq!(s.latency(200, done), Duration::ZERO);
    }
}
