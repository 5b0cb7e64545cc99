//! # net: one handler API, and a blocking thread-per-connection TCP server
//!
//! This crate holds the connection API shared with `evnet` (the libev-based evented
//! server) and [`TcpServer`], a dependency-free blocking server with the semantics of
//! Poco's `TCPServer`: a bounded thread pool, a bounded queue of accepted connections,
//! refusal when full, a connection filter and statistics.
//!
//! Write a [`Handler`] once; run it on [`TcpServer`] or on `evnet::EvServer`, both
//! implementing [`Server`], switching with a Cargo feature and a type alias.
//!
//! ```
//! use std::io::{self, BufRead, Write};
//! use std::time::Duration;
//! use net::{Action, Connection, Handler, Server, ServerParams, TcpServer};
//!
//! struct Upper;
//! impl Handler for Upper {
//!     type Session = ();
//!     fn open(&self, _: &Connection) {}
//!     fn serve(&self, _: &mut (), conn: &mut Connection) -> io::Result<Action> {
//!         let mut line = String::new();
//!         if conn.read_line(&mut line)? == 0 {
//!             return Ok(Action::Close);
//!         }
//!         conn.write_all(line.to_uppercase().as_bytes())?;
//!         Ok(Action::KeepAlive)
//!     }
//! }
//!
//! let mut server = TcpServer::serve("127.0.0.1:0", Upper, ServerParams::default())?;
//! let mut client = std::net::TcpStream::connect(server.local_addr())?;
//! client.write_all(b"hello\n")?;
//! let mut reply = String::new();
//! io::BufReader::new(&client).read_line(&mut reply)?;
//! assert_eq!(reply, "HELLO\n");
//! server.shutdown(Duration::from_secs(1))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod connection;
mod error;
mod filter;
mod handler;
mod handler_fn;
mod lifecycle;
mod limits;
mod listening;
#[macro_use]
mod logging;
pub mod metrics;
#[cfg(feature = "ops")]
#[cfg_attr(docsrs, doc(cfg(feature = "ops")))]
pub mod ops;
mod params;
pub mod proxy;
mod readiness;
mod server;
mod stats;
mod support;
mod tcp_server;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub mod tls;

#[doc(hidden)]
pub mod __private;

pub use connection::Connection;
pub use error::{Error, ErrorKind, Result};
pub use filter::{ConnectionFilter, RejectAll};
pub use handler::{Action, Frame, Handler};
pub use handler_fn::{handler_fn, AnyBytes, HandlerFn};
pub use lifecycle::ServerHandle;
pub use params::{ServerParams, ServerParamsBuilder, MAX_TIMEOUT};
pub use server::Server;
pub use stats::{Stats, TimeoutKind};
pub use tcp_server::TcpServer;
