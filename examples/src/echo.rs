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

    /// Set the longest accepted line, `\n` included (at least 1).
    ///
    /// ```
    /// let echo = examples::echo::Echo::new().with_max_line(80);
    /// assert_eq!(echo.max_line(), 80);
    /// ```
    #[must_use]
    pub fn with_max_line(mut self, max_line: usize) -> Self {
        self.max_line = max_line.max(1);
        self
    }

    /// The longest accepted line, `\n` included.
    pub fn max_line(&self) -> usize {
        self.max_line
    }
}

impl Handler for Echo {
    type Session = ();

    fn open(&self, _conn: &Connection) {}

    fn serve(&self, _session: &mut (), conn: &mut Connection) -> io::Result<Action> {
        let mut scanned = 0;
        let line_len = loop {
            let buffered = conn.buffered();
            let limit = buffered.len().min(self.max_line);
            if let Some(i) = buffered[scanned.min(limit)..limit]
                .iter()
                .position(|&b| b == b'\n')
            {
                break scanned + i + 1;
            }
            if buffered.len() >= self.max_line {
                return Ok(Action::Close);
            }
            scanned = buffered.len();
            if conn.fill_more()? == 0 {
                // End of input: echo an unterminated last line, then close.
                copy_out(conn, scanned)?;
                return Ok(Action::Close);
            }
        };
        copy_out(conn, line_len)?;
        Ok(Action::KeepAlive)
    }

    fn frame(&self, buffered: &[u8]) -> Frame {
        let limit = buffered.len().min(self.max_line);
        match buffered[..limit].iter().position(|&b| b == b'\n') {
            Some(i) => Frame::Complete(i + 1),
            None if buffered.len() >= self.max_line => Frame::Invalid,
            None => Frame::Partial,
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
        assert_eq!(echo.frame(b""), Frame::Partial);
        assert_eq!(echo.frame(b"abc"), Frame::Partial);
        assert_eq!(echo.frame(b"abc\nrest"), Frame::Complete(4));
        assert_eq!(echo.frame(b"\n"), Frame::Complete(1));
        assert_eq!(echo.frame(b"abcd"), Frame::Invalid);
        assert_eq!(echo.frame(b"abcd\n"), Frame::Invalid);
    }
}
