//! The one rule for the image sizes a network runs on, shared by the plan
//! (whole tiles), the row streamer and the device's column strips.

use super::EngineError;
use crate::model::{ConvTopology, Graph};

/// Longest side of a tile held whole in one arena ([`super::Plan`]).
pub const MAX_TILE_SIDE: usize = 1 << 15;

/// How much of an image the engine holds at once, which decides which of
/// its sides [`MAX_TILE_SIDE`] bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extent {
    /// A whole tile in one arena: both sides bounded.
    Tile,
    /// An image streamed row by row ([`super::RowStreamer`]): only the rows
    /// in flight are held, so the height is unbounded; a row is held whole.
    Rows,
    /// A field of view cut into column strips, each streamed row by row (and
    /// checked as [`Extent::Rows`] on its own): neither side is bounded.
    Strips,
}

/// Checks that `graph` can run on `height x width` images: both sides
/// multiples of `2^depth` (every max-pool halves them exactly) and at least
/// twice that (reflect padding needs 2 pixels at the deepest level), and
/// the sides `extent` holds whole at most [`MAX_TILE_SIDE`].
pub fn check_tile_size<Q, C: ConvTopology>(
    graph: &Graph<Q, C>,
    height: usize,
    width: usize,
    extent: Extent,
) -> Result<(), EngineError> {
    let multiple = 1usize << graph.max_level();
    let minimum = 2 * multiple;
    let fits = |side: usize| side.is_multiple_of(multiple) && side >= minimum;
    if !fits(height) || !fits(width) {
        return Err(EngineError::BadTileSize {
            height,
            width,
            multiple,
            minimum,
        });
    }
    let (height_bounded, width_bounded) = match extent {
        Extent::Tile => (true, true),
        Extent::Rows => (false, true),
        Extent::Strips => (false, false),
    };
    if (height_bounded && height > MAX_TILE_SIDE) || (width_bounded && width > MAX_TILE_SIDE) {
        return Err(EngineError::TileTooLarge {
            height,
            width,
            maximum: MAX_TILE_SIDE,
        });
    }
    Ok(())
}
