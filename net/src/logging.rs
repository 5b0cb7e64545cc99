//! Logging behind the optional `log` feature: with it, events go to the `log` crate
//! (accept errors and back-off at warn, refusals, timeouts and handler errors at debug);
//! without it, the macros expand to nothing and cost nothing.
//!
//! The macros are defined once per configuration, here, so that `evnet` (which enables
//! `net/log` with its own `log` feature) logs through the same switch. A record's target
//! is the module that logged it (`net::tcp_server`, `evnet::event_loop`), so that
//! `RUST_LOG=evnet=debug` selects the evented server's records and `net=debug` the
//! blocking server's and the shared code's.

/// Log at warn level (no-op without the `log` feature).
#[cfg(feature = "log")]
#[doc(hidden)]
#[macro_export]
macro_rules! __log_warn {
    ($($arg:tt)+) => { $crate::__private::log::warn!($($arg)+) };
}

/// Log at debug level (no-op without the `log` feature).
#[cfg(feature = "log")]
#[doc(hidden)]
#[macro_export]
macro_rules! __log_debug {
    ($($arg:tt)+) => { $crate::__private::log::debug!($($arg)+) };
}

/// Log at warn level (no-op without the `log` feature).
#[cfg(not(feature = "log"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __log_warn {
    ($($arg:tt)+) => {{
        if false {
            let _ = ::std::format_args!($($arg)+);
        }
    }};
}

/// Log at debug level (no-op without the `log` feature).
#[cfg(not(feature = "log"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __log_debug {
    ($($arg:tt)+) => {{
        if false {
            let _ = ::std::format_args!($($arg)+);
        }
    }};
}
