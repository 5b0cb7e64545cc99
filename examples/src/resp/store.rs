//! The keyspace every connection shares: string keys to string values, with optional
//! expiry times.
//!
//! - **Shards.** Keys are spread over a power-of-two number of shards (four per core, at
//!   least 16), each a `Mutex` around a `HashMap`, so commands on different keys rarely
//!   wait for each other. The shard is chosen with a cheap FNV-1a hash of the key; the map
//!   itself keeps std's keyed SipHash, so chosen keys cannot degrade a map. A command on
//!   one key holds one lock for the few map operations it does (never during I/O: replies
//!   are assembled in memory first). A command on several keys (`DEL`, `EXISTS`, `MGET`,
//!   `MSET`) locks every shard it needs in ascending order, so it is atomic, as in Redis,
//!   and two such commands cannot deadlock. `KEYS`, `DBSIZE` and `FLUSHALL` take the shards
//!   one at a time.
//! - **Locks.** std's `Mutex` (a futex since Rust 1.62: one atomic operation to take and
//!   one to release when uncontended, as `parking_lot`'s) keeps the example free of a
//!   dependency; with 16 or more shards and as many threads as cores, contention is rare.
//!   A poisoned lock is taken anyway: no operation here leaves a shard half-changed.
//! - **Time.** Expiry times are Unix milliseconds, as in Redis (`EXAT`/`PXAT` take
//!   absolute times), and every operation takes `now` from its caller, so tests inject
//!   the clock. A key expires when `now` passes its time (at that very millisecond it still
//!   exists, with a TTL of 0), as in Redis.
//! - **Expiry** is lazy (a read or write of an expired key deletes it first) plus a sweep.
//!   Each shard keeps its expiring keys ordered by time (a `BTreeMap`), so a sweep step
//!   pops exactly the keys that are due, never scanning live ones. Sweep steps are run by
//!   the commands themselves (see `commands`): every few commands a connection sweeps a
//!   bounded number of keys from the next shard in its round, with `try_lock`, skipping a
//!   shard that is busy. So no extra thread is started (a server runs its loops and
//!   workers and nothing else), a sweep never waits for a lock and never holds one for
//!   long, and every shard is visited while commands flow. An idle server reclaims
//!   nothing until commands come (Redis would, from its timer); the keys it holds are
//!   the ones clients set.

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};

/// When a key expires, and a sequence number that makes it unique in its shard's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Deadline {
    at: i64,
    seq: u64,
}

/// A value and its expiry time.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) value: Vec<u8>,
    deadline: Option<Deadline>,
}

impl Entry {
    /// When the key expires (Unix milliseconds), if it does.
    pub(crate) fn expires_at(&self) -> Option<i64> {
        self.deadline.map(|d| d.at)
    }

    fn is_expired(&self, now: i64) -> bool {
        self.deadline.is_some_and(|d| now > d.at)
    }
}

/// What a write does to the key's expiry time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ttl {
    /// The key no longer expires (`SET`, `GETSET`, `MSET`).
    Clear,
    /// An existing key keeps its expiry time (`SET … KEEPTTL`, `INCR`, `APPEND`).
    Keep,
    /// The key expires at this Unix time in milliseconds.
    At(i64),
}

/// A value to store: already in a buffer of its own, or to be copied.
#[derive(Debug)]
pub(crate) enum Value<'v> {
    /// A buffer to keep (large values are copied before the shard is locked).
    Owned(Vec<u8>),
    /// Bytes to copy: into the old value's buffer when they fit it well (no allocation).
    Copied(&'v [u8]),
}

impl Value<'_> {
    fn into_vec(self) -> Vec<u8> {
        match self {
            Value::Owned(v) => v,
            Value::Copied(s) => s.to_vec(),
        }
    }

    /// Replace `old` with this value, reusing its buffer if it is big enough and not more
    /// than twice too big.
    fn store_in(self, old: &mut Vec<u8>) {
        match self {
            Value::Copied(s)
                if old.capacity() >= s.len() && old.capacity() <= 2 * s.len().max(16) =>
            {
                old.clear();
                old.extend_from_slice(s);
            }
            other => *old = other.into_vec(),
        }
    }
}

impl From<Vec<u8>> for Value<'_> {
    fn from(v: Vec<u8>) -> Self {
        Value::Owned(v)
    }
}

impl<'v> From<&'v [u8]> for Value<'v> {
    fn from(s: &'v [u8]) -> Self {
        Value::Copied(s)
    }
}

/// One shard: its keys, and its expiring keys ordered by time.
#[derive(Debug, Default)]
pub(crate) struct Shard {
    map: HashMap<Box<[u8]>, Entry>,
    expiring: BTreeMap<Deadline, Box<[u8]>>,
    seq: u64,
    expired: u64,
}

impl Shard {
    /// Delete `key` if it has expired (lazy expiry).
    fn expire_if_due(&mut self, key: &[u8], now: i64) {
        if self.expiring.is_empty() {
            return;
        }
        if self.map.get(key).is_some_and(|e| e.is_expired(now)) {
            self.delete(key);
            self.expired += 1;
        }
    }

    fn delete(&mut self, key: &[u8]) -> Option<Entry> {
        let entry = self.map.remove(key)?;
        if let Some(d) = entry.deadline {
            self.expiring.remove(&d);
        }
        Some(entry)
    }

    fn next_deadline(&mut self, at: i64) -> Deadline {
        self.seq += 1;
        Deadline { at, seq: self.seq }
    }

    /// The live entry of `key`.
    pub(crate) fn get(&mut self, key: &[u8], now: i64) -> Option<&Entry> {
        self.expire_if_due(key, now);
        self.map.get(key)
    }

    /// The live entry of `key`, to change its value in place.
    pub(crate) fn get_mut(&mut self, key: &[u8], now: i64) -> Option<&mut Entry> {
        self.expire_if_due(key, now);
        self.map.get_mut(key)
    }

    /// Whether `key` is live.
    pub(crate) fn contains(&mut self, key: &[u8], now: i64) -> bool {
        self.get(key, now).is_some()
    }

    /// Set `key` to `value`; `ttl` says what becomes of its expiry time.
    pub(crate) fn set<'v>(&mut self, key: &[u8], value: impl Into<Value<'v>>, ttl: Ttl, now: i64) {
        self.expire_if_due(key, now);
        let value = value.into();
        let deadline = match ttl {
            Ttl::At(at) => Some(self.next_deadline(at)),
            Ttl::Clear | Ttl::Keep => None,
        };
        match self.map.get_mut(key) {
            Some(entry) => {
                value.store_in(&mut entry.value);
                if ttl != Ttl::Keep {
                    if let Some(old) = entry.deadline.take() {
                        self.expiring.remove(&old);
                    }
                    entry.deadline = deadline;
                }
            }
            None => {
                let value = value.into_vec();
                self.map.insert(key.into(), Entry { value, deadline });
            }
        }
        if let Some(d) = deadline {
            self.expiring.insert(d, key.into());
        }
    }

    /// Change the expiry time of a live `key` (`None`: it no longer expires). False when
    /// there is no such key.
    pub(crate) fn set_expiry(&mut self, key: &[u8], at: Option<i64>, now: i64) -> bool {
        self.expire_if_due(key, now);
        let deadline = at.map(|at| self.next_deadline(at));
        let Some(entry) = self.map.get_mut(key) else {
            return false;
        };
        if let Some(old) = std::mem::replace(&mut entry.deadline, deadline) {
            self.expiring.remove(&old);
        }
        if let Some(d) = deadline {
            self.expiring.insert(d, key.into());
        }
        true
    }

    /// Delete `key`; true if it was live.
    pub(crate) fn remove(&mut self, key: &[u8], now: i64) -> bool {
        self.expire_if_due(key, now);
        self.delete(key).is_some()
    }

    /// Delete up to `max` keys whose time has passed; how many.
    pub(crate) fn sweep(&mut self, now: i64, max: usize) -> usize {
        let mut removed = 0;
        while removed < max {
            match self.expiring.first_key_value() {
                Some((d, _)) if now > d.at => {}
                _ => break,
            }
            if let Some((_, key)) = self.expiring.pop_first() {
                self.map.remove(&key);
                self.expired += 1;
                removed += 1;
            }
        }
        removed
    }

    /// Keys held, expired ones not yet deleted included (as Redis's `DBSIZE` counts).
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Keys that have an expiry time.
    pub(crate) fn expiring(&self) -> usize {
        self.expiring.len()
    }
}

/// The sharded keyspace (see the [module docs](self)).
#[derive(Debug)]
pub(crate) struct Store {
    shards: Box<[Mutex<Shard>]>,
    mask: usize,
}

impl Default for Store {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Store::with_shards((cores * 4).clamp(16, 1024))
    }
}

/// Take a lock even if a thread panicked holding it: shard operations never leave a shard
/// half-changed.
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Store {
    /// A store of `n` shards (rounded up to a power of two; at least one).
    pub(crate) fn with_shards(n: usize) -> Store {
        let n = n.max(1).next_power_of_two();
        Store {
            shards: (0..n).map(|_| Mutex::default()).collect(),
            mask: n - 1,
        }
    }

    /// How many shards.
    pub(crate) fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// The shard `key` lives in: FNV-1a, folded.
    fn index_of(&self, key: &[u8]) -> usize {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in key {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= h >> 29;
        // The mask keeps the value below the shard count, which is a `usize`.
        (h as usize) & self.mask
    }

    /// Lock the shard of `key`.
    pub(crate) fn shard(&self, key: &[u8]) -> MutexGuard<'_, Shard> {
        lock(&self.shards[self.index_of(key)])
    }

    /// Lock the shards of all `keys`, in ascending order.
    pub(crate) fn lock_keys<'k>(&self, keys: impl Iterator<Item = &'k [u8]>) -> Locked<'_> {
        let mut indexes: Vec<usize> = keys.map(|k| self.index_of(k)).collect();
        indexes.sort_unstable();
        indexes.dedup();
        Locked {
            store: self,
            guards: indexes
                .into_iter()
                .map(|i| (i, lock(&self.shards[i])))
                .collect(),
        }
    }

    /// A sweep step: delete up to `max` due keys of shard `i` (modulo the shard count),
    /// unless another thread holds it. How many were deleted.
    pub(crate) fn sweep(&self, i: usize, now: i64, max: usize) -> usize {
        let mut shard = match self.shards[i & self.mask].try_lock() {
            Ok(shard) => shard,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => return 0,
        };
        shard.sweep(now, max)
    }

    /// Keys held, and how many of them have an expiry time.
    pub(crate) fn counts(&self) -> (usize, usize) {
        self.shards.iter().fold((0, 0), |(keys, expiring), s| {
            let s = lock(s);
            (keys + s.len(), expiring + s.expiring())
        })
    }

    /// Keys deleted because they expired, since the start or [`reset_expired`].
    ///
    /// [`reset_expired`]: Store::reset_expired
    pub(crate) fn expired(&self) -> u64 {
        self.shards.iter().map(|s| lock(s).expired).sum()
    }

    /// Set the expired-keys count back to zero (`CONFIG RESETSTAT`).
    pub(crate) fn reset_expired(&self) {
        for s in self.shards.iter() {
            lock(s).expired = 0;
        }
    }

    /// Delete every key. Each shard's maps are freed after its lock is released.
    pub(crate) fn flush(&self) {
        for s in self.shards.iter() {
            let taken = {
                let mut s = lock(s);
                (std::mem::take(&mut s.map), std::mem::take(&mut s.expiring))
            };
            drop(taken);
        }
    }

    /// Hand each live key matching `pattern` (Redis glob) to `visit`, shard by shard,
    /// until it says `Break` (then `Break` is returned).
    pub(crate) fn keys(
        &self,
        pattern: &[u8],
        now: i64,
        mut visit: impl FnMut(&[u8]) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let all = pattern == b"*";
        for s in self.shards.iter() {
            let s = lock(s);
            for (key, entry) in &s.map {
                if !entry.is_expired(now) && (all || glob_match(pattern, key, false)) {
                    visit(key)?;
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// The shards a multi-key command holds (see [`Store::lock_keys`]).
pub(crate) struct Locked<'a> {
    store: &'a Store,
    guards: Vec<(usize, MutexGuard<'a, Shard>)>,
}

impl Locked<'_> {
    /// The shard of `key`, which must be one of the keys the shards were locked for.
    pub(crate) fn shard(&mut self, key: &[u8]) -> &mut Shard {
        let i = self.store.index_of(key);
        let at = self.guards.partition_point(|(g, _)| *g < i);
        match self.guards.get_mut(at) {
            Some((g, shard)) if *g == i => shard,
            _ => unreachable!("a key's shard is locked before the key is used"),
        }
    }
}

/// Redis's glob match (`stringmatchlen`): `*`, `?`, `[abc]`, `[^a]`, `[a-z]`, and `\`
/// escaping the next byte; `nocase` folds ASCII case. Ported with its quirks: a `[` left
/// open takes the rest of the pattern as its set, ranges compare bytes as C's signed
/// `char`, more than 1000 nested `*` never match.
pub(crate) fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip_longer = false;
    glob(pattern, 0, string, 0, nocase, &mut skip_longer, 0)
}

fn glob(
    pat: &[u8],
    mut p: usize,
    s: &[u8],
    mut i: usize,
    nocase: bool,
    skip_longer: &mut bool,
    nesting: u32,
) -> bool {
    if nesting > 1000 {
        return false;
    }
    // The pattern is a C string: reading past its end gives NUL.
    let at = |k: usize| pat.get(k).copied().unwrap_or(0);
    let fold = |b: u8| if nocase { b.to_ascii_lowercase() } else { b };
    let signed = |b: u8| i32::from(b as i8);
    while p < pat.len() && i < s.len() {
        match pat[p] {
            b'*' => {
                while at(p + 1) == b'*' {
                    p += 1;
                }
                if p + 1 == pat.len() {
                    return true;
                }
                while i < s.len() {
                    if glob(pat, p + 1, s, i, nocase, skip_longer, nesting + 1) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    i += 1;
                }
                // Nothing after this `*` matches anywhere in the rest: an earlier `*`
                // taking more of the string cannot help either.
                *skip_longer = true;
                return false;
            }
            b'?' => i += 1,
            b'[' => {
                p += 1;
                let not = at(p) == b'^';
                if not {
                    p += 1;
                }
                let c = s[i];
                let mut matched = false;
                loop {
                    let rest = pat.len() - p;
                    if at(p) == b'\\' && rest >= 2 {
                        p += 1;
                        matched |= at(p) == c;
                    } else if at(p) == b']' {
                        break;
                    } else if rest == 0 {
                        p -= 1;
                        break;
                    } else if rest >= 3 && at(p + 1) == b'-' {
                        let (mut start, mut end) = (signed(fold(at(p))), signed(fold(at(p + 2))));
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        let c = signed(fold(c));
                        p += 2;
                        matched |= c >= start && c <= end;
                    } else {
                        matched |= fold(at(p)) == fold(c);
                    }
                    p += 1;
                }
                if matched == not {
                    return false;
                }
                i += 1;
            }
            b'\\' => {
                if pat.len() - p >= 2 {
                    p += 1;
                }
                if fold(pat[p]) != fold(s[i]) {
                    return false;
                }
                i += 1;
            }
            b => {
                if fold(b) != fold(s[i]) {
                    return false;
                }
                i += 1;
            }
        }
        p += 1;
        if i == s.len() {
            while at(p) == b'*' {
                p += 1;
            }
            break;
        }
    }
    p >= pat.len() && i == s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_and_ttl_modes() {
        let mut s = Shard::default();
        s.set(b"k", b"v".to_vec(), Ttl::At(100), 0);
        assert_eq!(s.get(b"k", 0).map(|e| e.value.as_slice()), Some(&b"v"[..]));
        assert_eq!(s.get(b"k", 0).and_then(Entry::expires_at), Some(100));
        s.set(b"k", b"w".to_vec(), Ttl::Keep, 0);
        assert_eq!(s.get(b"k", 0).and_then(Entry::expires_at), Some(100));
        s.set(b"k", b"x".to_vec(), Ttl::Clear, 0);
        assert_eq!(s.get(b"k", 0).and_then(Entry::expires_at), None);
        assert_eq!(s.expiring(), 0, "the index follows the entry");
        assert!(s.set_expiry(b"k", Some(50), 0));
        assert!(s.set_expiry(b"k", Some(60), 0));
        assert_eq!(s.expiring(), 1);
        assert!(s.set_expiry(b"k", None, 0));
        assert_eq!(s.expiring(), 0);
        assert!(!s.set_expiry(b"missing", Some(1), 0));
        // KEEPTTL on a new key: no expiry.
        s.set(b"n", b"1".to_vec(), Ttl::Keep, 0);
        assert_eq!(s.get(b"n", 0).and_then(Entry::expires_at), None);
    }

    #[test]
    fn lazy_expiry_with_an_injected_clock() {
        let mut s = Shard::default();
        s.set(b"k", b"v".to_vec(), Ttl::At(1_000), 0);
        assert!(s.contains(b"k", 1_000), "alive at its very millisecond");
        assert_eq!(s.len(), 1);
        assert!(!s.contains(b"k", 1_001), "gone once it passed");
        assert_eq!((s.len(), s.expiring(), s.expired), (0, 0, 1));
        // A write to an expired key starts from nothing: KEEPTTL keeps no old time.
        s.set(b"k", b"v".to_vec(), Ttl::At(10), 0);
        s.set(b"k", b"w".to_vec(), Ttl::Keep, 20);
        assert_eq!(s.get(b"k", 20).and_then(Entry::expires_at), None);
        // Delete reports only live keys.
        s.set(b"d", b"v".to_vec(), Ttl::At(10), 0);
        assert!(!s.remove(b"d", 11));
        assert!(s.remove(b"k", 11));
    }

    #[test]
    fn sweep_takes_due_keys_only_and_is_bounded() {
        let mut s = Shard::default();
        for i in 0..10 {
            s.set(format!("k{i}").as_bytes(), b"v".to_vec(), Ttl::At(i), 0);
        }
        s.set(b"forever", b"v".to_vec(), Ttl::Clear, 0);
        assert_eq!(s.sweep(5, 3), 3, "bounded");
        assert_eq!(s.sweep(5, 100), 2, "k3 and k4: k5 is alive at 5");
        assert_eq!(s.len(), 6);
        assert!(s.contains(b"k5", 5));
        assert_eq!(s.sweep(100, 100), 5);
        assert_eq!((s.len(), s.expiring(), s.expired), (1, 0, 10));
    }

    #[test]
    fn sweep_on_a_busy_shard_does_not_wait() {
        let store = Store::with_shards(1);
        store.shard(b"k").set(b"k", b"v".to_vec(), Ttl::At(1), 0);
        let held = store.shard(b"k");
        assert_eq!(store.sweep(0, 10, 10), 0, "skipped, not blocked");
        drop(held);
        assert_eq!(store.sweep(0, 10, 10), 1);
        assert_eq!(store.expired(), 1);
        store.reset_expired();
        assert_eq!(store.expired(), 0);
    }

    #[test]
    fn shards_and_multi_key_locks() {
        let store = Store::with_shards(10);
        assert_eq!(store.shard_count(), 16);
        assert_eq!(Store::default().shard_count() % 16, 0);
        let keys: Vec<Vec<u8>> = (0..100).map(|i| format!("key:{i}").into_bytes()).collect();
        {
            let mut locked = store.lock_keys(keys.iter().map(Vec::as_slice));
            for k in &keys {
                locked.shard(k).set(k, k.clone(), Ttl::Clear, 0);
            }
        }
        assert_eq!(store.counts(), (100, 0));
        let used: std::collections::HashSet<usize> =
            keys.iter().map(|k| store.index_of(k)).collect();
        assert!(
            used.len() > 8,
            "keys spread over the shards: {}",
            used.len()
        );
        let mut n = 0;
        let flow = store.keys(b"key:1?", 0, |_| {
            n += 1;
            ControlFlow::Continue(())
        });
        assert_eq!((flow, n), (ControlFlow::Continue(()), 10));
        // Stopped by the visitor: no key after the one that said stop.
        let mut n = 0;
        let flow = store.keys(b"*", 0, |_| {
            n += 1;
            if n == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        assert_eq!((flow, n), (ControlFlow::Break(()), 3));
        store.flush();
        assert_eq!(store.counts(), (0, 0));
    }

    #[test]
    fn keys_skips_expired_keys() {
        let store = Store::with_shards(4);
        store.shard(b"a").set(b"a", b"1".to_vec(), Ttl::At(5), 0);
        store.shard(b"b").set(b"b", b"1".to_vec(), Ttl::Clear, 0);
        let mut found = Vec::new();
        let _ = store.keys(b"*", 6, |k| {
            found.push(k.to_vec());
            ControlFlow::Continue(())
        });
        assert_eq!(found, [b"b"]);
        assert_eq!(
            store.counts(),
            (2, 1),
            "held until deleted, as DBSIZE counts"
        );
    }

    #[test]
    fn glob_like_redis() {
        let yes: [(&str, &str); 17] = [
            ("*", "anything"),
            ("h?llo", "hello"),
            ("h*llo", "hllo"),
            ("h*llo", "heeeello"),
            ("h[ae]llo", "hallo"),
            ("h[^e]llo", "hallo"),
            ("h[a-b]llo", "hallo"),
            ("h[b-a]llo", "hallo"),
            ("a\\*b", "a*b"),
            ("a\\?b", "a?b"),
            ("a[\\]]b", "a]b"),
            ("*.txt", "notes.txt"),
            ("a*b*c", "aXXbYYc"),
            ("**a", "a"),
            ("a*", "a"),
            ("x\\", "x\\"),
            ("a[bc", "ab"),
        ];
        for (pattern, s) in yes {
            assert!(
                glob_match(pattern.as_bytes(), s.as_bytes(), false),
                "{pattern} ~ {s}"
            );
        }
        // `*` does not match an empty string in Redis's matcher (KEYS * lists an empty
        // key through its match-all shortcut, as `Store::keys` does).
        let no: [(&str, &str); 15] = [
            ("*", ""),
            ("h?llo", "hllo"),
            ("h[ae]llo", "hillo"),
            ("h[^e]llo", "hello"),
            ("h[a-b]llo", "hcllo"),
            ("a\\*b", "axb"),
            ("abc", "ab"),
            ("ab", "abc"),
            ("?", ""),
            ("a*b*c", "aXXbYY"),
            ("[", "a"),
            ("a[", "ab"),
            ("a[", "a"),
            ("[", ""),
            ("H*", "hello"),
        ];
        for (pattern, s) in no {
            assert!(
                !glob_match(pattern.as_bytes(), s.as_bytes(), false),
                "{pattern} !~ {s}"
            );
        }
        assert!(glob_match(b"H*", b"hello", true));
        assert!(glob_match(b"APPEND[O]*", b"appendonly", true));
        // Abusive patterns end quickly.
        let evil = "a*".repeat(40) + "b";
        let text = "a".repeat(200);
        assert!(!glob_match(evil.as_bytes(), text.as_bytes(), false));
    }
}
