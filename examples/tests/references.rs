//! The tokio and hyper reference servers (built with the `tokio-ref` and `hyper-ref`
//! features; without them there is nothing to test here): `/work?ms=N` answers as `/`
//! after blocking, a bad `ms` gets 400, and pipelined requests are answered in order.
//! No timing is asserted.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use common::Running;
use examples::loadgen::check::{check_http, Check};

/// The reference binaries this build has: cargo may name a binary target whose required
/// features are off.
fn references() -> Vec<&'static str> {
    [
        option_env!("CARGO_BIN_EXE_tokio_http"),
        option_env!("CARGO_BIN_EXE_hyper_http"),
    ]
    .into_iter()
    .flatten()
    .filter(|p| Path::new(p).exists())
    .collect()
}

/// Write `requests` at once on a new connection and read `count` responses; each one's
/// status code and body.
fn pipelined(server: &Running, requests: &[&str], count: usize) -> Vec<(u16, String)> {
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(requests.concat().as_bytes()).unwrap();
    let mut input = Vec::new();
    let mut answers = Vec::new();
    let mut chunk = [0u8; 4096];
    while answers.len() < count {
        match check_http(&input) {
            Check::Response { len, .. } => {
                let response = String::from_utf8(input.drain(..len).collect()).unwrap();
                let status = response[9..12].parse().unwrap();
                let body = response.split_once("\r\n\r\n").unwrap().1.to_owned();
                answers.push((status, body));
            }
            Check::Partial => {
                let n = stream.read(&mut chunk).unwrap();
                assert!(n > 0, "closed after {} answers", answers.len());
                input.extend_from_slice(&chunk[..n]);
            }
            Check::Invalid => panic!("malformed: {:?}", String::from_utf8_lossy(&input)),
        }
    }
    answers
}

#[test]
fn work_answers_as_root_a_bad_ms_gets_400_and_pipelined_requests_keep_their_order() {
    for bin in references() {
        let server = Running::start(bin, &["--threads", "1"]);
        let get = |target: &str| format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n");
        let requests = [
            get("/work?ms=5"),
            get("/work?ms=lots"),
            get("/"),
            get("/work?x=1&ms=0"),
            get("/work?ms=1001"),
            get("/work"),
        ];
        let requests: Vec<&str> = requests.iter().map(String::as_str).collect();
        let answers = pipelined(&server, &requests, requests.len());
        let hello = (200, "Hello, World!".to_owned());
        assert_eq!(answers[0], hello, "{bin}");
        assert_eq!(answers[1].0, 400, "{bin}: {answers:?}");
        assert!(answers[1].1.contains("not a number"), "{bin}: {answers:?}");
        assert_eq!(answers[2], hello, "{bin}");
        assert_eq!(answers[3], hello, "{bin}");
        assert_eq!(answers[4].0, 400, "{bin}: {answers:?}");
        assert!(answers[4].1.contains("too large"), "{bin}: {answers:?}");
        assert_eq!(answers[5].0, 400, "{bin}: {answers:?}");
        assert!(answers[5].1.contains("missing ms"), "{bin}: {answers:?}");
        // 16 pipelined requests that block, as compare's http-pipelined has in flight.
        let one = get("/work?ms=1");
        let many = vec![one.as_str(); 16];
        let answers = pipelined(&server, &many, many.len());
        assert!(answers.iter().all(|a| *a == hello), "{bin}: {answers:?}");
    }
}

/// Every reference answers `Hello, World!` with a `Date` line, as the http example does
/// (RFC 9110 asks it of a server with a clock), so that `compare` measures the same bytes
/// from each: tokio and hyper when built, and the std thread-per-connection one.
#[test]
fn every_reference_sends_a_date() {
    let mut bins: Vec<(&str, &[&str])> = references()
        .into_iter()
        .map(|bin| (bin, &["--threads", "1"][..]))
        .collect();
    bins.push((env!("CARGO_BIN_EXE_std_http"), &[]));
    for (bin, args) in bins {
        let server = Running::start(bin, args);
        let mut stream = TcpStream::connect(server.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let mut input = Vec::new();
        let mut chunk = [0u8; 4096];
        let len = loop {
            match check_http(&input) {
                Check::Response { len, .. } => break len,
                Check::Partial => {
                    let n = stream.read(&mut chunk).unwrap();
                    assert!(n > 0, "{bin}: closed before answering");
                    input.extend_from_slice(&chunk[..n]);
                }
                Check::Invalid => panic!("{bin}: malformed {:?}", String::from_utf8_lossy(&input)),
            }
        };
        let response = String::from_utf8_lossy(&input[..len]).into_owned();
        assert!(response.starts_with("HTTP/1.1 200"), "{bin}: {response:?}");
        let date = response
            .lines()
            .find_map(|l| {
                l.strip_prefix("Date: ")
                    .or_else(|| l.strip_prefix("date: "))
            })
            .unwrap_or_else(|| panic!("{bin}: no Date in {response:?}"));
        assert!(
            examples::http::date::parse(date.as_bytes()).is_some(),
            "{bin}: {date:?}"
        );
    }
}
