//! # evnet: the event-driven server behind the same handler API as `net`
//!
//! [`EvServer`] runs `loops` libev event loops (each with its own `SO_REUSEPORT`
//! listener) that watch every open connection, and a fixed set of threads that serve
//! *requests*, not connections. Long keep-alive connections cost a slot (memory), not
//! a thread. By default ([`Dispatch::Adaptive`]) a request is served on the thread that
//! runs its loop, with no hand-off; a handler that blocks has its loop taken over by a
//! spare thread after [`EvOptions::takeover_after`], and a request framed
//! [`Frame::Blocking`] goes straight to the worker pool. It implements [`Server`], takes
//! the same [`ServerParams`], reports the same [`Stats`] and runs the same [`Handler`]s
//! as `net::TcpServer`: switching a program from one to the other changes a type alias.
//!
//! The connection API is re-exported from `net`, so users import one crate.
//!
//! ```
//! use std::io::{self, BufRead, Write};
//! use std::time::Duration;
//! use evnet::{Action, Connection, EvServer, Handler, Server, ServerParams};
//!
//! struct Hello;
//! impl Handler for Hello {
//!     type Session = ();
//!     fn open(&self, _: &Connection) {}
//!     fn serve(&self, _: &mut (), conn: &mut Connection) -> io::Result<Action> {
//!         let mut name = String::new();
//!         conn.read_line(&mut name)?;
//!         writeln!(conn, "hello {}", name.trim())?;
//!         Ok(Action::KeepAlive)
//!     }
//! }
//!
//! let mut server = EvServer::serve("127.0.0.1:0", Hello, ServerParams::default())?;
//! let mut client = std::net::TcpStream::connect(server.local_addr())?;
//! client.write_all(b"ev\n")?;
//! let mut reply = String::new();
//! io::BufReader::new(&client).read_line(&mut reply)?;
//! assert_eq!(reply, "hello ev\n");
//! server.shutdown(Duration::from_secs(1))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `unsafe` code lives only in `evnet-sys` and in this crate's private `ev` module.
#![deny(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod acceptor;
#[allow(unsafe_code)]
mod ev;
mod event_loop;
mod handshakes;
mod options;
mod peer_wait;
mod pool;
mod pressure;
mod queue;
mod runner;
mod server;
mod shared;
mod slab;
mod sync;
mod takeover;
mod timeouts;
mod worker;

pub use net::{
    Action, Connection, ConnectionFilter, Error, ErrorKind, Frame, Handler, RejectAll, Result,
    Server, ServerHandle, ServerParams, ServerParamsBuilder, Stats,
};
pub use options::{Dispatch, EvOptions, DEFAULT_TAKEOVER_AFTER};

/// `net`'s TLS helpers (feature `tls`): [`tls::server_config`] builds the configuration
/// `ServerParamsBuilder::tls` takes. `EvServer` runs handshakes and decryption in its
/// loops; handlers see plaintext (see [`EvServer`]).
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub use net::tls;
pub use server::EvServer;

/// Internals re-exported for this crate's `benches/` only.
///
/// **Not part of the API**: hidden from the docs, outside any semver promise, and may
/// change or go away at any time. Use [`EvServer`] and the items above instead.
#[doc(hidden)]
pub mod __bench {
    pub use crate::queue::{bounded, Kind, Receiver, Sender};
    pub use crate::slab::{List, Phase, Slab, SlotId};
    pub use crate::timeouts::Timeouts;
}
