//! RESP2 on the wire: the command parser that framing and serving share, and the reply
//! encoders.
//!
//! The parser follows redis-server 7 (`processMultibulkBuffer`, `processInlineBuffer` and
//! `sdssplitargs` in its `networking.c` and `sds.c`) byte for byte, quirks included:
//!
//! - a request starting with `*` is a multibulk command (`*N\r\n` then N `$len\r\n…\r\n`);
//!   anything else is an inline command, one line split like a shell line (`"…"` with
//!   `\n \r \t \b \a \\ \" \xHH` escapes, `'…'` with `\'`);
//! - a header line ends at its `\r`, and the byte after it is skipped unchecked; so are the
//!   two bytes after each bulk's data (Redis does not check that they are `\r\n`);
//! - a line is read the way C's `strchr` reads it: a NUL byte before the line's end hides
//!   the end, so the command waits for more bytes until it is too big;
//! - `*0`, a negative count and an empty inline line are complete commands with no
//!   arguments, which get no reply.
//!
//! Parsing resumes where it stopped: the parser keeps how far the command got (the
//! arguments found, the next element's offset, a bulk length already read, how far the
//! current line was searched), so each call only looks at bytes it has not seen.

/// Arguments kept inline in a session before the list spills to the heap.
const INLINE_ARGS: usize = 16;

/// The limits that bound a command, and so the memory one connection can make the server
/// hold. The defaults are Redis's: `proto-max-bulk-len` (512 MiB), the 64 KiB inline
/// limit, a 1 MiB element count, and `client-query-buffer-limit` (1 GiB) for a whole
/// command.
///
/// ```
/// let limits = examples::resp::Limits::default();
/// assert_eq!(limits.max_bulk, 512 << 20);
/// assert_eq!(limits.max_inline, 64 << 10);
/// assert_eq!(limits.max_multibulk, 1 << 20);
/// assert_eq!(limits.max_command, 1 << 30);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Most bytes of one bulk argument (`$len`); beyond: `invalid bulk length`.
    pub max_bulk: usize,
    /// Most elements of a multibulk command (`*N`); beyond: `invalid multibulk length`.
    pub max_multibulk: usize,
    /// Most bytes of an inline command line, and of a multibulk header line, without
    /// their end; beyond: `too big inline request` (or `too big mbulk count string`, `too
    /// big bulk count string`).
    pub max_inline: usize,
    /// Most bytes of one whole command; beyond, the connection is closed without a reply
    /// (as Redis does when a client passes `client-query-buffer-limit`). At most
    /// `u32::MAX`.
    pub max_command: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk: 512 << 20,
            max_multibulk: 1 << 20,
            max_inline: 64 << 10,
            max_command: 1 << 30,
        }
    }
}

/// What Redis reads per call (`PROTO_IOBUF_LEN`): the longest inline line it can take is
/// the inline limit plus this.
const INLINE_READ: usize = 16 * 1024;

/// Why bytes cannot be a command. Each but [`TooLong`](ProtocolError::TooLong) is answered
/// with Redis's `-ERR Protocol error: …`; then the connection closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProtocolError {
    /// An inline line longer than the limit.
    TooBigInline,
    /// An inline line with a quote left open, or a closing quote not followed by a space.
    UnbalancedQuotes,
    /// A multibulk count line longer than the limit.
    TooBigCount,
    /// The count after `*` is not a number, or over the limit.
    InvalidMultibulkLength,
    /// A bulk length line longer than the limit.
    TooBigBulkCount,
    /// An element does not start with `$`; the byte it starts with.
    ExpectedDollar(u8),
    /// The length after `$` is not a number, negative, or over the limit.
    InvalidBulkLength,
    /// The command is longer than [`Limits::max_command`]: closed without a reply.
    TooLong,
}

impl ProtocolError {
    /// Append the error reply (nothing for [`TooLong`](ProtocolError::TooLong)).
    pub(crate) fn reply(self, out: &mut Vec<u8>) {
        let text: &[u8] = match self {
            ProtocolError::TooBigInline => b"too big inline request",
            ProtocolError::UnbalancedQuotes => b"unbalanced quotes in request",
            ProtocolError::TooBigCount => b"too big mbulk count string",
            ProtocolError::InvalidMultibulkLength => b"invalid multibulk length",
            ProtocolError::TooBigBulkCount => b"too big bulk count string",
            ProtocolError::ExpectedDollar(got) => {
                return error_parts(out, &[b"Protocol error: expected '$', got '", &[got], b"'"]);
            }
            ProtocolError::InvalidBulkLength => b"invalid bulk length",
            ProtocolError::TooLong => return,
        };
        error_parts(out, &[b"Protocol error: ", text]);
    }
}

/// What the bytes seen so far hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// A whole command of this many bytes.
    Complete(usize),
    /// Not a whole command yet.
    Partial,
    /// Not a command.
    Invalid(ProtocolError),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum State {
    /// Nothing seen.
    #[default]
    Start,
    /// A multibulk command: its count line has no end in its first `scanned` bytes.
    Count { scanned: u32 },
    /// A multibulk command with `left` elements to go, the next at `pos`: its length is
    /// `bulk` if its header was read, else the header has no end before `scanned`.
    Multi {
        left: u32,
        pos: u32,
        bulk: Option<u32>,
        scanned: u32,
    },
    /// An inline command: no line end in its first `scanned` bytes.
    Inline { scanned: u32 },
    /// A whole command of `len` bytes: its arguments are in the parser.
    Done { len: u32 },
    /// Not a command.
    Failed(ProtocolError),
}

/// The offsets of a command's arguments in the buffer: the first [`INLINE_ARGS`] in the
/// parser itself, the rest in a `Vec`.
#[derive(Debug, Default)]
struct ArgList {
    inline: [(u32, u32); INLINE_ARGS],
    len: usize,
    spill: Vec<(u32, u32)>,
}

impl ArgList {
    fn push(&mut self, start: usize, end: usize) {
        let range = (offset(start), offset(end));
        if self.len < INLINE_ARGS {
            self.inline[self.len] = range;
        } else {
            self.spill.push(range);
        }
        self.len += 1;
    }

    fn get(&self, i: usize) -> (usize, usize) {
        let (start, end) = if i < INLINE_ARGS {
            self.inline[i]
        } else {
            self.spill[i - INLINE_ARGS]
        };
        (start as usize, end as usize)
    }

    fn clear(&mut self) {
        self.len = 0;
        if self.spill.capacity() > 4 * INLINE_ARGS {
            // Do not keep a huge command's list for the connection's lifetime.
            self.spill = Vec::new();
        } else {
            self.spill.clear();
        }
    }
}

/// An offset the limits keep below `u32::MAX` (`max_command` is at most that).
fn offset(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The incremental command parser (see the [module docs](self)).
#[derive(Debug, Default)]
pub(crate) struct Parser {
    state: State,
    args: ArgList,
    /// The arguments of an inline command that needed unquoting (then `args` is unused).
    unquoted: Option<Vec<Vec<u8>>>,
}

impl Parser {
    /// Parse on from where the last call stopped. `buf` starts with the command and holds
    /// every byte an earlier call saw since the last [`reset`](Parser::reset).
    ///
    /// A command still partial is at least as long as `buf` (its end is not there yet), so
    /// once `buf` holds more than [`Limits::max_command`] bytes of one it is
    /// [`TooLong`](ProtocolError::TooLong), whatever part of it is being read: a line
    /// with no end yet (inline, count or bulk header, otherwise bounded only by
    /// `max_inline`) cannot make a connection buffer more than `max_command` bytes either.
    pub(crate) fn advance(&mut self, buf: &[u8], limits: &Limits) -> Status {
        match self.step(buf, limits) {
            Status::Partial if buf.len() > limits.max_command => self.fail(ProtocolError::TooLong),
            status => status,
        }
    }

    fn step(&mut self, buf: &[u8], limits: &Limits) -> Status {
        loop {
            match self.state {
                State::Start => {
                    let Some(&first) = buf.first() else {
                        return Status::Partial;
                    };
                    self.state = if first == b'*' {
                        State::Count { scanned: 1 }
                    } else {
                        State::Inline { scanned: 0 }
                    };
                }
                State::Count { scanned } => return self.count(buf, scanned as usize, limits),
                State::Multi {
                    left,
                    pos,
                    bulk,
                    scanned,
                } => {
                    let pos = pos as usize;
                    return self.elements(buf, left, pos, bulk, scanned as usize, limits);
                }
                State::Inline { scanned } => return self.inline(buf, scanned as usize, limits),
                State::Done { len } => return Status::Complete(len as usize),
                State::Failed(e) => return Status::Invalid(e),
            }
        }
    }

    /// Forget the command, ready for the next one.
    pub(crate) fn reset(&mut self) {
        self.state = State::Start;
        self.args.clear();
        self.unquoted = None;
    }

    /// The arguments of the complete command at the start of `buf` (empty unless
    /// [`advance`](Parser::advance) said `Complete`).
    pub(crate) fn argv<'a>(&'a self, buf: &'a [u8]) -> Argv<'a> {
        if !matches!(self.state, State::Done { .. }) {
            return Argv::slices(&[]);
        }
        match &self.unquoted {
            Some(args) => Argv {
                src: Src::Owned(args),
            },
            None => Argv {
                src: Src::Ranges {
                    buf,
                    list: &self.args,
                },
            },
        }
    }

    fn fail(&mut self, e: ProtocolError) -> Status {
        self.state = State::Failed(e);
        Status::Invalid(e)
    }

    fn done(&mut self, len: usize, limits: &Limits) -> Status {
        if len > limits.max_command {
            return self.fail(ProtocolError::TooLong);
        }
        self.state = State::Done { len: offset(len) };
        Status::Complete(len)
    }

    /// The `*N\r\n` line.
    fn count(&mut self, buf: &[u8], scanned: usize, limits: &Limits) -> Status {
        let cr = match line_end(buf, scanned, b'\r') {
            Ok(cr) if cr + 2 <= buf.len() => cr,
            Ok(cr) => {
                self.state = State::Count {
                    scanned: offset(cr),
                };
                return Status::Partial;
            }
            Err(_) if buf.len() > limits.max_inline => {
                return self.fail(ProtocolError::TooBigCount)
            }
            Err(resume) => {
                self.state = State::Count {
                    scanned: offset(resume),
                };
                return Status::Partial;
            }
        };
        let count = match string2ll(&buf[1..cr]) {
            Some(n) if n <= i64::try_from(limits.max_multibulk).unwrap_or(i64::MAX) => n,
            _ => return self.fail(ProtocolError::InvalidMultibulkLength),
        };
        let pos = cr + 2;
        if count <= 0 {
            return self.done(pos, limits);
        }
        let left = u32::try_from(count).unwrap_or(u32::MAX);
        self.elements(buf, left, pos, None, pos, limits)
    }

    /// The `$len\r\n…\r\n` elements, from the one at `pos`.
    fn elements(
        &mut self,
        buf: &[u8],
        mut left: u32,
        mut pos: usize,
        mut bulk: Option<u32>,
        mut scanned: usize,
        limits: &Limits,
    ) -> Status {
        while left > 0 {
            let len = match bulk {
                Some(len) => len as usize,
                None => {
                    let cr = match line_end(buf, scanned, b'\r') {
                        Ok(cr) if cr + 2 <= buf.len() => cr,
                        Ok(cr) => {
                            scanned = cr;
                            break;
                        }
                        Err(_) if buf.len() - pos > limits.max_inline => {
                            return self.fail(ProtocolError::TooBigBulkCount)
                        }
                        Err(resume) => {
                            scanned = resume;
                            break;
                        }
                    };
                    if buf[pos] != b'$' {
                        return self.fail(ProtocolError::ExpectedDollar(buf[pos]));
                    }
                    let len = match string2ll(&buf[pos + 1..cr]).map(usize::try_from) {
                        Some(Ok(len)) if len <= limits.max_bulk => len,
                        _ => return self.fail(ProtocolError::InvalidBulkLength),
                    };
                    pos = cr + 2;
                    len
                }
            };
            let end = pos.saturating_add(len).saturating_add(2);
            if end > limits.max_command {
                return self.fail(ProtocolError::TooLong);
            }
            if buf.len() < end {
                bulk = Some(offset(len));
                scanned = pos;
                break;
            }
            self.args.push(pos, pos + len);
            pos = end;
            left -= 1;
            bulk = None;
            scanned = pos;
        }
        if left == 0 {
            return self.done(pos, limits);
        }
        self.state = State::Multi {
            left,
            pos: offset(pos),
            bulk,
            scanned: offset(scanned),
        };
        Status::Partial
    }

    /// An inline command line.
    fn inline(&mut self, buf: &[u8], scanned: usize, limits: &Limits) -> Status {
        let newline = match line_end(buf, scanned, b'\n') {
            Ok(newline) => newline,
            Err(_) if buf.len() > limits.max_inline => {
                return self.fail(ProtocolError::TooBigInline)
            }
            Err(resume) => {
                self.state = State::Inline {
                    scanned: offset(resume),
                };
                return Status::Partial;
            }
        };
        if newline + 1 > limits.max_command {
            return self.fail(ProtocolError::TooLong);
        }
        if newline > limits.max_inline.saturating_add(INLINE_READ) {
            // A long line whose end arrived in the same read: Redis reads 16 KiB at a time
            // and refuses a line once it holds more than the limit without its end, so it
            // never takes one longer than the limit plus one read. Neither do we.
            return self.fail(ProtocolError::TooBigInline);
        }
        let end = match newline.checked_sub(1) {
            Some(cr) if buf[cr] == b'\r' => cr,
            _ => newline,
        };
        let line = &buf[..end];
        if line.iter().any(|&b| b == b'"' || b == b'\'') {
            match split_quoted(line) {
                Some(args) => self.unquoted = Some(args),
                None => return self.fail(ProtocolError::UnbalancedQuotes),
            }
        } else {
            split_plain(line, &mut self.args);
        }
        self.done(newline + 1, limits)
    }
}

/// Where `byte` first is in `buf` from `from`, as C's `strchr` finds it: `Err` when it is
/// not there, with where to resume the search (the NUL byte that ends a C string, which
/// hides any later `byte`, or the end of `buf`).
fn line_end(buf: &[u8], from: usize, byte: u8) -> Result<usize, usize> {
    let from = from.min(buf.len());
    match buf[from..].iter().position(|&b| b == byte || b == 0) {
        Some(i) if buf[from + i] == byte => Ok(from + i),
        Some(i) => Err(from + i),
        None => Err(buf.len()),
    }
}

/// C's `isspace` in the "C" locale.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The bytes that end an unquoted inline argument.
fn ends_arg(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
}

/// Split a line without quotes: arguments are runs of bytes between blanks.
fn split_plain(line: &[u8], args: &mut ArgList) {
    let mut i = 0;
    loop {
        while i < line.len() && is_space(line[i]) {
            i += 1;
        }
        if i == line.len() {
            return;
        }
        let start = i;
        while i < line.len() && !ends_arg(line[i]) {
            i += 1;
        }
        args.push(start, i);
        // Skip the byte that ended the argument, as `sdssplitargs` does.
        i = (i + 1).min(line.len());
    }
}

/// Split a line as Redis's `sdssplitargs` does; `None` for unbalanced quotes.
pub(crate) fn split_quoted(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    // C string semantics: position `len` reads as NUL.
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut args = Vec::new();
    let mut p = 0;
    loop {
        while at(p) != 0 && is_space(at(p)) {
            p += 1;
        }
        if at(p) == 0 {
            return Some(args);
        }
        let mut current = Vec::new();
        let (mut in_double, mut in_single, mut done) = (false, false, false);
        while !done {
            let c = at(p);
            if in_double {
                if c == b'\\' && at(p + 1) == b'x' && is_hex(at(p + 2)) && is_hex(at(p + 3)) {
                    current.push(hex(at(p + 2)) * 16 + hex(at(p + 3)));
                    p += 3;
                } else if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    current.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    // The closing quote must be followed by a space or nothing at all.
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    current.push(c);
                }
            } else if in_single {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    current.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    current.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' => in_double = true,
                    b'\'' => in_single = true,
                    _ => current.push(c),
                }
            }
            if at(p) != 0 {
                p += 1;
            }
        }
        args.push(current);
    }
}

fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

fn hex(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

/// Redis's `string2ll`: an optional `-`, then digits without a leading zero (or a lone
/// `0`), fitting an `i64`, in fewer than 21 bytes. No `+`, no spaces, no `-0`.
pub(crate) fn string2ll(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() >= 21 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        if v > i64::MIN.unsigned_abs() {
            return None;
        }
        Some(0i64.wrapping_sub_unsigned(v))
    } else {
        i64::try_from(v).ok()
    }
}

/// The arguments of a command: slices of the connection's buffer (no copy), or owned.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Argv<'a> {
    src: Src<'a>,
}

#[derive(Debug, Clone, Copy)]
enum Src<'a> {
    Ranges { buf: &'a [u8], list: &'a ArgList },
    Owned(&'a [Vec<u8>]),
    Slices(&'a [&'a [u8]]),
}

impl<'a> Argv<'a> {
    /// Arguments given as slices (tests, and commands built in place).
    pub(crate) fn slices(args: &'a [&'a [u8]]) -> Argv<'a> {
        Argv {
            src: Src::Slices(args),
        }
    }

    /// How many arguments (the command name included).
    pub(crate) fn len(&self) -> usize {
        match self.src {
            Src::Ranges { list, .. } => list.len,
            Src::Owned(args) => args.len(),
            Src::Slices(args) => args.len(),
        }
    }

    /// Argument `i` (0 is the command name). Panics when out of range, as indexing does.
    pub(crate) fn get(&self, i: usize) -> &'a [u8] {
        match self.src {
            Src::Ranges { buf, list } => {
                let (start, end) = list.get(i);
                &buf[start..end]
            }
            Src::Owned(args) => &args[i],
            Src::Slices(args) => args[i],
        }
    }

    /// The arguments from `from` on.
    pub(crate) fn iter_from(&self, from: usize) -> impl Iterator<Item = &'a [u8]> + '_ {
        (from..self.len()).map(move |i| self.get(i))
    }
}

// ----- replies -----

/// `+OK`.
pub(crate) fn ok(out: &mut Vec<u8>) {
    out.extend_from_slice(b"+OK\r\n");
}

/// A simple string: `+text`.
pub(crate) fn simple(out: &mut Vec<u8>, text: &[u8]) {
    out.push(b'+');
    out.extend_from_slice(text);
    out.extend_from_slice(b"\r\n");
}

/// An error: `-ERR text`, or `-CODE text` when `text` starts with `-`. Line ends in the
/// text become spaces, as in Redis's `addReplyErrorFormat`.
pub(crate) fn error(out: &mut Vec<u8>, text: &[u8]) {
    error_parts(out, &[text]);
}

/// A command as a client sends it: a RESP array of bulk strings.
///
/// ```
/// let set = examples::resp::command(&[b"SET", b"k", b"v"]);
/// assert_eq!(set, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
/// ```
pub fn command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// An error made of several pieces (see [`error`]).
pub(crate) fn error_parts(out: &mut Vec<u8>, parts: &[&[u8]]) {
    let code_given = parts
        .iter()
        .find(|p| !p.is_empty())
        .is_some_and(|p| p[0] == b'-');
    if !code_given {
        out.extend_from_slice(b"-ERR ");
    }
    for part in parts {
        out.extend(
            part.iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
    }
    out.extend_from_slice(b"\r\n");
}

/// An integer: `:n`.
pub(crate) fn int(out: &mut Vec<u8>, n: i64) {
    out.push(b':');
    decimal(out, n);
    out.extend_from_slice(b"\r\n");
}

/// A bulk string: `$len` and the bytes.
pub(crate) fn bulk(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'$');
    decimal(out, bytes.len() as i64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

/// The null bulk string: `$-1`.
pub(crate) fn null(out: &mut Vec<u8>) {
    out.extend_from_slice(b"$-1\r\n");
}

/// An array header: `*n`, followed by `n` replies.
pub(crate) fn array(out: &mut Vec<u8>, n: usize) {
    out.push(b'*');
    decimal(out, i64::try_from(n).unwrap_or(i64::MAX));
    out.extend_from_slice(b"\r\n");
}

/// `n` in decimal, without allocating.
pub(crate) fn decimal(out: &mut Vec<u8>, n: i64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(buf: &[u8]) -> (Status, Vec<Vec<u8>>) {
        parse_with(buf, &Limits::default())
    }

    fn parse_with(buf: &[u8], limits: &Limits) -> (Status, Vec<Vec<u8>>) {
        let mut parser = Parser::default();
        let status = parser.advance(buf, limits);
        (status, collect(&parser, buf))
    }

    fn collect(parser: &Parser, buf: &[u8]) -> Vec<Vec<u8>> {
        let argv = parser.argv(buf);
        argv.iter_from(0).map(<[u8]>::to_vec).collect()
    }

    fn args(list: &[&str]) -> Vec<Vec<u8>> {
        list.iter().map(|a| a.as_bytes().to_vec()).collect()
    }

    /// Feed `buf` in pieces of `step` bytes to one parser: the same answer as at once.
    fn parse_in_steps(buf: &[u8], step: usize) -> (Status, Vec<Vec<u8>>) {
        let mut parser = Parser::default();
        let mut end = 0;
        loop {
            end = (end + step).min(buf.len());
            let status = parser.advance(&buf[..end], &Limits::default());
            if status != Status::Partial || end == buf.len() {
                return (status, collect(&parser, &buf[..end]));
            }
        }
    }

    #[test]
    fn multibulk_whole() {
        let buf = b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$5\r\nhello\r\n";
        assert_eq!(
            parse(buf),
            (Status::Complete(buf.len()), args(&["SET", "a", "hello"]))
        );
        let buf = b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n";
        assert_eq!(
            parse(buf),
            (Status::Complete(buf.len()), args(&["ECHO", ""]))
        );
    }

    #[test]
    fn pieces_agree_with_whole() {
        let inputs: [&[u8]; 12] = [
            b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$5\r\nhello\r\n*1\r\n$4\r\nPING\r\n",
            b"*1\r\n$4\r\nPINGxx",
            b"PING\r\nPING\r\n",
            b"  ECHO  \"a\\x41\\n\" 'b\\'c'\r\n",
            b"*0\r\n",
            b"*-1\r\n",
            b"\r\n",
            b"*1\r\nx\r\n",
            b"*1\r\n$-1\r\n",
            b"ECHO \"a\r\n",
            b"*2\r\n$4\r\nECHO\r\n$3\r\na\r\nb\r\n",
            b"*1\r\n$0\r\n\r\n",
        ];
        for input in inputs {
            let whole = parse(input);
            for step in [1, 2, 3, 5, 7] {
                assert_eq!(
                    parse_in_steps(input, step),
                    whole,
                    "{:?} in steps of {step}",
                    String::from_utf8_lossy(input)
                );
            }
        }
    }

    #[test]
    fn byte_by_byte_is_partial_until_the_end() {
        let buf = b"*2\r\n$4\r\nECHO\r\n$11\r\nhello world\r\n";
        let mut parser = Parser::default();
        for end in 1..buf.len() {
            assert_eq!(
                parser.advance(&buf[..end], &Limits::default()),
                Status::Partial,
                "{end}"
            );
        }
        assert_eq!(
            parser.advance(buf, &Limits::default()),
            Status::Complete(buf.len())
        );
        assert_eq!(collect(&parser, buf), args(&["ECHO", "hello world"]));
    }

    #[test]
    fn pipelined_commands_are_taken_one_at_a_time() {
        let buf = b"*1\r\n$4\r\nPING\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
        let mut parser = Parser::default();
        let mut rest: &[u8] = buf;
        let mut seen = Vec::new();
        while !rest.is_empty() {
            let Status::Complete(len) = parser.advance(rest, &Limits::default()) else {
                panic!("complete");
            };
            seen.push(collect(&parser, rest));
            parser.reset();
            rest = &rest[len..];
        }
        assert_eq!(
            seen,
            [args(&["PING"]), args(&["PING"]), args(&["GET", "k"])]
        );
    }

    #[test]
    fn parsing_resumes_where_it_stopped() {
        let mut parser = Parser::default();
        let limits = Limits::default();
        let mut buf = b"*2\r\n$4\r\nECHO\r\n$5\r\nhe".to_vec();
        assert_eq!(parser.advance(&buf, &limits), Status::Partial);
        // The bytes already parsed are not looked at again: planting garbage there goes
        // unnoticed.
        buf[0] = b'!';
        buf[5] = b'!';
        buf.extend_from_slice(b"llo\r\n");
        assert_eq!(parser.advance(&buf, &limits), Status::Complete(buf.len()));
        assert_eq!(collect(&parser, &buf), args(&["ECHO", "hello"]));

        // An inline line is searched for its end once.
        let mut parser = Parser::default();
        let mut buf = b"PING hel".to_vec();
        assert_eq!(parser.advance(&buf, &limits), Status::Partial);
        buf[1] = b'\n';
        buf.extend_from_slice(b"lo\r\n");
        assert_eq!(parser.advance(&buf, &limits), Status::Complete(buf.len()));
    }

    #[test]
    fn inline_commands() {
        let cases: [(&[u8], &[&str]); 9] = [
            (b"PING\r\n", &["PING"]),
            (b"PING\n", &["PING"]),
            (b"PING\r\r\n", &["PING"]),
            (b"   \t SET  a   b \r\n", &["SET", "a", "b"]),
            (b"\r\n", &[]),
            (b"ECHO \"a\\x41\\n\"\r\n", &["ECHO", "aA\n"]),
            (b"ECHO '\\x41'\r\n", &["ECHO", "\\x41"]),
            (b"ECHO \"\\q\\t\\b\\a\\r\"\r\n", &["ECHO", "q\t\x08\x07\r"]),
            (b"ECHO \x0bx a\x0bx \"\"\r\n", &["ECHO", "x", "a\x0bx", ""]),
        ];
        for (input, expected) in cases {
            assert_eq!(
                parse(input),
                (Status::Complete(input.len()), args(expected)),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn quirks_redis_has_too() {
        // The two bytes after a bulk and after a header's `\r` are skipped unchecked.
        let (status, argv) = parse(b"*1\r\n$4\r\nPINGxx");
        assert_eq!((status, argv), (Status::Complete(14), args(&["PING"])));
        let (status, argv) = parse(b"*1\rX$4\r\nPING\r\n");
        assert_eq!((status, argv), (Status::Complete(14), args(&["PING"])));
        // No arguments: a complete command that gets no reply.
        for empty in [&b"*0\r\n"[..], b"*-5\r\n", b"\r\n", b"   \n"] {
            assert_eq!(parse(empty), (Status::Complete(empty.len()), Vec::new()));
        }
        // A NUL hides a line's end: the command waits for more.
        assert_eq!(parse(b"ECHO x\0y z\r\n").0, Status::Partial);
        assert_eq!(parse(b"*1\r\n\0\r\n").0, Status::Partial);
    }

    #[test]
    fn protocol_errors() {
        use ProtocolError::*;
        let cases: [(&[u8], ProtocolError); 16] = [
            (b"*01\r\n", InvalidMultibulkLength),
            (b"*+1\r\n", InvalidMultibulkLength),
            (b"*\r\n", InvalidMultibulkLength),
            (b"*x\r\n", InvalidMultibulkLength),
            (b"*1048577\r\n", InvalidMultibulkLength),
            (b"*1\r\n\r\n", ExpectedDollar(b'\r')),
            (b"*1\r\nx\r\n", ExpectedDollar(b'x')),
            (b"*1\r\n$-1\r\n", InvalidBulkLength),
            (b"*1\r\n$abc\r\n", InvalidBulkLength),
            (b"*1\r\n$01\r\n", InvalidBulkLength),
            (b"*1\r\n$ 1\r\n", InvalidBulkLength),
            (b"*1\r\n$536870913\r\n", InvalidBulkLength),
            (b"PING \"a\r\n", UnbalancedQuotes),
            (b"PING 'a'b\r\n", UnbalancedQuotes),
            (b"ECHO a\"b c\"d\r\n", UnbalancedQuotes),
            (b"*2\r\n$4\r\nECHO\r\n:1\r\n", ExpectedDollar(b':')),
        ];
        for (input, error) in cases {
            assert_eq!(
                parse(input).0,
                Status::Invalid(error),
                "{:?}",
                String::from_utf8_lossy(input)
            );
            for step in [1, 3] {
                assert_eq!(parse_in_steps(input, step).0, Status::Invalid(error));
            }
        }
        // Within the limits: waiting, not failing.
        assert_eq!(parse(b"*1048576\r\n").0, Status::Partial);
        assert_eq!(parse(b"*1\r\n$536870912\r\n").0, Status::Partial);
    }

    #[test]
    fn long_lines() {
        let limits = Limits::default();
        let mut line = vec![b'A'; limits.max_inline];
        assert_eq!(parse(&line).0, Status::Partial);
        line.push(b'A');
        assert_eq!(parse(&line).0, Status::Invalid(ProtocolError::TooBigInline));
        // A line whose end is buffered is taken, as Redis does.
        let mut echo = b"ECHO ".to_vec();
        echo.extend(std::iter::repeat_n(b'A', 65532));
        echo.extend_from_slice(b"\r\n");
        assert_eq!(parse(&echo).0, Status::Complete(echo.len()));
        // But not one longer than the limit plus one of Redis's reads, even when its end is
        // buffered (a big read must not let a huge line through).
        let mut huge = b"DEL ".to_vec();
        huge.extend(std::iter::repeat_n(b'a', limits.max_inline + INLINE_READ));
        huge.extend_from_slice(b"\r\n");
        assert_eq!(parse(&huge).0, Status::Invalid(ProtocolError::TooBigInline));

        let mut count = b"*".to_vec();
        count.extend(std::iter::repeat_n(b'1', 65535));
        assert_eq!(parse(&count).0, Status::Partial);
        count.push(b'1');
        assert_eq!(parse(&count).0, Status::Invalid(ProtocolError::TooBigCount));

        let mut header = b"*1\r\n$".to_vec();
        header.extend(std::iter::repeat_n(b'1', 65535));
        assert_eq!(parse(&header).0, Status::Partial);
        header.push(b'1');
        assert_eq!(
            parse(&header).0,
            Status::Invalid(ProtocolError::TooBigBulkCount)
        );
        // A NUL before the end: too big once the limit is passed.
        let mut hidden = b"ECHO \0".to_vec();
        hidden.resize(limits.max_inline + 1, b'\n');
        assert_eq!(
            parse(&hidden).0,
            Status::Invalid(ProtocolError::TooBigInline)
        );
    }

    #[test]
    fn configured_limits() {
        let limits = Limits {
            max_bulk: 4,
            max_multibulk: 2,
            max_inline: 8,
            max_command: 32,
        };
        let p = |buf: &[u8]| parse_with(buf, &limits).0;
        assert_eq!(
            p(b"*2\r\n$4\r\nECHO\r\n$4\r\nabcd\r\n"),
            Status::Complete(24)
        );
        assert_eq!(
            p(b"*1\r\n$5\r\n"),
            Status::Invalid(ProtocolError::InvalidBulkLength)
        );
        assert_eq!(
            p(b"*3\r\n"),
            Status::Invalid(ProtocolError::InvalidMultibulkLength)
        );
        assert_eq!(
            p(b"PING 12345"),
            Status::Invalid(ProtocolError::TooBigInline)
        );
        // A command longer than `max_command`: closed without a reply.
        let limits = Limits {
            max_command: 20,
            ..Limits::default()
        };
        assert_eq!(
            parse_with(b"*2\r\n$4\r\nECHO\r\n$4\r\n", &limits).0,
            Status::Invalid(ProtocolError::TooLong)
        );
        let mut out = Vec::new();
        ProtocolError::TooLong.reply(&mut out);
        assert!(out.is_empty());
    }

    /// A partial command never holds more than `max_command` bytes, even in a line whose
    /// end has not come (which `max_inline` alone would let grow to 64 KiB).
    #[test]
    fn a_partial_command_never_outgrows_max_command() {
        let limits = Limits {
            max_command: 64,
            ..Limits::default()
        };
        let mut inline = vec![b'A'; 64];
        let mut count = b"*".to_vec();
        count.resize(64, b'1');
        let mut header = b"*1\r\n$".to_vec();
        header.resize(64, b'1');
        for buf in [&mut inline, &mut count, &mut header] {
            assert_eq!(parse_with(buf, &limits).0, Status::Partial);
            buf.push(b'x');
            assert_eq!(
                parse_with(buf, &limits).0,
                Status::Invalid(ProtocolError::TooLong),
                "{:?}",
                String::from_utf8_lossy(buf)
            );
            // The same when the bytes come in pieces.
            let mut parser = Parser::default();
            assert_eq!(parser.advance(&buf[..40], &limits), Status::Partial);
            assert_eq!(
                parser.advance(buf, &limits),
                Status::Invalid(ProtocolError::TooLong)
            );
        }
    }

    #[test]
    fn many_arguments_spill_to_the_heap() {
        let mut buf = b"*40\r\n".to_vec();
        for i in 0..40 {
            let arg = i.to_string();
            buf.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
        }
        let (status, argv) = parse(&buf);
        assert_eq!(status, Status::Complete(buf.len()));
        let expected: Vec<Vec<u8>> = (0..40).map(|i| i.to_string().into_bytes()).collect();
        assert_eq!(argv, expected);
    }

    #[test]
    fn error_texts_are_redis_texts() {
        let reply = |e: ProtocolError| {
            let mut out = Vec::new();
            e.reply(&mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(
            reply(ProtocolError::InvalidMultibulkLength),
            "-ERR Protocol error: invalid multibulk length\r\n"
        );
        assert_eq!(
            reply(ProtocolError::InvalidBulkLength),
            "-ERR Protocol error: invalid bulk length\r\n"
        );
        assert_eq!(
            reply(ProtocolError::ExpectedDollar(b'x')),
            "-ERR Protocol error: expected '$', got 'x'\r\n"
        );
        assert_eq!(
            reply(ProtocolError::ExpectedDollar(b'\n')),
            "-ERR Protocol error: expected '$', got ' '\r\n"
        );
        assert_eq!(
            reply(ProtocolError::TooBigInline),
            "-ERR Protocol error: too big inline request\r\n"
        );
        assert_eq!(
            reply(ProtocolError::UnbalancedQuotes),
            "-ERR Protocol error: unbalanced quotes in request\r\n"
        );
        assert_eq!(
            reply(ProtocolError::TooBigCount),
            "-ERR Protocol error: too big mbulk count string\r\n"
        );
        assert_eq!(
            reply(ProtocolError::TooBigBulkCount),
            "-ERR Protocol error: too big bulk count string\r\n"
        );
    }

    #[test]
    fn string2ll_is_strict() {
        assert_eq!(string2ll(b"0"), Some(0));
        assert_eq!(string2ll(b"-1"), Some(-1));
        assert_eq!(string2ll(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(string2ll(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"1.5",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"000000000000000000001",
        ] {
            assert_eq!(string2ll(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn reply_encoding() {
        let mut out = Vec::new();
        ok(&mut out);
        simple(&mut out, b"PONG");
        int(&mut out, -42);
        int(&mut out, i64::MIN);
        bulk(&mut out, b"hi");
        bulk(&mut out, b"");
        null(&mut out);
        array(&mut out, 2);
        error(&mut out, b"bad\r\nthing");
        error(&mut out, b"-NOPROTO x");
        assert_eq!(
            out,
            b"+OK\r\n+PONG\r\n:-42\r\n:-9223372036854775808\r\n$2\r\nhi\r\n$0\r\n\r\n\
              $-1\r\n*2\r\n-ERR bad  thing\r\n-NOPROTO x\r\n"
        );
    }
}
