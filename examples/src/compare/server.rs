//! The servers `compare` runs, each as a child process, and how it starts and stops them.
//!
//! Every child is killed and reaped when its [`Running`] is dropped (after a run, on an
//! error, on a panic), and [`kill_all`] kills those still running from a signal handler's
//! thread, so that no server outlives `compare`.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::tls::TlsFiles;

/// The longest a server may take to say where it listens (or, for `redis-server`, to
/// accept a connection).
pub const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A server in the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ServerId {
    /// `net::TcpServer`: a thread per connection, the pool sized to the scenario.
    Net,
    /// `net::TcpServer` with its default pool: 64 threads, 64 queued connections.
    NetDefaultPool,
    /// `evnet::EvServer` with its defaults: adaptive dispatch (requests served on the
    /// loops' threads, loops taken over when a handler blocks), one loop, one worker and
    /// one spare per core.
    Evnet,
    /// `evnet` handing every request to its workers (`--dispatch workers`).
    EvnetWorkers,
    /// `evnet` serving requests on its loops (`--dispatch inline`).
    EvnetInline,
    /// `evnet` with 64 workers, every request on a worker, for handlers that block.
    Evnet64Workers,
    /// `evnet`'s default with the `http` example's blocking hint off
    /// (`--no-blocking-hint`): `/work` is served on the loop's thread until taken over.
    EvnetUnhinted,
    /// A raw epoll server in C (`scripts/epoll_floor.c`): the least work an HTTP answer
    /// can cost, the floor.
    EpollFloor,
    /// A minimal tokio HTTP server (`tokio_http`).
    Tokio,
    /// A hyper 1.x server on tokio (`hyper_http`).
    Hyper,
    /// `redis-server`, when installed.
    Redis,
}

/// Which example program a scenario runs on `net` and `evnet`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum App {
    /// `http`.
    Http,
    /// `echo`.
    Echo,
    /// `resp`.
    Resp,
}

impl App {
    /// The binary's name.
    pub fn binary(self) -> &'static str {
        match self {
            App::Http => "http",
            App::Echo => "echo",
            App::Resp => "resp",
        }
    }
}

impl ServerId {
    /// Every server, in the order rows are shown.
    pub const ALL: [ServerId; 11] = [
        ServerId::EpollFloor,
        ServerId::Tokio,
        ServerId::Hyper,
        ServerId::Redis,
        ServerId::Net,
        ServerId::NetDefaultPool,
        ServerId::Evnet,
        ServerId::EvnetWorkers,
        ServerId::EvnetInline,
        ServerId::Evnet64Workers,
        ServerId::EvnetUnhinted,
    ];

    /// The name in tables, the chart and `--servers`.
    ///
    /// ```
    /// use examples::compare::server::ServerId;
    /// assert_eq!(ServerId::EvnetInline.name(), "evnet-inline");
    /// assert_eq!(ServerId::from_name("evnet-inline"), Some(ServerId::EvnetInline));
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            ServerId::Net => "net",
            ServerId::NetDefaultPool => "net-64t",
            ServerId::Evnet => "evnet",
            ServerId::EvnetWorkers => "evnet-workers",
            ServerId::EvnetInline => "evnet-inline",
            ServerId::Evnet64Workers => "evnet-64w",
            ServerId::EvnetUnhinted => "evnet-nohint",
            ServerId::EpollFloor => "epoll-floor",
            ServerId::Tokio => "tokio",
            ServerId::Hyper => "hyper",
            ServerId::Redis => "redis-server",
        }
    }

    /// Whether it serves TLS (`--tls-cert`, `--tls-key`): `net` and evnet (every
    /// variant) do; the reference servers are not given the flags.
    pub fn serves_tls(self) -> bool {
        matches!(
            self,
            ServerId::Net
                | ServerId::NetDefaultPool
                | ServerId::Evnet
                | ServerId::EvnetWorkers
                | ServerId::EvnetInline
                | ServerId::Evnet64Workers
                | ServerId::EvnetUnhinted
        )
    }

    /// The server named `name`, if any.
    pub fn from_name(name: &str) -> Option<ServerId> {
        ServerId::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The command that starts this server for `app`, with room for `connections` open
    /// connections, our servers with `flags` added; `Err` says why it cannot run (binary
    /// missing, not this protocol).
    pub fn command(
        self,
        app: App,
        bins: &Path,
        connections: usize,
        flags: &[&str],
        tls: Option<&TlsFiles>,
    ) -> Result<Launch, String> {
        if tls.is_some() && !self.serves_tls() {
            return Err(format!("{} does not serve TLS yet", self.name()));
        }
        let tls_flags: Vec<String> = tls.map_or_else(Vec::new, |t| {
            vec![
                "--tls-cert".to_owned(),
                t.cert.display().to_string(),
                "--tls-key".to_owned(),
                t.key.display().to_string(),
            ]
        });
        let ours = |dir: &str, extra: &[&str]| {
            let path = bins.join(dir).join(app.binary());
            // Twice the connections: evnet splits the limit between its loops, and the
            // kernel does not spread connections over SO_REUSEPORT listeners evenly.
            let max = (2 * connections).max(16_384).to_string();
            let mut args = vec!["--addr", "127.0.0.1:0", "--backlog", "4096"];
            args.extend(["--max-connections", &max]);
            args.extend(flags);
            args.extend(tls_flags.iter().map(String::as_str));
            args.extend(extra);
            executable(&path).map(|()| Launch::new(&path, &args, Ready::FirstLine))
        };
        let http_only = |what: &str| {
            if app == App::Http {
                Ok(())
            } else {
                Err(format!("{what} speaks only HTTP"))
            }
        };
        match self {
            ServerId::Net => {
                // A thread for every connection the scenario opens, and a queue as deep.
                let threads = (connections + 64).to_string();
                ours("net", &["--threads", &threads, "--queue", &threads])
            }
            ServerId::NetDefaultPool => ours("net", &[]),
            ServerId::Evnet => ours("evnet", &[]),
            ServerId::EvnetWorkers => ours("evnet", &["--dispatch", "workers"]),
            ServerId::EvnetInline => ours("evnet", &["--dispatch", "inline"]),
            ServerId::Evnet64Workers => {
                ours("evnet", &["--dispatch", "workers", "--workers", "64"])
            }
            ServerId::EvnetUnhinted => {
                // The blocking hint (and its flag) is the http example's.
                http_only("evnet-nohint")?;
                ours("evnet", &["--no-blocking-hint"])
            }
            ServerId::EpollFloor | ServerId::Tokio | ServerId::Hyper => {
                let what = match self {
                    ServerId::EpollFloor => "the epoll floor",
                    ServerId::Tokio => "the tokio reference",
                    _ => "the hyper reference",
                };
                http_only(what)?;
                let file = match self {
                    ServerId::EpollFloor => "epoll_floor",
                    ServerId::Tokio => "tokio_http",
                    _ => "hyper_http",
                };
                let path = bins.join(file);
                executable(&path)?;
                let threads = crate::compare::cpus().to_string();
                let args = ["--addr", "127.0.0.1:0", "--threads", &threads];
                Ok(Launch::new(&path, &args, Ready::FirstLine))
            }
            ServerId::Redis => {
                if app != App::Resp {
                    return Err("redis-server speaks only RESP".to_owned());
                }
                let path = find_in_path("redis-server")
                    .ok_or_else(|| "redis-server is not installed".to_owned())?;
                let port = free_port().map_err(|e| format!("no free port: {e}"))?;
                let maxclients = (connections + 64).to_string();
                let args = [
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--loglevel",
                    "warning",
                    "--maxclients",
                    &maxclients,
                ]
                .map(str::to_owned);
                let addr = SocketAddr::from(([127, 0, 0, 1], port));
                Ok(Launch::new(&path, &args, Ready::Connect(addr)))
            }
        }
    }
}

/// How `compare` learns that a server is ready, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ready {
    /// The first line on stdout is `listening on SCHEME://ADDR (…)`.
    FirstLine,
    /// The server accepts connections at this address.
    Connect(SocketAddr),
}

/// A server's command line.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// How to know it is ready.
    pub ready: Ready,
}

impl Launch {
    fn new(program: &Path, args: &[impl AsRef<str>], ready: Ready) -> Launch {
        Launch {
            program: program.to_owned(),
            args: args.iter().map(|a| a.as_ref().to_owned()).collect(),
            ready,
        }
    }

    /// The command line as one string, for logs and error messages.
    pub fn display(&self) -> String {
        let mut s = self.program.display().to_string();
        for a in &self.args {
            s.push(' ');
            if a.is_empty() {
                s.push_str("''");
            } else {
                s.push_str(a);
            }
        }
        s
    }

    /// Start the server, its stderr and (after the first line) its stdout appended to
    /// `log`, and wait until it is ready.
    pub fn start(&self, log: &Path) -> io::Result<Running> {
        let append = || File::options().create(true).append(true).open(log);
        let stderr = append()?;
        let stdout_log = append()?;
        // Spawned and registered under the registry's lock, so that `kill_all` (from a
        // signal) either sees this child or keeps it from being started.
        let mut registry = children();
        if registry.stopping {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "compare is stopping",
            ));
        }
        let child = Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| {
                io::Error::new(e.kind(), format!("cannot start {}: {e}", self.display()))
            })?;
        registry.pids.push(child.id());
        drop(registry);
        let mut running = Running {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let addr = match self.ready {
            Ready::FirstLine => running.first_line_addr(stdout_log)?,
            Ready::Connect(addr) => running.wait_accepting(addr)?,
        };
        running.addr = addr;
        Ok(running)
    }
}

/// A server running as a child process. Dropping it kills and reaps the child.
#[derive(Debug)]
pub struct Running {
    child: Child,
    addr: SocketAddr,
}

/// The children not reaped yet, for [`kill_all`]; once `stopping`, no more are started.
struct Registry {
    pids: Vec<u32>,
    stopping: bool,
}

static CHILDREN: Mutex<Registry> = Mutex::new(Registry {
    pids: Vec::new(),
    stopping: false,
});

fn children() -> std::sync::MutexGuard<'static, Registry> {
    CHILDREN.lock().unwrap_or_else(|p| p.into_inner())
}

/// Send `signal` to the process `pid`.
fn signal(pid: u32, signal: rustix::process::Signal) -> io::Result<()> {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .ok_or_else(|| io::Error::other(format!("bad pid {pid}")))?;
    rustix::process::kill_process(pid, signal).map_err(io::Error::from)
}

impl Running {
    /// `try_wait`, forgetting the pid in the registry first if it has exited (a reaped
    /// pid may be reused: `kill_all` must never signal it).
    fn try_wait(&mut self) -> io::Result<Option<std::process::ExitStatus>> {
        let mut registry = children();
        let status = self.child.try_wait()?;
        if status.is_some() {
            let pid = self.child.id();
            registry.pids.retain(|&p| p != pid);
        }
        Ok(status)
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Err` with its exit status if it has exited.
    pub fn check_alive(&mut self) -> Result<(), String> {
        match self.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!("the server exited ({status})")),
            Err(e) => Err(format!("cannot wait for the server: {e}")),
        }
    }

    /// Read the address from the first line of stdout, then copy the rest of stdout to
    /// `log` on a thread (the server prints its statistics when it stops; a full pipe
    /// would block it).
    fn first_line_addr(&mut self, mut log: File) -> io::Result<SocketAddr> {
        let stdout = self
            .child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?;
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("compare-stdout".to_owned())
            .spawn(move || {
                let mut lines = BufReader::new(stdout).lines();
                let _ = tx.send(lines.next());
                for line in lines.map_while(Result::ok) {
                    let _ = writeln!(log, "{line}");
                }
            })?;
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Some(Ok(line))) => line,
            Ok(_) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = self.check_alive().err().unwrap_or_default();
                return Err(io::Error::other(format!(
                    "the server printed nothing {status}"
                )));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the server printed nothing in {START_TIMEOUT:?}"),
                ))
            }
        };
        crate::cli::parse_listening_line(&line).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("no address in the server's first line: {line:?}"),
            )
        })
    }

    /// Wait until `addr` accepts a connection.
    fn wait_accepting(&mut self, addr: SocketAddr) -> io::Result<SocketAddr> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(addr);
            }
            self.check_alive().map_err(io::Error::other)?;
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("nothing accepts on {addr} after {START_TIMEOUT:?}"),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Running {
    /// Stop it gracefully (SIGTERM, so that it prints its statistics to the log), or
    /// kill it if it has not exited after `grace`.
    pub fn stop(mut self, grace: Duration) {
        if !matches!(self.try_wait(), Ok(None)) {
            return;
        }
        if signal(self.child.id(), rustix::process::Signal::TERM).is_err() {
            return; // Drop kills it.
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if !matches!(self.try_wait(), Ok(None)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // Drop kills it if it is still running, and reaps it.
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let pid = self.child.id();
        // Forget the pid before reaping it, so that `kill_all` never signals a reused one.
        let mut registry = children();
        registry.pids.retain(|&p| p != pid);
        drop(registry);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Kill (SIGKILL) every child server still running, and start no more: for a signal
/// handler's thread before it exits. Returns how many could not be signalled.
pub fn kill_all() -> usize {
    let mut registry = children();
    registry.stopping = true;
    registry
        .pids
        .iter()
        .filter(|&&pid| signal(pid, rustix::process::Signal::KILL).is_err())
        .count()
}

/// `Ok` if `path` is an executable file; `Err` names it otherwise.
fn executable(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => Ok(()),
        Ok(_) => Err(format!("{} is not an executable file", path.display())),
        Err(_) => Err(format!("{} is not built", path.display())),
    }
}

/// The first executable file named `name` in `$PATH`.
fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| executable(p).is_ok())
}

/// A loopback port nothing listens on now (bound, then released).
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in ServerId::ALL {
            assert_eq!(ServerId::from_name(s.name()), Some(s));
        }
        assert_eq!(ServerId::from_name("nope"), None);
    }

    #[test]
    fn missing_binaries_and_other_protocols_are_skipped_with_a_reason() {
        let dir = Path::new("/nonexistent-compare-bins");
        let err = ServerId::Evnet
            .command(App::Http, dir, 50, &[], None)
            .unwrap_err();
        assert!(err.contains("evnet/http is not built"), "{err}");
        let err = ServerId::Tokio
            .command(App::Echo, dir, 50, &[], None)
            .unwrap_err();
        assert!(err.contains("only HTTP"), "{err}");
        let err = ServerId::Redis
            .command(App::Http, dir, 50, &[], None)
            .unwrap_err();
        assert!(err.contains("only RESP"), "{err}");
    }

    /// A directory `compare-NAME-PID` in the temporary directory with an executable
    /// `KIND/http` for each of `kinds`.
    fn fake_bins(name: &str, kinds: &[&str]) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("compare-{name}-{}", std::process::id()));
        for kind in kinds {
            std::fs::create_dir_all(dir.join(kind)).unwrap();
            let bin = dir.join(kind).join("http");
            std::fs::write(&bin, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        dir
    }

    #[test]
    fn tls_flags_go_to_net_and_evnet() {
        let dir = fake_bins("tls", &["net", "evnet"]);
        let files = TlsFiles {
            cert: "/c.pem".into(),
            key: "/k.pem".into(),
        };
        for server in [
            ServerId::Net,
            ServerId::Evnet,
            ServerId::EvnetInline,
            ServerId::Evnet64Workers,
        ] {
            assert!(server.serves_tls());
            let launch = server
                .command(App::Http, &dir, 50, &[], Some(&files))
                .unwrap();
            assert!(
                launch
                    .display()
                    .contains("--tls-cert /c.pem --tls-key /k.pem"),
                "{}",
                launch.display()
            );
        }
        // The reference servers are not given the flags: skipped.
        let err = ServerId::Tokio
            .command(App::Http, &dir, 50, &[], Some(&files))
            .unwrap_err();
        assert!(err.contains("does not serve TLS"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn net_gets_a_thread_per_connection() {
        let dir = fake_bins("bins", &["net"]);
        let launch = ServerId::Net
            .command(App::Http, &dir, 10_050, &[], None)
            .unwrap();
        let line = launch.display();
        assert!(line.contains("--threads 10114 --queue 10114"), "{line}");
        assert!(line.contains("--max-connections 20100"), "{line}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_server_that_prints_no_address_fails_to_start() {
        let log = std::env::temp_dir().join(format!("compare-log-{}", std::process::id()));
        let launch = Launch::new(
            Path::new("/bin/sh"),
            &["-c", "echo hello; exec sleep 30"],
            Ready::FirstLine,
        );
        let err = launch.start(&log).unwrap_err();
        assert!(err.to_string().contains("no address"), "{err}");
        let _ = std::fs::remove_file(&log);
    }

    #[test]
    fn a_server_started_and_dropped_leaves_no_process() {
        let log = std::env::temp_dir().join(format!("compare-log2-{}", std::process::id()));
        let launch = Launch::new(
            Path::new("/bin/sh"),
            &[
                "-c",
                "echo 'listening on http://127.0.0.1:9 (x)'; exec sleep 30",
            ],
            Ready::FirstLine,
        );
        let running = launch.start(&log).unwrap();
        assert_eq!(running.addr(), "127.0.0.1:9".parse().unwrap());
        let pid = running.pid();
        assert!(Path::new(&format!("/proc/{pid}")).exists());
        drop(running);
        // Reaped: no zombie left with this pid (unless reused, which is unlikely here).
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(!stat.contains("sleep"), "{stat}");
        let _ = std::fs::remove_file(&log);
    }
}
