//! robofish host library: simulator, dataset I/O and reports used by the
//! `robofish` binary (and by its integration tests).
pub mod data;
pub mod link;
pub mod report;
pub mod sim;
