//! The allocation-free int8 engine.
//!
//! [`Network`] prepares a validated [`crate::model::Model`] for one kernel
//! path (weights packed, zero points folded into biases). [`Plan`] fixes, for
//! one tile size, where every tensor lives in a single arena. [`Network::run`]
//! then executes the graph into caller-provided buffers without allocating.

#[cfg(feature = "std")]
mod dynamic;
#[cfg(feature = "alloc")]
mod halo;
#[cfg(feature = "alloc")]
mod input;
#[cfg(feature = "alloc")]
mod network;
#[cfg(feature = "alloc")]
mod plan;
#[cfg(feature = "alloc")]
mod stream;
#[cfg(feature = "alloc")]
mod tile;

/// The engine's input, re-exported from [`crate::image`] where it lives.
pub use crate::image::{ImageError, InputImage, Pixels};
#[cfg(feature = "alloc")]
pub use halo::receptive_halo;
#[cfg(feature = "alloc")]
pub use network::Network;
#[cfg(feature = "alloc")]
pub use plan::{Plan, TensorPlacement, ARENA_ALIGN, CHANNEL_ALIGN};
#[cfg(feature = "alloc")]
pub use stream::RowStreamer;
#[cfg(feature = "alloc")]
pub use tile::{check_tile_size, Extent, MAX_TILE_SIDE};

use core::fmt;

/// Why the engine refused to plan or run.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EngineError {
    /// The tile size does not fit the network's pooling depth (see
    /// [`check_tile_size`]).
    BadTileSize {
        /// Requested height.
        height: usize,
        /// Requested width.
        width: usize,
        /// Required divisor (2^depth).
        multiple: usize,
        /// Smallest allowed side.
        minimum: usize,
    },
    /// A side of the tile is longer than [`MAX_TILE_SIDE`].
    TileTooLarge {
        /// Requested height.
        height: usize,
        /// Requested width.
        width: usize,
        /// Longest allowed side.
        maximum: usize,
    },
    /// The model is inconsistent (it failed [`crate::model::validate`]).
    #[cfg(feature = "alloc")]
    InvalidModel(crate::model::ModelError),
    /// The arena is smaller than the plan needs.
    ArenaTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        given: usize,
    },
    /// The plan was made for another network.
    PlanMismatch,
    /// The input image does not match the plan or the model.
    BadInput(&'static str),
    /// The input image's view of its pixels could not be made.
    Image(ImageError),
    /// Output buffers do not match the model's outputs.
    BadOutputs {
        /// Which output (index), or the count when the count is wrong.
        index: usize,
        /// Bytes expected.
        expected: usize,
        /// Bytes given.
        given: usize,
    },
    /// The requested kernel path cannot run here.
    Kernel(crate::kernels::KernelPathError),
    /// An internal invariant failed (a bug; please report it).
    Internal(&'static str),
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::BadTileSize {
                height,
                width,
                multiple,
                minimum,
            } => write!(
                f,
                "tile {height}x{width} cannot run: height and width must be multiples of {multiple} \
                 (the network pools {} times) and at least {minimum}; pad or crop the tile",
                multiple.trailing_zeros()
            ),
            EngineError::TileTooLarge {
                height,
                width,
                maximum,
            } => write!(
                f,
                "tile {height}x{width} cannot run: a planned tile has at most {maximum} rows and \
                 columns; split the image into tiles or stream it"
            ),
            #[cfg(feature = "alloc")]
            EngineError::InvalidModel(e) => write!(f, "{e}"),
            EngineError::ArenaTooSmall { needed, given } => {
                write!(f, "arena of {given} bytes is too small; the plan needs {needed}")
            }
            EngineError::PlanMismatch => {
                write!(f, "this plan was built for a different network")
            }
            EngineError::BadInput(why) => write!(f, "bad input image: {why}"),
            EngineError::Image(e) => write!(f, "bad input image: {e}"),
            EngineError::BadOutputs {
                index,
                expected,
                given,
            } => write!(
                f,
                "output buffer {index} holds {given} bytes, expected {expected}"
            ),
            EngineError::Kernel(e) => write!(f, "{e}"),
            EngineError::Internal(why) => write!(f, "internal engine error: {why}"),
        }
    }
}

// Each message includes its cause's, so no `source`: a printed chain
// would repeat them.
impl core::error::Error for EngineError {}

impl From<ImageError> for EngineError {
    fn from(e: ImageError) -> Self {
        EngineError::Image(e)
    }
}

#[cfg(feature = "alloc")]
impl From<crate::model::ModelError> for EngineError {
    fn from(e: crate::model::ModelError) -> Self {
        EngineError::InvalidModel(e)
    }
}
