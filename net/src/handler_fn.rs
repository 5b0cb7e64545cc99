//! A [`Handler`] written as a closure: [`handler_fn`].

use std::fmt;
use std::io;

use crate::connection::Connection;
use crate::handler::{Action, Frame, Handler};

/// The framing of a [`HandlerFn`] without [`framed_by`](HandlerFn::framed_by): whatever is
/// buffered is a complete request (as [`Handler::frame`]'s default).
pub type AnyBytes = fn(&[u8]) -> Frame;

fn any_bytes(buffered: &[u8]) -> Frame {
    Frame::Complete(buffered.len())
}

/// A handler made of closures, from [`handler_fn`]: no session, `serve` answers one
/// request, and optionally a `frame` closure tells an evented server where a request ends.
pub struct HandlerFn<S, F = AnyBytes> {
    serve: S,
    frame: F,
}

/// A [`Handler`] whose `serve` is the closure `serve` (no per-connection state; for
/// state, implement [`Handler`] with a `Session`).
///
/// Without [`framed_by`](HandlerFn::framed_by), any bytes start serving: right for
/// handlers whose requests arrive whole or that read them with blocking calls; an evented
/// server then lets a request that arrives in pieces be read by its handler on a worker.
/// With it, the evented server collects each request in its loop first.
///
/// ```
/// use std::io::{self, BufRead, Write};
/// use std::time::Duration;
/// use net::{handler_fn, Action, Frame, Server, ServerParams, TcpServer};
///
/// let upper = handler_fn(|conn| {
///     let mut line = String::new();
///     if conn.read_line(&mut line)? == 0 {
///         return Ok(Action::Close);
///     }
///     conn.write_all(line.to_uppercase().as_bytes())?;
///     Ok(Action::KeepAlive)
/// })
/// // One line is one request (an evented server collects it in its loop).
/// .framed_by(|buffered| match buffered.iter().position(|&b| b == b'\n') {
///     Some(i) => Frame::Complete(i + 1),
///     None => Frame::Partial,
/// });
/// let mut server = TcpServer::serve("127.0.0.1:0", upper, ServerParams::default())?;
/// let mut client = std::net::TcpStream::connect(server.local_addr())?;
/// client.write_all(b"quiet\n")?;
/// let mut reply = String::new();
/// io::BufReader::new(&client).read_line(&mut reply)?;
/// assert_eq!(reply, "QUIET\n");
/// server.shutdown(Duration::from_secs(1))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn handler_fn<S>(serve: S) -> HandlerFn<S>
where
    S: Fn(&mut Connection) -> io::Result<Action> + Send + Sync + 'static,
{
    HandlerFn {
        serve,
        frame: any_bytes,
    }
}

impl<S, F> HandlerFn<S, F> {
    /// Frame requests with `frame` (see [`Handler::frame`]): given the bytes buffered,
    /// where the first request ends, or that more are needed.
    pub fn framed_by<G>(self, frame: G) -> HandlerFn<S, G>
    where
        G: Fn(&[u8]) -> Frame + Send + Sync + 'static,
    {
        HandlerFn {
            serve: self.serve,
            frame,
        }
    }
}

impl<S, F> Handler for HandlerFn<S, F>
where
    S: Fn(&mut Connection) -> io::Result<Action> + Send + Sync + 'static,
    F: Fn(&[u8]) -> Frame + Send + Sync + 'static,
{
    type Session = ();

    fn open(&self, _: &Connection) {}

    fn serve(&self, _: &mut (), conn: &mut Connection) -> io::Result<Action> {
        (self.serve)(conn)
    }

    fn frame(&self, _: &mut (), buffered: &[u8]) -> Frame {
        (self.frame)(buffered)
    }
}

impl<S, F> fmt::Debug for HandlerFn<S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerFn").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_framing_any_bytes_are_a_request() {
        let h = handler_fn(|_| Ok(Action::Close));
        assert_eq!(h.frame(&mut (), b"abc"), Frame::Complete(3));
    }

    #[test]
    fn framed_by_decides_where_a_request_ends() {
        let h = handler_fn(|_| Ok(Action::Close)).framed_by(|b: &[u8]| {
            if b.len() >= 4 {
                Frame::Complete(4)
            } else {
                Frame::Partial
            }
        });
        assert_eq!(h.frame(&mut (), b"ab"), Frame::Partial);
        assert_eq!(h.frame(&mut (), b"abcdef"), Frame::Complete(4));
    }
}
