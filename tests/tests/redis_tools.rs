//! The real Redis tools against the RESP example, on every server: `redis-cli` round trips
//! and a short pipelined `redis-benchmark` run, whose writes are then read back. The tools
//! come from Debian's `redis-tools`, which `scripts/test.sh` installs when missing.
//! Nothing here asserts a rate.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use examples::resp::RespHandler;
use net::ServerParams;
use tests::TestServer;

fn start<S: TestServer>() -> S {
    let params = ServerParams::builder()
        .keep_alive_timeout(Duration::from_secs(30))
        .build()
        .expect("params");
    let mut server = S::bind_with("127.0.0.1:0", RespHandler::new(), params, S::options(2, 2))
        .unwrap_or_else(|e| panic!("{}: bind: {e}", S::NAME));
    server
        .start()
        .unwrap_or_else(|e| panic!("{}: start: {e}", S::NAME));
    server
}

/// Run `tool` against `addr` with `args`; its standard output, after asserting success.
fn run(tool: &str, addr: SocketAddr, args: &[&str]) -> String {
    let out = Command::new(tool)
        .args(["-h", "127.0.0.1", "-p", &addr.port().to_string()])
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {tool} ({e}): install redis-tools (scripts/test.sh does)")
        });
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn cli(addr: SocketAddr, args: &[&str]) -> String {
    run("redis-cli", addr, args).trim_end().to_owned()
}

fn redis_cli_round_trips<S: TestServer>() {
    let mut server = start::<S>();
    let addr = server.local_addr();
    assert_eq!(cli(addr, &["PING"]), "PONG");
    assert_eq!(cli(addr, &["SET", "greeting", "hello world"]), "OK");
    assert_eq!(cli(addr, &["GET", "greeting"]), "hello world");
    assert_eq!(cli(addr, &["INCR", "n"]), "1");
    assert_eq!(cli(addr, &["INCRBY", "n", "9"]), "10");
    assert_eq!(cli(addr, &["DBSIZE"]), "2");
    assert!(cli(addr, &["INFO"]).contains("# Server"));
    // Several commands through one redis-cli, read from its standard input.
    let piped = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf 'SET a 1\\nGET a\\nDEL a\\nGET a\\n' | redis-cli -p {}",
            addr.port()
        ))
        .output()
        .expect("sh");
    assert!(piped.status.success());
    assert_eq!(String::from_utf8_lossy(&piped.stdout), "OK\n1\n1\n\n");
    server.shutdown(tests::SHUTDOWN_DEADLINE).unwrap();
}

/// `redis-benchmark -t set,get -n 20000 -P 16 -q` completes both tests, and what it wrote
/// reads back: its key `key:__rand_int__` (without `-r`) holds a value of its default
/// size, 3 bytes (their content is random in redis-benchmark 7).
fn redis_benchmark_runs_and_its_writes_read_back<S: TestServer>() {
    let mut server = start::<S>();
    let addr = server.local_addr();
    let out = run(
        "redis-benchmark",
        addr,
        &["-t", "set,get", "-n", "20000", "-P", "16", "-c", "10", "-q"],
    );
    for test in ["SET: ", "GET: "] {
        assert!(out.contains(test), "no {test:?} line in {out:?}");
    }
    assert_eq!(cli(addr, &["STRLEN", "key:__rand_int__"]), "3");
    assert_eq!(cli(addr, &["GET", "key:__rand_int__"]).len(), 3);
    let stats = server.stats();
    assert!(stats.requests >= 40_000, "{stats:?}");
    server.shutdown(tests::SHUTDOWN_DEADLINE).unwrap();
}

tests::server_tests!(
    redis_cli_round_trips,
    redis_benchmark_runs_and_its_writes_read_back
);
