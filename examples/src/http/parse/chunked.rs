//! The chunked transfer coding (RFC 9112 §7.1): [`ChunkedDecoder`] decodes a chunked
//! body fed in any pieces, with its chunk-size lines, its framing and its trailer section
//! bounded.

use super::{Error, Limits};

/// Most bytes of a chunk-size line without its CRLF: the size's hex digits, leading zeros
/// included (only the value must fit in 64 bits; this keeps a line of zeros from going on
/// forever), and its extensions.
const MAX_CHUNK_LINE: usize = 4096;

/// The framing bytes of a chunked body (chunk-size lines with their CRLF, and the CRLF
/// after each chunk's data; not the trailers) may be this many, or as many as the data
/// decoded so far when that is more. So the body on the wire is at most its data plus
/// the larger of this and its data (plus the trailers), whereas chunk extensions of 4,000
/// bytes around 1-byte chunks used to make it some 4,000 times its data (540 bytes of
/// data in 2.1 MB). Ordinary chunking stays far below: a 16-byte chunk costs 6 bytes of
/// framing.
const CHUNK_FRAMING_ALLOWANCE: u64 = 16 * 1024;

/// A decoder for a chunked request body (RFC 9112 §7.1) that accepts its input in any
/// pieces: the state between pieces lives in the decoder, not in a buffer.
///
/// Chunk sizes may have leading zeros (the value must fit in 64 bits), and chunk
/// extensions are skipped; a chunk-size line, digits and extensions, has at most 4 KiB
/// (then 400). Trailer fields are skipped too; the trailer section, its line ends and
/// the final empty line included, has at most [`Limits::max_head`] bytes, as a head
/// (then 431). The decoded size is bounded by [`Limits::max_body`] (then 413).
///
/// The framing is bounded against the data, so that a small body cannot take megabytes
/// on the wire: its bytes (chunk-size lines with their CRLF, and the CRLF after each
/// chunk's data) may be 16 KiB, or as many as the data decoded so far when that is more;
/// one more is 400. A chunked body thus takes at most its data plus the larger of 16 KiB
/// and its data, plus the trailers: with the default limits, at most 2 MiB + 8 KiB on
/// the wire for 1 MiB of data, and about 24 KiB for a few bytes.
///
/// ```
/// use examples::http::parse::{ChunkedDecoder, Limits};
///
/// let wire = b"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nTrailer: x\r\n\r\nNEXT";
/// let mut decoder = ChunkedDecoder::new(&Limits::default());
/// let mut body = Vec::new();
/// // Feed it in two pieces: the first is swallowed whole, the second ends the body.
/// assert_eq!(decoder.decode(&wire[..10], Some(&mut body))?, None);
/// let end = decoder.decode(&wire[10..], Some(&mut body))?.unwrap();
/// assert_eq!(body, b"hello, world");
/// assert_eq!(&wire[10 + end..], b"NEXT");
/// # Ok::<(), examples::http::parse::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: ChunkState,
    /// The chunk size being read, then the bytes of chunk data still to come.
    size: u64,
    /// Hex digits of the chunk size so far, leading zeros included.
    digits: usize,
    /// Bytes of the chunk-size line so far, without its CRLF.
    line_len: usize,
    body_len: u64,
    /// Framing bytes so far (see [`CHUNK_FRAMING_ALLOWANCE`]).
    framing: u64,
    /// Bytes of the trailer section so far, line ends included.
    trailer_len: usize,
    max_body: u64,
    max_trailer: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Hex digits of a chunk size.
    Size,
    /// A chunk extension, up to CR.
    Extension,
    /// The LF ending a chunk-size line.
    SizeLf,
    /// Chunk data.
    Data,
    /// The CR after chunk data.
    DataCr,
    /// The LF after chunk data.
    DataLf,
    /// The start of a trailer line, or the final CRLF.
    TrailerStart,
    /// Inside a trailer line.
    Trailer,
    /// The LF ending a trailer line.
    TrailerLf,
    /// The LF of the final CRLF.
    EndLf,
    /// The body is complete.
    Done,
}

impl ChunkedDecoder {
    /// A decoder at the start of a chunked body, with the body and trailer limits of
    /// `limits`.
    pub fn new(limits: &Limits) -> Self {
        ChunkedDecoder {
            state: ChunkState::Size,
            size: 0,
            digits: 0,
            line_len: 0,
            body_len: 0,
            framing: 0,
            trailer_len: 0,
            max_body: limits.max_body,
            max_trailer: limits.max_head,
        }
    }

    /// True once the whole body (through the final CRLF) has been decoded.
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Decoded body bytes so far.
    pub fn body_len(&self) -> u64 {
        self.body_len
    }

    /// Decode the next piece of the body, appending chunk data to `sink` (or dropping it
    /// when `sink` is `None`).
    ///
    /// Returns `Some(n)` when the body ends after the first `n` bytes of `input` (the rest
    /// belongs to the next request), and `None` when all of `input` was used and more is
    /// needed.
    pub fn decode(
        &mut self,
        input: &[u8],
        mut sink: Option<&mut Vec<u8>>,
    ) -> Result<Option<usize>, Error> {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            if self.state.is_framing() {
                self.framing += 1;
                if self.framing > self.body_len.max(CHUNK_FRAMING_ALLOWANCE) {
                    return Err(Error::Malformed("chunk framing too large for its data"));
                }
            }
            match self.state {
                ChunkState::Size => {
                    if let Some(digit) = hex_value(b) {
                        // Only the value must fit in 64 bits, not the digits: leading
                        // zeros are fine (up to the line's bound).
                        if self.size >> 60 != 0 {
                            return Err(Error::Malformed("chunk size too large"));
                        }
                        if self.line_len == MAX_CHUNK_LINE {
                            return Err(Error::Malformed("chunk size too long"));
                        }
                        self.size = (self.size << 4) | u64::from(digit);
                        self.digits += 1;
                        self.line_len += 1;
                    } else if self.digits == 0 {
                        return Err(Error::Malformed("invalid chunk size"));
                    } else {
                        self.state = match b {
                            b'\r' => ChunkState::SizeLf,
                            b';' | b' ' | b'\t' => ChunkState::Extension,
                            _ => return Err(Error::Malformed("invalid chunk size")),
                        };
                        if self.state == ChunkState::Extension {
                            self.extend_line()?;
                        }
                    }
                    i += 1;
                }
                ChunkState::Extension => {
                    match b {
                        b'\r' => self.state = ChunkState::SizeLf,
                        b'\t' | b' '..=b'~' | 0x80.. => self.extend_line()?,
                        _ => return Err(Error::Malformed("invalid chunk extension")),
                    }
                    i += 1;
                }
                ChunkState::SizeLf => {
                    expect_byte(b, b'\n', "chunk-size line without CRLF")?;
                    i += 1;
                    if self.size == 0 {
                        self.state = ChunkState::TrailerStart;
                    } else {
                        match self.body_len.checked_add(self.size) {
                            Some(total) if total <= self.max_body => {}
                            _ => return Err(Error::BodyTooLarge),
                        }
                        self.state = ChunkState::Data;
                    }
                }
                ChunkState::Data => {
                    let available = input.len() - i;
                    let n = usize::try_from(self.size).map_or(available, |s| s.min(available));
                    if let Some(out) = sink.as_deref_mut() {
                        out.extend_from_slice(&input[i..i + n]);
                    }
                    i += n;
                    self.size -= n as u64;
                    self.body_len += n as u64;
                    if self.size == 0 {
                        self.state = ChunkState::DataCr;
                    }
                }
                ChunkState::DataCr => {
                    expect_byte(b, b'\r', "chunk data without CRLF")?;
                    self.state = ChunkState::DataLf;
                    i += 1;
                }
                ChunkState::DataLf => {
                    expect_byte(b, b'\n', "chunk data without CRLF")?;
                    self.state = ChunkState::Size;
                    self.size = 0;
                    self.digits = 0;
                    self.line_len = 0;
                    i += 1;
                }
                ChunkState::TrailerStart
                | ChunkState::Trailer
                | ChunkState::TrailerLf
                | ChunkState::EndLf
                    if self.trailer_len == self.max_trailer =>
                {
                    return Err(Error::HeadTooLarge);
                }
                ChunkState::TrailerStart | ChunkState::Trailer => {
                    self.trailer_len += 1;
                    if b == b'\r' {
                        self.state = if self.state == ChunkState::TrailerStart {
                            ChunkState::EndLf
                        } else {
                            ChunkState::TrailerLf
                        };
                    } else if b == b'\n' {
                        return Err(Error::Malformed("line ends with a bare LF"));
                    } else {
                        self.state = ChunkState::Trailer;
                    }
                    i += 1;
                }
                ChunkState::TrailerLf => {
                    expect_byte(b, b'\n', "trailer line without CRLF")?;
                    self.trailer_len += 1;
                    self.state = ChunkState::TrailerStart;
                    i += 1;
                }
                ChunkState::EndLf => {
                    expect_byte(b, b'\n', "chunked body without final CRLF")?;
                    self.state = ChunkState::Done;
                    return Ok(Some(i + 1));
                }
                ChunkState::Done => return Ok(Some(i)),
            }
        }
        Ok(if self.is_done() { Some(i) } else { None })
    }
}

impl ChunkedDecoder {
    /// One more byte of a chunk extension (or the delimiter that starts one).
    fn extend_line(&mut self) -> Result<(), Error> {
        self.line_len += 1;
        if self.line_len > MAX_CHUNK_LINE {
            return Err(Error::Malformed("chunk extension too long"));
        }
        Ok(())
    }
}

impl ChunkState {
    /// A byte read in this state is framing: part of a chunk-size line or of the CRLF
    /// after chunk data (not data, not trailers).
    fn is_framing(self) -> bool {
        matches!(
            self,
            ChunkState::Size
                | ChunkState::Extension
                | ChunkState::SizeLf
                | ChunkState::DataCr
                | ChunkState::DataLf
        )
    }
}

fn expect_byte(got: u8, want: u8, why: &'static str) -> Result<(), Error> {
    if got == want {
        Ok(())
    } else {
        Err(Error::Malformed(why))
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{len, limits};
    use super::super::Parsed;
    use super::*;

    fn decode_all(wire: &[u8]) -> Result<(Vec<u8>, Option<usize>), Error> {
        let mut body = Vec::new();
        let end = ChunkedDecoder::new(&limits()).decode(wire, Some(&mut body))?;
        Ok((body, end))
    }

    #[test]
    fn chunked_decodes_whole_and_byte_by_byte() {
        let wire = b"4\r\nWiki\r\n5;a=b;c\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n000\r\nX-T: 1\r\nY: 2\r\n\r\nrest";
        let (body, end) = decode_all(wire).unwrap();
        assert_eq!(body, b"Wikipedia in\r\n\r\nchunks.");
        assert_eq!(&wire[end.unwrap()..], b"rest");

        let mut decoder = ChunkedDecoder::new(&limits());
        let mut body = Vec::new();
        let mut done_at = None;
        for (i, byte) in wire.iter().enumerate() {
            match decoder
                .decode(std::slice::from_ref(byte), Some(&mut body))
                .unwrap()
            {
                None => {}
                Some(n) => {
                    assert_eq!(n, 1);
                    done_at = Some(i + 1);
                    break;
                }
            }
        }
        assert_eq!(done_at, end);
        assert!(decoder.is_done());
        assert_eq!(decoder.body_len(), 23);
        assert_eq!(body, b"Wikipedia in\r\n\r\nchunks.");
    }

    #[test]
    fn chunk_sizes_with_leading_zeros() {
        let (body, end) =
            decode_all(b"00000000000000000005\r\nhello\r\n00000000000000000000\r\n\r\n").unwrap();
        assert_eq!(body, b"hello");
        assert!(end.is_some());
        // 16 significant digits after many zeros still fit (and are then too large a body).
        let mut wire = vec![b'0'; 100];
        wire.extend_from_slice(b"ffffffffffffffff\r\n");
        assert_eq!(decode_all(&wire), Err(Error::BodyTooLarge));
        // A value past 64 bits does not, however it is written.
        let mut wire = vec![b'0'; 100];
        wire.extend_from_slice(b"10000000000000000\r\n");
        assert_eq!(
            decode_all(&wire),
            Err(Error::Malformed("chunk size too large"))
        );
        // Leading zeros are bounded.
        let mut wire = vec![b'0'; MAX_CHUNK_LINE];
        wire.extend_from_slice(b"1\r\na\r\n0\r\n\r\n");
        assert_eq!(
            decode_all(&wire),
            Err(Error::Malformed("chunk size too long"))
        );
        wire.remove(0);
        assert_eq!(decode_all(&wire).unwrap().0, b"a");
        // Through the framing of a whole request.
        let req = b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
                    000000000000000000003\r\nabc\r\n0000000000000000000000\r\n\r\n";
        assert_eq!(len(req), Ok(Parsed::Complete(req.len())));
    }

    /// A chunk-size line, digits and extensions together, has at most 4 KiB.
    #[test]
    fn chunk_size_lines_are_bounded() {
        let line = |digits: usize, ext: usize| {
            let mut wire = vec![b'0'; digits - 1];
            wire.push(b'1');
            if ext > 0 {
                wire.push(b';');
                wire.resize(digits + ext, b'e');
            }
            wire.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
            decode_all(&wire).map(|(body, _)| body)
        };
        assert_eq!(line(MAX_CHUNK_LINE, 0), Ok(b"x".to_vec()));
        assert_eq!(line(100, MAX_CHUNK_LINE - 100), Ok(b"x".to_vec()));
        assert_eq!(
            line(100, MAX_CHUNK_LINE - 99),
            Err(Error::Malformed("chunk extension too long"))
        );
        assert_eq!(
            line(1, MAX_CHUNK_LINE),
            Err(Error::Malformed("chunk extension too long"))
        );
    }

    /// The issue's figures: 540 one-byte chunks, each with 4,000 bytes of extensions,
    /// were 2.1 MB on the wire for 540 bytes of data. The framing now may take 16 KiB, or
    /// as much as the data decoded so far: refused after 16 KiB, whichever way the bytes
    /// come.
    #[test]
    fn chunk_framing_is_bounded_by_the_data() {
        let mut wire = Vec::new();
        for _ in 0..540 {
            wire.extend_from_slice(b"1;");
            wire.resize(wire.len() + 3998, b'e');
            wire.extend_from_slice(b"\r\nx\r\n");
        }
        wire.extend_from_slice(b"0\r\n\r\n");
        assert!(wire.len() > 2_000_000);
        let too_much = Err(Error::Malformed("chunk framing too large for its data"));
        assert_eq!(decode_all(&wire).map(|_| ()), too_much);
        // Fed in pieces, it stops within the allowance and the bytes of one more line.
        let mut decoder = ChunkedDecoder::new(&limits());
        let mut fed = 0;
        let failed = wire.chunks(1000).find_map(|piece| {
            fed += piece.len();
            decoder.decode(piece, None).err()
        });
        assert_eq!(
            failed,
            Some(Error::Malformed("chunk framing too large for its data"))
        );
        assert!(fed <= 16 * 1024 + 1000, "{fed}");

        // One-byte chunks cost 5 bytes of framing each: 3,276 of them and the last-chunk
        // line (3 bytes) make 16,383 bytes, within 16 KiB; one more chunk is not.
        let ones = |n: usize| {
            let mut wire = b"1\r\nx\r\n".repeat(n);
            wire.extend_from_slice(b"0\r\n\r\n");
            decode_all(&wire).map(|(body, _)| body.len())
        };
        assert_eq!(ones(3276), Ok(3276));
        assert_eq!(ones(3277), too_much.map(|()| 0));
        // Past 16 KiB of data, the data is the allowance: after a 64 KiB chunk, 64 KiB of
        // framing (16 lines of 4 KiB) is fine.
        let mut wire = b"10000\r\n".to_vec();
        wire.resize(wire.len() + 0x10000, b'd');
        wire.extend_from_slice(b"\r\n");
        for _ in 0..15 {
            wire.extend_from_slice(b"1;");
            wire.resize(wire.len() + 4000, b'e');
            wire.extend_from_slice(b"\r\nx\r\n");
        }
        wire.extend_from_slice(b"0\r\n\r\n");
        assert_eq!(
            decode_all(&wire).map(|(body, _)| body.len()),
            Ok(0x10000 + 15)
        );
        // Ordinary chunking is far below: 1 MiB in 16-byte chunks (6 bytes of framing
        // each).
        let mut wire = b"10\r\n0123456789abcdef\r\n".repeat(1 << 16);
        wire.extend_from_slice(b"0\r\n\r\n");
        assert_eq!(decode_all(&wire).map(|(body, _)| body.len()), Ok(1 << 20));
    }

    /// The trailer section is bounded as a head is: all its bytes, line ends and the
    /// final empty line included, count against `max_head`.
    #[test]
    fn trailer_sections_are_bounded_with_their_line_ends() {
        let small = Limits {
            max_head: 64,
            ..Limits::default()
        };
        let decode = |trailers: &[u8]| {
            let mut wire = b"1\r\nx\r\n0\r\n".to_vec();
            wire.extend_from_slice(trailers);
            ChunkedDecoder::new(&small).decode(&wire, None)
        };
        // 18 lines `a` and one `abcdef`, with their CRLFs, and the final CRLF: 64 bytes.
        let mut trailers = b"a\r\n".repeat(18);
        trailers.extend_from_slice(b"abcdef\r\n\r\n");
        assert_eq!(trailers.len(), 64);
        assert_eq!(decode(&trailers), Ok(Some(9 + 64)));
        // One byte more: 431, though the field bytes alone (24) are far below 64.
        let mut trailers = b"a\r\n".repeat(18);
        trailers.extend_from_slice(b"abcdefg\r\n\r\n");
        assert_eq!(decode(&trailers), Err(Error::HeadTooLarge));
        let many_short_lines = b"a\r\n".repeat(100);
        assert_eq!(decode(&many_short_lines), Err(Error::HeadTooLarge));
    }

    #[test]
    fn chunked_errors() {
        for wire in [
            &b"\r\n"[..],
            b"g\r\n",
            b"-1\r\n",
            b"1\r\nab\r\n",
            b"1\r\na\n",
            b"1\na\r\n",
            b"0\r\nTrailer\n",
            b"0\r\n\r\r",
            b"1;\x00\r\n",
            b"10000000000000000\r\n",
        ] {
            assert!(
                matches!(decode_all(wire), Err(Error::Malformed(_))),
                "{:?}",
                String::from_utf8_lossy(wire)
            );
        }
        let small = Limits {
            max_body: 4,
            max_head: 8,
            ..Limits::default()
        };
        let mut decoder = ChunkedDecoder::new(&small);
        assert_eq!(decoder.decode(b"4\r\nabcd\r\n", None), Ok(None));
        assert_eq!(decoder.decode(b"1\r\n", None), Err(Error::BodyTooLarge));
        let mut decoder = ChunkedDecoder::new(&small);
        assert_eq!(
            decoder.decode(b"0\r\nLong-Trailer: 1\r\n\r\n", None),
            Err(Error::HeadTooLarge)
        );
        assert_eq!(
            ChunkedDecoder::new(&small).decode(b"ffffffffffffffff\r\n", None),
            Err(Error::BodyTooLarge)
        );
    }
}
