//! Helpers for the behavioural test suite.
//!
//! Every behavioural test is a generic function `fn name<S: TestServer>()`; the
//! [`server_tests!`] macro instantiates each one for every server type, so a test written
//! once runs against `net::TcpServer` and `evnet::EvServer`.

use std::time::{Duration, Instant};

use net::Server;

/// A server type under test, with what the tests need to know about its nature.
pub trait TestServer: Server {
    /// Short name for messages.
    const NAME: &'static str;
    /// True for the evented server (fixed threads: loops + workers).
    const EVENTED: bool;
    /// Options giving `loops` event loops and `workers` workers (ignored by `net`).
    fn options(loops: usize, workers: usize) -> Self::Options;
}

impl TestServer for net::TcpServer {
    const NAME: &'static str = "net";
    const EVENTED: bool = false;
    fn options(_loops: usize, _workers: usize) {}
}

/// Instantiate generic tests `fn name<S: TestServer>()` once per server type, as
/// `net_server::name` and `evnet_server::name`.
#[macro_export]
macro_rules! server_tests {
    ($($name:ident),* $(,)?) => {
        mod net_server {
            $( #[test] fn $name() { super::$name::<net::TcpServer>() } )*
        }
    };
}

/// Poll `cond` every few milliseconds until it holds or `timeout` passes; returns whether
/// it held. Used for counters that change asynchronously (never a fixed sleep).
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The default bound for [`wait_until`] in tests: generous, since the machine is shared.
pub const PATIENCE: Duration = Duration::from_secs(10);
