//! The request target's forms (origin-form, and the absolute-form RFC 9112 §3.2.2 asks
//! a server to accept) and the `uri-host [ ":" port ]` syntax an absolute-form authority
//! and a `Host` field value share.

use super::Error;

/// Split a request target into the authority of an absolute-form `http`/`https` target
/// (RFC 9112 §3.2.2) and its origin-form part (path and query). Other targets are all
/// origin part: origin-form itself, and the forms this server does not serve (`*`,
/// authority-form, other schemes), which route nowhere.
pub(super) fn split_target(target: &str) -> Result<(Option<&str>, &str), Error> {
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
pub(super) fn is_host_value(value: &[u8]) -> bool {
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

#[cfg(test)]
mod tests {
    use super::super::testing::{err, head, limits};
    use super::super::{parse_head, Parsed};
    use super::*;

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
}
