//! The example binaries as processes: the first line names the address, requests are
//! served, SIGTERM/SIGINT stop them gracefully with statistics, bad values exit with 2.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{exchange, pool_flags, run, Running};

#[test]
fn http_serves_then_stops_on_sigterm() {
    let server = Running::start(env!("CARGO_BIN_EXE_http"), pool_flags());
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
    let pool_zero: &[&str] = if cfg!(feature = "evented") {
        &["--workers", "0"]
    } else {
        &["--threads", "0"]
    };
    let pool_word: &[&str] = if cfg!(feature = "evented") {
        &["--loops", "lots"]
    } else {
        &["--threads", "lots"]
    };
    for (bin, args) in [
        (env!("CARGO_BIN_EXE_http"), pool_zero),
        (env!("CARGO_BIN_EXE_http"), pool_word),
        (env!("CARGO_BIN_EXE_http"), &["--read-timeout-ms", "0"]),
        (env!("CARGO_BIN_EXE_http"), &["--read-timeout", "0s"]),
        (env!("CARGO_BIN_EXE_http"), &["--max-requests", "0"]),
        (env!("CARGO_BIN_EXE_http"), &["--max-body-bytes", "lots"]),
        (env!("CARGO_BIN_EXE_echo"), &["--backlog", "0"]),
        (env!("CARGO_BIN_EXE_echo"), &["--max-line", "0"]),
        (
            env!("CARGO_BIN_EXE_std_http"),
            &["--keep-alive-timeout", "0s"],
        ),
    ] {
        let output = run(bin, args);
        assert_eq!(output.status.code(), Some(2), "{bin} {args:?}: {output:?}");
        assert!(output.stdout.is_empty(), "{bin} {args:?}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("error"), "{bin} {args:?}: {stderr}");
    }
}
