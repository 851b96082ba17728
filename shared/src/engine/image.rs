//! Raw camera input: 16 images of u8 or u16 counts in any strided layout.

use super::EngineError;

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
    ) -> Result<InputImage<'a>, EngineError> {
        if channels == 0 || height == 0 || width == 0 {
            return Err(EngineError::BadInput("empty image"));
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
            .ok_or(EngineError::BadInput("strides overflow"))?;
        if last >= pixels.len() {
            return Err(EngineError::BadInput(
                "pixel buffer is smaller than channels x height x width",
            ));
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
    ) -> Result<InputImage<'a>, EngineError> {
        Self::strided(pixels, channels, height, width, [height * width, width, 1])
    }

    /// Row-interleaved layout `[y][channel][x]`: each row of every image,
    /// row by row, as a streaming camera delivers bands.
    pub fn row_interleaved(
        pixels: Pixels<'a>,
        channels: usize,
        height: usize,
        width: usize,
    ) -> Result<InputImage<'a>, EngineError> {
        Self::strided(
            pixels,
            channels,
            height,
            width,
            [width, channels * width, 1],
        )
    }

    /// Rows `first..first + count` of this image.
    pub fn rows(&self, first: usize, count: usize) -> Result<InputImage<'a>, EngineError> {
        if count == 0 || first + count > self.height {
            return Err(EngineError::BadInput("row range outside the image"));
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
