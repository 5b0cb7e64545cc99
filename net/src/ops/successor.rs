//! Starting a new process on the running server's listening sockets.

use std::fmt;
use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use super::notify::READY_SOCKET_VAR;

/// A process started on this server's listening sockets, which takes over once it says it
/// is ready.
///
/// [`spawn`](Successor::spawn) passes the sockets as systemd does (`LISTEN_FDS`, with
/// `LISTEN_FDS_FIRST_FD` and no `LISTEN_PID`: see [`listen_fds`](super::listen_fds)) and
/// gives the child the address of a socket where its [`Notifier::ready`] says `READY=1`;
/// [`wait_ready`](Successor::wait_ready) waits for that. Until then the old server keeps
/// accepting, so a successor that fails to start costs nothing: kill it with
/// [`abandon`](Successor::abandon) and go on serving. Once it is ready, shut the old
/// server down: both processes accept on the same sockets, so from the moment the old one
/// stops accepting every newcomer goes to the new one, and none is refused.
///
/// [`Notifier::ready`]: super::Notifier::ready
pub struct Successor {
    child: Child,
    ready: UnixDatagram,
    ready_path: PathBuf,
}

impl Successor {
    /// Start `command` with `listeners` (from
    /// [`ServerHandle::listeners`](crate::ServerHandle::listeners)) inherited.
    ///
    /// The descriptors are made inheritable only for the moment of the spawn; a process
    /// another thread of this program starts at that very moment inherits them too (and
    /// holds the sockets open while it lives).
    pub fn spawn(mut command: Command, listeners: &[TcpListener]) -> io::Result<Successor> {
        if listeners.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a successor needs at least one listening socket",
            ));
        }
        let ready_path = ready_socket_path();
        let _ = std::fs::remove_file(&ready_path);
        let ready = UnixDatagram::bind(&ready_path)?;
        let cleanup = RemoveOnDrop(ready_path.clone());
        // Only this user may say the successor is ready.
        std::fs::set_permissions(&ready_path, std::fs::Permissions::from_mode(0o600))?;
        let (first, inheritable) = inheritable_block(listeners)?;
        command
            .env("LISTEN_FDS", listeners.len().to_string())
            .env("LISTEN_FDS_FIRST_FD", first.to_string())
            .env_remove("LISTEN_PID")
            .env_remove("LISTEN_FDNAMES")
            .env(READY_SOCKET_VAR, &ready_path);
        let child = command.spawn();
        // Closing the block here leaves the sockets to this process's own descriptors.
        drop(inheritable);
        let child = child?;
        std::mem::forget(cleanup);
        Ok(Successor {
            child,
            ready,
            ready_path,
        })
    }

    /// The successor's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Wait until the successor says `READY=1` (with its own id as `MAINPID`). An error
    /// if it exits first (naming its status) or `timeout` passes (`TimedOut`).
    pub fn wait_ready(&mut self, timeout: Duration) -> io::Result<()> {
        let give_up_at = Instant::now() + timeout;
        let expected = format!("MAINPID={}", self.child.id());
        let mut message = [0u8; 512];
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "the successor exited before it was ready ({status})"
                )));
            }
            let now = Instant::now();
            if now >= give_up_at {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the successor was not ready within {timeout:?}"),
                ));
            }
            let wait = (give_up_at - now).min(Duration::from_millis(50));
            self.ready.set_read_timeout(Some(wait))?;
            match self.ready.recv(&mut message) {
                Ok(n) => {
                    let text = String::from_utf8_lossy(&message[..n]);
                    let mut lines = text.lines();
                    if lines.clone().any(|l| l == "READY=1") && lines.any(|l| l == expected) {
                        return Ok(());
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Give up on the successor: kill it and reap it.
    pub fn abandon(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Let the successor run on its own (this process is about to exit; the successor's
    /// parent becomes the service manager or init). Returns its id.
    pub fn release(self) -> u32 {
        self.child.id()
    }
}

impl Drop for Successor {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ready_path);
    }
}

impl fmt::Debug for Successor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Successor")
            .field("pid", &self.child.id())
            .field("ready_socket", &self.ready_path)
            .finish()
    }
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A fresh path for the socket a successor reports ready on.
fn ready_socket_path() -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    std::env::temp_dir().join(format!(
        "net-ops-ready-{}-{}.sock",
        std::process::id(),
        NEXT.fetch_add(1, Relaxed)
    ))
}

/// Duplicates of `listeners` on consecutive descriptors, inheritable (not close-on-exec),
/// and the first descriptor's number: what `LISTEN_FDS` needs. A number another thread
/// holds moves the block past it.
fn inheritable_block(listeners: &[TcpListener]) -> io::Result<(RawFd, Vec<OwnedFd>)> {
    let mut first: RawFd = 3;
    'search: loop {
        let mut block = Vec::with_capacity(listeners.len());
        for (offset, listener) in (0..).zip(listeners) {
            let want = first + offset;
            let dup = rustix::io::fcntl_dupfd_cloexec(listener, want)?;
            let got = dup.as_raw_fd();
            if got != want {
                // `want` is taken: the block cannot start at or below it.
                first = got;
                continue 'search;
            }
            block.push(dup);
        }
        for fd in &block {
            rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty())?;
        }
        return Ok((first, block));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_is_consecutive_inheritable_and_of_the_same_sockets() {
        let a = TcpListener::bind("127.0.0.1:0").unwrap();
        let b = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpListener::bind("127.0.0.1:0").unwrap();
        let listeners = [a, b, c];
        let (first, block) = inheritable_block(&listeners).unwrap();
        assert!(first >= 3);
        for (i, fd) in block.iter().enumerate() {
            assert_eq!(fd.as_raw_fd(), first + i as RawFd);
            let flags = rustix::io::fcntl_getfd(fd).unwrap();
            assert!(!flags.contains(rustix::io::FdFlags::CLOEXEC));
            let same = TcpListener::from(fd.try_clone().unwrap());
            assert_eq!(
                same.local_addr().unwrap(),
                listeners[i].local_addr().unwrap()
            );
        }
    }

    #[test]
    fn a_successor_without_sockets_is_refused() {
        let err = Successor::spawn(Command::new("true"), &[]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn a_successor_that_exits_is_not_ready() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut successor = Successor::spawn(Command::new("true"), &[l]).unwrap();
        let err = successor.wait_ready(Duration::from_secs(30)).unwrap_err();
        assert!(
            err.to_string().contains("exited before it was ready"),
            "{err}"
        );
    }

    #[test]
    fn a_successor_that_says_nothing_times_out() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut sleeper = Command::new("sleep");
        sleeper.arg("30");
        let mut successor = Successor::spawn(sleeper, &[l]).unwrap();
        let err = successor
            .wait_ready(Duration::from_millis(100))
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        successor.abandon();
    }

    #[test]
    fn the_child_is_given_the_sockets_and_where_to_say_ready() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut shell = Command::new("sh");
        // The child reports what it was given on its standard output.
        shell
            .arg("-c")
            .arg("echo \"$LISTEN_FDS $LISTEN_FDS_FIRST_FD ${LISTEN_PID-unset} $NET_OPS_READY_SOCKET\"")
            .stdout(std::process::Stdio::piped());
        let mut successor = Successor::spawn(shell, &[l]).unwrap();
        let mut text = String::new();
        let mut stdout = successor.child.stdout.take().unwrap();
        io::Read::read_to_string(&mut stdout, &mut text).unwrap();
        let path = successor.ready_path.clone();
        successor.abandon();
        let fields: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(fields[0], "1", "{text}");
        assert!(fields[1].parse::<i32>().unwrap() >= 3, "{text}");
        assert_eq!(fields[2], "unset", "{text}");
        assert_eq!(fields[3], path.to_str().unwrap(), "{text}");
    }
}
