//! The one module of `evnet` with `unsafe` code: a small safe face on libev (through
//! `evnet-sys`) and on `poll(2)`/`shutdown(2)`.
//!
//! Ownership rules that make the rest of the crate safe:
//! - A [`Reactor`] owns a libev loop and every watcher on it, as one value: the watchers
//!   are stopped before the loop is destroyed, and the whole set moves between threads
//!   together (one thread at a time runs a loop: see [`crate::takeover`]).
//! - Watchers live in heap cells that never move (`Box<[UnsafeCell<_>]>`) and are only
//!   touched through raw pointers, since libev keeps pointers to them while started.
//! - Callbacks reach Rust through one [`LoopEvents`] object installed for the duration of
//!   [`run_once`]; a panic in it is caught, never unwinds into C, and ends the iteration.
//! - Only [`Waker::wake`] crosses threads (`ev_async_send` is thread-safe); a wake after
//!   the loop's async watcher is gone is a no-op.

use std::cell::UnsafeCell;
use std::ffi::{c_int, c_void};
use std::io;
use std::net::TcpStream;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::{self, NonNull};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use evnet_sys as sys;
use net::__private::Interest;

/// What a loop's callbacks call into. Tokens identify watchers.
pub(crate) trait LoopEvents {
    /// The reactor whose loop these callbacks serve.
    fn reactor(&self) -> &Reactor;
    /// An I/O watcher with `token` is ready.
    fn on_io(&mut self, token: usize, readable: bool, writable: bool);
    /// The timer with `token` expired.
    fn on_timer(&mut self, token: usize);
    /// The loop's async watcher was signalled.
    fn on_async(&mut self);
}

/// What `ev_userdata` points at while [`run_once`] runs.
struct RunContext<'a> {
    events: &'a mut dyn LoopEvents,
    panicked: bool,
}

/// One libev event loop (epoll backend where available). Private to this module: only a
/// [`Reactor`] owns one, together with every watcher on it.
struct Loop {
    raw: NonNull<sys::ev_loop>,
}

impl Loop {
    /// A new loop, preferring epoll; environment variables do not change the backend.
    fn new() -> io::Result<Loop> {
        // SAFETY: plain query of libev's compiled-in backends.
        let supported = unsafe { sys::ev_supported_backends() };
        let backend = if supported & sys::EVBACKEND_EPOLL != 0 {
            sys::EVBACKEND_EPOLL
        } else {
            sys::EVFLAG_AUTO
        };
        // SAFETY: ev_loop_new has no preconditions; a null result is handled below.
        let raw = unsafe { sys::ev_loop_new(backend | sys::EVFLAG_NOENV) };
        NonNull::new(raw)
            .map(|raw| Loop { raw })
            .ok_or_else(|| io::Error::other("libev could not create an event loop"))
    }

    fn ptr(&self) -> *mut sys::ev_loop {
        self.raw.as_ptr()
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        // SAFETY: the Reactor that owns this loop drops (stops) its watchers first (field
        // order); nothing uses the pointer after this.
        unsafe { sys::ev_loop_destroy(self.raw.as_ptr()) }
    }
}

/// A libev loop together with every watcher on it: `io` watchers (tokens `0..io`),
/// `timers` one-shot timers (tokens `0..timers`) and one async watcher (its [`Waker`]).
/// The end of an iteration needs no watcher: it is when [`run_once`] returns.
///
/// The loop and its watchers are one value, so they move together: a reactor can be
/// handed from one thread to another (the loop is then run by the receiving thread),
/// which libev allows as long as one thread at a time uses a loop; `Reactor` is `Send`
/// but not `Sync`, and every method takes it by reference from its one owner. Watchers
/// live in heap cells that never move (libev keeps pointers to them while started), and
/// are declared before the loop so that they are stopped before it is destroyed.
pub(crate) struct Reactor {
    io: Box<[UnsafeCell<sys::ev_io>]>,
    timers: Box<[UnsafeCell<sys::ev_timer>]>,
    wake: Box<UnsafeCell<sys::ev_async>>,
    wake_shared: Arc<AsyncShared>,
    lp: Loop,
}

// SAFETY: a Reactor owns its loop and all the watchers on it (nothing else points at
// them except libev itself and the async target, which only calls the thread-safe
// ev_async_send). Moving the whole set to another thread is allowed by libev as long as
// only one thread uses the loop at a time, which single ownership guarantees (Reactor is
// not Sync, so no two threads can hold references to it at once).
unsafe impl Send for Reactor {}

impl Reactor {
    /// A new loop with `io` stopped I/O watchers, `timers` stopped timers and a started
    /// async watcher.
    pub(crate) fn new(io: usize, timers: usize) -> io::Result<Reactor> {
        let lp = Loop::new()?;
        let io = (0..io)
            .map(|i| {
                let mut w = sys::ev_io::new(Some(io_trampoline), -1, 0);
                w.data = i as *mut c_void;
                UnsafeCell::new(w)
            })
            .collect();
        let timers = (0..timers)
            .map(|i| {
                let mut w = sys::ev_timer::new(Some(timer_trampoline), 0.0, 0.0);
                w.data = i as *mut c_void;
                UnsafeCell::new(w)
            })
            .collect();
        let wake = Box::new(UnsafeCell::new(sys::ev_async::new(Some(async_trampoline))));
        // SAFETY: the cell never moves (boxed) and is stopped in Drop before it is freed.
        unsafe { sys::ev_async_start(lp.ptr(), wake.get()) };
        let wake_shared = Arc::new(AsyncShared {
            target: Mutex::new(Some(AsyncTarget {
                lp: lp.ptr(),
                w: wake.get(),
            })),
        });
        Ok(Reactor {
            io,
            timers,
            wake,
            wake_shared,
            lp,
        })
    }

    /// The backend in use (an `EVBACKEND_*` bit).
    #[cfg(test)]
    pub(crate) fn backend(&self) -> u32 {
        // SAFETY: the loop is live (owned by self).
        unsafe { sys::ev_backend(self.lp.ptr()) }
    }

    /// A handle other threads use to wake this loop ([`LoopEvents::on_async`]).
    pub(crate) fn waker(&self) -> Waker {
        Waker(Arc::clone(&self.wake_shared))
    }

    /// Bring the loop's cached time up to now (timers armed afterwards count from now, not
    /// from when the loop last woke).
    pub(crate) fn now_update(&self) {
        // SAFETY: the loop is live, and only its owner's thread reaches it.
        unsafe { sys::ev_now_update(self.lp.ptr()) }
    }

    /// Make the running [`run_once`] return after the current callbacks.
    pub(crate) fn break_all(&self) {
        // SAFETY: the loop is live; ev_break only sets a flag.
        unsafe { sys::ev_break(self.lp.ptr(), sys::EVBREAK_ALL) }
    }

    fn io_ptr(&self, i: usize) -> *mut sys::ev_io {
        self.io[i].get()
    }

    /// Watch `fd` with I/O watcher `i` for `interest` (reading or writing), replacing
    /// what it watched (a no-op when it already watches exactly that).
    pub(crate) fn watch(&self, i: usize, fd: RawFd, interest: Interest) {
        let events = match interest {
            Interest::Write => sys::EV_WRITE,
            _ => sys::EV_READ,
        };
        let w = self.io_ptr(i);
        // SAFETY: w is a valid watcher cell of this reactor; it is stopped before being
        // modified (libev forbids changing an active watcher), and it stays at this
        // address until stopped (on drop at the latest).
        unsafe {
            if sys::ev_is_active(w) {
                if (*w).fd == fd && (*w).events & (sys::EV_READ | sys::EV_WRITE) == events {
                    return;
                }
                sys::ev_io_stop(self.lp.ptr(), w);
            }
            sys::ev_io_set(w, fd, events);
            sys::ev_io_start(self.lp.ptr(), w);
        }
    }

    /// Stop I/O watcher `i` (no-op when stopped).
    pub(crate) fn unwatch(&self, i: usize) {
        // SAFETY: valid watcher of this reactor's loop; ev_io_stop on a stopped watcher is
        // allowed and also clears a pending event.
        unsafe { sys::ev_io_stop(self.lp.ptr(), self.io_ptr(i)) }
    }

    /// (Re)start timer `token` as a one-shot timer firing `after` seconds from the loop's
    /// now.
    pub(crate) fn start_timer(&self, token: usize, after: f64) {
        let w = self.timers[token].get();
        // SAFETY: the cell is a valid watcher that never moves; it is stopped before being
        // re-set, as libev requires.
        unsafe {
            sys::ev_timer_stop(self.lp.ptr(), w);
            sys::ev_timer_set(w, after.max(0.0), 0.0);
            sys::ev_timer_start(self.lp.ptr(), w);
        }
    }

    /// Stop timer `token` (no-op when stopped).
    pub(crate) fn stop_timer(&self, token: usize) {
        // SAFETY: valid watcher on this loop.
        unsafe { sys::ev_timer_stop(self.lp.ptr(), self.timers[token].get()) }
    }
}

impl Drop for Reactor {
    fn drop(&mut self) {
        let lp = self.lp.ptr();
        for i in 0..self.io.len() {
            self.unwatch(i);
        }
        for i in 0..self.timers.len() {
            self.stop_timer(i);
        }
        let mut target = self
            .wake_shared
            .target
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *target = None;
        // SAFETY: no Waker can reach the watcher any more (cleared under the lock);
        // stopping a valid watcher on its live loop. The loop itself is destroyed after
        // this, when the `lp` field drops.
        unsafe { sys::ev_async_stop(lp, self.wake.get()) }
    }
}

/// Run one iteration of `events`' loop on this thread: wait for events (unless some are
/// pending), then run their callbacks. Returns false when a callback panicked (the panic
/// was caught, never unwound into C, and ended the iteration) or when the loop is already
/// running (a nested call from a callback is refused).
pub(crate) fn run_once(events: &mut dyn LoopEvents) -> bool {
    // A raw pointer, not a borrow of the reactor: the callbacks below get `events`
    // mutably, reactor included.
    let raw = events.reactor().lp.ptr();
    // SAFETY: reading the userdata pointer of a live loop.
    if !unsafe { sys::ev_userdata(raw) }.is_null() {
        return false;
    }
    let mut ctx = RunContext {
        events,
        panicked: false,
    };
    // SAFETY: `ctx` outlives the ev_run call below, and userdata is cleared before it
    // goes out of scope; trampolines only dereference it during ev_run. The loop stays
    // alive throughout: it is owned by the reactor inside `events`, which the caller
    // borrows mutably for this whole call (callbacks cannot move it out).
    unsafe {
        sys::ev_set_userdata(raw, (&mut ctx as *mut RunContext<'_>).cast::<c_void>());
        sys::ev_run(raw, sys::EVRUN_ONCE);
        sys::ev_set_userdata(raw, ptr::null_mut());
    }
    !ctx.panicked
}

/// Call into the installed [`LoopEvents`], catching panics.
///
/// # Safety
/// `lp` must be a loop inside [`run_once`] (its userdata a live `RunContext`) or have
/// null userdata.
unsafe fn with_events(lp: *mut sys::ev_loop, f: impl FnOnce(&mut dyn LoopEvents)) {
    // SAFETY: per the contract, userdata is null or points at the RunContext of the
    // ev_run call that is invoking this callback, on this thread.
    let ctx = unsafe { sys::ev_userdata(lp) }.cast::<RunContext<'_>>();
    // SAFETY: checked non-null; no other reference to the context is live during a
    // callback (run_once only touches it after ev_run returns).
    let Some(ctx) = (unsafe { ctx.as_mut() }) else {
        return;
    };
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| f(&mut *ctx.events))) {
        ctx.panicked = true;
        // Dropped so that a panic in its drop cannot unwind into libev (an abort).
        net::__private::discard_panic(payload);
        // SAFETY: lp is the running loop.
        unsafe { sys::ev_break(lp, sys::EVBREAK_ALL) };
    }
}

unsafe extern "C" fn io_trampoline(lp: *mut sys::ev_loop, w: *mut sys::ev_io, revents: c_int) {
    // SAFETY: libev passes the started watcher, which lives in a Reactor cell.
    let token = unsafe { (*w).data } as usize;
    let (r, wr) = (revents & sys::EV_READ != 0, revents & sys::EV_WRITE != 0);
    // SAFETY: called by ev_run inside run_once, so the contract of with_events holds.
    unsafe {
        with_events(lp, |e| {
            e.on_io(token, r || revents & sys::EV_ERROR != 0, wr)
        })
    }
}

unsafe extern "C" fn timer_trampoline(lp: *mut sys::ev_loop, w: *mut sys::ev_timer, _: c_int) {
    // SAFETY: libev passes the started watcher, which lives in a Reactor cell.
    let token = unsafe { (*w).data } as usize;
    // SAFETY: called by ev_run inside run_once.
    unsafe { with_events(lp, |e| e.on_timer(token)) }
}

unsafe extern "C" fn async_trampoline(lp: *mut sys::ev_loop, _: *mut sys::ev_async, _: c_int) {
    // SAFETY: called by ev_run inside run_once.
    unsafe { with_events(lp, |e| e.on_async()) }
}

/// The cross-thread half of a loop's async watcher.
struct AsyncShared {
    /// The loop and watcher, or `None` once the reactor is gone.
    target: Mutex<Option<AsyncTarget>>,
}

struct AsyncTarget {
    lp: *mut sys::ev_loop,
    w: *mut sys::ev_async,
}

// SAFETY: the pointers are only used for ev_async_send, which libev documents as safe to
// call from any thread, and only while the mutex shows the loop side alive.
unsafe impl Send for AsyncTarget {}

/// Wakes one loop from any thread (its [`LoopEvents::on_async`] runs soon after).
#[derive(Clone)]
pub(crate) struct Waker(Arc<AsyncShared>);

impl Waker {
    /// Signal the loop; does nothing if the loop has finished.
    pub(crate) fn wake(&self) {
        let target = self.0.target.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = target.as_ref() {
            // SAFETY: while `target` is Some, the loop and the watcher are alive and the
            // watcher is started (Reactor's Drop clears it under this lock before either
            // goes away); ev_async_send is thread-safe.
            unsafe { sys::ev_async_send(t.lp, t.w) }
        }
    }
}

/// The [`WaitFn`](net::__private::WaitFn) of evented connections with workers or adaptive dispatch: wait in
/// `poll(2)` until `stream` is ready for `interest`, at most `timeout`. The wait takes a
/// permit of the thread's kind, which keeps one worker (or one spare runner) free of
/// peers (see [`crate::peer_wait`]; refused with an error when none is left); a loop
/// never waits inside its iteration. `Ok(false)` on timeout.
pub(crate) fn poll_wait(
    stream: &TcpStream,
    interest: Interest,
    timeout: Duration,
) -> io::Result<bool> {
    crate::peer_wait::with_permit(|| poll_ready(stream, interest, timeout))
}

/// Wait in `poll(2)` until `stream` is ready for `interest`, at most `timeout`.
/// `Ok(false)` on timeout.
fn poll_ready(stream: &TcpStream, interest: Interest, timeout: Duration) -> io::Result<bool> {
    let events = match interest {
        Interest::Write => libc::POLLOUT,
        _ => libc::POLLIN,
    };
    let mut pfd = libc::pollfd {
        fd: stream.as_raw_fd(),
        events,
        revents: 0,
    };
    // A deadline too far to represent waits without end (timeouts are bounded by
    // `net::MAX_TIMEOUT`, so this does not happen with validated parameters).
    let deadline = std::time::Instant::now().checked_add(timeout);
    loop {
        let left = deadline.map_or(timeout, |d| {
            d.saturating_duration_since(std::time::Instant::now())
        });
        // Round up so a sub-millisecond remainder still waits.
        let ms = left.as_micros().div_ceil(1000).min(c_int::MAX as u128) as c_int;
        // SAFETY: pfd is a valid, exclusively borrowed pollfd array of length 1.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        match n {
            0 => return Ok(false),
            n if n > 0 => return Ok(true),
            _ => {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
        }
    }
}

/// Limit the bytes the kernel keeps *unsent* on `socket` (`TCP_NOTSENT_LOWAT`): once
/// that many are queued beyond what the peer's window lets through, a write returns
/// `EAGAIN` and the socket reports writable only when they drop below it. A client that
/// does not read then pushes back after a small, known amount instead of the megabytes
/// that send-buffer autotuning would otherwise absorb. Best effort: an error (an old
/// kernel) leaves the socket as it was.
pub(crate) fn set_notsent_lowat(socket: BorrowedFd<'_>, bytes: usize) {
    let value = bytes.min(c_int::MAX as usize) as c_int;
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from a valid local c_int; the
    // descriptor is borrowed, so it is open (and the caller's) for the call.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NOTSENT_LOWAT,
            (&value as *const c_int).cast(),
            std::mem::size_of::<c_int>() as libc::socklen_t,
        );
    }
}

/// The [`WaitFn`](net::__private::WaitFn) of connections served inline on a loop thread: never waits (a
/// read or write that would block fails at once with `TimedOut`), so no client can stall
/// the loop.
pub(crate) fn never_wait(_: &TcpStream, _: Interest, _: Duration) -> io::Result<bool> {
    Ok(false)
}

/// Shut down both directions of `socket`: wakes a worker blocked on it so shutdown can
/// meet its deadline. Best effort (a socket the peer reset already has nothing to wake).
pub(crate) fn shutdown_socket(socket: BorrowedFd<'_>) {
    // SAFETY: shutdown(2) touches no memory; the descriptor is borrowed, so it is open,
    // and names the caller's socket, for the call.
    unsafe {
        libc::shutdown(socket.as_raw_fd(), libc::SHUT_RDWR);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Count {
        ev: Reactor,
        asyncs: usize,
        timers: usize,
    }

    impl LoopEvents for Count {
        fn reactor(&self) -> &Reactor {
            &self.ev
        }
        fn on_io(&mut self, _: usize, _: bool, _: bool) {}
        fn on_timer(&mut self, _: usize) {
            self.timers += 1;
        }
        fn on_async(&mut self) {
            self.asyncs += 1;
        }
    }

    #[test]
    fn loop_uses_epoll_and_wakes_from_another_thread() {
        let ev = Reactor::new(1, 2).unwrap();
        assert_eq!(ev.backend(), sys::EVBACKEND_EPOLL);
        let waker = ev.waker();
        let mut count = Count {
            ev,
            asyncs: 0,
            timers: 0,
        };
        let t = std::thread::spawn(move || waker.wake());
        while count.asyncs == 0 {
            assert!(run_once(&mut count));
        }
        t.join().unwrap();
        count.ev.start_timer(1, 0.001);
        while count.timers == 0 {
            assert!(run_once(&mut count));
        }
        let waker = count.ev.waker();
        drop(count);
        waker.wake(); // after the reactor is gone: a no-op, not a crash
    }

    #[test]
    fn a_reactor_runs_on_the_thread_it_is_moved_to() {
        let ev = Reactor::new(0, 1).unwrap();
        let mut count = Count {
            ev,
            asyncs: 0,
            timers: 0,
        };
        count.ev.start_timer(0, 0.001);
        // Armed on this thread, run on another: the loop and its watchers moved together.
        let count = std::thread::spawn(move || {
            while count.timers == 0 {
                assert!(run_once(&mut count));
            }
            count
        })
        .join()
        .unwrap();
        assert_eq!(count.timers, 1);
    }
}
