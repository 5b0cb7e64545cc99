//! Connection commands: `PING`, `ECHO`, `QUIT`, `SELECT`, `CLIENT SETNAME|GETNAME|ID|HELP`,
//! `AUTH` and `HELLO`.

use crate::resp::protocol::{
    array, bulk, error, error_parts, int, null, ok, simple, string2ll, Argv,
};

use super::args::{c_str, integer, SYNTAX};
use super::dispatch::help;
use super::state::Client;
use super::{Ctx, Flow, REDIS_VERSION};

pub(super) fn ping(_: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    match argv.len() {
        1 => simple(out, b"PONG"),
        2 => bulk(out, argv.get(1)),
        _ => error(out, b"wrong number of arguments for 'ping' command"),
    }
    Flow::Continue
}

pub(super) fn echo(_: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    bulk(out, argv.get(1));
    Flow::Continue
}

pub(super) fn quit(_: &mut Ctx<'_>, _: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    ok(out);
    Flow::Close
}

pub(super) fn select(_: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    let Some(index) = integer(argv.get(1), out) else {
        return Flow::Continue;
    };
    if i32::try_from(index).is_err() {
        error(
            out,
            b"value is out of range, value must between -2147483648 and 2147483647",
        );
    } else if index != 0 {
        error(out, b"DB index is out of range");
    } else {
        ok(out);
    }
    Flow::Continue
}

/// Set the client's name as Redis does (empty removes it); false after an error reply.
fn set_name(client: &mut Client, name: &[u8], out: &mut Vec<u8>) -> bool {
    if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        error(
            out,
            b"Client names cannot contain spaces, newlines or special characters.",
        );
        return false;
    }
    client.name = (!name.is_empty()).then(|| name.into());
    true
}

pub(super) fn client_setname(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    if set_name(ctx.client, argv.get(2), out) {
        ok(out);
    }
    Flow::Continue
}

pub(super) fn client_getname(ctx: &mut Ctx<'_>, _: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    match &ctx.client.name {
        Some(name) => bulk(out, name),
        None => null(out),
    }
    Flow::Continue
}

pub(super) fn client_id(ctx: &mut Ctx<'_>, _: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    int(out, i64::try_from(ctx.client.id).unwrap_or(i64::MAX));
    Flow::Continue
}

pub(super) fn client_help(_: &mut Ctx<'_>, _: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    help(
        out,
        "CLIENT",
        &[
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
        ],
    )
}

fn auth_user(user: &[u8], out: &mut Vec<u8>) -> bool {
    // Only the `default` user exists, and it needs no password (Redis's `nopass`).
    if user != b"default" {
        error(
            out,
            b"-WRONGPASS invalid username-password pair or user is disabled.",
        );
        return false;
    }
    true
}

pub(super) fn auth(_: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    match argv.len() {
        2 => error(
            out,
            b"AUTH <password> called without any password configured for the default user. \
              Are you sure your configuration is correct?",
        ),
        3 => {
            if auth_user(argv.get(1), out) {
                ok(out);
            }
        }
        _ => error(out, SYNTAX),
    }
    Flow::Continue
}

pub(super) fn hello(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    let mut next = 1;
    if argv.len() >= 2 {
        let Some(version) = string2ll(argv.get(1)) else {
            error(out, b"Protocol version is not an integer or out of range");
            return Flow::Continue;
        };
        next = 2;
        // RESP2 only: `HELLO 3` is refused as Redis refuses versions it does not know.
        if version != 2 {
            error(out, b"-NOPROTO unsupported protocol version");
            return Flow::Continue;
        }
    }
    let mut j = next;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        let opt = argv.get(j);
        if opt.eq_ignore_ascii_case(b"AUTH") && more >= 2 {
            if !auth_user(argv.get(j + 1), out) {
                return Flow::Continue;
            }
            j += 2;
        } else if opt.eq_ignore_ascii_case(b"SETNAME") && more >= 1 {
            if !set_name(ctx.client, argv.get(j + 1), out) {
                return Flow::Continue;
            }
            j += 1;
        } else {
            error_parts(
                out,
                &[
                    b"Syntax error in HELLO option '",
                    c_str(opt, usize::MAX),
                    b"'",
                ],
            );
            return Flow::Continue;
        }
        j += 1;
    }
    array(out, 14);
    bulk(out, b"server");
    bulk(out, b"redis");
    bulk(out, b"version");
    bulk(out, REDIS_VERSION.as_bytes());
    bulk(out, b"proto");
    int(out, 2);
    bulk(out, b"id");
    int(out, i64::try_from(ctx.client.id).unwrap_or(i64::MAX));
    bulk(out, b"mode");
    bulk(out, b"standalone");
    bulk(out, b"role");
    bulk(out, b"master");
    bulk(out, b"modules");
    array(out, 0);
    Flow::Continue
}

#[cfg(test)]
mod tests {
    use super::super::harness::Harness;
    use super::*;

    #[test]
    fn ping_and_echo() {
        Harness::new().check(&[
            (&["PING"], "+PONG\r\n"),
            (&["ping"], "+PONG\r\n"),
            (&["PING", "hello"], "$5\r\nhello\r\n"),
            (
                &["PING", "a", "b"],
                "-ERR wrong number of arguments for 'ping' command\r\n",
            ),
            (
                &["ECHO"],
                "-ERR wrong number of arguments for 'echo' command\r\n",
            ),
            (&["ECHO", "x"], "$1\r\nx\r\n"),
            (&["ECHO", ""], "$0\r\n\r\n"),
            (
                &["echo", "a", "b"],
                "-ERR wrong number of arguments for 'echo' command\r\n",
            ),
        ]);
    }

    #[test]
    fn select() {
        let range = "-ERR value is out of range, value must between -2147483648 and 2147483647\r\n";
        Harness::new().check(&[
            (
                &["SELECT"],
                "-ERR wrong number of arguments for 'select' command\r\n",
            ),
            (&["SELECT", "0"], "+OK\r\n"),
            (
                &["SELECT", "x"],
                "-ERR value is not an integer or out of range\r\n",
            ),
            (&["SELECT", "-1"], "-ERR DB index is out of range\r\n"),
            (&["SELECT", "16"], "-ERR DB index is out of range\r\n"),
            (&["SELECT", "99999999999"], range),
            (&["SELECT", "-2147483649"], range),
            (
                &["SELECT", "00"],
                "-ERR value is not an integer or out of range\r\n",
            ),
            (
                &["SELECT", "0", "1"],
                "-ERR wrong number of arguments for 'select' command\r\n",
            ),
        ]);
        // Redis has 16 databases: there `SELECT 1` is +OK; here there is one.
        assert_eq!(
            Harness::new().run(&["SELECT", "1"]).0,
            b"-ERR DB index is out of range\r\n"
        );
    }

    #[test]
    fn client() {
        let bad_name =
            "-ERR Client names cannot contain spaces, newlines or special characters.\r\n";
        let mut h = Harness::new();
        h.check(&[
            (
                &["CLIENT"],
                "-ERR wrong number of arguments for 'client' command\r\n",
            ),
            (&["CLIENT", "GETNAME"], "$-1\r\n"),
            (&["CLIENT", "SETNAME", "bob"], "+OK\r\n"),
            (&["CLIENT", "GETNAME"], "$3\r\nbob\r\n"),
            (&["CLIENT", "SETNAME", "a b"], bad_name),
            (&["CLIENT", "SETNAME", ""], "+OK\r\n"),
            (&["CLIENT", "GETNAME"], "$-1\r\n"),
            (
                &["CLIENT", "SETNAME"],
                "-ERR wrong number of arguments for 'client|setname' command\r\n",
            ),
            (
                &["CLIENT", "GETNAME", "x"],
                "-ERR wrong number of arguments for 'client|getname' command\r\n",
            ),
            (
                &["CLIENT", "FOO"],
                "-ERR unknown subcommand 'FOO'. Try CLIENT HELP.\r\n",
            ),
            (
                &["client", "foo", "x"],
                "-ERR unknown subcommand 'foo'. Try CLIENT HELP.\r\n",
            ),
            (
                &["CLIENT", "ID", "x"],
                "-ERR wrong number of arguments for 'client|id' command\r\n",
            ),
            (&["CLIENT", "SETNAME", "a\nb"], bad_name),
            (&["CLIENT", "SETNAME", "é"], bad_name),
        ]);
        let id = h.client.id;
        assert_eq!(h.run(&["CLIENT", "ID"]).0, format!(":{id}\r\n").as_bytes());
    }

    #[test]
    fn hello_and_auth() {
        let mut h = Harness::new();
        let id = h.client.id;
        let map = format!(
            "*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.0.0\r\n\
             $5\r\nproto\r\n:2\r\n$2\r\nid\r\n:{id}\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n\
             $4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"
        );
        let noproto = "-NOPROTO unsupported protocol version\r\n";
        let wrongpass = "-WRONGPASS invalid username-password pair or user is disabled.\r\n";
        h.check(&[
            (&["HELLO"], &map),
            (&["HELLO", "2"], &map),
            // Redis 7 speaks RESP3 too; this server only RESP2.
            (&["HELLO", "3"], noproto),
            (&["HELLO", "4"], noproto),
            (&["HELLO", "1"], noproto),
            (
                &["HELLO", "x"],
                "-ERR Protocol version is not an integer or out of range\r\n",
            ),
            (
                &["HELLO", "2", "FOO"],
                "-ERR Syntax error in HELLO option 'FOO'\r\n",
            ),
            (
                &["HELLO", "2", "SETNAME"],
                "-ERR Syntax error in HELLO option 'SETNAME'\r\n",
            ),
            (
                &["HELLO", "2", "AUTH", "default"],
                "-ERR Syntax error in HELLO option 'AUTH'\r\n",
            ),
            (&["HELLO", "2", "AUTH", "bob", "pw"], wrongpass),
            (
                &["HELLO", "2", "SETNAME", "a b"],
                "-ERR Client names cannot contain spaces, newlines or special characters.\r\n",
            ),
            (&["HELLO", "-1"], noproto),
            (&["HELLO", "2", "setname", "carl"], &map),
            (&["CLIENT", "GETNAME"], "$4\r\ncarl\r\n"),
            (
                &["HELLO", "2", "SETNAME", "zed", "FOO"],
                "-ERR Syntax error in HELLO option 'FOO'\r\n",
            ),
            (&["CLIENT", "GETNAME"], "$3\r\nzed\r\n"),
            (&["HELLO", "2", "AUTH", "default", "x"], &map),
            (
                &["AUTH"],
                "-ERR wrong number of arguments for 'auth' command\r\n",
            ),
            (
                &["AUTH", "pw"],
                "-ERR AUTH <password> called without any password configured for the \
                 default user. Are you sure your configuration is correct?\r\n",
            ),
            (&["AUTH", "default", "pw"], "+OK\r\n"),
            (&["AUTH", "bob", "pw"], wrongpass),
            (&["AUTH", "a", "b", "c"], "-ERR syntax error\r\n"),
        ]);
    }

    #[test]
    fn quit() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["QUIT", "x"]), (b"+OK\r\n".to_vec(), Flow::Close));
        assert_eq!(h.run(&["QUIT"]), (b"+OK\r\n".to_vec(), Flow::Close));
        assert_eq!(h.run(&["GET", "k"]).1, Flow::Continue);
    }
}
