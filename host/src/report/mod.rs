//! Pictures of tiles for people to look at.
mod font;
mod tile_grid;

pub use tile_grid::{render_tile_grid, write_png, RgbImage};
