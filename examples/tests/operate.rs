//! Operating the example binaries: signals (a second one ends the process at once) and
//! systemd socket activation (`LISTEN_FDS`).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use common::{exchange, Running};
use examples::cli::parse_listening_line;

/// The first SIGINT starts a graceful shutdown, which waits for a request in flight (here a
/// body still arriving, read by its handler because it is larger than the loop buffers);
/// a second SIGINT ends the process at once with status 130 (128 + SIGINT).
#[test]
fn second_signal_exits_at_once() {
    let mut server = Running::start(
        env!("CARGO_BIN_EXE_http"),
        &[
            "--max-request-buffer",
            "1KiB",
            "--read-timeout",
            "60s",
            "--shutdown-deadline",
            "60s",
        ],
    );
    let mut stderr = BufReader::new(server.child.stderr.take().expect("stderr"));
    // A request whose body is still arriving keeps a handler busy (the shutdown waits).
    let mut client = TcpStream::connect(server.addr).unwrap();
    client
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        .unwrap();
    client.write_all(&[b'a'; 4096]).unwrap();
    // Make sure the handler has the request (a GET on another connection is answered
    // after it, by the same server).
    assert!(exchange(
        server.addr,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .starts_with("HTTP/1.1 200"));
    server.signal("INT");
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.contains("received SIGINT"), "{line:?}");
    // The graceful shutdown is waiting for the busy request; the second signal ends it.
    server.signal("INT");
    let (status, _) = server.wait();
    assert_eq!(status.code(), Some(130), "{status:?}");
    drop(client);
}

/// Started the way systemd starts a socket-activated service (the listening socket as
/// descriptor 3, `LISTEN_FDS=1`, `LISTEN_PID` = its own pid; here a Python launcher binds
/// it and `exec`s the server), the server serves on that socket and ignores `--addr`.
#[test]
fn serves_a_socket_passed_by_systemd() {
    const LAUNCHER: &str = r#"
import os, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(128)
print(s.getsockname()[1], flush=True)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.argv[1], sys.argv[1:])
"#;
    let bin = env!("CARGO_BIN_EXE_http");
    let mut child = Command::new("python3")
        .args(["-c", LAUNCHER, bin, "--addr", "127.0.0.1:1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs the launcher");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut port = String::new();
    stdout.read_line(&mut port).unwrap();
    let port: u16 = port.trim().parse().expect("the launcher prints its port");
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let addr = parse_listening_line(first.trim_end()).expect("listening line");
    assert_eq!(
        addr.port(),
        port,
        "serves on the inherited socket, not --addr"
    );
    let response = exchange(
        addr,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(response.starts_with("HTTP/1.1 200"), "{response:?}");
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?} {:?}", status.signal());
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("requests=1"), "{rest:?}");
}

/// `--metrics-addr` serves the server's statistics in Prometheus' text format, named for
/// this build's server, counting the requests served; other paths get 404; and a bad
/// address fails the start naming the flag.
#[test]
fn metrics_addr_serves_the_statistics() {
    let mut server = Running::start(
        env!("CARGO_BIN_EXE_http"),
        &["--metrics-addr", "127.0.0.1:0"],
    );
    let mut line = String::new();
    server.stdout.read_line(&mut line).unwrap();
    let metrics: std::net::SocketAddr = line
        .trim_end()
        .strip_prefix("metrics on http://")
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("{line:?}"))
        .parse()
        .unwrap();
    for _ in 0..3 {
        let answer = exchange(
            server.addr,
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert!(answer.starts_with("HTTP/1.1 200"));
    }
    let scrape = exchange(metrics, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(scrape.starts_with("HTTP/1.1 200 OK\r\n"), "{scrape}");
    assert!(
        scrape.contains("Content-Type: text/plain; version=0.0.4"),
        "{scrape}"
    );
    let kind = examples::SERVER_KIND;
    assert!(
        scrape.contains(&format!("\n{kind}_requests_total 3\n")),
        "{scrape}"
    );
    assert!(
        scrape.contains(&format!("\n{kind}_handler_seconds_count 3\n")),
        "{scrape}"
    );
    let other = exchange(metrics, b"GET /other HTTP/1.1\r\n\r\n");
    assert!(other.starts_with("HTTP/1.1 404"), "{other}");
    server.signal("TERM");
    let (status, _) = server.wait();
    assert!(status.success(), "{status:?}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_http"))
        .args(["--addr", "127.0.0.1:0", "--metrics-addr", &addr])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("--metrics-addr {addr}")),
        "{stderr}"
    );
}
