//! Helpers the parser's tests share: parse with the default limits and expect a head,
//! an error or a request length.

use super::{parse_head, request_len, Error, Head, Limits, Parsed};

/// The default limits.
pub(super) fn limits() -> Limits {
    Limits::default()
}

/// The complete head at the start of `buf`; panics otherwise.
pub(super) fn head(buf: &[u8]) -> Head<'_> {
    match parse_head(buf, &limits()) {
        Ok(Parsed::Complete(head)) => head,
        other => panic!("expected a complete head, got {other:?}"),
    }
}

/// The error `buf` is refused with; panics otherwise.
pub(super) fn err(buf: &[u8]) -> Error {
    match parse_head(buf, &limits()) {
        Err(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

/// [`request_len`] with the default limits.
pub(super) fn len(buf: &[u8]) -> Result<Parsed<usize>, Error> {
    request_len(buf, &limits())
}
