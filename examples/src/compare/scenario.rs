//! The scenarios `compare` runs: the situations where a thread per connection and an
//! event loop with a worker pool behave differently.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use super::server::{App, ServerId};
use super::tls::TLS_NAME;
use crate::loadgen::{Config, Proto, Stop, TlsClient};

/// One load, run against each of its servers in turn.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The name `--scenarios` takes.
    pub name: &'static str,
    /// One line for tables and the chart.
    pub title: String,
    /// What it shows.
    pub about: &'static str,
    /// The example program the servers run.
    pub app: App,
    /// The servers, in the order they run.
    pub servers: Vec<ServerId>,
    /// The measured load.
    pub load: Load,
}

/// The load generator's part of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    /// The protocol.
    pub proto: Proto,
    /// Measured connections.
    pub connections: usize,
    /// Requests in flight per connection.
    pub pipeline: usize,
    /// The HTTP request target.
    pub path: &'static str,
    /// Idle keep-alive connections beside the measured ones.
    pub idle: usize,
    /// Clients trickling a request beside the measured ones.
    pub slowloris: usize,
    /// Clients that pipeline and never read, beside the measured ones.
    pub non_readers: usize,
    /// Flags for our servers (net, evnet) in this scenario.
    pub server_flags: &'static [&'static str],
    /// Speak TLS (the servers get `--tls-cert` and `--tls-key`).
    pub tls: bool,
    /// With TLS, resume sessions on new connections.
    pub resume: bool,
    /// Close each connection after this many requests and open a new one.
    pub requests_per_connection: Option<u64>,
}

impl Load {
    fn new(proto: Proto, connections: usize) -> Load {
        Load {
            proto,
            connections,
            pipeline: 1,
            path: "/",
            idle: 0,
            slowloris: 0,
            non_readers: 0,
            server_flags: &[],
            tls: false,
            resume: true,
            requests_per_connection: None,
        }
    }

    /// Every connection the load generator opens at once: measured and background.
    /// With a new connection per request, four per client: a closed connection stays
    /// open on the server until it reads the close.
    pub fn total_connections(&self) -> usize {
        let churn = if self.requests_per_connection.is_some() {
            4
        } else {
            1
        };
        self.connections * churn + self.idle + self.slowloris + self.non_readers
    }

    /// The load generator's configuration against `addr`, measuring for `duration`
    /// after `warmup`, from one client thread (the servers share the machine with it);
    /// `ca` is the certificate TLS scenarios trust (see [`super::tls`]).
    pub fn config(
        &self,
        addr: SocketAddr,
        warmup: Duration,
        duration: Duration,
        ca: &Path,
    ) -> io::Result<Config> {
        let mut c = Config::new(addr, self.proto, Stop::Duration(duration));
        if self.tls {
            c.tls = Some(TlsClient::from_ca_file(ca, TLS_NAME, self.resume)?);
        }
        c.requests_per_connection = self.requests_per_connection;
        c.connections = self.connections;
        c.pipeline = self.pipeline;
        if self.proto == Proto::Http {
            c.path = self.path.to_owned();
        }
        c.idle = self.idle;
        c.slowloris = self.slowloris;
        c.non_readers = self.non_readers;
        c.warmup = warmup;
        // Generous, so that a slow server shows in p99 rather than as timeouts; a
        // request that takes longer is an error.
        c.timeout = Duration::from_secs(5);
        Ok(c)
    }
}

const HTTP_SERVERS: [ServerId; 6] = [
    ServerId::EpollFloor,
    ServerId::Tokio,
    ServerId::Hyper,
    ServerId::Net,
    ServerId::Evnet,
    ServerId::EvnetInline,
];

const OURS: [ServerId; 3] = [ServerId::Net, ServerId::Evnet, ServerId::EvnetInline];

/// The HTTP servers beside clients that hold connections: no epoll floor (it has no
/// timeouts), and net also with its default pool of 64 threads.
fn holding_servers() -> Vec<ServerId> {
    let mut v = HTTP_SERVERS[1..].to_vec();
    let net = v
        .iter()
        .position(|&s| s == ServerId::Net)
        .unwrap_or(v.len());
    v.insert(net + 1, ServerId::NetDefaultPool);
    v
}

impl Scenario {
    /// Every scenario, in the order they run. `quick` uses 1,000 idle connections
    /// instead of 10,000 (opening them would take most of a quick run).
    pub fn all(quick: bool) -> Vec<Scenario> {
        let http = |n| Load::new(Proto::Http, n);
        let idle = if quick { 1_000 } else { 10_000 };
        vec![
            Scenario {
                name: "http-50",
                title: "HTTP keep-alive, 50 connections".to_owned(),
                about: "GET / over 50 keep-alive connections, closed loop: an easy client, \
                        where a thread per connection costs little.",
                app: App::Http,
                servers: HTTP_SERVERS.to_vec(),
                load: http(50),
            },
            Scenario {
                name: "http-2000",
                title: "HTTP keep-alive, 2,000 connections".to_owned(),
                about: "GET / over 2,000 keep-alive connections: net needs 2,000 threads.",
                app: App::Http,
                servers: HTTP_SERVERS.to_vec(),
                load: http(2_000),
            },
            Scenario {
                name: "idle",
                title: format!("HTTP, 50 active among {idle} idle connections"),
                about: "50 active connections beside idle keep-alive ones: what each open \
                        connection costs in memory and threads. net runs a thread per \
                        connection (net-64t: its default pool of 64 threads, which the \
                        idle connections fill).",
                app: App::Http,
                servers: holding_servers(),
                load: Load {
                    idle,
                    // Longer than opening them and the run: holding them is the point.
                    server_flags: &["--keep-alive-timeout", "5m"],
                    ..http(50)
                },
            },
            Scenario {
                name: "slowloris",
                title: "HTTP, 50 active beside 200 slowloris clients".to_owned(),
                about: "200 clients trickle a request head one byte at a time and never \
                        finish it; does the server still serve the others? net with a \
                        thread for each survives by spending 200 threads; net-64t, its \
                        default pool, is starved.",
                app: App::Http,
                servers: holding_servers(),
                load: Load {
                    slowloris: 200,
                    ..http(50)
                },
            },
            Scenario {
                name: "non-readers",
                title: "HTTP, 50 active beside 2 non-readers".to_owned(),
                about: "2 clients pipeline requests and never read the answers.",
                app: App::Http,
                servers: holding_servers(),
                load: Load {
                    non_readers: 2,
                    ..http(50)
                },
            },
            Scenario {
                name: "blocking",
                title: "HTTP, a handler that blocks 1 ms, 50 connections".to_owned(),
                about: "GET /work?ms=1 sleeps 1 ms in the handler: a fixed pool of workers \
                        serves at most one request per worker per millisecond, a thread \
                        per connection serves all 50 at once. net wins here; evnet needs \
                        as many workers as requests it should block on at once. The tokio and \
                        hyper references have no blocking route.",
                app: App::Http,
                servers: vec![
                    ServerId::Net,
                    ServerId::Evnet,
                    ServerId::EvnetInline,
                    ServerId::Evnet64Workers,
                ],
                load: Load {
                    path: "/work?ms=1",
                    ..http(50)
                },
            },
            Scenario {
                name: "http-new",
                title: "HTTP, a new connection per request, 50 clients".to_owned(),
                about: "Each of 50 clients opens a connection, sends one GET / and closes \
                        it: what keep-alive saves on plain TCP (compare with http-50). The \
                        load generator's one thread is the limit here (see client cores): \
                        compare the servers' CPU per request.",
                app: App::Http,
                servers: HTTP_SERVERS[1..].to_vec(),
                load: Load {
                    requests_per_connection: Some(1),
                    ..http(50)
                },
            },
            Scenario {
                name: "https",
                title: "HTTPS keep-alive, 50 connections".to_owned(),
                about: "GET / over 50 TLS keep-alive connections: one handshake per \
                        connection, then only the records' encryption.",
                app: App::Http,
                servers: OURS.to_vec(),
                load: Load {
                    tls: true,
                    ..http(50)
                },
            },
            Scenario {
                name: "https-new-resumed",
                title: "HTTPS, a new connection per request, sessions resumed".to_owned(),
                about: "Each request on a new TLS connection that resumes an earlier \
                        session (an abbreviated handshake, no certificate).",
                app: App::Http,
                servers: OURS.to_vec(),
                load: Load {
                    tls: true,
                    requests_per_connection: Some(1),
                    ..http(50)
                },
            },
            Scenario {
                name: "https-new-full",
                title: "HTTPS, a new connection per request, full handshakes".to_owned(),
                about: "Each request on a new TLS connection with a full handshake (the \
                        server signs with its key every time): what keep-alive saves most.",
                app: App::Http,
                servers: OURS.to_vec(),
                load: Load {
                    tls: true,
                    resume: false,
                    requests_per_connection: Some(1),
                    ..http(50)
                },
            },
            Scenario {
                name: "resp-p1",
                title: "RESP SET/GET, 50 connections, pipeline 1".to_owned(),
                about: "The resp example, alternating SET and GET, one request in flight \
                        per connection; redis-server as the reference when installed.",
                app: App::Resp,
                servers: resp_servers(),
                load: Load::new(Proto::Resp, 50),
            },
            Scenario {
                name: "resp-p16",
                title: "RESP SET/GET, 50 connections, pipeline 16".to_owned(),
                about: "The same with 16 requests in flight per connection.",
                app: App::Resp,
                servers: resp_servers(),
                load: Load {
                    pipeline: 16,
                    ..Load::new(Proto::Resp, 50)
                },
            },
            Scenario {
                name: "echo-2000",
                title: "Echo, 2,000 connections".to_owned(),
                about: "A line echo over 2,000 connections: the smallest handler.",
                app: App::Echo,
                servers: OURS.to_vec(),
                load: Load::new(Proto::Echo, 2_000),
            },
        ]
    }

    /// The names of every scenario.
    pub fn names() -> Vec<&'static str> {
        Scenario::all(true).iter().map(|s| s.name).collect()
    }
}

fn resp_servers() -> Vec<ServerId> {
    let mut v = vec![ServerId::Redis];
    v.extend(OURS);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_every_scenario_fits_the_open_file_limit() {
        let all = Scenario::all(false);
        let mut names: Vec<_> = all.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
        for s in &all {
            assert!(s.load.total_connections() <= crate::loadgen::MAX_CONNECTIONS);
            let ca = std::env::temp_dir().join(format!("scenario-ca-{}", std::process::id()));
            let files = super::super::tls::TlsFiles::make(&ca).unwrap();
            let c = s
                .load
                .config(
                    "127.0.0.1:1".parse().unwrap(),
                    Duration::from_secs(1),
                    Duration::from_secs(5),
                    &files.cert,
                )
                .unwrap();
            c.validate().unwrap_or_else(|e| panic!("{}: {e}", s.name));
            let _ = std::fs::remove_dir_all(&ca);
        }
    }

    #[test]
    fn quick_opens_fewer_idle_connections() {
        let idle = |quick| {
            Scenario::all(quick)
                .into_iter()
                .find(|s| s.name == "idle")
                .unwrap()
                .load
                .idle
        };
        assert_eq!((idle(false), idle(true)), (10_000, 1_000));
        // Opening 10,000 connections on net (a thread each) takes longer than its default
        // 15 s keep-alive timeout would allow them to stay idle.
        let all = Scenario::all(false);
        let idle = all.iter().find(|s| s.name == "idle").unwrap();
        assert_eq!(idle.load.server_flags, ["--keep-alive-timeout", "5m"]);
    }
}
