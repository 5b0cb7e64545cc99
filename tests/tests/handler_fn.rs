//! `net::handler_fn`: a handler written as a closure runs on every server, framed by a
//! closure on the evented ones (a line trickled in pieces is collected before `serve`).

use std::io::{BufRead, Write};

use net::{handler_fn, Action, ServerParams};
use tests::{start, stop, Client, TestServer};

fn a_closure_serves_lines_collected_by_its_framing<S: TestServer>() {
    let upper = handler_fn(|conn| {
        let mut line = String::new();
        if conn.read_line(&mut line)? == 0 {
            return Ok(Action::Close);
        }
        conn.write_all(line.to_uppercase().as_bytes())?;
        Ok(Action::KeepAlive)
    })
    .framed_by(tests::line_frame);
    let mut server: S = start(upper, ServerParams::default());
    let mut c = Client::connect(server.local_addr());
    c.send(b"hel");
    c.send(b"lo\n");
    assert_eq!(c.line(), "HELLO\n");
    c.send(b"again\n");
    assert_eq!(c.line(), "AGAIN\n");
    let stats = stop(&mut server);
    assert_eq!(stats.requests, 2, "{stats:?}");
}

tests::server_tests_every_mode!(a_closure_serves_lines_collected_by_its_framing);
