//! A helper for `tests/tests/evnet_nature.rs`: runs an `evnet::EvServer` with a line-echo
//! handler in its own process, so that a test can look at the server's threads and file
//! descriptors through `/proc/<pid>` without the test process's own sockets and threads
//! getting in the way.
//!
//! Usage: `ev_child <echo|fdcheck> <loops> <workers> <max_connections> <keep_alive_secs>`
//!
//! It prints `PORT <n>` once serving on `127.0.0.1:<n>`, then reads commands from stdin:
//!
//! - `stats` prints `LIVE <current_connections> <total_connections> <requests>
//!   <current_threads>`;
//! - `quit` (or the end of stdin) shuts the server down and prints the final
//!   `STATS <current_connections> <total_connections> <requests> <current_threads>`.
//!
//! In `fdcheck` mode it counts its own `/proc/self/fd` entries before creating the server
//! and, after the shutdown, waits (bounded) until the count is back there, then prints
//! `FDS <before> <after>` before `STATS`.

use std::process::ExitCode;
use std::time::Duration;

use evnet::{EvOptions, EvServer, Server, ServerParams, Stats};
use tests::child::{say, serve_commands};
use tests::{wait_until, Echo, PATIENCE};

/// Entries in `/proc/self/fd` (the directory handle used to read it included, the same way
/// every time).
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count())
}

fn counters(s: &Stats) -> String {
    format!(
        "{} {} {} {}",
        s.current_connections, s.total_connections, s.requests, s.current_threads
    )
}

fn number(args: &[String], i: usize, name: &str) -> Result<usize, String> {
    let text = args.get(i).ok_or_else(|| format!("missing <{name}>"))?;
    text.parse()
        .map_err(|e| format!("bad <{name}> {text:?}: {e}"))
}

fn run(args: &[String]) -> Result<(), String> {
    let fdcheck = match args.first().map(String::as_str) {
        Some("echo") => false,
        Some("fdcheck") => true,
        other => return Err(format!("unknown mode {other:?}")),
    };
    let loops = number(args, 1, "loops")?;
    let workers = number(args, 2, "workers")?;
    let max_connections = number(args, 3, "max_connections")?;
    let keep_alive = number(args, 4, "keep_alive_secs")?;

    let before = open_fds();
    let params = ServerParams::builder()
        .max_connections(max_connections)
        .keep_alive_timeout(Duration::from_secs(keep_alive as u64))
        .build()
        .map_err(|e| e.to_string())?;
    let options = EvOptions::default().loops(loops).workers(workers);
    let mut server = EvServer::bind_with("127.0.0.1:0", Echo::new(), params, options)
        .map_err(|e| format!("bind: {e}"))?;
    server.start().map_err(|e| format!("start: {e}"))?;
    let stats = serve_commands(&mut server, "ev_child", "LIVE", counters)
        .map_err(|e| format!("shutdown: {e}"))?;
    if fdcheck {
        drop(server);
        wait_until(PATIENCE, || open_fds() == before);
        say(&format!("FDS {before} {}", open_fds()));
    }
    say(&format!("STATS {}", counters(&stats)));
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ev_child: {e}");
            eprintln!(
                "usage: ev_child <echo|fdcheck> <loops> <workers> <max_connections> \
                 <keep_alive_secs>"
            );
            ExitCode::FAILURE
        }
    }
}
