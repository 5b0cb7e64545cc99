//! The request head: [`parse_head`] reads it in place (request line, header fields, the
//! empty line) and gives a [`Head`], whose [`Headers`] walk its fields again.

use super::fields::{split_field, trim_ows, Facts};
use super::request_line::{check_partial_request_line, parse_request_line};
use super::target::split_target;
use super::{BodyKind, Error, Limits, Parsed, Version};

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

#[cfg(test)]
mod tests {
    use super::super::testing::{head, limits};
    use super::*;

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
}
