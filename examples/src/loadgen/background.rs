//! The background populations: idle keep-alive connections, slowloris clients and
//! non-readers, on one thread with one `mio::Poll`, beside the measured load.
//!
//! A background connection is opened once and never reopened: when the server closes it
//! (end of file or reset), it stays closed and is counted, with the time from its
//! connection to the close. When the measured run ends, each idle connection still open
//! sends one request, checked like the measured ones; then every connection is closed.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Registry, Token};

use super::check::Check;
use super::report::{Background, CloseAfter, Population, Usable};
use super::Proto;

/// The token of the waker that ends the populations' loop.
pub(crate) const WAKE: Token = Token(usize::MAX);

/// Most connections being opened at once (so that thousands do not overflow the
/// server's accept backlog).
const MAX_CONNECTING: usize = 256;

/// The longest wait of the loop, for connect timeouts.
const TICK: Duration = Duration::from_millis(50);

/// Background connections are numbered from here in their requests (RESP keys, echo
/// lines), apart from the measured connections.
const ID_BASE: u64 = 1 << 40;

/// A non-reader writes this much of its pipelined requests at a time, at least.
const NON_READER_CHUNK: usize = 16 * 1024;

/// What the populations' thread runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BgPlan {
    pub addr: SocketAddr,
    pub proto: Proto,
    pub idle: usize,
    pub slowloris: usize,
    pub non_readers: usize,
    pub trickle_interval: Duration,
    /// Connect timeout, and the longest wait for the idle connections' final answers.
    pub timeout: Duration,
}

impl BgPlan {
    pub fn total(&self) -> usize {
        self.idle + self.slowloris + self.non_readers
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Idle,
    Slowloris,
    NonReader,
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
    /// Could not connect.
    ConnectFailed,
    /// Closed by the server this long after it was opened.
    ClosedByServer(Duration),
}

/// The fate of an idle connection's final request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    None,
    Waiting,
    Answered,
    Failed,
}

struct Conn {
    kind: Kind,
    id: u64,
    token: Token,
    stream: Option<TcpStream>,
    state: State,
    /// Slowloris: bytes trickled; non-reader: position in the chunk.
    pos: usize,
    probe: Probe,
    input: Vec<u8>,
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

impl Conn {
    fn is_open(&self) -> bool {
        matches!(self.state, State::Open { .. })
    }

    /// Opened, failed to open, or closed: no longer being opened.
    fn is_settled(&self) -> bool {
        !matches!(self.state, State::New | State::Connecting { .. })
    }

    fn open(&mut self, registry: &Registry, addr: SocketAddr, now: Instant) {
        let stream = TcpStream::connect(addr).and_then(|mut s| {
            registry.register(&mut s, self.token, Interest::READABLE | Interest::WRITABLE)?;
            Ok(s)
        });
        match stream {
            Ok(s) => {
                self.stream = Some(s);
                self.state = State::Connecting { since: now };
            }
            Err(_) => self.state = State::ConnectFailed,
        }
    }

    /// Drop the socket, in `state`.
    fn drop_socket(&mut self, registry: &Registry, state: State) {
        if let Some(mut s) = self.stream.take() {
            let _ = registry.deregister(&mut s);
        }
        self.state = state;
    }

    fn closed_by_server(&mut self, registry: &Registry, now: Instant) {
        if let State::Open { since } = self.state {
            self.drop_socket(registry, State::ClosedByServer(now - since));
        }
    }

    /// Handle readiness during the run.
    fn ready(&mut self, event: &Event, ctx: &Ctx<'_>, now: Instant) {
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
                return self.drop_socket(ctx.registry, State::ConnectFailed);
            }
            let _ = stream.set_nodelay(true);
            self.state = State::Open { since: now };
            if self.kind == Kind::Slowloris {
                self.write_all(trickle_prefix(ctx.proto), ctx, now);
            }
        }
        if !self.is_open() {
            return;
        }
        match self.kind {
            Kind::Idle | Kind::Slowloris => self.drain(ctx.registry, now),
            Kind::NonReader => {
                if event.is_error() || event.is_read_closed() {
                    return self.closed_by_server(ctx.registry, now);
                }
                self.pump(ctx, now);
            }
        }
    }

    /// Read and discard what the server sends, noticing its close.
    fn drain(&mut self, registry: &Registry, now: Instant) {
        let mut buf = [0u8; 4096];
        loop {
            let Some(stream) = &mut self.stream else {
                return;
            };
            match stream.read(&mut buf) {
                Ok(0) => return self.closed_by_server(registry, now),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.closed_by_server(registry, now),
            }
        }
    }

    /// Non-reader: write pipelined requests until the socket would block.
    fn pump(&mut self, ctx: &Ctx<'_>, now: Instant) {
        loop {
            let Some(stream) = &mut self.stream else {
                return;
            };
            match stream.write(&ctx.chunk[self.pos..]) {
                Ok(0) => return self.closed_by_server(ctx.registry, now),
                Ok(n) => self.pos = (self.pos + n) % ctx.chunk.len(),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.closed_by_server(ctx.registry, now),
            }
        }
    }

    /// Slowloris: send the next byte.
    fn trickle(&mut self, ctx: &Ctx<'_>, now: Instant) {
        let byte = trickle_byte(ctx.proto, self.pos);
        if self.write_all(&[byte], ctx, now) {
            self.pos += 1;
        }
    }

    /// Write a few bytes (they fit in any socket buffer); whether they were written.
    fn write_all(&mut self, bytes: &[u8], ctx: &Ctx<'_>, now: Instant) -> bool {
        let Some(stream) = &mut self.stream else {
            return false;
        };
        match stream.write_all(bytes) {
            Ok(()) => true,
            // A slowloris client that cannot send its byte now sends it at the next tick.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
            Err(_) => {
                self.closed_by_server(ctx.registry, now);
                false
            }
        }
    }

    /// Idle, after the run: send one request.
    fn probe_send(&mut self, proto: Proto) {
        let mut request = Vec::new();
        proto.request(self.id, 0, &mut request);
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
    proto: Proto,
    chunk: Vec<u8>,
}

/// Run the populations until `stop` is set (and the waker of `poll` woken), probe the
/// idle connections, close everything and report. `settled` gets one message when
/// every connection has been opened or has failed to (so the measured run can start
/// with the populations in place).
pub(crate) fn run(
    plan: BgPlan,
    mut poll: Poll,
    stop: &AtomicBool,
    settled: mpsc::Sender<()>,
) -> io::Result<Background> {
    let mut settled = Some(settled);
    let registry = poll.registry().try_clone()?;
    let ctx = Ctx {
        registry: &registry,
        proto: plan.proto,
        chunk: non_reader_chunk(plan.proto),
    };
    let kinds = std::iter::repeat_n(Kind::Idle, plan.idle)
        .chain(std::iter::repeat_n(Kind::Slowloris, plan.slowloris))
        .chain(std::iter::repeat_n(Kind::NonReader, plan.non_readers));
    let mut conns: Vec<Conn> = kinds
        .enumerate()
        .map(|(i, kind)| Conn {
            kind,
            id: ID_BASE + i as u64,
            token: Token(i),
            stream: None,
            state: State::New,
            pos: 0,
            probe: Probe::None,
            input: Vec::new(),
        })
        .collect();
    let mut events = Events::with_capacity(1024);
    let mut next_new = 0;
    let mut next_trickle = Instant::now() + plan.trickle_interval;
    while !stop.load(Ordering::Acquire) {
        let now = Instant::now();
        // Open more, and time out the slow connects.
        let mut connecting = 0;
        for conn in &mut conns[..next_new] {
            if let State::Connecting { since } = conn.state {
                if now >= since + plan.timeout {
                    conn.drop_socket(&registry, State::ConnectFailed);
                } else {
                    connecting += 1;
                }
            }
        }
        while connecting < MAX_CONNECTING && next_new < conns.len() {
            conns[next_new].open(&registry, plan.addr, now);
            next_new += 1;
            connecting += 1;
        }
        if now >= next_trickle {
            for conn in &mut conns {
                if conn.kind == Kind::Slowloris && conn.is_open() {
                    conn.trickle(&ctx, now);
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
        match poll.poll(&mut events, Some(wait)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        for event in &events {
            if let Some(conn) = conns.get_mut(event.token().0) {
                conn.ready(event, &ctx, now);
            }
        }
        if settled.is_some() && next_new == conns.len() && conns.iter().all(Conn::is_settled) {
            if let Some(tx) = settled.take() {
                let _ = tx.send(());
            }
        }
    }

    // The run is over: what the server did to each connection is settled. Close the
    // others, then ask each idle connection still open for one answer.
    let mut background = Background::default();
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

    for (kind, population, requested) in [
        (Kind::Idle, &mut background.idle, plan.idle),
        (Kind::Slowloris, &mut background.slowloris, plan.slowloris),
        (
            Kind::NonReader,
            &mut background.non_readers,
            plan.non_readers,
        ),
    ] {
        let mine = || conns.iter().filter(move |c| c.kind == kind);
        *population = fate(requested, mine().map(|c| c.state));
        if kind == Kind::Idle {
            let probed = mine().filter(|c| c.probe != Probe::None);
            let answered = probed.clone().filter(|c| c.probe == Probe::Answered);
            let answered = answered.count() as u64;
            population.usable_at_end = Some(Usable {
                answered,
                failed: probed.count() as u64 - answered,
            });
        }
    }
    // Dropping the connections closes them.
    drop(conns);
    Ok(background)
}

/// A population's counts from its connections' states at the end of the run.
fn fate(requested: usize, states: impl Iterator<Item = State>) -> Population {
    let mut population = Population {
        requested,
        ..Population::default()
    };
    let mut closes = Vec::new();
    for state in states {
        match state {
            State::New | State::Connecting { .. } | State::ConnectFailed => {
                population.connect_failed += 1
            }
            State::Open { .. } => {
                population.opened += 1;
                population.open_at_end += 1;
            }
            State::ClosedByServer(after) => {
                population.opened += 1;
                population.closed_by_server += 1;
                closes.push(after.as_secs_f64());
            }
        }
    }
    population.close_after_s = CloseAfter::of(&mut closes);
    population
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
    fn fate_counts_each_state() {
        let t = Instant::now();
        let states = [
            State::Open { since: t },
            State::ClosedByServer(Duration::from_millis(300)),
            State::ClosedByServer(Duration::from_millis(100)),
            State::ClosedByServer(Duration::from_millis(200)),
            State::ConnectFailed,
        ];
        let p = fate(5, states.into_iter());
        assert_eq!(
            (p.requested, p.opened, p.connect_failed),
            (5, 4, 1),
            "{p:?}"
        );
        assert_eq!((p.closed_by_server, p.open_at_end), (3, 1));
        assert_eq!(p.close_after_s.median, Some(0.2));
        assert_eq!(p.close_after_s.max, Some(0.3));
        assert_eq!(p.usable_at_end, None);
    }
}
