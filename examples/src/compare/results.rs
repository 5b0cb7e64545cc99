//! What one `compare` run measured: the rows of each scenario, written to
//! `results/<timestamp>/results.json` and drawn by [`chart`](super::chart).
//!
//! With `--rounds N` every row keeps each round's [`Outcome`] in [`Row::rounds`], and
//! its [`Row::outcome`] sums them up ([`Row::over_rounds`]): the median of each figure
//! over the measured rounds.

use serde::Serialize;

use crate::loadgen::Report;

/// Everything one `compare` run measured, in the order it ran.
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    /// When the run started, UTC, as `YYYY-MM-DDTHH:MM:SSZ`.
    pub started: String,
    /// Whether this was a `--quick` run (shorter runs, fewer connections).
    pub quick: bool,
    /// Logical CPUs of the machine (the servers and the load generator share them).
    pub cpus: usize,
    /// How many times each scenario × server ran (`--rounds`), interleaved: round 1 of
    /// every scenario and server, then round 2, …
    pub rounds: usize,
    /// The scenarios, in the order they ran.
    pub scenarios: Vec<ScenarioResult>,
}

/// One scenario: the same load against each server.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    /// Short name, as given to `--scenarios`: `http-50`, `idle`, `blocking`, …
    pub name: String,
    /// One-line title for tables and the chart: `HTTP keep-alive, 50 connections`.
    pub title: String,
    /// What the scenario shows, in a sentence or two.
    pub about: String,
    /// One row per server, in the order they ran.
    pub rows: Vec<Row>,
}

/// One server under one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The server, as [`ServerId::name`](super::server::ServerId::name) spells it:
    /// `net`, `net-64t`, `evnet`, `evnet-inline`, `evnet-64w`, `epoll-floor`, `tokio`,
    /// `hyper`, `redis-server`.
    pub server: String,
    /// What was measured, or why nothing was: with one round, that round's outcome;
    /// with more, their summary (see [`Row::over_rounds`]).
    pub outcome: Outcome,
    /// Each round's outcome, in the order they ran (one with `--rounds 1`).
    pub rounds: Vec<Outcome>,
}

/// A row's measurement, or the reason there is none.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The server ran and was loaded.
    Measured(Box<Measured>),
    /// The server was not run: its binary is missing, or the scenario does not apply
    /// to it. The reason is shown in the table.
    Skipped(String),
    /// The server failed to start or died during the run.
    Failed(String),
}

/// The figures of one measured row.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    /// Requests answered correctly per second (measured time only).
    pub req_per_s: f64,
    /// Median latency, µs.
    pub p50_us: u64,
    /// 99th percentile latency, µs.
    pub p99_us: u64,
    /// Errors of every kind (a wrong answer counts as an error, never a success).
    pub errors: u64,
    /// The server's CPU time (user + system, all threads, from `/proc/PID/stat`) over
    /// the measured time, divided by the requests answered; `None` with no requests.
    pub cpu_us_per_req: Option<f64>,
    /// The server's CPU use over the measured time, in cores (1.0 = one core busy).
    pub cpu_cores: f64,
    /// The load generator's (this process's) CPU use over the same time, in cores. Its
    /// measured connections run on one thread: near 1.0, the client is the limit and
    /// the req/s say more about it than about the server.
    pub client_cores: f64,
    /// The server's peak resident memory (`VmHWM`), bytes.
    pub peak_rss_bytes: u64,
    /// The server's resident memory at the end of the measured time, bytes.
    pub rss_bytes: u64,
    /// The most threads the server had while it was sampled.
    pub threads: u64,
    /// Resident memory the connections added, per connection: the RSS at the start of
    /// the measured time minus the RSS before the load generator connected, over the
    /// connections it opened (measured and background); `None` if the RSS went down.
    pub rss_per_connection_bytes: Option<f64>,
    /// The clients of a second population measured apart (the `mixed` scenario's
    /// blocking clients), if the scenario has one; every other figure of the row is
    /// the main clients' alone (the server's CPU and memory are the whole server's).
    pub slow: Option<SlowClients>,
    /// The load generator's full report (percentiles, errors by kind, background);
    /// in a summary of several rounds, the report of the median round (by req/s, the
    /// lower of the two middle ones for an even count).
    pub report: Report,
}

/// A second measured population, run beside a scenario's main clients by a second
/// load generator (in this process, on its own thread) and reported apart: in `mixed`,
/// the clients whose requests block in the handler.
///
/// It starts before the main clients and measures a little longer
/// ([`SLOW_MARGIN`](super::scenario::SLOW_MARGIN)), so that it presses over the whole
/// of the main clients' measured time; its figures are over its own measured time.
#[derive(Debug, Clone, Serialize)]
pub struct SlowClients {
    /// Their request target: `/work?ms=10`.
    pub path: String,
    /// Their connections (one request in flight on each).
    pub connections: usize,
    /// Their requests answered correctly per second.
    pub req_per_s: f64,
    /// Their median latency, µs.
    pub p50_us: u64,
    /// Their 99th percentile latency, µs.
    pub p99_us: u64,
    /// Their errors of every kind.
    pub errors: u64,
    /// Their load generator's report; in a summary, the median round's.
    pub report: Report,
}

impl Outcome {
    /// The measurement, if there is one.
    pub fn measured(&self) -> Option<&Measured> {
        match self {
            Outcome::Measured(m) => Some(m),
            _ => None,
        }
    }
}

impl Row {
    /// The measurement, if the row has one (the summary of its rounds).
    pub fn measured(&self) -> Option<&Measured> {
        self.outcome.measured()
    }

    /// The row of `server` over `rounds`, each round's outcome in order. Its
    /// [`outcome`](Row::outcome) is the one round's with one round; with more, if any
    /// round was measured, a [`Measured`] whose figures are over the measured rounds:
    /// the median of req/s, p50, p99, CPU per request, CPU cores, client cores, RSS and
    /// RSS per connection (and of the [`SlowClients`]' req/s, p50 and p99), the sum of
    /// the errors, the largest peak RSS and thread count, and the median round's report.
    /// With no round measured, the first failure, else the first skip.
    ///
    /// ```
    /// use examples::compare::results::{Outcome, Row};
    /// let row = Row::over_rounds("net", vec![Outcome::Failed("died".into())]);
    /// assert!(row.measured().is_none());
    /// assert_eq!(row.rounds.len(), 1);
    /// ```
    pub fn over_rounds(server: &str, rounds: Vec<Outcome>) -> Row {
        Row {
            server: server.to_owned(),
            outcome: summarize(&rounds),
            rounds,
        }
    }

    /// Each round's outcome: [`Row::rounds`], or the summary alone for a row made
    /// without them.
    pub fn round_outcomes(&self) -> &[Outcome] {
        if self.rounds.is_empty() {
            std::slice::from_ref(&self.outcome)
        } else {
            &self.rounds
        }
    }

    /// The lowest and the highest req/s over the measured rounds.
    pub fn rate_range(&self) -> Option<(f64, f64)> {
        self.round_outcomes()
            .iter()
            .filter_map(Outcome::measured)
            .map(|m| m.req_per_s)
            .fold(None, |range, r| match range {
                None => Some((r, r)),
                Some((lo, hi)) => Some((f64::min(lo, r), f64::max(hi, r))),
            })
    }

    /// The rounds that failed.
    pub fn failed_rounds(&self) -> usize {
        self.round_outcomes()
            .iter()
            .filter(|o| matches!(o, Outcome::Failed(_)))
            .count()
    }
}

/// The median of `values` (the mean of the two middle ones for an even count); `None`
/// when there is none. NaNs sort last.
///
/// ```
/// use examples::compare::results::median;
/// assert_eq!(median([3.0, 1.0, 2.0]), Some(2.0));
/// assert_eq!(median([4.0, 1.0]), Some(2.5));
/// assert_eq!(median(std::iter::empty::<f64>()), None);
/// ```
pub fn median(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = values.into_iter().collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// The summary of a row's rounds (see [`Row::over_rounds`]).
fn summarize(rounds: &[Outcome]) -> Outcome {
    if let [one] = rounds {
        return one.clone();
    }
    let measured: Vec<&Measured> = rounds.iter().filter_map(Outcome::measured).collect();
    if measured.is_empty() {
        let failed = rounds.iter().find(|o| matches!(o, Outcome::Failed(_)));
        return failed
            .or(rounds.first())
            .cloned()
            .unwrap_or_else(|| Outcome::Skipped("no round ran".to_owned()));
    }
    let mut by_rate = measured.clone();
    by_rate.sort_by(|a, b| a.req_per_s.total_cmp(&b.req_per_s));
    let middle = by_rate[(by_rate.len() - 1) / 2];
    let med = |f: &dyn Fn(&Measured) -> f64| median(measured.iter().map(|m| f(m))).unwrap_or(0.0);
    let med_us = |f: &dyn Fn(&Measured) -> u64| med(&|m| f(m) as f64).round() as u64;
    let med_some =
        |f: &dyn Fn(&Measured) -> Option<f64>| median(measured.iter().filter_map(|m| f(m)));
    let slows: Vec<&SlowClients> = measured.iter().filter_map(|m| m.slow.as_ref()).collect();
    let slow = middle.slow.as_ref().map(|s| {
        let med =
            |f: &dyn Fn(&SlowClients) -> f64| median(slows.iter().map(|c| f(c))).unwrap_or(0.0);
        SlowClients {
            req_per_s: med(&|c| c.req_per_s),
            p50_us: med(&|c| c.p50_us as f64).round() as u64,
            p99_us: med(&|c| c.p99_us as f64).round() as u64,
            errors: slows.iter().map(|c| c.errors).sum(),
            ..s.clone()
        }
    });
    Outcome::Measured(Box::new(Measured {
        req_per_s: med(&|m| m.req_per_s),
        p50_us: med_us(&|m| m.p50_us),
        p99_us: med_us(&|m| m.p99_us),
        errors: measured.iter().map(|m| m.errors).sum(),
        cpu_us_per_req: med_some(&|m| m.cpu_us_per_req),
        cpu_cores: med(&|m| m.cpu_cores),
        client_cores: med(&|m| m.client_cores),
        peak_rss_bytes: measured.iter().map(|m| m.peak_rss_bytes).max().unwrap_or(0),
        rss_bytes: med_us(&|m| m.rss_bytes),
        threads: measured.iter().map(|m| m.threads).max().unwrap_or(0),
        rss_per_connection_bytes: med_some(&|m| m.rss_per_connection_bytes),
        slow,
        report: middle.report.clone(),
    }))
}

/// A measured row of `server` with these figures, for tests.
#[cfg(test)]
pub(crate) fn sample_row(server: &str, req_per_s: f64, p99_us: u64, errors: u64) -> Row {
    use crate::loadgen::{Background, Errors, Latency};
    let report = Report {
        proto: "http".into(),
        addr: "127.0.0.1:8080".into(),
        connections: 50,
        threads: 2,
        pipeline: 1,
        rate: None,
        warmup_s: 1.0,
        elapsed_s: 10.0,
        requests: (req_per_s * 10.0) as u64,
        req_per_s,
        latency_us: Latency {
            p50: p99_us / 3,
            p99: p99_us,
            ..Latency::default()
        },
        errors: Errors {
            timeout: errors,
            ..Errors::default()
        },
        errors_total: errors,
        reconnects: 0,
        retried: 0,
        requests_per_connection: None,
        tls: false,
        handshakes: crate::loadgen::Handshakes::default(),
        capped: false,
        background: Background::default(),
        probes: None,
    };
    let outcome = Outcome::Measured(Box::new(Measured {
        req_per_s,
        p50_us: p99_us / 3,
        p99_us,
        errors,
        cpu_us_per_req: Some(12.0),
        cpu_cores: 1.5,
        client_cores: 0.9,
        peak_rss_bytes: 10 << 20,
        rss_bytes: 8 << 20,
        threads: 4,
        rss_per_connection_bytes: Some(20_000.0),
        slow: None,
        report,
    }));
    Row {
        server: server.into(),
        rounds: vec![outcome.clone()],
        outcome,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(req_per_s: f64, p99_us: u64, errors: u64, threads: u64) -> Outcome {
        let mut outcome = sample_row("x", req_per_s, p99_us, errors).outcome;
        if let Outcome::Measured(m) = &mut outcome {
            m.threads = threads;
        }
        outcome
    }

    #[test]
    fn a_row_over_rounds_takes_medians_sums_errors_and_keeps_every_round() {
        let rounds = vec![
            round(100.0, 3_000, 0, 4),
            round(300.0, 1_000, 2, 9),
            Outcome::Failed("died".to_owned()),
            round(200.0, 2_000, 1, 5),
        ];
        let row = Row::over_rounds("evnet", rounds);
        assert_eq!(row.rounds.len(), 4);
        let m = row.measured().unwrap();
        assert_eq!(m.req_per_s, 200.0);
        assert_eq!(m.p99_us, 2_000);
        assert_eq!(m.errors, 3);
        assert_eq!(m.threads, 9);
        // The median round's report.
        assert_eq!(m.report.req_per_s, 200.0);
        assert_eq!(row.rate_range(), Some((100.0, 300.0)));
        assert_eq!(row.failed_rounds(), 1);
        // An even count: the mean of the two middle ones, the lower round's report.
        let row = Row::over_rounds(
            "net",
            vec![round(100.0, 1_000, 0, 1), round(300.0, 2_001, 0, 1)],
        );
        let m = row.measured().unwrap();
        assert_eq!(
            (m.req_per_s, m.p99_us, m.report.req_per_s),
            (200.0, 1_501, 100.0)
        );
    }

    #[test]
    fn a_row_without_a_measured_round_is_its_first_failure_or_skip() {
        let skipped = Outcome::Skipped("not built".to_owned());
        let failed = Outcome::Failed("died".to_owned());
        let row = Row::over_rounds("tokio", vec![skipped.clone(), failed]);
        assert!(matches!(&row.outcome, Outcome::Failed(why) if why == "died"));
        let row = Row::over_rounds("tokio", vec![skipped.clone(), skipped]);
        assert!(matches!(&row.outcome, Outcome::Skipped(why) if why == "not built"));
        assert_eq!(row.rate_range(), None);
        let row = Row::over_rounds("tokio", Vec::new());
        assert!(matches!(row.outcome, Outcome::Skipped(_)));
    }
}
