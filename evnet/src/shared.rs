//! State shared by a server's handle, loops and workers (not generic over the handler).

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Condvar, Mutex};

use net::__private::{ClientLimits, Counters};
use net::{ServerParams, Stats};

use crate::peer_wait::PeerWaits;
use crate::pressure::Gauges;

/// Parameters, counters and the shutdown flags.
pub(crate) struct Shared {
    /// The server's parameters.
    pub params: ServerParams,
    /// Live counters.
    pub counters: Counters,
    /// Set by shutdown: stop accepting, close idle connections, finish busy ones.
    pub stopping: AtomicBool,
    /// Set when the shutdown deadline passed: cut busy connections.
    pub force: AtomicBool,
    /// Loops still running.
    pub loops_running: Mutex<usize>,
    /// Signalled when a loop ends.
    pub loop_finished: Condvar,
    /// Each loop's buffered bytes, indexed by loop id.
    pub gauges: Box<[Gauges]>,
    /// Workers waiting on a peer now, and how many may.
    pub peer_waits: PeerWaits,
    /// Runners (loop threads and spares) waiting on a peer now, and how many may.
    pub runner_waits: PeerWaits,
    /// Open connections per client address (`max_connections_per_client`), one table
    /// for every loop.
    pub clients: Option<Arc<ClientLimits>>,
}

impl Shared {
    /// Shared state for `loops` loops, `workers` workers and `spares` spare runners.
    pub(crate) fn new(params: ServerParams, loops: usize, workers: usize, spares: usize) -> Self {
        Shared {
            clients: ClientLimits::for_params(&params),
            params,
            counters: Counters::default(),
            stopping: AtomicBool::new(false),
            force: AtomicBool::new(false),
            loops_running: Mutex::new(loops),
            loop_finished: Condvar::new(),
            gauges: (0..loops).map(|_| Gauges::default()).collect(),
            peer_waits: PeerWaits::new(workers),
            runner_waits: PeerWaits::new(spares),
        }
    }

    /// The counters, with the loops' buffered bytes summed in.
    pub(crate) fn stats(&self) -> Stats {
        use std::sync::atomic::Ordering::Relaxed;
        let mut stats = self.counters.snapshot();
        stats.buffered_input = self.gauges.iter().map(|g| g.input.load(Relaxed)).sum();
        stats.buffered_output = self.gauges.iter().map(|g| g.output.load(Relaxed)).sum();
        stats
    }

    /// Record that one loop has ended; returns how many are still running.
    pub(crate) fn loop_exited(&self) -> usize {
        let mut running = self.loops_running.lock().unwrap_or_else(|e| e.into_inner());
        *running -= 1;
        self.loop_finished.notify_all();
        *running
    }
}
