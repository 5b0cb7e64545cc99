//! A small HTTP/1.1 server handler: four routes on the parser in [`parse`].
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /` (and `HEAD`) | 200, `text/plain`, `Hello, World!` (13 bytes) |
//! | `GET /json` (and `HEAD`) | 200, `application/json`, `{"message":"Hello, World!"}` |
//! | `POST /echo` | 200, `application/octet-stream`, the request body |
//! | `GET /work?ms=N` (and `HEAD`) | after blocking N ms, the answer of `GET /` |
//! | `/work` without a valid `ms` (0 to [`WORK_MAX_MS`]) | 400, naming the problem |
//! | a known path, another method | 405 with `Allow` |
//! | any other path | 404 |
//!
//! `/work` models a handler that blocks (on a database, a file, another service): it
//! sleeps in the handler ([`std::thread::sleep`]), holding whatever thread serves the
//! request. Its `ms` is a decimal number of milliseconds among the query's
//! `&`-separated parameters (`/work?ms=20`, `/work?x=1&ms=0`; the first `ms` counts).
//!
//! Routes match the target's path in origin-form (`/json`) or absolute-form
//! (`http://example.com/json`). The answers in the table (400, 404 and 405 included)
//! keep the connection open as any answer does. Connections persist by HTTP/1.1 rules (see
//! [`HttpHandler`]); requests that cannot be served get the status of their
//! [`parse::Error`] (400, 413, 417, 431, 501, 505) with `Connection: close`, and the
//! connection is closed.
//!
//! Every final response carries `Date` (RFC 9110 §6.6.1), the IMF-fixdate of the second
//! it is made in, from the shared cache of [`date::now`].

pub mod date;
pub mod parse;
mod session;

pub use session::HttpSession;

use std::io::{self, BufRead, Write};

use net::{Action, Connection, Frame, Handler};

use parse::{BodyKind, ChunkedDecoder, Head, Limits, Parsed, Version};
use session::Taken;

/// The body of `GET /`.
pub const HELLO: &[u8] = b"Hello, World!";

/// The body of `GET /json`.
pub const JSON: &[u8] = br#"{"message":"Hello, World!"}"#;

/// The longest `GET /work?ms=N` blocks, in milliseconds; a larger `N` gets 400.
pub const WORK_MAX_MS: u16 = 1000;

/// Responses whose body is at most this long are assembled on the stack.
const STACK_RESPONSE: usize = 1024;

/// The HTTP/1.1 handler: routes `GET /`, `GET /json`, `POST /echo` and
/// `GET /work?ms=N` (see the [module docs](self)).
///
/// - **Persistence**: HTTP/1.1 keeps the connection open unless the request says
///   `Connection: close` (answered with `Connection: close`, then the connection closes);
///   HTTP/1.0 closes it unless the request says `Connection: keep-alive` (answered with
///   `Connection: keep-alive`). When the server will take no further request on the
///   connection ([`Connection::is_last_request`]: `max_requests_per_connection` reached,
///   or the server draining), the response says `Connection: close` whatever the request
///   asked, and the connection closes after it.
/// - **Pipelining**: each [`serve`](Handler::serve) reads exactly one request; bytes of
///   later requests stay buffered in the connection and are answered in order.
/// - **Bodies**: `Content-Length` and `chunked` (trailers skipped). A body sent to a route
///   that does not want it is read and dropped. `Expect: 100-continue` gets an interim
///   `100 Continue` on `/echo`; elsewhere the final answer comes at once and the
///   connection closes. On an evented server the `100 Continue` is
///   [`Frame::Interim`]: the event loop sends it and collects the body, so a client that
///   asks for the go-ahead and never sends its body holds no worker. A chunked body's
///   framing is bounded against its data: a chunk-size line (digits and extensions) has
///   at most 4 KiB, and the framing at most 16 KiB or as many bytes as the data, whichever
///   is more (else 400); trailers count against the head limit, line ends included
///   (else 431).
/// - **Errors**: malformed requests get 400, a head over the limit 431, a body over the
///   limit 413, a transfer coding other than `chunked` 501 (a `Transfer-Encoding` that does
///   not end in `chunked` is 400), an HTTP version other than 1.0/1.1 505, an unknown
///   `Expect` 417; each with `Connection: close`, after which the connection closes.
///   A missing `Host` is accepted unless [`require_host`](HttpHandler::require_host) is on.
/// - **Framing**: [`frame`](Handler::frame) reports a request complete once its head and
///   whole body are buffered, so an evented server never hands a worker half a request.
///   Each head is parsed once: framing keeps it in the [`HttpSession`], and `serve` takes
///   it from there (on a blocking server, which does not frame, `serve` parses it).
/// - **Date**: every final response (errors included) carries a `Date` field; the
///   `100 Continue` interim response does not (RFC 9110 §6.6.1 leaves it optional there).
/// - **Cost**: a `GET` without a body allocates nothing: the head is parsed in place and
///   the response assembled on the stack, `Date` copied from a cache formatted once a
///   second ([`date::now`]).
///
/// ```
/// use std::io::{Read, Write};
/// use std::time::Duration;
/// use net::{Server, ServerParams, TcpServer};
///
/// let mut server =
///     TcpServer::serve("127.0.0.1:0", examples::http::HttpHandler::new(), ServerParams::default())?;
/// let mut client = std::net::TcpStream::connect(server.local_addr())?;
/// client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
/// let mut response = String::new();
/// client.read_to_string(&mut response)?;
/// assert!(response.starts_with("HTTP/1.1 200 OK\r\nDate: "));
/// assert!(response.ends_with("\r\n\r\nHello, World!"));
/// server.shutdown(Duration::from_secs(1))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct HttpHandler {
    limits: Limits,
    require_host: bool,
    blocking_hint: bool,
}

impl Default for HttpHandler {
    fn default() -> Self {
        HttpHandler {
            limits: Limits::default(),
            require_host: false,
            blocking_hint: true,
        }
    }
}

impl HttpHandler {
    /// A handler with the default [`Limits`] (8 KiB head, 1 MiB body, 100 fields) that
    /// accepts a missing `Host` and marks `/work` requests as blocking.
    pub fn new() -> Self {
        Self::default()
    }

    /// Frame `GET /work?ms=N` with N > 0 as [`Frame::Blocking`] (on by default), so an
    /// evented server with adaptive dispatch serves it on a worker at once instead of
    /// on its event loop's thread (which another thread would take over once the
    /// request had blocked for the takeover threshold). Off, `/work` is framed like any
    /// request: the way to see what an unmarked blocking handler costs.
    ///
    /// ```
    /// let h = examples::http::HttpHandler::new().blocking_hint(false);
    /// # let _ = h;
    /// ```
    #[must_use]
    pub fn blocking_hint(mut self, on: bool) -> Self {
        self.blocking_hint = on;
        self
    }

    /// Most bytes of a request head (and of a chunked body's trailers); beyond: 431.
    ///
    /// ```
    /// let h = examples::http::HttpHandler::new().max_head_bytes(4096);
    /// assert_eq!(h.limits().max_head, 4096);
    /// ```
    #[must_use]
    pub fn max_head_bytes(mut self, n: usize) -> Self {
        self.limits.max_head = n;
        self
    }

    /// Most bytes of a request body; beyond: 413.
    ///
    /// ```
    /// let h = examples::http::HttpHandler::new().max_body_bytes(1 << 16);
    /// assert_eq!(h.limits().max_body, 65536);
    /// ```
    #[must_use]
    pub fn max_body_bytes(mut self, n: u64) -> Self {
        self.limits.max_body = n;
        self
    }

    /// Most header fields in a request head; beyond: 431.
    ///
    /// ```
    /// let h = examples::http::HttpHandler::new().max_headers(16);
    /// assert_eq!(h.limits().max_headers, 16);
    /// ```
    #[must_use]
    pub fn max_headers(mut self, n: usize) -> Self {
        self.limits.max_headers = n;
        self
    }

    /// Answer an HTTP/1.1 request without `Host` with 400, as RFC 9112 asks (off by
    /// default, to be easy on hand-written test clients).
    ///
    /// ```
    /// let h = examples::http::HttpHandler::new().require_host(true);
    /// # let _ = h;
    /// ```
    #[must_use]
    pub fn require_host(mut self, on: bool) -> Self {
        self.require_host = on;
        self
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn serve_one(&self, session: &mut HttpSession, conn: &mut Connection) -> Result<Action, Stop> {
        let req = match session.take() {
            Taken::Head(framed) => {
                conn.consume(framed.head_len);
                framed.request
            }
            Taken::Invalid(e) => return Err(Stop::Protocol(e)),
            Taken::Nothing => self.read_head(conn)?,
        };
        if req.route == Route::Echo {
            return self.echo(conn, &req);
        }
        let mut keep_alive = req.keep_alive && !conn.is_last_request();
        if !req.body.is_empty() {
            if req.expect_continue && conn.buffered().is_empty() {
                // The client waits for a go-ahead before sending a body nobody wants:
                // answer now and close, since the body may still come.
                keep_alive = false;
            } else {
                self.read_body(conn, req.body, None)?;
            }
        }
        let connection = connection_header(req.version, keep_alive);
        let reply = match req.route {
            Route::Static { content_type, body } => Reply::new(200, content_type, body),
            Route::Work { ms } => {
                // Blocking on purpose: this route models a handler that waits.
                std::thread::sleep(std::time::Duration::from_millis(u64::from(ms)));
                Reply::new(200, "text/plain", HELLO)
            }
            Route::BadRequest { message } => Reply::new(400, "text/plain", message.as_bytes()),
            Route::NotFound => Reply::new(404, "text/plain", b"Not Found\n"),
            Route::MethodNotAllowed { allow } => Reply {
                allow: Some(allow),
                ..Reply::new(405, "text/plain", b"Method Not Allowed\n")
            },
            Route::Echo => unreachable!("handled above"),
        };
        Reply {
            connection,
            head_only: req.head_only,
            ..reply
        }
        .send(conn)?;
        Ok(action(keep_alive))
    }

    /// Read until a whole head is buffered, parse it, and consume it.
    fn read_head(&self, conn: &mut Connection) -> Result<Request, Stop> {
        loop {
            match parse::parse_head(conn.buffered(), &self.limits).map_err(Stop::Protocol)? {
                Parsed::Complete(head) => {
                    if self.require_host && head.version() == Version::Http11 && !head.has_host() {
                        return Err(Stop::Protocol(parse::Error::Malformed("missing Host")));
                    }
                    let req = Request::new(&head);
                    let len = head.head_len();
                    conn.consume(len);
                    return Ok(req);
                }
                Parsed::Partial => {
                    if conn.fill_more()? == 0 {
                        return Err(Stop::Eof);
                    }
                }
            }
        }
    }

    fn echo(&self, conn: &mut Connection, req: &Request) -> Result<Action, Stop> {
        if req.expect_continue && !req.body.is_empty() && conn.buffered().is_empty() {
            // Not framed (a blocking server): the go-ahead is this handler's to send.
            conn.write_all(session::CONTINUE)?;
            conn.flush()?;
        }
        let mut body = Vec::new();
        if let BodyKind::Length(n) = req.body {
            // Bounded by `max_body`, checked by the parser.
            body.reserve(usize::try_from(n).unwrap_or(0));
        }
        self.read_body(conn, req.body, Some(&mut body))?;
        let keep_alive = req.keep_alive && !conn.is_last_request();
        Reply {
            connection: connection_header(req.version, keep_alive),
            ..Reply::new(200, "application/octet-stream", &body)
        }
        .send(conn)?;
        Ok(action(keep_alive))
    }

    /// Read the body (into `sink`, or dropping it) and consume it from the connection.
    fn read_body(
        &self,
        conn: &mut Connection,
        kind: BodyKind,
        mut sink: Option<&mut Vec<u8>>,
    ) -> Result<(), Stop> {
        match kind {
            BodyKind::Empty => Ok(()),
            BodyKind::Length(mut left) => {
                while left > 0 {
                    let available = conn.fill_buf()?;
                    if available.is_empty() {
                        return Err(Stop::Eof);
                    }
                    let n =
                        usize::try_from(left).map_or(available.len(), |l| l.min(available.len()));
                    if let Some(out) = sink.as_deref_mut() {
                        out.extend_from_slice(&available[..n]);
                    }
                    conn.consume(n);
                    left -= n as u64;
                }
                Ok(())
            }
            BodyKind::Chunked => {
                let mut decoder = ChunkedDecoder::new(&self.limits);
                loop {
                    let available = conn.fill_buf()?;
                    if available.is_empty() {
                        return Err(Stop::Eof);
                    }
                    let len = available.len();
                    match decoder
                        .decode(available, sink.as_deref_mut())
                        .map_err(Stop::Protocol)?
                    {
                        Some(end) => {
                            conn.consume(end);
                            return Ok(());
                        }
                        None => conn.consume(len),
                    }
                }
            }
        }
    }
}

impl Handler for HttpHandler {
    type Session = HttpSession;

    fn open(&self, _conn: &Connection) -> HttpSession {
        HttpSession::default()
    }

    fn serve(&self, session: &mut HttpSession, conn: &mut Connection) -> io::Result<Action> {
        match self.serve_one(session, conn) {
            Ok(action) => Ok(action),
            Err(Stop::Eof) => Ok(Action::Close),
            Err(Stop::Protocol(e)) => answer_error(conn, e),
            Err(Stop::Io(e)) => Err(e),
        }
    }

    /// Resumes where the last call stopped and keeps the parsed head in the session for
    /// `serve` (see [`HttpSession`]).
    fn frame(&self, session: &mut HttpSession, buffered: &[u8]) -> Frame {
        match session.frame(buffered, &self.limits, self.require_host) {
            Frame::Complete(len) if self.blocking_hint && session.blocks() => Frame::Blocking(len),
            frame => frame,
        }
    }
}

/// The reason phrase of the status codes this handler sends (empty for others).
///
/// ```
/// assert_eq!(examples::http::reason(431), "Request Header Fields Too Large");
/// ```
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        417 => "Expectation Failed",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Why serving a request stopped early.
enum Stop {
    /// The peer closed before the request was complete: close without answering.
    Eof,
    /// The request cannot be served: answer with its status, then close.
    Protocol(parse::Error),
    /// The socket failed (or timed out): close.
    Io(io::Error),
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Self {
        Stop::Io(e)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Static {
        content_type: &'static str,
        body: &'static [u8],
    },
    Echo,
    /// `GET /work?ms=N`: sleep, then answer as `GET /`.
    Work {
        ms: u16,
    },
    /// A request for a known route that it cannot serve (a bad query): 400 with this body;
    /// the connection stays open.
    BadRequest {
        message: &'static str,
    },
    NotFound,
    MethodNotAllowed {
        allow: &'static str,
    },
}

/// What `serve` keeps of a head once its bytes are consumed: no borrows, no allocation.
#[derive(Debug, Clone, Copy)]
struct Request {
    route: Route,
    head_only: bool,
    version: Version,
    body: BodyKind,
    keep_alive: bool,
    expect_continue: bool,
}

impl Request {
    /// Serving it blocks: `/work` with a delay.
    fn blocks(&self) -> bool {
        matches!(self.route, Route::Work { ms } if ms > 0)
    }

    fn new(head: &Head<'_>) -> Request {
        let method = head.method();
        let get_like = |content_type, body| match method {
            "GET" | "HEAD" => Route::Static { content_type, body },
            _ => Route::MethodNotAllowed { allow: "GET, HEAD" },
        };
        let route = match head.path() {
            "/" => get_like("text/plain", HELLO),
            "/json" => get_like("application/json", JSON),
            "/echo" if method == "POST" => Route::Echo,
            "/echo" => Route::MethodNotAllowed { allow: "POST" },
            "/work" => match method {
                "GET" | "HEAD" => match work_ms(head.query()) {
                    Ok(ms) => Route::Work { ms },
                    Err(message) => Route::BadRequest { message },
                },
                _ => Route::MethodNotAllowed { allow: "GET, HEAD" },
            },
            _ => Route::NotFound,
        };
        Request {
            route,
            head_only: method == "HEAD",
            version: head.version(),
            body: head.body(),
            keep_alive: head.keep_alive(),
            expect_continue: head.expects_continue(),
        }
    }
}

/// The milliseconds `GET /work` is asked to block: the first `ms` parameter of `query`,
/// a decimal number from 0 to [`WORK_MAX_MS`]; else the body of the 400 answer.
fn work_ms(query: Option<&str>) -> Result<u16, &'static str> {
    let value = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| match pair.split_once('=') {
            Some(("ms", value)) => Some(value),
            None if pair == "ms" => Some(""),
            _ => None,
        })
        .ok_or("missing ms: use /work?ms=N with N from 0 to 1000\n")?;
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err("ms is not a number: use /work?ms=N with N from 0 to 1000\n");
    }
    // Only digits: parsing fails only by overflow, which is too large as well.
    match value.parse::<u16>() {
        Ok(ms) if ms <= WORK_MAX_MS => Ok(ms),
        _ => Err("ms is too large: at most 1000\n"),
    }
}

fn action(keep_alive: bool) -> Action {
    if keep_alive {
        Action::KeepAlive
    } else {
        Action::Close
    }
}

/// The `Connection` field a response needs, if any.
fn connection_header(version: Version, keep_alive: bool) -> Option<&'static str> {
    match (keep_alive, version) {
        (false, _) => Some("close"),
        (true, Version::Http10) => Some("keep-alive"),
        (true, _) => None,
    }
}

/// One response, written to the connection with a single `write_all`.
struct Reply<'a> {
    status: u16,
    content_type: &'static str,
    body: &'a [u8],
    allow: Option<&'static str>,
    connection: Option<&'static str>,
    /// Answering `HEAD`: the headers of the full response, no body.
    head_only: bool,
}

impl<'a> Reply<'a> {
    fn new(status: u16, content_type: &'static str, body: &'a [u8]) -> Self {
        Reply {
            status,
            content_type,
            body,
            allow: None,
            connection: None,
            head_only: false,
        }
    }

    /// The response, dated `date`.
    fn write_to(&self, out: &mut impl Write, date: &date::HttpDate) -> io::Result<()> {
        write!(
            out,
            "HTTP/1.1 {} {}\r\nDate: ",
            self.status,
            reason(self.status)
        )?;
        out.write_all(date)?;
        write!(
            out,
            "\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
            self.content_type,
            self.body.len()
        )?;
        if let Some(allow) = self.allow {
            write!(out, "Allow: {allow}\r\n")?;
        }
        if let Some(connection) = self.connection {
            write!(out, "Connection: {connection}\r\n")?;
        }
        out.write_all(b"\r\n")?;
        if !self.head_only {
            out.write_all(self.body)?;
        }
        Ok(())
    }

    fn send(&self, conn: &mut Connection) -> io::Result<()> {
        let date = date::now();
        if self.body.len() <= STACK_RESPONSE {
            let mut buf = [0u8; STACK_RESPONSE + 256];
            let room = buf.len();
            let mut out = &mut buf[..];
            self.write_to(&mut out, &date)?;
            let used = room - out.len();
            conn.write_all(&buf[..used])
        } else {
            let mut out = Vec::with_capacity(256 + self.body.len());
            self.write_to(&mut out, &date)?;
            conn.write_all(&out)
        }
    }
}

/// Answer a request that cannot be served, and close.
fn answer_error(conn: &mut Connection, e: parse::Error) -> io::Result<Action> {
    let mut text = [0u8; 128];
    let room = text.len();
    let mut out = &mut text[..];
    // A message longer than the buffer is cut; the length below stays exact.
    let _ = writeln!(out, "{e}");
    let used = room - out.len();
    Reply {
        connection: Some("close"),
        ..Reply::new(e.status(), "text/plain", &text[..used])
    }
    .send(conn)?;
    crate::close::discard_input(conn);
    Ok(Action::Close)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn frame(buf: &[u8]) -> Frame {
        HttpHandler::new().frame(&mut HttpSession::default(), buf)
    }

    #[test]
    fn frame_complete() {
        let get = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(frame(get), Frame::Complete(get.len()));
        let mut two = get.to_vec();
        two.extend_from_slice(get);
        assert_eq!(frame(&two), Frame::Complete(get.len()));
        let post = b"POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET";
        assert_eq!(frame(post), Frame::Complete(post.len() - 3));
        let chunked =
            b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        assert_eq!(frame(chunked), Frame::Complete(chunked.len()));
    }

    #[test]
    fn work_with_a_delay_is_framed_blocking_unless_the_hint_is_off() {
        let work = b"GET /work?ms=10 HTTP/1.1\r\n\r\n";
        assert_eq!(frame(work), Frame::Blocking(work.len()));
        let no_delay = b"GET /work?ms=0 HTTP/1.1\r\n\r\n";
        assert_eq!(frame(no_delay), Frame::Complete(no_delay.len()));
        let unhinted = HttpHandler::new().blocking_hint(false);
        let framed = unhinted.frame(&mut HttpSession::default(), work);
        assert_eq!(framed, Frame::Complete(work.len()));
    }

    #[test]
    fn frame_partial() {
        assert_eq!(frame(b""), Frame::Partial);
        assert_eq!(frame(b"GET / HTTP/1.1\r\nHost: x\r\n\r"), Frame::Partial);
        assert_eq!(
            frame(b"POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nab"),
            Frame::Partial
        );
        assert_eq!(
            frame(b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n"),
            Frame::Partial
        );
        // Expect: 100-continue without any body yet: the server sends the go-ahead.
        let expect = b"POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n";
        assert_eq!(frame(expect), Frame::Interim(session::CONTINUE));
        // Elsewhere the answer comes at once, without the body.
        let elsewhere = b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n";
        assert_eq!(frame(elsewhere), Frame::Complete(elsewhere.len()));
    }

    #[test]
    fn frame_invalid() {
        assert_eq!(frame(b"\x16\x03\x01"), Frame::Invalid);
        assert_eq!(
            frame(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n"),
            Frame::Invalid
        );
        assert_eq!(
            frame(b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
            Frame::Invalid
        );
        assert_eq!(
            frame(b"POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n"),
            Frame::Invalid
        );
        assert_eq!(
            frame(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n"),
            Frame::Invalid
        );
        let mut huge = b"GET / HTTP/1.1\r\nX: ".to_vec();
        huge.resize(8 * 1024, b'a');
        assert_eq!(frame(&huge[..8 * 1024 - 1]), Frame::Partial);
        assert_eq!(frame(&huge), Frame::Invalid);
        let small = HttpHandler::new().max_head_bytes(32);
        assert_eq!(
            small.frame(&mut HttpSession::default(), &huge[..32]),
            Frame::Invalid
        );
    }

    #[test]
    fn routes() {
        let route = |buf: &[u8]| match parse::parse_head(buf, &Limits::default()) {
            Ok(Parsed::Complete(head)) => Request::new(&head).route,
            other => panic!("{other:?}"),
        };
        assert!(
            matches!(route(b"GET / HTTP/1.1\r\n\r\n"), Route::Static { body, .. } if body == HELLO)
        );
        assert!(
            matches!(route(b"HEAD /json?x HTTP/1.1\r\n\r\n"), Route::Static { body, .. } if body == JSON)
        );
        assert_eq!(route(b"POST /echo HTTP/1.1\r\n\r\n"), Route::Echo);
        assert_eq!(route(b"GET /nope HTTP/1.1\r\n\r\n"), Route::NotFound);
        // Absolute-form targets route by their path.
        assert!(matches!(
            route(b"GET http://example.com/json HTTP/1.1\r\nHost: example.com\r\n\r\n"),
            Route::Static { body, .. } if body == JSON
        ));
        assert!(matches!(
            route(b"GET http://example.com HTTP/1.1\r\n\r\n"),
            Route::Static { body, .. } if body == HELLO
        ));
        assert_eq!(
            route(b"POST HTTP://example.com:8080/echo?x HTTP/1.1\r\n\r\n"),
            Route::Echo
        );
        assert_eq!(
            route(b"GET ftp://example.com/json HTTP/1.1\r\n\r\n"),
            Route::NotFound
        );
        assert_eq!(
            route(b"get / HTTP/1.1\r\n\r\n"),
            Route::MethodNotAllowed { allow: "GET, HEAD" }
        );
        assert_eq!(
            route(b"PUT /echo HTTP/1.1\r\n\r\n"),
            Route::MethodNotAllowed { allow: "POST" }
        );
    }

    #[test]
    fn work_routes() {
        let route = |buf: &[u8]| match parse::parse_head(buf, &Limits::default()) {
            Ok(Parsed::Complete(head)) => Request::new(&head).route,
            other => panic!("{other:?}"),
        };
        for (target, ms) in [
            ("/work?ms=0", 0),
            ("/work?ms=20", 20),
            ("/work?ms=1000", 1000),
            ("/work?ms=0007", 7),
            ("/work?x=1&ms=5", 5),
            ("/work?ms=3&ms=9999", 3),
            ("http://example.com/work?ms=1", 1),
        ] {
            let get = format!("GET {target} HTTP/1.1\r\n\r\n");
            assert_eq!(route(get.as_bytes()), Route::Work { ms }, "{target}");
            let head = format!("HEAD {target} HTTP/1.1\r\n\r\n");
            assert_eq!(route(head.as_bytes()), Route::Work { ms }, "{target}");
        }
        for (target, problem) in [
            ("/work", "missing ms"),
            ("/work?", "missing ms"),
            ("/work?x=1", "missing ms"),
            ("/work?msx=1", "missing ms"),
            ("/work?ms", "not a number"),
            ("/work?ms=", "not a number"),
            ("/work?ms=x", "not a number"),
            ("/work?ms=-1", "not a number"),
            ("/work?ms=+1", "not a number"),
            ("/work?ms=1.5", "not a number"),
            ("/work?ms=1001", "too large"),
            ("/work?ms=5000", "too large"),
            ("/work?ms=99999999999999999999999", "too large"),
        ] {
            let get = format!("GET {target} HTTP/1.1\r\n\r\n");
            match route(get.as_bytes()) {
                Route::BadRequest { message } => {
                    assert!(message.contains(problem), "{target}: {message}");
                    assert!(message.ends_with('\n'), "{target}: {message}");
                }
                other => panic!("{target}: {other:?}"),
            }
        }
        // The messages name the limit.
        let limit = WORK_MAX_MS.to_string();
        for query in [None, Some("ms=x"), Some("ms=1001")] {
            assert!(work_ms(query).unwrap_err().contains(&limit), "{query:?}");
        }
        for request in [
            &b"POST /work?ms=1 HTTP/1.1\r\n\r\n"[..],
            b"DELETE /work HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(
                route(request),
                Route::MethodNotAllowed { allow: "GET, HEAD" }
            );
        }
        assert_eq!(route(b"GET /work/ HTTP/1.1\r\n\r\n"), Route::NotFound);
    }

    /// Serve `request` on a connection whose request is the last
    /// (`max_requests_per_connection(1)`); returns the action and the response bytes.
    fn serve_last(request: &[u8]) -> (Action, String) {
        use std::net::{TcpListener, TcpStream};
        let params = net::ServerParams::builder()
            .max_requests_per_connection(1)
            .build()
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (socket, _) = listener.accept().unwrap();
        let mut conn = Connection::new(socket, &params).unwrap();
        assert!(conn.is_last_request());
        client.write_all(request).unwrap();
        let action = HttpHandler::new()
            .serve(&mut HttpSession::default(), &mut conn)
            .unwrap();
        conn.flush().unwrap();
        drop(conn);
        let mut response = String::new();
        client.read_to_string(&mut response).unwrap();
        (action, response)
    }

    #[test]
    fn the_last_request_is_answered_with_close() {
        for request in [
            &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            b"GET /json HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            b"HEAD / HTTP/1.1\r\n\r\n",
            b"GET /missing HTTP/1.1\r\n\r\n",
            b"POST /echo HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi",
            b"GET /work?ms=0 HTTP/1.1\r\n\r\n",
            b"GET /work?ms=x HTTP/1.1\r\n\r\n",
        ] {
            let (action, response) = serve_last(request);
            let text = String::from_utf8_lossy(request);
            assert!(matches!(action, Action::Close), "{text}");
            assert!(response.starts_with("HTTP/1.1 "), "{text}: {response}");
            assert!(
                response.contains("\r\nConnection: close\r\n"),
                "{text}: {response}"
            );
            assert!(!response.contains("keep-alive"), "{text}: {response}");
        }
    }

    /// The `Date` field of a response, parsed (`None`: absent, or not an IMF-fixdate).
    fn date_of(response: &str) -> Option<u64> {
        let head = &response[..response.find("\r\n\r\n")?];
        let mut dates = head
            .split("\r\n")
            .filter_map(|line| line.strip_prefix("Date: "));
        let value = dates.next()?;
        assert_eq!(dates.next(), None, "one Date: {response}");
        date::parse(value.as_bytes())
    }

    /// Every final answer is dated now: routes, 400 for a bad query, 404, 405, the echo,
    /// HEAD, and the answers to requests that cannot be served.
    #[test]
    fn every_response_carries_the_date() {
        for request in [
            &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            b"HEAD /json HTTP/1.1\r\n\r\n",
            b"GET /work?ms=x HTTP/1.1\r\n\r\n",
            b"GET /missing HTTP/1.1\r\n\r\n",
            b"PUT / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx",
            b"POST /echo HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi",
            b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
            b"GET / HTTP/2.0\r\n\r\n",
            b"POST /echo HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        ] {
            let before = date::parse(&date::now()).unwrap();
            let (_, response) = serve_last(request);
            let after = date::parse(&date::now()).unwrap();
            let text = String::from_utf8_lossy(request);
            let dated = date_of(&response).unwrap_or_else(|| panic!("{text}: {response}"));
            assert!((before..=after).contains(&dated), "{text}: {response}");
        }
    }

    /// `serve` answers from the head `frame` parsed, without parsing it again: given a
    /// session framed on `GET /json` and a buffer holding another head of the same length,
    /// it answers `/json`.
    #[test]
    fn serve_uses_the_head_framing_parsed() {
        use std::net::{TcpListener, TcpStream};
        let handler = HttpHandler::new();
        let framed = b"GET /json HTTP/1.1\r\n\r\n";
        let sent = b"GET /xxxx HTTP/1.1\r\n\r\n";
        let mut session = HttpSession::default();
        assert_eq!(
            handler.frame(&mut session, framed),
            Frame::Complete(framed.len())
        );

        let params = net::ServerParams::default();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (socket, _) = listener.accept().unwrap();
        let mut conn = Connection::new(socket, &params).unwrap();
        client.write_all(sent).unwrap();
        while conn.buffered().len() < sent.len() {
            conn.fill_more().unwrap();
        }
        let action = handler.serve(&mut session, &mut conn).unwrap();
        assert_eq!(action, Action::KeepAlive);
        assert!(
            conn.buffered().is_empty(),
            "the framed head's bytes are consumed"
        );
        conn.flush().unwrap();
        drop(conn);
        let mut response = String::new();
        client.read_to_string(&mut response).unwrap();
        assert!(
            response.ends_with(std::str::from_utf8(JSON).unwrap()),
            "{response}"
        );
    }

    #[test]
    fn reply_bytes() {
        let mut out = Vec::new();
        Reply {
            connection: Some("close"),
            allow: Some("POST"),
            ..Reply::new(405, "text/plain", b"no\n")
        }
        .write_to(&mut out, &date::format(784_111_777))
        .unwrap();
        assert_eq!(
            out,
            b"HTTP/1.1 405 Method Not Allowed\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
              Content-Type: text/plain\r\nContent-Length: 3\r\n\
              Allow: POST\r\nConnection: close\r\n\r\nno\n"
        );
        assert_eq!(HELLO.len(), 13);
    }
}
