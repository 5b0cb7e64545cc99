//! The output limit on replies that can be far larger than their request (`MGET` naming
//! one large key many times, `KEYS` with a short pattern over a large keyspace): the
//! sizes of the replies they would build, measured before building, and the error that
//! replaces a reply past [`Ctx::max_reply`](super::Ctx::max_reply) bytes.

use crate::resp::protocol::{decimal, error_parts};

/// Bytes of `n` in decimal.
pub(super) fn decimal_len(n: usize) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// Bytes of a bulk reply of `len` bytes: `$len\r\n…\r\n`.
pub(super) fn bulk_len(len: usize) -> usize {
    1 + decimal_len(len) + 2 + len + 2
}

/// Bytes of an array header for `n` elements: `*n\r\n`.
pub(super) fn array_len(n: usize) -> usize {
    1 + decimal_len(n) + 2
}

/// The error that replaces a reply larger than `limit` bytes (a departure from Redis,
/// which has no such bound; the text follows its style).
pub(super) fn reply_too_large(out: &mut Vec<u8>, limit: usize) {
    let mut digits = Vec::new();
    decimal(&mut digits, i64::try_from(limit).unwrap_or(i64::MAX));
    error_parts(
        out,
        &[
            b"reply would exceed the output limit (",
            &digits,
            b" bytes)",
        ],
    );
}

/// Bytes of the null bulk reply, `$-1\r\n`.
pub(super) const NULL_LEN: usize = 5;

#[cfg(test)]
mod tests {
    use super::super::harness::Harness;
    use super::*;

    #[test]
    fn reply_sizes() {
        assert_eq!(decimal_len(0), 1);
        assert_eq!(decimal_len(9), 1);
        assert_eq!(decimal_len(10), 2);
        assert_eq!(bulk_len(100), b"$100\r\n".len() + 100 + 2);
        assert_eq!(array_len(10), b"*10\r\n".len());
        assert_eq!(NULL_LEN, b"$-1\r\n".len());
    }

    /// `MGET` and `KEYS` build at most `max_reply` bytes; one byte less than a reply
    /// needs gets the error instead, and nothing else changes.
    #[test]
    fn mget_and_keys_replies_are_capped_at_the_output_limit() {
        let too_large =
            |n: usize| format!("-ERR reply would exceed the output limit ({n} bytes)\r\n");
        let mut h = Harness::new();
        let value = "v".repeat(100);
        h.run(&["SET", "k", &value]);
        let mut mget = vec!["MGET"];
        mget.extend(std::iter::repeat_n("k", 9));
        mget.push("missing");
        // `*10\r\n`, nine `$100\r\n…\r\n` and one `$-1\r\n`.
        let size = 5 + 9 * 108 + 5;
        h.max_reply = size;
        let (reply, _) = h.run(&mget);
        assert_eq!(reply.len(), size);
        h.max_reply = size - 1;
        h.check(&[(&mget, &too_large(size - 1)), (&["PING"], "+PONG\r\n")]);
        // The brief's figures: a 64 KiB value named 1,000 times, from a ~9 KB request,
        // would have been a 62.5 MiB reply; at the default 2 MiB limit it is refused.
        let mut h = Harness::new();
        h.run(&["SET", "big", &"b".repeat(64 << 10)]);
        let mut mget = vec!["MGET"];
        mget.extend(std::iter::repeat_n("big", 1000));
        h.check(&[(&mget, &too_large(2 << 20))]);
        mget.truncate(1 + 31); // 31 × (64 KiB + 10) fits 2 MiB
        assert_eq!(h.run(&mget).0.len(), 5 + 31 * (8 + (64 << 10) + 2));

        let mut h = Harness::new();
        for i in 0..10 {
            h.run(&["SET", &format!("a{i}"), "x"]);
        }
        // `*10\r\n` and ten `$2\r\naN\r\n`.
        let size = 5 + 10 * 8;
        h.max_reply = size;
        let (reply, _) = h.run(&["KEYS", "a*"]);
        assert_eq!(reply.len(), size);
        h.max_reply = size - 1;
        h.check(&[
            (&["KEYS", "a*"], &too_large(size - 1)),
            (&["KEYS", "a1"], "*1\r\n$2\r\na1\r\n"),
        ]);
    }
}
