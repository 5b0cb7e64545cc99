//! The PROXY protocol, versions 1 and 2 (HAProxy's specification): the header a load
//! balancer working at layer 4 sends first on each connection it opens to a server, so
//! that the server learns the client's address instead of the balancer's.
//!
//! A server that expects it ([`ServerParamsBuilder::proxy_protocol`]) reads the header
//! before anything else, TLS included, within `read_timeout` of the accept; a connection
//! without a valid one is closed and counted in
//! [`Stats::proxy_header_failures`](crate::Stats::proxy_header_failures). After it,
//! [`Connection::peer_addr`](crate::Connection::peer_addr) is the client's address and
//! [`Connection::balancer_addr`](crate::Connection::balancer_addr) the balancer's. A
//! `LOCAL` header (version 2, the balancer's own health checks) and `PROXY UNKNOWN`
//! (version 1) keep the connection's real addresses.
//!
//! [`parse`] works on bytes and needs no socket. The servers read the header without
//! taking a byte beyond it: they peek, then take exactly the bytes that belong to it, so
//! what follows (a TLS `ClientHello`, a request) is left in the socket for the layer
//! after.
//!
//! [`ServerParamsBuilder::proxy_protocol`]: crate::ServerParamsBuilder::proxy_protocol

use std::fmt;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};

/// Version 2's first twelve bytes.
const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Version 1's first six bytes.
const V1_PREFIX: &[u8] = b"PROXY ";
/// The longest version 1 header, `\r\n` included (the specification's bound).
const V1_MAX: usize = 107;
/// Version 2's fixed part: signature, version and command, family, length.
const V2_FIXED: usize = 16;
/// The largest address block version 2 defines (two UNIX paths of 108 bytes).
const V2_ADDRESSES_MAX: usize = 216;
/// What a reader keeps: a whole version 1 header, or version 2's fixed part and
/// addresses (the TLVs after them are read and dropped).
const KEPT: usize = V2_FIXED + V2_ADDRESSES_MAX;

/// Which version of the protocol a header used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyVersion {
    /// The text header (`PROXY TCP4 ...\r\n`).
    V1,
    /// The binary header.
    V2,
}

/// A parsed PROXY header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyHeader {
    /// The version the balancer used.
    pub version: ProxyVersion,
    /// A `LOCAL` command (version 2): the balancer speaks for itself (a health check);
    /// the addresses are the connection's own.
    pub local: bool,
    /// The client's address, for a proxied TCP connection over IPv4 or IPv6; `None` for
    /// `LOCAL`, `UNKNOWN`, `UNSPEC` and UNIX sockets.
    pub source: Option<SocketAddr>,
    /// The address the client connected to (on the balancer), when `source` is known.
    pub destination: Option<SocketAddr>,
}

/// Why bytes are not a PROXY header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyError {
    /// The connection does not begin with either version's signature.
    Missing,
    /// A version 1 header longer than 107 bytes.
    TooLong,
    /// A version 1 header that is not `PROXY TCP4|TCP6|UNKNOWN` with valid addresses and
    /// ports separated by single spaces.
    BadV1,
    /// A version 2 header with an unknown version, command, family or protocol, or an
    /// address block shorter than its family needs.
    BadV2,
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProxyError::Missing => "the connection does not begin with a PROXY header",
            ProxyError::TooLong => "PROXY v1 header longer than 107 bytes",
            ProxyError::BadV1 => "malformed PROXY v1 header",
            ProxyError::BadV2 => "malformed PROXY v2 header",
        })
    }
}

impl std::error::Error for ProxyError {}

impl From<ProxyError> for io::Error {
    fn from(e: ProxyError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

/// What [`parse`] found in the bytes a connection began with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Parsed {
    /// A valid beginning: more bytes are needed.
    Incomplete,
    /// A whole header, `len` bytes long from the first byte (for version 2 the length
    /// includes TLVs that may not be among the bytes given yet).
    Complete {
        /// The header.
        header: ProxyHeader,
        /// Its length in bytes.
        len: usize,
    },
}

/// Parse the PROXY header at the start of `bytes` (the first bytes of a connection).
///
/// ```
/// use net::proxy::{parse, Parsed};
/// let bytes = b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\nGET / HTTP/1.1\r\n";
/// let Parsed::Complete { header, len } = parse(bytes).unwrap() else { panic!() };
/// assert_eq!(header.source, Some("192.0.2.1:56324".parse().unwrap()));
/// assert_eq!(&bytes[len..len + 3], b"GET");
/// ```
pub fn parse(bytes: &[u8]) -> Result<Parsed, ProxyError> {
    let begins = |prefix: &[u8]| {
        let n = bytes.len().min(prefix.len());
        bytes[..n] == prefix[..n]
    };
    if begins(V1_PREFIX) {
        if bytes.len() < V1_PREFIX.len() {
            return Ok(Parsed::Incomplete);
        }
        parse_v1(bytes)
    } else if begins(&SIGNATURE) {
        if bytes.len() < V2_FIXED {
            return Ok(Parsed::Incomplete);
        }
        parse_v2(bytes)
    } else {
        Err(ProxyError::Missing)
    }
}

fn parse_v1(bytes: &[u8]) -> Result<Parsed, ProxyError> {
    let window = &bytes[..bytes.len().min(V1_MAX)];
    let Some(end) = window.windows(2).position(|w| w == b"\r\n") else {
        return match bytes.len() >= V1_MAX {
            true => Err(ProxyError::TooLong),
            false => Ok(Parsed::Incomplete),
        };
    };
    let line = std::str::from_utf8(&bytes[V1_PREFIX.len()..end]).map_err(|_| ProxyError::BadV1)?;
    let mut fields = line.split(' ');
    let (source, destination) = match fields.next() {
        // The receiver ignores what follows UNKNOWN and keeps the real addresses.
        Some("UNKNOWN") => (None, None),
        Some(family @ ("TCP4" | "TCP6")) => {
            let mut next = || fields.next().ok_or(ProxyError::BadV1);
            let (src, dst, sport, dport) = (next()?, next()?, next()?, next()?);
            if fields.next().is_some() {
                return Err(ProxyError::BadV1);
            }
            let v4 = family == "TCP4";
            let (src, dst) = (v1_ip(src, v4)?, v1_ip(dst, v4)?);
            let (sport, dport) = (v1_port(sport)?, v1_port(dport)?);
            (
                Some(SocketAddr::new(src, sport)),
                Some(SocketAddr::new(dst, dport)),
            )
        }
        _ => return Err(ProxyError::BadV1),
    };
    let header = ProxyHeader {
        version: ProxyVersion::V1,
        local: false,
        source,
        destination,
    };
    Ok(Parsed::Complete {
        header,
        len: end + 2,
    })
}

fn v1_ip(text: &str, v4: bool) -> Result<IpAddr, ProxyError> {
    let ip = match v4 {
        true => text.parse::<Ipv4Addr>().map(IpAddr::V4),
        false => text.parse::<Ipv6Addr>().map(IpAddr::V6),
    };
    ip.map_err(|_| ProxyError::BadV1)
}

/// A port: decimal digits only (no sign), 0 to 65535, no leading zero.
fn v1_port(text: &str) -> Result<u16, ProxyError> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if !digits || (text.len() > 1 && text.starts_with('0')) {
        return Err(ProxyError::BadV1);
    }
    text.parse().map_err(|_| ProxyError::BadV1)
}

fn parse_v2(bytes: &[u8]) -> Result<Parsed, ProxyError> {
    let (version, command) = (bytes[12] >> 4, bytes[12] & 0x0f);
    if version != 2 || command > 1 {
        return Err(ProxyError::BadV2);
    }
    let (family, protocol) = (bytes[13] >> 4, bytes[13] & 0x0f);
    if family > 3 || protocol > 2 {
        return Err(ProxyError::BadV2);
    }
    let block = usize::from(u16::from_be_bytes([bytes[14], bytes[15]]));
    let len = V2_FIXED + block;
    let local = command == 0;
    let needed = match family {
        1 => 12,
        2 => 36,
        3 => V2_ADDRESSES_MAX,
        _ => 0,
    };
    // LOCAL ignores the addresses (and may carry none); a proxied connection over TCP or
    // UDP (the protocol is only recorded) has its family's block.
    let inet = !local && matches!(family, 1 | 2);
    if !local && block < needed {
        return Err(ProxyError::BadV2);
    }
    if inet && bytes.len() < V2_FIXED + needed {
        return Ok(Parsed::Incomplete);
    }
    let a = &bytes[V2_FIXED..];
    let port = |at: usize| u16::from_be_bytes([a[at], a[at + 1]]);
    let (source, destination) = match (inet, family) {
        (true, 1) => {
            let ip = |at: usize| IpAddr::from([a[at], a[at + 1], a[at + 2], a[at + 3]]);
            (
                Some(SocketAddr::new(ip(0), port(8))),
                Some(SocketAddr::new(ip(4), port(10))),
            )
        }
        (true, _) => {
            let ip = |at: usize| {
                let octets: [u8; 16] = a[at..at + 16].try_into().expect("16 bytes");
                IpAddr::from(octets)
            };
            (
                Some(SocketAddr::new(ip(0), port(32))),
                Some(SocketAddr::new(ip(16), port(34))),
            )
        }
        (false, _) => (None, None),
    };
    let header = ProxyHeader {
        version: ProxyVersion::V2,
        local,
        source,
        destination,
    };
    Ok(Parsed::Complete { header, len })
}

/// Reads a connection's PROXY header from its socket without taking a byte beyond it.
///
/// Each [`step`](ProxyReader::step) peeks at what has arrived, parses it with what was
/// taken before, and takes exactly the bytes that belong to the header: all of them
/// while it is incomplete (so a level-triggered poll does not report the same bytes
/// again), up to its end once it is complete; version 2's TLVs are read and dropped. It
/// keeps at most 232 bytes.
pub(crate) struct ProxyReader {
    kept: [u8; KEPT],
    have: usize,
    /// Once the header is parsed: it, and how many of its bytes are still to drop.
    done: Option<(ProxyHeader, usize)>,
}

impl ProxyReader {
    pub(crate) fn new() -> ProxyReader {
        ProxyReader {
            kept: [0; KEPT],
            have: 0,
            done: None,
        }
    }

    /// Read as far as the socket allows (blocking or not, as it is). The header once it
    /// is complete; `WouldBlock` on a non-blocking socket that has no more yet (call
    /// again when it is readable); `UnexpectedEof` if the peer closed before its first
    /// byte; `InvalidData` for a connection that does not begin with a valid header (a
    /// [`ProxyError`]) or closed inside it.
    pub(crate) fn step(&mut self, mut sock: &TcpStream) -> io::Result<ProxyHeader> {
        loop {
            if let Some((header, rest)) = &mut self.done {
                let mut sink = [0u8; 512];
                while *rest > 0 {
                    let want = (*rest).min(sink.len());
                    match sock.read(&mut sink[..want]) {
                        Ok(0) => return Err(closed_inside()),
                        Ok(n) => *rest -= n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                return Ok(*header);
            }
            let peeked = match sock.peek(&mut self.kept[self.have..]) {
                Ok(0) if self.have == 0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                // Reset before a byte came: closed, as far as a header goes.
                Err(e) if self.have == 0 && e.kind() == io::ErrorKind::ConnectionReset => {
                    return Err(io::ErrorKind::UnexpectedEof.into())
                }
                Ok(0) => return Err(closed_inside()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let seen = self.have + peeked;
            let take = match parse(&self.kept[..seen])? {
                Parsed::Incomplete => peeked,
                Parsed::Complete { header, len } => {
                    let take = len.min(seen) - self.have;
                    self.done = Some((header, len - self.have - take));
                    take
                }
            };
            let end = self.have + take;
            while self.have < end {
                match sock.read(&mut self.kept[self.have..end]) {
                    Ok(0) => return Err(closed_inside()),
                    Ok(n) => self.have += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
}

/// The peer closed after part of a header.
fn closed_inside() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "closed inside the PROXY header")
}

impl fmt::Debug for ProxyReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyReader")
            .field("have", &self.have)
            .field("done", &self.done)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(bytes: &[u8]) -> (ProxyHeader, usize) {
        match parse(bytes) {
            Ok(Parsed::Complete { header, len }) => (header, len),
            other => panic!("{other:?} for {bytes:?}"),
        }
    }

    fn addr(s: &str) -> Option<SocketAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn v1_tcp4_tcp6_and_unknown() {
        let (h, len) = complete(b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\nrest");
        assert_eq!((h.version, h.local), (ProxyVersion::V1, false));
        assert_eq!(h.source, addr("192.0.2.1:56324"));
        assert_eq!(h.destination, addr("198.51.100.7:443"));
        assert_eq!(len, 45);
        let (h, _) = complete(b"PROXY TCP6 2001:db8::1 ::1 65535 0\r\n");
        assert_eq!(h.source, addr("[2001:db8::1]:65535"));
        assert_eq!(h.destination, addr("[::1]:0"));
        for unknown in [
            &b"PROXY UNKNOWN\r\n"[..],
            b"PROXY UNKNOWN ff:: 1.2.3.4 1 2\r\n",
        ] {
            let (h, len) = complete(unknown);
            assert_eq!((h.source, len), (None, unknown.len()));
        }
    }

    #[test]
    fn v1_every_prefix_is_incomplete() {
        let header = b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n";
        for n in 0..header.len() {
            assert_eq!(parse(&header[..n]), Ok(Parsed::Incomplete), "{n} bytes");
        }
    }

    #[test]
    fn v1_malformed_headers_are_refused() {
        let bad: &[&[u8]] = &[
            b"PROXY TCP4 192.0.2.1 198.51.100.7 56324\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443 9\r\n",
            b"PROXY TCP4 192.0.2.1  198.51.100.7 56324 443\r\n",
            b"PROXY TCP4 ::1 198.51.100.7 56324 443\r\n",
            b"PROXY TCP6 192.0.2.1 ::1 1 2\r\n",
            b"PROXY TCP4 192.0.2.01 198.51.100.7 1 2\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.7 65536 443\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.7 +80 443\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.7 080 443\r\n",
            b"PROXY UDP4 192.0.2.1 198.51.100.7 1 2\r\n",
            b"PROXY \xff\r\n",
        ];
        for bytes in bad {
            assert_eq!(parse(bytes), Err(ProxyError::BadV1), "{bytes:?}");
        }
        let long = [&b"PROXY TCP4 "[..], &[b'1'; 120]].concat();
        assert_eq!(parse(&long), Err(ProxyError::TooLong));
        assert_eq!(parse(b"GET / HTTP/1.1\r\n"), Err(ProxyError::Missing));
        assert_eq!(parse(b"PROXX"), Err(ProxyError::Missing));
    }

    fn v2(command: u8, family: u8, block: &[u8]) -> Vec<u8> {
        let mut bytes = SIGNATURE.to_vec();
        bytes.push(0x20 | command);
        bytes.push(family);
        bytes.extend_from_slice(&(block.len() as u16).to_be_bytes());
        bytes.extend_from_slice(block);
        bytes
    }

    #[test]
    fn v2_inet_inet6_local_and_tlvs() {
        let block = [192, 0, 2, 1, 198, 51, 100, 7, 0xdc, 0x04, 0x01, 0xbb];
        let (h, len) = complete(&v2(1, 0x11, &block));
        assert_eq!((h.version, h.local, len), (ProxyVersion::V2, false, 28));
        assert_eq!(h.source, addr("192.0.2.1:56324"));
        assert_eq!(h.destination, addr("198.51.100.7:443"));
        // TLVs after the addresses count in the length, and need not be here yet.
        let mut with_tlvs = block.to_vec();
        with_tlvs.extend_from_slice(&[0x04, 0x00, 0x03, 1, 2, 3]);
        let bytes = v2(1, 0x11, &with_tlvs);
        let (h, len) = complete(&bytes[..28]);
        assert_eq!((h.source, len), (addr("192.0.2.1:56324"), 34));
        let mut block6 = [0u8; 36];
        block6[15] = 1;
        block6[16] = 0x20;
        block6[17] = 0x01;
        block6[32..34].copy_from_slice(&443u16.to_be_bytes());
        block6[34..36].copy_from_slice(&80u16.to_be_bytes());
        let (h, _) = complete(&v2(1, 0x21, &block6));
        assert_eq!(h.source, addr("[::1]:443"));
        assert_eq!(h.destination, addr("[2001::]:80"));
        // LOCAL: a health check; addresses (if any) ignored.
        let (h, len) = complete(&v2(0, 0x00, &[]));
        assert_eq!((h.local, h.source, len), (true, None, 16));
        let (h, _) = complete(&v2(0, 0x11, &block));
        assert_eq!((h.local, h.source), (true, None));
        // UNSPEC and UNIX: proxied, but no address to report.
        let (h, _) = complete(&v2(1, 0x00, &[]));
        assert_eq!((h.local, h.source), (false, None));
        let (h, len) = complete(&v2(1, 0x31, &[0; 216]));
        assert_eq!((h.source, len), (None, 232));
    }

    #[test]
    fn v2_prefixes_are_incomplete_and_malformed_ones_refused() {
        let bytes = v2(1, 0x11, &[10, 0, 0, 1, 10, 0, 0, 2, 0, 1, 0, 2]);
        for n in 0..bytes.len() {
            assert_eq!(parse(&bytes[..n]), Ok(Parsed::Incomplete), "{n} bytes");
        }
        let mut bad_version = v2(1, 0x11, &[0; 12]);
        bad_version[12] = 0x11;
        let bad: Vec<Vec<u8>> = vec![
            bad_version,
            v2(2, 0x11, &[0; 12]),
            v2(1, 0x41, &[0; 12]),
            v2(1, 0x13, &[0; 12]),
            v2(1, 0x11, &[0; 11]),
            v2(1, 0x21, &[0; 35]),
            v2(1, 0x31, &[0; 100]),
        ];
        for bytes in bad {
            assert_eq!(parse(&bytes), Err(ProxyError::BadV2), "{bytes:?}");
        }
    }

    /// The reader over a real socket: bytes arrive a few at a time, the header is taken
    /// exactly, and what follows is left for the next layer.
    #[test]
    fn the_reader_takes_exactly_the_header() {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        let mut block = vec![127, 0, 0, 9, 127, 0, 0, 1, 0x30, 0x39, 0, 80];
        block.extend_from_slice(&[0xEE, 0x01, 0x2C]);
        block.extend_from_slice(&[7; 300]);
        let mut bytes = v2(1, 0x11, &block);
        bytes.extend_from_slice(b"after");
        let mut reader = ProxyReader::new();
        let mut result = None;
        for chunk in bytes.chunks(7) {
            client.write_all(chunk).unwrap();
            client.flush().unwrap();
            std::thread::sleep(std::time::Duration::from_millis(1));
            match reader.step(&server) {
                Ok(h) => {
                    result.get_or_insert(h);
                }
                Err(e) => assert_eq!(e.kind(), io::ErrorKind::WouldBlock, "{e}"),
            }
        }
        let header = match result {
            Some(h) => h,
            None => {
                server.set_nonblocking(false).unwrap();
                reader.step(&server).unwrap()
            }
        };
        assert_eq!(header.source, addr("127.0.0.9:12345"));
        server.set_nonblocking(false).unwrap();
        let mut after = [0u8; 5];
        (&server).read_exact(&mut after).unwrap();
        assert_eq!(&after, b"after");
        // Not a header: refused as invalid data.
        let mut c2 = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (s2, _) = listener.accept().unwrap();
        c2.write_all(b"GET / HTTP/1.1\r\n").unwrap();
        let err = ProxyReader::new().step(&s2).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
