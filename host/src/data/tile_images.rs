//! A tile's 16 images, read one by one from files and gathered into its
//! planar pixels: every image must have the first one's size.
use super::{DataError, GrayImage};
use crate::sim::Tile;
use std::path::Path;

/// The images of a tile gathered so far.
#[derive(Debug, Default)]
pub(super) struct TileImages {
    size: Option<(usize, usize)>,
    pixels: Vec<u16>,
}

impl TileImages {
    /// Appends `image`, read from `path` (named when its size is off).
    pub fn push(&mut self, image: GrayImage, path: &Path) -> Result<(), DataError> {
        let (height, width) = *self.size.get_or_insert((image.height, image.width));
        if (image.height, image.width) != (height, width) {
            return Err(DataError::WrongSize {
                path: path.to_path_buf(),
                height,
                width,
                found_height: image.height,
                found_width: image.width,
            });
        }
        self.pixels.extend_from_slice(&image.pixels);
        Ok(())
    }

    /// The tile, without truth.
    pub fn into_tile(self) -> Tile {
        let (height, width) = self.size.unwrap_or((0, 0));
        Tile {
            height,
            width,
            images: self.pixels,
            truth: Vec::new(),
        }
    }
}
