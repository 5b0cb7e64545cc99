//! The request line, `method SP request-target SP HTTP-version`: its [`Version`], the
//! characters a method and a target may have, and the early check that refuses garbage
//! before the line ends.

use super::Error;

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

/// `method SP request-target SP HTTP-version`.
pub(super) fn parse_request_line(line: &[u8]) -> Result<(&str, &str, Version), Error> {
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

/// Check what has arrived of a request line so far, so that garbage (a TLS handshake,
/// binary noise) is refused at once instead of after `max_head` bytes.
pub(super) fn check_partial_request_line(part: &[u8]) -> Result<(), Error> {
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

/// RFC 9110 `tchar`: the characters of a token (method, field name).
pub(super) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Visible ASCII: what a request target may contain.
fn is_target_char(b: u8) -> bool {
    (b'!'..=b'~').contains(&b)
}

#[cfg(test)]
mod tests {
    use super::super::testing::err;
    use super::*;

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
}
