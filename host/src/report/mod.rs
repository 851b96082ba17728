//! Pictures for people to look at: tiles, probability maps and training
//! curves.
mod font;
mod maps;
mod plot;
mod tile_grid;

pub use maps::{render_map_grid, render_probability_map, Marker, MarkerShape};
pub use plot::{line_plot, Series};
pub use tile_grid::{render_tile_grid, write_png, RgbImage};
