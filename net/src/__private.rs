//! **Not part of the supported API.** What a server implementation living in another crate
//! (`evnet`) needs from `net`: the server side of [`Connection`](crate::Connection), the live counters, and
//! the building blocks both servers share. Handlers never need any of it, and it may
//! change in any release; it is public only because Rust has no "visible to this other
//! crate" and hidden from the docs for that reason.
//!
//! A handler cannot call a server-only method by accident: they are methods of
//! [`ServerConnection`], which must be imported from here.

pub use crate::connection::ServerConnection;
pub use crate::lifecycle::{handle_of, Engine, Lifecycle, Starter};
pub use crate::limits::{admit_client, ClientLimits, ClientSlot, OverClientLimit, TokenBucket};
pub use crate::listening::Listening;
pub use crate::readiness::{HandshakeStep, Interest, WaitFn};
pub use crate::stats::Counters;
pub use crate::support::{
    catch_handler, close_session, count_tls_handshake, discard_panic, open_session, serve_request,
    wait_while_before, AcceptFailure, PIPELINE_BATCH,
};

#[cfg(feature = "log")]
pub use log;

/// Accept errors, classified for a server's acceptor.
pub use crate::support::classify_accept_error;
