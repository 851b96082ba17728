//! Pictures for people to look at: tiles and training curves.
mod font;
mod plot;
mod tile_grid;

pub use plot::{line_plot, Series};
pub use tile_grid::{render_tile_grid, write_png, RgbImage};
