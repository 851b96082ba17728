//! The engines a model can run on, behind one small trait so latency and
//! accuracy are measured the same way for all of them.
//!
//! | engine | models | threads |
//! |---|---|---|
//! | `robofish` | int8 `.rfm` (static, qat: [`Network::run`] / `run_threaded`; dynamic: always one thread) | yes |
//! | `tract` | fp32 checkpoint, exported to ONNX in memory | no: this build of tract has no `multithread-mm`, so it always runs on one thread |
//! | `tch` | fp32 checkpoint in libtorch (`--features torch`) | yes (`tch::set_num_threads`) |
//! | `reference` | fp32 checkpoint in robofish's float reference (slow, for cross-checks) | no |
//!
//! [`Network::run`]: robofish_shared::engine::Network::run

mod int8;
mod reference;
mod tch_engine;
mod tract_engine;

use anyhow::Result;

pub use int8::Int8Engine;
pub use reference::ReferenceEngine;
pub use tch_engine::TchEngine;
pub use tract_engine::TractEngine;

use super::maps::ProbabilityMaps;
use crate::sim::Tile;

/// An engine with one model loaded.
///
/// Latency measures [`Engine::forward`] only: `load` does the per-tile
/// preparation a caller would do once per image (planning for the tile
/// size, converting pixels), `maps` the read-back.
pub trait Engine {
    /// Short name for tables and JSON: `robofish`, `tract`, `tch`, `reference`.
    fn name(&self) -> &'static str;
    /// Asks for `threads` threads; returns how many the engine will use.
    fn set_threads(&mut self, threads: usize) -> usize;
    /// Makes `tile` the input of the next [`Engine::forward`].
    fn load(&mut self, tile: &Tile) -> Result<()>;
    /// Runs the network on the loaded tile.
    fn forward(&mut self) -> Result<()>;
    /// The maps of the last forward.
    fn maps(&self) -> Result<ProbabilityMaps>;
    /// The int8 kernel path in use, for engines that have one.
    fn kernel_path(&self) -> Option<String> {
        None
    }
}

/// The fp32 engines a checkpoint can run on (`--engine`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FloatEngine {
    /// tract on the model exported to ONNX.
    Tract,
    /// libtorch (needs a robofish built with `--features torch`).
    Tch,
    /// robofish's float reference forward pass (slow).
    Reference,
}

impl FloatEngine {
    /// The default: tract, plus tch when this build has libtorch.
    pub fn defaults() -> Vec<FloatEngine> {
        let mut engines = vec![FloatEngine::Tract];
        if cfg!(feature = "torch") {
            engines.push(FloatEngine::Tch);
        }
        engines
    }

    /// Name as in tables.
    pub fn name(self) -> &'static str {
        match self {
            FloatEngine::Tract => "tract",
            FloatEngine::Tch => "tch",
            FloatEngine::Reference => "reference",
        }
    }
}
