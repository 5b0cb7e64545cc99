//! Arguments: integer arguments, arguments quoted in errors as Redis quotes them, and
//! the error texts several commands share.

use crate::resp::protocol::{error, error_parts, string2ll};

pub(super) const NOT_INTEGER: &[u8] = b"value is not an integer or out of range";
pub(super) const SYNTAX: &[u8] = b"syntax error";

/// The first `max` bytes of `s` up to its first NUL: what C's `%.*s` prints.
pub(super) fn c_str(s: &[u8], max: usize) -> &[u8] {
    let s = &s[..s.iter().position(|&b| b == 0).unwrap_or(s.len())];
    &s[..s.len().min(max)]
}

/// An integer argument, or Redis's error.
pub(super) fn integer(arg: &[u8], out: &mut Vec<u8>) -> Option<i64> {
    let n = string2ll(arg);
    if n.is_none() {
        error(out, NOT_INTEGER);
    }
    n
}

pub(super) fn invalid_expire(out: &mut Vec<u8>, command: &str) {
    error_parts(
        out,
        &[
            b"invalid expire time in '",
            command.as_bytes(),
            b"' command",
        ],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_str_stops_at_a_nul_and_at_max() {
        assert_eq!(c_str(b"abc\0def", usize::MAX), b"abc");
        assert_eq!(c_str(b"abcdef", 3), b"abc");
        assert_eq!(c_str(b"ab\0cdef", 5), b"ab");
        assert_eq!(c_str(b"", 5), b"");
    }

    #[test]
    fn integer_arguments_and_their_error() {
        let mut out = Vec::new();
        assert_eq!(integer(b"-42", &mut out), Some(-42));
        assert!(out.is_empty());
        assert_eq!(integer(b"1.5", &mut out), None);
        assert_eq!(out, b"-ERR value is not an integer or out of range\r\n");
        out.clear();
        invalid_expire(&mut out, "set");
        assert_eq!(out, b"-ERR invalid expire time in 'set' command\r\n");
    }
}
