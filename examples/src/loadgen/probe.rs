//! The fresh-connection probe (`--probe-interval`), on its own thread with its own
//! `mio::Poll`: every interval a new connection (TLS when the run speaks it) sends one
//! request of the run's protocol and must get the right answer within
//! [`PROBE_TIMEOUT`]: can a newcomer still be served?
//!
//! Probes do not wait for each other: when answers are slow, several are in flight
//! (at most `PROBE_TIMEOUT / interval`, rounded up).

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Registry, Token};

use super::check::Check;
use super::proto::{Proto, Requests};
use super::report::{latency_histogram, Probes};
use super::tls::{Stream, TlsClient};

/// The longest a probe ([`Config::probe_interval`](super::Config::probe_interval)) may
/// take, from its connection attempt to its checked answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The shortest [`Config::probe_interval`](super::Config::probe_interval) (so that at
/// most 100 probes are in flight).
pub const MIN_PROBE_INTERVAL: Duration = Duration::from_millis(10);

/// The most probes in flight at once when one starts every `interval` (none without
/// an interval): [`PROBE_TIMEOUT`] over the interval (at least [`MIN_PROBE_INTERVAL`]),
/// rounded up, plus one.
pub(crate) fn probes_in_flight(interval: Option<Duration>) -> usize {
    interval.map_or(0, |i| {
        let i = i.max(MIN_PROBE_INTERVAL).as_nanos();
        (PROBE_TIMEOUT.as_nanos().div_ceil(i) + 1) as usize
    })
}

/// The connection number in the probes' requests (RESP keys, echo lines): apart from
/// the measured connections and the background populations.
const PROBE_ID: u64 = (1 << 40) - 2;

/// The longest wait of the loop (for the stop flag).
const TICK: Duration = Duration::from_millis(50);

/// What the probe thread runs.
#[derive(Debug, Clone)]
pub(crate) struct ProbePlan {
    pub addr: SocketAddr,
    pub proto: Proto,
    pub requests: Requests,
    pub tls: Option<TlsClient>,
    pub interval: Duration,
}

/// One probe in flight.
struct Flight {
    stream: Stream,
    started: Instant,
    connected: bool,
    out: Vec<u8>,
    out_pos: usize,
    input: Vec<u8>,
    expected: Vec<u8>,
}

/// How a probe ended.
enum End {
    Answered(Duration),
    Failed,
}

impl Flight {
    /// Handle readiness: `Some` once the probe has ended.
    fn ready(&mut self, proto: Proto, now: Instant) -> Option<End> {
        if !self.connected {
            let tcp = self.stream.tcp();
            match tcp.take_error() {
                Ok(None) => {}
                _ => return Some(End::Failed),
            }
            match tcp.peer_addr() {
                Ok(_) => {
                    let _ = tcp.set_nodelay(true);
                    self.connected = true;
                }
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return None,
                Err(_) => return Some(End::Failed),
            }
        }
        if self.stream.send_pending().is_err() {
            return Some(End::Failed);
        }
        while self.out_pos < self.out.len() {
            match self.stream.write(&self.out[self.out_pos..]) {
                Ok(0) => return Some(End::Failed),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Some(End::Failed),
            }
        }
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Some(End::Failed),
                Ok(n) => {
                    self.input.extend_from_slice(&buf[..n]);
                    match proto.check(&self.input, &self.expected) {
                        Check::Partial => {}
                        Check::Response { matched: true, .. } => {
                            return Some(End::Answered(now - self.started))
                        }
                        Check::Response { .. } | Check::Invalid => return Some(End::Failed),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Some(End::Failed),
            }
        }
    }
}

/// Open probe `n`: its flight, or `None` if the connection could not even be started.
fn open(
    plan: &ProbePlan,
    registry: &Registry,
    token: Token,
    n: u64,
    now: Instant,
) -> Option<Flight> {
    let stream = TcpStream::connect(plan.addr).and_then(|mut s| {
        registry.register(&mut s, token, Interest::READABLE | Interest::WRITABLE)?;
        match &plan.tls {
            Some(tls) => tls.connect(s),
            None => Ok(Stream::Plain(s)),
        }
    });
    let stream = stream.ok()?;
    // An even sequence: for RESP a `SET`, answered `+OK`.
    let seq = 2 * n;
    let mut out = Vec::new();
    plan.requests.write(PROBE_ID, seq, &mut out);
    let mut expected = Vec::new();
    plan.proto.expected(PROBE_ID, seq, &mut expected);
    Some(Flight {
        stream,
        started: now,
        connected: false,
        out,
        out_pos: 0,
        input: Vec::new(),
        expected,
    })
}

/// Probe from `start` every `plan.interval` until `stop` is set; then wait for the
/// probes in flight (at most [`PROBE_TIMEOUT`]) and report.
pub(crate) fn run(plan: &ProbePlan, stop: &AtomicBool, start: Instant) -> io::Result<Probes> {
    let mut poll = Poll::new()?;
    let registry = poll.registry().try_clone()?;
    let mut events = Events::with_capacity(64);
    let mut flights: Vec<Option<Flight>> = Vec::new();
    let mut hist = latency_histogram();
    let mut probes = Probes {
        interval_s: plan.interval.as_secs_f64(),
        ..Probes::default()
    };
    let mut end = |flight: Flight, how: End, probes: &mut Probes| {
        let mut tcp = flight.stream;
        let _ = registry.deregister(tcp.tcp());
        match how {
            End::Answered(took) => {
                probes.answered += 1;
                let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
                hist.saturating_record(us.max(1));
            }
            End::Failed => probes.failed += 1,
        }
    };
    let mut next = start;
    let mut n = 0;
    loop {
        let now = Instant::now();
        let stopping = stop.load(Ordering::Acquire);
        if !stopping && now >= next {
            let slot = flights.iter().position(Option::is_none).unwrap_or_else(|| {
                flights.push(None);
                flights.len() - 1
            });
            probes.sent += 1;
            match open(plan, &registry, Token(slot), n, now) {
                Some(flight) => flights[slot] = Some(flight),
                None => probes.failed += 1,
            }
            n += 1;
            next += plan.interval;
            if next <= now {
                next = now + plan.interval;
            }
        }
        let mut wake = now + TICK;
        if !stopping {
            wake = wake.min(next);
        }
        for slot in &mut flights {
            let Some(flight) = slot else { continue };
            let deadline = flight.started + PROBE_TIMEOUT;
            if now >= deadline {
                if let Some(flight) = slot.take() {
                    probes.timed_out += 1;
                    end(flight, End::Failed, &mut probes);
                }
            } else {
                wake = wake.min(deadline);
            }
        }
        if stopping && flights.iter().all(Option::is_none) {
            break;
        }
        match poll.poll(&mut events, Some(wake.saturating_duration_since(now))) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        for event in &events {
            let Some(slot) = flights.get_mut(event.token().0) else {
                continue;
            };
            let Some(how) = slot.as_mut().and_then(|f| f.ready(plan.proto, now)) else {
                continue;
            };
            if let Some(flight) = slot.take() {
                end(flight, how, &mut probes);
            }
        }
    }
    if !hist.is_empty() {
        probes.latency_p50_us = Some(hist.value_at_quantile(0.5));
        probes.latency_max_us = Some(hist.max());
    }
    Ok(probes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_in_flight_cover_the_timeout() {
        assert_eq!(probes_in_flight(None), 0);
        assert_eq!(probes_in_flight(Some(Duration::from_millis(100))), 11);
        assert_eq!(probes_in_flight(Some(Duration::from_millis(300))), 5);
        assert_eq!(probes_in_flight(Some(PROBE_TIMEOUT)), 2);
        assert_eq!(probes_in_flight(Some(Duration::from_secs(60))), 2);
        // Shorter than the shortest interval counts as the shortest.
        assert_eq!(probes_in_flight(Some(MIN_PROBE_INTERVAL)), 101);
        assert_eq!(probes_in_flight(Some(Duration::from_millis(1))), 101);
    }
}
