//! `compare`: the example servers side by side, in the situations where a thread per
//! connection (`net`) and event loops with a worker pool (`evnet`) differ.
//!
//! [`run`] starts each server of each [`Scenario`] as a child process, loads it with
//! [`loadgen`] (in this process, one client thread), reads the server's
//! CPU time, memory and threads from `/proc` ([`procfs`]), and returns the [`Results`].
//! The binary `compare` prints [`table`]s, and writes `results.json`, `tables.md` and
//! `chart.svg` ([`chart`]) into `results/<timestamp>/`.
//!
//! With [`Options::rounds`] (`--rounds N`) the chosen scenarios × servers run N times,
//! interleaved: round 1 of every scenario and server in order, then round 2, and so on,
//! so that slow drifts of the machine spread over every row alike and each baseline
//! (`atk-base-…`, `mixed-base`) runs as close to the scenarios that divide by it as
//! with one round. Every round is kept ([`Row::rounds`]); the tables show the median
//! over the rounds, the spread of req/s, and the ratios taken round by round (against
//! the reference or the baseline of the same round) and then their median.
//!
//! A scenario may have a second measured population (`mixed`'s blocking clients,
//! [`scenario::Load::slow_connections`]): a second load generator runs it beside the
//! main one, and the row reports it apart ([`results::SlowClients`]).
//!
//! The server binaries are looked up in a directory laid out as [`build`] makes it:
//! `net/{http,echo,resp}`, `evnet/{http,echo,resp}`, `tokio_http`, `hyper_http`,
//! `epoll_floor`; `redis-server` is found in `$PATH`. A missing one is a skipped row,
//! not a failure.

pub mod build;
pub mod chart;
pub mod procfs;
pub mod results;
pub mod scenario;
pub mod server;
pub mod table;
pub mod tls;

use std::io;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::loadgen::{self, Progress};
use procfs::Sample;
use results::{Measured, Outcome, Results, Row, ScenarioResult, SlowClients};
use scenario::Scenario;
use server::{Running, ServerId};

/// How long a server has to stop gracefully (and print its statistics to its log)
/// before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(3);

/// The most rounds `--rounds` takes.
pub const MAX_ROUNDS: usize = 100;

/// What to compare, and how long.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// Where the server binaries are (see the module docs).
    pub bin_dir: PathBuf,
    /// Where each server's stderr is written, one file per scenario and server.
    pub log_dir: PathBuf,
    /// The scenarios to run, by name; they run in the order of [`Scenario::all`]
    /// (default: [`Scenario::default_names`], all but the attack group; see
    /// [`Scenario::select`]).
    pub scenarios: Vec<String>,
    /// The servers to run (those of each scenario that are listed here).
    pub servers: Vec<ServerId>,
    /// Fewer idle connections ([`Scenario::all`]'s `quick`).
    pub quick: bool,
    /// The warm-up of each run, not measured.
    pub warmup: Duration,
    /// The measured time of each run.
    pub duration: Duration,
    /// Show a progress line on stderr during each run.
    pub progress: bool,
    /// Where the TLS scenarios' certificate is made.
    pub tls_dir: PathBuf,
    /// How many times each scenario × server runs, interleaved (see the module docs;
    /// default 1; 0 counts as 1).
    pub rounds: usize,
}

impl Options {
    /// Every scenario but the attack group, every server, 1 s of warm-up and 5 s
    /// measured; or, if `quick`, 0.1 s and 0.5 s.
    pub fn new(bin_dir: PathBuf, log_dir: PathBuf, quick: bool) -> Options {
        let tls_dir = log_dir.with_file_name("tls");
        let (warmup, duration) = if quick {
            (Duration::from_millis(100), Duration::from_millis(500))
        } else {
            (Duration::from_secs(1), Duration::from_secs(5))
        };
        Options {
            bin_dir,
            log_dir,
            scenarios: Scenario::default_names()
                .iter()
                .map(|s| s.to_string())
                .collect(),
            servers: ServerId::ALL.to_vec(),
            quick,
            warmup,
            duration,
            progress: false,
            tls_dir,
            rounds: 1,
        }
    }
}

/// Logical CPUs of this machine.
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Run every chosen scenario against every chosen server, one run at a time, for
/// [`Options::rounds`] rounds (interleaved: see the module docs), calling `done` with
/// each scenario and its result as soon as it is known (in its last round, to print its
/// table).
///
/// Fails only if a log file or the TLS scenarios' certificate cannot be made; a server
/// that does not start or dies is a [`Outcome::Failed`] round, one whose binary is
/// missing (or that cannot serve the scenario) a [`Outcome::Skipped`] one.
pub fn run(
    options: &Options,
    mut done: impl FnMut(&Scenario, &ScenarioResult),
) -> io::Result<Results> {
    std::fs::create_dir_all(&options.log_dir)?;
    let tls = tls::TlsFiles::make(&options.tls_dir)?;
    let chosen: Vec<Scenario> = Scenario::all(options.quick)
        .into_iter()
        .filter(|s| options.scenarios.iter().any(|n| n == s.name))
        .collect();
    // Made only when a chosen scenario wants it (it takes openssl a moment).
    let wants_rsa = chosen.iter().any(|s| s.load.rsa);
    let rsa = wants_rsa.then(|| tls::TlsFiles::make_rsa(&options.tls_dir.join("rsa")));
    let started = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let rounds = options.rounds.max(1);
    // Each scenario's servers, each with its outcomes so far.
    let mut outcomes: Vec<Vec<(ServerId, Vec<Outcome>)>> = chosen
        .iter()
        .map(|s| {
            s.servers
                .iter()
                .filter(|id| options.servers.contains(id))
                .map(|&id| (id, Vec::with_capacity(rounds)))
                .collect()
        })
        .collect();
    let mut scenarios = Vec::new();
    for round in 1..=rounds {
        for (scenario, servers) in chosen.iter().zip(&mut outcomes) {
            for (id, outcomes) in servers.iter_mut() {
                let run = Run {
                    scenario,
                    id: *id,
                    round,
                    rounds,
                };
                let outcome = match (&rsa, scenario.load.rsa) {
                    (Some(Ok(rsa)), true) => run_one(options, &run, rsa)?,
                    (Some(Err(e)), true) => Outcome::Skipped(format!("no RSA certificate: {e}")),
                    _ => run_one(options, &run, &tls)?,
                };
                log_row(&run, &outcome);
                outcomes.push(outcome);
            }
            if round < rounds {
                continue;
            }
            let result = ScenarioResult {
                name: scenario.name.to_owned(),
                title: scenario.title.clone(),
                about: scenario.about.to_owned(),
                rows: servers
                    .drain(..)
                    .map(|(id, outcomes)| Row::over_rounds(id.name(), outcomes))
                    .collect(),
            };
            done(scenario, &result);
            scenarios.push(result);
        }
    }
    Ok(Results {
        started,
        quick: options.quick,
        cpus: cpus(),
        rounds,
        scenarios,
    })
}

/// One run: a scenario, a server, a round.
struct Run<'a> {
    scenario: &'a Scenario,
    id: ServerId,
    /// From 1.
    round: usize,
    rounds: usize,
}

/// One line on stderr per run, as it finishes.
fn log_row(run: &Run<'_>, outcome: &Outcome) {
    let what = match outcome {
        Outcome::Measured(m) => {
            let mut line = format!(
                "{:>9.0} req/s  p99 {:>8}  errors {}",
                m.req_per_s,
                loadgen::micros(m.p99_us),
                m.errors
            );
            if let Some(p) = &m.report.probes {
                line.push_str(&format!("  probes {}/{}", p.answered, p.sent));
            }
            if let Some(c) = &m.slow {
                line.push_str(&format!(
                    "  slow {:.0} req/s p99 {} errors {}",
                    c.req_per_s,
                    loadgen::micros(c.p99_us),
                    c.errors
                ));
            }
            line
        }
        Outcome::Skipped(why) => format!("skipped: {why}"),
        Outcome::Failed(why) => format!("FAILED: {why}"),
    };
    let round = if run.rounds > 1 {
        format!("{}/{} ", run.round, run.rounds)
    } else {
        String::new()
    };
    eprintln!(
        "{round}{:<14} {:<13} {what}",
        run.scenario.name,
        run.id.name()
    );
}

/// Start the run's server, load it as its scenario says, stop it.
fn run_one(options: &Options, run: &Run<'_>, tls: &tls::TlsFiles) -> io::Result<Outcome> {
    let (scenario, id) = (run.scenario, run.id);
    let launch = match id.command(
        scenario.app,
        &options.bin_dir,
        scenario.load.total_connections(),
        scenario.load.server_flags,
        scenario.load.tls.then_some(tls),
    ) {
        Ok(launch) => launch,
        Err(why) => return Ok(Outcome::Skipped(why)),
    };
    let round = if run.rounds > 1 {
        format!("--round{}", run.round)
    } else {
        String::new()
    };
    let log = options
        .log_dir
        .join(format!("{}--{}{round}.log", scenario.name, id.name()));
    std::fs::write(&log, format!("{}\n", launch.display()))?;
    let mut server = match launch.start(&log) {
        Ok(server) => server,
        Err(e) => return Ok(Outcome::Failed(format!("did not start: {e}"))),
    };
    let outcome = match measure(options, scenario, &mut server, &tls.cert) {
        Ok(m) => Outcome::Measured(Box::new(m)),
        Err(e) => Outcome::Failed(e.to_string()),
    };
    // A server that died during the run failed it, whatever the load generator saw.
    if let Err(why) = server.check_alive() {
        return Ok(Outcome::Failed(format!("{why}; see {}", log.display())));
    }
    server.stop(STOP_GRACE);
    Ok(outcome)
}

/// Load `server` and read what it cost.
fn measure(
    options: &Options,
    scenario: &Scenario,
    server: &mut Running,
    ca: &std::path::Path,
) -> io::Result<Measured> {
    let pid = server.pid();
    let config = scenario
        .load
        .config(server.addr(), options.warmup, options.duration, ca)?;
    let slow = scenario
        .load
        .slow_config(server.addr(), options.warmup, options.duration);
    let before = Sample::read(pid)?;
    std::thread::scope(|scope| {
        // The second population first, so that it presses over the whole run.
        let slow = match &slow {
            Some(c) => Some(start_slow(scope, c)?),
            None => None,
        };
        let measured = measure_main(options, scenario, pid, &config, &before);
        let slow = match slow {
            Some(handle) => Some(
                handle
                    .join()
                    .map_err(|_| io::Error::other("the second load generator panicked"))??,
            ),
            None => None,
        };
        let mut measured = measured?;
        measured.slow = slow.map(|report| SlowClients {
            path: scenario.load.slow_path.to_owned(),
            connections: scenario.load.slow_connections,
            req_per_s: report.req_per_s,
            p50_us: report.latency_us.p50,
            p99_us: report.latency_us.p99,
            errors: report.errors_total,
            report,
        });
        Ok(measured)
    })
}

/// Start the second load generator on its own thread (see [`results::SlowClients`]),
/// and return once its clock started (or it ended, or a second passed).
fn start_slow<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    config: &'scope loadgen::Config,
) -> io::Result<std::thread::ScopedJoinHandle<'scope, io::Result<loadgen::Report>>> {
    let progress = Progress::new();
    let watched = progress.clone();
    let handle = std::thread::Builder::new()
        .name("compare-slow".to_owned())
        .spawn_scoped(scope, move || loadgen::run_with(config, &progress))?;
    let deadline = Instant::now() + Duration::from_secs(1);
    while watched.clock_started().is_none() && !handle.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(handle)
}

/// Load `pid` with `config` (the main clients) and read what it cost; `before` is its
/// sample before any client connected.
fn measure_main(
    options: &Options,
    scenario: &Scenario,
    pid: u32,
    config: &loadgen::Config,
    before: &Sample,
) -> io::Result<Measured> {
    let (stop, stopped) = mpsc::channel::<()>();
    let progress = Progress::new();
    let watched = progress.clone();
    let window = (options.warmup, options.duration);
    let sampler = std::thread::Builder::new()
        .name("compare-sampler".to_owned())
        .spawn(move || sample_window(pid, &watched, window.0, window.1, &stopped))?;
    let line = options
        .progress
        .then(|| loadgen::show_progress(config, &progress));
    let report = loadgen::run_with(config, &progress);
    drop(line);
    drop(stop);
    let window = sampler
        .join()
        .map_err(|_| io::Error::other("the sampler panicked"))??;
    let report = report?;
    let cpu = window.last.cpu.saturating_sub(window.first.cpu);
    let elapsed = window.elapsed.as_secs_f64().max(1e-9);
    let opened = scenario.load.total_connections() as f64;
    let added = window.first.rss_bytes as f64 - before.rss_bytes as f64;
    Ok(Measured {
        req_per_s: report.req_per_s,
        p50_us: report.latency_us.p50,
        p99_us: report.latency_us.p99,
        errors: report.errors_total,
        cpu_us_per_req: (report.requests > 0)
            .then(|| cpu.as_secs_f64() * 1e6 / report.requests as f64),
        cpu_cores: cpu.as_secs_f64() / elapsed,
        client_cores: window.client_cpu.as_secs_f64() / elapsed,
        peak_rss_bytes: window.last.peak_rss_bytes,
        rss_bytes: window.last.rss_bytes,
        threads: window.max_threads,
        rss_per_connection_bytes: (added >= 0.0).then_some(added / opened),
        slow: None,
        report,
    })
}

/// The server's samples over the measured time.
struct Window {
    /// At the start of the measured time.
    first: Sample,
    /// At its end (or when the run ended, if sooner).
    last: Sample,
    /// From `first` to `last`.
    elapsed: Duration,
    /// The most threads seen.
    max_threads: u64,
    /// This process's CPU time from `first` to `last`.
    client_cpu: Duration,
}

/// Sample `pid` at the end of the warm-up (which follows the moment `progress` says the
/// run's clock started), every 100 ms, and at the end of the measured time, or until
/// `stop` is dropped.
fn sample_window(
    pid: u32,
    progress: &Progress,
    warmup: Duration,
    duration: Duration,
    stop: &mpsc::Receiver<()>,
) -> io::Result<Window> {
    let start = loop {
        if let Some(at) = progress.clock_started() {
            break at;
        }
        if let Err(mpsc::RecvTimeoutError::Disconnected) =
            stop.recv_timeout(Duration::from_millis(2))
        {
            // The run ended before its clock started (it failed to set up).
            break Instant::now();
        }
    };
    let until = |deadline: Instant, stop: &mpsc::Receiver<()>| {
        let wait = deadline.saturating_duration_since(Instant::now());
        !matches!(
            stop.recv_timeout(wait),
            Err(mpsc::RecvTimeoutError::Disconnected)
        )
    };
    // If the run ends during the warm-up, the window is what is left of it.
    until(start + warmup, stop);
    let first = Sample::read(pid)?;
    let client_first = Sample::read(std::process::id())?;
    let first_at = Instant::now();
    let end = start + warmup + duration;
    let mut max_threads = first.threads;
    let last = loop {
        let next = (Instant::now() + Duration::from_millis(100)).min(end);
        let going = until(next, stop);
        let sample = Sample::read(pid)?;
        max_threads = max_threads.max(sample.threads);
        if !going || Instant::now() >= end {
            break sample;
        }
    };
    let client_last = Sample::read(std::process::id())?;
    Ok(Window {
        client_cpu: client_last.cpu.saturating_sub(client_first.cpu),
        first,
        last,
        elapsed: first_at.elapsed(),
        max_threads,
    })
}
