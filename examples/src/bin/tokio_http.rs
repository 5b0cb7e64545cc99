//! A minimal tokio HTTP server: the reference `scripts/compare.sh` measures `net` and
//! `evnet` against. It answers every request head (up to the blank line) with the same
//! 13-byte `Hello, World!` response, keep-alive, and does nothing else: no routing, no
//! bodies. Prints `listening on http://ADDR (tokio)`; stops on SIGINT/SIGTERM.
//!
//! Built only with the `tokio-ref` feature (`cargo build -p examples --features tokio-ref
//! --bin tokio_http`), so that the ordinary build does not compile tokio.

examples::global_allocator!();

use std::process::ExitCode;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";

fn main() -> ExitCode {
    examples::reference::run("tokio", serve)
}

/// Answer each complete request head in the buffer; keep any partial one for later.
async fn serve(mut stream: TcpStream) {
    let mut buf = vec![0u8; 8192];
    let mut filled = 0;
    let mut out = Vec::with_capacity(RESPONSE.len() * 4);
    loop {
        if filled == buf.len() {
            return; // head too large for this minimal server
        }
        let n = match stream.read(&mut buf[filled..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        filled += n;
        let mut start = 0;
        while let Some(end) = find_head_end(&buf[start..filled]) {
            out.extend_from_slice(RESPONSE);
            start += end;
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
    }
}

/// Length of the first request head (through `\r\n\r\n`), if complete.
fn find_head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}
