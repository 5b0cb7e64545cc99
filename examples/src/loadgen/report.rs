//! What a run measured: counts, latency percentiles, errors by kind.

use std::fmt::{self, Write as _};

use hdrhistogram::Histogram;
use serde::Serialize;

/// The highest latency the histogram holds, in µs (one hour); longer ones count as this.
const HISTOGRAM_MAX_US: u64 = 3_600_000_000;

/// A latency histogram in microseconds, 1 µs to one hour, 3 significant figures.
///
/// ```
/// let mut h = examples::loadgen::latency_histogram();
/// h.saturating_record(150);
/// assert_eq!(h.len(), 1);
/// ```
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_US, 3).expect("valid histogram bounds")
}

/// The ways a request can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// A connection could not be opened (refused, unreachable, or not within `--timeout`).
    Connect,
    /// Reading from the connection failed (reset, …).
    Read,
    /// Writing to the connection failed.
    Write,
    /// The response did not arrive within `--timeout`; the connection is reopened.
    Timeout,
    /// The server closed the connection before answering.
    Closed,
    /// The response was malformed: the connection is reopened.
    Protocol,
    /// A well-formed response that is not the one expected (wrong content, another
    /// request's answer).
    Mismatch,
}

impl ErrorKind {
    /// Every kind, in the order reports list them.
    pub const ALL: [ErrorKind; 7] = [
        ErrorKind::Connect,
        ErrorKind::Read,
        ErrorKind::Write,
        ErrorKind::Timeout,
        ErrorKind::Closed,
        ErrorKind::Protocol,
        ErrorKind::Mismatch,
    ];

    /// The kind's name in reports: `connect`, `read`, …
    ///
    /// ```
    /// assert_eq!(examples::loadgen::ErrorKind::Mismatch.name(), "mismatch");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Read => "read",
            ErrorKind::Write => "write",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Closed => "closed",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Mismatch => "mismatch",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// TLS handshakes completed in the measured time, by kind (both zero without TLS).
///
/// ```
/// use examples::loadgen::Handshakes;
/// let mut h = Handshakes::default();
/// h.add(rustls::HandshakeKind::Resumed);
/// h.add(rustls::HandshakeKind::Full);
/// assert_eq!((h.full, h.resumed), (1, 1));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Handshakes {
    /// Full handshakes (with a `HelloRetryRequest` or not).
    pub full: u64,
    /// Resumed sessions.
    pub resumed: u64,
}

impl Handshakes {
    /// Count one handshake of `kind`.
    pub fn add(&mut self, kind: rustls::HandshakeKind) {
        match kind {
            rustls::HandshakeKind::Resumed => self.resumed += 1,
            _ => self.full += 1,
        }
    }

    /// Add another thread's counts.
    pub fn merge(&mut self, other: &Handshakes) {
        self.full += other.full;
        self.resumed += other.resumed;
    }
}

/// Errors counted by kind.
///
/// A request sent counts once: as a success or as one error. A connection that fails
/// (read, write, timeout, closed, protocol) counts each request it had in flight under
/// that kind, or one error if it had none; `connect` counts failed attempts.
///
/// ```
/// use examples::loadgen::{ErrorKind, Errors};
/// let mut errors = Errors::default();
/// errors.add(ErrorKind::Timeout, 2);
/// errors.add(ErrorKind::Mismatch, 1);
/// assert_eq!((errors.get(ErrorKind::Timeout), errors.total()), (2, 3));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Errors {
    /// Failed connection attempts.
    pub connect: u64,
    /// Requests lost to a read error.
    pub read: u64,
    /// Requests lost to a write error.
    pub write: u64,
    /// Requests not answered within the timeout.
    pub timeout: u64,
    /// Requests lost because the server closed the connection.
    pub closed: u64,
    /// Requests lost to a malformed response.
    pub protocol: u64,
    /// Well-formed responses that were not the ones expected.
    pub mismatch: u64,
}

impl Errors {
    fn slot(&mut self, kind: ErrorKind) -> &mut u64 {
        match kind {
            ErrorKind::Connect => &mut self.connect,
            ErrorKind::Read => &mut self.read,
            ErrorKind::Write => &mut self.write,
            ErrorKind::Timeout => &mut self.timeout,
            ErrorKind::Closed => &mut self.closed,
            ErrorKind::Protocol => &mut self.protocol,
            ErrorKind::Mismatch => &mut self.mismatch,
        }
    }

    /// Count `n` errors of `kind`.
    pub fn add(&mut self, kind: ErrorKind, n: u64) {
        *self.slot(kind) += n;
    }

    /// The errors of `kind`.
    pub fn get(&self, kind: ErrorKind) -> u64 {
        let mut copy = *self;
        *copy.slot(kind)
    }

    /// All errors.
    pub fn total(&self) -> u64 {
        ErrorKind::ALL.iter().map(|&k| self.get(k)).sum()
    }

    /// Add the counts of `other`.
    pub fn merge(&mut self, other: &Errors) {
        for kind in ErrorKind::ALL {
            self.add(kind, other.get(kind));
        }
    }
}

/// Latency percentiles of the successful requests, in microseconds (0 when there were
/// none).
///
/// ```
/// let mut h = examples::loadgen::latency_histogram();
/// for us in 1..=1000 {
///     h.saturating_record(us);
/// }
/// let l = examples::loadgen::Latency::from_histogram(&h);
/// assert_eq!((l.p50, l.p99, l.max), (500, 990, 1000));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Requests measured.
    pub samples: u64,
    /// The shortest.
    pub min: u64,
    /// The mean.
    pub mean: f64,
    /// The median.
    pub p50: u64,
    /// The 90th percentile.
    pub p90: u64,
    /// The 99th percentile.
    pub p99: u64,
    /// The 99.9th percentile.
    pub p99_9: u64,
    /// The longest.
    pub max: u64,
}

impl Latency {
    /// The percentiles of a histogram of microseconds.
    pub fn from_histogram(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        Latency {
            samples: h.len(),
            min: h.min(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p99_9: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// The seconds from connection to close of the connections the server closed.
///
/// ```
/// use examples::loadgen::CloseAfter;
/// let c = CloseAfter::of(&mut [0.5, 0.1, 0.3, 0.2]);
/// assert_eq!((c.median, c.max), (Some(0.25), Some(0.5)));
/// assert_eq!(CloseAfter::of(&mut []), CloseAfter::default());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct CloseAfter {
    /// The median (`None`, JSON `null`, when the server closed none).
    pub median: Option<f64>,
    /// The longest.
    pub max: Option<f64>,
}

impl CloseAfter {
    /// The median and maximum of `seconds` (sorted in place).
    pub fn of(seconds: &mut [f64]) -> CloseAfter {
        if seconds.is_empty() {
            return CloseAfter::default();
        }
        seconds.sort_by(f64::total_cmp);
        let n = seconds.len();
        let median = if n % 2 == 1 {
            seconds[n / 2]
        } else {
            (seconds[n / 2 - 1] + seconds[n / 2]) / 2.0
        };
        CloseAfter {
            median: Some(median),
            max: Some(seconds[n - 1]),
        }
    }
}

/// Whether the idle connections still open after the run answer one request each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usable {
    /// Answered with the expected response.
    pub answered: u64,
    /// A wrong, malformed or missing answer (within `--timeout`), or a close.
    pub failed: u64,
}

/// The fate of one background population: `opened = closed_by_server +
/// closed_by_client + open_at_end` (a connection that never opened is in
/// `connect_failed`).
///
/// A population is opened once; a *reconnecting* one (`--reconnect` for the hostile
/// populations, always for the hello flood) opens a connection again each time one is
/// closed, so its `opened` counts every connection it established.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Population {
    /// Connections asked for (`--idle`, `--slowloris`, `--non-readers`, …): how many
    /// it keeps at once.
    pub requested: usize,
    /// Whether it reopens a connection the server (or, for the hello flood, the client)
    /// closed.
    pub reconnecting: bool,
    /// Connections established.
    pub opened: u64,
    /// Attempts that could not be established (refused, or not within `--timeout`).
    pub connect_failed: u64,
    /// Connections the server closed (end of file or reset) during the run.
    pub closed_by_server: u64,
    /// How long after their connection the server closed them.
    pub close_after_s: CloseAfter,
    /// Connections the client closed during the run: the hello flood's, once answered
    /// (or after waiting [`HELLO_WAIT`](super::HELLO_WAIT)); an amplifier's whose
    /// replies stopped making sense.
    pub closed_by_client: u64,
    /// Connections still open when the measured run ended.
    pub open_at_end: u64,
    /// Idle connections only: their answers to one request each after the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usable_at_end: Option<Usable>,
    /// Big non-readers and amplifiers: whether the value they ask for was stored before
    /// the run (on a connection of its own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored: Option<bool>,
    /// The populations added for the attacks (expect-stallers, partial bodies, big
    /// non-readers, amplifiers, hello flood): what they sent and got back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity: Option<Activity>,
}

/// What an attacking population sent and received over its run.
///
/// | population | `sent` | `answered` | `errors` |
/// | --- | --- | --- | --- |
/// | expect-stallers | request heads | responses (`100 Continue` or final) | final responses of status 400 and above |
/// | partial bodies | request heads | responses (the body never completes) | of status 400 and above |
/// | big non-readers | `GET`s | — (never read) | — |
/// | amplifiers | `MGET`s | replies | error replies (`-ERR …`) |
/// | hello flood | ClientHellos | connections on which the server answered something | answers starting with a TLS alert |
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Activity {
    /// Requests (or ClientHellos) sent.
    pub sent: u64,
    /// `100 Continue` answers (expect-stallers only).
    pub continues: u64,
    /// Answers received (see the table above).
    pub answered: u64,
    /// Answers that were errors.
    pub errors: u64,
    /// Bytes written to the server.
    pub bytes_sent: u64,
    /// Bytes read from the server.
    pub bytes_received: u64,
    /// How long the population ran, in seconds (from its connections' first opening
    /// to the end of the run).
    pub seconds: f64,
    /// `sent / seconds`.
    pub sent_per_s: f64,
}

impl Population {
    /// One summary line (without a newline), `name` padded like the other lines.
    fn summary(&self, name: &str) -> String {
        let mut s = format!("{name:<9} ");
        if self.reconnecting {
            let _ = write!(
                s,
                "{} kept (reconnecting): {} opened",
                self.requested, self.opened
            );
        } else {
            let _ = write!(s, "{} of {} opened", self.opened, self.requested);
        }
        if self.connect_failed > 0 {
            let _ = write!(s, " ({} failed to connect)", self.connect_failed);
        }
        let _ = write!(s, ", {} closed by the server", self.closed_by_server);
        if let (Some(median), Some(max)) = (self.close_after_s.median, self.close_after_s.max) {
            let _ = write!(s, " after {median:.2} s median, {max:.2} s max");
        }
        if self.closed_by_client > 0 {
            let _ = write!(s, ", {} closed by the client", self.closed_by_client);
        }
        let _ = write!(s, ", {} open at the end", self.open_at_end);
        if let Some(u) = self.usable_at_end {
            let _ = write!(s, "; then {} answered, {} failed", u.answered, u.failed);
        }
        if self.stored == Some(false) {
            s.push_str("; its value could NOT be stored before the run");
        }
        if let Some(a) = self.activity {
            let _ = write!(
                s,
                "; {} sent ({:.1}/s), {} answered",
                a.sent, a.sent_per_s, a.answered
            );
            if a.continues > 0 {
                let _ = write!(s, " ({} of them 100 Continue)", a.continues);
            }
            let _ = write!(
                s,
                ", {} errors, {} out, {} in",
                a.errors,
                bytes(a.bytes_sent),
                bytes(a.bytes_received)
            );
        }
        s
    }
}

/// Bytes as `512 B`, `1.5 KiB`, `2.0 MiB`, `1.2 GiB`.
fn bytes(n: u64) -> String {
    const KIB: f64 = 1024.0;
    let x = n as f64;
    if x < KIB {
        format!("{n} B")
    } else if x < KIB * KIB {
        format!("{:.1} KiB", x / KIB)
    } else if x < KIB * KIB * KIB {
        format!("{:.1} MiB", x / (KIB * KIB))
    } else {
        format!("{:.1} GiB", x / (KIB * KIB * KIB))
    }
}

/// The background populations of a run (all zero when none was asked for).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Background {
    /// `--idle`: keep-alive connections that send nothing.
    pub idle: Population,
    /// `--slowloris`: clients trickling a request they never finish.
    pub slowloris: Population,
    /// `--non-readers`: clients that pipeline requests and never read.
    pub non_readers: Population,
    /// `--expect-stallers` (HTTP): `POST /echo` with `Expect: 100-continue` and a
    /// body of 1,000,000 bytes never sent.
    pub expect_stallers: Population,
    /// `--partial-bodies` (HTTP): `POST /echo` of 1,000,000 bytes of which 900,000
    /// are sent, then nothing.
    pub partial_bodies: Population,
    /// `--big-non-readers` (RESP): a `GET` of a 2,000,000-byte value, never read.
    pub big_non_readers: Population,
    /// `--amplifiers` (RESP): `MGET` naming a 64 KiB value 1,000 times, the reply read,
    /// again and again.
    pub amplifiers: Population,
    /// `--hello-flood`: a captured TLS ClientHello sent on a new connection, the
    /// answer's first bytes awaited, the connection closed, again and again.
    pub hello_flood: Population,
}

impl Background {
    /// Each population with its name in reports, in flag order.
    pub fn populations(&self) -> [(&'static str, &Population); 8] {
        [
            ("idle", &self.idle),
            ("slowloris", &self.slowloris),
            ("non-readers", &self.non_readers),
            ("expect-stallers", &self.expect_stallers),
            ("partial-bodies", &self.partial_bodies),
            ("big-non-readers", &self.big_non_readers),
            ("amplifiers", &self.amplifiers),
            ("hello-flood", &self.hello_flood),
        ]
    }

    /// One summary line (without a newline) per population asked for, in flag order.
    pub(crate) fn summaries(&self) -> impl Iterator<Item = String> + '_ {
        self.populations()
            .into_iter()
            .filter(|(_, p)| p.requested > 0)
            .map(|(name, p)| p.summary(name))
    }
}

/// The fresh-connection probe (`--probe-interval`): every interval a new connection
/// sends one request of the run's protocol (over TLS when the run speaks it) and must
/// get the right answer within [`PROBE_TIMEOUT`](super::PROBE_TIMEOUT).
///
/// Probes start with the run's clock (the warm-up included) and stop being sent when
/// the measured run ends; those in flight then are waited for, so `sent = answered +
/// failed`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Probes {
    /// The interval, in seconds.
    pub interval_s: f64,
    /// Probes started (a connection attempted).
    pub sent: u64,
    /// Answered right within the limit.
    pub answered: u64,
    /// Not: connection refused or closed, wrong answer, or no answer in time.
    pub failed: u64,
    /// Of the failed, those that got no answer in time.
    pub timed_out: u64,
    /// The median time from the connection attempt to the checked answer, µs (`None`
    /// when none was answered).
    pub latency_p50_us: Option<u64>,
    /// The longest, µs.
    pub latency_max_us: Option<u64>,
}

impl Probes {
    /// Whether every probe sent was answered (and at least one was sent).
    pub fn all_answered(&self) -> bool {
        self.sent > 0 && self.answered == self.sent
    }

    /// One summary line (without a newline).
    fn summary(&self) -> String {
        let mut s = format!(
            "probes    every {}: {} sent, {} answered, {} failed",
            crate::cli::format_duration(std::time::Duration::from_secs_f64(self.interval_s)),
            self.sent,
            self.answered,
            self.failed
        );
        if self.timed_out > 0 {
            let _ = write!(s, " ({} timed out)", self.timed_out);
        }
        if let (Some(p50), Some(max)) = (self.latency_p50_us, self.latency_max_us) {
            let _ = write!(s, "; latency p50 {}  max {}", micros(p50), micros(max));
        }
        s
    }
}

/// The result of a run: what [`run`](super::run) returns, what `loadgen` prints and
/// writes with `--json`.
///
/// The JSON object has these fields, `latency_us` and `errors` as nested objects:
///
/// ```text
/// {"proto":"http","addr":"127.0.0.1:8080","connections":50,"threads":1,"pipeline":1,
///  "rate":null,"warmup_s":1.0,"elapsed_s":10.0,"requests":123456,"req_per_s":12345.6,
///  "latency_us":{"samples":123456,"min":40,"mean":310.5,"p50":290,"p90":420,"p99":800,
///                "p99_9":1900,"max":5100},
///  "errors":{"connect":0,"read":0,"write":0,"timeout":0,"closed":0,"protocol":0,
///            "mismatch":0},
///  "errors_total":0,"reconnects":0,"retried":0,"capped":false,
///  "background":{"idle":{"requested":100,"opened":100,"connect_failed":0,
///                        "closed_by_server":0,"close_after_s":{"median":null,"max":null},
///                        "open_at_end":100,"usable_at_end":{"answered":100,"failed":0}},
///                "slowloris":{…, no usable_at_end},"non_readers":{…},
///                "expect_stallers":{…, "activity":{"sent":64,"continues":64,…}},
///                "partial_bodies":{…},"big_non_readers":{…, "stored":true},
///                "amplifiers":{…},"hello_flood":{…}},
///  "probes":{"interval_s":0.1,"sent":100,"answered":100,"failed":0,"timed_out":0,
///            "latency_p50_us":250,"latency_max_us":900}}
/// ```
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// The protocol: `http`, `resp` or `echo`.
    pub proto: String,
    /// The server's address.
    pub addr: String,
    /// Connections kept open.
    pub connections: usize,
    /// Client threads.
    pub threads: usize,
    /// Requests in flight per connection, at most.
    pub pipeline: usize,
    /// The open-loop rate in requests per second (`None`: closed loop).
    pub rate: Option<f64>,
    /// The warm-up, not counted, in seconds.
    pub warmup_s: f64,
    /// The measured time, in seconds.
    pub elapsed_s: f64,
    /// Requests answered correctly in the measured time.
    pub requests: u64,
    /// `requests / elapsed_s`.
    pub req_per_s: f64,
    /// Latency of the successful requests, in µs.
    pub latency_us: Latency,
    /// Errors by kind.
    pub errors: Errors,
    /// All errors.
    pub errors_total: u64,
    /// Connections reopened (after an error or a close by the server).
    pub reconnects: u64,
    /// Requests sent again after their reused connection closed before answering them
    /// (`--retry-closed`; each is also in `requests` or `errors` by its second fate).
    pub retried: u64,
    /// Requests per connection before the client opened a new one (`None`: keep-alive).
    pub requests_per_connection: Option<u64>,
    /// Whether the run spoke TLS.
    pub tls: bool,
    /// TLS handshakes in the measured time, full and resumed.
    pub handshakes: Handshakes,
    /// Whether the run was cut by its hard time limit (`--max-time`) before it finished.
    pub capped: bool,
    /// The background populations (`--idle`, `--slowloris`, `--non-readers`, and the
    /// attacks).
    pub background: Background,
    /// The fresh-connection probe, when `--probe-interval` was given.
    pub probes: Option<Probes>,
}

impl Report {
    /// The report as one JSON object.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report serializes")
    }

    /// The human summary: what ran, requests and req/s, percentiles, errors by kind.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let mode = match self.rate {
            Some(r) => format!("open loop at {r} req/s"),
            None => "closed loop".to_owned(),
        };
        let _ = writeln!(
            s,
            "{} to {}: {} connections on {} thread{}, pipeline {}, {mode}, {} warm-up",
            self.proto,
            self.addr,
            self.connections,
            self.threads,
            if self.threads == 1 { "" } else { "s" },
            self.pipeline,
            crate::cli::format_duration(std::time::Duration::from_secs_f64(self.warmup_s)),
        );
        let _ = writeln!(
            s,
            "requests  {} in {:.2} s, {:.1} req/s{}",
            self.requests,
            self.elapsed_s,
            self.req_per_s,
            if self.capped {
                " (cut by --max-time)"
            } else {
                ""
            }
        );
        let l = &self.latency_us;
        let _ = writeln!(
            s,
            "latency   p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
            micros(l.p50),
            micros(l.p90),
            micros(l.p99),
            micros(l.p99_9),
            micros(l.max)
        );
        let kinds: Vec<String> = ErrorKind::ALL
            .iter()
            .filter(|&&k| self.errors.get(k) > 0)
            .map(|&k| format!("{k} {}", self.errors.get(k)))
            .collect();
        let _ = write!(
            s,
            "errors    {}",
            if kinds.is_empty() {
                "none".to_owned()
            } else {
                format!("{} ({})", self.errors_total, kinds.join(", "))
            }
        );
        if self.reconnects > 0 {
            let _ = write!(s, "; {} reconnects", self.reconnects);
        }
        if self.retried > 0 {
            let _ = write!(s, "; {} retried", self.retried);
        }
        s.push('\n');
        if let Some(n) = self.requests_per_connection {
            let _ = writeln!(
                s,
                "new connection every {n} request{}",
                if n == 1 { "" } else { "s" }
            );
        }
        if self.tls {
            let h = self.handshakes;
            let _ = writeln!(
                s,
                "tls       {} full handshakes, {} resumed",
                h.full, h.resumed
            );
        }
        for line in self.background.summaries() {
            s.push_str(&line);
            s.push('\n');
        }
        if let Some(p) = &self.probes {
            s.push_str(&p.summary());
            s.push('\n');
        }
        s
    }
}

/// Microseconds as `850 µs`, `1.25 ms` or `2.50 s`.
///
/// ```
/// use examples::loadgen::micros;
/// assert_eq!(micros(850), "850 µs");
/// assert_eq!(micros(1250), "1.25 ms");
/// assert_eq!(micros(2_500_000), "2.50 s");
/// ```
pub fn micros(us: u64) -> String {
    match us {
        0..=999 => format!("{us} µs"),
        1_000..=999_999 => format!("{:.2} ms", us as f64 / 1e3),
        _ => format!("{:.2} s", us as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_known_samples() {
        let mut h = latency_histogram();
        for us in 1..=1000 {
            h.saturating_record(us);
        }
        let l = Latency::from_histogram(&h);
        assert_eq!(l.samples, 1000);
        assert_eq!(
            (l.min, l.p50, l.p90, l.p99, l.p99_9, l.max),
            (1, 500, 900, 990, 999, 1000)
        );
        assert!((l.mean - 500.5).abs() < 0.01, "{}", l.mean);

        // 99 fast requests and one slow: the slow one is the max and above p99.
        let mut h = latency_histogram();
        h.saturating_record_n(100, 99);
        h.saturating_record(250_000);
        let l = Latency::from_histogram(&h);
        assert_eq!((l.p50, l.p99), (100, 100));
        assert!(l.p99_9 >= 249_000 && l.max >= 249_000, "{l:?}");

        assert_eq!(
            Latency::from_histogram(&latency_histogram()),
            Latency::default()
        );
    }

    #[test]
    fn errors_by_kind() {
        let mut a = Errors::default();
        for (i, kind) in ErrorKind::ALL.into_iter().enumerate() {
            a.add(kind, i as u64 + 1);
        }
        assert_eq!(a.total(), 28);
        let mut b = Errors::default();
        b.merge(&a);
        b.merge(&a);
        assert_eq!(b.get(ErrorKind::Mismatch), 14);
        assert_eq!(b.total(), 56);
    }

    #[test]
    fn json_and_summary_have_the_same_fields() {
        let mut errors = Errors::default();
        errors.add(ErrorKind::Timeout, 3);
        let report = Report {
            proto: "resp".into(),
            addr: "127.0.0.1:6379".into(),
            connections: 4,
            threads: 2,
            pipeline: 16,
            rate: Some(1000.0),
            warmup_s: 1.0,
            elapsed_s: 2.0,
            requests: 2000,
            req_per_s: 1000.0,
            latency_us: Latency {
                samples: 2000,
                min: 10,
                mean: 100.0,
                p50: 90,
                p90: 150,
                p99: 1500,
                p99_9: 2500,
                max: 3000,
            },
            errors,
            errors_total: 3,
            reconnects: 3,
            retried: 0,
            requests_per_connection: None,
            tls: false,
            handshakes: Handshakes::default(),
            capped: false,
            background: Background {
                idle: Population {
                    requested: 20,
                    opened: 20,
                    open_at_end: 20,
                    usable_at_end: Some(Usable {
                        answered: 19,
                        failed: 1,
                    }),
                    ..Population::default()
                },
                slowloris: Population {
                    requested: 3,
                    opened: 3,
                    closed_by_server: 3,
                    close_after_s: CloseAfter::of(&mut [0.3, 0.5, 0.4]),
                    ..Population::default()
                },
                hello_flood: Population {
                    requested: 4,
                    reconnecting: true,
                    opened: 40,
                    closed_by_client: 36,
                    open_at_end: 4,
                    activity: Some(Activity {
                        sent: 40,
                        answered: 36,
                        errors: 1,
                        bytes_sent: 40 * 300,
                        bytes_received: 3 << 20,
                        seconds: 2.0,
                        sent_per_s: 20.0,
                        ..Activity::default()
                    }),
                    ..Population::default()
                },
                ..Background::default()
            },
            probes: Some(Probes {
                interval_s: 0.1,
                sent: 20,
                answered: 19,
                failed: 1,
                timed_out: 1,
                latency_p50_us: Some(400),
                latency_max_us: Some(1_000_000),
            }),
        };
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["requests"], 2000);
        assert_eq!(json["latency_us"]["p99_9"], 2500);
        assert_eq!(json["errors"]["timeout"], 3);
        assert_eq!(json["errors_total"], 3);
        assert_eq!(json["rate"], 1000.0);
        let bg = &json["background"];
        assert_eq!(bg["idle"]["usable_at_end"]["answered"], 19);
        assert_eq!(bg["idle"]["open_at_end"], 20);
        assert_eq!(bg["slowloris"]["closed_by_server"], 3);
        assert_eq!(bg["slowloris"]["close_after_s"]["median"], 0.4);
        assert_eq!(bg["slowloris"]["close_after_s"]["max"], 0.5);
        assert!(bg["slowloris"].get("usable_at_end").is_none());
        assert_eq!(bg["non_readers"]["opened"], 0);
        assert!(bg["non_readers"]["close_after_s"]["median"].is_null());
        assert!(bg["non_readers"].get("activity").is_none());
        assert_eq!(bg["hello_flood"]["reconnecting"], true);
        assert_eq!(bg["hello_flood"]["closed_by_client"], 36);
        assert_eq!(bg["hello_flood"]["activity"]["sent_per_s"], 20.0);
        assert_eq!(bg["hello_flood"]["activity"]["errors"], 1);
        assert!(bg["amplifiers"].get("stored").is_none());
        assert_eq!(json["probes"]["answered"], 19);
        assert_eq!(json["probes"]["timed_out"], 1);
        assert_eq!(json["probes"]["latency_max_us"], 1_000_000);
        let summary = report.summary();
        for part in [
            "2000 in 2.00 s",
            "1000.0 req/s",
            "p99 1.50 ms",
            "p99.9 2.50 ms",
            "max 3.00 ms",
            "errors    3 (timeout 3)",
            "idle      20 of 20 opened, 0 closed by the server, 20 open at the end; \
             then 19 answered, 1 failed",
            "slowloris 3 of 3 opened, 3 closed by the server after 0.40 s median, 0.50 s max",
            "hello-flood 4 kept (reconnecting): 40 opened, 0 closed by the server, 36 closed \
             by the client, 4 open at the end; 40 sent (20.0/s), 36 answered, 1 errors, \
             11.7 KiB out, 3.0 MiB in",
            "probes    every 100ms: 20 sent, 19 answered, 1 failed (1 timed out); latency \
             p50 400 µs  max 1.00 s",
        ] {
            assert!(summary.contains(part), "{part:?} in {summary}");
        }
        assert!(!summary.contains("non-readers"), "{summary}");
        assert!(!summary.contains("amplifiers"), "{summary}");
    }
}
