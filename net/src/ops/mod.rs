//! The operator's kit (feature `ops`): what a server needs from the system that runs it.
//!
//! - [`listen_fds`]: take the listening sockets systemd (socket activation, `LISTEN_FDS`)
//!   or a predecessor ([`Successor`]) passed to this process.
//! - [`Notifier`]: tell the service manager how the server is doing (`sd_notify`:
//!   `READY=1`, `RELOADING=1`, `STOPPING=1`).
//! - [`Successor`]: start a new process (a new version of this program, say) on the
//!   running server's listening sockets and wait until it serves.
//! - [`Supervisor`]: the signals an operator sends: shut down gracefully on the first
//!   `SIGTERM` or `SIGINT` and at once on the second; with a restart command, hand the
//!   sockets to a successor on `SIGUSR2`, then drain and exit.
//!
//! Together they give a restart that refuses nobody: the successor accepts on the very
//! sockets the running server listens on (connections waiting in the backlog included),
//! and only once it has said it is ready does the old process stop accepting, finish the
//! requests in flight and close its idle connections.
//!
//! ```no_run
//! use std::time::Duration;
//! use net::ops::{self, Supervisor};
//! use net::{Server, ServerParams, TcpServer};
//! # struct Hello;
//! # impl net::Handler for Hello {
//! #     type Session = ();
//! #     fn open(&self, _: &net::Connection) {}
//! #     fn serve(&self, _: &mut (), _: &mut net::Connection) -> std::io::Result<net::Action> {
//! #         Ok(net::Action::Close)
//! #     }
//! # }
//!
//! // Before binding, so that a signal sent as soon as the server listens is not lost.
//! let supervisor = Supervisor::new()?
//!     .shutdown_deadline(Duration::from_secs(10))
//!     .restart_with_this_program()?
//!     .on_event(|event| eprintln!("{event}"));
//! let mut inherited = ops::listen_fds()?;
//! let mut server = match inherited.len() {
//!     0 => TcpServer::bind("0.0.0.0:8080", Hello, ServerParams::default())?,
//!     _ => TcpServer::from_listeners_with(inherited, Hello, ServerParams::default(), ())?,
//! };
//! server.start()?;
//! supervisor.watch(server.handle())?; // sends READY=1
//! let stats = server.handle().wait(); // until a signal stopped it
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod listen;
mod notify;
mod successor;
mod supervisor;

pub use listen::listen_fds;
pub use notify::{Notifier, READY_SOCKET_VAR};
pub use successor::Successor;
pub use supervisor::{Event, Supervisor};
