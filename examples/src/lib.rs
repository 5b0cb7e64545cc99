//! # examples: handlers and runners for the example servers
//!
//! Reusable [`net::Handler`]s, and the command-line runner shared by the binaries:
//!
//! - [`echo::Echo`]: a line echo server.
//! - [`http::HttpHandler`]: a small HTTP/1.1 server (`GET /`, `GET /json`, `GET /work?ms=N`,
//!   `POST /echo`) on the allocation-free parser in [`http::parse`].
//! - [`resp::RespHandler`]: a Redis-compatible server (RESP2: strings, expiry, the
//!   commands `redis-cli` and `redis-benchmark` use) on a keyspace all connections share.
//! - [`compare`]: the servers side by side in the situations where they differ (the
//!   `compare` binary, the main job).
//! - [`loadgen`]: a load generator on `mio` for these protocols (HTTP, RESP, echo) that
//!   checks every response, with open-loop rates and HDR latency percentiles.
//! - [`cli`]: `clap` options mapped to [`net::ServerParams`], and [`cli::run`], which
//!   serves until SIGINT/SIGTERM and shuts down gracefully.
//! - `reference` (features `tokio-ref`, `hyper-ref`): what the tokio and hyper reference
//!   servers share.
//!
//! The server is chosen by the `evented` Cargo feature through one alias, [`Server`]:
//! `net::TcpServer` (blocking, thread per connection) by default, `evnet::EvServer`
//! (event loops and a worker pool) with the feature. The handlers do not change.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::time::Duration;
//! use net::Server as _;
//!
//! let mut server = examples::Server::serve(
//!     "127.0.0.1:0",
//!     examples::http::HttpHandler::new(),
//!     net::ServerParams::default(),
//! )?;
//! let mut client = std::net::TcpStream::connect(server.local_addr())?;
//! client.write_all(b"GET /json HTTP/1.0\r\n\r\n")?;
//! let mut response = String::new();
//! client.read_to_string(&mut response)?;
//! assert!(response.ends_with(r#"{"message":"Hello, World!"}"#));
//! server.shutdown(Duration::from_secs(1))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

pub mod cli;
mod close;
pub mod compare;
pub mod echo;
pub mod http;
pub mod loadgen;
pub mod metrics;
#[cfg(any(feature = "tokio-ref", feature = "hyper-ref"))]
pub mod reference;
pub mod resp;

/// Declare the example servers' memory allocator: jemalloc with background threads that
/// return freed memory to the system within about a second (`dirty_decay_ms:1000`,
/// `muzzy_decay_ms:0`, set at build time in `.cargo/config.toml`). Every server binary
/// here, the reference servers included, uses it, so the comparison is between servers,
/// not allocators.
///
/// Why: after an attack (thousands of buffers handed between loop and worker threads)
/// glibc's per-thread arenas kept the memory: RSS stayed 57 MiB above where it started
/// with the RESP server after 80 clients fetched a 2 MB value without reading it;
/// mimalloc kept 67 MiB (frees from another thread wait for the owning thread to
/// allocate again); jemalloc with these settings was back within 3 MiB in 2 s. See
/// docs/ARCHITECTURE.md.
///
/// Use it once at the top of a binary: `examples::global_allocator!();`
#[macro_export]
macro_rules! global_allocator {
    () => {
        #[global_allocator]
        static GLOBAL: $crate::Jemalloc = $crate::Jemalloc;
    };
}

/// The allocator [`global_allocator!`] declares.
pub use tikv_jemallocator::Jemalloc;

/// The server the example binaries run: `evnet::EvServer` with the `evented` feature.
#[cfg(feature = "evented")]
pub type Server = evnet::EvServer;

/// The server the example binaries run: `net::TcpServer` without the `evented` feature.
#[cfg(not(feature = "evented"))]
pub type Server = net::TcpServer;

/// The name of the server [`Server`] stands for: `"evnet"` or `"net"`.
///
/// ```
/// assert!(["net", "evnet"].contains(&examples::SERVER_KIND));
/// ```
pub const SERVER_KIND: &str = if cfg!(feature = "evented") {
    "evnet"
} else {
    "net"
};
