//! Dataset I/O.
