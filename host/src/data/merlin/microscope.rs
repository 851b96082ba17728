//! MERlin's microscope parameters (`microscope_parameters.json`): the pixel
//! size and how camera frames are turned to line up with the stage axes.
//!
//! MERlin applies, in this order, `transpose`, then `flip_horizontal`
//! (reverse each row), then `flip_vertical` (reverse the rows); keys the
//! file leaves out take MERlin's defaults: transpose and flip horizontally,
//! 0.108 µm pixels.
use crate::data::{io_error, DataError, GrayImage};
use serde_json::Value;
use std::path::Path;

/// The parameters robofish uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Microscope {
    /// Reverse each row (after the transpose).
    pub flip_horizontal: bool,
    /// Reverse the order of rows (last).
    pub flip_vertical: bool,
    /// Swap rows and columns (first).
    pub transpose: bool,
    /// µm per pixel.
    pub microns_per_pixel: f64,
}

impl Default for Microscope {
    /// MERlin's defaults.
    fn default() -> Microscope {
        Microscope {
            flip_horizontal: true,
            flip_vertical: false,
            transpose: true,
            microns_per_pixel: 0.108,
        }
    }
}

impl Microscope {
    /// Reads the JSON at `path`; other keys are ignored, a key robofish
    /// uses with an unusable value is an error naming it.
    pub fn read(path: &Path) -> Result<Microscope, DataError> {
        let text = std::fs::read_to_string(path).map_err(io_error(path))?;
        let error = |message: String| DataError::Config {
            path: path.to_path_buf(),
            message,
        };
        let root: Value = serde_json::from_str(&text).map_err(|err| error(err.to_string()))?;
        let root = root
            .as_object()
            .ok_or_else(|| error("expected a JSON object of parameters".into()))?;
        let mut microscope = Microscope::default();
        let flags = [
            ("flip_horizontal", &mut microscope.flip_horizontal),
            ("flip_vertical", &mut microscope.flip_vertical),
            ("transpose", &mut microscope.transpose),
        ];
        for (key, slot) in flags {
            if let Some(value) = root.get(key) {
                *slot = match value {
                    Value::Bool(flag) => *flag,
                    Value::Number(n) if n.as_f64() == Some(0.0) => false,
                    Value::Number(n) if n.as_f64() == Some(1.0) => true,
                    other => {
                        return Err(error(format!("`{key}` is {other}; expected true or false")))
                    }
                };
            }
        }
        if let Some(value) = root.get("microns_per_pixel") {
            microscope.microns_per_pixel = value
                .as_f64()
                .filter(|size| size.is_finite() && *size > 0.0)
                .ok_or_else(|| {
                    error(format!(
                        "`microns_per_pixel` is {value}; expected a pixel size in µm > 0"
                    ))
                })?;
        }
        Ok(microscope)
    }

    /// A camera frame turned as MERlin turns it.
    pub fn orient(&self, frame: GrayImage) -> GrayImage {
        let GrayImage {
            height,
            width,
            bits,
            pixels,
        } = frame;
        let (out_h, out_w) = if self.transpose {
            (width, height)
        } else {
            (height, width)
        };
        let mut out = vec![0u16; pixels.len()];
        for row in 0..out_h {
            for col in 0..out_w {
                // Undo the flips to find the transposed pixel, then the
                // transpose to find the camera pixel.
                let r = if self.flip_vertical {
                    out_h - 1 - row
                } else {
                    row
                };
                let c = if self.flip_horizontal {
                    out_w - 1 - col
                } else {
                    col
                };
                let source = if self.transpose {
                    c * width + r
                } else {
                    r * width + c
                };
                out[row * out_w + col] = pixels[source];
            }
        }
        GrayImage {
            height: out_h,
            width: out_w,
            bits,
            pixels: out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> GrayImage {
        // 2 x 3: [[1, 2, 3], [4, 5, 6]]
        GrayImage {
            height: 2,
            width: 3,
            bits: 16,
            pixels: vec![1, 2, 3, 4, 5, 6],
        }
    }

    #[test]
    fn orientation_follows_merlin_order() {
        let none = Microscope {
            flip_horizontal: false,
            flip_vertical: false,
            transpose: false,
            microns_per_pixel: 1.0,
        };
        assert_eq!(none.orient(image()), image());
        // numpy: flip(transpose(a), axis=1) = [[4, 1], [5, 2], [6, 3]]
        let merlin = Microscope::default().orient(image());
        assert_eq!((merlin.height, merlin.width), (3, 2));
        assert_eq!(merlin.pixels, [4, 1, 5, 2, 6, 3]);
        // flip(transpose(a), axis=0) = [[3, 6], [2, 5], [1, 4]]
        let vertical = Microscope {
            flip_horizontal: false,
            flip_vertical: true,
            ..Microscope::default()
        };
        assert_eq!(vertical.orient(image()).pixels, [3, 6, 2, 5, 1, 4]);
        let both = Microscope {
            flip_horizontal: true,
            flip_vertical: true,
            transpose: false,
            microns_per_pixel: 1.0,
        };
        assert_eq!(both.orient(image()).pixels, [6, 5, 4, 3, 2, 1]);
    }

    #[test]
    fn file_values_win_over_defaults_and_bad_values_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("microscope_parameters.json");
        std::fs::write(
            &path,
            r#"{"flip_horizontal": false, "flip_vertical": true, "transpose": true,
                "microns_per_pixel": 0.108, "image_dimensions": [128, 128], "extra": "x"}"#,
        )
        .unwrap();
        let microscope = Microscope::read(&path).unwrap();
        assert!(!microscope.flip_horizontal && microscope.flip_vertical && microscope.transpose);
        std::fs::write(&path, r#"{"transpose": "yes"}"#).unwrap();
        let err = Microscope::read(&path).unwrap_err().to_string();
        assert!(
            err.contains("microscope_parameters.json") && err.contains("`transpose`"),
            "{err}"
        );
    }
}
