//! The buffers of a [`Connection`](super::Connection): room in the read buffer, the
//! plaintext TLS leaves behind, and sending the write buffer (all of it, or what the
//! socket takes now).

use std::io::{self, Write};

#[cfg(feature = "tls")]
use super::transport::Socket;
use super::transport::{read_timed, write_timed, Mode};
use super::Connection;
use crate::stats::TimeoutKind;

impl Connection {
    /// Make sure there is spare room after `rend`: allocate, compact, or grow.
    pub(super) fn make_room(&mut self) {
        if self.rbuf.is_empty() {
            self.rbuf.resize(self.read_buffer_size, 0);
        }
        if self.rpos == self.rend {
            self.rpos = 0;
            self.rend = 0;
        }
        if self.rend == self.rbuf.len() {
            if self.rpos > 0 {
                self.rbuf.copy_within(self.rpos..self.rend, 0);
                self.rend -= self.rpos;
                self.rpos = 0;
            } else {
                let len = self.rbuf.len() * 2;
                self.rbuf.resize(len, 0);
            }
        }
    }

    /// Non-blocking TLS: move the plaintext rustls holds into the read buffer (growing it
    /// as needed), so that bytes received are never left where no socket readiness would
    /// announce them. Returns how many bytes came, and whether the peer closed.
    #[cfg(feature = "tls")]
    pub(super) fn absorb_plaintext(&mut self) -> io::Result<(usize, bool)> {
        let mut total = 0;
        loop {
            self.make_room();
            let Connection {
                stream, rbuf, rend, ..
            } = self;
            let Socket::Tls(tls) = stream else {
                return Ok((total, false));
            };
            match tls.plaintext(&mut rbuf[*rend..]) {
                Ok(0) => return Ok((total, true)),
                Ok(n) => {
                    *rend += n;
                    total += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok((total, false)),
                Err(e) => return Err(e),
            }
        }
    }

    /// After a read on a non-blocking TLS connection: what rustls still holds goes to the
    /// read buffer too.
    pub(super) fn absorb_after_read(&mut self) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if matches!(self.mode, Mode::NonBlocking(_)) && self.is_tls() {
            self.absorb_plaintext()?;
        }
        Ok(())
    }

    /// Read into the spare part of the read buffer, waiting as the mode says.
    pub(super) fn read_socket_into_spare(&mut self) -> io::Result<usize> {
        let rend = self.rend;
        let result = self.read_wait().and_then(|timeout| {
            let Connection {
                stream, rbuf, mode, ..
            } = self;
            read_timed(stream, mode, timeout, &mut rbuf[rend..])
        });
        self.noting(TimeoutKind::Read, result)
    }

    /// Send everything buffered, waiting up to the response's write deadline.
    pub(super) fn write_out(&mut self) -> io::Result<()> {
        let result = self.write_out_timed();
        self.noting(TimeoutKind::Write, result)
    }

    /// [`write_out`](Connection::write_out) without noting an expired deadline.
    fn write_out_timed(&mut self) -> io::Result<()> {
        let mut done = 0;
        let (deadline, fresh) = self.write_deadline();
        let timeout = self.write_timeout;
        let result = write_timed(
            &mut self.stream,
            &mut self.mode,
            (deadline, fresh.then_some(timeout)),
            &self.wbuf,
            &mut done,
        );
        self.wbuf.drain(..done);
        result
    }

    /// Write what the socket takes now (a non-blocking socket never waits here; a
    /// blocking one sends everything, as `write_out`). Starts the response's write
    /// deadline if this is its first write.
    pub(super) fn send_available(&mut self) -> io::Result<()> {
        if self.pending_output() == 0 {
            return Ok(());
        }
        if matches!(self.mode, Mode::Blocking { .. }) {
            return self.write_out();
        }
        self.write_deadline();
        #[cfg(feature = "tls")]
        if let Socket::Tls(tls) = &mut self.stream {
            let taken = tls.send_nonblocking(&self.wbuf);
            if let Ok(n) = taken {
                self.wbuf.drain(..n);
            }
            return self.noting(TimeoutKind::Write, taken.map(drop));
        }
        let mut done = 0;
        let result = loop {
            if done == self.wbuf.len() {
                break Ok(());
            }
            match self.stream.get().write(&self.wbuf[done..]) {
                Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        self.wbuf.drain(..done);
        self.noting(TimeoutKind::Write, result)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{self, Read, Write};
    use std::net::TcpStream;
    use std::sync::Arc;
    use std::time::Duration;

    use super::super::testing::sockets;
    use crate::connection::{Connection, ServerConnection};
    use crate::params::ServerParams;
    use crate::readiness::Interest;

    /// A client and a non-blocking server connection whose waits always time out at once.
    fn nonblocking_pair(max_output: usize) -> (TcpStream, Connection) {
        fn no_wait(_: &TcpStream, _: Interest, _: Duration) -> io::Result<bool> {
            Ok(false)
        }
        let params = ServerParams::builder()
            .max_output_buffer(max_output)
            .build()
            .unwrap();
        let (client, socket) = sockets();
        let (peer, local) = (socket.peer_addr().unwrap(), socket.local_addr().unwrap());
        let socket = Arc::new(socket);
        let conn = Connection::from_accepted(socket, peer, local, &params, Some(no_wait)).unwrap();
        (client, conn)
    }

    #[test]
    fn nonblocking_output_is_buffered_up_to_the_limit_and_never_waits() {
        let (client, mut conn) = nonblocking_pair(64 << 20);
        // 32 MiB to a client that does not read: more than the socket buffers take.
        let chunk = vec![7u8; 1 << 20];
        for _ in 0..32 {
            conn.write_all(&chunk).unwrap();
        }
        conn.flush().unwrap();
        assert!(conn.pending_output() > 0, "the kernel took 32 MiB?");
        assert!(!conn.streamed());
        assert!(conn.output_deadline().is_some());
        assert!(!conn.try_flush().unwrap());
        // The client reads everything; the server side finishes with try_flush.
        let reader = std::thread::spawn(move || {
            let mut n = 0;
            let mut buf = vec![0u8; 1 << 16];
            let mut client = client;
            while n < 32 << 20 {
                match client.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => n += k,
                }
            }
            n
        });
        while !conn.try_flush().unwrap() {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(conn.output_deadline(), None);
        assert_eq!(reader.join().unwrap(), 32 << 20);
    }

    #[test]
    fn nonblocking_output_over_the_limit_streams() {
        let (_client, mut conn) = nonblocking_pair(1024);
        let chunk = vec![7u8; 1 << 20];
        // The socket buffers fill, then a write must wait; this wait function refuses.
        let err = (0..64)
            .try_for_each(|_| conn.write_all(&chunk))
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(conn.streamed());
    }
}
