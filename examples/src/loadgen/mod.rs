//! A load generator for this project's protocols (HTTP, RESP, echo), on `mio`.
//!
//! [`run`] opens [`Config::connections`] connections from [`Config::threads`] threads
//! (each with its own `mio::Poll` and its share of the connections), keeps up to
//! [`Config::pipeline`] requests in flight on each, and **checks every response**: a
//! wrong, short, malformed or out-of-order answer is an error (see [`check`] and
//! [`Proto`]), never a success.
//!
//! - **Closed loop** (the default): each connection sends its next request as soon as an
//!   answer frees a slot; latency counts from the moment a request is written.
//! - **Open loop** ([`Config::rate`]): requests are due at a fixed total rate, spread
//!   over the connections, whether or not the server keeps up; latency counts from each
//!   request's intended send time ([`Schedule`]), so a server that stalls shows in p99.
//! - A warm-up ([`Config::warmup`]) runs first and is not counted; then the run lasts
//!   [`Stop::Duration`], or until [`Stop::Requests`] requests are answered or failed.
//!   Every run also ends at [`Config::max_time`], whatever happens.
//! - A request not answered within [`Config::timeout`] is an error of kind
//!   [`ErrorKind::Timeout`] and its connection is reopened.
//! - **Background populations** run beside the measured load, on their own thread:
//!   [`Config::idle`] keep-alive connections that send nothing, [`Config::slowloris`]
//!   clients trickling a request they never finish, [`Config::non_readers`] clients
//!   that pipeline requests and never read. They are opened first: the warm-up starts
//!   once each is open or has failed to open (at most [`BACKGROUND_SETUP_LIMIT`]).
//!   Their fate is in [`Report::background`]: how many the server closed and after how
//!   long, how many were still open at the end, and whether the idle ones still answer
//!   a request after the run.
//! - **Attacks**, background populations too: [`Config::expect_stallers`] and
//!   [`Config::partial_bodies`] (HTTP) announce a body of [`ANNOUNCED_BODY`] bytes and
//!   never finish it; [`Config::big_non_readers`] (RESP) ask for a value of
//!   [`BIG_VALUE`] bytes and never read it; [`Config::amplifiers`] (RESP) ask for a
//!   64 KiB value [`AMPLIFY_NAMES`] times in one `MGET`, again and again;
//!   [`Config::hello_flood`] sends a captured TLS ClientHello ([`client_hello`]) on new
//!   connections, as fast as they are answered. Background connections are opened once;
//!   with [`Config::reconnect`] the hostile ones reopen each connection the server
//!   closes, as an attacker keeping up the pressure does (the hello flood always does).
//! - **Probe** ([`Config::probe_interval`]): every interval a new connection sends one
//!   request and must be answered right within [`PROBE_TIMEOUT`]; [`Report::probes`].
//! - **TLS** ([`Config::tls`], a [`TlsClient`]): the measured connections speak TLS
//!   (rustls, ring); [`Report::handshakes`] counts the full and the resumed handshakes.
//!   [`Config::requests_per_connection`] closes each connection after that many
//!   requests and opens a new one, to measure what opening a connection costs.
//! - Latency goes into an HDR histogram (microseconds); the [`Report`] has the
//!   percentiles, the errors by kind, a human summary and JSON.
//! - While it runs, [`run_with`] counts in a [`Progress`] that another thread can read;
//!   [`show_progress`] draws those counts as a live line on stderr.
//! - For HTTP, [`Config::path`] sets the request target (`/work?ms=5` makes the http
//!   example block in its handler).
//!
//! ```
//! use std::time::Duration;
//! use net::Server as _;
//! use examples::loadgen::{self, Config, Proto, Stop};
//!
//! let mut server = examples::Server::serve(
//!     "127.0.0.1:0",
//!     examples::http::HttpHandler::new(),
//!     net::ServerParams::default(),
//! )?;
//! let mut config = Config::new(server.local_addr(), Proto::Http, Stop::Requests(50));
//! config.connections = 2;
//! config.warmup = Duration::ZERO;
//! let report = loadgen::run(&config)?;
//! assert_eq!((report.requests, report.errors_total), (50, 0));
//! assert!(report.latency_us.max >= report.latency_us.p50);
//! server.shutdown(Duration::from_secs(1))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod background;
pub mod check;
mod probe;
mod progress;
mod proto;
mod proxy_header;
mod report;
mod schedule;
mod skim;
mod tls;
mod worker;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

pub use background::{
    AMPLIFY_KEY, AMPLIFY_NAMES, AMPLIFY_VALUE, ANNOUNCED_BODY, BIG_KEY, BIG_VALUE,
    PARTIAL_BODY_SENT,
};
pub use progress::{
    show_progress, show_progress_on, Progress, ProgressLine, PROGRESS_MIN_TIME_LIMIT,
};
pub use proto::{Proto, RESP_KEY_SLOTS};
pub use proxy_header::ProxyVersion;
pub use report::{
    latency_histogram, micros, Activity, Background, CloseAfter, ErrorKind, Errors, Handshakes,
    Latency, Population, Probes, Report, Usable,
};
pub use schedule::Schedule;
pub use tls::{client_hello, TlsClient};

use background::BgPlan;
use probe::ProbePlan;
use proto::Requests;
use worker::{Plan, Shared};

/// Most connections one run opens, measured and background together: with a few
/// descriptors for threads and polls, the process stays below 20,000 open files.
pub const MAX_CONNECTIONS: usize = 19_000;

/// Most requests in flight on one connection.
pub const MAX_PIPELINE: usize = 1024;

/// Longest [`Config::path`], in bytes.
pub const MAX_PATH: usize = 1024;

/// The longest duration any flag of a run may give (`--duration`, `--warmup`,
/// `--timeout`, `--max-time`, `--trickle-interval`): a day.
pub const MAX_SPAN: Duration = Duration::from_secs(24 * 3600);

/// The longest the background populations may take to open before the warm-up starts
/// anyway (each connect also gives up after [`Config::timeout`]).
pub const BACKGROUND_SETUP_LIMIT: Duration = Duration::from_secs(60);

/// The longest a probe ([`Config::probe_interval`]) may take, from its connection
/// attempt to its checked answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The shortest [`Config::probe_interval`] (so that at most 100 probes are in flight).
pub const MIN_PROBE_INTERVAL: Duration = Duration::from_millis(10);

/// How long a hello-flood connection waits for the server's first bytes before it
/// closes and starts again.
pub const HELLO_WAIT: Duration = Duration::from_secs(1);

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

/// What to run. [`Config::new`] sets the defaults; change the fields, then [`run`].
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
    /// and `Content-Length: 1000000` ([`ANNOUNCED_BODY`]), reading the `100 Continue`,
    /// never sending the body (default 0).
    pub expect_stallers: usize,
    /// HTTP only: background clients sending a `POST /echo` head announcing
    /// [`ANNOUNCED_BODY`] bytes, then [`PARTIAL_BODY_SENT`] of them as fast as the
    /// socket takes them, then nothing (default 0).
    pub partial_bodies: usize,
    /// RESP only: background clients each sending one `GET` of a [`BIG_VALUE`]-byte
    /// value (stored under [`BIG_KEY`] before the run) and never reading (default 0).
    pub big_non_readers: usize,
    /// RESP only: background clients each sending `MGET` naming a 64 KiB value
    /// ([`AMPLIFY_KEY`], stored before the run) [`AMPLIFY_NAMES`] times, reading the
    /// reply (an error reply counts as one), and again, for the whole run (default 0).
    pub amplifiers: usize,
    /// Background connections, any protocol, each sending one TLS ClientHello (made
    /// once by [`client_hello`] for [`Config::hello_name`]), closing once the server's
    /// first bytes arrive (or after [`HELLO_WAIT`]) and starting again (default 0).
    pub hello_flood: usize,
    /// The server name (SNI) in the hello flood's ClientHello (default `localhost`).
    pub hello_name: String,
    /// The hostile populations (all but [`Config::idle`]) reopen a connection the
    /// server closes, at once (after a failed attempt, 50 ms later) (default `false`:
    /// each connection is opened once). The hello flood always does.
    pub reconnect: bool,
    /// Probe with a fresh connection this often, from [`MIN_PROBE_INTERVAL`] to
    /// [`MAX_SPAN`] (default `None`: no probe; see [`Report::probes`]).
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
    /// [`Report::retried`], not as errors (default `false`: they are errors).
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
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |flag, message: String| Err(ConfigError { flag, message });
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
        if let Some(rate) = self.rate {
            if !(rate.is_finite() && rate > 0.0) {
                return bad(
                    "--rate",
                    format!("{rate} is not a positive number of requests per second"),
                );
            }
        }
        match self.stop {
            Stop::Duration(d) if d.is_zero() => {
                return bad("--duration", "must be longer than zero".to_owned())
            }
            Stop::Requests(0) => return bad("--requests", "must be at least 1".to_owned()),
            _ => {}
        }
        if self.timeout.is_zero() {
            return bad("--timeout", "must be longer than zero".to_owned());
        }
        if self.max_time.is_some_and(|d| d.is_zero()) {
            return bad("--max-time", "must be longer than zero".to_owned());
        }
        if self.proxy.is_some() && self.tls.is_some() {
            return bad(
                "--proxy",
                "cannot be combined with --tls-ca (the header would have to precede the TLS \
                 handshake)"
                    .to_owned(),
            );
        }
        if let Some(interval) = self.probe_interval {
            if interval < MIN_PROBE_INTERVAL {
                return bad(
                    "--probe-interval",
                    format!(
                        "{} is too short: at least {}",
                        crate::cli::format_duration(interval),
                        crate::cli::format_duration(MIN_PROBE_INTERVAL)
                    ),
                );
            }
        }
        let populations = self.populations();
        let total = populations
            .iter()
            .fold(self.connections, |n, (_, k)| n.saturating_add(*k))
            .saturating_add(self.probes_in_flight());
        if total > MAX_CONNECTIONS {
            let flag = populations
                .iter()
                .find(|(_, k)| *k > 0)
                .map_or("--probe-interval", |(flag, _)| *flag);
            let named: Vec<String> = populations
                .iter()
                .filter(|(_, k)| *k > 0)
                .map(|(flag, k)| format!("{flag} {k}"))
                .collect();
            return bad(
                flag,
                format!(
                    "--connections {} + {} + {} probes in flight is {total}, more than \
                     {MAX_CONNECTIONS} (open files stay below 20,000)",
                    self.connections,
                    named.join(" + "),
                    self.probes_in_flight()
                ),
            );
        }
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
        if self.hello_flood > 0 {
            if let Err(e) = rustls::pki_types::ServerName::try_from(self.hello_name.as_str()) {
                return bad(
                    "--tls-server-name",
                    format!("{:?} is not a server name: {e}", self.hello_name),
                );
            }
        }
        if self.slowloris > 0 && self.trickle_interval.is_zero() {
            return bad("--trickle-interval", "must be longer than zero".to_owned());
        }
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
                return bad(flag, "is longer than a day".to_owned());
            }
        }
        if self.requests_per_connection == Some(0) {
            return bad("--requests-per-connection", "must be at least 1".to_owned());
        }
        let plain = populations
            .iter()
            .filter(|(flag, k)| *k > 0 && *flag != "--hello-flood");
        if let (Some(_), Some((flag, _))) = (&self.tls, plain.clone().next()) {
            return bad(
                "--tls-ca",
                format!(
                    "the background populations but --hello-flood (here {flag}) speak plain \
                     TCP: not with TLS"
                ),
            );
        }
        Ok(())
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

    /// The most probes in flight at once: [`PROBE_TIMEOUT`] over the interval, rounded
    /// up, plus one.
    fn probes_in_flight(&self) -> usize {
        self.probe_interval.map_or(0, |i| {
            let i = i.max(MIN_PROBE_INTERVAL).as_nanos();
            (PROBE_TIMEOUT.as_nanos().div_ceil(i) + 1) as usize
        })
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

/// Run the load described by `config` and report what it measured.
///
/// Fails only if the configuration is invalid ([`io::ErrorKind::InvalidInput`], with
/// the [`ConfigError`] inside) or a thread cannot set up its `mio::Poll`; everything the
/// server does wrong is counted in the [`Report`].
///
/// The same as [`run_with`] and a fresh [`Progress`] nobody watches.
pub fn run(config: &Config) -> io::Result<Report> {
    run_with(config, &Progress::new())
}

/// [`run`], counting the responses answered right and the errors in `progress` as the run
/// goes (for a live display such as [`show_progress`], on another thread): when it returns, they
/// have grown by the report's `requests` and `errors_total`.
pub fn run_with(config: &Config, progress: &Progress) -> io::Result<Report> {
    config
        .validate()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // The clock starts once the background populations are in place (see below).
    let make_shared = |start: Instant| {
        let measure_start = start + config.warmup;
        Shared {
            addr: config.addr,
            proto: config.proto,
            requests: Requests::new(config.proto, &config.path),
            pipeline: config.pipeline,
            timeout: config.timeout,
            start,
            measure_start,
            measure_end: match config.stop {
                Stop::Duration(d) => Some(measure_start + d),
                Stop::Requests(_) => None,
            },
            hard_end: start + config.time_limit(),
            tls: config.tls.clone(),
            per_connection: config.requests_per_connection,
            retry_closed: config.retry_closed,
            proxy: config.proxy,
        }
    };
    let shared = OnceLock::new();
    let plans = plans(config);
    let hello = if config.hello_flood > 0 {
        client_hello(&config.hello_name)?
    } else {
        Vec::new()
    };
    let bg_plan = BgPlan {
        addr: config.addr,
        proto: config.proto,
        idle: config.idle,
        slowloris: config.slowloris,
        non_readers: config.non_readers,
        expect_stallers: config.expect_stallers,
        partial_bodies: config.partial_bodies,
        big_non_readers: config.big_non_readers,
        amplifiers: config.amplifiers,
        hello_flood: config.hello_flood,
        reconnect: config.reconnect,
        trickle_interval: config.trickle_interval,
        timeout: config.timeout,
        hello,
    };
    let probe_plan = config.probe_interval.map(|interval| ProbePlan {
        addr: config.addr,
        proto: config.proto,
        requests: Requests::new(config.proto, &config.path),
        tls: config.tls.clone(),
        interval,
    });
    let bg_stop = AtomicBool::new(false);
    let probe_stop = AtomicBool::new(false);
    let (outcomes, background, probes) = std::thread::scope(|scope| {
        // The populations start first, and the warm-up once each of their connections
        // is open or has failed to open (bounded by `timeout` each, and in all by
        // BACKGROUND_SETUP_LIMIT), so that they are in place for the whole run.
        let bg = if bg_plan.total() > 0 {
            let poll = mio::Poll::new()?;
            let waker = mio::Waker::new(poll.registry(), background::WAKE)?;
            let bg_stop = &bg_stop;
            let (settled, in_place) = mpsc::channel();
            let handle = std::thread::Builder::new()
                .name("loadgen-background".to_owned())
                .spawn_scoped(scope, move || {
                    background::run(bg_plan, poll, bg_stop, settled)
                })?;
            let _ = in_place.recv_timeout(BACKGROUND_SETUP_LIMIT);
            Some((handle, waker))
        } else {
            None
        };
        let shared = shared.get_or_init(|| make_shared(Instant::now()));
        progress.start_clock(shared.start);
        let prober = match &probe_plan {
            Some(plan) => {
                let probe_stop = &probe_stop;
                let start = shared.start;
                let spawned = std::thread::Builder::new()
                    .name("loadgen-probe".to_owned())
                    .spawn_scoped(scope, move || probe::run(plan, probe_stop, start));
                Some(spawned)
            }
            None => None,
        };
        // A probe thread that could not start fails the run, once the others ended.
        let (prober, spawn_error) = match prober {
            Some(Err(e)) => (None, Some(e)),
            Some(Ok(handle)) => (Some(handle), None),
            None => (None, None),
        };
        let outcomes = match spawn_error {
            Some(e) => Err(e),
            None => run_threads(scope, shared, plans, progress),
        };
        // The probes stop with the measured load, while the populations still press.
        probe_stop.store(true, Ordering::Release);
        let probes = prober.map(|handle| {
            handle
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        });
        let background = match bg {
            Some((handle, waker)) => {
                bg_stop.store(true, Ordering::Release);
                // The thread also looks at the flag every few tens of milliseconds.
                let _ = waker.wake();
                handle
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p))?
            }
            None => Background::default(),
        };
        Ok::<_, io::Error>((outcomes?, background, probes.transpose()?))
    })?;

    let mut hist = latency_histogram();
    let mut errors = Errors::default();
    let (mut ok, mut reconnects, mut retried, mut capped) = (0, 0, 0, false);
    let mut handshakes = Handshakes::default();
    let measure_start = shared.get().map_or_else(Instant::now, |s| s.measure_start);
    let mut stopped = measure_start;
    for o in &outcomes {
        hist.add(&o.hist)
            .expect("histograms of the same bounds add up");
        errors.merge(&o.errors);
        ok += o.ok;
        reconnects += o.reconnects;
        retried += o.retried;
        handshakes.merge(&o.handshakes);
        capped |= o.capped;
        stopped = stopped.max(o.stopped);
    }
    let mut elapsed = stopped.saturating_duration_since(measure_start);
    if let Stop::Duration(d) = config.stop {
        elapsed = elapsed.min(d);
    }
    let elapsed_s = elapsed.as_secs_f64();
    Ok(Report {
        proto: config.proto.name().to_owned(),
        addr: config.addr.to_string(),
        connections: config.connections,
        threads: config.threads,
        pipeline: config.pipeline,
        rate: config.rate,
        warmup_s: config.warmup.as_secs_f64(),
        elapsed_s,
        requests: ok,
        req_per_s: if elapsed_s > 0.0 {
            ok as f64 / elapsed_s
        } else {
            0.0
        },
        latency_us: Latency::from_histogram(&hist),
        errors,
        errors_total: errors.total(),
        reconnects,
        retried,
        requests_per_connection: config.requests_per_connection,
        tls: config.tls.is_some(),
        handshakes,
        capped,
        background,
        probes,
    })
}

/// Run the measured threads, one per plan, until they end.
fn run_threads<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    shared: &'scope Shared,
    plans: Vec<Plan>,
    progress: &'scope Progress,
) -> io::Result<Vec<worker::Outcome>> {
    let handles: Vec<_> = plans
        .into_iter()
        .enumerate()
        .map(|(i, plan)| {
            std::thread::Builder::new()
                .name(format!("loadgen-{i}"))
                .spawn_scoped(scope, move || worker::run_thread(shared, plan, progress))
        })
        .collect::<io::Result<_>>()?;
    handles
        .into_iter()
        .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
        .collect()
}

/// Each thread's connections, share of the requests and share of the rate.
fn plans(config: &Config) -> Vec<Plan> {
    let threads = config.threads;
    let mut first_conn = 0;
    (0..threads)
        .map(|i| {
            let conns = share(config.connections as u64, threads, i) as usize;
            let plan = Plan {
                first_conn,
                conns,
                budget: match config.stop {
                    Stop::Requests(n) => Some(share(n, threads, i)),
                    Stop::Duration(_) => None,
                },
                rate: config
                    .rate
                    .map(|r| r * conns as f64 / config.connections as f64),
            };
            first_conn += conns as u64;
            plan
        })
        .collect()
}

/// Part `i` of `total` split in `parts` nearly equal parts (the first ones larger).
fn share(total: u64, parts: usize, i: usize) -> u64 {
    let parts = parts as u64;
    total / parts + u64::from((i as u64) < total % parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::new(
            "127.0.0.1:1".parse().unwrap(),
            Proto::Http,
            Stop::Requests(10),
        )
    }

    #[test]
    fn shares_add_up() {
        for (total, parts) in [(10, 3), (1, 4), (19_000, 7), (0, 2)] {
            let sum: u64 = (0..parts).map(|i| share(total, parts, i)).sum();
            assert_eq!(sum, total);
        }
        let mut c = config();
        c.connections = 5;
        c.threads = 2;
        c.rate = Some(1000.0);
        c.stop = Stop::Requests(7);
        let plans = plans(&c);
        assert_eq!(
            plans
                .iter()
                .map(|p| (p.first_conn, p.conns))
                .collect::<Vec<_>>(),
            [(0, 3), (3, 2)]
        );
        assert_eq!(plans[0].budget, Some(4));
        assert_eq!(plans[1].budget, Some(3));
        let rates: Vec<f64> = plans.iter().map(|p| p.rate.unwrap()).collect();
        assert_eq!(rates, [600.0, 400.0]);
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
        let mut c = config();
        c.probe_interval = Some(Duration::from_millis(100));
        assert_eq!(c.probes_in_flight(), 11);
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

    #[test]
    fn a_dead_server_counts_connect_errors_and_stops() {
        // Bind then drop a listener: its port refuses connections.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut c = Config::new(
            addr,
            Proto::Http,
            Stop::Duration(Duration::from_millis(100)),
        );
        c.connections = 2;
        c.warmup = Duration::ZERO;
        let report = run(&c).unwrap();
        assert_eq!(report.requests, 0);
        assert!(report.errors.connect >= 2, "{report:?}");
        assert_eq!(report.errors_total, report.errors.connect);
        assert!(!report.capped);
    }
}
