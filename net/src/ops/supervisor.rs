//! The signals an operator sends: stop, stop now, restart.

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::process::Command;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR2};
use signal_hook::iterator::Signals;

use super::{Notifier, Successor};
use crate::ServerHandle;

/// How long a successor has to say it is ready, unless told otherwise.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// What a [`Supervisor`] did, for the program to report (see
/// [`Supervisor::on_event`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// A first `SIGTERM` or `SIGINT`: shutting down gracefully within `deadline`.
    ShuttingDown {
        /// `"SIGTERM"` or `"SIGINT"`.
        signal: &'static str,
        /// The shutdown deadline.
        deadline: Duration,
    },
    /// A second one: the process exits now with status 128 + the signal's number.
    Exiting {
        /// `"SIGTERM"` or `"SIGINT"`.
        signal: &'static str,
    },
    /// `SIGUSR2`: starting a successor on the listening sockets.
    Restarting,
    /// The successor (process `pid`) is ready: this server stops accepting and drains.
    HandedOver {
        /// The successor's process id.
        pid: u32,
    },
    /// The successor could not start or was not ready in time (it was killed); this
    /// server goes on as before.
    RestartFailed {
        /// Why.
        error: io::Error,
    },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::ShuttingDown { signal, deadline } => write!(
                f,
                "received {signal}, shutting down (deadline {deadline:?}; send it again to exit now)"
            ),
            Event::Exiting { signal } => write!(f, "received {signal} again: exiting now"),
            Event::Restarting => f.write_str("received SIGUSR2: starting a successor"),
            Event::HandedOver { pid } => write!(
                f,
                "handed over to pid {pid}: no longer accepting, draining"
            ),
            Event::RestartFailed { error } => {
                write!(f, "restart failed, still serving: {error}")
            }
        }
    }
}

type CommandFn = Box<dyn Fn() -> Command + Send>;
type EventFn = Box<dyn Fn(&Event) + Send>;

/// Watches the signals an operator sends to a server, and tells the service manager.
///
/// - The first `SIGTERM` or `SIGINT` sends `STOPPING=1` and shuts the server down
///   through its [`ServerHandle`] with the [shutdown
///   deadline](Supervisor::shutdown_deadline); the second ends the process at once, with
///   status 128 + the signal's number, for an operator who will not wait.
/// - With a [restart command](Supervisor::restart_with), `SIGUSR2` sends `RELOADING=1`,
///   starts that command as a [`Successor`] on the server's listening sockets and waits
///   for it to be ready; then shuts this server down the same way (it stops accepting at
///   once, finishes the requests in flight and closes its idle connections). A successor
///   that fails is killed, `READY=1` is sent again and this server goes on.
///
/// Signals are handled one at a time, in order: one that arrives while a successor is
/// being waited for (up to the [ready timeout](Supervisor::ready_timeout)) is handled
/// after it; a `SIGUSR2` once shutting down is ignored.
///
/// Create it before binding, so that a signal sent as soon as the server listens is
/// handled; [`watch`](Supervisor::watch) once the server runs. See the
/// [module](crate::ops) for an example.
pub struct Supervisor {
    signals: Signals,
    deadline: Duration,
    restart: Option<CommandFn>,
    ready_timeout: Duration,
    notifier: Notifier,
    on_event: EventFn,
}

impl Supervisor {
    /// Catch `SIGTERM` and `SIGINT` from now on, and read the service manager's address
    /// (`NOTIFY_SOCKET`) and, in a successor, its predecessor's (see [`Notifier`]).
    pub fn new() -> io::Result<Supervisor> {
        Ok(Supervisor {
            signals: Signals::new([SIGTERM, SIGINT])?,
            deadline: Duration::from_secs(10),
            restart: None,
            ready_timeout: READY_TIMEOUT,
            notifier: Notifier::from_env()?,
            on_event: Box::new(|_| {}),
        })
    }

    /// The deadline of a graceful shutdown (default 10 s): requests in flight have this
    /// long to finish.
    pub fn shutdown_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Restart on `SIGUSR2` by starting the command `command` returns (caught from now
    /// on).
    pub fn restart_with(mut self, command: impl Fn() -> Command + Send + 'static) -> Self {
        if self.restart.is_none() {
            // Registered once; before, SIGUSR2 keeps its default action.
            let _ = self.signals.add_signal(SIGUSR2);
        }
        self.restart = Some(Box::new(command));
        self
    }

    /// Restart on `SIGUSR2` by running this program again with the same arguments: the
    /// executable found now, so that a new binary installed at the same path later is the
    /// one started.
    pub fn restart_with_this_program(self) -> io::Result<Self> {
        let program: PathBuf = std::env::current_exe()?;
        let args: Vec<OsString> = std::env::args_os().skip(1).collect();
        Ok(self.restart_with(move || {
            let mut command = Command::new(&program);
            command.args(&args);
            command
        }))
    }

    /// How long a successor has to say it is ready (default 30 s).
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Call `report` with each [`Event`] (from the supervisor's thread), to log it.
    pub fn on_event(mut self, report: impl Fn(&Event) + Send + 'static) -> Self {
        self.on_event = Box::new(report);
        self
    }

    /// The notifier, for the program's own state changes.
    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    /// The server runs: send `READY=1` and watch the signals for `handle` from a thread of
    /// its own, which ends when the server has stopped.
    pub fn watch(self, handle: ServerHandle) -> io::Result<JoinHandle<()>> {
        self.notifier.ready()?;
        let closer = self.signals.handle();
        let stopped = handle.clone();
        thread::Builder::new()
            .name("net-ops-stopped".into())
            .spawn(move || {
                stopped.wait();
                closer.close();
            })?;
        thread::Builder::new()
            .name("net-ops-signals".into())
            .spawn(move || self.run(handle))
    }

    fn run(self, handle: ServerHandle) {
        let Supervisor {
            mut signals,
            deadline,
            restart,
            ready_timeout,
            notifier,
            on_event,
        } = self;
        let shut_down = |handle: &ServerHandle| {
            let handle = handle.clone();
            // On a thread of its own: a second signal must still be seen meanwhile.
            thread::spawn(move || handle.shutdown(deadline));
        };
        let mut stopping = false;
        for signal in signals.forever() {
            if signal == SIGUSR2 {
                let Some(command) = &restart else { continue };
                if stopping {
                    continue;
                }
                on_event(&Event::Restarting);
                let _ = notifier.reloading();
                match hand_over(&handle, command(), ready_timeout) {
                    Ok(pid) => {
                        stopping = true;
                        on_event(&Event::HandedOver { pid });
                        shut_down(&handle);
                    }
                    Err(error) => {
                        on_event(&Event::RestartFailed { error });
                        let _ = notifier.ready();
                    }
                }
                continue;
            }
            let name = if signal == SIGINT {
                "SIGINT"
            } else {
                "SIGTERM"
            };
            if stopping {
                on_event(&Event::Exiting { signal: name });
                std::process::exit(128 + signal);
            }
            stopping = true;
            let _ = notifier.stopping();
            on_event(&Event::ShuttingDown {
                signal: name,
                deadline,
            });
            shut_down(&handle);
        }
    }
}

/// Start `command` on the server's listening sockets and wait until it is ready; its
/// process id. A successor that fails is killed.
fn hand_over(handle: &ServerHandle, command: Command, timeout: Duration) -> io::Result<u32> {
    let listeners = handle.listeners()?;
    let mut successor = Successor::spawn(command, &listeners)?;
    drop(listeners);
    match successor.wait_ready(timeout) {
        Ok(()) => Ok(successor.release()),
        Err(e) => {
            successor.abandon();
            Err(e)
        }
    }
}

impl fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervisor")
            .field("deadline", &self.deadline)
            .field("restart", &self.restart.is_some())
            .field("ready_timeout", &self.ready_timeout)
            .field("notifier", &self.notifier)
            .finish()
    }
}
