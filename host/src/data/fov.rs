//! One field of view as the metadata describes it, and the conversion
//! between its pixels and stage coordinates.
//!
//! # Coordinates
//!
//! Pixel coordinates are robofish's everywhere: pixel `(row, column)` covers
//! `y` in `[row, row + 1)` and `x` in `[column, column + 1)`, so its centre
//! is at `(row + 0.5, column + 0.5)`. They refer to the image as robofish
//! reads it, i.e. *after* any flips and transpose the metadata asks for
//! (MERlin's microscope parameters): `x` grows along a row (to the right,
//! with the column index) and `y` down the image (with the row index).
//!
//! Global (stage) coordinates are in µm, `x` and `y` pointing the same ways
//! as the image's `x` and `y` after those flips: that is what the flips are
//! for. A FOV's stage position is where the *centre of its pixel (0, 0)*
//! lies, as MERlin treats it (its pixel coordinates put centres on
//! integers). So, with pixel size `s`:
//!
//! ```text
//! global_x = stage_x + (x - 0.5) * s        global_y = stage_y + (y - 0.5) * s
//! ```
use std::path::PathBuf;

/// What robofish knows about one FOV before reading its pixels.
///
/// `--fov` selects by `id`; a command reads the FOV's `z_um.len()` planes
/// (or the one `--z` picks) as separate 16-image tiles.
#[derive(Debug, Clone, PartialEq)]
pub struct FovInfo {
    /// The FOV's number as the files give it: MERlin's `fov` field, the
    /// number in a stack file's name, or the seed layout's tile number - 1
    /// (the simulator's index, so `merFISH_01_001_01.tiff` is FOV 0).
    pub id: usize,
    /// Stage position `(x, y)` in µm of the centre of pixel (0, 0), when a
    /// positions file or the image metadata gives it.
    pub stage_um: Option<(f64, f64)>,
    /// µm per pixel: `--pixel-size`, else the metadata's, else unknown.
    pub pixel_size_um: Option<f64>,
    /// One entry per z plane, in plane order: its z position in µm when the
    /// metadata gives one. A 2-D FOV has one plane.
    pub z_um: Vec<Option<f64>>,
    /// The file (or, for layouts with one file per image, the folder) the
    /// FOV's images come from, for messages.
    pub source_path: PathBuf,
}

impl FovInfo {
    /// Stage `(x, y)` in µm of pixel coordinates `(y, x)`; `None` without a
    /// stage position or pixel size. See the module docs for the convention.
    pub fn pixel_to_global(&self, y: f64, x: f64) -> Option<(f64, f64)> {
        let ((stage_x, stage_y), size) = (self.stage_um?, self.pixel_size_um?);
        Some(pixel_to_global((stage_x, stage_y), size, y, x))
    }

    /// Pixel coordinates `(y, x)` of stage `(x, y)` in µm; the inverse of
    /// [`FovInfo::pixel_to_global`].
    pub fn global_to_pixel(&self, x_um: f64, y_um: f64) -> Option<(f64, f64)> {
        let (stage, size) = (self.stage_um?, self.pixel_size_um?);
        Some(global_to_pixel(stage, size, x_um, y_um))
    }

    /// The z position in µm of plane `plane`, when known.
    pub fn global_z(&self, plane: usize) -> Option<f64> {
        self.z_um.get(plane).copied().flatten()
    }
}

/// Stage `(x, y)` in µm of pixel coordinates `(y, x)` of a FOV whose pixel
/// (0, 0) is centred at `stage_um` = `(x, y)`, with `pixel_size_um` µm per pixel.
pub fn pixel_to_global(stage_um: (f64, f64), pixel_size_um: f64, y: f64, x: f64) -> (f64, f64) {
    (
        stage_um.0 + (x - 0.5) * pixel_size_um,
        stage_um.1 + (y - 0.5) * pixel_size_um,
    )
}

/// Pixel coordinates `(y, x)` of stage `(x, y)` in µm; the inverse of
/// [`pixel_to_global`].
pub fn global_to_pixel(
    stage_um: (f64, f64),
    pixel_size_um: f64,
    x_um: f64,
    y_um: f64,
) -> (f64, f64) {
    (
        (y_um - stage_um.1) / pixel_size_um + 0.5,
        (x_um - stage_um.0) / pixel_size_um + 0.5,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_centre_zero_sits_on_the_stage_position() {
        let fov = FovInfo {
            id: 0,
            stage_um: Some((100.0, -20.0)),
            pixel_size_um: Some(0.5),
            z_um: vec![None],
            source_path: PathBuf::new(),
        };
        assert_eq!(fov.pixel_to_global(0.5, 0.5), Some((100.0, -20.0)));
        // One pixel right is +x, one pixel down is +y.
        assert_eq!(fov.pixel_to_global(0.5, 1.5), Some((100.5, -20.0)));
        assert_eq!(fov.pixel_to_global(1.5, 0.5), Some((100.0, -19.5)));
        let (y, x) = fov.global_to_pixel(103.25, -17.0).unwrap();
        assert_eq!(fov.pixel_to_global(y, x), Some((103.25, -17.0)));
        let unknown = FovInfo {
            pixel_size_um: None,
            ..fov
        };
        assert_eq!(unknown.pixel_to_global(0.5, 0.5), None);
        assert_eq!(unknown.global_z(0), None);
    }
}
