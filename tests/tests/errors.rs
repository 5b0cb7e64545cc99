//! `net::Error` chains on both servers: each cause appears once when the chain is walked
//! and printed level by level (as anyhow's `{:#}` or any error reporter does).

use std::error::Error as _;
use std::io;
use std::net::TcpListener;

use net::ServerParams;
use tests::{start, stop, Echo, TestServer};

/// Each level of `err`'s chain, outermost first.
fn levels(err: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut levels = vec![err.to_string()];
    let mut cause = err.source();
    while let Some(level) = cause {
        levels.push(level.to_string());
        cause = level.source();
    }
    levels
}

/// No level repeats text that a deeper level prints: every cause is printed once.
fn assert_each_cause_once(levels: &[String]) {
    for (i, outer) in levels.iter().enumerate() {
        for inner in &levels[i + 1..] {
            assert!(
                !outer.contains(inner.as_str()),
                "{outer:?} repeats its cause {inner:?} (chain {levels:?})"
            );
        }
    }
    let report = levels.join(": ");
    for level in levels {
        assert_eq!(report.matches(level.as_str()).count(), 1, "{report}");
    }
}

/// Binding a port another socket listens on: a bind error whose message says what failed
/// and whose source is the operating system's error, printed once.
fn busy_port_chain<S: TestServer>() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let os_text = TcpListener::bind(addr).unwrap_err().to_string();
    let err = S::bind_with(addr, Echo::new(), ServerParams::default(), S::options(2, 2))
        .expect_err("the port is taken");
    assert!(err.is_bind(), "{}: {err:?}", S::NAME);
    let io_err = err.io_error().expect("an I/O cause");
    assert_eq!(io_err.kind(), io::ErrorKind::AddrInUse, "{}", S::NAME);
    let source = err.source().expect("a source");
    assert_eq!(source.to_string(), io_err.to_string());

    let chain = levels(&err);
    assert_eq!(chain.len(), 2, "{}: {chain:?}", S::NAME);
    assert!(!chain[0].contains(&os_text), "{}: {chain:?}", S::NAME);
    assert_eq!(chain[1], os_text, "{}", S::NAME);
    assert_each_cause_once(&chain);
    let report = chain.join(": ");
    assert_eq!(report.matches(&os_text).count(), 1, "{}: {report}", S::NAME);
}

/// Errors without an I/O cause are their message alone.
fn causeless_errors<S: TestServer>() {
    let err = ServerParams::builder().max_threads(0).build().unwrap_err();
    assert!(err.source().is_none());
    assert_eq!(levels(&err), [err.to_string()]);

    let mut server = start::<S, _>(Echo::new(), ServerParams::default());
    let err = server.start().expect_err("second start");
    assert!(err.is_state(), "{}: {err:?}", S::NAME);
    assert!(err.source().is_none() && err.io_error().is_none());
    stop(&mut server);
}

tests::server_tests!(busy_port_chain, causeless_errors);
