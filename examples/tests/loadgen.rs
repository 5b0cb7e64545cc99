//! `loadgen` end to end: against the example servers in-process (every response right),
//! against a server that answers wrongly (every response a mismatch), and its flags;
//! with background populations (idle, slowloris, non-readers) beside the measured load.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

mod common;
use common::{assert_loadgen_refuses, loadgen_bin};

use examples::loadgen::{self, Config, ErrorKind, Progress, Proto, Report, Stop};
use net::{Handler, Server as _, ServerParams};

/// Run `config` against `handler` served in-process on `examples::Server`.
fn against<H: Handler>(handler: H, configure: impl FnOnce(&mut Config)) -> Report {
    against_with(handler, ServerParams::default(), configure)
}

/// [`against`] with these server parameters.
fn against_with<H: Handler>(
    handler: H,
    params: ServerParams,
    configure: impl FnOnce(&mut Config),
) -> Report {
    let mut server = examples::Server::serve("127.0.0.1:0", handler, params).expect("serve");
    let mut config = Config::new(
        server.local_addr(),
        Proto::Http,
        Stop::Duration(Duration::from_millis(300)),
    );
    config.connections = 4;
    config.warmup = Duration::ZERO;
    configure(&mut config);
    let report = loadgen::run(&config).expect("run");
    server.shutdown(Duration::from_secs(2)).expect("shutdown");
    report
}

/// Every one of `requests` requests answered right.
fn assert_all_right(report: &Report, requests: u64) {
    assert_eq!(
        (report.requests, report.errors_total),
        (requests, 0),
        "{report:?}"
    );
}

#[test]
fn http_server_answers_every_request_right() {
    let report = against(examples::http::HttpHandler::new(), |_| {});
    assert_eq!(report.errors_total, 0, "{report:?}");
    assert!(report.requests > 0, "{report:?}");
    assert_eq!(report.latency_us.samples, report.requests);
    assert!(
        report.elapsed_s > 0.25 && report.elapsed_s <= 0.3,
        "{report:?}"
    );
    assert!(!report.capped);
}

#[test]
fn http_pipelined_on_two_threads() {
    let report = against(examples::http::HttpHandler::new(), |c| {
        c.threads = 2;
        c.pipeline = 4;
        c.stop = Stop::Requests(400);
    });
    assert_all_right(&report, 400);
}

#[test]
fn resp_server_answers_sets_and_gets_in_order() {
    let report = against(examples::resp::RespHandler::new(), |c| {
        c.proto = Proto::Resp;
        c.pipeline = 8;
        c.stop = Stop::Requests(400);
    });
    assert_all_right(&report, 400);
}

#[test]
fn echo_server_echoes_every_line() {
    let report = against(examples::echo::Echo::new(), |c| {
        c.proto = Proto::Echo;
        c.pipeline = 2;
        c.stop = Stop::Requests(200);
    });
    assert_all_right(&report, 200);
}

#[test]
fn open_loop_keeps_the_rate() {
    let report = against(examples::http::HttpHandler::new(), |c| {
        c.rate = Some(200.0);
        c.stop = Stop::Requests(40);
    });
    assert_all_right(&report, 40);
    // 40 requests at 200/s take about 200 ms (the last is due at 195 ms).
    assert!(report.elapsed_s >= 0.19, "{report:?}");
}

#[test]
fn http_path_reaches_the_blocking_route() {
    let report = against(examples::http::HttpHandler::new(), |c| {
        c.path = "/work?ms=1".to_owned();
        c.pipeline = 2;
        c.stop = Stop::Requests(40);
    });
    assert_all_right(&report, 40);
    // Each answer waited for its 1 ms in the handler; only a lower bound.
    assert!(report.latency_us.min >= 1000, "{report:?}");
}

#[test]
fn http_path_not_found_is_an_error_for_every_response() {
    let progress = Progress::new();
    let mut server = examples::Server::serve(
        "127.0.0.1:0",
        examples::http::HttpHandler::new(),
        ServerParams::default(),
    )
    .expect("serve");
    let mut config = Config::new(server.local_addr(), Proto::Http, Stop::Requests(30));
    config.connections = 3;
    config.warmup = Duration::ZERO;
    config.path = "/nope".to_owned();
    let report = loadgen::run_with(&config, &progress).expect("run");
    server.shutdown(Duration::from_secs(2)).expect("shutdown");
    // 404 answers are well-formed and keep the connection: each is a mismatch.
    assert_eq!(report.requests, 0, "{report:?}");
    assert_eq!(report.latency_us.samples, 0);
    assert_eq!(
        (report.errors.mismatch, report.errors_total),
        (30, 30),
        "{report:?}"
    );
    assert_eq!((progress.answered(), progress.errors()), (0, 30));
}

#[test]
fn progress_counts_match_the_report() {
    let mut server = examples::Server::serve(
        "127.0.0.1:0",
        examples::http::HttpHandler::new(),
        ServerParams::default(),
    )
    .expect("serve");
    // Requests, with the display beside the run on a hidden target: the run's time limit
    // (the warm-up and 5 minutes) makes it draw, and dropping it stops its thread.
    let progress = Progress::new();
    let mut config = Config::new(server.local_addr(), Proto::Http, Stop::Requests(500));
    config.connections = 4;
    config.threads = 2;
    config.pipeline = 2;
    config.warmup = Duration::from_millis(50);
    let line =
        loadgen::show_progress_on(&config, &progress, indicatif::ProgressDrawTarget::hidden());
    assert!(line.is_active());
    let report = loadgen::run_with(&config, &progress).expect("run");
    drop(line);
    assert_all_right(&report, 500);
    assert_eq!((progress.answered(), progress.errors()), (500, 0));
    // A duration: what is answered after its end is in neither.
    let progress = Progress::new();
    config.stop = Stop::Duration(Duration::from_millis(300));
    let report = loadgen::run_with(&config, &progress).expect("run");
    server.shutdown(Duration::from_secs(2)).expect("shutdown");
    assert!(report.requests > 0, "{report:?}");
    assert_eq!(
        (progress.answered(), progress.errors()),
        (report.requests, report.errors_total),
        "{report:?}"
    );
}

/// A server that answers every HTTP request head with a well-formed wrong response.
fn wrong_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            std::thread::spawn(move || answer_wrongly(stream));
        }
    });
    addr
}

fn answer_wrongly(stream: TcpStream) {
    answer_each_request(stream, |_| {
        Some(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nWrong")
    });
}

/// Read HTTP request heads from `stream` and write `answer(n)` for the `n`th (from 0);
/// close the connection when it is `None`, or when the client closes.
fn answer_each_request(
    mut stream: TcpStream,
    mut answer: impl FnMut(usize) -> Option<&'static [u8]>,
) {
    let mut pending = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut n = 0;
    loop {
        let got = match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(got) => got,
        };
        pending.extend_from_slice(&chunk[..got]);
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            pending.drain(..end + 4);
            let Some(response) = answer(n) else { return };
            if stream.write_all(response).is_err() {
                return;
            }
            n += 1;
        }
    }
}

#[test]
fn wrong_answers_are_mismatches_never_successes() {
    let mut config = Config::new(
        wrong_server(),
        Proto::Http,
        Stop::Duration(Duration::from_millis(300)),
    );
    config.connections = 4;
    config.warmup = Duration::ZERO;
    let report = loadgen::run(&config).expect("run");
    assert_eq!(report.requests, 0, "{report:?}");
    assert_eq!(report.latency_us.samples, 0);
    assert!(report.errors.mismatch > 0, "{report:?}");
    for kind in ErrorKind::ALL {
        if kind != ErrorKind::Mismatch {
            assert_eq!(report.errors.get(kind), 0, "{kind}: {report:?}");
        }
    }
    assert_eq!(report.errors_total, report.errors.mismatch);
}

#[test]
fn a_silent_server_times_out() {
    // Accepts, reads, never answers.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let mut config = Config::new(addr, Proto::Resp, Stop::Requests(2));
    config.connections = 2;
    config.warmup = Duration::ZERO;
    config.timeout = Duration::from_millis(100);
    let report = loadgen::run(&config).expect("run");
    assert_eq!(report.requests, 0);
    assert_eq!(report.errors.timeout, 2, "{report:?}");
    assert_eq!(report.errors_total, 2);
    assert!(!report.capped);
}

#[test]
fn flags_duration_or_requests_exactly_one() {
    for args in [
        &["--addr", "127.0.0.1:1"][..],
        &[
            "--addr",
            "127.0.0.1:1",
            "--duration",
            "1s",
            "--requests",
            "5",
        ],
    ] {
        let out = loadgen_bin(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("--duration"), "{args:?}: {stderr}");
    }
}

#[test]
fn flags_bad_values_exit_2_naming_the_flag() {
    for (flag, args) in [
        ("--duration", &["--duration", "5"][..]),
        ("--timeout", &["--requests", "1", "--timeout", "5"]),
        (
            "--threads",
            &["--requests", "1", "--connections", "2", "--threads", "3"],
        ),
        (
            "--connections",
            &["--requests", "1", "--connections", "20000"],
        ),
        ("--rate", &["--requests", "1", "--rate", "0"]),
        ("--proto", &["--requests", "1", "--proto", "smtp"]),
        ("--path", &["--requests", "1", "--path", "nope"]),
        ("--path", &["--requests", "1", "--path", "/a b"]),
        (
            "--path",
            &["--requests", "1", "--proto", "resp", "--path", "/"],
        ),
    ] {
        assert_loadgen_refuses(flag, args);
    }
    let out = loadgen_bin(&["--addr", "nowhere", "--requests", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--addr"));
}

#[test]
fn json_output_has_the_summary_fields() {
    let mut server = examples::Server::serve(
        "127.0.0.1:0",
        examples::http::HttpHandler::new(),
        ServerParams::default(),
    )
    .expect("serve");
    let addr = server.local_addr().to_string();
    let out = loadgen_bin(&[
        "--addr",
        &addr,
        "--requests",
        "20",
        "--warmup",
        "0s",
        "--connections",
        "2",
        "--json",
        "-",
    ]);
    server.shutdown(Duration::from_secs(2)).expect("shutdown");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("requests  20 in"), "{stdout}");
    assert!(stdout.contains("errors    none"), "{stdout}");
    let json_start = stdout.find('{').expect("json");
    let json: serde_json::Value = serde_json::from_str(&stdout[json_start..]).expect("parse");
    assert_eq!(json["requests"], 20);
    assert_eq!(json["errors_total"], 0);
    assert_eq!(json["proto"], "http");
    assert!(json["latency_us"]["p99"].as_u64().is_some());
    assert!(json["req_per_s"].as_f64().unwrap() > 0.0);
}

#[test]
fn flag_path_sets_the_target() {
    let mut server = examples::Server::serve(
        "127.0.0.1:0",
        examples::http::HttpHandler::new(),
        ServerParams::default(),
    )
    .expect("serve");
    let addr = server.local_addr().to_string();
    let run = |path: &str| {
        loadgen_bin(&[
            "--addr",
            &addr,
            "--requests",
            "10",
            "--warmup",
            "0s",
            "--connections",
            "2",
            "--path",
            path,
        ])
    };
    let (good, bad) = (run("/work?ms=1"), run("/nope"));
    server.shutdown(Duration::from_secs(2)).expect("shutdown");
    let stdout = String::from_utf8_lossy(&good.stdout);
    assert_eq!(good.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("requests  10 in"), "{stdout}");
    assert!(stdout.contains("errors    none"), "{stdout}");
    let stdout = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("requests  0 in"), "{stdout}");
    assert!(stdout.contains("mismatch"), "{stdout}");
}

#[test]
fn idle_connections_stay_usable_beside_the_load() {
    let report = against(examples::http::HttpHandler::new(), |c| c.idle = 20);
    assert_eq!(report.errors_total, 0, "{report:?}");
    assert!(report.requests > 0, "{report:?}");
    let idle = report.background.idle;
    assert_eq!((idle.requested, idle.opened), (20, 20), "{idle:?}");
    assert_eq!(
        (idle.closed_by_server, idle.open_at_end),
        (0, 20),
        "{idle:?}"
    );
    let usable = idle.usable_at_end.expect("probed");
    assert_eq!((usable.answered, usable.failed), (20, 0), "{idle:?}");
    assert_eq!(report.background.slowloris.requested, 0);
    assert!(report.summary().contains("20 answered, 0 failed"));
}

#[test]
fn slowloris_clients_are_closed_by_the_read_timeout() {
    let params = ServerParams::builder()
        .read_timeout(Duration::from_millis(300))
        .build()
        .expect("params");
    let report = against_with(examples::http::HttpHandler::new(), params, |c| {
        c.slowloris = 3;
        c.trickle_interval = Duration::from_millis(50);
        c.stop = Stop::Duration(Duration::from_millis(1500));
    });
    assert_eq!(report.errors_total, 0, "{report:?}");
    let slow = report.background.slowloris;
    assert_eq!((slow.opened, slow.closed_by_server), (3, 3), "{slow:?}");
    assert_eq!(slow.open_at_end, 0, "{slow:?}");
    // Closed by the 300 ms deadline of the request's first byte; no upper bound asserted.
    assert!(slow.close_after_s.median.unwrap() >= 0.2, "{slow:?}");
    assert!(slow.close_after_s.max.unwrap() >= 0.2, "{slow:?}");
    assert_eq!(slow.usable_at_end, None);
}

#[test]
fn non_readers_end_with_the_run_and_the_report_parses() {
    let params = ServerParams::builder()
        .write_timeout(Duration::from_millis(200))
        .build()
        .expect("params");
    let mut server =
        examples::Server::serve("127.0.0.1:0", examples::http::HttpHandler::new(), params)
            .expect("serve");
    let addr = server.local_addr().to_string();
    let out = loadgen_bin(&[
        "--addr",
        &addr,
        "--duration",
        "500ms",
        "--warmup",
        "0s",
        "--connections",
        "2",
        "--non-readers",
        "2",
        "--max-time",
        "5s",
        "--json",
        "-",
    ]);
    server.shutdown(Duration::from_secs(2)).expect("shutdown");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("non-readers 2 of 2 opened"), "{stdout}");
    let json_start = stdout.find('{').expect("json");
    let json: serde_json::Value = serde_json::from_str(&stdout[json_start..]).expect("parse");
    let non_readers = &json["background"]["non_readers"];
    assert_eq!(non_readers["opened"], 2, "{stdout}");
    let closed = non_readers["closed_by_server"].as_u64().unwrap();
    let open = non_readers["open_at_end"].as_u64().unwrap();
    assert_eq!(closed + open, 2, "{stdout}");
    assert!(non_readers.get("usable_at_end").is_none());
    assert_eq!(json["background"]["idle"]["usable_at_end"]["answered"], 0);
}

#[test]
fn flags_background_populations_are_bounded() {
    for (flag, args) in [
        ("--idle", &["--idle", "18991"][..]),
        ("--slowloris", &["--slowloris", "18991"]),
        ("--non-readers", &["--non-readers", "18991"]),
        ("--trickle-interval", &["--trickle-interval", "5"]),
    ] {
        assert_loadgen_refuses(flag, &[&["--requests", "1"], args].concat());
    }
}

/// A server that answers each connection's first request right, then closes it on the
/// second (as a server draining for a restart closes a keep-alive connection whose
/// next request is already on its way).
fn one_answer_per_connection_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            std::thread::spawn(move || {
                // The second request closes the connection unanswered.
                answer_each_request(stream, |n| {
                    (n == 0).then_some(
                        &b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!"[..],
                    )
                });
            });
        }
    });
    addr
}

/// `--retry-closed`: a request lost with a reused connection is sent again on a new one
/// and answered there (counted as retried, not as an error); without it, it is an error.
#[test]
fn requests_lost_with_a_reused_connection_are_retried_once() {
    let addr = one_answer_per_connection_server();
    let run = |retry| {
        let mut config = Config::new(addr, Proto::Http, Stop::Requests(200));
        config.connections = 2;
        config.warmup = Duration::ZERO;
        config.retry_closed = retry;
        loadgen::run(&config).expect("run")
    };
    let retrying = run(true);
    assert_eq!(retrying.errors_total, 0, "{retrying:?}");
    assert_eq!(retrying.requests, 200, "{retrying:?}");
    assert!(retrying.retried >= 99, "{retrying:?}");
    let plain = run(false);
    assert!(plain.errors.closed + plain.errors.read > 0, "{plain:?}");
    assert_eq!(plain.retried, 0, "{plain:?}");
}

/// `--proxy v1|v2`: each new connection's PROXY header is taken by a server run with
/// `proxy_protocol`, every request answered right, also with a new connection per
/// request; a server not expecting a header answers none of them.
#[test]
fn proxy_headers_reach_a_server_that_expects_them() {
    use examples::loadgen::ProxyVersion;
    for version in [ProxyVersion::V1, ProxyVersion::V2] {
        let params = ServerParams::builder()
            .proxy_protocol(true)
            .build()
            .unwrap();
        let report = against_with(examples::http::HttpHandler::new(), params, |c| {
            c.proxy = Some(version);
            c.requests_per_connection = Some(1);
        });
        assert_eq!(report.errors_total, 0, "{version:?}: {report:?}");
        assert!(report.requests > 0, "{version:?}: {report:?}");
    }
    let report = against(examples::http::HttpHandler::new(), |c| {
        c.proxy = Some(ProxyVersion::V1);
    });
    assert_eq!(report.requests, 0, "{report:?}");
    assert!(report.errors_total > 0, "{report:?}");
}

#[test]
fn proxy_flag_values_are_checked() {
    assert_loadgen_refuses("--proxy", &["--requests", "1", "--proxy", "v3"]);
}
