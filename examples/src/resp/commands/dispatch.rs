//! The command table and dispatch: [`execute`] finds a command (and its subcommand) by
//! name, checks Redis's arity, runs it and counts it; unknown commands and subcommands
//! get Redis's errors, and a container's `HELP` is rendered here.

use crate::resp::protocol::{array, error, error_parts, simple, Argv};

use super::args::{c_str, SYNTAX};
use super::connection::{
    auth, client_getname, client_help, client_id, client_setname, echo, hello, ping, quit, select,
};
use super::expiry::{expire, persist, pexpire, pttl, sweep_step, ttl};
use super::keys::{dbsize, del, exists, flush, keys};
use super::server::{
    command, command_count, command_help, config_get, config_help, config_resetstat, config_set,
    info,
};
use super::strings::{append, decr, decrby, get, getset, incr, incrby, mget, mset, set, strlen};
use super::{Ctx, Flow};

type Run = fn(&mut Ctx<'_>, Argv<'_>, &mut Vec<u8>) -> Flow;

/// A command or subcommand: its full name (`get`, `config|get`), the word that names it,
/// and Redis's arity (`n`: exactly n arguments with the name; `-n`: at least n).
pub(super) struct Spec {
    name: &'static str,
    word: &'static str,
    arity: i32,
    run: Run,
    subcommands: &'static [Spec],
}

const fn cmd(name: &'static str, arity: i32, run: Run) -> Spec {
    Spec {
        name,
        word: name,
        arity,
        run,
        subcommands: &[],
    }
}

const fn sub(name: &'static str, word: &'static str, arity: i32, run: Run) -> Spec {
    Spec {
        name,
        word,
        arity,
        run,
        subcommands: &[],
    }
}

const fn container(name: &'static str, arity: i32, run: Run, subs: &'static [Spec]) -> Spec {
    Spec {
        name,
        word: name,
        arity,
        run,
        subcommands: subs,
    }
}

/// The commands, the most used first (the lookup is a scan).
pub(super) static COMMANDS: &[Spec] = &[
    cmd("get", 2, get),
    cmd("set", -3, set),
    cmd("ping", -1, ping),
    cmd("incr", 2, incr),
    cmd("mget", -2, mget),
    cmd("mset", -3, mset),
    cmd("del", -2, del),
    cmd("exists", -2, exists),
    cmd("decr", 2, decr),
    cmd("incrby", 3, incrby),
    cmd("decrby", 3, decrby),
    cmd("getset", 3, getset),
    cmd("append", 3, append),
    cmd("strlen", 2, strlen),
    cmd("expire", -3, expire),
    cmd("pexpire", -3, pexpire),
    cmd("ttl", 2, ttl),
    cmd("pttl", 2, pttl),
    cmd("persist", 2, persist),
    cmd("echo", 2, echo),
    cmd("keys", 2, keys),
    cmd("dbsize", 1, dbsize),
    cmd("flushdb", -1, flush),
    cmd("flushall", -1, flush),
    cmd("select", 2, select),
    cmd("quit", -1, quit),
    cmd("info", -1, info),
    cmd("hello", -1, hello),
    cmd("auth", -2, auth),
    container("config", -2, no_subcommand, CONFIG),
    container("client", -2, no_subcommand, CLIENT),
    container("command", -1, command, COMMAND),
];

static CONFIG: &[Spec] = &[
    sub("config|get", "get", -3, config_get),
    sub("config|set", "set", -4, config_set),
    sub("config|resetstat", "resetstat", 2, config_resetstat),
    sub("config|help", "help", 2, config_help),
];

static CLIENT: &[Spec] = &[
    sub("client|setname", "setname", 3, client_setname),
    sub("client|getname", "getname", 2, client_getname),
    sub("client|id", "id", 2, client_id),
    sub("client|help", "help", 2, client_help),
];

static COMMAND: &[Spec] = &[
    sub("command|docs", "docs", -2, command),
    sub("command|count", "count", 2, command_count),
    sub("command|help", "help", 2, command_help),
];

fn find<'t>(table: &'t [Spec], word: &[u8]) -> Option<&'t Spec> {
    table
        .iter()
        .find(|s| s.word.as_bytes().eq_ignore_ascii_case(word))
}

/// Run one command (`argv[0]` names it) and append its reply to `out`.
pub(crate) fn execute(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    if argv.len() == 0 {
        // `*0`, `*-1` or an empty inline line: no command, no reply.
        return Flow::Continue;
    }
    let Some(mut spec) = find(COMMANDS, argv.get(0)) else {
        unknown_command(argv, out);
        return Flow::Continue;
    };
    if !spec.subcommands.is_empty() && argv.len() >= 2 {
        match find(spec.subcommands, argv.get(1)) {
            Some(found) => spec = found,
            None => {
                unknown_subcommand(argv, out);
                return Flow::Continue;
            }
        }
    }
    let argc = i64::try_from(argv.len()).unwrap_or(i64::MAX);
    let arity = i64::from(spec.arity);
    if (arity > 0 && argc != arity) || argc < -arity {
        error_parts(
            out,
            &[
                b"wrong number of arguments for '",
                spec.name.as_bytes(),
                b"' command",
            ],
        );
        return Flow::Continue;
    }
    let flow = (spec.run)(ctx, argv, out);
    ctx.server.commands.add(ctx.client.id);
    sweep_step(ctx);
    flow
}

fn unknown_command(argv: Argv<'_>, out: &mut Vec<u8>) {
    let mut args = Vec::new();
    let mut i = 1;
    while i < argv.len() && args.len() < 128 {
        let room = 128 - args.len();
        args.push(b'\'');
        args.extend_from_slice(c_str(argv.get(i), room));
        args.extend_from_slice(b"' ");
        i += 1;
    }
    error_parts(
        out,
        &[
            b"unknown command '",
            c_str(argv.get(0), 128),
            b"', with args beginning with: ",
            &args,
        ],
    );
}

fn unknown_subcommand(argv: Argv<'_>, out: &mut Vec<u8>) {
    let container = c_str(argv.get(0), usize::MAX).to_ascii_uppercase();
    error_parts(
        out,
        &[
            b"unknown subcommand '",
            c_str(argv.get(1), 128),
            b"'. Try ",
            &container,
            b" HELP.",
        ],
    );
}

fn no_subcommand(_: &mut Ctx<'_>, _: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    // The arity of a container needs a subcommand, so this never runs.
    error(out, SYNTAX);
    Flow::Continue
}

pub(super) fn help(out: &mut Vec<u8>, container: &str, lines: &[&str]) -> Flow {
    array(out, lines.len() + 3);
    simple(
        out,
        format!("{container} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:").as_bytes(),
    );
    for line in lines {
        simple(out, line.as_bytes());
    }
    simple(out, b"HELP");
    simple(out, b"    Prints this help.");
    Flow::Continue
}

#[cfg(test)]
mod tests {
    use super::super::harness::Harness;
    use super::*;

    #[test]
    fn unknown_commands() {
        let x200 = "x".repeat(200);
        let (x100, y100) = ("x".repeat(100), "y".repeat(100));
        let mut h = Harness::new();
        h.check(&[
            (
                &["FOO"],
                "-ERR unknown command 'FOO', with args beginning with: \r\n",
            ),
            (
                &["FOO", "a", "b"],
                "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n",
            ),
            (
                &["FOO", &x200],
                &format!(
                    "-ERR unknown command 'FOO', with args beginning with: '{}' \r\n",
                    "x".repeat(128)
                ),
            ),
            (
                &["FOO", &x100, &y100, "z"],
                &format!(
                    "-ERR unknown command 'FOO', with args beginning with: '{x100}' '{}' \r\n",
                    "y".repeat(25)
                ),
            ),
            (
                &["FOO", "a\r\nb", "c"],
                "-ERR unknown command 'FOO', with args beginning with: 'a  b' 'c' \r\n",
            ),
            (
                &["F\r\nOO"],
                "-ERR unknown command 'F  OO', with args beginning with: \r\n",
            ),
            (
                &[&x200],
                &format!(
                    "-ERR unknown command '{}', with args beginning with: \r\n",
                    "x".repeat(128)
                ),
            ),
            (
                &["\0"],
                "-ERR unknown command '', with args beginning with: \r\n",
            ),
        ]);
        // No arguments: no reply.
        assert_eq!(h.run(&[]), (Vec::new(), Flow::Continue));
    }
}
