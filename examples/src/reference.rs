//! What the tokio-based reference servers (`tokio_http`, `hyper_http`) share: their flags,
//! the runtime, the listener, the first line `compare` reads the address from,
//! stopping on SIGINT/SIGTERM, and the one route besides `Hello, World!`: `GET
//! /work?ms=N` ([`work_ms`]), which blocks in the handler with [`std::thread::sleep`]
//! (see [`block`]) and then answers as `GET /`. Each binary brings only its
//! per-connection code.

use std::future::Future;
use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser};
use tokio::net::{TcpListener, TcpStream};

/// The flags of a reference server.
#[derive(Parser, Debug)]
#[command(version)]
pub struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080")]
    pub addr: String,

    /// Runtime worker threads (tokio's; not `net`'s pool).
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub threads: usize,
}

/// Parse the flags (the binary is named `NAME_http`) and serve every accepted connection (with `TCP_NODELAY`) with
/// `serve`, each on its own task, until SIGINT or SIGTERM. Prints
/// `listening on http://ADDR (NAME)` first. Exit status 2 for a bad flag, 1 when the
/// server cannot start.
pub fn run<S, F>(name: &str, serve: S) -> ExitCode
where
    S: Fn(TcpStream) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let binary = format!("{name}_http");
    let matches = Args::command().name(binary).get_matches();
    let args = Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if args.threads == 0 {
        eprintln!("error: invalid value for --threads: must be at least 1");
        return ExitCode::from(crate::cli::EXIT_USAGE);
    }
    match serve_until_signal(name, &args, serve) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(crate::cli::EXIT_FAILURE)
        }
    }
}

fn serve_until_signal<S, F>(name: &str, args: &Args, serve: S) -> std::io::Result<()>
where
    S: Fn(TcpStream) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(&args.addr).await.map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot listen on {}: {e}", args.addr))
        })?;
        println!("listening on http://{} ({name})", listener.local_addr()?);
        std::io::stdout().flush()?;
        let accept = async {
            loop {
                if let Ok((stream, _)) = listener.accept().await {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(serve(stream));
                }
            }
        };
        tokio::select! {
            _ = accept => {}
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate() => {}
        }
        Ok(())
    })
}

/// What a request target asks of the `/work` route: `None` when its path is not
/// `/work`; else the milliseconds to block (the first `ms` parameter of the query, a
/// decimal number from 0 to [`WORK_MAX_MS`](crate::http::WORK_MAX_MS), as the http
/// example takes it), or `Err` with the body of the 400 answer.
///
/// ```
/// use examples::reference::work_ms;
/// assert_eq!(work_ms("/"), None);
/// assert_eq!(work_ms("/work?ms=10"), Some(Ok(10)));
/// assert_eq!(work_ms("/work?x=1&ms=0&ms=9"), Some(Ok(0)));
/// assert!(work_ms("/work?ms=lots").unwrap().is_err());
/// assert!(work_ms("/work?ms=1001").unwrap().is_err());
/// assert!(work_ms("/work").unwrap().is_err());
/// ```
pub fn work_ms(target: &str) -> Option<Result<u64, &'static str>> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != "/work" {
        return None;
    }
    let value = query
        .split('&')
        .find_map(|pair| match pair.split_once('=') {
            Some(("ms", value)) => Some(value),
            None if pair == "ms" => Some(""),
            _ => None,
        });
    let Some(value) = value else {
        return Some(Err("missing ms: use /work?ms=N with N from 0 to 1000\n"));
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Err(
            "ms is not a number: use /work?ms=N with N from 0 to 1000\n",
        ));
    }
    // Only digits: parsing fails only by overflow, which is too large as well.
    Some(match value.parse::<u64>() {
        Ok(ms) if ms <= u64::from(crate::http::WORK_MAX_MS) => Ok(ms),
        _ => Err("ms is too large: at most 1000\n"),
    })
}

/// Block the calling thread for `ms` milliseconds, as the `/work` route does: called
/// straight from the async handler, the way a user who does not know about
/// `spawn_blocking` would write it, so the runtime worker thread that runs the task
/// serves nothing else meanwhile. This is what `compare`'s `mixed` scenario measures.
pub fn block(ms: u64) {
    std::thread::sleep(std::time::Duration::from_millis(ms));
}

async fn terminate() {
    if let Ok(mut sig) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        sig.recv().await;
    }
}
