//! Metrics a scraper reads: how long handlers take (a histogram with fixed buckets) and a
//! server's [`Stats`] in the Prometheus text exposition format.
//!
//! The histogram is lock-free and allocation-free: recording is two relaxed atomic adds
//! (one bucket, the sum). Both servers time every call of `Handler::serve` into their
//! counters' [`Histogram`], and [`Stats::handler_time`] carries a snapshot of it.
//!
//! ```
//! let text = net::Stats::default().to_prometheus("net");
//! assert!(text.contains("# TYPE net_requests_total counter\nnet_requests_total 0\n"));
//! assert!(text.contains("net_handler_seconds_bucket{le=\"+Inf\"} 0\n"));
//! ```

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::{Stats, TimeoutKind};

/// The upper bounds of the handler-time buckets, in seconds (a last bucket, `+Inf`,
/// takes the rest): from 25 µs, below which a handler that answers from memory falls, to
/// 10 s, above which a request has outlived any sensible deadline.
pub const HANDLER_BUCKETS: [f64; 17] = [
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The bucket bounds in nanoseconds (what [`Histogram::record`] compares).
const BOUNDS_NS: [u64; 17] = {
    let mut ns = [0u64; 17];
    let mut i = 0;
    while i < ns.len() {
        ns[i] = (HANDLER_BUCKETS[i] * 1e9) as u64;
        i += 1;
    }
    ns
};

/// Counts per bucket: one per bound, and one above the last.
const SLOTS: usize = HANDLER_BUCKETS.len() + 1;

/// Durations counted in fixed buckets ([`HANDLER_BUCKETS`]), with their sum. Lock-free,
/// never allocates; shared by a server's threads.
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; SLOTS],
    sum_ns: AtomicU64,
}

impl Histogram {
    /// Count one duration.
    pub fn record(&self, took: Duration) {
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let slot = BOUNDS_NS.partition_point(|&bound| bound < ns);
        self.counts[slot].fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(ns, Relaxed);
    }

    /// The counts now (each read once, without a lock).
    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            counts: std::array::from_fn(|i| self.counts[i].load(Relaxed)),
            sum_ns: self.sum_ns.load(Relaxed),
        }
    }
}

/// A [`Histogram`]'s counts at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistogramSnapshot {
    counts: [u64; SLOTS],
    sum_ns: u64,
}

impl HistogramSnapshot {
    /// How many durations were counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Their sum.
    pub fn sum(&self) -> Duration {
        Duration::from_nanos(self.sum_ns)
    }

    /// Each bucket's upper bound in seconds (`f64::INFINITY` last) with the count of
    /// durations at or below it (cumulative, as Prometheus reports them).
    pub fn cumulative(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        let bounds = HANDLER_BUCKETS.iter().copied().chain([f64::INFINITY]);
        bounds.zip(self.counts.iter().scan(0, |total, &n| {
            *total += n;
            Some(*total)
        }))
    }

    /// The upper bound of the bucket that holds quantile `q` (0 to 1) of the counted
    /// durations, in seconds: an estimate no finer than the buckets. `None` when nothing
    /// was counted.
    pub fn quantile_bound(&self, q: f64) -> Option<f64> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * count as f64).ceil() as u64).max(1);
        self.cumulative()
            .find(|&(_, below)| below >= rank)
            .map(|(bound, _)| bound)
    }
}

impl Stats {
    /// These statistics in the Prometheus text exposition format (version 0.0.4), each
    /// metric named `<namespace>_<name>` with its `HELP` and `TYPE`: counters end in
    /// `_total`, gauges do not, sizes are in bytes and times in seconds
    /// (`<namespace>_handler_seconds`, a histogram). Characters of `namespace` that a
    /// metric name may not hold become `_`.
    ///
    /// Counters split by kind are one metric with a `kind` label, so that a query sums
    /// them: `<namespace>_timeouts_total{kind="idle"|"read"|"write"|"handler"}` (see
    /// [`TimeoutKind`]; their sum is [`Stats::timed_out`]) and
    /// `<namespace>_tls_handshakes_total{kind="full"|"resumed"|"failed"}`.
    ///
    /// ```
    /// let text = net::Stats::default().to_prometheus("net");
    /// assert!(text.contains("\nnet_timeouts_total{kind=\"read\"} 0\n"));
    /// assert!(text.contains("\nnet_tls_handshakes_total{kind=\"resumed\"} 0\n"));
    /// ```
    pub fn to_prometheus(&self, namespace: &str) -> String {
        let ns = metric_namespace(namespace);
        let mut out = String::with_capacity(4096);
        let counters: [(&str, &str, u64); 15] = [
            (
                "connections_total",
                "Connections accepted and served.",
                self.total_connections,
            ),
            (
                "refused_connections_total",
                "Connections refused at a limit.",
                self.refused_connections,
            ),
            ("requests_total", "Requests served.", self.requests),
            (
                "handler_panics_total",
                "Handler panics caught.",
                self.handler_panics,
            ),
            (
                "server_panics_total",
                "Panics in the server's own code caught.",
                self.server_panics,
            ),
            (
                "streamed_responses_total",
                "Responses that waited for their peer.",
                self.streamed_responses,
            ),
            (
                "shed_connections_total",
                "Connections closed to keep service for others.",
                self.shed_connections,
            ),
            (
                "loop_takeovers_total",
                "Event loops taken over from a blocked handler.",
                self.loop_takeovers,
            ),
            (
                "loop_stalls_total",
                "Blocked handlers whose loop no spare could take.",
                self.loop_stalls,
            ),
            (
                "proxy_header_failures_total",
                "Connections without a valid PROXY header.",
                self.proxy_header_failures,
            ),
            (
                "client_limited_total",
                "Connections closed over max_connections_per_client.",
                self.client_limited,
            ),
            (
                "aged_out_total",
                "Connections closed at max_connection_age.",
                self.aged_out,
            ),
            (
                "accept_pauses_total",
                "Pauses of accepting at max_accept_rate.",
                self.accept_pauses,
            ),
            (
                "evicted_idle_total",
                "Idle connections closed for a newcomer at max_connections.",
                self.evicted_idle,
            ),
            (
                "keep_alive_declined_total",
                "Requests made last near max_connections.",
                self.keep_alive_declined,
            ),
        ];
        for (name, help, value) in counters {
            metric(&mut out, &ns, name, "counter", help, value);
        }
        let timeouts = TimeoutKind::ALL.map(|kind| (kind.name(), self.timed_out_by(kind)));
        labelled_counter(
            &mut out,
            (&ns, "timeouts_total"),
            "Connections closed at a timeout, by the timeout that expired.",
            &timeouts,
        );
        labelled_counter(
            &mut out,
            (&ns, "tls_handshakes_total"),
            "TLS handshakes: completed in full, resumed, or failed.",
            &[
                ("full", self.tls_handshakes_full),
                ("resumed", self.tls_handshakes_resumed),
                ("failed", self.tls_handshake_failures),
            ],
        );
        let gauges: [(&str, &str, u64); 7] = [
            (
                "connections",
                "Connections open now.",
                self.current_connections as u64,
            ),
            (
                "connections_max",
                "Most connections open at once.",
                self.max_concurrent_connections as u64,
            ),
            (
                "queued",
                "Connections (net) or requests (evnet) waiting for a thread.",
                self.queued_connections as u64,
            ),
            (
                "threads",
                "Server threads now.",
                self.current_threads as u64,
            ),
            (
                "threads_max",
                "Most server threads at once.",
                self.max_threads as u64,
            ),
            (
                "buffered_input_bytes",
                "Request bytes held by event loops.",
                self.buffered_input as u64,
            ),
            (
                "buffered_output_bytes",
                "Response bytes held by event loops.",
                self.buffered_output as u64,
            ),
        ];
        for (name, help, value) in gauges {
            metric(&mut out, &ns, name, "gauge", help, value);
        }
        let h = &self.handler_time;
        let name = format!("{ns}_handler_seconds");
        let _ = writeln!(out, "# HELP {name} Time spent in Handler::serve.");
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (bound, below) in h.cumulative() {
            let le = match bound.is_finite() {
                true => format!("{bound}"),
                false => "+Inf".to_string(),
            };
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {below}");
        }
        let _ = writeln!(out, "{name}_sum {}", h.sum().as_secs_f64());
        let _ = writeln!(out, "{name}_count {}", h.count());
        out
    }
}

fn metric(out: &mut String, ns: &str, name: &str, kind: &str, help: &str, value: u64) {
    let _ = writeln!(out, "# HELP {ns}_{name} {help}");
    let _ = writeln!(out, "# TYPE {ns}_{name} {kind}");
    let _ = writeln!(out, "{ns}_{name} {value}");
}

/// A counter with one series per `kind` label value.
fn labelled_counter(out: &mut String, (ns, name): (&str, &str), help: &str, kinds: &[(&str, u64)]) {
    let _ = writeln!(out, "# HELP {ns}_{name} {help}");
    let _ = writeln!(out, "# TYPE {ns}_{name} counter");
    for (kind, value) in kinds {
        let _ = writeln!(out, "{ns}_{name}{{kind=\"{kind}\"}} {value}");
    }
}

/// `namespace` with what a metric name may not hold replaced (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
fn metric_namespace(namespace: &str) -> String {
    let mut ns: String = namespace
        .chars()
        .map(
            |c| match c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                true => c,
                false => '_',
            },
        )
        .collect();
    if ns.is_empty() || ns.starts_with(|c: char| c.is_ascii_digit()) {
        ns.insert(0, '_');
    }
    ns
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_land_in_their_bucket() {
        let h = Histogram::default();
        h.record(Duration::from_micros(10)); // <= 25 µs
        h.record(Duration::from_micros(25)); // on the bound: <= 25 µs
        h.record(Duration::from_micros(26)); // <= 50 µs
        h.record(Duration::from_millis(3)); // <= 5 ms
        h.record(Duration::from_secs(60)); // +Inf
        let s = h.snapshot();
        assert_eq!(s.count(), 5);
        let cumulative: Vec<(f64, u64)> = s.cumulative().collect();
        assert_eq!(cumulative[0], (0.000_025, 2));
        assert_eq!(cumulative[1], (0.000_05, 3));
        assert_eq!(cumulative[7], (0.005, 4));
        assert_eq!(cumulative[16], (10.0, 4));
        assert_eq!(cumulative[17], (f64::INFINITY, 5));
        assert_eq!(
            s.sum(),
            Duration::from_micros(10 + 25 + 26 + 3000) + Duration::from_secs(60)
        );
        assert_eq!(s.quantile_bound(0.5), Some(0.000_05));
        assert_eq!(s.quantile_bound(0.8), Some(0.005));
        assert_eq!(s.quantile_bound(1.0), Some(f64::INFINITY));
        assert_eq!(HistogramSnapshot::default().quantile_bound(0.5), None);
    }

    #[test]
    fn bounds_increase() {
        assert!(BOUNDS_NS.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(BOUNDS_NS[0], 25_000);
    }

    #[test]
    fn exposition_has_every_metric_once_with_help_and_type() {
        let counters = crate::__private::Counters::default();
        let times = |n: usize, event: fn(&crate::__private::Counters)| {
            (0..n).for_each(|_| event(&counters));
        };
        times(3, |c| c.request_served());
        counters.timed_out(TimeoutKind::Idle);
        counters.timed_out(TimeoutKind::Write);
        counters.timed_out(TimeoutKind::Write);
        times(4, |c| c.tls_handshake_full());
        times(5, |c| c.tls_handshake_resumed());
        times(6, |c| c.tls_handshake_failed());
        counters.handler_took(Duration::from_millis(1));
        times(7, |c| c.client_limited());
        times(8, |c| c.aged_out());
        times(9, |c| c.accept_paused());
        times(10, |c| c.idle_evicted());
        times(11, |c| c.keep_alive_declined());
        times(12, |c| c.handler_panicked());
        times(13, |c| c.server_panicked());
        let mut stats = counters.snapshot();
        stats.current_connections = 2;
        let text = stats.to_prometheus("my-server");
        assert!(text.contains("\nmy_server_requests_total 3\n"), "{text}");
        assert!(text.contains("\nmy_server_connections 2\n"), "{text}");
        for (name, value) in [
            ("client_limited_total", 7),
            ("aged_out_total", 8),
            ("accept_pauses_total", 9),
            ("evicted_idle_total", 10),
            ("keep_alive_declined_total", 11),
            ("handler_panics_total", 12),
            ("server_panics_total", 13),
        ] {
            let series = format!("# TYPE my_server_{name} counter\nmy_server_{name} {value}\n");
            assert!(text.contains(&series), "{name}: {text}");
        }
        let timeouts = "# TYPE my_server_timeouts_total counter\n\
                        my_server_timeouts_total{kind=\"idle\"} 1\n\
                        my_server_timeouts_total{kind=\"read\"} 0\n\
                        my_server_timeouts_total{kind=\"write\"} 2\n\
                        my_server_timeouts_total{kind=\"handler\"} 0\n";
        assert!(text.contains(timeouts), "{text}");
        let handshakes = "# TYPE my_server_tls_handshakes_total counter\n\
                          my_server_tls_handshakes_total{kind=\"full\"} 4\n\
                          my_server_tls_handshakes_total{kind=\"resumed\"} 5\n\
                          my_server_tls_handshakes_total{kind=\"failed\"} 6\n";
        assert!(text.contains(handshakes), "{text}");
        // One family each: no unlabelled total beside the kinds.
        assert!(!text.contains("\nmy_server_timeouts_total "), "{text}");
        assert!(!text.contains("tls_handshake_failures"), "{text}");
        assert!(text.contains("my_server_handler_seconds_bucket{le=\"0.001\"} 1\n"));
        assert!(text.contains("my_server_handler_seconds_bucket{le=\"+Inf\"} 1\n"));
        assert!(text.contains("my_server_handler_seconds_count 1\n"));
        assert!(text.contains("my_server_handler_seconds_sum 0.001\n"));
        for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            let name = line.split(' ').nth(2).unwrap();
            let help = format!("# HELP {name} ");
            assert_eq!(text.matches(&help).count(), 1, "{name}");
        }
        assert_eq!(metric_namespace("9x"), "_9x");
        assert_eq!(metric_namespace(""), "_");
    }
}
