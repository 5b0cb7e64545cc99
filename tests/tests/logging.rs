//! The `log` feature: what the servers report, on both servers.

use std::sync::{Mutex, Once};
use std::time::Duration;

use log::{Level, LevelFilter, Log, Metadata, Record};
use net::ServerParams;
use tests::{await_stats, start, stop, Client, Echo, TestServer};

/// Every record logged in this test process: (level, module that logged it, its target,
/// message).
static RECORDS: Mutex<Vec<(Level, String, String, String)>> = Mutex::new(Vec::new());

struct Capture;

impl Log for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &Record<'_>) {
        let line = record.args().to_string();
        let module = record.module_path().unwrap_or_default().to_string();
        let target = record.target().to_string();
        RECORDS.lock().unwrap_or_else(|e| e.into_inner()).push((
            record.level(),
            module,
            target,
            line,
        ));
    }
    fn flush(&self) {}
}

fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        static LOGGER: Capture = Capture;
        log::set_logger(&LOGGER).unwrap();
        log::set_max_level(LevelFilter::Debug);
    });
}

/// True when the crate of server `name` (`net`, or `evnet` for `evnet` in any mode such
/// as `evnet-workers`) logged a record at `level` containing `needle`, under a target of
/// that crate (so `RUST_LOG=evnet` selects evnet's records).
fn logged(name: &str, level: Level, needle: &str) -> bool {
    let krate = name.split('-').next().unwrap_or(name);
    let prefix = format!("{krate}::");
    RECORDS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .any(|(l, module, target, m)| {
            *l == level
                && module.starts_with(&prefix)
                && target.starts_with(&prefix)
                && m.contains(needle)
        })
}

/// A keep-alive timeout is logged at debug level.
fn timeouts_are_logged_at_debug<S: TestServer>() {
    install();
    let params = ServerParams::builder()
        .keep_alive_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let mut server: S = start(Echo::new(), params);
    let mut client = Client::connect(server.local_addr());
    client.echo("then idle");
    await_stats(&server, "the idle connection timed out", |s| {
        s.timed_out == 1
    });
    client.expect_closed();
    assert!(
        tests::wait_until(tests::PATIENCE, || logged(S::NAME, Level::Debug, "timeout")),
        "{}: no debug record of the timeout",
        S::NAME
    );
    stop(&mut server);
}

/// A refused connection (server full) is logged at debug level.
fn refusals_are_logged_at_debug<S: TestServer>() {
    install();
    let params = ServerParams::builder().max_connections(1).build().unwrap();
    let mut server: S = tests::start_with(Echo::new(), params, 1, 1);
    let mut first = Client::connect(server.local_addr());
    first.echo("holds the only slot");
    let mut second = Client::connect(server.local_addr());
    second.expect_closed();
    await_stats(&server, "a refusal", |s| s.refused_connections == 1);
    assert!(
        tests::wait_until(tests::PATIENCE, || logged(S::NAME, Level::Debug, "refused")),
        "{}: no debug record of the refusal",
        S::NAME
    );
    stop(&mut server);
}

tests::server_tests!(timeouts_are_logged_at_debug, refusals_are_logged_at_debug);
