//! The transport under a [`Connection`](super::Connection): the socket (plain, shared
//! with the server, or TLS), whether it blocks, and reads and writes bounded by a
//! timeout or a deadline.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::readiness::{Interest, WaitFn};

/// The socket, owned or shared with the server (which keeps a handle to wake a thread
/// blocked on it at shutdown without a second descriptor), or a TLS session over a shared
/// one (blocking for `net`, non-blocking for an evented server's loops and workers).
pub(super) enum Socket {
    Owned(TcpStream),
    Shared(Arc<TcpStream>),
    #[cfg(feature = "tls")]
    Tls(Box<crate::tls::TlsSocket>),
}

impl Socket {
    pub(super) fn get(&self) -> &TcpStream {
        match self {
            Socket::Owned(s) => s,
            Socket::Shared(s) => s,
            #[cfg(feature = "tls")]
            Socket::Tls(t) => &t.tcp,
        }
    }
}

/// Whether the socket blocks, and how a read or write that cannot go on waits.
#[derive(Clone, Copy)]
pub(super) enum Mode {
    /// A blocking socket; the timeouts currently applied with `SO_RCVTIMEO`/`SO_SNDTIMEO`.
    Blocking {
        rcv: Option<Duration>,
        snd: Option<Duration>,
    },
    /// A non-blocking socket; would-block waits go through the server's wait function.
    NonBlocking(WaitFn),
}

/// The timeout caches of a blocking mode, for the TLS layer's blocking paths (the
/// non-blocking mode has paths of its own and never asks).
#[cfg(feature = "tls")]
pub(super) fn tls_timeouts(mode: &mut Mode) -> io::Result<crate::tls::Timeouts<'_>> {
    match mode {
        Mode::Blocking { rcv, snd } => Ok(crate::tls::Timeouts { rcv, snd }),
        Mode::NonBlocking(_) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "a blocking TLS path used on a non-blocking socket",
        )),
    }
}

/// A `TimedOut` error saying `what` timed out.
pub(super) fn timed_out(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what)
}

/// Read into `buf`, waiting at most `timeout` (as the mode waits: `SO_RCVTIMEO` on a
/// blocking socket, the wait function on a non-blocking one). 0: the peer closed.
pub(super) fn read_timed(
    stream: &mut Socket,
    mode: &mut Mode,
    timeout: Duration,
    buf: &mut [u8],
) -> io::Result<usize> {
    #[cfg(feature = "tls")]
    if let Socket::Tls(tls) = stream {
        return match mode {
            Mode::NonBlocking(wait) => tls.read_waiting(buf, timeout, *wait),
            Mode::Blocking { .. } => tls.read(buf, timeout, tls_timeouts(mode)?),
        };
    }
    let mut stream = stream.get();
    if let Mode::Blocking { rcv, .. } = mode {
        if *rcv != Some(timeout) {
            stream.set_read_timeout(Some(timeout))?;
            *rcv = Some(timeout);
        }
    }
    loop {
        match stream.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => match mode {
                Mode::Blocking { .. } => return Err(timed_out("read timed out")),
                Mode::NonBlocking(wait) => {
                    if !wait(stream, Interest::Read, timeout)? {
                        return Err(timed_out("read timed out"));
                    }
                }
            },
            Err(e) => return Err(e),
        }
    }
}

/// Write all of `buf`, counting progress in `done` (so a failure keeps the unsent rest),
/// by `deadline.0`. `deadline.1` is the full timeout when the deadline was set just now
/// (so the usual case reuses the socket's timeout setting without a system call).
pub(super) fn write_timed(
    stream: &mut Socket,
    mode: &mut Mode,
    deadline: (Instant, Option<Duration>),
    buf: &[u8],
    done: &mut usize,
) -> io::Result<()> {
    let (deadline, fresh) = deadline;
    #[cfg(feature = "tls")]
    if let Socket::Tls(tls) = stream {
        return match mode {
            Mode::NonBlocking(wait) => tls.write_waiting(buf, deadline, done, *wait),
            Mode::Blocking { .. } if *done == buf.len() => Ok(()),
            Mode::Blocking { .. } => tls.write_all(buf, deadline, fresh, done, tls_timeouts(mode)?),
        };
    }
    let mut stream = stream.get();
    // One deadline for the whole request: a peer that takes a few bytes now and then
    // cannot stretch the wait beyond the write timeout.
    let mut remaining = match fresh {
        Some(timeout) => timeout,
        None => deadline.saturating_duration_since(Instant::now()),
    };
    if remaining.is_zero() && *done < buf.len() {
        return Err(timed_out("write timed out"));
    }
    while *done < buf.len() {
        if let Mode::Blocking { snd, .. } = mode {
            if *snd != Some(remaining) {
                stream.set_write_timeout(Some(remaining))?;
                *snd = Some(remaining);
            }
        }
        match stream.write(&buf[*done..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => *done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => match mode {
                Mode::Blocking { .. } => return Err(timed_out("write timed out")),
                Mode::NonBlocking(wait) => {
                    if !wait(stream, Interest::Write, remaining)? {
                        return Err(timed_out("write timed out"));
                    }
                }
            },
            Err(e) => return Err(e),
        }
        if *done < buf.len() {
            remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(timed_out("write timed out"));
            }
        }
    }
    Ok(())
}
