//! Pictures for people to look at: tiles, probability maps and training
//! curves, each with a title, labelled axes or panels, and a legend. Text
//! and charts are drawn by plotters with the bundled DejaVu Sans; markers
//! pixel by pixel, so that they sit exactly on the pixel they name.
mod figure;
mod font;
mod image;
mod maps;
mod panels;
mod plot;
mod text;
mod tile_grid;

pub use figure::{frame, Figure, LegendEntry, Symbol};
pub use image::{write_png, RgbImage};
pub use maps::{render_map_grid, render_probability_map, Marker, MarkerShape};
pub use plot::{line_plot, LinePlot, Series};
pub use tile_grid::{render_tile_figure, render_tile_grid};
