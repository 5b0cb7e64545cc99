//! The listening sockets a running server can hand to another process
//! ([`ServerHandle::listeners`](crate::ServerHandle::listeners)).
//!
//! A server keeps a duplicate descriptor of each distinct listening socket it accepts on,
//! so that a handle can give out more duplicates while the server runs. It lets go of
//! them as soon as shutdown begins: a listening socket nobody accepts on would hold
//! newcomers in its backlog (and, in an `SO_REUSEPORT` group, keep receiving its share of
//! them) until the process exits.

use std::io;
use std::net::TcpListener;
use std::sync::{Mutex, MutexGuard};

/// Duplicates of a server's listening sockets, released when the server stops accepting.
#[derive(Debug)]
pub struct Listening {
    held: Mutex<Option<Vec<TcpListener>>>,
}

impl Listening {
    /// Hold a duplicate of each of `sockets` (each a distinct listening socket).
    pub fn new<'a>(sockets: impl IntoIterator<Item = &'a TcpListener>) -> io::Result<Self> {
        let held = sockets
            .into_iter()
            .map(TcpListener::try_clone)
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Listening {
            held: Mutex::new(Some(held)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Option<Vec<TcpListener>>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// New duplicates of the listening sockets, in the order given to [`Listening::new`];
    /// an error of kind `NotConnected` once [`release`](Listening::release) was called.
    pub fn duplicates(&self) -> io::Result<Vec<TcpListener>> {
        match &*self.lock() {
            Some(held) => held.iter().map(TcpListener::try_clone).collect(),
            None => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the server has stopped accepting: it has no listening socket to give",
            )),
        }
    }

    /// Close the held duplicates (the server is stopping). Idempotent.
    pub fn release(&self) {
        self.lock().take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn duplicates_are_new_descriptors_of_the_same_sockets() {
        let a = TcpListener::bind("127.0.0.1:0").unwrap();
        let b = TcpListener::bind("127.0.0.1:0").unwrap();
        let listening = Listening::new([&a, &b]).unwrap();
        let dups = listening.duplicates().unwrap();
        assert_eq!(dups.len(), 2);
        assert_eq!(dups[0].local_addr().unwrap(), a.local_addr().unwrap());
        assert_eq!(dups[1].local_addr().unwrap(), b.local_addr().unwrap());
        assert_ne!(dups[0].as_raw_fd(), a.as_raw_fd());
    }

    #[test]
    fn released_sockets_are_closed_and_no_longer_given() {
        let a = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = a.local_addr().unwrap();
        let listening = Listening::new([&a]).unwrap();
        drop(a);
        // The held duplicate still listens.
        assert!(std::net::TcpStream::connect(addr).is_ok());
        listening.release();
        listening.release();
        let err = listening.duplicates().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotConnected);
        // Nothing listens any more.
        assert!(std::net::TcpStream::connect(addr).is_err());
    }
}
