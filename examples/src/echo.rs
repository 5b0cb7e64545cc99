//! A line echo handler: each line received is sent back.

use std::io::{self, BufRead, Write};

use net::{Action, Connection, Frame, Handler};

/// Lines are copied to the output through a stack buffer of this size.
const COPY_CHUNK: usize = 4096;

/// Echoes lines: reads one line (through `\n`) per request and writes it back unchanged.
///
/// - A line longer than [`max_line`](Echo::max_line) (64 KiB by default, the `\n`
///   included) closes the connection without an answer.
/// - At end of input an unterminated last line is echoed, then the connection closes.
/// - No heap allocation per line: the line is copied from the connection's read buffer to
///   its write buffer through the stack.
///
/// ```
/// use std::io::{BufRead, BufReader, Write};
/// use std::time::Duration;
/// use net::{Server, ServerParams, TcpServer};
///
/// let mut server = TcpServer::serve("127.0.0.1:0", examples::echo::Echo::new(), ServerParams::default())?;
/// let mut client = std::net::TcpStream::connect(server.local_addr())?;
/// client.write_all(b"one\ntwo\n")?;
/// let mut reader = BufReader::new(&client);
/// let mut line = String::new();
/// reader.read_line(&mut line)?;
/// reader.read_line(&mut line)?;
/// assert_eq!(line, "one\ntwo\n");
/// server.shutdown(Duration::from_secs(1))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Echo {
    max_line: usize,
}

impl Default for Echo {
    fn default() -> Self {
        Echo {
            max_line: 64 * 1024,
        }
    }
}

impl Echo {
    /// An echo handler with the default 64 KiB line limit.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set the longest accepted line, `\n` included (at least 1, at most `u32::MAX`).
    ///
    /// ```
    /// let echo = examples::echo::Echo::new().with_max_line(80);
    /// assert_eq!(echo.max_line(), 80);
    /// ```
    #[must_use]
    pub fn with_max_line(mut self, max_line: usize) -> Self {
        self.max_line = max_line.clamp(1, u32::MAX as usize);
        self
    }

    /// The longest accepted line, `\n` included.
    pub fn max_line(&self) -> usize {
        self.max_line
    }
}

impl Handler for Echo {
    /// Bytes at the start of the buffer known to hold no `\n`: where `frame` stopped (on
    /// the `\n` of a complete line), so neither the next `frame` nor `serve` scans them
    /// again. A `u32` (lines are at most `u32::MAX` bytes) keeps an idle connection small.
    type Session = u32;

    fn open(&self, _conn: &Connection) -> u32 {
        0
    }

    fn serve(&self, scanned: &mut u32, conn: &mut Connection) -> io::Result<Action> {
        let from = std::mem::take(scanned) as usize;
        let line_len = match self.find_line(conn.buffered(), from) {
            Ok(len) => len,
            Err(searched) => match self.read_line(conn, searched)? {
                Some(len) => len,
                None => return Ok(Action::Close),
            },
        };
        copy_out(conn, line_len)?;
        Ok(Action::KeepAlive)
    }

    fn frame(&self, scanned: &mut u32, buffered: &[u8]) -> Frame {
        // Offsets stay below `max_line`, which fits a `u32`.
        let to_u32 = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        match self.find_line(buffered, *scanned as usize) {
            Ok(len) => {
                *scanned = to_u32(len - 1);
                Frame::Complete(len)
            }
            Err(_) if buffered.len() >= self.max_line => Frame::Invalid,
            Err(searched) => {
                *scanned = to_u32(searched);
                Frame::Partial
            }
        }
    }
}

impl Echo {
    /// The length of the first line in `buffered` (through its `\n`), searching from
    /// `from`; or how far the search went (a line longer than the limit is never found).
    fn find_line(&self, buffered: &[u8], from: usize) -> Result<usize, usize> {
        let limit = buffered.len().min(self.max_line);
        let from = from.min(limit);
        match buffered[from..limit].iter().position(|&b| b == b'\n') {
            Some(i) => Ok(from + i + 1),
            None => Err(limit),
        }
    }

    /// Read until a whole line is buffered (the first `searched` bytes hold no `\n`): its
    /// length, or `None` to close (the line is too long, or the input ended; an
    /// unterminated last line is echoed first).
    fn read_line(&self, conn: &mut Connection, mut searched: usize) -> io::Result<Option<usize>> {
        loop {
            if conn.buffered().len() >= self.max_line {
                return Ok(None);
            }
            if conn.fill_more()? == 0 {
                copy_out(conn, searched)?;
                return Ok(None);
            }
            match self.find_line(conn.buffered(), searched) {
                Ok(len) => return Ok(Some(len)),
                Err(s) => searched = s,
            }
        }
    }
}

/// Move the first `n` buffered bytes from the connection's input to its output.
fn copy_out(conn: &mut Connection, mut n: usize) -> io::Result<()> {
    let mut chunk = [0u8; COPY_CHUNK];
    while n > 0 {
        let k = n.min(COPY_CHUNK);
        chunk[..k].copy_from_slice(&conn.buffered()[..k]);
        conn.consume(k);
        conn.write_all(&chunk[..k])?;
        n -= k;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_edges() {
        let echo = Echo::new().with_max_line(4);
        let frame = |buf: &[u8]| echo.frame(&mut 0, buf);
        assert_eq!(frame(b""), Frame::Partial);
        assert_eq!(frame(b"abc"), Frame::Partial);
        assert_eq!(frame(b"abc\nrest"), Frame::Complete(4));
        assert_eq!(frame(b"\n"), Frame::Complete(1));
        assert_eq!(frame(b"abcd"), Frame::Invalid);
        assert_eq!(frame(b"abcd\n"), Frame::Invalid);
    }

    #[test]
    fn frame_resumes_where_it_stopped() {
        let echo = Echo::new();
        let mut scanned = 0;
        assert_eq!(echo.frame(&mut scanned, b"ab"), Frame::Partial);
        assert_eq!(scanned, 2);
        // The first two bytes are not searched again: a `\n` planted there is not seen.
        assert_eq!(echo.frame(&mut scanned, b"\nbcd\n"), Frame::Complete(5));
        assert_eq!(scanned, 4, "stops on the newline, where serve will look");
    }
}
