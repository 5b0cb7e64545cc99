//! The deadlines of a [`Connection`](super::Connection): one per request for its reads
//! (set by the server at the request's first byte), one per response for its writes (set
//! by its first write), and which of them expired last.

use std::io;
use std::time::{Duration, Instant};

use super::transport::timed_out;
use super::Connection;
use crate::stats::TimeoutKind;

impl Connection {
    /// `result`, noting a `TimedOut` error as an expired deadline of `kind`.
    pub(super) fn noting<T>(&mut self, kind: TimeoutKind, result: io::Result<T>) -> io::Result<T> {
        if matches!(&result, Err(e) if e.kind() == io::ErrorKind::TimedOut) {
            self.expired = Some(kind);
        }
        result
    }

    /// read timeout outside a request. A passed deadline is a `TimedOut` error.
    pub(super) fn read_wait(&self) -> io::Result<Duration> {
        match self.read_deadline {
            None => Ok(self.read_timeout),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    Err(timed_out("request not complete within the read timeout"))
                } else {
                    Ok(left)
                }
            }
        }
    }

    /// The current request's write deadline, set by its first write; and whether it was
    /// set just now.
    pub(super) fn write_deadline(&mut self) -> (Instant, bool) {
        match self.write_deadline {
            Some(deadline) => (deadline, false),
            None => {
                let deadline = Instant::now() + self.write_timeout;
                self.write_deadline = Some(deadline);
                (deadline, true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::super::testing::{pair, params};
    use super::*;
    use crate::connection::ServerConnection;

    #[test]
    fn reads_share_the_request_deadline() {
        let (mut client, mut conn) = pair(&params(60_000));
        client.write_all(b"GET").unwrap();
        // The request's first byte came a minute ago: its deadline has passed, so even
        // bytes already on their way are not waited for.
        let long_ago = Instant::now() - Duration::from_secs(61);
        conn.begin_request(long_ago);
        let err = conn.fill_more().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(conn.expired, Some(TimeoutKind::Read));
        // Once the request is counted, reads wait per read again (and its expired
        // deadline is forgotten).
        conn.count_request();
        assert_eq!(conn.take_expired(), None);
        assert_eq!(conn.read_deadline(), None);
        assert_eq!(conn.fill_more().unwrap(), 3);
    }
}
