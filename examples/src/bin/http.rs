//! The HTTP example server: `GET /`, `GET /json`, `POST /echo` and `GET /work?ms=N`
//! (answers as `GET /` after blocking N ms, 0 to 1000, in the handler) on
//! `examples::Server` (`net` by default, `evnet` with the `evented` feature).
//!
//! Prints `listening on http://ADDR (KIND)` first, serves until SIGINT or SIGTERM, then
//! shuts down gracefully and prints its statistics.

examples::global_allocator!();

use std::process::ExitCode;

use examples::cli::{self, format_bytes, parse_bytes, ServerArgs};
use examples::http::HttpHandler;

/// HTTP/1.1 example server (GET /, GET /json, POST /echo, GET /work?ms=N).
#[derive(Debug, clap::Parser)]
#[command(name = "http", version, after_help = cli::UNITS_HELP)]
struct Cli {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080")]
    addr: String,

    /// Most bytes of a request head; a larger one gets 431.
    #[arg(
        long,
        value_name = "BYTES",
        value_parser = parse_bytes,
        default_value = format_bytes(HttpHandler::new().limits().max_head)
    )]
    max_head_bytes: usize,

    /// Most bytes of a request body; a larger one gets 413.
    #[arg(
        long,
        value_name = "BYTES",
        value_parser = parse_bytes,
        default_value = format_bytes(usize::try_from(HttpHandler::new().limits().max_body).unwrap_or(usize::MAX))
    )]
    max_body_bytes: usize,

    /// Answer HTTP/1.1 requests without a Host field with 400.
    #[arg(long)]
    require_host: bool,

    /// Do not mark `/work` requests as blocking (`Frame::Blocking`): on evnet's adaptive
    /// dispatch they are then served on the loop's thread until they block long enough
    /// for another thread to take the loop over.
    #[arg(long)]
    no_blocking_hint: bool,

    #[command(flatten)]
    server: ServerArgs,
}

fn main() -> ExitCode {
    let args: Cli = cli::parse_args();
    let handler = HttpHandler::new()
        .require_host(args.require_host)
        .blocking_hint(!args.no_blocking_hint)
        .max_head_bytes(args.max_head_bytes)
        .max_body_bytes(u64::try_from(args.max_body_bytes).unwrap_or(u64::MAX));
    cli::run(handler, &args.addr, "http", &args.server)
}
