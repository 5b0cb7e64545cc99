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
/// As the Rust API guidelines ask, each cause appears once in the chain: `Display` says
/// what failed (`cannot bind the listening socket`) and the I/O error that caused it is
/// the [`source`](std::error::Error::source), not repeated in the message. A reporter
/// that walks the chain (anyhow's `{:#}`, or the loop below) prints each level once.
///
/// ```
/// let err = net::ServerParams::builder().max_threads(0).build().unwrap_err();
/// assert!(err.is_invalid_param());
/// assert!(err.to_string().contains("max_threads"));
/// ```
///
/// ```
/// use std::error::Error as _;
/// use net::{Server, ServerParams, TcpServer};
///
/// struct Nothing;
/// impl net::Handler for Nothing {
///     type Session = ();
///     fn open(&self, _: &net::Connection) {}
///     fn serve(&self, _: &mut (), _: &mut net::Connection) -> std::io::Result<net::Action> {
///         Ok(net::Action::Close)
///     }
/// }
///
/// let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let err = TcpServer::bind(taken.local_addr()?, Nothing, ServerParams::default()).unwrap_err();
/// assert!(err.is_bind());
/// // Print the whole chain: "cannot bind the listening socket: Address already in use …"
/// let mut report = err.to_string();
/// let mut cause = err.source();
/// while let Some(level) = cause {
///     report = format!("{report}: {level}");
///     cause = level.source();
/// }
/// assert_eq!(report, format!("{err}: {}", err.io_error().unwrap()));
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<io::Error>,
    /// The parameter an [`invalid_param`](Error::invalid_param) error names, and where
    /// in `message` the reason begins.
    param: Option<(Box<str>, usize)>,
}

impl Error {
    /// An invalid-parameter error; `param` is the parameter's name.
    pub fn invalid_param(param: &str, why: impl fmt::Display) -> Self {
        let head = format!("invalid parameter `{param}`: ");
        Error {
            kind: ErrorKind::InvalidParam,
            param: Some((param.into(), head.len())),
            message: head + &why.to_string(),
            source: None,
        }
    }

    /// [`invalid_param`](Error::invalid_param) caused by an I/O error (a file named by the
    /// parameter that cannot be read), which is its [`source`](std::error::Error::source).
    #[cfg(feature = "tls")]
    pub(crate) fn invalid_param_from(
        param: &str,
        why: impl fmt::Display,
        source: io::Error,
    ) -> Self {
        Error {
            source: Some(source),
            ..Error::invalid_param(param, why)
        }
    }

    /// An error of `kind` with a message and an optional I/O cause.
    pub fn new(kind: ErrorKind, message: impl Into<String>, source: Option<io::Error>) -> Self {
        Error {
            kind,
            message: message.into(),
            source,
            param: None,
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

    /// The name of the parameter rejected, for an error made by
    /// [`invalid_param`](Error::invalid_param) (`max_threads`, say): for a program to say
    /// which of its own options set it.
    ///
    /// ```
    /// let err = net::ServerParams::builder().max_threads(0).build().unwrap_err();
    /// assert_eq!(err.invalid_param_name(), Some("max_threads"));
    /// assert_eq!(net::Error::io("reading", std::io::Error::other("x")).invalid_param_name(), None);
    /// ```
    pub fn invalid_param_name(&self) -> Option<&str> {
        self.param.as_ref().map(|(name, _)| &**name)
    }

    /// Why the parameter was rejected, without its name, for an error made by
    /// [`invalid_param`](Error::invalid_param): for a program that names its own option
    /// and wants the reason alone (`--threads 0: must be at least 1`).
    ///
    /// ```
    /// let err = net::ServerParams::builder().max_threads(0).build().unwrap_err();
    /// assert_eq!(err.to_string(), "invalid parameter `max_threads`: must be at least 1");
    /// assert_eq!(err.invalid_param_reason(), Some("must be at least 1"));
    /// assert_eq!(net::Error::io("reading", std::io::Error::other("x")).invalid_param_reason(), None);
    /// ```
    pub fn invalid_param_reason(&self) -> Option<&str> {
        self.param.as_ref().map(|&(_, at)| &self.message[at..])
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

/// What failed, without its cause: the cause is [`source`](std::error::Error::source).
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
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

/// What an acceptor should do after `accept(2)` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AcceptFailure {
    /// Transient and about one connection (aborted or reset before it was taken, a
    /// signal, no connection pending, a network error pending on the new socket): accept
    /// again now.
    Retry,
    /// Out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) or unknown: pause
    /// accepting briefly, then go on.
    BackOff,
}

/// Classify an `accept(2)` error by its [`io::ErrorKind`] where std has a kind for it, and
/// by its raw errno only on Linux for the rest. Never says "stop": an acceptor lives until
/// shutdown.
///
/// Linux's `accept(2)` passes network errors already pending on the new connection on as
/// its own error, and asks callers to treat them like `EAGAIN` (retry): `ENETDOWN`,
/// `ENETUNREACH` and `EHOSTUNREACH` have kinds; `EPROTO`, `ENOPROTOOPT`, `EHOSTDOWN`,
/// `ENONET` and `EOPNOTSUPP` do not, and are matched by number.
pub(crate) fn classify_accept(err: &io::Error) -> AcceptFailure {
    use io::ErrorKind as K;
    match err.kind() {
        K::WouldBlock
        | K::Interrupted
        | K::ConnectionAborted
        | K::ConnectionReset
        | K::NetworkDown
        | K::NetworkUnreachable
        | K::HostUnreachable => AcceptFailure::Retry,
        _ if is_pending_network_error(err) => AcceptFailure::Retry,
        _ => AcceptFailure::BackOff,
    }
}

/// A network error of the new connection that `accept(2)` reports and std has no
/// [`io::ErrorKind`] for. Linux only, with the numbers of its generic errno table
/// (`asm-generic/errno.h`), which every Linux architecture uses except alpha, MIPS,
/// PA-RISC and SPARC; elsewhere none is known, and the caller backs off.
#[cfg(all(
    target_os = "linux",
    not(any(
        target_arch = "mips",
        target_arch = "mips64",
        target_arch = "mips32r6",
        target_arch = "mips64r6",
        target_arch = "sparc",
        target_arch = "sparc64"
    ))
))]
fn is_pending_network_error(err: &io::Error) -> bool {
    const ENONET: i32 = 64;
    const EPROTO: i32 = 71;
    const ENOPROTOOPT: i32 = 92;
    const EOPNOTSUPP: i32 = 95;
    const EHOSTDOWN: i32 = 112;
    matches!(
        err.raw_os_error(),
        Some(EPROTO | ENOPROTOOPT | EHOSTDOWN | ENONET | EOPNOTSUPP)
    )
}

/// See the Linux version: no errno numbers are known here.
#[cfg(not(all(
    target_os = "linux",
    not(any(
        target_arch = "mips",
        target_arch = "mips64",
        target_arch = "mips32r6",
        target_arch = "mips64r6",
        target_arch = "sparc",
        target_arch = "sparc64"
    ))
)))]
fn is_pending_network_error(_err: &io::Error) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_parameter_error_names_its_parameter() {
        let err = crate::ServerParams::builder()
            .backlog(0)
            .build()
            .unwrap_err();
        assert_eq!(err.invalid_param_name(), Some("backlog"));
        let err = Error::invalid_param("max_threads", "must be at least 1");
        assert_eq!(err.invalid_param_name(), Some("max_threads"));
        let other = Error::new(ErrorKind::InvalidParam, "no name here", None);
        assert_eq!(other.invalid_param_name(), None);
        assert_eq!(
            Error::io("x", io::Error::other("y")).invalid_param_name(),
            None
        );
    }
    use std::error::Error as _;

    /// Each level of the chain, outermost first, as a reporter would print them.
    fn chain(err: &(dyn std::error::Error + 'static)) -> Vec<String> {
        let mut levels = vec![err.to_string()];
        let mut cause = err.source();
        while let Some(level) = cause {
            levels.push(level.to_string());
            cause = level.source();
        }
        levels
    }

    #[test]
    fn cause_is_the_source_not_part_of_the_message() {
        let cause = io::Error::from(io::ErrorKind::AddrInUse);
        let cause_text = cause.to_string();
        let err = Error::new(
            ErrorKind::Bind,
            "cannot bind the listening socket",
            Some(cause),
        );
        assert_eq!(err.to_string(), "cannot bind the listening socket");
        let levels = chain(&err);
        assert_eq!(
            levels,
            ["cannot bind the listening socket", cause_text.as_str()]
        );
        assert_eq!(
            err.io_error().map(io::Error::kind),
            Some(io::ErrorKind::AddrInUse)
        );
        assert!(err.is_bind());
        // Debug still shows everything, for `unwrap` and `main` returning an error.
        let debug = format!("{err:?}");
        assert!(
            debug.contains("Bind") && debug.contains("AddrInUse"),
            "{debug}"
        );
    }

    #[test]
    fn an_error_without_cause_is_its_message() {
        let err = Error::invalid_param("max_threads", "must be at least 1");
        assert!(err.source().is_none());
        assert_eq!(
            chain(&err),
            ["invalid parameter `max_threads`: must be at least 1"]
        );
        let err = Error::io("reading the socket", io::Error::other("boom"));
        assert_eq!(err.kind(), ErrorKind::Io);
        assert_eq!(chain(&err), ["reading the socket", "boom"]);
    }

    #[test]
    fn a_real_bind_error_prints_its_cause_once() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let os = std::net::TcpListener::bind(taken.local_addr().unwrap()).unwrap_err();
        let os_text = os.to_string();
        let err = Error::new(
            ErrorKind::Bind,
            "cannot bind the listening socket",
            Some(os),
        );
        let report = chain(&err).join(": ");
        assert_eq!(report.matches(&os_text).count(), 1, "{report}");
    }

    #[test]
    fn accept_errors_with_a_kind() {
        use io::ErrorKind as K;
        for kind in [
            K::WouldBlock,
            K::Interrupted,
            K::ConnectionAborted,
            K::ConnectionReset,
            K::NetworkDown,
            K::NetworkUnreachable,
            K::HostUnreachable,
        ] {
            assert_eq!(
                classify_accept(&kind.into()),
                AcceptFailure::Retry,
                "{kind:?}"
            );
        }
        for kind in [
            K::OutOfMemory,
            K::PermissionDenied,
            K::InvalidInput,
            K::Other,
        ] {
            assert_eq!(
                classify_accept(&kind.into()),
                AcceptFailure::BackOff,
                "{kind:?}"
            );
        }
    }

    /// What the operating system returns, through std's errno-to-kind mapping.
    #[cfg(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))]
    #[test]
    fn accept_errnos_on_linux() {
        let class = |errno| classify_accept(&io::Error::from_raw_os_error(errno));
        // EAGAIN, EINTR, ECONNABORTED, ECONNRESET: kinds std has always had.
        for errno in [11, 4, 103, 104] {
            assert_eq!(class(errno), AcceptFailure::Retry, "errno {errno}");
        }
        // ENETDOWN, ENETUNREACH, EHOSTUNREACH: classified by kind, not by number.
        for (errno, kind) in [
            (100, io::ErrorKind::NetworkDown),
            (101, io::ErrorKind::NetworkUnreachable),
            (113, io::ErrorKind::HostUnreachable),
        ] {
            assert_eq!(io::Error::from_raw_os_error(errno).kind(), kind);
            assert_eq!(class(errno), AcceptFailure::Retry, "errno {errno}");
        }
        // EPROTO, ENOPROTOOPT, EHOSTDOWN, ENONET, EOPNOTSUPP: no kind, matched by number.
        for errno in [71, 92, 112, 64, 95] {
            assert_eq!(class(errno), AcceptFailure::Retry, "errno {errno}");
        }
        // EMFILE, ENFILE, ENOBUFS, ENOMEM, EBADF: back off.
        for errno in [24, 23, 105, 12, 9] {
            assert_eq!(class(errno), AcceptFailure::BackOff, "errno {errno}");
        }
    }
}
