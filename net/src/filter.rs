//! Accepting or rejecting connections by peer address.

use std::net::SocketAddr;

/// Decides, before a connection is counted, whether to serve it.
///
/// A rejected connection is closed at once and appears in no statistic. Closures
/// `Fn(&SocketAddr) -> bool` implement it.
///
/// ```
/// let loopback_only = |peer: &std::net::SocketAddr| peer.ip().is_loopback();
/// let params = net::ServerParams::builder().filter(loopback_only).build()?;
/// assert!(params.accepts(&"127.0.0.1:5000".parse().unwrap()));
/// assert!(!params.accepts(&"192.0.2.1:5000".parse().unwrap()));
/// # Ok::<(), net::Error>(())
/// ```
pub trait ConnectionFilter: Send + Sync + 'static {
    /// True to serve a connection from `peer`, false to close it unseen.
    fn accept(&self, peer: &SocketAddr) -> bool;
}

impl<F> ConnectionFilter for F
where
    F: Fn(&SocketAddr) -> bool + Send + Sync + 'static,
{
    fn accept(&self, peer: &SocketAddr) -> bool {
        self(peer)
    }
}

/// A filter that rejects every connection (useful in tests and maintenance modes).
#[derive(Debug, Clone, Copy, Default)]
pub struct RejectAll;

impl ConnectionFilter for RejectAll {
    fn accept(&self, _peer: &SocketAddr) -> bool {
        false
    }
}
