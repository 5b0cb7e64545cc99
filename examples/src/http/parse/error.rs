//! Why a request cannot be served: [`Error`], and the HTTP status that answers each
//! kind.

use std::fmt;

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
    /// The head (or the trailer section) is larger than
    /// [`Limits::max_head`](super::Limits::max_head), or has more than
    /// [`Limits::max_headers`](super::Limits::max_headers) fields (431).
    HeadTooLarge,
    /// The body is larger than [`Limits::max_body`](super::Limits::max_body) (413).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_messages() {
        for (error, status, text) in [
            (Error::Malformed("why"), 400, "malformed request: why"),
            (Error::HeadTooLarge, 431, "request head too large"),
            (Error::BodyTooLarge, 413, "request body too large"),
            (
                Error::UnsupportedTransferCoding,
                501,
                "unsupported transfer coding",
            ),
            (Error::UnsupportedVersion, 505, "unsupported HTTP version"),
            (
                Error::UnsupportedExpectation,
                417,
                "unsupported expectation",
            ),
        ] {
            assert_eq!(error.status(), status, "{error:?}");
            assert_eq!(error.to_string(), text);
        }
    }
}
