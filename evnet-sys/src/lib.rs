//! Raw, hand-written FFI bindings to the system **libev 4.x** (`-l ev`,
//! `<ev.h>`).
//!
//! # What is bound
//!
//! * **Loops**: the opaque [`ev_loop`], creation and destruction
//!   ([`ev_loop_new`], [`ev_default_loop`], [`ev_loop_destroy`],
//!   [`ev_loop_fork`]), running ([`ev_run`], [`ev_break`]), time
//!   ([`ev_now`], [`ev_now_update`], [`ev_time`], [`ev_sleep`]), reference
//!   counting ([`ev_ref`], [`ev_unref`]), introspection ([`ev_backend`],
//!   [`ev_iteration`], [`ev_depth`], [`ev_pending_count`]), user data and the
//!   threading hooks ([`ev_set_userdata`], [`ev_set_invoke_pending_cb`],
//!   [`ev_set_loop_release_cb`]), and the global knobs ([`ev_version_major`],
//!   [`ev_supported_backends`], [`ev_set_allocator`], [`ev_set_syserr_cb`], …).
//! * **Watchers**: [`ev_io`], [`ev_timer`], [`ev_async`], [`ev_signal`] and
//!   [`ev_prepare`]
//!   (plus the "base classes" [`ev_watcher`], [`ev_watcher_list`] and
//!   [`ev_watcher_time`]) with their start/stop/… functions, and the generic
//!   [`ev_feed_event`], [`ev_invoke`], [`ev_clear_pending`], [`ev_once`].
//!   Periodic, child, stat, idle, check, embed, fork and cleanup watchers are
//!   *not* bound.
//! * **Constants**: every value of the header's event-mask, loop-flag,
//!   backend, `ev_run` and `ev_break` enums, plus [`EV_VERSION_MAJOR`],
//!   [`EV_VERSION_MINOR`], [`EV_MINPRI`] and [`EV_MAXPRI`].
//! * **Macros** re-implemented in Rust: `ev_init`, `ev_io_init`, `ev_io_set`,
//!   `ev_io_modify`, `ev_timer_init`, `ev_timer_set`, `ev_async_init`,
//!   `ev_prepare_init`,
//!   `ev_signal_init`, `ev_signal_set`, `ev_is_active`, `ev_is_pending`,
//!   `ev_async_pending`, `ev_cb`, `ev_set_cb`, `ev_priority` and
//!   `ev_set_priority`. Each exists twice:
//!   - as an `unsafe fn` of the same name taking a raw pointer, usable on a
//!     watcher that libev may currently reference (e.g. from a callback);
//!   - as a safe method taking `&self`/`&mut self` (the [`EvWatcher`] trait
//!     plus inherent methods such as [`ev_io::new`] and [`ev_io::set`]) for
//!     building and inspecting watchers that you own.
//!
//!   [`ev_io_set`] sets the internal `EV__IOFDSET` bit exactly like the C
//!   macro, and [`ev_io_modify`] preserves it.
//!
//! # How the layout is verified
//!
//! The structs are written by hand as `#[repr(C)]` mirrors of `<ev.h>` with
//! libev's default configuration (`EV_MULTIPLICITY`, priorities compiled in,
//! `EV_COMMON` = `void *data`). The build script compiles a small C probe
//! (`probe/ev_probe.c`) against the real header; it reports `sizeof`,
//! `alignof` and the `offsetof` of every declared field, `sizeof(ev_tstamp)`,
//! `sizeof(sig_atomic_t)`, and the value of every constant bound here. The
//! [`layout`] module compares that table with the Rust declarations:
//!
//! * at **compile time** (`const` assertions) whenever the build host can run
//!   the probe program — i.e. when not cross-compiling;
//! * at **run time** through [`layout::verify`], which the crate's tests call
//!   and which dependents may call too.
//!
//! # Rules of use
//!
//! * **Callbacks must never unwind into C.** Watcher callbacks are
//!   `unsafe extern "C" fn`s; a panic escaping one aborts the process on
//!   Rust ≥ 1.81 (and is undefined behaviour on older compilers). Catch
//!   panics inside the callback (`std::panic::catch_unwind`) if the code in
//!   it can panic.
//! * **Watchers must not move while libev references them.** From
//!   `ev_TYPE_start` until `ev_TYPE_stop` (and while a watcher is pending,
//!   see [`ev_feed_event`]) libev keeps a raw pointer to the watcher: keep it
//!   at a stable address (e.g. in a `Box`), do not re-initialise it, do not
//!   change its priority and do not free it. Always stop a watcher before
//!   releasing its memory.
//! * **Loops are single-threaded.** A loop and its watchers may only be used
//!   by one thread at a time. The exceptions are [`ev_async_send`] and
//!   [`ev_feed_signal`], which may be called from any thread (and from
//!   signal handlers).
//! * Signal watchers use process-global state (signal handlers): a given
//!   signal can be watched by one loop at a time.
//!
//! # Example
//!
//! A one-shot timer whose callback counts through the `data` pointer:
//!
//! ```
//! use core::ffi::c_int;
//! use evnet_sys::*;
//!
//! unsafe extern "C" fn on_timeout(_loop: *mut ev_loop, w: *mut ev_timer, _revents: c_int) {
//!     // SAFETY: `data` points to the `u32` below, alive while the loop runs.
//!     // Nothing in here can panic.
//!     unsafe { *(*w).data.cast::<u32>() += 1 };
//! }
//!
//! let mut fired = 0_u32;
//! // The watcher lives on the heap and is only used through `w` from now on.
//! let w = Box::into_raw(Box::new(ev_timer::new(Some(on_timeout), 0.001, 0.0)));
//! // SAFETY: the loop is checked for null and used by this thread only; the
//! // watcher stays at one address until it is stopped and freed, and
//! // `fired` outlives the loop run.
//! unsafe {
//!     let l = ev_loop_new(EVFLAG_AUTO);
//!     assert!(!l.is_null());
//!     (*w).data = core::ptr::addr_of_mut!(fired).cast();
//!     ev_timer_start(l, w);
//!     ev_run(l, 0); // returns when no watcher is active any more
//!     ev_timer_stop(l, w);
//!     ev_loop_destroy(l);
//!     drop(Box::from_raw(w));
//! }
//! assert_eq!(fired, 1);
//! ```
//!
//! # Build configuration
//!
//! The build script looks for `ev.h` in `$EV_INCLUDE_DIR` (if set), then via
//! pkg-config (`libev`), then in common system directories, then on the C
//! compiler's include path, and fails with an installation hint (`apt-get
//! install -y libev-dev` on Debian/Ubuntu) if it is missing. It links with
//! pkg-config's flags if available, else with `-l ev` (and
//! `-L $EV_LIB_DIR` when set). Setting either variable disables pkg-config.

#![allow(non_camel_case_types)]

use core::ffi::{c_char, c_int, c_long, c_uint, c_void};
use core::marker::{PhantomData, PhantomPinned};
use core::ptr;

pub mod layout;

// ---------------------------------------------------------------------------
// Scalar types
// ---------------------------------------------------------------------------

/// libev's time type (`EV_TSTAMP_T`, `double` by default): seconds, with
/// fractions.
pub type ev_tstamp = f64;

/// The C `sig_atomic_t` used (as `volatile`) for [`ev_async::sent`]; `int` on
/// all platforms libev supports in practice (checked by the layout probe).
pub type sig_atomic_t = c_int;

// ---------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------

/// Major version of the libev header these bindings were written against
/// (`EV_VERSION_MAJOR`). Compare with [`ev_version_major`] at run time.
pub const EV_VERSION_MAJOR: c_int = 4;
/// Minor version of the libev header these bindings were written against
/// (`EV_VERSION_MINOR`). The layout probe checks it equals the installed
/// header's.
pub const EV_VERSION_MINOR: c_int = 33;

/// Lowest watcher priority (`EV_MINPRI`, default configuration).
pub const EV_MINPRI: c_int = -2;
/// Highest watcher priority (`EV_MAXPRI`, default configuration).
pub const EV_MAXPRI: c_int = 2;

/// Guaranteed to be an invalid event mask.
pub const EV_UNDEF: c_int = -1;
/// No events.
pub const EV_NONE: c_int = 0x00;
/// `ev_io`: the file descriptor is readable (a read will not block).
pub const EV_READ: c_int = 0x01;
/// `ev_io`: the file descriptor is writable (a write will not block).
pub const EV_WRITE: c_int = 0x02;
/// Internal flag set by [`ev_io_set`] to tell libev the fd was (re)set.
pub const EV__IOFDSET: c_int = 0x80;
/// Alias of [`EV_READ`] used for type detection.
pub const EV_IO: c_int = EV_READ;
/// `ev_timer`: the timer timed out.
pub const EV_TIMER: c_int = 0x0000_0100;
/// Pre-4.0 name of [`EV_TIMER`].
pub const EV_TIMEOUT: c_int = EV_TIMER;
/// `ev_periodic`: the periodic timer timed out.
pub const EV_PERIODIC: c_int = 0x0000_0200;
/// `ev_signal`: the signal was received.
pub const EV_SIGNAL: c_int = 0x0000_0400;
/// `ev_child`: the child changed status.
pub const EV_CHILD: c_int = 0x0000_0800;
/// `ev_stat`: the stat data changed.
pub const EV_STAT: c_int = 0x0000_1000;
/// `ev_idle`: the loop is idling.
pub const EV_IDLE: c_int = 0x0000_2000;
/// `ev_prepare`: the loop is about to poll.
pub const EV_PREPARE: c_int = 0x0000_4000;
/// `ev_check`: the loop finished polling.
pub const EV_CHECK: c_int = 0x0000_8000;
/// `ev_embed`: the embedded loop needs a sweep.
pub const EV_EMBED: c_int = 0x0001_0000;
/// `ev_fork`: the loop resumed in a forked child.
pub const EV_FORK: c_int = 0x0002_0000;
/// `ev_cleanup`: the loop is about to be destroyed.
pub const EV_CLEANUP: c_int = 0x0004_0000;
/// `ev_async`: the watcher was signalled with [`ev_async_send`].
pub const EV_ASYNC: c_int = 0x0008_0000;
/// First event bit free for user code.
pub const EV_CUSTOM: c_int = 0x0100_0000;
/// Sent when an error occurs (e.g. an invalid fd in an `ev_io`).
pub const EV_ERROR: c_int = 0x8000_0000_u32 as c_int;

/// Loop flags: the default.
pub const EVFLAG_AUTO: c_uint = 0x0000_0000;
/// Loop flags: do not consult the `LIBEV_FLAGS` environment variable.
pub const EVFLAG_NOENV: c_uint = 0x0100_0000;
/// Loop flags: check for a `fork` in every iteration.
pub const EVFLAG_FORKCHECK: c_uint = 0x0200_0000;
/// Loop flags: do not use inotify for `ev_stat`.
pub const EVFLAG_NOINOTIFY: c_uint = 0x0010_0000;
/// Loop flags: pre-3.9 compatibility name; has no effect.
pub const EVFLAG_NOSIGFD: c_uint = 0;
/// Loop flags: try to use `signalfd` for signal watchers.
pub const EVFLAG_SIGNALFD: c_uint = 0x0020_0000;
/// Loop flags: do not modify the signal mask.
pub const EVFLAG_NOSIGMASK: c_uint = 0x0040_0000;
/// Loop flags: do not create a `timerfd` (for time-jump detection).
pub const EVFLAG_NOTIMERFD: c_uint = 0x0080_0000;

/// Backend: `select(2)`.
pub const EVBACKEND_SELECT: c_uint = 0x0000_0001;
/// Backend: `poll(2)`.
pub const EVBACKEND_POLL: c_uint = 0x0000_0002;
/// Backend: Linux `epoll(7)`.
pub const EVBACKEND_EPOLL: c_uint = 0x0000_0004;
/// Backend: BSD `kqueue(2)`.
pub const EVBACKEND_KQUEUE: c_uint = 0x0000_0008;
/// Backend: Solaris `/dev/poll` (not implemented by libev).
pub const EVBACKEND_DEVPOLL: c_uint = 0x0000_0010;
/// Backend: Solaris event ports.
pub const EVBACKEND_PORT: c_uint = 0x0000_0020;
/// Backend: Linux AIO (Linux 4.19+).
pub const EVBACKEND_LINUXAIO: c_uint = 0x0000_0040;
/// Backend: Linux `io_uring` (Linux 5.1+).
pub const EVBACKEND_IOURING: c_uint = 0x0000_0080;
/// All known backends.
pub const EVBACKEND_ALL: c_uint = 0x0000_00FF;
/// Mask covering all present and future backend bits.
pub const EVBACKEND_MASK: c_uint = 0x0000_FFFF;

/// [`ev_run`] flag: do not block waiting for events.
pub const EVRUN_NOWAIT: c_int = 1;
/// [`ev_run`] flag: block at most once.
pub const EVRUN_ONCE: c_int = 2;

/// [`ev_break`] mode: cancel a previous break.
pub const EVBREAK_CANCEL: c_int = 0;
/// [`ev_break`] mode: make the innermost `ev_run` return.
pub const EVBREAK_ONE: c_int = 1;
/// [`ev_break`] mode: make all nested `ev_run` calls return.
pub const EVBREAK_ALL: c_int = 2;

// ---------------------------------------------------------------------------
// The loop
// ---------------------------------------------------------------------------

/// An event loop (`struct ev_loop`). Opaque: only ever used behind a raw
/// pointer obtained from [`ev_loop_new`] or [`ev_default_loop`].
///
/// The marker makes the type `!Send`, `!Sync` and `!Unpin`, as libev loops
/// are neither thread-safe nor movable.
#[repr(C)]
pub struct ev_loop {
    _opaque: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

impl core::fmt::Debug for ev_loop {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ev_loop { .. }")
    }
}

// ---------------------------------------------------------------------------
// Callback types
// ---------------------------------------------------------------------------

// Each watcher's callback type is declared with the watcher (`watcher!` below).

/// Loop-level callback (`ev_loop_callback`), used by
/// [`ev_set_invoke_pending_cb`] and [`ev_set_loop_release_cb`].
pub type ev_loop_callback = Option<unsafe extern "C" fn(*mut ev_loop)>;
/// Callback of [`ev_once`]: `(revents, arg)`.
pub type ev_once_cb = Option<unsafe extern "C" fn(c_int, *mut c_void)>;
/// Allocator for [`ev_set_allocator`]: works like `realloc(ptr, size)`, with
/// `size == 0` meaning "free".
pub type ev_allocator_cb = Option<unsafe extern "C" fn(*mut c_void, c_long) -> *mut c_void>;
/// Handler for retryable system call errors, see [`ev_set_syserr_cb`].
pub type ev_syserr_cb = Option<unsafe extern "C" fn(*const c_char)>;

// ---------------------------------------------------------------------------
// Watcher structs
// ---------------------------------------------------------------------------

/// Declares one watcher type: its callback type (`(loop, watcher, revents)`,
/// which like every watcher callback must not unwind: see the crate docs),
/// its `#[repr(C)]` struct (the `EV_WATCHER` prefix `active`, `pending`,
/// `priority`, `data`, `cb`, then the type's own fields), its [`EvWatcher`]
/// implementation, `zeroed` (each own field given its zero) and `Default`.
macro_rules! watcher {
    (
        $(#[$cb_doc:meta])*
        callback $cb:ident;
        $(#[$doc:meta])*
        struct $ty:ident {
            $(
                $(#[$field_doc:meta])*
                $field:ident: $field_ty:ty = $zero:expr,
            )*
        }
    ) => {
        $(#[$cb_doc])*
        pub type $cb = Option<unsafe extern "C" fn(*mut ev_loop, *mut $ty, c_int)>;

        $(#[$doc])*
        #[repr(C)]
        #[derive(Debug)]
        pub struct $ty {
            /// Private: non-zero while the watcher is started.
            pub active: c_int,
            /// Private: non-zero while the watcher has an event waiting for
            /// its callback.
            pub pending: c_int,
            /// Private: priority, see [`ev_set_priority`].
            pub priority: c_int,
            /// Read-write user data (`EV_COMMON`); libev never touches it.
            pub data: *mut c_void,
            /// Private: the callback, see [`ev_set_cb`].
            pub cb: $cb,
            $(
                $(#[$field_doc])*
                pub $field: $field_ty,
            )*
        }

        // SAFETY: `$ty` is the `#[repr(C)]` struct declared just above, whose
        // first five fields are the `EV_WATCHER` prefix of `ev_watcher` with
        // the same types, and `Callback` is the declared type of its `cb`
        // field.
        unsafe impl EvWatcher for $ty {
            type Callback = $cb;
        }

        impl $ty {
            /// An all-zero watcher, like a zero-initialised C struct:
            /// inactive, not pending, priority 0, null `data`, no callback,
            /// and its own fields zero (null pointers, `0`, `0.0`).
            /// Initialise it before starting it.
            pub const fn zeroed() -> Self {
                Self {
                    active: 0,
                    pending: 0,
                    priority: 0,
                    data: ptr::null_mut(),
                    cb: None,
                    $($field: $zero,)*
                }
            }
        }

        impl Default for $ty {
            /// An all-zero watcher (no callback, null `data`), like a
            /// zero-initialised C struct; same as [`Self::zeroed`].
            fn default() -> Self {
                Self::zeroed()
            }
        }
    };
}

watcher! {
    /// Callback of an [`ev_watcher`]: `(loop, watcher, revents)`.
    ///
    /// Like every watcher callback it must not unwind (see the crate docs).
    callback ev_watcher_cb;
    /// Base watcher (`struct ev_watcher`): the `EV_WATCHER` prefix shared by
    /// all watcher types.
    struct ev_watcher {}
}

watcher! {
    /// Callback of an [`ev_watcher_list`]: `(loop, watcher, revents)`.
    callback ev_watcher_list_cb;
    /// Base watcher kept in a singly linked list (`struct ev_watcher_list`).
    struct ev_watcher_list {
        /// Private: next watcher in libev's list.
        next: *mut ev_watcher_list = ptr::null_mut(),
    }
}

watcher! {
    /// Callback of an [`ev_watcher_time`]: `(loop, watcher, revents)`.
    callback ev_watcher_time_cb;
    /// Base watcher with a deadline (`struct ev_watcher_time`).
    struct ev_watcher_time {
        /// Private: the deadline (relative timeout while not started).
        at: ev_tstamp = 0.0,
    }
}

watcher! {
    /// Callback of an [`ev_io`]: `(loop, watcher, revents)`; `revents`
    /// contains [`EV_READ`] and/or [`EV_WRITE`] (or [`EV_ERROR`]).
    callback ev_io_cb;
    /// I/O watcher (`struct ev_io`): invoked when `fd` becomes readable
    /// and/or writable.
    struct ev_io {
        /// Private: next watcher on the same fd.
        next: *mut ev_watcher_list = ptr::null_mut(),
        /// Read-only: the watched file descriptor.
        fd: c_int = 0,
        /// Read-only: the watched events ([`EV_READ`] | [`EV_WRITE`]),
        /// possibly with the internal [`EV__IOFDSET`] bit.
        events: c_int = 0,
    }
}

watcher! {
    /// Callback of an [`ev_timer`]: `(loop, watcher, revents)`; `revents`
    /// contains [`EV_TIMER`].
    callback ev_timer_cb;
    /// Relative timer (`struct ev_timer`), based on the monotonic clock.
    struct ev_timer {
        /// Private: the deadline; holds the initial timeout (`after`) while
        /// the timer is not started.
        at: ev_tstamp = 0.0,
        /// Read-write: the repeat interval (`0.0` for a one-shot timer), used
        /// on expiry and by [`ev_timer_again`].
        repeat: ev_tstamp = 0.0,
    }
}

watcher! {
    /// Callback of an [`ev_async`]: `(loop, watcher, revents)`; `revents`
    /// contains [`EV_ASYNC`].
    callback ev_async_cb;
    /// Async watcher (`struct ev_async`): wakes a loop from another thread
    /// via [`ev_async_send`].
    struct ev_async {
        /// Private: `EV_ATOMIC_T` (`sig_atomic_t volatile`) set by
        /// [`ev_async_send`], possibly from another thread. Read it only with
        /// [`ev_async_pending`] (a volatile read).
        sent: sig_atomic_t = 0,
    }
}

watcher! {
    /// Callback of an [`ev_prepare`]: `(loop, watcher, revents)`; `revents`
    /// contains [`EV_PREPARE`].
    callback ev_prepare_cb;
    /// Prepare watcher (`struct ev_prepare`): invoked once per loop
    /// iteration, just before the loop blocks waiting for events (after
    /// every callback of the previous iteration ran): the place to finish
    /// work an iteration collected. Its callback may start and stop
    /// watchers; the loop then takes them into account before blocking.
    struct ev_prepare {}
}

watcher! {
    /// Callback of an [`ev_signal`]: `(loop, watcher, revents)`; `revents`
    /// contains [`EV_SIGNAL`].
    callback ev_signal_cb;
    /// Signal watcher (`struct ev_signal`): invoked when the process
    /// receives `signum`. A signal can be watched by one loop at a time.
    struct ev_signal {
        /// Private: next watcher for the same signal.
        next: *mut ev_watcher_list = ptr::null_mut(),
        /// Read-only: the watched signal number.
        signum: c_int = 0,
    }
}

// ---------------------------------------------------------------------------
// The common watcher interface (ev_init, ev_is_active, ev_set_cb, ...)
// ---------------------------------------------------------------------------

/// Implemented by every watcher struct of this crate. Provides the
/// macro-equivalents that apply to all watcher types as safe methods.
///
/// # Safety
///
/// An implementor must be a `#[repr(C)]` struct that starts with exactly the
/// `EV_WATCHER` prefix of [`ev_watcher`] (`active`, `pending`, `priority`,
/// `data`, `cb`, with those types), and `Callback` must be the type of its
/// `cb` field, an `Option` of an `unsafe extern "C" fn` pointer. The generic
/// functions of this crate rely on this to access a `*mut Self` as a
/// `*mut ev_watcher`.
pub unsafe trait EvWatcher: Sized {
    /// The type of the `cb` field (e.g. [`ev_io_cb`]).
    type Callback: Copy;

    /// `ev_init`: marks the watcher inactive and not pending, resets its
    /// priority to 0 and sets its callback. `data` is left untouched, as in
    /// C.
    ///
    /// Must not be used on an active or pending watcher; that is already
    /// excluded by the contract of the `ev_TYPE_start` / [`ev_feed_event`]
    /// call that made it so.
    fn init_watcher(&mut self, cb: Self::Callback) {
        // SAFETY: `self` is a valid, exclusively borrowed watcher, and the
        // trait contract guarantees the layout `ev_init` relies on.
        unsafe { ev_init(self, cb) }
    }

    /// `ev_is_active`: whether the watcher is started.
    fn is_active(&self) -> bool {
        // SAFETY: `self` is a valid watcher; the trait contract guarantees
        // the `ev_watcher` prefix layout.
        unsafe { ev_is_active(self) }
    }

    /// `ev_is_pending`: whether the watcher has an event waiting for its
    /// callback to be invoked.
    fn is_pending(&self) -> bool {
        // SAFETY: as in `is_active`.
        unsafe { ev_is_pending(self) }
    }

    /// `ev_priority`: the watcher's priority.
    fn priority(&self) -> c_int {
        // SAFETY: as in `is_active`.
        unsafe { ev_priority(self) }
    }

    /// `ev_set_priority`: sets the priority (clamped by libev to
    /// [`EV_MINPRI`]..=[`EV_MAXPRI`] when started). Must not be changed
    /// while the watcher is active or pending.
    fn set_priority(&mut self, priority: c_int) {
        // SAFETY: `self` is a valid, exclusively borrowed watcher with the
        // `ev_watcher` prefix (trait contract).
        unsafe { ev_set_priority(self, priority) }
    }

    /// `ev_cb`: the current callback.
    fn cb(&self) -> Self::Callback {
        // SAFETY: as in `is_active`; `Callback` is the type of `cb`.
        unsafe { ev_cb(self) }
    }

    /// `ev_set_cb`: replaces the callback (allowed at any time, even while
    /// the watcher is active).
    fn set_cb(&mut self, cb: Self::Callback) {
        // SAFETY: `self` is a valid, exclusively borrowed watcher and
        // `Callback` is the type of its `cb` field (trait contract).
        unsafe { ev_set_cb(self, cb) }
    }
}

// ---------------------------------------------------------------------------
// Watcher constructors: `ev_TYPE_init` and `ev_TYPE_set`, safe and raw
// ---------------------------------------------------------------------------

/// Declares the constructors of a concrete watcher type, each twice (see the
/// crate docs): the safe methods `new`, `init` and `set` on a watcher you
/// own, and the raw `ev_TYPE_init` / `ev_TYPE_set` functions on a pointer.
///
/// `set(args) { field = value, ... }` gives `ev_TYPE_set`'s parameters and
/// the fields it writes (each `value` an expression of the parameters);
/// without it the C `ev_TYPE_set` is a no-op and only `init` is declared.
macro_rules! watcher_constructors {
    (
        $ty:ident: $cb:ident, $init:ident;
        $(#[$new_doc:meta])*
        new;
        $(#[$set_doc:meta])*
        $set:ident($($arg:ident: $arg_ty:ty),*) { $($field:ident = $value:expr),* $(,)? }
    ) => {
        impl $ty {
            $(#[$new_doc])*
            pub fn new(cb: $cb, $($arg: $arg_ty),*) -> Self {
                let mut w = Self::zeroed();
                w.init(cb, $($arg),*);
                w
            }

            #[doc = concat!("`", stringify!($init), "`: [`EvWatcher::init_watcher`] followed by [`",
                stringify!($ty), "::set`].")]
            /// Must not be used while the watcher is active or pending.
            pub fn init(&mut self, cb: $cb, $($arg: $arg_ty),*) {
                self.init_watcher(cb);
                self.set($($arg),*);
            }

            #[doc = concat!("`", stringify!($set), "`:")]
            $(#[$set_doc])*
            /// Must not be used while the watcher is active.
            pub fn set(&mut self, $($arg: $arg_ty),*) {
                $(self.$field = $value;)*
            }
        }

        #[doc = concat!("`", stringify!($init), "(w, cb", $(", ", stringify!($arg),)* ")`: [`ev_init`] + [`",
            stringify!($set), "`].")]
        ///
        /// # Safety
        ///
        /// As for [`ev_init`].
        pub unsafe fn $init(w: *mut $ty, cb: $cb, $($arg: $arg_ty),*) {
            // SAFETY: forwarded caller guarantees.
            unsafe {
                ev_init(w, cb);
                $set(w, $($arg),*);
            }
        }

        #[doc = concat!("`", stringify!($set), "(w", $(", ", stringify!($arg),)* ")`:")]
        $(#[$set_doc])*
        ///
        /// # Safety
        ///
        /// `w` must be non-null, aligned and valid for writes, no reference to
        /// `*w` may be live, and the watcher must not be active.
        pub unsafe fn $set(w: *mut $ty, $($arg: $arg_ty),*) {
            // SAFETY: caller guarantees `w` is valid for writes; each place is
            // a field of `$ty`, written without creating a reference.
            unsafe {
                $(ptr::addr_of_mut!((*w).$field).write($value);)*
            }
        }
    };
    (
        $ty:ident: $cb:ident, $init:ident;
        $(#[$new_doc:meta])*
        new;
    ) => {
        impl $ty {
            $(#[$new_doc])*
            pub fn new(cb: $cb) -> Self {
                let mut w = Self::zeroed();
                w.init(cb);
                w
            }

            #[doc = concat!("`", stringify!($init), "`: [`EvWatcher::init_watcher`] (`",
                stringify!($ty), "_set` is a no-op in C).")]
            /// Must not be used while the watcher is active or pending.
            pub fn init(&mut self, cb: $cb) {
                self.init_watcher(cb);
            }
        }

        #[doc = concat!("`", stringify!($init), "(w, cb)`: same as [`ev_init`] (`",
            stringify!($ty), "_set` is a no-op in C).")]
        ///
        /// # Safety
        ///
        /// As for [`ev_init`].
        pub unsafe fn $init(w: *mut $ty, cb: $cb) {
            // SAFETY: forwarded caller guarantees.
            unsafe { ev_init(w, cb) }
        }
    };
}

watcher_constructors! {
    ev_io: ev_io_cb, ev_io_init;
    /// `ev_io_init` on a fresh watcher: `cb`, watching `fd` for `events`
    /// ([`EV_READ`] and/or [`EV_WRITE`]); `data` is null.
    new;
    /// sets `fd` and `events | EV__IOFDSET` (the internal bit that tells
    /// libev the fd was set).
    ev_io_set(fd: c_int, events: c_int) {
        fd = fd,
        events = events | EV__IOFDSET,
    }
}

watcher_constructors! {
    ev_timer: ev_timer_cb, ev_timer_init;
    /// `ev_timer_init` on a fresh watcher: fires `after` seconds after being
    /// started, then every `repeat` seconds (if `repeat > 0.0`).
    new;
    /// sets the initial timeout (`at = after`) and the repeat interval.
    ev_timer_set(after: ev_tstamp, repeat: ev_tstamp) {
        at = after,
        repeat = repeat,
    }
}

watcher_constructors! {
    ev_signal: ev_signal_cb, ev_signal_init;
    /// `ev_signal_init` on a fresh watcher for signal `signum`.
    new;
    /// sets the signal number.
    ev_signal_set(signum: c_int) {
        signum = signum,
    }
}

watcher_constructors! {
    ev_async: ev_async_cb, ev_async_init;
    /// `ev_async_init` on a fresh watcher.
    new;
}

watcher_constructors! {
    ev_prepare: ev_prepare_cb, ev_prepare_init;
    /// `ev_prepare_init` on a fresh watcher.
    new;
}

impl ev_io {
    /// `ev_io_modify`: replaces the watched events, keeping the internal
    /// [`EV__IOFDSET`] bit. Cheaper than [`ev_io::set`] when only the events
    /// change. Must not be used while the watcher is active.
    pub fn modify(&mut self, events: c_int) {
        self.events = (self.events & EV__IOFDSET) | events;
    }
}

/// `ev_io_modify(w, events)`: `events = (events & EV__IOFDSET) | new`.
///
/// # Safety
///
/// As for [`ev_io_set`].
pub unsafe fn ev_io_modify(w: *mut ev_io, events: c_int) {
    // SAFETY: caller guarantees `w` is valid for reads and writes.
    unsafe {
        let field = ptr::addr_of_mut!((*w).events);
        field.write((field.read() & EV__IOFDSET) | events);
    }
}

/// `ev_async_pending(w)`: whether [`ev_async_send`] was called on the
/// watcher and the loop has not yet noticed. A volatile read of `sent`, as
/// in C.
///
/// # Safety
///
/// `w` must be non-null, aligned and valid for reads. The read may race
/// with an [`ev_async_send`] on another thread exactly as in C (libev's
/// `EV_ATOMIC_T` protocol); it is only a hint.
pub unsafe fn ev_async_pending(w: *const ev_async) -> bool {
    // SAFETY: caller guarantees `w` is valid for reads; `sent` is a
    // properly aligned `c_int`.
    unsafe { ptr::addr_of!((*w).sent).read_volatile() != 0 }
}

// ---------------------------------------------------------------------------
// Macro equivalents on raw pointers
// ---------------------------------------------------------------------------

/// `ev_init(w, cb)`: sets `active = pending = 0`, priority 0 and the
/// callback; leaves `data` (and the type-specific fields) untouched.
///
/// # Safety
///
/// `w` must be non-null, aligned and valid for writes of a `W`, and no
/// reference to `*w` may be live. The watcher must not be active or pending
/// (libev would still reference it).
pub unsafe fn ev_init<W: EvWatcher>(w: *mut W, cb: W::Callback) {
    let base = w.cast::<ev_watcher>();
    // SAFETY: the caller guarantees `w` is valid for writes; the
    // `EvWatcher` contract guarantees the `ev_watcher` prefix, so these
    // field places are in bounds and properly typed.
    unsafe {
        ptr::addr_of_mut!((*base).active).write(0);
        ptr::addr_of_mut!((*base).pending).write(0);
        ptr::addr_of_mut!((*base).priority).write(0);
    }
    // SAFETY: as above.
    unsafe { ev_set_cb(w, cb) }
}

/// `ev_is_active(w)`: whether the watcher is started.
///
/// # Safety
///
/// `w` must be non-null, aligned and valid for reads of a `W`, and nothing
/// may be writing the watcher concurrently (libev itself only writes it from
/// the loop's thread).
pub unsafe fn ev_is_active<W: EvWatcher>(w: *const W) -> bool {
    let base = w.cast::<ev_watcher>();
    // SAFETY: caller guarantees validity; the `EvWatcher` contract
    // guarantees `active` is the first field, a `c_int`.
    unsafe { ptr::addr_of!((*base).active).read() != 0 }
}

/// `ev_is_pending(w)`: whether the watcher has an event waiting for its
/// callback.
///
/// # Safety
///
/// As for [`ev_is_active`].
pub unsafe fn ev_is_pending<W: EvWatcher>(w: *const W) -> bool {
    let base = w.cast::<ev_watcher>();
    // SAFETY: caller guarantees validity; the `EvWatcher` contract
    // guarantees the `pending` field's position and type.
    unsafe { ptr::addr_of!((*base).pending).read() != 0 }
}

/// `ev_priority(w)`: the watcher's priority.
///
/// # Safety
///
/// As for [`ev_is_active`].
pub unsafe fn ev_priority<W: EvWatcher>(w: *const W) -> c_int {
    let base = w.cast::<ev_watcher>();
    // SAFETY: caller guarantees validity; the `EvWatcher` contract
    // guarantees the `priority` field's position and type.
    unsafe { ptr::addr_of!((*base).priority).read() }
}

/// `ev_set_priority(w, priority)`: sets the watcher's priority.
///
/// # Safety
///
/// `w` must be non-null, aligned and valid for writes of a `W`, and no
/// reference to `*w` may be live. libev forbids changing the priority of an
/// active or pending watcher.
pub unsafe fn ev_set_priority<W: EvWatcher>(w: *mut W, priority: c_int) {
    let base = w.cast::<ev_watcher>();
    // SAFETY: caller guarantees validity; the `EvWatcher` contract
    // guarantees the `priority` field's position and type.
    unsafe { ptr::addr_of_mut!((*base).priority).write(priority) }
}

/// `ev_cb(w)`: the watcher's callback.
///
/// # Safety
///
/// As for [`ev_is_active`].
pub unsafe fn ev_cb<W: EvWatcher>(w: *const W) -> W::Callback {
    let base = w.cast::<ev_watcher>();
    // SAFETY: caller guarantees validity; the `EvWatcher` contract says the
    // `cb` field at this position has type `W::Callback`.
    unsafe { ptr::addr_of!((*base).cb).cast::<W::Callback>().read() }
}

/// `ev_set_cb(w, cb)`: replaces the watcher's callback. libev allows this at
/// any time, even while the watcher is active.
///
/// # Safety
///
/// `w` must be non-null, aligned and valid for writes of a `W`, no reference
/// to `*w` may be live, and the loop owning the watcher must not be running
/// on another thread.
pub unsafe fn ev_set_cb<W: EvWatcher>(w: *mut W, cb: W::Callback) {
    let base = w.cast::<ev_watcher>();
    // SAFETY: caller guarantees validity; the `EvWatcher` contract says the
    // `cb` field at this position has type `W::Callback`.
    unsafe {
        ptr::addr_of_mut!((*base).cb)
            .cast::<W::Callback>()
            .write(cb)
    }
}

// ---------------------------------------------------------------------------
// Functions exported by libev
// ---------------------------------------------------------------------------

// Unless noted otherwise, every function taking a `*mut ev_loop` requires a
// live loop (from `ev_loop_new`/`ev_default_loop`, not yet destroyed) used
// only from one thread at a time, and every function taking a watcher
// pointer requires an initialised watcher that stays at the same address
// and alive for as long as libev references it (while active or pending).
// Linking (`-l ev` or pkg-config flags) is configured by build.rs.
extern "C" {
    /// Major version of the libev library linked at run time.
    pub fn ev_version_major() -> c_int;
    /// Minor version of the libev library linked at run time.
    pub fn ev_version_minor() -> c_int;

    /// Bitset of `EVBACKEND_*` backends compiled into libev and supported
    /// by this system.
    pub fn ev_supported_backends() -> c_uint;
    /// Bitset of `EVBACKEND_*` backends recommended for this platform (the
    /// ones `EVFLAG_AUTO` chooses from).
    pub fn ev_recommended_backends() -> c_uint;
    /// Bitset of `EVBACKEND_*` backends that support embedding.
    pub fn ev_embeddable_backends() -> c_uint;

    /// Current wall-clock time (like `gettimeofday`), in seconds.
    pub fn ev_time() -> ev_tstamp;
    /// Sleeps for `delay` seconds (returns immediately if `delay <= 0`).
    pub fn ev_sleep(delay: ev_tstamp);

    /// Replaces the allocator used by libev (default: `realloc`). Only call
    /// it before any other libev function.
    pub fn ev_set_allocator(cb: ev_allocator_cb);
    /// Sets the callback invoked on retryable system call errors (default:
    /// `perror` + `abort`). The callback must not unwind.
    pub fn ev_set_syserr_cb(cb: ev_syserr_cb);

    /// Returns the default loop, creating it with `flags` on first use (the
    /// only loop that supports child watchers); null on failure. Not
    /// thread-safe on first call.
    pub fn ev_default_loop(flags: c_uint) -> *mut ev_loop;
    /// Creates a new loop with `flags` (`EVFLAG_*` | `EVBACKEND_*`); null on
    /// failure (e.g. when none of the requested backends is available).
    pub fn ev_loop_new(flags: c_uint) -> *mut ev_loop;
    /// Destroys a loop and frees its resources. Active watchers are not
    /// stopped (stop them first); may invoke cleanup watcher callbacks. The
    /// loop pointer is dangling afterwards.
    pub fn ev_loop_destroy(loop_: *mut ev_loop);
    /// Makes the next iteration re-create the backend's kernel state (call
    /// in the child after `fork` before using the loop).
    pub fn ev_loop_fork(loop_: *mut ev_loop);

    /// The `EVBACKEND_*` value of the backend in use by `loop_`.
    pub fn ev_backend(loop_: *mut ev_loop) -> c_uint;
    /// The loop's cached current time ("event loop time").
    pub fn ev_now(loop_: *mut ev_loop) -> ev_tstamp;
    /// Updates the loop's cached time from the clock.
    pub fn ev_now_update(loop_: *mut ev_loop);

    /// Runs the loop: handles events until no active watchers remain or
    /// [`ev_break`] is called; `flags` may be `0`, [`EVRUN_NOWAIT`] or
    /// [`EVRUN_ONCE`]. Returns non-zero if watchers are still active.
    /// Invokes watcher callbacks, which must not unwind.
    pub fn ev_run(loop_: *mut ev_loop, flags: c_int) -> c_int;
    /// Asks `ev_run` to return, after the current callbacks: `how` is
    /// [`EVBREAK_ONE`], [`EVBREAK_ALL`] or [`EVBREAK_CANCEL`]. Not
    /// thread-safe: from another thread, use an [`ev_async`] watcher whose
    /// callback calls this.
    pub fn ev_break(loop_: *mut ev_loop, how: c_int);

    /// Adds a reference to the loop (as an active watcher does).
    pub fn ev_ref(loop_: *mut ev_loop);
    /// Removes a reference from the loop, so that e.g. a long-lived watcher
    /// does not keep `ev_run` from returning.
    pub fn ev_unref(loop_: *mut ev_loop);

    /// Waits once for `events` on `fd` (if `fd >= 0`) and/or for `timeout`
    /// seconds (if `timeout >= 0`), then calls `cb(revents, arg)` once.
    pub fn ev_once(
        loop_: *mut ev_loop,
        fd: c_int,
        events: c_int,
        timeout: ev_tstamp,
        cb: ev_once_cb,
        arg: *mut c_void,
    );

    /// Invokes all pending watchers' callbacks (normally done by `ev_run`).
    pub fn ev_invoke_pending(loop_: *mut ev_loop);
    /// Number of loop iterations so far.
    pub fn ev_iteration(loop_: *mut ev_loop) -> c_uint;
    /// Current nesting depth of `ev_run` calls on this loop.
    pub fn ev_depth(loop_: *mut ev_loop) -> c_uint;
    /// Checks the loop's internal data structures and aborts if they are
    /// corrupted (when compiled with `EV_VERIFY`).
    pub fn ev_verify(loop_: *mut ev_loop);

    /// Sets the minimum time the loop waits to collect more I/O events
    /// (default 0).
    pub fn ev_set_io_collect_interval(loop_: *mut ev_loop, interval: ev_tstamp);
    /// Sets the minimum time the loop waits to collect more timeouts
    /// (default 0).
    pub fn ev_set_timeout_collect_interval(loop_: *mut ev_loop, interval: ev_tstamp);

    /// Associates an arbitrary pointer with the loop.
    pub fn ev_set_userdata(loop_: *mut ev_loop, data: *mut c_void);
    /// The pointer set with [`ev_set_userdata`] (null if never set).
    pub fn ev_userdata(loop_: *mut ev_loop) -> *mut c_void;
    /// Replaces the function `ev_run` uses to invoke pending watchers (reset
    /// it by passing [`ev_invoke_pending`]).
    pub fn ev_set_invoke_pending_cb(loop_: *mut ev_loop, invoke_pending_cb: ev_loop_callback);
    /// Sets callbacks run just before (`release`) and after (`acquire`) the
    /// loop blocks for events, e.g. to unlock and relock a mutex.
    pub fn ev_set_loop_release_cb(
        loop_: *mut ev_loop,
        release: ev_loop_callback,
        acquire: ev_loop_callback,
    );

    /// Number of pending watchers.
    pub fn ev_pending_count(loop_: *mut ev_loop) -> c_uint;
    /// Suspends timer processing (only [`ev_resume`] may follow).
    pub fn ev_suspend(loop_: *mut ev_loop);
    /// Resumes a loop suspended with [`ev_suspend`]; timers are delayed by
    /// the suspended time.
    pub fn ev_resume(loop_: *mut ev_loop);

    /// Feeds `revents` into watcher `w` (any watcher type, initialised but
    /// not necessarily started) as if the event happened. `w` must stay
    /// valid until the event is handled or cleared.
    pub fn ev_feed_event(loop_: *mut ev_loop, w: *mut c_void, revents: c_int);
    /// Feeds `revents` into all `ev_io` watchers on `fd`.
    pub fn ev_feed_fd_event(loop_: *mut ev_loop, fd: c_int, revents: c_int);
    /// Simulates receipt of signal `signum` (thread- and signal-safe).
    pub fn ev_feed_signal(signum: c_int);
    /// Feeds signal `signum` into the loop's signal watchers.
    pub fn ev_feed_signal_event(loop_: *mut ev_loop, signum: c_int);
    /// Calls watcher `w`'s callback with `loop_` and `revents`.
    pub fn ev_invoke(loop_: *mut ev_loop, w: *mut c_void, revents: c_int);
    /// Clears the pending state of watcher `w`, returning its pending
    /// `revents` (0 if it was not pending).
    pub fn ev_clear_pending(loop_: *mut ev_loop, w: *mut c_void) -> c_int;

    /// Starts an I/O watcher (no-op if already active).
    pub fn ev_io_start(loop_: *mut ev_loop, w: *mut ev_io);
    /// Stops an I/O watcher and clears its pending state.
    pub fn ev_io_stop(loop_: *mut ev_loop, w: *mut ev_io);

    /// Starts a timer: it fires `at` seconds after the loop time.
    pub fn ev_timer_start(loop_: *mut ev_loop, w: *mut ev_timer);
    /// Stops a timer and clears its pending state.
    pub fn ev_timer_stop(loop_: *mut ev_loop, w: *mut ev_timer);
    /// Restarts a repeating timer with `repeat` as the timeout, or stops a
    /// non-repeating one; clears the pending state.
    pub fn ev_timer_again(loop_: *mut ev_loop, w: *mut ev_timer);
    /// Time left until the timer fires (its configured timeout if
    /// inactive).
    pub fn ev_timer_remaining(loop_: *mut ev_loop, w: *mut ev_timer) -> ev_tstamp;

    /// Starts a signal watcher (a signal can be watched by one loop at a
    /// time).
    pub fn ev_signal_start(loop_: *mut ev_loop, w: *mut ev_signal);
    /// Stops a signal watcher and clears its pending state.
    pub fn ev_signal_stop(loop_: *mut ev_loop, w: *mut ev_signal);

    /// Starts an async watcher.
    pub fn ev_async_start(loop_: *mut ev_loop, w: *mut ev_async);
    /// Stops an async watcher and clears its pending state.
    pub fn ev_async_stop(loop_: *mut ev_loop, w: *mut ev_async);
    /// Signals an async watcher and wakes up its loop. Safe to call from any
    /// thread (and from signal handlers) while the watcher is alive.
    pub fn ev_async_send(loop_: *mut ev_loop, w: *mut ev_async);

    /// Starts a prepare watcher: its callback runs before every blocking
    /// wait of the loop.
    pub fn ev_prepare_start(loop_: *mut ev_loop, w: *mut ev_prepare);
    /// Stops a prepare watcher and clears its pending state.
    pub fn ev_prepare_stop(loop_: *mut ev_loop, w: *mut ev_prepare);
}
