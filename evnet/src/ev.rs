//! The one module of `evnet` with `unsafe` code: a small safe face on libev (through
//! `evnet-sys`) and on `poll(2)`/`shutdown(2)`.
//!
//! Ownership rules that make the rest of the crate safe:
//! - A [`Loop`] owns its libev loop; watchers borrow the loop (`'l`), so they are dropped
//!   (and stopped) before it is destroyed.
//! - Watchers live in heap cells that never move (`Box<[UnsafeCell<_>]>`) and are only
//!   touched through raw pointers, since libev keeps pointers to them while started.
//! - Callbacks reach Rust through one [`LoopEvents`] object installed for the duration of
//!   [`Loop::run`]; a panic in it is caught, never unwinds into C, and ends the run.
//! - Only [`Waker::wake`] crosses threads (`ev_async_send` is thread-safe); a wake after
//!   the loop's async watcher is gone is a no-op.

use std::cell::UnsafeCell;
use std::ffi::{c_int, c_void};
use std::io;
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::{self, NonNull};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use evnet_sys as sys;
use net::__private::Interest;

/// What a loop's callbacks call into. Tokens identify watchers.
pub(crate) trait LoopEvents {
    /// An I/O watcher with `token` is ready.
    fn on_io(&mut self, token: usize, readable: bool, writable: bool);
    /// The timer with `token` expired.
    fn on_timer(&mut self, token: usize);
    /// The loop's async watcher was signalled.
    fn on_async(&mut self);
    /// The loop ran every callback of this iteration and is about to wait for events
    /// (only while a [`Prepare`] watcher is alive).
    fn on_prepare(&mut self);
}

/// What `ev_userdata` points at while [`Loop::run`] runs.
struct RunContext<'a> {
    events: &'a mut dyn LoopEvents,
    panicked: bool,
}

/// One libev event loop (epoll backend where available). Not `Send`: it is created,
/// run and destroyed on its loop thread.
pub(crate) struct Loop {
    raw: NonNull<sys::ev_loop>,
}

impl Loop {
    /// A new loop, preferring epoll; environment variables do not change the backend.
    pub fn new() -> io::Result<Loop> {
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

    /// The backend in use (an `EVBACKEND_*` bit).
    #[cfg(test)]
    pub fn backend(&self) -> u32 {
        // SAFETY: the loop is live (owned by self).
        unsafe { sys::ev_backend(self.raw.as_ptr()) }
    }

    /// Run until [`break_all`](Loop::break_all) or until no watcher is active. Returns
    /// false when a callback panicked (the panic was caught and ended the run).
    pub fn run(&self, events: &mut dyn LoopEvents) -> bool {
        let raw = self.raw.as_ptr();
        // SAFETY: reading the userdata pointer of a live loop.
        if !unsafe { sys::ev_userdata(raw) }.is_null() {
            // Already running (a nested run from a callback): refuse rather than replace
            // the outer run's context.
            return false;
        }
        let mut ctx = RunContext {
            events,
            panicked: false,
        };
        // SAFETY: `ctx` outlives the ev_run call below, and userdata is cleared before it
        // goes out of scope; trampolines only dereference it during ev_run.
        unsafe {
            sys::ev_set_userdata(raw, (&mut ctx as *mut RunContext<'_>).cast::<c_void>());
            sys::ev_run(raw, 0);
            sys::ev_set_userdata(raw, ptr::null_mut());
        }
        !ctx.panicked
    }

    /// Bring the loop's cached time up to now (timers armed afterwards count from now, not
    /// from when the loop last woke).
    pub fn now_update(&self) {
        // SAFETY: the loop is live, and this runs on its thread (Loop is not Send).
        unsafe { sys::ev_now_update(self.raw.as_ptr()) }
    }

    /// Make the running [`run`](Loop::run) return after the current callbacks.
    pub fn break_all(&self) {
        // SAFETY: the loop is live; ev_break only sets a flag.
        unsafe { sys::ev_break(self.raw.as_ptr(), sys::EVBREAK_ALL) }
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        // SAFETY: every watcher borrows the loop, so all were dropped (stopped) already;
        // nothing uses the pointer after this.
        unsafe { sys::ev_loop_destroy(self.raw.as_ptr()) }
    }
}

/// Call into the installed [`LoopEvents`], catching panics.
///
/// # Safety
/// `lp` must be a loop inside [`Loop::run`] (its userdata a live `RunContext`) or have
/// null userdata.
unsafe fn with_events(lp: *mut sys::ev_loop, f: impl FnOnce(&mut dyn LoopEvents)) {
    // SAFETY: per the contract, userdata is null or points at the RunContext of the
    // ev_run call that is invoking this callback, on this thread.
    let ctx = unsafe { sys::ev_userdata(lp) }.cast::<RunContext<'_>>();
    // SAFETY: checked non-null; no other reference to the context is live during a
    // callback (run() only touches it after ev_run returns).
    let Some(ctx) = (unsafe { ctx.as_mut() }) else {
        return;
    };
    if catch_unwind(AssertUnwindSafe(|| f(&mut *ctx.events))).is_err() {
        ctx.panicked = true;
        // SAFETY: lp is the running loop.
        unsafe { sys::ev_break(lp, sys::EVBREAK_ALL) };
    }
}

unsafe extern "C" fn io_trampoline(lp: *mut sys::ev_loop, w: *mut sys::ev_io, revents: c_int) {
    // SAFETY: libev passes the started watcher, which lives in an IoSet cell.
    let token = unsafe { (*w).data } as usize;
    let (r, wr) = (revents & sys::EV_READ != 0, revents & sys::EV_WRITE != 0);
    // SAFETY: called by ev_run of a Loop, so the contract of with_events holds.
    unsafe {
        with_events(lp, |e| {
            e.on_io(token, r || revents & sys::EV_ERROR != 0, wr)
        })
    }
}

unsafe extern "C" fn timer_trampoline(lp: *mut sys::ev_loop, w: *mut sys::ev_timer, _: c_int) {
    // SAFETY: libev passes the started watcher, which lives in a Timer cell.
    let token = unsafe { (*w).data } as usize;
    // SAFETY: called by ev_run of a Loop.
    unsafe { with_events(lp, |e| e.on_timer(token)) }
}

unsafe extern "C" fn async_trampoline(lp: *mut sys::ev_loop, _: *mut sys::ev_async, _: c_int) {
    // SAFETY: called by ev_run of a Loop.
    unsafe { with_events(lp, |e| e.on_async()) }
}

unsafe extern "C" fn prepare_trampoline(lp: *mut sys::ev_loop, _: *mut sys::ev_prepare, _: c_int) {
    // SAFETY: called by ev_run of a Loop.
    unsafe { with_events(lp, |e| e.on_prepare()) }
}

/// A prepare watcher: [`LoopEvents::on_prepare`] runs at the end of every loop
/// iteration, before the loop blocks. Started on creation, stopped on drop.
pub(crate) struct Prepare<'l> {
    lp: &'l Loop,
    cell: Box<UnsafeCell<sys::ev_prepare>>,
}

impl<'l> Prepare<'l> {
    /// Start a prepare watcher on `lp`.
    pub fn new(lp: &'l Loop) -> Self {
        let cell = Box::new(UnsafeCell::new(sys::ev_prepare::new(Some(
            prepare_trampoline,
        ))));
        // SAFETY: the cell never moves and is stopped in Drop before it is freed.
        unsafe { sys::ev_prepare_start(lp.raw.as_ptr(), cell.get()) };
        Prepare { lp, cell }
    }
}

impl Drop for Prepare<'_> {
    fn drop(&mut self) {
        // SAFETY: stopping a valid watcher on its live loop.
        unsafe { sys::ev_prepare_stop(self.lp.raw.as_ptr(), self.cell.get()) }
    }
}

/// A fixed array of I/O watchers; watcher `i` reports token `base + i`.
pub(crate) struct IoSet<'l> {
    lp: &'l Loop,
    watchers: Box<[UnsafeCell<sys::ev_io>]>,
}

impl<'l> IoSet<'l> {
    /// `n` stopped watchers on `lp`.
    pub fn new(lp: &'l Loop, n: usize, base: usize) -> Self {
        let watchers = (0..n)
            .map(|i| {
                let mut w = sys::ev_io::new(Some(io_trampoline), -1, 0);
                w.data = (base + i) as *mut c_void;
                UnsafeCell::new(w)
            })
            .collect();
        IoSet { lp, watchers }
    }

    fn ptr(&self, i: usize) -> *mut sys::ev_io {
        self.watchers[i].get()
    }

    /// Watch `fd` for `interest` (reading or writing), replacing what watcher `i` watched
    /// (a no-op when it already watches exactly that).
    pub fn start(&self, i: usize, fd: RawFd, interest: Interest) {
        let events = match interest {
            Interest::Write => sys::EV_WRITE,
            _ => sys::EV_READ,
        };
        let w = self.ptr(i);
        // SAFETY: w is a valid watcher cell of this set; it is stopped before being
        // modified (libev forbids changing an active watcher), and it stays at this
        // address until stopped (on drop at the latest).
        unsafe {
            if sys::ev_is_active(w) {
                if (*w).fd == fd && (*w).events & (sys::EV_READ | sys::EV_WRITE) == events {
                    return;
                }
                sys::ev_io_stop(self.lp.raw.as_ptr(), w);
            }
            sys::ev_io_set(w, fd, events);
            sys::ev_io_start(self.lp.raw.as_ptr(), w);
        }
    }

    /// Stop watcher `i` (no-op when stopped).
    pub fn stop(&self, i: usize) {
        // SAFETY: valid watcher of this set on this set's loop; ev_io_stop on a stopped
        // watcher is allowed and also clears a pending event.
        unsafe { sys::ev_io_stop(self.lp.raw.as_ptr(), self.ptr(i)) }
    }
}

impl Drop for IoSet<'_> {
    fn drop(&mut self) {
        for i in 0..self.watchers.len() {
            self.stop(i);
        }
    }
}

/// One timer watcher reporting `token`.
pub(crate) struct Timer<'l> {
    lp: &'l Loop,
    cell: Box<UnsafeCell<sys::ev_timer>>,
}

impl<'l> Timer<'l> {
    /// A stopped timer on `lp`.
    pub fn new(lp: &'l Loop, token: usize) -> Self {
        let mut w = sys::ev_timer::new(Some(timer_trampoline), 0.0, 0.0);
        w.data = token as *mut c_void;
        Timer {
            lp,
            cell: Box::new(UnsafeCell::new(w)),
        }
    }

    /// (Re)start as a one-shot timer firing `after` seconds from the loop's now.
    pub fn start_in(&self, after: f64) {
        let w = self.cell.get();
        // SAFETY: the cell is a valid watcher that never moves; it is stopped before
        // being re-set, as libev requires.
        unsafe {
            sys::ev_timer_stop(self.lp.raw.as_ptr(), w);
            sys::ev_timer_set(w, after.max(0.0), 0.0);
            sys::ev_timer_start(self.lp.raw.as_ptr(), w);
        }
    }

    /// Stop the timer (no-op when stopped).
    pub fn stop(&self) {
        // SAFETY: valid watcher on this loop.
        unsafe { sys::ev_timer_stop(self.lp.raw.as_ptr(), self.cell.get()) }
    }
}

impl Drop for Timer<'_> {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The cross-thread half of a loop's async watcher.
struct AsyncShared {
    /// The loop and watcher, or `None` once the loop side is gone.
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
    pub fn wake(&self) {
        let target = self.0.target.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = target.as_ref() {
            // SAFETY: while `target` is Some, the loop and the watcher are alive and the
            // watcher is started (AsyncWatch clears it under this lock before either goes
            // away); ev_async_send is thread-safe.
            unsafe { sys::ev_async_send(t.lp, t.w) }
        }
    }
}

/// The loop-side owner of the async watcher.
pub(crate) struct AsyncWatch<'l> {
    lp: &'l Loop,
    cell: Box<UnsafeCell<sys::ev_async>>,
    shared: Arc<AsyncShared>,
}

impl<'l> AsyncWatch<'l> {
    /// Start an async watcher on `lp`.
    pub fn new(lp: &'l Loop) -> Self {
        let cell = Box::new(UnsafeCell::new(sys::ev_async::new(Some(async_trampoline))));
        // SAFETY: the cell never moves and is stopped in Drop before it is freed.
        unsafe { sys::ev_async_start(lp.raw.as_ptr(), cell.get()) };
        let target = AsyncTarget {
            lp: lp.raw.as_ptr(),
            w: cell.get(),
        };
        AsyncWatch {
            lp,
            cell,
            shared: Arc::new(AsyncShared {
                target: Mutex::new(Some(target)),
            }),
        }
    }

    /// A handle other threads use to wake this loop.
    pub fn waker(&self) -> Waker {
        Waker(Arc::clone(&self.shared))
    }
}

impl Drop for AsyncWatch<'_> {
    fn drop(&mut self) {
        let mut target = self.shared.target.lock().unwrap_or_else(|e| e.into_inner());
        *target = None;
        // SAFETY: no Waker can reach the watcher any more (cleared under the lock);
        // stopping a valid watcher on its live loop.
        unsafe { sys::ev_async_stop(self.lp.raw.as_ptr(), self.cell.get()) }
    }
}

/// The [`net::WaitFn`] of evented connections in worker mode: wait in `poll(2)` until
/// `stream` is ready for `interest`, at most `timeout`. On a worker thread the wait takes
/// a permit that keeps one worker free of peers (see [`crate::peer_wait`]; refused with
/// an error when none is left); the loop thread never waits on these connections.
/// `Ok(false)` on timeout.
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

/// Limit the bytes the kernel keeps *unsent* on socket `fd` (`TCP_NOTSENT_LOWAT`): once
/// that many are queued beyond what the peer's window lets through, a write returns
/// `EAGAIN` and the socket reports writable only when they drop below it. A client that
/// does not read then pushes back after a small, known amount instead of the megabytes
/// that send-buffer autotuning would otherwise absorb. Best effort: an error (an old
/// kernel) leaves the socket as it was.
pub(crate) fn set_notsent_lowat(fd: RawFd, bytes: usize) {
    let value = bytes.min(c_int::MAX as usize) as c_int;
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from a valid local c_int; the
    // caller owns the open descriptor `fd`.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NOTSENT_LOWAT,
            (&value as *const c_int).cast(),
            std::mem::size_of::<c_int>() as libc::socklen_t,
        );
    }
}

/// The [`net::WaitFn`] of connections served inline on a loop thread: never waits (a
/// read or write that would block fails at once with `TimedOut`), so no client can stall
/// the loop.
pub(crate) fn never_wait(_: &TcpStream, _: Interest, _: Duration) -> io::Result<bool> {
    Ok(false)
}

/// Shut down both directions of the socket `fd` (which the caller knows is open): wakes a
/// worker blocked on it so shutdown can meet its deadline.
pub(crate) fn shutdown_socket(fd: RawFd) {
    // SAFETY: shutdown(2) on a descriptor touches no memory; the caller guarantees the
    // descriptor is still owned by a live connection, so it names the right socket.
    unsafe {
        libc::shutdown(fd, libc::SHUT_RDWR);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Count<'a> {
        lp: &'a Loop,
        asyncs: usize,
        timers: usize,
        prepares: usize,
    }

    impl LoopEvents for Count<'_> {
        fn on_io(&mut self, _: usize, _: bool, _: bool) {}
        fn on_timer(&mut self, _: usize) {
            self.timers += 1;
        }
        fn on_async(&mut self) {
            self.asyncs += 1;
            self.lp.break_all();
        }
        fn on_prepare(&mut self) {
            self.prepares += 1;
        }
    }

    #[test]
    fn loop_uses_epoll_and_wakes_from_another_thread() {
        let lp = Loop::new().unwrap();
        assert_eq!(lp.backend(), sys::EVBACKEND_EPOLL);
        let watch = AsyncWatch::new(&lp);
        let timer = Timer::new(&lp, 7);
        let prepare = Prepare::new(&lp);
        timer.start_in(0.001);
        let waker = watch.waker();
        let t = std::thread::spawn(move || waker.wake());
        let mut count = Count {
            lp: &lp,
            asyncs: 0,
            timers: 0,
            prepares: 0,
        };
        assert!(lp.run(&mut count));
        t.join().unwrap();
        assert_eq!(count.asyncs, 1);
        assert!(
            count.prepares >= 1,
            "the prepare watcher ran before the loop blocked"
        );
        drop(prepare);
        drop(timer);
        let waker = watch.waker();
        drop(watch);
        waker.wake(); // after the watcher is gone: a no-op, not a crash
    }
}
