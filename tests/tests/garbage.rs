//! Bad input loses nothing: many connections sending random and truncated bytes to the HTTP
//! example get answers or clean closes; afterwards no connection (slot) is left open, no
//! handler panicked, and the server still answers a normal request. Both servers.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use examples::http::HttpHandler;
use net::ServerParams;
use tests::{start, stop, wait_until, TestServer, PATIENCE};

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Inputs: pure noise, valid requests cut short, requests with corrupted bytes, and
/// oversized heads.
fn input(rng: &mut Rng) -> Vec<u8> {
    let valid: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
        b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"GET /json HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    ];
    match rng.below(4) {
        0 => (0..rng.below(2000)).map(|_| rng.next() as u8).collect(),
        1 => {
            let v = valid[rng.below(valid.len() as u64) as usize];
            v[..rng.below(v.len() as u64) as usize].to_vec()
        }
        2 => {
            let mut v = valid[rng.below(valid.len() as u64) as usize].to_vec();
            for _ in 0..=rng.below(4) {
                let i = rng.below(v.len() as u64) as usize;
                v[i] = rng.next() as u8;
            }
            v
        }
        _ => {
            let mut v = b"GET / HTTP/1.1\r\nX: ".to_vec();
            v.extend(std::iter::repeat_n(
                b'a',
                20_000 + rng.below(20_000) as usize,
            ));
            v
        }
    }
}

fn garbage_loses_nothing<S: TestServer>() {
    let params = ServerParams::builder()
        .read_timeout(Duration::from_millis(500))
        .keep_alive_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let mut server: S = start(HttpHandler::default(), params);
    let addr = server.local_addr();
    let clients: Vec<_> = (0..8u64)
        .map(|t| {
            thread::spawn(move || {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (t + 1));
                for _ in 0..25 {
                    let mut s = TcpStream::connect(addr).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    let bytes = input(&mut rng);
                    // The server may answer and close before everything is written.
                    let _ = s.write_all(&bytes);
                    if rng.below(2) == 0 {
                        // Half the clients hang up at once, the others read what comes.
                        continue;
                    }
                    let _ = s.shutdown(std::net::Shutdown::Write);
                    let mut sink = Vec::new();
                    let _ = s.read_to_end(&mut sink);
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    assert!(
        wait_until(PATIENCE, || server.stats().current_connections == 0),
        "{}: connections left open: {:?}",
        S::NAME,
        server.stats()
    );
    // A normal request is still answered.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{}: {reply}", S::NAME);
    let stats = stop(&mut server);
    assert_eq!(stats.handler_panics, 0, "{}", S::NAME);
    assert_eq!(stats.total_connections, 201, "{}", S::NAME);
}

tests::server_tests!(garbage_loses_nothing);
