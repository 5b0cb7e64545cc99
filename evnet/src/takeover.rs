//! Adaptive dispatch's hand-over: a loop's thread serves the requests its loop framed, and
//! when one of them stays in its handler too long, another thread takes the *loop* over
//! (with all its other connections), while the slow request finishes where it is.
//!
//! Three pieces, each independent of what a loop is (`T`):
//!
//! - A [`Seat`] per loop says who runs it. Before calling a handler, the thread running
//!   the loop *lends* it: it leaves the loop in the seat's [`Handoff`] cell and publishes
//!   a word `serial << 2 | LENT` (`serial` counts the requests served this way). After
//!   the handler it *reclaims* the loop with one compare-and-swap of that exact word back
//!   to `HELD`. The watch takes a stuck loop with a compare-and-swap of the same word to
//!   `TAKEN`. Exactly one of the two swaps succeeds, and only its winner touches the
//!   cell; the cell was filled before the word was published (release), and the winner
//!   read the word (acquire), so the winner sees the loop exactly as it was left.
//!   Serials only grow, so a word is never seen twice for two different requests. Per
//!   request this costs two atomic swaps of the cell and two of the word, on a line no
//!   other thread writes: no lock, no allocation, no wake-up.
//! - The [`Watch`] looks at every seat each tick (half the takeover threshold). A word
//!   that is `LENT` and unchanged since the last tick belongs to a request that has been
//!   in its handler for at least a tick: if a spare thread is free, the watch takes the
//!   loop and gives it to one ([`Spares`]); otherwise the loop waits for its handler,
//!   counted once per request as a stall. A loop is therefore taken over between one and
//!   two ticks after its request started. When no loop served anything for
//!   [`IDLE_TICKS`] ticks the watch goes to sleep, and the next request lent wakes it
//!   (a load of one flag per request; the wake itself only once per sleep): nothing
//!   ticks while the server is idle.
//! - [`Spares`] are threads with no loop, waiting for one. The thread whose handler was
//!   stuck becomes one when the handler returns (its connection goes back to its loop by
//!   the mailbox, as a worker's would).
//!
//! `ev_run` is never re-entered from another thread: handlers run outside libev's
//! callbacks (after an iteration returned), and a loop is only ever run by the thread
//! that holds it.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst};
use std::time::Duration;

use crate::sync::{fence, AtomicBool, AtomicU64, Condvar, Handoff, Mutex, MutexGuard};

/// The low bits of a seat's word: what its loop's thread is doing.
const STATE: u64 = 0b11;
/// The thread that runs the loop holds it (polling, or between requests).
const HELD: u64 = 0;
/// The thread is in a handler; the loop is in the seat's cell, up for takeover.
const LENT: u64 = 1;
/// The watch took the loop from a stuck handler (a spare runs it now).
const TAKEN: u64 = 2;

/// Ticks without a request served on any loop before the watch sleeps.
pub(crate) const IDLE_TICKS: u32 = 200;

/// Who runs one loop (see the module docs).
pub(crate) struct Seat<T> {
    word: AtomicU64,
    cell: Handoff<T>,
}

/// What [`Seat::lend`] published; [`Seat::reclaim`] takes it back.
#[derive(Debug)]
#[must_use = "a lent loop must be reclaimed"]
pub(crate) struct Lent(u64);

impl<T> Seat<T> {
    /// A seat whose loop is held by the thread that created it.
    pub(crate) fn new() -> Self {
        Seat {
            word: AtomicU64::new(HELD),
            cell: Handoff::new(),
        }
    }

    /// The holder is about to call a handler: leave the loop for takeover. Only the
    /// thread that holds the loop calls this.
    pub(crate) fn lend(&self, held: Box<T>) -> Lent {
        // Only the holder writes the word while it holds the loop: a relaxed read sees
        // its own last write (or the takeover it acquired the loop by).
        let serial = (self.word.load(Relaxed) >> 2) + 1;
        self.cell.put(held);
        let word = serial << 2 | LENT;
        // Release: the loop left in the cell is visible to whoever acquires this word.
        // (The watch's sleep protocol adds a fence after it: `Watch::lent`.)
        self.word.store(word, Release);
        Lent(word)
    }

    /// The handler returned: take the loop back, or `None` if it was taken over
    /// meanwhile (it runs on another thread now; this one must not touch it).
    pub(crate) fn reclaim(&self, lent: Lent) -> Option<Box<T>> {
        let held = lent.0 & !STATE | HELD;
        match self.word.compare_exchange(lent.0, held, AcqRel, Relaxed) {
            Ok(_) => Some(self.cell.take().expect("a lent loop is in its cell")),
            Err(_) => None,
        }
    }

    /// The seat's word now (for the watch).
    fn observe(&self) -> u64 {
        self.word.load(SeqCst)
    }

    /// Take the loop if its word is still `seen` (the same request, still in its
    /// handler). The caller then runs it, or gives it to a thread that will.
    fn take(&self, seen: u64) -> Option<Box<T>> {
        if seen & STATE != LENT {
            return None;
        }
        let taken = seen & !STATE | TAKEN;
        self.word
            .compare_exchange(seen, taken, Acquire, Relaxed)
            .ok()
            .and_then(|_| self.cell.take())
    }
}

/// Threads with no loop, waiting to be given one (see the module docs).
pub(crate) struct Spares<T> {
    state: Mutex<SpareState<T>>,
    given: Condvar,
}

struct SpareState<T> {
    /// Loops taken over, not picked up by a spare yet.
    loops: VecDeque<Box<T>>,
    /// Threads waiting in [`Spares::wait`].
    idle: usize,
    /// Every loop has ended: waiting threads leave.
    closed: bool,
}

impl<T> Spares<T> {
    /// No spare waiting yet.
    pub(crate) fn new() -> Self {
        Spares {
            state: Mutex::new(SpareState {
                loops: VecDeque::new(),
                idle: 0,
                closed: false,
            }),
            given: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SpareState<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wait for a loop to run; `None` once closed.
    pub(crate) fn wait(&self) -> Option<Box<T>> {
        let mut state = self.lock();
        state.idle += 1;
        loop {
            if let Some(lp) = state.loops.pop_front() {
                state.idle -= 1;
                return Some(lp);
            }
            if state.closed {
                state.idle -= 1;
                return None;
            }
            state = self.given.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Every loop has ended: waiting spares (and later ones) leave.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.given.notify_all();
    }

    /// Take `seat`'s loop if it is still at `seen` and a spare is free to run it, and
    /// give it to that spare. True when taken; false when no spare was free or the
    /// request ended meanwhile.
    fn take_over(&self, seat: &Seat<T>, seen: u64) -> Taken {
        let mut state = self.lock();
        if state.closed || state.idle <= state.loops.len() {
            return Taken::NoSpare;
        }
        let Some(lp) = seat.take(seen) else {
            return Taken::Returned;
        };
        state.loops.push_back(lp);
        drop(state);
        self.given.notify_one();
        Taken::Yes
    }
}

/// What a takeover attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Taken {
    Yes,
    /// The handler returned before the loop could be taken: nothing to do.
    Returned,
    /// Stuck, and no spare thread free: the loop waits for its handler.
    NoSpare,
}

/// The thread that finds stuck loops, and its sleep (see the module docs).
pub(crate) struct Watch {
    /// The watch thread is asleep (or about to be): the next lend wakes it.
    asleep: AtomicBool,
    /// Every loop has ended: the watch thread leaves.
    stopped: AtomicBool,
    /// The watch thread, once it started (to unpark it).
    thread: Mutex<Option<crate::sync::thread::Thread>>,
}

/// What one tick of the watch saw.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tick {
    /// A seat's word changed since the last tick, or a loop is lent.
    pub active: bool,
    /// Loops taken over.
    pub takeovers: u64,
    /// Stuck requests whose loop no spare could take (each counted once).
    pub stalls: u64,
}

impl Watch {
    pub(crate) fn new() -> Self {
        Watch {
            asleep: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            thread: Mutex::new(None),
        }
    }

    /// A loop was just lent (after [`Seat::lend`]): wake the watch if it sleeps. Costs
    /// one load while it is awake.
    pub(crate) fn lent(&self) {
        // The fence orders the lend's word store before this load (and pairs with the
        // fence in `sleep`): see there.
        fence(SeqCst);
        if self.asleep.load(Relaxed) && self.asleep.swap(false, SeqCst) {
            self.unpark();
        }
    }

    fn unpark(&self) {
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = thread.as_ref() {
            t.unpark();
        }
    }

    /// Every loop has ended: the watch thread leaves at its next tick (woken if asleep).
    pub(crate) fn stop(&self) {
        self.stopped.store(true, SeqCst);
        self.unpark();
    }

    /// One tick over `seats`: take over the loops whose request is still the one seen
    /// last tick (`seen[i]`), if a spare is free. `stalled[i]` remembers the word of a
    /// request already counted as a stall.
    pub(crate) fn tick<T>(
        &self,
        seats: &[Seat<T>],
        spares: &Spares<T>,
        seen: &mut [u64],
        stalled: &mut [u64],
    ) -> Tick {
        let mut tick = Tick::default();
        for (i, seat) in seats.iter().enumerate() {
            let word = seat.observe();
            let lent = word & STATE == LENT;
            tick.active |= lent || word != seen[i];
            if lent && word == seen[i] {
                match spares.take_over(seat, word) {
                    Taken::Yes => tick.takeovers += 1,
                    Taken::Returned => {}
                    Taken::NoSpare if stalled[i] != word => {
                        stalled[i] = word;
                        tick.stalls += 1;
                    }
                    Taken::NoSpare => {}
                }
            }
            seen[i] = word;
        }
        tick
    }

    /// Sleep until a loop is lent (or the watch is stopped), unless one is lent already.
    /// The flag is raised before the seats are checked, and a lend publishes its word
    /// before it reads the flag, each side with a sequentially consistent fence between
    /// its store and its load: either this check sees the lent word, or that lend sees
    /// the flag and wakes the watch (the unpark is remembered if it comes before the
    /// park).
    pub(crate) fn sleep<T>(&self, seats: &[Seat<T>]) {
        self.asleep.store(true, SeqCst);
        fence(SeqCst);
        let lent = seats.iter().any(|s| s.observe() & STATE == LENT);
        if lent || self.stopped.load(SeqCst) {
            self.asleep.store(false, SeqCst);
            return;
        }
        crate::sync::thread::park();
        self.asleep.store(false, SeqCst);
    }

    /// Whether [`stop`](Watch::stop) was called.
    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(SeqCst)
    }

    /// The watch thread's body: tick every `tick` (half the takeover threshold), sleep
    /// after [`IDLE_TICKS`] ticks without activity; `counted` records takeovers and
    /// stalls.
    pub(crate) fn run<T>(
        &self,
        seats: &[Seat<T>],
        spares: &Spares<T>,
        tick: Duration,
        mut counted: impl FnMut(Tick),
    ) {
        *self.thread.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(crate::sync::thread::current());
        let mut seen = vec![HELD; seats.len()];
        let mut stalled = vec![HELD; seats.len()];
        let mut idle = 0;
        while !self.is_stopped() {
            let t = self.tick(seats, spares, &mut seen, &mut stalled);
            if t.takeovers + t.stalls > 0 {
                counted(t);
            }
            idle = if t.active { 0 } else { idle + 1 };
            if idle >= IDLE_TICKS {
                self.sleep(seats);
                idle = 0;
                continue;
            }
            #[cfg(not(loom))]
            std::thread::sleep(tick);
            #[cfg(loom)]
            let _ = (tick, crate::sync::thread::yield_now());
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn watch_parts(n: usize) -> (Vec<Seat<u32>>, Spares<u32>, Vec<u64>, Vec<u64>) {
        let seats = (0..n).map(|_| Seat::new()).collect();
        (seats, Spares::new(), vec![HELD; n], vec![HELD; n])
    }

    #[test]
    fn the_cell_swaps_without_a_lock() {
        assert!(Handoff::<u32>::is_lock_free());
    }

    #[test]
    fn a_lent_loop_comes_back_when_nobody_took_it() {
        let seat = Seat::new();
        for i in 0..3u32 {
            let lent = seat.lend(Box::new(i));
            assert_eq!(seat.reclaim(lent).as_deref(), Some(&i));
        }
    }

    #[test]
    fn a_held_loop_is_never_taken() {
        let (seats, spares, mut seen, mut stalled) = watch_parts(1);
        // A spare is free (simulated: a thread waits in another test; here count it).
        spares.lock().idle = 1;
        let watch = Watch::new();
        for _ in 0..3 {
            let t = watch.tick(&seats, &spares, &mut seen, &mut stalled);
            assert_eq!(t.takeovers, 0);
        }
    }

    #[test]
    fn a_request_seen_on_two_ticks_loses_its_loop_to_a_free_spare() {
        let (seats, spares, mut seen, mut stalled) = watch_parts(2);
        spares.lock().idle = 1;
        let watch = Watch::new();
        let lent = seats[1].lend(Box::new(7));
        let first = watch.tick(&seats, &spares, &mut seen, &mut stalled);
        assert_eq!(first.takeovers, 0, "first sight: not stuck yet");
        assert!(first.active);
        let second = watch.tick(&seats, &spares, &mut seen, &mut stalled);
        assert_eq!(second.takeovers, 1);
        assert!(
            seats[1].reclaim(lent).is_none(),
            "the stuck thread lost the loop"
        );
        assert_eq!(spares.lock().loops.pop_front().as_deref(), Some(&7));
    }

    #[test]
    fn a_new_request_between_ticks_is_not_stuck() {
        let (seats, spares, mut seen, mut stalled) = watch_parts(1);
        spares.lock().idle = 1;
        let watch = Watch::new();
        let lent = seats[0].lend(Box::new(1));
        watch.tick(&seats, &spares, &mut seen, &mut stalled);
        let lp = seats[0].reclaim(lent).unwrap();
        let lent = seats[0].lend(lp);
        let t = watch.tick(&seats, &spares, &mut seen, &mut stalled);
        assert_eq!(t.takeovers, 0, "another request, not the one seen");
        assert!(seats[0].reclaim(lent).is_some());
    }

    #[test]
    fn without_a_free_spare_a_stuck_request_is_one_stall() {
        let (seats, spares, mut seen, mut stalled) = watch_parts(1);
        let watch = Watch::new();
        let lent = seats[0].lend(Box::new(1));
        let stalls: u64 = (0..5)
            .map(|_| watch.tick(&seats, &spares, &mut seen, &mut stalled).stalls)
            .sum();
        assert_eq!(stalls, 1, "counted once however long it stays");
        assert!(seats[0].reclaim(lent).is_some(), "the loop waited for it");
    }

    #[test]
    fn an_idle_server_is_inactive_to_the_watch() {
        let (seats, spares, mut seen, mut stalled) = watch_parts(2);
        let watch = Watch::new();
        let t = watch.tick(&seats, &spares, &mut seen, &mut stalled);
        assert!(!t.active);
    }

    #[test]
    fn spares_leave_when_closed() {
        let spares = std::sync::Arc::new(Spares::<u32>::new());
        let waiting = {
            let spares = std::sync::Arc::clone(&spares);
            std::thread::spawn(move || spares.wait())
        };
        while spares.lock().idle == 0 {
            std::thread::yield_now();
        }
        spares.close();
        assert!(waiting.join().unwrap().is_none());
    }

    #[test]
    fn the_watch_sleeps_only_when_no_loop_is_lent() {
        let seats: Vec<Seat<u32>> = vec![Seat::new()];
        let watch = Watch::new();
        let lent = seats[0].lend(Box::new(1));
        watch.sleep(&seats); // returns at once: a loop is lent
        assert!(!watch.asleep.load(SeqCst));
        let _ = seats[0].reclaim(lent);
    }
}

/// Model checks (`scripts/loom.sh`): every interleaving loom explores of the lend /
/// reclaim / take protocol and of the watch's sleep and wake.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::sync::{thread, Arc};

    #[test]
    fn exactly_one_of_the_holder_and_the_watch_gets_the_loop() {
        loom::model(|| {
            let seat = Arc::new(Seat::new());
            let lent = seat.lend(Box::new(5u32));
            let word = seat.observe();
            let watch = {
                let seat = Arc::clone(&seat);
                thread::spawn(move || seat.take(word))
            };
            let holder = seat.reclaim(lent);
            let taken = watch.join().unwrap();
            // Exactly one owner, and it sees the loop as it was left.
            match (holder, taken) {
                (Some(a), None) | (None, Some(a)) => assert_eq!(*a, 5),
                (a, b) => panic!("owners: holder {a:?}, watch {b:?}"),
            }
        });
    }

    #[test]
    fn a_later_request_is_never_taken_for_an_earlier_one() {
        loom::model(|| {
            let seat = Arc::new(Seat::new());
            let lent = seat.lend(Box::new(1u32));
            let seen = seat.observe();
            let watch = {
                let seat = Arc::clone(&seat);
                thread::spawn(move || seat.take(seen).is_some())
            };
            // The holder finishes the first request and starts a second.
            let second = seat.reclaim(lent).map(|lp| seat.lend(lp));
            let took = watch.join().unwrap();
            match second {
                // The watch took the first request's loop: the holder lost it.
                None => assert!(took),
                // The holder got it back and lent it for the second request: the watch,
                // which saw the first, must not have taken the second.
                Some(lent) => {
                    assert!(!took);
                    assert!(seat.reclaim(lent).is_some());
                }
            }
        });
    }

    #[test]
    fn a_lend_never_misses_a_sleeping_watch() {
        loom::model(|| {
            let seats = Arc::new(vec![Seat::new()]);
            let watch = Arc::new(Watch::new());
            let sleeper = {
                let (seats, watch) = (Arc::clone(&seats), Arc::clone(&watch));
                thread::spawn(move || {
                    *watch.thread.lock().unwrap() = Some(thread::current());
                    watch.sleep(&seats);
                })
            };
            // Let the sleeper register itself (a real watch does so before its first
            // tick), then lend: either the sleeper sees the loop lent and does not park,
            // or this lend sees it asleep and unparks it. A lost wake-up would leave the
            // sleeper parked forever, which loom reports as a deadlock.
            while watch.thread.lock().unwrap().is_none() {
                thread::yield_now();
            }
            let lent = seats[0].lend(Box::new(0u32));
            watch.lent();
            sleeper.join().unwrap();
            let _ = seats[0].reclaim(lent);
        });
    }

    #[test]
    fn a_spare_is_given_the_loop_it_was_counted_for() {
        loom::model(|| {
            let spares = Arc::new(Spares::new());
            let seat = Arc::new(Seat::new());
            let spare = {
                let spares = Arc::clone(&spares);
                thread::spawn(move || spares.wait())
            };
            let lent = seat.lend(Box::new(9u32));
            let seen = seat.observe();
            // The watch tries until the spare is idle (it counts only waiting threads).
            let taken = loop {
                match spares.take_over(&seat, seen) {
                    Taken::NoSpare => thread::yield_now(),
                    other => break other,
                }
            };
            assert_eq!(taken, Taken::Yes);
            assert!(seat.reclaim(lent).is_none());
            assert_eq!(spare.join().unwrap().as_deref(), Some(&9));
        });
    }
}
