//! Example handlers shared by the example binaries.
