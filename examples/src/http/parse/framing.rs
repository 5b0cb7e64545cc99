//! Body framing: how a request's body is delimited ([`BodyKind`]) and so where the
//! request ends ([`request_len`], the question a server's framing asks).

use super::{parse_head, ChunkedDecoder, Error, Limits, Parsed};

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

/// The length of the complete request (head and body) at the start of `buf`.
///
/// This is the framing question a server asks before serving: `Complete(n)` when the
/// first `n` bytes are one whole request, `Partial` when more bytes are needed, and the
/// request's [`Error`] when it cannot be served. One exception: a request that
/// [expects `100 Continue`](super::Head::expects_continue) and has not started sending
/// its body is `Complete` at the end of its head, since its client waits for an answer
/// first.
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

#[cfg(test)]
mod tests {
    use super::super::testing::len;
    use super::*;

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
}
