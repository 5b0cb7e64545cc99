//! Memory back after a storm: the `resp` server binary (net, or evnet with the `evented`
//! feature), after 80 clients asked for a 2 MB value and never read it, gives the memory
//! back: its RSS returns to within 32 MiB of where it was before the attack, within
//! 10 seconds of the attackers leaving. (With glibc's allocator evnet's RSS stayed
//! 57 MiB above its start: see `examples::global_allocator!`.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The value the attackers ask for.
const VALUE: usize = 2_000_000;

/// Clients that ask for it and never read.
const NON_READERS: usize = 80;

/// How far above its start the RSS may stay.
const SLACK_MIB: usize = 32;

/// How long after the attack the RSS has to come back.
const BACK_WITHIN: Duration = Duration::from_secs(10);

/// The server process, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start() -> (Server, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_resp"))
        .args(["--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the resp server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("the server's address line");
    let addr = line
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    (Server(child), addr)
}

/// The server's resident set, in MiB.
fn rss_mib(server: &Server) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.0.id()))
        .expect("read the server's /proc status");
    let kib: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    kib / 1024
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

#[test]
fn rss_comes_back_after_an_output_flood() {
    let (server, addr) = start();
    // Warm up: store the value and read it once, so steady-state buffers exist.
    let mut client = connect(addr);
    client
        .write_all(&examples::resp::command(&[
            b"SET",
            b"big",
            &vec![b'v'; VALUE],
        ]))
        .unwrap();
    let mut ok = [0; 5];
    client.read_exact(&mut ok).unwrap();
    assert_eq!(&ok, b"+OK\r\n");
    client
        .write_all(&examples::resp::command(&[b"GET", b"big"]))
        .unwrap();
    let mut reply = vec![0; VALUE + 12]; // `$2000000\r\n`, the value, `\r\n`
    client.read_exact(&mut reply).unwrap();
    let before = rss_mib(&server);

    let non_readers: Vec<TcpStream> = (0..NON_READERS)
        .map(|_| {
            let mut stream = connect(addr);
            stream
                .write_all(&examples::resp::command(&[b"GET", b"big"]))
                .unwrap();
            stream
        })
        .collect();
    // The attack has taken hold when the evented server holds the answers it could not
    // send (up to its output budget); net's threads write straight to their sockets and
    // hold little, so there it is only checked that nothing stays behind.
    if cfg!(feature = "evented") {
        let held = wait_for(|| rss_mib(&server) >= before + 2 * SLACK_MIB);
        let peak = rss_mib(&server);
        assert!(
            held,
            "the attack did not take hold: RSS {before} -> {peak} MiB"
        );
    }
    let peak = rss_mib(&server);
    drop(non_readers);
    let left = Instant::now();
    let back = wait_for(|| rss_mib(&server) <= before + SLACK_MIB);
    let after = rss_mib(&server);
    assert!(
        back,
        "RSS {before} MiB before, {peak} during, still {after} after {:?}",
        left.elapsed()
    );
    eprintln!("RSS: {before} MiB before, {peak} MiB during, {after} MiB after");
    // The server still serves.
    client
        .write_all(&examples::resp::command(&[b"PING"]))
        .unwrap();
    let mut pong = [0; 7];
    client.read_exact(&mut pong).unwrap();
    assert_eq!(&pong, b"+PONG\r\n");
}

/// Poll `cond` every 100 ms for up to [`BACK_WITHIN`]; whether it held.
fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + BACK_WITHIN;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
