//! `robofish eval` as a library: fp32 checkpoints and int8 model files on
//! their engines, timed and scored the same way, reported as the original
//! project's two tables (latency + size, accuracy) and more.
//!
//! - [`model`]: loading `.safetensors` / `.rfm` files and checking them
//!   against the data;
//! - [`engines`]: tract, tch, the float reference and the robofish int8
//!   engine behind one trait;
//! - [`latency`]: median of timed runs after warm-up;
//! - [`maps`], [`spots`], [`accuracy`]: probability maps to the original's
//!   pixel metrics and, through the shared post-processing the device runs
//!   (same threshold, same decoder), spot F1, RMSE, gene-aware F1 and the
//!   blank misidentification rate;
//! - [`plots`], [`tables`]: pictures, Markdown and JSON;
//! - [`run`]: one model on one engine over a split;
//! - [`classical`]: the classical decoder, no model, scored the same way.

pub mod accuracy;
pub mod benchmark;
pub mod classical;
pub mod engines;
pub mod latency;
pub mod maps;
pub mod model;
pub mod plots;
pub mod run;
pub mod spots;
pub mod tables;

pub use classical::evaluate_classical;
pub use engines::{Engine, FloatEngine};
pub use latency::Timing;
pub use model::{EvalModel, Precision};
pub use run::{evaluate_engine, EvalSettings};
pub use spots::DecodeBook;
pub use tables::{markdown_report, set_reductions, EvalRow};
