//! Running out of file descriptors (`accept(2)` failing with EMFILE) never ends a server's
//! acceptor: `net` backs off and accepts again, `evnet` pauses the loop's listener with a
//! timer and resumes it. Both are shown the same way.
//!
//! The server runs in a child process (`fd_child`) whose open-file limit the test lowers
//! with util-linux `prlimit --pid` until only [`FREE`] descriptors are left. The test then
//! opens [`CLIENTS`] connections, one after the other, each sending one echo line: those
//! that fit are accepted and echoed, the rest wait in the kernel's backlog while every
//! `accept` fails. Closing the served clients frees descriptors in the child; the waiting
//! connections must then be accepted and echoed, batch after batch, until all are served.
//! A fresh connection is served afterwards, and `quit` ends the child cleanly.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use tests::child::ChildServer;
use tests::{await_sample, wait_until, Client, CLIENT_TIMEOUT, PATIENCE};

/// Connections the test opens while the child is short of descriptors.
const CLIENTS: usize = 20;

/// Descriptors left free in the child by the lowered limit.
const FREE: usize = 8;

/// How long a waiting client waits for its echo (a failing test still ends).
const REPLY_BOUND: Duration = Duration::from_secs(60);

/// How long the CPU time of the child is sampled, with and without EMFILE (a measurement
/// window, reported only; nothing waits on it).
const CPU_WINDOW: Duration = Duration::from_secs(1);

// ----- the child process --------------------------------------------------------------

/// Counters of an `fd_child` `STATS` or `FINAL` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ChildStats {
    current: u64,
    total: u64,
    refused: u64,
    requests: u64,
}

/// The `fd_child` counters protocol on top of a [`ChildServer`].
trait FdChild {
    /// The counters of the next line, which must start with `tag`.
    fn counters(&mut self, tag: &str) -> ChildStats;

    /// The child's live counters (`stats` command).
    fn stats(&mut self) -> ChildStats;

    /// Poll the child's counters (up to [`PATIENCE`]) until `cond` holds; panic naming
    /// `what` with the last counters otherwise.
    fn await_stats(&mut self, what: &str, cond: impl FnMut(&ChildStats) -> bool) -> ChildStats;
}

impl FdChild for ChildServer {
    fn counters(&mut self, tag: &str) -> ChildStats {
        match self.expect(tag)[..] {
            [current, total, refused, requests] => ChildStats {
                current,
                total,
                refused,
                requests,
            },
            ref other => panic!("{}: {tag} line with {other:?}", self.label()),
        }
    }

    fn stats(&mut self) -> ChildStats {
        self.command("stats");
        self.counters("STATS")
    }

    fn await_stats(&mut self, what: &str, cond: impl FnMut(&ChildStats) -> bool) -> ChildStats {
        let what = format!("{what} ({})", self.label());
        await_sample(&what, || self.stats(), cond)
    }
}

// ----- /proc and prlimit --------------------------------------------------------------

/// The descriptor numbers open in process `pid`.
fn fds(pid: u32) -> Vec<usize> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|e| panic!("cannot list /proc/{pid}/fd: {e}"))
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// How many of `fds` are below `limit`.
fn used_below(fds: &[usize], limit: usize) -> usize {
    fds.iter().filter(|&&fd| fd < limit).count()
}

/// How many descriptors process `pid` has open below `limit`: when it is `limit`, the
/// process cannot open another (EMFILE).
fn fd_count(pid: u32, limit: usize) -> usize {
    used_below(&fds(pid), limit)
}

/// User plus system CPU time of process `pid`, in clock ticks (1/100 s on Linux).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/stat: {e}"));
    // The command name (field 2) is in parentheses and may hold spaces; utime and stime are
    // fields 14 and 15, i.e. the 12th and 13th after the closing parenthesis.
    let rest = &stat[stat.rfind(')').expect("no ) in /proc/<pid>/stat") + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| -> u64 {
        fields[i]
            .parse()
            .unwrap_or_else(|_| panic!("bad field in /proc/{pid}/stat: {stat:?}"))
    };
    tick(11) + tick(12)
}

/// The soft "Max open files" limit of process `pid`.
fn nofile_soft_limit(pid: u32) -> String {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/limits: {e}"));
    limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no Max open files line in /proc/{pid}/limits"))
        .to_string()
}

/// Fail (never skip) when util-linux `prlimit` cannot be run.
fn require_prlimit() {
    let ran = Command::new("prlimit").arg("--version").output();
    match ran {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "`prlimit --version` failed ({}): this test needs util-linux `prlimit` \
             (Debian: apt-get install util-linux)",
            out.status
        ),
        Err(e) => panic!(
            "cannot run `prlimit` ({e}): this test needs util-linux `prlimit` \
             (Debian: apt-get install util-linux)"
        ),
    }
}

/// Set both open-file limits of process `pid` to `limit` with `prlimit --pid`.
fn set_nofile(pid: u32, limit: usize) {
    let out = Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--nofile={limit}:{limit}"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run prlimit: {e}"));
    assert!(
        out.status.success(),
        "prlimit --pid={pid} --nofile={limit}:{limit} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        nofile_soft_limit(pid),
        limit.to_string(),
        "the child's open-file limit after prlimit"
    );
}

// ----- clients ------------------------------------------------------------------------

/// What a client thread hands back: its socket and the line it read.
type Reply = (TcpStream, io::Result<String>);

/// A client whose thread sends one line and waits (up to [`REPLY_BOUND`]) for its echo.
struct Waiting {
    index: usize,
    reply: JoinHandle<Reply>,
}

fn request(index: usize) -> String {
    format!("hello {index}\n")
}

impl Waiting {
    fn start(addr: SocketAddr, index: usize) -> Waiting {
        // The kernel completes the handshake into the backlog whether or not the server can
        // accept, so this does not block.
        let stream =
            TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {index} to {addr}: {e}"));
        stream.set_read_timeout(Some(REPLY_BOUND)).unwrap();
        stream.set_write_timeout(Some(CLIENT_TIMEOUT)).unwrap();
        let reply = thread::spawn(move || {
            let read = (&stream)
                .write_all(request(index).as_bytes())
                .and_then(|()| {
                    let mut line = String::new();
                    BufReader::new(&stream).read_line(&mut line)?;
                    Ok(line)
                });
            (stream, read)
        });
        Waiting { index, reply }
    }
}

/// The test's clients: waiting for their echo, or served and still open.
#[derive(Default)]
struct Clients {
    waiting: Vec<Waiting>,
    /// Served (echoed) and still open, so their descriptors stay taken in the child.
    held: Vec<TcpStream>,
    served: usize,
    /// Clients that got anything but their echo.
    failures: Vec<String>,
}

impl Clients {
    /// Collect the clients whose thread has ended.
    fn harvest(&mut self) {
        let (done, waiting) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition::<Vec<_>, _>(|w| w.reply.is_finished());
        self.waiting = waiting;
        for Waiting { index, reply } in done {
            let (stream, read) = reply.join().expect("client thread panicked");
            match read {
                Ok(line) if line == request(index) => {
                    self.served += 1;
                    self.held.push(stream);
                }
                Ok(line) if line.is_empty() => {
                    self.failures
                        .push(format!("client {index}: closed without an echo"));
                }
                Ok(line) => self
                    .failures
                    .push(format!("client {index}: wrong reply {line:?}")),
                Err(e) => self.failures.push(format!("client {index}: {e}")),
            }
        }
    }

    fn any_finished(&self) -> bool {
        self.waiting.iter().any(|w| w.reply.is_finished())
    }

    fn assert_no_failures(&self, kind: &str, when: &str) {
        assert!(
            self.failures.is_empty(),
            "{kind}: {when}, {} connection(s) got no echo (accepted, then closed or reset \
             by the server instead of being served or left in the backlog): {:?}",
            self.failures.len(),
            self.failures
        );
    }
}

// ----- the test -----------------------------------------------------------------------

fn survives_emfile(kind: &'static str) {
    require_prlimit();
    let mut child = ChildServer::spawn(env!("CARGO_BIN_EXE_fd_child"), [kind]);
    let pid = child.pid();
    let addr = child.addr();

    let idle_ticks = cpu_ticks(pid);
    thread::sleep(CPU_WINDOW);
    let idle_ticks = cpu_ticks(pid) - idle_ticks;

    // The lowest limit that leaves exactly FREE descriptor numbers free below it (the
    // child may have inherited descriptors with high numbers: they stay open and usable,
    // and are not counted).
    let before = fds(pid);
    let limit = (FREE..)
        .find(|&limit| limit - used_below(&before, limit) == FREE)
        .unwrap();
    set_nofile(pid, limit);

    // Connect one at a time, each until it is echoed or the child has no descriptor left,
    // so that the child's descriptors fill up one connection after the other (`evnet`
    // takes one per connection; `net` two: the socket and a clone kept for shutdown).
    let mut clients = Clients::default();
    for index in 0..CLIENTS {
        clients.waiting.push(Waiting::start(addr, index));
        let last = &clients.waiting.last().unwrap().reply;
        assert!(
            wait_until(PATIENCE, || last.is_finished()
                || fd_count(pid, limit) >= limit),
            "{kind}: client {index} was neither served nor did the child run out of \
             descriptors ({} of {limit} open)",
            fd_count(pid, limit)
        );
    }
    let full = wait_until(PATIENCE, || fd_count(pid, limit) >= limit);
    clients.harvest();
    clients.assert_no_failures(kind, "while the child's descriptors filled up");
    assert!(
        full,
        "{kind}: fd_child never reached its descriptor limit {limit} ({} open below it: \
         {:?}; {} client(s) waiting, {} served)",
        fd_count(pid, limit),
        fds(pid),
        clients.waiting.len(),
        clients.served,
    );

    // (1) Alive, and every connection it accepted is echoed.
    let accepted = child.await_stats("every accepted connection echoed", |s| {
        clients.harvest();
        s.current > 0 && s.current == clients.served as u64 && s.requests == s.current
    });
    clients.assert_no_failures(kind, "while the child was out of descriptors");
    child.assert_alive("while out of descriptors");
    let pending_at_limit = clients.waiting.len();
    assert!(
        pending_at_limit > 0,
        "{kind}: all {CLIENTS} connections were served with only {FREE} descriptors free"
    );

    let emfile_ticks = cpu_ticks(pid);
    thread::sleep(CPU_WINDOW);
    let emfile_ticks = cpu_ticks(pid) - emfile_ticks;
    child.assert_alive("after a while out of descriptors");
    eprintln!(
        "{kind}: limit {limit} (open before: {before:?}); {} accepted at the limit, \
         {pending_at_limit} left in the backlog; child CPU over {CPU_WINDOW:?}: \
         {idle_ticks} ticks idle, {emfile_ticks} ticks at the limit (1 tick = 10 ms)",
        accepted.current,
    );

    // (2) Close the served clients; the waiting ones are then accepted and served, batch
    // after batch (each batch fills the child's descriptors again).
    let mut rounds = 0;
    while !clients.waiting.is_empty() {
        clients.held.clear();
        assert!(
            wait_until(PATIENCE, || clients.any_finished()),
            "{kind}: after the served connections were closed, none of the {} waiting \
             connections was served: the acceptor did not resume after EMFILE \
             ({} descriptors open in the child, limit {limit})",
            clients.waiting.len(),
            fd_count(pid, limit)
        );
        clients.harvest();
        clients.assert_no_failures(kind, "after descriptors were freed");
        rounds += 1;
    }
    assert_eq!(clients.served, CLIENTS, "{kind}: connections served");
    eprintln!(
        "{kind}: the {pending_at_limit} waiting connections were served over {rounds} round(s) \
         of closing the served ones"
    );

    // (3) Every connection was counted once.
    let stats = child.await_stats("total_connections and requests == CLIENTS", |s| {
        s.total == CLIENTS as u64 && s.requests == CLIENTS as u64
    });
    assert_eq!(stats.refused, 0, "{kind}: refused_connections");

    // (4) With every client closed, a fresh connection is served.
    clients.held.clear();
    child.await_stats("current_connections 0", |s| s.current == 0);
    let mut fresh = Client::connect(addr);
    fresh.echo("fresh after EMFILE");
    drop(fresh);
    child.await_stats("the fresh connection closed", |s| {
        s.current == 0 && s.total == CLIENTS as u64 + 1
    });

    // (5) A clean exit.
    child.command("quit");
    let last = child.counters("FINAL");
    assert_eq!(
        last,
        ChildStats {
            current: 0,
            total: CLIENTS as u64 + 1,
            refused: 0,
            requests: CLIENTS as u64 + 1,
        },
        "{kind}: final counters"
    );
    let status = child.wait_exit();
    assert!(status.success(), "{kind}: fd_child exited with {status}");
}

/// `net` keeps accepting after EMFILE: its acceptor backs off and tries again.
#[test]
fn net_survives_emfile() {
    survives_emfile("net");
}

/// `evnet` keeps accepting after EMFILE: the loop pauses its listener and resumes it.
#[test]
fn evnet_survives_emfile() {
    survives_emfile("evnet");
}
