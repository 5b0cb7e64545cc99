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

examples::global_allocator!();

use std::convert::Infallible;
use std::process::ExitCode;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

fn main() -> ExitCode {
    let mut http = http1::Builder::new();
    // Keep-alive is hyper's default; the other two make the response the same bytes as
    // `tokio_http`'s.
    http.keep_alive(true)
        .title_case_headers(true)
        .auto_date_header(false);
    examples::reference::run("hyper", move |stream| {
        let conn = http.serve_connection(TokioIo::new(stream), service_fn(hello));
        async move {
            let _ = conn.await;
        }
    })
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
