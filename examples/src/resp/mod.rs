//! A Redis-compatible server handler: RESP2, string keys, expiry.
//!
//! [`RespHandler`] answers the commands below as redis-server 7.0 does, byte for byte
//! (errors included), so that `redis-cli`, `redis-benchmark` and client libraries work
//! against it:
//!
//! | group | commands |
//! | --- | --- |
//! | strings | `GET`, `SET key value [NX\|XX] [GET] [EX s\|PX ms\|EXAT s\|PXAT ms\|KEEPTTL]`, `GETSET`, `APPEND`, `STRLEN`, `INCR`, `DECR`, `INCRBY`, `DECRBY`, `MGET`, `MSET` |
//! | keys | `DEL`, `EXISTS`, `EXPIRE`/`PEXPIRE key time [NX\|XX\|GT\|LT]`, `TTL`, `PTTL`, `PERSIST`, `KEYS pattern`, `DBSIZE`, `FLUSHDB`, `FLUSHALL` |
//! | connection | `PING [msg]`, `ECHO`, `SELECT 0`, `QUIT`, `HELLO [2 [AUTH user pass] [SETNAME name]]`, `AUTH`, `CLIENT SETNAME\|GETNAME\|ID` |
//! | server | `INFO [server\|clients\|stats\|keyspace]`, `CONFIG GET\|RESETSTAT`, `COMMAND [DOCS\|COUNT]` |
//!
//! Differences from Redis: one database (`SELECT 0` only); RESP2 only (`HELLO 3` gets
//! `-NOPROTO`); `COMMAND` and `COMMAND DOCS` answer an empty array; `CONFIG SET`
//! changes nothing; `INFO` has four short sections (`total_commands_processed` counts
//! this handler's commands); a multibulk command has at most 1 Mi elements (Redis allows
//! up to `INT_MAX`); the order of `KEYS` replies is the store's; the replies of `MGET`
//! and `KEYS` are bounded (below); other commands are unknown.
//!
//! Malformed input gets Redis's `-ERR Protocol error: …` and the connection closes
//! (cleanly: request bytes already received are dropped first, so the close does not
//! reset the connection and destroy the reply); an unknown command or a wrong argument
//! count gets its `-ERR` and the connection stays usable. The [`Limits`] bound what one
//! command can make the server hold, on either server: a partial command is never
//! buffered past `max_command` bytes, and a bulk longer than `max_bulk` is refused at
//! its header, before its bytes are read.
//!
//! **Replies are bounded too.** The commands whose reply can be far larger than their
//! request, `MGET` (one key named many times) and `KEYS` (a short pattern over a large
//! keyspace), build at most the connection's output limit
//! ([`Connection::max_output_buffer`], `ServerParams::max_output_buffer`, 2 MiB by
//! default); a larger reply is refused with `-ERR reply would exceed the output limit (N
//! bytes)` and the connection stays usable (Redis has no such bound). A reply of one
//! value (`GET`, `GETSET`, `SET … GET`) is not bounded this way: its size is the value's,
//! which a client stored (at most `max_bulk`); fetch a value larger than the output limit
//! with `GET`, not `MGET`.
//!
//! How it is built:
//!
//! - `protocol`: the RESP2 parser (multibulk and inline commands) and reply encoders.
//!   Parsing resumes where it stopped, and a parsed command is kept as offsets of its
//!   arguments in the connection's buffer (16 in the session itself, more in a `Vec`):
//!   framing parses a command once, and serving takes the arguments from there.
//! - `store`: the keyspace shared by every connection: shards of `Mutex<HashMap>`, lazy
//!   expiry plus a bounded sweep step run by the commands themselves (no extra thread).
//! - `commands`: the command table and each command; replies are assembled in a
//!   per-thread buffer, so no lock is held while writing to a socket.

mod commands;
mod protocol;
mod store;

use std::cell::RefCell;
use std::io::{self, BufRead, Write};
use std::sync::Arc;

use net::{Action, Connection, Frame, Handler};

pub use protocol::{command, Limits};

use commands::{Client, Clock, Ctx, Flow, Server};
use protocol::{Parser, Status};

/// A reply buffer that grew beyond this is not kept for the next command.
const KEEP_REPLY_BUFFER: usize = 64 * 1024;

thread_local! {
    /// Where replies are assembled: one per thread, reused, so that a command allocates
    /// nothing for its reply and no connection holds a buffer while idle.
    static REPLY: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The Redis-compatible handler (see the [module docs](self)).
///
/// All connections of a server share one keyspace. Clones share it too (and the `INFO`
/// counters): a clone handed to a second server serves the same keys.
///
/// - **Pipelining**: each [`serve`](Handler::serve) runs exactly one command; pipelined
///   commands stay buffered and are answered in order.
/// - **Framing**: [`frame`](Handler::frame) reports a command complete once all of it
///   is buffered, parsing each byte once; `serve` takes the parsed arguments from the
///   [`RespSession`]. On a blocking server, which does not frame, `serve` reads and
///   parses the command itself.
/// - **Large values**: a bulk argument up to [`max_bulk_bytes`](RespHandler::max_bulk_bytes)
///   (512 MiB by default) is accepted; `serve` reads what framing did not buffer.
/// - **Large replies**: `MGET` and `KEYS` replies are at most the connection's
///   [`max_output_buffer`](Connection::max_output_buffer) (see the
///   [module docs](self)).
///
/// ```
/// use std::io::{Read, Write};
/// use std::time::Duration;
/// use net::{Server, ServerParams, TcpServer};
///
/// let mut server =
///     TcpServer::serve("127.0.0.1:0", examples::resp::RespHandler::new(), ServerParams::default())?;
/// let mut client = std::net::TcpStream::connect(server.local_addr())?;
/// // A multibulk SET, an inline GET, and QUIT, pipelined.
/// client.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\nGET k\r\nQUIT\r\n")?;
/// let mut replies = String::new();
/// client.read_to_string(&mut replies)?; // QUIT closes the connection
/// assert_eq!(replies, "+OK\r\n$5\r\nhello\r\n+OK\r\n");
/// server.shutdown(Duration::from_secs(1))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct RespHandler {
    limits: Limits,
    server: Arc<Server>,
}

impl RespHandler {
    /// A handler with an empty keyspace and the default [`Limits`] (Redis's).
    ///
    /// ```
    /// let handler = examples::resp::RespHandler::new();
    /// assert_eq!(handler.limits().max_bulk, 512 << 20);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Most bytes of one bulk argument (Redis's `proto-max-bulk-len`; 512 MiB by default);
    /// a longer one gets `-ERR Protocol error: invalid bulk length`.
    ///
    /// ```
    /// let h = examples::resp::RespHandler::new().max_bulk_bytes(1 << 20);
    /// assert_eq!(h.limits().max_bulk, 1 << 20);
    /// ```
    #[must_use]
    pub fn max_bulk_bytes(mut self, n: usize) -> Self {
        self.limits.max_bulk = n;
        self
    }

    /// Most elements of a multibulk command (1 Mi by default); more get `-ERR Protocol
    /// error: invalid multibulk length`.
    ///
    /// ```
    /// let h = examples::resp::RespHandler::new().max_multibulk_len(1024);
    /// assert_eq!(h.limits().max_multibulk, 1024);
    /// ```
    #[must_use]
    pub fn max_multibulk_len(mut self, n: usize) -> Self {
        self.limits.max_multibulk = n;
        self
    }

    /// Most bytes of an inline command line (and of a multibulk header line); 64 KiB by
    /// default, as in Redis. Beyond: `-ERR Protocol error: too big inline request`.
    ///
    /// ```
    /// let h = examples::resp::RespHandler::new().max_inline_bytes(4096);
    /// assert_eq!(h.limits().max_inline, 4096);
    /// ```
    #[must_use]
    pub fn max_inline_bytes(mut self, n: usize) -> Self {
        self.limits.max_inline = n;
        self
    }

    /// Most bytes of one whole command (1 GiB by default, Redis's
    /// `client-query-buffer-limit`; at most `u32::MAX`, which larger values become). A
    /// longer command closes the connection without a reply, as Redis does.
    ///
    /// ```
    /// let h = examples::resp::RespHandler::new().max_command_bytes(64 << 20);
    /// assert_eq!(h.limits().max_command, 64 << 20);
    /// let h = examples::resp::RespHandler::new().max_command_bytes(usize::MAX);
    /// assert_eq!(h.limits().max_command, u32::MAX as usize);
    /// ```
    #[must_use]
    pub fn max_command_bytes(mut self, n: usize) -> Self {
        self.limits.max_command = n.min(u32::MAX as usize);
        self
    }

    /// The limits in force.
    ///
    /// ```
    /// let h = examples::resp::RespHandler::new();
    /// assert_eq!(*h.limits(), examples::resp::Limits::default());
    /// ```
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// A new connection's session, as [`open`](Handler::open) makes it: for driving
    /// [`frame`](Handler::frame) by hand.
    ///
    /// ```
    /// use net::{Frame, Handler};
    ///
    /// let handler = examples::resp::RespHandler::new();
    /// let mut session = handler.session();
    /// assert_eq!(handler.frame(&mut session, b"*1\r\n$4\r\nPI"), Frame::Partial);
    /// assert_eq!(handler.frame(&mut session, b"*1\r\n$4\r\nPING\r\n"), Frame::Complete(14));
    /// ```
    pub fn session(&self) -> RespSession {
        RespSession {
            parser: Parser::default(),
            client: self.server.connect(),
            server: Arc::clone(&self.server),
        }
    }

    /// Run the command the session's parser holds (the first `len` bytes of the buffer),
    /// consume it and write its reply.
    fn run(&self, s: &mut RespSession, conn: &mut Connection, len: usize) -> io::Result<Action> {
        let port = conn.local_addr().port();
        let max_reply = conn.max_output_buffer();
        REPLY.with(|reply| {
            let mut reply = reply.borrow_mut();
            reply.clear();
            let argv = s.parser.argv(conn.buffered());
            let mut ctx = Ctx::new(
                &self.server,
                &self.limits,
                &mut s.client,
                port,
                Clock::System,
                max_reply,
            );
            let flow = commands::execute(&mut ctx, argv, &mut reply);
            s.parser.reset();
            conn.consume(len);
            let written = conn.write_all(&reply);
            if reply.capacity() > KEEP_REPLY_BUFFER {
                *reply = Vec::new();
            }
            written?;
            Ok(match flow {
                Flow::Continue => Action::KeepAlive,
                Flow::Close => Action::Close,
            })
        })
    }
}

/// A connection's state: the command being parsed (what [`frame`](Handler::frame) found
/// out, so that nothing is parsed twice) and the client's name and id.
///
/// ```
/// use net::{Frame, Handler};
///
/// let handler = examples::resp::RespHandler::new();
/// let mut session = handler.session();
/// // Bytes already parsed are not parsed again: the second call reads the new ones.
/// assert_eq!(handler.frame(&mut session, b"*2\r\n$4\r\nECHO\r\n$2\r\nh"), Frame::Partial);
/// assert_eq!(handler.frame(&mut session, b"*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n"), Frame::Complete(22));
/// ```
#[derive(Debug)]
pub struct RespSession {
    parser: Parser,
    client: Client,
    server: Arc<Server>,
}

impl Drop for RespSession {
    fn drop(&mut self) {
        self.server.disconnect();
    }
}

impl Handler for RespHandler {
    type Session = RespSession;

    fn open(&self, _conn: &Connection) -> RespSession {
        self.session()
    }

    fn serve(&self, s: &mut RespSession, conn: &mut Connection) -> io::Result<Action> {
        // Resume the parse `frame` left (complete, or partial when the command outgrew
        // the server's request buffer), or parse from the first byte.
        let len = loop {
            match s.parser.advance(conn.buffered(), &self.limits) {
                Status::Complete(len) => break len,
                Status::Partial => {
                    if conn.fill_more()? == 0 {
                        // The peer closed in the middle of a command.
                        return Ok(Action::Close);
                    }
                }
                Status::Invalid(e) => {
                    s.parser.reset();
                    let mut reply = Vec::new();
                    e.reply(&mut reply);
                    if !reply.is_empty() {
                        conn.write_all(&reply)?;
                        crate::close::discard_input(conn);
                    }
                    return Ok(Action::Close);
                }
            }
        };
        self.run(s, conn, len)
    }

    /// Parses on from where the last call stopped and keeps the parsed command in the
    /// session for `serve` (see [`RespSession`]).
    fn frame(&self, s: &mut RespSession, buffered: &[u8]) -> Frame {
        match s.parser.advance(buffered, &self.limits) {
            Status::Complete(len) => Frame::Complete(len),
            Status::Partial => Frame::Partial,
            Status::Invalid(_) => Frame::Invalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};

    /// A connection to drive `serve` by hand, and its client end.
    fn connection() -> (Connection, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (socket, _) = listener.accept().unwrap();
        let params = net::ServerParams::builder()
            .read_timeout(std::time::Duration::from_secs(5))
            .build()
            .unwrap();
        (Connection::new(socket, &params).unwrap(), client)
    }

    fn replies(mut conn: Connection, mut client: TcpStream) -> Vec<u8> {
        // A server flushes after each request; here the test does.
        conn.flush().unwrap();
        drop(conn);
        let mut out = Vec::new();
        client.read_to_end(&mut out).unwrap();
        out
    }

    /// Serve until the buffer is empty (or the handler closes).
    fn serve_all(h: &RespHandler, s: &mut RespSession, conn: &mut Connection) -> Action {
        loop {
            let action = h.serve(s, conn).unwrap();
            if action == Action::Close || conn.buffered().is_empty() {
                conn.flush().unwrap();
                return action;
            }
        }
    }

    #[test]
    fn serve_without_frame_reads_what_it_needs() {
        let h = RespHandler::new();
        let (mut conn, client) = connection();
        let mut s = h.open(&conn);
        let writer = {
            let mut client = client.try_clone().unwrap();
            std::thread::spawn(move || {
                // Byte by byte, as a slow client.
                for b in b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nhi\r\nGET k\r\n" {
                    client.write_all(&[*b]).unwrap();
                    std::thread::sleep(std::time::Duration::from_micros(200));
                }
            })
        };
        assert_eq!(h.serve(&mut s, &mut conn).unwrap(), Action::KeepAlive);
        assert_eq!(h.serve(&mut s, &mut conn).unwrap(), Action::KeepAlive);
        writer.join().unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(replies(conn, client), b"+OK\r\n$2\r\nhi\r\n");
    }

    /// `serve` takes the arguments `frame` found: given a session framed on one command
    /// and a buffer holding another of the same length, it runs the framed one.
    #[test]
    fn serve_uses_what_frame_parsed() {
        let h = RespHandler::new();
        let (mut conn, mut client) = connection();
        let mut s = h.open(&conn);
        let framed = b"*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n";
        assert_eq!(h.frame(&mut s, framed), Frame::Complete(framed.len()));
        let sent = b"*2\r\n$4\r\nECHO\r\n$2\r\nHO\r\n";
        client.write_all(sent).unwrap();
        while conn.buffered().len() < sent.len() {
            conn.fill_more().unwrap();
        }
        assert_eq!(h.serve(&mut s, &mut conn).unwrap(), Action::KeepAlive);
        assert!(conn.buffered().is_empty());
        conn.flush().unwrap();
        // The ranges point into the buffer: same offsets, the buffer's bytes.
        assert_eq!(replies(conn, client), b"$2\r\nHO\r\n");
    }

    #[test]
    fn pipelined_and_inline_commands_in_order() {
        let h = RespHandler::new();
        let (mut conn, mut client) = connection();
        let mut s = h.open(&conn);
        client
            .write_all(
                b"PING\r\n*1\r\n$4\r\nPING\r\n\r\n*0\r\nECHO \"a b\"\r\nFOO x\r\nQUIT\r\nPING\r\n",
            )
            .unwrap();
        while !conn.buffered().ends_with(b"QUIT\r\nPING\r\n") {
            conn.fill_more().unwrap();
        }
        assert_eq!(serve_all(&h, &mut s, &mut conn), Action::Close);
        assert_eq!(
            replies(conn, client),
            b"+PONG\r\n+PONG\r\n$3\r\na b\r\n\
              -ERR unknown command 'FOO', with args beginning with: 'x' \r\n+OK\r\n"
        );
    }

    #[test]
    fn protocol_error_answers_and_closes() {
        for (input, reply) in [
            (
                &b"*1\r\n$-1\r\n"[..],
                &b"-ERR Protocol error: invalid bulk length\r\n"[..],
            ),
            (
                b"*x\r\n",
                b"-ERR Protocol error: invalid multibulk length\r\n",
            ),
            (
                b"*1\r\nx\r\n",
                b"-ERR Protocol error: expected '$', got 'x'\r\n",
            ),
            (
                b"SET \"a\r\n",
                b"-ERR Protocol error: unbalanced quotes in request\r\n",
            ),
        ] {
            let h = RespHandler::new();
            let (mut conn, mut client) = connection();
            let mut s = h.open(&conn);
            client.write_all(b"PING\r\n").unwrap();
            client.write_all(input).unwrap();
            while conn.buffered().len() < 6 + input.len() {
                conn.fill_more().unwrap();
            }
            // Framed first, as an evented server does: the error is found there.
            assert_eq!(h.frame(&mut s, conn.buffered()), Frame::Complete(6));
            assert_eq!(h.serve(&mut s, &mut conn).unwrap(), Action::KeepAlive);
            assert_eq!(h.frame(&mut s, conn.buffered()), Frame::Invalid);
            assert_eq!(h.serve(&mut s, &mut conn).unwrap(), Action::Close);
            conn.flush().unwrap();
            let mut expected = b"+PONG\r\n".to_vec();
            expected.extend_from_slice(reply);
            assert_eq!(replies(conn, client), expected);
        }
    }

    #[test]
    fn a_large_value_beyond_the_frame_is_read_by_serve() {
        let h = RespHandler::new();
        let (mut conn, client) = connection();
        let mut s = h.open(&conn);
        let value = vec![b'v'; 3 << 20];
        let mut command =
            format!("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${}\r\n", value.len()).into_bytes();
        command.extend_from_slice(&value);
        command.extend_from_slice(b"\r\n*2\r\n$6\r\nSTRLEN\r\n$1\r\nk\r\n");
        let writer = {
            let mut client = client.try_clone().unwrap();
            std::thread::spawn(move || client.write_all(&command).unwrap())
        };
        // An evented server frames what it has, then hands a command that outgrew its
        // buffer to `serve` while still partial.
        conn.fill_more().unwrap();
        assert_eq!(h.frame(&mut s, conn.buffered()), Frame::Partial);
        assert_eq!(h.serve(&mut s, &mut conn).unwrap(), Action::KeepAlive);
        writer.join().unwrap();
        assert_eq!(h.serve(&mut s, &mut conn).unwrap(), Action::KeepAlive);
        client.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(replies(conn, client), b"+OK\r\n:3145728\r\n");
    }

    #[test]
    fn limits_bound_what_a_command_can_hold() {
        let h = RespHandler::new().max_bulk_bytes(8).max_command_bytes(64);
        let (mut conn, mut client) = connection();
        let mut s = h.open(&conn);
        client.write_all(b"*2\r\n$4\r\nECHO\r\n$9\r\n").unwrap();
        assert_eq!(h.serve(&mut s, &mut conn).unwrap(), Action::Close);
        conn.flush().unwrap();
        assert_eq!(
            replies(conn, client),
            b"-ERR Protocol error: invalid bulk length\r\n"
        );
        // Over the command limit: closed without a reply.
        let (mut conn, mut client) = connection();
        let mut s = h.open(&conn);
        client
            .write_all(b"*9\r\n$8\r\nabcdefgh\r\n$8\r\nabcdefgh\r\n$8\r\nabcdefgh\r\n$8\r\nabcdefgh\r\n$8\r\n")
            .unwrap();
        assert_eq!(h.serve(&mut s, &mut conn).unwrap(), Action::Close);
        assert_eq!(replies(conn, client), b"");
    }

    #[test]
    fn eof_in_the_middle_of_a_command_closes_quietly() {
        let h = RespHandler::new();
        let (mut conn, mut client) = connection();
        let mut s = h.open(&conn);
        client.write_all(b"*2\r\n$4\r\nECHO\r\n").unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(h.serve(&mut s, &mut conn).unwrap(), Action::Close);
        assert_eq!(replies(conn, client), b"");
    }

    /// Protocol-like garbage, whole or in pieces: the parser agrees with itself, every
    /// complete command runs, and nothing panics.
    #[test]
    fn garbage_never_panics() {
        let alphabet = b"*$\r\n\r\n0123456789-+ \t\"'\\x\0aAbBcSETGETPINGECHOKEYS*?[]^";
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let server = Server::default();
        let limits = Limits {
            max_inline: 64,
            max_bulk: 64,
            ..Limits::default()
        };
        let mut client = server.connect();
        let mut reply = Vec::new();
        for _ in 0..20_000 {
            let len = (next() % 48) as usize;
            let input: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let mut whole = Parser::default();
            let expected = whole.advance(&input, &limits);
            let mut pieces = Parser::default();
            let mut end = 0;
            let mut status = Status::Partial;
            while end < input.len() && status == Status::Partial {
                end = (end + 1 + (next() % 5) as usize).min(input.len());
                status = pieces.advance(&input[..end], &limits);
            }
            if input.is_empty() {
                status = pieces.advance(&input, &limits);
            }
            assert_eq!(status, expected, "{:?}", String::from_utf8_lossy(&input));
            if let Status::Complete(_) = expected {
                let mut ctx = Ctx::new(&server, &limits, &mut client, 0, Clock::System, 1024);
                reply.clear();
                commands::execute(&mut ctx, whole.argv(&input), &mut reply);
            }
        }
    }

    #[test]
    fn an_idle_session_is_small() {
        let size = std::mem::size_of::<RespSession>();
        assert!(size <= 320, "{size} bytes");
    }

    #[test]
    fn clones_share_the_keyspace_and_sessions_count_clients() {
        let h = RespHandler::new();
        let other = h.clone();
        let (mut conn, mut client) = connection();
        let mut s = h.open(&conn);
        let s2 = other.session();
        client.write_all(b"SET k v\r\nINFO clients\r\n").unwrap();
        while !conn.buffered().ends_with(b"clients\r\n") {
            conn.fill_more().unwrap();
        }
        serve_all(&h, &mut s, &mut conn);
        drop(s2);
        assert_eq!(other.server.store.counts(), (1, 0));
        let out = replies(conn, client);
        assert!(out.ends_with(b"connected_clients:2\r\n\r\n"), "{out:?}");
        assert_eq!(other.server.commands_processed(), 2);
    }
}
