//! Metrics (issue 18): after load on each server, `Stats::to_prometheus` passes
//! `promtool check metrics` (Debian `prometheus`, installed by `scripts/test.sh`), and the
//! handler-time histogram counts every request.

use std::io::Write;
use std::process::{Command, Stdio};

use examples::http::HttpHandler;
use net::ServerParams;
use tests::{read_http_response, server_tests, start_with, stop, TestServer};

/// Run `promtool check metrics` on `text`: its exit status and what it printed.
fn promtool_check(text: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is not installed: run scripts/ensure-deps.sh promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = [out.stdout, out.stderr].concat();
    (
        out.status.success(),
        String::from_utf8_lossy(&said).into_owned(),
    )
}

/// 200 requests (quick ones and a few that take 2 ms) on 4 connections, then the
/// exposition: promtool finds nothing wrong, and the histogram counts each request in a
/// bucket that fits it.
fn exposition_passes_promtool_after_load<S: TestServer>() {
    let mut server = start_with::<S, _>(HttpHandler::new(), ServerParams::default(), 1, 2);
    let addr = server.local_addr();
    let clients: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let stream = std::net::TcpStream::connect(addr).unwrap();
                let mut reader = std::io::BufReader::new(stream);
                for n in 0..50 {
                    let path = if (i + n) % 10 == 0 { "/work?ms=2" } else { "/" };
                    let request = format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n");
                    reader.get_mut().write_all(request.as_bytes()).unwrap();
                    let response = read_http_response(&mut reader).unwrap();
                    assert_eq!(response.status, 200);
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let stats = server.stats();
    let text = stats.to_prometheus(if S::EVENTED { "evnet" } else { "net" });
    let (ok, said) = promtool_check(&text);
    assert!(
        ok && said.trim().is_empty(),
        "{}: promtool: {said}\n{text}",
        S::NAME
    );
    let h = stats.handler_time;
    assert_eq!(h.count(), 200, "{:?}", stats);
    assert!(
        h.sum().as_millis() >= 20 * 2,
        "20 requests of 2 ms: {:?}",
        h.sum()
    );
    // At least the 20 slow ones took over 1 ms; the quick ones are within a second.
    let under_1ms = h.cumulative().find(|&(b, _)| b == 0.001).unwrap().1;
    assert!(under_1ms <= 180, "{under_1ms} of 200 under 1 ms");
    assert_eq!(h.cumulative().find(|&(b, _)| b == 1.0).unwrap().1, 200);
    stop(&mut server);
}

server_tests!(exposition_passes_promtool_after_load);

/// promtool does fail on a broken exposition (the check above can fail).
#[test]
fn promtool_refuses_a_broken_exposition() {
    let broken = "# TYPE x counter\nx_total{le=} 1\n";
    let (ok, said) = promtool_check(broken);
    assert!(!ok, "promtool accepted {broken:?}: {said}");
}
