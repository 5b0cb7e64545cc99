//! Helpers shared by the tests that run the example binaries as processes.

// Each test file uses its own part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use examples::cli::parse_listening_line;

/// A running binary, killed if a test fails before it exits.
pub(crate) struct Running {
    pub child: Child,
    pub stdout: BufReader<ChildStdout>,
    pub addr: SocketAddr,
    pub first_line: String,
}

impl Running {
    pub(crate) fn start(bin: &str, args: &[&str]) -> Running {
        let mut child = Command::new(bin)
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first_line = String::new();
        stdout.read_line(&mut first_line).expect("first line");
        let Some(addr) = parse_listening_line(first_line.trim_end()) else {
            let _ = child.kill();
            panic!("unexpected first line {first_line:?}");
        };
        Running {
            child,
            stdout,
            addr,
            first_line,
        }
    }

    pub(crate) fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Wait for the process to exit (at most 10 s); returns its status and the rest of
    /// its standard output.
    pub(crate) fn wait(mut self) -> (ExitStatus, String) {
        let end = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            assert!(Instant::now() < end, "the process did not exit");
            thread::sleep(Duration::from_millis(10));
        };
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).expect("stdout");
        (status, rest)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A self-signed certificate and its key (`cert.pem`, `key.pem`, made by
/// [`TlsFiles::make`](examples::compare::tls::TlsFiles::make)) in a directory of their
/// own, removed on drop.
pub(crate) struct CertFiles(PathBuf);

impl CertFiles {
    pub(crate) fn new(name: &str) -> CertFiles {
        let dir = std::env::temp_dir().join(format!("examples-tls-{name}-{}", std::process::id()));
        examples::compare::tls::TlsFiles::make(&dir).expect("a certificate");
        CertFiles(dir)
    }

    /// The path of `name` in the directory, as an argument.
    pub(crate) fn path(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for CertFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Send `request` on a new connection and read until the server closes it.
pub(crate) fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    response
}

/// Flags that size the pool of the server this build runs (`net`'s threads or `evnet`'s
/// workers): each build rejects the other's.
pub(crate) fn pool_flags() -> &'static [&'static str] {
    if cfg!(feature = "evented") {
        &["--workers", "2"]
    } else {
        &["--threads", "4"]
    }
}

/// Run `bin` with `args` to completion (for options that stop it before it serves).
pub(crate) fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run")
}

/// Run the `loadgen` binary with `args` to completion.
pub(crate) fn loadgen_bin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .output()
        .expect("run loadgen")
}

/// `loadgen --addr 127.0.0.1:1` plus `args` exits with status 2 before any traffic, and
/// its error names `flag`.
pub(crate) fn assert_loadgen_refuses(flag: &str, args: &[&str]) {
    let mut all = vec!["--addr", "127.0.0.1:1"];
    all.extend_from_slice(args);
    let out = loadgen_bin(&all);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(flag), "{args:?}: {stderr}");
}
