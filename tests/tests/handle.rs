//! `ServerHandle`: watch, stop and wait for a server from other threads, on both servers.

use std::time::Duration;

use net::ServerHandle;
use tests::{await_stats, start, Client, Echo, TestServer, SHUTDOWN_DEADLINE};

/// The handle can be cloned and sent to, and shared between, threads.
#[test]
fn handle_is_clone_send_sync() {
    fn assert_traits<T: Clone + Send + Sync + 'static>() {}
    assert_traits::<ServerHandle>();
}

/// A thread stops the server through a handle while another waits on its own clone: both
/// get the same final statistics, the client is closed, and the server value reports the
/// same afterwards (a second shutdown changes nothing).
fn handle_stops_and_waits<S: TestServer>() {
    let mut server: S = start(Echo::new(), net::ServerParams::default());
    let handle = server.handle();
    assert!(handle.is_running(), "{}", S::NAME);
    let mut client = Client::connect(server.local_addr());
    client.echo("before");
    await_stats(&server, "one request", |s| s.requests == 1);
    assert_eq!(handle.stats().requests, 1);

    let waiter = {
        let handle = handle.clone();
        std::thread::spawn(move || handle.wait())
    };
    let stopper = {
        let handle = handle.clone();
        std::thread::spawn(move || handle.shutdown(SHUTDOWN_DEADLINE))
    };
    let stopped = stopper
        .join()
        .unwrap()
        .expect("shutdown through the handle");
    let waited = waiter.join().unwrap();
    assert_eq!(stopped, waited, "{}", S::NAME);
    assert!(!handle.is_running());
    client.expect_closed();
    assert_eq!(stopped.requests, 1);
    assert_eq!(stopped.current_connections, 0);
    assert_eq!(server.stats(), stopped);
    assert_eq!(server.shutdown(Duration::from_secs(1)).unwrap(), stopped);
    assert!(
        server.start().is_err(),
        "a stopped server does not start again"
    );
}

/// Dropping the server stops it: a handle that outlives it sees it stopped.
fn dropping_the_server_stops_it<S: TestServer>() {
    let server: S = start(Echo::new(), net::ServerParams::default());
    let handle = server.handle();
    drop(server);
    assert!(!handle.is_running(), "{}", S::NAME);
    assert_eq!(handle.wait().current_connections, 0);
}

/// A handle taken before `start` sees the server start and stop.
fn handle_before_start<S: TestServer>() {
    let mut server = S::bind_with(
        "127.0.0.1:0",
        Echo::new(),
        net::ServerParams::default(),
        S::options(1, 1),
    )
    .unwrap();
    let handle = server.handle();
    assert!(!handle.is_running());
    server.start().unwrap();
    assert!(handle.is_running(), "{}", S::NAME);
    handle.shutdown(SHUTDOWN_DEADLINE).unwrap();
    assert!(!handle.is_running());
}

tests::server_tests!(
    handle_stops_and_waits,
    dropping_the_server_stops_it,
    handle_before_start
);
