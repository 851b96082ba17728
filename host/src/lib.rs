//! robofish host library: simulator, dataset I/O, normalisation, targets,
//! checkpoints, ONNX export, evaluation, reports and (with the `torch` feature) training,
//! plus what several `robofish` commands share (arguments, calibration, streaming
//! FOVs through a device), used by the `robofish` binary and its integration tests.
pub mod args;
pub mod calibration;
pub mod checkpoint;
pub mod cpu;
pub mod data;
pub mod evaluate;
pub mod fleet;
pub mod link;
pub mod norm;
pub mod onnx;
pub mod report;
pub mod run;
pub mod sim;
pub mod streaming;
pub mod targets;
#[cfg(feature = "torch")]
pub mod train;
