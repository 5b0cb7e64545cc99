//! The PROXY protocol header (v1 text or v2 binary) a measured connection sends first
//! with `--proxy`, as a load balancer in front of the server would: to measure what
//! parsing it costs the server per connection.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

/// Which PROXY protocol header each new measured connection sends before its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[non_exhaustive]
pub enum ProxyVersion {
    /// `PROXY TCP4 <source> <destination> <sport> <dport>\r\n`.
    V1,
    /// The binary header: 12-byte signature, `PROXY` over TCP/IPv4, 12 address bytes.
    V2,
}

/// The signature every v2 header starts with.
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// The client address a balancer would report for connection `conn`: a documentation
/// address (192.0.2.0/24) and a port derived from the connection's number.
pub(super) fn source_of(conn: u64) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 1024 + (conn % 60_000) as u16)
}

/// Append the header of `version` for a connection from `source` to `destination` (the
/// server; an IPv6 one is written as the IPv4 unspecified address, which the header can
/// carry and nobody checks) to `out`.
pub(super) fn write(
    version: ProxyVersion,
    source: SocketAddrV4,
    destination: SocketAddr,
    out: &mut Vec<u8>,
) {
    let destination = match destination {
        SocketAddr::V4(v4) => v4,
        SocketAddr::V6(v6) => SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, v6.port()),
    };
    match version {
        ProxyVersion::V1 => out.extend_from_slice(
            format!(
                "PROXY TCP4 {} {} {} {}\r\n",
                source.ip(),
                destination.ip(),
                source.port(),
                destination.port()
            )
            .as_bytes(),
        ),
        ProxyVersion::V2 => {
            out.extend_from_slice(&V2_SIGNATURE);
            // Version 2, command PROXY; TCP over IPv4; 12 bytes of addresses follow.
            out.extend_from_slice(&[0x21, 0x11, 0, 12]);
            out.extend_from_slice(&source.ip().octets());
            out.extend_from_slice(&destination.ip().octets());
            out.extend_from_slice(&source.port().to_be_bytes());
            out.extend_from_slice(&destination.port().to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(version: ProxyVersion) -> Vec<u8> {
        let mut out = Vec::new();
        let server: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        write(version, source_of(7), server, &mut out);
        out
    }

    #[test]
    fn the_headers_are_what_the_server_parses() {
        for version in [ProxyVersion::V1, ProxyVersion::V2] {
            let bytes = header(version);
            match net::proxy::parse(&bytes).unwrap() {
                net::proxy::Parsed::Complete { header, len } => {
                    assert_eq!(len, bytes.len(), "{version:?}");
                    assert_eq!(
                        header.source,
                        Some(SocketAddr::V4(source_of(7))),
                        "{version:?}"
                    );
                }
                other => panic!("{version:?}: {other:?}"),
            }
        }
        assert_eq!(
            header(ProxyVersion::V1),
            b"PROXY TCP4 192.0.2.1 127.0.0.1 1031 8080\r\n"
        );
        assert_eq!(header(ProxyVersion::V2).len(), 16 + 12);
    }
}
