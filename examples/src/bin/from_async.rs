//! Calling async code from a handler, with a tokio runtime beside the server.
//!
//! Handlers are synchronous: `net` runs them on its connection threads, `evnet` on its
//! loops' threads or its workers, none of which is a tokio thread. A handler that needs
//! async code (an async database client, an HTTP call) blocks on it through a
//! `tokio::runtime::Handle` to a runtime the program keeps beside the server. On `evnet`,
//! its `frame` marks such requests `Frame::Blocking`, so that adaptive dispatch hands them
//! to a worker and the loop's other connections go on meanwhile (unmarked, a loop whose
//! handler blocks is taken over after 1 ms, which works but costs a hand-over per request).
//! Never block on async code from inside the runtime's own tasks, and never hold a
//! `block_on` across something the same runtime must run on this thread.
//!
//! Protocol: each line is a key; the answer is `value of <key>`, looked up by an async
//! function. Usage: `from_async [--addr HOST:PORT]`; prints `listening on tcp://ADDR
//! (KIND)`, serves until SIGINT or SIGTERM, prints its statistics.

use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use examples::cli;
use net::ops::Supervisor;
use net::{Action, Connection, Frame, Handler, Server as _, ServerParams};

/// A line server whose answers come from async code.
#[derive(Debug, Parser)]
#[command(name = "from_async", version)]
struct Cli {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:7070")]
    addr: String,
}

/// Stands for an async client (a database, another service): a timer here.
async fn lookup(key: String) -> String {
    tokio::time::sleep(Duration::from_millis(1)).await;
    format!("value of {key}")
}

/// Answers each line through [`lookup`], blocking on the runtime behind `runtime`.
struct Lookup {
    runtime: tokio::runtime::Handle,
}

impl Handler for Lookup {
    type Session = ();

    fn open(&self, _: &Connection) {}

    /// A line is a request, and serving it blocks (on async code): say so.
    fn frame(&self, _: &mut (), buffered: &[u8]) -> Frame {
        match buffered.iter().position(|&b| b == b'\n') {
            Some(end) => Frame::Blocking(end + 1),
            None if buffered.len() > 1024 => Frame::Invalid,
            None => Frame::Partial,
        }
    }

    fn serve(&self, _: &mut (), conn: &mut Connection) -> io::Result<Action> {
        let mut line = String::new();
        if conn.read_line(&mut line)? == 0 {
            return Ok(Action::Close);
        }
        let key = line.trim().to_owned();
        // This thread is the server's, not the runtime's: blocking on it is allowed.
        let value = self.runtime.block_on(lookup(key));
        writeln!(conn, "{value}")?;
        Ok(Action::KeepAlive)
    }
}

fn main() -> ExitCode {
    let args = Cli::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(cli::EXIT_FAILURE)
        }
    }
}

fn run(args: &Cli) -> Result<(), Box<dyn std::error::Error>> {
    // The runtime lives beside the server, for as long as the program.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let supervisor = Supervisor::new()?.on_event(|event| eprintln!("{event}"));
    let handler = Lookup {
        runtime: runtime.handle().clone(),
    };
    let mut server = examples::Server::bind(args.addr.as_str(), handler, ServerParams::default())?;
    server.start()?;
    println!("{}", cli::listening_line("tcp", server.local_addr()));
    io::stdout().flush()?;
    supervisor.watch(server.handle())?;
    let stats = server.handle().wait();
    println!("{}", cli::stats_line(&stats));
    Ok(())
}
