//! The operator's kit (`net::ops`) across processes: a `Successor` is given the listening
//! sockets and says it is ready; `listen_fds` takes sockets passed the systemd way and
//! leaves alone those meant for another process. The child is `tests/src/bin/ops_child.rs`.
//! (The servers' restarts under load are in `examples/tests/restart.rs`.)

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use net::ops::Successor;

const CHILD: &str = env!("CARGO_BIN_EXE_ops_child");

/// `hello from <pid>` from whoever accepts a connection to `addr`.
fn greeting(addr: std::net::SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("a greeting");
    text
}

/// Both sockets reach the successor, in order, as the listening sockets they are; it
/// says `READY=1` with its pid, which `wait_ready` hears.
#[test]
fn a_successor_takes_the_sockets_and_says_ready() {
    let first = TcpListener::bind("127.0.0.1:0").unwrap();
    let second = TcpListener::bind("127.0.0.1:0").unwrap();
    let expected = format!(
        "fds 2 {} {}",
        first.local_addr().unwrap(),
        second.local_addr().unwrap()
    );
    let report = std::env::temp_dir().join(format!("ops-child-{}.txt", std::process::id()));
    let mut child = Command::new(CHILD);
    child.arg(&report);
    let mut successor = Successor::spawn(child, &[first, second]).expect("spawn");
    successor
        .wait_ready(Duration::from_secs(60))
        .expect("the successor says it is ready");
    let seen = std::fs::read_to_string(&report).expect("the child's report");
    let _ = std::fs::remove_file(&report);
    assert_eq!(seen.trim_end(), expected);
    successor.abandon();
}

/// The successor accepts on the socket while this process still holds it (both processes
/// listen on the same socket, with one backlog).
#[test]
fn the_successor_accepts_on_the_very_same_socket() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut child = Command::new(CHILD);
    child.stdout(Stdio::piped());
    let mut successor = Successor::spawn(child, std::slice::from_ref(&listener)).expect("spawn");
    successor
        .wait_ready(Duration::from_secs(60))
        .expect("the successor says it is ready");
    // This process never accepts: the connection waits in the shared backlog until the
    // successor takes it.
    let text = greeting(addr);
    assert_eq!(text.trim_end(), format!("hello from {}", successor.id()));
    drop(listener);
    successor.release();
}

/// Run `ops_child` the way systemd does (the socket as descriptor 3, `LISTEN_FDS=1`,
/// `LISTEN_PID` = `pid_is`: `"self"` for the child's own pid), through a Python launcher
/// that `exec`s it; the child's first line.
fn systemd_start(pid_is: &str) -> (std::process::Child, String, u16) {
    const LAUNCHER: &str = r#"
import os, socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
print(s.getsockname()[1], flush=True)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid()) if sys.argv[2] == "self" else sys.argv[2]
os.execv(sys.argv[1], sys.argv[1:2])
"#;
    let mut child = Command::new("python3")
        .args(["-c", LAUNCHER, CHILD, pid_is])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs the launcher");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut port = String::new();
    stdout.read_line(&mut port).unwrap();
    let port: u16 = port.trim().parse().expect("the launcher's port");
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    (child, line, port)
}

/// `LISTEN_FDS` with this process's `LISTEN_PID`: the socket is taken, listening.
#[test]
fn listen_fds_takes_systemds_socket() {
    let (mut child, line, port) = systemd_start("self");
    assert_eq!(line.trim_end(), format!("fds 1 127.0.0.1:{port}"));
    let text = greeting(format!("127.0.0.1:{port}").parse().unwrap());
    assert!(text.starts_with("hello from "), "{text:?}");
    assert!(child.wait().unwrap().success());
}

/// `LISTEN_FDS` meant for another process (`LISTEN_PID` not this one): nothing is taken.
#[test]
fn listen_fds_leaves_another_process_sockets_alone() {
    let (mut child, line, _) = systemd_start("1");
    assert_eq!(line.trim_end(), "fds 0");
    assert!(child.wait().unwrap().success());
}
