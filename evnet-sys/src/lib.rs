//! Raw FFI bindings to libev (work in progress).
