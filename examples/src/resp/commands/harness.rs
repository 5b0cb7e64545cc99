//! The tests' harness: runs commands through [`execute`] on a fresh server with a fixed
//! clock and compares their replies with the bytes redis-server 7.0.15 sent.
//!
//! The expected replies in the tests were recorded from redis-server 7.0.15 (`--save ''
//! --appendonly no`), each group on a fresh connection after FLUSHALL.

use crate::resp::protocol::{Argv, Limits};
use crate::resp::store::Store;

use super::{execute, Client, Clock, Ctx, Flow, Server};

/// 2023-11-14T22:13:20Z: TTLs come out exact with a fixed clock.
const NOW: i64 = 1_700_000_000_000;

/// A server with one connected client, a fixed clock and the default limits.
pub(super) struct Harness {
    pub(super) server: Server,
    pub(super) client: Client,
    limits: Limits,
    pub(super) max_reply: usize,
    pub(super) now: i64,
}

impl Harness {
    pub(super) fn new() -> Harness {
        let server = Server::with_store(Store::with_shards(4));
        let client = server.connect();
        Harness {
            server,
            client,
            limits: Limits::default(),
            max_reply: 2 << 20,
            now: NOW,
        }
    }

    /// Run one command; its reply and what the connection does next.
    pub(super) fn run(&mut self, args: &[&str]) -> (Vec<u8>, Flow) {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        let mut ctx = Ctx::new(
            &self.server,
            &self.limits,
            &mut self.client,
            6379,
            Clock::Fixed(self.now),
            self.max_reply,
        );
        let mut out = Vec::new();
        let flow = execute(&mut ctx, Argv::slices(&args), &mut out);
        (out, flow)
    }

    /// Run each command, comparing its reply with the bytes redis-server 7.0.15 sent.
    pub(super) fn check(&mut self, cases: &[(&[&str], &str)]) {
        for (args, expected) in cases {
            let (reply, _) = self.run(args);
            assert_eq!(
                String::from_utf8_lossy(&reply),
                *expected,
                "reply to {args:?}"
            );
        }
    }
}
