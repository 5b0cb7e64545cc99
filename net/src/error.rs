//! The one error type shared by both servers.

use std::fmt;
use std::io;

/// What went wrong, in broad strokes. Match on it through [`Error::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A [`ServerParams`](crate::ServerParams) value was rejected; the message names it.
    InvalidParam,
    /// Binding or configuring the listening socket failed.
    Bind,
    /// The server was already started or already shut down.
    State,
    /// Starting a thread or another operating-system resource failed.
    Resource,
    /// Any other I/O failure.
    Io,
}

/// The error type of this crate and of `evnet`.
///
/// It is opaque: inspect it with the `is_*` predicates or [`Error::kind`], print it with
/// `Display`, and follow [`std::error::Error::source`] to the underlying I/O error.
///
/// ```
/// let err = net::ServerParams::builder().max_threads(0).build().unwrap_err();
/// assert!(err.is_invalid_param());
/// assert!(err.to_string().contains("max_threads"));
/// ```
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<io::Error>,
}

impl Error {
    /// An invalid-parameter error; `param` is the parameter's name.
    pub fn invalid_param(param: &str, why: impl fmt::Display) -> Self {
        Error {
            kind: ErrorKind::InvalidParam,
            message: format!("invalid parameter `{param}`: {why}"),
            source: None,
        }
    }

    /// An error of `kind` with a message and an optional I/O cause.
    pub fn new(kind: ErrorKind, message: impl Into<String>, source: Option<io::Error>) -> Self {
        Error {
            kind,
            message: message.into(),
            source,
        }
    }

    /// An I/O error wrapped with what was being done (`context`).
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::new(ErrorKind::Io, context, Some(source))
    }

    /// The broad kind of this error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// True when a parameter was rejected.
    pub fn is_invalid_param(&self) -> bool {
        self.kind == ErrorKind::InvalidParam
    }

    /// True when binding the listening socket failed.
    pub fn is_bind(&self) -> bool {
        self.kind == ErrorKind::Bind
    }

    /// True when the operation does not fit the server's state (started twice, say).
    pub fn is_state(&self) -> bool {
        self.kind == ErrorKind::State
    }

    /// True for a failure to get an operating-system resource such as a thread.
    pub fn is_resource(&self) -> bool {
        self.kind == ErrorKind::Resource
    }

    /// The underlying I/O error, if there is one.
    pub fn io_error(&self) -> Option<&io::Error> {
        self.source.as_ref()
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind).field("message", &self.message);
        if let Some(src) = &self.source {
            d.field("source", src);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(src) = &self.source {
            write!(f, ": {src}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
