//! A loop's preallocated connection slots, and the two intrusive timeout lists through
//! them (libev manual, "Be smart about timeouts": with one timeout per list, appending at
//! the tail keeps each list ordered by deadline, so every operation is O(1)).

use std::os::fd::RawFd;

use net::Connection;

/// "No slot": the end of a list.
const NIL: u32 = u32::MAX;

/// Where a slot is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Unused.
    Free,
    /// Open, no request pending; in the idle list (keep-alive timeout).
    Idle,
    /// Part of a request buffered; in the reading list (read timeout).
    Reading,
    /// A complete request is waiting for room in the worker queue.
    Stalled,
    /// Out with a worker (or being served inline).
    Busy,
}

/// Which timeout list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum List {
    /// Idle connections, by keep-alive deadline.
    Idle = 0,
    /// Connections with a partial request, by read deadline.
    Reading = 1,
}

/// One connection's place in its loop.
pub(crate) struct Slot<S> {
    /// The connection, absent while free or busy (a worker holds it then).
    pub conn: Option<Connection>,
    /// The handler's session, travelling with the connection.
    pub session: Option<S>,
    /// The socket, kept while busy so shutdown can cut it.
    pub fd: RawFd,
    /// Life phase.
    pub phase: Phase,
    /// When the slot entered its current list (loop time, seconds).
    pub since: f64,
    prev: u32,
    next: u32,
}

#[derive(Clone, Copy)]
struct Ends {
    head: u32,
    tail: u32,
}

/// Fixed-capacity slots with a free stack and two timeout lists. Never reallocates.
pub(crate) struct Slab<S> {
    slots: Vec<Slot<S>>,
    free: Vec<u32>,
    lists: [Ends; 2],
}

impl<S> Slab<S> {
    /// `capacity` slots, all free.
    pub fn new(capacity: usize) -> Self {
        assert!(capacity < NIL as usize, "slab capacity out of range");
        let slots = (0..capacity)
            .map(|_| Slot {
                conn: None,
                session: None,
                fd: -1,
                phase: Phase::Free,
                since: 0.0,
                prev: NIL,
                next: NIL,
            })
            .collect();
        // Pop order: lowest index first.
        let free = (0..capacity as u32).rev().collect();
        let empty = Ends {
            head: NIL,
            tail: NIL,
        };
        Slab {
            slots,
            free,
            lists: [empty; 2],
        }
    }

    /// How many slots are in use.
    #[cfg(test)]
    pub fn in_use(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Take a free slot (phase stays `Free` until the caller sets it).
    pub fn alloc(&mut self) -> Option<usize> {
        self.free.pop().map(|i| i as usize)
    }

    /// Return a slot: it must be out of every list; its contents are dropped by the caller.
    pub fn release(&mut self, i: usize) {
        debug_assert!(self.slots[i].conn.is_none() && self.slots[i].session.is_none());
        debug_assert!(self.slots[i].prev == NIL && self.slots[i].next == NIL);
        self.slots[i].phase = Phase::Free;
        self.slots[i].fd = -1;
        self.free.push(i as u32);
    }

    /// The slot at `i`.
    pub fn get(&mut self, i: usize) -> &mut Slot<S> {
        &mut self.slots[i]
    }

    /// The connection of an open slot that is not busy.
    ///
    /// # Panics
    /// If the slot holds no connection (free, or out with a worker): a bug in the loop.
    pub fn conn(&mut self, i: usize) -> &mut Connection {
        self.slots[i]
            .conn
            .as_mut()
            .expect("open slot has a connection")
    }

    /// Indices of the slots whose phase satisfies `pred` (for shutdown; allocates).
    pub fn used_where(&self, pred: impl Fn(Phase) -> bool) -> Vec<usize> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| pred(s.phase))
            .map(|(i, _)| i)
            .collect()
    }

    /// Append `i` to `list` (it must be in none), stamped `now`.
    pub fn push_back(&mut self, list: List, i: usize, now: f64) {
        let ends = &mut self.lists[list as usize];
        let old_tail = ends.tail;
        ends.tail = i as u32;
        if old_tail == NIL {
            ends.head = i as u32;
        }
        let slot = &mut self.slots[i];
        debug_assert!(slot.prev == NIL && slot.next == NIL);
        slot.prev = old_tail;
        slot.next = NIL;
        slot.since = now;
        if old_tail != NIL {
            self.slots[old_tail as usize].next = i as u32;
        }
    }

    /// Take `i` out of `list` (no-op if it is in none).
    pub fn unlink(&mut self, list: List, i: usize) {
        let (prev, next) = (self.slots[i].prev, self.slots[i].next);
        let ends = &mut self.lists[list as usize];
        if prev == NIL && next == NIL && ends.head != i as u32 {
            return;
        }
        if prev == NIL {
            ends.head = next;
        } else {
            self.slots[prev as usize].next = next;
        }
        if next == NIL {
            ends.tail = prev;
        } else {
            self.slots[next as usize].prev = prev;
        }
        self.slots[i].prev = NIL;
        self.slots[i].next = NIL;
    }

    /// The oldest entry of `list` and when it entered.
    pub fn front(&self, list: List) -> Option<(usize, f64)> {
        let head = self.lists[list as usize].head;
        (head != NIL).then(|| (head as usize, self.slots[head as usize].since))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_keep_order_and_unlink_anywhere() {
        let mut slab: Slab<()> = Slab::new(4);
        let a = slab.alloc().unwrap();
        let b = slab.alloc().unwrap();
        let c = slab.alloc().unwrap();
        assert_eq!((a, b, c), (0, 1, 2));
        slab.push_back(List::Idle, a, 1.0);
        slab.push_back(List::Idle, b, 2.0);
        slab.push_back(List::Idle, c, 3.0);
        slab.unlink(List::Idle, b);
        assert_eq!(slab.front(List::Idle), Some((a, 1.0)));
        slab.unlink(List::Idle, a);
        assert_eq!(slab.front(List::Idle), Some((c, 3.0)));
        slab.unlink(List::Idle, c);
        assert_eq!(slab.front(List::Idle), None);
        // Unlinking something in no list changes nothing.
        slab.unlink(List::Idle, c);
        assert_eq!(slab.front(List::Reading), None);
        slab.push_back(List::Reading, b, 4.0);
        assert_eq!(slab.front(List::Reading), Some((b, 4.0)));
        assert_eq!(slab.front(List::Idle), None);
    }

    #[test]
    fn alloc_until_full_then_release() {
        let mut slab: Slab<()> = Slab::new(2);
        assert!(slab.alloc().is_some());
        let last = slab.alloc().unwrap();
        assert!(slab.alloc().is_none());
        assert_eq!(slab.in_use(), 2);
        slab.release(last);
        assert_eq!(slab.alloc(), Some(last));
    }
}

#[cfg(test)]
mod memory {
    use super::*;

    /// DESIGN.md: an idle connection costs at most 512 bytes of user-space memory in the
    /// server. Per slot that is the slot itself, its `ev_io` watcher, its free-list entry
    /// and its stalled-queue entry (both `u32`), plus a session (`()` here); an idle
    /// connection holds no buffer (`take_buffers` returns them to the loop's pool).
    #[test]
    fn idle_connection_fits_the_memory_budget() {
        let per_slot = std::mem::size_of::<Slot<()>>()
            + std::mem::size_of::<evnet_sys::ev_io>()
            + 2 * std::mem::size_of::<u32>();
        assert!(per_slot <= 512, "{per_slot} bytes per idle connection");
        eprintln!("bytes per idle connection slot: {per_slot}");
    }
}
