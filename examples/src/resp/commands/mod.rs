//! The commands: the command table, Redis's arity and name checks, and each command.
//!
//! Replies are assembled in a `Vec<u8>` (never written to the socket while a shard is
//! locked) and are byte for byte redis-server 7.0's for the same commands, errors
//! included, with these differences: one database (`SELECT` of another index is out of
//! range, `CONFIG GET databases` says 1), `CONFIG SET` changes nothing (every parameter
//! is unknown to it), `COMMAND` and `COMMAND DOCS` answer an empty array, `HELLO 3` is
//! refused (RESP2 only), `HELP` texts list only what is implemented, and `INFO` reports
//! this server's own few fields. Commands Redis has and this server has not are unknown
//! commands (or unknown subcommands).
//!
//! Where each part lives:
//!
//! - this module: what a command runs with ([`Ctx`], [`Clock`]) and what the connection
//!   does after it ([`Flow`]).
//! - `state`: the [`Server`] state every connection shares (the keyspace and the `INFO`
//!   counters) and one connection's [`Client`] state.
//! - `dispatch`: the command table, [`execute`] (name lookup, subcommands, arity) and the
//!   unknown-command errors.
//! - `args`: integer arguments, arguments quoted in errors, and the shared error texts.
//! - `reply_limit`: the output limit on replies that can amplify their request (`MGET`,
//!   `KEYS`).
//! - the command groups: `connection` (`PING`, `ECHO`, `QUIT`, `SELECT`, `CLIENT`,
//!   `AUTH`, `HELLO`), `strings` (`GET`, `SET`, `INCR`, `APPEND`, `MGET`, `MSET`, …),
//!   `keys` (`DEL`, `EXISTS`, `KEYS`, `DBSIZE`, `FLUSHDB`, `FLUSHALL`), `expiry`
//!   (`EXPIRE`, `TTL`, `PERSIST`, …, and the sweep step that deletes expired keys) and
//!   `server` (`INFO`, `CONFIG`, `COMMAND`).

mod args;
mod connection;
mod dispatch;
mod expiry;
#[cfg(test)]
mod harness;
mod keys;
mod reply_limit;
mod server;
mod state;
mod strings;

use std::time::{SystemTime, UNIX_EPOCH};

use super::protocol::Limits;
use super::store::Store;

pub(crate) use dispatch::execute;
pub(crate) use state::{Client, Server};

/// The Redis version whose behaviour this server follows (`INFO`, `HELLO`).
pub(crate) const REDIS_VERSION: &str = "7.0.0";

/// What the connection does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Read the next command.
    Continue,
    /// Close once the reply is sent (`QUIT`).
    Close,
}

/// Where "now" comes from: the system clock, or a fixed time (tests).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Clock {
    System,
    #[cfg_attr(not(test), allow(dead_code))]
    Fixed(i64),
}

impl Clock {
    /// Unix time in milliseconds.
    fn now(self) -> i64 {
        match self {
            Clock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            Clock::Fixed(ms) => ms,
        }
    }
}

/// What a command runs with.
pub(crate) struct Ctx<'a> {
    pub(crate) server: &'a Server,
    pub(crate) limits: &'a Limits,
    pub(crate) client: &'a mut Client,
    /// The port the connection was accepted on (`INFO`).
    pub(crate) port: u16,
    pub(crate) clock: Clock,
    /// The largest reply a command that can amplify its request (`MGET`, `KEYS`) may
    /// build: the connection's output limit (`ServerParams::max_output_buffer`).
    pub(crate) max_reply: usize,
    now: Option<i64>,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(
        server: &'a Server,
        limits: &'a Limits,
        client: &'a mut Client,
        port: u16,
        clock: Clock,
        max_reply: usize,
    ) -> Ctx<'a> {
        Ctx {
            server,
            limits,
            client,
            port,
            clock,
            max_reply,
            now: None,
        }
    }

    /// The command's time: read once, the same for all its keys (Redis's
    /// `commandTimeSnapshot`).
    fn now(&mut self) -> i64 {
        *self.now.get_or_insert_with(|| self.clock.now())
    }

    fn store(&self) -> &'a Store {
        &self.server.store
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_clock_is_the_command_time() {
        let server = Server::with_store(Store::with_shards(1));
        let mut client = server.connect();
        let limits = Limits::default();
        let mut ctx = Ctx::new(&server, &limits, &mut client, 0, Clock::Fixed(42), 1024);
        assert_eq!(ctx.now(), 42);
        assert_eq!(ctx.now(), 42);
    }

    #[test]
    fn the_system_clock_is_unix_milliseconds() {
        let reference = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let reference = i64::try_from(reference.as_millis()).unwrap();
        // Within a minute of the reference: the wall clock may be stepped meanwhile.
        assert!((Clock::System.now() - reference).abs() < 60_000);
    }
}
