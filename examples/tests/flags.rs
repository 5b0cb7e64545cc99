//! The example binaries' command lines: durations need a unit (a bare number is an error
//! naming the flag and showing the fix), the `-ms` spellings take milliseconds, every
//! option shows its default in `--help`, and each build has only its own server's flags.
//! These run under whatever features the test build has (`net` by default, `evnet` with
//! `evented`).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{run, Running};
use examples::cli::{format_bytes, format_duration};
use net::ServerParams;

const HTTP: &str = env!("CARGO_BIN_EXE_http");
const ECHO: &str = env!("CARGO_BIN_EXE_echo");
const STD_HTTP: &str = env!("CARGO_BIN_EXE_std_http");

/// Flags only `net` has.
const NET_ONLY: [&str; 3] = ["--threads", "--queue", "--thread-idle-time"];

/// Flags only `evnet` has.
const EVNET_ONLY: [&str; 5] = [
    "--loops",
    "--workers",
    "--dispatch",
    "--input-budget",
    "--output-budget",
];

/// Every example binary this build has.
fn binaries() -> Vec<&'static str> {
    #[allow(unused_mut)] // pushed to with `tokio-ref`
    let mut bins = vec![HTTP, ECHO, STD_HTTP];
    #[cfg(feature = "tokio-ref")]
    bins.push(env!("CARGO_BIN_EXE_tokio_http"));
    bins
}

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Run `bin` with `args`, which must be refused before it serves: status 2, nothing on
/// standard output; returns standard error.
fn refused(bin: &str, args: &[&str]) -> String {
    let output = run(bin, args);
    let stderr = stderr_of(&output);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{bin} {args:?} should exit with 2: {output:?}"
    );
    assert!(output.stdout.is_empty(), "{bin} {args:?}: {output:?}");
    assert!(stderr.starts_with("error: "), "{bin} {args:?}: {stderr}");
    stderr
}

/// The options of a `--help` text: (long flag, its lines), in order. An option starts
/// with a line whose first word is `-x,` or `--flag`; its description (one line in the
/// short help, several in the long one) runs to the next option.
fn options(help: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in help.lines() {
        let word = line.split_whitespace().next().unwrap_or("");
        let starts_option = line.starts_with(' ')
            && (word.starts_with("--")
                || (word.len() == 3 && word.starts_with('-') && word.ends_with(',')));
        if starts_option {
            let flag = line
                .split_whitespace()
                .find(|w| w.starts_with("--"))
                .expect("a long flag")
                .trim_end_matches(',')
                .to_owned();
            out.push((flag, format!("{line}\n")));
        } else if let Some((_, block)) = out.last_mut() {
            block.push_str(line);
            block.push('\n');
        }
    }
    out
}

fn help(bin: &str) -> String {
    let output = Command::new(bin)
        .arg("--help")
        .output()
        .expect("run --help");
    assert!(output.status.success(), "{bin} --help: {output:?}");
    String::from_utf8(output.stdout).expect("UTF-8 help")
}

/// The default `--help` shows for `flag`, if any.
fn default_of(help: &str, flag: &str) -> Option<String> {
    let (_, block) = options(help).into_iter().find(|(f, _)| f == flag)?;
    let start = block.find("[default: ")? + "[default: ".len();
    let end = start + block[start..].find(']')?;
    Some(block[start..end].to_owned())
}

#[test]
fn keep_alive_timeout_without_a_unit_exits_2_naming_the_flag() {
    let mut cases = vec![
        (HTTP, "--keep-alive-timeout"),
        (HTTP, "--read-timeout"),
        (HTTP, "--write-timeout"),
        (HTTP, "--shutdown-deadline"),
        (ECHO, "--keep-alive-timeout"),
        (STD_HTTP, "--keep-alive-timeout"),
    ];
    if !cfg!(feature = "evented") {
        cases.push((HTTP, "--thread-idle-time"));
    }
    for (bin, flag) in cases {
        let stderr = refused(bin, &[flag, "120"]);
        assert!(stderr.contains(flag), "{bin} {flag} 120: {stderr}");
        assert!(stderr.contains("`120s`"), "{bin} {flag} 120: {stderr}");
    }
    // A unit the parser does not know is refused too, naming the flag.
    let stderr = refused(HTTP, &["--keep-alive-timeout", "120 parsecs"]);
    assert!(stderr.contains("--keep-alive-timeout"), "{stderr}");
}

#[test]
fn durations_with_units_are_accepted() {
    for value in ["120s", "500ms", "2m", "1h 30m", "1.5s"] {
        let server = Running::start(HTTP, &["--keep-alive-timeout", value]);
        server.signal("TERM");
        let (status, _) = server.wait();
        assert!(status.success(), "--keep-alive-timeout {value}: {status:?}");
    }
}

#[test]
fn keep_alive_ms_takes_milliseconds() {
    for bin in [HTTP, STD_HTTP] {
        let server = Running::start(bin, &["--keep-alive-ms", "120"]);
        let mut stream = TcpStream::connect(server.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        // The response, then the close after 120 ms idle (not 120 s, nor the 15 s default).
        let started = Instant::now();
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read to close");
        let idle = started.elapsed();
        assert!(response.ends_with("Hello, World!"), "{bin}: {response:?}");
        assert!(
            idle < Duration::from_secs(5),
            "{bin}: closed after {idle:?}"
        );
    }
    // Each `-ms` spelling is accepted (a bare number of milliseconds).
    let mut flags = vec!["--read-timeout-ms", "--write-timeout-ms", "--shutdown-ms"];
    if !cfg!(feature = "evented") {
        flags.push("--thread-idle-ms");
    }
    for flag in flags {
        let server = Running::start(HTTP, &[flag, "1500"]);
        server.signal("INT");
        let (status, _) = server.wait();
        assert!(status.success(), "{flag} 1500: {status:?}");
    }
    // The two spellings of one setting cannot both be given.
    let stderr = refused(
        HTTP,
        &["--keep-alive-ms", "120", "--keep-alive-timeout", "1s"],
    );
    assert!(stderr.contains("--keep-alive-ms"), "{stderr}");
}

#[test]
fn every_binary_help_shows_its_defaults() {
    for bin in binaries() {
        let text = help(bin);
        let opts = options(&text);
        assert!(opts.iter().any(|(f, _)| f == "--addr"), "{bin}: {text}");
        for (flag, block) in &opts {
            // Switches (`--require-host`, `--help`) take no value and have no default.
            let first_line = block.lines().next().unwrap_or("");
            if first_line.contains('<') {
                assert!(
                    block.contains("[default: "),
                    "{bin}: {flag} shows no default:\n{text}"
                );
            }
        }
    }
    // The defaults are the library's.
    let params = ServerParams::default();
    for bin in [HTTP, ECHO] {
        let text = help(bin);
        for (flag, want) in [
            (
                "--keep-alive-timeout",
                format_duration(params.keep_alive_timeout()),
            ),
            ("--read-timeout", format_duration(params.read_timeout())),
            ("--write-timeout", format_duration(params.write_timeout())),
            ("--max-connections", params.max_connections().to_string()),
            ("--backlog", params.backlog().to_string()),
            ("--nodelay", params.nodelay().to_string()),
            (
                "--max-request-buffer",
                format_bytes(params.max_request_buffer()),
            ),
            ("--max-requests", "unlimited".to_owned()),
            ("--shutdown-deadline", "5s".to_owned()),
        ] {
            assert_eq!(default_of(&text, flag), Some(want), "{bin} {flag}:\n{text}");
        }
        #[cfg(not(feature = "evented"))]
        {
            assert_eq!(
                default_of(&text, "--threads"),
                Some(params.max_threads().to_string())
            );
            assert_eq!(
                default_of(&text, "--thread-idle-time"),
                Some(format_duration(params.thread_idle_time()))
            );
        }
        #[cfg(feature = "evented")]
        {
            let options = evnet::EvOptions::default();
            let inline = options.clone().dispatch(evnet::Dispatch::Inline);
            let workers = options.clone().dispatch(evnet::Dispatch::Workers);
            assert_eq!(
                default_of(&text, "--loops"),
                Some(format!(
                    "{} adaptive, {} with workers, {} inline",
                    options.loop_count(),
                    workers.loop_count(),
                    inline.loop_count()
                ))
            );
            assert_eq!(
                default_of(&text, "--input-budget"),
                Some(format_bytes(options.input_budget_bytes()))
            );
            assert_eq!(default_of(&text, "--dispatch").as_deref(), Some("adaptive"));
            assert_eq!(
                default_of(&text, "--takeover-after").as_deref(),
                Some("1ms")
            );
        }
    }
    assert_eq!(
        default_of(&help(HTTP), "--keep-alive-timeout").as_deref(),
        Some("15s")
    );
    assert_eq!(
        default_of(&help(STD_HTTP), "--keep-alive-timeout"),
        Some(format_duration(params.keep_alive_timeout()))
    );
}

#[test]
fn each_build_lists_only_its_own_servers_flags() {
    for bin in [HTTP, ECHO] {
        let text = help(bin);
        let flags: Vec<String> = options(&text).into_iter().map(|(f, _)| f).collect();
        let (present, absent) = if cfg!(feature = "evented") {
            (&EVNET_ONLY[..], &NET_ONLY[..])
        } else {
            (&NET_ONLY[..], &EVNET_ONLY[..])
        };
        for flag in present {
            assert!(
                flags.iter().any(|f| f == flag),
                "{bin} lacks {flag}:\n{text}"
            );
        }
        for flag in absent {
            assert!(
                !flags.iter().any(|f| f == flag),
                "{bin} has {flag}:\n{text}"
            );
        }
    }
}

#[test]
fn the_other_servers_flags_are_rejected() {
    let rejected: &[&[&str]] = if cfg!(feature = "evented") {
        &[
            &["--threads", "4"],
            &["--queue", "4"],
            &["--thread-idle-time", "1s"],
            &["--thread-idle-ms", "100"],
        ]
    } else {
        &[
            &["--loops", "2"],
            &["--workers", "2"],
            &["--dispatch", "inline"],
            &["--input-budget", "1MiB"],
            &["--output-budget", "1MiB"],
        ]
    };
    for bin in [HTTP, ECHO] {
        for args in rejected {
            let stderr = refused(bin, args);
            assert!(stderr.contains(args[0]), "{bin} {args:?}: {stderr}");
        }
    }
}

#[cfg(feature = "evented")]
#[test]
fn dispatch_is_workers_or_inline() {
    let server = Running::start(HTTP, &["--dispatch", "inline"]);
    let response = common::exchange(
        server.addr,
        b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert!(response.ends_with("Hello, World!"), "{response}");
    server.signal("TERM");
    assert!(server.wait().0.success());
    let stderr = refused(HTTP, &["--dispatch", "sideways"]);
    assert!(stderr.contains("--dispatch"), "{stderr}");
    assert!(stderr.contains("workers, inline"), "{stderr}");
}

/// The per-client limits' flags: each is off by default (`--help` says so), a bad value
/// (zero, not a number, a duration without its unit) exits with 2 naming the flag, and
/// good values serve.
#[test]
fn per_client_limit_flags_refuse_bad_values_naming_the_flag() {
    let text = help(HTTP);
    for (flag, default) in [
        ("--max-connections-per-client", "off"),
        ("--max-connection-age", "off"),
        ("--max-accept-rate", "off"),
        ("--evict-idle-at-capacity", "false"),
    ] {
        assert_eq!(
            default_of(&text, flag).as_deref(),
            Some(default),
            "{flag}:\n{text}"
        );
    }
    for (flag, value) in [
        ("--max-connections-per-client", "0"),
        ("--max-connections-per-client", "lots"),
        ("--max-connection-age", "0s"),
        ("--max-connection-age", "600"),
        ("--max-accept-rate", "0"),
        ("--max-accept-rate", "fast"),
        ("--evict-idle-at-capacity", "maybe"),
    ] {
        for bin in [HTTP, ECHO] {
            let stderr = refused(bin, &[flag, value]);
            assert!(stderr.contains(flag), "{bin} {flag} {value}: {stderr}");
        }
    }
    let server = Running::start(
        HTTP,
        &[
            "--max-connections-per-client",
            "4",
            "--max-connection-age",
            "10m",
            "--max-accept-rate",
            "100",
            "--evict-idle-at-capacity",
        ],
    );
    let response = common::exchange(
        server.addr,
        b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert!(response.ends_with("Hello, World!"), "{response}");
    server.signal("TERM");
    let (status, _) = server.wait();
    assert!(status.success(), "{status:?}");
}

const RESP: &str = env!("CARGO_BIN_EXE_resp");

/// Run `bin` with `args` exactly as given (with `--addr 127.0.0.1:0` first unless `args`
/// name an address) to its exit, killed after 10 s (a bad value taken for a good one
/// would serve on): its exit status, standard output and standard error.
fn outcome(bin: &str, args: &[&str]) -> (Option<i32>, String, String) {
    use std::process::Stdio;
    let mut command = Command::new(bin);
    if !args.iter().any(|a| a.starts_with("--addr")) {
        command.args(["--addr", "127.0.0.1:0"]);
    }
    let mut child = command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let end = Instant::now() + Duration::from_secs(10);
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > end {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let output = child.wait_with_output().expect("output");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr_of(&output),
    )
}

/// The flag and the value `args` begin with: `--flag value` or `--flag=value`.
fn typed<'a>(args: &[&'a str]) -> (&'a str, &'a str) {
    match args[0].split_once('=') {
        Some((flag, value)) => (flag, value),
        None => (args[0], args.get(1).copied().unwrap_or("")),
    }
}

/// Every bad input of issue 19 ("the CLI names what you typed"), on the build under test:
/// exit status 2 before serving, and standard error names the flag as typed and its value
/// (the first of the arguments), not the library's name for the parameter, and says the
/// row's last column. The right-build counterparts of the other build's flags are served in
/// `the_right_build_counterparts_and_sizes_people_write_are_served`.
#[test]
fn every_bad_input_exits_2_naming_the_flag_and_the_value() {
    // With `tls`: a certificate that loads, so that the key's file is the one missing.
    #[cfg(feature = "tls")]
    let files = common::CertFiles::new("flags");
    #[cfg(feature = "tls")]
    let cert = files.path("cert.pem");
    #[rustfmt::skip]
    let mut rows: Vec<(&str, &[&str], &str)> = vec![
        // Refused by the library: named by the flag, not `max_requests_per_connection`.
        (HTTP, &["--max-requests", "0"], "at least 1"),
        (HTTP, &["--max-connections", "0"], ""),
        (ECHO, &["--backlog", "0"], ""),
        (HTTP, &["--read-timeout", "0s"], "more than zero"),
        (HTTP, &["--read-timeout-ms", "0"], ""),
        (HTTP, &["--write-timeout=400d"], "365 days"),
        (HTTP, &["--keep-alive-ms", "0"], ""),
        (HTTP, &["--max-output-buffer", "1000"], "1 KiB"),
        (HTTP, &["--max-request-buffer", "0"], ""),
        (HTTP, &["--max-connection-age", "400d"], ""),
        // A bare zero is not told to write `0s`, refused too (see below).
        (HTTP, &["--read-timeout", "0"], "`500ms`"),
        (HTTP, &["--max-connection-age", "0"], "`off`"),
        // Addresses: a usage error naming the flag, not a failure to bind.
        (HTTP, &["--addr", "localhost"], "HOST:PORT"),
        (ECHO, &["--addr", ":99999"], "HOST:PORT"),
        // `.invalid` never resolves (RFC 6761), where a bare `nowhere` might.
        (RESP, &["--addr", "nowhere.invalid:80"], "HOST:PORT"),
        (HTTP, &["--metrics-addr", "nowhere"], "HOST:PORT"),
        // Sizes: what is accepted is spelled out.
        (HTTP, &["--max-request-buffer", "1.5 parsecs"], "1000-based"),
        (HTTP, &["--max-body-bytes", "1.5"], "whole"),
        (RESP, &["--max-bulk-bytes", "lots"], "KiB"),
        (ECHO, &["--max-line", "0"], ""),
        // The misleading alias is gone; clap points at the spelling that is left.
        (HTTP, &["--no-delay"], "--nodelay"),
        // A missing file (with `tls`), or a build without TLS: the flag and the file.
        (HTTP, &["--tls-cert", "cli-missing.pem", "--tls-key", "k.pem"], ""),
    ];
    #[cfg(feature = "tls")]
    #[rustfmt::skip]
    let missing_files: [(&str, &[&str], &str); 2] = [
        // Named by the flag whose file is missing, not by the first TLS flag typed.
        (HTTP, &["--tls-cert", "cli-missing.pem", "--tls-key", &cert], "certificate chain"),
        (HTTP, &["--tls-key", "cli-missing-key.pem", "--tls-cert", &cert], "private key"),
    ];
    #[cfg(feature = "tls")]
    rows.extend_from_slice(&missing_files);
    // A switch of a feature this binary lacks: the switch, not the library's name.
    #[cfg(not(feature = "tls"))]
    rows.push((HTTP, &["--tls-self-signed"], "built without TLS"));
    #[rustfmt::skip]
    let this_build: &[(&str, &[&str], &str)] = if cfg!(feature = "evented") {
        &[
            (HTTP, &["--workers", "0"], "at least 1"),
            (HTTP, &["--loops", "0"], ""),
            (ECHO, &["--loops", "2000"], "1024"),
            (HTTP, &["--takeover-after", "50us"], "100 µs"),
            (HTTP, &["--spares", "5000"], ""),
            (HTTP, &["--input-budget", "0"], ""),
            (HTTP, &["--output-budget", "0"], ""),
            // The other build's flags.
            (HTTP, &["--threads", "0"], "flag of the net build"),
            (ECHO, &["--thread-idle-ms=100"], "net build"),
        ]
    } else {
        &[
            (HTTP, &["--threads", "0"], "at least 1"),
            (HTTP, &["--thread-idle-time", "0s"], ""),
            (HTTP, &["--thread-idle-ms", "0"], ""),
            // The other build's flags.
            (HTTP, &["--workers", "2"], "flag of the evented build (cargo run --features evented)"),
            (ECHO, &["--loops=3"], "evented build"),
            (RESP, &["--dispatch", "inline"], "evented build"),
        ]
    };
    rows.extend_from_slice(this_build);
    let mut failures = Vec::new();
    for (bin, args, also) in &rows {
        let (flag, value) = typed(args);
        let (code, stdout, stderr) = outcome(bin, args);
        let ok = code == Some(2)
            && stdout.is_empty()
            && stderr.starts_with("error: ")
            && stderr.contains(flag)
            && stderr.contains(value)
            && stderr.contains(also)
            // The flag's name for the parameter, never the library's.
            && !stderr.contains("invalid parameter");
        if !ok {
            let name = bin.rsplit('/').next().unwrap_or(bin);
            failures.push(format!("{name} {args:?}: exit {code:?}, stderr {stderr:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The fix shown for a duration without its unit is one the flag takes.
    let (_, _, stderr) = outcome(HTTP, &["--read-timeout", "0"]);
    assert!(!stderr.contains("write `0s`"), "{stderr}");
    let (_, _, stderr) = outcome(HTTP, &["--keep-alive-timeout", "120"]);
    assert!(stderr.contains("write `120s`"), "{stderr}");
}

/// What people write is served: the other rows' right-build flags, sizes in decimal and
/// binary units with fractions, and `--backlog` (applied on both servers: `ss` shows it).
#[test]
fn the_right_build_counterparts_and_sizes_people_write_are_served() {
    let mut args = vec![
        "--max-request-buffer",
        "1.5MiB",
        "--max-output-buffer",
        "10MB",
        "--max-head-bytes",
        "64k",
        "--max-body-bytes",
        "512KiB",
        "--nodelay",
        "--backlog",
        "7",
    ];
    if cfg!(feature = "evented") {
        args.extend(["--workers", "2", "--loops", "1", "--takeover-after", "5ms"]);
    } else {
        args.extend(["--threads", "4", "--thread-idle-ms", "100"]);
    }
    let server = Running::start(HTTP, &args);
    let response = common::exchange(
        server.addr,
        b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert!(response.ends_with("Hello, World!"), "{response}");
    // The listen backlog is the listening socket's Send-Q in `ss -lnt`.
    let sport = format!("sport = :{}", server.addr.port());
    if let Ok(out) = Command::new("ss").args(["-Hltn", &sport]).output() {
        let listing = String::from_utf8_lossy(&out.stdout);
        let send_q: Vec<&str> = listing
            .lines()
            .filter_map(|l| l.split_whitespace().nth(2))
            .collect();
        assert!(!send_q.is_empty(), "no listener in {listing:?}");
        assert!(send_q.iter().all(|q| *q == "7"), "{listing}");
    }
    server.signal("TERM");
    let (status, _) = server.wait();
    assert!(status.success(), "{status:?}");
}

/// No `--help` shows rustdoc markup (a link such as "[`Config::path`](super::Config::path)"
/// from a doc comment clap reads), and the misleading `--no-delay` alias is gone.
#[test]
fn help_is_plain_text() {
    let mut bins = vec![HTTP, ECHO, RESP, STD_HTTP];
    bins.push(env!("CARGO_BIN_EXE_loadgen"));
    bins.push(env!("CARGO_BIN_EXE_compare"));
    for bin in bins {
        let text = help(bin);
        assert!(!text.contains("]("), "{bin}: a rustdoc link in\n{text}");
        assert!(!text.contains("[`"), "{bin}: a rustdoc link in\n{text}");
        assert!(!text.contains("no-delay"), "{bin}:\n{text}");
    }
    // The size units are told.
    let text = help(HTTP);
    assert!(text.contains("KB, MB, GB are 1000-based"), "{text}");
    assert!(text.contains("1024-based"), "{text}");
}
