//! Scalar kernels: the specification every SIMD path must equal bit for bit.
//!
//! Conventions shared by every kernel:
//! - NHWC views described by [`Dims`]; input slices start at the view's
//!   channel 0, output slices at the first requested row: output pixel
//!   `(y, x)` is at `((y - rows.start) * width + x) * pixel_stride`, so
//!   callers can hand disjoint row bands of one tensor to different threads.
//!   An output slice must hold `(rows.len() * width - 1) * pixel_stride +
//!   channels` bytes (nothing for empty `rows`).
//! - Reflect padding (PyTorch `padding_mode="reflect"`): row `-1` reads row
//!   `1`, row `H` reads row `H-2`; same for columns. It needs `H, W >= 2`.
//! - Accumulation in `i32` with wrapping adds (validated models never wrap).
//! - The epilogue is `lut[clamp(zp + rescale(acc)) + 128]`, see
//!   [`crate::quant`] for `rescale`.

use core::ops::Range;

use super::{ConvParams, Dims};

/// Reflect index `i` (which may be -1 or `n`) into `0..n`.
#[inline(always)]
pub fn reflect(i: isize, n: usize) -> usize {
    if i < 0 {
        (-i) as usize
    } else if i as usize >= n {
        2 * n - 2 - i as usize
    } else {
        i as usize
    }
}

/// Applies the conv epilogue to one accumulator.
#[inline(always)]
pub fn epilogue(acc: i32, channel: usize, params: &ConvParams<'_>) -> i8 {
    let pre = params.requant[channel].to_int8(acc, params.pre_zero_point);
    match params.lut {
        Some(lut) => lut[(pre as i32 + 128) as usize],
        None => pre,
    }
}

/// 3x3 convolution with reflect padding over output rows `rows`.
///
/// `input` and `output` share height and width; weights are `[cout][ky][kx][cin]`.
pub fn conv3x3(
    input: &[i8],
    in_dims: Dims,
    params: &ConvParams<'_>,
    output: &mut [i8],
    out_dims: Dims,
    rows: Range<usize>,
) {
    let (h, w) = (in_dims.height, in_dims.width);
    let cin = params.in_channels;
    for y in rows.clone() {
        let src_rows = [reflect(y as isize - 1, h), y, reflect(y as isize + 1, h)];
        for x in 0..w {
            let src_cols = [reflect(x as isize - 1, w), x, reflect(x as isize + 1, w)];
            let out_base = ((y - rows.start) * w + x) * out_dims.pixel_stride;
            for co in 0..params.out_channels {
                let mut acc = params.bias[co];
                for (ky, &sy) in src_rows.iter().enumerate() {
                    for (kx, &sx) in src_cols.iter().enumerate() {
                        let pixel = (sy * w + sx) * in_dims.pixel_stride;
                        let tap = ((co * 9) + ky * 3 + kx) * cin;
                        acc = acc.wrapping_add(dot(
                            &input[pixel..pixel + cin],
                            &params.weights[tap..tap + cin],
                        ));
                    }
                }
                output[out_base + co] = epilogue(acc, co, params);
            }
        }
    }
}

#[inline(always)]
fn dot(a: &[i8], b: &[i8]) -> i32 {
    a.iter()
        .zip(b)
        .fold(0i32, |acc, (&x, &w)| acc.wrapping_add(x as i32 * w as i32))
}

/// 2x2 max-pool, stride 2, over output rows `rows`.
pub fn maxpool2(
    input: &[i8],
    in_dims: Dims,
    output: &mut [i8],
    out_dims: Dims,
    rows: Range<usize>,
) {
    let c = out_dims.channels;
    for y in rows.clone() {
        for x in 0..out_dims.width {
            let o = ((y - rows.start) * out_dims.width + x) * out_dims.pixel_stride;
            let p00 = ((2 * y) * in_dims.width + 2 * x) * in_dims.pixel_stride;
            let p01 = p00 + in_dims.pixel_stride;
            let p10 = p00 + in_dims.width * in_dims.pixel_stride;
            let p11 = p10 + in_dims.pixel_stride;
            for ch in 0..c {
                let a = input[p00 + ch].max(input[p01 + ch]);
                let b = input[p10 + ch].max(input[p11 + ch]);
                output[o + ch] = a.max(b);
            }
        }
    }
}

/// Nearest-neighbour 2x upsample over output rows `rows`.
pub fn upsample2(
    input: &[i8],
    in_dims: Dims,
    output: &mut [i8],
    out_dims: Dims,
    rows: Range<usize>,
) {
    let c = out_dims.channels;
    for y in rows.clone() {
        for x in 0..out_dims.width {
            let o = ((y - rows.start) * out_dims.width + x) * out_dims.pixel_stride;
            let i = ((y / 2) * in_dims.width + x / 2) * in_dims.pixel_stride;
            output[o..o + c].copy_from_slice(&input[i..i + c]);
        }
    }
}

/// Copies a tensor into a channel slice of another (concat that could not
/// be planned away), over rows `rows`.
pub fn copy_channels(
    input: &[i8],
    in_dims: Dims,
    output: &mut [i8],
    out_dims: Dims,
    rows: Range<usize>,
) {
    let c = in_dims.channels;
    for y in rows.clone() {
        for x in 0..in_dims.width {
            let i = (y * in_dims.width + x) * in_dims.pixel_stride;
            let o = ((y - rows.start) * out_dims.width + x) * out_dims.pixel_stride;
            output[o..o + c].copy_from_slice(&input[i..i + c]);
        }
    }
}

/// Quantises raw camera counts `first_channel..` of `image` onto the input
/// grid (`quant` per channel, zero point `zero_point`), rows `rows`.
pub fn quantise_input(
    image: &crate::image::InputImage<'_>,
    first_channel: usize,
    quant: &[crate::quant::InputQuant],
    zero_point: i8,
    output: &mut [i8],
    out_dims: Dims,
    rows: Range<usize>,
) {
    for y in rows.clone() {
        for x in 0..out_dims.width {
            let o = ((y - rows.start) * out_dims.width + x) * out_dims.pixel_stride;
            for (ch, q) in quant.iter().enumerate() {
                let raw = image.get(first_channel + ch, y, x);
                output[o + ch] = q.quantise(raw, zero_point);
            }
        }
    }
}

/// The per-image input stage: image `first_channel + ch` of `image` through
/// the fixed-point quantiser of `stats[first_channel + ch]`
/// ([`crate::input_stage::step_quant`]) and `table`
/// ([`crate::input_stage::TABLE_LEN`] entries), `out_dims.channels`
/// channels, rows `rows`. Fails only when the statistics do not make a
/// quantiser.
pub fn quantise_input_per_image(
    image: &crate::image::InputImage<'_>,
    first_channel: usize,
    stats: &[crate::image::ImageStats],
    table: &[i8],
    output: &mut [i8],
    out_dims: Dims,
    rows: Range<usize>,
) -> Result<(), crate::quant::QuantError> {
    use crate::input_stage::{step_quant, table_index};
    for ch in 0..out_dims.channels {
        let quant = step_quant(stats[first_channel + ch])?;
        for y in rows.clone() {
            for x in 0..out_dims.width {
                let o = ((y - rows.start) * out_dims.width + x) * out_dims.pixel_stride;
                let raw = image.get(first_channel + ch, y, x);
                output[o + ch] = table[table_index(quant, raw)];
            }
        }
    }
    Ok(())
}

/// Writes an int8 probability tensor as planar u8 maps `[c][y][x]`
/// (`u8 = q + 128`, i.e. the probability grid `(q + 128) / 255`), rows `rows`.
pub fn to_probability_maps(input: &[i8], dims: Dims, maps: &mut [u8], rows: Range<usize>) {
    let plane = dims.height * dims.width;
    for y in rows {
        for x in 0..dims.width {
            let i = (y * dims.width + x) * dims.pixel_stride;
            for ch in 0..dims.channels {
                maps[ch * plane + y * dims.width + x] = (input[i + ch] as u8) ^ 0x80;
            }
        }
    }
}
