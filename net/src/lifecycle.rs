//! One lifecycle for both servers (bound → running → stopped), and [`ServerHandle`], the
//! cloneable handle built on it.

use std::fmt;
use std::io;
use std::net::TcpListener;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result};
use crate::listening::Listening;
use crate::stats::Stats;

/// What a server implementation plugs into the shared [`Lifecycle`] (not supported API;
/// reached through `net::__private`).
pub trait Engine: Send + Sync + 'static {
    /// The server's threads while it runs.
    type Running: Send;

    /// The live counters.
    fn live_stats(&self) -> Stats;

    /// Stop a running server: stop accepting, let requests in flight finish until
    /// `give_up_at` (`None`: no deadline), close everything, join every thread, and return
    /// the final statistics.
    fn stop(&self, running: Self::Running, give_up_at: Option<Instant>) -> Stats;
}

/// Starts a bound server's threads (it holds the listeners and the handler until then).
pub type Starter<R> = Box<dyn FnOnce() -> Result<R> + Send>;

enum State<R> {
    Bound(Starter<R>),
    Running(R),
    /// A shutdown is in progress on some thread.
    Stopping,
    /// Final statistics (boxed: they are large beside the other states).
    Stopped(Box<Stats>),
}

/// A server's state, shared by the server value and its handles.
pub struct Lifecycle<E: Engine> {
    engine: E,
    state: Mutex<State<E::Running>>,
    stopped: Condvar,
    /// The listening sockets a handle can give to another process, until shutdown begins.
    listening: Listening,
}

impl<E: Engine> fmt::Debug for Lifecycle<E> {
    /// The state's name (`locked` while another thread holds it).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state.try_lock() {
            Ok(state) => state.name(),
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner().name(),
            Err(std::sync::TryLockError::WouldBlock) => "locked",
        };
        f.debug_struct("Lifecycle")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl<R> State<R> {
    /// The state's name, for `Debug`.
    fn name(&self) -> &'static str {
        match self {
            State::Bound(_) => "bound",
            State::Running(_) => "running",
            State::Stopping => "stopping",
            State::Stopped(_) => "stopped",
        }
    }
}

impl<E: Engine> Lifecycle<E> {
    /// A bound server that `starter` will start, listening on `listening`'s sockets.
    pub fn new(engine: E, starter: Starter<E::Running>, listening: Listening) -> Arc<Self> {
        Arc::new(Lifecycle {
            engine,
            state: Mutex::new(State::Bound(starter)),
            stopped: Condvar::new(),
            listening,
        })
    }

    /// Duplicates of the listening sockets, until shutdown begins (see
    /// [`ServerHandle::listeners`]).
    pub fn listeners(&self) -> io::Result<Vec<TcpListener>> {
        self.listening.duplicates()
    }

    /// The server's engine.
    pub fn engine(&self) -> &E {
        &self.engine
    }

    fn lock(&self) -> MutexGuard<'_, State<E::Running>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bound → running. An error when already started or stopped, or when the threads
    /// cannot start (the server is then stopped).
    pub fn start(&self) -> Result<()> {
        let mut state = self.lock();
        let State::Bound(_) = &*state else {
            return Err(Error::new(
                ErrorKind::State,
                "server already started or shut down",
                None,
            ));
        };
        let State::Bound(starter) = std::mem::replace(&mut *state, State::Stopping) else {
            unreachable!("checked above");
        };
        match starter() {
            Ok(running) => {
                *state = State::Running(running);
                Ok(())
            }
            Err(e) => {
                self.listening.release();
                *state = State::Stopped(Box::new(self.engine.live_stats()));
                self.stopped.notify_all();
                Err(e)
            }
        }
    }

    /// True while running (started, not yet stopped).
    pub fn is_running(&self) -> bool {
        matches!(&*self.lock(), State::Running(_))
    }

    /// The final statistics once stopped, the live counters before.
    pub fn stats(&self) -> Stats {
        match &*self.lock() {
            State::Stopped(stats) => **stats,
            _ => self.engine.live_stats(),
        }
    }

    /// Stop the server (see `Server::shutdown`); from any thread, any number of times.
    /// A call while another is stopping the server waits for it to finish.
    pub fn shutdown(&self, deadline: Duration) -> Result<Stats> {
        // A deadline too far to represent means "no deadline".
        let give_up_at = Instant::now().checked_add(deadline);
        // First of all: a socket nobody will accept on must not hold newcomers.
        self.listening.release();
        let mut state = self.lock();
        match std::mem::replace(&mut *state, State::Stopping) {
            State::Bound(starter) => {
                drop(starter); // never started: this closes the listeners
                let stats = self.engine.live_stats();
                *state = State::Stopped(Box::new(stats));
                self.stopped.notify_all();
                Ok(stats)
            }
            State::Running(running) => {
                drop(state);
                let stats = self.engine.stop(running, give_up_at);
                *self.lock() = State::Stopped(Box::new(stats));
                self.stopped.notify_all();
                Ok(stats)
            }
            State::Stopping => {
                *state = State::Stopping;
                Ok(self.wait_locked(state))
            }
            State::Stopped(stats) => {
                let copy = *stats;
                *state = State::Stopped(stats);
                Ok(copy)
            }
        }
    }

    /// Wait until the server has stopped (by a shutdown from any thread); its final
    /// statistics.
    pub fn wait(&self) -> Stats {
        let state = self.lock();
        self.wait_locked(state)
    }

    fn wait_locked(&self, mut state: MutexGuard<'_, State<E::Running>>) -> Stats {
        loop {
            if let State::Stopped(stats) = &*state {
                return **stats;
            }
            state = self.stopped.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// What a [`ServerHandle`] can do, whatever the server.
trait Control: Send + Sync {
    fn stats(&self) -> Stats;
    fn shutdown(&self, deadline: Duration) -> Result<Stats>;
    fn wait(&self) -> Stats;
    fn is_running(&self) -> bool;
    fn listeners(&self) -> io::Result<Vec<TcpListener>>;
}

impl<E: Engine> Control for Lifecycle<E> {
    fn stats(&self) -> Stats {
        Lifecycle::stats(self)
    }
    fn shutdown(&self, deadline: Duration) -> Result<Stats> {
        Lifecycle::shutdown(self, deadline)
    }
    fn wait(&self) -> Stats {
        Lifecycle::wait(self)
    }
    fn is_running(&self) -> bool {
        Lifecycle::is_running(self)
    }
    fn listeners(&self) -> io::Result<Vec<TcpListener>> {
        Lifecycle::listeners(self)
    }
}

/// A cloneable handle on a server (`Clone + Send + Sync`), from
/// [`Server::handle`](crate::Server::handle): watch it, stop it and wait for it from any
/// thread, for example from a signal handler while `main` waits.
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
/// let server = TcpServer::serve("127.0.0.1:0", Echo, ServerParams::default())?;
/// let handle = server.handle();
/// // Another thread (a signal handler, an admin endpoint) stops the server ...
/// let stopper = {
///     let handle = handle.clone();
///     std::thread::spawn(move || handle.shutdown(Duration::from_secs(1)))
/// };
/// // ... while main waits for it to stop.
/// let stats = handle.wait();
/// assert!(!handle.is_running());
/// assert_eq!(stats, stopper.join().unwrap()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ServerHandle(Arc<dyn Control>);

impl ServerHandle {
    /// The server's counters now (its final statistics once stopped).
    pub fn stats(&self) -> Stats {
        self.0.stats()
    }

    /// Shut the server down as [`Server::shutdown`](crate::Server::shutdown) does; if
    /// another thread is already doing so, wait for it to finish. Returns the final
    /// statistics.
    pub fn shutdown(&self, deadline: Duration) -> Result<Stats> {
        self.0.shutdown(deadline)
    }

    /// Block until the server has stopped (shut down from any thread, or dropped); its
    /// final statistics.
    pub fn wait(&self) -> Stats {
        self.0.wait()
    }

    /// True while the server runs (started and not yet stopped).
    pub fn is_running(&self) -> bool {
        self.0.is_running()
    }

    /// New descriptors of the server's listening sockets, to hand to another process (a
    /// new version of this program taking over without refusing anyone: see
    /// `net::ops::Successor` with the `ops` feature), from when the server is bound until
    /// its shutdown begins; then an error of kind `NotConnected`.
    ///
    /// One socket for `net` and for a server built on one listener; `evnet` bound with
    /// several loops gives one per loop (its `SO_REUSEPORT` group): a successor must
    /// accept on every one of them, or the connections the kernel hashes to the others
    /// wait unanswered.
    ///
    /// ```
    /// use std::time::Duration;
    /// use net::{Server, ServerParams, TcpServer};
    /// # struct Nothing;
    /// # impl net::Handler for Nothing {
    /// #     type Session = ();
    /// #     fn open(&self, _: &net::Connection) {}
    /// #     fn serve(&self, _: &mut (), _: &mut net::Connection) -> std::io::Result<net::Action> {
    /// #         Ok(net::Action::Close)
    /// #     }
    /// # }
    /// let server = TcpServer::serve("127.0.0.1:0", Nothing, ServerParams::default())?;
    /// let handle = server.handle();
    /// let sockets = handle.listeners()?;
    /// assert_eq!(sockets[0].local_addr()?, server.local_addr());
    /// handle.shutdown(Duration::from_secs(1))?;
    /// assert!(handle.listeners().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn listeners(&self) -> io::Result<Vec<TcpListener>> {
        self.0.listeners()
    }
}

impl fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle")
            .field("running", &self.is_running())
            .finish()
    }
}

/// The handle of a server built on `lifecycle` (for server implementations).
pub fn handle_of<E: Engine>(lifecycle: &Arc<Lifecycle<E>>) -> ServerHandle {
    ServerHandle(Arc::clone(lifecycle) as Arc<dyn Control>)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    #[derive(Default)]
    struct Fake {
        stops: AtomicUsize,
    }

    impl Engine for Fake {
        type Running = u32;
        fn live_stats(&self) -> Stats {
            Stats::default()
        }
        fn stop(&self, running: u32, _: Option<Instant>) -> Stats {
            self.stops.fetch_add(1, SeqCst);
            Stats {
                requests: u64::from(running),
                ..Stats::default()
            }
        }
    }

    fn nothing() -> Listening {
        Listening::new([]).unwrap()
    }

    #[test]
    fn bound_running_stopped_once() {
        let lc = Lifecycle::new(Fake::default(), Box::new(|| Ok(7)), nothing());
        assert!(!lc.is_running());
        lc.start().unwrap();
        assert!(lc.start().unwrap_err().is_state());
        assert!(lc.is_running());
        let handle = handle_of(&lc);
        let other = handle.clone();
        let waiter = std::thread::spawn(move || other.wait());
        assert_eq!(handle.shutdown(Duration::ZERO).unwrap().requests, 7);
        assert_eq!(waiter.join().unwrap().requests, 7);
        assert_eq!(lc.shutdown(Duration::ZERO).unwrap().requests, 7);
        assert_eq!(lc.engine().stops.load(SeqCst), 1);
        assert!(lc.start().is_err());
    }

    #[test]
    fn never_started_stops_without_engine_stop() {
        let lc = Lifecycle::new(Fake::default(), Box::new(|| Ok(1)), nothing());
        lc.shutdown(Duration::from_secs(1)).unwrap();
        assert_eq!(lc.engine().stops.load(SeqCst), 0);
        assert_eq!(lc.wait(), Stats::default());
    }

    #[test]
    fn failed_start_is_stopped() {
        let lc: Arc<Lifecycle<Fake>> = Lifecycle::new(
            Fake::default(),
            Box::new(|| Err(Error::new(ErrorKind::Resource, "no threads", None))),
            nothing(),
        );
        assert!(lc.start().is_err());
        assert!(!lc.is_running());
        assert_eq!(lc.wait(), Stats::default());
    }
}
