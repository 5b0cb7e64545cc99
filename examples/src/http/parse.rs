//! An HTTP/1.1 request parser: protocol state only, no I/O.
//!
//! Everything here works on byte slices: [`parse_head`] reads a request head in place
//! (no copies, no heap allocation), [`ChunkedDecoder`] decodes a chunked body fed in any
//! pieces, and [`request_len`] tells how long the complete request at the start of a buffer
//! is, which is what a server's framing needs. The I/O side lives in
//! [`HttpHandler`](super::HttpHandler).
//!
//! The parser follows RFC 9112 strictly where leniency is a known risk (request
//! smuggling) and leniently where it is harmless:
//!
//! - Lines end with CRLF; a bare LF is rejected (400). Empty lines before the request line
//!   are skipped. Obsolete line folding is rejected (400).
//! - `Content-Length` must be decimal digits; repeated fields (or a list) with the same
//!   value are accepted, different values are rejected (400).
//! - `Transfer-Encoding` must end with `chunked` (else 400), `chunked` may appear once, and
//!   any other coding is not implemented (501). Both `Transfer-Encoding` and
//!   `Content-Length`, or `Transfer-Encoding` in an HTTP/1.0 request, are rejected (400).
//! - More than one `Host` field, or a `Host` whose value is not `uri-host [ ":" port ]`
//!   (RFC 3986: a registered name, IPv4 address or bracketed IP literal, and digits), is
//!   rejected (400); a missing `Host` is left to the caller.
//! - The request target may be in origin-form (`/json?x`) or, as RFC 9112 §3.2.2 requires
//!   a server to accept, in absolute-form (`http://example.com/json?x`): its path and
//!   query are then the path and query of the URI, and its authority is the request's
//!   [host](Head::host) (a `Host` field is still validated but no longer decides). An
//!   `http` or `https` URI whose authority is not a valid host is rejected (400). Other
//!   forms (`*`, `host:port`, other schemes) are passed on as they are.
//! - A chunk size may have any number of leading zeros; its value must fit in 64 bits.
//!   A chunked body's framing is bounded against its data (see [`ChunkedDecoder`]): a
//!   chunk-size line (size digits and extensions) has at most 4 KiB, the framing bytes
//!   (chunk-size lines and the CRLF after each chunk's data) at most 16 KiB or as many as
//!   the data decoded so far, whichever is more (else 400), and the trailer section at
//!   most [`Limits::max_head`] bytes (else 431).
//! - `Expect: 100-continue` is recognised; any other expectation gets 417.
//! - Versions other than HTTP/1.0 and HTTP/1.1 get 505.
//!
//! ```
//! use examples::http::parse::{parse_head, BodyKind, Limits, Parsed, Version};
//!
//! let buf = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
//! let Parsed::Complete(head) = parse_head(buf, &Limits::default())? else {
//!     unreachable!()
//! };
//! assert_eq!(head.method(), "POST");
//! assert_eq!(head.path(), "/echo");
//! assert_eq!(head.version(), Version::Http11);
//! assert_eq!(head.body(), BodyKind::Length(5));
//! assert!(head.keep_alive());
//! assert_eq!(&buf[head.head_len()..], b"hello");
//! # Ok::<(), examples::http::parse::Error>(())
//! ```

use std::fmt;

/// Most bytes of a chunk-size line without its CRLF: the size's hex digits, leading zeros
/// included (only the value must fit in 64 bits; this keeps a line of zeros from going on
/// forever), and its extensions.
const MAX_CHUNK_LINE: usize = 4096;

/// The framing bytes of a chunked body (chunk-size lines with their CRLF, and the CRLF
/// after each chunk's data; not the trailers) may be this many, or as many as the data
/// decoded so far when that is more. So the body on the wire is at most its data plus
/// the larger of this and its data (plus the trailers), whereas chunk extensions of 4,000
/// bytes around 1-byte chunks used to make it some 4,000 times its data (540 bytes of
/// data in 2.1 MB). Ordinary chunking stays far below: a 16-byte chunk costs 6 bytes of
/// framing.
const CHUNK_FRAMING_ALLOWANCE: u64 = 16 * 1024;

/// The limits the parser enforces.
///
/// ```
/// let mut limits = examples::http::parse::Limits::default();
/// limits.max_body = 64 * 1024;
/// assert_eq!(limits.max_head, 8 * 1024);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Most bytes of a request head: request line, header lines and the empty line (and,
    /// separately, of the trailer section of a chunked body). Beyond it: 431. Default 8 KiB.
    pub max_head: usize,
    /// Most bytes of a (decoded) request body. Beyond it: 413. Default 1 MiB.
    pub max_body: u64,
    /// Most header lines in a head. Beyond it: 431. Default 100.
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head: 8 * 1024,
            max_body: 1024 * 1024,
            max_headers: 100,
        }
    }
}

/// The outcome of parsing a prefix of the input: complete, or more bytes needed.
///
/// ```
/// use examples::http::parse::{parse_head, Limits, Parsed};
/// let partial = parse_head(b"GET / HTTP/1.1\r\nHo", &Limits::default())?;
/// assert!(matches!(partial, Parsed::Partial));
/// # Ok::<(), examples::http::parse::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed<T> {
    /// The item is complete.
    Complete(T),
    /// The input ends before the item does; nothing wrong so far.
    Partial,
}

/// Why a request cannot be served; each maps to an HTTP status with [`Error::status`].
///
/// ```
/// use examples::http::parse::{parse_head, Error, Limits};
/// let err = parse_head(b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", &Limits::default())
///     .unwrap_err();
/// assert!(matches!(err, Error::Malformed(_)));
/// assert_eq!(err.status(), 400);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The request breaks the syntax or framing rules (400); the text says which rule.
    Malformed(&'static str),
    /// The head (or the trailer section) is larger than [`Limits::max_head`], or has more
    /// than [`Limits::max_headers`] fields (431).
    HeadTooLarge,
    /// The body is larger than [`Limits::max_body`] (413).
    BodyTooLarge,
    /// A transfer coding other than `chunked` (501).
    UnsupportedTransferCoding,
    /// An HTTP version other than 1.0 and 1.1 (505).
    UnsupportedVersion,
    /// An `Expect` value other than `100-continue` (417).
    UnsupportedExpectation,
}

impl Error {
    /// The HTTP status code that answers this error.
    pub fn status(&self) -> u16 {
        match self {
            Error::Malformed(_) => 400,
            Error::HeadTooLarge => 431,
            Error::BodyTooLarge => 413,
            Error::UnsupportedTransferCoding => 501,
            Error::UnsupportedVersion => 505,
            Error::UnsupportedExpectation => 417,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Malformed(why) => write!(f, "malformed request: {why}"),
            Error::HeadTooLarge => f.write_str("request head too large"),
            Error::BodyTooLarge => f.write_str("request body too large"),
            Error::UnsupportedTransferCoding => f.write_str("unsupported transfer coding"),
            Error::UnsupportedVersion => f.write_str("unsupported HTTP version"),
            Error::UnsupportedExpectation => f.write_str("unsupported expectation"),
        }
    }
}

impl std::error::Error for Error {}

/// The protocol version of a request.
///
/// ```
/// assert_eq!(examples::http::parse::Version::Http10.as_str(), "HTTP/1.0");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Version {
    /// HTTP/1.0: the connection closes after the response unless asked otherwise.
    Http10,
    /// HTTP/1.1: the connection persists unless asked otherwise.
    Http11,
}

impl Version {
    /// The version as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

/// How the request body is delimited.
///
/// ```
/// use examples::http::parse::BodyKind;
/// assert!(BodyKind::Empty.is_empty() && BodyKind::Length(0).is_empty());
/// assert!(!BodyKind::Chunked.is_empty());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyKind {
    /// Neither `Content-Length` nor `Transfer-Encoding`: no body.
    Empty,
    /// `Content-Length`: exactly this many bytes follow the head.
    Length(u64),
    /// `Transfer-Encoding: chunked`: a chunked body follows the head.
    Chunked,
}

impl BodyKind {
    /// True when no body bytes follow the head.
    pub fn is_empty(self) -> bool {
        matches!(self, BodyKind::Empty | BodyKind::Length(0))
    }
}

/// A parsed request head, borrowing the buffer it was parsed from.
///
/// Create one with [`parse_head`]; the framing facts (`body`, `keep_alive`, ...) are
/// worked out during parsing, and the header fields can be walked again with
/// [`headers`](Head::headers) without any allocation.
///
/// ```
/// use examples::http::parse::{parse_head, Limits, Parsed};
/// let buf = b"GET /json?pretty HTTP/1.0\r\nConnection: keep-alive\r\nX-A: 1\r\n\r\n";
/// let Parsed::Complete(head) = parse_head(buf, &Limits::default())? else { unreachable!() };
/// assert_eq!(head.path(), "/json");
/// assert_eq!(head.query(), Some("pretty"));
/// assert!(head.keep_alive());
/// assert_eq!(head.header("x-a"), Some(&b"1"[..]));
/// assert_eq!(head.headers().count(), 2);
/// # Ok::<(), examples::http::parse::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head<'b> {
    method: &'b str,
    target: &'b str,
    /// The authority of an absolute-form target (`example.com:8080`).
    authority: Option<&'b str>,
    /// The target in origin-form: path and query (for an absolute-form target, what
    /// follows its authority, possibly empty).
    origin: &'b str,
    version: Version,
    body: BodyKind,
    keep_alive: bool,
    expect_continue: bool,
    has_host: bool,
    /// The header lines, each ending with CRLF, without the final empty line.
    fields: &'b [u8],
    len: usize,
}

impl<'b> Head<'b> {
    /// The request method, e.g. `GET` (case-sensitive, as sent).
    pub fn method(&self) -> &'b str {
        self.method
    }

    /// The request target as sent, e.g. `/search?q=1` or `http://example.com/search?q=1`.
    pub fn target(&self) -> &'b str {
        self.target
    }

    /// The target's path without its query, e.g. `/search`, also for an absolute-form
    /// target (`http://example.com/search?q=1`), whose empty path is `/`.
    ///
    /// ```
    /// use examples::http::parse::{parse_head, Limits, Parsed};
    /// let buf = b"GET http://example.com:8080/json?pretty HTTP/1.1\r\nHost: example.com:8080\r\n\r\n";
    /// let Parsed::Complete(head) = parse_head(buf, &Limits::default())? else { unreachable!() };
    /// assert_eq!(head.path(), "/json");
    /// assert_eq!(head.query(), Some("pretty"));
    /// assert_eq!(head.host(), Some("example.com:8080"));
    /// # Ok::<(), examples::http::parse::Error>(())
    /// ```
    pub fn path(&self) -> &'b str {
        let path = match self.origin.split_once('?') {
            Some((path, _)) => path,
            None => self.origin,
        };
        if path.is_empty() && self.authority.is_some() {
            "/"
        } else {
            path
        }
    }

    /// The query (after `?`), if any.
    pub fn query(&self) -> Option<&'b str> {
        self.origin.split_once('?').map(|(_, query)| query)
    }

    /// The host the request is for (`uri-host [ ":" port ]`, as sent): the authority of an
    /// absolute-form target, which RFC 9112 §3.2.2 says takes the place of `Host`, or
    /// else the `Host` field's value (possibly empty); `None` without either.
    ///
    /// ```
    /// use examples::http::parse::{parse_head, Limits, Parsed};
    /// let buf = b"GET http://a.example/ HTTP/1.1\r\nHost: b.example\r\n\r\n";
    /// let Parsed::Complete(head) = parse_head(buf, &Limits::default())? else { unreachable!() };
    /// assert_eq!(head.host(), Some("a.example"));
    /// # Ok::<(), examples::http::parse::Error>(())
    /// ```
    pub fn host(&self) -> Option<&'b str> {
        // A Host value was checked to be ASCII by `parse_head`.
        self.authority.or_else(|| {
            self.header("host")
                .and_then(|value| std::str::from_utf8(value).ok())
        })
    }

    /// The protocol version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// How the body is delimited.
    pub fn body(&self) -> BodyKind {
        self.body
    }

    /// Whether the connection may stay open after the response: HTTP/1.1 unless
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// Whether the client sent `Expect: 100-continue` (HTTP/1.1 only; ignored in 1.0) and
    /// waits for an interim `100 Continue` before sending the body.
    pub fn expects_continue(&self) -> bool {
        self.expect_continue
    }

    /// Whether the head has a `Host` field.
    pub fn has_host(&self) -> bool {
        self.has_host
    }

    /// The length of the head in bytes, through the empty line: the body (or the next
    /// request) starts at this offset of the parsed buffer.
    pub fn head_len(&self) -> usize {
        self.len
    }

    /// The header fields in order, as (name, value) with the value trimmed of spaces.
    pub fn headers(&self) -> Headers<'b> {
        Headers { rest: self.fields }
    }

    /// The value of the first field named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }
}

/// An iterator over the header fields of a [`Head`]: `(name, value)` pairs.
///
/// ```
/// use examples::http::parse::{parse_head, Limits, Parsed};
/// let buf = b"GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n";
/// let Parsed::Complete(head) = parse_head(buf, &Limits::default())? else { unreachable!() };
/// let names: Vec<&str> = head.headers().map(|(name, _)| name).collect();
/// assert_eq!(names, ["Host", "Accept"]);
/// # Ok::<(), examples::http::parse::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Headers<'b> {
    rest: &'b [u8],
}

impl<'b> Iterator for Headers<'b> {
    type Item = (&'b str, &'b [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        // Every line was validated by `parse_head`: `name: value` CRLF, name an ASCII token.
        let lf = self.rest.iter().position(|&b| b == b'\n')?;
        let line = &self.rest[..lf - 1];
        self.rest = &self.rest[lf + 1..];
        let colon = line.iter().position(|&b| b == b':')?;
        let name = std::str::from_utf8(&line[..colon]).ok()?;
        Some((name, trim_ows(&line[colon + 1..])))
    }
}

/// Parse the request head at the start of `buf`.
///
/// Returns [`Parsed::Partial`] while the head is incomplete and nothing wrong has been
/// seen; errors are reported as early as they can be told (a bad method as soon as its
/// bytes arrive, an oversized head as soon as it passes [`Limits::max_head`]). At most
/// `max_head` bytes are examined, so a call costs O(`max_head`) at worst.
///
/// ```
/// use examples::http::parse::{parse_head, Error, Limits, Parsed};
/// let limits = Limits::default();
/// assert!(matches!(parse_head(b"GET / HT", &limits), Ok(Parsed::Partial)));
/// assert_eq!(parse_head(b"\x16\x03\x01", &limits).unwrap_err().status(), 400);
/// assert_eq!(
///     parse_head(b"GET / HTTP/2.0\r\n\r\n", &limits).unwrap_err(),
///     Error::UnsupportedVersion
/// );
/// ```
pub fn parse_head<'b>(buf: &'b [u8], limits: &Limits) -> Result<Parsed<Head<'b>>, Error> {
    // Only the first `max_head` bytes can belong to an acceptable head.
    let window = &buf[..buf.len().min(limits.max_head)];
    let incomplete = |checked: Result<(), Error>| {
        checked?;
        if buf.len() >= limits.max_head {
            Err(Error::HeadTooLarge)
        } else {
            Ok(Parsed::Partial)
        }
    };

    // RFC 9112 §2.2: ignore empty lines received before the request line.
    let mut start = 0;
    while window[start..].starts_with(b"\r\n") {
        start += 2;
    }
    let Some((line_end, mut pos)) = next_line(window, start)? else {
        return incomplete(check_partial_request_line(&window[start..]));
    };
    let (method, target, version) = parse_request_line(&window[start..line_end])?;
    let (authority, origin) = split_target(target)?;

    let mut facts = Facts::default();
    let fields_start = pos;
    let mut count = 0;
    let len = loop {
        let Some((end, next)) = next_line(window, pos)? else {
            return incomplete(Ok(()));
        };
        if end == pos {
            break next;
        }
        count += 1;
        if count > limits.max_headers {
            return Err(Error::HeadTooLarge);
        }
        let (name, value) = split_field(&window[pos..end])?;
        facts.note(name, value)?;
        pos = next;
    };
    let fields = &window[fields_start..pos];

    if facts.hosts > 1 {
        return Err(Error::Malformed("more than one Host field"));
    }
    let body = facts.body(version, limits)?;
    if facts.expect_other {
        return Err(Error::UnsupportedExpectation);
    }
    let keep_alive = match version {
        _ if facts.close => false,
        Version::Http11 => true,
        Version::Http10 => facts.keep_alive,
    };
    Ok(Parsed::Complete(Head {
        method,
        target,
        authority,
        origin,
        version,
        body,
        keep_alive,
        expect_continue: facts.expect_continue && version == Version::Http11,
        has_host: facts.hosts == 1,
        fields,
        len,
    }))
}

/// The length of the complete request (head and body) at the start of `buf`.
///
/// This is the framing question a server asks before serving: `Complete(n)` when the
/// first `n` bytes are one whole request, `Partial` when more bytes are needed, and the
/// request's [`Error`] when it cannot be served. One exception: a request that
/// [expects `100 Continue`](Head::expects_continue) and has not started sending its body
/// is `Complete` at the end of its head, since its client waits for an answer first.
///
/// ```
/// use examples::http::parse::{request_len, Limits, Parsed};
/// let limits = Limits::default();
/// let req = b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
/// assert_eq!(request_len(req, &limits)?, Parsed::Complete(req.len()));
/// assert_eq!(request_len(&req[..req.len() - 1], &limits)?, Parsed::Partial);
/// # Ok::<(), examples::http::parse::Error>(())
/// ```
pub fn request_len(buf: &[u8], limits: &Limits) -> Result<Parsed<usize>, Error> {
    let head = match parse_head(buf, limits)? {
        Parsed::Complete(head) => head,
        Parsed::Partial => return Ok(Parsed::Partial),
    };
    let start = head.head_len();
    let rest = &buf[start..];
    if head.expects_continue() && rest.is_empty() {
        return Ok(Parsed::Complete(start));
    }
    Ok(match head.body() {
        BodyKind::Empty => Parsed::Complete(start),
        BodyKind::Length(n) => match usize::try_from(n) {
            Ok(n) if rest.len() >= n => Parsed::Complete(start + n),
            _ => Parsed::Partial,
        },
        BodyKind::Chunked => match ChunkedDecoder::new(limits).decode(rest, None)? {
            Some(n) => Parsed::Complete(start + n),
            None => Parsed::Partial,
        },
    })
}

/// What the header fields said about framing and the connection.
#[derive(Default)]
struct Facts {
    content_length: Option<u64>,
    /// A `Transfer-Encoding` field was seen.
    te: bool,
    te_last_chunked: bool,
    te_chunked: u32,
    te_other: bool,
    close: bool,
    keep_alive: bool,
    expect_continue: bool,
    expect_other: bool,
    hosts: u32,
}

impl Facts {
    fn note(&mut self, name: &[u8], value: &[u8]) -> Result<(), Error> {
        if name.eq_ignore_ascii_case(b"content-length") {
            let mut any = false;
            for item in list_items(value) {
                let n = parse_decimal(item).ok_or(Error::Malformed("invalid Content-Length"))?;
                if self.content_length.is_some_and(|seen| seen != n) {
                    return Err(Error::Malformed("conflicting Content-Length values"));
                }
                self.content_length = Some(n);
                any = true;
            }
            if !any {
                return Err(Error::Malformed("invalid Content-Length"));
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            self.te = true;
            for coding in list_items(value) {
                if coding.eq_ignore_ascii_case(b"chunked") {
                    self.te_chunked += 1;
                    self.te_last_chunked = true;
                } else {
                    self.te_other = true;
                    self.te_last_chunked = false;
                }
            }
        } else if name.eq_ignore_ascii_case(b"connection") {
            for option in list_items(value) {
                if option.eq_ignore_ascii_case(b"close") {
                    self.close = true;
                } else if option.eq_ignore_ascii_case(b"keep-alive") {
                    self.keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"expect") {
            if value.eq_ignore_ascii_case(b"100-continue") {
                self.expect_continue = true;
            } else {
                self.expect_other = true;
            }
        } else if name.eq_ignore_ascii_case(b"host") {
            if !is_host_value(value) {
                return Err(Error::Malformed("invalid Host"));
            }
            self.hosts += 1;
        }
        Ok(())
    }

    fn body(&self, version: Version, limits: &Limits) -> Result<BodyKind, Error> {
        if self.te {
            if version == Version::Http10 {
                return Err(Error::Malformed("Transfer-Encoding in an HTTP/1.0 request"));
            }
            if self.content_length.is_some() {
                return Err(Error::Malformed(
                    "both Transfer-Encoding and Content-Length",
                ));
            }
            if !self.te_last_chunked {
                return Err(Error::Malformed("chunked is not the final transfer coding"));
            }
            if self.te_chunked > 1 {
                return Err(Error::Malformed("chunked applied more than once"));
            }
            if self.te_other {
                return Err(Error::UnsupportedTransferCoding);
            }
            return Ok(BodyKind::Chunked);
        }
        match self.content_length {
            Some(n) if n > limits.max_body => Err(Error::BodyTooLarge),
            Some(n) => Ok(BodyKind::Length(n)),
            None => Ok(BodyKind::Empty),
        }
    }
}

/// Find the line starting at `from`: `Some((end, next))` where `buf[from..end]` is the
/// line without its CRLF and `next` starts the following line; `None` when no LF yet.
fn next_line(buf: &[u8], from: usize) -> Result<Option<(usize, usize)>, Error> {
    match buf[from..].iter().position(|&b| b == b'\n') {
        None => Ok(None),
        Some(i) => {
            let lf = from + i;
            if lf == from || buf[lf - 1] != b'\r' {
                return Err(Error::Malformed("line ends with a bare LF"));
            }
            Ok(Some((lf - 1, lf + 1)))
        }
    }
}

/// `method SP request-target SP HTTP-version`.
fn parse_request_line(line: &[u8]) -> Result<(&str, &str, Version), Error> {
    let mut parts = line.splitn(3, |&b| b == b' ');
    let method = parts.next().unwrap_or_default();
    let target = parts.next().unwrap_or_default();
    let version = parts
        .next()
        .ok_or(Error::Malformed("invalid request line"))?;
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(Error::Malformed("invalid method"));
    }
    if target.is_empty() || !target.iter().all(|&b| is_target_char(b)) {
        return Err(Error::Malformed("invalid request target"));
    }
    let version = parse_version(version)?;
    // Both are ASCII, checked above.
    let method = std::str::from_utf8(method).map_err(|_| Error::Malformed("invalid method"))?;
    let target =
        std::str::from_utf8(target).map_err(|_| Error::Malformed("invalid request target"))?;
    Ok((method, target, version))
}

fn parse_version(v: &[u8]) -> Result<Version, Error> {
    match v {
        b"HTTP/1.1" => Ok(Version::Http11),
        b"HTTP/1.0" => Ok(Version::Http10),
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Err(Error::UnsupportedVersion)
        }
        _ => Err(Error::Malformed("invalid HTTP version")),
    }
}

/// Split a request target into the authority of an absolute-form `http`/`https` target
/// (RFC 9112 §3.2.2) and its origin-form part (path and query). Other targets are all
/// origin part: origin-form itself, and the forms this server does not serve (`*`,
/// authority-form, other schemes), which route nowhere.
fn split_target(target: &str) -> Result<(Option<&str>, &str), Error> {
    if target.starts_with('/') {
        return Ok((None, target));
    }
    let Some((scheme, rest)) = target.split_once("://") else {
        return Ok((None, target));
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Ok((None, target));
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, origin) = rest.split_at(end);
    // RFC 9110 §4.2.1: an http URI with an empty host is invalid. A userinfo (`user@`)
    // is not a valid host either (RFC 9110 §4.2.4 asks to treat it as an error).
    let empty_host = authority.is_empty() || authority.starts_with(':');
    if empty_host || !is_host_value(authority.as_bytes()) {
        return Err(Error::Malformed("invalid authority in request target"));
    }
    Ok((Some(authority), origin))
}

/// `uri-host [ ":" port ]` (RFC 9110 §7.2, RFC 3986 §3.2.2): a bracketed IP literal or a
/// registered name (which covers IPv4 addresses), then optionally `:` and digits. The
/// registered name may be empty, as an empty `Host` is how a request says it has none.
fn is_host_value(value: &[u8]) -> bool {
    let (host_ok, rest) = if let Some(literal) = value.strip_prefix(b"[") {
        // IP-literal: IPv6address or IPvFuture, both made of these characters.
        let Some(close) = literal.iter().position(|&b| b == b']') else {
            return false;
        };
        let inside = &literal[..close];
        let ok = !inside.is_empty()
            && inside
                .iter()
                .all(|&b| is_unreserved(b) || is_sub_delim(b) || b == b':');
        (ok, &literal[close + 1..])
    } else {
        let end = value.iter().position(|&b| b == b':').unwrap_or(value.len());
        (is_reg_name(&value[..end]), &value[end..])
    };
    host_ok
        && match rest {
            [] => true,
            [b':', port @ ..] => port.iter().all(u8::is_ascii_digit),
            _ => false,
        }
}

/// RFC 3986 `reg-name = *( unreserved / pct-encoded / sub-delims )`.
fn is_reg_name(name: &[u8]) -> bool {
    let mut i = 0;
    while i < name.len() {
        let b = name[i];
        if b == b'%' {
            if !name
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i += 3;
        } else if is_unreserved(b) || is_sub_delim(b) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

/// RFC 3986 `unreserved`.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~".contains(&b)
}

/// RFC 3986 `sub-delims`.
fn is_sub_delim(b: u8) -> bool {
    b"!$&'()*+,;=".contains(&b)
}

/// Check what has arrived of a request line so far, so that garbage (a TLS handshake,
/// binary noise) is refused at once instead of after `max_head` bytes.
fn check_partial_request_line(part: &[u8]) -> Result<(), Error> {
    if part == b"\r" {
        // Maybe an empty line before the request line.
        return Ok(());
    }
    let mut parts = part.splitn(3, |&b| b == b' ');
    let method = parts.next().unwrap_or_default();
    if !method.iter().all(|&b| is_tchar(b)) {
        return Err(Error::Malformed("invalid method"));
    }
    if let Some(target) = parts.next() {
        if method.is_empty() || !target.iter().all(|&b| is_target_char(b)) {
            return Err(Error::Malformed("invalid request target"));
        }
    }
    if let Some(version) = parts.next() {
        // A CR may end the part: its LF has not arrived yet.
        let version = version.strip_suffix(b"\r").unwrap_or(version);
        if !b"HTTP/".starts_with(&version[..version.len().min(5)])
            || version.len() > 8
            || version.contains(&b'\r')
        {
            return Err(Error::Malformed("invalid HTTP version"));
        }
    }
    Ok(())
}

/// `field-name ":" OWS field-value OWS`.
fn split_field(line: &[u8]) -> Result<(&[u8], &[u8]), Error> {
    if matches!(line.first(), Some(b' ' | b'\t')) {
        return Err(Error::Malformed("obsolete line folding"));
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(Error::Malformed("header line without a colon"))?;
    let name = &line[..colon];
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err(Error::Malformed("invalid header name"));
    }
    let value = trim_ows(&line[colon + 1..]);
    if !value
        .iter()
        .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80)
    {
        return Err(Error::Malformed("invalid header value"));
    }
    Ok((name, value))
}

/// The non-empty elements of a comma-separated field value, trimmed.
fn list_items(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|item| !item.is_empty())
}

/// `1*DIGIT` that fits in a u64.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        if b.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// RFC 9110 `tchar`: the characters of a token (method, field name).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Visible ASCII: what a request target may contain.
fn is_target_char(b: u8) -> bool {
    (b'!'..=b'~').contains(&b)
}

/// A decoder for a chunked request body (RFC 9112 §7.1) that accepts its input in any
/// pieces: the state between pieces lives in the decoder, not in a buffer.
///
/// Chunk sizes may have leading zeros (the value must fit in 64 bits), and chunk
/// extensions are skipped; a chunk-size line, digits and extensions, has at most 4 KiB
/// (then 400). Trailer fields are skipped too; the trailer section, its line ends and
/// the final empty line included, has at most [`Limits::max_head`] bytes, as a head
/// (then 431). The decoded size is bounded by [`Limits::max_body`] (then 413).
///
/// The framing is bounded against the data, so that a small body cannot take megabytes
/// on the wire: its bytes (chunk-size lines with their CRLF, and the CRLF after each
/// chunk's data) may be 16 KiB, or as many as the data decoded so far when that is more;
/// one more is 400. A chunked body thus takes at most its data plus the larger of 16 KiB
/// and its data, plus the trailers: with the default limits, at most 2 MiB + 8 KiB on
/// the wire for 1 MiB of data, and about 24 KiB for a few bytes.
///
/// ```
/// use examples::http::parse::{ChunkedDecoder, Limits};
///
/// let wire = b"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nTrailer: x\r\n\r\nNEXT";
/// let mut decoder = ChunkedDecoder::new(&Limits::default());
/// let mut body = Vec::new();
/// // Feed it in two pieces: the first is swallowed whole, the second ends the body.
/// assert_eq!(decoder.decode(&wire[..10], Some(&mut body))?, None);
/// let end = decoder.decode(&wire[10..], Some(&mut body))?.unwrap();
/// assert_eq!(body, b"hello, world");
/// assert_eq!(&wire[10 + end..], b"NEXT");
/// # Ok::<(), examples::http::parse::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: ChunkState,
    /// The chunk size being read, then the bytes of chunk data still to come.
    size: u64,
    /// Hex digits of the chunk size so far, leading zeros included.
    digits: usize,
    /// Bytes of the chunk-size line so far, without its CRLF.
    line_len: usize,
    body_len: u64,
    /// Framing bytes so far (see [`CHUNK_FRAMING_ALLOWANCE`]).
    framing: u64,
    /// Bytes of the trailer section so far, line ends included.
    trailer_len: usize,
    max_body: u64,
    max_trailer: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Hex digits of a chunk size.
    Size,
    /// A chunk extension, up to CR.
    Extension,
    /// The LF ending a chunk-size line.
    SizeLf,
    /// Chunk data.
    Data,
    /// The CR after chunk data.
    DataCr,
    /// The LF after chunk data.
    DataLf,
    /// The start of a trailer line, or the final CRLF.
    TrailerStart,
    /// Inside a trailer line.
    Trailer,
    /// The LF ending a trailer line.
    TrailerLf,
    /// The LF of the final CRLF.
    EndLf,
    /// The body is complete.
    Done,
}

impl ChunkedDecoder {
    /// A decoder at the start of a chunked body, with the body and trailer limits of
    /// `limits`.
    pub fn new(limits: &Limits) -> Self {
        ChunkedDecoder {
            state: ChunkState::Size,
            size: 0,
            digits: 0,
            line_len: 0,
            body_len: 0,
            framing: 0,
            trailer_len: 0,
            max_body: limits.max_body,
            max_trailer: limits.max_head,
        }
    }

    /// True once the whole body (through the final CRLF) has been decoded.
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Decoded body bytes so far.
    pub fn body_len(&self) -> u64 {
        self.body_len
    }

    /// Decode the next piece of the body, appending chunk data to `sink` (or dropping it
    /// when `sink` is `None`).
    ///
    /// Returns `Some(n)` when the body ends after the first `n` bytes of `input` (the rest
    /// belongs to the next request), and `None` when all of `input` was used and more is
    /// needed.
    pub fn decode(
        &mut self,
        input: &[u8],
        mut sink: Option<&mut Vec<u8>>,
    ) -> Result<Option<usize>, Error> {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            if self.state.is_framing() {
                self.framing += 1;
                if self.framing > self.body_len.max(CHUNK_FRAMING_ALLOWANCE) {
                    return Err(Error::Malformed("chunk framing too large for its data"));
                }
            }
            match self.state {
                ChunkState::Size => {
                    if let Some(digit) = hex_value(b) {
                        // Only the value must fit in 64 bits, not the digits: leading
                        // zeros are fine (up to the line's bound).
                        if self.size >> 60 != 0 {
                            return Err(Error::Malformed("chunk size too large"));
                        }
                        if self.line_len == MAX_CHUNK_LINE {
                            return Err(Error::Malformed("chunk size too long"));
                        }
                        self.size = (self.size << 4) | u64::from(digit);
                        self.digits += 1;
                        self.line_len += 1;
                    } else if self.digits == 0 {
                        return Err(Error::Malformed("invalid chunk size"));
                    } else {
                        self.state = match b {
                            b'\r' => ChunkState::SizeLf,
                            b';' | b' ' | b'\t' => ChunkState::Extension,
                            _ => return Err(Error::Malformed("invalid chunk size")),
                        };
                        if self.state == ChunkState::Extension {
                            self.extend_line()?;
                        }
                    }
                    i += 1;
                }
                ChunkState::Extension => {
                    match b {
                        b'\r' => self.state = ChunkState::SizeLf,
                        b'\t' | b' '..=b'~' | 0x80.. => self.extend_line()?,
                        _ => return Err(Error::Malformed("invalid chunk extension")),
                    }
                    i += 1;
                }
                ChunkState::SizeLf => {
                    expect_byte(b, b'\n', "chunk-size line without CRLF")?;
                    i += 1;
                    if self.size == 0 {
                        self.state = ChunkState::TrailerStart;
                    } else {
                        match self.body_len.checked_add(self.size) {
                            Some(total) if total <= self.max_body => {}
                            _ => return Err(Error::BodyTooLarge),
                        }
                        self.state = ChunkState::Data;
                    }
                }
                ChunkState::Data => {
                    let available = input.len() - i;
                    let n = usize::try_from(self.size).map_or(available, |s| s.min(available));
                    if let Some(out) = sink.as_deref_mut() {
                        out.extend_from_slice(&input[i..i + n]);
                    }
                    i += n;
                    self.size -= n as u64;
                    self.body_len += n as u64;
                    if self.size == 0 {
                        self.state = ChunkState::DataCr;
                    }
                }
                ChunkState::DataCr => {
                    expect_byte(b, b'\r', "chunk data without CRLF")?;
                    self.state = ChunkState::DataLf;
                    i += 1;
                }
                ChunkState::DataLf => {
                    expect_byte(b, b'\n', "chunk data without CRLF")?;
                    self.state = ChunkState::Size;
                    self.size = 0;
                    self.digits = 0;
                    self.line_len = 0;
                    i += 1;
                }
                ChunkState::TrailerStart
                | ChunkState::Trailer
                | ChunkState::TrailerLf
                | ChunkState::EndLf
                    if self.trailer_len == self.max_trailer =>
                {
                    return Err(Error::HeadTooLarge);
                }
                ChunkState::TrailerStart | ChunkState::Trailer => {
                    self.trailer_len += 1;
                    if b == b'\r' {
                        self.state = if self.state == ChunkState::TrailerStart {
                            ChunkState::EndLf
                        } else {
                            ChunkState::TrailerLf
                        };
                    } else if b == b'\n' {
                        return Err(Error::Malformed("line ends with a bare LF"));
                    } else {
                        self.state = ChunkState::Trailer;
                    }
                    i += 1;
                }
                ChunkState::TrailerLf => {
                    expect_byte(b, b'\n', "trailer line without CRLF")?;
                    self.trailer_len += 1;
                    self.state = ChunkState::TrailerStart;
                    i += 1;
                }
                ChunkState::EndLf => {
                    expect_byte(b, b'\n', "chunked body without final CRLF")?;
                    self.state = ChunkState::Done;
                    return Ok(Some(i + 1));
                }
                ChunkState::Done => return Ok(Some(i)),
            }
        }
        Ok(if self.is_done() { Some(i) } else { None })
    }
}

impl ChunkedDecoder {
    /// One more byte of a chunk extension (or the delimiter that starts one).
    fn extend_line(&mut self) -> Result<(), Error> {
        self.line_len += 1;
        if self.line_len > MAX_CHUNK_LINE {
            return Err(Error::Malformed("chunk extension too long"));
        }
        Ok(())
    }
}

impl ChunkState {
    /// A byte read in this state is framing: part of a chunk-size line or of the CRLF
    /// after chunk data (not data, not trailers).
    fn is_framing(self) -> bool {
        matches!(
            self,
            ChunkState::Size
                | ChunkState::Extension
                | ChunkState::SizeLf
                | ChunkState::DataCr
                | ChunkState::DataLf
        )
    }
}

fn expect_byte(got: u8, want: u8, why: &'static str) -> Result<(), Error> {
    if got == want {
        Ok(())
    } else {
        Err(Error::Malformed(why))
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::default()
    }

    fn head(buf: &[u8]) -> Head<'_> {
        match parse_head(buf, &limits()) {
            Ok(Parsed::Complete(head)) => head,
            other => panic!("expected a complete head, got {other:?}"),
        }
    }

    fn err(buf: &[u8]) -> Error {
        match parse_head(buf, &limits()) {
            Err(e) => e,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    fn len(buf: &[u8]) -> Result<Parsed<usize>, Error> {
        request_len(buf, &limits())
    }

    #[test]
    fn simple_get() {
        let buf = b"GET / HTTP/1.1\r\nHost: example\r\n\r\n";
        let h = head(buf);
        assert_eq!(h.method(), "GET");
        assert_eq!(h.target(), "/");
        assert_eq!(h.version(), Version::Http11);
        assert_eq!(h.body(), BodyKind::Empty);
        assert!(h.keep_alive());
        assert!(h.has_host());
        assert_eq!(h.head_len(), buf.len());
        assert_eq!(h.header("HOST"), Some(&b"example"[..]));
    }

    #[test]
    fn every_prefix_of_a_valid_head_is_partial() {
        let buf = b"POST /echo?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nX: \t y \r\n\r\n";
        for end in 0..buf.len() {
            assert_eq!(
                parse_head(&buf[..end], &limits()).map(|p| matches!(p, Parsed::Partial)),
                Ok(true),
                "prefix of {end} bytes"
            );
        }
        let h = head(buf);
        assert_eq!(h.header("x"), Some(&b"y"[..]));
        assert_eq!(h.path(), "/echo");
        assert_eq!(h.query(), Some("x=1"));
    }

    #[test]
    fn leading_empty_lines_are_skipped() {
        let buf = b"\r\n\r\nGET / HTTP/1.1\r\n\r\n";
        assert_eq!(head(buf).head_len(), buf.len());
        assert!(matches!(
            parse_head(b"\r\n\r", &limits()),
            Ok(Parsed::Partial)
        ));
    }

    #[test]
    fn connection_semantics() {
        assert!(!head(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive());
        assert!(!head(b"GET / HTTP/1.1\r\nConnection: Keep-Alive, CLOSE\r\n\r\n").keep_alive());
        assert!(!head(b"GET / HTTP/1.0\r\n\r\n").keep_alive());
        assert!(head(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive());
        assert!(head(b"GET / HTTP/1.1\r\nConnection: upgrade\r\n\r\n").keep_alive());
    }

    #[test]
    fn bad_request_lines() {
        for buf in [
            &b"GET /\r\n\r\n"[..],
            b"GET  / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1 \r\n\r\n",
            b"G(T / HTTP/1.1\r\n\r\n",
            b"GET /a b HTTP/1.1\r\n\r\n",
            b"GET / HTTX/1.1\r\n\r\n",
            b"GET / http/1.1\r\n\r\n",
            b"GET / HTTP/1.1\n\n",
            b"\n",
            b" GET / HTTP/1.1\r\n\r\n",
        ] {
            assert!(
                matches!(err(buf), Error::Malformed(_)),
                "{:?}",
                String::from_utf8_lossy(buf)
            );
        }
        assert_eq!(err(b"GET / HTTP/2.0\r\n\r\n"), Error::UnsupportedVersion);
        assert_eq!(err(b"GET / HTTP/0.9\r\n\r\n"), Error::UnsupportedVersion);
    }

    #[test]
    fn garbage_is_refused_before_the_line_ends() {
        // A TLS ClientHello, and a method with a control character.
        assert!(matches!(err(b"\x16\x03\x01\x02\x00"), Error::Malformed(_)));
        assert!(matches!(err(b"GE\x00"), Error::Malformed(_)));
        assert!(matches!(err(b"GET /\x01"), Error::Malformed(_)));
        assert!(matches!(err(b"GET / XTTP"), Error::Malformed(_)));
        assert!(matches!(err(b"GET / HTTP/1.1x"), Error::Malformed(_)));
    }

    #[test]
    fn bad_header_lines() {
        for buf in [
            &b"GET / HTTP/1.1\r\nNoColon\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
            b"GET / HTTP/1.1\r\n: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nName : x\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: b\x00c\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: b\rc\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: b\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        ] {
            assert!(
                matches!(err(buf), Error::Malformed(_)),
                "{:?}",
                String::from_utf8_lossy(buf)
            );
        }
    }

    #[test]
    fn absolute_form_targets() {
        let h = head(b"GET http://example.com/json HTTP/1.1\r\nHost: example.com\r\n\r\n");
        assert_eq!(h.target(), "http://example.com/json");
        assert_eq!(h.path(), "/json");
        assert_eq!(h.query(), None);
        assert_eq!(h.host(), Some("example.com"));

        let h = head(b"GET HTTP://Example.com:8080/a/b?x=1&y HTTP/1.1\r\n\r\n");
        assert_eq!(h.path(), "/a/b");
        assert_eq!(h.query(), Some("x=1&y"));
        assert_eq!(h.host(), Some("Example.com:8080"));
        assert!(!h.has_host());

        // An empty path is `/`.
        let h = head(b"GET http://example.com HTTP/1.1\r\n\r\n");
        assert_eq!((h.path(), h.query()), ("/", None));
        let h = head(b"GET http://example.com?q HTTP/1.1\r\n\r\n");
        assert_eq!((h.path(), h.query()), ("/", Some("q")));

        let h = head(b"GET https://[::1]:443/json HTTP/1.1\r\n\r\n");
        assert_eq!((h.host(), h.path()), (Some("[::1]:443"), "/json"));

        // The target's authority, not the Host field, is the request's host.
        let h = head(b"GET http://a.example/ HTTP/1.1\r\nHost: b.example\r\n\r\n");
        assert_eq!(h.host(), Some("a.example"));
        assert!(h.has_host());

        // Every prefix of an absolute-form head is partial.
        let buf = b"GET http://example.com:80/json?x HTTP/1.1\r\nHost: example.com\r\n\r\n";
        for end in 0..buf.len() {
            assert!(
                matches!(parse_head(&buf[..end], &limits()), Ok(Parsed::Partial)),
                "prefix of {end} bytes"
            );
        }
    }

    #[test]
    fn origin_form_and_other_targets() {
        let h = head(b"GET /json?x HTTP/1.1\r\nHost: example.com:8080\r\n\r\n");
        assert_eq!((h.path(), h.query()), ("/json", Some("x")));
        assert_eq!(h.host(), Some("example.com:8080"));
        assert_eq!(head(b"GET / HTTP/1.1\r\n\r\n").host(), None);
        assert_eq!(head(b"GET / HTTP/1.1\r\nHost:\r\n\r\n").host(), Some(""));
        // Forms this server does not serve are passed on as they are (and route nowhere).
        for target in ["*", "example.com:443", "ftp://example.com/json", "json"] {
            let buf = format!("GET {target} HTTP/1.1\r\n\r\n");
            let h = head(buf.as_bytes());
            assert_eq!(h.path(), target);
            assert_eq!(h.host(), None);
        }
    }

    #[test]
    fn bad_absolute_form_targets() {
        for target in [
            "http:///json",
            "http://",
            "http://:80/json",
            "http://user@example.com/",
            "http://user:pass@example.com/",
            "http://ex%zzample.com/",
            "http://[::1/json",
            "http://[]/json",
            "http://example.com:8x/",
            "https://a:1:2/",
            "http://ex\"ample/",
        ] {
            let buf = format!("GET {target} HTTP/1.1\r\n\r\n");
            assert!(
                matches!(err(buf.as_bytes()), Error::Malformed(_)),
                "{target}"
            );
        }
    }

    #[test]
    fn host_field_values() {
        for value in [
            &b"example.com"[..],
            b"example.com:8080",
            b"127.0.0.1",
            b"127.0.0.1:80",
            b"[::1]",
            b"[::1]:80",
            b"[v1.fe80::a+en1]",
            b"",
            b"a-b.c_d~e",
            b"%41bc",
            b"host:",
            b"  padded  ",
        ] {
            let mut buf = b"GET / HTTP/1.1\r\nHost: ".to_vec();
            buf.extend_from_slice(value);
            buf.extend_from_slice(b"\r\n\r\n");
            assert!(
                head(&buf).has_host(),
                "{:?}",
                String::from_utf8_lossy(value)
            );
        }
        for value in [
            &b"a b"[..],
            b"a\tb",
            b"a/b",
            b"a?b",
            b"a@b",
            b"[::1",
            b"[]",
            b"[::1]x",
            b"a:b",
            b"a:80:90",
            b"ex%zzample",
            b"ex%4",
            b"h\xc3\xa9.example",
            b"\"quoted\"",
        ] {
            let mut buf = b"GET / HTTP/1.1\r\nHost: ".to_vec();
            buf.extend_from_slice(value);
            buf.extend_from_slice(b"\r\n\r\n");
            assert_eq!(
                err(&buf),
                Error::Malformed("invalid Host"),
                "{:?}",
                String::from_utf8_lossy(value)
            );
        }
        // Also with an absolute-form target, whose authority decides the host.
        assert_eq!(
            err(b"GET http://example.com/ HTTP/1.1\r\nHost: a b\r\n\r\n"),
            Error::Malformed("invalid Host")
        );
    }

    #[test]
    fn content_length_rules() {
        let h = head(b"POST / HTTP/1.1\r\nContent-Length: 42\r\nContent-Length: 42, 42\r\n\r\n");
        assert_eq!(h.body(), BodyKind::Length(42));
        for value in [
            &b"x"[..],
            b"-1",
            b"+1",
            b"1 2",
            b"",
            b"0x10",
            b"99999999999999999999999",
        ] {
            let mut buf = b"POST / HTTP/1.1\r\nContent-Length: ".to_vec();
            buf.extend_from_slice(value);
            buf.extend_from_slice(b"\r\n\r\n");
            assert!(matches!(err(&buf), Error::Malformed(_)), "{value:?}");
        }
        assert!(matches!(
            err(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            Error::Malformed(_)
        ));
        assert!(matches!(
            err(b"POST / HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\n"),
            Error::Malformed(_)
        ));
        assert_eq!(
            err(b"POST / HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n"),
            Error::BodyTooLarge
        );
        assert_eq!(
            head(b"POST / HTTP/1.1\r\nContent-Length: 1048576\r\n\r\n").body(),
            BodyKind::Length(1 << 20)
        );
    }

    #[test]
    fn transfer_encoding_rules() {
        let chunked = head(b"POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n");
        assert_eq!(chunked.body(), BodyKind::Chunked);
        assert_eq!(
            err(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            Error::UnsupportedTransferCoding
        );
        assert_eq!(
            err(
                b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
            ),
            Error::UnsupportedTransferCoding
        );
        for buf in [
            &b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            assert!(
                matches!(err(buf), Error::Malformed(_)),
                "{:?}",
                String::from_utf8_lossy(buf)
            );
        }
    }

    #[test]
    fn expect_rules() {
        assert!(head(b"POST / HTTP/1.1\r\nExpect: 100-Continue\r\n\r\n").expects_continue());
        assert!(!head(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").expects_continue());
        assert_eq!(
            err(b"POST / HTTP/1.1\r\nExpect: 200-ok\r\n\r\n"),
            Error::UnsupportedExpectation
        );
    }

    #[test]
    fn head_limits() {
        let small = Limits {
            max_head: 64,
            max_headers: 2,
            ..Limits::default()
        };
        // Exactly at the limit is fine; one byte more is not.
        let mut exact = b"GET / HTTP/1.1\r\nX: ".to_vec();
        exact.resize(60, b'a');
        exact.extend_from_slice(b"\r\n\r\n");
        assert_eq!(exact.len(), 64);
        assert!(matches!(
            parse_head(&exact, &small),
            Ok(Parsed::Complete(_))
        ));
        exact.insert(20, b'a');
        assert_eq!(parse_head(&exact, &small).unwrap_err(), Error::HeadTooLarge);
        // An unfinished head is too large as soon as it reaches the limit.
        let unfinished = [b'a'; 64];
        let mut line = b"GET /".to_vec();
        line.extend_from_slice(&unfinished);
        assert_eq!(parse_head(&line[..63], &small).ok(), Some(Parsed::Partial));
        assert_eq!(
            parse_head(&line[..64], &small).unwrap_err(),
            Error::HeadTooLarge
        );
        // Too many fields.
        assert_eq!(
            parse_head(b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", &small).unwrap_err(),
            Error::HeadTooLarge
        );
    }

    #[test]
    fn request_len_complete_partial_and_errors() {
        let get = b"GET / HTTP/1.1\r\n\r\n";
        assert_eq!(len(get), Ok(Parsed::Complete(get.len())));
        // Pipelined: only the first request counts.
        let two = b"GET / HTTP/1.1\r\n\r\nGET /json HTTP/1.1\r\n\r\n";
        assert_eq!(len(two), Ok(Parsed::Complete(18)));

        let post = b"POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET";
        let head_len = post.len() - 8;
        for end in 0..head_len + 5 {
            assert_eq!(len(&post[..end]), Ok(Parsed::Partial), "{end}");
        }
        assert_eq!(
            len(&post[..head_len + 5]),
            Ok(Parsed::Complete(head_len + 5))
        );
        assert_eq!(len(post), Ok(Parsed::Complete(head_len + 5)));

        let chunked =
            b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\nT: 1\r\n\r\n";
        for end in 0..chunked.len() {
            assert_eq!(len(&chunked[..end]), Ok(Parsed::Partial), "{end}");
        }
        assert_eq!(len(chunked), Ok(Parsed::Complete(chunked.len())));

        assert!(len(b"POST / HTTP/1.1\r\nContent-Length: nope\r\n\r\n").is_err());
        assert!(len(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err());
        assert_eq!(
            len(b"POST / HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n"),
            Err(Error::BodyTooLarge)
        );
    }

    #[test]
    fn request_len_with_expect_continue() {
        let buf = b"POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n";
        assert_eq!(len(buf), Ok(Parsed::Complete(buf.len())));
        let mut with_part = buf.to_vec();
        with_part.push(b'a');
        assert_eq!(len(&with_part), Ok(Parsed::Partial));
    }

    fn decode_all(wire: &[u8]) -> Result<(Vec<u8>, Option<usize>), Error> {
        let mut body = Vec::new();
        let end = ChunkedDecoder::new(&limits()).decode(wire, Some(&mut body))?;
        Ok((body, end))
    }

    #[test]
    fn chunked_decodes_whole_and_byte_by_byte() {
        let wire = b"4\r\nWiki\r\n5;a=b;c\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n000\r\nX-T: 1\r\nY: 2\r\n\r\nrest";
        let (body, end) = decode_all(wire).unwrap();
        assert_eq!(body, b"Wikipedia in\r\n\r\nchunks.");
        assert_eq!(&wire[end.unwrap()..], b"rest");

        let mut decoder = ChunkedDecoder::new(&limits());
        let mut body = Vec::new();
        let mut done_at = None;
        for (i, byte) in wire.iter().enumerate() {
            match decoder
                .decode(std::slice::from_ref(byte), Some(&mut body))
                .unwrap()
            {
                None => {}
                Some(n) => {
                    assert_eq!(n, 1);
                    done_at = Some(i + 1);
                    break;
                }
            }
        }
        assert_eq!(done_at, end);
        assert!(decoder.is_done());
        assert_eq!(decoder.body_len(), 23);
        assert_eq!(body, b"Wikipedia in\r\n\r\nchunks.");
    }

    #[test]
    fn chunk_sizes_with_leading_zeros() {
        let (body, end) =
            decode_all(b"00000000000000000005\r\nhello\r\n00000000000000000000\r\n\r\n").unwrap();
        assert_eq!(body, b"hello");
        assert!(end.is_some());
        // 16 significant digits after many zeros still fit (and are then too large a body).
        let mut wire = vec![b'0'; 100];
        wire.extend_from_slice(b"ffffffffffffffff\r\n");
        assert_eq!(decode_all(&wire), Err(Error::BodyTooLarge));
        // A value past 64 bits does not, however it is written.
        let mut wire = vec![b'0'; 100];
        wire.extend_from_slice(b"10000000000000000\r\n");
        assert_eq!(
            decode_all(&wire),
            Err(Error::Malformed("chunk size too large"))
        );
        // Leading zeros are bounded.
        let mut wire = vec![b'0'; MAX_CHUNK_LINE];
        wire.extend_from_slice(b"1\r\na\r\n0\r\n\r\n");
        assert_eq!(
            decode_all(&wire),
            Err(Error::Malformed("chunk size too long"))
        );
        wire.remove(0);
        assert_eq!(decode_all(&wire).unwrap().0, b"a");
        // Through the framing of a whole request.
        let req = b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
                    000000000000000000003\r\nabc\r\n0000000000000000000000\r\n\r\n";
        assert_eq!(len(req), Ok(Parsed::Complete(req.len())));
    }

    /// A chunk-size line, digits and extensions together, has at most 4 KiB.
    #[test]
    fn chunk_size_lines_are_bounded() {
        let line = |digits: usize, ext: usize| {
            let mut wire = vec![b'0'; digits - 1];
            wire.push(b'1');
            if ext > 0 {
                wire.push(b';');
                wire.resize(digits + ext, b'e');
            }
            wire.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
            decode_all(&wire).map(|(body, _)| body)
        };
        assert_eq!(line(MAX_CHUNK_LINE, 0), Ok(b"x".to_vec()));
        assert_eq!(line(100, MAX_CHUNK_LINE - 100), Ok(b"x".to_vec()));
        assert_eq!(
            line(100, MAX_CHUNK_LINE - 99),
            Err(Error::Malformed("chunk extension too long"))
        );
        assert_eq!(
            line(1, MAX_CHUNK_LINE),
            Err(Error::Malformed("chunk extension too long"))
        );
    }

    /// The issue's figures: 540 one-byte chunks, each with 4,000 bytes of extensions,
    /// were 2.1 MB on the wire for 540 bytes of data. The framing now may take 16 KiB, or
    /// as much as the data decoded so far: refused after 16 KiB, whichever way the bytes
    /// come.
    #[test]
    fn chunk_framing_is_bounded_by_the_data() {
        let mut wire = Vec::new();
        for _ in 0..540 {
            wire.extend_from_slice(b"1;");
            wire.resize(wire.len() + 3998, b'e');
            wire.extend_from_slice(b"\r\nx\r\n");
        }
        wire.extend_from_slice(b"0\r\n\r\n");
        assert!(wire.len() > 2_000_000);
        let too_much = Err(Error::Malformed("chunk framing too large for its data"));
        assert_eq!(decode_all(&wire).map(|_| ()), too_much);
        // Fed in pieces, it stops within the allowance and the bytes of one more line.
        let mut decoder = ChunkedDecoder::new(&limits());
        let mut fed = 0;
        let failed = wire.chunks(1000).find_map(|piece| {
            fed += piece.len();
            decoder.decode(piece, None).err()
        });
        assert_eq!(
            failed,
            Some(Error::Malformed("chunk framing too large for its data"))
        );
        assert!(fed <= 16 * 1024 + 1000, "{fed}");

        // One-byte chunks cost 5 bytes of framing each: 3,276 of them and the last-chunk
        // line (3 bytes) make 16,383 bytes, within 16 KiB; one more chunk is not.
        let ones = |n: usize| {
            let mut wire = b"1\r\nx\r\n".repeat(n);
            wire.extend_from_slice(b"0\r\n\r\n");
            decode_all(&wire).map(|(body, _)| body.len())
        };
        assert_eq!(ones(3276), Ok(3276));
        assert_eq!(ones(3277), too_much.map(|()| 0));
        // Past 16 KiB of data, the data is the allowance: after a 64 KiB chunk, 64 KiB of
        // framing (16 lines of 4 KiB) is fine.
        let mut wire = b"10000\r\n".to_vec();
        wire.resize(wire.len() + 0x10000, b'd');
        wire.extend_from_slice(b"\r\n");
        for _ in 0..15 {
            wire.extend_from_slice(b"1;");
            wire.resize(wire.len() + 4000, b'e');
            wire.extend_from_slice(b"\r\nx\r\n");
        }
        wire.extend_from_slice(b"0\r\n\r\n");
        assert_eq!(
            decode_all(&wire).map(|(body, _)| body.len()),
            Ok(0x10000 + 15)
        );
        // Ordinary chunking is far below: 1 MiB in 16-byte chunks (6 bytes of framing
        // each).
        let mut wire = b"10\r\n0123456789abcdef\r\n".repeat(1 << 16);
        wire.extend_from_slice(b"0\r\n\r\n");
        assert_eq!(decode_all(&wire).map(|(body, _)| body.len()), Ok(1 << 20));
    }

    /// The trailer section is bounded as a head is: all its bytes, line ends and the
    /// final empty line included, count against `max_head`.
    #[test]
    fn trailer_sections_are_bounded_with_their_line_ends() {
        let small = Limits {
            max_head: 64,
            ..Limits::default()
        };
        let decode = |trailers: &[u8]| {
            let mut wire = b"1\r\nx\r\n0\r\n".to_vec();
            wire.extend_from_slice(trailers);
            ChunkedDecoder::new(&small).decode(&wire, None)
        };
        // 18 lines `a` and one `abcdef`, with their CRLFs, and the final CRLF: 64 bytes.
        let mut trailers = b"a\r\n".repeat(18);
        trailers.extend_from_slice(b"abcdef\r\n\r\n");
        assert_eq!(trailers.len(), 64);
        assert_eq!(decode(&trailers), Ok(Some(9 + 64)));
        // One byte more: 431, though the field bytes alone (24) are far below 64.
        let mut trailers = b"a\r\n".repeat(18);
        trailers.extend_from_slice(b"abcdefg\r\n\r\n");
        assert_eq!(decode(&trailers), Err(Error::HeadTooLarge));
        let many_short_lines = b"a\r\n".repeat(100);
        assert_eq!(decode(&many_short_lines), Err(Error::HeadTooLarge));
    }

    #[test]
    fn chunked_errors() {
        for wire in [
            &b"\r\n"[..],
            b"g\r\n",
            b"-1\r\n",
            b"1\r\nab\r\n",
            b"1\r\na\n",
            b"1\na\r\n",
            b"0\r\nTrailer\n",
            b"0\r\n\r\r",
            b"1;\x00\r\n",
            b"10000000000000000\r\n",
        ] {
            assert!(
                matches!(decode_all(wire), Err(Error::Malformed(_))),
                "{:?}",
                String::from_utf8_lossy(wire)
            );
        }
        let small = Limits {
            max_body: 4,
            max_head: 8,
            ..Limits::default()
        };
        let mut decoder = ChunkedDecoder::new(&small);
        assert_eq!(decoder.decode(b"4\r\nabcd\r\n", None), Ok(None));
        assert_eq!(decoder.decode(b"1\r\n", None), Err(Error::BodyTooLarge));
        let mut decoder = ChunkedDecoder::new(&small);
        assert_eq!(
            decoder.decode(b"0\r\nLong-Trailer: 1\r\n\r\n", None),
            Err(Error::HeadTooLarge)
        );
        assert_eq!(
            ChunkedDecoder::new(&small).decode(b"ffffffffffffffff\r\n", None),
            Err(Error::BodyTooLarge)
        );
    }
}
