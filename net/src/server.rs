//! The `Server` trait both servers implement, so code can switch by type alias.

use std::fmt;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::time::Duration;

use crate::error::Result;
use crate::handler::Handler;
use crate::lifecycle::ServerHandle;
use crate::params::ServerParams;
use crate::stats::Stats;

/// A TCP server running a [`Handler`]: `net::TcpServer` or `evnet::EvServer`.
///
/// Generic code and programs switch servers with a type alias:
///
/// ```text
/// #[cfg(feature = "evented")]
/// type Server = evnet::EvServer;
/// #[cfg(not(feature = "evented"))]
/// type Server = net::TcpServer;
/// ```
///
/// Lifecycle: [`bind`](Server::bind) (listening; connections wait in the backlog),
/// [`start`](Server::start), [`shutdown`](Server::shutdown). Dropping a server shuts it
/// down with a short deadline.
///
/// ```
/// use std::io::{self, BufRead, Write};
/// use std::time::Duration;
/// use net::{Action, Connection, Handler, Server, ServerParams, TcpServer};
///
/// struct Echo;
/// impl Handler for Echo {
///     type Session = ();
///     fn open(&self, _: &Connection) {}
///     fn serve(&self, _: &mut (), conn: &mut Connection) -> io::Result<Action> {
///         let mut line = Vec::new();
///         conn.read_until(b'\n', &mut line)?;
///         conn.write_all(&line)?;
///         Ok(Action::KeepAlive)
///     }
/// }
///
/// let mut server = TcpServer::bind("127.0.0.1:0", Echo, ServerParams::default())?;
/// server.start()?;
/// let mut client = std::net::TcpStream::connect(server.local_addr())?;
/// client.write_all(b"hi\n")?;
/// let mut reply = String::new();
/// io::BufReader::new(&client).read_line(&mut reply)?;
/// assert_eq!(reply, "hi\n");
/// let stats = server.shutdown(Duration::from_secs(1))?;
/// assert_eq!(stats.total_connections, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Server: Sized + Send + fmt::Debug {
    /// Options only this server has (`()` for `net`; loops, workers, dispatch for `evnet`).
    type Options: Default + Clone + fmt::Debug + Send;

    /// Bind `addr` (port 0 picks a free port) with server-specific options. The socket
    /// listens at once; serving begins with [`start`](Server::start).
    fn bind_with<A: ToSocketAddrs, H: Handler>(
        addr: A,
        handler: H,
        params: ServerParams,
        options: Self::Options,
    ) -> Result<Self>;

    /// Serve on a listener someone else bound (and made listen): a socket inherited from
    /// systemd (`LISTEN_FDS`) or a parent process, a pre-bound test socket, or one with
    /// socket options of the caller's choosing (the listen backlog, say). Serving begins
    /// with [`start`](Server::start). The server takes the socket over (its blocking mode
    /// included); an error when it is not a listening socket it can use.
    ///
    /// ```
    /// use std::io::{self, BufRead, Write};
    /// use std::net::TcpListener;
    /// use std::time::Duration;
    /// use net::{Action, Connection, Handler, Server, ServerParams, TcpServer};
    ///
    /// struct Hi;
    /// impl Handler for Hi {
    ///     type Session = ();
    ///     fn open(&self, _: &Connection) {}
    ///     fn serve(&self, _: &mut (), conn: &mut Connection) -> io::Result<Action> {
    ///         let mut line = String::new();
    ///         conn.read_line(&mut line)?;
    ///         conn.write_all(b"hi\n")?;
    ///         Ok(Action::Close)
    ///     }
    /// }
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?; // bound by someone else
    /// let addr = listener.local_addr()?;
    /// let mut server = TcpServer::from_listener(listener, Hi, ServerParams::default())?;
    /// server.start()?;
    /// let mut client = std::net::TcpStream::connect(addr)?;
    /// client.write_all(b"hello\n")?;
    /// let mut reply = String::new();
    /// io::BufReader::new(&client).read_line(&mut reply)?;
    /// assert_eq!(reply, "hi\n");
    /// server.shutdown(Duration::from_secs(1))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn from_listener_with<H: Handler>(
        listener: TcpListener,
        handler: H,
        params: ServerParams,
        options: Self::Options,
    ) -> Result<Self>;

    /// Serve on several listening sockets: the ones a predecessor handed over
    /// ([`ServerHandle::listeners`]), or systemd's. `net` accepts on one socket, so this
    /// is [`from_listener_with`](Server::from_listener_with) for one and an error naming
    /// `listeners` for any other number; `evnet` spreads them over its loops.
    fn from_listeners_with<H: Handler>(
        mut listeners: Vec<TcpListener>,
        handler: H,
        params: ServerParams,
        options: Self::Options,
    ) -> Result<Self> {
        if listeners.len() != 1 {
            return Err(crate::Error::invalid_param(
                "listeners",
                format_args!(
                    "this server accepts on one listening socket, not {}",
                    listeners.len()
                ),
            ));
        }
        let listener = listeners.remove(0);
        Self::from_listener_with(listener, handler, params, options)
    }

    /// [`from_listener_with`](Server::from_listener_with) the default options.
    fn from_listener<H: Handler>(
        listener: TcpListener,
        handler: H,
        params: ServerParams,
    ) -> Result<Self> {
        Self::from_listener_with(listener, handler, params, Self::Options::default())
    }

    /// Bind `addr` with the default options.
    fn bind<A: ToSocketAddrs, H: Handler>(
        addr: A,
        handler: H,
        params: ServerParams,
    ) -> Result<Self> {
        Self::bind_with(addr, handler, params, Self::Options::default())
    }

    /// Bind and start in one call.
    fn serve<A: ToSocketAddrs, H: Handler>(
        addr: A,
        handler: H,
        params: ServerParams,
    ) -> Result<Self> {
        let mut server = Self::bind(addr, handler, params)?;
        server.start()?;
        Ok(server)
    }

    /// Start accepting and serving. Fails if already started or shut down.
    fn start(&mut self) -> Result<()>;

    /// The address actually bound (with the real port when 0 was asked).
    fn local_addr(&self) -> SocketAddr;

    /// A snapshot of the counters.
    fn stats(&self) -> Stats;

    /// A cloneable, thread-safe handle to watch, stop and wait for this server from any
    /// thread (see [`ServerHandle`]).
    fn handle(&self) -> ServerHandle;

    /// Stop accepting, close idle connections (and, on `net`, those queued for a busy
    /// thread), let requests in flight finish until `deadline` has passed (then close
    /// their sockets), join every thread, and return the final statistics. Calling it
    /// again returns the same statistics.
    ///
    /// A request begun when shutdown begins is the connection's last. A connection
    /// accepted but whose first request has not begun is not idle (its client may have
    /// just connected, and a request lost on a fresh connection is one no client sends
    /// again): it may begin that request within
    /// [`first_request_grace`](crate::ServerParamsBuilder::first_request_grace) of its
    /// accept (and `deadline`), served as its last; it is closed after.
    fn shutdown(&mut self, deadline: Duration) -> Result<Stats>;
}
