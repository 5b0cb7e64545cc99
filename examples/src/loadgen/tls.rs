//! TLS for the measured connections: a rustls client over a non-blocking mio socket.

use std::fmt;
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::client::Resumption;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, HandshakeKind, RootCertStore};

/// How the load generator speaks TLS: whom it trusts, the name it asks for, and whether
/// it resumes sessions.
///
/// ```no_run
/// use examples::loadgen::TlsClient;
/// let tls = TlsClient::from_ca_file("ca.pem".as_ref(), "localhost", true)?;
/// assert!(tls.resumes());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct TlsClient {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    resume: bool,
}

impl TlsClient {
    /// Trust the certificates in the PEM file `ca`, ask for `server_name` (SNI, and the
    /// name the server's certificate must carry), offer ALPN `http/1.1`, and resume
    /// sessions (tickets or session ids, kept in memory) if `resume`.
    ///
    /// Fails, naming the file or the name, if the file cannot be read, holds no
    /// certificate, or the name is not a valid DNS name or IP address.
    pub fn from_ca_file(ca: &Path, server_name: &str, resume: bool) -> io::Result<TlsClient> {
        let mut roots = RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(ca)
            .map_err(|e| invalid(format!("cannot read {}: {e}", ca.display())))?;
        for cert in certs {
            let cert = cert.map_err(|e| invalid(format!("{}: {e}", ca.display())))?;
            roots
                .add(cert)
                .map_err(|e| invalid(format!("{}: {e}", ca.display())))?;
        }
        if roots.is_empty() {
            return Err(invalid(format!("{} holds no certificate", ca.display())));
        }
        let config = client_config(roots, resume)?;
        let name = server_name_of(server_name)?;
        Ok(TlsClient {
            config: Arc::new(config),
            name,
            resume,
        })
    }

    /// Whether sessions are resumed.
    pub fn resumes(&self) -> bool {
        self.resume
    }

    /// A TLS session over `tcp` (connected or connecting).
    pub(crate) fn connect(&self, tcp: TcpStream) -> io::Result<Stream> {
        let conn = ClientConnection::new(Arc::clone(&self.config), self.name.clone())
            .map_err(io::Error::other)?;
        Ok(Stream::Tls(Box::new(TlsStream {
            tcp,
            conn,
            kind_seen: false,
        })))
    }
}

/// The bytes of one TLS ClientHello that a rustls client (ring, the default TLS
/// versions, ALPN `http/1.1`, no resumption) sends first to `server_name`, written
/// into a buffer instead of a socket: what the hello flood sends on each connection
/// without doing any cryptography itself. It trusts no certificate: it never gets
/// further than its hello.
///
/// Fails if `server_name` is not a valid DNS name or IP address.
///
/// ```
/// let hello = examples::loadgen::client_hello("localhost")?;
/// // A handshake record (22) carrying a ClientHello (1).
/// assert_eq!((hello[0], hello[5]), (22, 1));
/// assert!(hello.windows(9).any(|w| w == b"localhost"));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn client_hello(server_name: &str) -> io::Result<Vec<u8>> {
    let name = server_name_of(server_name)?;
    let config = client_config(RootCertStore::empty(), false)?;
    let mut conn = ClientConnection::new(Arc::new(config), name).map_err(io::Error::other)?;
    let mut hello = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut hello)?;
    }
    Ok(hello)
}

/// The client configuration every TLS connection of a run uses: ring, the safe protocol
/// versions, `roots` to trust, ALPN `http/1.1`, and session resumption if `resume`.
fn client_config(roots: RootCertStore, resume: bool) -> io::Result<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(format!("TLS versions: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.resumption = if resume {
        Resumption::default()
    } else {
        Resumption::disabled()
    };
    Ok(config)
}

/// `server_name` as the name to verify the server's certificate against.
fn server_name_of(server_name: &str) -> io::Result<ServerName<'static>> {
    ServerName::try_from(server_name.to_owned())
        .map_err(|e| invalid(format!("server name {server_name:?}: {e}")))
}

/// An `InvalidInput` error saying `what`.
fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what)
}

impl fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsClient")
            .field("server_name", &self.name)
            .field("resume", &self.resume)
            .finish_non_exhaustive()
    }
}

/// A measured connection's transport: plain TCP, or TLS over it.
#[derive(Debug)]
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

/// A rustls client session and its socket.
#[derive(Debug)]
pub(crate) struct TlsStream {
    tcp: TcpStream,
    conn: ClientConnection,
    /// The handshake's kind has been reported.
    kind_seen: bool,
}

impl Stream {
    /// The socket.
    pub(crate) fn tcp(&mut self) -> &mut TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(t) => &mut t.tcp,
        }
    }

    /// Read plaintext; `Ok(0)` at the end of the stream (for TLS, also when the peer
    /// closed without `close_notify`: the load generator treats both as a close).
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let t = match self {
            Stream::Plain(s) => return s.read(buf),
            Stream::Tls(t) => t,
        };
        loop {
            match t.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            match t.conn.read_tls(&mut t.tcp) {
                Ok(0) => return Ok(0),
                Ok(_) => {
                    if let Err(e) = t.conn.process_new_packets() {
                        // Send the alert rustls queued, then fail.
                        let _ = t.send_pending();
                        return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                    }
                    t.send_pending()?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Write plaintext (encrypted and sent as the socket takes it).
    pub(crate) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let t = match self {
            Stream::Plain(s) => return s.write(buf),
            Stream::Tls(t) => t,
        };
        let mut n = t.conn.writer().write(buf)?;
        t.send_pending()?;
        if n == 0 && !buf.is_empty() && !t.conn.wants_write() {
            // rustls' buffer was full and the socket took all of it: try again.
            n = t.conn.writer().write(buf)?;
            t.send_pending()?;
        }
        if n == 0 && !buf.is_empty() {
            // rustls' buffer is full until the socket takes more (a writable event
            // comes), or until the handshake completes (a readable one).
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    /// Send what TLS has queued (handshake messages, records), as far as the socket
    /// takes it.
    pub(crate) fn send_pending(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(_) => Ok(()),
            Stream::Tls(t) => t.send_pending(),
        }
    }

    /// The kind of the TLS handshake, once, when it has completed.
    pub(crate) fn take_handshake_kind(&mut self) -> Option<HandshakeKind> {
        match self {
            Stream::Tls(t) if !t.kind_seen && !t.conn.is_handshaking() => {
                t.kind_seen = true;
                t.conn.handshake_kind()
            }
            _ => None,
        }
    }
}

impl TlsStream {
    fn send_pending(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.tcp) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
