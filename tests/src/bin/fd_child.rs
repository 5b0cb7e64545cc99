//! A helper for `tests/tests/accept_errors.rs`: runs either server with a line-echo handler
//! in its own process, so that a test can lower the process's open-file limit (with
//! `prlimit --pid`) and watch its descriptors through `/proc/<pid>` without touching the
//! test process itself.
//!
//! Usage: `fd_child <net|evnet>` (`evnet` runs one loop and one worker; `net` up to 64
//! threads).
//!
//! It prints `PORT <n>` once serving on `127.0.0.1:<n>`, then reads commands from stdin:
//!
//! - `stats` prints `STATS <current_connections> <total_connections>
//!   <refused_connections> <requests>`;
//! - `quit` (or the end of stdin) shuts the server down, prints the final counters as
//!   `FINAL <current_connections> <total_connections> <refused_connections> <requests>`
//!   and exits with status 0.

use std::process::ExitCode;
use std::time::Duration;

use net::{ServerParams, Stats};
use tests::child::{say, serve_commands};
use tests::{Echo, TestServer};

fn counters(s: &Stats) -> String {
    format!(
        "{} {} {} {}",
        s.current_connections, s.total_connections, s.refused_connections, s.requests
    )
}

fn run<S: TestServer>() -> Result<(), String> {
    // Long timeouts: no server timeout may close a connection while the test holds it.
    let params = ServerParams::builder()
        .max_threads(64)
        .max_connections(256)
        .keep_alive_timeout(Duration::from_secs(120))
        .read_timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| e.to_string())?;
    let mut server = S::bind_with("127.0.0.1:0", Echo::new(), params, S::options(1, 1))
        .map_err(|e| format!("{}: bind: {e}", S::NAME))?;
    server
        .start()
        .map_err(|e| format!("{}: start: {e}", S::NAME))?;
    let stats = serve_commands(&mut server, "fd_child", "STATS", counters)
        .map_err(|e| format!("{}: shutdown: {e}", S::NAME))?;
    say(&format!("FINAL {}", counters(&stats)));
    Ok(())
}

fn main() -> ExitCode {
    let kind = std::env::args().nth(1);
    let result = match kind.as_deref() {
        Some("net") => run::<net::TcpServer>(),
        Some("evnet") => run::<evnet::EvServer>(),
        other => Err(format!("unknown server kind {other:?}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fd_child: {e}");
            eprintln!("usage: fd_child <net|evnet>");
            ExitCode::FAILURE
        }
    }
}
