//! Verification of the hand-written declarations against the real `<ev.h>`.
//!
//! The build script compiles `probe/ev_probe.c` against the installed
//! header. The probe describes the header as a table of `(name, value)`
//! pairs, for example `("sizeof(ev_io)", 48)`,
//! `("offsetof(ev_timer, repeat)", 40)` or `("EV_READ", 1)`.
//! [`RUST_VALUES`] is the same table computed from this crate's Rust
//! declarations, with identical names.
//!
//! The two tables are compared:
//!
//! * **at compile time**, when the build script could run the probe as a
//!   program (always, unless cross-compiling): a mismatch is a `const`
//!   evaluation error that names the offending entry;
//! * **at run time** by [`verify`], which reads the table from the probe
//!   library linked into this crate. The crate's tests call it; dependents
//!   may call it as well.

use core::ffi::{c_char, c_longlong, CStr};
use core::fmt;
use core::mem::{align_of, size_of};

use crate::*;

/// `offsetof(type, field)` usable in `const` context on the crate's MSRV
/// (which predates `core::mem::offset_of!`).
macro_rules! offset_of_field {
    ($ty:ty, $field:ident) => {{
        let uninit = core::mem::MaybeUninit::<$ty>::uninit();
        let base: *const $ty = uninit.as_ptr();
        // SAFETY: `base` points to a live (if uninitialised) local of type
        // `$ty`; `addr_of!` only computes the field's address and reads
        // nothing.
        let field = unsafe { core::ptr::addr_of!((*base).$field) };
        // SAFETY: both pointers are derived from the same allocation
        // (`uninit`), and the field lies within it, so the distance is in
        // bounds and non-negative.
        let offset = unsafe { field.cast::<u8>().offset_from(base.cast::<u8>()) };
        offset as i64
    }};
}

/// Entries for the `EV_WATCHER` prefix shared by every watcher type.
macro_rules! watcher_common {
    ($ty:ident) => {
        [
            (
                concat!("sizeof(", stringify!($ty), ")"),
                size_of::<$ty>() as i64,
            ),
            (
                concat!("alignof(", stringify!($ty), ")"),
                align_of::<$ty>() as i64,
            ),
            (
                concat!("offsetof(", stringify!($ty), ", active)"),
                offset_of_field!($ty, active),
            ),
            (
                concat!("offsetof(", stringify!($ty), ", pending)"),
                offset_of_field!($ty, pending),
            ),
            (
                concat!("offsetof(", stringify!($ty), ", priority)"),
                offset_of_field!($ty, priority),
            ),
            (
                concat!("offsetof(", stringify!($ty), ", data)"),
                offset_of_field!($ty, data),
            ),
            (
                concat!("offsetof(", stringify!($ty), ", cb)"),
                offset_of_field!($ty, cb),
            ),
        ]
    };
}

/// One table entry per field, named like the probe's entries.
macro_rules! offsets {
    ($ty:ident: $($field:ident),*) => {
        [$(
            (
                concat!("offsetof(", stringify!($ty), ", ", stringify!($field), ")"),
                offset_of_field!($ty, $field),
            ),
        )*]
    };
}

/// Entries `(name, value)` for constants, named after the constant.
macro_rules! constants {
    ($($name:ident),* $(,)?) => {
        [$((stringify!($name), $name as i64),)*]
    };
}

/// Concatenates fixed-size arrays of entries in `const` context.
const fn concat_tables<const N: usize>(
    parts: &[&[(&'static str, i64)]],
) -> [(&'static str, i64); N] {
    let mut out = [("", 0_i64); N];
    let mut n = 0;
    let mut p = 0;
    while p < parts.len() {
        let part = parts[p];
        let mut i = 0;
        while i < part.len() {
            out[n] = part[i];
            n += 1;
            i += 1;
        }
        p += 1;
    }
    assert!(n == N, "concat_tables: wrong table length");
    out
}

const SCALARS: [(&str, i64); 6] = [
    ("sizeof(ev_tstamp)", size_of::<ev_tstamp>() as i64),
    ("alignof(ev_tstamp)", align_of::<ev_tstamp>() as i64),
    // `ev_tstamp` is `f64`.
    ("ev_tstamp is floating point", 1),
    ("sizeof(sig_atomic_t)", size_of::<sig_atomic_t>() as i64),
    ("alignof(sig_atomic_t)", align_of::<sig_atomic_t>() as i64),
    // `sig_atomic_t` is `c_int`.
    ("sig_atomic_t is signed", 1),
];

const CONFIG: [(&str, i64); 9] = [
    ("EV_VERSION_MAJOR", EV_VERSION_MAJOR as i64),
    ("EV_VERSION_MINOR", EV_VERSION_MINOR as i64),
    ("EV_MINPRI", EV_MINPRI as i64),
    ("EV_MAXPRI", EV_MAXPRI as i64),
    // Every function here takes a loop pointer.
    ("EV_MULTIPLICITY != 0", 1),
    // ev_iteration, ev_depth, ev_set_userdata, ev_suspend, ... are bound.
    ("EV_FEATURE_API != 0", 1),
    // ev_async is bound.
    ("EV_ASYNC_ENABLE != 0", 1),
    // ev_signal is bound.
    ("EV_SIGNAL_ENABLE != 0", 1),
    // ev_prepare is bound.
    ("EV_PREPARE_ENABLE != 0", 1),
];

const WATCHERS: [(&str, i64); 66] = concat_tables(&[
    &watcher_common!(ev_watcher),
    &watcher_common!(ev_watcher_list),
    &offsets!(ev_watcher_list: next),
    &watcher_common!(ev_watcher_time),
    &offsets!(ev_watcher_time: at),
    &watcher_common!(ev_io),
    &offsets!(ev_io: next, fd, events),
    &watcher_common!(ev_timer),
    &offsets!(ev_timer: at, repeat),
    &watcher_common!(ev_async),
    &offsets!(ev_async: sent),
    &watcher_common!(ev_signal),
    &offsets!(ev_signal: next, signum),
    &watcher_common!(ev_prepare),
]);

const EVENTS: [(&str, i64); 21] = constants![
    EV_UNDEF,
    EV_NONE,
    EV_READ,
    EV_WRITE,
    EV__IOFDSET,
    EV_IO,
    EV_TIMER,
    EV_TIMEOUT,
    EV_PERIODIC,
    EV_SIGNAL,
    EV_CHILD,
    EV_STAT,
    EV_IDLE,
    EV_PREPARE,
    EV_CHECK,
    EV_EMBED,
    EV_FORK,
    EV_CLEANUP,
    EV_ASYNC,
    EV_CUSTOM,
    EV_ERROR,
];

const FLAGS: [(&str, i64); 23] = constants![
    EVFLAG_AUTO,
    EVFLAG_NOENV,
    EVFLAG_FORKCHECK,
    EVFLAG_NOINOTIFY,
    EVFLAG_NOSIGFD,
    EVFLAG_SIGNALFD,
    EVFLAG_NOSIGMASK,
    EVFLAG_NOTIMERFD,
    EVBACKEND_SELECT,
    EVBACKEND_POLL,
    EVBACKEND_EPOLL,
    EVBACKEND_KQUEUE,
    EVBACKEND_DEVPOLL,
    EVBACKEND_PORT,
    EVBACKEND_LINUXAIO,
    EVBACKEND_IOURING,
    EVBACKEND_ALL,
    EVBACKEND_MASK,
    EVRUN_NOWAIT,
    EVRUN_ONCE,
    EVBREAK_CANCEL,
    EVBREAK_ONE,
    EVBREAK_ALL,
];

const RUST_TABLE: [(&str, i64); 125] =
    concat_tables(&[&SCALARS, &WATCHERS, &CONFIG, &EVENTS, &FLAGS]);

/// Every fact the bindings rely on, as seen from the Rust declarations:
/// `(name, value)` pairs with the same names as the C probe's table (e.g.
/// `"sizeof(ev_io)"`, `"offsetof(ev_io, fd)"`, `"EV_READ"`,
/// `"EV_MULTIPLICITY != 0"`).
pub const RUST_VALUES: &[(&str, i64)] = &RUST_TABLE;

/// `a == b` for strings, usable in `const` context.
const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Looks up `name` in a table, in `const` context.
const fn lookup(table: &[(&str, i64)], name: &str) -> Option<i64> {
    let mut i = 0;
    while i < table.len() {
        if str_eq(table[i].0, name) {
            return Some(table[i].1);
        }
        i += 1;
    }
    None
}

/// The value the Rust declarations give for the probe entry `name`, or
/// `None` if the bindings declare no such fact.
pub const fn rust_value(name: &str) -> Option<i64> {
    lookup(RUST_VALUES, name)
}

mod build_time {
    // Written by build.rs: the probe program's output, or `None` when the
    // probe could not be run on the build host (cross-compilation).
    include!(concat!(env!("OUT_DIR"), "/header_values.rs"));
}

/// The header table recorded at build time, when the build script could run
/// the probe program (`None` when cross-compiling).
pub const BUILD_TIME_HEADER_VALUES: Option<&[(&str, i64)]> = build_time::BUILD_TIME_HEADER_VALUES;

/// Compile-time check of [`RUST_VALUES`] against the build-time header table.
/// On failure, the error message is the name of the offending entry.
const fn check_against(header: &[(&str, i64)]) {
    let mut i = 0;
    while i < header.len() {
        let (name, c_value) = header[i];
        match rust_value(name) {
            Some(rust) if rust == c_value => {}
            // The message is the entry name, e.g. "offsetof(ev_io, fd)".
            _ => panic!("{}", name),
        }
        i += 1;
    }
    let mut j = 0;
    while j < RUST_VALUES.len() {
        let name = RUST_VALUES[j].0;
        if lookup(header, name).is_none() {
            panic!("{}", name);
        }
        j += 1;
    }
}

// A mismatch between the Rust declarations and <ev.h> fails the build here.
// The panic message names the entry whose Rust and C values differ (or that
// one side lacks); `cargo test -p evnet-sys` shows both values.
const _: () = {
    if let Some(header) = BUILD_TIME_HEADER_VALUES {
        check_against(header);
    }
};

#[repr(C)]
struct ProbeEntry {
    name: *const c_char,
    value: c_longlong,
}

extern "C" {
    // Provided by probe/ev_probe.c, compiled and linked by build.rs.
    fn evnet_sys_probe_count() -> usize;
    fn evnet_sys_probe_entry(i: usize) -> *const ProbeEntry;
}

/// The header's facts as reported at run time by the C probe linked into
/// this crate (compiled against the same `<ev.h>` as everything else).
pub fn header_values() -> Vec<(&'static str, i64)> {
    // SAFETY: a plain C function without preconditions.
    let count = unsafe { evnet_sys_probe_count() };
    (0..count)
        .map(|i| {
            // SAFETY: `i < count`, so the probe returns a pointer into its
            // static table, valid for the whole program.
            let entry = unsafe { &*evnet_sys_probe_entry(i) };
            // SAFETY: `name` points to a NUL-terminated string literal in
            // the probe's static data, which lives for the whole program.
            let name = unsafe { CStr::from_ptr(entry.name) };
            let name = name.to_str().expect("probe entry names are ASCII");
            (name, entry.value)
        })
        .collect()
}

/// A disagreement between `<ev.h>` and the Rust declarations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The probe entry, e.g. `"sizeof(ev_io)"`.
    pub name: &'static str,
    /// The header's value, `None` if the probe has no such entry.
    pub header: Option<i64>,
    /// The Rust value, `None` if the bindings declare no such entry.
    pub rust: Option<i64>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: Option<i64>| v.map_or_else(|| "missing".to_owned(), |v| v.to_string());
        write!(
            f,
            "{}: <ev.h> says {}, evnet-sys says {}",
            self.name,
            show(self.header),
            show(self.rust)
        )
    }
}

/// Compares the run-time probe table ([`header_values`]) with
/// [`RUST_VALUES`], in both directions. Returns the number of entries
/// checked, or every mismatch found.
pub fn verify() -> Result<usize, Vec<Mismatch>> {
    let header = header_values();
    let mut mismatches: Vec<Mismatch> = header
        .iter()
        .filter_map(|&(name, value)| {
            let rust = rust_value(name);
            (rust != Some(value)).then_some(Mismatch {
                name,
                header: Some(value),
                rust,
            })
        })
        .collect();
    mismatches.extend(
        RUST_VALUES
            .iter()
            .filter(|(name, _)| !header.iter().any(|(h, _)| h == name))
            .map(|&(name, value)| Mismatch {
                name,
                header: None,
                rust: Some(value),
            }),
    );
    if mismatches.is_empty() {
        Ok(header.len())
    } else {
        Err(mismatches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_table_has_unique_names() {
        for (i, (a, _)) in RUST_VALUES.iter().enumerate() {
            for (b, _) in &RUST_VALUES[i + 1..] {
                assert_ne!(a, b, "duplicate entry");
            }
        }
    }

    #[test]
    fn const_helpers() {
        assert!(str_eq("EV_READ", "EV_READ"));
        assert!(!str_eq("EV_READ", "EV_REA"));
        assert!(!str_eq("EV_READ", "EV_REAX"));
        assert_eq!(rust_value("EV_READ"), Some(1));
        assert_eq!(rust_value("no such entry"), None);
    }
}
