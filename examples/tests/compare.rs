//! `compare` end to end, with tiny durations: the tables, `results.json`, `tables.md` and
//! `chart.svg` exist and parse; every child server is gone afterwards, also after
//! SIGINT; bad flags exit with 2. No timing is asserted.
//!
//! The servers of this build are copied into a private directory laid out as `compare`
//! expects (`net/` or `evnet/`, by the `evented` feature; the references when built), so
//! that processes started from it can be found in `/proc` afterwards.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("compare-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The path of an optional binary (a reference server behind a feature), if it was
/// built: cargo may name a binary target whose required features are off.
fn optional_bin(path: Option<&'static str>) -> Option<&'static str> {
    path.filter(|p| Path::new(p).exists())
}

/// Lay out this build's server binaries in `dir/bins`; returns that directory.
fn bins(dir: &Path) -> PathBuf {
    let bins = dir.join("bins");
    let kind = bins.join(examples::SERVER_KIND);
    std::fs::create_dir_all(&kind).unwrap();
    for (name, path) in [
        ("http", env!("CARGO_BIN_EXE_http")),
        ("echo", env!("CARGO_BIN_EXE_echo")),
        ("resp", env!("CARGO_BIN_EXE_resp")),
    ] {
        std::fs::copy(path, kind.join(name)).unwrap();
    }
    for (name, path) in [
        (
            "tokio_http",
            optional_bin(option_env!("CARGO_BIN_EXE_tokio_http")),
        ),
        (
            "hyper_http",
            optional_bin(option_env!("CARGO_BIN_EXE_hyper_http")),
        ),
    ] {
        if let Some(path) = path {
            std::fs::copy(path, bins.join(name)).unwrap();
        }
    }
    bins
}

fn compare(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_compare"));
    cmd.arg("--no-build")
        .arg("--bin-dir")
        .arg(bins(dir))
        .arg("--out")
        .arg(dir.join("out"))
        .args(args)
        .stdin(Stdio::null());
    cmd
}

/// Wait for `child` at most `limit`, killing it (and the servers it started from `dir`)
/// if it takes longer.
fn wait(child: &mut Child, limit: Duration, dir: &Path) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            // Its servers too: compare was killed without the chance to.
            for pid in processes_under(dir)
                .iter()
                .filter_map(|p| p.split(':').next())
            {
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
            panic!("compare did not finish in {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Run compare with `args` to its end (at most `limit`): it must succeed and leave no
/// server running. Returns its standard output (read after exit: a few kilobytes).
fn run_compare(dir: &Path, args: &[&str], limit: Duration) -> String {
    let mut child = compare(dir, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait(&mut child, limit, dir);
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(status.success(), "{status:?}\n{stdout}\n{stderr}");
    assert!(
        processes_under(dir).is_empty(),
        "{:?}",
        processes_under(dir)
    );
    stdout
}

/// Processes whose executable is under `dir`.
fn processes_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(exe) = std::fs::read_link(entry.path().join("exe")) {
            if exe.starts_with(dir) {
                found.push(format!("{name}: {}", exe.display()));
            }
        }
    }
    found
}

/// The one run directory `compare` made in `out`.
fn run_dir(out: &Path) -> PathBuf {
    let dirs: Vec<_> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.into_iter().next().unwrap()
}

#[test]
fn quick_scenarios_write_tables_json_and_chart_and_leave_no_server() {
    let dir = TempDir::new("e2e");
    // In the order compare runs them.
    let mut scenarios = vec!["http-50", "non-readers", "blocking"];
    let serves_tls = examples::compare::server::ServerId::from_name(examples::SERVER_KIND)
        .is_some_and(|s| s.serves_tls());
    if cfg!(feature = "tls") && serves_tls {
        // This build's server takes --tls-cert.
        scenarios.push("https-new-resumed");
    }
    scenarios.extend(["resp-p16", "echo-2000"]);
    let stdout = run_compare(
        &dir.0,
        &[
            "--quick",
            // Long enough for a debug build's TLS handshakes on a busy 2-core machine to
            // answer requests in the measured window (300 ms once measured none).
            "--duration",
            "1s",
            "--warmup",
            "300ms",
            "--scenarios",
            &scenarios.join(","),
        ],
        Duration::from_secs(240),
    );

    for name in &scenarios {
        assert!(stdout.contains(&format!("(`{name}`)")), "{name}: {stdout}");
    }
    let run = run_dir(&dir.0.join("out"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap();
    assert_eq!(json["quick"], true);
    let got: Vec<&str> = json["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(got, scenarios);
    let kind = examples::SERVER_KIND;
    for s in json["scenarios"].as_array().unwrap() {
        // Every scenario has a row this build measured.
        assert!(
            s["rows"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["outcome"]["measured"].is_object()),
            "{}: nothing measured",
            s["name"]
        );
        for row in s["rows"].as_array().unwrap() {
            let server = row["server"].as_str().unwrap();
            let outcome = &row["outcome"];
            let built = server == kind
                || server.starts_with(&format!("{kind}-"))
                || (server == "tokio"
                    && optional_bin(option_env!("CARGO_BIN_EXE_tokio_http")).is_some())
                || (server == "hyper"
                    && optional_bin(option_env!("CARGO_BIN_EXE_hyper_http")).is_some());
            let is_other = ["redis-server", "epoll-floor"].contains(&server);
            let no_tls = outcome["skipped"]
                .as_str()
                .is_some_and(|why| why.contains("does not serve TLS"));
            if built && !no_tls {
                let m = &outcome["measured"];
                assert!(m.is_object(), "{}/{server}: {outcome}", s["name"]);
                assert!(m["report"]["requests"].as_u64().unwrap() > 0, "{m}");
                // Every response is checked: a correct server under this load has none.
                assert_eq!(m["errors"], 0, "{}/{server}: {m}", s["name"]);
                assert!(m["threads"].as_u64().unwrap() >= 1);
                assert!(m["peak_rss_bytes"].as_u64().unwrap() > 0);
                if m["report"]["tls"] == true {
                    // One handshake per request, and sessions resumed.
                    let resumed = m["report"]["handshakes"]["resumed"].as_u64().unwrap();
                    assert!(resumed > 0, "{}/{server}: {m}", s["name"]);
                }
            } else if !is_other && !no_tls {
                let why = outcome["skipped"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{row}"));
                assert!(why.contains("is not built"), "{why}");
            }
        }
    }
    let tables = std::fs::read_to_string(run.join("tables.md")).unwrap();
    assert!(tables.contains("| server | req/s |"), "{tables}");
    let svg = std::fs::read_to_string(run.join("chart.svg")).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
    assert!(svg.contains("HTTP keep-alive, 50 connections"));
    let logs = std::fs::read_dir(run.join("logs")).unwrap().count();
    assert!(logs >= scenarios.len(), "{logs} logs");
}

#[test]
fn sigint_kills_every_server() {
    let dir = TempDir::new("sigint");
    let mut child = compare(
        &dir.0,
        &[
            "--duration",
            "30s",
            "--warmup",
            "100ms",
            "--scenarios",
            "http-50",
            "--servers",
            examples::SERVER_KIND,
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    // Wait until the server runs: it is a process started from our directory.
    let deadline = Instant::now() + Duration::from_secs(60);
    while processes_under(&dir.0).is_empty() {
        assert!(Instant::now() < deadline, "the server never started");
        assert!(child.try_wait().unwrap().is_none(), "compare ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    let signalled = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    let status = wait(&mut child, Duration::from_secs(30), &dir.0);
    assert_eq!(status.code(), Some(130), "{status:?}");
    // The server was killed (SIGKILL) before compare exited; give the kernel a moment
    // to reap it (it is re-parented to init once compare is gone).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_under(&dir.0).is_empty() {
        assert!(
            Instant::now() < deadline,
            "left behind: {:?}",
            processes_under(&dir.0)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn bad_flags_exit_with_2_and_name_the_flag() {
    let dir = TempDir::new("flags");
    for (args, flag) in [
        (&["--scenarios", "http-50,nope"][..], "--scenarios"),
        (&["--scenarios", "attacks,atk-nope"][..], "--scenarios"),
        (&["--servers", "apache"][..], "--servers"),
        (&["--duration", "0s"][..], "--duration"),
        (&["--rounds", "0"][..], "--rounds"),
        (&["--rounds", "lots"][..], "--rounds"),
        (&["--rounds", "101"][..], "--rounds"),
        (&["--rounds", "-1"][..], "--rounds"),
    ] {
        let out = compare(&dir.0, args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
    }
}

#[test]
fn help_lists_every_scenario_and_server() {
    let out = Command::new(env!("CARGO_BIN_EXE_compare"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout).replace(['\n', ' '], "");
    let between = |from: &str, to: &str| &help[help.find(from).unwrap()..help.find(to).unwrap()];
    let list = |text: &str| -> Vec<String> { text.split(',').map(str::to_owned).collect() };
    // The comma-separated names after "(default:all):" in the help of `flag`.
    let listed = |flag: &str, next: &str| -> Vec<String> {
        list(between(flag, next).split_once("(default:all):").unwrap().1)
    };
    use examples::compare::scenario::Scenario;
    // The default scenarios, then the attack group's.
    let text = between("--scenarios", "--servers");
    let (_, defaults) = text.split_once("(default:allbuttheattackgroup):").unwrap();
    let (defaults, attacks) = defaults.split_once(".Theattackgroup").unwrap();
    assert_eq!(list(defaults), Scenario::default_names());
    let attacks = attacks.split_once("runfirst):").unwrap().1;
    assert_eq!(
        list(attacks.trim_end_matches('.')),
        Scenario::attack_names()
    );
    let servers: Vec<_> = examples::compare::server::ServerId::ALL
        .iter()
        .map(|s| s.name())
        .collect();
    assert_eq!(listed("--servers", "--duration"), servers);
}

#[test]
fn attack_scenarios_run_after_their_baselines_with_probes_and_ratios() {
    let dir = TempDir::new("attacks");
    let kind = examples::SERVER_KIND;
    let stdout = run_compare(
        &dir.0,
        &[
            "--quick",
            // Long enough for a debug build's TLS handshakes on a busy 2-core machine to
            // answer requests in the measured window (300 ms once measured none).
            "--duration",
            "1s",
            "--warmup",
            "300ms",
            "--scenarios",
            "atk-amplify,atk-expect",
            "--servers",
            kind,
        ],
        Duration::from_secs(120),
    );
    // The baselines were added, and run before the attacks that divide by them.
    let run = run_dir(&dir.0.join("out"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap();
    let names: Vec<&str> = json["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "atk-base-http",
            "atk-expect",
            "atk-base-resp",
            "atk-amplify"
        ]
    );
    for s in json["scenarios"].as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        let rows = s["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "{name}: only --servers {kind}");
        let m = &rows[0]["outcome"]["measured"];
        assert!(m.is_object(), "{name}: {}", rows[0]);
        let report = &m["report"];
        // Every row is probed, every probe accounted for.
        let probes = &report["probes"];
        let sent = probes["sent"].as_u64().unwrap();
        assert!(sent >= 1, "{name}: {probes}");
        assert_eq!(
            probes["answered"].as_u64().unwrap() + probes["failed"].as_u64().unwrap(),
            sent,
            "{name}: {probes}"
        );
        let bg = &report["background"];
        match name {
            "atk-expect" => {
                let p = &bg["expect_stallers"];
                assert_eq!(
                    (&p["requested"], &p["reconnecting"]),
                    (&64.into(), &true.into())
                );
                let tried = p["opened"].as_u64().unwrap() + p["connect_failed"].as_u64().unwrap();
                assert!(tried >= 64, "{p}");
            }
            "atk-amplify" => {
                let p = &bg["amplifiers"];
                assert_eq!(
                    (&p["requested"], &p["stored"]),
                    (&4.into(), &true.into()),
                    "{p}"
                );
                assert!(p["activity"]["sent"].as_u64().unwrap() >= 1, "{p}");
            }
            _ => assert_eq!(bg["expect_stallers"]["requested"], 0, "{name}"),
        }
    }
    // The attack tables divide by the baseline and show the probes; the baselines'
    // tables have no ratio to themselves.
    let tables = std::fs::read_to_string(run.join("tables.md")).unwrap();
    for name in ["atk-expect", "atk-amplify"] {
        let table = tables
            .split("### ")
            .find(|t| t.contains(&format!("(`{name}`)")))
            .unwrap();
        assert!(
            table.contains("| × alone | p50 ms | p99 ms | errors | probes ok/sent |"),
            "{table}"
        );
    }
    let base = tables
        .split("### ")
        .find(|t| t.contains("(`atk-base-http`)"))
        .unwrap();
    assert!(!base.contains("| × alone |"), "{base}");
    assert!(base.contains("probes ok/sent"), "{base}");
    assert!(stdout.contains("(`atk-expect`)"), "{stdout}");
}

#[test]
fn rounds_keep_every_round_and_tables_show_medians_and_spread() {
    let dir = TempDir::new("rounds");
    let kind = examples::SERVER_KIND;
    let tokio = optional_bin(option_env!("CARGO_BIN_EXE_tokio_http")).is_some();
    let mut servers = vec![kind];
    if tokio {
        servers.push("tokio");
    }
    let stdout = run_compare(
        &dir.0,
        &[
            "--quick",
            // Long enough for a debug build's TLS handshakes on a busy 2-core machine to
            // answer requests in the measured window (300 ms once measured none).
            "--duration",
            "1s",
            "--warmup",
            "300ms",
            "--rounds",
            "2",
            "--scenarios",
            "mixed",
            "--servers",
            &servers.join(","),
        ],
        Duration::from_secs(120),
    );
    let run = run_dir(&dir.0.join("out"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap();
    assert_eq!(json["rounds"], 2);
    // mixed brings its baseline, run first.
    let names: Vec<&str> = json["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["mixed-base", "mixed"]);
    for s in json["scenarios"].as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        let rows = s["rows"].as_array().unwrap();
        assert_eq!(rows.len(), servers.len(), "{name}");
        for row in rows {
            let server = row["server"].as_str().unwrap();
            let rounds = row["rounds"].as_array().unwrap();
            assert_eq!(rounds.len(), 2, "{name}/{server}: every round is kept");
            for round in rounds.iter().chain([&row["outcome"]]) {
                let m = &round["measured"];
                assert!(m.is_object(), "{name}/{server}: {round}");
                assert!(m["report"]["requests"].as_u64().unwrap() > 0, "{m}");
                // The quick clients only: 45 connections on GET /.
                assert_eq!(m["report"]["connections"], 45, "{name}/{server}");
                let slow = &m["slow"];
                if name == "mixed" {
                    assert_eq!(slow["path"], "/work?ms=10", "{name}/{server}: {slow}");
                    assert_eq!(slow["connections"], 5, "{slow}");
                    assert_eq!(slow["report"]["connections"], 5, "{slow}");
                    assert!(slow["report"]["requests"].as_u64().unwrap() > 0, "{slow}");
                    assert_eq!(slow["errors"], 0, "{name}/{server}: {slow}");
                } else {
                    assert!(slow.is_null(), "{name}/{server}: {slow}");
                }
                // The quick clients may be starved, but never answered wrong.
                assert_eq!(m["errors"], 0, "{name}/{server}: {m}");
            }
            // The summary's req/s is the median of the two rounds'.
            let rate = |o: &serde_json::Value| o["measured"]["req_per_s"].as_f64().unwrap();
            let median = (rate(&rounds[0]) + rate(&rounds[1])) / 2.0;
            assert!(
                (rate(&row["outcome"]) - median).abs() <= 1e-6 * median.max(1.0),
                "{name}/{server}: {} vs {median}",
                rate(&row["outcome"])
            );
        }
    }
    // One log per scenario, server and round.
    let logs = std::fs::read_dir(run.join("logs")).unwrap().count();
    assert_eq!(logs, 2 * 2 * servers.len());
    let tables = std::fs::read_to_string(run.join("tables.md")).unwrap();
    let mixed = tables
        .split("### ")
        .find(|t| t.contains("(`mixed`)"))
        .unwrap();
    assert!(mixed.contains("Medians of 2 rounds"), "{mixed}");
    assert!(mixed.contains("| server | req/s | spread |"), "{mixed}");
    assert!(mixed.contains("| × alone |"), "{mixed}");
    assert!(mixed.contains("| slow req/s | slow p99 ms |"), "{mixed}");
    let row = mixed
        .lines()
        .find(|l| l.starts_with(&format!("| {kind} |")))
        .unwrap();
    // Two measured rounds: lowest–highest and the half range.
    let spread = row.split(" | ").nth(2).unwrap();
    assert!(spread.contains('–') && spread.contains('±'), "{row}");
    let base = tables
        .split("### ")
        .find(|t| t.contains("(`mixed-base`)"))
        .unwrap();
    assert!(base.contains("| spread |"), "{base}");
    assert!(
        !base.contains("| × alone |") && !base.contains("| slow req/s |"),
        "{base}"
    );
    assert!(stdout.contains("| spread |"), "{stdout}");
}
