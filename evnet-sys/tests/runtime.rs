//! Run-time tests against the linked libev: loops, timers, async wake-ups
//! from another thread, I/O readiness and signals.
//!
//! Every watcher and every piece of callback state lives in a heap
//! allocation that is only accessed through a raw pointer while libev may
//! reference it. Callbacks are trivial and cannot panic (a panic must never
//! unwind into C). Every blocking `ev_run` is bounded by a 5 s safety timer.

use std::io::{Read, Write};
use std::os::raw::{c_int, c_void};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;
use std::ptr;
use std::thread;
use std::time::{Duration, Instant};

use evnet_sys::*;

/// Upper bound for any blocking `ev_run` in these tests.
const SAFETY_TIMEOUT: ev_tstamp = 5.0;

/// Callback bookkeeping, reached through a watcher's `data` pointer.
#[derive(Debug, Default)]
struct Record {
    calls: u32,
    revents: c_int,
}

/// Moves a value to the heap and returns the raw pointer (freed by `free`).
fn boxed<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Frees a pointer returned by `boxed`.
///
/// # Safety
///
/// `p` comes from `boxed::<T>` and is not used (by us or libev) afterwards.
unsafe fn free<T>(p: *mut T) {
    // SAFETY: guaranteed by the caller.
    drop(unsafe { Box::from_raw(p) });
}

/// Creates a loop limited to the epoll backend.
fn epoll_loop() -> *mut ev_loop {
    // SAFETY: no preconditions.
    let supported = unsafe { ev_supported_backends() };
    assert_ne!(supported & EVBACKEND_EPOLL, 0, "libev lacks epoll here");
    // SAFETY: no preconditions; the result is checked for null.
    let l = unsafe { ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV) };
    assert!(!l.is_null(), "ev_loop_new(EVBACKEND_EPOLL) failed");
    l
}

/// Adds to the `Record` behind `data`.
///
/// # Safety
///
/// `data` is null or points to a live `Record` not otherwise borrowed.
unsafe fn record(data: *mut c_void, revents: c_int) {
    let rec = data.cast::<Record>();
    if !rec.is_null() {
        // SAFETY: guaranteed by the caller.
        unsafe {
            (*rec).calls += 1;
            (*rec).revents |= revents;
        }
    }
}

unsafe extern "C" fn timer_cb_break(l: *mut ev_loop, w: *mut ev_timer, revents: c_int) {
    // SAFETY: libev passes the live watcher it was started with; its `data`
    // is null or a live `Record`, and `l` is the running loop.
    unsafe {
        record((*w).data, revents);
        ev_break(l, EVBREAK_ALL);
    }
}

unsafe extern "C" fn timer_cb_count(_l: *mut ev_loop, w: *mut ev_timer, revents: c_int) {
    // SAFETY: as in `timer_cb_break`.
    unsafe { record((*w).data, revents) }
}

unsafe extern "C" fn async_cb_break(l: *mut ev_loop, w: *mut ev_async, revents: c_int) {
    // SAFETY: as in `timer_cb_break`.
    unsafe {
        record((*w).data, revents);
        ev_break(l, EVBREAK_ALL);
    }
}

unsafe extern "C" fn io_cb_break(l: *mut ev_loop, w: *mut ev_io, revents: c_int) {
    // SAFETY: as in `timer_cb_break`; stopping our own watcher from its
    // callback is allowed.
    unsafe {
        record((*w).data, revents);
        ev_io_stop(l, w);
        ev_break(l, EVBREAK_ALL);
    }
}

unsafe extern "C" fn signal_cb_break(l: *mut ev_loop, w: *mut ev_signal, revents: c_int) {
    // SAFETY: as in `timer_cb_break`.
    unsafe {
        record((*w).data, revents);
        ev_break(l, EVBREAK_ALL);
    }
}

/// A started 5 s timer that records into `rec` and breaks the loop: if it
/// fires, the test has timed out.
///
/// # Safety
///
/// `l` is a live loop; `rec` outlives the returned watcher's activity.
unsafe fn start_safety_timer(l: *mut ev_loop, rec: *mut Record) -> *mut ev_timer {
    let w = boxed(ev_timer::new(Some(timer_cb_break), SAFETY_TIMEOUT, 0.0));
    // SAFETY: `w` is a fresh heap watcher that stays put until freed; the
    // caller guarantees `l` and `rec`.
    unsafe {
        (*w).data = rec.cast();
        ev_timer_start(l, w);
    }
    w
}

#[test]
fn epoll_loop_runs_nowait_and_is_destroyed() {
    let l = epoll_loop();
    // SAFETY: `l` is a live loop used only by this thread; it is destroyed
    // last and not used afterwards.
    unsafe {
        assert_eq!(ev_backend(l), EVBACKEND_EPOLL);
        let before = ev_iteration(l);
        // No active watchers: returns immediately, reporting none left.
        assert_eq!(ev_run(l, EVRUN_NOWAIT), 0);
        assert!(ev_iteration(l) > before);
        assert_eq!(ev_depth(l), 0);
        assert_eq!(ev_pending_count(l), 0);
        ev_verify(l);
        ev_loop_destroy(l);
    }
}

#[test]
fn timer_fires_and_callback_sees_data() {
    let l = epoll_loop();
    let rec = boxed(Record::default());
    let timed_out = boxed(Record::default());
    let w = boxed(ev_timer::new(Some(timer_cb_break), 0.01, 0.0));
    // SAFETY: all pointers are live heap allocations used only here; the
    // watchers are stopped before they and the records are freed, and the
    // loop is destroyed last.
    unsafe {
        (*w).data = rec.cast();
        let safety = start_safety_timer(l, timed_out);

        ev_now_update(l);
        let started = Instant::now();
        ev_timer_start(l, w);
        assert!(ev_is_active(w));
        let remaining = ev_timer_remaining(l, w);
        assert!(
            // libev computes it as `at - now` in floating point.
            remaining > 0.0 && remaining <= 0.01 + 1e-9,
            "remaining {remaining}"
        );

        ev_run(l, 0);
        let elapsed = started.elapsed();

        assert_eq!((*timed_out).calls, 0, "safety timer fired");
        assert_eq!((*rec).calls, 1);
        assert_eq!((*rec).revents, EV_TIMER);
        assert!(
            elapsed >= Duration::from_millis(5),
            "fired after {elapsed:?}"
        );
        // A one-shot timer is stopped by libev before its callback runs.
        assert!(!ev_is_active(w));
        assert!(!ev_is_pending(w));

        ev_timer_stop(l, safety);
        ev_timer_stop(l, w);
        ev_loop_destroy(l);
        free(safety);
        free(w);
        free(rec);
        free(timed_out);
    }
}

/// Raw pointers handed to the sender thread.
struct AsyncTarget {
    l: *mut ev_loop,
    w: *mut ev_async,
}

// SAFETY: the only thing the other thread does with these pointers is
// `ev_async_send`, which libev documents as safe from any thread; both
// outlive the thread (it is joined before they are freed).
unsafe impl Send for AsyncTarget {}

impl AsyncTarget {
    fn send(&self) {
        // SAFETY: see the `Send` impl: loop and started watcher are live.
        unsafe { ev_async_send(self.l, self.w) }
    }
}

#[test]
fn async_send_from_another_thread_wakes_blocked_loop() {
    let l = epoll_loop();
    let rec = boxed(Record::default());
    let timed_out = boxed(Record::default());
    let w = boxed(ev_async::new(Some(async_cb_break)));
    // SAFETY: as in `timer_fires_and_callback_sees_data`; the sender thread
    // only calls `ev_async_send` and is joined before anything is freed.
    unsafe {
        (*w).data = rec.cast();
        ev_async_start(l, w);
        assert!(!ev_async_pending(w));
        let safety = start_safety_timer(l, timed_out);

        let target = AsyncTarget { l, w };
        let sender = thread::spawn(move || {
            // Give the loop time to block in epoll_wait.
            thread::sleep(Duration::from_millis(50));
            target.send();
        });

        ev_run(l, 0);
        sender.join().expect("sender thread");

        assert_eq!((*timed_out).calls, 0, "safety timer fired: loop not woken");
        assert_eq!((*rec).calls, 1);
        assert_eq!((*rec).revents, EV_ASYNC);
        assert!(!ev_async_pending(w));

        ev_timer_stop(l, safety);
        ev_async_stop(l, w);
        ev_loop_destroy(l);
        free(safety);
        free(w);
        free(rec);
        free(timed_out);
    }
}

#[test]
fn async_pending_is_set_by_send_and_cleared_by_loop() {
    let l = epoll_loop();
    let rec = boxed(Record::default());
    let w = boxed(ev_async::new(Some(async_cb_break)));
    // SAFETY: single-threaded use of live heap allocations; stopped before
    // freed; loop destroyed last.
    unsafe {
        (*w).data = rec.cast();
        ev_async_start(l, w);
        ev_async_send(l, w);
        assert!(ev_async_pending(w));
        ev_run(l, EVRUN_NOWAIT);
        assert!(!ev_async_pending(w));
        assert_eq!((*rec).calls, 1);
        ev_async_stop(l, w);
        ev_loop_destroy(l);
        free(w);
        free(rec);
    }
}

#[test]
fn io_watcher_fires_read_when_peer_writes() {
    let (mut reader, mut writer) = UnixStream::pair().expect("socketpair");
    let l = epoll_loop();
    let rec = boxed(Record::default());
    let timed_out = boxed(Record::default());
    let w = boxed(ev_io::new(Some(io_cb_break), reader.as_raw_fd(), EV_READ));
    // SAFETY: as in `timer_fires_and_callback_sees_data`; the fd stays open
    // until after the watcher is stopped.
    unsafe {
        assert_eq!((*w).events, EV_READ | EV__IOFDSET);
        (*w).data = rec.cast();
        ev_io_start(l, w);
        let safety = start_safety_timer(l, timed_out);

        // Nothing written yet: no event.
        ev_run(l, EVRUN_NOWAIT);
        assert_eq!((*rec).calls, 0);

        writer.write_all(b"ping").expect("write");
        ev_run(l, 0);

        assert_eq!((*timed_out).calls, 0, "safety timer fired: no EV_READ");
        assert_eq!((*rec).calls, 1);
        assert_eq!((*rec).revents, EV_READ);
        assert!(!ev_is_active(w), "callback stopped the watcher");

        ev_timer_stop(l, safety);
        ev_io_stop(l, w);
        ev_loop_destroy(l);
        free(safety);
        free(w);
        free(rec);
        free(timed_out);
    }
    let mut buf = [0_u8; 4];
    reader.read_exact(&mut buf).expect("read");
    assert_eq!(&buf, b"ping");
}

#[test]
fn io_watcher_reports_writable_socket() {
    let (sock, _peer) = UnixStream::pair().expect("socketpair");
    let l = epoll_loop();
    let rec = boxed(Record::default());
    let w = boxed(ev_io::new(Some(io_cb_break), sock.as_raw_fd(), EV_READ));
    // SAFETY: as in `io_watcher_fires_read_when_peer_writes`.
    unsafe {
        ev_io_modify(w, EV_WRITE);
        assert_eq!((*w).events, EV_WRITE | EV__IOFDSET);
        (*w).data = rec.cast();
        ev_io_start(l, w);
        ev_run(l, EVRUN_ONCE);
        assert_eq!((*rec).calls, 1);
        assert_eq!((*rec).revents, EV_WRITE);
        ev_io_stop(l, w);
        ev_loop_destroy(l);
        free(w);
        free(rec);
    }
}

#[test]
fn signal_watcher_receives_fed_signal() {
    let l = epoll_loop();
    let rec = boxed(Record::default());
    let timed_out = boxed(Record::default());
    let w = boxed(ev_signal::new(Some(signal_cb_break), libc::SIGUSR1));
    // SAFETY: as in `timer_fires_and_callback_sees_data`. No real signal is
    // raised: `ev_feed_signal` only simulates its receipt.
    unsafe {
        (*w).data = rec.cast();
        ev_signal_start(l, w);
        let safety = start_safety_timer(l, timed_out);
        ev_feed_signal(libc::SIGUSR1);
        ev_run(l, 0);
        assert_eq!((*timed_out).calls, 0, "safety timer fired: no signal");
        assert_eq!((*rec).calls, 1);
        assert_eq!((*rec).revents, EV_SIGNAL);
        ev_timer_stop(l, safety);
        ev_signal_stop(l, w);
        ev_loop_destroy(l);
        free(safety);
        free(w);
        free(rec);
        free(timed_out);
    }
}

#[test]
fn feed_event_pending_and_invoke() {
    let l = epoll_loop();
    let rec = boxed(Record::default());
    let w = boxed(ev_timer::new(Some(timer_cb_count), 100.0, 0.0));
    // SAFETY: single-threaded use of live heap allocations; no event is
    // left pending when they are freed; loop destroyed last.
    unsafe {
        (*w).data = rec.cast();
        ev_feed_event(l, w.cast(), EV_CUSTOM);
        assert!(ev_is_pending(w));
        assert_eq!(ev_pending_count(l), 1);
        ev_invoke_pending(l);
        assert_eq!((*rec).calls, 1);
        assert_eq!((*rec).revents, EV_CUSTOM);
        assert!(!ev_is_pending(w));

        ev_feed_event(l, w.cast(), EV_TIMER);
        assert_eq!(ev_clear_pending(l, w.cast()), EV_TIMER);
        // (libev leaves a dummy entry behind, so ev_pending_count may stay 1.)
        assert!(!ev_is_pending(w));

        ev_invoke(l, w.cast(), EV_CUSTOM);
        assert_eq!((*rec).calls, 2);

        ev_loop_destroy(l);
        free(w);
        free(rec);
    }
}

#[test]
fn loop_utilities() {
    let l = epoll_loop();
    let w = boxed(ev_timer::new(Some(timer_cb_count), 10.0, 2.0));
    let mut marker = 7_u8;
    // SAFETY: single-threaded use of a live loop and heap watcher; the
    // watcher is stopped before it is freed; the loop is destroyed last.
    unsafe {
        assert!(ev_userdata(l).is_null());
        ev_set_userdata(l, ptr::addr_of_mut!(marker).cast());
        assert_eq!(ev_userdata(l), ptr::addr_of_mut!(marker).cast::<c_void>());

        let t0 = ev_time();
        ev_sleep(0.001);
        assert!(ev_time() >= t0);
        ev_now_update(l);
        assert!(ev_now(l) > 0.0);

        ev_set_io_collect_interval(l, 0.0);
        ev_set_timeout_collect_interval(l, 0.0);

        // Inactive timer: remaining is the configured timeout.
        assert_eq!(ev_timer_remaining(l, w), 10.0);
        ev_timer_start(l, w);
        // again: restart with `repeat` as the new timeout.
        ev_timer_again(l, w);
        let remaining = ev_timer_remaining(l, w);
        assert!(remaining > 0.0 && remaining <= 2.0, "remaining {remaining}");

        // The unref'd active timer must not keep ev_run alive.
        ev_unref(l);
        // Returns 0 (no active watcher keeps it alive) instead of waiting for the timer,
        // which would run its callback and restart it (repeat 2 s).
        assert_eq!(ev_run(l, 0), 0);
        assert!(ev_is_active(w) && !ev_is_pending(w));
        ev_ref(l);

        ev_suspend(l);
        ev_resume(l);
        assert!(ev_is_active(w));

        ev_timer_stop(l, w);
        assert!(!ev_is_active(w));
        ev_loop_destroy(l);
        free(w);
    }
    let _ = marker;
}

unsafe extern "C" fn once_cb(revents: c_int, arg: *mut c_void) {
    // SAFETY: `arg` is the live `Record` passed to `ev_once`.
    unsafe { record(arg, revents) }
}

#[test]
fn ev_once_times_out() {
    let l = epoll_loop();
    let rec = boxed(Record::default());
    // SAFETY: live loop and record; ev_run returns once the one-shot
    // internal watchers are done, before anything is freed.
    unsafe {
        ev_once(l, -1, 0, 0.001, Some(once_cb), rec.cast());
        ev_run(l, 0);
        assert_eq!((*rec).calls, 1);
        assert_eq!((*rec).revents, EV_TIMER);
        ev_loop_destroy(l);
        free(rec);
    }
}

#[test]
fn safe_watcher_helpers_mirror_the_macros() {
    let mut io = ev_io::default();
    assert!(io.data.is_null() && io.cb.is_none() && !io.is_active());
    io.data = ptr::NonNull::<c_void>::dangling().as_ptr();
    io.set_priority(EV_MAXPRI);
    io.init(Some(io_cb_break), 3, EV_READ);
    // ev_init resets priority but leaves data alone.
    assert_eq!(io.priority(), 0);
    assert!(!io.data.is_null());
    assert_eq!((io.fd, io.events), (3, EV_READ | EV__IOFDSET));
    io.modify(EV_WRITE);
    assert_eq!(io.events, EV_WRITE | EV__IOFDSET);
    io.set(4, EV_READ | EV_WRITE);
    assert_eq!((io.fd, io.events), (4, EV_READ | EV_WRITE | EV__IOFDSET));
    assert!(io.cb().is_some());
    io.set_cb(None);
    assert!(io.cb().is_none());
    assert!(!io.is_pending());

    let timer = ev_timer::new(Some(timer_cb_count), 1.5, 0.25);
    assert_eq!((timer.at, timer.repeat), (1.5, 0.25));
    let mut timer = timer;
    timer.set(2.0, 0.0);
    assert_eq!((timer.at, timer.repeat), (2.0, 0.0));

    let a = ev_async::new(Some(async_cb_break));
    assert_eq!(a.sent, 0);
    assert!(a.cb().is_some());

    let s = ev_signal::new(Some(signal_cb_break), libc::SIGUSR2);
    assert_eq!(s.signum, libc::SIGUSR2);

    // Raw-pointer variants.
    let p = boxed(ev_timer::zeroed());
    // SAFETY: `p` is a live heap watcher never given to libev.
    unsafe {
        ev_timer_init(p, Some(timer_cb_count), 3.0, 1.0);
        ev_set_priority(p, EV_MINPRI);
        assert_eq!(ev_priority(p), EV_MINPRI);
        ev_timer_set(p, 4.0, 0.5);
        assert_eq!(((*p).at, (*p).repeat), (4.0, 0.5));
        assert!(ev_cb(p).is_some());
        ev_set_cb(p, None);
        assert!(ev_cb(p).is_none());
        free(p);
    }
}

/// The raw `ev_TYPE_init` functions work on uninitialised memory, as the C
/// macros do (they write fields without creating a reference), and leave a
/// watcher as the safe `new` builds it.
#[test]
fn raw_constructors_match_the_safe_ones() {
    let mut uninit = Box::<ev_io>::new_uninit();
    let p = uninit.as_mut_ptr();
    // SAFETY: `p` points to the box's allocation, sized and aligned for an
    // `ev_io`; every field is written before the box is assumed initialised
    // (`data` and `next` here, the prefix by `ev_init`, `fd` and `events` by
    // `ev_io_set`).
    let io = unsafe {
        ptr::addr_of_mut!((*p).data).write(ptr::null_mut());
        ptr::addr_of_mut!((*p).next).write(ptr::null_mut());
        ev_io_init(p, Some(io_cb_break), 5, EV_WRITE);
        uninit.assume_init()
    };
    let safe = ev_io::new(Some(io_cb_break), 5, EV_WRITE);
    assert_eq!(
        (io.active, io.pending, io.priority, io.fd, io.events),
        (
            safe.active,
            safe.pending,
            safe.priority,
            safe.fd,
            safe.events
        )
    );
    assert!(io.cb.is_some() && io.data.is_null() && io.next.is_null());

    let s = boxed(ev_signal::zeroed());
    let a = boxed(ev_async::zeroed());
    let pr = boxed(ev_prepare::zeroed());
    // SAFETY: live heap watchers never given to libev.
    unsafe {
        ev_set_priority(pr, EV_MAXPRI);
        ev_prepare_init(pr, Some(prepare_cb_count));
        assert_eq!(ev_priority(pr), 0, "ev_init resets the priority");
        assert!(ev_cb(pr).is_some() && !ev_is_active(pr));
        ev_async_init(a, Some(async_cb_break));
        assert!(ev_cb(a).is_some() && !ev_async_pending(a));
        ev_signal_init(s, Some(signal_cb_break), libc::SIGUSR1);
        assert_eq!((*s).signum, libc::SIGUSR1);
        ev_signal_set(s, libc::SIGUSR2);
        assert_eq!((*s).signum, libc::SIGUSR2);
        free(s);
        free(a);
        free(pr);
    }
}

unsafe extern "C" fn prepare_cb_count(_l: *mut ev_loop, w: *mut ev_prepare, revents: c_int) {
    // SAFETY: as in `timer_cb_break`.
    unsafe { record((*w).data, revents) };
}

/// A prepare watcher runs before the loop blocks (here: before it waits
/// for the timer).
#[test]
fn prepare_watcher_runs_before_the_loop_blocks() {
    let l = epoll_loop();
    let prepared = boxed(Record::default());
    let fired = boxed(Record::default());
    let p = boxed(ev_prepare::new(Some(prepare_cb_count)));
    let t = boxed(ev_timer::new(Some(timer_cb_break), 0.01, 0.0));
    // SAFETY: as in `timer_fires_and_callback_sees_data`.
    unsafe {
        (*p).data = prepared.cast();
        (*t).data = fired.cast();
        ev_prepare_start(l, p);
        assert!(ev_is_active(p));
        ev_timer_start(l, t);
        ev_run(l, 0);
        assert_eq!((*fired).calls, 1);
        assert!((*prepared).calls >= 1, "prepare ran before blocking");
        assert_eq!((*prepared).revents, EV_PREPARE);
        ev_prepare_stop(l, p);
        assert!(!ev_is_active(p));
        ev_timer_stop(l, t);
        ev_loop_destroy(l);
        free(p);
        free(t);
        free(prepared);
        free(fired);
    }
}
