//! Response checkers: is a complete, well-formed response at the front of the bytes
//! received so far, and is it the one expected?
//!
//! Each checker looks at the whole unconsumed input each time it is called and keeps no
//! state, so bytes fed in any pieces give the same verdict as fed whole: the first call
//! that does not answer [`Check::Partial`] answers what one call on all the bytes answers.

/// Longest HTTP response head (status line and fields) accepted.
pub const MAX_HTTP_HEAD: usize = 8 * 1024;

/// Longest response body (HTTP) or bulk string (RESP) accepted.
pub const MAX_BODY: usize = 1 << 20;

/// Longest RESP line or echo line accepted.
pub const MAX_LINE: usize = 64 * 1024;

/// Deepest nesting of RESP arrays accepted.
const MAX_RESP_DEPTH: usize = 8;

/// Most elements of one RESP array accepted.
const MAX_RESP_ARRAY: i64 = 1024;

/// The body every checked HTTP response must carry (with status 200).
pub const HTTP_BODY: &[u8] = b"Hello, World!";

/// The verdict on the bytes at the front of a connection's input.
///
/// ```
/// use examples::loadgen::check::{check_echo, Check};
/// assert_eq!(check_echo(b"7 1", b"7 1\n"), Check::Partial);
/// assert_eq!(
///     check_echo(b"7 1\nmore", b"7 1\n"),
///     Check::Response { len: 4, matched: true, close: false }
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The response has not fully arrived.
    Partial,
    /// A complete, well-formed response of `len` bytes.
    Response {
        /// Its length: the next response starts after it.
        len: usize,
        /// Whether it is exactly the response expected.
        matched: bool,
        /// Whether the server said it closes the connection after it.
        close: bool,
    },
    /// Malformed (or beyond the limits above): the connection's framing is lost.
    Invalid,
}

/// Check the HTTP/1.x response at the front of `buf`: `matched` when its status is 200, its
/// body, framed by `Content-Length`, is [`HTTP_BODY`], and its `Date` field, if it has one
/// (RFC 9110 asks an origin server for it; the `http` example sends it), is an IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`, see [`crate::http::date::parse`]).
///
/// `close` is set by `Connection: close`, and by an HTTP/1.0 response without
/// `Connection: keep-alive`. A response without `Content-Length` (other than 1xx, 204 and
/// 304, which have no body), with `Transfer-Encoding`, with conflicting lengths, or with
/// a malformed status line or field is [`Check::Invalid`].
///
/// ```
/// use examples::loadgen::check::{check_http, Check};
/// let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!";
/// assert_eq!(check_http(ok), Check::Response { len: ok.len(), matched: true, close: false });
/// assert_eq!(check_http(&ok[..40]), Check::Partial);
/// let dated = b"HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
///     Content-Length: 13\r\n\r\nHello, World!";
/// assert_eq!(check_http(dated), Check::Response { len: dated.len(), matched: true, close: false });
/// ```
pub fn check_http(buf: &[u8]) -> Check {
    // Fail early on bytes that cannot start a response (a prefix of a bad start is bad too).
    let prefix = b"HTTP/1.";
    let n = buf.len().min(prefix.len());
    if buf[..n] != prefix[..n] {
        return Check::Invalid;
    }
    let limit = buf.len().min(MAX_HTTP_HEAD);
    let Some(head_end) = find(&buf[..limit], b"\r\n\r\n") else {
        return if buf.len() >= MAX_HTTP_HEAD {
            Check::Invalid
        } else {
            Check::Partial
        };
    };
    let head = &buf[..head_end];
    let body_start = head_end + 4;
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let Some((minor, status)) = lines.next().and_then(status_line) else {
        return Check::Invalid;
    };
    let mut length: Option<usize> = None;
    let mut close = minor == 0;
    let mut dated_well = true;
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Check::Invalid;
        };
        let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
        if name.is_empty() || name.iter().any(|b| b.is_ascii_whitespace()) {
            return Check::Invalid;
        }
        if name.eq_ignore_ascii_case(b"content-length") {
            let Some(n) = parse_decimal(value) else {
                return Check::Invalid;
            };
            if length.is_some_and(|l| l != n) {
                return Check::Invalid;
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case(b"date") {
            dated_well &= crate::http::date::parse(value).is_some();
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            return Check::Invalid;
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in value.split(|&b| b == b',').map(trim) {
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && minor == 0 {
                    close = false;
                }
            }
        }
    }
    let bodiless = status < 200 || status == 204 || status == 304;
    let length = match length {
        Some(n) if n > MAX_BODY => return Check::Invalid,
        Some(n) => n,
        None if bodiless => 0,
        None => return Check::Invalid,
    };
    let Some(body) = buf.get(body_start..body_start + length) else {
        return Check::Partial;
    };
    Check::Response {
        len: body_start + length,
        matched: status == 200 && body == HTTP_BODY && dated_well,
        close,
    }
}

/// Check the RESP2 reply at the front of `buf` against `expected`, the exact bytes of the
/// reply wanted (`+OK\r\n`, `$5\r\nhello\r\n`, …).
///
/// Any well-formed reply (simple string, error, integer, bulk string, array, nested up to
/// 8 deep) is framed; it is `matched` only if its bytes equal `expected`.
///
/// ```
/// use examples::loadgen::check::{check_resp, Check};
/// let ok = Check::Response { len: 5, matched: true, close: false };
/// assert_eq!(check_resp(b"+OK\r\n", b"+OK\r\n"), ok);
/// assert_eq!(check_resp(b"$2\r\nhi\r", b"$2\r\nhi\r\n"), Check::Partial);
/// assert_eq!(check_resp(b"?\r\n", b"+OK\r\n"), Check::Invalid);
/// ```
pub fn check_resp(buf: &[u8], expected: &[u8]) -> Check {
    match resp_frame(buf, 0) {
        Frame::Partial => Check::Partial,
        Frame::Invalid => Check::Invalid,
        Frame::Complete(len) => Check::Response {
            len,
            matched: &buf[..len] == expected,
            close: false,
        },
    }
}

/// Check the echoed line at the front of `buf` (through its `\n`) against `expected`.
///
/// A line longer than [`MAX_LINE`] is [`Check::Invalid`].
///
/// ```
/// use examples::loadgen::check::{check_echo, Check};
/// let wrong = Check::Response { len: 4, matched: false, close: false };
/// assert_eq!(check_echo(b"7 2\n", b"7 1\n"), wrong);
/// ```
pub fn check_echo(buf: &[u8], expected: &[u8]) -> Check {
    let limit = buf.len().min(MAX_LINE);
    match buf[..limit].iter().position(|&b| b == b'\n') {
        Some(i) => Check::Response {
            len: i + 1,
            matched: &buf[..=i] == expected,
            close: false,
        },
        None if buf.len() >= MAX_LINE => Check::Invalid,
        None => Check::Partial,
    }
}

/// How much of a buffer one RESP value takes.
enum Frame {
    Partial,
    Invalid,
    Complete(usize),
}

/// Frame one RESP2 value at the front of `buf`.
fn resp_frame(buf: &[u8], depth: usize) -> Frame {
    let Some(&kind) = buf.first() else {
        return Frame::Partial;
    };
    if !matches!(kind, b'+' | b'-' | b':' | b'$' | b'*') {
        return Frame::Invalid;
    }
    let limit = buf.len().min(MAX_LINE);
    let Some(cr) = find(&buf[..limit], b"\r\n") else {
        // A lone `\n` can never become a line ending.
        return if buf[..limit].contains(&b'\n') || buf.len() >= MAX_LINE {
            Frame::Invalid
        } else {
            Frame::Partial
        };
    };
    let line = &buf[1..cr];
    if line.contains(&b'\n') {
        return Frame::Invalid;
    }
    let after = cr + 2;
    match kind {
        b'+' | b'-' => Frame::Complete(after),
        b':' => match parse_signed(line) {
            Some(_) => Frame::Complete(after),
            None => Frame::Invalid,
        },
        b'$' => match parse_signed(line) {
            Some(-1) => Frame::Complete(after),
            Some(n) if (0..=MAX_BODY as i64).contains(&n) => {
                let end = after + n as usize;
                match buf.get(end..end + 2) {
                    Some(b"\r\n") => Frame::Complete(end + 2),
                    Some(_) => Frame::Invalid,
                    // Only what has arrived can be wrong.
                    None if buf.len() > end && buf[end] != b'\r' => Frame::Invalid,
                    None => Frame::Partial,
                }
            }
            _ => Frame::Invalid,
        },
        _ => match parse_signed(line) {
            Some(-1) => Frame::Complete(after),
            Some(n) if (0..=MAX_RESP_ARRAY).contains(&n) && depth < MAX_RESP_DEPTH => {
                let mut at = after;
                for _ in 0..n {
                    match resp_frame(&buf[at..], depth + 1) {
                        Frame::Complete(len) => at += len,
                        other => return other,
                    }
                }
                Frame::Complete(at)
            }
            _ => Frame::Invalid,
        },
    }
}

/// `HTTP/1.x SSS reason`: the minor version and the status.
fn status_line(line: &[u8]) -> Option<(u8, u16)> {
    let rest = line.strip_prefix(b"HTTP/1.")?;
    let (&minor, rest) = rest.split_first()?;
    if !matches!(minor, b'0' | b'1') {
        return None;
    }
    let rest = rest.strip_prefix(b" ")?;
    let code = rest.get(..3)?;
    if !code.iter().all(u8::is_ascii_digit) || !matches!(rest.get(3), None | Some(b' ')) {
        return None;
    }
    let status = code.iter().fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
    Some((minor - b'0', status))
}

/// The position of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `bytes` without leading and trailing spaces and tabs.
fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// A non-empty decimal number of at most 18 digits.
fn parse_decimal(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// A RESP integer: an optional `-` and at most 18 digits.
fn parse_signed(text: &[u8]) -> Option<i64> {
    match text.strip_prefix(b"-") {
        Some(digits) => parse_decimal(digits).map(|n| -(n as i64)),
        None => parse_decimal(text).map(|n| n as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\
        Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\nHello, World!";

    fn response(len: usize, matched: bool, close: bool) -> Check {
        Check::Response {
            len,
            matched,
            close,
        }
    }

    /// The verdict when `input` arrives in pieces cut at `cuts`: the first verdict that is
    /// not `Partial`, as a connection's reader would see it.
    fn in_pieces(check: &dyn Fn(&[u8]) -> Check, input: &[u8], cuts: &[usize]) -> Check {
        let mut ends: Vec<usize> = cuts.iter().copied().filter(|&c| c < input.len()).collect();
        ends.push(input.len());
        for end in ends {
            match check(&input[..end]) {
                Check::Partial => {}
                verdict => return verdict,
            }
        }
        Check::Partial
    }

    /// Every way of cutting `input` in two and three pieces (and byte by byte) gives the
    /// verdict it gives whole.
    fn same_in_pieces(check: &dyn Fn(&[u8]) -> Check, input: &[u8]) -> Check {
        let whole = check(input);
        let bytewise: Vec<usize> = (1..input.len()).collect();
        assert_eq!(in_pieces(check, input, &bytewise), whole, "byte by byte");
        for a in 0..=input.len() {
            for b in a..=input.len() {
                assert_eq!(in_pieces(check, input, &[a, b]), whole, "cut at {a}, {b}");
            }
        }
        whole
    }

    #[test]
    fn http_good() {
        assert_eq!(
            same_in_pieces(&check_http, OK),
            response(OK.len(), true, false)
        );
        // Followed by the next response: only the first is taken.
        let two = [OK, OK].concat();
        assert_eq!(check_http(&two), response(OK.len(), true, false));
        let lower = b"HTTP/1.1 200 OK\r\ncontent-length:13\r\n\r\nHello, World!";
        assert_eq!(check_http(lower), response(lower.len(), true, false));
    }

    #[test]
    fn http_close() {
        let close =
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 13\r\n\r\nHello, World!";
        assert_eq!(
            same_in_pieces(&check_http, close),
            response(close.len(), true, true)
        );
        let old = b"HTTP/1.0 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!";
        assert_eq!(check_http(old), response(old.len(), true, true));
        let kept =
            b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 13\r\n\r\nHello, World!";
        assert_eq!(check_http(kept), response(kept.len(), true, false));
    }

    #[test]
    fn http_short() {
        for end in 0..OK.len() {
            assert_eq!(check_http(&OK[..end]), Check::Partial, "{end} bytes");
        }
    }

    #[test]
    fn http_wrong() {
        let wrong = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nWrong";
        assert_eq!(
            same_in_pieces(&check_http, wrong),
            response(wrong.len(), false, false)
        );
        let status = b"HTTP/1.1 404 Not Found\r\nContent-Length: 13\r\n\r\nHello, World!";
        assert_eq!(
            same_in_pieces(&check_http, status),
            response(status.len(), false, false)
        );
        let empty = b"HTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(check_http(empty), response(empty.len(), false, false));
    }

    /// A `Date` must be an IMF-fixdate (the response is framed all the same); none at all
    /// is accepted.
    #[test]
    fn http_date() {
        let undated = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!";
        assert_eq!(check_http(undated), response(undated.len(), true, false));
        let spaced = b"HTTP/1.1 200 OK\r\ndate:  Tue, 29 Feb 2000 00:00:00 GMT \r\n\
            Content-Length: 13\r\n\r\nHello, World!";
        assert_eq!(check_http(spaced), response(spaced.len(), true, false));
        for date in [
            &b"x"[..],
            b"",
            b"Sunday, 06-Nov-94 08:49:37 GMT",
            b"Sun Nov  6 08:49:37 1994",
            b"Mon, 06 Nov 1994 08:49:37 GMT",
            b"Sun, 06 Nov 1994 08:49:37 UTC",
        ] {
            let bad = [
                &b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nDate: "[..],
                date,
                b"\r\n\r\nHello, World!",
            ]
            .concat();
            assert_eq!(
                same_in_pieces(&check_http, &bad),
                response(bad.len(), false, false),
                "{}",
                String::from_utf8_lossy(date)
            );
        }
        // Two fields, one bad.
        let twice = [&OK[..OK.len() - 15], b"Date: x\r\n\r\nHello, World!"].concat();
        assert_eq!(check_http(&twice), response(twice.len(), false, false));
    }

    #[test]
    fn http_malformed() {
        for bad in [
            &b"HTTP/2 200 OK\r\n\r\n"[..],
            b"HTTQ/1.1 200 OK\r\n\r\n",
            b"HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n\r\n",
            b"+OK\r\n",
        ] {
            assert_eq!(
                same_in_pieces(&check_http, bad),
                Check::Invalid,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(check_http(&[b'H'; MAX_HTTP_HEAD][..1]), Check::Partial);
        let long = [&b"HTTP/1.1 200 OK\r\nX: "[..], &[b'a'; MAX_HTTP_HEAD]].concat();
        assert_eq!(check_http(&long), Check::Invalid);
    }

    #[test]
    fn resp_good() {
        let ok = check_resp(b"+OK\r\n", b"+OK\r\n");
        assert_eq!(ok, response(5, true, false));
        let value = b"$10\r\nvalue:3:17\r\n";
        assert_eq!(
            same_in_pieces(&|b| check_resp(b, value), value),
            response(value.len(), true, false)
        );
        let nested = b"*2\r\n$1\r\na\r\n*1\r\n:5\r\n";
        assert_eq!(
            same_in_pieces(&|b| check_resp(b, nested), nested),
            response(nested.len(), true, false)
        );
        assert_eq!(check_resp(b"$-1\r\n", b"$-1\r\n"), response(5, true, false));
    }

    #[test]
    fn resp_short() {
        let value = b"$10\r\nvalue:3:17\r\n";
        for end in 0..value.len() {
            assert_eq!(check_resp(&value[..end], value), Check::Partial, "{end}");
        }
    }

    #[test]
    fn resp_wrong_and_out_of_order() {
        let want = b"$10\r\nvalue:3:17\r\n";
        // The value of another request on the same connection (out of order).
        let other = b"$10\r\nvalue:3:16\r\n";
        assert_eq!(
            same_in_pieces(&|b| check_resp(b, want), other),
            response(other.len(), false, false)
        );
        // A GET answered where a SET was sent, and an error reply.
        assert_eq!(
            check_resp(want, b"+OK\r\n"),
            response(want.len(), false, false)
        );
        let err = b"-ERR unknown command\r\n";
        assert_eq!(
            check_resp(err, b"+OK\r\n"),
            response(err.len(), false, false)
        );
        assert_eq!(check_resp(b"$-1\r\n", want), response(5, false, false));
    }

    #[test]
    fn resp_malformed() {
        for bad in [
            &b"OK\r\n"[..],
            b"+OK\n",
            b"$3\r\nabcd\r\n",
            b"$x\r\n",
            b"$-2\r\n",
            b":1x\r\n",
            b"*-3\r\n",
            b"*1\r\n?\r\n",
        ] {
            assert_eq!(
                same_in_pieces(&|b| check_resp(b, b"+OK\r\n"), bad),
                Check::Invalid,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = [&b"*1\r\n"[..]].repeat(MAX_RESP_DEPTH + 1).concat();
        assert_eq!(check_resp(&deep, b""), Check::Invalid);
    }

    #[test]
    fn echo_lines() {
        let line = b"echo 3 17\n";
        assert_eq!(
            same_in_pieces(&|b| check_echo(b, line), line),
            response(line.len(), true, false)
        );
        for end in 0..line.len() {
            assert_eq!(check_echo(&line[..end], line), Check::Partial);
        }
        // Another line of the same connection (out of order), and a wrong one.
        let earlier = b"echo 3 16\n";
        assert_eq!(
            same_in_pieces(&|b| check_echo(b, line), earlier),
            response(earlier.len(), false, false)
        );
        assert_eq!(check_echo(b"\n", line), response(1, false, false));
        assert_eq!(check_echo(&vec![b'a'; MAX_LINE], line), Check::Invalid);
    }
}
