//! `compare`: the main job. Builds the servers (`net`, `evnet` in its default and inline
//! modes, the tokio and hyper references, a raw epoll floor), runs each as a child
//! process through every scenario with the load generator, prints one table per
//! scenario, and writes `results/<timestamp>/` with `results.json`, `tables.md`,
//! `chart.svg` and each server's log (see `examples::compare`).
//!
//! ```text
//! compare                         # every scenario, ~6 s per server and scenario
//! compare --quick                 # a minute or two
//! compare --scenarios http-50,blocking --servers net,evnet
//! compare --quick --scenarios attacks # the attack group, with its baselines
//! compare --bin-dir old/ --no-build --scenarios attacks  # binaries of another commit
//! compare --quick --scenarios mixed,http-pipelined --rounds 3  # medians of 3 rounds
//! ```
//!
//! `--rounds N` runs the chosen scenarios × servers N times, interleaved (round 1 of
//! every scenario and server, then round 2, …): each table shows the median of every
//! figure over the rounds, a `spread` column (the lowest and highest req/s, and half
//! that range over the median), and the ratios (`× tokio`, `× net`, `× alone`) taken
//! round by round, against the reference or baseline of the same round, then their
//! median. `results.json` keeps every round (`rows[].rounds`) beside the summary
//! (`rows[].outcome`).
//!
//! `mixed` runs 45 quick clients (`GET /`) beside 5 whose requests block 10 ms
//! (`GET /work?ms=10`); its figures are the quick clients', the blocking ones' are its
//! `slow` columns, and `× alone` divides by `mixed-base` (the 45 alone, run first).
//! `http-pipelined` is TechEmpower's plaintext shape: 256 connections, 16 requests in
//! flight on each.
//!
//! The attack group (`atk-…`) runs only when named: each measures the normal clients
//! beside one hostile population and a probe, and its table gives each server's req/s
//! over its own in the baseline without attackers (`× alone`), the probes answered and
//! the p99.
//!
//! Every child server is killed when its run ends, when a run fails, and on SIGINT,
//! SIGTERM or SIGHUP. Exit status: 0 after the comparison (a server that failed is a row
//! that says so), 2 for a bad flag, 1 when building or writing the results fails.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use examples::cli::{parse_duration, EXIT_FAILURE, EXIT_USAGE};
use examples::compare::scenario::Scenario;
use examples::compare::server::{self, ServerId};
use examples::compare::{self, build, chart, table, Options};

/// Compare the example servers side by side in the situations where they differ.
#[derive(Debug, Parser)]
#[command(name = "compare", version)]
struct Cli {
    /// Shorter runs (0.1 s warm-up, 0.5 s measured) and 1,000 idle connections instead of
    /// 10,000: the whole matrix in a minute or two.
    #[arg(long)]
    quick: bool,

    /// Scenarios to run, comma-separated, each with its baseline if it has one, run
    /// first (mixed brings mixed-base) (default: all but the attack group): http-50,
    /// http-2000, http-pipelined, idle, slowloris, non-readers, blocking, mixed-base,
    /// mixed, http-new, https, https-new-resumed, https-new-full, resp-p1, resp-p16,
    /// echo-2000. The attack group runs only when named, one by one or all as `attacks` (an attack
    /// scenario brings its baseline, run first): atk-base-http, atk-expect, atk-input,
    /// atk-base-resp, atk-output, atk-amplify, atk-base-https, atk-tls-hello.
    #[arg(long, value_name = "A,B,..", value_delimiter = ',')]
    scenarios: Vec<String>,

    /// Servers to run, comma-separated (default: all): epoll-floor, tokio, hyper,
    /// redis-server, net, net-64t, evnet, evnet-workers, evnet-inline, evnet-64w,
    /// evnet-nohint.
    #[arg(long, value_name = "A,B,..", value_delimiter = ',')]
    servers: Vec<String>,

    /// Measured time of each run (default 5s; 500ms with --quick).
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    duration: Option<Duration>,

    /// Warm-up of each run, not measured (default 1s; 100ms with --quick).
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    warmup: Option<Duration>,

    /// Run the chosen scenarios × servers N times (1 to 100), interleaved: round 1 of
    /// each, then round 2, … The tables show medians over the rounds, a spread column
    /// (lowest–highest req/s, ±half that range over the median), and each ratio (× tokio,
    /// × net, × alone) taken within a round, then its median; results.json keeps every
    /// round.
    #[arg(
        long,
        value_name = "N",
        default_value = "1",
        value_parser = parse_rounds,
        allow_hyphen_values = true
    )]
    rounds: usize,

    /// Where the server binaries are, laid out as the build step makes them.
    #[arg(long, value_name = "DIR", default_value = "target/compare")]
    bin_dir: PathBuf,

    /// Use the binaries already in --bin-dir instead of building them.
    #[arg(long)]
    no_build: bool,

    /// Where to write the results: a new directory named after the time is made in it.
    #[arg(long, value_name = "DIR", default_value = "results")]
    out: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let options = match options(&cli) {
        Ok(o) => o,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if let Err(e) = stop_children_on_signals() {
        eprintln!("error: cannot handle signals: {e}");
        return ExitCode::from(EXIT_FAILURE);
    }
    match run(&cli, options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// The options from the flags; `Err` names the bad flag.
fn options(cli: &Cli) -> Result<Options, String> {
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace(':', "-");
    let out = cli.out.join(stamp);
    let mut o = Options::new(cli.bin_dir.clone(), out.join("logs"), cli.quick);
    if !cli.scenarios.is_empty() {
        o.scenarios = Scenario::select(&cli.scenarios).map_err(|bad| {
            format!(
                "invalid value for --scenarios: unknown scenario {bad:?} (choose among {}, \
                 or {} for the attack group)",
                Scenario::names().join(", "),
                examples::compare::scenario::ATTACKS
            )
        })?;
    }
    if !cli.servers.is_empty() {
        o.servers = cli
            .servers
            .iter()
            .map(|name| {
                ServerId::from_name(name).ok_or_else(|| {
                    let all: Vec<_> = ServerId::ALL.iter().map(|s| s.name()).collect();
                    format!(
                        "invalid value for --servers: unknown server {name:?} (choose among {})",
                        all.join(", ")
                    )
                })
            })
            .collect::<Result<_, _>>()?;
    }
    if cli.duration.is_some_and(|d| d.is_zero()) {
        return Err("invalid value for --duration: must be longer than zero".to_owned());
    }
    for (flag, value) in [("--duration", cli.duration), ("--warmup", cli.warmup)] {
        if value.is_some_and(|d| d > examples::loadgen::MAX_SPAN) {
            return Err(format!("invalid value for {flag}: at most a day"));
        }
    }
    o.rounds = cli.rounds;
    o.duration = cli.duration.unwrap_or(o.duration);
    o.warmup = cli.warmup.unwrap_or(o.warmup);
    o.progress = std::io::stderr().is_terminal();
    Ok(o)
}

/// `--rounds`: a whole number from 1 to [`compare::MAX_ROUNDS`].
fn parse_rounds(value: &str) -> Result<usize, String> {
    let max = compare::MAX_ROUNDS;
    match value.trim().parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        Ok(n) => Err(format!("{n} is out of range: 1 to {max}")),
        Err(_) => Err(format!("not a whole number of rounds (1 to {max})")),
    }
}

fn run(cli: &Cli, options: Options) -> std::io::Result<()> {
    if !cli.no_build {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap_or(Path::new("."));
        eprintln!(
            "compare: building the servers into {}",
            cli.bin_dir.display()
        );
        build::build(workspace, &cli.bin_dir)?;
    }
    let out = options
        .log_dir
        .parent()
        .unwrap_or(Path::new("."))
        .to_owned();
    let mut tables = String::new();
    let mut stdout = std::io::stdout();
    // The results so far, for the attack scenarios' baselines (which run before them).
    let mut done: Vec<compare::results::ScenarioResult> = Vec::new();
    let results = compare::run(&options, |scenario, result| {
        let per_connection = scenario.load.total_connections() >= 1_000;
        let baseline = scenario
            .baseline
            .and_then(|name| done.iter().find(|r| r.name == name));
        let t = table::scenario_against(result, per_connection, baseline);
        done.push(result.clone());
        let _ = writeln!(stdout, "{t}");
        let _ = stdout.flush();
        tables.push_str(&t);
        tables.push('\n');
    })?;
    let legend = table::legend(results.cpus);
    tables.push_str(&legend);
    tables.push('\n');
    // The files first: a closed stdout (`compare | head`) must not lose them.
    let json = serde_json::to_string_pretty(&results).map_err(std::io::Error::other)?;
    std::fs::write(out.join("results.json"), json)?;
    std::fs::write(out.join("tables.md"), tables)?;
    chart::write_svg(&results, &out.join("chart.svg"))?;
    let _ = writeln!(stdout, "{legend}\n");
    let _ = writeln!(
        stdout,
        "Results: {0}/results.json, {0}/tables.md, chart {0}/chart.svg, server logs {0}/logs/, \
         the TLS scenarios' certificate and key {0}/tls/",
        out.display()
    );
    Ok(())
}

/// On SIGINT, SIGTERM or SIGHUP: kill every child server, then exit with 130.
fn stop_children_on_signals() -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("compare-signals".to_owned())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let missed = server::kill_all();
                if missed == 0 {
                    eprintln!("\ncompare: stopped by signal {signal}; every server was killed");
                } else {
                    eprintln!("\ncompare: stopped by signal {signal}; {missed} servers could not be killed");
                }
                std::process::exit(130);
            }
        })?;
    Ok(())
}
