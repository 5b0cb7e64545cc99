//! `Server::from_listener`: serving on a socket someone else bound, on both servers.

use std::net::{TcpListener, TcpStream};

use net::ServerParams;
use tests::{stop, Client, Echo, TestServer};

/// A listener bound by the caller is served (by every loop of the evented server, which
/// share it), reports its address, and is closed by shutdown.
fn serves_an_inherited_listener<S: TestServer>() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut server = S::from_listener_with(
        listener,
        Echo::new(),
        ServerParams::default(),
        S::options(2, 2),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", S::NAME));
    assert_eq!(server.local_addr(), addr);
    server.start().unwrap();
    let mut clients: Vec<Client> = (0..8).map(|_| Client::connect(addr)).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.echo(&format!("inherited {i}"));
    }
    drop(clients);
    let stats = stop(&mut server);
    assert_eq!(stats.requests, 8, "{}", S::NAME);
    assert!(
        TcpStream::connect(addr).is_err(),
        "{}: the listener is closed after shutdown",
        S::NAME
    );
}

/// A non-blocking listener (as an evented parent might hand over) works on both servers.
fn takes_over_the_blocking_mode<S: TestServer>() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut server = S::from_listener_with(
        listener,
        Echo::new(),
        ServerParams::default(),
        S::options(1, 1),
    )
    .unwrap();
    server.start().unwrap();
    Client::connect(addr).echo("any mode");
    stop(&mut server);
}

tests::server_tests!(serves_an_inherited_listener, takes_over_the_blocking_mode);
