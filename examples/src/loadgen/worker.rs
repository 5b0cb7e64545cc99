//! One client thread: its own `mio::Poll` and its share of the connections.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Registry, Token};

use super::check::{Check, MAX_BODY, MAX_HTTP_HEAD};
use super::progress::{Progress, Publisher};
use super::proto::{Proto, Requests};
use super::proxy_header::ProxyVersion;
use super::report::{latency_histogram, ErrorKind, Errors, Handshakes};
use super::schedule::Schedule;
use super::tls::{Stream, TlsClient};

/// How often connections are checked for timeouts and due reconnections.
const SWEEP: Duration = Duration::from_millis(10);

/// A connection's read buffer starts at this size.
const READ_CHUNK: usize = 4096;

/// A read buffer never grows beyond this (a checker rejects a longer response first).
const MAX_READ_BUFFER: usize = MAX_HTTP_HEAD + MAX_BODY + READ_CHUNK;

/// The first and the longest wait before reconnecting after a failed attempt.
const BACKOFF_MIN: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// What every thread of a run shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub addr: SocketAddr,
    pub proto: Proto,
    /// The requests to send (HTTP's preformatted for the run's path).
    pub requests: Requests,
    pub pipeline: usize,
    pub timeout: Duration,
    /// When the run (and its warm-up) started.
    pub start: Instant,
    /// The end of the warm-up: requests meant to be sent from here on are counted.
    pub measure_start: Instant,
    /// The end of a `--duration` run.
    pub measure_end: Option<Instant>,
    /// The hard limit of every run.
    pub hard_end: Instant,
    /// TLS, if the run speaks it.
    pub tls: Option<TlsClient>,
    /// Requests per connection before the client closes it and opens a new one.
    pub per_connection: Option<u64>,
    /// Send again, once, the requests lost with a reused connection (see
    /// `Config::retry_closed`).
    pub retry_closed: bool,
    /// The PROXY header each new connection sends first (`--proxy`).
    pub proxy: Option<ProxyVersion>,
}

impl Shared {
    /// Whether something at `t` is counted.
    fn counts(&self, t: Instant) -> bool {
        t >= self.measure_start && self.measure_end.is_none_or(|end| t < end)
    }
}

/// One thread's part of the run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    /// The number of its first connection (connections are numbered across threads).
    pub first_conn: u64,
    /// Its connections.
    pub conns: usize,
    /// Its share of `--requests`.
    pub budget: Option<u64>,
    /// Its share of `--rate`.
    pub rate: Option<f64>,
}

/// What one thread measured.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub hist: Histogram<u64>,
    pub ok: u64,
    pub errors: Errors,
    pub reconnects: u64,
    pub retried: u64,
    pub handshakes: Handshakes,
    /// When the thread stopped.
    pub stopped: Instant,
    /// Whether the hard limit stopped it.
    pub capped: bool,
}

/// The counters and settings a connection updates as it goes.
struct Ctx<'a> {
    run: &'a Shared,
    registry: Registry,
    hist: Histogram<u64>,
    ok: u64,
    errors: Errors,
    reconnects: u64,
    /// Counted requests sent again after their reused connection closed.
    retried: u64,
    handshakes: Handshakes,
    /// Counted requests still to issue (`--requests`).
    budget: Option<u64>,
    /// Whether requests come from the open-loop schedule.
    open_loop: bool,
    /// Where expected responses are built.
    expected: Vec<u8>,
}

impl Ctx<'_> {
    /// Count an error not tied to a request (a failed connection attempt).
    fn error_at(&mut self, kind: ErrorKind, now: Instant) {
        if self.run.counts(now) {
            self.errors.add(kind, 1);
        }
    }

    /// Whether a request meant for `intended` may be issued, taking it from the budget.
    fn take_budget(&mut self, intended: Instant) -> bool {
        if intended < self.run.measure_start {
            return true;
        }
        match &mut self.budget {
            None => true,
            Some(0) => false,
            Some(n) => {
                *n -= 1;
                true
            }
        }
    }
}

/// A request sent and not yet answered.
#[derive(Debug, Clone, Copy)]
struct Flight {
    seq: u64,
    /// When it was meant to be sent: its latency counts from here.
    intended: Instant,
    /// When it was written: its timeout counts from here.
    sent: Instant,
    counted: bool,
    /// Sent once already, on a connection that closed before answering it.
    retried: bool,
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// No socket; open one at `retry_at`.
    Closed {
        retry_at: Instant,
    },
    /// Connecting since then.
    Connecting {
        since: Instant,
    },
    Open,
}

/// Whether a connection is still the one it was.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Go,
    Reopened,
}

struct Conn {
    id: u64,
    token: Token,
    stream: Option<Stream>,
    state: State,
    out: Vec<u8>,
    out_pos: usize,
    input: Vec<u8>,
    in_lo: usize,
    in_hi: usize,
    flights: VecDeque<Flight>,
    /// Requests lost with a reused connection, to send first on the next one.
    retry: VecDeque<Flight>,
    /// Open loop: requests due, not yet sent (their intended times).
    pending: VecDeque<Instant>,
    seq: u64,
    /// Requests sent and responses received on the current socket.
    sent: u64,
    answered: u64,
    /// Consecutive unproductive connections (no response), for the back-off.
    failures: u32,
}

impl Conn {
    fn new(id: u64, token: Token, now: Instant) -> Conn {
        Conn {
            id,
            token,
            stream: None,
            state: State::Closed { retry_at: now },
            out: Vec::new(),
            out_pos: 0,
            input: Vec::new(),
            in_lo: 0,
            in_hi: 0,
            flights: VecDeque::new(),
            retry: VecDeque::new(),
            pending: VecDeque::new(),
            seq: 0,
            sent: 0,
            answered: 0,
            failures: 0,
        }
    }

    fn idle(&self) -> bool {
        self.flights.is_empty() && self.pending.is_empty() && self.retry.is_empty()
    }

    /// Whether it has nothing more to send in this run (`--requests` all issued, none
    /// waiting to be sent again): a closed connection is then not reopened (a new one
    /// would only handshake).
    fn done(&self, ctx: &Ctx<'_>) -> bool {
        ctx.budget == Some(0) && self.pending.is_empty() && self.retry.is_empty()
    }

    /// Start connecting.
    fn open(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        let stream = TcpStream::connect(ctx.run.addr).and_then(|mut s| {
            ctx.registry
                .register(&mut s, self.token, Interest::READABLE | Interest::WRITABLE)?;
            match &ctx.run.tls {
                Some(tls) => tls.connect(s),
                None => Ok(Stream::Plain(s)),
            }
        });
        match stream {
            Ok(s) => {
                self.stream = Some(s);
                self.state = State::Connecting { since: now };
            }
            Err(_) => {
                ctx.error_at(ErrorKind::Connect, now);
                self.close(ctx, now);
            }
        }
    }

    /// Drop the socket and what was in flight on it (already counted); reconnect at once
    /// if it answered something, else after a growing back-off (so that a server that
    /// refuses or closes at once is not hammered).
    fn close(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        if let Some(mut s) = self.stream.take() {
            let _ = ctx.registry.deregister(s.tcp());
        }
        // Requests whose fate is unknown: RESP starts again at a SET. With none (every
        // request answered, as when closing after --requests-per-connection), the
        // sequence goes on.
        if !self.flights.is_empty() {
            self.seq = ctx.run.proto.resume_at(self.seq);
        }
        self.flights.clear();
        self.out.clear();
        self.out_pos = 0;
        self.in_lo = 0;
        self.in_hi = 0;
        let retry_at = if self.answered > 0 {
            self.failures = 0;
            now
        } else {
            let wait = BACKOFF_MIN.saturating_mul(1 << self.failures.min(7));
            self.failures += 1;
            now + wait.min(BACKOFF_MAX)
        };
        self.answered = 0;
        self.sent = 0;
        self.state = State::Closed { retry_at };
        if retry_at <= now && !self.done(ctx) {
            // A failed attempt leaves `answered` at 0, so this recurses at most once.
            self.open(ctx, now);
        }
    }

    /// Whether the requests in flight may be sent again on a new connection, as HTTP
    /// clients do (RFC 9112, 9.3.1): with `--retry-closed`, when the connection was
    /// reused (it answered before), nothing of their answers has come, and none was
    /// sent twice already.
    fn may_retry(&self, ctx: &Ctx<'_>) -> bool {
        ctx.run.retry_closed
            && self.answered > 0
            && self.in_lo == self.in_hi
            && !self.flights.is_empty()
            && self.flights.iter().all(|f| !f.retried)
    }

    /// Keep the requests in flight to send first on the next connection.
    fn keep_for_retry(&mut self, ctx: &mut Ctx<'_>) {
        for mut flight in self.flights.drain(..) {
            flight.retried = true;
            if flight.counted {
                ctx.retried += 1;
            }
            self.retry.push_back(flight);
        }
    }

    /// Fail the connection: count its requests in flight as `kind` (or one error if none
    /// was), and close it. A reset, a failed write or a close before any answer on a
    /// reused connection sends them again instead, when [`Conn::may_retry`].
    fn fail(&mut self, ctx: &mut Ctx<'_>, kind: ErrorKind, now: Instant) {
        let lost_with_the_connection =
            matches!(kind, ErrorKind::Read | ErrorKind::Write | ErrorKind::Closed);
        if lost_with_the_connection && self.may_retry(ctx) {
            self.keep_for_retry(ctx);
            if ctx.run.counts(now) {
                ctx.reconnects += 1;
            }
            return self.close(ctx, now);
        }
        if self.flights.is_empty() {
            ctx.error_at(kind, now);
        } else {
            let counted = self.flights.iter().filter(|f| f.counted).count() as u64;
            ctx.errors.add(kind, counted);
        }
        if ctx.run.counts(now) {
            ctx.reconnects += 1;
        }
        self.close(ctx, now);
    }

    /// Handle readiness.
    fn ready(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        if let State::Connecting { .. } = self.state {
            let Some(stream) = &mut self.stream else {
                return;
            };
            let stream = stream.tcp();
            match stream.take_error() {
                Ok(None) => {}
                Ok(Some(_)) | Err(_) => return self.connect_failed(ctx, now),
            }
            match stream.peer_addr() {
                Ok(_) => {
                    let _ = stream.set_nodelay(true);
                    self.state = State::Open;
                    if let Some(version) = ctx.run.proxy {
                        let source = super::proxy_header::source_of(self.id);
                        super::proxy_header::write(version, source, ctx.run.addr, &mut self.out);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(_) => return self.connect_failed(ctx, now),
            }
        }
        if let State::Open = self.state {
            // TLS records the socket would not take at the last write.
            if let Some(Err(_)) = self.stream.as_mut().map(Stream::send_pending) {
                return self.fail(ctx, ErrorKind::Write, now);
            }
            if self.read(ctx, now) == Flow::Go {
                self.fill(ctx, now);
            }
        }
    }

    fn connect_failed(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        ctx.error_at(ErrorKind::Connect, now);
        self.close(ctx, now);
    }

    /// Read what has arrived and check every complete response.
    fn read(&mut self, ctx: &mut Ctx<'_>, now: Instant) -> Flow {
        loop {
            if self.in_hi == self.input.len() {
                if self.in_lo > 0 {
                    self.input.copy_within(self.in_lo..self.in_hi, 0);
                    self.in_hi -= self.in_lo;
                    self.in_lo = 0;
                } else if self.input.len() < MAX_READ_BUFFER {
                    let len = (self.input.len() * 2).clamp(READ_CHUNK, MAX_READ_BUFFER);
                    self.input.resize(len, 0);
                } else {
                    // Unreachable with the checkers' limits; never loop on a full buffer.
                    self.fail(ctx, ErrorKind::Protocol, now);
                    return Flow::Reopened;
                }
            }
            let Some(stream) = &mut self.stream else {
                return Flow::Reopened;
            };
            match stream.read(&mut self.input[self.in_hi..]) {
                Ok(0) => {
                    return if self.flights.is_empty() && self.in_lo == self.in_hi {
                        self.close(ctx, now);
                        if ctx.run.counts(now) {
                            ctx.reconnects += 1;
                        }
                        Flow::Reopened
                    } else {
                        self.fail(ctx, ErrorKind::Closed, now);
                        Flow::Reopened
                    };
                }
                Ok(n) => {
                    self.in_hi += n;
                    if let Some(kind) = stream.take_handshake_kind() {
                        if ctx.run.counts(now) {
                            ctx.handshakes.add(kind);
                        }
                    }
                    if self.responses(ctx, now) == Flow::Reopened {
                        return Flow::Reopened;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Flow::Go,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.fail(ctx, ErrorKind::Read, now);
                    return Flow::Reopened;
                }
            }
        }
    }

    /// Check and count the complete responses buffered.
    fn responses(&mut self, ctx: &mut Ctx<'_>, now: Instant) -> Flow {
        while self.in_lo < self.in_hi {
            let Some(&flight) = self.flights.front() else {
                // Bytes nobody asked for.
                self.fail(ctx, ErrorKind::Protocol, now);
                return Flow::Reopened;
            };
            let proto = ctx.run.proto;
            proto.expected(self.id, flight.seq, &mut ctx.expected);
            match proto.check(&self.input[self.in_lo..self.in_hi], &ctx.expected) {
                Check::Partial => break,
                Check::Invalid => {
                    self.fail(ctx, ErrorKind::Protocol, now);
                    return Flow::Reopened;
                }
                Check::Response {
                    len,
                    matched,
                    close,
                } => {
                    self.in_lo += len;
                    self.flights.pop_front();
                    self.answered += 1;
                    if flight.counted {
                        if matched {
                            ctx.ok += 1;
                            let us = now.saturating_duration_since(flight.intended).as_micros();
                            ctx.hist
                                .saturating_record(u64::try_from(us).unwrap_or(u64::MAX));
                        } else {
                            ctx.errors.add(ErrorKind::Mismatch, 1);
                        }
                    }
                    if ctx
                        .run
                        .per_connection
                        .is_some_and(|max| self.answered >= max)
                        && self.flights.is_empty()
                    {
                        // Done with this connection: close it and open the next one.
                        self.close(ctx, now);
                        return Flow::Reopened;
                    }
                    if close {
                        // The server answers nothing more on this connection: the requests
                        // sent after this one were never served (sent again when retrying).
                        if self.may_retry(ctx) {
                            self.keep_for_retry(ctx);
                        }
                        let lost = self.flights.iter().filter(|f| f.counted).count() as u64;
                        ctx.errors.add(ErrorKind::Closed, lost);
                        if ctx.run.counts(now) {
                            ctx.reconnects += 1;
                        }
                        self.close(ctx, now);
                        return Flow::Reopened;
                    }
                }
            }
        }
        if self.in_lo == self.in_hi {
            self.in_lo = 0;
            self.in_hi = 0;
        }
        Flow::Go
    }

    /// Issue requests up to the pipeline depth, then write.
    fn fill(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        if !matches!(self.state, State::Open) {
            return;
        }
        while self.flights.len() < ctx.run.pipeline
            && ctx.run.per_connection.is_none_or(|max| self.sent < max)
        {
            if let Some(mut flight) = self.retry.pop_front() {
                // Its latency still counts from when it was first meant to be sent.
                self.sent += 1;
                flight.sent = now;
                ctx.run.requests.write(self.id, flight.seq, &mut self.out);
                self.flights.push_back(flight);
                continue;
            }
            let intended = if ctx.open_loop {
                match self.pending.pop_front() {
                    Some(t) => t,
                    None => break,
                }
            } else {
                if ctx.run.measure_end.is_some_and(|end| now >= end) || !ctx.take_budget(now) {
                    break;
                }
                now
            };
            let seq = self.seq;
            self.seq += 1;
            self.sent += 1;
            ctx.run.requests.write(self.id, seq, &mut self.out);
            self.flights.push_back(Flight {
                seq,
                intended,
                sent: now,
                counted: ctx.run.counts(intended),
                retried: false,
            });
        }
        self.flush(ctx, now);
    }

    /// Write what is pending.
    fn flush(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        while self.out_pos < self.out.len() {
            let Some(stream) = &mut self.stream else {
                return;
            };
            match stream.write(&self.out[self.out_pos..]) {
                Ok(0) => return self.fail(ctx, ErrorKind::Write, now),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.fail(ctx, ErrorKind::Write, now),
            }
        }
        self.out.clear();
        self.out_pos = 0;
    }

    /// Time-driven work: timeouts and reconnections.
    fn sweep(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        match self.state {
            State::Closed { retry_at } if retry_at <= now && !self.done(ctx) => self.open(ctx, now),
            State::Connecting { since } if now >= since + ctx.run.timeout => {
                self.connect_failed(ctx, now);
            }
            State::Open => {
                if self
                    .flights
                    .front()
                    .is_some_and(|f| now >= f.sent + ctx.run.timeout)
                {
                    self.fail(ctx, ErrorKind::Timeout, now);
                } else {
                    self.fill(ctx, now);
                }
            }
            _ => {}
        }
    }
}

/// Run one thread's connections until the run ends, adding its counts to `progress` as
/// it goes (in batches: see [`Publisher`]).
pub(crate) fn run_thread(run: &Shared, plan: Plan, progress: &Progress) -> io::Result<Outcome> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let now = Instant::now();
    let mut ctx = Ctx {
        run,
        registry: poll.registry().try_clone()?,
        hist: latency_histogram(),
        ok: 0,
        errors: Errors::default(),
        reconnects: 0,
        retried: 0,
        handshakes: Handshakes::default(),
        budget: plan.budget,
        open_loop: plan.rate.is_some(),
        expected: Vec::new(),
    };
    let schedule = plan.rate.map(|r| Schedule::new(run.start, r));
    let mut next_request: u64 = 0;
    let mut next_conn = 0;
    let mut conns: Vec<Conn> = (0..plan.conns)
        .map(|i| Conn::new(plan.first_conn + i as u64, Token(i), now))
        .collect();
    for conn in &mut conns {
        conn.open(&mut ctx, now);
    }
    let mut next_sweep = now + SWEEP;
    let mut capped = false;
    let mut publisher = Publisher::new(progress, now);
    let stopped = loop {
        let now = Instant::now();
        // Once per poll (and sweep): cheap unless a batch is due.
        publisher.publish(ctx.ok, ctx.errors.total(), now, false);
        if run.measure_end.is_some_and(|end| now >= end) {
            break now;
        }
        if now >= run.hard_end {
            capped = true;
            break now;
        }
        let budget_spent = ctx.budget == Some(0) && now >= run.measure_start;
        if budget_spent && conns.iter().all(Conn::idle) {
            break now;
        }
        let mut wake = next_sweep.min(run.hard_end);
        if let Some(end) = run.measure_end {
            wake = wake.min(end);
        }
        if let Some(schedule) = &schedule {
            // Hand each request due to the next connection in turn.
            let due = schedule.due(now);
            while next_request < due {
                let intended = schedule.intended(next_request);
                if !ctx.take_budget(intended) {
                    break;
                }
                next_request += 1;
                let len = conns.len();
                let conn = &mut conns[next_conn];
                next_conn = (next_conn + 1) % len;
                conn.pending.push_back(intended);
                conn.fill(&mut ctx, now);
            }
            if ctx.budget != Some(0) {
                wake = wake.min(schedule.intended(next_request));
            }
        }
        if now >= next_sweep {
            for conn in &mut conns {
                conn.sweep(&mut ctx, now);
            }
            next_sweep = now + SWEEP;
            continue;
        }
        match poll.poll(&mut events, Some(wake.saturating_duration_since(now))) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        for event in &events {
            if let Some(conn) = conns.get_mut(event.token().0) {
                conn.ready(&mut ctx, now);
            }
        }
    };
    publisher.publish(ctx.ok, ctx.errors.total(), stopped, true);
    Ok(Outcome {
        hist: ctx.hist,
        ok: ctx.ok,
        errors: ctx.errors,
        reconnects: ctx.reconnects,
        retried: ctx.retried,
        handshakes: ctx.handshakes,
        stopped,
        capped,
    })
}
