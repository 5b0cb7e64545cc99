//! Server commands: `INFO`, `CONFIG GET|SET|RESETSTAT|HELP` and `COMMAND [DOCS|COUNT|HELP]`
//! (the counters they report and reset are the [`Server`](super::Server) state's).

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

use crate::resp::protocol::{array, bulk, error_parts, int, ok, Argv, Limits};
use crate::resp::store::glob_match;

use super::args::c_str;
use super::dispatch::{help, COMMANDS};
use super::{Ctx, Flow, REDIS_VERSION};

pub(super) fn info(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    const SECTIONS: [&str; 4] = ["server", "clients", "stats", "keyspace"];
    let mut wanted = [argv.len() == 1; 4];
    for arg in argv.iter_from(1) {
        let arg = arg.to_ascii_lowercase();
        if [&b"all"[..], b"everything", b"default"].contains(&arg.as_slice()) {
            wanted = [true; 4];
        } else if let Some(i) = SECTIONS.iter().position(|s| s.as_bytes() == arg) {
            wanted[i] = true;
        }
    }
    let server = ctx.server;
    let mut text = String::new();
    for (i, section) in SECTIONS.iter().enumerate() {
        if !wanted[i] {
            continue;
        }
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        // Writing to a `String` cannot fail.
        let _ = match *section {
            "server" => {
                let uptime = server.started.elapsed().as_secs();
                write!(
                    text,
                    "# Server\r\nredis_version:{REDIS_VERSION}\r\nredis_mode:standalone\r\n\
                     os:{} {}\r\narch_bits:{}\r\nprocess_id:{}\r\ntcp_port:{}\r\n\
                     uptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\n",
                    std::env::consts::OS,
                    std::env::consts::ARCH,
                    usize::BITS,
                    std::process::id(),
                    ctx.port,
                    uptime / 86_400,
                )
            }
            "clients" => write!(
                text,
                "# Clients\r\nconnected_clients:{}\r\n",
                server.connected.load(Relaxed)
            ),
            "stats" => write!(
                text,
                "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\n\
                 expired_keys:{}\r\n",
                server.connections_received.load(Relaxed),
                server.commands.sum(),
                server.store.expired(),
            ),
            _ => {
                let (keys, expires) = server.store.counts();
                text.push_str("# Keyspace\r\n");
                if keys > 0 {
                    write!(text, "db0:keys={keys},expires={expires},avg_ttl=0\r\n")
                } else {
                    Ok(())
                }
            }
        };
    }
    bulk(out, text.as_bytes());
    Flow::Continue
}

/// The parameters `CONFIG GET` knows, and their values.
fn config_params(limits: &Limits) -> [(&'static str, String); 4] {
    [
        ("appendonly", "no".to_owned()),
        ("databases", "1".to_owned()),
        ("proto-max-bulk-len", limits.max_bulk.to_string()),
        ("save", String::new()),
    ]
}

pub(super) fn config_get(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    let params = config_params(ctx.limits);
    // For each parameter, the name to answer with, once.
    let mut matched: [Option<&[u8]>; 4] = [None; 4];
    for asked in argv.iter_from(2) {
        let pattern = asked.iter().any(|b| b"[*?".contains(b));
        for (i, (name, _)) in params.iter().enumerate() {
            if matched[i].is_some() {
                continue;
            }
            if pattern && glob_match(asked, name.as_bytes(), true) {
                matched[i] = Some(name.as_bytes());
            } else if !pattern && asked.eq_ignore_ascii_case(name.as_bytes()) {
                // An exact name is answered as it was asked.
                matched[i] = Some(asked);
            }
        }
    }
    array(out, 2 * matched.iter().flatten().count());
    for (name, (_, value)) in matched.iter().zip(&params) {
        if let Some(name) = name {
            bulk(out, name);
            bulk(out, value.as_bytes());
        }
    }
    Flow::Continue
}

pub(super) fn config_set(_: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    error_parts(
        out,
        &[
            b"Unknown option or number of arguments for CONFIG SET - '",
            c_str(argv.get(2), usize::MAX),
            b"'",
        ],
    );
    Flow::Continue
}

pub(super) fn config_resetstat(ctx: &mut Ctx<'_>, _: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    let server = ctx.server;
    server.commands.reset();
    server.connections_received.store(0, Relaxed);
    server.store.reset_expired();
    ok(out);
    Flow::Continue
}

pub(super) fn config_help(_: &mut Ctx<'_>, _: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    help(
        out,
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
        ],
    )
}

/// `COMMAND` and `COMMAND DOCS`: an empty array (enough for redis-cli, which only uses
/// the docs for hints).
pub(super) fn command(_: &mut Ctx<'_>, _: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    array(out, 0);
    Flow::Continue
}

pub(super) fn command_count(_: &mut Ctx<'_>, _: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    int(out, i64::try_from(COMMANDS.len()).unwrap_or(i64::MAX));
    Flow::Continue
}

pub(super) fn command_help(_: &mut Ctx<'_>, _: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    help(
        out,
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return an empty array (this server does not describe its commands).",
            "COUNT",
            "    Return the total number of commands in this server.",
            "DOCS [<command-name> ...]",
            "    Return an empty array.",
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::super::harness::Harness;
    use super::*;

    #[test]
    fn config() {
        Harness::new().check(&[
            (
                &["CONFIG"],
                "-ERR wrong number of arguments for 'config' command\r\n",
            ),
            (
                &["CONFIG", "GET"],
                "-ERR wrong number of arguments for 'config|get' command\r\n",
            ),
            (&["CONFIG", "GET", "save"], "*2\r\n$4\r\nsave\r\n$0\r\n\r\n"),
            (
                &["CONFIG", "GET", "appendonly"],
                "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n",
            ),
            (&["CONFIG", "GET", "nosuchparam"], "*0\r\n"),
            (
                &["CONFIG", "GET", "save", "appendonly"],
                "*4\r\n$10\r\nappendonly\r\n$2\r\nno\r\n$4\r\nsave\r\n$0\r\n\r\n",
            ),
            (&["config", "get", "SAVE"], "*2\r\n$4\r\nSAVE\r\n$0\r\n\r\n"),
            (
                &["CONFIG", "GET", "save", "SAVE"],
                "*2\r\n$4\r\nsave\r\n$0\r\n\r\n",
            ),
            (
                &["CONFIG", "FOO"],
                "-ERR unknown subcommand 'FOO'. Try CONFIG HELP.\r\n",
            ),
            (
                &["CONFIG", "foo", "bar"],
                "-ERR unknown subcommand 'foo'. Try CONFIG HELP.\r\n",
            ),
            (
                &["CONFIG", "SET", "nosuch", "x"],
                "-ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'\r\n",
            ),
            (
                &["CONFIG", "SET", "x"],
                "-ERR wrong number of arguments for 'config|set' command\r\n",
            ),
            (&["CONFIG", "RESETSTAT"], "+OK\r\n"),
            (
                &["CONFIG", "GET", "proto-max-bulk-len"],
                "*2\r\n$18\r\nproto-max-bulk-len\r\n$9\r\n536870912\r\n",
            ),
            (
                &["CONFIG", "GET", "*max-bulk*"],
                "*2\r\n$18\r\nproto-max-bulk-len\r\n$9\r\n536870912\r\n",
            ),
            (
                &["CONFIG", "GET", "appendon*"],
                "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n",
            ),
            // Redis has 16 databases; this server one.
            (
                &["CONFIG", "GET", "databases"],
                "*2\r\n$9\r\ndatabases\r\n$1\r\n1\r\n",
            ),
        ]);
        let (help, _) = Harness::new().run(&["CONFIG", "HELP"]);
        assert!(help.starts_with(
            b"*7\r\n+CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n"
        ));
        assert!(help.ends_with(b"+HELP\r\n+    Prints this help.\r\n"));
    }

    #[test]
    fn command() {
        let mut h = Harness::new();
        h.check(&[
            (
                &["COMMAND", "FOO"],
                "-ERR unknown subcommand 'FOO'. Try COMMAND HELP.\r\n",
            ),
            (
                &["COMMAND", "COUNT", "x"],
                "-ERR wrong number of arguments for 'command|count' command\r\n",
            ),
            // Redis answers the documentation of its commands; an empty array is enough
            // for redis-cli.
            (&["COMMAND"], "*0\r\n"),
            (&["COMMAND", "DOCS"], "*0\r\n"),
            (&["COMMAND", "DOCS", "nosuch"], "*0\r\n"),
        ]);
        assert_eq!(
            h.run(&["COMMAND", "COUNT"]).0,
            format!(":{}\r\n", COMMANDS.len()).as_bytes()
        );
    }

    #[test]
    fn info_sections_and_counts() {
        let mut h = Harness::new();
        h.run(&["SET", "k", "v"]);
        h.run(&["SET", "e", "v", "EX", "100"]);
        h.run(&["GET", "k"]);
        h.run(&["NOSUCH"]);
        assert_eq!(h.run(&["INFO", "nosuchsection"]).0, b"$0\r\n\r\n");
        let (reply, _) = h.run(&["INFO", "keyspace", "STATS"]);
        let text = String::from_utf8(reply).unwrap();
        let body = "# Stats\r\ntotal_connections_received:1\r\ntotal_commands_processed:4\r\n\
                    expired_keys:0\r\n\r\n# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=0\r\n";
        assert_eq!(text, format!("${}\r\n{body}\r\n", body.len()));
        let (reply, _) = h.run(&["INFO"]);
        let text = String::from_utf8(reply).unwrap();
        for line in [
            "# Server\r\nredis_version:7.0.0\r\n",
            "\r\ntcp_port:6379\r\n",
            "\r\n\r\n# Clients\r\nconnected_clients:1\r\n\r\n# Stats\r\n",
            "\r\ntotal_commands_processed:5\r\n",
        ] {
            assert!(text.contains(line), "{line:?} in {text}");
        }
        h.run(&["CONFIG", "RESETSTAT"]);
        let (reply, _) = h.run(&["INFO", "stats"]);
        assert!(String::from_utf8(reply)
            .unwrap()
            .contains("total_commands_processed:1\r\n"));
        h.server.disconnect();
        let (reply, _) = h.run(&["INFO", "clients"]);
        assert!(String::from_utf8(reply)
            .unwrap()
            .contains("connected_clients:0\r\n"));
    }
}
