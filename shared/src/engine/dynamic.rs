//! Dynamic quantisation at run time: int8 weights, and every activation's
//! int8 grid measured on the tile being processed (min/max of the real
//! values), as "dynamic quantisation" means. Convolutions run in integer
//! arithmetic on int8 inputs; the float epilogue (scale, bias, activation)
//! produces real values whose range picks the next grid. Outputs stay on the
//! probability grid. Because grids depend on the tile's content, results of
//! a dynamic model are not tile-invariant the way static ones are.

use core::ops::Range;

use super::EngineError;
use crate::image::InputImage;
use crate::kernels::{scalar, Dims};
use crate::model::{ActivationKind, Model, Node, QuantParams};
use crate::ptq::grid_for_range;

/// Per-tensor grids of the tile in flight, kept in the arena.
pub(crate) struct Grids<'a>(pub(crate) &'a mut [u8]);

impl Grids<'_> {
    pub(crate) fn get(&self, t: usize) -> QuantParams {
        let b = &self.0[t * 8..t * 8 + 8];
        QuantParams {
            scale: f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            zero_point: b[4] as i8,
        }
    }

    pub(crate) fn set(&mut self, t: usize, q: QuantParams) {
        self.0[t * 8..t * 8 + 4].copy_from_slice(&q.scale.to_le_bytes());
        self.0[t * 8 + 4] = q.zero_point as u8;
    }
}

fn quantise_value(v: f32, grid: QuantParams) -> i8 {
    let q = (v / grid.scale).round() + grid.zero_point as f32;
    q.clamp(-128.0, 127.0) as i8
}

fn range_of(values: &[f32]) -> (f32, f32) {
    values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

/// Quantises dense NHWC floats into an int8 view on a measured grid (or
/// `fixed` when given) and returns the grid.
fn store(values: &[f32], dims: Dims, output: &mut [i8], fixed: Option<QuantParams>) -> QuantParams {
    let grid = fixed.unwrap_or_else(|| {
        let (lo, hi) = range_of(values);
        if lo > hi {
            grid_for_range(0.0, 0.0)
        } else {
            grid_for_range(lo, hi)
        }
    });
    for p in 0..dims.height * dims.width {
        for c in 0..dims.channels {
            output[p * dims.pixel_stride + c] = quantise_value(values[p * dims.channels + c], grid);
        }
    }
    grid
}

/// Normalises and quantises raw input channels on a measured grid.
pub(crate) fn input(
    model: &Model,
    image: &InputImage<'_>,
    first: usize,
    floats: &mut [f32],
    output: &mut [i8],
    dims: Dims,
) -> QuantParams {
    let norm = &model.metadata.normalisation;
    let stage = model.input_stage.kind();
    for y in 0..dims.height {
        for x in 0..dims.width {
            for c in 0..dims.channels {
                let raw = first + c;
                let fixed = (norm.mean[raw], norm.std[raw]);
                let v = crate::input_stage::float_input(stage, fixed, image, raw, y, x);
                floats[(y * dims.width + x) * dims.channels + c] = v;
            }
        }
    }
    store(
        &floats[..dims.height * dims.width * dims.channels],
        dims,
        output,
        None,
    )
}

/// One dynamic convolution: integer dot products, float epilogue, measured grid.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv(
    model: &Model,
    step: usize,
    input: &[i8],
    in_dims: Dims,
    in_grid: QuantParams,
    floats: &mut [f32],
    output: &mut [i8],
    out_dims: Dims,
    fixed: Option<QuantParams>,
) -> Result<QuantParams, EngineError> {
    let Node::Conv(conv) = &model.graph.nodes[step] else {
        return Err(EngineError::Internal("dynamic conv on a non-conv node"));
    };
    let blob = &model.weights[conv.weights as usize];
    let (h, w) = (in_dims.height, in_dims.width);
    let (cin, cout) = (in_dims.channels, out_dims.channels);
    let zp = in_grid.zero_point as i32;
    for (co, chunk) in blob.data.chunks_exact(9 * cin).enumerate() {
        let sum_w: i32 = chunk.iter().map(|&v| v as i32).sum();
        let scale = in_grid.scale * blob.scales[co];
        let bias = conv.float_bias[co];
        for y in 0..h {
            let rows = [
                scalar::reflect(y as isize - 1, h),
                y,
                scalar::reflect(y as isize + 1, h),
            ];
            for x in 0..w {
                let cols = [
                    scalar::reflect(x as isize - 1, w),
                    x,
                    scalar::reflect(x as isize + 1, w),
                ];
                let mut acc = 0i32;
                for (ky, &sy) in rows.iter().enumerate() {
                    for (kx, &sx) in cols.iter().enumerate() {
                        let px = &input[(sy * w + sx) * in_dims.pixel_stride..][..cin];
                        let wt = &chunk[(ky * 3 + kx) * cin..][..cin];
                        acc += px
                            .iter()
                            .zip(wt)
                            .map(|(&a, &b)| a as i32 * b as i32)
                            .sum::<i32>();
                    }
                }
                let real = (acc - zp * sum_w) as f32 * scale + bias;
                floats[(y * w + x) * cout + co] = match conv.activation {
                    ActivationKind::Identity => real,
                    ActivationKind::Elu => {
                        if real > 0.0 {
                            real
                        } else {
                            real.exp_m1()
                        }
                    }
                    ActivationKind::Sigmoid => 1.0 / (1.0 + (-real).exp()),
                };
            }
        }
    }
    Ok(store(&floats[..h * w * cout], out_dims, output, fixed))
}

/// Moves every part of a concat onto one grid covering all of them,
/// requantising in place the parts on other grids.
pub(crate) fn unify_concat(
    parts: &[(Range<usize>, Dims, QuantParams)],
    arena: &mut [i8],
) -> QuantParams {
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    for (range, dims, grid) in parts {
        let data = &arena[range.clone()];
        for p in 0..dims.height * dims.width {
            for c in 0..dims.channels {
                let v = grid.dequantise(data[p * dims.pixel_stride + c]);
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
    }
    let out = if lo > hi {
        grid_for_range(0.0, 0.0)
    } else {
        grid_for_range(lo, hi)
    };
    for (range, dims, grid) in parts {
        if *grid == out {
            continue;
        }
        let data = &mut arena[range.clone()];
        for p in 0..dims.height * dims.width {
            for c in 0..dims.channels {
                let i = p * dims.pixel_stride + c;
                data[i] = quantise_value(grid.dequantise(data[i]), out);
            }
        }
    }
    out
}
