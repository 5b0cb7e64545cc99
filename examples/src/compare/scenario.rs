//! The scenarios `compare` runs: the situations where a thread per connection and an
//! event loop with a worker pool behave differently.
//!
//! `mixed` runs two measured populations at once: 45 quick clients (`GET /`) and 5
//! whose requests block 10 ms in the handler (`GET /work?ms=10`, [`Load::slow_path`]).
//! The quick ones are the scenario's figures; the blocking ones run on a second load
//! generator beside them (in the same process, on its own thread, started first and
//! stopped [`SLOW_MARGIN`] after) and are reported apart
//! ([`SlowClients`](super::results::SlowClients)). Its baseline `mixed-base` is the 45
//! quick clients alone, so that its table gives each server's `× alone`.
//! `http-pipelined` is TechEmpower's plaintext shape: 256 connections, 16 requests in
//! flight on each.
//!
//! The **attack group** ([`Scenario::attack`], run only when named: see
//! [`Scenario::select`]) measures normal clients beside one hostile population each:
//! HTTP keep-alive (50 connections, `GET /`) beside expect-stallers (`atk-expect`) or
//! partial bodies (`atk-input`); RESP (50 connections, pipeline 1) beside big
//! non-readers (`atk-output`) or amplifiers (`atk-amplify`); HTTPS keep-alive beside a
//! ClientHello flood (`atk-tls-hello`). A probe opens a fresh connection every 100 ms
//! in each. Each protocol has a baseline scenario, the same load and probe without the
//! attackers (`atk-base-http`, `atk-base-resp`, `atk-base-https`): the tables give
//! each server's req/s under attack over its req/s in the baseline of the same run
//! (`× alone`). The servers keep their default timeouts and get no flag newer than the
//! other scenarios', so that binaries of an older commit (`compare --bin-dir DIR
//! --no-build`) can be measured the same way.

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
    /// In the attack group: run only when named (see [`Scenario::select`]).
    pub attack: bool,
    /// The scenario whose rows this one's req/s are divided by, server by server (the
    /// same load without the attackers); it runs first.
    pub baseline: Option<&'static str>,
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
    /// HTTP clients announcing a body after `Expect: 100-continue` and never sending it.
    pub expect_stallers: usize,
    /// HTTP clients sending 900,000 bytes of a 1,000,000-byte body, then nothing.
    pub partial_bodies: usize,
    /// RESP clients asking for a 2,000,000-byte value and never reading it.
    pub big_non_readers: usize,
    /// RESP clients asking for a 64 KiB value 1,000 times in one `MGET`, again and again.
    pub amplifiers: usize,
    /// Connections sending a captured TLS ClientHello, again and again.
    pub hello_flood: usize,
    /// The hostile populations reopen the connections the server closes.
    pub reconnect: bool,
    /// Probe with a fresh connection this often.
    pub probe_interval: Option<Duration>,
    /// Flags for our servers (net, evnet) in this scenario.
    pub server_flags: &'static [&'static str],
    /// Speak TLS (the servers get `--tls-cert` and `--tls-key`).
    pub tls: bool,
    /// With TLS, the servers' certificate has an RSA-2048 key (made with the `openssl`
    /// command; rows are skipped without it) instead of ECDSA P-256.
    pub rsa: bool,
    /// With TLS, resume sessions on new connections.
    pub resume: bool,
    /// Close each connection after this many requests and open a new one.
    pub requests_per_connection: Option<u64>,
    /// Connections of a second measured population, reported apart (default 0: none).
    pub slow_connections: usize,
    /// The HTTP request target of the second population (`/work?ms=10`).
    pub slow_path: &'static str,
}

/// How much longer the second measured population ([`Load::slow_connections`]) runs
/// than the main one: it starts first, and must press over the whole of the main
/// clients' measured time.
pub const SLOW_MARGIN: Duration = Duration::from_millis(100);

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
            expect_stallers: 0,
            partial_bodies: 0,
            big_non_readers: 0,
            amplifiers: 0,
            hello_flood: 0,
            reconnect: false,
            probe_interval: None,
            server_flags: &[],
            tls: false,
            rsa: false,
            resume: true,
            requests_per_connection: None,
            slow_connections: 0,
            slow_path: "/",
        }
    }

    /// Every connection the load generator opens at once: measured, background and
    /// probes. With a new connection per request, four per client: a closed connection
    /// stays open on the server until it reads the close (the hello flood's too).
    pub fn total_connections(&self) -> usize {
        let churn = if self.requests_per_connection.is_some() {
            4
        } else {
            1
        };
        let probes = crate::loadgen::probes_in_flight(self.probe_interval);
        self.connections * churn
            + self.slow_connections
            + self.idle
            + self.slowloris
            + self.non_readers
            + self.expect_stallers
            + self.partial_bodies
            + self.big_non_readers
            + self.amplifiers
            + self.hello_flood * 4
            + probes
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
        c.expect_stallers = self.expect_stallers;
        c.partial_bodies = self.partial_bodies;
        c.big_non_readers = self.big_non_readers;
        c.amplifiers = self.amplifiers;
        c.hello_flood = self.hello_flood;
        c.hello_name = TLS_NAME.to_owned();
        c.reconnect = self.reconnect;
        c.probe_interval = self.probe_interval;
        c.warmup = warmup;
        // Generous, so that a slow server shows in p99 rather than as timeouts; a
        // request that takes longer is an error.
        c.timeout = Duration::from_secs(5);
        Ok(c)
    }

    /// The second load generator's configuration, if the load has a second measured
    /// population ([`Load::slow_connections`]): its connections on
    /// [`Load::slow_path`], one request in flight each, the same warm-up, and
    /// [`SLOW_MARGIN`] more measured time than `duration`; no background population
    /// and no probe (the main configuration has them).
    pub fn slow_config(
        &self,
        addr: SocketAddr,
        warmup: Duration,
        duration: Duration,
    ) -> Option<Config> {
        if self.slow_connections == 0 {
            return None;
        }
        let mut c = Config::new(
            addr,
            self.proto,
            Stop::Duration(duration.saturating_add(SLOW_MARGIN)),
        );
        c.connections = self.slow_connections;
        c.path = self.slow_path.to_owned();
        c.warmup = warmup;
        c.timeout = Duration::from_secs(5);
        Some(c)
    }
}

const HTTP_SERVERS: [ServerId; 7] = [
    ServerId::EpollFloor,
    ServerId::Tokio,
    ServerId::Hyper,
    ServerId::Net,
    ServerId::Evnet,
    ServerId::EvnetWorkers,
    ServerId::EvnetInline,
];

const OURS: [ServerId; 4] = [
    ServerId::Net,
    ServerId::Evnet,
    ServerId::EvnetWorkers,
    ServerId::EvnetInline,
];

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

/// The servers of the attack group: ours, and net with its default pool of 64 threads.
const ATTACKED: [ServerId; 5] = [
    ServerId::Net,
    ServerId::NetDefaultPool,
    ServerId::Evnet,
    ServerId::EvnetWorkers,
    ServerId::EvnetInline,
];

/// The servers of `mixed` and its baseline: the references, whose `/work` blocks a
/// runtime thread, those of `blocking`, and evnet's default without the blocking hint.
const MIXED_SERVERS: [ServerId; 8] = [
    ServerId::Tokio,
    ServerId::Hyper,
    ServerId::Net,
    ServerId::Evnet,
    ServerId::EvnetUnhinted,
    ServerId::EvnetWorkers,
    ServerId::EvnetInline,
    ServerId::Evnet64Workers,
];

/// The quick clients of `mixed` (and of `mixed-base`).
const MIXED_QUICK: usize = 45;

/// The clients of `mixed` whose requests block.
const MIXED_SLOW: usize = 5;

/// The name that selects the whole attack group in `--scenarios`.
pub const ATTACKS: &str = "attacks";

/// How often the attack group's probe opens a fresh connection.
pub const ATTACK_PROBE: Duration = Duration::from_millis(100);

impl Scenario {
    /// Every scenario, in the order they run (the attack group last, each baseline
    /// before its attacks). `quick` uses 1,000 idle connections instead of 10,000
    /// (opening them would take most of a quick run).
    pub fn all(quick: bool) -> Vec<Scenario> {
        let mut all = Scenario::usual(quick);
        all.extend(Scenario::attacks());
        all
    }

    /// The scenarios run by default.
    fn usual(quick: bool) -> Vec<Scenario> {
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
                attack: false,
                baseline: None,
            },
            Scenario {
                name: "http-2000",
                title: "HTTP keep-alive, 2,000 connections".to_owned(),
                about: "GET / over 2,000 keep-alive connections: net needs 2,000 threads.",
                app: App::Http,
                servers: HTTP_SERVERS.to_vec(),
                load: http(2_000),
                attack: false,
                baseline: None,
            },
            Scenario {
                name: "http-pipelined",
                title: "HTTP, 256 connections, 16 pipelined requests on each".to_owned(),
                about: "TechEmpower's plaintext shape: GET / over 256 keep-alive \
                        connections with 16 requests in flight on each (4,096 in all). \
                        The load generator's one thread may be the limit (see client \
                        cores).",
                app: App::Http,
                servers: HTTP_SERVERS[1..].to_vec(),
                load: Load {
                    pipeline: 16,
                    ..http(256)
                },
                attack: false,
                baseline: None,
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
                attack: false,
                baseline: None,
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
                attack: false,
                baseline: None,
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
                attack: false,
                baseline: None,
            },
            Scenario {
                name: "blocking",
                title: "HTTP, a handler that blocks 1 ms, 50 connections".to_owned(),
                about: "GET /work?ms=1 sleeps 1 ms in the handler: a fixed pool of workers \
                        serves at most one request per worker per millisecond, a thread \
                        per connection serves all 50 at once. net wins here; evnet needs \
                        as many workers as requests it should block on at once. (The tokio and \
                        hyper references block their runtime threads on this route: see \
                        mixed.)",
                app: App::Http,
                servers: vec![
                    ServerId::Net,
                    ServerId::Evnet,
                    ServerId::EvnetWorkers,
                    ServerId::EvnetInline,
                    ServerId::Evnet64Workers,
                ],
                load: Load {
                    path: "/work?ms=1",
                    ..http(50)
                },
                attack: false,
                baseline: None,
            },
            Scenario {
                name: "mixed-base",
                title: "HTTP keep-alive, 45 quick clients alone (mixed baseline)".to_owned(),
                about: "The quick clients of mixed without the blocking ones: GET / over 45 \
                        keep-alive connections, the rate mixed divides by (× alone).",
                app: App::Http,
                servers: MIXED_SERVERS.to_vec(),
                load: http(MIXED_QUICK),
                attack: false,
                baseline: None,
            },
            Scenario {
                name: "mixed",
                title: "HTTP, 45 quick clients beside 5 whose requests block 10 ms".to_owned(),
                about: "45 clients GET / beside 5 clients GET /work?ms=10, whose handler \
                        sleeps 10 ms: do the quick requests wait behind the blocked ones? \
                        req/s, p99 and × alone are the quick clients'; slow req/s and slow \
                        p99 the blocking clients', measured apart over the same time. A \
                        thread per connection (net) keeps the quick ones apart; evnet's \
                        default sends the marked /work requests to its workers and serves \
                        the quick ones on its loops (evnet-nohint: unmarked, each sleep \
                        costs a takeover of its loop); its workers mode (one per core; \
                        64 in evnet-64w) and its loops (inline) are held by the sleeps; \
                        tokio and hyper sleep on their runtime threads, as an async \
                        handler calling std::thread::sleep does.",
                app: App::Http,
                servers: MIXED_SERVERS.to_vec(),
                load: Load {
                    slow_connections: MIXED_SLOW,
                    slow_path: "/work?ms=10",
                    ..http(MIXED_QUICK)
                },
                attack: false,
                baseline: Some("mixed-base"),
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
                attack: false,
                baseline: None,
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
                attack: false,
                baseline: None,
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
                attack: false,
                baseline: None,
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
                attack: false,
                baseline: None,
            },
            Scenario {
                name: "resp-p1",
                title: "RESP SET/GET, 50 connections, pipeline 1".to_owned(),
                about: "The resp example, alternating SET and GET, one request in flight \
                        per connection; redis-server as the reference when installed.",
                app: App::Resp,
                servers: resp_servers(),
                load: Load::new(Proto::Resp, 50),
                attack: false,
                baseline: None,
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
                attack: false,
                baseline: None,
            },
            Scenario {
                name: "echo-2000",
                title: "Echo, 2,000 connections".to_owned(),
                about: "A line echo over 2,000 connections: the smallest handler.",
                app: App::Echo,
                servers: OURS.to_vec(),
                load: Load::new(Proto::Echo, 2_000),
                attack: false,
                baseline: None,
            },
        ]
    }

    /// The attack group (see the [module docs](self)), each baseline first.
    fn attacks() -> Vec<Scenario> {
        let probed = |proto| Load {
            probe_interval: Some(ATTACK_PROBE),
            ..Load::new(proto, 50)
        };
        let https = Load {
            tls: true,
            rsa: true,
            ..probed(Proto::Http)
        };
        let attack = |name, title: &str, about, app, baseline, load| Scenario {
            name,
            title: title.to_owned(),
            about,
            app,
            servers: ATTACKED.to_vec(),
            load,
            attack: true,
            baseline,
        };
        vec![
            attack(
                "atk-base-http",
                "HTTP keep-alive, 50 connections, probed (attack baseline)",
                "GET / over 50 keep-alive connections and a fresh connection every 100 ms, \
                 nothing hostile: the rate the attack scenarios divide by (× alone).",
                App::Http,
                None,
                probed(Proto::Http),
            ),
            attack(
                "atk-expect",
                "HTTP, 50 active beside 64 expect-stallers (reconnecting)",
                "64 clients send POST /echo with Expect: 100-continue and a 1,000,000-byte \
                 Content-Length, read the 100 Continue and never send the body; each one \
                 the server closes comes back at once. Default server timeouts.",
                App::Http,
                Some("atk-base-http"),
                Load {
                    expect_stallers: 64,
                    reconnect: true,
                    ..probed(Proto::Http)
                },
            ),
            attack(
                "atk-input",
                "HTTP, 50 active beside 150 partial bodies",
                "150 clients announce a 1,000,000-byte body to POST /echo, send 900,000 \
                 bytes of it as fast as the server reads, then stall: 135 MB of input \
                 the server holds or refuses. Default server timeouts.",
                App::Http,
                Some("atk-base-http"),
                Load {
                    partial_bodies: 150,
                    ..probed(Proto::Http)
                },
            ),
            attack(
                "atk-base-resp",
                "RESP SET/GET, 50 connections, pipeline 1, probed (attack baseline)",
                "The resp example, alternating SET and GET on 50 connections, and a fresh \
                 connection every 100 ms, nothing hostile: the rate the RESP attack \
                 scenarios divide by (× alone).",
                App::Resp,
                None,
                probed(Proto::Resp),
            ),
            attack(
                "atk-output",
                "RESP, 50 active beside 80 big non-readers",
                "80 clients each GET a 2,000,000-byte value and never read the answer: \
                 160 MB of output the server holds or refuses. Default server timeouts.",
                App::Resp,
                Some("atk-base-resp"),
                Load {
                    big_non_readers: 80,
                    ..probed(Proto::Resp)
                },
            ),
            attack(
                "atk-amplify",
                "RESP, 50 active beside 4 amplifiers",
                "4 clients each send MGET naming a 64 KiB value 1,000 times (a 64 MB \
                 reply for a 20 KB request, or an error where the server bounds replies), \
                 read the answer and ask again.",
                App::Resp,
                Some("atk-base-resp"),
                Load {
                    amplifiers: 4,
                    ..probed(Proto::Resp)
                },
            ),
            attack(
                "atk-base-https",
                "HTTPS keep-alive, 50 connections, probed (attack baseline, RSA-2048 key)",
                "GET / over 50 TLS keep-alive connections and a fresh TLS connection every \
                 100 ms, nothing hostile: the rate atk-tls-hello divides by (× alone).",
                App::Http,
                None,
                https.clone(),
            ),
            attack(
                "atk-tls-hello",
                "HTTPS keep-alive, 50 connections beside a ClientHello flood of 64 \
                 (RSA-2048 key)",
                "64 connections at a time each send one captured ClientHello, close at \
                 the server's first answer and start again: the server does a key \
                 exchange and an RSA-2048 signature for each (about 0.7 ms here), the \
                 client no cryptography at all. The key is made with `openssl`.",
                App::Http,
                Some("atk-base-https"),
                Load {
                    hello_flood: 64,
                    ..https
                },
            ),
        ]
    }

    /// The names of every scenario.
    pub fn names() -> Vec<&'static str> {
        Scenario::all(true).iter().map(|s| s.name).collect()
    }

    /// The names of the scenarios run by default: all but the attack group.
    pub fn default_names() -> Vec<&'static str> {
        Scenario::usual(true).iter().map(|s| s.name).collect()
    }

    /// The names of the attack group, in the order they run.
    pub fn attack_names() -> Vec<&'static str> {
        Scenario::attacks().iter().map(|s| s.name).collect()
    }

    /// The scenarios `--scenarios` names, as [`Options::scenarios`](super::Options)
    /// takes them: each name, [`ATTACKS`] for the whole attack group, and the baseline
    /// of each attack scenario named; `Err` with the first unknown name.
    ///
    /// ```
    /// use examples::compare::scenario::Scenario;
    /// let chosen = Scenario::select(&["atk-expect".to_owned(), "http-50".to_owned()]);
    /// assert_eq!(chosen.unwrap(), ["atk-expect", "http-50", "atk-base-http"]);
    /// assert!(Scenario::select(&["attacks".to_owned()]).unwrap().contains(&"atk-amplify".to_owned()));
    /// assert_eq!(Scenario::select(&["nope".to_owned()]), Err("nope".to_owned()));
    /// ```
    pub fn select(names: &[String]) -> Result<Vec<String>, String> {
        let all = Scenario::all(true);
        fn add(chosen: &mut Vec<String>, name: &str) {
            if !chosen.iter().any(|c| c == name) {
                chosen.push(name.to_owned());
            }
        }
        let mut chosen: Vec<String> = Vec::new();
        for name in names {
            if name == ATTACKS {
                for attack in Scenario::attack_names() {
                    add(&mut chosen, attack);
                }
                continue;
            }
            let scenario = all
                .iter()
                .find(|s| s.name == name)
                .ok_or_else(|| name.clone())?;
            add(&mut chosen, scenario.name);
        }
        let baselines: Vec<&str> = all
            .iter()
            .filter(|s| chosen.iter().any(|c| c == s.name))
            .filter_map(|s| s.baseline)
            .collect();
        for b in baselines {
            add(&mut chosen, b);
        }
        Ok(chosen)
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
            if let Some(slow) = s.load.slow_config(
                "127.0.0.1:1".parse().unwrap(),
                Duration::from_secs(1),
                Duration::from_secs(5),
            ) {
                slow.validate()
                    .unwrap_or_else(|e| panic!("{}: {e}", s.name));
            }
            let _ = std::fs::remove_dir_all(&ca);
        }
    }

    #[test]
    fn the_attack_group_runs_only_when_named_with_its_baselines() {
        let defaults = Scenario::default_names();
        let attacks = Scenario::attack_names();
        assert!(attacks.iter().all(|a| a.starts_with("atk-")), "{attacks:?}");
        assert!(
            defaults.iter().all(|d| !attacks.contains(d)),
            "{defaults:?}"
        );
        assert_eq!(defaults.len() + attacks.len(), Scenario::names().len());
        let options = super::super::Options::new("b".into(), "l".into(), true);
        assert_eq!(options.scenarios, defaults);
        let select = |names: &[&str]| {
            Scenario::select(&names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
        };
        assert_eq!(select(&[ATTACKS]).unwrap(), attacks);
        assert_eq!(
            select(&["atk-tls-hello", "atk-output", "atk-amplify"]).unwrap(),
            [
                "atk-tls-hello",
                "atk-output",
                "atk-amplify",
                "atk-base-resp",
                "atk-base-https"
            ]
        );
        assert_eq!(select(&["http-50", "nope"]), Err("nope".to_owned()));
        // Each baseline runs before the scenarios that divide by it, with the same
        // servers, the same protocol and measured load, and no attacker.
        let all = Scenario::all(true);
        let position = |name| all.iter().position(|s| s.name == name).unwrap();
        for s in all.iter().filter(|s| s.attack) {
            assert_eq!(s.servers, ATTACKED, "{}", s.name);
            assert_eq!(s.load.probe_interval, Some(ATTACK_PROBE), "{}", s.name);
            // No server flag: binaries of older commits must run these scenarios.
            assert!(s.load.server_flags.is_empty(), "{}", s.name);
            let Some(base) = s.baseline else {
                assert!(s.name.starts_with("atk-base-"), "{}", s.name);
                assert_eq!(s.load.total_connections(), 50 + 11, "{}", s.name);
                continue;
            };
            assert!(position(base) < position(s.name), "{}", s.name);
            let base = &all[position(base)];
            assert_eq!(base.app, s.app, "{}", s.name);
            assert_eq!(
                (base.load.proto, base.load.connections, base.load.pipeline),
                (s.load.proto, s.load.connections, s.load.pipeline),
                "{}",
                s.name
            );
            assert_eq!(base.load.tls, s.load.tls, "{}", s.name);
            assert!(
                s.load.total_connections() > base.load.total_connections(),
                "{}: an attacker",
                s.name
            );
        }
        let tls_hello = &all[position("atk-tls-hello")];
        assert!(tls_hello.title.contains("RSA-2048"), "{}", tls_hello.title);
        assert!(tls_hello.load.rsa, "the flood's certificate has an RSA key");
        assert_eq!(tls_hello.load.hello_flood, 64);
        assert!(all[position("atk-expect")].load.reconnect);
    }

    #[test]
    fn mixed_runs_after_its_baseline_with_the_blocking_clients_apart() {
        let all = Scenario::all(true);
        let position = |name| all.iter().position(|s| s.name == name).unwrap();
        let (base, mixed) = (&all[position("mixed-base")], &all[position("mixed")]);
        assert!(position("mixed-base") < position("mixed"));
        assert_eq!(mixed.baseline, Some("mixed-base"));
        assert_eq!(base.servers, mixed.servers);
        assert!(mixed.servers.contains(&ServerId::Tokio));
        assert!(mixed.servers.contains(&ServerId::Evnet64Workers));
        // The same quick clients; the blocking ones only in mixed, counted in its
        // connections (net gets a thread for each).
        assert_eq!((base.load.connections, base.load.path), (45, "/"));
        assert_eq!((mixed.load.connections, mixed.load.path), (45, "/"));
        assert_eq!(base.load.slow_connections, 0);
        assert_eq!(
            (mixed.load.slow_connections, mixed.load.slow_path),
            (5, "/work?ms=10")
        );
        assert_eq!(mixed.load.total_connections(), 50);
        let addr = "127.0.0.1:1".parse().unwrap();
        let (warmup, duration) = (Duration::from_millis(100), Duration::from_millis(500));
        assert!(base.load.slow_config(addr, warmup, duration).is_none());
        let slow = mixed.load.slow_config(addr, warmup, duration).unwrap();
        assert_eq!((slow.connections, slow.path.as_str()), (5, "/work?ms=10"));
        assert_eq!(slow.warmup, warmup);
        assert_eq!(slow.stop, Stop::Duration(duration + SLOW_MARGIN));
        let select = Scenario::select(&["mixed".to_owned()]).unwrap();
        assert_eq!(select, ["mixed", "mixed-base"]);
        // TechEmpower's plaintext shape.
        let p = &all[position("http-pipelined")];
        assert_eq!(
            (p.load.connections, p.load.pipeline, p.load.path),
            (256, 16, "/")
        );
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
