//! Keyspace commands: `DEL`, `EXISTS`, `KEYS`, `DBSIZE`, `FLUSHDB` and `FLUSHALL`.

use std::ops::ControlFlow;

use crate::resp::protocol::{array, bulk, error, int, ok, Argv};

use super::args::SYNTAX;
use super::reply_limit::{array_len, bulk_len, reply_too_large};
use super::{Ctx, Flow};

pub(super) fn del(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    let now = ctx.now();
    let mut locked = ctx.store().lock_keys(argv.iter_from(1));
    let removed = argv
        .iter_from(1)
        .filter(|key| locked.shard(key).remove(key, now))
        .count();
    drop(locked);
    int(out, i64::try_from(removed).unwrap_or(i64::MAX));
    Flow::Continue
}

pub(super) fn exists(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    let now = ctx.now();
    let mut locked = ctx.store().lock_keys(argv.iter_from(1));
    let found = argv
        .iter_from(1)
        .filter(|key| locked.shard(key).contains(key, now))
        .count();
    drop(locked);
    int(out, i64::try_from(found).unwrap_or(i64::MAX));
    Flow::Continue
}

/// `KEYS`' reply is at most [`Ctx::max_reply`] bytes, as `MGET`'s: a short pattern over
/// a large keyspace must not make the server build a reply far larger than the request.
/// The keys are gathered apart (the array's count comes first) and the search stops
/// once the next key would pass the limit.
pub(super) fn keys(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    let now = ctx.now();
    let limit = ctx.max_reply;
    let mut found = Vec::new();
    let mut n = 0;
    let flow = ctx.store().keys(argv.get(1), now, |key| {
        if array_len(n + 1) + found.len() + bulk_len(key.len()) > limit {
            return ControlFlow::Break(());
        }
        bulk(&mut found, key);
        n += 1;
        ControlFlow::Continue(())
    });
    if flow.is_break() {
        reply_too_large(out, limit);
        return Flow::Continue;
    }
    array(out, n);
    out.extend_from_slice(&found);
    Flow::Continue
}

pub(super) fn dbsize(ctx: &mut Ctx<'_>, _: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    let (keys, _) = ctx.store().counts();
    int(out, i64::try_from(keys).unwrap_or(i64::MAX));
    Flow::Continue
}

pub(super) fn flush(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    let mode_ok = match argv.len() {
        1 => true,
        2 => {
            let mode = argv.get(1);
            mode.eq_ignore_ascii_case(b"sync") || mode.eq_ignore_ascii_case(b"async")
        }
        _ => false,
    };
    if mode_ok {
        ctx.store().flush();
        ok(out);
    } else {
        error(out, SYNTAX);
    }
    Flow::Continue
}

#[cfg(test)]
mod tests {
    use super::super::harness::Harness;

    #[test]
    fn del_and_exists() {
        Harness::new().check(&[
            (
                &["DEL"],
                "-ERR wrong number of arguments for 'del' command\r\n",
            ),
            (&["SET", "a", "1"], "+OK\r\n"),
            (&["SET", "b", "2"], "+OK\r\n"),
            (&["DEL", "a", "b", "c", "a"], ":2\r\n"),
            (
                &["EXISTS"],
                "-ERR wrong number of arguments for 'exists' command\r\n",
            ),
            (&["SET", "a", "1"], "+OK\r\n"),
            (&["EXISTS", "a", "a", "b"], ":2\r\n"),
            (&["EXISTS", "a"], ":1\r\n"),
            (&["DEL", "a"], ":1\r\n"),
            (&["DEL", "a"], ":0\r\n"),
        ]);
    }

    #[test]
    fn keys_and_dbsize() {
        Harness::new().check(&[
            (
                &["KEYS"],
                "-ERR wrong number of arguments for 'keys' command\r\n",
            ),
            (
                &["KEYS", "*", "x"],
                "-ERR wrong number of arguments for 'keys' command\r\n",
            ),
            (&["KEYS", "*"], "*0\r\n"),
            (&["MSET", "hello", "1", "a*b", "1"], "+OK\r\n"),
            (&["KEYS", "h?llo"], "*1\r\n$5\r\nhello\r\n"),
            (&["KEYS", "h[^e]llo"], "*0\r\n"),
            (&["KEYS", "a\\*b"], "*1\r\n$3\r\na*b\r\n"),
            (&["KEYS", "nothing"], "*0\r\n"),
            (&["DBSIZE"], ":2\r\n"),
            (
                &["DBSIZE", "x"],
                "-ERR wrong number of arguments for 'dbsize' command\r\n",
            ),
        ]);
        // Several matches come in the store's order: compare as sets.
        let mut h = Harness::new();
        h.run(&[
            "MSET", "hello", "1", "hallo", "1", "hxllo", "1", "hllo", "1", "heeeello", "1",
        ]);
        let (reply, _) = h.run(&["KEYS", "h*llo"]);
        let text = String::from_utf8(reply).unwrap();
        let mut keys: Vec<&str> = text.split("\r\n").skip(2).step_by(2).collect();
        keys.sort_unstable();
        assert!(text.starts_with("*5\r\n"), "{text}");
        assert_eq!(keys, ["hallo", "heeeello", "hello", "hllo", "hxllo"]);
    }

    #[test]
    fn flush() {
        let syntax = "-ERR syntax error\r\n";
        Harness::new().check(&[
            (&["SET", "a", "1"], "+OK\r\n"),
            (&["FLUSHDB"], "+OK\r\n"),
            (&["DBSIZE"], ":0\r\n"),
            (&["SET", "a", "1"], "+OK\r\n"),
            (&["FLUSHALL"], "+OK\r\n"),
            (&["DBSIZE"], ":0\r\n"),
            (&["FLUSHALL", "ASYNC"], "+OK\r\n"),
            (&["FLUSHALL", "sync"], "+OK\r\n"),
            (&["FLUSHALL", "foo"], syntax),
            (&["FLUSHDB", "async"], "+OK\r\n"),
            (&["FLUSHDB", "x"], syntax),
            (&["FLUSHDB", "async", "x"], syntax),
            (&["FLUSHALL", "a", "b"], syntax),
        ]);
    }
}
