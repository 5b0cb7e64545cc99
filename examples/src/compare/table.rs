//! The tables `compare` prints: one Markdown table per scenario, with ratios against the
//! references measured in the same run.

use std::fmt::Write as _;

use super::results::{Outcome, ScenarioResult};

/// The servers whose req/s the others are divided by, when they were measured in the
/// scenario: tokio (the reference for HTTP), redis-server (for RESP) and net.
pub const REFERENCES: [&str; 3] = ["tokio", "redis-server", "net"];

/// The table of one scenario, in Markdown: a heading, what it shows, one row per server,
/// then what happened to the background connections, if any.
///
/// `per_connection` adds a column with the resident memory each connection added.
pub fn scenario(result: &ScenarioResult, per_connection: bool) -> String {
    scenario_against(result, per_connection, None)
}

/// [`scenario`], and for an attack scenario its `baseline` (the same load alone,
/// measured in the same run): a column `× alone` with each server's req/s over its own
/// in the baseline. When the rows were probed, two columns more: the probes answered
/// over those sent, and the slowest probe's latency.
pub fn scenario_against(
    result: &ScenarioResult,
    per_connection: bool,
    baseline: Option<&ScenarioResult>,
) -> String {
    let alone = |server: &str| {
        let row = baseline?.rows.iter().find(|r| r.server == server)?;
        let rate = row.measured()?.req_per_s;
        (rate > 0.0).then_some(rate)
    };
    let probed = result
        .rows
        .iter()
        .any(|r| r.measured().is_some_and(|m| m.report.probes.is_some()));
    let refs: Vec<(&str, f64)> = REFERENCES
        .iter()
        .filter_map(|&name| {
            let row = result.rows.iter().find(|r| r.server == name)?;
            let rate = row.measured()?.req_per_s;
            (rate > 0.0).then_some((name, rate))
        })
        .collect();
    let mut s = String::new();
    let _ = writeln!(s, "### {} (`{}`)\n", result.title, result.name);
    let _ = writeln!(s, "{}\n", result.about);
    let mut header = vec!["server".to_owned(), "req/s".to_owned()];
    header.extend(refs.iter().map(|(name, _)| format!("× {name}")));
    if baseline.is_some() {
        header.push("× alone".to_owned());
    }
    header.extend(["p50 ms", "p99 ms", "errors"].map(str::to_owned));
    if probed {
        header.extend(["probes ok/sent", "probe max ms"].map(str::to_owned));
    }
    header.extend(
        [
            "CPU µs/req",
            "CPU cores",
            "client cores",
            "peak RSS MiB",
            "threads",
        ]
        .map(str::to_owned),
    );
    if per_connection {
        header.push("RSS/conn B".to_owned());
    }
    let _ = writeln!(s, "| {} |", header.join(" | "));
    let _ = writeln!(s, "|{}", " --- |".repeat(header.len()));
    for row in &result.rows {
        let mut cells = vec![row.server.clone()];
        match &row.outcome {
            Outcome::Measured(m) => {
                cells.push(format!("{:.0}", m.req_per_s));
                cells.extend(refs.iter().map(|&(_, r)| format!("{:.2}", m.req_per_s / r)));
                if baseline.is_some() {
                    let ratio = alone(&row.server).map(|r| m.req_per_s / r);
                    cells.push(ratio.map_or("–".to_owned(), |x| format!("{x:.2}")));
                }
                cells.push(format!("{:.2}", m.p50_us as f64 / 1000.0));
                cells.push(format!("{:.2}", m.p99_us as f64 / 1000.0));
                cells.push(m.errors.to_string());
                if probed {
                    match &m.report.probes {
                        Some(p) => {
                            let ok = format!("{}/{}", p.answered, p.sent);
                            // Bold when a probe was not answered in time.
                            cells.push(if p.all_answered() {
                                ok
                            } else {
                                format!("**{ok}**")
                            });
                            cells.push(p.latency_max_us.map_or("–".to_owned(), |us| {
                                format!("{:.2}", us as f64 / 1000.0)
                            }));
                        }
                        None => cells.extend(["–".to_owned(), "–".to_owned()]),
                    }
                }
                cells.push(
                    m.cpu_us_per_req
                        .map_or("–".to_owned(), |c| format!("{c:.1}")),
                );
                cells.push(format!("{:.2}", m.cpu_cores));
                cells.push(format!("{:.2}", m.client_cores));
                cells.push(format!("{:.1}", m.peak_rss_bytes as f64 / (1 << 20) as f64));
                cells.push(m.threads.to_string());
                if per_connection {
                    let b = m.rss_per_connection_bytes;
                    cells.push(b.map_or("–".to_owned(), |b| format!("{b:.0}")));
                }
            }
            Outcome::Skipped(why) | Outcome::Failed(why) => {
                let word = if matches!(row.outcome, Outcome::Skipped(_)) {
                    "skipped"
                } else {
                    "**failed**"
                };
                cells.push(format!("{word}: {why}"));
                cells.resize(header.len(), String::new());
            }
        }
        let _ = writeln!(s, "| {} |", cells.join(" | "));
    }
    let background: Vec<String> = result
        .rows
        .iter()
        .filter_map(|row| {
            let report = &row.measured()?.report;
            let mut lines: Vec<String> = report.background.summaries().collect();
            if report.tls {
                let h = report.handshakes;
                lines.push(format!(
                    "TLS handshakes in the measured time: {} full, {} resumed",
                    h.full, h.resumed
                ));
            }
            (!lines.is_empty()).then(|| format!("- {}: {}", row.server, lines.join("; ")))
        })
        .collect();
    if !background.is_empty() {
        let _ = writeln!(s, "\nBackground connections, TLS handshakes:\n");
        for line in background {
            let _ = writeln!(s, "{line}");
        }
    }
    s
}

/// The legend printed once under the tables.
pub fn legend(cpus: usize) -> String {
    format!(
        "req/s: requests answered correctly per second (every response is checked). \
         × tokio, × redis-server, × net: req/s over theirs in the same scenario and run. \
         × alone (attack scenarios): the server's req/s over its own in the attack's \
         baseline (the same load without attackers) in the same run. Probes ok/sent: fresh \
         connections opened every 100 ms, each answered right within 1 s or not (bold \
         when one was not); probe max: the slowest answered, from its connection attempt. \
         p50/p99: latency from the request's write to its checked answer. \
         CPU: the server's user + system time over the measured time (all threads, from \
         /proc), per request and in cores. Client cores: the load generator's CPU over \
         the same time (its measured connections run on one thread: near 1.0, the client \
         is the limit, as with a new connection per request). Peak RSS: VmHWM. Threads: \
         the most seen. \
         RSS/conn: resident memory the connections added, per connection. \
         The load generator (one thread) shares the machine's {cpus} CPUs with the server."
    )
}

#[cfg(test)]
mod tests {
    use super::super::results::{sample_row, Row};
    use super::*;

    fn measured(req_per_s: f64) -> Outcome {
        let mut row = sample_row("x", req_per_s, 12_000, 0);
        if let Outcome::Measured(m) = &mut row.outcome {
            m.p50_us = 1500;
            m.cpu_us_per_req = Some(9.25);
            m.peak_rss_bytes = 3 << 20;
            m.threads = 3;
            m.rss_per_connection_bytes = Some(512.4);
        }
        row.outcome
    }

    fn row(server: &str, outcome: Outcome) -> Row {
        Row {
            server: server.to_owned(),
            outcome,
        }
    }

    #[test]
    fn ratios_against_the_references_measured() {
        let result = ScenarioResult {
            name: "http-50".to_owned(),
            title: "HTTP".to_owned(),
            about: "About.".to_owned(),
            rows: vec![
                row("tokio", measured(100_000.0)),
                row("hyper", Outcome::Skipped("not built".to_owned())),
                row("net", measured(50_000.0)),
                row("evnet", measured(80_000.0)),
            ],
        };
        let table = scenario(&result, true);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("### HTTP (`http-50`)"), "{table}");
        assert!(table.contains("| server | req/s | × tokio | × net | p50 ms |"));
        assert!(table.contains("| evnet | 80000 | 0.80 | 1.60 | 1.50 | 12.00 | 0 | 9.2 |"));
        assert!(table.contains("| 3.0 | 3 | 512 |"), "{table}");
        assert!(table.contains("| hyper | skipped: not built |"), "{table}");
        // Every row has as many cells as the header.
        let cells = |l: &str| l.matches('|').count();
        let header = lines.iter().find(|l| l.starts_with("| server")).unwrap();
        for l in lines.iter().filter(|l| l.starts_with("| ")) {
            assert_eq!(cells(l), cells(header), "{l}");
        }
    }

    #[test]
    fn attack_tables_divide_by_the_baseline_and_count_probes() {
        let probed = |rate: f64, answered: u64| {
            let mut outcome = measured(rate);
            if let Outcome::Measured(m) = &mut outcome {
                m.report.probes = Some(crate::loadgen::Probes {
                    interval_s: 0.1,
                    sent: 10,
                    answered,
                    failed: 10 - answered,
                    timed_out: 10 - answered,
                    latency_p50_us: Some(300),
                    latency_max_us: (answered > 0).then_some(2_500),
                });
            }
            outcome
        };
        let baseline = ScenarioResult {
            name: "atk-base-http".to_owned(),
            title: "Base".to_owned(),
            about: String::new(),
            rows: vec![
                row("net", probed(40_000.0, 10)),
                row("evnet", probed(80_000.0, 10)),
            ],
        };
        let attack = ScenarioResult {
            name: "atk-expect".to_owned(),
            title: "Attack".to_owned(),
            about: String::new(),
            rows: vec![
                row("net", probed(30_000.0, 10)),
                row("evnet", probed(20_000.0, 0)),
                row("evnet-inline", probed(10_000.0, 10)),
            ],
        };
        let table = scenario_against(&attack, false, Some(&baseline));
        assert!(
            table.contains(
                "| server | req/s | × net | × alone | p50 ms | p99 ms | errors | \
                 probes ok/sent | probe max ms | CPU µs/req |"
            ),
            "{table}"
        );
        assert!(
            table.contains("| net | 30000 | 1.00 | 0.75 | 1.50 | 12.00 | 0 | 10/10 | 2.50 |"),
            "{table}"
        );
        assert!(
            table.contains("| evnet | 20000 | 0.67 | 0.25 | 1.50 | 12.00 | 0 | **0/10** | – |"),
            "{table}"
        );
        // No baseline row for this server: no ratio.
        assert!(
            table.contains("| evnet-inline | 10000 | 0.33 | – |"),
            "{table}"
        );
        let lines: Vec<&str> = table.lines().filter(|l| l.starts_with("| ")).collect();
        for l in &lines {
            assert_eq!(l.matches('|').count(), lines[0].matches('|').count(), "{l}");
        }
        // The baseline's own table has the probes and no × alone.
        let base = scenario(&baseline, false);
        assert!(!base.contains("× alone"), "{base}");
        assert!(base.contains("| 10/10 |"), "{base}");
    }

    #[test]
    fn no_reference_no_ratio_column() {
        let result = ScenarioResult {
            name: "echo".to_owned(),
            title: "Echo".to_owned(),
            about: String::new(),
            rows: vec![
                row("net", Outcome::Failed("exited".to_owned())),
                row("evnet", measured(1.0)),
            ],
        };
        let table = scenario(&result, false);
        assert!(!table.contains('×'), "{table}");
        assert!(table.contains("| net | **failed**: exited |"), "{table}");
    }
}
