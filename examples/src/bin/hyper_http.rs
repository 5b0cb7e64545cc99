//! A hyper 1.x HTTP/1.1 server: the second reference (beside `tokio_http`) that
//! `scripts/compare.sh` measures `net` and `evnet` against, so that they are compared with
//! what a Rust service is usually built on, not only with a hand-written minimum. One
//! `service_fn` answers every request with the same 13-byte `Hello, World!` response as
//! `tokio_http`, byte for byte (title-case headers, no `Date`), keep-alive, on a tokio
//! multi-thread runtime with `--threads` workers; `TCP_NODELAY` is set as `tokio_http`
//! does. Unlike `tokio_http`, hyper parses each request fully and follows HTTP/1.0 and
//! `Connection: close`. Prints `listening on http://ADDR (hyper)`; stops on
//! SIGINT/SIGTERM.
//!
//! Built only with the `hyper-ref` feature (`cargo build -p examples --features hyper-ref
//! --bin hyper_http`), so that the ordinary build does not compile hyper and tokio.

use std::convert::Infallible;
use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// hyper 1.x reference server.
#[derive(Parser, Debug)]
#[command(name = "hyper_http", version)]
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
        println!("listening on http://{} (hyper)", listener.local_addr()?);
        std::io::stdout().flush()?;
        let mut http = http1::Builder::new();
        // Keep-alive is hyper's default; the other two make the response the same bytes
        // as `tokio_http`'s.
        http.keep_alive(true)
            .title_case_headers(true)
            .auto_date_header(false);
        let accept = async {
            loop {
                if let Ok((stream, _)) = listener.accept().await {
                    let _ = stream.set_nodelay(true);
                    let conn = http.serve_connection(TokioIo::new(stream), service_fn(hello));
                    tokio::spawn(async move {
                        let _ = conn.await;
                    });
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

/// The one service: `Hello, World!` as `text/plain`, whatever the request (hyper adds
/// `Content-Length: 13` from the body).
async fn hello(_request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"Hello, World!")));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(response)
}
