//! `--metrics-addr`: a server's [`Stats`](net::Stats) for a Prometheus scraper, in the
//! text exposition format ([`net::Stats::to_prometheus`]), on an address of its own.
//!
//! One thread answers `GET /metrics` (404 for any other path, 405 for another method),
//! one connection at a time, each closed after its answer; a scraper that stalls is
//! dropped after two seconds. It runs for the life of the process.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::thread;
use std::time::Duration;

use net::ServerHandle;

/// The longest request head read.
const MAX_HEAD: usize = 8 * 1024;

/// Bind `addr` and serve `handle`'s statistics there, named `<namespace>_…`, from a
/// thread of its own. Returns the bound address.
pub fn serve(
    addr: impl ToSocketAddrs,
    handle: ServerHandle,
    namespace: &'static str,
) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = answer(stream, &handle, namespace);
            }
        })?;
    Ok(local)
}

fn answer(mut stream: TcpStream, handle: &ServerHandle, namespace: &str) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 || head.len() + n > MAX_HEAD {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, path) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let (status, body) = match (method, path) {
        (b"GET", b"/metrics") => ("200 OK", handle.stats().to_prometheus(namespace)),
        (b"GET", _) => ("404 Not Found", "not found: try /metrics\n".to_string()),
        _ => ("405 Method Not Allowed", "GET only\n".to_string()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes())
}
