//! A process for tests/tests/ops.rs: takes the listening sockets passed to it
//! (`net::ops::listen_fds`), prints `fds N` and their addresses on one line (on standard
//! output, or into the file its first argument names), says
//! `READY=1` (`net::ops::Notifier`), then answers one connection on the first socket with
//! `hello from <pid>` and exits.

use std::io::Write;

fn main() {
    let listeners = net::ops::listen_fds().expect("listen_fds");
    let addrs: Vec<String> = listeners
        .iter()
        .map(|l| l.local_addr().expect("local_addr").to_string())
        .collect();
    let line = format!("fds {} {}", listeners.len(), addrs.join(" "));
    match std::env::args_os().nth(1) {
        Some(path) => std::fs::write(path, format!("{}\n", line.trim_end())).expect("report"),
        None => {
            println!("{}", line.trim_end());
            let _ = std::io::stdout().flush();
        }
    }
    net::ops::Notifier::from_env()
        .expect("notifier")
        .ready()
        .expect("ready");
    if let Some(first) = listeners.first() {
        let (mut conn, _) = first.accept().expect("accept");
        let _ = writeln!(conn, "hello from {}", std::process::id());
    }
}
