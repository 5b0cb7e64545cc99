//! What one `compare` run measured: the rows of each scenario, written to
//! `results/<timestamp>/results.json` and drawn by [`chart`](super::chart).

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
    /// What was measured, or why nothing was.
    pub outcome: Outcome,
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
    /// The load generator's full report (percentiles, errors by kind, background).
    pub report: Report,
}

impl Row {
    /// The measurement, if the row has one.
    pub fn measured(&self) -> Option<&Measured> {
        match &self.outcome {
            Outcome::Measured(m) => Some(m),
            _ => None,
        }
    }
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
        requests_per_connection: None,
        tls: false,
        handshakes: crate::loadgen::Handshakes::default(),
        capped: false,
        background: Background::default(),
        probes: None,
    };
    Row {
        server: server.into(),
        outcome: Outcome::Measured(Box::new(Measured {
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
            report,
        })),
    }
}
