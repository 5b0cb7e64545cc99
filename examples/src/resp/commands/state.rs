//! The state commands work on: the [`Server`] state every connection shares (the
//! keyspace and the counters `INFO` reports) and one connection's [`Client`] state.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use crate::resp::store::Store;

/// State shared by every connection: the keyspace and the counters `INFO` reports.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) store: Store,
    pub(super) started: Instant,
    next_client_id: AtomicU64,
    pub(super) connections_received: AtomicU64,
    pub(super) connected: AtomicI64,
    pub(super) commands: Counter,
}

impl Default for Server {
    fn default() -> Self {
        Server::with_store(Store::default())
    }
}

impl Server {
    pub(crate) fn with_store(store: Store) -> Server {
        Server {
            store,
            started: Instant::now(),
            next_client_id: AtomicU64::new(0),
            connections_received: AtomicU64::new(0),
            connected: AtomicI64::new(0),
            commands: Counter::default(),
        }
    }

    /// A new connection's client state.
    pub(crate) fn connect(&self) -> Client {
        let id = self.next_client_id.fetch_add(1, Relaxed) + 1;
        self.connections_received.fetch_add(1, Relaxed);
        self.connected.fetch_add(1, Relaxed);
        let shards = self.store.shard_count() as u64;
        Client {
            id,
            name: None,
            served: 0,
            // Connections start their sweep rounds at different shards. The remainder is
            // below the shard count, a `usize`.
            sweep_next: (id % shards) as usize,
        }
    }

    /// A connection closed.
    pub(crate) fn disconnect(&self) {
        self.connected.fetch_sub(1, Relaxed);
    }

    /// Commands executed (arity errors and unknown commands not counted, as in Redis).
    #[cfg(test)]
    pub(crate) fn commands_processed(&self) -> u64 {
        self.commands.sum()
    }
}

/// A counter updated by every command: spread over cache lines by client, so that
/// threads serving different connections do not fight over one line.
#[derive(Debug, Default)]
pub(super) struct Counter {
    slots: [Slot; 8],
}

#[derive(Debug, Default)]
#[repr(align(64))]
struct Slot(AtomicU64);

impl Counter {
    pub(super) fn add(&self, client: u64) {
        // The remainder is below 8.
        self.slots[(client % 8) as usize].0.fetch_add(1, Relaxed);
    }

    pub(super) fn sum(&self) -> u64 {
        self.slots.iter().map(|s| s.0.load(Relaxed)).sum()
    }

    pub(super) fn reset(&self) {
        for s in &self.slots {
            s.0.store(0, Relaxed);
        }
    }
}

/// One connection's client state.
#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) id: u64,
    pub(super) name: Option<Box<[u8]>>,
    pub(super) served: u32,
    pub(super) sweep_next: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_get_increasing_ids_and_are_counted() {
        let server = Server::with_store(Store::with_shards(4));
        let first = server.connect();
        let second = server.connect();
        assert_eq!((first.id, second.id), (1, 2));
        assert_eq!(server.connections_received.load(Relaxed), 2);
        assert_eq!(server.connected.load(Relaxed), 2);
        server.disconnect();
        assert_eq!(server.connected.load(Relaxed), 1);
        assert_eq!(server.connections_received.load(Relaxed), 2);
        // Sweep rounds start at different shards.
        assert_ne!(first.sweep_next, second.sweep_next);
        assert!(first.sweep_next < 4 && second.sweep_next < 4);
    }

    #[test]
    fn the_command_counter_sums_its_slots_and_resets() {
        let counter = Counter::default();
        for client in 0..20 {
            counter.add(client);
        }
        assert_eq!(counter.sum(), 20);
        counter.reset();
        assert_eq!(counter.sum(), 0);
    }
}
