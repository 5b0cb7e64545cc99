//! A server in a child process, for tests that look at a server's threads, descriptors or
//! limits through `/proc/<pid>` (or change them with `prlimit --pid`) without the test
//! process's own sockets and threads getting in the way.
//!
//! Both sides of the protocol live here: the child binaries (`ev_child`, `fd_child`) run
//! [`serve_commands`], and the integration tests drive them with a [`ChildServer`].
//!
//! The protocol: the child prints `PORT <n>` once serving on `127.0.0.1:<n>`, then reads one
//! command a line from stdin:
//!
//! - `stats` prints one line of live counters, under a tag of the child's choosing;
//! - `quit` (or the end of stdin) shuts the server down; the child then prints its final
//!   lines (its own) and exits.
//!
//! Every line a child prints is a tag followed by numbers separated by spaces.

use std::ffi::OsStr;
use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use net::{Server, Stats};

use crate::{wait_until, SHUTDOWN_DEADLINE};

/// How long a test waits for a line from the child process, and for it to exit.
pub const CHILD_PATIENCE: Duration = Duration::from_secs(30);

// ----- the test's side ----------------------------------------------------------------

/// A child server process serving on a port; killed when dropped if still running.
///
/// Its stdout is read line by line on a thread of its own, so that every wait for a line is
/// bounded by [`CHILD_PATIENCE`] (a child that hangs fails the test, never hangs it).
#[derive(Debug)]
pub struct ChildServer {
    /// The program's file name and arguments, for messages.
    label: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    addr: SocketAddr,
}

impl ChildServer {
    /// Start `program` (an integration test passes `env!("CARGO_BIN_EXE_<name>")`) with
    /// `args`, and wait for its `PORT` line. Panics on failure.
    pub fn spawn<I>(program: &str, args: I) -> ChildServer
    where
        I: IntoIterator,
        I::Item: AsRef<OsStr>,
    {
        let args: Vec<I::Item> = args.into_iter().collect();
        let label = std::iter::once(
            Path::new(program)
                .file_name()
                .unwrap_or(OsStr::new(program)),
        )
        .chain(args.iter().map(AsRef::as_ref))
        .map(OsStr::to_string_lossy)
        .collect::<Vec<_>>()
        .join(" ");
        let mut child = Command::new(program)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {label}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = ChildServer {
            label,
            child,
            stdin,
            lines,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let port = server.expect("PORT")[0];
        server.addr.set_port(u16::try_from(port).unwrap());
        server
    }

    /// The program's file name and arguments (for messages).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The address the child serves on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The numbers of the next line, which must start with `tag`; panics if no line comes
    /// within [`CHILD_PATIENCE`].
    pub fn expect(&mut self, tag: &str) -> Vec<u64> {
        let label = &self.label;
        let line = self
            .lines
            .recv_timeout(CHILD_PATIENCE)
            .unwrap_or_else(|e| panic!("no {tag} line from {label}: {e}"));
        let mut words = line.split_whitespace();
        assert_eq!(
            words.next(),
            Some(tag),
            "unexpected line from {label}: {line:?}"
        );
        words
            .map(|w| {
                w.parse()
                    .unwrap_or_else(|_| panic!("{label}: bad number in {line:?}"))
            })
            .collect()
    }

    /// Send one command line to the child's stdin.
    pub fn command(&mut self, command: &str) {
        let label = &self.label;
        let stdin = self.stdin.as_mut().expect("stdin already closed");
        writeln!(stdin, "{command}")
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|e| panic!("cannot send {command:?} to {label}: {e}"));
    }

    /// Assert that the child is still running; `when` says when, for the message.
    pub fn assert_alive(&mut self, when: &str) {
        let status = self.child.try_wait().expect("try_wait on the child");
        assert!(status.is_none(), "{} exited {when}: {status:?}", self.label);
    }

    /// Close the child's stdin and wait (up to [`CHILD_PATIENCE`]) for it to exit, as it
    /// does after `quit`; on timeout it is killed and this panics.
    pub fn wait_exit(&mut self) -> ExitStatus {
        self.stdin = None;
        let mut status = None;
        wait_until(CHILD_PATIENCE, || {
            status = self.child.try_wait().expect("try_wait on the child");
            status.is_some()
        });
        status.unwrap_or_else(|| {
            let _ = self.child.kill();
            let _ = self.child.wait();
            panic!("{} did not exit after quit; killed", self.label);
        })
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ----- the child's side ---------------------------------------------------------------

/// Print `line` to stdout and flush it, for the test reading the child's output.
pub fn say(line: &str) {
    let mut out = io::stdout().lock();
    // The test reads these lines; if it is gone, there is nobody left to tell.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The child's part of the protocol for a started `server`: print `PORT <n>`, then answer
/// `stats` commands from stdin with `<stats_tag> <counters(stats)>` until `quit` or the end
/// of stdin, then shut the server down with [`SHUTDOWN_DEADLINE`] and return its final
/// stats. `name` (the program's) prefixes complaints about unknown commands on stderr.
pub fn serve_commands<S: Server>(
    server: &mut S,
    name: &str,
    stats_tag: &str,
    counters: impl Fn(&Stats) -> String,
) -> net::Result<Stats> {
    say(&format!("PORT {}", server.local_addr().port()));
    for line in io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        match line.trim() {
            "quit" => break,
            "stats" => say(&format!("{stats_tag} {}", counters(&server.stats()))),
            "" => {}
            other => eprintln!("{name}: unknown command {other:?}"),
        }
    }
    server.shutdown(SHUTDOWN_DEADLINE)
}
