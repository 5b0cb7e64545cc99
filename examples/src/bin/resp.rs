//! The Redis-compatible example server: RESP2 string commands with expiry on
//! `examples::Server` (`net` by default, `evnet` with the `evented` feature).
//!
//! Prints `listening on redis://ADDR (KIND)` first, serves until SIGINT or SIGTERM, then
//! shuts down gracefully and prints its statistics. Try it with `redis-cli -p 6379` or
//! `redis-benchmark -p 6379 -t set,get`.

examples::global_allocator!();

use std::process::ExitCode;

use examples::cli::{self, format_bytes, parse_bytes, ServerArgs};
use examples::resp::RespHandler;

/// Redis-compatible example server (GET, SET, INCR, EXPIRE, KEYS, INFO, ...).
#[derive(Debug, clap::Parser)]
#[command(name = "resp", version, after_help = cli::UNITS_HELP)]
struct Cli {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:6379")]
    addr: String,

    /// Most bytes of one bulk argument (Redis's proto-max-bulk-len); a longer one is a
    /// protocol error.
    #[arg(
        long,
        value_name = "BYTES",
        value_parser = parse_bytes,
        default_value = format_bytes(RespHandler::new().limits().max_bulk)
    )]
    max_bulk_bytes: usize,

    #[command(flatten)]
    server: ServerArgs,
}

fn main() -> ExitCode {
    let args: Cli = cli::parse_args();
    let handler = RespHandler::new().max_bulk_bytes(args.max_bulk_bytes);
    cli::run(handler, &args.addr, "redis", &args.server)
}
