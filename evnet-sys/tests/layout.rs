//! Layout and constant checks: the hand-written Rust declarations against
//! the real `<ev.h>` (through the C probe compiled by build.rs), and the
//! header/library versions.

use core::mem::{align_of, size_of};

use evnet_sys::layout::{self, RUST_VALUES};
use evnet_sys::*;

/// The header's value for a probe entry.
fn header(name: &str) -> i64 {
    layout::header_values()
        .into_iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("probe has no entry {name:?}"))
        .1
}

#[test]
fn rust_declarations_match_header() {
    match layout::verify() {
        Ok(checked) => assert_eq!(checked, RUST_VALUES.len()),
        Err(mismatches) => {
            let lines: Vec<String> = mismatches.iter().map(ToString::to_string).collect();
            panic!("layout mismatches:\n{}", lines.join("\n"));
        }
    }
}

#[test]
fn watcher_sizes_and_alignments_match_header() {
    macro_rules! check {
        ($($ty:ident),*) => {$(
            let name = stringify!($ty);
            println!(
                "{name}: size {} align {}",
                size_of::<$ty>(),
                align_of::<$ty>()
            );
            assert_eq!(size_of::<$ty>() as i64, header(&format!("sizeof({name})")), "sizeof({name})");
            assert_eq!(align_of::<$ty>() as i64, header(&format!("alignof({name})")), "alignof({name})");
        )*};
    }
    check!(
        ev_watcher,
        ev_watcher_list,
        ev_watcher_time,
        ev_io,
        ev_timer,
        ev_async,
        ev_signal
    );
    assert_eq!(size_of::<ev_tstamp>() as i64, header("sizeof(ev_tstamp)"));
    assert_eq!(
        size_of::<sig_atomic_t>() as i64,
        header("sizeof(sig_atomic_t)")
    );
}

#[test]
fn every_field_offset_is_probed() {
    let probed: Vec<&str> = layout::header_values()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let expected_fields: &[(&str, &[&str])] = &[
        (
            "ev_io",
            &[
                "active", "pending", "priority", "data", "cb", "next", "fd", "events",
            ],
        ),
        (
            "ev_timer",
            &[
                "active", "pending", "priority", "data", "cb", "at", "repeat",
            ],
        ),
        (
            "ev_async",
            &["active", "pending", "priority", "data", "cb", "sent"],
        ),
        (
            "ev_signal",
            &[
                "active", "pending", "priority", "data", "cb", "next", "signum",
            ],
        ),
    ];
    for (ty, fields) in expected_fields {
        for field in *fields {
            let name = format!("offsetof({ty}, {field})");
            assert!(probed.contains(&name.as_str()), "{name} not probed");
            assert_eq!(
                layout::rust_value(&name),
                Some(header(&name)),
                "{name} differs"
            );
        }
    }
}

#[test]
fn constants_match_header() {
    assert_eq!(i64::from(EV_READ), header("EV_READ"));
    assert_eq!(i64::from(EV_WRITE), header("EV_WRITE"));
    assert_eq!(i64::from(EV__IOFDSET), header("EV__IOFDSET"));
    assert_eq!(i64::from(EV_TIMER), header("EV_TIMER"));
    assert_eq!(i64::from(EV_ASYNC), header("EV_ASYNC"));
    assert_eq!(i64::from(EV_SIGNAL), header("EV_SIGNAL"));
    assert_eq!(i64::from(EV_ERROR), header("EV_ERROR"));
    assert_eq!(i64::from(EVBACKEND_EPOLL), header("EVBACKEND_EPOLL"));
    assert_eq!(i64::from(EVFLAG_NOENV), header("EVFLAG_NOENV"));
    assert_eq!(i64::from(EVRUN_NOWAIT), header("EVRUN_NOWAIT"));
    assert_eq!(i64::from(EVBREAK_ALL), header("EVBREAK_ALL"));
}

#[test]
fn build_time_table_equals_run_time_table() {
    if let Some(build_time) = layout::BUILD_TIME_HEADER_VALUES {
        assert_eq!(build_time, layout::header_values().as_slice());
    }
}

#[test]
fn libev_is_version_4_in_header_and_library() {
    assert_eq!(header("EV_VERSION_MAJOR"), 4, "header is not libev 4.x");
    assert_eq!(i64::from(EV_VERSION_MAJOR), header("EV_VERSION_MAJOR"));
    assert_eq!(i64::from(EV_VERSION_MINOR), header("EV_VERSION_MINOR"));

    // SAFETY: plain getters without preconditions.
    let (major, minor) = unsafe { (ev_version_major(), ev_version_minor()) };
    println!("libev header {EV_VERSION_MAJOR}.{EV_VERSION_MINOR}, library {major}.{minor}");
    assert_eq!(major, 4, "linked libev is not 4.x");
    assert!(minor >= 0);
}
