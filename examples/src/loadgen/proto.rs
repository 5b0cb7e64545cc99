//! The requests each protocol sends and the responses it expects.

use std::fmt;
use std::io::Write;

use super::check::{self, Check};

/// RESP keys are `key:<connection>:<n % RESP_KEY_SLOTS>`, so the server's keyspace stays
/// bounded however long the run; the value still carries the full sequence number.
pub const RESP_KEY_SLOTS: u64 = 64;

/// The protocol a load run speaks.
///
/// Each connection numbers its requests `0, 1, 2, …` (its *sequence*); the request and
/// the response expected are functions of the connection's number and the sequence, so
/// an answer to another request (out of order, or another connection's) is a mismatch.
///
/// ```
/// use examples::loadgen::Proto;
/// let mut request = Vec::new();
/// Proto::Echo.request(3, 17, &mut request);
/// assert_eq!(request, b"echo 3 17\n");
/// let mut expected = Vec::new();
/// Proto::Resp.expected(3, 1, &mut expected);
/// assert_eq!(expected, b"$9\r\nvalue:3:0\r\n");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[non_exhaustive]
pub enum Proto {
    /// `GET / HTTP/1.1` with `Host: x` (the target is [`Config::path`](super::Config::path)
    /// in a run); expects status 200 and the body `Hello, World!`.
    // `--help` shows clap's `help`, not this rustdoc, which has a link.
    #[value(
        help = "`GET / HTTP/1.1` (or the --path target) with `Host: x`; expects status \
                    200 and the body `Hello, World!`"
    )]
    Http,
    /// Alternately `SET key:<c>:<n> value:<c>:<n>` (expects `+OK`) and `GET` of the same
    /// key (expects that value).
    Resp,
    /// A line `echo <c> <seq>`; expects the same line back.
    Echo,
}

impl Proto {
    /// The protocol's name: `http`, `resp` or `echo`.
    ///
    /// ```
    /// assert_eq!(examples::loadgen::Proto::Resp.name(), "resp");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Proto::Http => "http",
            Proto::Resp => "resp",
            Proto::Echo => "echo",
        }
    }

    /// Append request `seq` of connection `conn` to `out` (for HTTP, `GET /`).
    pub fn request(self, conn: u64, seq: u64, out: &mut Vec<u8>) {
        // Writing to a `Vec` cannot fail.
        let _ = match self {
            Proto::Http => out.write_all(HTTP_ROOT_REQUEST),
            Proto::Resp => {
                let n = seq / 2;
                let key = Key(conn, n % RESP_KEY_SLOTS);
                if seq % 2 == 0 {
                    let value = Value(conn, n);
                    write!(
                        out,
                        "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n{value}\r\n",
                        key.len(),
                        value.len()
                    )
                } else {
                    write!(out, "*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len())
                }
            }
            Proto::Echo => writeln!(out, "echo {conn} {seq}"),
        };
    }

    /// Set `out` to the exact response expected to request `seq` of connection `conn`
    /// (empty for HTTP, whose response is checked by status and body, not byte for byte).
    pub fn expected(self, conn: u64, seq: u64, out: &mut Vec<u8>) {
        out.clear();
        let _ = match self {
            Proto::Http => Ok(()),
            Proto::Resp if seq % 2 == 0 => out.write_all(b"+OK\r\n"),
            Proto::Resp => {
                let value = Value(conn, seq / 2);
                write!(out, "${}\r\n{value}\r\n", value.len())
            }
            Proto::Echo => writeln!(out, "echo {conn} {seq}"),
        };
    }

    /// Check the response at the front of `buf` against `expected` (from
    /// [`expected`](Proto::expected)).
    pub fn check(self, buf: &[u8], expected: &[u8]) -> Check {
        match self {
            Proto::Http => check::check_http(buf),
            Proto::Resp => check::check_resp(buf, expected),
            Proto::Echo => check::check_echo(buf, expected),
        }
    }

    /// The sequence to continue with on a new connection after `seq`: the same, except
    /// that RESP starts again at a `SET` (the `GET` of a `SET` whose fate is unknown
    /// could not be checked).
    pub(crate) fn resume_at(self, seq: u64) -> u64 {
        match self {
            Proto::Resp => seq.next_multiple_of(2),
            _ => seq,
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The HTTP request of a run with the default path.
const HTTP_ROOT_REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

/// The requests one run sends: [`Proto::request`], except that an HTTP request's target
/// is the run's path, its bytes formatted once here so that a request costs a copy.
#[derive(Debug, Clone)]
pub(crate) struct Requests {
    proto: Proto,
    /// The whole HTTP request (empty for other protocols).
    http: Box<[u8]>,
}

impl Requests {
    /// The requests of `proto`, HTTP ones for `path` (a valid target: see
    /// [`Config::validate`](super::Config::validate)).
    pub(crate) fn new(proto: Proto, path: &str) -> Requests {
        let http = match proto {
            Proto::Http => format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes(),
            _ => Vec::new(),
        };
        Requests {
            proto,
            http: http.into_boxed_slice(),
        }
    }

    /// Append request `seq` of connection `conn` to `out`.
    pub(crate) fn write(&self, conn: u64, seq: u64, out: &mut Vec<u8>) {
        match self.proto {
            Proto::Http => out.extend_from_slice(&self.http),
            proto => proto.request(conn, seq, out),
        }
    }
}

/// A RESP key, formatted without allocating.
struct Key(u64, u64);

impl Key {
    fn len(&self) -> usize {
        "key::".len() + digits(self.0) + digits(self.1)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key:{}:{}", self.0, self.1)
    }
}

/// A RESP value, formatted without allocating.
struct Value(u64, u64);

impl Value {
    fn len(&self) -> usize {
        "value::".len() + digits(self.0) + digits(self.1)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "value:{}:{}", self.0, self.1)
    }
}

/// The number of decimal digits of `n`.
fn digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp_requests_alternate_set_and_get() {
        let mut out = Vec::new();
        Proto::Resp.request(12, 0, &mut out);
        Proto::Resp.request(12, 1, &mut out);
        Proto::Resp.request(12, 130, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "*3\r\n$3\r\nSET\r\n$8\r\nkey:12:0\r\n$10\r\nvalue:12:0\r\n\
             *2\r\n$3\r\nGET\r\n$8\r\nkey:12:0\r\n\
             *3\r\n$3\r\nSET\r\n$8\r\nkey:12:1\r\n$11\r\nvalue:12:65\r\n"
        );
        let mut expected = Vec::new();
        Proto::Resp.expected(12, 0, &mut expected);
        assert_eq!(expected, b"+OK\r\n");
        Proto::Resp.expected(12, 131, &mut expected);
        assert_eq!(expected, b"$11\r\nvalue:12:65\r\n");
        assert_eq!(Proto::Resp.resume_at(131), 132);
        assert_eq!(Proto::Resp.resume_at(130), 130);
        assert_eq!(Proto::Echo.resume_at(7), 7);
    }

    #[test]
    fn digit_counts() {
        for n in [0, 9, 10, 99, 100, u64::MAX] {
            assert_eq!(digits(n), n.to_string().len());
        }
    }

    #[test]
    fn http_and_echo_requests() {
        let mut out = Vec::new();
        Proto::Http.request(0, 5, &mut out);
        assert_eq!(out, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut expected = vec![1];
        Proto::Http.expected(0, 5, &mut expected);
        assert!(expected.is_empty());
        Proto::Echo.expected(4, 9, &mut expected);
        assert_eq!(expected, b"echo 4 9\n");
    }

    #[test]
    fn a_run_s_requests_carry_its_path() {
        let mut out = Vec::new();
        Requests::new(Proto::Http, "/work?ms=1").write(0, 5, &mut out);
        assert_eq!(out, b"GET /work?ms=1 HTTP/1.1\r\nHost: x\r\n\r\n");
        out.clear();
        Requests::new(Proto::Http, "/").write(0, 5, &mut out);
        let mut direct = Vec::new();
        Proto::Http.request(0, 5, &mut direct);
        assert_eq!(out, direct);
        for proto in [Proto::Resp, Proto::Echo] {
            let (mut via, mut direct) = (Vec::new(), Vec::new());
            Requests::new(proto, "/").write(3, 7, &mut via);
            proto.request(3, 7, &mut direct);
            assert_eq!(via, direct, "{proto}");
        }
    }
}
