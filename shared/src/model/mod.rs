//! The int8 model: its graph IR, the on-disk file format and validation.
//!
//! The architecture is data: the engine runs whatever graph the file holds,
//! so narrower or deeper anglerFISH variants need no code changes.
//!
//! Layers, lowest first: [`ir`] (the graph both the float reference and the
//! int8 model use), [`arch`] (anglerFISH expanded into an IR graph),
//! [`int8`] (the model a file holds), then [`validate`] and [`file`](mod@file).

pub mod arch;
pub mod error;
pub mod file;
pub mod int8;
pub mod ir;
pub mod validate;

pub use arch::{ArchConfig, ArchError};
pub use error::ModelError;
pub use file::{decode_model, encode_model, model_hash, FORMAT_VERSION, MAGIC};
pub use int8::*;
pub use ir::*;
