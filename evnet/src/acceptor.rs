//! A loop's listener: accepting in bounded batches, and what to do when `accept(2)` fails.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};

use net::__private::{classify_accept_error, AcceptFailure};

/// Most connections accepted per readiness of the listener, so a connection flood cannot
/// starve the loop's established connections (the listener is level-triggered: what is
/// left is announced again on the next iteration).
pub(crate) const ACCEPT_BATCH: usize = 256;

/// How a batch of accepts ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Batch {
    /// The backlog is empty (or the listener is closed).
    Drained,
    /// The batch limit was reached; more may be waiting.
    Full,
    /// Out of descriptors or memory: pause the listener for a while, do not spin.
    BackOff,
}

/// A loop's non-blocking `SO_REUSEPORT` listener.
pub(crate) struct Acceptor {
    listener: Option<TcpListener>,
    /// The listener's address when it is a specific one (then every accepted socket has
    /// it as its local address, which saves a `getsockname` per connection).
    local: Option<SocketAddr>,
}

impl Acceptor {
    /// Accept on `listener` (non-blocking).
    pub(crate) fn new(listener: TcpListener) -> Acceptor {
        let local = listener
            .local_addr()
            .ok()
            .filter(|a| !a.ip().is_unspecified());
        Acceptor {
            listener: Some(listener),
            local,
        }
    }

    /// The listener's descriptor, while it is open.
    pub(crate) fn fd(&self) -> Option<RawFd> {
        self.listener.as_ref().map(|l| l.as_raw_fd())
    }

    /// The local address of a socket accepted here.
    pub(crate) fn local_addr_of(&self, stream: &TcpStream) -> io::Result<SocketAddr> {
        match self.local {
            Some(local) => Ok(local),
            None => stream.local_addr(),
        }
    }

    /// Stop accepting for good (closes the listener).
    pub(crate) fn close(&mut self) {
        self.listener = None;
    }

    /// Accept up to a batch of connections, and no more than `limit` (the tokens of the
    /// accept rate), handing each to `each`. `Full` when the batch or `limit` was reached.
    pub(crate) fn accept_batch(
        &mut self,
        limit: usize,
        mut each: impl FnMut(TcpStream, SocketAddr),
    ) -> Batch {
        for _ in 0..ACCEPT_BATCH.min(limit) {
            let Some(listener) = &self.listener else {
                return Batch::Drained;
            };
            match listener.accept() {
                Ok((stream, peer)) => each(stream, peer),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Batch::Drained,
                Err(e) => match classify_accept_error(&e) {
                    AcceptFailure::Retry => {}
                    _ => {
                        net::__log_warn!("accept failed: {e}; pausing this listener");
                        return Batch::BackOff;
                    }
                },
            }
        }
        Batch::Full
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_is_waiting_then_reports_drained() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut acceptor = Acceptor::new(listener);
        let clients: Vec<_> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
        let mut accepted = Vec::new();
        // Connections complete asynchronously on loopback; collect until all three are in.
        while accepted.len() < clients.len() {
            let batch = acceptor.accept_batch(usize::MAX, |s, _| accepted.push(s));
            assert_ne!(batch, Batch::BackOff);
        }
        assert_eq!(acceptor.local_addr_of(&accepted[0]).unwrap(), addr);
        assert_eq!(
            acceptor.accept_batch(usize::MAX, |_, _| panic!("nothing waits")),
            Batch::Drained
        );
        acceptor.close();
        assert_eq!(acceptor.fd(), None);
        assert_eq!(acceptor.accept_batch(usize::MAX, |_, _| ()), Batch::Drained);
    }

    #[test]
    fn a_limit_leaves_the_rest_in_the_backlog() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut acceptor = Acceptor::new(listener);
        let _clients: Vec<_> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
        let mut accepted = Vec::new();
        assert_eq!(
            acceptor.accept_batch(0, |_, _| panic!("no token")),
            Batch::Full
        );
        while accepted.len() < 2 {
            let batch = acceptor.accept_batch(2 - accepted.len(), |s, _| accepted.push(s));
            assert_ne!(batch, Batch::BackOff);
        }
        // The third waits until there is a token for it.
        let mut third = Vec::new();
        while third.is_empty() {
            acceptor.accept_batch(1, |s, _| third.push(s));
        }
        assert_eq!(acceptor.accept_batch(5, |_, _| ()), Batch::Drained);
    }
}
