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
mod config;
mod probe;
mod progress;
mod proto;
mod proxy_header;
mod report;
mod schedule;
mod skim;
mod tls;
mod worker;

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

pub use background::{
    AMPLIFY_KEY, AMPLIFY_NAMES, AMPLIFY_VALUE, ANNOUNCED_BODY, BIG_KEY, BIG_VALUE, HELLO_WAIT,
    PARTIAL_BODY_SENT,
};
pub use config::{
    Config, ConfigError, Stop, DEFAULT_REQUESTS_CAP, MAX_CONNECTIONS, MAX_PATH, MAX_PIPELINE,
    MAX_SPAN,
};
pub use probe::{MIN_PROBE_INTERVAL, PROBE_TIMEOUT};
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

pub(crate) use probe::probes_in_flight;

use background::BgPlan;
use probe::ProbePlan;
use proto::Requests;
use worker::{Plan, Shared};

/// The longest the background populations may take to open before the warm-up starts
/// anyway (each connect also gives up after [`Config::timeout`]).
pub const BACKGROUND_SETUP_LIMIT: Duration = Duration::from_secs(60);

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
    use super::config::tests::config;
    use super::*;

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
