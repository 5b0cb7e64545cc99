//! `TcpServer`: the blocking thread-per-connection server with Poco `TCPServer` semantics.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::connection::{Connection, ServerConnection};
use crate::error::{Error, ErrorKind, Result};
use crate::handler::Handler;
use crate::lifecycle::{handle_of, Engine, Lifecycle, ServerHandle, Starter};
use crate::limits::{admit_client, ClientLimits, ClientSlot, OverClientLimit, TokenBucket};
use crate::listening::Listening;
use crate::params::ServerParams;
use crate::readiness::HandshakeStep;
use crate::server::Server;
use crate::stats::{Counters, Stats};
use crate::support::{self, AcceptFailure};

/// Deadline used when a running server is dropped without an explicit shutdown.
const DROP_DEADLINE: Duration = Duration::from_secs(1);
/// Longest pause of the acceptor after an `accept(2)` failure such as EMFILE.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_millis(500);

/// The blocking server: one acceptor thread, a bounded queue of accepted connections, and
/// a pool of connection threads grown on demand up to `max_threads`, as in Poco's
/// `TCPServer`.
///
/// - A connection is served by one thread from its first to its last request; between
///   requests that thread waits for the next one up to `keep_alive_timeout`.
/// - A new thread is created only when no thread is idle; `current_threads` counts it at
///   creation. A thread other than the last exits after `thread_idle_time` without work.
/// - When every thread is busy the connection waits in the queue (`max_queued`); when the
///   queue is full, or `max_connections` are open, it is closed and counted in
///   `refused_connections`. A connection rejected by the filter is closed uncounted.
/// - `queued_connections` counts accepted connections waiting for a thread.
///
/// **Its nature: a connection holds a thread for as long as it is open**, idle or not.
/// So `max_threads + max_queued` clients that merely stay connected take the server:
/// with the defaults, 64 idle keep-alive clients hold every thread (each until
/// `keep_alive_timeout`, 15 s, and again after each request), the next 64 wait in the
/// queue, and from the 129th every new connection is refused. A slow client costs the same:
/// one trickling a request (slowloris) holds its thread up to `read_timeout` (30 s) per
/// request, one that does not read its response up to `write_timeout` (30 s), and a client
/// that reconnects renews the hold for ever. Raising `max_threads` buys room at a thread
/// (and its stack) per client. This is the price of its simplicity; `evnet` serves the
/// same handlers with event loops that hold such clients without a thread.
///
/// ```
/// use std::io::{self, BufRead, BufReader, Write};
/// use std::net::TcpStream;
/// use std::time::Duration;
/// use net::{Action, Connection, Handler, Server, ServerParams, TcpServer};
///
/// struct Echo;
/// impl Handler for Echo {
///     type Session = ();
///     fn open(&self, _: &Connection) {}
///     fn serve(&self, _: &mut (), conn: &mut Connection) -> io::Result<Action> {
///         let mut line = Vec::new();
///         if conn.read_until(b'\n', &mut line)? == 0 {
///             return Ok(Action::Close);
///         }
///         conn.write_all(&line)?;
///         Ok(Action::KeepAlive)
///     }
/// }
///
/// // Poco's TCPServerParams: a pool of at most 4 threads and a queue of 4 connections.
/// let params = ServerParams::builder()
///     .max_threads(4)
///     .max_queued(4)
///     .thread_idle_time(Duration::from_millis(100))
///     .build()?;
/// let mut server = TcpServer::bind("127.0.0.1:0", Echo, params)?;
/// assert_eq!(server.stats().current_threads, 0); // threads start on demand
/// server.start()?;
///
/// let mut client = TcpStream::connect(server.local_addr())?;
/// client.write_all(b"hello\n")?;
/// let mut reply = String::new();
/// BufReader::new(&client).read_line(&mut reply)?;
/// assert_eq!(reply, "hello\n");
/// let stats = server.stats();
/// assert_eq!((stats.current_connections, stats.current_threads), (1, 1));
///
/// drop(client);
/// let stats = server.shutdown(Duration::from_secs(1))?;
/// assert_eq!(stats.total_connections, 1);
/// assert_eq!(stats.requests, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TcpServer {
    life: Arc<Lifecycle<NetEngine>>,
    local_addr: SocketAddr,
}

/// The blocking server's side of the shared lifecycle: its state, and how to stop it.
struct NetEngine {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
}

/// State shared by the acceptor, the connection threads and the server handle.
struct Shared {
    params: ServerParams,
    counters: Counters,
    /// Cleared once, by shutdown, first: the acceptor sees it within an [`ACCEPT_TICK`]
    /// and returns without accepting again, so that a listening socket shared with
    /// another process (a successor taking over) loses nobody to this one.
    accepting: AtomicBool,
    /// Set once, by shutdown, once the acceptor has returned; shutdown then cuts the
    /// queue to the connections handed to a thread. Checked under the `pool` lock before
    /// queueing a connection, so that once the queue is cut none is queued, and by a
    /// thread that finds the queue empty, which then exits. Read without the lock where
    /// only promptness matters.
    stopping: AtomicBool,
    /// Set once, by shutdown, when the connections still waiting for their first request
    /// have had their grace ([`NetEngine::stop`]): from then on every wait on a peer
    /// ends (checked by a connection marked idle, after it is marked, so that either it
    /// sees the flag or shutdown sees it idle and wakes it).
    cutting: AtomicBool,
    pool: Mutex<Pool>,
    /// Signalled when a connection is queued or the server stops.
    work: Condvar,
    /// Signalled when a connection thread exits.
    exited: Condvar,
    /// Open connections, so shutdown can wake the idle ones (and a full server evict
    /// one, `evict_idle_at_capacity`).
    live: Mutex<HashMap<u64, Arc<Live>>>,
    next_id: AtomicU64,
    /// Open connections per client address (`max_connections_per_client`).
    clients: Option<Arc<ClientLimits>>,
    /// What [`Live::idle_since`] counts from.
    epoch: Instant,
}

struct Pool {
    queue: VecDeque<Accepted>,
    /// Threads waiting for a connection.
    idle: usize,
    /// Threads spawned for a connection, not yet running: each takes one from the queue
    /// (or a thread freed first does, and it finds the queue empty).
    starting: usize,
    /// Shutdown has cut the queue to the connections handed to a thread: from then on
    /// those are taken and served; between shutdown's flag and this cut, nothing is.
    cut: bool,
    threads: usize,
    handles: Vec<JoinHandle<()>>,
}

/// An accepted connection on its way to a thread: its socket, shared (not duplicated)
/// between its connection and the live set, so a connection costs one descriptor; its
/// place in its client's count, when one was taken at accept (dropped with it, wherever
/// it ends: refused, cleared from the queue at shutdown, or closed by its thread); and
/// when it was accepted (its age counts from then), and by whom (as `accept(2)` said).
struct Accepted {
    socket: Arc<TcpStream>,
    peer: SocketAddr,
    client: Option<ClientSlot>,
    at: Instant,
}

/// `Live::idle_since` of a connection that is not waiting for its next request.
const NOT_IDLE: u64 = u64::MAX;

/// A connection as shutdown sees it: its socket (the same descriptor its thread uses, so
/// `shutdown(2)` on it wakes that thread), and whether a request is being served on it.
///
/// `busy` goes from false to true by compare-and-swap only, on both sides: the
/// connection's thread when a request arrives (`claim`), and a full server evicting the
/// connection (`evict_idle`); whoever swaps first has it, so an evicted connection never
/// begins a request and a connection beginning one is never evicted.
struct Live {
    socket: Arc<TcpStream>,
    busy: AtomicBool,
    /// No request has begun on it yet (its PROXY header, TLS handshake, the handler's
    /// `open` or its first request is under way): shutdown gives such a connection its
    /// grace instead of closing it.
    fresh: AtomicBool,
    /// When it was accepted: its `first_request_grace` counts from then.
    accepted: Instant,
    /// Since when (nanoseconds from `Shared::epoch`) it waits for its next request, or
    /// [`NOT_IDLE`]: only connections waiting between requests may be evicted (not one
    /// whose PROXY header or TLS handshake is under way).
    idle_since: AtomicU64,
}

impl Live {
    /// Waiting for the next request from now (evictable, woken by shutdown).
    fn wait_for_request(&self, shared: &Shared) {
        let since = u64::try_from(shared.epoch.elapsed().as_nanos()).unwrap_or(NOT_IDLE - 1);
        self.idle_since.store(since.min(NOT_IDLE - 1), SeqCst);
        self.busy.store(false, SeqCst);
    }

    /// The wait for a request is over: take the connection back for its thread; false
    /// when it was evicted meanwhile (close it, unserved).
    fn claim(&self) -> bool {
        let claimed = self
            .busy
            .compare_exchange(false, true, SeqCst, SeqCst)
            .is_ok();
        self.idle_since.store(NOT_IDLE, SeqCst);
        self.fresh.store(false, SeqCst);
        claimed
    }

    /// Its first request has not begun and may still, by `now`, within `grace` of its
    /// accept (whether it waits on its peer or its thread is between steps: building
    /// its TLS session, the handler's `open`).
    fn awaits_first_request(&self, grace: Duration, now: Instant) -> bool {
        self.fresh.load(SeqCst) && now < self.accepted + grace
    }

    /// Whether shutdown ends its wait for a request now: at once for a connection that
    /// served one (idle between requests), after the grace for one awaiting its first.
    /// Call after marking it idle.
    fn wait_ends(&self, shared: &Shared) -> bool {
        shared.stopping.load(SeqCst) && (!self.fresh.load(SeqCst) || shared.cutting.load(SeqCst))
    }
}

impl Shared {
    fn pool(&self) -> MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn live(&self) -> MutexGuard<'_, HashMap<u64, Arc<Live>>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a connection awaits its first request within its grace: queued for a
    /// thread, taken by one but not yet among the live ones, or live and fresh
    /// ([`Live::awaits_first_request`]).
    fn awaits_first_requests(&self) -> bool {
        if !self.pool().queue.is_empty() {
            return true;
        }
        let (grace, now) = (self.params.first_request_grace(), Instant::now());
        // Counted when taken from the queue, live a moment later (and counted out a
        // moment after it leaves the live set: then this waits a poll more).
        let live = self.live();
        self.counters.current_connections() > live.len()
            || live
                .values()
                .any(|live| live.awaits_first_request(grace, now))
    }

    /// Wake the threads of the connections waiting on their peer (not serving a request)
    /// for which `pick` holds: their wait ends as if the peer had closed.
    fn wake_idle(&self, pick: impl Fn(&Live) -> bool) {
        for live in self.live().values() {
            if !live.busy.load(SeqCst) && pick(live) {
                let _ = live.socket.shutdown(Shutdown::Read);
            }
        }
    }
    fn refuse(&self, accepted: Accepted) {
        self.counters.refused();
        __log_debug!(
            "refused a connection from {:?}: server full",
            accepted.socket.peer_addr()
        );
        drop(accepted);
    }

    /// [`admit_client`] with this server's table.
    fn admit_client(
        &self,
        ip: std::net::IpAddr,
    ) -> std::result::Result<Option<ClientSlot>, OverClientLimit> {
        admit_client(self.clients.as_ref(), ip, &self.counters)
    }
}

impl Server for TcpServer {
    type Options = ();

    /// Binds with std's `TcpListener::bind`, whose listen backlog is std's own (128,
    /// capped by `somaxconn`): `params.backlog()` cannot be applied without `unsafe` code
    /// or a dependency, which `net` has neither of. To choose the backlog, bind and listen
    /// yourself (with `socket2`, say) and use [`Server::from_listener`].
    fn bind_with<A: ToSocketAddrs, H: Handler>(
        addr: A,
        handler: H,
        params: ServerParams,
        options: (),
    ) -> Result<Self> {
        let listener = bind_listener(addr)?;
        Self::from_listener_with(listener, handler, params, options)
    }

    fn from_listener_with<H: Handler>(
        listener: TcpListener,
        handler: H,
        params: ServerParams,
        _options: (),
    ) -> Result<Self> {
        let local_addr = listener
            .local_addr()
            .map_err(|e| Error::new(ErrorKind::Bind, "cannot read the bound address", Some(e)))?;
        let use_err = |e| Error::new(ErrorKind::Bind, "cannot use the listener", Some(e));
        let listening = Listening::new([&listener]).map_err(use_err)?;
        let listener = ticking(listener).map_err(use_err)?;
        let counters = Counters::default();
        counters.set_max_threads(params.max_threads());
        let params_clients = ClientLimits::for_params(&params);
        let shared = Arc::new(Shared {
            params,
            counters,
            accepting: AtomicBool::new(true),
            stopping: AtomicBool::new(false),
            cutting: AtomicBool::new(false),
            pool: Mutex::new(Pool {
                queue: VecDeque::new(),
                idle: 0,
                starting: 0,
                cut: false,
                threads: 0,
                handles: Vec::new(),
            }),
            work: Condvar::new(),
            exited: Condvar::new(),
            live: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            clients: params_clients,
            epoch: Instant::now(),
        });
        let handler = Arc::new(handler);
        let for_acceptor = Arc::clone(&shared);
        let starter: Starter<JoinHandle<()>> = Box::new(move || {
            thread::Builder::new()
                .name("net-acceptor".into())
                .spawn(move || accept_loop(listener, for_acceptor, handler))
                .map_err(|e| {
                    Error::new(
                        ErrorKind::Resource,
                        "cannot spawn the acceptor thread",
                        Some(e),
                    )
                })
        });
        let engine = NetEngine { shared, local_addr };
        Ok(TcpServer {
            life: Lifecycle::new(engine, starter, listening),
            local_addr,
        })
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

impl Engine for NetEngine {
    type Running = JoinHandle<()>;

    fn live_stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    fn stop(&self, acceptor: JoinHandle<()>, give_up_at: Option<Instant>) -> Stats {
        let shared = &self.shared;
        // Stop accepting first, and wait for the acceptor (it sees the flag within a
        // tick). Until it has returned nothing else changes: a connection it accepts
        // meanwhile is served as any other, and no connection closes, so no client
        // reconnects into an acceptor about to leave. From then on a successor sharing
        // the listening socket gets every newcomer.
        shared.accepting.store(false, SeqCst);
        stop_acceptor(acceptor, self.local_addr, give_up_at);
        // Then close at once the queued connections waiting for a thread to free. Those
        // handed to a thread (an idle one, or one started for them) were accepted like
        // any newcomer and are served: a connection closed unserved is a request lost on
        // a fresh connection, which no client sends again. Once the queue is cut to them
        // nothing more is queued (`dispatch` checks the flag under the pool lock), so a
        // thread freed from now on takes one of them or exits (one freed between the
        // flag and the cut exits: `Pool::cut`). The flag is set before taking the lock:
        // the last thread, when `thread_idle_time` is shorter than a turn of its idle
        // loop, holds the lock until it sees the flag.
        shared.stopping.store(true, SeqCst);
        {
            let mut pool = shared.pool();
            let handed_to_a_thread = pool.idle + pool.starting;
            pool.queue.truncate(handed_to_a_thread);
            pool.cut = true;
            shared.counters.set_queued(0);
            shared.work.notify_all();
        }
        // Wake threads waiting for a next request; busy ones finish their request.
        shared.wake_idle(|live| !live.fresh.load(SeqCst));
        // A connection accepted a moment before, whose first request has not begun, is
        // not idle: its client has just connected and is sending it, and a close now
        // would lose that request on a fresh connection, which no client sends again.
        // It may begin it within `first_request_grace` of its accept (and the deadline).
        while give_up_at.is_none_or(|t| Instant::now() < t) && shared.awaits_first_requests() {
            thread::sleep(FIRST_REQUEST_POLL);
        }
        shared.cutting.store(true, SeqCst);
        shared.wake_idle(|_| true);
        let mut pool = shared.pool();
        pool = support::wait_while_before(&shared.exited, pool, give_up_at, |p| p.threads == 0);
        if pool.threads > 0 {
            // Deadline passed: cut the remaining connections so their threads return.
            drop(pool);
            for live in shared.live().values() {
                let _ = live.socket.shutdown(Shutdown::Both);
            }
            pool = shared.pool();
        }
        let handles = std::mem::take(&mut pool.handles);
        drop(pool);
        for handle in handles {
            let _ = handle.join();
        }
        shared.counters.snapshot()
    }
}

impl Drop for TcpServer {
    fn drop(&mut self) {
        let _ = self.life.shutdown(DROP_DEADLINE);
    }
}

impl fmt::Debug for TcpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpServer")
            .field("local_addr", &self.local_addr)
            .field("running", &self.life.is_running())
            .field("stats", &self.stats())
            .finish()
    }
}

/// Bind a listener with `SO_REUSEADDR` semantics as std provides them (std's backlog).
fn bind_listener<A: ToSocketAddrs>(addr: A) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .map_err(|e| Error::new(ErrorKind::Bind, "cannot bind the listening socket", Some(e)))
}

/// How long the acceptor's `accept(2)` waits before it looks at the `accepting` flag
/// again (`SO_RCVTIMEO` on the listening socket, which Linux's `accept(2)` honours).
const ACCEPT_TICK: Duration = Duration::from_millis(50);

/// How often shutdown looks whether the connections awaiting their first request have
/// all begun it (or ended), during their grace.
const FIRST_REQUEST_POLL: Duration = Duration::from_millis(5);

/// `listener` in blocking mode, its `accept(2)` returning `WouldBlock` after an
/// [`ACCEPT_TICK`] without a newcomer. std sets the receive timeout on streams only; it is
/// an option of the socket, whatever std calls it, so the descriptor goes through a
/// `TcpStream` to have it set.
fn ticking(listener: TcpListener) -> io::Result<TcpListener> {
    listener.set_nonblocking(false)?;
    let socket = TcpStream::from(OwnedFd::from(listener));
    socket.set_read_timeout(Some(ACCEPT_TICK))?;
    Ok(TcpListener::from(OwnedFd::from(socket)))
}

/// Wait for the acceptor, told to stop, to return. It does within an [`ACCEPT_TICK`];
/// where the system ignores the receive timeout on `accept(2)`, a connection to the
/// listener wakes it, retried until it lands or `give_up_at` passes (an acceptor that
/// could not be woken, with no loopback route say, is left behind, not waited for).
fn stop_acceptor(acceptor: JoinHandle<()>, addr: SocketAddr, give_up_at: Option<Instant>) {
    let ticks_late = Instant::now() + ACCEPT_TICK * 4;
    while !acceptor.is_finished() {
        let now = Instant::now();
        if now >= ticks_late {
            if wake_acceptor(addr) {
                // Landed: `accept` returned, the acceptor sees the flag.
                break;
            }
            if give_up_at.is_some_and(|t| now >= t) {
                return;
            }
        }
        thread::sleep(Duration::from_millis(2));
    }
    let _ = acceptor.join();
}

/// Wake an acceptor blocked in `accept(2)` by connecting to it once; true on success.
fn wake_acceptor(addr: SocketAddr) -> bool {
    let mut target = addr;
    if target.ip().is_unspecified() {
        target.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    TcpStream::connect_timeout(&target, Duration::from_secs(1)).is_ok()
}

fn accept_loop<H: Handler>(listener: TcpListener, shared: Arc<Shared>, handler: Arc<H>) {
    let mut backoff = Duration::from_millis(5);
    let mut rate = TokenBucket::for_params(&shared.params, Instant::now());
    while shared.accepting.load(SeqCst) {
        match listener.accept() {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(5);
                let at = Instant::now();
                if let Some(bucket) = &mut rate {
                    await_token(&shared, bucket, at);
                }
                if !shared.params.accepts(&peer) {
                    __log_debug!("filter rejected a connection from {peer}");
                    continue;
                }
                // Behind a balancer the client is known from the PROXY header only: it
                // is counted then, on the connection's thread (`serve_connection`).
                let client = match shared.params.proxy_protocol() {
                    true => None,
                    false => match shared.admit_client(peer.ip()) {
                        Ok(client) => client,
                        Err(OverClientLimit) => continue,
                    },
                };
                let socket = Arc::new(stream);
                let accepted = Accepted {
                    socket,
                    peer,
                    client,
                    at,
                };
                dispatch(&shared, &handler, accepted);
            }
            // A tick without a newcomer (see `ticking`), or a retryable failure.
            Err(e) => match support::classify_accept_error(&e) {
                AcceptFailure::Retry => {}
                _ => {
                    __log_warn!("accept failed: {e}; pausing the acceptor for {backoff:?}");
                    thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
                }
            },
        }
    }
}

/// `max_accept_rate`: take a token for the connection just accepted, sleeping until the
/// next one when there is none (counted in `accept_pauses`; meanwhile newcomers wait in
/// the listen backlog). Shutdown cuts the sleep short: the connection in hand is then
/// served as any other accepted before it.
fn await_token(shared: &Shared, bucket: &mut TokenBucket, now: Instant) {
    let Err(mut wait) = bucket.try_take(now) else {
        return;
    };
    shared.counters.accept_paused();
    __log_debug!("accept rate reached: the acceptor pauses for {wait:?}");
    while shared.accepting.load(SeqCst) {
        // In ticks, so that shutdown is seen as promptly as by `accept`.
        thread::sleep(wait.min(ACCEPT_TICK));
        match bucket.try_take(Instant::now()) {
            Ok(()) => return,
            Err(left) => wait = left,
        }
    }
}

/// At `max_connections` with `evict_idle_at_capacity`: evict the connection that has
/// waited longest for its next request, shutting its socket down for reading so that its
/// thread wakes and closes it. True when one was evicted (counted in `evicted_idle`);
/// false when every open connection is busy (or in its PROXY header or TLS handshake).
/// A scan of the open connections, under the live lock: only when the server is full.
fn evict_idle(shared: &Shared) -> bool {
    let live = shared.live();
    let mut idle: Vec<(u64, &Arc<Live>)> = live
        .values()
        .map(|l| (l.idle_since.load(SeqCst), l))
        .filter(|&(since, _)| since != NOT_IDLE)
        .collect();
    idle.sort_unstable_by_key(|&(since, _)| since);
    for (_, victim) in idle {
        // Lost to its thread when a request arrived meanwhile: the next one.
        if victim.claim() {
            let _ = victim.socket.shutdown(Shutdown::Read);
            shared.counters.idle_evicted();
            __log_debug!("evicted an idle connection for a newcomer: server full");
            return true;
        }
    }
    false
}

/// Hand an accepted connection to an idle thread, a new thread, or the queue; or refuse it.
/// Once shutdown has begun, close it uncounted instead.
///
/// At `max_connections`, with `evict_idle_at_capacity`, the connection idle longest is
/// evicted for it ([`evict_idle`]) and the newcomer is handed over whatever the count
/// and the queue's bound say: the evicted connection's thread is on its way to free, and
/// takes the newcomer from the queue if no other thread does first. Each newcomer at
/// capacity evicts one, so what the queue holds over its bound never exceeds the
/// evictions under way.
fn dispatch<H: Handler>(shared: &Arc<Shared>, handler: &Arc<H>, stream: Accepted) {
    let params = &shared.params;
    let mut pool = shared.pool();
    // Accepted before shutdown began, handed over after: shutdown has already closed the
    // queue, so this one is closed as a queued one would have been.
    if shared.stopping.load(SeqCst) {
        drop(pool);
        drop(stream);
        return;
    }
    let open = shared.counters.current_connections() + pool.queue.len();
    let mut evicted = false;
    if open >= params.max_connections() {
        if !(params.evict_idle_at_capacity() && evict_idle(shared)) {
            drop(pool);
            return shared.refuse(stream);
        }
        evicted = true;
    }
    if pool.queue.len() < pool.idle {
        pool.queue.push_back(stream);
        shared.work.notify_one();
    } else if pool.threads < params.max_threads() {
        pool.handles.retain(|h| !h.is_finished());
        let (s, h) = (Arc::clone(shared), Arc::clone(handler));
        let spawned = thread::Builder::new()
            .name("net-conn".into())
            .spawn(move || connection_thread(s, h));
        match spawned {
            Ok(handle) => {
                pool.handles.push(handle);
                pool.threads += 1;
                pool.starting += 1;
                shared.counters.set_threads(pool.threads);
                pool.queue.push_back(stream);
            }
            Err(_) if evicted => {
                pool.queue.push_back(stream);
                shared.work.notify_one();
            }
            Err(_) => {
                drop(pool);
                return shared.refuse(stream);
            }
        }
    } else if evicted || pool.queue.len() - pool.idle < params.max_queued() {
        pool.queue.push_back(stream);
        shared.work.notify_one();
    } else {
        drop(pool);
        return shared.refuse(stream);
    }
    let waiting = pool.queue.len().saturating_sub(pool.idle);
    shared.counters.set_queued(waiting);
}

fn connection_thread<H: Handler>(shared: Arc<Shared>, handler: Arc<H>) {
    let idle_time = shared.params.thread_idle_time();
    let mut pool = shared.pool();
    pool.starting -= 1;
    loop {
        // Once shutdown has cut the queue it holds only the connections handed to a
        // thread before (it closed the others), and none is added: they are served. A
        // thread that comes here between shutdown's flag and that cut takes nothing (it
        // would take a connection waiting for a busy thread, which the cut closes).
        if shared.stopping.load(SeqCst) && !pool.cut {
            break;
        }
        if let Some(stream) = pool.queue.pop_front() {
            // Counted under the pool lock, so a connection is always either queued or
            // current for the `max_connections` check in `dispatch`.
            shared.counters.connection_begins();
            let waiting = pool.queue.len().saturating_sub(pool.idle);
            shared.counters.set_queued(waiting);
            drop(pool);
            serve_connection(&shared, &*handler, stream);
            pool = shared.pool();
            continue;
        }
        if shared.stopping.load(SeqCst) {
            break;
        }
        // Wait for work; a thread other than the last exits after `idle_time` without any.
        // The last one waits without a limit: with a deadline it would find it passed on
        // each turn and, for an `idle_time` shorter than a turn, spin holding the pool
        // lock, so that the acceptor could never hand it a connection.
        let idle_until = (pool.threads > 1).then(|| Instant::now() + idle_time); // ≤ MAX_TIMEOUT
        pool.idle += 1;
        let mut expired = false;
        while pool.queue.is_empty() && !shared.stopping.load(SeqCst) {
            pool = match idle_until {
                Some(until) => {
                    let now = Instant::now();
                    if now >= until {
                        expired = true;
                        break;
                    }
                    shared
                        .work
                        .wait_timeout(pool, until - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
                None => shared.work.wait(pool).unwrap_or_else(|e| e.into_inner()),
            };
        }
        pool.idle -= 1;
        if expired && pool.threads > 1 {
            break;
        }
    }
    pool.threads -= 1;
    shared.counters.set_threads(pool.threads);
    shared.exited.notify_all();
}

/// Serve a connection taken from the queue (already counted as begun) to its end.
fn serve_connection<H: Handler>(shared: &Shared, handler: &H, accepted: Accepted) {
    let params = &shared.params;
    let counters = &shared.counters;
    let Accepted {
        socket,
        peer,
        mut client,
        at,
    } = accepted;
    // Accepted sockets inherit the listener's receive timeout (`ticking`): clear it.
    let _ = socket.set_read_timeout(None);
    if params.nodelay() {
        let _ = socket.set_nodelay(true);
    }
    let id = shared.next_id.fetch_add(1, Relaxed);
    let live = Arc::new(Live {
        socket: Arc::clone(&socket),
        busy: AtomicBool::new(true),
        fresh: AtomicBool::new(true),
        accepted: at,
        idle_since: AtomicU64::new(NOT_IDLE),
    });
    shared.live().insert(id, Arc::clone(&live));
    if let Ok(mut conn) = new_connection(socket, peer, params) {
        let proceed = proxy_header(shared, &live, &mut conn)
            && admit_proxied(shared, &conn, &mut client)
            && handshake(shared, &live, &mut conn);
        if proceed {
            serve_requests(shared, handler, &live, &mut conn, at);
        }
        conn.close_notify();
    }
    shared.live().remove(&id);
    // The client's place goes with the connection, once it is closed (before the count
    // of open connections, so that whoever sees that fall finds the place free).
    drop(client);
    counters.connection_ends();
}

/// Behind a balancer (`proxy_protocol`), count the connection in the place of the client
/// its PROXY header named (`peer_addr` now); false when that client is over
/// `max_connections_per_client` (close it). Without the PROXY protocol the connection was
/// counted at accept.
fn admit_proxied(shared: &Shared, conn: &Connection, client: &mut Option<ClientSlot>) -> bool {
    if !shared.params.proxy_protocol() {
        return true;
    }
    match shared.admit_client(conn.peer_addr().ip()) {
        Ok(slot) => {
            *client = slot;
            true
        }
        Err(OverClientLimit) => false,
    }
}

/// The blocking connection for a socket accepted from `peer`: a TLS one when the
/// parameters carry a TLS configuration. (The peer is `accept(2)`'s; only the local
/// address, which a wildcard listener does not fix, is asked for.)
fn new_connection(
    accepted: Arc<TcpStream>,
    peer: SocketAddr,
    params: &ServerParams,
) -> io::Result<Connection> {
    let local = accepted.local_addr()?;
    Connection::from_accepted(accepted, peer, local, params, None)
}

/// Read the PROXY header, if the server expects one, before anything else (bounded by
/// `read_timeout`); true when the connection goes on. A connection without a valid one
/// is counted in `proxy_header_failures` (and one that sent none in time in `timed_out`
/// too), except one closed before its first byte, or ended by shutdown. The connection
/// is idle meanwhile: shutdown wakes it.
fn proxy_header(shared: &Shared, live: &Live, conn: &mut Connection) -> bool {
    if !conn.awaits_proxy_header() {
        return true;
    }
    // On this blocking socket, one step reads the whole header within `read_timeout`.
    let e = match while_idle(shared, live, || conn.proxy_step()) {
        None => return false,
        Some(Ok(())) => return true,
        Some(Err(e)) => e,
    };
    if e.kind() != io::ErrorKind::UnexpectedEof {
        failed_before_requests(shared, Counters::proxy_header_failed, &e);
    }
    __log_debug!("no PROXY header from {}: {e}", conn.peer_addr());
    false
}

/// Run `wait` (a wait on the peer before its first request) with the connection marked
/// idle, so that shutdown wakes it; `None` without running it once shutdown has ended
/// the grace of connections awaiting their first request.
fn while_idle<T>(shared: &Shared, live: &Live, wait: impl FnOnce() -> T) -> Option<T> {
    live.busy.store(false, SeqCst);
    if live.wait_ends(shared) {
        return None;
    }
    let result = wait();
    live.busy.store(true, SeqCst);
    Some(result)
}

/// Count a connection that failed before its requests in `failures` (and in `timed_out`,
/// as a read timeout, when it stalled: what it began to send did not all come within
/// `read_timeout`), unless shutdown ended it.
fn failed_before_requests(shared: &Shared, failed: fn(&Counters), e: &io::Error) {
    if !shared.stopping.load(SeqCst) {
        failed(&shared.counters);
        if e.kind() == io::ErrorKind::TimedOut {
            shared.counters.timed_out(crate::TimeoutKind::Read);
        }
    }
}

/// Run the TLS handshake, if any, before the first request (bounded by `read_timeout`);
/// true when the connection goes on to its requests. A completed handshake is counted in
/// `tls_handshakes_full` or `tls_handshakes_resumed`; a failed one in
/// `tls_handshake_failures` (and a stalled one in `timed_out` too), except when shutdown
/// ended it. The connection is idle meanwhile: shutdown wakes it.
fn handshake(shared: &Shared, live: &Live, conn: &mut Connection) -> bool {
    if !conn.is_tls() {
        return true;
    }
    // On this blocking socket, one step runs the handshake to its end within
    // `read_timeout`: `Done`, or `Closed` when the peer closed before sending a byte.
    match while_idle(shared, live, || conn.handshake_step()) {
        None => false,
        Some(Ok(HandshakeStep::Done)) => {
            support::count_tls_handshake(conn, &shared.counters);
            true
        }
        Some(Ok(_)) => false,
        Some(Err(e)) => {
            failed_before_requests(shared, Counters::tls_handshake_failed, &e);
            __log_debug!("TLS handshake with {} failed: {e}", conn.peer_addr());
            false
        }
    }
}

/// Serve requests on an open connection until it closes. `accepted`: when it was
/// accepted, which its `max_connection_age` counts from.
///
/// Between requests the connection waits up to `keep_alive_timeout`, and no longer than
/// until it reaches `max_connection_age` (an idle connection of that age is closed, not
/// kept waiting); a request that begins past that age is its last. While more than 90 %
/// of `max_connections` are open, with `evict_idle_at_capacity`, every request is its
/// connection's last.
fn serve_requests<H: Handler>(
    shared: &Shared,
    handler: &H,
    live: &Live,
    conn: &mut Connection,
    accepted: Instant,
) {
    let params = &shared.params;
    let counters = &shared.counters;
    let Some(mut session) = support::open_session(handler, conn, counters) else {
        return;
    };
    // Past this instant the connection is too old for another request (≤ MAX_TIMEOUT).
    let aged_at = params.max_connection_age().map(|age| accepted + age);
    loop {
        let mut keep_alive = params.keep_alive_timeout();
        let mut age_bound = false;
        if let Some(aged_at) = aged_at {
            let left = aged_at.saturating_duration_since(Instant::now());
            if left.is_zero() && conn.buffered().is_empty() {
                counters.aged_out();
                __log_debug!("closed {}: max connection age, idle", conn.peer_addr());
                break;
            }
            // (A request already buffered is taken at once, whatever the wait.)
            if left < keep_alive {
                keep_alive = left.max(Duration::from_millis(1));
                age_bound = true;
            }
        }
        // Idle (so shutdown wakes it, and a full server may evict it), then the check:
        // shutdown sets its flag before it looks for idle connections.
        live.wait_for_request(shared);
        if live.wait_ends(shared) {
            break;
        }
        let arrived = conn.await_request(keep_alive);
        if !live.claim() {
            // Evicted for a newcomer (counted there) while it waited.
            __log_debug!("closed {}: evicted, server full", conn.peer_addr());
            break;
        }
        match arrived {
            Ok(true) => {}
            Err(e) if e.kind() == io::ErrorKind::TimedOut && age_bound => {
                counters.aged_out();
                __log_debug!("closed {}: max connection age, idle", conn.peer_addr());
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                counters.timed_out(crate::TimeoutKind::Idle);
                __log_debug!("closed {}: keep-alive timeout", conn.peer_addr());
                break;
            }
            // The peer closed, or the socket failed.
            Ok(false) | Err(_) => break,
        }
        // From the moment shutdown begins (before the acceptor has returned and idle
        // connections close), a request is the connection's last: its response can say
        // so (`Connection: close`), so that the client does not send another one on a
        // connection about to close.
        if !shared.accepting.load(SeqCst) {
            conn.set_last_request();
        }
        if !conn.is_last_request() {
            if aged_at.is_some_and(|at| Instant::now() >= at) {
                conn.set_last_request();
                counters.aged_out();
            } else if params
                .above_high_water(counters.current_connections(), params.max_connections())
            {
                conn.set_last_request();
                counters.keep_alive_declined();
            }
        }
        // One request per call: the blocking server never frames (see `Handler::frame`).
        if !support::serve_request(handler, &mut session, conn, counters, 1) {
            break;
        }
    }
    support::close_session(session, counters);
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::handler::Action;

    /// A gate that threads wait at until the test opens it; it counts who arrived.
    #[derive(Default)]
    struct Gate {
        state: Mutex<(bool, usize)>,
        changed: Condvar,
    }

    impl Gate {
        fn pass(&self) {
            let mut state = self.state.lock().unwrap();
            state.1 += 1;
            self.changed.notify_all();
            while !state.0 {
                state = self.changed.wait(state).unwrap();
            }
        }
        fn open(&self) {
            self.state.lock().unwrap().0 = true;
            self.changed.notify_all();
        }
        fn await_arrivals(&self, n: usize) {
            let mut state = self.state.lock().unwrap();
            while state.1 < n {
                let (s, timeout) = self
                    .changed
                    .wait_timeout(state, Duration::from_secs(10))
                    .unwrap();
                assert!(!timeout.timed_out(), "nobody arrived at the gate");
                state = s;
            }
        }
    }

    /// Echoes lines; the request `block` waits at `gate` before its answer. Counts opens.
    struct Gated {
        gate: Arc<Gate>,
        opened: Arc<AtomicUsize>,
    }

    impl Handler for Gated {
        type Session = ();
        fn open(&self, _: &Connection) {
            self.opened.fetch_add(1, SeqCst);
        }
        fn serve(&self, _: &mut (), conn: &mut Connection) -> io::Result<Action> {
            let mut line = Vec::new();
            if conn.read_until(b'\n', &mut line)? == 0 {
                return Ok(Action::Close);
            }
            if line == b"block\n" {
                self.gate.pass();
            }
            conn.write_all(&line)?;
            Ok(Action::KeepAlive)
        }
    }

    fn await_stats(server: &TcpServer, what: &str, cond: impl Fn(&Stats) -> bool) {
        let end = Instant::now() + Duration::from_secs(10);
        while !cond(&server.stats()) {
            assert!(Instant::now() < end, "timed out waiting for {what}");
            thread::sleep(Duration::from_millis(2));
        }
    }

    fn expect_closed(client: &mut TcpStream) {
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = [0u8; 64];
        match client.read(&mut buf) {
            Ok(0) => {}
            Ok(n) => panic!("expected a close, got {:?}", &buf[..n]),
            Err(e) => assert!(
                matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
                ),
                "expected a close, got {e}"
            ),
        }
    }

    /// A connection thread that finishes its connection once shutdown has begun must not
    /// take the queued connections and begin them: they are closed unserved, never opened
    /// nor counted in `total_connections`. Nor is a connection the acceptor hands over
    /// after shutdown began.
    ///
    /// The acceptor is held in the filter so that the shutdown stays in its first steps
    /// (it waits for the acceptor) while the busy thread finishes; this keeps open, for as
    /// long as the test needs, the window in which a thread once drained the queue.
    #[test]
    fn shutdown_begins_no_queued_connection() {
        let hold_filter = Arc::new(AtomicBool::new(false));
        let filter_gate = Arc::new(Gate::default());
        let params = ServerParams::builder()
            .max_threads(1)
            .max_queued(2)
            .filter({
                let (hold, gate) = (Arc::clone(&hold_filter), Arc::clone(&filter_gate));
                move |_: &SocketAddr| {
                    if hold.load(SeqCst) {
                        gate.pass();
                    }
                    true
                }
            })
            .build()
            .unwrap();
        let serve_gate = Arc::new(Gate::default());
        let opened = Arc::new(AtomicUsize::new(0));
        let handler = Gated {
            gate: Arc::clone(&serve_gate),
            opened: Arc::clone(&opened),
        };
        let mut server = TcpServer::bind("127.0.0.1:0", handler, params).unwrap();
        server.start().unwrap();
        let addr = server.local_addr();

        // c1's request is in flight; c2 and c3 wait in the queue.
        let mut c1 = TcpStream::connect(addr).unwrap();
        c1.write_all(b"block\n").unwrap();
        serve_gate.await_arrivals(1);
        let mut c2 = TcpStream::connect(addr).unwrap();
        let mut c3 = TcpStream::connect(addr).unwrap();
        await_stats(&server, "two queued", |s| s.queued_connections == 2);
        // c4 is accepted, and the acceptor stays in the filter with it.
        hold_filter.store(true, SeqCst);
        let mut c4 = TcpStream::connect(addr).unwrap();
        filter_gate.await_arrivals(1);

        let handle = server.handle();
        let stopper = thread::spawn(move || handle.shutdown(Duration::from_secs(10)));
        let shared = Arc::clone(&server.life.engine().shared);
        let wait_for = |flag: &AtomicBool, value: bool, what: &str| {
            let end = Instant::now() + Duration::from_secs(10);
            while flag.load(SeqCst) != value {
                assert!(Instant::now() < end, "{what}");
                thread::sleep(Duration::from_millis(1));
            }
        };
        wait_for(&shared.accepting, false, "shutdown did not begin");
        // The acceptor queues c4 (accepted before it saw the stop), then returns; only
        // then does shutdown close the queue.
        filter_gate.open();
        wait_for(&shared.stopping, true, "the queue was not closed");
        // The request in flight finishes; its thread must then exit, not serve the queue.
        serve_gate.open();
        await_stats(&server, "no connection thread", |s| s.current_threads == 0);
        let stats = stopper.join().unwrap().unwrap();

        let mut reply = String::new();
        BufReader::new(&c1).read_line(&mut reply).unwrap();
        assert_eq!(reply, "block\n", "the request in flight is answered");
        for c in [&mut c1, &mut c2, &mut c3, &mut c4] {
            expect_closed(c);
        }
        assert_eq!(
            opened.load(SeqCst),
            1,
            "a connection was opened after shutdown"
        );
        assert_eq!(
            stats.total_connections, 1,
            "a connection began after shutdown"
        );
        assert_eq!(stats.requests, 1);
        assert_eq!(stats.current_connections, 0);
        assert_eq!(stats.queued_connections, 0);
        assert_eq!(stats.current_threads, 0);
    }

    /// The last connection thread, whose idle time passed (here at once), still takes the
    /// next connection: it waits for work without a deadline instead of spinning with the
    /// pool locked.
    #[test]
    fn the_last_thread_outlives_a_tiny_idle_time() {
        let params = ServerParams::builder()
            .max_threads(1)
            .thread_idle_time(Duration::from_nanos(1))
            .build()
            .unwrap();
        let handler = Gated {
            gate: Arc::new(Gate::default()),
            opened: Arc::new(AtomicUsize::new(0)),
        };
        let mut server = TcpServer::bind("127.0.0.1:0", handler, params).unwrap();
        server.start().unwrap();
        for i in 0..3 {
            let mut c = TcpStream::connect(server.local_addr()).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            c.write_all(b"hello\n").unwrap();
            let mut reply = String::new();
            BufReader::new(&c)
                .read_line(&mut reply)
                .unwrap_or_else(|e| panic!("connection {i} was not served: {e}"));
            assert_eq!(reply, "hello\n");
            drop(c);
            await_stats(&server, "the connection to end", |s| {
                s.current_connections == 0
            });
            // Give the thread its (expired) idle turn before the next connection.
            thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(server.stats().current_threads, 1);
        server.shutdown(Duration::from_secs(5)).unwrap();
    }
}
