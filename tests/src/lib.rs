//! Helpers for the behavioural test suite.
