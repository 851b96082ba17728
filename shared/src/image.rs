//! Raw camera input: 16 images of u8 or u16 counts in any strided layout.
//!
//! Below both the kernels (which quantise it) and the engine (which runs
//! networks on it), so neither needs the other to name an image.

use core::fmt;

/// Why a view of raw pixels could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImageError {
    /// No channels, rows or columns.
    Empty,
    /// The strides overflow `usize`.
    StridesOverflow,
    /// The pixel buffer ends before the last pixel the strides reach.
    BufferTooSmall {
        /// Elements the view needs.
        needed: usize,
        /// Elements the buffer holds.
        given: usize,
    },
    /// Fewer image statistics than images.
    TooFewStats {
        /// Statistics given.
        given: usize,
        /// Images in the view.
        channels: usize,
    },
    /// A statistic that is not finite, or a noise scale that is not positive.
    BadStats {
        /// The image it belongs to.
        channel: usize,
    },
    /// A row range that is empty or leaves the image.
    RowsOutside {
        /// First row asked for.
        first: usize,
        /// Rows asked for.
        count: usize,
        /// Rows in the image.
        height: usize,
    },
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageError::Empty => f.write_str("empty image"),
            ImageError::StridesOverflow => f.write_str("strides overflow"),
            ImageError::BufferTooSmall { needed, given } => write!(
                f,
                "pixel buffer is smaller than channels x height x width \
                 ({given} values, the layout reaches {needed})"
            ),
            ImageError::TooFewStats { given, channels } => write!(
                f,
                "{given} image statistics for {channels} images: one (background, noise) per image is needed"
            ),
            ImageError::BadStats { channel } => write!(
                f,
                "the statistics of image {channel} are not usable: the background must be finite \
                 and at most 1e7 counts, the noise between 1e-3 and 1e7 counts"
            ),
            ImageError::RowsOutside {
                first,
                count,
                height,
            } => write!(
                f,
                "row range outside the image (rows {first}..{} of {height})",
                first.saturating_add(*count)
            ),
        }
    }
}

impl core::error::Error for ImageError {}

/// The background level and noise scale of one camera image, in counts:
/// what a per-image input stage needs to see the image in noise units
/// (measured by [`crate::image_stats::measure`]).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ImageStats {
    /// Background level: the median pixel value.
    pub background: f32,
    /// Noise scale: the standard deviation of one pixel's noise (> 0).
    pub noise: f32,
}

impl ImageStats {
    /// Largest |background| and noise accepted: far beyond any camera's
    /// counts, small enough that the input stage's fixed-point arithmetic
    /// cannot overflow.
    pub const LIMIT: f32 = 1.0e7;
    /// Smallest noise accepted (counts).
    pub const MIN_NOISE: f32 = 1.0e-3;

    /// Whether the statistics can normalise: a finite background within
    /// [`Self::LIMIT`], a noise scale in `[MIN_NOISE, LIMIT]`.
    pub fn is_usable(&self) -> bool {
        self.background.abs() <= Self::LIMIT
            && (Self::MIN_NOISE..=Self::LIMIT).contains(&self.noise)
    }
}

/// Raw camera counts.
#[derive(Clone, Copy, Debug)]
pub enum Pixels<'a> {
    /// 8-bit counts.
    U8(&'a [u8]),
    /// 16-bit counts.
    U16(&'a [u16]),
}

impl Pixels<'_> {
    fn len(&self) -> usize {
        match self {
            Pixels::U8(p) => p.len(),
            Pixels::U16(p) => p.len(),
        }
    }
}

/// A stack of `channels` images of `height x width` raw counts; element
/// `(c, y, x)` is at `c * channel_stride + y * row_stride + x * col_stride`.
///
/// The view may carry each image's [`ImageStats`] ([`InputImage::with_stats`]):
/// a per-image input stage needs them, and a row range of a FOV must use the
/// statistics of the whole FOV, so they travel with every view cut from it.
#[derive(Clone, Copy, Debug)]
pub struct InputImage<'a> {
    pixels: Pixels<'a>,
    stats: Option<&'a [ImageStats]>,
    channels: usize,
    height: usize,
    width: usize,
    channel_stride: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> InputImage<'a> {
    /// A strided view, checked to lie inside `pixels`.
    pub fn strided(
        pixels: Pixels<'a>,
        channels: usize,
        height: usize,
        width: usize,
        [channel_stride, row_stride, col_stride]: [usize; 3],
    ) -> Result<InputImage<'a>, ImageError> {
        if channels == 0 || height == 0 || width == 0 {
            return Err(ImageError::Empty);
        }
        let last = (channels - 1)
            .checked_mul(channel_stride)
            .and_then(|a| {
                (height - 1)
                    .checked_mul(row_stride)
                    .and_then(|b| a.checked_add(b))
            })
            .and_then(|a| {
                (width - 1)
                    .checked_mul(col_stride)
                    .and_then(|b| a.checked_add(b))
            })
            .ok_or(ImageError::StridesOverflow)?;
        if last >= pixels.len() {
            return Err(ImageError::BufferTooSmall {
                needed: last + 1,
                given: pixels.len(),
            });
        }
        Ok(InputImage {
            pixels,
            stats: None,
            channels,
            height,
            width,
            channel_stride,
            row_stride,
            col_stride,
        })
    }

    /// The same view carrying the statistics of its images (`stats[c]` for
    /// image `c`; extra entries are ignored).
    pub fn with_stats(self, stats: &'a [ImageStats]) -> Result<InputImage<'a>, ImageError> {
        if stats.len() < self.channels {
            return Err(ImageError::TooFewStats {
                given: stats.len(),
                channels: self.channels,
            });
        }
        if let Some(channel) = stats[..self.channels].iter().position(|s| !s.is_usable()) {
            return Err(ImageError::BadStats { channel });
        }
        Ok(InputImage {
            stats: Some(&stats[..self.channels]),
            ..self
        })
    }

    /// The images' statistics, when the view carries them.
    pub fn stats(&self) -> Option<&'a [ImageStats]> {
        self.stats
    }

    /// Planar layout `[channel][y][x]` (one image after another).
    pub fn planar(
        pixels: Pixels<'a>,
        channels: usize,
        height: usize,
        width: usize,
    ) -> Result<InputImage<'a>, ImageError> {
        Self::strided(pixels, channels, height, width, [height * width, width, 1])
    }

    /// Row-interleaved layout `[y][channel][x]`: each row of every image,
    /// row by row, as a streaming camera delivers bands.
    pub fn row_interleaved(
        pixels: Pixels<'a>,
        channels: usize,
        height: usize,
        width: usize,
    ) -> Result<InputImage<'a>, ImageError> {
        Self::strided(
            pixels,
            channels,
            height,
            width,
            [width, channels * width, 1],
        )
    }

    /// Rows `first..first + count` of this image.
    pub fn rows(&self, first: usize, count: usize) -> Result<InputImage<'a>, ImageError> {
        if count == 0 || first.checked_add(count).is_none_or(|end| end > self.height) {
            return Err(ImageError::RowsOutside {
                first,
                count,
                height: self.height,
            });
        }
        let skip = first * self.row_stride;
        let pixels = match self.pixels {
            Pixels::U8(p) => Pixels::U8(&p[skip..]),
            Pixels::U16(p) => Pixels::U16(&p[skip..]),
        };
        Ok(InputImage {
            pixels,
            height: count,
            ..*self
        })
    }

    /// Number of images.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Rows per image.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Columns per image.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Raw count of image `c` at `(y, x)`; in range by construction.
    #[inline(always)]
    pub fn get(&self, c: usize, y: usize, x: usize) -> u16 {
        let i = c * self.channel_stride + y * self.row_stride + x * self.col_stride;
        match self.pixels {
            Pixels::U8(p) => p[i] as u16,
            Pixels::U16(p) => p[i],
        }
    }
}
