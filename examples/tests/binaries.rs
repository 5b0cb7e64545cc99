//! The example binaries as processes: the first line names the address, requests are
//! served, SIGTERM/SIGINT stop them gracefully with statistics, bad values exit with 2.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use examples::cli::parse_listening_line;

/// A running binary, killed if a test fails before it exits.
struct Running {
    child: Child,
    stdout: BufReader<ChildStdout>,
    addr: SocketAddr,
    first_line: String,
}

impl Running {
    fn start(bin: &str, args: &[&str]) -> Running {
        let mut child = Command::new(bin)
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first_line = String::new();
        stdout.read_line(&mut first_line).expect("first line");
        let Some(addr) = parse_listening_line(first_line.trim_end()) else {
            let _ = child.kill();
            panic!("unexpected first line {first_line:?}");
        };
        Running {
            child,
            stdout,
            addr,
            first_line,
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Wait for the process to exit (at most 10 s); returns its status and the rest of
    /// its standard output.
    fn wait(mut self) -> (ExitStatus, String) {
        let end = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            assert!(Instant::now() < end, "the process did not exit");
            thread::sleep(Duration::from_millis(10));
        };
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).expect("stdout");
        (status, rest)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    response
}

#[test]
fn http_serves_then_stops_on_sigterm() {
    let server = Running::start(env!("CARGO_BIN_EXE_http"), &["--threads", "4"]);
    assert!(server
        .first_line
        .starts_with("listening on http://127.0.0.1:"));
    assert!(server.first_line.contains(examples::SERVER_KIND));
    let response = exchange(
        server.addr,
        b"GET /json HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.ends_with(r#"{"message":"Hello, World!"}"#));
    server.signal("TERM");
    let (status, rest) = server.wait();
    assert!(status.success(), "{status:?}");
    assert!(rest.contains("stats: connections=1 "), "{rest:?}");
    assert!(rest.contains(" requests=1 "), "{rest:?}");
}

#[test]
fn echo_serves_then_stops_on_sigint() {
    let server = Running::start(env!("CARGO_BIN_EXE_echo"), &["--max-line", "100"]);
    assert!(server.first_line.starts_with("listening on tcp://"));
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(b"hello\n").unwrap();
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).unwrap();
    assert_eq!(line, "hello\n");
    drop(stream);
    server.signal("INT");
    let (status, rest) = server.wait();
    assert!(status.success(), "{status:?}");
    assert!(rest.starts_with("stats: "), "{rest:?}");
}

#[test]
fn std_http_serves() {
    let server = Running::start(env!("CARGO_BIN_EXE_std_http"), &[]);
    assert!(server.first_line.ends_with("(std)\n"));
    let response = exchange(server.addr, b"GET / HTTP/1.0\r\n\r\n");
    assert!(response.ends_with("\r\n\r\nHello, World!"), "{response}");
}

#[test]
fn bad_values_exit_with_2() {
    for (bin, args) in [
        (env!("CARGO_BIN_EXE_http"), &["--threads", "0"][..]),
        (env!("CARGO_BIN_EXE_http"), &["--read-timeout-ms", "0"]),
        (env!("CARGO_BIN_EXE_http"), &["--threads", "lots"]),
        (env!("CARGO_BIN_EXE_echo"), &["--backlog", "0"]),
        (env!("CARGO_BIN_EXE_echo"), &["--max-line", "0"]),
    ] {
        let output = Command::new(bin)
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .output()
            .expect("run");
        assert_eq!(output.status.code(), Some(2), "{bin} {args:?}: {output:?}");
        assert!(output.stdout.is_empty(), "{bin} {args:?}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("error"), "{bin} {args:?}: {stderr}");
    }
}
