//! A hyper 1.x HTTP/1.1 server: the second reference (beside `tokio_http`) that
//! `scripts/compare.sh` measures `net` and `evnet` against, so that they are compared with
//! what a Rust service is usually built on, not only with a hand-written minimum. One
//! `service_fn` answers every request with the same 13-byte `Hello, World!` response as
//! `tokio_http`, the same size (title-case headers, with hyper's own `Date`, as the http
//! example and `tokio_http` send one), keep-alive, on a tokio
//! multi-thread runtime with `--threads` workers; `TCP_NODELAY` is set as `tokio_http`
//! does. Unlike `tokio_http`, hyper parses each request fully and follows HTTP/1.0 and
//! `Connection: close`. As in `tokio_http`, `/work?ms=N`
//! ([`examples::reference::work_ms`]) sleeps N ms with `std::thread::sleep` inside the
//! async service (blocking a runtime thread, as a naive handler would) and then answers
//! the same; a bad `ms` gets 400. Pipelined requests are answered in order, and with
//! hyper's `pipeline_flush` on (documented as experimental; the setting TechEmpower's
//! hyper entry uses) the responses to the requests read together go out in one write
//! rather than one each: about 3× the rate in `compare`'s `http-pipelined`, the same
//! without pipelining. Prints
//! `listening on http://ADDR (hyper)`; stops on SIGINT/SIGTERM.
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
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

fn main() -> ExitCode {
    let mut http = http1::Builder::new();
    // Keep-alive is hyper's default; title case and hyper's `Date` (its default) make the
    // response the same size as `tokio_http`'s and the http example's; the last writes
    // the answers to pipelined requests together, as `tokio_http` does.
    http.keep_alive(true)
        .title_case_headers(true)
        .auto_date_header(true)
        .pipeline_flush(true);
    examples::reference::run("hyper", move |stream| {
        let conn = http.serve_connection(TokioIo::new(stream), service_fn(hello));
        async move {
            let _ = conn.await;
        }
    })
}

/// The one service: `Hello, World!` as `text/plain`, whatever the request (hyper adds
/// `Content-Length: 13` from the body), after blocking for `/work?ms=N`.
async fn hello(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let target = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let (status, body) = match examples::reference::work_ms(target) {
        None => (StatusCode::OK, &b"Hello, World!"[..]),
        Some(Ok(ms)) => {
            examples::reference::block(ms);
            (StatusCode::OK, &b"Hello, World!"[..])
        }
        Some(Err(message)) => (StatusCode::BAD_REQUEST, message.as_bytes()),
    };
    let mut response = Response::new(Full::new(Bytes::from_static(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(response)
}
