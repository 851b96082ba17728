//! NEON i8mm 3x3 convolution: `smmla`, a 2x8 by 8x2 `s8` matrix product
//! accumulated into 2x2 `i32` (32 MACs per instruction, twice an `sdot`),
//! fused requantisation and LUT.
//!
//! Tile: `P = 4` output pixels as 2 pixel pairs, times one block of 16
//! output channels as 8 channel pairs: 16 accumulators, accumulator `(j,
//! k)` holding `[p0 c0, p0 c1, p1 c0, p1 c1]` for pixel pair `j` and
//! channel pair `k`. Per tap and chunk of 8 input channels, the 8 weight
//! registers (two channels' 8 weights each) are loaded once and meet each
//! pixel pair's activations (two pixels' 8 bytes): 16 `smmla` (512 MACs)
//! per 4 activation and 8 weight loads. `zip1`/`zip2` on 64-bit lanes turn
//! the pairs back into per-pixel channel vectors for the epilogue, which
//! is the dotprod one. Layouts: see [`super`].

use core::arch::aarch64::*;
use core::ops::Range;

use super::{load8, max_offset, Epilogue16};
use crate::kernels::driver::{conv3x3_path, conv_by_blocks, for_each_tile, ConvCtx};
use crate::kernels::packing::{tap_offsets, Packing};

/// Packing of this path.
pub(crate) const PACKING: Packing = Packing::I8mm;

const LANES: usize = 16;

/// Pixels per tile.
const P: usize = 4;

conv3x3_path! {
    /// Whether this CPU has NEON with the int8 matrix-multiply extension.
    fn is_supported = is_aarch64_feature_detected("neon", "i8mm");
    /// The NEON i8mm convolution; exists only where the CPU supports it.
    struct Conv3x3;
    /// Reads past a pixel's `in_channels` only within the input slice (the
    /// extra bytes meet zero weights); writes exactly the `out_channels`
    /// bytes of each output pixel in `rows` (`output` starts at row
    /// `rows.start`).
    fn run = conv;
}

conv_by_blocks!("neon,i8mm", tile::<P, 2>, tile::<1, 1>);

/// `N` pixels (4, or 1) from flattened index `first` as `PAIRS` pixel pairs
/// (a lone pixel pairs with itself), output block `b`.
///
/// # Safety
///
/// As [`conv`], with `first + N <= height * width`, `b` a block and
/// `PAIRS = ceil(N / 2)`.
#[target_feature(enable = "neon,i8mm")]
#[inline(never)]
unsafe fn tile<const N: usize, const PAIRS: usize>(ctx: &ConvCtx<'_>, b: usize, first: usize) {
    let offsets = tap_offsets::<N>(first, ctx.width, ctx.height, ctx.in_stride);
    let pairs: [[[usize; 2]; PAIRS]; 9] = core::array::from_fn(|t| {
        core::array::from_fn(|j| {
            [
                offsets[t][(2 * j).min(N - 1)],
                offsets[t][(2 * j + 1).min(N - 1)],
            ]
        })
    });
    let chunks = ctx.cin.div_ceil(8);
    // SAFETY: forwarded; the unbounded body only when every 8-byte read of
    // every tap stays inside the input slice.
    unsafe {
        if max_offset(&offsets) + chunks * 8 <= ctx.input_len {
            body::<N, PAIRS, false>(ctx, b, first, &pairs);
        } else {
            body::<N, PAIRS, true>(ctx, b, first, &pairs);
        }
    }
}

/// # Safety
///
/// As [`tile`]; when `!BOUNDED`, `pairs[t][j][r] + 8 * ceil(cin / 8)` bytes
/// must be readable.
#[target_feature(enable = "neon,i8mm")]
#[inline]
unsafe fn body<const N: usize, const PAIRS: usize, const BOUNDED: bool>(
    ctx: &ConvCtx<'_>,
    b: usize,
    first: usize,
    pairs: &[[[usize; 2]; PAIRS]; 9],
) {
    let chunks = ctx.cin.div_ceil(8);
    let tap_bytes = chunks * 128;
    // SAFETY: block b's 48 constants; its 9 taps of packed weights.
    let (consts, wblock) = unsafe { (ctx.consts.add(b * 48), ctx.weights.add(b * 9 * tap_bytes)) };
    let mut acc = [[vdupq_n_s32(0); 8]; PAIRS];
    for (t, offs) in pairs.iter().enumerate() {
        // SAFETY: tap t of block b.
        let wt = unsafe { wblock.add(t * tap_bytes) };
        for c in 0..chunks {
            #[cfg(robofish_mca)]
            // SAFETY: an assembler comment.
            unsafe {
                core::arch::asm!(
                    "// LLVM-MCA-BEGIN i8mm",
                    options(nomem, nostack, preserves_flags)
                );
            }
            // SAFETY: weights of chunk c of tap t (128 bytes); bytes
            // 8c..8c+8 of each tap pixel, readable by the `BOUNDED` contract.
            unsafe {
                let w: [int8x16_t; 8] =
                    core::array::from_fn(|k| vld1q_s8(wt.add(c * 128 + 16 * k)));
                for (row, pair) in acc.iter_mut().zip(offs) {
                    let a = vcombine_s8(
                        load8::<BOUNDED>(ctx.input, pair[0] + 8 * c, ctx.input_len),
                        load8::<BOUNDED>(ctx.input, pair[1] + 8 * c, ctx.input_len),
                    );
                    for (k, cell) in row.iter_mut().enumerate() {
                        *cell = smmla(*cell, a, w[k]);
                    }
                }
            }
            #[cfg(robofish_mca)]
            // SAFETY: an assembler comment.
            unsafe {
                core::arch::asm!(
                    "// LLVM-MCA-END i8mm",
                    options(nomem, nostack, preserves_flags)
                );
            }
        }
    }
    let n = (ctx.cout - b * LANES).min(LANES);
    // SAFETY: the block's 48 constants; its biases lead them.
    let (epilogue, bias) = unsafe {
        (
            Epilogue16::load(consts, ctx.zero_point, ctx.lut, n),
            core::array::from_fn::<_, 4, _>(|q| vld1q_s32(consts.add(4 * q))),
        )
    };
    for (j, row) in acc.iter().enumerate() {
        for second in [false, true] {
            let p = 2 * j + second as usize;
            if p >= N {
                continue;
            }
            // Channels 4q..4q+4 of pixel p: its 64-bit halves of channel
            // pairs 2q and 2q + 1.
            let v: [int32x4_t; 4] = core::array::from_fn(|q| {
                let (x, y) = (
                    vreinterpretq_s64_s32(row[2 * q]),
                    vreinterpretq_s64_s32(row[2 * q + 1]),
                );
                let z = if second {
                    vzip2q_s64(x, y)
                } else {
                    vzip1q_s64(x, y)
                };
                vaddq_s32(vreinterpretq_s32_s64(z), bias[q])
            });
            // SAFETY: pixel first + p exists; its channels b * 16 .. + n <= cout.
            unsafe {
                let dst = ctx
                    .output
                    .add((first + p - ctx.out_first) * ctx.out_stride + b * LANES);
                epilogue.store(&v, dst);
            }
        }
    }
}

/// `smmla acc.4s, a.16b, w.16b`: `acc += A * W^T` for the 2x8 `s8`
/// matrices `A` (rows: two pixels) and `W` (rows: two output channels),
/// lanes `[a0.w0, a0.w1, a1.w0, a1.w1]`, wrapping.
#[target_feature(enable = "neon,i8mm")]
#[inline]
fn smmla(acc: int32x4_t, a: int8x16_t, w: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    // SAFETY: register-only instruction, available by the target features.
    unsafe {
        core::arch::asm!(
            "smmla {acc:v}.4s, {a:v}.16b, {w:v}.16b",
            acc = inout(vreg) acc,
            a = in(vreg) a,
            w = in(vreg) w,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    acc
}
