//! The tables `compare` prints: one Markdown table per scenario, with ratios against the
//! references measured in the same run.

use std::fmt::Write as _;

use super::results::{median, Outcome, Row, ScenarioResult};

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

/// [`scenario`], and for a scenario with a `baseline` (an attack scenario, `mixed`: the
/// same load alone, measured in the same run) a column `× alone` with each server's
/// req/s over its own in the baseline. When the rows were probed, two columns more: the
/// probes answered over those sent, and the slowest probe's latency. When the rows
/// have a second measured population ([`SlowClients`](super::results::SlowClients)),
/// its req/s and p99.
///
/// With several rounds, every figure is the row's summary (the median over its
/// measured rounds, see [`Row::over_rounds`](super::results::Row::over_rounds)), a
/// `spread` column follows req/s (its lowest–highest over the rounds and half that
/// range over the median, with the rounds that failed), and each ratio is taken round
/// by round (against the reference or the baseline of the same round) before its
/// median is shown.
pub fn scenario_against(
    result: &ScenarioResult,
    per_connection: bool,
    baseline: Option<&ScenarioResult>,
) -> String {
    let alone = |row: &Row| {
        let base = baseline?.rows.iter().find(|r| r.server == row.server)?;
        median_ratio(row, base)
    };
    let probed = result
        .rows
        .iter()
        .any(|r| r.measured().is_some_and(|m| m.report.probes.is_some()));
    let slow = result
        .rows
        .iter()
        .any(|r| r.measured().is_some_and(|m| m.slow.is_some()));
    let rounds = result
        .rows
        .iter()
        .map(|r| r.round_outcomes().len())
        .max()
        .unwrap_or(1);
    let refs: Vec<&Row> = REFERENCES
        .iter()
        .filter_map(|&name| {
            let row = result.rows.iter().find(|r| r.server == name)?;
            (row.measured()?.req_per_s > 0.0).then_some(row)
        })
        .collect();
    let mut s = String::new();
    let _ = writeln!(s, "### {} (`{}`)\n", result.title, result.name);
    let _ = writeln!(s, "{}\n", result.about);
    if rounds > 1 {
        let _ = writeln!(
            s,
            "Medians of {rounds} rounds; ratios taken round by round.\n"
        );
    }
    let mut header = vec!["server".to_owned(), "req/s".to_owned()];
    if rounds > 1 {
        header.push("spread".to_owned());
    }
    header.extend(refs.iter().map(|r| format!("× {}", r.server)));
    if baseline.is_some() {
        header.push("× alone".to_owned());
    }
    header.extend(["p50 ms", "p99 ms", "errors"].map(str::to_owned));
    if slow {
        header.extend(["slow req/s", "slow p99 ms"].map(str::to_owned));
    }
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
    let ratio = |x: Option<f64>| x.map_or("–".to_owned(), |x| format!("{x:.2}"));
    for row in &result.rows {
        let mut cells = vec![row.server.clone()];
        match &row.outcome {
            Outcome::Measured(m) => {
                cells.push(format!("{:.0}", m.req_per_s));
                if rounds > 1 {
                    cells.push(spread(row, m.req_per_s));
                }
                cells.extend(refs.iter().map(|r| ratio(median_ratio(row, r))));
                if baseline.is_some() {
                    cells.push(ratio(alone(row)));
                }
                cells.push(format!("{:.2}", m.p50_us as f64 / 1000.0));
                cells.push(format!("{:.2}", m.p99_us as f64 / 1000.0));
                cells.push(m.errors.to_string());
                if slow {
                    match &m.slow {
                        Some(c) => {
                            let mut rate = format!("{:.0}", c.req_per_s);
                            if c.errors > 0 {
                                rate.push_str(&format!(" (**{} err**)", c.errors));
                            }
                            cells.push(rate);
                            cells.push(format!("{:.2}", c.p99_us as f64 / 1000.0));
                        }
                        None => cells.extend(["–".to_owned(), "–".to_owned()]),
                    }
                }
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
                let mut text = format!("{word}: {why}");
                if rounds > 1 && matches!(row.outcome, Outcome::Failed(_)) {
                    let n = row.round_outcomes().len();
                    let _ = write!(text, " ({} of {n} rounds failed)", row.failed_rounds());
                }
                cells.push(text);
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

/// The median over the rounds of `row`'s req/s over `against`'s in the same round
/// (rounds where either was not measured, or `against` answered nothing, are left out).
fn median_ratio(row: &Row, against: &Row) -> Option<f64> {
    let ratios = row
        .round_outcomes()
        .iter()
        .zip(against.round_outcomes())
        .filter_map(|(a, b)| {
            let (a, b) = (a.measured()?.req_per_s, b.measured()?.req_per_s);
            (b > 0.0).then(|| a / b)
        });
    median(ratios)
}

/// The spread cell of a row measured in several rounds: `95.1k–103k ±4%` (lowest and
/// highest req/s to three figures, half the range over the median), `1 round` when
/// only one was measured, and the rounds that failed.
fn spread(row: &Row, median_rate: f64) -> String {
    let measured = row
        .round_outcomes()
        .iter()
        .filter(|o| o.measured().is_some())
        .count();
    let mut cell = match row.rate_range() {
        Some((lo, hi)) if measured > 1 => {
            let half = if median_rate > 0.0 {
                let percent = (hi - lo) / 2.0 / median_rate * 100.0;
                if percent < 9.95 {
                    format!(" ±{percent:.1}%")
                } else {
                    format!(" ±{percent:.0}%")
                }
            } else {
                String::new()
            };
            format!("{}–{}{half}", three_figures(lo), three_figures(hi))
        }
        _ => format!("{measured} round"),
    };
    let failed = row.failed_rounds();
    if failed > 0 {
        let _ = write!(cell, " (**{failed} failed**)");
    }
    cell
}

/// Requests per second to three significant figures: `850`, `1.86k`, `95.9k`, `325k`,
/// `1.54M`.
fn three_figures(per_s: f64) -> String {
    let scaled = |x: f64, unit: &str| {
        let decimals = if x < 9.995 {
            2
        } else if x < 99.95 {
            1
        } else {
            0
        };
        format!("{x:.decimals$}{unit}")
    };
    if per_s < 999.5 {
        format!("{per_s:.0}")
    } else if per_s < 999_500.0 {
        scaled(per_s / 1e3, "k")
    } else {
        scaled(per_s / 1e6, "M")
    }
}

/// The legend printed once under the tables.
pub fn legend(cpus: usize) -> String {
    format!(
        "req/s: requests answered correctly per second (every response is checked). \
         × tokio, × redis-server, × net: req/s over theirs in the same scenario and run. \
         × alone (attack scenarios, mixed): the server's req/s over its own in the \
         scenario's baseline (the same load without attackers or blocking clients) in \
         the same run. With --rounds N: every figure is the median over the rounds, each \
         ratio the median of the ratios taken round by round (against the reference or \
         the baseline of the same round), and spread gives the lowest and highest req/s \
         and half that range over the median. Slow req/s, slow p99 (mixed): the clients \
         whose requests block, measured apart; the other figures are the quick clients'. \
         Probes ok/sent: fresh \
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
        Row::over_rounds(server, vec![outcome])
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
    fn rounds_show_medians_a_spread_and_ratios_taken_round_by_round() {
        let rounds = |server: &str, rates: &[f64]| {
            Row::over_rounds(server, rates.iter().map(|&r| measured(r)).collect())
        };
        let mut failed_once = rounds("evnet-inline", &[90_000.0]);
        failed_once.rounds.push(Outcome::Failed("died".to_owned()));
        let result = ScenarioResult {
            name: "mixed".to_owned(),
            title: "Mixed".to_owned(),
            about: String::new(),
            rows: vec![
                rounds("tokio", &[100_000.0, 200_000.0]),
                rounds("evnet", &[50_000.0, 200_000.0]),
                failed_once,
            ],
        };
        let baseline = ScenarioResult {
            name: "mixed-base".to_owned(),
            title: "Base".to_owned(),
            about: String::new(),
            rows: vec![
                rounds("tokio", &[100_000.0, 100_000.0]),
                rounds("evnet", &[100_000.0, 400_000.0]),
            ],
        };
        let table = scenario_against(&result, false, Some(&baseline));
        assert!(table.contains("Medians of 2 rounds"), "{table}");
        assert!(
            table.contains("| server | req/s | spread | × tokio | × alone | p50 ms |"),
            "{table}"
        );
        // evnet: median 125,000; × tokio the median of 0.5 and 1.0 (not 125k/150k);
        // × alone the median of 0.5 and 0.5.
        assert!(
            table.contains("| evnet | 125000 | 50.0k–200k ±60% | 0.75 | 0.50 | 1.50 |"),
            "{table}"
        );
        assert!(
            // × alone: the median of 1.0 and 2.0; then p50 and p99.
            table.contains("| tokio | 150000 | 100k–200k ±33% | 1.00 | 1.50 | 1.50 | 12.00 |"),
            "{table}"
        );
        // One round measured, one failed: its figures, the failure said; no ratio to
        // tokio's second round, no baseline row.
        assert!(
            table.contains("| evnet-inline | 90000 | 1 round (**1 failed**) | 0.90 | – |"),
            "{table}"
        );
        let lines: Vec<&str> = table.lines().filter(|l| l.starts_with("| ")).collect();
        for l in &lines {
            assert_eq!(l.matches('|').count(), lines[0].matches('|').count(), "{l}");
        }
    }

    #[test]
    fn spreads_have_three_figures() {
        let cases = [
            (0.0, "0"),
            (850.4, "850"),
            (999.7, "1.00k"),
            (1_862.0, "1.86k"),
            (9_996.0, "10.0k"),
            (95_940.0, "95.9k"),
            (99_960.0, "100k"),
            (325_214.0, "325k"),
            (999_600.0, "1.00M"),
            (1_596_128.0, "1.60M"),
            (12_345_678.0, "12.3M"),
        ];
        for (rate, text) in cases {
            assert_eq!(three_figures(rate), text, "{rate}");
        }
        let row = Row::over_rounds("net", vec![measured(96_000.0), measured(97_000.0)]);
        assert_eq!(spread(&row, 96_500.0), "96.0k–97.0k ±0.5%");
    }

    #[test]
    fn a_second_population_has_its_own_columns() {
        let with_slow = |rate: f64, slow: Option<(f64, u64, u64)>| {
            let mut outcome = measured(rate);
            if let Outcome::Measured(m) = &mut outcome {
                m.slow =
                    slow.map(
                        |(req_per_s, p99_us, errors)| crate::compare::results::SlowClients {
                            path: "/work?ms=10".to_owned(),
                            connections: 5,
                            req_per_s,
                            p50_us: p99_us / 2,
                            p99_us,
                            errors,
                            report: m.report.clone(),
                        },
                    );
            }
            outcome
        };
        let result = ScenarioResult {
            name: "mixed".to_owned(),
            title: "Mixed".to_owned(),
            about: String::new(),
            rows: vec![
                row("net", with_slow(40_000.0, Some((480.0, 11_000, 0)))),
                row("evnet", with_slow(2_000.0, Some((450.0, 25_000, 3)))),
                row("tokio", with_slow(1_000.0, None)),
            ],
        };
        let table = scenario(&result, false);
        assert!(
            table.contains("| p99 ms | errors | slow req/s | slow p99 ms | CPU µs/req |"),
            "{table}"
        );
        assert!(table.contains("| 0 | 480 | 11.00 | 9.2 |"), "{table}");
        assert!(table.contains("| 0 | 450 (**3 err**) | 25.00 |"), "{table}");
        assert!(table.contains("| 0 | – | – | 9.2 |"), "{table}");
        assert!(!table.contains("spread"), "one round: {table}");
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
