//! The int8 model: its graph IR, the on-disk file format and validation.
//!
//! The architecture is data: the engine runs whatever graph the file holds,
//! so narrower or deeper anglerFISH variants need no code changes.

pub mod arch;
pub mod error;
pub mod file;
pub mod graph;
pub mod validate;

pub use arch::ArchConfig;
pub use error::ModelError;
pub use file::{decode_model, encode_model, model_hash, FORMAT_VERSION, MAGIC};
pub use graph::*;
