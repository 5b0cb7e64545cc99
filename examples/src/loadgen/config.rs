//! What a run is: its [`Config`] (the server, the protocol, the load's shape, the
//! background populations, TLS), when it [`Stop`]s, the limits its fields must keep, and
//! [`Config::validate`], which names the flag of the first field that does not.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use super::probe::{probes_in_flight, MIN_PROBE_INTERVAL};
use super::proto::Proto;
use super::proxy_header::ProxyVersion;
use super::tls::TlsClient;

/// Most connections one run opens, measured and background together: with a few
/// descriptors for threads and polls, the process stays below 20,000 open files.
pub const MAX_CONNECTIONS: usize = 19_000;

/// Most requests in flight on one connection.
pub const MAX_PIPELINE: usize = 1024;

/// Longest [`Config::path`], in bytes.
pub const MAX_PATH: usize = 1024;

/// The longest duration any flag of a run may give (`--duration`, `--warmup`,
/// `--timeout`, `--max-time`, `--trickle-interval`, `--probe-interval`): a day.
pub const MAX_SPAN: Duration = Duration::from_secs(24 * 3600);

/// The hard limit of a `--requests` run when no `--max-time` is given (plus the
/// warm-up, and the schedule's length in open loop).
pub const DEFAULT_REQUESTS_CAP: Duration = Duration::from_secs(300);

/// When a run ends: after a measured duration, or after a number of requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Measure for this long after the warm-up; what is in flight then is not counted.
    Duration(Duration),
    /// Send this many counted requests and wait for each to be answered or to fail.
    Requests(u64),
}

/// What to run. [`Config::new`] sets the defaults; change the fields, then
/// [`run`](super::run).
///
/// ```
/// use examples::loadgen::{Config, Proto, Stop};
/// let addr = "127.0.0.1:8080".parse().unwrap();
/// let mut config = Config::new(addr, Proto::Resp, Stop::Requests(1000));
/// config.threads = 20; // more than the 10 connections
/// let err = config.validate().unwrap_err();
/// assert_eq!(err.flag(), "--threads");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The server.
    pub addr: SocketAddr,
    /// The protocol.
    pub proto: Proto,
    /// When the run ends.
    pub stop: Stop,
    /// Connections, 1 to [`MAX_CONNECTIONS`] (default 10).
    pub connections: usize,
    /// Client threads, 1 to `connections` (default 1).
    pub threads: usize,
    /// Requests in flight per connection, 1 to [`MAX_PIPELINE`] (default 1).
    pub pipeline: usize,
    /// Open loop: requests per second in total (default `None`: closed loop).
    pub rate: Option<f64>,
    /// Run this long before measuring (default 1 s).
    pub warmup: Duration,
    /// The longest wait for a response (default 2 s).
    pub timeout: Duration,
    /// The hard limit of the run, warm-up included (default: the warm-up and the
    /// duration for [`Stop::Duration`]; for [`Stop::Requests`], the warm-up plus
    /// [`DEFAULT_REQUESTS_CAP`] plus, in open loop, the schedule's length).
    pub max_time: Option<Duration>,
    /// Background keep-alive connections that send nothing (default 0).
    pub idle: usize,
    /// Background clients trickling a request they never finish (default 0).
    pub slowloris: usize,
    /// Background clients that pipeline requests and never read (default 0).
    pub non_readers: usize,
    /// How often a slowloris client sends its next byte (default 200 ms).
    pub trickle_interval: Duration,
    /// HTTP only: background clients sending `POST /echo` with `Expect: 100-continue`
    /// and `Content-Length: 1000000` ([`ANNOUNCED_BODY`](super::ANNOUNCED_BODY)), reading
    /// the `100 Continue`, never sending the body (default 0).
    pub expect_stallers: usize,
    /// HTTP only: background clients sending a `POST /echo` head announcing
    /// [`ANNOUNCED_BODY`](super::ANNOUNCED_BODY) bytes, then
    /// [`PARTIAL_BODY_SENT`](super::PARTIAL_BODY_SENT) of them as fast as the socket takes
    /// them, then nothing (default 0).
    pub partial_bodies: usize,
    /// RESP only: background clients each sending one `GET` of a
    /// [`BIG_VALUE`](super::BIG_VALUE)-byte value (stored under [`BIG_KEY`](super::BIG_KEY)
    /// before the run) and never reading (default 0).
    pub big_non_readers: usize,
    /// RESP only: background clients each sending `MGET` naming a 64 KiB value
    /// ([`AMPLIFY_KEY`](super::AMPLIFY_KEY), stored before the run)
    /// [`AMPLIFY_NAMES`](super::AMPLIFY_NAMES) times, reading the reply (an error reply
    /// counts as one), and again, for the whole run (default 0).
    pub amplifiers: usize,
    /// Background connections, any protocol, each sending one TLS ClientHello (made
    /// once by [`client_hello`](super::client_hello) for [`Config::hello_name`]), closing
    /// once the server's first bytes arrive (or after [`HELLO_WAIT`](super::HELLO_WAIT)) and
    /// starting again (default 0).
    pub hello_flood: usize,
    /// The server name (SNI) in the hello flood's ClientHello (default `localhost`).
    pub hello_name: String,
    /// The hostile populations (all but [`Config::idle`]) reopen a connection the
    /// server closes, at once (after a failed attempt, 50 ms later) (default `false`:
    /// each connection is opened once). The hello flood always does.
    pub reconnect: bool,
    /// Probe with a fresh connection this often, from [`MIN_PROBE_INTERVAL`] to
    /// [`MAX_SPAN`] (default `None`: no probe; see
    /// [`Report::probes`](super::Report::probes)).
    pub probe_interval: Option<Duration>,
    /// The target of the measured HTTP requests, `GET <path> HTTP/1.1` (default `/`):
    /// it starts with `/` and has only visible ASCII (`!` to `~`), at most [`MAX_PATH`]
    /// bytes. Only for [`Proto::Http`]; every response must still be 200
    /// `Hello, World!` (the http example's `/work?ms=N` is). The background
    /// populations keep to `/`.
    pub path: String,
    /// Speak TLS on the measured connections (default `None`: plain TCP). The
    /// background populations are plain TCP, so they cannot be combined with it.
    pub tls: Option<TlsClient>,
    /// Close each measured connection after this many requests and open a new one, to
    /// measure what opening connections costs (default `None`: keep-alive). A pipeline
    /// deeper than this sends no more than this on one connection.
    pub requests_per_connection: Option<u64>,
    /// Send again, once, the requests in flight on a reused connection that the server
    /// closed (or reset) before answering any of them, as HTTP clients do (RFC 9112,
    /// 9.3.1): a server draining for a restart closes idle keep-alive connections, and
    /// the client's next request may already be on its way. Counted in
    /// [`Report::retried`](super::Report::retried), not as errors (default `false`: they
    /// are errors).
    pub retry_closed: bool,
    /// Each new measured connection first sends a PROXY protocol header of this version,
    /// as a load balancer would (default `None`: none). Plain TCP only.
    pub proxy: Option<ProxyVersion>,
}

impl Config {
    /// A configuration with the defaults listed on each field.
    pub fn new(addr: SocketAddr, proto: Proto, stop: Stop) -> Config {
        Config {
            addr,
            proto,
            stop,
            connections: 10,
            threads: 1,
            pipeline: 1,
            rate: None,
            warmup: Duration::from_secs(1),
            timeout: Duration::from_secs(2),
            max_time: None,
            idle: 0,
            slowloris: 0,
            non_readers: 0,
            trickle_interval: Duration::from_millis(200),
            expect_stallers: 0,
            partial_bodies: 0,
            big_non_readers: 0,
            amplifiers: 0,
            hello_flood: 0,
            hello_name: "localhost".to_owned(),
            reconnect: false,
            probe_interval: None,
            path: "/".to_owned(),
            tls: None,
            requests_per_connection: None,
            retry_closed: false,
            proxy: None,
        }
    }

    /// Check every field; the error names the command-line flag of the first bad one.
    ///
    /// The checks run in this order, one concept each, and the first that fails answers:
    /// the load's shape, the open-loop rate, when the run and a request end, the PROXY
    /// header, the probe interval, the connections in all, the attacks' protocols, the
    /// hello flood's server name, the slowloris trickle, the HTTP path, the longest
    /// durations, the requests per connection, and TLS with the background populations.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check_shape()?;
        self.check_rate()?;
        self.check_end()?;
        self.check_proxy()?;
        self.check_probe_interval()?;
        self.check_connection_total()?;
        self.check_attack_protocols()?;
        self.check_hello_name()?;
        self.check_trickle_interval()?;
        self.check_path()?;
        self.check_spans()?;
        self.check_requests_per_connection()?;
        self.check_tls_populations()
    }

    /// Each background population's flag and connection count, in flag order.
    fn populations(&self) -> [(&'static str, usize); 8] {
        [
            ("--idle", self.idle),
            ("--slowloris", self.slowloris),
            ("--non-readers", self.non_readers),
            ("--expect-stallers", self.expect_stallers),
            ("--partial-bodies", self.partial_bodies),
            ("--big-non-readers", self.big_non_readers),
            ("--amplifiers", self.amplifiers),
            ("--hello-flood", self.hello_flood),
        ]
    }

    /// The hard limit of the run, warm-up included (see [`Config::max_time`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use examples::loadgen::{Config, Proto, Stop};
    /// let addr = "127.0.0.1:8080".parse().unwrap();
    /// let config = Config::new(addr, Proto::Http, Stop::Duration(Duration::from_secs(10)));
    /// assert_eq!(config.time_limit(), Duration::from_secs(11));
    /// ```
    pub fn time_limit(&self) -> Duration {
        if let Some(max) = self.max_time {
            return max;
        }
        match self.stop {
            Stop::Duration(d) => self.warmup.saturating_add(d),
            Stop::Requests(n) => {
                let schedule = self
                    .rate
                    .map_or(Duration::ZERO, |r| Duration::from_secs_f64(n as f64 / r));
                self.warmup
                    .saturating_add(schedule)
                    .saturating_add(DEFAULT_REQUESTS_CAP)
            }
        }
    }
}

/// The checks [`Config::validate`] makes, in its order.
impl Config {
    /// The measured load's shape: 1 to [`MAX_CONNECTIONS`] connections, 1 thread to one
    /// per connection, 1 to [`MAX_PIPELINE`] requests in flight on each.
    fn check_shape(&self) -> Result<(), ConfigError> {
        if !(1..=MAX_CONNECTIONS).contains(&self.connections) {
            return bad(
                "--connections",
                format!(
                    "{} is out of range: 1 to {MAX_CONNECTIONS} (open files stay below 20,000)",
                    self.connections
                ),
            );
        }
        if self.threads == 0 || self.threads > self.connections {
            return bad(
                "--threads",
                format!(
                    "{} is out of range: 1 to --connections ({})",
                    self.threads, self.connections
                ),
            );
        }
        if !(1..=MAX_PIPELINE).contains(&self.pipeline) {
            return bad(
                "--pipeline",
                format!("{} is out of range: 1 to {MAX_PIPELINE}", self.pipeline),
            );
        }
        Ok(())
    }

    /// An open loop's rate is a positive number of requests a second.
    fn check_rate(&self) -> Result<(), ConfigError> {
        match self.rate {
            Some(rate) if !(rate.is_finite() && rate > 0.0) => bad(
                "--rate",
                format!("{rate} is not a positive number of requests per second"),
            ),
            _ => Ok(()),
        }
    }

    /// When the run and a request end: a duration or a number of requests, a timeout
    /// and a time limit, none of them zero.
    fn check_end(&self) -> Result<(), ConfigError> {
        match self.stop {
            Stop::Duration(d) => longer_than_zero("--duration", d)?,
            Stop::Requests(n) => at_least_one("--requests", n)?,
        }
        longer_than_zero("--timeout", self.timeout)?;
        self.max_time
            .map_or(Ok(()), |d| longer_than_zero("--max-time", d))
    }

    /// The PROXY header goes on plain TCP only.
    fn check_proxy(&self) -> Result<(), ConfigError> {
        if self.proxy.is_some() && self.tls.is_some() {
            return bad(
                "--proxy",
                "cannot be combined with --tls-ca (the header would have to precede the TLS \
                 handshake)",
            );
        }
        Ok(())
    }

    /// Probes are at least [`MIN_PROBE_INTERVAL`] apart.
    fn check_probe_interval(&self) -> Result<(), ConfigError> {
        match self.probe_interval {
            Some(interval) if interval < MIN_PROBE_INTERVAL => bad(
                "--probe-interval",
                format!(
                    "{} is too short: at least {}",
                    crate::cli::format_duration(interval),
                    crate::cli::format_duration(MIN_PROBE_INTERVAL)
                ),
            ),
            _ => Ok(()),
        }
    }

    /// The measured connections, the background populations and the probes in flight
    /// open at most [`MAX_CONNECTIONS`] together; the error names the first population
    /// given (or the probes, if none is).
    fn check_connection_total(&self) -> Result<(), ConfigError> {
        let populations = self.populations();
        let probes = probes_in_flight(self.probe_interval);
        let total = populations
            .iter()
            .fold(self.connections, |n, (_, k)| n.saturating_add(*k))
            .saturating_add(probes);
        if total <= MAX_CONNECTIONS {
            return Ok(());
        }
        let flag = populations
            .iter()
            .find(|(_, k)| *k > 0)
            .map_or("--probe-interval", |(flag, _)| *flag);
        let mut terms = vec![format!("--connections {}", self.connections)];
        terms.extend(
            populations
                .iter()
                .filter(|(_, k)| *k > 0)
                .map(|(flag, k)| format!("{flag} {k}")),
        );
        terms.push(format!("{probes} probes in flight"));
        bad(
            flag,
            format!(
                "{} is {total}, more than {MAX_CONNECTIONS} (open files stay below 20,000)",
                terms.join(" + "),
            ),
        )
    }

    /// Each attack is for its protocol: the body announcers for HTTP, the big value and
    /// the amplifiers for RESP.
    fn check_attack_protocols(&self) -> Result<(), ConfigError> {
        for (flag, count, wanted) in [
            ("--expect-stallers", self.expect_stallers, Proto::Http),
            ("--partial-bodies", self.partial_bodies, Proto::Http),
            ("--big-non-readers", self.big_non_readers, Proto::Resp),
            ("--amplifiers", self.amplifiers, Proto::Resp),
        ] {
            if count > 0 && self.proto != wanted {
                return bad(
                    flag,
                    format!(
                        "is for --proto {wanted}, not {} (the http example has no large \
                         value to ask for, RESP has no request body to announce)",
                        self.proto
                    ),
                );
            }
        }
        Ok(())
    }

    /// The hello flood's ClientHello asks for a valid server name.
    fn check_hello_name(&self) -> Result<(), ConfigError> {
        if self.hello_flood == 0 {
            return Ok(());
        }
        match rustls::pki_types::ServerName::try_from(self.hello_name.as_str()) {
            Ok(_) => Ok(()),
            Err(e) => bad(
                "--tls-server-name",
                format!("{:?} is not a server name: {e}", self.hello_name),
            ),
        }
    }

    /// Slowloris clients send their bytes some time apart.
    fn check_trickle_interval(&self) -> Result<(), ConfigError> {
        if self.slowloris == 0 {
            return Ok(());
        }
        longer_than_zero("--trickle-interval", self.trickle_interval)
    }

    /// The request target: only HTTP has one other than `/`; it starts with `/`, has at
    /// most [`MAX_PATH`] bytes, all visible ASCII.
    fn check_path(&self) -> Result<(), ConfigError> {
        if self.proto != Proto::Http && self.path != "/" {
            return bad("--path", format!("is for --proto http, not {}", self.proto));
        }
        if !self.path.starts_with('/') {
            return bad("--path", format!("{:?} does not start with '/'", self.path));
        }
        if self.path.len() > MAX_PATH {
            return bad(
                "--path",
                format!("{} bytes is too long: at most {MAX_PATH}", self.path.len()),
            );
        }
        if let Some(c) = self.path.chars().find(|c| !matches!(c, '!'..='~')) {
            return bad(
                "--path",
                format!(
                    "{:?} has {c:?}: only visible ASCII ('!' to '~') is allowed",
                    self.path
                ),
            );
        }
        Ok(())
    }

    /// No duration is longer than [`MAX_SPAN`].
    fn check_spans(&self) -> Result<(), ConfigError> {
        let spans = [
            ("--warmup", Some(self.warmup)),
            (
                "--duration",
                match self.stop {
                    Stop::Duration(d) => Some(d),
                    Stop::Requests(_) => None,
                },
            ),
            ("--timeout", Some(self.timeout)),
            ("--max-time", self.max_time),
            ("--trickle-interval", Some(self.trickle_interval)),
            ("--probe-interval", self.probe_interval),
        ];
        for (flag, span) in spans {
            if span.is_some_and(|d| d > MAX_SPAN) {
                return bad(flag, "is longer than a day");
            }
        }
        Ok(())
    }

    /// A connection that is closed after some requests carries at least one.
    fn check_requests_per_connection(&self) -> Result<(), ConfigError> {
        self.requests_per_connection
            .map_or(Ok(()), |n| at_least_one("--requests-per-connection", n))
    }

    /// With TLS, the background populations that speak plain TCP (all but the hello
    /// flood) cannot run.
    fn check_tls_populations(&self) -> Result<(), ConfigError> {
        if self.tls.is_none() {
            return Ok(());
        }
        let plain = self
            .populations()
            .into_iter()
            .find(|(flag, k)| *k > 0 && *flag != "--hello-flood");
        match plain {
            Some((flag, _)) => bad(
                "--tls-ca",
                format!(
                    "the background populations but --hello-flood (here {flag}) speak plain \
                     TCP: not with TLS"
                ),
            ),
            None => Ok(()),
        }
    }
}

/// The error for `flag`, with `message`.
fn bad(flag: &'static str, message: impl Into<String>) -> Result<(), ConfigError> {
    Err(ConfigError {
        flag,
        message: message.into(),
    })
}

/// `d`, given by `flag`, is not zero.
fn longer_than_zero(flag: &'static str, d: Duration) -> Result<(), ConfigError> {
    if d.is_zero() {
        return bad(flag, "must be longer than zero");
    }
    Ok(())
}

/// `n`, given by `flag`, is not zero.
fn at_least_one(flag: &'static str, n: u64) -> Result<(), ConfigError> {
    if n == 0 {
        return bad(flag, "must be at least 1");
    }
    Ok(())
}

/// A bad [`Config`] field, named by its command-line flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    flag: &'static str,
    message: String,
}

impl ConfigError {
    /// The flag: `--connections`, `--threads`, …
    pub fn flag(&self) -> &'static str {
        self.flag
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid value for {}: {}", self.flag, self.message)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// An HTTP run of 10 requests to a closed port: valid, for tests to change.
    pub(in crate::loadgen) fn config() -> Config {
        Config::new(
            "127.0.0.1:1".parse().unwrap(),
            Proto::Http,
            Stop::Requests(10),
        )
    }

    /// What `check` says of [`config`] changed by `change`: `Ok`, or the error as
    /// `validate` prints it.
    fn says(
        check: fn(&Config) -> Result<(), ConfigError>,
        change: impl FnOnce(&mut Config),
    ) -> Result<(), String> {
        let mut c = config();
        change(&mut c);
        check(&c).map_err(|e| e.to_string())
    }

    /// `check` refuses [`config`] changed by `change` with `invalid value for {want}`.
    #[track_caller]
    fn refuses(
        check: fn(&Config) -> Result<(), ConfigError>,
        change: impl FnOnce(&mut Config),
        want: &str,
    ) {
        assert_eq!(
            says(check, change),
            Err(format!("invalid value for {want}"))
        );
    }

    /// A TLS client trusting a fresh self-signed certificate, made in a directory of
    /// its own for the test `name`.
    fn tls(name: &str) -> TlsClient {
        let dir = std::env::temp_dir().join(format!("loadgen-{name}-{}", std::process::id()));
        let files = crate::compare::tls::TlsFiles::make(&dir).unwrap();
        let tls = TlsClient::from_ca_file(&files.cert, "localhost", true).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        tls
    }

    #[test]
    fn validate_reports_the_first_check_that_fails() {
        let mut c = config();
        c.connections = 0;
        c.rate = Some(0.0);
        c.path = "nope".to_owned();
        c.requests_per_connection = Some(0);
        let mut flags = Vec::new();
        while let Err(e) = c.validate() {
            flags.push(e.flag());
            match e.flag() {
                "--connections" => c.connections = 1,
                "--rate" => c.rate = None,
                "--path" => c.path = "/".to_owned(),
                _ => c.requests_per_connection = None,
            }
        }
        assert_eq!(
            flags,
            [
                "--connections",
                "--rate",
                "--path",
                "--requests-per-connection"
            ]
        );
    }

    #[test]
    fn shape_checks_connections_threads_and_pipeline() {
        let check = Config::check_shape;
        assert_eq!(
            says(check, |c| {
                c.connections = MAX_CONNECTIONS;
                c.threads = MAX_CONNECTIONS;
                c.pipeline = MAX_PIPELINE;
            }),
            Ok(())
        );
        let range = "is out of range: 1 to 19000 (open files stay below 20,000)";
        refuses(
            check,
            |c| c.connections = 0,
            &format!("--connections: 0 {range}"),
        );
        refuses(
            check,
            |c| c.connections = MAX_CONNECTIONS + 1,
            &format!("--connections: 19001 {range}"),
        );
        let threads = "is out of range: 1 to --connections (10)";
        refuses(check, |c| c.threads = 0, &format!("--threads: 0 {threads}"));
        refuses(
            check,
            |c| c.threads = 11,
            &format!("--threads: 11 {threads}"),
        );
        refuses(
            check,
            |c| c.pipeline = 0,
            "--pipeline: 0 is out of range: 1 to 1024",
        );
        refuses(
            check,
            |c| c.pipeline = MAX_PIPELINE + 1,
            "--pipeline: 1025 is out of range: 1 to 1024",
        );
    }

    #[test]
    fn rate_is_a_positive_number() {
        let check = Config::check_rate;
        assert_eq!(says(check, |c| c.rate = Some(0.5)), Ok(()));
        for (rate, shown) in [
            (0.0, "0"),
            (-1.5, "-1.5"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "inf"),
        ] {
            refuses(
                check,
                |c| c.rate = Some(rate),
                &format!("--rate: {shown} is not a positive number of requests per second"),
            );
        }
    }

    #[test]
    fn the_run_and_a_request_end_after_more_than_zero() {
        let check = Config::check_end;
        assert_eq!(
            says(check, |c| {
                c.stop = Stop::Duration(Duration::from_nanos(1));
                c.max_time = Some(Duration::from_nanos(1));
            }),
            Ok(())
        );
        refuses(
            check,
            |c| c.stop = Stop::Duration(Duration::ZERO),
            "--duration: must be longer than zero",
        );
        refuses(
            check,
            |c| c.stop = Stop::Requests(0),
            "--requests: must be at least 1",
        );
        refuses(
            check,
            |c| c.timeout = Duration::ZERO,
            "--timeout: must be longer than zero",
        );
        refuses(
            check,
            |c| c.max_time = Some(Duration::ZERO),
            "--max-time: must be longer than zero",
        );
    }

    #[test]
    fn tls_refuses_the_proxy_header_and_plain_populations() {
        let tls = tls("config-tls");
        let proxy = Config::check_proxy;
        assert_eq!(says(proxy, |c| c.proxy = Some(ProxyVersion::V1)), Ok(()));
        assert_eq!(says(proxy, |c| c.tls = Some(tls.clone())), Ok(()));
        refuses(
            proxy,
            |c| {
                c.proxy = Some(ProxyVersion::V2);
                c.tls = Some(tls.clone());
            },
            "--proxy: cannot be combined with --tls-ca (the header would have to precede the \
             TLS handshake)",
        );
        let populations = Config::check_tls_populations;
        assert_eq!(says(populations, |c| c.idle = 1), Ok(()));
        assert_eq!(
            says(populations, |c| {
                c.tls = Some(tls.clone());
                c.hello_flood = 1;
            }),
            Ok(())
        );
        let plain = "speak plain TCP: not with TLS";
        refuses(
            populations,
            |c| {
                c.tls = Some(tls.clone());
                c.idle = 1;
            },
            &format!(
                "--tls-ca: the background populations but --hello-flood (here --idle) {plain}"
            ),
        );
        refuses(
            populations,
            |c| {
                c.tls = Some(tls.clone());
                c.hello_flood = 1;
                c.amplifiers = 2;
                c.big_non_readers = 1;
            },
            &format!(
                "--tls-ca: the background populations but --hello-flood (here \
                 --big-non-readers) {plain}"
            ),
        );
    }

    #[test]
    fn probes_are_at_least_the_shortest_interval_apart() {
        let check = Config::check_probe_interval;
        assert_eq!(
            says(check, |c| c.probe_interval = Some(MIN_PROBE_INTERVAL)),
            Ok(())
        );
        refuses(
            check,
            |c| c.probe_interval = Some(Duration::from_millis(9)),
            "--probe-interval: 9ms is too short: at least 10ms",
        );
    }

    #[test]
    fn all_connections_fit_below_the_open_file_limit() {
        let check = Config::check_connection_total;
        let fits = |c: &mut Config| {
            c.idle = 18_000;
            c.slowloris = 900;
            c.non_readers = 90;
        };
        assert_eq!(says(check, fits), Ok(()));
        let limit = "more than 19000 (open files stay below 20,000)";
        refuses(
            check,
            |c| {
                fits(c);
                c.non_readers = 91;
            },
            &format!(
                "--idle: --connections 10 + --idle 18000 + --slowloris 900 + --non-readers 91 \
                 + 0 probes in flight is 19001, {limit}"
            ),
        );
        // With no population, the probes are named.
        refuses(
            check,
            |c| {
                c.connections = MAX_CONNECTIONS;
                c.probe_interval = Some(Duration::from_millis(100));
            },
            &format!(
                "--probe-interval: --connections 19000 + 11 probes in flight is 19011, \
                 {limit}"
            ),
        );
        // The sum saturates.
        refuses(
            check,
            |c| c.amplifiers = usize::MAX,
            &format!(
                "--amplifiers: --connections 10 + --amplifiers {max} + 0 probes in flight \
                 is {max}, {limit}",
                max = usize::MAX
            ),
        );
    }

    #[test]
    fn each_attack_is_for_its_protocol() {
        let check = Config::check_attack_protocols;
        let why = "(the http example has no large value to ask for, RESP has no request body \
                   to announce)";
        for (flag, set, wanted) in [
            (
                "--expect-stallers",
                (|c: &mut Config| c.expect_stallers = 1) as fn(&mut Config),
                Proto::Http,
            ),
            ("--partial-bodies", |c| c.partial_bodies = 1, Proto::Http),
            ("--big-non-readers", |c| c.big_non_readers = 1, Proto::Resp),
            ("--amplifiers", |c| c.amplifiers = 1, Proto::Resp),
        ] {
            for proto in [Proto::Http, Proto::Resp, Proto::Echo] {
                let change = |c: &mut Config| {
                    c.proto = proto;
                    set(c);
                };
                if proto == wanted {
                    assert_eq!(says(check, change), Ok(()), "{flag}");
                } else {
                    refuses(
                        check,
                        change,
                        &format!("{flag}: is for --proto {wanted}, not {proto} {why}"),
                    );
                }
            }
        }
    }

    #[test]
    fn the_hello_flood_asks_for_a_server_name() {
        let check = Config::check_hello_name;
        assert_eq!(
            says(check, |c| c.hello_name = "not a name!".to_owned()),
            Ok(())
        );
        for name in ["localhost", "127.0.0.1"] {
            assert_eq!(
                says(check, |c| {
                    c.hello_flood = 1;
                    c.hello_name = name.to_owned();
                }),
                Ok(())
            );
        }
        refuses(
            check,
            |c| {
                c.hello_flood = 1;
                c.hello_name = "not a name!".to_owned();
            },
            "--tls-server-name: \"not a name!\" is not a server name: invalid dns name",
        );
    }

    #[test]
    fn slowloris_trickles_more_than_zero_apart() {
        let check = Config::check_trickle_interval;
        assert_eq!(says(check, |c| c.trickle_interval = Duration::ZERO), Ok(()));
        refuses(
            check,
            |c| {
                c.slowloris = 1;
                c.trickle_interval = Duration::ZERO;
            },
            "--trickle-interval: must be longer than zero",
        );
    }

    #[test]
    fn the_path_is_a_short_visible_http_target() {
        let check = Config::check_path;
        assert_eq!(says(check, |c| c.proto = Proto::Echo), Ok(()));
        assert_eq!(
            says(check, |c| c.path = format!("/{}", "~".repeat(MAX_PATH - 1))),
            Ok(())
        );
        refuses(
            check,
            |c| {
                c.proto = Proto::Resp;
                c.path = "work".to_owned();
            },
            "--path: is for --proto http, not resp",
        );
        refuses(
            check,
            |c| c.path = "work".to_owned(),
            "--path: \"work\" does not start with '/'",
        );
        refuses(
            check,
            |c| c.path = format!("/{}", "a".repeat(MAX_PATH)),
            "--path: 1025 bytes is too long: at most 1024",
        );
        refuses(
            check,
            |c| c.path = "/a b".to_owned(),
            "--path: \"/a b\" has ' ': only visible ASCII ('!' to '~') is allowed",
        );
        refuses(
            check,
            |c| c.path = "/é".to_owned(),
            "--path: \"/é\" has 'é': only visible ASCII ('!' to '~') is allowed",
        );
    }

    #[test]
    fn no_duration_is_longer_than_a_day() {
        let check = Config::check_spans;
        let longest = |c: &mut Config| {
            c.warmup = MAX_SPAN;
            c.stop = Stop::Duration(MAX_SPAN);
            c.timeout = MAX_SPAN;
            c.max_time = Some(MAX_SPAN);
            c.trickle_interval = MAX_SPAN;
            c.probe_interval = Some(MAX_SPAN);
        };
        assert_eq!(says(check, longest), Ok(()));
        let more = MAX_SPAN + Duration::from_nanos(1);
        for (flag, set) in [
            (
                "--warmup",
                (|c, d| c.warmup = d) as fn(&mut Config, Duration),
            ),
            ("--duration", |c, d| c.stop = Stop::Duration(d)),
            ("--timeout", |c, d| c.timeout = d),
            ("--max-time", |c, d| c.max_time = Some(d)),
            ("--trickle-interval", |c, d| c.trickle_interval = d),
            ("--probe-interval", |c, d| c.probe_interval = Some(d)),
        ] {
            refuses(
                check,
                |c| {
                    longest(c);
                    set(c, more);
                },
                &format!("{flag}: is longer than a day"),
            );
        }
    }

    #[test]
    fn a_connection_closed_after_some_requests_carries_one() {
        let check = Config::check_requests_per_connection;
        assert_eq!(says(check, |c| c.requests_per_connection = Some(1)), Ok(()));
        refuses(
            check,
            |c| c.requests_per_connection = Some(0),
            "--requests-per-connection: must be at least 1",
        );
    }

    #[test]
    fn validation_names_the_flag() {
        let flag = |f: &dyn Fn(&mut Config)| {
            let mut c = config();
            f(&mut c);
            c.validate().map_err(|e| e.flag())
        };
        assert_eq!(flag(&|_| {}), Ok(()));
        assert_eq!(flag(&|c| c.connections = 0), Err("--connections"));
        assert_eq!(flag(&|c| c.connections = 20_000), Err("--connections"));
        assert_eq!(flag(&|c| c.threads = 11), Err("--threads"));
        assert_eq!(flag(&|c| c.pipeline = 0), Err("--pipeline"));
        assert_eq!(flag(&|c| c.rate = Some(0.0)), Err("--rate"));
        assert_eq!(flag(&|c| c.rate = Some(f64::NAN)), Err("--rate"));
        assert_eq!(flag(&|c| c.stop = Stop::Requests(0)), Err("--requests"));
        assert_eq!(
            flag(&|c| c.stop = Stop::Duration(Duration::ZERO)),
            Err("--duration")
        );
        assert_eq!(flag(&|c| c.timeout = Duration::ZERO), Err("--timeout"));
        assert_eq!(flag(&|c| c.timeout = MAX_SPAN * 2), Err("--timeout"));
        assert_eq!(flag(&|c| c.warmup = Duration::MAX), Err("--warmup"));
        assert_eq!(
            flag(&|c| c.stop = Stop::Duration(Duration::MAX)),
            Err("--duration")
        );
        assert_eq!(
            flag(&|c| c.max_time = Some(Duration::ZERO)),
            Err("--max-time")
        );
        assert_eq!(
            flag(&|c| {
                c.idle = 18_000;
                c.slowloris = 900;
                c.non_readers = 90;
            }),
            Ok(())
        );
        assert_eq!(
            flag(&|c| {
                c.idle = 18_000;
                c.slowloris = 900;
                c.non_readers = 91;
            }),
            Err("--idle")
        );
        assert_eq!(flag(&|c| c.slowloris = 18_991), Err("--slowloris"));
        assert_eq!(flag(&|c| c.non_readers = usize::MAX), Err("--non-readers"));
        assert_eq!(
            flag(&|c| {
                c.slowloris = 1;
                c.trickle_interval = Duration::ZERO;
            }),
            Err("--trickle-interval")
        );
    }

    #[test]
    fn attack_validation_names_the_flag() {
        let check = |proto, f: &dyn Fn(&mut Config)| {
            let mut c = config();
            c.proto = proto;
            f(&mut c);
            c.validate().map_err(|e| e.flag())
        };
        // Each attack is for its protocol only.
        for (flag, set, proto) in [
            (
                "--expect-stallers",
                &(|c: &mut Config| c.expect_stallers = 1) as &dyn Fn(&mut Config),
                Proto::Http,
            ),
            ("--partial-bodies", &|c| c.partial_bodies = 1, Proto::Http),
            ("--big-non-readers", &|c| c.big_non_readers = 1, Proto::Resp),
            ("--amplifiers", &|c| c.amplifiers = 1, Proto::Resp),
        ] {
            for other in [Proto::Http, Proto::Resp, Proto::Echo] {
                let want = if other == proto { Ok(()) } else { Err(flag) };
                assert_eq!(check(other, set), want, "{flag} with {other}");
            }
        }
        for proto in [Proto::Http, Proto::Resp, Proto::Echo] {
            assert_eq!(check(proto, &|c| c.hello_flood = 64), Ok(()));
        }
        assert_eq!(
            check(Proto::Http, &|c| {
                c.hello_flood = 1;
                c.hello_name = "not a name!".to_owned();
            }),
            Err("--tls-server-name")
        );
        // The connection bound counts every population and the probes in flight.
        assert_eq!(
            check(Proto::Http, &|c| {
                c.expect_stallers = 9_000;
                c.partial_bodies = 9_000;
                c.hello_flood = 979;
                c.probe_interval = Some(Duration::from_millis(100));
            }),
            Ok(())
        );
        assert_eq!(
            check(Proto::Http, &|c| {
                c.expect_stallers = 9_000;
                c.partial_bodies = 9_000;
                c.hello_flood = 980;
                c.probe_interval = Some(Duration::from_millis(100));
            }),
            Err("--expect-stallers")
        );
        assert_eq!(
            check(Proto::Resp, &|c| c.amplifiers = usize::MAX),
            Err("--amplifiers")
        );
        for (interval, want) in [
            (Duration::from_millis(9), Err("--probe-interval")),
            (MIN_PROBE_INTERVAL, Ok(())),
            (MAX_SPAN * 2, Err("--probe-interval")),
        ] {
            assert_eq!(
                check(Proto::Http, &|c| c.probe_interval = Some(interval)),
                want,
                "{interval:?}"
            );
        }
    }

    #[test]
    fn path_validation_names_the_flag() {
        let path = |proto, path: &str| {
            let mut c = config();
            c.proto = proto;
            c.path = path.to_owned();
            c.validate().map_err(|e| (e.flag(), e.to_string()))
        };
        assert_eq!(config().path, "/");
        for good in ["/", "/work?ms=1", "/a/b?c=d&e=%20#f", "/!~"] {
            assert_eq!(path(Proto::Http, good), Ok(()), "{good}");
        }
        let longest = format!("/{}", "a".repeat(MAX_PATH - 1));
        assert_eq!(path(Proto::Http, &longest), Ok(()));
        let too_long = format!("{longest}a");
        for (bad, why) in [
            ("", "does not start"),
            ("work", "does not start"),
            ("*", "does not start"),
            ("http://x/", "does not start"),
            ("/a b", "visible ASCII"),
            ("/a\tb", "visible ASCII"),
            ("/a\r\nX: y", "visible ASCII"),
            ("/\u{7f}", "visible ASCII"),
            ("/é", "visible ASCII"),
            (too_long.as_str(), "too long"),
        ] {
            match path(Proto::Http, bad) {
                Err(("--path", message)) => {
                    assert!(message.contains(why), "{bad:?}: {message}");
                    assert!(message.contains("--path"), "{bad:?}: {message}");
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        // Only HTTP has a path; the default one is fine everywhere.
        for proto in [Proto::Resp, Proto::Echo] {
            assert_eq!(path(proto, "/"), Ok(()));
            let err = path(proto, "/work").unwrap_err();
            assert_eq!(err.0, "--path");
            assert!(err.1.contains("--proto http"), "{}", err.1);
        }
    }

    #[test]
    fn every_run_has_a_time_limit() {
        let mut c = config();
        c.stop = Stop::Requests(1000);
        assert_eq!(c.time_limit(), Duration::from_secs(301));
        c.rate = Some(100.0);
        assert_eq!(c.time_limit(), Duration::from_secs(311));
        c.max_time = Some(Duration::from_secs(5));
        assert_eq!(c.time_limit(), Duration::from_secs(5));
    }
}
