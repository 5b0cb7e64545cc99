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
//! Where each part lives: [`Limits`] and [`Parsed`] here; [`Error`] in `error`; the
//! request line ([`Version`], method and target characters) in `request_line`; the
//! request target's forms and the `uri-host` syntax shared with `Host` in `target`; the
//! header fields' syntax and what they say about framing and the connection in `fields`;
//! [`parse_head`], [`Head`] and [`Headers`] in `head`; [`BodyKind`] and [`request_len`]
//! in `framing`; [`ChunkedDecoder`] in `chunked`.
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

mod chunked;
mod error;
mod fields;
mod framing;
mod head;
mod request_line;
mod target;
#[cfg(test)]
mod testing;

pub use chunked::ChunkedDecoder;
pub use error::Error;
pub use framing::{request_len, BodyKind};
pub use head::{parse_head, Head, Headers};
pub use request_line::Version;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_limits() {
        let limits = Limits::default();
        assert_eq!(limits.max_head, 8 * 1024);
        assert_eq!(limits.max_body, 1024 * 1024);
        assert_eq!(limits.max_headers, 100);
    }
}
