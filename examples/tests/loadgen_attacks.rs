//! `loadgen`'s attacking populations and its fresh-connection probe, against the example
//! handlers served in-process on `examples::Server` (`net` in the default build):
//! each population opens its connections and the server sees what it should
//! (expect-stallers get `100 Continue` and are cut at a short read timeout, partial
//! bodies send their 900,000 bytes, big non-readers find their value stored, amplifiers
//! have their replies counted), probes are answered by a healthy server and counted as
//! failed by a silent one, and bad combinations of flags exit with 2 naming the flag.
//! Nothing here asserts a duration's upper bound.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

mod common;
use common::{assert_loadgen_refuses, loadgen_bin};

use examples::loadgen::{self, Config, Population, Proto, Report, Stop};
use net::{Handler, Server as _, ServerParams};

/// Run `config` (4 measured connections, 500 ms, no warm-up, after `configure`)
/// against `handler` served with `params`; `after` runs against the server's address
/// before it stops.
fn against<H: Handler>(
    handler: H,
    params: ServerParams,
    proto: Proto,
    configure: impl FnOnce(&mut Config),
    after: impl FnOnce(std::net::SocketAddr),
) -> Report {
    let mut server = examples::Server::serve("127.0.0.1:0", handler, params).expect("serve");
    let mut config = Config::new(
        server.local_addr(),
        proto,
        Stop::Duration(Duration::from_millis(500)),
    );
    config.connections = 4;
    config.warmup = Duration::ZERO;
    configure(&mut config);
    let report = loadgen::run(&config).expect("run");
    after(server.local_addr());
    server.shutdown(Duration::from_secs(2)).expect("shutdown");
    report
}

fn http() -> examples::http::HttpHandler {
    examples::http::HttpHandler::new()
}

fn resp() -> examples::resp::RespHandler {
    examples::resp::RespHandler::new()
}

fn read_timeout(t: Duration) -> ServerParams {
    ServerParams::builder()
        .read_timeout(t)
        .build()
        .expect("params")
}

/// Every connection opened was closed by one side or is still open.
fn assert_accounted(p: &Population) {
    assert_eq!(
        p.opened,
        p.closed_by_server + p.closed_by_client + p.open_at_end,
        "{p:?}"
    );
}

#[test]
fn expect_stallers_get_100_continue_and_are_cut_at_the_read_timeout() {
    let report = against(
        http(),
        read_timeout(Duration::from_millis(300)),
        Proto::Http,
        |c| {
            c.expect_stallers = 3;
            c.stop = Stop::Duration(Duration::from_millis(1500));
        },
        |_| {},
    );
    assert_eq!(report.errors_total, 0, "{report:?}");
    let p = report.background.expect_stallers;
    assert!(!p.reconnecting, "{p:?}");
    assert_eq!(
        (p.requested, p.opened, p.connect_failed),
        (3, 3, 0),
        "{p:?}"
    );
    assert_eq!((p.closed_by_server, p.open_at_end), (3, 0), "{p:?}");
    assert_accounted(&p);
    // Cut by the 300 ms read timeout; no upper bound asserted.
    assert!(p.close_after_s.median.unwrap() >= 0.2, "{p:?}");
    let a = p.activity.expect("activity");
    assert_eq!((a.sent, a.continues), (3, 3), "{a:?}");
    let head = b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\
                 Content-Length: 1000000\r\n\r\n";
    assert_eq!(a.bytes_sent, 3 * head.len() as u64, "no body byte: {a:?}");
    assert!(report
        .summary()
        .contains("expect-stallers 3 of 3 opened, 3 closed by the server"));
}

#[test]
fn reconnecting_expect_stallers_come_back_after_each_cut() {
    let report = against(
        http(),
        read_timeout(Duration::from_millis(200)),
        Proto::Http,
        |c| {
            c.expect_stallers = 2;
            c.reconnect = true;
            c.stop = Stop::Duration(Duration::from_millis(1500));
        },
        |_| {},
    );
    let p = report.background.expect_stallers;
    assert!(p.reconnecting, "{p:?}");
    // The 2 first connections are cut, and each reopened at least once.
    assert!(p.closed_by_server >= 2, "{p:?}");
    assert!(p.opened >= 4, "{p:?}");
    assert_accounted(&p);
    let a = p.activity.expect("activity");
    // Every connection sent its head and got its 100 Continue.
    assert_eq!(a.sent, p.opened, "{a:?}");
    assert!(a.continues >= p.closed_by_server, "{a:?}");
    assert!(report
        .summary()
        .contains("expect-stallers 2 kept (reconnecting)"));
}

#[test]
fn partial_bodies_send_900000_bytes_and_stall() {
    let report = against(
        http(),
        ServerParams::default(),
        Proto::Http,
        |c| c.partial_bodies = 3,
        |_| {},
    );
    assert_eq!(report.errors_total, 0, "{report:?}");
    let p = report.background.partial_bodies;
    assert_eq!(
        (p.opened, p.closed_by_server, p.open_at_end),
        (3, 0, 3),
        "{p:?}"
    );
    let a = p.activity.expect("activity");
    let head = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n";
    // The server reads what comes: each sent its head and 900,000 body bytes, and got
    // no answer (the body is never complete).
    assert_eq!(a.sent, 3, "{a:?}");
    assert_eq!(a.bytes_sent, 3 * (head.len() as u64 + 900_000), "{a:?}");
    assert_eq!((a.answered, a.bytes_received), (0, 0), "{a:?}");
}

#[test]
fn big_non_readers_find_their_value_stored_and_never_read() {
    let mut stored = Vec::new();
    let report = against(
        resp(),
        ServerParams::default(),
        Proto::Resp,
        |c| c.big_non_readers = 3,
        |addr| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(b"*2\r\n$6\r\nSTRLEN\r\n$11\r\nloadgen:big\r\n")
                .unwrap();
            let mut reply = [0u8; 10];
            s.read_exact(&mut reply).unwrap();
            stored = reply.to_vec();
        },
    );
    assert_eq!(report.errors_total, 0, "{report:?}");
    assert!(report.requests > 0, "{report:?}");
    assert_eq!(stored, b":2000000\r\n");
    let p = report.background.big_non_readers;
    assert_eq!(p.stored, Some(true), "{p:?}");
    assert_eq!((p.opened, p.open_at_end), (3, 3), "{p:?}");
    let a = p.activity.expect("activity");
    let get = b"*2\r\n$3\r\nGET\r\n$11\r\nloadgen:big\r\n";
    assert_eq!((a.sent, a.bytes_sent), (3, 3 * get.len() as u64), "{a:?}");
    assert_eq!(a.bytes_received, 0, "never read: {a:?}");
}

#[test]
fn amplifiers_count_error_replies_under_the_output_limit() {
    // 1,000 × 64 KiB is far over the default 2 MiB output limit: every reply is an error.
    let report = against(
        resp(),
        ServerParams::default(),
        Proto::Resp,
        |c| c.amplifiers = 2,
        |_| {},
    );
    assert_eq!(report.errors_total, 0, "{report:?}");
    let p = report.background.amplifiers;
    assert_eq!(p.stored, Some(true), "{p:?}");
    assert_eq!((p.opened, p.open_at_end), (2, 2), "{p:?}");
    let a = p.activity.expect("activity");
    assert!(a.answered >= 1, "{a:?}");
    assert_eq!(a.errors, a.answered, "{a:?}");
    // One request in flight per amplifier: sent again only once answered.
    assert!(a.sent >= a.answered && a.sent <= a.answered + 2, "{a:?}");
}

#[test]
fn amplifiers_count_whole_replies_when_the_server_builds_them() {
    let params = ServerParams::builder()
        .max_output_buffer(80 << 20)
        .build()
        .expect("params");
    let report = against(
        resp(),
        params,
        Proto::Resp,
        |c| {
            c.amplifiers = 1;
            c.stop = Stop::Duration(Duration::from_secs(1));
        },
        |_| {},
    );
    let a = report.background.amplifiers.activity.expect("activity");
    assert!(a.answered >= 1, "{a:?}");
    assert_eq!(a.errors, 0, "{a:?}");
    // Each reply carries the value 1,000 times.
    assert!(a.bytes_received >= a.answered * 1000 * 65_536, "{a:?}");
}

#[test]
fn probes_are_answered_by_a_healthy_server() {
    for proto in [Proto::Http, Proto::Resp, Proto::Echo] {
        let configure = |c: &mut Config| c.probe_interval = Some(Duration::from_millis(50));
        let report = match proto {
            Proto::Http => against(http(), ServerParams::default(), proto, configure, |_| {}),
            Proto::Resp => against(resp(), ServerParams::default(), proto, configure, |_| {}),
            _ => against(
                examples::echo::Echo::new(),
                ServerParams::default(),
                proto,
                configure,
                |_| {},
            ),
        };
        assert_eq!(report.errors_total, 0, "{proto}: {report:?}");
        let probes = report.probes.expect("probes");
        assert!(probes.sent >= 1, "{proto}: {probes:?}");
        assert_eq!(
            (probes.answered, probes.failed),
            (probes.sent, 0),
            "{proto}: {probes:?}"
        );
        assert!(probes.all_answered());
        assert!(probes.latency_max_us >= probes.latency_p50_us, "{probes:?}");
        assert!(
            report.summary().contains("probes    every 50ms:"),
            "{proto}"
        );
    }
}

#[test]
fn probes_to_a_silent_server_fail_by_timeout() {
    // Connections are accepted by the kernel (the backlog) and never answered.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = Config::new(
        listener.local_addr().unwrap(),
        Proto::Http,
        Stop::Duration(Duration::from_millis(300)),
    );
    config.connections = 1;
    config.warmup = Duration::ZERO;
    config.timeout = Duration::from_millis(100);
    config.probe_interval = Some(Duration::from_millis(100));
    let report = loadgen::run(&config).expect("run");
    let probes = report.probes.expect("probes");
    assert!(probes.sent >= 1, "{probes:?}");
    assert_eq!(probes.answered, 0, "{probes:?}");
    assert_eq!(
        (probes.failed, probes.timed_out),
        (probes.sent, probes.sent)
    );
    assert_eq!((probes.latency_p50_us, probes.latency_max_us), (None, None));
    assert!(!probes.all_answered());
    drop(listener);
}

#[test]
fn hello_flood_against_a_plain_server_keeps_reconnecting() {
    let report = against(
        http(),
        ServerParams::default(),
        Proto::Http,
        |c| c.hello_flood = 2,
        |_| {},
    );
    assert_eq!(report.errors_total, 0, "{report:?}");
    let p = report.background.hello_flood;
    assert!(p.reconnecting, "{p:?}");
    assert_accounted(&p);
    let a = p.activity.expect("activity");
    // Each connection sends the hello once; the plain server answers it (with an HTTP
    // error) or closes, and the client starts again.
    assert_eq!(a.sent, p.opened, "{a:?}");
    assert!(p.opened >= 2, "{p:?}");
    let hello = loadgen::client_hello("localhost").unwrap();
    assert_eq!(a.bytes_sent, a.sent * hello.len() as u64, "{a:?}");
}

#[test]
fn flags_bad_attack_combinations_exit_2_naming_the_flag() {
    for (flag, args) in [
        ("--big-non-readers", &["--big-non-readers", "1"][..]),
        ("--amplifiers", &["--amplifiers", "1"]),
        (
            "--expect-stallers",
            &["--proto", "resp", "--expect-stallers", "1"],
        ),
        (
            "--partial-bodies",
            &["--proto", "echo", "--partial-bodies", "1"],
        ),
        ("--probe-interval", &["--probe-interval", "1ms"]),
        ("--probe-interval", &["--probe-interval", "5"]),
        ("--tls-server-name", &["--tls-server-name", "example.com"]),
        (
            "--tls-server-name",
            &["--hello-flood", "1", "--tls-server-name", "not a name"],
        ),
        ("--hello-flood", &["--hello-flood", "19000"]),
        ("--expect-stallers", &["--expect-stallers", "x"]),
    ] {
        assert_loadgen_refuses(flag, &[&["--requests", "1"], args].concat());
    }
}

#[test]
fn attack_figures_are_in_the_json_report() {
    let mut server =
        examples::Server::serve("127.0.0.1:0", http(), ServerParams::default()).expect("serve");
    let addr = server.local_addr().to_string();
    let out = loadgen_bin(&[
        "--addr",
        &addr,
        "--duration",
        "300ms",
        "--warmup",
        "0s",
        "--connections",
        "2",
        "--expect-stallers",
        "2",
        "--reconnect",
        "--probe-interval",
        "50ms",
        "--max-time",
        "5s",
        "--json",
        "-",
    ]);
    server.shutdown(Duration::from_secs(2)).expect("shutdown");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("expect-stallers 2 kept (reconnecting)"),
        "{stdout}"
    );
    assert!(stdout.contains("probes    every 50ms:"), "{stdout}");
    let json: serde_json::Value =
        serde_json::from_str(&stdout[stdout.find('{').expect("json")..]).expect("parse");
    let p = &json["background"]["expect_stallers"];
    assert_eq!(p["reconnecting"], true, "{p}");
    assert_eq!(p["activity"]["continues"], 2, "{p}");
    assert!(p.get("stored").is_none(), "{p}");
    let probes = &json["probes"];
    assert!(probes["sent"].as_u64().unwrap() >= 1, "{probes}");
    assert_eq!(probes["answered"], probes["sent"], "{probes}");
    assert!(json["background"]["idle"].get("activity").is_none());
}
