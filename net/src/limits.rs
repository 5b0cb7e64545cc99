//! Per-client limits shared by both servers: the count of open connections per client
//! address ([`ClientLimits`], with a [`ClientSlot`] held for as long as a connection is
//! open) and the accept rate ([`TokenBucket`]). Plain data structures without sockets, so
//! that their rules are tested on their own; the servers decide where to apply them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::params::ServerParams;
use crate::stats::Counters;

/// Open connections per client address, at most `max` each
/// (`ServerParamsBuilder::max_connections_per_client`).
///
/// A connection is counted by [`ClientLimits::admit`], which returns a [`ClientSlot`]; the
/// count goes down when that slot is dropped, so it goes down exactly once whichever way
/// the connection ends (closed by its handler, a timeout, an error, a panic, shutdown).
/// One map entry per address with connections open: an address whose last connection
/// closes leaves no trace. One server-wide lock, taken twice per connection (admit and
/// release), never while anything else is done.
///
/// ```
/// use std::net::IpAddr;
/// use std::sync::Arc;
/// use net::__private::ClientLimits;
///
/// let limits = Arc::new(ClientLimits::new(2));
/// let ip: IpAddr = "192.0.2.1".parse().unwrap();
/// let first = limits.admit(ip).expect("room");
/// let _second = limits.admit(ip).expect("room");
/// assert!(limits.admit(ip).is_none(), "a third is over the limit");
/// drop(first);
/// assert!(limits.admit(ip).is_some(), "room again once one closed");
/// ```
#[derive(Debug)]
pub struct ClientLimits {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl ClientLimits {
    /// At most `max` connections per client address (`max` at least 1: a limit of 0
    /// admits nobody).
    pub fn new(max: usize) -> ClientLimits {
        ClientLimits {
            max,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// The table a server with `params` keeps, if it limits clients
    /// (`max_connections_per_client`).
    pub fn for_params(params: &ServerParams) -> Option<Arc<ClientLimits>> {
        params
            .max_connections_per_client()
            .map(|max| Arc::new(ClientLimits::new(max)))
    }

    /// The limit per address.
    pub fn max(&self) -> usize {
        self.max
    }

    fn open(&self) -> MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Count one more connection from `ip`, unless that address has `max` open already
    /// (`None`: close the connection). An IPv4 address mapped into IPv6
    /// (`::ffff:192.0.2.1`) is the IPv4 address: the same client on a dual-stack socket.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<ClientSlot> {
        let ip = ip.to_canonical();
        let mut open = self.open();
        let count = open.entry(ip).or_insert(0);
        if *count >= self.max {
            if *count == 0 {
                open.remove(&ip);
            }
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            limits: Arc::clone(self),
            ip,
        })
    }

    /// Connections counted for `ip` now.
    pub fn open_from(&self, ip: IpAddr) -> usize {
        self.open().get(&ip.to_canonical()).copied().unwrap_or(0)
    }

    /// Addresses with connections counted now.
    pub fn clients(&self) -> usize {
        self.open().len()
    }

    fn release(&self, ip: IpAddr) {
        let mut open = self.open();
        if let Some(count) = open.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&ip);
            }
        }
    }
}

/// A connection from a client with its `max_connections_per_client` open already
/// ([`admit_client`]): the server closes it.
#[derive(Debug)]
pub struct OverClientLimit;

/// Count a connection from `ip` in its client's place, for either server: `Ok(None)`
/// when the server does not limit clients (`limits` is `None`), `Ok(Some(slot))` to keep
/// with the connection, and `Err` when the client has its `max_connections_per_client`
/// open already (counted in `client_limited`; the caller closes the connection).
pub fn admit_client(
    limits: Option<&Arc<ClientLimits>>,
    ip: IpAddr,
    counters: &Counters,
) -> Result<Option<ClientSlot>, OverClientLimit> {
    let Some(limits) = limits else {
        return Ok(None);
    };
    match limits.admit(ip) {
        Some(slot) => Ok(Some(slot)),
        None => {
            counters.client_limited();
            crate::__log_debug!("closed a connection from {ip}: over max_connections_per_client");
            Err(OverClientLimit)
        }
    }
}

/// One counted connection of a client ([`ClientLimits::admit`]): dropping it gives its
/// place back. A server keeps it with the connection (net: on the connection's thread or
/// in the queue; evnet: in its slot) so that it goes with the connection, exactly once.
#[derive(Debug)]
pub struct ClientSlot {
    limits: Arc<ClientLimits>,
    ip: IpAddr,
}

impl ClientSlot {
    /// The client address counted.
    pub fn ip(&self) -> IpAddr {
        self.ip
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.limits.release(self.ip);
    }
}

/// A token bucket for the accept rate (`ServerParamsBuilder::max_accept_rate`): `rate`
/// tokens a second, at most `rate` saved up (a burst of one second's worth), full at the
/// start. Each accepted connection takes a token; without one the acceptor waits
/// ([`TokenBucket::wait`]) and newcomers wait in the kernel's listen backlog.
///
/// Time is passed in, never read, so the arithmetic is tested without clocks; it is kept
/// in whole nanoseconds, so that after waiting [`TokenBucket::wait`] a token is there
/// (no rounding leaves it a hair short).
///
/// ```
/// use std::time::{Duration, Instant};
/// use net::__private::TokenBucket;
///
/// let start = Instant::now();
/// let mut bucket = TokenBucket::new(2, start);
/// assert_eq!(bucket.available(start), 2);
/// bucket.take(2);
/// assert_eq!(bucket.available(start), 0);
/// assert_eq!(bucket.wait(start), Duration::from_millis(500));
/// assert_eq!(bucket.available(start + Duration::from_millis(500)), 1);
/// ```
#[derive(Debug, Clone)]
pub struct TokenBucket {
    /// Nanoseconds of credit one token costs.
    cost: u64,
    /// Most credit saved up (`burst` tokens' worth).
    cap: u64,
    /// Credit now (as of `last`).
    credit: u64,
    last: Instant,
}

impl TokenBucket {
    /// `per_second` tokens a second (0 is taken as 1, and more than a billion as a
    /// billion: a token costs a whole nanosecond at least), a burst of as many, the bucket
    /// full at `now`.
    pub fn new(per_second: u32, now: Instant) -> TokenBucket {
        let rate = u64::from(per_second.clamp(1, 1_000_000_000));
        let cost = 1_000_000_000 / rate;
        let cap = cost * rate;
        TokenBucket {
            cost,
            cap,
            credit: cap,
            last: now,
        }
    }

    /// Add the credit earned since the last call (time never runs backwards here: an
    /// earlier `now` earns nothing).
    fn refill(&mut self, now: Instant) {
        let earned = now.saturating_duration_since(self.last);
        let earned = u64::try_from(earned.as_nanos()).unwrap_or(u64::MAX);
        self.credit = self.credit.saturating_add(earned).min(self.cap);
        if now > self.last {
            self.last = now;
        }
    }

    /// Whole tokens available at `now`.
    pub fn available(&mut self, now: Instant) -> usize {
        self.refill(now);
        usize::try_from(self.credit / self.cost).unwrap_or(usize::MAX)
    }

    /// The bucket of an acceptor or loop of a server with `params`, full at `now`, if it
    /// limits its accept rate (`max_accept_rate`).
    pub fn for_params(params: &ServerParams, now: Instant) -> Option<TokenBucket> {
        params
            .max_accept_rate()
            .map(|per_second| TokenBucket::new(per_second, now))
    }

    /// Take `n` tokens (as many as there are, at most: call [`available`] first).
    ///
    /// [`available`]: TokenBucket::available
    pub fn take(&mut self, n: usize) {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        self.credit = self.credit.saturating_sub(n.saturating_mul(self.cost));
    }

    /// Take one token at `now` if there is one; otherwise how long until there is.
    pub fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        if self.available(now) > 0 {
            self.take(1);
            Ok(())
        } else {
            Err(self.wait(now))
        }
    }

    /// How long from `now` until a token is available (zero when one is).
    pub fn wait(&mut self, now: Instant) -> Duration {
        self.refill(now);
        Duration::from_nanos(self.cost.saturating_sub(self.credit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn each_address_has_its_own_count() {
        let limits = Arc::new(ClientLimits::new(1));
        let a = limits.admit(ip("192.0.2.1")).expect("first of a");
        assert!(limits.admit(ip("192.0.2.1")).is_none(), "second of a");
        let b = limits.admit(ip("192.0.2.2")).expect("b is another client");
        assert_eq!(limits.clients(), 2);
        assert_eq!(limits.open_from(ip("192.0.2.1")), 1);
        drop(a);
        assert_eq!(limits.open_from(ip("192.0.2.1")), 0);
        assert_eq!(limits.clients(), 1, "a closed its last: no entry left");
        assert_eq!(b.ip(), ip("192.0.2.2"));
        drop(b);
        assert_eq!(limits.clients(), 0);
    }

    #[test]
    fn refusals_leave_the_count_alone_and_slots_release_exactly_once() {
        let limits = Arc::new(ClientLimits::new(3));
        let c = ip("2001:db8::7");
        let slots: Vec<_> = (0..3).map(|_| limits.admit(c).unwrap()).collect();
        for _ in 0..10 {
            assert!(limits.admit(c).is_none());
        }
        assert_eq!(limits.open_from(c), 3, "a refusal is not counted");
        let mut slots = slots.into_iter();
        drop(slots.next());
        assert_eq!(limits.open_from(c), 2);
        let again = limits.admit(c).expect("room for one");
        assert!(limits.admit(c).is_none());
        drop(slots);
        drop(again);
        assert_eq!(limits.open_from(c), 0);
        assert_eq!(limits.clients(), 0);
    }

    #[test]
    fn a_mapped_ipv4_address_is_the_ipv4_client() {
        let limits = Arc::new(ClientLimits::new(1));
        let _v4 = limits.admit(ip("192.0.2.9")).unwrap();
        assert!(limits.admit(ip("::ffff:192.0.2.9")).is_none());
        assert_eq!(limits.open_from(ip("::ffff:192.0.2.9")), 1);
    }

    #[test]
    fn slots_from_many_threads_balance() {
        let limits = Arc::new(ClientLimits::new(1000));
        let c = ip("198.51.100.1");
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let limits = Arc::clone(&limits);
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        let slot = limits.admit(c).expect("under the limit");
                        drop(slot);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(limits.open_from(c), 0);
        assert_eq!(limits.clients(), 0);
    }

    #[test]
    fn a_bucket_starts_full_and_refills_at_its_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(10, t0);
        assert_eq!(bucket.available(t0), 10, "a second's burst");
        for _ in 0..10 {
            assert_eq!(bucket.try_take(t0), Ok(()));
        }
        assert_eq!(bucket.try_take(t0), Err(Duration::from_millis(100)));
        let later = t0 + Duration::from_millis(30);
        assert_eq!(bucket.wait(later), Duration::from_millis(70));
        let due = later + bucket.wait(later);
        assert_eq!(
            bucket.try_take(due),
            Ok(()),
            "a token exactly when promised"
        );
        assert_eq!(bucket.try_take(due), Err(Duration::from_millis(100)));
        // A long quiet time saves up one burst, no more.
        let quiet = due + Duration::from_secs(60);
        assert_eq!(bucket.available(quiet), 10);
        bucket.take(4);
        assert_eq!(bucket.available(quiet), 6);
        assert_eq!(bucket.wait(quiet), Duration::ZERO);
    }

    #[test]
    fn a_bucket_paces_a_crowd_to_its_rate() {
        // 25 newcomers at once at 5 a second: 5 at once, then one every 200 ms; the last
        // is let in 4 s after the first.
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(5, t0);
        let mut now = t0;
        let mut pauses = 0;
        for _ in 0..25 {
            if let Err(wait) = bucket.try_take(now) {
                pauses += 1;
                now += wait;
                assert_eq!(bucket.try_take(now), Ok(()));
            }
        }
        assert_eq!(pauses, 20);
        assert_eq!(now - t0, Duration::from_secs(4));
    }

    #[test]
    fn a_bucket_takes_odd_rates_and_ignores_time_going_back() {
        let t0 = Instant::now() + Duration::from_secs(1);
        let mut bucket = TokenBucket::new(3, t0);
        bucket.take(3);
        let earlier = t0 - Duration::from_millis(500);
        assert_eq!(bucket.available(earlier), 0);
        let wait = bucket.wait(earlier);
        assert_eq!(wait, Duration::from_nanos(333_333_333));
        assert_eq!(bucket.available(t0 + wait), 1);
        // The slowest and the fastest rates.
        let mut slow = TokenBucket::new(1, t0);
        assert_eq!(slow.try_take(t0), Ok(()));
        assert_eq!(slow.try_take(t0), Err(Duration::from_secs(1)));
        let mut fast = TokenBucket::new(u32::MAX, t0);
        assert_eq!(fast.available(t0), 1_000_000_000);
        let mut zero = TokenBucket::new(0, t0);
        assert_eq!(zero.available(t0), 1, "0 is taken as 1 a second");
    }
}
