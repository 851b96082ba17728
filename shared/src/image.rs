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
#[derive(Clone, Copy, Debug)]
pub struct InputImage<'a> {
    pixels: Pixels<'a>,
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
            channels,
            height,
            width,
            channel_stride,
            row_stride,
            col_stride,
        })
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
