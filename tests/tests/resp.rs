//! The RESP example handler (`examples::resp::RespHandler`) over real sockets, on every
//! server: commands and their exact replies, errors that keep the connection usable,
//! protocol errors that close it, pipelining, inline commands, expiry, a bulk over the
//! limit, a command trickled byte by byte, and what a broken client cannot do to others.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use examples::resp::RespHandler;
use net::{ServerParams, ServerParamsBuilder};
use tests::{wait_until, TestServer, PATIENCE};

/// How long a client read may wait: a server bug fails the test instead of hanging it.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

fn start<S: TestServer>(handler: RespHandler) -> S {
    start_tuned(handler, |params| params)
}

/// [`start`] with server parameters changed by `tune`.
fn start_tuned<S: TestServer>(
    handler: RespHandler,
    tune: impl FnOnce(ServerParamsBuilder) -> ServerParamsBuilder,
) -> S {
    let params = tune(
        ServerParams::builder()
            .keep_alive_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(10))
            .write_timeout(Duration::from_secs(10)),
    )
    .build()
    .expect("params");
    let mut server = S::bind_with("127.0.0.1:0", handler, params, S::options(2, 2))
        .unwrap_or_else(|e| panic!("{}: bind: {e}", S::NAME));
    server
        .start()
        .unwrap_or_else(|e| panic!("{}: start: {e}", S::NAME));
    server
}

/// A RESP client that reads one whole reply at a time and returns its exact bytes.
struct Resp {
    reader: BufReader<TcpStream>,
}

impl Resp {
    fn connect(addr: SocketAddr) -> Resp {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
        Resp {
            reader: BufReader::new(stream),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.reader.get_mut().write_all(bytes).expect("send");
    }

    /// Send a command as a multibulk array.
    fn command(&mut self, args: &[&str]) {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.send(&examples::resp::command(&args));
    }

    /// Send a command and read its reply.
    fn call(&mut self, args: &[&str]) -> String {
        self.command(args);
        self.reply()
    }

    /// One complete reply, as its wire text.
    fn reply(&mut self) -> String {
        let mut out = String::new();
        self.reply_into(&mut out);
        out
    }

    fn reply_into(&mut self, out: &mut String) {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).expect("read a reply line");
        assert!(
            n > 0,
            "the server closed the connection; got so far: {out:?}"
        );
        assert!(
            line.ends_with("\r\n"),
            "a reply line ends with CRLF: {line:?}"
        );
        out.push_str(&line);
        let body = &line[1..line.len() - 2];
        match line.as_bytes()[0] {
            b'+' | b'-' | b':' => {}
            b'$' => {
                let len: i64 = body.parse().expect("bulk length");
                if len >= 0 {
                    let mut data = vec![0; len as usize + 2];
                    self.reader.read_exact(&mut data).expect("bulk data");
                    out.push_str(&String::from_utf8_lossy(&data));
                }
            }
            b'*' => {
                let count: i64 = body.parse().expect("array length");
                for _ in 0..count.max(0) {
                    self.reply_into(out);
                }
            }
            other => panic!("not a RESP reply: {:?} in {line:?}", other as char),
        }
    }

    /// The server closed the connection cleanly: end of input, not a reset (which can
    /// destroy replies the client has not read yet).
    fn expect_eof(&mut self) {
        if let Err(e) = self.rest_is_empty() {
            panic!("expected end of input (a clean close), got {e}");
        }
    }

    /// The server closed the connection (EOF or reset) with nothing more to read.
    fn expect_closed(&mut self) {
        if let Err(e) = self.rest_is_empty() {
            assert!(tests::is_reset(&e), "expected a close, got {e}");
        }
    }

    /// Read to the end of input and check nothing more came; the read's error, if any.
    fn rest_is_empty(&mut self) -> std::io::Result<()> {
        let mut rest = Vec::new();
        self.reader.read_to_end(&mut rest)?;
        assert!(
            rest.is_empty(),
            "unexpected bytes: {:?}",
            String::from_utf8_lossy(&rest)
        );
        Ok(())
    }
}

fn bulk(s: &str) -> String {
    format!("${}\r\n{s}\r\n", s.len())
}

const NIL: &str = "$-1\r\n";
const OK: &str = "+OK\r\n";

// ----- commands -------------------------------------------------------------------------

fn strings_and_counters<S: TestServer>() {
    let mut server = start::<S>(RespHandler::new());
    let mut c = Resp::connect(server.local_addr());
    assert_eq!(c.call(&["PING"]), "+PONG\r\n");
    assert_eq!(c.call(&["ping", "hi"]), bulk("hi"));
    assert_eq!(c.call(&["ECHO", "hello"]), bulk("hello"));
    assert_eq!(c.call(&["GET", "k"]), NIL);
    assert_eq!(c.call(&["SET", "k", "v1"]), OK);
    assert_eq!(c.call(&["GET", "k"]), bulk("v1"));
    assert_eq!(c.call(&["GETSET", "k", "v2"]), bulk("v1"));
    assert_eq!(c.call(&["SET", "k", "v3", "GET"]), bulk("v2"));
    assert_eq!(c.call(&["SET", "k", "x", "NX"]), NIL);
    assert_eq!(c.call(&["SET", "new", "x", "XX"]), NIL);
    assert_eq!(c.call(&["SET", "new", "x", "NX"]), OK);
    assert_eq!(c.call(&["APPEND", "new", "yz"]), ":3\r\n");
    assert_eq!(c.call(&["STRLEN", "new"]), ":3\r\n");
    assert_eq!(c.call(&["STRLEN", "missing"]), ":0\r\n");
    assert_eq!(c.call(&["INCR", "n"]), ":1\r\n");
    assert_eq!(c.call(&["INCRBY", "n", "41"]), ":42\r\n");
    assert_eq!(c.call(&["DECR", "n"]), ":41\r\n");
    assert_eq!(c.call(&["DECRBY", "n", "-9"]), ":50\r\n");
    assert_eq!(
        c.call(&["INCR", "k"]),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(c.call(&["SET", "max", "9223372036854775807"]), OK);
    assert_eq!(
        c.call(&["INCR", "max"]),
        "-ERR increment or decrement would overflow\r\n"
    );
    assert_eq!(c.call(&["MSET", "a", "1", "b", "2"]), OK);
    assert_eq!(
        c.call(&["MGET", "a", "nope", "b"]),
        format!("*3\r\n{}{NIL}{}", bulk("1"), bulk("2"))
    );
    assert_eq!(c.call(&["EXISTS", "a", "b", "a", "nope"]), ":3\r\n");
    assert_eq!(c.call(&["DEL", "a", "nope"]), ":1\r\n");
    assert_eq!(c.call(&["DBSIZE"]), ":5\r\n");
    assert_eq!(c.call(&["SELECT", "0"]), OK);
    assert_eq!(
        c.call(&["SELECT", "1"]),
        "-ERR DB index is out of range\r\n"
    );
    assert_eq!(c.call(&["FLUSHDB"]), OK);
    assert_eq!(c.call(&["DBSIZE"]), ":0\r\n");
    assert_eq!(c.call(&["QUIT"]), OK);
    c.expect_closed();
    server.shutdown(tests::SHUTDOWN_DEADLINE).unwrap();
}

fn keys_match_globs<S: TestServer>() {
    let mut server = start::<S>(RespHandler::new());
    let mut c = Resp::connect(server.local_addr());
    for key in ["user:1", "user:2", "user:10", "order:1"] {
        assert_eq!(c.call(&["SET", key, "x"]), OK);
    }
    let mut sorted = |pattern: &str| {
        let reply = c.call(&["KEYS", pattern]);
        let mut keys: Vec<String> = reply
            .split("\r\n")
            .filter(|l| !l.is_empty() && !l.starts_with('*') && !l.starts_with('$'))
            .map(str::to_owned)
            .collect();
        keys.sort();
        keys
    };
    assert_eq!(sorted("user:?"), ["user:1", "user:2"]);
    assert_eq!(sorted("user:*"), ["user:1", "user:10", "user:2"]);
    assert_eq!(sorted("*:1"), ["order:1", "user:1"]);
    assert_eq!(sorted("user:[^1]"), ["user:2"]);
    assert_eq!(sorted("nothing*"), Vec::<String>::new());
    server.shutdown(tests::SHUTDOWN_DEADLINE).unwrap();
}

/// A key set with a short time to live is gone once it passes (polled, never slept on),
/// and TTL, PTTL, PERSIST and EXPIRE say what Redis says.
fn keys_expire<S: TestServer>() {
    let mut server = start::<S>(RespHandler::new());
    let mut c = Resp::connect(server.local_addr());
    assert_eq!(c.call(&["SET", "short", "v", "PX", "100"]), OK);
    assert_eq!(c.call(&["SET", "long", "v", "EX", "100"]), OK);
    assert_eq!(c.call(&["SET", "kept", "v"]), OK);
    assert_eq!(c.call(&["TTL", "kept"]), ":-1\r\n");
    assert_eq!(c.call(&["TTL", "missing"]), ":-2\r\n");
    let ttl = c.call(&["TTL", "long"]);
    assert!(ttl == ":100\r\n" || ttl == ":99\r\n", "{ttl:?}");
    assert!(wait_until(PATIENCE, || c.call(&["GET", "short"]) == NIL));
    assert_eq!(c.call(&["EXISTS", "short"]), ":0\r\n");
    assert_eq!(c.call(&["PERSIST", "long"]), ":1\r\n");
    assert_eq!(c.call(&["TTL", "long"]), ":-1\r\n");
    assert_eq!(c.call(&["PERSIST", "long"]), ":0\r\n");
    assert_eq!(c.call(&["EXPIRE", "long", "50"]), ":1\r\n");
    let pttl = c.call(&["PTTL", "long"]);
    let ms: i64 = pttl.trim_start_matches(':').trim_end().parse().unwrap();
    assert!((49_000..=50_000).contains(&ms), "{pttl:?}");
    assert_eq!(c.call(&["PEXPIRE", "long", "50"]), ":1\r\n");
    assert!(wait_until(PATIENCE, || c.call(&["GET", "long"]) == NIL));
    assert_eq!(c.call(&["EXPIRE", "missing", "5"]), ":0\r\n");
    assert_eq!(
        c.call(&["SET", "k", "v", "EX", "0"]),
        "-ERR invalid expire time in 'set' command\r\n"
    );
    assert_eq!(c.call(&["DBSIZE"]), ":1\r\n", "only `kept` is left");
    server.shutdown(tests::SHUTDOWN_DEADLINE).unwrap();
}

// ----- errors -----------------------------------------------------------------------------

/// Unknown commands and wrong arity get Redis's errors, and the connection goes on.
fn command_errors_keep_the_connection<S: TestServer>() {
    let mut server = start::<S>(RespHandler::new());
    let mut c = Resp::connect(server.local_addr());
    assert_eq!(
        c.call(&["GET"]),
        "-ERR wrong number of arguments for 'get' command\r\n"
    );
    assert_eq!(
        c.call(&["SET", "k"]),
        "-ERR wrong number of arguments for 'set' command\r\n"
    );
    assert_eq!(
        c.call(&["FOO", "a", "b"]),
        "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n"
    );
    assert_eq!(c.call(&["SET", "k", "v", "EX"]), "-ERR syntax error\r\n");
    assert_eq!(
        c.call(&["SET", "k", "v", "NX", "XX"]),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        c.call(&["SET", "k", "v", "EX", "ten"]),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(c.call(&["PING"]), "+PONG\r\n", "still usable");
    server.shutdown(tests::SHUTDOWN_DEADLINE).unwrap();
}

/// Malformed protocol gets `-ERR Protocol error: ...` and a close; other clients are not
/// disturbed.
fn protocol_errors_close_only_their_connection<S: TestServer>() {
    let mut server = start::<S>(RespHandler::new());
    let addr = server.local_addr();
    let mut bystander = Resp::connect(addr);
    assert_eq!(bystander.call(&["SET", "k", "v"]), OK);
    for (input, error) in [
        (
            &b"*x\r\n"[..],
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\n$x\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n:1\r\n",
            "-ERR Protocol error: expected '$', got ':'\r\n",
        ),
        (
            b"SET k \"unbalanced\r\n",
            "-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
    ] {
        let mut c = Resp::connect(addr);
        c.send(input);
        assert_eq!(c.reply(), error, "{:?}", String::from_utf8_lossy(input));
        c.expect_closed();
        assert_eq!(bystander.call(&["GET", "k"]), bulk("v"));
    }
    server.shutdown(tests::SHUTDOWN_DEADLINE).unwrap();
}

/// A bulk over the limit sent with its data, as clients send it, more than the server
/// reads at once: the error reply arrives and the close is clean (end of input, not a
/// reset that could destroy the reply), on `net` too, which never frames.
fn a_bulk_over_the_limit_with_its_data_closes_cleanly<S: TestServer>() {
    let mut server = start::<S>(RespHandler::new().max_bulk_bytes(1024));
    let mut c = Resp::connect(server.local_addr());
    let mut command = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$32768\r\n".to_vec();
    command.resize(command.len() + 32768, b'v');
    command.extend_from_slice(b"\r\n");
    c.send(&command);
    assert_eq!(c.reply(), "-ERR Protocol error: invalid bulk length\r\n");
    c.expect_eof();
    server.shutdown(tests::SHUTDOWN_DEADLINE).unwrap();
}

/// A whole command is bounded by `max_command_bytes` on both servers, however its bytes
/// come: a bulk header that takes it past the limit, or a line (inline command, count,
/// bulk header) with no end yet that grows past it, closes the connection without a
/// reply (as Redis does past `client-query-buffer-limit`) as soon as those bytes are
/// there: the client never has to send the rest, and the server never buffers it.
fn a_command_over_max_command_is_closed_before_it_is_buffered<S: TestServer>() {
    // The server would wait for the rest far longer than the client waits for the close.
    let mut server = start_tuned::<S>(RespHandler::new().max_command_bytes(4096), |p| {
        p.read_timeout(CLIENT_TIMEOUT * 6)
    });
    let addr = server.local_addr();
    let long_line = |prefix: &[u8]| {
        let mut bytes = prefix.to_vec();
        bytes.resize(5000, b'1');
        bytes
    };
    for input in [
        b"*2\r\n$4\r\nECHO\r\n$5000\r\n".to_vec(),
        long_line(b"ECHO "),
        long_line(b"*"),
        long_line(b"*2\r\n$4\r\nECHO\r\n$"),
    ] {
        let mut c = Resp::connect(addr);
        c.send(&input);
        c.expect_closed();
    }
    // Within the limit, the same commands are served.
    let mut c = Resp::connect(addr);
    let value = "v".repeat(4000);
    assert_eq!(c.call(&["ECHO", &value]), bulk(&value));
    server.shutdown(tests::SHUTDOWN_DEADLINE).unwrap();
}

/// A bulk longer than the configured maximum is refused before its bytes arrive.
fn a_bulk_over_the_limit_is_refused<S: TestServer>() {
    let mut server = start::<S>(RespHandler::new().max_bulk_bytes(1024));
    let mut c = Resp::connect(server.local_addr());
    let value = "v".repeat(1024);
    assert_eq!(c.call(&["SET", "fits", &value]), OK);
    assert_eq!(c.call(&["STRLEN", "fits"]), ":1024\r\n");
    c.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1025\r\n");
    assert_eq!(c.reply(), "-ERR Protocol error: invalid bulk length\r\n");
    c.expect_closed();
    server.shutdown(tests::SHUTDOWN_DEADLINE).unwrap();
}

/// What one small command could make the server allocate is bounded: `APPEND` stops at
/// the bulk limit (Redis's error), and an `MGET` naming one large key many times is
/// refused before its reply passes the connection's output limit (2 MiB by default: a
/// 64 KiB value named 1,000 times, a 9 KB request, would be a 62.5 MiB reply); the
/// connection stays usable.
fn small_commands_cannot_make_huge_values_or_replies<S: TestServer>() {
    let mut server = start::<S>(RespHandler::new().max_bulk_bytes(2 << 20));
    let mut c = Resp::connect(server.local_addr());
    let mib = "m".repeat(1 << 20);
    assert_eq!(c.call(&["SET", "big", &mib]), OK);
    assert_eq!(c.call(&["APPEND", "big", &mib]), ":2097152\r\n");
    assert_eq!(
        c.call(&["APPEND", "big", "x"]),
        "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"
    );
    assert_eq!(c.call(&["STRLEN", "big"]), ":2097152\r\n", "unchanged");
    // One value is not an amplification: GET sends it whatever its size.
    assert_eq!(c.call(&["GET", "big"]).len(), 2 * mib.len() + 12);
    let value = "v".repeat(64 << 10);
    assert_eq!(c.call(&["SET", "k64", &value]), OK);
    let mut mget = vec!["MGET"];
    mget.extend(std::iter::repeat_n("k64", 1000));
    assert_eq!(
        c.call(&mget),
        "-ERR reply would exceed the output limit (2097152 bytes)\r\n"
    );
    assert_eq!(c.call(&["PING"]), "+PONG\r\n");
    server.shutdown(tests::SHUTDOWN_DEADLINE).unwrap();
}

/// The bound on `MGET` and `KEYS` replies is the server's `max_output_buffer`: replies
/// within it are whole, larger ones get the error naming it, and the connection stays
/// usable.
fn reply_bound_follows_max_output_buffer<S: TestServer>() {
    let limit = 256 << 10;
    let mut server = start_tuned::<S>(RespHandler::new(), |p| p.max_output_buffer(limit));
    let mut c = Resp::connect(server.local_addr());
    let too_large = format!("-ERR reply would exceed the output limit ({limit} bytes)\r\n");
    let value = "v".repeat(64 << 10);
    assert_eq!(c.call(&["SET", "k", &value]), OK);
    // Three values (192 KiB and change) fit 256 KiB, four do not.
    assert_eq!(
        c.call(&["MGET", "k", "k", "k"]),
        format!("*3\r\n{}", bulk(&value).repeat(3))
    );
    assert_eq!(c.call(&["MGET", "k", "k", "k", "k"]), too_large);
    // 1,000 keys of 300 bytes: a 300 KB `KEYS *` reply from a 14-byte request.
    let mut mset = String::new();
    let mut n = 0;
    for i in 0..1000 {
        let key = format!("key:{i:04}:{}", "x".repeat(291));
        mset.push_str(&format!(
            "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$1\r\n1\r\n",
            key.len()
        ));
        n += 1;
    }
    c.send(mset.as_bytes());
    for _ in 0..n {
        assert_eq!(c.reply(), OK);
    }
    assert_eq!(c.call(&["KEYS", "*"]), too_large);
    let reply = c.call(&["KEYS", "key:00*"]); // 100 keys, about 30 KB
    assert!(reply.starts_with("*100\r\n"), "{}", &reply[..20]);
    assert_eq!(c.call(&["PING"]), "+PONG\r\n");
    server.shutdown(tests::SHUTDOWN_DEADLINE).unwrap();
}

// ----- pipelining, inline, slow clients ---------------------------------------------------

/// A thousand commands in one write are answered in order.
fn pipelined_commands_are_answered_in_order<S: TestServer>() {
    let mut server = start::<S>(RespHandler::new());
    let mut c = Resp::connect(server.local_addr());
    let mut batch = String::new();
    for i in 0..1000 {
        let value = i.to_string();
        batch.push_str(&format!(
            "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${}\r\n{value}\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
            value.len()
        ));
    }
    c.send(batch.as_bytes());
    for i in 0..1000 {
        assert_eq!(c.reply(), OK);
        assert_eq!(c.reply(), bulk(&i.to_string()));
    }
    server.shutdown(tests::SHUTDOWN_DEADLINE).unwrap();
}

/// Inline commands (what `telnet` users type), with quotes, work like multibulk ones.
fn inline_commands<S: TestServer>() {
    let mut server = start::<S>(RespHandler::new());
    let mut c = Resp::connect(server.local_addr());
    c.send(b"PING\r\n");
    assert_eq!(c.reply(), "+PONG\r\n");
    c.send(b"set greeting \"hello world\"\r\nget greeting\r\n");
    assert_eq!(c.reply(), OK);
    assert_eq!(c.reply(), bulk("hello world"));
    c.send(b"\r\n");
    c.send(b"EXISTS greeting\n");
    assert_eq!(c.reply(), ":1\r\n");
    server.shutdown(tests::SHUTDOWN_DEADLINE).unwrap();
}

/// A command trickled one byte at a time is answered once complete, and meanwhile other
/// clients are answered (on evnet the partial command waits in the loop, not on a worker:
/// one worker here).
fn a_trickled_command_does_not_hold_others<S: TestServer>() {
    let params = ServerParams::builder()
        .read_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut server: S = tests::start_with(RespHandler::new(), params, 1, 1);
    let addr = server.local_addr();
    let mut slow = Resp::connect(addr);
    let mut other = Resp::connect(addr);
    let command = b"*3\r\n$3\r\nSET\r\n$4\r\nslow\r\n$5\r\nvalue\r\n";
    for (i, byte) in command.iter().enumerate() {
        slow.send(&[*byte]);
        if i % 8 == 0 {
            assert_eq!(other.call(&["PING"]), "+PONG\r\n");
        }
    }
    assert_eq!(slow.reply(), OK);
    assert_eq!(other.call(&["GET", "slow"]), bulk("value"));
    server.shutdown(tests::SHUTDOWN_DEADLINE).unwrap();
}

tests::server_tests!(
    strings_and_counters,
    keys_match_globs,
    keys_expire,
    command_errors_keep_the_connection,
    protocol_errors_close_only_their_connection,
    a_bulk_over_the_limit_is_refused,
    a_bulk_over_the_limit_with_its_data_closes_cleanly,
    a_command_over_max_command_is_closed_before_it_is_buffered,
    small_commands_cannot_make_huge_values_or_replies,
    reply_bound_follows_max_output_buffer,
    pipelined_commands_are_answered_in_order,
    inline_commands,
    a_trickled_command_does_not_hold_others,
);
