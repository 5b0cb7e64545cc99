//! The background populations, on one thread with one `mio::Poll`, beside the measured
//! load: idle keep-alive connections, slowloris clients and non-readers, and the
//! attacks: expect-stallers, partial bodies, big non-readers, amplifiers and a TLS
//! ClientHello flood.
//!
//! A background connection is opened once. When the server closes it (end of file or
//! reset) it is counted, with the time from its connection to the close; then a
//! *reconnecting* population (the hostile ones with `--reconnect`, the hello flood
//! always) opens a new one at once, as an attacker keeping up the pressure does (after
//! a failed attempt, [`TICK`] later); the others stay closed. When the measured run
//! ends, each idle connection still open sends one request, checked like the measured
//! ones; then every connection is closed.
//!
//! The big non-readers and the amplifiers ask for a value stored before the run, on a
//! connection of its own ([`BIG_KEY`], [`AMPLIFY_KEY`]).

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Registry, Token};

use super::check::Check;
use super::proto::Proto;
use super::report::{Activity, Background, CloseAfter, Population, Usable};
use super::skim::{http_head, RespSkimmer};

/// The token of the waker that ends the populations' loop.
pub(crate) const WAKE: Token = Token(usize::MAX);

/// Most connections being opened at once (so that thousands do not overflow the
/// server's accept backlog).
const MAX_CONNECTING: usize = 256;

/// The longest wait of the loop, for connect timeouts; and the pause before a
/// reconnecting population tries again after a failed connection attempt.
const TICK: Duration = Duration::from_millis(50);

/// Background connections are numbered from here in their requests (RESP keys, echo
/// lines), apart from the measured connections.
const ID_BASE: u64 = 1 << 40;

/// A non-reader writes this much of its pipelined requests at a time, at least.
const NON_READER_CHUNK: usize = 16 * 1024;

/// The body length an expect-staller and a partial body announce (`Content-Length`).
pub const ANNOUNCED_BODY: usize = 1_000_000;

/// The body bytes a partial body sends before it stalls.
pub const PARTIAL_BODY_SENT: usize = 900_000;

/// The key of the big non-readers' value.
pub const BIG_KEY: &str = "loadgen:big";

/// The size of the big non-readers' value.
pub const BIG_VALUE: usize = 2_000_000;

/// The key of the amplifiers' value.
pub const AMPLIFY_KEY: &str = "loadgen:amplify";

/// The size of the amplifiers' value.
pub const AMPLIFY_VALUE: usize = 64 * 1024;

/// How many times an amplifier's `MGET` names [`AMPLIFY_KEY`].
pub const AMPLIFY_NAMES: usize = 1_000;

/// How long a hello-flood connection waits for the server's first bytes before it
/// closes and starts again.
pub const HELLO_WAIT: Duration = Duration::from_secs(1);

/// At most this much of an expect-staller's or partial body's input is kept, to find
/// the response heads in it.
const MAX_HEADS: usize = 16 * 1024;

/// What the populations' thread runs.
#[derive(Debug, Clone)]
pub(crate) struct BgPlan {
    pub addr: SocketAddr,
    pub proto: Proto,
    pub idle: usize,
    pub slowloris: usize,
    pub non_readers: usize,
    pub expect_stallers: usize,
    pub partial_bodies: usize,
    pub big_non_readers: usize,
    pub amplifiers: usize,
    pub hello_flood: usize,
    /// The hostile populations reopen the connections the server closes.
    pub reconnect: bool,
    pub trickle_interval: Duration,
    /// Connect timeout, and the longest wait for the idle connections' final answers
    /// and for storing the values asked for.
    pub timeout: Duration,
    /// The ClientHello the hello flood sends (empty without one).
    pub hello: Vec<u8>,
}

impl BgPlan {
    /// The connections of `kind` kept at once.
    fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Idle => self.idle,
            Kind::Slowloris => self.slowloris,
            Kind::NonReader => self.non_readers,
            Kind::ExpectStaller => self.expect_stallers,
            Kind::PartialBody => self.partial_bodies,
            Kind::BigNonReader => self.big_non_readers,
            Kind::Amplifier => self.amplifiers,
            Kind::HelloFlood => self.hello_flood,
        }
    }

    pub(super) fn total(&self) -> usize {
        Kind::ALL.iter().map(|&k| self.count(k)).sum()
    }

    /// Whether connections of `kind` are reopened when closed.
    fn reconnects(&self, kind: Kind) -> bool {
        match kind {
            Kind::Idle => false,
            Kind::HelloFlood => true,
            _ => self.reconnect,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Idle,
    Slowloris,
    NonReader,
    ExpectStaller,
    PartialBody,
    BigNonReader,
    Amplifier,
    HelloFlood,
}

impl Kind {
    /// Every kind, in flag order (the index is the kind's `as usize`).
    const ALL: [Kind; 8] = [
        Kind::Idle,
        Kind::Slowloris,
        Kind::NonReader,
        Kind::ExpectStaller,
        Kind::PartialBody,
        Kind::BigNonReader,
        Kind::Amplifier,
        Kind::HelloFlood,
    ];

    /// Whether its report has an [`Activity`].
    fn has_activity(self) -> bool {
        !matches!(self, Kind::Idle | Kind::Slowloris | Kind::NonReader)
    }

    /// Whether it reads what the server sends (the non-readers never do).
    fn reads(self) -> bool {
        !matches!(self, Kind::NonReader | Kind::BigNonReader)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not opened yet.
    New,
    Connecting {
        since: Instant,
    },
    Open {
        since: Instant,
    },
    /// Could not connect, and does not try again.
    ConnectFailed,
    /// Closed, and not reopened.
    Closed,
    /// Closed (or failed to connect), to be opened again at this time.
    Reopen {
        at: Instant,
    },
}

/// The fate of an idle connection's final request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    None,
    Waiting,
    Answered,
    Failed,
}

/// A population's counts as they happen.
#[derive(Debug, Default)]
struct Tally {
    opened: u64,
    connect_failed: u64,
    closed_by_server: u64,
    closed_by_client: u64,
    /// Seconds from connection to the server's close, of each such close.
    closes: Vec<f64>,
    activity: Activity,
}

/// The tallies of every population, and a read buffer.
struct Books {
    tallies: [Tally; 8],
    scratch: Vec<u8>,
}

impl Books {
    fn of(&mut self, kind: Kind) -> &mut Tally {
        &mut self.tallies[kind as usize]
    }
}

struct Conn {
    kind: Kind,
    id: u64,
    token: Token,
    stream: Option<TcpStream>,
    state: State,
    /// The first connection attempt has ended (opened or failed).
    settled_once: bool,
    /// Slowloris: bytes trickled; the others: bytes of their payload written.
    pos: usize,
    probe: Probe,
    /// The idle probe's answer; the response heads of expect-stallers and partial
    /// bodies (at most [`MAX_HEADS`]).
    input: Vec<u8>,
    /// How much of `input` the heads found so far take; a final response ends the
    /// search (`None`).
    heads_end: Option<usize>,
    /// The amplifier's replies.
    skimmer: RespSkimmer,
}

/// What a connection does after reading some bytes.
enum Verdict {
    Keep,
    /// The client closes the connection (and reopens it).
    Close,
    /// An amplifier's reply is complete: send the request again.
    Again,
}

/// The bytes a slowloris client sends at once when connected.
pub(crate) fn trickle_prefix(proto: Proto) -> &'static [u8] {
    match proto {
        Proto::Http => b"GET / HTTP/1.1\r\nHost: x\r\n",
        Proto::Resp | Proto::Echo => b"",
    }
}

/// Byte `n` of what a slowloris client trickles after its prefix: for HTTP, header lines
/// `X-Slow: x` without the empty line that would end the head; for RESP, a `SET` whose
/// value of 65,536 bytes arrives one byte at a time; for echo, a line without its newline.
pub(crate) fn trickle_byte(proto: Proto, n: usize) -> u8 {
    const HTTP: &[u8] = b"X-Slow: x\r\n";
    const RESP: &[u8] = b"*3\r\n$3\r\nSET\r\n$9\r\nslowloris\r\n$65536\r\n";
    match proto {
        Proto::Http => HTTP[n % HTTP.len()],
        Proto::Resp => RESP.get(n).copied().unwrap_or(b'x'),
        Proto::Echo => b'x',
    }
}

/// What a non-reader writes over and over: pipelined requests, at least
/// [`NON_READER_CHUNK`] bytes.
fn non_reader_chunk(proto: Proto) -> Vec<u8> {
    let mut out = Vec::with_capacity(NON_READER_CHUNK + 256);
    let mut seq = 0;
    while out.len() < NON_READER_CHUNK {
        proto.request(ID_BASE - 1, seq, &mut out);
        seq += 1;
    }
    out
}

/// An expect-staller's request head: it never sends the body.
fn expect_head() -> Vec<u8> {
    format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\
         Content-Length: {ANNOUNCED_BODY}\r\n\r\n"
    )
    .into_bytes()
}

/// A partial body's request: the head and the first [`PARTIAL_BODY_SENT`] bytes of the
/// body announced.
fn partial_body() -> Vec<u8> {
    let mut out =
        format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {ANNOUNCED_BODY}\r\n\r\n")
            .into_bytes();
    out.resize(out.len() + PARTIAL_BODY_SENT, b'x');
    out
}

/// An amplifier's request: `MGET` naming [`AMPLIFY_KEY`] [`AMPLIFY_NAMES`] times.
fn amplify_request() -> Vec<u8> {
    let mut args: Vec<&[u8]> = vec![b"MGET"];
    args.extend(std::iter::repeat_n(AMPLIFY_KEY.as_bytes(), AMPLIFY_NAMES));
    crate::resp::command(&args)
}

/// Store `len` bytes under `key` with `SET` on a connection of its own; whether the
/// server answered `+OK` within `timeout` (for each step).
fn store(addr: SocketAddr, key: &str, len: usize, timeout: Duration) -> bool {
    let attempt = || -> io::Result<bool> {
        let mut s = std::net::TcpStream::connect_timeout(&addr, timeout)?;
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))?;
        s.write_all(&crate::resp::command(&[
            b"SET",
            key.as_bytes(),
            &vec![b'v'; len],
        ]))?;
        let mut reply = [0u8; 5];
        s.read_exact(&mut reply)?;
        Ok(&reply == b"+OK\r\n")
    };
    attempt().unwrap_or(false)
}

impl Conn {
    fn is_open(&self) -> bool {
        matches!(self.state, State::Open { .. })
    }

    fn open(&mut self, ctx: &Ctx<'_>, books: &mut Books, now: Instant) {
        let stream = TcpStream::connect(ctx.addr).and_then(|mut s| {
            ctx.registry
                .register(&mut s, self.token, Interest::READABLE | Interest::WRITABLE)?;
            Ok(s)
        });
        match stream {
            Ok(s) => {
                self.stream = Some(s);
                self.state = State::Connecting { since: now };
            }
            Err(_) => self.connect_failed(ctx, books, now),
        }
    }

    /// Drop the socket.
    fn drop_socket(&mut self, registry: &Registry) {
        if let Some(mut s) = self.stream.take() {
            let _ = registry.deregister(&mut s);
        }
    }

    /// A connection attempt failed: try again a little later if reconnecting.
    fn connect_failed(&mut self, ctx: &Ctx<'_>, books: &mut Books, now: Instant) {
        self.drop_socket(ctx.registry);
        books.of(self.kind).connect_failed += 1;
        self.settled_once = true;
        self.state = if ctx.plan.reconnects(self.kind) {
            State::Reopen { at: now + TICK }
        } else {
            State::ConnectFailed
        };
    }

    /// The connection is established: start afresh.
    fn connected(&mut self, books: &mut Books, now: Instant) {
        books.of(self.kind).opened += 1;
        self.settled_once = true;
        self.state = State::Open { since: now };
        self.pos = 0;
        self.input.clear();
        self.heads_end = Some(0);
        self.skimmer.reset();
    }

    fn closed_by_server(&mut self, ctx: &Ctx<'_>, books: &mut Books, now: Instant) {
        if let State::Open { since } = self.state {
            self.drop_socket(ctx.registry);
            let tally = books.of(self.kind);
            tally.closed_by_server += 1;
            tally.closes.push((now - since).as_secs_f64());
            self.state = if ctx.plan.reconnects(self.kind) {
                State::Reopen { at: now }
            } else {
                State::Closed
            };
        }
    }

    fn close_by_client(&mut self, ctx: &Ctx<'_>, books: &mut Books, now: Instant) {
        if self.is_open() {
            self.drop_socket(ctx.registry);
            books.of(self.kind).closed_by_client += 1;
            self.state = if ctx.plan.reconnects(self.kind) {
                State::Reopen { at: now }
            } else {
                State::Closed
            };
        }
    }

    /// Handle readiness during the run.
    fn ready(&mut self, event: &Event, ctx: &Ctx<'_>, books: &mut Books, now: Instant) {
        if let State::Connecting { .. } = self.state {
            let Some(stream) = &self.stream else { return };
            let connected = match stream.take_error() {
                Ok(None) => match stream.peer_addr() {
                    Ok(_) => true,
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                    Err(_) => false,
                },
                _ => false,
            };
            if !connected {
                return self.connect_failed(ctx, books, now);
            }
            let _ = stream.set_nodelay(true);
            self.connected(books, now);
            if self.kind == Kind::Slowloris {
                self.write_all(trickle_prefix(ctx.plan.proto), ctx, books, now);
            }
        }
        if !self.is_open() {
            return;
        }
        if !self.kind.reads() && (event.is_error() || event.is_read_closed()) {
            return self.closed_by_server(ctx, books, now);
        }
        if self.kind != Kind::Slowloris && !self.send(ctx, books, now) {
            return;
        }
        if self.kind.reads() {
            self.receive(ctx, books, now);
        }
    }

    /// Write the kind's payload from `pos` as far as the socket takes it (a
    /// non-reader's over and over); whether the connection is still open.
    fn send(&mut self, ctx: &Ctx<'_>, books: &mut Books, now: Instant) -> bool {
        let payload = ctx.payload(self.kind);
        let looping = self.kind == Kind::NonReader;
        while !payload.is_empty() && (looping || self.pos < payload.len()) {
            let Some(stream) = &mut self.stream else {
                return false;
            };
            match stream.write(&payload[self.pos..]) {
                Ok(0) => {
                    self.closed_by_server(ctx, books, now);
                    return false;
                }
                Ok(n) => {
                    let activity = &mut books.of(self.kind).activity;
                    activity.sent += u64::from(self.pos == 0);
                    activity.bytes_sent += n as u64;
                    self.pos += n;
                    if looping {
                        self.pos %= payload.len();
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.closed_by_server(ctx, books, now);
                    return false;
                }
            }
        }
        true
    }

    /// Read what the server sent and act on it, noticing its close.
    fn receive(&mut self, ctx: &Ctx<'_>, books: &mut Books, now: Instant) {
        let mut scratch = std::mem::take(&mut books.scratch);
        let payload_len = ctx.payload(self.kind).len();
        while let Some(stream) = &mut self.stream {
            match stream.read(&mut scratch) {
                Ok(0) => {
                    self.closed_by_server(ctx, books, now);
                    break;
                }
                Ok(n) => match self.on_bytes(&scratch[..n], books, payload_len) {
                    Verdict::Keep => {}
                    Verdict::Close => {
                        self.close_by_client(ctx, books, now);
                        break;
                    }
                    Verdict::Again => {
                        self.pos = 0;
                        if !self.send(ctx, books, now) {
                            break;
                        }
                    }
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.closed_by_server(ctx, books, now);
                    break;
                }
            }
        }
        books.scratch = scratch;
    }

    /// What `bytes` from the server mean for this connection (whose payload is
    /// `payload_len` bytes).
    fn on_bytes(&mut self, bytes: &[u8], books: &mut Books, payload_len: usize) -> Verdict {
        let activity = &mut books.of(self.kind).activity;
        activity.bytes_received += bytes.len() as u64;
        match self.kind {
            Kind::ExpectStaller | Kind::PartialBody => {
                let Some(mut at) = self.heads_end else {
                    return Verdict::Keep;
                };
                let room = MAX_HEADS.saturating_sub(self.input.len());
                self.input
                    .extend_from_slice(&bytes[..bytes.len().min(room)]);
                while let Some((status, len)) = http_head(&self.input[at..]) {
                    activity.answered += 1;
                    at += len;
                    if status == 100 {
                        activity.continues += 1;
                        continue;
                    }
                    activity.errors += u64::from(status >= 400);
                    // A final response: what follows is its body.
                    self.heads_end = None;
                    return Verdict::Keep;
                }
                self.heads_end = Some(at);
                Verdict::Keep
            }
            Kind::Amplifier => match self.skimmer.feed(bytes) {
                Ok(r) => {
                    activity.answered += r.replies;
                    activity.errors += r.errors;
                    if r.replies > 0 && self.pos == payload_len {
                        Verdict::Again
                    } else {
                        Verdict::Keep
                    }
                }
                Err(()) => Verdict::Close,
            },
            Kind::HelloFlood => {
                activity.answered += 1;
                // A TLS alert record (content type 21) refuses the hello.
                activity.errors += u64::from(bytes.first() == Some(&21));
                Verdict::Close
            }
            // The idle and slowloris connections discard what they get.
            _ => Verdict::Keep,
        }
    }

    /// Slowloris: send the next byte.
    fn trickle(&mut self, ctx: &Ctx<'_>, books: &mut Books, now: Instant) {
        let byte = trickle_byte(ctx.plan.proto, self.pos);
        if self.write_all(&[byte], ctx, books, now) {
            self.pos += 1;
        }
    }

    /// Write a few bytes (they fit in any socket buffer); whether they were written.
    fn write_all(&mut self, bytes: &[u8], ctx: &Ctx<'_>, books: &mut Books, now: Instant) -> bool {
        let Some(stream) = &mut self.stream else {
            return false;
        };
        match stream.write_all(bytes) {
            Ok(()) => true,
            // A slowloris client that cannot send its byte now sends it at the next tick.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
            Err(_) => {
                self.closed_by_server(ctx, books, now);
                false
            }
        }
    }

    /// Idle, after the run: send one request.
    fn probe_send(&mut self, proto: Proto) {
        let mut request = Vec::new();
        proto.request(self.id, 0, &mut request);
        self.input.clear();
        self.probe = match self.stream.as_mut().map(|s| s.write_all(&request)) {
            Some(Ok(())) => Probe::Waiting,
            _ => Probe::Failed,
        };
    }

    /// Idle, after the run: read and check the answer.
    fn probe_read(&mut self, proto: Proto, expected: &[u8]) {
        let mut buf = [0u8; 4096];
        while self.probe == Probe::Waiting {
            let Some(stream) = &mut self.stream else {
                self.probe = Probe::Failed;
                return;
            };
            match stream.read(&mut buf) {
                Ok(0) => self.probe = Probe::Failed,
                Ok(n) => {
                    self.input.extend_from_slice(&buf[..n]);
                    match proto.check(&self.input, expected) {
                        Check::Partial => {}
                        Check::Response { matched: true, .. } => self.probe = Probe::Answered,
                        Check::Response { .. } | Check::Invalid => self.probe = Probe::Failed,
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => self.probe = Probe::Failed,
            }
        }
    }
}

struct Ctx<'a> {
    registry: &'a Registry,
    addr: SocketAddr,
    plan: &'a BgPlan,
    /// The payloads, by kind (empty for the idle and slowloris connections, and for a
    /// population not asked for).
    payloads: [Vec<u8>; 8],
}

impl Ctx<'_> {
    fn payload(&self, kind: Kind) -> &[u8] {
        &self.payloads[kind as usize]
    }
}

/// What each population writes: its payload, made only if it is asked for.
fn payloads(plan: &BgPlan) -> [Vec<u8>; 8] {
    Kind::ALL.map(|kind| {
        if plan.count(kind) == 0 {
            return Vec::new();
        }
        match kind {
            Kind::Idle | Kind::Slowloris => Vec::new(),
            Kind::NonReader => non_reader_chunk(plan.proto),
            Kind::ExpectStaller => expect_head(),
            Kind::PartialBody => partial_body(),
            Kind::BigNonReader => crate::resp::command(&[b"GET", BIG_KEY.as_bytes()]),
            Kind::Amplifier => amplify_request(),
            Kind::HelloFlood => plan.hello.clone(),
        }
    })
}

/// Run the populations until `stop` is set (and the waker of `poll` woken), probe the
/// idle connections, close everything and report. `settled` gets one message when
/// every connection has been opened or has failed to (so the measured run can start
/// with the populations in place); the values the big non-readers and the amplifiers
/// ask for are stored before.
pub(crate) fn run(
    plan: BgPlan,
    mut poll: Poll,
    stop: &AtomicBool,
    settled: mpsc::Sender<()>,
) -> io::Result<Background> {
    let mut settled = Some(settled);
    let registry = poll.registry().try_clone()?;
    let stored_big =
        (plan.big_non_readers > 0).then(|| store(plan.addr, BIG_KEY, BIG_VALUE, plan.timeout));
    let stored_amplify =
        (plan.amplifiers > 0).then(|| store(plan.addr, AMPLIFY_KEY, AMPLIFY_VALUE, plan.timeout));
    let ctx = Ctx {
        registry: &registry,
        addr: plan.addr,
        plan: &plan,
        payloads: payloads(&plan),
    };
    let mut books = Books {
        tallies: Default::default(),
        scratch: vec![0; 64 * 1024],
    };
    let kinds = Kind::ALL
        .into_iter()
        .flat_map(|kind| std::iter::repeat_n(kind, plan.count(kind)));
    let mut conns: Vec<Conn> = kinds
        .enumerate()
        .map(|(i, kind)| Conn {
            kind,
            id: ID_BASE + i as u64,
            token: Token(i),
            stream: None,
            state: State::New,
            settled_once: false,
            pos: 0,
            probe: Probe::None,
            input: Vec::new(),
            heads_end: Some(0),
            skimmer: RespSkimmer::default(),
        })
        .collect();
    let mut events = Events::with_capacity(1024);
    let mut next_new = 0;
    let started = Instant::now();
    let mut next_trickle = started + plan.trickle_interval;
    while !stop.load(Ordering::Acquire) {
        let now = Instant::now();
        // Time out the slow connects and the unanswered hellos; see what is due to
        // reopen.
        let mut connecting = 0;
        let mut reopen_due = None::<Instant>;
        for conn in &mut conns[..next_new] {
            match conn.state {
                State::Connecting { since } if now >= since + plan.timeout => {
                    conn.connect_failed(&ctx, &mut books, now);
                }
                State::Connecting { .. } => connecting += 1,
                State::Open { since }
                    if conn.kind == Kind::HelloFlood && now >= since + HELLO_WAIT =>
                {
                    conn.close_by_client(&ctx, &mut books, now);
                }
                _ => {}
            }
            if let State::Reopen { at } = conn.state {
                reopen_due = Some(reopen_due.map_or(at, |t| t.min(at)));
            }
        }
        // Open the new ones first, then reopen the closed ones that are due.
        while connecting < MAX_CONNECTING && next_new < conns.len() {
            conns[next_new].open(&ctx, &mut books, now);
            next_new += 1;
            connecting += 1;
        }
        if reopen_due.is_some_and(|at| at <= now) {
            reopen_due = None;
            for conn in &mut conns[..next_new] {
                if let State::Reopen { at } = conn.state {
                    if at <= now && connecting < MAX_CONNECTING {
                        conn.open(&ctx, &mut books, now);
                        connecting += 1;
                    } else {
                        reopen_due = Some(reopen_due.map_or(at, |t| t.min(at)));
                    }
                }
            }
        }
        if now >= next_trickle {
            for conn in &mut conns {
                if conn.kind == Kind::Slowloris && conn.is_open() {
                    conn.trickle(&ctx, &mut books, now);
                }
            }
            next_trickle += plan.trickle_interval;
            if next_trickle <= now {
                next_trickle = now + plan.trickle_interval;
            }
        }
        let mut wait = TICK;
        if plan.slowloris > 0 {
            wait = wait.min(next_trickle.saturating_duration_since(now));
        }
        if let Some(at) = reopen_due {
            // Past due (too many connecting): wait for a connection to settle.
            wait = wait.min(
                at.saturating_duration_since(now)
                    .max(Duration::from_millis(1)),
            );
        }
        match poll.poll(&mut events, Some(wait)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        for event in &events {
            if let Some(conn) = conns.get_mut(event.token().0) {
                conn.ready(event, &ctx, &mut books, now);
            }
        }
        if settled.is_some() && next_new == conns.len() && conns.iter().all(|c| c.settled_once) {
            if let Some(tx) = settled.take() {
                let _ = tx.send(());
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();

    // The run is over: what the server did to each connection is settled. Close the
    // others, then ask each idle connection still open for one answer.
    let open_at_end = |kind: Kind, conns: &[Conn]| {
        conns
            .iter()
            .filter(|c| c.kind == kind && c.is_open())
            .count() as u64
    };
    let open: Vec<u64> = Kind::ALL.iter().map(|&k| open_at_end(k, &conns)).collect();
    for conn in &mut conns {
        if conn.kind != Kind::Idle {
            conn.stream = None;
        }
    }
    let mut expected = Vec::new();
    let deadline = Instant::now() + plan.timeout;
    let mut waiting = 0;
    for conn in &mut conns {
        if conn.kind == Kind::Idle && conn.is_open() {
            conn.probe_send(plan.proto);
            plan.proto.expected(conn.id, 0, &mut expected);
            conn.probe_read(plan.proto, &expected);
            waiting += usize::from(conn.probe == Probe::Waiting);
        }
    }
    while waiting > 0 {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        match poll.poll(&mut events, Some(deadline - now)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for event in &events {
            let Some(conn) = conns.get_mut(event.token().0) else {
                continue;
            };
            if conn.probe == Probe::Waiting {
                plan.proto.expected(conn.id, 0, &mut expected);
                conn.probe_read(plan.proto, &expected);
                if conn.probe != Probe::Waiting {
                    waiting -= 1;
                }
            }
        }
    }

    let mut background = Background::default();
    let slots = [
        &mut background.idle,
        &mut background.slowloris,
        &mut background.non_readers,
        &mut background.expect_stallers,
        &mut background.partial_bodies,
        &mut background.big_non_readers,
        &mut background.amplifiers,
        &mut background.hello_flood,
    ];
    for (kind, slot) in Kind::ALL.into_iter().zip(slots) {
        let requested = plan.count(kind);
        let never_settled = conns
            .iter()
            .filter(|c| c.kind == kind && !c.settled_once)
            .count() as u64;
        let tally = std::mem::take(books.of(kind));
        let mut population = population(
            requested,
            requested > 0 && plan.reconnects(kind),
            tally,
            open[kind as usize],
            never_settled,
            seconds,
            kind.has_activity(),
        );
        population.stored = match kind {
            Kind::BigNonReader => stored_big,
            Kind::Amplifier => stored_amplify,
            _ => None,
        };
        if kind == Kind::Idle {
            let probed = conns
                .iter()
                .filter(|c| c.kind == kind && c.probe != Probe::None);
            let answered = probed.clone().filter(|c| c.probe == Probe::Answered);
            let answered = answered.count() as u64;
            population.usable_at_end = Some(Usable {
                answered,
                failed: probed.count() as u64 - answered,
            });
        }
        *slot = population;
    }
    // Dropping the connections closes them.
    drop(conns);
    Ok(background)
}

/// A population's report from its tally: `open_at_end` connections still open, and
/// `never_settled` never opened nor failed (counted as failed to connect). The
/// activity, if `with_activity` and the population was asked for, is over `seconds`.
fn population(
    requested: usize,
    reconnecting: bool,
    mut tally: Tally,
    open_at_end: u64,
    never_settled: u64,
    seconds: f64,
    with_activity: bool,
) -> Population {
    let activity = (with_activity && requested > 0).then(|| Activity {
        seconds,
        sent_per_s: if seconds > 0.0 {
            tally.activity.sent as f64 / seconds
        } else {
            0.0
        },
        ..tally.activity
    });
    Population {
        requested,
        reconnecting,
        opened: tally.opened,
        connect_failed: tally.connect_failed + never_settled,
        closed_by_server: tally.closed_by_server,
        close_after_s: CloseAfter::of(&mut tally.closes),
        closed_by_client: tally.closed_by_client,
        open_at_end,
        usable_at_end: None,
        stored: None,
        activity,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trickles_never_finish_a_request() {
        let trickled = |proto| -> Vec<u8> {
            let mut out = trickle_prefix(proto).to_vec();
            out.extend((0..10_000).map(|n| trickle_byte(proto, n)));
            out
        };
        let http = trickled(Proto::Http);
        assert!(http.starts_with(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: x\r\n"));
        assert!(!http.windows(4).any(|w| w == b"\r\n\r\n"));
        let http = String::from_utf8(http).unwrap();
        // Every header line is complete or in progress, never empty.
        assert!(http.split("\r\n").skip(1).all(|line| !line.is_empty()));
        let resp = trickled(Proto::Resp);
        assert!(resp.starts_with(b"*3\r\n$3\r\nSET\r\n$9\r\nslowloris\r\n$65536\r\nxxx"));
        assert!(!trickled(Proto::Echo).contains(&b'\n'));
    }

    #[test]
    fn non_readers_pipeline_whole_requests() {
        for proto in [Proto::Http, Proto::Resp, Proto::Echo] {
            let chunk = non_reader_chunk(proto);
            assert!(chunk.len() >= NON_READER_CHUNK);
            let mut one = Vec::new();
            proto.request(ID_BASE - 1, 0, &mut one);
            assert!(chunk.starts_with(&one), "{proto}");
        }
        let http = non_reader_chunk(Proto::Http);
        assert_eq!(http.len() % b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".len(), 0);
    }

    #[test]
    fn attack_payloads_announce_more_than_they_send() {
        let expect = String::from_utf8(expect_head()).unwrap();
        assert!(expect.starts_with("POST /echo HTTP/1.1\r\n"), "{expect}");
        assert!(expect.contains("\r\nExpect: 100-continue\r\n"), "{expect}");
        assert!(
            expect.contains("\r\nContent-Length: 1000000\r\n"),
            "{expect}"
        );
        assert!(expect.ends_with("\r\n\r\n"), "{expect}");

        let partial = partial_body();
        let head_end = partial.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let head = String::from_utf8(partial[..head_end].to_vec()).unwrap();
        assert!(head.starts_with("POST /echo HTTP/1.1\r\n"), "{head}");
        assert!(head.contains("\r\nContent-Length: 1000000\r\n"), "{head}");
        assert!(!head.contains("Expect"), "{head}");
        assert_eq!(partial.len() - head_end, 900_000);
        const { assert!(PARTIAL_BODY_SENT < ANNOUNCED_BODY) };
    }

    #[test]
    fn resp_attack_requests() {
        assert_eq!(
            crate::resp::command(&[b"GET", BIG_KEY.as_bytes()]),
            b"*2\r\n$3\r\nGET\r\n$11\r\nloadgen:big\r\n"
        );
        let mget = amplify_request();
        assert!(mget.starts_with(b"*1001\r\n$4\r\nMGET\r\n$15\r\nloadgen:amplify\r\n"));
        let one = b"$15\r\nloadgen:amplify\r\n".len();
        assert_eq!(mget.len(), b"*1001\r\n$4\r\nMGET\r\n".len() + 1000 * one);
    }

    #[test]
    fn only_the_hostile_populations_reconnect() {
        let plan = |reconnect| BgPlan {
            addr: "127.0.0.1:1".parse().unwrap(),
            proto: Proto::Http,
            idle: 1,
            slowloris: 1,
            non_readers: 1,
            expect_stallers: 1,
            partial_bodies: 1,
            big_non_readers: 1,
            amplifiers: 1,
            hello_flood: 1,
            reconnect,
            trickle_interval: TICK,
            timeout: TICK,
            hello: Vec::new(),
        };
        assert_eq!(plan(false).total(), 8);
        for kind in Kind::ALL {
            let always = kind == Kind::HelloFlood;
            assert_eq!(plan(false).reconnects(kind), always, "{kind:?}");
            assert_eq!(plan(true).reconnects(kind), kind != Kind::Idle, "{kind:?}");
        }
    }

    #[test]
    fn population_from_its_tally() {
        let tally = Tally {
            opened: 7,
            connect_failed: 2,
            closed_by_server: 3,
            closed_by_client: 2,
            closes: vec![0.3, 0.1, 0.2],
            activity: Activity {
                sent: 30,
                answered: 12,
                ..Activity::default()
            },
        };
        let p = population(4, true, tally, 2, 1, 2.0, true);
        assert_eq!((p.requested, p.reconnecting), (4, true), "{p:?}");
        assert_eq!(
            (
                p.opened,
                p.connect_failed,
                p.closed_by_server,
                p.closed_by_client
            ),
            (7, 3, 3, 2)
        );
        // Every connection opened was closed by one side or is still open.
        assert_eq!(
            p.opened,
            p.closed_by_server + p.closed_by_client + p.open_at_end
        );
        assert_eq!(p.close_after_s.median, Some(0.2));
        assert_eq!(p.close_after_s.max, Some(0.3));
        let a = p.activity.unwrap();
        assert_eq!(
            (a.sent, a.answered, a.seconds, a.sent_per_s),
            (30, 12, 2.0, 15.0)
        );
        assert_eq!(p.usable_at_end, None);
        // The older populations report no activity; one not asked for, none either.
        assert_eq!(
            population(4, false, Tally::default(), 0, 0, 2.0, false).activity,
            None
        );
        assert_eq!(
            population(0, false, Tally::default(), 0, 0, 2.0, true).activity,
            None
        );
    }
}
