//! Telling the service manager how the server is doing (systemd's `sd_notify` protocol).

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::Path;

/// The environment variable through which a [`Successor`](crate::ops::Successor) learns
/// where to say it is ready: the address of its predecessor's socket, in
/// `NOTIFY_SOCKET`'s syntax.
pub const READY_SOCKET_VAR: &str = "NET_OPS_READY_SOCKET";

/// Sends state changes to the service manager (`NOTIFY_SOCKET`, as systemd's
/// `sd_notify`) and, in a successor, `READY=1` to the predecessor waiting for it.
///
/// Without either (not run by systemd with `Type=notify`, not a successor) every call
/// does nothing and succeeds, so a program calls it unconditionally.
///
/// ```
/// use std::os::unix::net::UnixDatagram;
///
/// let dir = std::env::temp_dir().join(format!("notify-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("notify.sock");
/// let manager = UnixDatagram::bind(&path)?; // what systemd listens on
/// let notifier = net::ops::Notifier::to(&path)?;
/// notifier.stopping()?;
/// let mut message = [0; 64];
/// let n = manager.recv(&mut message)?;
/// assert_eq!(&message[..n], b"STOPPING=1");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Notifier {
    /// The service manager: every message.
    manager: Option<SocketAddr>,
    /// The predecessor: `READY=1` only.
    predecessor: Option<SocketAddr>,
    socket: Option<UnixDatagram>,
}

impl Notifier {
    /// The targets this process was given: `NOTIFY_SOCKET` (a path, or `@name` for
    /// Linux's abstract namespace) and [`READY_SOCKET_VAR`], which is removed from the
    /// environment so that a child does not answer for this process. An address that
    /// cannot be used is an error naming its variable.
    pub fn from_env() -> io::Result<Notifier> {
        let manager = target("NOTIFY_SOCKET")?;
        let predecessor = target(READY_SOCKET_VAR)?;
        std::env::remove_var(READY_SOCKET_VAR);
        Notifier::with(manager, predecessor)
    }

    /// A notifier sending every message to the datagram socket at `path`.
    pub fn to(path: impl AsRef<Path>) -> io::Result<Notifier> {
        Notifier::with(Some(SocketAddr::from_pathname(path)?), None)
    }

    /// A notifier that sends nothing.
    pub fn none() -> Notifier {
        Notifier {
            manager: None,
            predecessor: None,
            socket: None,
        }
    }

    fn with(manager: Option<SocketAddr>, predecessor: Option<SocketAddr>) -> io::Result<Self> {
        let socket = if manager.is_some() || predecessor.is_some() {
            Some(UnixDatagram::unbound()?)
        } else {
            None
        };
        Ok(Notifier {
            manager,
            predecessor,
            socket,
        })
    }

    /// True when there is somewhere to send to.
    pub fn is_enabled(&self) -> bool {
        self.socket.is_some()
    }

    /// Send `state` (newline-separated `KEY=value` assignments, as `sd_notify`) to the
    /// service manager.
    pub fn notify(&self, state: &str) -> io::Result<()> {
        match (&self.socket, &self.manager) {
            (Some(socket), Some(manager)) => send(socket, state, manager),
            _ => Ok(()),
        }
    }

    /// The server is up and serving: `READY=1` with this process's id as `MAINPID`, to the
    /// service manager (which, when a successor says it, then follows the new process:
    /// the unit needs `NotifyAccess=all`) and to the predecessor waiting for it.
    pub fn ready(&self) -> io::Result<()> {
        let state = format!("READY=1\nMAINPID={}", std::process::id());
        if let (Some(socket), Some(predecessor)) = (&self.socket, &self.predecessor) {
            send(socket, &state, predecessor)?;
        }
        self.notify(&state)
    }

    /// The server is handing over to a successor (`RELOADING=1`, with the
    /// `MONOTONIC_USEC` systemd asks to go with it). Say [`ready`](Notifier::ready) again
    /// if the successor fails.
    pub fn reloading(&self) -> io::Result<()> {
        let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        let usec = u64::try_from(now.tv_sec).unwrap_or(0) * 1_000_000
            + u64::try_from(now.tv_nsec).unwrap_or(0) / 1_000;
        self.notify(&format!("RELOADING=1\nMONOTONIC_USEC={usec}"))
    }

    /// The server is shutting down (`STOPPING=1`).
    pub fn stopping(&self) -> io::Result<()> {
        self.notify("STOPPING=1")
    }
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field("manager", &self.manager)
            .field("predecessor", &self.predecessor)
            .finish()
    }
}

fn send(socket: &UnixDatagram, state: &str, to: &SocketAddr) -> io::Result<()> {
    socket.send_to_addr(state.as_bytes(), to).map(drop)
}

/// The socket address in environment variable `var`, if set and not empty.
fn target(var: &str) -> io::Result<Option<SocketAddr>> {
    match std::env::var_os(var) {
        None => Ok(None),
        Some(value) if value.is_empty() => Ok(None),
        Some(value) => parse_address(&value).map(Some).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{var}={}: {e}", value.to_string_lossy()),
            )
        }),
    }
}

/// `/path` or `@abstract-name` (Linux), as `NOTIFY_SOCKET` writes them.
pub(crate) fn parse_address(value: &OsStr) -> io::Result<SocketAddr> {
    let bytes = value.as_bytes();
    match bytes.first() {
        Some(b'/') => SocketAddr::from_pathname(Path::new(value)),
        #[cfg(any(target_os = "linux", target_os = "android"))]
        Some(b'@') => {
            #[cfg(target_os = "android")]
            use std::os::android::net::SocketAddrExt;
            #[cfg(target_os = "linux")]
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(&bytes[1..])
        }
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not an absolute path or an @abstract name",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_paths_or_abstract_names() {
        let path = parse_address(OsStr::new("/run/systemd/notify")).unwrap();
        assert_eq!(path.as_pathname(), Some(Path::new("/run/systemd/notify")));
        #[cfg(target_os = "linux")]
        {
            use std::os::linux::net::SocketAddrExt;
            let named = parse_address(OsStr::new("@net-ops-1")).unwrap();
            assert_eq!(named.as_abstract_name(), Some(&b"net-ops-1"[..]));
        }
        for bad in ["", "relative/path", "notify"] {
            let err = parse_address(OsStr::new(bad)).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad}");
        }
    }

    #[test]
    fn a_notifier_without_targets_sends_nothing_and_succeeds() {
        let notifier = Notifier::none();
        assert!(!notifier.is_enabled());
        notifier.ready().unwrap();
        notifier.reloading().unwrap();
        notifier.stopping().unwrap();
    }

    #[test]
    fn each_state_reaches_the_manager() {
        let dir = std::env::temp_dir().join(format!("net-notify-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("manager.sock");
        let _ = std::fs::remove_file(&path);
        let manager = UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier::to(&path).unwrap();
        let mut buf = [0u8; 256];
        let mut next = || {
            let n = manager.recv(&mut buf).unwrap();
            String::from_utf8(buf[..n].to_vec()).unwrap()
        };
        notifier.ready().unwrap();
        assert_eq!(next(), format!("READY=1\nMAINPID={}", std::process::id()));
        notifier.reloading().unwrap();
        let reloading = next();
        assert!(
            reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="),
            "{reloading}"
        );
        assert!(reloading["RELOADING=1\nMONOTONIC_USEC=".len()..]
            .parse::<u64>()
            .is_ok());
        notifier.stopping().unwrap();
        assert_eq!(next(), "STOPPING=1");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
