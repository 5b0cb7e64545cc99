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
//!     // `Cli::parse()`, but a flag of the other build says which build has it.
//!     let cli: Cli = examples::cli::parse_args();
//!     examples::cli::run(examples::echo::Echo::new(), &cli.addr, "tcp", &cli.server)
//! }
//! ```

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgAction, Args};
use net::ops::{self, Supervisor};
use net::{Handler, Server as _, ServerParams, Stats};

use crate::{Server, SERVER_KIND};

mod self_signed;
#[cfg(feature = "tls")]
use self_signed::self_signed_config;
pub use self_signed::{SELF_SIGNED_NAMES, SELF_SIGNED_WARNING};

/// Exit status for a bad option value (the same as `clap` uses for usage errors).
pub const EXIT_USAGE: u8 = 2;

/// Exit status for a failure at run time (binding, signals, shutdown).
pub const EXIT_FAILURE: u8 = 1;

/// The default graceful shutdown deadline of the example binaries.
pub const DEFAULT_SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);

/// The flags [`ServerArgs`] has only in the `net` build (without `evented`).
pub const NET_ONLY_FLAGS: &[&str] = &[
    "--threads",
    "--queue",
    "--thread-idle-time",
    "--thread-idle-ms",
];

/// The flags [`ServerArgs`] has only in the evented build (`--features evented`).
pub const EVENTED_ONLY_FLAGS: &[&str] = &[
    "--loops",
    "--workers",
    "--dispatch",
    "--takeover-after",
    "--spares",
    "--input-budget",
    "--output-budget",
];

/// Parse this process's arguments into `P`, a binary's parser that flattens
/// [`ServerArgs`], as `P::parse()` does (printing the error and exiting with
/// [`EXIT_USAGE`] on a bad one), except that a flag of the other build is refused saying
/// which build has it: `--workers is a flag of the evented build (cargo run --features
/// evented)`, not only "unexpected argument".
pub fn parse_args<P: clap::Parser>() -> P {
    match try_parse_args_from(std::env::args_os()) {
        Ok(parsed) => parsed,
        Err(e) => e.exit(),
    }
}

/// [`parse_args`] from `args` (the program name first), returning the error instead of
/// exiting.
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
/// let other = if cfg!(feature = "evented") { "--threads" } else { "--workers" };
/// let err = examples::cli::try_parse_args_from::<Cli, _, _>(["prog", other, "4"])
///     .err()
///     .unwrap();
/// assert_eq!(err.exit_code(), 2);
/// let message = err.to_string();
/// assert!(message.contains(&format!("'{other} 4'")), "{message}");
/// assert!(message.contains("is a flag of the"), "{message}");
/// ```
pub fn try_parse_args_from<P, I, T>(args: I) -> Result<P, clap::Error>
where
    P: clap::Parser,
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    P::try_parse_from(&args).map_err(|e| match other_build(&e, &args) {
        Some(message) => P::command().error(clap::error::ErrorKind::UnknownArgument, message),
        None => e,
    })
}

/// For an "unexpected argument" error about a flag of the other build, what to say
/// instead: the flag, its value (if any) and the build that has it.
fn other_build(e: &clap::Error, args: &[std::ffi::OsString]) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() != ErrorKind::UnknownArgument {
        return None;
    }
    let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) else {
        return None;
    };
    let (flag, inline_value) = match arg.split_once('=') {
        Some((flag, value)) => (flag, Some(value.to_owned())),
        None => (arg.as_str(), None),
    };
    let (build, how, this) = if cfg!(feature = "evented") {
        if !NET_ONLY_FLAGS.contains(&flag) {
            return None;
        }
        ("net", "cargo run without --features evented", "evented")
    } else {
        if !EVENTED_ONLY_FLAGS.contains(&flag) {
            return None;
        }
        ("evented", "cargo run --features evented", "net")
    };
    // The value typed after the flag, if it looks like one.
    let value = inline_value.or_else(|| {
        let with_equals = format!("{flag}=");
        args.iter().enumerate().find_map(|(at, a)| {
            let a = a.to_str()?;
            if let Some(value) = a.strip_prefix(&with_equals) {
                return Some(value.to_owned());
            }
            let next = args.get(at + 1)?.to_str()?;
            (a == flag && !next.starts_with("--")).then(|| next.to_owned())
        })
    });
    let typed = match value {
        Some(value) => format!("{flag} {value}"),
        None => flag.to_owned(),
    };
    Some(format!(
        "unexpected argument '{typed}': {flag} is a flag of the {build} build ({how}); \
         this binary is the {this} build"
    ))
}

/// The server options common to every example binary. Every option has a default, shown
/// in `--help`: the [`ServerParams`] (and, with `evented`, `evnet::EvOptions`) default.
///
/// Durations need a unit (`500ms`, `15s`, `2m`, `1h 30m`; see [`parse_duration`]); a
/// bare number is an error. The hidden `-ms` spellings (`--keep-alive-ms`,
/// `--read-timeout-ms`, `--write-timeout-ms`, `--thread-idle-ms`, `--shutdown-ms`) take
/// a bare number of milliseconds (see [`parse_millis`]). Sizes take decimal and binary
/// units (see [`parse_bytes`]). Each server parameter's flag has its value checked by the
/// library as it is read, so a bad one is a usage error naming the flag and the value as
/// typed, with the library's message as the cause. Options of the other server are
/// absent ([`NET_ONLY_FLAGS`], [`EVENTED_ONLY_FLAGS`]; [`parse_args`] says which build
/// has them). `--tls-cert` and `--tls-key` (both or neither), or `--tls-self-signed`
/// instead, serve TLS with the `tls` feature; without it they are hidden and refused with
/// a message saying so.
///
/// ```
/// use clap::Parser;
/// use std::time::Duration;
///
/// #[derive(Parser)]
/// struct Cli {
///     #[command(flatten)]
///     server: examples::cli::ServerArgs,
/// }
///
/// let cli = Cli::parse_from(["prog", "--keep-alive-timeout", "2500ms", "--nodelay=false"]);
/// let params = cli.server.params()?;
/// assert_eq!(params.keep_alive_timeout(), Duration::from_millis(2500));
/// assert!(!params.nodelay());
/// assert_eq!(params.read_timeout(), net::ServerParams::default().read_timeout());
///
/// // The `-ms` spellings take milliseconds; the others need a unit.
/// let cli = Cli::parse_from(["prog", "--keep-alive-ms", "120"]);
/// assert_eq!(cli.server.params()?.keep_alive_timeout(), Duration::from_millis(120));
/// assert!(Cli::try_parse_from(["prog", "--keep-alive-timeout", "120"]).is_err());
///
/// // A value the library refuses is refused as the flag's.
/// let Err(bad) = Cli::try_parse_from(["prog", "--max-connections", "0"]) else { panic!() };
/// assert_eq!(bad.exit_code(), 2);
/// assert!(bad.to_string().contains("'0' for '--max-connections <N>'"), "{bad}");
/// assert!(bad.to_string().contains("must be at least 1"), "{bad}");
/// assert!(!bad.to_string().contains("max_connections"), "the flag, not the library's name");
/// # Ok::<(), net::Error>(())
/// ```
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Most threads serving connections at once (net's pool).
    #[cfg(not(feature = "evented"))]
    #[arg(
        long,
        value_name = "N",
        value_parser = threads_value,
        default_value_t = ServerParams::default().max_threads()
    )]
    pub threads: usize,

    /// Most accepted connections waiting for a thread (net).
    #[cfg(not(feature = "evented"))]
    #[arg(long, value_name = "N", default_value_t = ServerParams::default().max_queued())]
    pub queue: usize,

    /// How long an extra idle thread lives (net): `100ms`, `10s`, `2m`, …
    #[cfg(not(feature = "evented"))]
    #[arg(
        long,
        value_name = "DURATION",
        value_parser = thread_idle_value,
        default_value = format_duration(ServerParams::default().thread_idle_time())
    )]
    pub thread_idle_time: Duration,

    /// `--thread-idle-time` in milliseconds (a bare number is milliseconds).
    #[cfg(not(feature = "evented"))]
    #[arg(long, value_name = "MS", value_parser = thread_idle_ms_value, hide = true, conflicts_with = "thread_idle_time")]
    pub thread_idle_ms: Option<Duration>,

    /// Most open connections; more are refused.
    #[arg(
        long,
        value_name = "N",
        value_parser = max_connections_value,
        default_value_t = ServerParams::default().max_connections()
    )]
    pub max_connections: usize,

    /// Longest idle wait between requests on a connection: `15s`, `500ms`, `2m`, … (a
    /// unit is required; `--keep-alive-ms N` takes milliseconds).
    #[arg(
        long,
        value_name = "DURATION",
        value_parser = keep_alive_timeout_value,
        default_value = format_duration(ServerParams::default().keep_alive_timeout())
    )]
    pub keep_alive_timeout: Duration,

    /// `--keep-alive-timeout` in milliseconds (a bare number is milliseconds).
    #[arg(long, value_name = "MS", value_parser = keep_alive_ms_value, hide = true, conflicts_with = "keep_alive_timeout")]
    pub keep_alive_ms: Option<Duration>,

    /// Longest time to receive a whole request once its first byte has arrived: `30s`, …
    /// (`--read-timeout-ms N` takes milliseconds).
    #[arg(
        long,
        value_name = "DURATION",
        value_parser = read_timeout_value,
        default_value = format_duration(ServerParams::default().read_timeout())
    )]
    pub read_timeout: Duration,

    /// `--read-timeout` in milliseconds (a bare number is milliseconds).
    #[arg(long, value_name = "MS", value_parser = read_timeout_ms_value, hide = true, conflicts_with = "read_timeout")]
    pub read_timeout_ms: Option<Duration>,

    /// Longest wait for the peer to take response bytes: `30s`, … (`--write-timeout-ms N`
    /// takes milliseconds).
    #[arg(
        long,
        value_name = "DURATION",
        value_parser = write_timeout_value,
        default_value = format_duration(ServerParams::default().write_timeout())
    )]
    pub write_timeout: Duration,

    /// `--write-timeout` in milliseconds (a bare number is milliseconds).
    #[arg(long, value_name = "MS", value_parser = write_timeout_ms_value, hide = true, conflicts_with = "write_timeout")]
    pub write_timeout_ms: Option<Duration>,

    /// Requests served on one connection before it is closed: a number, or `unlimited`.
    // `std::option::Option` spelled out: clap then takes the value from `parse_limit`
    // (which maps `unlimited` to `None`) instead of making the flag optional.
    #[arg(
        long,
        value_name = "N",
        value_parser = max_requests_value,
        default_value = format_limit(ServerParams::default().max_requests_per_connection())
    )]
    pub max_requests: std::option::Option<u64>,

    /// Connections the kernel holds, connected, until the server accepts them (the listen
    /// backlog; the kernel caps it at `net.core.somaxconn`).
    #[arg(
        long,
        value_name = "N",
        value_parser = backlog_value,
        default_value_t = ServerParams::default().backlog()
    )]
    pub backlog: u32,

    /// Set TCP_NODELAY on accepted sockets (`--nodelay` alone means true).
    #[arg(
        long,
        value_name = "BOOL",
        action = ArgAction::Set,
        num_args = 0..=1,
        require_equals = false,
        default_missing_value = "true",
        default_value_t = ServerParams::default().nodelay()
    )]
    pub nodelay: bool,

    /// Expect a PROXY protocol header (v1 or v2, HAProxy's `send-proxy`/`send-proxy-v2`)
    /// on every connection: only behind a balancer that sends it. Connections without
    /// one are closed.
    #[arg(long)]
    pub proxy_protocol: bool,

    /// Most connections open at once from one client address (with `--proxy-protocol`,
    /// the client the PROXY header names): a number, or `off`. More are closed at once.
    #[arg(
        long,
        value_name = "N",
        value_parser = parse_count_or_off,
        default_value = "off"
    )]
    pub max_connections_per_client: std::option::Option<usize>,

    /// Age after which a connection's next request is its last (`Connection: close`),
    /// and an idle connection is closed: `10m`, `1h`, …, or `off`.
    #[arg(
        long,
        value_name = "DURATION",
        value_parser = max_connection_age_value,
        default_value = "off"
    )]
    pub max_connection_age: std::option::Option<Duration>,

    /// Most connections accepted a second (per event loop with evnet): a number, or
    /// `off`. Above it newcomers wait in the listen backlog.
    #[arg(
        long,
        value_name = "PER_SECOND",
        value_parser = parse_rate_or_off,
        default_value = "off"
    )]
    pub max_accept_rate: std::option::Option<u32>,

    /// At --max-connections, close the longest-idle connection for a newcomer instead
    /// of refusing it, and above 90 % of it keep no connection alive
    /// (`--evict-idle-at-capacity` alone means true).
    #[arg(
        long,
        value_name = "BOOL",
        action = ArgAction::Set,
        num_args = 0..=1,
        require_equals = false,
        default_missing_value = "true",
        default_value_t = ServerParams::default().evict_idle_at_capacity()
    )]
    pub evict_idle_at_capacity: bool,

    /// Most bytes of one partial request buffered in an event loop (evnet; net ignores
    /// it): `2MiB`, `64KiB`, `1048576`, … A request that fits never holds a worker while
    /// it arrives.
    #[arg(
        long,
        value_name = "BYTES",
        value_parser = max_request_buffer_value,
        default_value = format_bytes(ServerParams::default().max_request_buffer())
    )]
    pub max_request_buffer: usize,

    /// Most unsent response bytes held per connection (evnet; net ignores it): output up
    /// to this is finished by the event loop, so the worker is free at once.
    #[arg(
        long,
        value_name = "BYTES",
        value_parser = max_output_buffer_value,
        default_value = format_bytes(ServerParams::default().max_output_buffer())
    )]
    pub max_output_buffer: usize,

    /// Most request bytes one event loop buffers before it stops reading new requests
    /// (evnet).
    #[cfg(feature = "evented")]
    #[arg(
        long,
        value_name = "BYTES",
        value_parser = input_budget_value,
        default_value = format_bytes(evnet::EvOptions::default().input_budget_bytes())
    )]
    pub input_budget: usize,

    /// Most response bytes one event loop holds for slow readers before it stops reading
    /// new requests (evnet).
    #[cfg(feature = "evented")]
    #[arg(
        long,
        value_name = "BYTES",
        value_parser = output_budget_value,
        default_value = format_bytes(evnet::EvOptions::default().output_budget_bytes())
    )]
    pub output_budget: usize,

    /// Event loops (evnet; by default one per two cores with workers, one per core
    /// inline).
    #[cfg(feature = "evented")]
    #[arg(long, value_name = "N", help = loops_help())]
    pub loops: Option<usize>,

    /// Worker threads (evnet; the default is one per core).
    #[cfg(feature = "evented")]
    #[arg(long, value_name = "N", default_value_t = evnet::EvOptions::default().worker_count())]
    pub workers: usize,

    /// Where requests are served (evnet).
    #[cfg(feature = "evented")]
    #[arg(
        long,
        value_name = "MODE",
        value_enum,
        default_value_t = Dispatch::from(evnet::EvOptions::default().dispatch_mode())
    )]
    pub dispatch: Dispatch,

    /// Adaptive dispatch: how long a request may stay in its handler on a loop's thread
    /// before a spare thread takes the loop over: `1ms`, `500us`, … (evnet).
    #[cfg(feature = "evented")]
    #[arg(
        long,
        value_name = "DURATION",
        value_parser = takeover_after_value,
        default_value = format_duration(evnet::DEFAULT_TAKEOVER_AFTER)
    )]
    pub takeover_after: Duration,

    /// Adaptive dispatch: spare threads that take over loops whose handler blocks
    /// (evnet). [default: as many as --workers]
    #[cfg(feature = "evented")]
    #[arg(long, value_name = "N", value_parser = spares_value)]
    pub spares: Option<usize>,

    /// How long a graceful shutdown lets requests in flight finish: `5s`, … (`--shutdown-ms
    /// N` takes milliseconds).
    #[arg(
        long,
        value_name = "DURATION",
        value_parser = parse_duration,
        default_value = format_duration(DEFAULT_SHUTDOWN_DEADLINE)
    )]
    pub shutdown_deadline: Duration,

    /// Serve the server's statistics for Prometheus (`GET /metrics`, text exposition
    /// format, metrics named `net_…` or `evnet_…`) on this address, e.g. `127.0.0.1:9100`.
    /// [default: none, no metrics endpoint]
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<String>,

    /// `--shutdown-deadline` in milliseconds (a bare number is milliseconds).
    #[arg(long, value_name = "MS", value_parser = parse_millis, hide = true, conflicts_with = "shutdown_deadline")]
    pub shutdown_ms: Option<Duration>,

    /// Serve TLS (rustls) with this PEM certificate chain, the server's certificate first
    /// (with `--tls-key`; on `net` and evnet alike). Without the `tls` feature the flag
    /// is hidden and refused (exit 2: built without TLS). [default: none: plaintext]
    #[arg(
        long,
        value_name = "PATH",
        requires = "tls_key",
        hide = cfg!(not(feature = "tls"))
    )]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of `--tls-cert` (PKCS#8, PKCS#1 or SEC1). [default: none:
    /// plaintext]
    #[arg(
        long,
        value_name = "PATH",
        requires = "tls_cert",
        hide = cfg!(not(feature = "tls"))
    )]
    pub tls_key: Option<PathBuf>,

    /// Serve TLS with a self-signed certificate for localhost, 127.0.0.1 and ::1, made at
    /// start and never saved: for trying TLS only (clients cannot verify it: `curl -k`).
    /// Not with `--tls-cert`/`--tls-key`.
    #[arg(
        long,
        conflicts_with_all = ["tls_cert", "tls_key"],
        hide = cfg!(not(feature = "tls"))
    )]
    pub tls_self_signed: bool,
}

/// The `--dispatch` values: where the evented server serves requests.
#[cfg(feature = "evented")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Dispatch {
    /// On the loop's thread; a loop whose handler blocks is taken over by a spare thread.
    Adaptive,
    /// On the worker pool: handlers may block.
    Workers,
    /// On the event loop thread itself (only for handlers that never block).
    Inline,
}

#[cfg(feature = "evented")]
impl From<Dispatch> for evnet::Dispatch {
    fn from(d: Dispatch) -> Self {
        match d {
            Dispatch::Adaptive => evnet::Dispatch::Adaptive,
            Dispatch::Workers => evnet::Dispatch::Workers,
            Dispatch::Inline => evnet::Dispatch::Inline,
        }
    }
}

#[cfg(feature = "evented")]
impl From<evnet::Dispatch> for Dispatch {
    fn from(d: evnet::Dispatch) -> Self {
        match d {
            evnet::Dispatch::Inline => Dispatch::Inline,
            evnet::Dispatch::Workers => Dispatch::Workers,
            // `evnet::Dispatch` is non-exhaustive; a new mode maps to the default here
            // until the CLI learns it.
            _ => Dispatch::Adaptive,
        }
    }
}

impl ServerArgs {
    /// The server parameters, built and validated by [`ServerParams::builder`]; a bad value
    /// is an error naming the parameter. With TLS, no ALPN protocol is offered (see
    /// [`params_with_alpn`](Self::params_with_alpn)).
    pub fn params(&self) -> net::Result<ServerParams> {
        self.params_with_alpn(&[])
    }

    /// [`params`](Self::params), with TLS offering the ALPN protocols `alpn` (see
    /// [`alpn_protocols`]).
    pub fn params_with_alpn(&self, alpn: &[&[u8]]) -> net::Result<ServerParams> {
        let b = ServerParams::builder();
        #[cfg(not(feature = "evented"))]
        let b = b
            .max_threads(self.threads)
            .max_queued(self.queue)
            .thread_idle_time(self.thread_idle_ms.unwrap_or(self.thread_idle_time));
        let b = b
            .max_connections(self.max_connections)
            .keep_alive_timeout(self.keep_alive_ms.unwrap_or(self.keep_alive_timeout))
            .read_timeout(self.read_timeout_ms.unwrap_or(self.read_timeout))
            .write_timeout(self.write_timeout_ms.unwrap_or(self.write_timeout))
            .backlog(self.backlog)
            .nodelay(self.nodelay)
            .proxy_protocol(self.proxy_protocol)
            .max_request_buffer(self.max_request_buffer)
            .max_output_buffer(self.max_output_buffer)
            .evict_idle_at_capacity(self.evict_idle_at_capacity);
        let b = match self.max_requests {
            Some(n) => b.max_requests_per_connection(n),
            None => b.unlimited_requests_per_connection(),
        };
        let b = match self.max_connections_per_client {
            Some(n) => b.max_connections_per_client(n),
            None => b,
        };
        let b = match self.max_connection_age {
            Some(d) => b.max_connection_age(d),
            None => b,
        };
        let b = match self.max_accept_rate {
            Some(n) => b.max_accept_rate(n),
            None => b,
        };
        self.with_tls(b, alpn)?.build()
    }

    /// True when `--tls-cert` and `--tls-key`, or `--tls-self-signed`, ask for TLS.
    pub fn is_tls(&self) -> bool {
        self.tls_cert.is_some() || self.tls_key.is_some() || self.tls_self_signed
    }

    /// The TLS configuration of `--tls-cert` and `--tls-key` (both or neither), loaded by
    /// `net::tls::server_config`, or of `--tls-self-signed`, with the ALPN protocols
    /// `alpn`; refused when this build has no TLS (`tls` feature).
    #[cfg_attr(not(feature = "tls"), allow(unused_variables))]
    fn with_tls(
        &self,
        b: net::ServerParamsBuilder,
        alpn: &[&[u8]],
    ) -> net::Result<net::ServerParamsBuilder> {
        if self.tls_self_signed {
            #[cfg(feature = "tls")]
            return Ok(b.tls(self_signed_config(alpn)?));
            #[cfg(not(feature = "tls"))]
            return Err(net::Error::invalid_param(
                "--tls-self-signed",
                "this binary was built without TLS: rebuild it with `--features tls`",
            ));
        }
        match (&self.tls_cert, &self.tls_key) {
            (None, None) => Ok(b),
            (Some(_), None) => Err(net::Error::invalid_param(
                "--tls-key",
                "`--tls-cert` needs `--tls-key`",
            )),
            (None, Some(_)) => Err(net::Error::invalid_param(
                "--tls-cert",
                "`--tls-key` needs `--tls-cert`",
            )),
            #[cfg(feature = "tls")]
            (Some(cert), Some(key)) => Ok(b.tls(net::tls::server_config(cert, key, alpn)?)),
            #[cfg(not(feature = "tls"))]
            (Some(_), Some(_)) => Err(net::Error::invalid_param(
                "--tls-cert",
                "this binary was built without TLS: rebuild it with `--features tls`",
            )),
        }
    }

    /// The options of the evented server.
    #[cfg(feature = "evented")]
    pub fn options(&self) -> evnet::EvOptions {
        let options = evnet::EvOptions::default()
            .workers(self.workers)
            .dispatch(self.dispatch.into())
            .takeover_after(self.takeover_after)
            .input_budget(self.input_budget)
            .output_budget(self.output_budget);
        let options = match self.spares {
            Some(n) => options.spares(n),
            None => options,
        };
        match self.loops {
            Some(n) => options.loops(n),
            None => options,
        }
    }

    /// The options of the blocking server: it has none.
    #[cfg(not(feature = "evented"))]
    pub fn options(&self) -> <Server as net::Server>::Options {}

    /// The graceful shutdown deadline.
    pub fn shutdown_deadline(&self) -> Duration {
        self.shutdown_ms.unwrap_or(self.shutdown_deadline)
    }

    /// Print `e` with its causes and return the exit status: for a parameter the library
    /// refused, [`EXIT_USAGE`], naming the flag that set it and its value (the library's
    /// message is the cause); [`EXIT_FAILURE`] for any other error.
    fn fail(&self, e: &net::Error) -> ExitCode {
        let flag = e.invalid_param_name().and_then(|param| self.flag_of(param));
        match flag {
            Some((flag, Some(value))) => usage_error(flag, &value, &refusal(e)),
            Some((flag, None)) => {
                eprintln!("error: {flag}: {}", refusal(e));
                ExitCode::from(EXIT_USAGE)
            }
            None => {
                eprintln!("error: {}", report(e));
                ExitCode::from(if e.is_invalid_param() {
                    EXIT_USAGE
                } else {
                    EXIT_FAILURE
                })
            }
        }
    }

    /// The flag behind `param`, the parameter a library error names
    /// ([`net::Error::invalid_param_name`]), and its value if it takes one: the TLS flags
    /// and evnet's options, which are checked when the server is made (the other flags
    /// check their values as they are read).
    fn flag_of(&self, param: &str) -> Option<(&'static str, Option<String>)> {
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        match param {
            "--tls-self-signed" => Some(("--tls-self-signed", None)),
            "--tls-cert" => Some(("--tls-cert", path(&self.tls_cert))),
            "--tls-key" => Some(("--tls-key", path(&self.tls_key))),
            // What `net::tls` says of the certificate chain and the key: of the files, or
            // of the certificate `--tls-self-signed` made.
            #[cfg(feature = "tls")]
            net::tls::TLS_CERT | net::tls::TLS_KEY if self.tls_self_signed => {
                Some(("--tls-self-signed", None))
            }
            #[cfg(feature = "tls")]
            net::tls::TLS_CERT => Some(("--tls-cert", path(&self.tls_cert))),
            #[cfg(feature = "tls")]
            net::tls::TLS_KEY => Some(("--tls-key", path(&self.tls_key))),
            #[cfg(feature = "evented")]
            "loops" => {
                let value = self.loops.map_or_else(
                    || format!("{} (the default)", self.options().loop_count()),
                    |n| n.to_string(),
                );
                Some(("--loops", Some(value)))
            }
            #[cfg(feature = "evented")]
            "workers" => Some(("--workers", Some(self.workers.to_string()))),
            #[cfg(feature = "evented")]
            "spares" => Some(("--spares", Some(self.spares?.to_string()))),
            #[cfg(feature = "evented")]
            "input_budget" => Some(("--input-budget", Some(format_bytes(self.input_budget)))),
            #[cfg(feature = "evented")]
            "output_budget" => Some(("--output-budget", Some(format_bytes(self.output_budget)))),
            #[cfg(feature = "evented")]
            "takeover_after" => Some((
                "--takeover-after",
                Some(format_duration(self.takeover_after)),
            )),
            _ => None,
        }
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

/// The scheme of `scheme` over TLS: `https` for `http`, `rediss` for `redis`, `tls` for
/// `tcp`; any other is kept.
///
/// ```
/// use examples::cli::{parse_listening_line, listening_line, tls_scheme};
/// assert_eq!(tls_scheme("http"), "https");
/// let addr = "127.0.0.1:8443".parse().unwrap();
/// let line = listening_line(tls_scheme("http"), addr);
/// assert!(line.starts_with("listening on https://127.0.0.1:8443 ("));
/// assert_eq!(parse_listening_line(&line), Some(addr));
/// ```
pub fn tls_scheme(scheme: &str) -> &str {
    match scheme {
        "http" => "https",
        "redis" => "rediss",
        "tcp" => "tls",
        other => other,
    }
}

/// The ALPN protocols (RFC 7301) a server of `scheme` offers over TLS: `http/1.1` for
/// `http`, none for the others (the line echo and RESP have no ALPN identifier).
///
/// ```
/// use examples::cli::alpn_protocols;
/// assert_eq!(alpn_protocols("http"), [b"http/1.1"]);
/// assert!(alpn_protocols("tcp").is_empty());
/// assert!(alpn_protocols("redis").is_empty());
/// ```
pub fn alpn_protocols(scheme: &str) -> &'static [&'static [u8]] {
    match scheme {
        "http" => &[b"http/1.1"],
        _ => &[],
    }
}

/// [`listening_line`] for a server whose scheme is `scheme` over TLS when `tls` holds.
fn listening_line_for(scheme: &str, tls: bool, addr: SocketAddr) -> String {
    let scheme = if tls { tls_scheme(scheme) } else { scheme };
    listening_line(scheme, addr)
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

/// One line of final statistics: `key=value` pairs (`timed_out` is the sum of the
/// `timed_out_*` ones).
///
/// ```
/// let line = examples::cli::stats_line(&net::Stats::default());
/// assert!(line.starts_with("stats: connections=0 "));
/// assert!(line.contains(" timed_out_read=0 "));
/// ```
pub fn stats_line(s: &Stats) -> String {
    format!(
        "stats: connections={} max_concurrent={} refused={} requests={} timed_out={} \
         handler_panics={} server_panics={} threads={}/{} tls_handshake_failures={} shed={} \
         takeovers={} stalls={} proxy_header_failures={} timed_out_idle={} timed_out_read={} \
         timed_out_write={} timed_out_handler={} tls_handshakes_full={} \
         tls_handshakes_resumed={} client_limited={} aged_out={} accept_pauses={} \
         evicted_idle={} keep_alive_declined={}",
        s.total_connections,
        s.max_concurrent_connections,
        s.refused_connections,
        s.requests,
        s.timed_out,
        s.handler_panics,
        s.server_panics,
        s.current_threads,
        s.max_threads,
        s.tls_handshake_failures,
        s.shed_connections,
        s.loop_takeovers,
        s.loop_stalls,
        s.proxy_header_failures,
        s.timed_out_idle,
        s.timed_out_read,
        s.timed_out_write,
        s.timed_out_handler,
        s.tls_handshakes_full,
        s.tls_handshakes_resumed,
        s.client_limited,
        s.aged_out,
        s.accept_pauses,
        s.evicted_idle,
        s.keep_alive_declined,
    )
}

/// Serve `handler` on `addr` (or on the sockets systemd or a predecessor passed,
/// `LISTEN_FDS`) with `args` until SIGINT or SIGTERM, restarting on SIGUSR2.
///
/// Logs to stderr through `env_logger` (`RUST_LOG`, `warn` when unset). Prints
/// [`listening_line`] first (and flushes), with the [`tls_scheme`] of `scheme` when
/// `--tls-cert` and `--tls-key`, or `--tls-self-signed` (which prints
/// [`SELF_SIGNED_WARNING`] on stderr), are given; TLS offers the [`alpn_protocols`] of
/// `scheme`. Signals go through the library's
/// [`net::ops::Supervisor`], whose events are printed on stderr: the first SIGINT or
/// SIGTERM shuts down through the server's `ServerHandle` with
/// [`ServerArgs::shutdown_deadline`], a second one ends the process at once with status
/// 128 + the signal; SIGUSR2 starts this program again on the same sockets and, once it
/// is ready, drains and exits (a restart that refuses nobody). Tells systemd
/// (`NOTIFY_SOCKET`) `READY=1`, `RELOADING=1` and `STOPPING=1`. Prints [`stats_line`] at
/// the end. Without `LISTEN_FDS` it binds `addr` (the value of `--addr`) with
/// [`ServerArgs::backlog`] on either server. Returns the process exit status: 0 after a
/// clean shutdown, [`EXIT_USAGE`] for a bad option value (an `addr` or `--metrics-addr`
/// that is no `HOST:PORT` included; the message names the flag and the value),
/// [`EXIT_FAILURE`] for other errors (each printed on stderr with its causes; one binding
/// `addr` names `--addr`).
// `args.options()` is `()` for `net` and `evnet::EvOptions` for `evnet`.
#[allow(clippy::unit_arg)]
pub fn run<H: Handler>(handler: H, addr: &str, scheme: &str, args: &ServerArgs) -> ExitCode {
    init_logging();
    let params = match args.params_with_alpn(alpn_protocols(scheme)) {
        Ok(params) => params,
        Err(e) => return args.fail(&e),
    };
    // Checked before anything is bound: a bad address is a usage error.
    let metrics_addrs = match args
        .metrics_addr
        .as_deref()
        .map(|a| resolve("--metrics-addr", a))
    {
        None => None,
        Some(Ok(addrs)) => Some(addrs),
        Some(Err(code)) => return code,
    };
    if args.tls_self_signed {
        eprintln!("{SELF_SIGNED_WARNING}");
    }
    // Before binding, so a signal sent as soon as the first line appears is not lost.
    let supervisor = match Supervisor::new().and_then(|s| s.restart_with_this_program()) {
        Ok(supervisor) => supervisor
            .shutdown_deadline(args.shutdown_deadline())
            .on_event(|event| eprintln!("{event}")),
        Err(e) => {
            eprintln!("error: cannot install signal handlers or read NOTIFY_SOCKET: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let bound = match ops::listen_fds() {
        Ok(inherited) if inherited.is_empty() => match resolve("--addr", addr) {
            Ok(addrs) => bind(&addrs, handler, params, args),
            Err(code) => return code,
        },
        Ok(inherited) => Server::from_listeners_with(inherited, handler, params, args.options()),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let mut server = match bound {
        Ok(server) => server,
        Err(e) if e.is_bind() => {
            eprintln!("error: --addr {addr}: {}", report(&e));
            return ExitCode::from(EXIT_FAILURE);
        }
        Err(e) => return args.fail(&e),
    };
    if let Err(e) = server.start() {
        return args.fail(&e);
    }
    let mut stdout = std::io::stdout().lock();
    let line = listening_line_for(scheme, args.is_tls(), server.local_addr());
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
    drop(stdout);

    let handle = server.handle();
    if let (Some(addr), Some(addrs)) = (&args.metrics_addr, metrics_addrs) {
        match crate::metrics::serve(&addrs[..], handle.clone(), SERVER_KIND) {
            Ok(bound) => println!("metrics on http://{bound}/metrics"),
            Err(e) => {
                eprintln!("error: --metrics-addr {addr}: {e}");
                let _ = handle.shutdown(Duration::ZERO);
                return ExitCode::from(EXIT_FAILURE);
            }
        }
    }
    if let Err(e) = supervisor.watch(handle.clone()) {
        eprintln!("error: cannot watch the signals or notify systemd: {e}");
        let _ = handle.shutdown(Duration::ZERO);
        return ExitCode::from(EXIT_FAILURE);
    }
    // Returns once the server has stopped (the supervisor shuts it down).
    let stats = handle.wait();
    println!("{}", stats_line(&stats));
    drop(server);
    ExitCode::SUCCESS
}

/// Log to standard error, filtered by `RUST_LOG` (`warn` when unset), as `env_logger` does.
fn init_logging() {
    let env = env_logger::Env::default().default_filter_or("warn");
    let _ = env_logger::Builder::from_env(env).try_init();
}

/// An error with its causes, each once (`cannot bind ...: Address in use`).
fn report(e: &net::Error) -> String {
    chain(e.to_string(), e)
}

/// Why the library refused a flag's value, with its causes: the reason alone, since the
/// message that shows it names the flag (`must be at least 1`, not the library's name
/// for the parameter).
fn refusal(e: &net::Error) -> String {
    let reason = e.invalid_param_reason().map(str::to_owned);
    chain(reason.unwrap_or_else(|| e.to_string()), e)
}

/// `message` followed by the causes of `e`, each once.
fn chain(mut message: String, e: &net::Error) -> String {
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        message = format!("{message}: {c}");
        cause = c.source();
    }
    message
}

/// Print that `value` of `flag` is refused because of `cause`, as clap does; returns
/// [`EXIT_USAGE`].
fn usage_error(flag: &str, value: &str, cause: &str) -> ExitCode {
    eprintln!(
        "error: invalid value '{value}' for '{flag}': {cause}\n\nFor more information, try \
         '--help'."
    );
    ExitCode::from(EXIT_USAGE)
}

/// The addresses `text`, the value of `flag`, resolves to; a usage error (printed, its
/// exit status returned) when it is not a `HOST:PORT` or resolves to nothing.
fn resolve(flag: &str, text: &str) -> Result<Vec<SocketAddr>, ExitCode> {
    use std::net::ToSocketAddrs;
    let why = match text.to_socket_addrs() {
        Ok(addrs) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if !addrs.is_empty() {
                return Ok(addrs);
            }
            "resolves to no address".to_owned()
        }
        Err(e) => e.to_string(),
    };
    Err(usage_error(
        flag,
        text,
        &format!(
            "not a HOST:PORT address to listen on ({why}); e.g. 127.0.0.1:8080, \
             [::1]:8080, localhost:8080"
        ),
    ))
}

/// Bind a listener on the first of `addrs` that takes one, with `--backlog` (std's
/// `TcpListener::bind`, which `net` binds with, has a fixed backlog), and serve on it.
// `args.options()` is `()` for `net`.
#[cfg(not(feature = "evented"))]
#[allow(clippy::unit_arg)]
fn bind<H: Handler>(
    addrs: &[SocketAddr],
    handler: H,
    params: ServerParams,
    args: &ServerArgs,
) -> net::Result<Server> {
    let mut last = std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address to bind");
    for &addr in addrs {
        match listen_on(addr, params.backlog()) {
            Ok(listener) => {
                return Server::from_listener_with(listener, handler, params, args.options())
            }
            Err(e) => last = e,
        }
    }
    Err(net::Error::new(
        net::ErrorKind::Bind,
        "cannot bind the listening socket",
        Some(last),
    ))
}

/// A listening socket on `addr` with `SO_REUSEADDR` (as std's `TcpListener::bind` sets
/// it) and the listen backlog `backlog`.
#[cfg(not(feature = "evented"))]
fn listen_on(addr: SocketAddr, backlog: u32) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(socket.into())
}

/// Bind evnet's listeners on `addrs` (it applies `--backlog` itself) and serve on them.
#[cfg(feature = "evented")]
fn bind<H: Handler>(
    addrs: &[SocketAddr],
    handler: H,
    params: ServerParams,
    args: &ServerArgs,
) -> net::Result<Server> {
    Server::bind_with(addrs, handler, params, args.options())
}

/// Parse a duration flag with [`humantime`]: numbers with units, such as `500ms`, `15s`,
/// `2m`, `1h 30m`, `1.5s`. A bare number is an error that shows the fix, because its unit
/// is a guess: nginx reads `120` as seconds, these flags once read it as milliseconds.
///
/// ```
/// use std::time::Duration;
/// use examples::cli::parse_duration;
/// assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
/// assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
/// assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
/// let err = parse_duration("120").unwrap_err();
/// assert!(err.contains("`120s`"), "{err}");
/// assert!(parse_duration("soon").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    parse_duration_checked(text, |_| Ok(()))
}

/// [`parse_duration`] for a flag that also refuses some durations (`check`'s error says
/// why): the fix shown for a bare number is one the flag accepts (`0` on a flag that
/// refuses zero is not told to write `0s`).
fn parse_duration_checked(
    text: &str,
    check: impl Fn(Duration) -> Result<(), String>,
) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(number) = text.parse::<f64>() {
        if number.is_finite() && number >= 0.0 {
            let accepted = |unit: &str| {
                let fix = format!("{text}{unit}");
                let d = humantime::parse_duration(&fix).map_err(|e| e.to_string())?;
                check(d).map(|()| fix)
            };
            return Err(match (accepted("s"), accepted("ms")) {
                (Ok(s), Ok(ms)) => format!(
                    "a duration needs a unit: write `{s}` for seconds or `{ms}` for \
                     milliseconds (also `2m`, `1h 30m`)"
                ),
                (Ok(fix), Err(_)) | (Err(_), Ok(fix)) => {
                    format!("a duration needs a unit: write `{fix}`")
                }
                (Err(why), Err(_)) => format!(
                    "a duration needs a unit, and `{text}s` would be refused too: {why}; \
                     write one such as `500ms`, `15s` or `2m`"
                ),
            });
        }
    }
    let d = humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration: {e} (try 500ms, 15s, 2m, 1h 30m)"))?;
    check(d)?;
    Ok(d)
}

/// Parse a `-ms` flag (`--keep-alive-ms`, …): a bare number is milliseconds; a number
/// with a unit is read as [`parse_duration`] reads it.
///
/// ```
/// use std::time::Duration;
/// use examples::cli::parse_millis;
/// assert_eq!(parse_millis("120"), Ok(Duration::from_millis(120)));
/// assert_eq!(parse_millis("2s"), Ok(Duration::from_secs(2)));
/// assert!(parse_millis("-1").is_err());
/// ```
pub fn parse_millis(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.bytes().all(|b| b.is_ascii_digit()) && !text.is_empty() {
        return text
            .parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|e| format!("`{text}`: {e}"));
    }
    parse_duration(text)
}

/// A duration as [`parse_duration`] reads it back: `15s`, `1m 30s`, `250ms`.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(examples::cli::format_duration(Duration::from_secs(90)), "1m 30s");
/// ```
pub fn format_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// A size as [`parse_bytes`] reads it back, in the largest binary unit that divides it:
/// `2MiB`, `64KiB`, `1000`.
///
/// ```
/// use examples::cli::{format_bytes, parse_bytes};
/// assert_eq!(format_bytes(2 << 20), "2MiB");
/// assert_eq!(format_bytes(1000), "1000");
/// assert_eq!(parse_bytes(&format_bytes(64 << 30)), Ok(64 << 30));
/// ```
pub fn format_bytes(n: usize) -> String {
    for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if n != 0 && n % (1 << shift) == 0 {
            return format!("{}{unit}", n >> shift);
        }
    }
    n.to_string()
}

/// Parse a count that may be `unlimited` (`None`).
///
/// ```
/// use examples::cli::parse_limit;
/// assert_eq!(parse_limit("100"), Ok(Some(100)));
/// assert_eq!(parse_limit("unlimited"), Ok(None));
/// assert!(parse_limit("many").is_err());
/// ```
pub fn parse_limit(text: &str) -> Result<Option<u64>, String> {
    match text.trim() {
        "unlimited" => Ok(None),
        n => n
            .parse()
            .map(Some)
            .map_err(|_| format!("`{n}` is not a number (or `unlimited`)")),
    }
}

/// A count as [`parse_limit`] reads it back.
pub fn format_limit(n: Option<u64>) -> String {
    n.map_or_else(|| "unlimited".to_owned(), |n| n.to_string())
}

/// Parse a limit that may be `off` (`None`): a count of at least 1.
///
/// ```
/// use examples::cli::parse_count_or_off;
/// assert_eq!(parse_count_or_off("20"), Ok(Some(20)));
/// assert_eq!(parse_count_or_off("off"), Ok(None));
/// assert_eq!(
///     parse_count_or_off("0"),
///     Err("must be at least 1 (or `off`)".to_owned())
/// );
/// assert_eq!(
///     parse_count_or_off("many"),
///     Err("`many` is not a number (or `off`)".to_owned())
/// );
/// ```
pub fn parse_count_or_off(text: &str) -> Result<Option<usize>, String> {
    parse_positive_or_off(text, "", "a number")
}

/// Parse a rate a second that may be `off` (`None`): at least 1, at most 4294967295.
///
/// ```
/// use examples::cli::parse_rate_or_off;
/// assert_eq!(parse_rate_or_off("500"), Ok(Some(500)));
/// assert_eq!(parse_rate_or_off("off"), Ok(None));
/// assert_eq!(
///     parse_rate_or_off("0"),
///     Err("must be at least 1 a second (or `off`)".to_owned())
/// );
/// assert!(parse_rate_or_off("1e3").is_err());
/// assert_eq!(
///     parse_rate_or_off("99999999999"),
///     Err("`99999999999` is not a whole number of connections a second up to 4294967295 \
///          (or `off`)"
///         .to_owned())
/// );
/// ```
pub fn parse_rate_or_off(text: &str) -> Result<Option<u32>, String> {
    parse_positive_or_off(
        text,
        " a second",
        &format!("a whole number of connections a second up to {}", u32::MAX),
    )
}

/// Parse a whole number of at least 1 that may be `off` (`None`), surrounding
/// whitespace ignored, as [`parse_count_or_off`] and [`parse_rate_or_off`] do: `unit`
/// follows the 1 in the message for zero (`" a second"`), `what` says in the message
/// for anything else what the text should be (`"a number"`).
fn parse_positive_or_off<T>(text: &str, unit: &str, what: &str) -> Result<Option<T>, String>
where
    T: std::str::FromStr + PartialEq + From<u8>,
{
    match text.trim() {
        "off" => Ok(None),
        n => match n.parse::<T>() {
            Ok(zero) if zero == T::from(0) => Err(format!("must be at least 1{unit} (or `off`)")),
            Ok(n) => Ok(Some(n)),
            Err(_) => Err(format!("`{n}` is not {what} (or `off`)")),
        },
    }
}

/// Parse a duration that may be `off` (`None`), as [`parse_duration`] reads it; zero is
/// refused (`off` says "no limit").
///
/// ```
/// use std::time::Duration;
/// use examples::cli::parse_duration_or_off;
/// assert_eq!(parse_duration_or_off("10m"), Ok(Some(Duration::from_secs(600))));
/// assert_eq!(parse_duration_or_off("off"), Ok(None));
/// assert!(parse_duration_or_off("0s").is_err());
/// assert!(parse_duration_or_off("600").is_err(), "a unit is needed");
/// ```
pub fn parse_duration_or_off(text: &str) -> Result<Option<Duration>, String> {
    parse_duration_or_off_checked(text, |_| Ok(()))
}

/// [`parse_duration_or_off`] with `check` besides: zero is refused first.
fn parse_duration_or_off_checked(
    text: &str,
    check: impl Fn(Duration) -> Result<(), String>,
) -> Result<Option<Duration>, String> {
    match text.trim() {
        "off" => Ok(None),
        d => parse_duration_checked(d, |d| {
            if d.is_zero() {
                return Err("must be more than zero (or `off`)".to_owned());
            }
            check(d)
        })
        .map(Some),
    }
}

/// Parse a size flag: a number of bytes, or a number with a unit. Binary units are
/// 1024-based: `KiB`, `MiB`, `GiB`, `TiB`, and the short `k`, `m`, `g`, `t` mean the same
/// (`64k` = `64KiB` = 65536). Decimal units are 1000-based: `KB`, `MB`, `GB`, `TB` (`10MB`
/// = 10000000). `B` means bytes. Units are read in any case, with or without a space
/// before them. With a unit the number may have a fraction (`1.5MiB`), rounded down to a
/// whole byte; a number of bytes is whole.
///
/// ```
/// use examples::cli::parse_bytes;
/// assert_eq!(parse_bytes("4096"), Ok(4096));
/// assert_eq!(parse_bytes("64KiB"), Ok(64 << 10));
/// assert_eq!(parse_bytes("64k"), Ok(64 << 10));
/// assert_eq!(parse_bytes("512 KiB"), Ok(512 << 10));
/// assert_eq!(parse_bytes("17M"), Ok(17 << 20));
/// assert_eq!(parse_bytes("1.5MiB"), Ok(3 << 19));
/// assert_eq!(parse_bytes("10MB"), Ok(10_000_000));
/// assert_eq!(parse_bytes("1.5kB"), Ok(1500));
/// assert_eq!(parse_bytes("2GB"), Ok(2_000_000_000));
/// assert!(parse_bytes("lots").is_err());
/// assert!(parse_bytes("1.5").unwrap_err().contains("whole"));
/// assert!(parse_bytes("12 parsecs").unwrap_err().contains("`parsecs`"));
/// assert!(parse_bytes("99999999999G").is_err());
/// ```
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit = unit.trim_start();
    let multiplier: u128 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ if number.is_empty() => return Err(format!("`{text}` is not a size: {SIZES}")),
        _ => return Err(format!("unknown size unit `{unit}`: {SIZES}")),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) {
        return Err(format!("`{text}` is not a size: {SIZES}"));
    }
    if number.contains('.') && multiplier == 1 {
        return Err(format!(
            "`{text}`: a number of bytes is whole (a fraction needs a unit: `1.5KiB`)"
        ));
    }
    let too_large = || format!("`{text}` is too large (at most {} bytes)", usize::MAX);
    // Whole and fraction apart, so that `1.5MiB` is exact: 1 MiB + 5 MiB / 10.
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| too_large())?
    };
    let fraction = &fraction[..fraction.len().min(18)];
    let scale = 10u128.pow(fraction.len() as u32);
    let fraction: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().map_err(|_| too_large())?
    };
    let bytes = whole
        .checked_mul(multiplier)
        .and_then(|b| b.checked_add(fraction * multiplier / scale))
        .ok_or_else(too_large)?;
    usize::try_from(bytes).map_err(|_| too_large())
}

/// What [`parse_bytes`] accepts, for its errors.
const SIZES: &str = "write a number of bytes (65536) or one with a unit: KiB, MiB, GiB \
                     are 1024-based (so are k, m, g: 64k = 65536), KB, MB, GB 1000-based \
                     (10MB = 10000000); e.g. 512KiB, 1.5MiB";

/// The units the example servers' flags read, for the end of their `--help`
/// (`#[command(after_help = examples::cli::UNITS_HELP)]`).
pub const UNITS_HELP: &str = "\
Sizes (BYTES): a number of bytes, or a number with a unit, fractions allowed (1.5MiB,
rounded down to a byte). KiB, MiB, GiB and the short k, m, g are 1024-based (64k = 64KiB =
65536); KB, MB, GB are 1000-based (10MB = 10000000).
Durations (DURATION) need a unit: 500ms, 15s, 2m, 1h 30m.";

// ----- flag values checked by the library -----------------------------------------------
//
// Each server parameter's flag checks its value with `ServerParams::builder` (the other
// parameters at their defaults, which are valid), so that a bad value is refused by clap
// as the value of the flag the user typed (`invalid value '0' for '--threads <N>'`), with
// the library's message as the cause, instead of later under the library's name for it.

/// `value` if the library accepts it for one parameter (`set` applies it).
fn accepted<T: Copy>(
    value: T,
    set: impl FnOnce(net::ServerParamsBuilder, T) -> net::ServerParamsBuilder,
) -> Result<T, String> {
    set(ServerParams::builder(), value)
        .build()
        .map(|_| value)
        .map_err(|e| refusal(&e))
}

/// A whole number, with a message naming the text (clap's own says only "invalid digit").
fn whole_number<T>(text: &str) -> Result<T, String>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let text = text.trim();
    text.parse()
        .map_err(|e| format!("`{text}` is not a whole number: {e}"))
}

/// A duration of a parameter: [`parse_duration`], then the library's check.
fn param_duration(
    text: &str,
    set: fn(net::ServerParamsBuilder, Duration) -> net::ServerParamsBuilder,
) -> Result<Duration, String> {
    parse_duration_checked(text, |d| accepted(d, set).map(drop))
}

/// A `-ms` spelling of a parameter's duration: [`parse_millis`], then the library's check.
fn param_millis(
    text: &str,
    set: fn(net::ServerParamsBuilder, Duration) -> net::ServerParamsBuilder,
) -> Result<Duration, String> {
    accepted(parse_millis(text)?, set)
}

#[cfg(not(feature = "evented"))]
fn threads_value(text: &str) -> Result<usize, String> {
    accepted(whole_number(text)?, net::ServerParamsBuilder::max_threads)
}

#[cfg(not(feature = "evented"))]
fn thread_idle_value(text: &str) -> Result<Duration, String> {
    param_duration(text, net::ServerParamsBuilder::thread_idle_time)
}

#[cfg(not(feature = "evented"))]
fn thread_idle_ms_value(text: &str) -> Result<Duration, String> {
    param_millis(text, net::ServerParamsBuilder::thread_idle_time)
}

fn max_connections_value(text: &str) -> Result<usize, String> {
    accepted(
        whole_number(text)?,
        net::ServerParamsBuilder::max_connections,
    )
}

fn keep_alive_timeout_value(text: &str) -> Result<Duration, String> {
    param_duration(text, net::ServerParamsBuilder::keep_alive_timeout)
}

fn keep_alive_ms_value(text: &str) -> Result<Duration, String> {
    param_millis(text, net::ServerParamsBuilder::keep_alive_timeout)
}

fn read_timeout_value(text: &str) -> Result<Duration, String> {
    param_duration(text, net::ServerParamsBuilder::read_timeout)
}

fn read_timeout_ms_value(text: &str) -> Result<Duration, String> {
    param_millis(text, net::ServerParamsBuilder::read_timeout)
}

fn write_timeout_value(text: &str) -> Result<Duration, String> {
    param_duration(text, net::ServerParamsBuilder::write_timeout)
}

fn write_timeout_ms_value(text: &str) -> Result<Duration, String> {
    param_millis(text, net::ServerParamsBuilder::write_timeout)
}

fn max_requests_value(text: &str) -> Result<Option<u64>, String> {
    match parse_limit(text)? {
        Some(n) => accepted(n, net::ServerParamsBuilder::max_requests_per_connection).map(Some),
        None => Ok(None),
    }
}

fn backlog_value(text: &str) -> Result<u32, String> {
    accepted(whole_number(text)?, net::ServerParamsBuilder::backlog)
}

fn max_connection_age_value(text: &str) -> Result<Option<Duration>, String> {
    parse_duration_or_off_checked(text, |d| {
        accepted(d, net::ServerParamsBuilder::max_connection_age).map(drop)
    })
}

fn max_request_buffer_value(text: &str) -> Result<usize, String> {
    accepted(
        parse_bytes(text)?,
        net::ServerParamsBuilder::max_request_buffer,
    )
}

fn max_output_buffer_value(text: &str) -> Result<usize, String> {
    accepted(
        parse_bytes(text)?,
        net::ServerParamsBuilder::max_output_buffer,
    )
}

/// Whether evnet accepts `options`, as far as `param` goes (the other options at their
/// defaults): `EvServer::from_listeners_with` checks its options before it looks at the
/// sockets, so with none it answers either with the options' first fault or with the
/// (ignored) complaint that there is no socket.
#[cfg(feature = "evented")]
fn evnet_accepts(options: evnet::EvOptions, param: &str) -> Result<(), String> {
    use net::Server as _;
    let with_no_socket = Server::from_listeners_with(
        Vec::new(),
        crate::echo::Echo::new(),
        ServerParams::default(),
        options,
    );
    match with_no_socket {
        Err(e) if e.invalid_param_name() == Some(param) => Err(refusal(&e)),
        _ => Ok(()),
    }
}

#[cfg(feature = "evented")]
fn input_budget_value(text: &str) -> Result<usize, String> {
    let n = parse_bytes(text)?;
    evnet_accepts(evnet::EvOptions::default().input_budget(n), "input_budget").map(|()| n)
}

#[cfg(feature = "evented")]
fn output_budget_value(text: &str) -> Result<usize, String> {
    let n = parse_bytes(text)?;
    evnet_accepts(
        evnet::EvOptions::default().output_budget(n),
        "output_budget",
    )
    .map(|()| n)
}

#[cfg(feature = "evented")]
fn takeover_after_value(text: &str) -> Result<Duration, String> {
    parse_duration_checked(text, |d| {
        evnet_accepts(
            evnet::EvOptions::default().takeover_after(d),
            "takeover_after",
        )
    })
}

#[cfg(feature = "evented")]
fn spares_value(text: &str) -> Result<usize, String> {
    let n = whole_number(text)?;
    evnet_accepts(evnet::EvOptions::default().spares(n), "spares").map(|()| n)
}

/// The help of `--loops`: its default depends on `--dispatch`.
#[cfg(feature = "evented")]
fn loops_help() -> String {
    let options = evnet::EvOptions::default();
    format!(
        "Event loops (evnet) [default: {} adaptive, {} with workers, {} inline]",
        options.loop_count(),
        options
            .clone()
            .dispatch(evnet::Dispatch::Workers)
            .loop_count(),
        options.dispatch(evnet::Dispatch::Inline).loop_count()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_decimal_and_binary_units() {
        for (text, bytes) in [
            ("0", 0),
            ("65536", 65536),
            ("100B", 100),
            ("64k", 64 << 10),
            ("64K", 64 << 10),
            ("64KiB", 64 << 10),
            ("64kib", 64 << 10),
            ("64KB", 64_000),
            ("64kB", 64_000),
            ("1.5MiB", 3 << 19),
            ("1.5M", 3 << 19),
            ("1.5MB", 1_500_000),
            ("10MB", 10_000_000),
            ("0.5GiB", 1 << 29),
            (".5KiB", 512),
            ("1.0001KiB", 1024),
            ("2 GB", 2_000_000_000),
            ("1TiB", 1 << 40),
        ] {
            assert_eq!(parse_bytes(text), Ok(bytes), "{text}");
        }
        for (text, says) in [
            ("1.5", "whole"),
            ("1.5.5MiB", "not a size"),
            (".", "not a size"),
            ("MiB", "not a size"),
            ("-1", "not a size"),
            ("3parsecs", "unknown size unit `parsecs`"),
            ("99999999999999999999999999999999999999999", "too large"),
            ("99999999999TiB", "too large"),
        ] {
            let err = parse_bytes(text).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn a_bare_number_is_told_a_fix_the_flag_takes() {
        let err = read_timeout_value("0").unwrap_err();
        assert!(!err.contains("`0s` for"), "{err}");
        assert!(err.contains("more than zero"), "{err}");
        let err = read_timeout_value("15").unwrap_err();
        assert!(err.contains("`15s`") && err.contains("`15ms`"), "{err}");
        // 40000000 s is more than 365 days; 40000000 ms is not.
        let err = read_timeout_value("40000000").unwrap_err();
        assert!(err.contains("write `40000000ms`"), "{err}");
        assert!(!err.contains("write `40000000s`"), "{err}");
        assert_eq!(read_timeout_value("15s"), Ok(Duration::from_secs(15)));
        // Zero is a deadline the shutdown takes.
        assert!(parse_duration("0").unwrap_err().contains("`0s`"));
        let err = max_connection_age_value("0").unwrap_err();
        assert!(!err.contains("write `0s`"), "{err}");
    }

    #[test]
    fn flags_check_their_values_with_the_library() {
        // The reason alone: the message that shows it names the flag the user typed, not
        // the library's name for the parameter.
        assert_eq!(backlog_value("0"), Err("must be at least 1".to_owned()));
        assert_eq!(backlog_value("7"), Ok(7));
        assert!(max_requests_value("0").is_err());
        assert_eq!(max_requests_value("unlimited"), Ok(None));
        assert!(max_output_buffer_value("1000").is_err());
        assert_eq!(max_output_buffer_value("1KiB"), Ok(1024));
        #[cfg(feature = "evented")]
        {
            assert!(takeover_after_value("50us").is_err());
            assert_eq!(takeover_after_value("5ms"), Ok(Duration::from_millis(5)));
            assert!(spares_value("5000").is_err());
            assert_eq!(spares_value("2"), Ok(2));
            assert!(input_budget_value("0").is_err());
        }
        #[cfg(not(feature = "evented"))]
        {
            assert_eq!(threads_value("0"), Err("must be at least 1".to_owned()));
            assert_eq!(threads_value("4"), Ok(4));
        }
    }
}
