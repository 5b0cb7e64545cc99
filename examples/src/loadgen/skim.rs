//! Counting answers as their bytes stream by, without holding them: RESP replies of any
//! size (an amplifier's reply may be tens of megabytes) and HTTP response heads.

/// Longest RESP line (`+…`, `-…`, `:…`, `$n`, `*n`) skimmed.
const MAX_LINE: usize = 64 * 1024;

/// Longest bulk string skimmed (Redis's own limit).
const MAX_BULK: i64 = 512 << 20;

/// Most elements of one array skimmed.
const MAX_ARRAY: i64 = 1 << 20;

/// Deepest nesting of arrays skimmed.
const MAX_DEPTH: usize = 8;

/// Replies counted by [`RespSkimmer::feed`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Replies {
    /// Complete top-level replies.
    pub replies: u64,
    /// Of those, errors (`-…`).
    pub errors: u64,
}

/// Frames RESP2 replies as their bytes arrive, in any pieces, keeping only the line
/// being read and the element counts of the arrays open.
#[derive(Debug, Default)]
pub(crate) struct RespSkimmer {
    /// The line read so far (without its `\n`).
    line: Vec<u8>,
    /// Bytes of a bulk string (and its `\r\n`) still to skip.
    skip: usize,
    /// Elements still to come in each array open, outermost first.
    open: Vec<i64>,
    /// The top-level reply being read is an error.
    error: bool,
}

impl RespSkimmer {
    /// Forget any reply in progress (a new connection).
    pub(crate) fn reset(&mut self) {
        self.line.clear();
        self.skip = 0;
        self.open.clear();
        self.error = false;
    }

    /// Skim `bytes`, counting the replies they complete; `Err` when they are not RESP.
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) -> Result<Replies, ()> {
        let mut counted = Replies::default();
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len());
                self.skip -= n;
                bytes = &bytes[n..];
                if self.skip == 0 {
                    self.value_done(&mut counted);
                }
                continue;
            }
            match bytes.iter().position(|&b| b == b'\n') {
                None => {
                    if self.line.len() + bytes.len() > MAX_LINE {
                        return Err(());
                    }
                    self.line.extend_from_slice(bytes);
                    break;
                }
                Some(i) => {
                    if self.line.len() + i > MAX_LINE {
                        return Err(());
                    }
                    self.line.extend_from_slice(&bytes[..i]);
                    bytes = &bytes[i + 1..];
                    let line = std::mem::take(&mut self.line);
                    let handled = self.line_done(&line, &mut counted);
                    self.line = line;
                    self.line.clear();
                    handled?;
                }
            }
        }
        Ok(counted)
    }

    /// A whole line (without its `\n`) has arrived.
    fn line_done(&mut self, line: &[u8], counted: &mut Replies) -> Result<(), ()> {
        let line = line.strip_suffix(b"\r").ok_or(())?;
        let (&kind, rest) = line.split_first().ok_or(())?;
        match kind {
            b'+' | b':' => self.value_done(counted),
            b'-' => {
                if self.open.is_empty() {
                    self.error = true;
                }
                self.value_done(counted);
            }
            b'$' => match number(rest)? {
                -1 => self.value_done(counted),
                n if (0..=MAX_BULK).contains(&n) => self.skip = n as usize + 2,
                _ => return Err(()),
            },
            b'*' => match number(rest)? {
                -1 | 0 => self.value_done(counted),
                n if n <= MAX_ARRAY && self.open.len() < MAX_DEPTH => self.open.push(n),
                _ => return Err(()),
            },
            _ => return Err(()),
        }
        Ok(())
    }

    /// A value ended: it completes its array's element, and maybe the arrays around it.
    fn value_done(&mut self, counted: &mut Replies) {
        loop {
            match self.open.last_mut() {
                None => {
                    counted.replies += 1;
                    counted.errors += u64::from(self.error);
                    self.error = false;
                    return;
                }
                Some(left) => {
                    *left -= 1;
                    if *left > 0 {
                        return;
                    }
                    self.open.pop();
                }
            }
        }
    }
}

/// A RESP integer: an optional `-` and at most 18 digits.
fn number(text: &[u8]) -> Result<i64, ()> {
    let (negative, digits) = match text.strip_prefix(b"-") {
        Some(d) => (true, d),
        None => (false, text),
    };
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(());
    }
    let n = digits
        .iter()
        .fold(0i64, |n, &d| n * 10 + i64::from(d - b'0'));
    Ok(if negative { -n } else { n })
}

/// The status of the HTTP/1.x response head at the front of `buf` and the head's length
/// (through its empty line); `None` until the whole head has arrived, or if it is not
/// a response head.
pub(crate) fn http_head(buf: &[u8]) -> Option<(u16, usize)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let rest = buf.strip_prefix(b"HTTP/1.")?;
    let code = rest.get(2..5)?;
    if rest.get(1) != Some(&b' ') || !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let status = code.iter().fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
    Some((status, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `bytes` whole, byte by byte, and cut at every point: the same counts.
    fn skim(bytes: &[u8]) -> Result<Replies, ()> {
        let whole = RespSkimmer::default().feed(bytes);
        let mut s = RespSkimmer::default();
        let mut sum = Replies::default();
        let mut failed = false;
        for b in bytes.chunks(1) {
            match s.feed(b) {
                Ok(r) => {
                    sum.replies += r.replies;
                    sum.errors += r.errors;
                }
                Err(()) => {
                    failed = true;
                    break;
                }
            }
        }
        assert_eq!(whole.is_err(), failed, "byte by byte");
        if let Ok(w) = whole {
            assert_eq!(w, sum);
        }
        for cut in 0..=bytes.len() {
            let mut s = RespSkimmer::default();
            let a = s.feed(&bytes[..cut]);
            let b = a.and_then(|a| s.feed(&bytes[cut..]).map(|b| (a, b)));
            match (b, whole) {
                (Ok((a, b)), Ok(w)) => {
                    assert_eq!(a.replies + b.replies, w.replies, "cut at {cut}");
                    assert_eq!(a.errors + b.errors, w.errors, "cut at {cut}");
                }
                (Err(()), Err(())) => {}
                (b, w) => panic!("cut at {cut}: {b:?} vs {w:?}"),
            }
        }
        whole
    }

    #[test]
    fn replies_and_errors_are_counted_in_any_pieces() {
        let mget = b"*3\r\n$3\r\nabc\r\n$-1\r\n$0\r\n\r\n";
        assert_eq!(
            skim(mget),
            Ok(Replies {
                replies: 1,
                errors: 0
            })
        );
        let mixed = b"+OK\r\n-ERR reply would exceed the output limit (2097152 bytes)\r\n:5\r\n*2\r\n*1\r\n-no\r\n*0\r\n";
        assert_eq!(
            skim(mixed),
            Ok(Replies {
                replies: 4,
                errors: 1
            })
        );
        // Half a reply: nothing counted yet.
        assert_eq!(skim(&mget[..mget.len() - 1]), Ok(Replies::default()));
    }

    #[test]
    fn large_bulks_are_skipped_not_held() {
        let mut s = RespSkimmer::default();
        assert_eq!(s.feed(b"*2\r\n$100000000\r\n"), Ok(Replies::default()));
        let chunk = vec![b'v'; 1 << 20];
        for _ in 0..95 {
            assert_eq!(s.feed(&chunk), Ok(Replies::default()));
        }
        assert!(s.line.capacity() < 1024);
        let rest = 100_000_000 - 95 * (1 << 20);
        assert_eq!(s.feed(&vec![b'v'; rest]), Ok(Replies::default()));
        let done = s.feed(b"\r\n$1\r\nx\r\n").unwrap();
        assert_eq!(done.replies, 1);
    }

    #[test]
    fn not_resp_is_an_error() {
        for bad in [
            &b"HTTP/1.1 200 OK\r\n"[..],
            b"+OK\n",
            b"$x\r\n",
            b"$-2\r\n",
            b"*2000000\r\n",
        ] {
            assert_eq!(skim(bad), Err(()), "{}", String::from_utf8_lossy(bad));
        }
        let deep = b"*1\r\n".repeat(MAX_DEPTH + 1);
        assert_eq!(skim(&deep), Err(()));
        assert_eq!(
            RespSkimmer::default().feed(&vec![b'+'; MAX_LINE + 1]),
            Err(())
        );
    }

    #[test]
    fn http_heads() {
        let cont = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n";
        assert_eq!(http_head(cont), Some((100, 25)));
        assert_eq!(http_head(&cont[..24]), None);
        assert_eq!(
            http_head(b"HTTP/1.0 408 Request Timeout\r\nConnection: close\r\n\r\n"),
            Some((408, 51))
        );
        assert_eq!(http_head(b"HTTQ/1.1 200 OK\r\n\r\n"), None);
        assert_eq!(http_head(b"HTTP/1.1 2x0 OK\r\n\r\n"), None);
    }
}
