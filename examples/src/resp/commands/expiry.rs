//! Expiry: the commands that set, read and remove a key's time to live (`EXPIRE`,
//! `PEXPIRE`, `TTL`, `PTTL`, `PERSIST`), and the sweep step that deletes expired keys
//! nobody reads (keys that are read expire lazily, in the store).

use crate::resp::protocol::{error, error_parts, int, Argv};

use super::args::{c_str, integer, invalid_expire};
use super::{Ctx, Flow};

/// Every this many commands, a connection takes a sweep step.
pub(super) const SWEEP_EVERY: u32 = 8;

/// Most expired keys one sweep step deletes.
const SWEEP_MAX: usize = 32;

/// Every [`SWEEP_EVERY`] commands, delete up to [`SWEEP_MAX`] expired keys from the next
/// shard in this connection's round, unless another thread holds that shard.
pub(super) fn sweep_step(ctx: &mut Ctx<'_>) {
    ctx.client.served = ctx.client.served.wrapping_add(1);
    if ctx.client.served % SWEEP_EVERY != 0 {
        return;
    }
    let shard = ctx.client.sweep_next;
    ctx.client.sweep_next = shard.wrapping_add(1);
    let now = ctx.now();
    ctx.store().sweep(shard, now, SWEEP_MAX);
}

pub(super) fn expire(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    expire_generic(ctx, argv, out, "expire", 1000)
}

pub(super) fn pexpire(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    expire_generic(ctx, argv, out, "pexpire", 1)
}

/// `EXPIRE`/`PEXPIRE key time [NX|XX|GT|LT …]`, as Redis's `expireGenericCommand`.
fn expire_generic(
    ctx: &mut Ctx<'_>,
    argv: Argv<'_>,
    out: &mut Vec<u8>,
    name: &str,
    unit: i64,
) -> Flow {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in argv.iter_from(3) {
        match opt.to_ascii_lowercase().as_slice() {
            b"nx" => nx = true,
            b"xx" => xx = true,
            b"gt" => gt = true,
            b"lt" => lt = true,
            _ => {
                error_parts(out, &[b"Unsupported option ", c_str(opt, usize::MAX)]);
                return Flow::Continue;
            }
        }
    }
    if nx && (xx || gt || lt) {
        error(
            out,
            b"NX and XX, GT or LT options at the same time are not compatible",
        );
        return Flow::Continue;
    }
    if gt && lt {
        error(
            out,
            b"GT and LT options at the same time are not compatible",
        );
        return Flow::Continue;
    }
    let Some(n) = integer(argv.get(2), out) else {
        return Flow::Continue;
    };
    let now = ctx.now();
    let Some(when) = n.checked_mul(unit).and_then(|ms| ms.checked_add(now)) else {
        invalid_expire(out, name);
        return Flow::Continue;
    };
    let key = argv.get(1);
    let mut shard = ctx.store().shard(key);
    let Some(current) = shard.get(key, now).map(|e| e.expires_at()) else {
        int(out, 0);
        return Flow::Continue;
    };
    let refused = (nx && current.is_some())
        || (xx && current.is_none())
        || (gt && current.is_none_or(|c| when <= c))
        || (lt && current.is_some_and(|c| when >= c));
    if refused {
        int(out, 0);
        return Flow::Continue;
    }
    if when <= now {
        shard.remove(key, now);
    } else {
        shard.set_expiry(key, Some(when), now);
    }
    int(out, 1);
    Flow::Continue
}

fn ttl_generic(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>, ms: bool) -> Flow {
    let key = argv.get(1);
    let now = ctx.now();
    let reply = match ctx.store().shard(key).get(key, now) {
        None => -2,
        Some(entry) => match entry.expires_at() {
            None => -1,
            Some(at) => {
                let left = at.saturating_sub(now).max(0);
                if ms {
                    left
                } else {
                    left.saturating_add(500) / 1000
                }
            }
        },
    };
    int(out, reply);
    Flow::Continue
}

pub(super) fn ttl(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    ttl_generic(ctx, argv, out, false)
}

pub(super) fn pttl(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    ttl_generic(ctx, argv, out, true)
}

pub(super) fn persist(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    let key = argv.get(1);
    let now = ctx.now();
    let mut shard = ctx.store().shard(key);
    let had_ttl = shard
        .get(key, now)
        .is_some_and(|e| e.expires_at().is_some());
    if had_ttl {
        shard.set_expiry(key, None, now);
    }
    int(out, i64::from(had_ttl));
    Flow::Continue
}

#[cfg(test)]
mod tests {
    use super::super::harness::Harness;
    use super::*;

    #[test]
    fn expire_ttl_persist() {
        let arity = |c: &str| format!("-ERR wrong number of arguments for '{c}' command\r\n");
        let not_int = "-ERR value is not an integer or out of range\r\n";
        let nx_and = "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n";
        let invalid = |c: &str| format!("-ERR invalid expire time in '{c}' command\r\n");
        Harness::new().check(&[
            (&["EXPIRE"], &arity("expire")),
            (&["EXPIRE", "a"], &arity("expire")),
            (&["EXPIRE", "a", "10"], ":0\r\n"),
            (&["SET", "a", "v"], "+OK\r\n"),
            (&["EXPIRE", "a", "x"], not_int),
            (&["EXPIRE", "a", "100"], ":1\r\n"),
            (&["TTL", "a"], ":100\r\n"),
            (&["PTTL", "nokey"], ":-2\r\n"),
            (&["TTL", "nokey"], ":-2\r\n"),
            (&["SET", "b", "v"], "+OK\r\n"),
            (&["TTL", "b"], ":-1\r\n"),
            (&["PTTL", "b"], ":-1\r\n"),
            (&["EXPIRE", "a", "100", "NX"], ":0\r\n"),
            (&["EXPIRE", "a", "200", "XX"], ":1\r\n"),
            (&["TTL", "a"], ":200\r\n"),
            (&["EXPIRE", "a", "100", "GT"], ":0\r\n"),
            (&["EXPIRE", "a", "300", "GT"], ":1\r\n"),
            (&["EXPIRE", "a", "400", "LT"], ":0\r\n"),
            (&["EXPIRE", "a", "50", "LT"], ":1\r\n"),
            (&["TTL", "a"], ":50\r\n"),
            (&["EXPIRE", "b", "10", "XX"], ":0\r\n"),
            (&["EXPIRE", "b", "10", "GT"], ":0\r\n"),
            (&["EXPIRE", "b", "10", "LT"], ":1\r\n"),
            (&["TTL", "b"], ":10\r\n"),
            (&["EXPIRE", "a", "10", "NX", "XX"], nx_and),
            (
                &["EXPIRE", "a", "10", "GT", "LT"],
                "-ERR GT and LT options at the same time are not compatible\r\n",
            ),
            (&["EXPIRE", "a", "10", "NX", "GT"], nx_and),
            (
                &["EXPIRE", "a", "10", "FOO"],
                "-ERR Unsupported option FOO\r\n",
            ),
            (&["EXPIRE", "a", "10", "xx", "xx"], ":1\r\n"),
            (
                &["EXPIRE", "a", "x", "FOO"],
                "-ERR Unsupported option FOO\r\n",
            ),
            (&["EXPIRE", "a", "9223372036854775"], &invalid("expire")),
            (&["EXPIRE", "a", "9223372036854776"], &invalid("expire")),
            (&["EXPIRE", "a", "-9223372036854776"], &invalid("expire")),
            (
                &["PEXPIRE", "a", "9223372036854775807"],
                &invalid("pexpire"),
            ),
            (&["PERSIST", "a"], ":1\r\n"),
            (&["PERSIST", "a"], ":0\r\n"),
            (&["PERSIST", "nokey"], ":0\r\n"),
            (&["PERSIST"], &arity("persist")),
            (&["TTL"], &arity("ttl")),
            (&["PTTL", "a", "b"], &arity("pttl")),
            (&["EXPIRE", "a", "0"], ":1\r\n"),
            (&["EXISTS", "a"], ":0\r\n"),
            (&["SET", "a", "v"], "+OK\r\n"),
            (&["PEXPIRE", "a", "-5"], ":1\r\n"),
            (&["GET", "a"], "$-1\r\n"),
            (&["SET", "a", "v"], "+OK\r\n"),
            (&["PEXPIRE", "a", "100000"], ":1\r\n"),
            (&["TTL", "a"], ":100\r\n"),
            (&["PEXPIRE", "a", "1499"], ":1\r\n"),
            (&["TTL", "a"], ":1\r\n"),
            (&["PEXPIRE", "a", "1501"], ":1\r\n"),
            (&["TTL", "a"], ":2\r\n"),
            (&["PEXPIRE", "a"], &arity("pexpire")),
            (&["EXPIRE", "a", "1", "2"], "-ERR Unsupported option 2\r\n"),
            (&["EXPIRE", "nokey", "x"], not_int),
            (&["EXPIRE", "nokey", "10", "NX", "XX"], nx_and),
        ]);
    }

    #[test]
    fn keys_expire_as_the_clock_moves() {
        let mut h = Harness::new();
        h.run(&["SET", "a", "v", "PX", "100"]);
        h.run(&["SET", "b", "v", "EX", "1"]);
        h.run(&["SET", "c", "v"]);
        h.now += 100;
        assert_eq!(
            h.run(&["PTTL", "a"]).0,
            b":0\r\n",
            "alive at its millisecond"
        );
        h.now += 1;
        assert_eq!(h.run(&["GET", "a"]).0, b"$-1\r\n");
        assert_eq!(h.run(&["TTL", "b"]).0, b":1\r\n");
        h.now += 1000;
        assert_eq!(h.run(&["KEYS", "*"]).0, b"*1\r\n$1\r\nc\r\n");
        // `b` expired but was not touched: DBSIZE counts it until a sweep deletes it.
        assert_eq!(h.run(&["DBSIZE"]).0, b":2\r\n");
        for _ in 0..(SWEEP_EVERY as usize * h.server.store.shard_count()) {
            h.run(&["PING"]);
        }
        assert_eq!(h.run(&["DBSIZE"]).0, b":1\r\n", "swept");
        assert_eq!(h.server.store.expired(), 2);
    }
}
