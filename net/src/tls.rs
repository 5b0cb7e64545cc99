//! TLS for [`TcpServer`](crate::TcpServer) (and `evnet::EvServer`) with
//! [rustls](https://docs.rs/rustls) (feature `tls`).
//!
//! Give [`ServerParamsBuilder::tls`](crate::ServerParamsBuilder::tls) a
//! `rustls::ServerConfig` — [`server_config`] builds one from PEM files and the ALPN
//! protocols the server speaks — and every connection is a TLS connection: the server
//! runs the handshake on the connection's thread before the first request, and handlers
//! read and write **plaintext** through the same [`Connection`](crate::Connection)
//! methods as without TLS. Handlers do not change.
//!
//! - The handshake is bounded by `read_timeout`, as one deadline from the moment the
//!   connection's thread takes it up: a client that connects and stalls, before or in the
//!   middle of its handshake, is cut there.
//! - A handshake that fails (a stall, garbage or plain HTTP sent to the TLS port, a TLS
//!   alert, a peer that closes midway) closes the connection — after the alert rustls
//!   queues, when there is one — and is counted in
//!   [`Stats::tls_handshake_failures`](crate::Stats::tls_handshake_failures). A peer that
//!   connects and closes without sending a byte is not counted.
//! - A handshake that completes is counted in
//!   [`Stats::tls_handshakes_full`](crate::Stats::tls_handshakes_full) or, when the client
//!   resumed an earlier session (a ticket or a session id), in
//!   [`Stats::tls_handshakes_resumed`](crate::Stats::tls_handshakes_resumed).
//! - A connection the server closes cleanly (the handler returned `Action::Close`, the
//!   keep-alive timeout expired, the peer closed, the server shuts down) ends with a TLS
//!   `close_notify` alert.
//! - Every blocking read and write is still bounded by `read_timeout`/`write_timeout`
//!   (`SO_RCVTIMEO`/`SO_SNDTIMEO` on the TCP socket), with the same whole-request and
//!   whole-response deadlines as without TLS.
//!
//! The crypto provider is **ring**: it builds with a C compiler alone, where rustls'
//! default provider, aws-lc-rs, also needs cmake (and, on some targets, nasm or Go) on a
//! fresh machine. The configuration is built with the ring provider explicitly, so no
//! process-wide default provider has to be installed.
//!
//! rustls' own `logging` feature is left off: it logs at `warn` what any peer can cause
//! (an unexpected handshake message, a warning alert), which a port scanner would turn into
//! a flood. With `net`'s `log` feature a failed handshake is logged at `debug`, like other
//! per-connection failures.
//!
//! `evnet::EvServer` serves the same configurations (its `tls` feature): its event loops
//! run the handshakes and decrypt without ever blocking, through the non-blocking paths
//! of the same connection type, so a stalled handshake holds no worker there either.
//! The rules above hold on both servers, except that evnet never waits to send the last
//! words (an alert, `close_notify`): they go only if the socket takes them at once.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

use crate::error::{Error, Result};
use crate::readiness::{HandshakeStep, Interest, WaitFn};

/// The rustls crate this crate was built with, so that callers name the same
/// `ServerConfig` type (`net::tls::rustls::ServerConfig`) without a dependency of their own.
pub use rustls;

/// The ALPN protocol list of an HTTP/1.1 server, for [`server_config`]: `http/1.1`.
pub const ALPN_HTTP11: &[&[u8]] = &[b"http/1.1"];

/// The parameter name of the certificate chain in the errors of [`server_config`] and
/// [`server_config_from_der`] ([`Error::invalid_param_name`]): its file cannot be read or
/// holds no certificate, or the certificate cannot be parsed.
pub const TLS_CERT: &str = "tls_cert";

/// The parameter name of the private key in the errors of [`server_config`] and
/// [`server_config_from_der`] ([`Error::invalid_param_name`]): its file cannot be read or
/// holds no key, or the key does not match the certificate or cannot be used.
pub const TLS_KEY: &str = "tls_key";

/// A server configuration from a PEM certificate chain (the server's certificate first,
/// then the intermediates) and a PEM private key (PKCS#8, PKCS#1 or SEC1), on the ring
/// provider with rustls' safe default protocol versions (TLS 1.3 and 1.2), offering the
/// ALPN protocols `alpn` (RFC 7301), most preferred first.
///
/// - ALPN: an HTTP/1.1 server passes [`ALPN_HTTP11`]; a server of a protocol without an
///   ALPN identifier (a line protocol, RESP) passes `&[]`, and then no protocol is ever
///   agreed on ([`Connection::alpn_protocol`](crate::Connection::alpn_protocol) is
///   `None`), whatever the client offers. With protocols, a client that offers ALPN
///   without any of them is refused (rustls' `no_application_protocol` alert); one that
///   offers no ALPN is served.
/// - Session resumption: TLS 1.3 tickets (`rustls::crypto::ring::Ticketer`, keys rotated
///   every 6 hours) and rustls' default in-memory session cache (256 sessions) for
///   stateful resumption.
///
/// Errors (kind [`InvalidParam`](crate::ErrorKind::InvalidParam), never a panic) name the
/// file and the problem: a file that cannot be read (the I/O error is the source), a file
/// without a certificate or key, bad PEM, a key that does not match the certificate, a key
/// rustls cannot use; or the ALPN protocol that is empty or longer than 255 bytes. Their
/// [`invalid_param_name`](Error::invalid_param_name) says which argument is at fault, for
/// a program to name its own option: [`TLS_CERT`] for the certificate chain (its file, or
/// a certificate rustls cannot parse), [`TLS_KEY`] for the private key (its file, or a key
/// that does not match the certificate or that rustls cannot use), `tls` for the rest
/// (ALPN).
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use net::{Server, ServerParams, TcpServer};
///
/// # struct Hello;
/// # impl net::Handler for Hello {
/// #     type Session = ();
/// #     fn open(&self, _: &net::Connection) {}
/// #     fn serve(&self, _: &mut (), _: &mut net::Connection) -> std::io::Result<net::Action> {
/// #         Ok(net::Action::Close)
/// #     }
/// # }
/// // A self-signed certificate for the example (use your own files).
/// let dir = std::env::temp_dir().join(format!("net-tls-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
/// let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
/// std::fs::write(&cert_path, cert.cert.pem())?;
/// std::fs::write(&key_path, cert.key_pair.serialize_pem())?;
///
/// let config = net::tls::server_config(&cert_path, &key_path, net::tls::ALPN_HTTP11)?;
/// assert_eq!(config.alpn_protocols, [b"http/1.1".to_vec()]);
/// let params = ServerParams::builder().tls(config).build()?;
/// let mut server = TcpServer::serve("127.0.0.1:0", Hello, params)?;
/// server.shutdown(Duration::from_secs(1))?;
///
/// // A protocol without ALPN: none offered.
/// let config = net::tls::server_config(&cert_path, &key_path, &[])?;
/// assert!(config.alpn_protocols.is_empty());
///
/// // A missing file is an error naming it, and the parameter it was given for.
/// let err = net::tls::server_config(&dir.join("missing.pem"), &key_path, &[]).unwrap_err();
/// assert!(err.is_invalid_param());
/// assert!(err.to_string().contains("missing.pem"), "{err}");
/// assert_eq!(err.invalid_param_name(), Some(net::tls::TLS_CERT));
/// let err = net::tls::server_config(&cert_path, &dir.join("missing.pem"), &[]).unwrap_err();
/// assert_eq!(err.invalid_param_name(), Some(net::tls::TLS_KEY));
/// std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn server_config(
    cert_chain_pem: &Path,
    key_pem: &Path,
    alpn: &[&[u8]],
) -> Result<Arc<ServerConfig>> {
    check_alpn(alpn)?;
    let certs = load_certs(cert_chain_pem)?;
    let key = load_key(key_pem)?;
    configure(certs, key, alpn, |e| {
        Error::invalid_param(
            refused_param(&e),
            format_args!(
                "the key in {} cannot serve the certificate chain in {}: {e}",
                key_pem.display(),
                cert_chain_pem.display()
            ),
        )
    })
}

/// [`server_config`] from a certificate chain and a private key in memory (DER), such as
/// a certificate made at run time: the same defaults, session resumption and ALPN.
///
/// Errors (kind [`InvalidParam`](crate::ErrorKind::InvalidParam)): a key that does not
/// match the certificate or that rustls cannot use ([`TLS_KEY`]), an empty chain or a
/// certificate rustls cannot parse ([`TLS_CERT`]), a bad ALPN protocol (`tls`), as
/// [`invalid_param_name`](Error::invalid_param_name) says.
///
/// ```
/// use net::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
///
/// let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
/// let chain = vec![CertificateDer::from(made.cert.der().to_vec())];
/// let key = PrivateKeyDer::from(PrivatePkcs8KeyDer::from(made.key_pair.serialize_der()));
/// let config = net::tls::server_config_from_der(chain, key, &[])?;
/// assert!(config.alpn_protocols.is_empty());
///
/// // Another key than the certificate's is refused.
/// let other = rcgen::KeyPair::generate()?;
/// let chain = vec![CertificateDer::from(made.cert.der().to_vec())];
/// let key = PrivateKeyDer::from(PrivatePkcs8KeyDer::from(other.serialize_der()));
/// let err = net::tls::server_config_from_der(chain, key, &[]).unwrap_err();
/// assert!(err.is_invalid_param(), "{err}");
/// assert_eq!(err.invalid_param_name(), Some(net::tls::TLS_KEY));
///
/// // Bytes that are no certificate.
/// let chain = vec![CertificateDer::from(b"not a certificate".to_vec())];
/// let key = PrivateKeyDer::from(PrivatePkcs8KeyDer::from(made.key_pair.serialize_der()));
/// let err = net::tls::server_config_from_der(chain, key, &[]).unwrap_err();
/// assert_eq!(err.invalid_param_name(), Some(net::tls::TLS_CERT), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn server_config_from_der(
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    alpn: &[&[u8]],
) -> Result<Arc<ServerConfig>> {
    check_alpn(alpn)?;
    if cert_chain.is_empty() {
        return Err(Error::invalid_param(
            TLS_CERT,
            "the certificate chain is empty",
        ));
    }
    configure(cert_chain, key, alpn, |e| {
        Error::invalid_param(
            refused_param(&e),
            format_args!("the key cannot serve the certificate chain: {e}"),
        )
    })
}

/// The parameter at fault when rustls refuses a chain and a key together: the chain when
/// its certificate cannot be parsed, the key otherwise (it does not match the certificate,
/// or rustls cannot use it).
fn refused_param(e: &rustls::Error) -> &'static str {
    match e {
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => TLS_CERT,
        _ => TLS_KEY,
    }
}

/// Every ALPN protocol identifier has 1 to 255 bytes (RFC 7301 §3.1).
fn check_alpn(alpn: &[&[u8]]) -> Result<()> {
    match alpn.iter().find(|p| p.is_empty() || p.len() > 255) {
        None => Ok(()),
        Some(bad) => Err(bad_tls(format_args!(
            "an ALPN protocol has 1 to 255 bytes, not {} ({:?})",
            bad.len(),
            String::from_utf8_lossy(&bad[..bad.len().min(32)])
        ))),
    }
}

/// The configuration of [`server_config`] for a loaded chain and key; `mismatch` describes
/// a key rustls refuses for the chain.
fn configure(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    alpn: &[&[u8]],
    mismatch: impl FnOnce(rustls::Error) -> Error,
) -> Result<Arc<ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad_tls(format_args!("rustls refused its protocol versions: {e}")))?
        .with_no_client_auth();
    let mut config = builder.with_single_cert(certs, key).map_err(mismatch)?;
    config.ticketer = rustls::crypto::ring::Ticketer::new()
        .map_err(|e| bad_tls(format_args!("cannot make a session ticketer: {e}")))?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// An invalid-parameter error about `tls` as a whole (not one of its files).
fn bad_tls(why: impl fmt::Display) -> Error {
    Error::invalid_param("tls", why)
}

/// A PEM failure reading `path`, given as `param`: an I/O error is the source, any other
/// is described.
fn pem_error(param: &str, what: &str, path: &Path, err: rustls::pki_types::pem::Error) -> Error {
    use rustls::pki_types::pem::Error as Pem;
    let source = match err {
        Pem::Io(io) => io,
        Pem::NoItemsFound => {
            return Error::invalid_param(
                param,
                format_args!("no {what} found in {}", path.display()),
            );
        }
        other => io::Error::new(io::ErrorKind::InvalidData, other),
    };
    Error::invalid_param_from(
        param,
        format_args!("cannot read the {what} from {}", path.display()),
        source,
    )
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let error = |e| pem_error(TLS_CERT, "certificate chain", path, e);
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(error)?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(error)?;
    if certs.is_empty() {
        return Err(Error::invalid_param(
            TLS_CERT,
            format_args!(
                "no certificate found in {} (a PEM `CERTIFICATE` section is expected)",
                path.display()
            ),
        ));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| pem_error(TLS_KEY, "private key", path, e))
}

// ----- the connection side (crate-private) --------------------------------------------

/// How long the last words of a connection (an alert, `close_notify`) may wait for the
/// socket: a peer that does not read them is not waited for longer.
const LAST_WORDS: Duration = Duration::from_secs(1);

/// The timeouts last applied to the TCP socket with `SO_RCVTIMEO`/`SO_SNDTIMEO` (the
/// connection's cache, so that an unchanged timeout costs no system call).
pub(crate) struct Timeouts<'a> {
    pub rcv: &'a mut Option<Duration>,
    pub snd: &'a mut Option<Duration>,
}

impl Timeouts<'_> {
    fn rcv(&mut self, tcp: &TcpStream, d: Duration) -> io::Result<()> {
        if *self.rcv != Some(d) {
            tcp.set_read_timeout(Some(d))?;
            *self.rcv = Some(d);
        }
        Ok(())
    }
    fn snd(&mut self, tcp: &TcpStream, d: Duration) -> io::Result<()> {
        if *self.snd != Some(d) {
            tcp.set_write_timeout(Some(d))?;
            *self.snd = Some(d);
        }
        Ok(())
    }
}

/// A TLS session over a blocking TCP socket (shared with the server, which shuts it down
/// from another thread at shutdown).
pub(crate) struct TlsSocket {
    pub(crate) tcp: Arc<TcpStream>,
    tls: rustls::ServerConnection,
    /// A fatal TLS error happened (its alert, if any, was sent): no `close_notify`.
    failed: bool,
    /// Non-blocking mode: a byte of the handshake arrived.
    received: bool,
    /// Non-blocking mode: the last read took bytes from the socket that made no
    /// plaintext (a record not complete yet, or one with no data): the peer has begun
    /// sending something.
    pub(crate) records_pending: bool,
    /// Non-blocking mode: records rustls produced that the socket did not take yet, in
    /// order. rustls' own outgoing buffer is drained into it whenever the socket is full,
    /// so the bytes still to send are always counted here (and freed once sent).
    out: Vec<u8>,
}

/// Records rustls' non-blocking paths may hold unsent while the peer does not read, beyond
/// those of one response (rustls' own limit, 64 KiB): what a peer that keeps asking for
/// answers (key updates, refused renegotiations) without reading can make the server keep.
/// Past it the connection is closed.
const MAX_UNSOLICITED_OUTPUT: usize = 256 * 1024;

fn timed_out(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what)
}

/// What is left until `deadline`; a passed deadline is `TimedOut` (`what`).
fn left(deadline: Instant, what: &'static str) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(timed_out(what))
    } else {
        Ok(left)
    }
}

impl TlsSocket {
    pub(crate) fn new(tcp: Arc<TcpStream>, config: &Arc<ServerConfig>) -> io::Result<Self> {
        let tls = rustls::ServerConnection::new(Arc::clone(config)).map_err(io::Error::other)?;
        Ok(TlsSocket {
            tcp,
            tls,
            failed: false,
            received: false,
            records_pending: false,
            out: Vec::new(),
        })
    }

    // ----- non-blocking mode (an evented server's loop and workers) -----

    /// One non-blocking turn of the handshake: send what rustls has queued, read what the
    /// socket has, process it, until the handshake completes or the socket would block.
    /// An error for a TLS error (`InvalidData`, after rustls' alert is sent, best effort)
    /// or a peer that closed midway (`UnexpectedEof`).
    pub(crate) fn handshake_step(&mut self) -> io::Result<HandshakeStep> {
        loop {
            if !self.flush_out()? {
                return Ok(HandshakeStep::WantWrite);
            }
            if !self.tls.is_handshaking() {
                return Ok(HandshakeStep::Done);
            }
            match self.tls.read_tls(&mut &*self.tcp) {
                Ok(0) if !self.received => return Ok(HandshakeStep::Closed),
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the peer closed the connection during the TLS handshake",
                    ))
                }
                Ok(_) => self.received = true,
                // Reset before a byte came (a balancer's health check, say): closed.
                Err(e) if !self.received && e.kind() == io::ErrorKind::ConnectionReset => {
                    return Ok(HandshakeStep::Closed)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok(HandshakeStep::WantRead)
                }
                Err(e) => return Err(e),
            }
            self.process_nonblocking()?;
        }
    }

    /// One non-blocking read of records from the socket, processed. `Ok(true)`: the socket
    /// said end of input. `WouldBlock` when it had nothing. Records rustls answers with
    /// (session tickets, a key update) are sent without waiting, or kept in `out`.
    pub(crate) fn receive_nonblocking(&mut self) -> io::Result<bool> {
        let eof = loop {
            match self.tls.read_tls(&mut &*self.tcp) {
                Ok(0) => break true,
                Ok(_) => {
                    self.records_pending = true;
                    break false;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        self.process_nonblocking()?;
        self.flush_out()?;
        if self.out.len() > MAX_UNSOLICITED_OUTPUT {
            self.failed = true;
            return Err(io::Error::other(
                "the TLS peer does not read what it asks the server to send",
            ));
        }
        Ok(eof)
    }

    /// Plaintext rustls holds: `Ok(0)` when the peer closed (with `close_notify` or
    /// without) and nothing is left; `WouldBlock` when none is there now.
    pub(crate) fn plaintext(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.tls.reader().read(buf) {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
            other => other,
        }
    }

    /// Read plaintext into `buf`, waiting for the socket in `wait` up to `timeout` from
    /// now. 0: the peer closed.
    pub(crate) fn read_waiting(
        &mut self,
        buf: &mut [u8],
        timeout: Duration,
        wait: WaitFn,
    ) -> io::Result<usize> {
        const LATE: &str = "read timed out";
        let deadline = Instant::now() + timeout;
        loop {
            match self.plaintext(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            match self.receive_nonblocking() {
                Ok(true) => return self.plaintext(buf).or(Ok(0)),
                Ok(false) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !wait(&self.tcp, Interest::Read, left(deadline, LATE)?)? {
                        return Err(timed_out(LATE));
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Encrypt what rustls takes of `buf` and send what the socket takes, without waiting.
    /// Returns how much of `buf` rustls took; what the socket did not take is kept in
    /// `out` (at most rustls' outgoing limit, 64 KiB, plus what was there), and no more
    /// plaintext is taken while some is.
    pub(crate) fn send_nonblocking(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut done = 0;
        loop {
            if !self.flush_out()? || done == buf.len() {
                return Ok(done);
            }
            let n = self.tls.writer().write(&buf[done..])?;
            if n == 0 {
                return Ok(done);
            }
            done += n;
        }
    }

    /// Send `buf[*done..]` (counting in `done` what rustls took) and everything queued,
    /// waiting for the socket in `wait` until `deadline`.
    pub(crate) fn write_waiting(
        &mut self,
        buf: &[u8],
        deadline: Instant,
        done: &mut usize,
        wait: WaitFn,
    ) -> io::Result<()> {
        const LATE: &str = "write timed out";
        loop {
            *done += self.send_nonblocking(&buf[*done..])?;
            if *done == buf.len() && self.out.is_empty() {
                return Ok(());
            }
            if !wait(&self.tcp, Interest::Write, left(deadline, LATE)?)? {
                return Err(timed_out(LATE));
            }
        }
    }

    /// Encrypted bytes waiting for the socket (non-blocking mode).
    pub(crate) fn unsent(&self) -> usize {
        self.out.len() + usize::from(self.tls.wants_write())
    }

    /// Queue `close_notify` (unless a TLS error ended the session, or the handshake never
    /// completed) and send what the socket takes now, never waiting.
    pub(crate) fn close_nonblocking(&mut self) {
        if self.failed || self.tls.is_handshaking() {
            return;
        }
        self.failed = true;
        self.tls.send_close_notify();
        let _ = self.flush_out();
    }

    /// Send `out`, then rustls' queued records, without waiting: `Ok(true)` once all is
    /// sent; `Ok(false)` when the socket is full (what rustls held is then moved to
    /// `out`, so rustls' own buffer is empty and `out` counts everything unsent).
    fn flush_out(&mut self) -> io::Result<bool> {
        loop {
            if !self.out.is_empty() {
                match (&*self.tcp).write(&self.out) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => {
                        self.out.drain(..n);
                        if self.out.is_empty() {
                            // Held only while the peer was slow.
                            self.out = Vec::new();
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                    Err(e) => return Err(e),
                }
                continue;
            }
            if !self.tls.wants_write() {
                return Ok(true);
            }
            match self.tls.write_tls(&mut &*self.tcp) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    while self.tls.wants_write() {
                        self.tls.write_tls(&mut self.out)?;
                    }
                    return Ok(false);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Process received records without waiting; on a TLS error send the alert rustls
    /// queued (best effort, never waiting) and fail with `InvalidData`.
    fn process_nonblocking(&mut self) -> io::Result<()> {
        match self.tls.process_new_packets() {
            Ok(_) => Ok(()),
            Err(e) => {
                self.failed = true;
                let _ = self.flush_out();
                Err(io::Error::new(io::ErrorKind::InvalidData, e))
            }
        }
    }

    /// Run the handshake to its end by `deadline`. `Ok(false)`: the peer closed before
    /// sending a byte. An error for a stall (`TimedOut`), a TLS error (`InvalidData`,
    /// after its alert is sent) or a peer that closed midway (`UnexpectedEof`).
    pub(crate) fn handshake(&mut self, deadline: Instant, mut t: Timeouts<'_>) -> io::Result<bool> {
        const LATE: &str = "TLS handshake not complete within the read timeout";
        let mut received = false;
        loop {
            self.send_pending(deadline, &mut t, LATE)?;
            if !self.tls.is_handshaking() {
                return Ok(true);
            }
            t.rcv(&self.tcp, left(deadline, LATE)?)?;
            match self.tls.read_tls(&mut &*self.tcp) {
                Ok(0) if !received => return Ok(false),
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the peer closed the connection during the TLS handshake",
                    ))
                }
                Ok(_) => received = true,
                Err(e) if !received && e.kind() == io::ErrorKind::ConnectionReset => {
                    return Ok(false)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(timed_out(LATE)),
                Err(e) => return Err(e),
            }
            self.process(&mut t)?;
        }
    }

    /// Whether the completed handshake resumed an earlier session (`None` while it is in
    /// progress). rustls' `FullWithHelloRetryRequest` is a full handshake.
    pub(crate) fn resumed(&self) -> Option<bool> {
        if self.tls.is_handshaking() {
            return None;
        }
        Some(self.tls.handshake_kind() == Some(rustls::HandshakeKind::Resumed))
    }

    /// The ALPN protocol agreed on in the handshake, if any.
    pub(crate) fn alpn_protocol(&self) -> Option<&[u8]> {
        self.tls.alpn_protocol()
    }

    /// Read plaintext into `buf`: what rustls holds already, or records from the socket
    /// until some plaintext arrives, every wait bounded by what is left of `timeout`
    /// (counted from now). 0: the peer closed (with `close_notify` or without).
    pub(crate) fn read(
        &mut self,
        buf: &mut [u8],
        timeout: Duration,
        mut t: Timeouts<'_>,
    ) -> io::Result<usize> {
        const LATE: &str = "read timed out";
        let deadline = Instant::now() + timeout;
        let mut eof = false;
        loop {
            match self.tls.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if eof {
                        return Ok(0);
                    }
                }
                // The peer closed without `close_notify`: an end of input all the same.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            // Output rustls wants sent first (session tickets, an answer to a key update).
            self.send_pending(deadline, &mut t, LATE)?;
            t.rcv(&self.tcp, left(deadline, LATE)?)?;
            match self.tls.read_tls(&mut &*self.tcp) {
                Ok(0) => eof = true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(timed_out(LATE)),
                Err(e) => return Err(e),
            }
            self.process(&mut t)?;
        }
    }

    /// Encrypt and send `buf[*done..]`, counting in `done` the plaintext rustls has taken,
    /// by `deadline` (`first`: the wait of the first send when the deadline was set just
    /// now, so the usual case reuses the socket's timeout setting).
    pub(crate) fn write_all(
        &mut self,
        buf: &[u8],
        deadline: Instant,
        first: Option<Duration>,
        done: &mut usize,
        mut t: Timeouts<'_>,
    ) -> io::Result<()> {
        const LATE: &str = "write timed out";
        let mut wait = match first {
            Some(d) => d,
            None => left(deadline, LATE)?,
        };
        loop {
            // rustls takes plaintext until its outgoing buffer is at its limit (64 KiB).
            while *done < buf.len() {
                let n = self.tls.writer().write(&buf[*done..])?;
                if n == 0 {
                    break;
                }
                *done += n;
            }
            if !self.tls.wants_write() {
                return if *done == buf.len() {
                    Ok(())
                } else {
                    Err(io::ErrorKind::WriteZero.into())
                };
            }
            t.snd(&self.tcp, wait)?;
            match self.tls.write_tls(&mut &*self.tcp) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(timed_out(LATE)),
                Err(e) => return Err(e),
            }
            if self.tls.wants_write() || *done < buf.len() {
                wait = left(deadline, LATE)?;
            }
        }
    }

    /// Send `close_notify` (unless a TLS error ended the session, or the handshake never
    /// completed), waiting at most [`LAST_WORDS`] for the socket. Best effort: errors are
    /// ignored.
    pub(crate) fn close(&mut self, t: Timeouts<'_>) {
        if self.failed || self.tls.is_handshaking() {
            return;
        }
        self.failed = true;
        self.tls.send_close_notify();
        let mut t = t;
        let _ = self.send_pending(
            Instant::now() + LAST_WORDS,
            &mut t,
            "close_notify not sent in time",
        );
    }

    /// Send what rustls has queued, by `deadline`.
    fn send_pending(
        &mut self,
        deadline: Instant,
        t: &mut Timeouts<'_>,
        late: &'static str,
    ) -> io::Result<()> {
        while self.tls.wants_write() {
            t.snd(&self.tcp, left(deadline, late)?)?;
            match self.tls.write_tls(&mut &*self.tcp) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(timed_out(late)),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Process received records; on a TLS error send the alert rustls queued (best
    /// effort, within [`LAST_WORDS`]) and fail with `InvalidData`.
    fn process(&mut self, t: &mut Timeouts<'_>) -> io::Result<()> {
        match self.tls.process_new_packets() {
            Ok(_) => Ok(()),
            Err(e) => {
                self.failed = true;
                let _ = self.send_pending(Instant::now() + LAST_WORDS, t, "alert not sent");
                Err(io::Error::new(io::ErrorKind::InvalidData, e))
            }
        }
    }
}
