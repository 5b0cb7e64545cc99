//! The synchronisation primitives of the protocols that cross threads (the takeover of a
//! loop, the worker queue's wake-ups): std's, or loom's in a model-checking build
//! (`RUSTFLAGS="--cfg loom"`), so that the same code is checked under every interleaving
//! loom explores (`scripts/loom.sh`).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicU64};
#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};
#[cfg(loom)]
pub(crate) use loom::thread;

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicU64};
#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::thread;

/// A place one thread leaves a value in and another takes it from, lock-free (an atomic
/// swap of a pointer) outside loom builds. Who may take is decided elsewhere (the
/// takeover word): the cell only carries the value, and its swap publishes it.
pub(crate) struct Handoff<T> {
    #[cfg(not(loom))]
    cell: crossbeam_utils::atomic::AtomicCell<Option<Box<T>>>,
    #[cfg(loom)]
    cell: Mutex<Option<Box<T>>>,
}

impl<T> Handoff<T> {
    /// An empty cell.
    pub(crate) fn new() -> Self {
        Handoff {
            #[cfg(not(loom))]
            cell: crossbeam_utils::atomic::AtomicCell::new(None),
            #[cfg(loom)]
            cell: Mutex::new(None),
        }
    }

    /// Leave `value` (the cell must be empty).
    pub(crate) fn put(&self, value: Box<T>) {
        #[cfg(not(loom))]
        let old = self.cell.swap(Some(value));
        #[cfg(loom)]
        let old = self.cell.lock().unwrap().replace(value);
        debug_assert!(old.is_none(), "a handoff cell held two values");
    }

    /// Take what was left, if anything.
    pub(crate) fn take(&self) -> Option<Box<T>> {
        #[cfg(not(loom))]
        return self.cell.take();
        #[cfg(loom)]
        return self.cell.lock().unwrap().take();
    }

    /// Whether the swaps are lock-free (true for a pointer outside loom builds).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn is_lock_free() -> bool {
        crossbeam_utils::atomic::AtomicCell::<Option<Box<T>>>::is_lock_free()
    }
}
