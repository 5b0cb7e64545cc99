//! String commands: `GET`, `SET` (with its options), `GETSET`, `INCR`, `DECR`,
//! `INCRBY`, `DECRBY`, `APPEND`, `STRLEN`, and the several-key `MGET` and `MSET`.

use crate::resp::protocol::{array, bulk, decimal, error, int, null, ok, string2ll, Argv};
use crate::resp::store::{Ttl, Value};

use super::args::{integer, invalid_expire, NOT_INTEGER, SYNTAX};
use super::reply_limit::{array_len, bulk_len, reply_too_large, NULL_LEN};
use super::{Ctx, Flow};

/// `SET` copies a value up to this size under the shard lock (into the old value's buffer
/// when it fits: no allocation); a larger one is copied before the lock is taken.
const COPY_UNDER_LOCK: usize = 4096;

pub(super) fn get(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    let key = argv.get(1);
    let now = ctx.now();
    match ctx.store().shard(key).get(key, now) {
        Some(entry) => bulk(out, &entry.value),
        None => null(out),
    }
    Flow::Continue
}

/// `SET`'s options, as Redis's `parseExtendedStringArgumentsOrReply` reads them.
#[derive(Default)]
struct SetOptions<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keep_ttl: bool,
    /// EX, PX, EXAT or PXAT, and its argument.
    expire: Option<(Expire, &'a [u8])>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Expire {
    Ex,
    Px,
    ExAt,
    PxAt,
}

impl Expire {
    fn seconds(self) -> bool {
        matches!(self, Expire::Ex | Expire::ExAt)
    }
    fn relative(self) -> bool {
        matches!(self, Expire::Ex | Expire::Px)
    }
}

fn set_options<'a>(argv: Argv<'a>, out: &mut Vec<u8>) -> Option<SetOptions<'a>> {
    let mut o = SetOptions::default();
    let mut j = 3;
    while j < argv.len() {
        let opt = argv.get(j);
        let next = (j + 1 < argv.len()).then(|| argv.get(j + 1));
        let is = |word: &[u8]| opt.eq_ignore_ascii_case(word);
        let kind = o.expire.map(|(kind, _)| kind);
        let other_expire = |allowed: Expire| kind.is_some_and(|k| k != allowed);
        if is(b"NX") && !o.xx {
            o.nx = true;
        } else if is(b"XX") && !o.nx {
            o.xx = true;
        } else if is(b"GET") {
            o.get = true;
        } else if is(b"KEEPTTL") && kind.is_none() {
            o.keep_ttl = true;
        } else if let Some(arg) = next.filter(|_| !o.keep_ttl) {
            let expire = [
                (&b"EX"[..], Expire::Ex),
                (b"PX", Expire::Px),
                (b"EXAT", Expire::ExAt),
                (b"PXAT", Expire::PxAt),
            ]
            .into_iter()
            .find(|(word, _)| is(word))
            .map(|(_, e)| e);
            match expire {
                Some(e) if !other_expire(e) => {
                    o.expire = Some((e, arg));
                    j += 1;
                }
                _ => {
                    error(out, SYNTAX);
                    return None;
                }
            }
        } else {
            error(out, SYNTAX);
            return None;
        }
        j += 1;
    }
    Some(o)
}

/// The absolute expiry time (Unix ms) `SET`'s option asks for, or Redis's error.
fn set_expiry(kind: Expire, arg: &[u8], now: i64, out: &mut Vec<u8>) -> Option<i64> {
    let n = integer(arg, out)?;
    if n <= 0 || (kind.seconds() && n > i64::MAX / 1000) {
        invalid_expire(out, "set");
        return None;
    }
    let ms = if kind.seconds() { n * 1000 } else { n };
    let at = if kind.relative() {
        ms.checked_add(now)
    } else {
        Some(ms)
    };
    if at.is_none() {
        invalid_expire(out, "set");
    }
    at
}

pub(super) fn set(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    let Some(options) = set_options(argv, out) else {
        return Flow::Continue;
    };
    let now = ctx.now();
    let ttl = match options.expire {
        Some((kind, arg)) => match set_expiry(kind, arg, now, out) {
            Some(at) => Ttl::At(at),
            None => return Flow::Continue,
        },
        None if options.keep_ttl => Ttl::Keep,
        None => Ttl::Clear,
    };
    let (key, value) = (argv.get(1), argv.get(2));
    let value = if value.len() > COPY_UNDER_LOCK {
        Value::Owned(value.to_vec())
    } else {
        Value::Copied(value)
    };
    let mut shard = ctx.store().shard(key);
    let found = match shard.get(key, now) {
        Some(entry) => {
            if options.get {
                bulk(out, &entry.value);
            }
            true
        }
        None => {
            if options.get {
                null(out);
            }
            false
        }
    };
    if (options.nx && found) || (options.xx && !found) {
        if !options.get {
            null(out);
        }
        return Flow::Continue;
    }
    shard.set(key, value, ttl, now);
    if !options.get {
        ok(out);
    }
    Flow::Continue
}

pub(super) fn getset(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    let (key, value) = (argv.get(1), argv.get(2));
    let now = ctx.now();
    let mut shard = ctx.store().shard(key);
    match shard.get(key, now) {
        Some(entry) => bulk(out, &entry.value),
        None => null(out),
    }
    shard.set(key, value, Ttl::Clear, now);
    Flow::Continue
}

fn incr_by(ctx: &mut Ctx<'_>, key: &[u8], by: i64, out: &mut Vec<u8>) -> Flow {
    let now = ctx.now();
    let mut shard = ctx.store().shard(key);
    let current = match shard.get_mut(key, now) {
        Some(entry) => match string2ll(&entry.value) {
            Some(n) => Some((n, entry)),
            None => {
                error(out, NOT_INTEGER);
                return Flow::Continue;
            }
        },
        None => None,
    };
    let old = current.as_ref().map_or(0, |(n, _)| *n);
    let Some(new) = old.checked_add(by) else {
        error(out, b"increment or decrement would overflow");
        return Flow::Continue;
    };
    match current {
        Some((_, entry)) => {
            entry.value.clear();
            decimal(&mut entry.value, new);
        }
        None => {
            let mut value = Vec::with_capacity(20);
            decimal(&mut value, new);
            shard.set(key, value, Ttl::Keep, now);
        }
    }
    int(out, new);
    Flow::Continue
}

pub(super) fn incr(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    incr_by(ctx, argv.get(1), 1, out)
}

pub(super) fn decr(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    incr_by(ctx, argv.get(1), -1, out)
}

pub(super) fn incrby(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    match integer(argv.get(2), out) {
        Some(by) => incr_by(ctx, argv.get(1), by, out),
        None => Flow::Continue,
    }
}

pub(super) fn decrby(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    match integer(argv.get(2), out) {
        Some(i64::MIN) => {
            error(out, b"decrement would overflow");
            Flow::Continue
        }
        Some(by) => incr_by(ctx, argv.get(1), -by, out),
        None => Flow::Continue,
    }
}

pub(super) fn append(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    let (key, tail) = (argv.get(1), argv.get(2));
    let now = ctx.now();
    let mut shard = ctx.store().shard(key);
    let len = match shard.get_mut(key, now) {
        Some(entry) if entry.value.len().saturating_add(tail.len()) > ctx.limits.max_bulk => {
            error(
                out,
                b"string exceeds maximum allowed size (proto-max-bulk-len)",
            );
            return Flow::Continue;
        }
        Some(entry) => {
            entry.value.extend_from_slice(tail);
            entry.value.len()
        }
        None => {
            shard.set(key, tail, Ttl::Clear, now);
            tail.len()
        }
    };
    int(out, i64::try_from(len).unwrap_or(i64::MAX));
    Flow::Continue
}

pub(super) fn strlen(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    let key = argv.get(1);
    let now = ctx.now();
    let len = ctx
        .store()
        .shard(key)
        .get(key, now)
        .map_or(0, |e| e.value.len());
    int(out, i64::try_from(len).unwrap_or(i64::MAX));
    Flow::Continue
}

/// `MGET`'s reply is at most [`Ctx::max_reply`] bytes: naming one large key many times
/// must not make the server build a reply far larger than the request (one 64 KiB value
/// named 1,000 times in a 9 KB request would be a 62.5 MiB reply), with the keys' shards
/// locked meanwhile. Past the limit nothing more is copied and the reply is
/// [`reply_too_large`].
pub(super) fn mget(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    let now = ctx.now();
    let limit = ctx.max_reply;
    let mut locked = ctx.store().lock_keys(argv.iter_from(1));
    // Measure first, copy after: a refused reply costs lookups, not the copy of up to
    // the whole limit (an attacker naming one large key over and over pays for nothing).
    let header = array_len(argv.len() - 1);
    let mut size = header;
    for key in argv.iter_from(1) {
        let entry = locked.shard(key).get(key, now);
        size += entry.map_or(NULL_LEN, |e| bulk_len(e.value.len()));
        if size > limit {
            drop(locked);
            reply_too_large(out, limit);
            return Flow::Continue;
        }
    }
    out.reserve(size);
    array(out, argv.len() - 1);
    for key in argv.iter_from(1) {
        match locked.shard(key).get(key, now) {
            Some(entry) => bulk(out, &entry.value),
            None => null(out),
        }
    }
    Flow::Continue
}

pub(super) fn mset(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    if argv.len() % 2 == 0 {
        error(out, b"wrong number of arguments for 'mset' command");
        return Flow::Continue;
    }
    let now = ctx.now();
    let keys = argv.iter_from(1).step_by(2);
    let mut locked = ctx.store().lock_keys(keys);
    for i in (1..argv.len()).step_by(2) {
        let key = argv.get(i);
        locked.shard(key).set(key, argv.get(i + 1), Ttl::Clear, now);
    }
    drop(locked);
    ok(out);
    Flow::Continue
}

#[cfg(test)]
mod tests {
    use super::super::harness::Harness;
    use super::*;

    #[test]
    fn get_and_set() {
        let arity = |c: &str| format!("-ERR wrong number of arguments for '{c}' command\r\n");
        let (get, set) = (arity("get"), arity("set"));
        let expire_error = "-ERR invalid expire time in 'set' command\r\n";
        let syntax = "-ERR syntax error\r\n";
        let not_int = "-ERR value is not an integer or out of range\r\n";
        Harness::new().check(&[
            (&["GET"], &get),
            (&["GET", "a", "b"], &get),
            (&["GET", "nokey"], "$-1\r\n"),
            (&["SET", "a"], &set),
            (&["SET", "a", "b"], "+OK\r\n"),
            (&["GET", "a"], "$1\r\nb\r\n"),
            (&["set", "a", "c", "xx"], "+OK\r\n"),
            (&["GET", "a"], "$1\r\nc\r\n"),
            (&["SET", "b", "1", "NX"], "+OK\r\n"),
            (&["SET", "b", "2", "NX"], "$-1\r\n"),
            (&["GET", "b"], "$1\r\n1\r\n"),
            (&["SET", "c", "1", "XX"], "$-1\r\n"),
            (&["GET", "c"], "$-1\r\n"),
            (&["SET", "a", "v", "GET"], "$1\r\nc\r\n"),
            (&["SET", "new", "v", "GET"], "$-1\r\n"),
            (&["SET", "a", "w", "NX", "GET"], "$1\r\nv\r\n"),
            (&["SET", "zz", "w", "NX", "GET"], "$-1\r\n"),
            (&["SET", "a", "x", "XX", "GET"], "$1\r\nv\r\n"),
            (&["SET", "nokey2", "x", "XX", "GET"], "$-1\r\n"),
            (&["SET", "a", "b", "NX", "XX"], syntax),
            (&["SET", "a", "b", "XX", "NX"], syntax),
            (&["SET", "a", "b", "FOO"], syntax),
            (&["SET", "a", "b", "EX"], syntax),
            (&["SET", "a", "b", "EX", "x"], not_int),
            (&["SET", "a", "b", "EX", "0"], expire_error),
            (&["SET", "a", "b", "EX", "-1"], expire_error),
            (&["SET", "a", "b", "PX", "0"], expire_error),
            (&["SET", "a", "b", "EX", "10", "PX", "100"], syntax),
            (&["SET", "a", "b", "PX", "100", "EX", "10"], syntax),
            (&["SET", "a", "b", "EX", "10", "EX", "20"], "+OK\r\n"),
            (&["TTL", "a"], ":20\r\n"),
            (&["SET", "a", "b", "EX", "9223372036854775"], expire_error),
            (&["SET", "a", "b", "EX", "9223372036854776"], expire_error),
            (
                &["SET", "a", "b", "PX", "9223372036854775807"],
                expire_error,
            ),
            (&["SET", "a", "b", "EX", "1.5"], not_int),
            (&["SET", "a", "b", "KEEPTTL"], "+OK\r\n"),
            (&["SET", "a", "b", "EX", "100"], "+OK\r\n"),
            (&["SET", "a", "c", "KEEPTTL"], "+OK\r\n"),
            (&["TTL", "a"], ":100\r\n"),
            (&["SET", "a", "d"], "+OK\r\n"),
            (&["TTL", "a"], ":-1\r\n"),
            (&["SET", "a", "b", "KEEPTTL", "EX", "1"], syntax),
            (&["SET", "a", "b", "EX", "1", "KEEPTTL"], syntax),
            (&["SET", "a", "b", "nx", "get", "ex", "5"], "$1\r\nd\r\n"),
            (&["SET", "a", "b", "get", "get"], "$1\r\nd\r\n"),
            (&["SET", "a", "b", "NX", "NX"], "$-1\r\n"),
            (&["SET", "a", "b", "EXAT", "99999999999"], "+OK\r\n"),
            // Redis said 98204375227 at its own time; the fixed clock gives:
            (&["TTL", "a"], ":98299999999\r\n"),
            (&["SET", "a", "b", "PXAT", "1"], "+OK\r\n"),
            (&["GET", "a"], "$-1\r\n"),
            (&["SET", "a", "b", "EXAT", "0"], expire_error),
            (&["SET", "a", "b", "EX", "5", "EXAT", "5"], syntax),
            (&["SET", "a", "b", "PERSIST"], syntax),
            (&["SET", "", ""], "+OK\r\n"),
            (&["GET", ""], "$0\r\n\r\n"),
            (&["SET", "k", "v", "EX", "0", "NX"], expire_error),
            (&["SET", "k", "v", "GET", "EX", "x"], not_int),
        ]);
    }

    #[test]
    fn set_reuses_or_replaces_buffers_correctly() {
        let mut h = Harness::new();
        let big = "x".repeat(COPY_UNDER_LOCK + 1);
        for value in ["short", big.as_str(), "a", "", "0123456789abcdef0123", "z"] {
            h.run(&["SET", "k", value]);
            assert_eq!(
                h.run(&["GET", "k"]).0,
                format!("${}\r\n{value}\r\n", value.len()).as_bytes()
            );
            h.run(&["SET", "k", value, "KEEPTTL"]);
            assert_eq!(
                h.run(&["STRLEN", "k"]).0,
                format!(":{}\r\n", value.len()).as_bytes()
            );
        }
        h.run(&["SET", "k", "v", "EX", "10"]);
        h.run(&["SET", "k", "w", "KEEPTTL"]);
        assert_eq!(h.run(&["TTL", "k"]).0, b":10\r\n");
        h.run(&["SET", "k", "v"]);
        assert_eq!(h.run(&["TTL", "k"]).0, b":-1\r\n");
    }

    #[test]
    fn getset() {
        let arity = "-ERR wrong number of arguments for 'getset' command\r\n";
        Harness::new().check(&[
            (&["GETSET"], arity),
            (&["GETSET", "a"], arity),
            (&["GETSET", "a", "1"], "$-1\r\n"),
            (&["GETSET", "a", "2"], "$1\r\n1\r\n"),
            (&["SET", "t", "v", "EX", "100"], "+OK\r\n"),
            (&["GETSET", "t", "w"], "$1\r\nv\r\n"),
            (&["TTL", "t"], ":-1\r\n"),
            (&["GETSET", "a", "b", "c"], arity),
        ]);
    }

    #[test]
    fn counters() {
        let not_int = "-ERR value is not an integer or out of range\r\n";
        let overflow = "-ERR increment or decrement would overflow\r\n";
        Harness::new().check(&[
            (
                &["INCR"],
                "-ERR wrong number of arguments for 'incr' command\r\n",
            ),
            (&["INCR", "n"], ":1\r\n"),
            (&["INCR", "n"], ":2\r\n"),
            (&["DECR", "n"], ":1\r\n"),
            (&["DECR", "m"], ":-1\r\n"),
            (&["INCRBY", "n", "10"], ":11\r\n"),
            (&["INCRBY", "n", "-20"], ":-9\r\n"),
            (
                &["INCRBY", "n"],
                "-ERR wrong number of arguments for 'incrby' command\r\n",
            ),
            (&["INCRBY", "n", "x"], not_int),
            (&["DECRBY", "n", "5"], ":-14\r\n"),
            (
                &["DECRBY", "n", "-9223372036854775808"],
                "-ERR decrement would overflow\r\n",
            ),
            (&["DECRBY", "n", "9223372036854775808"], not_int),
            (&["SET", "s", "abc"], "+OK\r\n"),
            (&["INCR", "s"], not_int),
            (&["SET", "s", " 1"], "+OK\r\n"),
            (&["INCR", "s"], not_int),
            (&["SET", "s", "01"], "+OK\r\n"),
            (&["INCR", "s"], not_int),
            (&["SET", "s", "-0"], "+OK\r\n"),
            (&["INCR", "s"], not_int),
            (&["SET", "big", "9223372036854775807"], "+OK\r\n"),
            (&["INCR", "big"], overflow),
            (&["INCRBY", "big", "0"], ":9223372036854775807\r\n"),
            (&["SET", "small", "-9223372036854775808"], "+OK\r\n"),
            (&["DECR", "small"], overflow),
            (&["INCRBY", "small", "-1"], overflow),
            (&["SET", "t", "5", "EX", "100"], "+OK\r\n"),
            (&["INCR", "t"], ":6\r\n"),
            (&["TTL", "t"], ":100\r\n"),
            (
                &["INCR", "n", "x"],
                "-ERR wrong number of arguments for 'incr' command\r\n",
            ),
            (&["INCRBY", "x", "1.5"], not_int),
            (&["SET", "s", "123456789012345678901"], "+OK\r\n"),
            (&["INCR", "s"], not_int),
            (&["SET", "s", ""], "+OK\r\n"),
            (&["INCR", "s"], not_int),
            (&["DECRBY", "nokey", "x"], not_int),
            (&["GET", "n"], "$3\r\n-14\r\n"),
        ]);
    }

    #[test]
    fn append_and_strlen() {
        let arity = |c: &str| format!("-ERR wrong number of arguments for '{c}' command\r\n");
        Harness::new().check(&[
            (&["APPEND"], &arity("append")),
            (&["APPEND", "a", "hello"], ":5\r\n"),
            (&["APPEND", "a", " world"], ":11\r\n"),
            (&["GET", "a"], "$11\r\nhello world\r\n"),
            (&["STRLEN", "a"], ":11\r\n"),
            (&["STRLEN", "x"], ":0\r\n"),
            (&["STRLEN"], &arity("strlen")),
            (&["STRLEN", "a", "b"], &arity("strlen")),
            (&["SET", "t", "v", "EX", "100"], "+OK\r\n"),
            (&["APPEND", "t", "w"], ":2\r\n"),
            (&["TTL", "t"], ":100\r\n"),
            (&["APPEND", "a", ""], ":11\r\n"),
            (&["SET", "n", "10"], "+OK\r\n"),
            (&["APPEND", "n", "5"], ":3\r\n"),
            (&["INCR", "n"], ":106\r\n"),
        ]);
    }

    #[test]
    fn mset_and_mget() {
        let arity = |c: &str| format!("-ERR wrong number of arguments for '{c}' command\r\n");
        Harness::new().check(&[
            (&["MSET"], &arity("mset")),
            (&["MSET", "a"], &arity("mset")),
            (&["MSET", "a", "1", "b"], &arity("mset")),
            (&["MSET", "a", "1", "b", "2", "a", "3"], "+OK\r\n"),
            (&["MGET"], &arity("mget")),
            (
                &["MGET", "a", "b", "c"],
                "*3\r\n$1\r\n3\r\n$1\r\n2\r\n$-1\r\n",
            ),
            (&["SET", "t", "v", "EX", "100"], "+OK\r\n"),
            (&["MSET", "t", "w"], "+OK\r\n"),
            (&["TTL", "t"], ":-1\r\n"),
        ]);
    }
}
