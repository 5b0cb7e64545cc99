//! `loadgen`: drive an HTTP, RESP or echo server with checked requests and report
//! throughput, latency percentiles and errors by kind (see `examples::loadgen`).
//!
//! ```text
//! loadgen --addr 127.0.0.1:8080 --connections 50 --duration 10s
//! loadgen --addr 127.0.0.1:6379 --proto resp --pipeline 16 --requests 100000 --json out.json
//! loadgen --addr 127.0.0.1:8080 --rate 20000 --duration 30s --threads 2
//! loadgen --addr 127.0.0.1:8080 --path '/work?ms=5' --connections 100 --duration 10s
//! loadgen --addr 127.0.0.1:8080 --duration 10s --idle 10000 --slowloris 200 --non-readers 2
//! loadgen --addr 127.0.0.1:8443 --tls-ca ca.pem --requests-per-connection 1 --duration 10s
//! loadgen --addr 127.0.0.1:8080 --duration 10s --expect-stallers 64 --reconnect --probe-interval 100ms
//! loadgen --addr 127.0.0.1:6379 --proto resp --duration 10s --amplifiers 4 --probe-interval 100ms
//! loadgen --addr 127.0.0.1:8443 --tls-ca ca.pem --duration 10s --hello-flood 64 --probe-interval 100ms
//! ```
//!
//! The attacks are background populations like `--idle`: `--expect-stallers` and
//! `--partial-bodies` (HTTP), `--big-non-readers` and `--amplifiers` (RESP),
//! `--hello-flood` (any protocol; the server name is `--tls-server-name`). Each opens its
//! connections once; with `--reconnect` the hostile ones (all but `--idle`) reopen each
//! one the server closes; the hello flood always does. `--probe-interval` adds a fresh
//! connection per interval that must be answered within 1 s.
//!
//! During a run longer than 3 s (warm-up included), a live line on stderr shows the
//! elapsed time, the responses answered right, the rate and the errors, when stderr is a
//! terminal; it is cleared before the report is printed.
//!
//! Exit status: 0 after a run (whatever the server did: errors are in the report), 2 for
//! a bad flag (named in the message), 1 when the run or writing `--json` fails.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgGroup, CommandFactory, Parser};
use examples::cli::{parse_duration, EXIT_FAILURE};
use examples::loadgen::{self, Config, Progress, Proto, Stop, TlsClient};

/// Load generator for the example servers: every response is checked.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version)]
#[command(group(ArgGroup::new("stop").required(true).args(["duration", "requests"])))]
struct Cli {
    /// The server's address.
    #[arg(long, value_name = "HOST:PORT")]
    addr: String,

    /// The protocol.
    #[arg(long, value_enum, default_value_t = Proto::Http)]
    proto: Proto,

    /// For --proto http: the request target, e.g. `/work?ms=5` (starts with `/`, visible
    /// ASCII only, at most 1024 bytes; every answer must still be 200 `Hello, World!`)
    /// [default: /].
    #[arg(long, value_name = "TARGET")]
    path: Option<String>,

    /// Connections kept open (spread over the threads).
    #[arg(long, value_name = "N", default_value_t = 10)]
    connections: usize,

    /// Client threads, each with its own event loop and share of the connections.
    #[arg(long, value_name = "T", default_value_t = 1)]
    threads: usize,

    /// How long to measure after the warm-up: `10s`, `500ms`, `2m` (a unit is required).
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    duration: Option<Duration>,

    /// Measure this many requests after the warm-up instead of a duration.
    #[arg(long, value_name = "N")]
    requests: Option<u64>,

    /// Requests in flight per connection.
    #[arg(long, value_name = "K", default_value_t = 1)]
    pipeline: usize,

    /// Open loop: requests per second in total, spread over the connections; latency
    /// counts from each request's intended send time.
    #[arg(long, value_name = "R")]
    rate: Option<f64>,

    /// Run this long first, not counted.
    #[arg(long, value_name = "D", value_parser = parse_duration, default_value = "1s")]
    warmup: Duration,

    /// The longest wait for a response; a later one is a timeout error and the
    /// connection is reopened.
    #[arg(long, value_name = "D", value_parser = parse_duration, default_value = "2s")]
    timeout: Duration,

    /// Hard limit of the whole run, warm-up included [default: warm-up + duration; for
    /// --requests, warm-up + 5m (+ requests / rate)].
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    max_time: Option<Duration>,

    /// Background: keep-alive connections opened at the start that send nothing; after
    /// the run each still open sends one request, checked.
    #[arg(long, value_name = "N", default_value_t = 0)]
    idle: usize,

    /// Background: clients trickling a request one byte at a time, never finishing it.
    #[arg(long, value_name = "K", default_value_t = 0)]
    slowloris: usize,

    /// How often a slowloris client sends its next byte (a unit is required).
    #[arg(long, value_name = "D", value_parser = parse_duration, default_value = "200ms")]
    trickle_interval: Duration,

    /// Background: clients that pipeline requests without end and never read.
    #[arg(long, value_name = "K", default_value_t = 0)]
    non_readers: usize,

    /// Background, HTTP: clients sending `POST /echo` with `Expect: 100-continue` and
    /// `Content-Length: 1000000`, reading the `100 Continue`, never sending the body.
    #[arg(long, value_name = "K", default_value_t = 0)]
    expect_stallers: usize,

    /// Background, HTTP: clients sending a `POST /echo` head announcing 1,000,000 bytes
    /// of body and 900,000 of them as fast as the socket takes them, then nothing.
    #[arg(long, value_name = "K", default_value_t = 0)]
    partial_bodies: usize,

    /// Background, RESP: clients each sending `GET` of a 2,000,000-byte value (stored
    /// before the run) and never reading.
    #[arg(long, value_name = "K", default_value_t = 0)]
    big_non_readers: usize,

    /// Background, RESP: clients each sending `MGET` naming a 64 KiB value (stored before
    /// the run) 1,000 times, reading the reply (an error counts), and again.
    #[arg(long, value_name = "K", default_value_t = 0)]
    amplifiers: usize,

    /// Background: connections each sending one captured TLS ClientHello (for
    /// --tls-server-name), closing at the server's first bytes (or after 1 s), and
    /// starting again; the client does no cryptography.
    #[arg(long, value_name = "K", default_value_t = 0)]
    hello_flood: usize,

    /// The hostile background populations (all but --idle) reopen each connection the
    /// server closes, as an attacker keeping up the pressure does (--hello-flood always
    /// does).
    #[arg(long)]
    reconnect: bool,

    /// Send again, once, the requests in flight on a reused connection the server closed
    /// or reset before answering any of them (as HTTP clients do, RFC 9112 9.3.1; a
    /// server draining for a restart closes idle keep-alive connections). Reported as
    /// retried, not as errors.
    #[arg(long)]
    retry_closed: bool,

    /// Each new measured connection first sends a PROXY protocol header (v1 text or v2
    /// binary), as a load balancer would; for a server run with --proxy-protocol. Plain
    /// TCP only.
    #[arg(long, value_name = "VERSION")]
    proxy: Option<examples::loadgen::ProxyVersion>,

    /// Every D (at least 10ms), a new connection sends one request (over TLS with
    /// --tls-ca) that must be answered right within 1 s; the report counts them.
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    probe_interval: Option<Duration>,

    /// Speak TLS, trusting the certificates in this PEM file (the server's CA).
    #[arg(long, value_name = "PATH")]
    tls_ca: Option<PathBuf>,

    /// The name asked for with TLS (SNI; the server's certificate must carry it), and in
    /// the ClientHello of --hello-flood; only with one of them [default: localhost].
    #[arg(long, value_name = "NAME")]
    tls_server_name: Option<String>,

    /// With TLS, never resume a session: every new connection makes a full handshake.
    #[arg(long, requires = "tls_ca")]
    tls_no_resume: bool,

    /// Close each connection after this many requests and open a new one (default:
    /// keep every connection open).
    #[arg(long, value_name = "N")]
    requests_per_connection: Option<u64>,

    /// Write the results as JSON to this file (`-` for standard output).
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let addr = resolve(&cli.addr).unwrap_or_else(|message| usage_error("--addr", &message));
    let stop = match (cli.duration, cli.requests) {
        (Some(d), _) => Stop::Duration(d),
        (None, Some(n)) => Stop::Requests(n),
        // The `stop` group requires exactly one of them.
        (None, None) => usage_error("--duration", "one of --duration and --requests is needed"),
    };
    let mut config = Config::new(addr, cli.proto, stop);
    config.connections = cli.connections;
    config.threads = cli.threads;
    config.pipeline = cli.pipeline;
    config.rate = cli.rate;
    config.warmup = cli.warmup;
    config.timeout = cli.timeout;
    config.max_time = cli.max_time;
    config.idle = cli.idle;
    config.slowloris = cli.slowloris;
    config.trickle_interval = cli.trickle_interval;
    config.non_readers = cli.non_readers;
    config.expect_stallers = cli.expect_stallers;
    config.partial_bodies = cli.partial_bodies;
    config.big_non_readers = cli.big_non_readers;
    config.amplifiers = cli.amplifiers;
    config.hello_flood = cli.hello_flood;
    config.reconnect = cli.reconnect;
    config.retry_closed = cli.retry_closed;
    config.proxy = cli.proxy;
    config.probe_interval = cli.probe_interval;
    if cli.tls_server_name.is_some() && cli.tls_ca.is_none() && cli.hello_flood == 0 {
        usage_error("--tls-server-name", "is for --tls-ca or --hello-flood");
    }
    let server_name = cli.tls_server_name.as_deref().unwrap_or("localhost");
    config.hello_name = server_name.to_owned();
    if let Some(path) = cli.path {
        if cli.proto != Proto::Http {
            usage_error("--path", &format!("is for --proto http, not {}", cli.proto));
        }
        config.path = path;
    }
    config.requests_per_connection = cli.requests_per_connection;
    if let Some(ca) = &cli.tls_ca {
        match TlsClient::from_ca_file(ca, server_name, !cli.tls_no_resume) {
            Ok(tls) => config.tls = Some(tls),
            Err(e) => usage_error("--tls-ca", &e.to_string()),
        }
    }
    if let Err(e) = config.validate() {
        Cli::command()
            .error(clap::error::ErrorKind::ValueValidation, e)
            .exit();
    }
    let progress = Progress::new();
    // Drawn on stderr only when it is a terminal and the run is long enough.
    let line = loadgen::show_progress(&config, &progress);
    let report = loadgen::run_with(&config, &progress);
    drop(line);
    let report = match report {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    print!("{}", report.summary());
    if let Some(path) = &cli.json {
        let json = report.to_json() + "\n";
        let written = if path.as_os_str() == "-" {
            print!("{json}");
            Ok(())
        } else {
            std::fs::write(path, json)
        };
        if let Err(e) = written {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::from(EXIT_FAILURE);
        }
    }
    ExitCode::SUCCESS
}

/// The first address `HOST:PORT` resolves to.
fn resolve(addr: &str) -> Result<SocketAddr, String> {
    addr.to_socket_addrs()
        .map_err(|e| format!("`{addr}` is not a HOST:PORT address: {e}"))?
        .next()
        .ok_or_else(|| format!("`{addr}` resolves to no address"))
}

/// Exit with status 2 and a message naming `flag`.
fn usage_error(flag: &str, message: &str) -> ! {
    Cli::command()
        .error(
            clap::error::ErrorKind::ValueValidation,
            format!("invalid value for {flag}: {message}"),
        )
        .exit()
}
