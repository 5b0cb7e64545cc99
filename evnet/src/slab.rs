//! A loop's preallocated connection slots, each connection's phase, and the timeout lists
//! through them.
//!
//! A slot's phase decides which timeout list it is on, so the two change together in one
//! method, [`Slab::set_phase`], which also keeps the count of busy slots. Each list holds
//! the slots of one phase ordered by deadline: its timeout is constant, so a new deadline
//! is almost always the latest and goes at the tail (libev manual, "Be smart about
//! timeouts"): O(1) per operation. (A write deadline comes from the response's first
//! write, which can be earlier; it is inserted in order from the tail.)

use std::fmt;
use std::net::TcpStream;
use std::os::fd::RawFd;
use std::sync::Arc;

use net::__private::ClientSlot;
use net::Connection;

/// "No slot": the end of a list.
const NIL: u32 = u32::MAX;

/// A slot's index in its loop's slab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotId(u32);

impl SlotId {
    /// The id of slot `i`.
    pub fn new(i: usize) -> SlotId {
        debug_assert!(i < NIL as usize);
        SlotId(i as u32)
    }

    /// The slot's index (also its I/O watcher's index).
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// The id as carried in a job (and back in its return).
    pub fn raw(self) -> u32 {
        self.0
    }
}

/// Where a slot is in its life, with the sub-state that only matters in that phase (so a
/// flag can never be left set from an earlier phase).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Unused.
    Free,
    /// The server expects a PROXY protocol header and it has not all come: on the header
    /// list (read timeout from accept). Before TLS and before any session.
    ProxyHeader,
    /// A TLS connection whose handshake runs in the loop (no session yet, never seen by a
    /// worker or the handler): on the handshake list (read timeout from accept).
    Handshaking {
        /// A step waits in the loop's handshake queue (its watcher is stopped meanwhile).
        step_queued: bool,
    },
    /// Open, no request pending: on the idle list (keep-alive timeout).
    Idle,
    /// Part of a request buffered: on the reading list (read timeout from the request's
    /// first byte).
    Reading {
        /// Not read for now: the input budget is used (its bytes wait in the kernel, its
        /// deadline keeps running).
        parked: bool,
    },
    /// Waiting for the loop to have room (worker queue or budgets): either readable and
    /// not read yet, or holding a complete request. On the parked list: closed (shed) if
    /// room does not come within the read timeout.
    Parked,
    /// Being served (out with a worker, or by a loop's thread).
    Busy {
        /// Bytes arrived meanwhile (the READ watcher is stopped then): read them as soon
        /// as the connection comes back, without waiting for a poll.
        readable: bool,
    },
    /// A pipelined request, already buffered, waits for its turn on the loop (a loop
    /// serves one request per connection per turn). No timeout.
    Queued,
    /// Output pending, the loop sends it as the peer reads: on the writing list (write
    /// timeout from the response's first write). Reading is paused meanwhile.
    Writing {
        /// Close once it is all sent (the handler said `Close`, or the server drains).
        then_close: bool,
    },
}

impl Phase {
    /// Reading on, not parked.
    pub const READING: Phase = Phase::Reading { parked: false };
    /// Just dispatched: nothing arrived meanwhile.
    pub const BUSY: Phase = Phase::Busy { readable: false };
    /// A handshake waiting on its socket (no step queued).
    pub const HANDSHAKING: Phase = Phase::Handshaking { step_queued: false };

    /// What the slot's I/O watcher watches in this phase (the loop sets it with the
    /// phase, in one call).
    pub fn watching(self) -> Watching {
        match self {
            Phase::Idle | Phase::Reading { parked: false } | Phase::ProxyHeader => Watching::Read,
            Phase::Writing { .. } => Watching::Write,
            Phase::Free
            | Phase::Parked
            | Phase::Reading { parked: true }
            | Phase::Busy { readable: true }
            | Phase::Handshaking { step_queued: true } => Watching::Nothing,
            // Busy: the READ watcher is left running, which saves two epoll_ctl calls per
            // request; if bytes arrive while it is served the loop stops it then (`Busy {
            // readable: true }`). Queued: stopped the same way, lazily. A handshake step
            // says what it waits for.
            Phase::Busy { readable: false } | Phase::Queued | Phase::Handshaking { .. } => {
                Watching::AsItIs
            }
        }
    }

    /// Idle or reading: a connection the loop reads when it is ready.
    pub fn reads(self) -> bool {
        matches!(self, Phase::Idle | Phase::Reading { .. })
    }

    /// Same phase, whatever the sub-state.
    fn same_kind(self, other: Phase) -> bool {
        std::mem::discriminant(&self) == std::mem::discriminant(&other)
    }
}

/// What a slot's I/O watcher watches, as decided by its phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watching {
    /// Readable.
    Read,
    /// Writable.
    Write,
    /// Stopped.
    Nothing,
    /// Left as it is (see [`Phase::watching`]).
    AsItIs,
}

/// The timeout lists: one per phase that has a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    /// Idle connections, by keep-alive deadline.
    Idle = 0,
    /// Connections with a partial request, by read deadline.
    Reading = 1,
    /// Connections with pending output, by write deadline.
    Writing = 2,
    /// TLS handshakes in progress, by deadline (read timeout from accept).
    Handshake = 3,
    /// Connections parked until the loop has room, by deadline (read timeout from being
    /// parked).
    Parked = 4,
    /// Connections whose PROXY header has not all come, by deadline (read timeout from
    /// accept).
    ProxyHeader = 5,
}

impl List {
    /// Every list.
    pub const ALL: [List; 6] = [
        List::Idle,
        List::Reading,
        List::Writing,
        List::Handshake,
        List::Parked,
        List::ProxyHeader,
    ];

    fn of(phase: Phase) -> Option<List> {
        match phase {
            Phase::Idle => Some(List::Idle),
            Phase::Reading { .. } => Some(List::Reading),
            Phase::Writing { .. } => Some(List::Writing),
            Phase::Handshaking { .. } => Some(List::Handshake),
            Phase::Parked => Some(List::Parked),
            Phase::ProxyHeader => Some(List::ProxyHeader),
            Phase::Free | Phase::Busy { .. } | Phase::Queued => None,
        }
    }
}

/// One connection's place in its loop.
pub struct Slot<S> {
    /// The connection, absent while free or busy (a worker holds it then).
    pub conn: Option<Connection>,
    /// The handler's session, travelling with the connection.
    pub session: Option<S>,
    /// The socket's descriptor, for its watcher (`-1` while free).
    pub fd: RawFd,
    /// The socket, shared with the connection (`None` while free): held while the
    /// connection is out with a worker, so that shutdown can cut it at its deadline.
    pub socket: Option<Arc<TcpStream>>,
    /// When the request being read arrived (loop time of its first byte), if one is.
    pub started: Option<f64>,
    /// Request bytes of this connection counted in the loop's input budget.
    pub input_charge: usize,
    /// Response bytes of this connection counted in the loop's output budget.
    pub output_charge: usize,
    /// Its place in its client's count (`max_connections_per_client`), given back when
    /// the slot is released (or dropped with the loop): once per connection, whichever
    /// way it ends.
    pub client: Option<ClientSlot>,
    /// When it was accepted (loop time): its `max_connection_age` counts from then.
    pub opened: f64,
    phase: Phase,
    /// The deadline on its list (loop time, seconds).
    deadline: f64,
    prev: u32,
    next: u32,
}

impl<S> fmt::Debug for Slot<S> {
    /// Everything but the session (a handler's type, not `Debug`): whether there is one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot")
            .field("phase", &self.phase)
            .field("fd", &self.fd)
            .field("conn", &self.conn)
            .field("has_session", &self.session.is_some())
            .field("started", &self.started)
            .field("input_charge", &self.input_charge)
            .field("output_charge", &self.output_charge)
            .field("client", &self.client)
            .field("opened", &self.opened)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy)]
struct Ends {
    head: u32,
    tail: u32,
}

/// Fixed-capacity slots with a free stack and the timeout lists. Never reallocates.
pub struct Slab<S> {
    slots: Vec<Slot<S>>,
    free: Vec<u32>,
    lists: [Ends; List::ALL.len()],
    busy: usize,
    handshaking: usize,
}

impl<S> fmt::Debug for Slab<S> {
    /// Its counts, not every slot.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slab")
            .field("capacity", &self.capacity())
            .field("in_use", &self.in_use())
            .field("busy", &self.busy)
            .field("handshaking", &self.handshaking)
            .finish_non_exhaustive()
    }
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
                socket: None,
                started: None,
                input_charge: 0,
                output_charge: 0,
                client: None,
                opened: 0.0,
                phase: Phase::Free,
                deadline: 0.0,
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
            lists: [empty; List::ALL.len()],
            busy: 0,
            handshaking: 0,
        }
    }

    /// How many slots there are.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// How many slots are in use.
    pub fn in_use(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// How many slots are busy (being served).
    pub fn busy(&self) -> usize {
        self.busy
    }

    /// How many slots are in a TLS handshake.
    pub fn handshaking(&self) -> usize {
        self.handshaking
    }

    /// Take a free slot; the caller fills it and sets its phase.
    pub fn alloc(&mut self) -> Option<SlotId> {
        self.free.pop().map(SlotId)
    }

    /// Return a slot: its phase leaves its list; its contents must be taken already.
    pub fn release(&mut self, id: SlotId) {
        self.set_phase(id, Phase::Free, 0.0);
        let slot = &mut self.slots[id.index()];
        debug_assert!(slot.conn.is_none() && slot.session.is_none());
        slot.fd = -1;
        slot.socket = None;
        slot.started = None;
        slot.client = None;
        debug_assert!(slot.input_charge == 0 && slot.output_charge == 0);
        self.free.push(id.0);
    }

    /// The slot `id`.
    pub fn get(&mut self, id: SlotId) -> &mut Slot<S> {
        &mut self.slots[id.index()]
    }

    /// The phase of slot `id`.
    pub fn phase(&self, id: SlotId) -> Phase {
        self.slots[id.index()].phase
    }

    /// The connection of an open slot that is not busy.
    ///
    /// # Panics
    /// If the slot holds no connection (free, or out with a worker): a bug in the loop.
    pub fn conn(&mut self, id: SlotId) -> &mut Connection {
        self.slots[id.index()]
            .conn
            .as_mut()
            .expect("open slot has a connection")
    }

    /// Move slot `id` to `phase`: off the list of its old phase, into the new phase's list
    /// at `deadline` (ignored for phases without a list), and the busy and handshaking
    /// counts follow.
    /// Re-entering the same phase (whatever the sub-state) only changes the sub-state: the
    /// slot keeps its place and deadline (a partial request keeps its read deadline however
    /// its bytes trickle in, and when it is parked).
    pub fn set_phase(&mut self, id: SlotId, phase: Phase, deadline: f64) {
        let old = self.slots[id.index()].phase;
        if old.same_kind(phase) {
            self.slots[id.index()].phase = phase;
            return;
        }
        if let Some(list) = List::of(old) {
            self.unlink(list, id);
        }
        match old {
            Phase::Busy { .. } => self.busy -= 1,
            Phase::Handshaking { .. } => self.handshaking -= 1,
            _ => {}
        }
        match phase {
            Phase::Busy { .. } => self.busy += 1,
            Phase::Handshaking { .. } => self.handshaking += 1,
            _ => {}
        }
        self.slots[id.index()].phase = phase;
        if let Some(list) = List::of(phase) {
            self.insert(list, id, deadline);
        }
    }

    /// Bring the deadline of slot `id`, on the list of its phase, forward to `deadline`
    /// (a later one is ignored: the slot keeps its own). For a phase without a list,
    /// nothing.
    pub fn bring_forward(&mut self, id: SlotId, deadline: f64) {
        let Some(list) = List::of(self.slots[id.index()].phase) else {
            return;
        };
        if deadline < self.slots[id.index()].deadline {
            self.unlink(list, id);
            self.insert(list, id, deadline);
        }
    }

    /// The earliest entry of `list` and its deadline.
    pub fn front(&self, list: List) -> Option<(SlotId, f64)> {
        let head = self.lists[list as usize].head;
        (head != NIL).then(|| (SlotId(head), self.slots[head as usize].deadline))
    }

    /// Ids of the open slots whose phase satisfies `pred` (for shutdown; allocates).
    pub fn used_where(&self, pred: impl Fn(Phase) -> bool) -> Vec<SlotId> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.phase != Phase::Free && pred(s.phase))
            .map(|(i, _)| SlotId::new(i))
            .collect()
    }

    /// The open slot, other than `except` and not out with a worker, for which `weight`
    /// is largest and not 0 (the first such slot on a tie). A scan of every slot: for
    /// shedding under a full budget only, where each slot it closes frees a large share.
    pub fn heaviest(
        &self,
        except: Option<SlotId>,
        weight: impl Fn(&Slot<S>) -> usize,
    ) -> Option<SlotId> {
        let mut best: Option<(usize, usize)> = None;
        for (i, slot) in self.in_hand(except) {
            let w = weight(slot);
            if w > 0 && best.is_none_or(|(_, most)| w > most) {
                best = Some((i, w));
            }
        }
        best.map(|(i, _)| SlotId::new(i))
    }

    /// The sum of `weight` over the open slots other than `except` and not out with a
    /// worker (a scan, like [`Slab::heaviest`]).
    pub fn total(&self, except: Option<SlotId>, weight: impl Fn(&Slot<S>) -> usize) -> usize {
        self.in_hand(except).map(|(_, slot)| weight(slot)).sum()
    }

    /// The open slots the loop holds (not out with a worker), other than `except`, with
    /// their indexes.
    fn in_hand(&self, except: Option<SlotId>) -> impl Iterator<Item = (usize, &Slot<S>)> {
        self.slots.iter().enumerate().filter(move |&(i, slot)| {
            !matches!(slot.phase, Phase::Free | Phase::Busy { .. })
                && except.is_none_or(|id| id.index() != i)
        })
    }

    /// Insert `id` into `list` in deadline order, searching from the tail: with a constant
    /// timeout per list the new deadline is almost always the latest (O(1)); a write
    /// deadline set by an earlier first write walks back past the few later ones.
    fn insert(&mut self, list: List, id: SlotId, deadline: f64) {
        let mut after = self.lists[list as usize].tail;
        while after != NIL && self.slots[after as usize].deadline > deadline {
            after = self.slots[after as usize].prev;
        }
        let before = if after == NIL {
            self.lists[list as usize].head
        } else {
            self.slots[after as usize].next
        };
        let slot = &mut self.slots[id.index()];
        debug_assert!(slot.prev == NIL && slot.next == NIL);
        slot.prev = after;
        slot.next = before;
        slot.deadline = deadline;
        let ends = &mut self.lists[list as usize];
        if after == NIL {
            ends.head = id.0;
        } else {
            self.slots[after as usize].next = id.0;
        }
        if before == NIL {
            ends.tail = id.0;
        } else {
            self.slots[before as usize].prev = id.0;
        }
    }

    fn unlink(&mut self, list: List, id: SlotId) {
        let (prev, next) = (self.slots[id.index()].prev, self.slots[id.index()].next);
        let ends = &mut self.lists[list as usize];
        if prev == NIL {
            debug_assert_eq!(ends.head, id.0);
            ends.head = next;
        } else {
            self.slots[prev as usize].next = next;
        }
        if next == NIL {
            ends.tail = prev;
        } else {
            self.slots[next as usize].prev = prev;
        }
        self.slots[id.index()].prev = NIL;
        self.slots[id.index()].next = NIL;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(slab: &mut Slab<()>, n: usize) -> Vec<SlotId> {
        (0..n).map(|_| slab.alloc().unwrap()).collect()
    }

    #[test]
    fn a_deadline_brought_forward_reorders_its_list_and_a_later_one_is_ignored() {
        let mut slab: Slab<()> = Slab::new(4);
        let s: Vec<SlotId> = (0..3).map(|_| slab.alloc().unwrap()).collect();
        for (i, &id) in s.iter().enumerate() {
            slab.set_phase(id, Phase::Idle, 10.0 + i as f64);
        }
        slab.bring_forward(s[2], 5.0);
        assert_eq!(slab.front(List::Idle), Some((s[2], 5.0)));
        slab.bring_forward(s[0], 50.0);
        slab.set_phase(s[2], Phase::READING, 1.0);
        assert_eq!(slab.front(List::Idle), Some((s[0], 10.0)));
        // Busy has no list: nothing to move.
        slab.set_phase(s[1], Phase::BUSY, 0.0);
        slab.bring_forward(s[1], 0.5);
        assert_eq!(slab.front(List::Idle), Some((s[0], 10.0)));
    }

    #[test]
    fn phase_decides_the_list_and_lists_keep_order() {
        let mut slab: Slab<()> = Slab::new(4);
        let s = ids(&mut slab, 3);
        assert_eq!(s[0].index(), 0);
        slab.set_phase(s[0], Phase::Idle, 1.0);
        slab.set_phase(s[1], Phase::Idle, 2.0);
        slab.set_phase(s[2], Phase::Idle, 3.0);
        slab.set_phase(s[1], Phase::READING, 9.0);
        assert_eq!(slab.front(List::Idle), Some((s[0], 1.0)));
        assert_eq!(slab.front(List::Reading), Some((s[1], 9.0)));
        slab.set_phase(s[0], Phase::BUSY, 0.0);
        assert_eq!(slab.front(List::Idle), Some((s[2], 3.0)));
        assert_eq!(slab.busy(), 1);
        slab.set_phase(s[0], Phase::Writing { then_close: false }, 5.0);
        assert_eq!(slab.busy(), 0);
        slab.set_phase(s[1], Phase::HANDSHAKING, 6.0);
        assert_eq!(slab.handshaking(), 1);
        assert_eq!(slab.front(List::Handshake), Some((s[1], 6.0)));
        slab.set_phase(s[1], Phase::READING, 7.0);
        assert_eq!(slab.handshaking(), 0);
        assert_eq!(slab.front(List::Writing), Some((s[0], 5.0)));
        slab.set_phase(s[2], Phase::Queued, 0.0);
        assert_eq!(slab.front(List::Idle), None);
    }

    #[test]
    fn same_phase_keeps_place_and_deadline() {
        let mut slab: Slab<()> = Slab::new(2);
        let s = ids(&mut slab, 2);
        slab.set_phase(s[0], Phase::READING, 1.0);
        slab.set_phase(s[1], Phase::READING, 2.0);
        slab.set_phase(s[0], Phase::READING, 7.0);
        assert_eq!(slab.front(List::Reading), Some((s[0], 1.0)));
    }

    #[test]
    fn an_earlier_deadline_is_inserted_in_order() {
        let mut slab: Slab<()> = Slab::new(4);
        let s = ids(&mut slab, 4);
        slab.set_phase(s[0], Phase::Writing { then_close: false }, 5.0);
        slab.set_phase(s[1], Phase::Writing { then_close: false }, 7.0);
        slab.set_phase(s[2], Phase::Writing { then_close: false }, 6.0);
        slab.set_phase(s[3], Phase::Writing { then_close: false }, 1.0);
        let mut order = Vec::new();
        while let Some((id, due)) = slab.front(List::Writing) {
            order.push(due);
            slab.set_phase(id, Phase::Idle, 0.0);
        }
        assert_eq!(order, vec![1.0, 5.0, 6.0, 7.0]);
    }

    #[test]
    fn alloc_until_full_then_release_from_any_phase() {
        let mut slab: Slab<()> = Slab::new(2);
        let a = slab.alloc().unwrap();
        let b = slab.alloc().unwrap();
        assert!(slab.alloc().is_none());
        assert_eq!(slab.in_use(), 2);
        slab.set_phase(a, Phase::Idle, 1.0);
        slab.set_phase(b, Phase::BUSY, 0.0);
        slab.release(b);
        assert_eq!(slab.busy(), 0);
        slab.release(a);
        assert_eq!(slab.front(List::Idle), None);
        assert_eq!(slab.in_use(), 0);
        assert_eq!(slab.alloc(), Some(a));
    }

    #[test]
    fn heaviest_skips_busy_free_and_the_exception() {
        let mut slab: Slab<()> = Slab::new(5);
        let s = ids(&mut slab, 4);
        for (&id, held) in s.iter().zip([10, 40, 30, 20]) {
            slab.get(id).input_charge = held;
            slab.set_phase(id, Phase::READING, 1.0);
        }
        let by_input = |slot: &Slot<()>| slot.input_charge;
        assert_eq!(slab.heaviest(Some(s[0]), by_input), Some(s[1]));
        slab.set_phase(s[1], Phase::BUSY, 0.0);
        assert_eq!(
            slab.heaviest(Some(s[0]), by_input),
            Some(s[2]),
            "busy: with a worker"
        );
        assert_eq!(slab.heaviest(Some(s[2]), by_input), Some(s[3]));
        for &id in &s[2..] {
            slab.get(id).input_charge = 0;
        }
        assert_eq!(slab.heaviest(Some(s[1]), by_input), Some(s[0]));
        assert_eq!(slab.heaviest(Some(s[0]), by_input), None, "nothing held");
        slab.get(s[2]).input_charge = 5;
        assert_eq!(slab.total(None, by_input), 15, "busy s[1] left out");
        assert_eq!(slab.total(Some(s[0]), by_input), 5);
    }

    #[test]
    fn parked_slots_have_a_deadline() {
        let mut slab: Slab<()> = Slab::new(2);
        let s = ids(&mut slab, 2);
        slab.set_phase(s[0], Phase::Parked, 4.0);
        slab.set_phase(s[1], Phase::Parked, 5.0);
        assert_eq!(slab.front(List::Parked), Some((s[0], 4.0)));
        slab.set_phase(s[0], Phase::BUSY, 0.0);
        assert_eq!(slab.front(List::Parked), Some((s[1], 5.0)));
    }

    #[test]
    fn a_sub_state_changes_in_place() {
        let mut slab: Slab<()> = Slab::new(3);
        let s = ids(&mut slab, 3);
        slab.set_phase(s[0], Phase::READING, 1.0);
        slab.set_phase(s[1], Phase::READING, 2.0);
        // Parked while reading: same place, same deadline (given again: ignored).
        slab.set_phase(s[0], Phase::Reading { parked: true }, 9.0);
        assert_eq!(slab.phase(s[0]), Phase::Reading { parked: true });
        assert_eq!(slab.front(List::Reading), Some((s[0], 1.0)));
        slab.set_phase(s[0], Phase::READING, 9.0);
        assert_eq!(slab.front(List::Reading), Some((s[0], 1.0)));
        // Busy and readable: still counted once.
        slab.set_phase(s[2], Phase::BUSY, 0.0);
        slab.set_phase(s[2], Phase::Busy { readable: true }, 0.0);
        assert_eq!(slab.busy(), 1);
        slab.set_phase(s[1], Phase::HANDSHAKING, 3.0);
        slab.set_phase(s[1], Phase::Handshaking { step_queued: true }, 0.0);
        assert_eq!(slab.handshaking(), 1);
        assert_eq!(slab.front(List::Handshake), Some((s[1], 3.0)));
        slab.set_phase(s[0], Phase::Writing { then_close: true }, 4.0);
        slab.set_phase(s[0], Phase::Writing { then_close: false }, 8.0);
        assert_eq!(slab.front(List::Writing), Some((s[0], 4.0)));
    }

    #[test]
    fn a_sub_state_never_outlives_its_phase() {
        let mut slab: Slab<()> = Slab::new(1);
        let id = slab.alloc().unwrap();
        slab.set_phase(id, Phase::Busy { readable: true }, 0.0);
        slab.set_phase(id, Phase::Idle, 1.0);
        slab.set_phase(id, Phase::BUSY, 0.0);
        assert_eq!(slab.phase(id), Phase::Busy { readable: false });
        slab.set_phase(id, Phase::Writing { then_close: true }, 2.0);
        slab.release(id);
        assert_eq!(slab.phase(id), Phase::Free);
        assert_eq!((slab.busy(), slab.in_use()), (0, 0));
        assert_eq!(slab.front(List::Writing), None);
        let again = slab.alloc().unwrap();
        assert_eq!(slab.phase(again), Phase::Free, "a reused slot starts clean");
    }

    #[test]
    fn the_phase_decides_what_the_watcher_watches() {
        use Watching::*;
        let table = [
            (Phase::Free, Nothing),
            (Phase::ProxyHeader, Read),
            (Phase::HANDSHAKING, AsItIs),
            (Phase::Handshaking { step_queued: true }, Nothing),
            (Phase::Idle, Read),
            (Phase::READING, Read),
            (Phase::Reading { parked: true }, Nothing),
            (Phase::Parked, Nothing),
            (Phase::BUSY, AsItIs),
            (Phase::Busy { readable: true }, Nothing),
            (Phase::Queued, AsItIs),
            (Phase::Writing { then_close: false }, Write),
            (Phase::Writing { then_close: true }, Write),
        ];
        for (phase, watching) in table {
            assert_eq!(phase.watching(), watching, "{phase:?}");
        }
        assert!(Phase::Idle.reads() && Phase::Reading { parked: true }.reads());
        assert!(!Phase::BUSY.reads() && !Phase::Parked.reads());
    }

    #[test]
    fn used_where_skips_free_slots() {
        let mut slab: Slab<()> = Slab::new(3);
        let s = ids(&mut slab, 2);
        slab.set_phase(s[0], Phase::BUSY, 0.0);
        slab.set_phase(s[1], Phase::Idle, 1.0);
        assert_eq!(slab.used_where(|p| p == Phase::BUSY), vec![s[0]]);
        assert_eq!(slab.used_where(|_| true).len(), 2);
    }
}

#[cfg(test)]
mod memory {
    use super::*;

    /// The project's memory target (docs/ARCHITECTURE.md): an idle connection costs at
    /// most 512 bytes of user-space memory in the server. Per slot that is the slot itself, its `ev_io` watcher, its free-list entry
    /// and its parked-queue entry (both `u32`), plus a session (`()` here); an idle
    /// connection holds no buffer (its buffers go back to the loop's pool).
    #[test]
    fn idle_connection_fits_the_memory_budget() {
        let per_slot = std::mem::size_of::<Slot<()>>()
            + std::mem::size_of::<evnet_sys::ev_io>()
            + 2 * std::mem::size_of::<u32>();
        assert!(per_slot <= 512, "{per_slot} bytes per idle connection");
        eprintln!("bytes per idle connection slot: {per_slot}");
    }
}
