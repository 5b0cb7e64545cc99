//! Taking the listening sockets passed to this process (`LISTEN_FDS`).

use std::io;
use std::net::TcpListener;

/// The listening TCP sockets passed to this process, in order; empty when none was.
///
/// Follows systemd's socket-activation protocol: `LISTEN_FDS` descriptors starting at 3,
/// for this process only when `LISTEN_PID` is its id. Two extensions let a process that
/// cannot place descriptors at 3 or know its child's id pass them ([`Successor`] does):
/// `LISTEN_FDS_FIRST_FD` moves the first descriptor, and an unset `LISTEN_PID` means
/// "whoever reads this". The variables are removed from the environment (call this early
/// in `main`, before other threads read the environment), so children do not take the
/// descriptors for theirs; each socket is marked close-on-exec.
///
/// An error names the descriptor that is not a listening TCP socket (a unit file passing
/// a UDP or Unix socket, say).
///
/// [`Successor`]: crate::ops::Successor
pub fn listen_fds() -> io::Result<Vec<TcpListener>> {
    let mut passed = listenfd::ListenFd::from_env();
    (0..passed.len())
        .map(|i| {
            passed.take_tcp_listener(i).and_then(|socket| {
                socket.ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("passed descriptor {i} was already taken"),
                    )
                })
            })
        })
        .collect::<io::Result<Vec<_>>>()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot use a socket passed in LISTEN_FDS: {e}"),
            )
        })
}
