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
//!
//! **Batches and wake-ups.** A loop hands over all the requests one iteration completed
//! with [`Sender::send_all`]: one lock, and one wake-up per queued job that no wake-up
//! already on its way covers, never more than there are sleeping workers. A worker busy
//! with a request is not counted on to take the next one: its handler may block, and a job
//! must never wait behind it while another worker sleeps. Workers take jobs one at a time
//! (a worker that took a batch would hold every job of it behind one handler that blocks)
//! and look for the next before they sleep, so under load a worker rarely sleeps at all;
//! the wake-ups saved are those of the loops (see [`crate::worker`]).

use crate::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::collections::VecDeque;
use std::fmt;

/// Fresh requests taken for each pipelined one while both kinds wait.
pub(crate) const FRESH_PER_PIPELINED: u32 = 4;

/// The kind of a queued request (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
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
    /// Workers woken by `send_all` that have not taken the lock since.
    waking: usize,
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
pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let inner = Arc::new(Inner {
        state: Mutex::new(State {
            fresh: VecDeque::new(),
            pipelined: VecDeque::new(),
            streak: 0,
            sleeping: 0,
            waking: 0,
            senders: 1,
        }),
        ready: Condvar::new(),
        capacity,
    });
    (Sender(Arc::clone(&inner)), Receiver(inner))
}

/// The pushing end; the queue closes when the last one is dropped.
pub struct Sender<T>(Arc<Inner<T>>);

impl<T> Sender<T> {
    /// Push without blocking; a full queue hands the item back. Wakes a sleeping worker
    /// if there is one.
    #[cfg(test)]
    pub fn try_send(&self, item: T, kind: Kind) -> Result<(), T> {
        let mut batch = vec![(item, kind)];
        self.send_all(&mut batch);
        batch.pop().map_or(Ok(()), |(item, _)| Err(item))
    }

    /// Push as many of `items` as fit, in order, under one lock; what does not fit stays
    /// in `items`. Wakes a sleeping worker for each queued job not covered by a wake-up on
    /// its way (see the module docs). Returns how many were pushed.
    pub fn send_all(&self, items: &mut Vec<(T, Kind)>) -> usize {
        let mut state = self.0.lock();
        let room = self.0.capacity.saturating_sub(state.len());
        let sent = room.min(items.len());
        for (item, kind) in items.drain(..sent) {
            match kind {
                Kind::Fresh => state.fresh.push_back(item),
                Kind::Pipelined => state.pipelined.push_back(item),
            }
        }
        let wake = wakes_needed(state.len(), state.sleeping, state.waking);
        state.waking += wake;
        drop(state);
        for _ in 0..wake {
            self.0.ready.notify_one();
        }
        sent
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

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("capacity", &self.0.capacity)
            .finish_non_exhaustive()
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
pub struct Receiver<T>(Arc<Inner<T>>);

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("capacity", &self.0.capacity)
            .finish_non_exhaustive()
    }
}

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
            // Whether `send_all` counted this wake-up or not (a spurious one), this worker
            // is awake now; a count lost that way only costs a wake-up more later.
            state.waking = state.waking.saturating_sub(1);
        }
    }
}

/// How many sleeping workers to wake for `queued` jobs: one per job beyond those that
/// `waking` workers (woken, not running yet) will take, at most every sleeping one that is
/// not woken already.
fn wakes_needed(queued: usize, sleeping: usize, waking: usize) -> usize {
    queued
        .saturating_sub(waking)
        .min(sleeping.saturating_sub(waking))
}

#[cfg(all(test, not(loom)))]
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

    #[test]
    fn send_all_pushes_what_fits_in_order() {
        let (tx, rx) = bounded(3);
        let mut batch = vec![
            (1, Kind::Fresh),
            (2, Kind::Fresh),
            (3, Kind::Fresh),
            (4, Kind::Fresh),
        ];
        assert_eq!(tx.send_all(&mut batch), 3);
        assert_eq!(batch, vec![(4, Kind::Fresh)], "the rest stays, in order");
        assert_eq!(rx.recv(), Some((1, false)));
        assert_eq!(rx.recv(), Some((2, true)));
        assert_eq!(rx.recv(), Some((3, true)));
        // Emptied: the rest fits now, behind what was sent before.
        assert_eq!(tx.send_all(&mut batch), 1);
        assert_eq!(rx.recv(), Some((4, true)));
    }

    #[test]
    fn wake_ups_cover_the_queue_without_waking_twice() {
        // One job, both workers asleep: wake one.
        assert_eq!(wakes_needed(1, 2, 0), 1);
        // One job, one worker asleep (the other may be blocked in a handler): wake it.
        assert_eq!(wakes_needed(1, 1, 0), 1);
        // A worker woken and not running yet will take the job.
        assert_eq!(wakes_needed(1, 2, 1), 0);
        assert_eq!(wakes_needed(3, 2, 1), 1);
        // Never more than are asleep and not woken already.
        assert_eq!(wakes_needed(1000, 4, 1), 3);
        assert_eq!(wakes_needed(0, 4, 0), 0);
    }

    #[test]
    fn a_sleeping_worker_is_woken_by_send_all() {
        let (tx, rx) = bounded(10);
        let worker = std::thread::spawn(move || rx.recv().map(|(x, _)| x));
        // Whether the worker sleeps already or not, it gets the job.
        let mut batch = vec![(9, Kind::Fresh)];
        assert_eq!(tx.send_all(&mut batch), 1);
        assert_eq!(worker.join().unwrap(), Some(9));
    }
}

/// Model checks (`scripts/loom.sh`): the wake-up protocol under every interleaving loom
/// explores. A job left in the queue while a worker sleeps would show as a deadlock (the
/// worker never returns) or as a missing job.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::sync::thread;

    #[test]
    fn jobs_sent_in_two_batches_reach_two_sleeping_workers() {
        loom::model(|| {
            let (tx, rx) = bounded(4);
            let workers: Vec<_> = (0..2)
                .map(|_| {
                    let rx = rx.clone();
                    thread::spawn(move || {
                        let mut got = Vec::new();
                        while let Some((x, _)) = rx.recv() {
                            got.push(x);
                        }
                        got
                    })
                })
                .collect();
            drop(rx);
            assert_eq!(tx.send_all(&mut vec![(1, Kind::Fresh)]), 1);
            assert_eq!(tx.send_all(&mut vec![(2, Kind::Pipelined)]), 1);
            drop(tx);
            let mut all: Vec<i32> = workers
                .into_iter()
                .flat_map(|w| w.join().unwrap())
                .collect();
            all.sort();
            assert_eq!(all, vec![1, 2]);
        });
    }

    #[test]
    fn a_job_is_taken_while_the_sender_lives() {
        // No close to rescue a lost wake-up: the worker must take the job on its own.
        loom::model(|| {
            let (tx, rx) = bounded(2);
            let worker = thread::spawn(move || rx.recv().map(|(x, _)| x));
            assert_eq!(tx.send_all(&mut vec![(7, Kind::Fresh)]), 1);
            assert_eq!(worker.join().unwrap(), Some(7));
            drop(tx);
        });
    }
}
