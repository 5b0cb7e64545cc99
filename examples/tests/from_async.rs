//! The `from_async` example: a handler answering through async code on a tokio runtime
//! beside the server, on both builds (built with the `tokio-ref` feature).
#![cfg(feature = "tokio-ref")]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::Running;

#[test]
fn a_handler_answers_through_async_code() {
    let server = Running::start(env!("CARGO_BIN_EXE_from_async"), &[]);
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    for key in ["a", "b"] {
        stream.write_all(format!("{key}\n").as_bytes()).unwrap();
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert_eq!(line, format!("value of {key}\n"));
    }
    drop((stream, reader));
    server.signal("TERM");
    let (status, rest) = server.wait();
    assert!(status.success(), "{status:?}");
    assert!(rest.contains("requests=2"), "{rest:?}");
}
