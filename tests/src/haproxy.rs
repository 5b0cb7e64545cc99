//! HAProxy started by a test, in front of a server under test (Debian `haproxy`, which
//! `scripts/test.sh` installs through `scripts/ensure-deps.sh haproxy`).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use crate::{wait_until, PATIENCE};

/// A free loopback port (bound then released: HAProxy binds it next).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// HAProxy in TCP mode in front of `server`: one frontend sending the version 1 header
/// (`send-proxy`), one sending version 2 (`send-proxy-v2`), each with health checks every
/// 100 ms that carry the header (`check-send-proxy`: version 2's are `LOCAL`), one failed
/// check marking the server down. Killed on drop.
#[derive(Debug)]
pub struct Haproxy {
    child: Child,
    dir: PathBuf,
    /// The `send-proxy` frontend.
    pub v1: SocketAddr,
    /// The `send-proxy-v2` frontend.
    pub v2: SocketAddr,
}

impl Haproxy {
    /// Start HAProxy in front of `server` and wait until both frontends accept.
    pub fn start(server: SocketAddr) -> Haproxy {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "haproxy-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let (p1, p2) = (free_port(), free_port());
        let config = format!(
            "global\n  maxconn 256\n\
             defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n\
             frontend v1\n  bind 127.0.0.1:{p1}\n  default_backend b1\n\
             frontend v2\n  bind 127.0.0.1:{p2}\n  default_backend b2\n\
             backend b1\n  server s1 {server} send-proxy check check-send-proxy inter 100ms fall 1 rise 1\n\
             backend b2\n  server s2 {server} send-proxy-v2 check check-send-proxy inter 100ms fall 1 rise 1\n"
        );
        let path = dir.join("haproxy.cfg");
        std::fs::write(&path, config).unwrap();
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy is not installed: run scripts/ensure-deps.sh haproxy");
        let (v1, v2) = (
            SocketAddr::from(([127, 0, 0, 1], p1)),
            SocketAddr::from(([127, 0, 0, 1], p2)),
        );
        let mut haproxy = Haproxy { child, dir, v1, v2 };
        let up = wait_until(PATIENCE, || {
            TcpStream::connect(v1).is_ok() && TcpStream::connect(v2).is_ok()
        });
        if !up {
            let _ = haproxy.child.kill();
            panic!("haproxy did not listen on {v1} and {v2}");
        }
        haproxy
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
