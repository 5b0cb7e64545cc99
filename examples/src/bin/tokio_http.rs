//! A minimal tokio HTTP server: the reference `scripts/compare.sh` measures `net` and
//! `evnet` against. It answers every request head (up to the blank line) with the same
//! 13-byte `Hello, World!` response, keep-alive, and does nothing else: no routing, no
//! bodies. Prints `listening on http://ADDR (tokio)`; stops on SIGINT/SIGTERM.
//!
//! Built only with the `tokio-ref` feature (`cargo build -p examples --features tokio-ref
//! --bin tokio_http`), so that the ordinary build does not compile tokio.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";

/// Minimal tokio reference server.
#[derive(Parser, Debug)]
#[command(name = "tokio_http", version)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080")]
    addr: String,

    /// Runtime worker threads (tokio's; not `net`'s pool).
    #[arg(long, value_name = "N", default_value_t = 2)]
    threads: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.threads == 0 {
        eprintln!("error: invalid value for --threads: must be at least 1");
        return ExitCode::from(examples::cli::EXIT_USAGE);
    }
    match serve_until_signal(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(examples::cli::EXIT_FAILURE)
        }
    }
}

fn serve_until_signal(args: &Args) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(&args.addr).await.map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot listen on {}: {e}", args.addr))
        })?;
        println!("listening on http://{} (tokio)", listener.local_addr()?);
        std::io::stdout().flush()?;
        let accept = async {
            loop {
                if let Ok((stream, _)) = listener.accept().await {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(serve(stream));
                }
            }
        };
        tokio::select! {
            _ = accept => {}
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate() => {}
        }
        Ok(())
    })
}

async fn terminate() {
    if let Ok(mut sig) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        sig.recv().await;
    }
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
