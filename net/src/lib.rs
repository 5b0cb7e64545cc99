//! Shared connection API and blocking server.
