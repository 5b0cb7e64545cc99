//! Header fields: a field line's syntax (`field-name ":" OWS field-value OWS`), list
//! values and decimal numbers, and what the fields say about framing and the connection
//! (`Content-Length`, `Transfer-Encoding`, `Connection`, `Expect`, `Host`).

use super::request_line::is_tchar;
use super::target::is_host_value;
use super::{BodyKind, Error, Limits, Version};

/// What the header fields said about framing and the connection.
#[derive(Default)]
pub(super) struct Facts {
    content_length: Option<u64>,
    /// A `Transfer-Encoding` field was seen.
    te: bool,
    te_last_chunked: bool,
    te_chunked: u32,
    te_other: bool,
    pub(super) close: bool,
    pub(super) keep_alive: bool,
    pub(super) expect_continue: bool,
    pub(super) expect_other: bool,
    pub(super) hosts: u32,
}

impl Facts {
    pub(super) fn note(&mut self, name: &[u8], value: &[u8]) -> Result<(), Error> {
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

    pub(super) fn body(&self, version: Version, limits: &Limits) -> Result<BodyKind, Error> {
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

/// `field-name ":" OWS field-value OWS`.
pub(super) fn split_field(line: &[u8]) -> Result<(&[u8], &[u8]), Error> {
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

pub(super) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, head};
    use super::*;

    #[test]
    fn connection_semantics() {
        assert!(!head(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive());
        assert!(!head(b"GET / HTTP/1.1\r\nConnection: Keep-Alive, CLOSE\r\n\r\n").keep_alive());
        assert!(!head(b"GET / HTTP/1.0\r\n\r\n").keep_alive());
        assert!(head(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive());
        assert!(head(b"GET / HTTP/1.1\r\nConnection: upgrade\r\n\r\n").keep_alive());
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
}
