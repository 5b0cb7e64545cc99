//! What [`Handler::frame`](net::Handler::frame) learns about the request at the front of a
//! connection's buffer, kept in the connection's session so that nothing is parsed twice:
//!
//! - a partial head is not rescanned from its first byte on every read: each call only
//!   looks at the bytes that arrived since the last one, for the head's end (and for a
//!   bare LF, the one error a new line can reveal on its own); the whole head is parsed
//!   once, when its end is there;
//! - a body is counted (`Content-Length`) or decoded for framing (`chunked`) from where
//!   the last call stopped;
//! - `serve` takes the parsed head (or the error) from the session instead of parsing the
//!   head again.
//!
//! The one exception: a chunked body is scanned a second time by `serve`, which decodes it
//! into the body it uses (framing only follows the chunk sizes).

use net::Frame;

use super::parse::{self, BodyKind, ChunkedDecoder, Limits, Parsed};
use super::{Request, Route};

/// The interim response to `Expect: 100-continue`.
pub(super) const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The `http` handler's per-connection state: what framing found out about the next
/// request (nothing, on a blocking server, which does not frame).
///
/// ```
/// use net::{Frame, Handler};
/// use examples::http::{HttpHandler, HttpSession};
///
/// let handler = HttpHandler::new();
/// let mut session = HttpSession::default();
/// // The head arrives in two pieces; the second call only searches the new bytes.
/// assert_eq!(handler.frame(&mut session, b"GET / HTTP/1.1\r\nHo"), Frame::Partial);
/// let whole = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
/// assert_eq!(handler.frame(&mut session, whole), Frame::Complete(whole.len()));
/// ```
#[derive(Debug, Default)]
pub struct HttpSession {
    state: State,
}

#[derive(Debug, Default)]
enum State {
    /// Nothing known: the next call parses from the first byte.
    #[default]
    Fresh,
    /// The head is incomplete: the first `searched` bytes hold no end of head.
    Head { searched: usize },
    /// The head is parsed; its body is still arriving.
    Body {
        head: Framed,
        /// The chunked decoder and how far it has read (`None`: `Content-Length`).
        chunked: Option<(ChunkedDecoder, usize)>,
        /// The client waits for `100 Continue` before it sends the body: the next answer
        /// is [`Frame::Interim`] (once; the server sends it).
        go_ahead: bool,
    },
    /// The whole request (`len` bytes) is buffered.
    Complete { head: Framed, len: usize },
    /// The request cannot be served; `serve` answers with this error.
    Invalid(parse::Error),
}

/// A parsed head: what `serve` needs of it, and how many bytes it takes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Framed {
    pub request: Request,
    pub head_len: usize,
}

/// What `serve` takes from the session.
pub(super) enum Taken {
    /// Nothing was framed: parse the head from the buffer.
    Nothing,
    /// The head at the front of the buffer, parsed.
    Head(Framed),
    /// The request is invalid: answer with this error.
    Invalid(parse::Error),
}

impl HttpSession {
    /// Take what framing learned, leaving the session fresh for the next request.
    pub(super) fn take(&mut self) -> Taken {
        match std::mem::take(&mut self.state) {
            State::Fresh | State::Head { .. } => Taken::Nothing,
            State::Body { head, .. } | State::Complete { head, .. } => Taken::Head(head),
            State::Invalid(e) => Taken::Invalid(e),
        }
    }

    /// The complete request framed last will block when served (see
    /// [`HttpHandler::blocking_hint`](super::HttpHandler::blocking_hint)).
    pub(super) fn blocks(&self) -> bool {
        matches!(&self.state, State::Complete { head, .. } if head.request.blocks())
    }

    /// Frame `buf` (the request at its front, with every byte an earlier call saw).
    pub(super) fn frame(&mut self, buf: &[u8], limits: &Limits, require_host: bool) -> Frame {
        let state = match std::mem::take(&mut self.state) {
            State::Fresh => head(buf, 0, limits, require_host),
            State::Head { searched } => head(buf, searched, limits, require_host),
            State::Body { head, chunked, .. } => body(buf, head, chunked),
            done @ (State::Complete { .. } | State::Invalid(_)) => done,
        };
        let mut state = state;
        let frame = match &mut state {
            State::Body { go_ahead, .. } if *go_ahead => {
                *go_ahead = false;
                Frame::Interim(CONTINUE)
            }
            State::Fresh | State::Head { .. } | State::Body { .. } => Frame::Partial,
            State::Complete { len, .. } => Frame::Complete(*len),
            State::Invalid(_) => Frame::Invalid,
        };
        self.state = state;
        frame
    }
}

/// Frame a head of which the first `searched` bytes hold no end (0: nothing seen yet, so
/// parse at once and report errors as early as the parser can tell them).
fn head(buf: &[u8], searched: usize, limits: &Limits, require_host: bool) -> State {
    if searched > 0 {
        match scan_new_lines(buf, searched, limits.max_head) {
            Scan::Bad(e) => return State::Invalid(e),
            Scan::NoEnd if buf.len() >= limits.max_head => {
                return State::Invalid(parse::Error::HeadTooLarge)
            }
            Scan::NoEnd => {
                return State::Head {
                    searched: buf.len(),
                }
            }
            Scan::End => {}
        }
    }
    match parse::parse_head(buf, limits) {
        Err(e) => State::Invalid(e),
        Ok(Parsed::Partial) => State::Head {
            searched: buf.len(),
        },
        Ok(Parsed::Complete(parsed)) => {
            if require_host && parsed.version() == parse::Version::Http11 && !parsed.has_host() {
                return State::Invalid(parse::Error::Malformed("missing Host"));
            }
            let head = Framed {
                request: Request::new(&parsed),
                head_len: parsed.head_len(),
            };
            let mut head = head;
            let request = head.request;
            let waits = request.expect_continue && buf.len() == head.head_len;
            if waits && request.route != Route::Echo {
                // Its client waits for an answer before sending a body this route does
                // not want: the final answer goes at once (and the connection closes).
                return State::Complete {
                    head,
                    len: head.head_len,
                };
            }
            let chunked = match request.body {
                BodyKind::Chunked => Some((ChunkedDecoder::new(limits), head.head_len)),
                _ => None,
            };
            // `/echo` wants the body: the server sends `100 Continue` for it (from its
            // loop, on an evented server) and the body is framed like any other, so the
            // request reaches `serve` whole. The expectation is answered: `serve` must not
            // answer it again.
            head.request.expect_continue = false;
            match body(buf, head, chunked) {
                State::Body { head, chunked, .. } => State::Body {
                    head,
                    chunked,
                    go_ahead: waits,
                },
                done => done,
            }
        }
    }
}

/// Frame the body after a parsed head, from where the last call stopped.
fn body(buf: &[u8], head: Framed, chunked: Option<(ChunkedDecoder, usize)>) -> State {
    let start = head.head_len;
    match (head.request.body, chunked) {
        (BodyKind::Length(n), _) => match usize::try_from(n) {
            Ok(n) if buf.len() - start >= n => State::Complete {
                head,
                len: start + n,
            },
            _ => State::Body {
                head,
                chunked: None,
                go_ahead: false,
            },
        },
        (BodyKind::Chunked, Some((mut decoder, read))) => {
            match decoder.decode(&buf[read..], None) {
                Err(e) => State::Invalid(e),
                Ok(Some(n)) => State::Complete {
                    head,
                    len: read + n,
                },
                Ok(None) => State::Body {
                    head,
                    chunked: Some((decoder, buf.len())),
                    go_ahead: false,
                },
            }
        }
        _ => State::Complete { head, len: start },
    }
}

enum Scan {
    /// The head's end (`CRLF CRLF`) is in the new bytes: parse the head.
    End,
    /// Not yet.
    NoEnd,
    /// A line of the new bytes ends with a bare LF.
    Bad(parse::Error),
}

/// Look at the bytes after the first `searched` (which hold no end of head), within the
/// first `max_head` bytes.
fn scan_new_lines(buf: &[u8], searched: usize, max_head: usize) -> Scan {
    let window = &buf[..buf.len().min(max_head)];
    let from = searched.min(window.len());
    for (i, &b) in window.iter().enumerate().skip(from) {
        if b != b'\n' {
            continue;
        }
        if i == 0 || window[i - 1] != b'\r' {
            return Scan::Bad(parse::Error::Malformed("line ends with a bare LF"));
        }
        if i >= 3 && &window[i - 3..=i] == b"\r\n\r\n" {
            return Scan::End;
        }
    }
    Scan::NoEnd
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_in_pieces(request: &[u8], step: usize) -> (Frame, HttpSession) {
        let mut session = HttpSession::default();
        let mut frame = Frame::Partial;
        let mut end = 0;
        while end < request.len() && matches!(frame, Frame::Partial | Frame::Interim(_)) {
            end = (end + step).min(request.len());
            frame = session.frame(&request[..end], &Limits::default(), false);
        }
        (frame, session)
    }

    /// Byte by byte, in small pieces or at once: the same answer as the one-shot parser.
    #[test]
    fn pieces_agree_with_the_parser() {
        let requests: [&[u8]; 8] = [
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /next",
            b"\r\n\r\nGET /json HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            b"POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET",
            b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nX",
            b"POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
            b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\n\r\n",
            b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ];
        for request in requests {
            let expected = match parse::request_len(request, &Limits::default()) {
                Ok(Parsed::Complete(n)) => Frame::Complete(n),
                Ok(Parsed::Partial) => Frame::Partial,
                Err(_) => Frame::Invalid,
            };
            for step in [1, 3, 7, request.len()] {
                let (frame, _) = frame_in_pieces(request, step);
                assert_eq!(
                    frame,
                    expected,
                    "{:?} in steps of {step}",
                    String::from_utf8_lossy(request)
                );
            }
        }
    }

    #[test]
    fn a_partial_head_is_not_rescanned() {
        let mut session = HttpSession::default();
        let limits = Limits::default();
        assert_eq!(
            session.frame(b"GET / HTTP/1.1\r\nX: ", &limits, false),
            Frame::Partial
        );
        // The first bytes are not looked at again: changing them goes unnoticed until the
        // head is complete and parsed once, whole.
        let mut later = b"GET / HTTP/1.1\r\nX: ".to_vec();
        later[0] = b' ';
        later.extend_from_slice(b"1\r\n");
        assert_eq!(session.frame(&later, &limits, false), Frame::Partial);
        later.extend_from_slice(b"\r\n");
        assert_eq!(session.frame(&later, &limits, false), Frame::Invalid);
    }

    #[test]
    fn a_head_too_large_or_a_bare_lf_in_new_bytes_is_invalid() {
        let limits = Limits {
            max_head: 32,
            ..Limits::default()
        };
        let mut session = HttpSession::default();
        let mut buf = b"GET / HTTP/1.1\r\nX: ".to_vec();
        assert_eq!(session.frame(&buf, &limits, false), Frame::Partial);
        buf.resize(32, b'a');
        assert_eq!(session.frame(&buf, &limits, false), Frame::Invalid);
        assert!(matches!(
            session.take(),
            Taken::Invalid(parse::Error::HeadTooLarge)
        ));

        let mut session = HttpSession::default();
        assert_eq!(
            session.frame(b"GET / HTTP/1.1\r", &limits, false),
            Frame::Partial
        );
        assert_eq!(
            session.frame(b"GET / HTTP/1.1\r\nX: 1\n", &limits, false),
            Frame::Invalid
        );
    }

    #[test]
    fn take_hands_over_the_head_once() {
        let request = b"POST /echo HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi";
        let (frame, mut session) = frame_in_pieces(request, 4);
        assert_eq!(frame, Frame::Complete(request.len()));
        let Taken::Head(head) = session.take() else {
            panic!("a framed request hands over its head");
        };
        assert_eq!(head.head_len, request.len() - 2);
        assert_eq!(head.request.body, BodyKind::Length(2));
        assert!(matches!(session.take(), Taken::Nothing), "taken once");
    }

    /// `Expect: 100-continue` on `/echo` with no body byte yet: the go-ahead once, then
    /// the body is framed as usual and `serve` gets the whole request with the
    /// expectation answered.
    #[test]
    fn expect_continue_asks_for_the_go_ahead_once() {
        let limits = Limits::default();
        let head = b"POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n";
        let mut session = HttpSession::default();
        assert_eq!(session.frame(&head[..10], &limits, false), Frame::Partial);
        assert_eq!(
            session.frame(head, &limits, false),
            Frame::Interim(CONTINUE)
        );
        // Framed again with no new byte (the server wrote the interim response later):
        // partial, never a second go-ahead.
        assert_eq!(session.frame(head, &limits, false), Frame::Partial);
        let mut whole = head.to_vec();
        whole.extend_from_slice(b"ab");
        assert_eq!(session.frame(&whole, &limits, false), Frame::Partial);
        whole.push(b'c');
        assert_eq!(
            session.frame(&whole, &limits, false),
            Frame::Complete(whole.len())
        );
        let Taken::Head(framed) = session.take() else {
            panic!("a framed request hands over its head");
        };
        assert!(!framed.request.expect_continue, "answered by the server");

        // Chunked too.
        let chunked =
            b"POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n";
        let mut session = HttpSession::default();
        assert_eq!(
            session.frame(chunked, &limits, false),
            Frame::Interim(CONTINUE)
        );
        assert_eq!(session.frame(chunked, &limits, false), Frame::Partial);
    }

    /// No go-ahead where none is needed: the body has begun already, the body is empty,
    /// HTTP/1.0, or the route does not want a body (answered at once; `serve` closes).
    #[test]
    fn expect_continue_without_a_go_ahead() {
        let limits = Limits::default();
        let cases: [(&[u8], Frame); 4] = [
            (
                b"POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\na",
                Frame::Partial,
            ),
            (
                b"POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n",
                Frame::Complete(64),
            ),
            (
                b"POST /echo HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
                Frame::Partial,
            ),
            (
                b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
                Frame::Complete(60),
            ),
        ];
        for (request, expected) in cases {
            let mut session = HttpSession::default();
            assert_eq!(
                session.frame(request, &limits, false),
                expected,
                "{:?}",
                String::from_utf8_lossy(request)
            );
        }
    }

    #[test]
    fn missing_host_is_invalid_when_required() {
        let mut session = HttpSession::default();
        let frame = session.frame(b"GET / HTTP/1.1\r\n\r\n", &Limits::default(), true);
        assert_eq!(frame, Frame::Invalid);
    }
}
