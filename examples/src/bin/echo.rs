//! The line echo example server on `examples::Server` (`net` by default, `evnet` with the
//! `evented` feature).
//!
//! Prints `listening on tcp://ADDR (KIND)` first, serves until SIGINT or SIGTERM, then
//! shuts down gracefully and prints its statistics.

examples::global_allocator!();

use std::process::ExitCode;

use examples::cli::{self, format_bytes, parse_bytes, ServerArgs};
use examples::echo::Echo;

/// Line echo example server: every line received is sent back.
#[derive(Debug, clap::Parser)]
#[command(name = "echo", version, after_help = cli::UNITS_HELP)]
struct Cli {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:7000")]
    addr: String,

    /// Longest accepted line in bytes, newline included; a longer one closes the
    /// connection.
    #[arg(
        long,
        value_name = "BYTES",
        value_parser = max_line_value,
        default_value = format_bytes(Echo::new().max_line())
    )]
    max_line: usize,

    #[command(flatten)]
    server: ServerArgs,
}

fn main() -> ExitCode {
    let args: Cli = cli::parse_args();
    let handler = Echo::new().with_max_line(args.max_line);
    cli::run(handler, &args.addr, "tcp", &args.server)
}

/// A `--max-line` value: a size of at least one byte.
fn max_line_value(text: &str) -> Result<usize, String> {
    match parse_bytes(text)? {
        0 => Err("must be at least 1 byte".to_owned()),
        n => Ok(n),
    }
}
