//! The bounded worker queue: loops push complete requests without blocking, workers pop
//! them, sleeping on a condition variable only when there is nothing to do.
//!
//! A plain mutex-and-condvar queue, chosen over a spinning channel: on a machine whose
//! cores are all busy (loops, workers and the clients), spinning and `sched_yield` only
//! take time from the threads that have work.
//!
//! **Fairness.** Items are of two kinds: *fresh* requests (the first request a connection
//! sent since it was last read) and *pipelined* ones (already buffered behind a request
//! just served). While both wait, workers take [`FRESH_PER_PIPELINED`] fresh requests for
//! each pipelined one, so a few connections that pipeline without end (or without reading)
//! cannot crowd out the many that send one request at a time, and pipelined requests are
//! never starved. When only one kind waits, it is served at full speed: no capacity is
//! left idle.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// Fresh requests taken for each pipelined one while both kinds wait.
pub(crate) const FRESH_PER_PIPELINED: u32 = 4;

/// The kind of a queued request (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The first request read from a connection since it was last read.
    Fresh,
    /// A request that was already buffered behind the one just served.
    Pipelined,
}

struct State<T> {
    fresh: VecDeque<T>,
    pipelined: VecDeque<T>,
    /// Fresh items taken in a row while pipelined ones waited.
    streak: u32,
    /// Workers waiting in `recv`.
    sleeping: usize,
    /// Live senders; at zero, `recv` returns `None` once the queue is empty.
    senders: usize,
}

struct Inner<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
    capacity: usize,
}

impl<T> Inner<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T> State<T> {
    fn len(&self) -> usize {
        self.fresh.len() + self.pipelined.len()
    }

    /// The next item by the fairness rule.
    fn pop(&mut self) -> Option<T> {
        let take_fresh = !self.fresh.is_empty()
            && (self.pipelined.is_empty() || self.streak < FRESH_PER_PIPELINED);
        if take_fresh {
            if !self.pipelined.is_empty() {
                self.streak += 1;
            }
            self.fresh.pop_front()
        } else {
            self.streak = 0;
            self.pipelined.pop_front()
        }
    }
}

/// A queue of at most `capacity` items, with one sender per loop. Its storage grows on
/// demand up to `capacity` and is then reused: no allocation per item in steady state.
pub(crate) fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let inner = Arc::new(Inner {
        state: Mutex::new(State {
            fresh: VecDeque::new(),
            pipelined: VecDeque::new(),
            streak: 0,
            sleeping: 0,
            senders: 1,
        }),
        ready: Condvar::new(),
        capacity,
    });
    (Sender(Arc::clone(&inner)), Receiver(inner))
}

/// The pushing end; the queue closes when the last one is dropped.
pub(crate) struct Sender<T>(Arc<Inner<T>>);

impl<T> Sender<T> {
    /// Push without blocking; a full queue hands the item back.
    pub fn try_send(&self, item: T, kind: Kind) -> Result<(), T> {
        let mut state = self.0.lock();
        if state.len() >= self.0.capacity {
            return Err(item);
        }
        match kind {
            Kind::Fresh => state.fresh.push_back(item),
            Kind::Pipelined => state.pipelined.push_back(item),
        }
        let wake = state.sleeping > 0;
        drop(state);
        if wake {
            self.0.ready.notify_one();
        }
        Ok(())
    }

    /// True when a push would fail now.
    pub fn is_full(&self) -> bool {
        self.0.lock().len() >= self.0.capacity
    }

    /// True when the queue is at most half full: the level at which loops waiting for room
    /// are woken (waking them on every pop would make them churn one item at a time).
    pub fn has_room(&self) -> bool {
        self.0.lock().len() <= self.0.capacity / 2
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.0.lock().senders += 1;
        Sender(Arc::clone(&self.0))
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.senders -= 1;
        if state.senders == 0 {
            drop(state);
            self.0.ready.notify_all();
        }
    }
}

/// The popping end, shared by the workers.
pub(crate) struct Receiver<T>(Arc<Inner<T>>);

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        Receiver(Arc::clone(&self.0))
    }
}

impl<T> Receiver<T> {
    /// The next item, waiting for one, and whether the queue now has room (see
    /// [`Sender::has_room`]); `None` once every sender is gone and the queue is empty.
    pub fn recv(&self) -> Option<(T, bool)> {
        let mut state = self.0.lock();
        loop {
            if let Some(item) = state.pop() {
                let room = state.len() <= self.0.capacity / 2;
                return Some((item, room));
            }
            if state.senders == 0 {
                return None;
            }
            state.sleeping += 1;
            state = self.0.ready.wait(state).unwrap_or_else(|e| e.into_inner());
            state.sleeping -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_queue_hands_items_back_and_closing_ends_receivers() {
        let (tx, rx) = bounded(2);
        assert!(tx.try_send(1, Kind::Fresh).is_ok());
        assert!(tx.try_send(2, Kind::Fresh).is_ok());
        assert!(tx.is_full());
        assert_eq!(tx.try_send(3, Kind::Pipelined), Err(3));
        assert!(!tx.has_room());
        assert_eq!(rx.recv(), Some((1, true)));
        assert!(tx.has_room());
        let waiter = {
            let rx = rx.clone();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                while let Some((x, _)) = rx.recv() {
                    got.push(x);
                }
                got
            })
        };
        let tx2 = tx.clone();
        drop(tx);
        assert!(tx2.try_send(4, Kind::Fresh).is_ok());
        drop(tx2);
        assert_eq!(waiter.join().unwrap(), vec![2, 4]);
    }

    #[test]
    fn fresh_first_but_pipelined_never_starve() {
        let (tx, rx) = bounded(100);
        for i in 0..3 {
            tx.try_send(100 + i, Kind::Pipelined).unwrap();
        }
        for i in 0..10 {
            tx.try_send(i, Kind::Fresh).unwrap();
        }
        let order: Vec<i32> = (0..13).map(|_| rx.recv().unwrap().0).collect();
        assert_eq!(
            order,
            vec![0, 1, 2, 3, 100, 4, 5, 6, 7, 101, 8, 9, 102],
            "{FRESH_PER_PIPELINED} fresh per pipelined, then what is left"
        );
        // Only pipelined waiting: served at once.
        tx.try_send(7, Kind::Pipelined).unwrap();
        assert_eq!(rx.recv().unwrap().0, 7);
    }
}
