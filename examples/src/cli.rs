//! Command-line options and the runner shared by the example servers.
//!
//! Each binary flattens [`ServerArgs`] into its own `clap` parser, builds its handler and
//! calls [`run`], which binds the [`Server`] chosen by the `evented`
//! feature, prints one machine-readable line, serves until SIGINT or SIGTERM, shuts down
//! gracefully and prints the final statistics.
//!
//! ```no_run
//! use clap::Parser;
//!
//! #[derive(Parser)]
//! struct Cli {
//!     #[arg(long, default_value = "127.0.0.1:7000")]
//!     addr: String,
//!     #[command(flatten)]
//!     server: examples::cli::ServerArgs,
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     let cli = Cli::parse();
//!     examples::cli::run(examples::echo::Echo::new(), &cli.addr, "tcp", &cli.server)
//! }
//! ```

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use net::{Handler, Server as _, ServerParams, Stats};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::{Server, SERVER_KIND};

/// Exit status for a bad option value (the same as `clap` uses for usage errors).
pub const EXIT_USAGE: u8 = 2;

/// Exit status for a failure at run time (binding, signals, shutdown).
pub const EXIT_FAILURE: u8 = 1;

/// The server options common to every example binary; unset options keep the
/// [`ServerParams`] defaults.
///
/// ```
/// use clap::Parser;
///
/// #[derive(Parser)]
/// struct Cli {
///     #[command(flatten)]
///     server: examples::cli::ServerArgs,
/// }
///
/// let cli = Cli::parse_from(["prog", "--threads", "4", "--keep-alive-timeout", "2500ms", "--nodelay=false"]);
/// let params = cli.server.params()?;
/// assert_eq!(params.max_threads(), 4);
/// assert_eq!(params.keep_alive_timeout(), std::time::Duration::from_millis(2500));
/// assert!(!params.nodelay());
///
/// let bad = Cli::parse_from(["prog", "--threads", "0"]);
/// assert!(bad.server.params().unwrap_err().is_invalid_param());
/// # Ok::<(), net::Error>(())
/// ```
#[derive(Debug, Clone, Default, Args)]
pub struct ServerArgs {
    /// Most threads serving connections at once (net's pool).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// Most accepted connections waiting for a thread (net).
    #[arg(long, value_name = "N")]
    pub queue: Option<usize>,

    /// How long an extra idle thread lives (net); a duration such as `100ms`, `10s`, `2m`
    /// (a bare number is milliseconds).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, visible_alias = "thread-idle-ms")]
    pub thread_idle_time: Option<Duration>,

    /// Most open connections; more are refused.
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,

    /// Longest idle wait between requests on a connection (`15s`, `500ms`, …).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, visible_alias = "keep-alive-ms")]
    pub keep_alive_timeout: Option<Duration>,

    /// Longest wait for more bytes of a request in progress (`30s`, …).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, visible_alias = "read-timeout-ms")]
    pub read_timeout: Option<Duration>,

    /// Longest wait for the peer to take response bytes (`30s`, …).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, visible_alias = "write-timeout-ms")]
    pub write_timeout: Option<Duration>,

    /// Requests served on one connection before it is closed (default: unlimited).
    #[arg(long, value_name = "N")]
    pub max_requests: Option<u64>,

    /// The listen backlog.
    #[arg(long, value_name = "N")]
    pub backlog: Option<u32>,

    /// Set TCP_NODELAY on accepted sockets (`--nodelay` alone means true; default true).
    #[arg(
        long,
        visible_alias = "no-delay",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = false,
        default_missing_value = "true"
    )]
    pub nodelay: Option<bool>,

    /// Most bytes of one partial request buffered in an event loop (evnet): `2MiB`,
    /// `64KiB`, `1048576`, … A request that fits never holds a worker while it arrives.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub max_request_buffer: Option<usize>,

    /// Most unsent response bytes held per connection (evnet): output up to this is
    /// finished by the event loop, so the worker is free at once.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub max_output_buffer: Option<usize>,

    /// Most request bytes one event loop buffers before it stops reading new requests
    /// (evnet).
    #[cfg(feature = "evented")]
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub input_budget: Option<usize>,

    /// Most response bytes one event loop holds for slow readers before it stops reading
    /// new requests (evnet).
    #[cfg(feature = "evented")]
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub output_budget: Option<usize>,

    /// Event loops (evnet).
    #[cfg(feature = "evented")]
    #[arg(long, value_name = "N")]
    pub loops: Option<usize>,

    /// Worker threads (evnet).
    #[cfg(feature = "evented")]
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,

    /// Where requests are served (evnet): `workers` (default) or `inline` on the loop
    /// thread (only for handlers that never block).
    #[cfg(feature = "evented")]
    #[arg(long, value_name = "MODE", value_parser = ["workers", "inline"])]
    pub dispatch: Option<String>,

    /// How long a graceful shutdown lets requests in flight finish (`5s`, …).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5s", visible_alias = "shutdown-ms")]
    pub shutdown_deadline: Duration,
}

impl ServerArgs {
    /// The server parameters, built and validated by [`ServerParams::builder`]; a bad value
    /// is an error naming the parameter.
    pub fn params(&self) -> net::Result<ServerParams> {
        let mut b = ServerParams::builder();
        if let Some(n) = self.threads {
            b = b.max_threads(n);
        }
        if let Some(n) = self.queue {
            b = b.max_queued(n);
        }
        if let Some(d) = self.thread_idle_time {
            b = b.thread_idle_time(d);
        }
        if let Some(n) = self.max_connections {
            b = b.max_connections(n);
        }
        if let Some(d) = self.keep_alive_timeout {
            b = b.keep_alive_timeout(d);
        }
        if let Some(d) = self.read_timeout {
            b = b.read_timeout(d);
        }
        if let Some(d) = self.write_timeout {
            b = b.write_timeout(d);
        }
        if let Some(n) = self.max_requests {
            b = b.max_requests_per_connection(n);
        }
        if let Some(n) = self.backlog {
            b = b.backlog(n);
        }
        if let Some(on) = self.nodelay {
            b = b.nodelay(on);
        }
        if let Some(n) = self.max_request_buffer {
            b = b.max_request_buffer(n);
        }
        if let Some(n) = self.max_output_buffer {
            b = b.max_output_buffer(n);
        }
        b.build()
    }

    /// The options of the evented server: `loops` and `workers` when given.
    #[cfg(feature = "evented")]
    pub fn options(&self) -> evnet::EvOptions {
        let mut options = evnet::EvOptions::default();
        if let Some(n) = self.loops {
            options = options.loops(n);
        }
        if let Some(n) = self.workers {
            options = options.workers(n);
        }
        if self.dispatch.as_deref() == Some("inline") {
            options = options.dispatch(evnet::Dispatch::Inline);
        }
        if let Some(n) = self.input_budget {
            options = options.input_budget(n);
        }
        if let Some(n) = self.output_budget {
            options = options.output_budget(n);
        }
        options
    }

    /// The options of the blocking server: it has none.
    #[cfg(not(feature = "evented"))]
    pub fn options(&self) -> <Server as net::Server>::Options {}

    /// The graceful shutdown deadline.
    pub fn shutdown_deadline(&self) -> Duration {
        self.shutdown_deadline
    }
}

/// The first line a server prints: `listening on SCHEME://ADDR (KIND)`, where KIND is
/// [`SERVER_KIND`].
///
/// ```
/// let addr = "127.0.0.1:8080".parse().unwrap();
/// let line = examples::cli::listening_line("http", addr);
/// assert!(line.starts_with("listening on http://127.0.0.1:8080 ("));
/// assert_eq!(examples::cli::parse_listening_line(&line), Some(addr));
/// ```
pub fn listening_line(scheme: &str, addr: SocketAddr) -> String {
    format!("listening on {scheme}://{addr} ({SERVER_KIND})")
}

/// The address in a line printed by [`listening_line`] (for tools that start a server
/// and read its first line).
pub fn parse_listening_line(line: &str) -> Option<SocketAddr> {
    let url = line
        .strip_prefix("listening on ")?
        .split_whitespace()
        .next()?;
    let (_, addr) = url.split_once("://")?;
    addr.parse().ok()
}

/// One line of final statistics.
///
/// ```
/// let line = examples::cli::stats_line(&net::Stats::default());
/// assert!(line.starts_with("stats: connections=0 "));
/// ```
pub fn stats_line(s: &Stats) -> String {
    format!(
        "stats: connections={} max_concurrent={} refused={} requests={} timed_out={} \
         handler_panics={} threads={}/{}",
        s.total_connections,
        s.max_concurrent_connections,
        s.refused_connections,
        s.requests,
        s.timed_out,
        s.handler_panics,
        s.current_threads,
        s.max_threads,
    )
}

/// Serve `handler` on `addr` with `args` until SIGINT or SIGTERM.
///
/// Prints [`listening_line`] first (and flushes), then, after a signal, shuts down with
/// [`ServerArgs::shutdown_deadline`] and prints [`stats_line`]. Returns the process exit
/// status: 0 after a clean shutdown, [`EXIT_USAGE`] for a bad option value,
/// [`EXIT_FAILURE`] for other errors (each printed on stderr).
// `args.options()` is `()` for `net` and `evnet::EvOptions` for `evnet`.
#[allow(clippy::unit_arg)]
pub fn run<H: Handler>(handler: H, addr: &str, scheme: &str, args: &ServerArgs) -> ExitCode {
    let params = match args.params() {
        Ok(params) => params,
        Err(e) => return fail(&e),
    };
    // Before binding, so a signal sent as soon as the first line appears is not lost.
    let mut signals = match Signals::new([SIGINT, SIGTERM]) {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("error: cannot install signal handlers: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let mut server = match Server::bind_with(addr, handler, params, args.options()) {
        Ok(server) => server,
        Err(e) => return fail(&e),
    };
    if let Err(e) = server.start() {
        return fail(&e);
    }
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{}", listening_line(scheme, server.local_addr()));
    let _ = stdout.flush();
    drop(stdout);

    let signal = signals.forever().next();
    let name = match signal {
        Some(SIGINT) => "SIGINT",
        Some(SIGTERM) => "SIGTERM",
        _ => "a signal",
    };
    eprintln!(
        "received {name}, shutting down (deadline {:?})",
        args.shutdown_deadline
    );
    match server.shutdown(args.shutdown_deadline()) {
        Ok(stats) => {
            println!("{}", stats_line(&stats));
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

fn fail(e: &net::Error) -> ExitCode {
    eprintln!("error: {e}");
    if e.is_invalid_param() {
        ExitCode::from(EXIT_USAGE)
    } else {
        ExitCode::from(EXIT_FAILURE)
    }
}

/// Parse a duration flag: a number with a unit (`ms`, `s`, `m`, `h`), or a bare number of
/// milliseconds.
///
/// ```
/// use std::time::Duration;
/// use examples::cli::parse_duration;
/// assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
/// assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
/// assert_eq!(parse_duration("40"), Ok(Duration::from_millis(40)));
/// assert!(parse_duration("soon").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (try 500ms, 15s, 2m)"))?;
    let seconds = match unit.trim() {
        "" | "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "unknown duration unit `{other}` (use ms, s, m or h)"
            ))
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("`{text}`: {e}"))
}

/// Parse a size flag: a number of bytes, optionally with a binary unit (`KiB`, `MiB`,
/// `GiB`; `k`, `m`, `g` and `K`, `M`, `G` mean the same).
///
/// ```
/// use examples::cli::parse_bytes;
/// assert_eq!(parse_bytes("4096"), Ok(4096));
/// assert_eq!(parse_bytes("64KiB"), Ok(64 << 10));
/// assert_eq!(parse_bytes("17M"), Ok(17 << 20));
/// assert!(parse_bytes("lots").is_err());
/// assert!(parse_bytes("99999999999G").is_err());
/// ```
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: usize = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size (try 65536, 64KiB, 2MiB)"))?;
    let shift = match unit.trim() {
        "" | "B" => 0,
        "k" | "K" | "KiB" => 10,
        "m" | "M" | "MiB" => 20,
        "g" | "G" | "GiB" => 30,
        other => return Err(format!("unknown size unit `{other}` (use KiB, MiB or GiB)")),
    };
    value
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("`{text}` is too large"))
}
