//! Evented server (work in progress).
