//! `EvServer`: starting, observing and stopping the loops and workers.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use net::__private::{self as support, handle_of, Engine, Lifecycle, Listening, Starter};
use net::{Error, ErrorKind, Handler, Result, Server, ServerHandle, ServerParams, Stats};
use socket2::{Domain, Protocol, Socket, Type};

use crate::ev::Waker;
use crate::event_loop::{EventLoop, LoopSetup, Serving};
use crate::options::{Dispatch, EvOptions};
use crate::runner::Runners;
use crate::shared::Shared;
use crate::takeover::{Seat, Spares, Watch};
use crate::worker::{run_worker, Mailbox};

/// Deadline used when a running server is dropped without an explicit shutdown.
const DROP_DEADLINE: Duration = Duration::from_secs(1);

/// The evented server: `loops` libev event loops (one `SO_REUSEPORT` listener each) watch
/// every connection; a fixed set of threads serves *requests*.
///
/// An idle keep-alive connection costs a slot in its loop (a few hundred bytes), not a
/// thread and not a buffer. When a connection becomes readable its loop reads the bytes,
/// asks [`Handler::frame`] whether a whole request is there (a slow client's partial
/// request stays in the loop, bounded by `max_request_buffer` and `read_timeout`), and
/// serves it where the [`Dispatch`](crate::Dispatch) mode says: by default on the thread
/// running the loop, which another thread takes over if the handler blocks (see
/// [`EvOptions::takeover_after`](crate::EvOptions::takeover_after)); requests framed
/// [`Frame::Blocking`](net::Frame::Blocking) on a worker, which serves one request and
/// hands the connection back.
///
/// Statistics keep Poco's meaning per connection; `current_threads` is loops + spares +
/// workers (the fixed threads; adaptive dispatch adds one watch thread besides), and
/// `queued_connections` counts requests waiting for a worker.
///
/// **TLS** (feature `tls`, parameters built with `ServerParamsBuilder::tls`): the loops run
/// every handshake and decrypt every record with rustls, so [`Handler::frame`] and
/// [`Handler::serve`] see plaintext, and a client that stalls its handshake costs a slot,
/// never a worker: it is closed at `read_timeout` from accept and counted in
/// `Stats::tls_handshake_failures` (and `timed_out`). [`Handler::open`] runs once the
/// handshake is complete. Responses are encrypted where they are flushed (on the worker,
/// and by the loop for what the socket did not take at once). A clean close (the handler's
/// `Action::Close`, the keep-alive timeout, shutdown) sends `close_notify` if the socket
/// takes it at once.
///
/// ```
/// use std::io::{self, BufRead, Write};
/// use std::time::Duration;
/// use evnet::{Action, Connection, EvOptions, EvServer, Handler, Server, ServerParams};
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
/// let options = EvOptions::default().loops(1).workers(2);
/// let mut server = EvServer::bind_with("127.0.0.1:0", Echo, ServerParams::default(), options)?;
/// server.start()?;
/// let mut client = std::net::TcpStream::connect(server.local_addr())?;
/// client.write_all(b"hi\n")?;
/// let mut reply = String::new();
/// io::BufReader::new(&client).read_line(&mut reply)?;
/// assert_eq!(reply, "hi\n");
/// // 1 loop, 2 workers and 2 spare threads (adaptive dispatch; see `EvOptions::spares`)
/// assert_eq!(server.stats().current_threads, 5);
/// server.shutdown(Duration::from_secs(1))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct EvServer {
    life: Arc<Lifecycle<EvEngine>>,
    local_addr: SocketAddr,
    options: EvOptions,
}

/// The evented server's side of the shared lifecycle: its state, and how to stop it.
struct EvEngine {
    shared: Arc<Shared>,
}

/// Threads of a started server.
struct Running {
    /// Runners: the loops' threads and the spares.
    loops: Vec<JoinHandle<()>>,
    workers: Vec<JoinHandle<()>>,
    /// The takeover watch (adaptive dispatch with spares).
    watch: Option<JoinHandle<()>>,
    wakers: Vec<Waker>,
}

impl Running {
    fn wake_all(&self) {
        for waker in &self.wakers {
            waker.wake();
        }
    }

    fn join(self) {
        for handle in self.loops.into_iter().chain(self.workers).chain(self.watch) {
            let _ = handle.join();
        }
    }
}

impl EvServer {
    /// The options this server was built with.
    pub fn options(&self) -> &EvOptions {
        &self.options
    }
}

impl EvServer {
    /// A bound server on `listeners` (bound, listening, non-blocking; one per loop), whose
    /// distinct sockets `listening` holds for [`ServerHandle::listeners`].
    fn on_listeners<H: Handler>(
        listeners: Vec<TcpListener>,
        listening: Listening,
        handler: H,
        params: ServerParams,
        options: EvOptions,
    ) -> Result<Self> {
        let local_addr = listeners[0]
            .local_addr()
            .map_err(|e| Error::new(ErrorKind::Bind, "cannot read the bound address", Some(e)))?;
        let workers = options.threads_for_workers();
        let (loops, spares) = (options.loop_count(), options.spare_count());
        let shared = Arc::new(Shared::new(params, loops, workers, spares));
        let handler = Arc::new(handler);
        let for_threads = (Arc::clone(&shared), options.clone());
        let starter: Starter<Running> = Box::new(move || {
            let (shared, options) = for_threads;
            start_threads(&shared, &options, listeners, handler)
        });
        Ok(EvServer {
            life: Lifecycle::new(EvEngine { shared }, starter, listening),
            local_addr,
            options,
        })
    }
}

impl Server for EvServer {
    type Options = EvOptions;

    /// Binds one `SO_REUSEPORT` listener per loop, with `params.backlog()`: the kernel
    /// spreads new connections over the loops by a hash of their addresses.
    fn bind_with<A: ToSocketAddrs, H: Handler>(
        addr: A,
        handler: H,
        params: ServerParams,
        options: EvOptions,
    ) -> Result<Self> {
        options.validate(params.max_connections())?;
        let listeners = bind_listeners(addr, options.loop_count(), params.backlog())?;
        let listening = Listening::new(&listeners)
            .map_err(|e| Error::new(ErrorKind::Bind, "cannot use the listener", Some(e)))?;
        Self::on_listeners(listeners, listening, handler, params, options)
    }

    /// All loops share the one listener given (each watches a duplicate of its
    /// descriptor): every loop is woken when a connection arrives and the first to call
    /// `accept(2)` takes it, so connections go to whichever loop gets there first — an
    /// even spread under load, at the cost of a wasted wake-up on the others. (Bind with
    /// [`Server::bind_with`] to get one `SO_REUSEPORT` listener per loop instead.)
    fn from_listener_with<H: Handler>(
        listener: TcpListener,
        handler: H,
        params: ServerParams,
        options: EvOptions,
    ) -> Result<Self> {
        Self::from_listeners_with(vec![listener], handler, params, options)
    }

    /// Loop `i` accepts on socket `i % n`: one socket per loop when there are as many
    /// sockets as loops (the `SO_REUSEPORT` group of a predecessor bound with the same
    /// options, say), shared by several loops when there are fewer. More sockets than
    /// loops is an error naming `loops`: a socket no loop accepts on would hold the
    /// connections the kernel gives it unanswered.
    fn from_listeners_with<H: Handler>(
        listeners: Vec<TcpListener>,
        handler: H,
        params: ServerParams,
        options: EvOptions,
    ) -> Result<Self> {
        options.validate(params.max_connections())?;
        let loops = options.loop_count();
        if listeners.is_empty() || listeners.len() > loops {
            return Err(Error::invalid_param(
                "loops",
                format_args!(
                    "{loops} loops cannot accept on {} listening sockets (one loop per \
                     socket at least)",
                    listeners.len()
                ),
            ));
        }
        let use_err = |e| Error::new(ErrorKind::Bind, "cannot use the listener", Some(e));
        for socket in &listeners {
            socket.set_nonblocking(true).map_err(use_err)?;
        }
        let per_loop = (0..loops)
            .map(|i| listeners[i % listeners.len()].try_clone())
            .collect::<io::Result<Vec<_>>>()
            .map_err(use_err)?;
        let listening = Listening::new(&listeners).map_err(use_err)?;
        Self::on_listeners(per_loop, listening, handler, params, options)
    }

    fn start(&mut self) -> Result<()> {
        self.life.start()
    }

    fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    fn stats(&self) -> Stats {
        self.life.stats()
    }

    fn handle(&self) -> ServerHandle {
        handle_of(&self.life)
    }

    fn shutdown(&mut self, deadline: Duration) -> Result<Stats> {
        self.life.shutdown(deadline)
    }
}

impl Engine for EvEngine {
    type Running = Running;

    fn live_stats(&self) -> Stats {
        self.shared.stats()
    }

    fn stop(&self, running: Running, give_up_at: Option<Instant>) -> Stats {
        let shared = &self.shared;
        shared.stopping.store(true, SeqCst);
        running.wake_all();
        let guard = shared
            .loops_running
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let left =
            support::wait_while_before(&shared.loop_finished, guard, give_up_at, |n| *n == 0);
        let late = *left > 0;
        drop(left);
        if late {
            shared.force.store(true, SeqCst);
            running.wake_all();
        }
        // Loops end once their busy connections are back; workers end when the loops'
        // queue senders are gone.
        running.join();
        shared.counters.set_threads(0);
        shared.counters.set_queued(0);
        shared.stats()
    }
}

impl Drop for EvServer {
    fn drop(&mut self) {
        let _ = self.life.shutdown(DROP_DEADLINE);
    }
}

impl fmt::Debug for EvServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EvServer")
            .field("local_addr", &self.local_addr)
            .field("options", &self.options)
            .field("running", &self.life.is_running())
            .field("stats", &self.stats())
            .finish()
    }
}

/// One listener per loop on the same address, with `SO_REUSEPORT`, non-blocking.
fn bind_listeners<A: ToSocketAddrs>(
    addr: A,
    count: usize,
    backlog: u32,
) -> Result<Vec<TcpListener>> {
    let bind_err = |e| Error::new(ErrorKind::Bind, "cannot bind the listening socket", Some(e));
    let addrs = addr.to_socket_addrs().map_err(bind_err)?;
    let mut last_err = io::Error::new(io::ErrorKind::InvalidInput, "no address to bind");
    for candidate in addrs {
        if candidate.port() != 0 {
            // SO_REUSEPORT would let us share a port another server already listens on,
            // silently splitting its traffic. Check the port is free first, with a plain
            // socket, as `net` (and any ordinary server) would.
            if let Err(e) = probe_free(candidate) {
                last_err = e;
                continue;
            }
        }
        match listen_on(candidate, backlog) {
            Ok(first) => {
                // Port 0 resolved to a real port: the other loops join that one.
                let actual = first.local_addr().map_err(bind_err)?;
                let mut listeners = vec![first];
                for _ in 1..count {
                    listeners.push(listen_on(actual, backlog).map_err(bind_err)?);
                }
                return Ok(listeners);
            }
            Err(e) => last_err = e,
        }
    }
    Err(bind_err(last_err))
}

/// Bind (without `SO_REUSEPORT`) and drop a socket, to see whether `addr` is in use.
fn probe_free(addr: SocketAddr) -> io::Result<()> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())
}

fn listen_on(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog.min(i32::MAX as u32) as i32)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

fn start_threads<H: Handler>(
    shared: &Arc<Shared>,
    options: &EvOptions,
    listeners: Vec<TcpListener>,
    handler: Arc<H>,
) -> Result<Running> {
    let loop_count = listeners.len();
    let params = &shared.params;
    let total = params.max_connections();
    let workers = options.threads_for_workers();
    let dispatch = options.dispatch_mode();
    let jobs = (dispatch != Dispatch::Inline)
        .then(|| crate::queue::bounded(options.queue_capacity_for(total)));

    // Every loop is built here, before any thread starts: a failure leaves nothing to stop.
    let mut loops = Vec::with_capacity(loop_count);
    for (id, listener) in listeners.into_iter().enumerate() {
        // Split max_connections as evenly as possible.
        let capacity = total / loop_count + usize::from(id < total % loop_count);
        let serving = match (&jobs, dispatch) {
            (Some((tx, _)), Dispatch::Adaptive) => Serving::Adaptive(tx.clone()),
            (Some((tx, _)), _) => Serving::Workers(tx.clone()),
            (None, _) => Serving::Inline,
        };
        let setup = LoopSetup {
            id,
            listener,
            handler: Arc::clone(&handler),
            shared: Arc::clone(shared),
            serving,
            capacity,
            input_budget: options.input_budget_bytes(),
            output_budget: options.output_budget_bytes(),
        };
        let lp = EventLoop::new(setup)
            .map_err(|e| Error::new(ErrorKind::Resource, "cannot start an event loop", Some(e)))?;
        loops.push(lp);
    }
    let (jobs_tx, jobs_rx) = jobs.unzip();
    drop(jobs_tx);
    let mailboxes: Arc<[Arc<Mailbox<H::Session>>]> =
        loops.iter().map(|lp| Arc::clone(lp.mailbox())).collect();
    let wakers = mailboxes.iter().map(|m| m.waker()).collect();
    let runners = Arc::new(Runners {
        handler: Arc::clone(&handler),
        shared: Arc::clone(shared),
        mailboxes: Arc::clone(&mailboxes),
        seats: (0..loop_count).map(|_| Seat::new()).collect(),
        spares: Spares::new(),
        watch: Watch::new(),
    });
    let mut running = Running {
        loops: Vec::new(),
        workers: Vec::new(),
        watch: None,
        wakers,
    };
    let spawn_err = |e| Error::new(ErrorKind::Resource, "cannot spawn a server thread", Some(e));
    let give_up = |running: Running, loops: Vec<Box<EventLoop<H>>>, e| {
        // Loops not given to a thread end here; started threads are stopped.
        shared.stopping.store(true, SeqCst);
        for lp in loops {
            runners.end(lp);
        }
        running.wake_all();
        running.join();
        Err(spawn_err(e))
    };

    let spares = options.spare_count();
    let mut loops = loops.into_iter();
    for id in 0..loop_count + spares {
        let first = loops.next();
        let name = match id < loop_count {
            true => format!("evnet-loop-{id}"),
            false => format!("evnet-spare-{}", id - loop_count),
        };
        let r = Arc::clone(&runners);
        match thread::Builder::new()
            .name(name)
            .spawn(move || r.run(first))
        {
            Ok(handle) => running.loops.push(handle),
            Err(e) => return give_up(running, loops.collect(), e),
        }
    }
    if let Some(jobs_rx) = jobs_rx {
        for id in 0..workers {
            let (h, s, rx, m) = (
                Arc::clone(&handler),
                Arc::clone(shared),
                jobs_rx.clone(),
                Arc::clone(&mailboxes),
            );
            let spawned = thread::Builder::new()
                .name(format!("evnet-worker-{id}"))
                .spawn(move || run_worker(h, s, rx, m));
            match spawned {
                Ok(handle) => running.workers.push(handle),
                Err(e) => return give_up(running, Vec::new(), e),
            }
        }
    }
    if dispatch == Dispatch::Adaptive && spares > 0 {
        let r = Arc::clone(&runners);
        let counters = Arc::clone(shared);
        let tick = options.takeover_threshold() / 2;
        let spawned = thread::Builder::new()
            .name("evnet-watch".into())
            .spawn(move || {
                r.watch.run(&r.seats, &r.spares, tick, |t| {
                    let c = &counters.counters;
                    c.loops_taken_over(t.takeovers);
                    c.loops_stalled(t.stalls);
                })
            });
        match spawned {
            Ok(handle) => running.watch = Some(handle),
            Err(e) => return give_up(running, Vec::new(), e),
        }
    }
    let threads = running.loops.len() + running.workers.len();
    shared.counters.set_threads(threads);
    shared.counters.set_max_threads(threads);
    Ok(running)
}
