//! Command dispatch: the command table, Redis's arity and name checks, and the commands.
//!
//! Replies are assembled in a `Vec<u8>` (never written to the socket while a shard is
//! locked) and are byte for byte redis-server 7.0's for the same commands, errors
//! included, with these differences: one database (`SELECT` of another index is out of
//! range, `CONFIG GET databases` says 1), `CONFIG SET` changes nothing (every parameter
//! is unknown to it), `COMMAND` and `COMMAND DOCS` answer an empty array, `HELLO 3` is
//! refused (RESP2 only), `HELP` texts list only what is implemented, and `INFO` reports
//! this server's own few fields. Commands Redis has and this server has not are unknown
//! commands (or unknown subcommands).

use std::fmt::Write as _;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::protocol::{
    array, bulk, decimal, error, error_parts, int, null, ok, simple, string2ll, Argv, Limits,
};
use super::store::{glob_match, Store, Ttl, Value};

/// The Redis version whose behaviour this server follows (`INFO`, `HELLO`).
pub(crate) const REDIS_VERSION: &str = "7.0.0";

/// Every this many commands, a connection takes a sweep step.
const SWEEP_EVERY: u32 = 8;

/// Most expired keys one sweep step deletes.
const SWEEP_MAX: usize = 32;

/// `SET` copies a value up to this size under the shard lock (into the old value's buffer
/// when it fits: no allocation); a larger one is copied before the lock is taken.
const COPY_UNDER_LOCK: usize = 4096;

const NOT_INTEGER: &[u8] = b"value is not an integer or out of range";
const SYNTAX: &[u8] = b"syntax error";

/// What the connection does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Read the next command.
    Continue,
    /// Close once the reply is sent (`QUIT`).
    Close,
}

/// State shared by every connection: the keyspace and the counters `INFO` reports.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) store: Store,
    started: Instant,
    next_client_id: AtomicU64,
    connections_received: AtomicU64,
    connected: AtomicI64,
    commands: Counter,
}

impl Default for Server {
    fn default() -> Self {
        Server::with_store(Store::default())
    }
}

impl Server {
    pub(crate) fn with_store(store: Store) -> Server {
        Server {
            store,
            started: Instant::now(),
            next_client_id: AtomicU64::new(0),
            connections_received: AtomicU64::new(0),
            connected: AtomicI64::new(0),
            commands: Counter::default(),
        }
    }

    /// A new connection's client state.
    pub(crate) fn connect(&self) -> Client {
        let id = self.next_client_id.fetch_add(1, Relaxed) + 1;
        self.connections_received.fetch_add(1, Relaxed);
        self.connected.fetch_add(1, Relaxed);
        let shards = self.store.shard_count() as u64;
        Client {
            id,
            name: None,
            served: 0,
            // Connections start their sweep rounds at different shards. The remainder is
            // below the shard count, a `usize`.
            sweep_next: (id % shards) as usize,
        }
    }

    /// A connection closed.
    pub(crate) fn disconnect(&self) {
        self.connected.fetch_sub(1, Relaxed);
    }

    /// Commands executed (arity errors and unknown commands not counted, as in Redis).
    #[cfg(test)]
    pub(crate) fn commands_processed(&self) -> u64 {
        self.commands.sum()
    }
}

/// A counter updated by every command: spread over cache lines by client, so that
/// threads serving different connections do not fight over one line.
#[derive(Debug, Default)]
struct Counter {
    slots: [Slot; 8],
}

#[derive(Debug, Default)]
#[repr(align(64))]
struct Slot(AtomicU64);

impl Counter {
    fn add(&self, client: u64) {
        // The remainder is below 8.
        self.slots[(client % 8) as usize].0.fetch_add(1, Relaxed);
    }

    fn sum(&self) -> u64 {
        self.slots.iter().map(|s| s.0.load(Relaxed)).sum()
    }

    fn reset(&self) {
        for s in &self.slots {
            s.0.store(0, Relaxed);
        }
    }
}

/// One connection's client state.
#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) id: u64,
    name: Option<Box<[u8]>>,
    served: u32,
    sweep_next: usize,
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

type Run = fn(&mut Ctx<'_>, Argv<'_>, &mut Vec<u8>) -> Flow;

/// A command or subcommand: its full name (`get`, `config|get`), the word that names it,
/// and Redis's arity (`n`: exactly n arguments with the name; `-n`: at least n).
struct Spec {
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
static COMMANDS: &[Spec] = &[
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

/// Every [`SWEEP_EVERY`] commands, delete up to [`SWEEP_MAX`] expired keys from the next
/// shard in this connection's round, unless another thread holds that shard.
fn sweep_step(ctx: &mut Ctx<'_>) {
    ctx.client.served = ctx.client.served.wrapping_add(1);
    if ctx.client.served % SWEEP_EVERY != 0 {
        return;
    }
    let shard = ctx.client.sweep_next;
    ctx.client.sweep_next = shard.wrapping_add(1);
    let now = ctx.now();
    ctx.store().sweep(shard, now, SWEEP_MAX);
}

/// The first `max` bytes of `s` up to its first NUL: what C's `%.*s` prints.
fn c_str(s: &[u8], max: usize) -> &[u8] {
    let s = &s[..s.iter().position(|&b| b == 0).unwrap_or(s.len())];
    &s[..s.len().min(max)]
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

/// An integer argument, or Redis's error.
fn integer(arg: &[u8], out: &mut Vec<u8>) -> Option<i64> {
    let n = string2ll(arg);
    if n.is_none() {
        error(out, NOT_INTEGER);
    }
    n
}

fn invalid_expire(out: &mut Vec<u8>, command: &str) {
    error_parts(
        out,
        &[
            b"invalid expire time in '",
            command.as_bytes(),
            b"' command",
        ],
    );
}

// ----- connection -----

fn ping(_: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    match argv.len() {
        1 => simple(out, b"PONG"),
        2 => bulk(out, argv.get(1)),
        _ => error(out, b"wrong number of arguments for 'ping' command"),
    }
    Flow::Continue
}

fn echo(_: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    bulk(out, argv.get(1));
    Flow::Continue
}

fn quit(_: &mut Ctx<'_>, _: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    ok(out);
    Flow::Close
}

fn select(_: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
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

fn client_setname(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    if set_name(ctx.client, argv.get(2), out) {
        ok(out);
    }
    Flow::Continue
}

fn client_getname(ctx: &mut Ctx<'_>, _: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    match &ctx.client.name {
        Some(name) => bulk(out, name),
        None => null(out),
    }
    Flow::Continue
}

fn client_id(ctx: &mut Ctx<'_>, _: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    int(out, i64::try_from(ctx.client.id).unwrap_or(i64::MAX));
    Flow::Continue
}

fn help(out: &mut Vec<u8>, container: &str, lines: &[&str]) -> Flow {
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

fn client_help(_: &mut Ctx<'_>, _: Argv<'_>, out: &mut Vec<u8>) -> Flow {
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

fn auth(_: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
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

fn hello(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
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

// ----- strings -----

fn get(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
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

fn set(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
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

fn getset(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
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

fn incr(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    incr_by(ctx, argv.get(1), 1, out)
}

fn decr(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    incr_by(ctx, argv.get(1), -1, out)
}

fn incrby(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    match integer(argv.get(2), out) {
        Some(by) => incr_by(ctx, argv.get(1), by, out),
        None => Flow::Continue,
    }
}

fn decrby(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    match integer(argv.get(2), out) {
        Some(i64::MIN) => {
            error(out, b"decrement would overflow");
            Flow::Continue
        }
        Some(by) => incr_by(ctx, argv.get(1), -by, out),
        None => Flow::Continue,
    }
}

fn append(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
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

fn strlen(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
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

// ----- several keys -----

fn del(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
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

fn exists(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
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

/// Bytes of `n` in decimal.
fn decimal_len(n: usize) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// Bytes of a bulk reply of `len` bytes: `$len\r\n…\r\n`.
fn bulk_len(len: usize) -> usize {
    1 + decimal_len(len) + 2 + len + 2
}

/// Bytes of an array header for `n` elements: `*n\r\n`.
fn array_len(n: usize) -> usize {
    1 + decimal_len(n) + 2
}

/// The error that replaces a reply larger than `limit` bytes (a departure from Redis,
/// which has no such bound; the text follows its style).
fn reply_too_large(out: &mut Vec<u8>, limit: usize) {
    let mut digits = Vec::new();
    decimal(&mut digits, i64::try_from(limit).unwrap_or(i64::MAX));
    error_parts(
        out,
        &[
            b"reply would exceed the output limit (",
            &digits,
            b" bytes)",
        ],
    );
}

/// `MGET`'s reply is at most [`Ctx::max_reply`] bytes: naming one large key many times
/// must not make the server build a reply far larger than the request (one 64 KiB value
/// named 1,000 times in a 9 KB request would be a 62.5 MiB reply), with the keys' shards
/// locked meanwhile. Past the limit nothing more is copied and the reply is
/// [`reply_too_large`].
fn mget(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
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

/// Bytes of the null bulk reply, `$-1\r\n`.
const NULL_LEN: usize = 5;

fn mset(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
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

// ----- expiry -----

fn expire(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    expire_generic(ctx, argv, out, "expire", 1000)
}

fn pexpire(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
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

fn ttl(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    ttl_generic(ctx, argv, out, false)
}

fn pttl(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    ttl_generic(ctx, argv, out, true)
}

fn persist(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
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

// ----- keyspace -----

/// `KEYS`' reply is at most [`Ctx::max_reply`] bytes, as `MGET`'s: a short pattern over
/// a large keyspace must not make the server build a reply far larger than the request.
/// The keys are gathered apart (the array's count comes first) and the search stops
/// once the next key would pass the limit.
fn keys(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
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

fn dbsize(ctx: &mut Ctx<'_>, _: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    let (keys, _) = ctx.store().counts();
    int(out, i64::try_from(keys).unwrap_or(i64::MAX));
    Flow::Continue
}

fn flush(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
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

// ----- server -----

fn info(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
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

fn config_get(ctx: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
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

fn config_set(_: &mut Ctx<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Flow {
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

fn config_resetstat(ctx: &mut Ctx<'_>, _: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    let server = ctx.server;
    server.commands.reset();
    server.connections_received.store(0, Relaxed);
    server.store.reset_expired();
    ok(out);
    Flow::Continue
}

fn config_help(_: &mut Ctx<'_>, _: Argv<'_>, out: &mut Vec<u8>) -> Flow {
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
fn command(_: &mut Ctx<'_>, _: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    array(out, 0);
    Flow::Continue
}

fn command_count(_: &mut Ctx<'_>, _: Argv<'_>, out: &mut Vec<u8>) -> Flow {
    int(out, i64::try_from(COMMANDS.len()).unwrap_or(i64::MAX));
    Flow::Continue
}

fn command_help(_: &mut Ctx<'_>, _: Argv<'_>, out: &mut Vec<u8>) -> Flow {
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
    use super::*;

    /// 2023-11-14T22:13:20Z: TTLs come out exact with a fixed clock.
    const NOW: i64 = 1_700_000_000_000;

    struct Harness {
        server: Server,
        client: Client,
        limits: Limits,
        max_reply: usize,
        now: i64,
    }

    impl Harness {
        fn new() -> Harness {
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

        fn run(&mut self, args: &[&str]) -> (Vec<u8>, Flow) {
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
        fn check(&mut self, cases: &[(&[&str], &str)]) {
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

    // The expected replies below were recorded from redis-server 7.0.15 (`--save ''
    // --appendonly no`), each group on a fresh connection after FLUSHALL.

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

    /// `MGET` and `KEYS` build at most `max_reply` bytes; one byte less than a reply
    /// needs gets the error instead, and nothing else changes.
    #[test]
    fn mget_and_keys_replies_are_capped_at_the_output_limit() {
        let too_large =
            |n: usize| format!("-ERR reply would exceed the output limit ({n} bytes)\r\n");
        let mut h = Harness::new();
        let value = "v".repeat(100);
        h.run(&["SET", "k", &value]);
        let mut mget = vec!["MGET"];
        mget.extend(std::iter::repeat_n("k", 9));
        mget.push("missing");
        // `*10\r\n`, nine `$100\r\n…\r\n` and one `$-1\r\n`.
        let size = 5 + 9 * 108 + 5;
        h.max_reply = size;
        let (reply, _) = h.run(&mget);
        assert_eq!(reply.len(), size);
        h.max_reply = size - 1;
        h.check(&[(&mget, &too_large(size - 1)), (&["PING"], "+PONG\r\n")]);
        // The brief's figures: a 64 KiB value named 1,000 times, from a ~9 KB request,
        // would have been a 62.5 MiB reply; at the default 2 MiB limit it is refused.
        let mut h = Harness::new();
        h.run(&["SET", "big", &"b".repeat(64 << 10)]);
        let mut mget = vec!["MGET"];
        mget.extend(std::iter::repeat_n("big", 1000));
        h.check(&[(&mget, &too_large(2 << 20))]);
        mget.truncate(1 + 31); // 31 × (64 KiB + 10) fits 2 MiB
        assert_eq!(h.run(&mget).0.len(), 5 + 31 * (8 + (64 << 10) + 2));

        let mut h = Harness::new();
        for i in 0..10 {
            h.run(&["SET", &format!("a{i}"), "x"]);
        }
        // `*10\r\n` and ten `$2\r\naN\r\n`.
        let size = 5 + 10 * 8;
        h.max_reply = size;
        let (reply, _) = h.run(&["KEYS", "a*"]);
        assert_eq!(reply.len(), size);
        h.max_reply = size - 1;
        h.check(&[
            (&["KEYS", "a*"], &too_large(size - 1)),
            (&["KEYS", "a1"], "*1\r\n$2\r\na1\r\n"),
        ]);
    }

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
    fn flush_and_select() {
        let syntax = "-ERR syntax error\r\n";
        let range = "-ERR value is out of range, value must between -2147483648 and 2147483647\r\n";
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
    fn command_and_quit() {
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
        assert_eq!(h.run(&["QUIT", "x"]), (b"+OK\r\n".to_vec(), Flow::Close));
        assert_eq!(h.run(&["QUIT"]), (b"+OK\r\n".to_vec(), Flow::Close));
        assert_eq!(h.run(&["GET", "k"]).1, Flow::Continue);
    }

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
