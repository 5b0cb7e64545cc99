//! A minimal tokio HTTP server: the reference `scripts/compare.sh` measures `net` and
//! `evnet` against. It answers every request head (up to the blank line) with the same
//! 13-byte `Hello, World!` response, keep-alive, and does little else: no bodies, and
//! one route, `/work?ms=N` ([`examples::reference::work_ms`]), which sleeps N ms with
//! `std::thread::sleep` right in the connection's task (blocking a runtime thread, as a
//! naive handler would) and then answers the same; a bad `ms` gets 400. Pipelined
//! requests are answered in order, each batch in one write. Prints
//! `listening on http://ADDR (tokio)`; stops on SIGINT/SIGTERM.
//!
//! Built only with the `tokio-ref` feature (`cargo build -p examples --features tokio-ref
//! --bin tokio_http`), so that the ordinary build does not compile tokio.

examples::global_allocator!();

use std::process::ExitCode;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `Hello, World!` before and after its `Date` line (the http example sends one too, as
/// RFC 9110 asks of a server with a clock: the comparison sends the same bytes).
const HELLO_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n";
const HELLO_BODY: &[u8] = b"\r\nHello, World!";

/// Append the `Hello, World!` response to `out`.
fn push_hello(out: &mut Vec<u8>) {
    out.extend_from_slice(HELLO_HEAD);
    examples::http::date::push_header(out);
    out.extend_from_slice(HELLO_BODY);
}

fn main() -> ExitCode {
    examples::reference::run("tokio", serve)
}

/// Answer each complete request head in the buffer; keep any partial one for later.
async fn serve(mut stream: TcpStream) {
    let mut buf = vec![0u8; 8192];
    let mut filled = 0;
    let mut out = Vec::with_capacity(512);
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
            answer(&buf[start..start + end], &mut out);
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

/// Append the answer to the request `head` to `out`: `Hello, World!`, after blocking
/// for `/work?ms=N`.
fn answer(head: &[u8], out: &mut Vec<u8>) {
    // The target is the second word of the request line.
    let target = head
        .split(|&b| b == b' ' || b == b'\r')
        .nth(1)
        .and_then(|t| std::str::from_utf8(t).ok())
        .unwrap_or("");
    match examples::reference::work_ms(target) {
        None => push_hello(out),
        Some(Ok(ms)) => {
            examples::reference::block(ms);
            push_hello(out);
        }
        Some(Err(message)) => {
            let head = format!(
                "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
                message.len()
            );
            out.extend_from_slice(head.as_bytes());
            out.extend_from_slice(message.as_bytes());
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
