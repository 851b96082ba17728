//! NEON 3x3 convolution without dotprod: `smull` + `smlal2` (two exact
//! `i8 x i8` products summed in `i16`; `|w| <= 127` keeps the pair within
//! `i16`) and `sadalp` into `i32`, fused requantisation and LUT.
//!
//! Tile: `P = 4` output pixels (flattened over the rows) times one block of
//! 4 output channels; each (pixel, channel) owns a q accumulator of 4
//! partial sums, joined by `addp` at the end. Per chunk of 16 input
//! channels: 4 activation and 4 weight loads, then 16 x (`smull`,
//! `smlal2`, `sadalp`) = 256 MACs. Layouts: see [`super`].

use core::arch::aarch64::*;
use core::ops::Range;

use super::{load16, max_offset, store, Lut256, Requant4};
use crate::kernels::driver::{conv3x3_path, conv_by_blocks, for_each_tile, ConvCtx};
use crate::kernels::packing::{tap_offsets, Packing};

/// Packing of this path.
pub(crate) const PACKING: Packing = Packing::Neon;

const LANES: usize = 4;

/// Pixels per tile.
const P: usize = 4;

conv3x3_path! {
    /// Whether this CPU has NEON (every aarch64 Linux CPU does).
    fn is_supported = is_aarch64_feature_detected("neon");
    /// The NEON convolution; exists only where the CPU supports it.
    struct Conv3x3;
    /// Needs weights in `[-127, 127]`, as validated models have.
    ///
    /// Reads past a pixel's `in_channels` only within the input slice (the
    /// extra bytes meet zero weights); writes exactly the `out_channels`
    /// bytes of each output pixel in `rows` (`output` starts at row
    /// `rows.start`).
    fn run = conv;
}

conv_by_blocks!("neon", tile::<P>, tile::<1>);

/// `T` pixels from flattened index `first`, output block `b`.
///
/// # Safety
///
/// As [`conv`], with `first + T <= height * width` and `b` a block.
#[target_feature(enable = "neon")]
#[inline(never)]
unsafe fn tile<const T: usize>(ctx: &ConvCtx<'_>, b: usize, first: usize) {
    let offsets = tap_offsets::<T>(first, ctx.width, ctx.height, ctx.in_stride);
    // SAFETY: forwarded; the unbounded body only when every 16-byte read
    // of every tap stays inside the input slice.
    unsafe {
        if max_offset(&offsets) + ctx.cin.div_ceil(16) * 16 <= ctx.input_len {
            body::<T, false>(ctx, b, first, &offsets);
        } else {
            body::<T, true>(ctx, b, first, &offsets);
        }
    }
}

/// # Safety
///
/// As [`tile`]; when `!BOUNDED`, `offsets[t][p] + 16 * ceil(cin / 16)`
/// bytes must be readable.
#[target_feature(enable = "neon")]
#[inline]
unsafe fn body<const T: usize, const BOUNDED: bool>(
    ctx: &ConvCtx<'_>,
    b: usize,
    first: usize,
    offsets: &[[usize; T]; 9],
) {
    let chunks = ctx.cin.div_ceil(16);
    // A last chunk of at most 8 channels needs only `smull` on its low half.
    let half = !ctx.cin.is_multiple_of(16) && ctx.cin % 16 <= 8;
    let full = if half { chunks - 1 } else { chunks };
    let tap_bytes = chunks * 64;
    // SAFETY: block b's 12 constants; its 9 taps of packed weights.
    let (consts, wblock) = unsafe { (ctx.consts.add(b * 12), ctx.weights.add(b * 9 * tap_bytes)) };
    let mut acc = [[vdupq_n_s32(0); LANES]; T];
    for (t, offs) in offsets.iter().enumerate() {
        // SAFETY: tap t of block b.
        let wt = unsafe { wblock.add(t * tap_bytes) };
        for k in 0..full {
            #[cfg(robofish_mca)]
            // SAFETY: an assembler comment.
            unsafe {
                core::arch::asm!(
                    "// LLVM-MCA-BEGIN neon",
                    options(nomem, nostack, preserves_flags)
                );
            }
            // SAFETY: bytes 16k..16k+16 of each tap pixel (`BOUNDED`
            // contract); chunk k of tap t, 4 x 16 weight bytes.
            unsafe {
                let a: [int8x16_t; T] = core::array::from_fn(|p| {
                    load16::<BOUNDED>(ctx.input, offs[p] + 16 * k, ctx.input_len)
                });
                let w: [int8x16_t; LANES] =
                    core::array::from_fn(|c| vld1q_s8(wt.add(k * 64 + 16 * c)));
                for p in 0..T {
                    for c in 0..LANES {
                        let prod = vmull_s8(vget_low_s8(a[p]), vget_low_s8(w[c]));
                        let prod = vmlal_high_s8(prod, a[p], w[c]);
                        acc[p][c] = vpadalq_s16(acc[p][c], prod);
                    }
                }
            }
            #[cfg(robofish_mca)]
            // SAFETY: an assembler comment.
            unsafe {
                core::arch::asm!(
                    "// LLVM-MCA-END neon",
                    options(nomem, nostack, preserves_flags)
                );
            }
        }
        if half {
            // SAFETY: as above for the last chunk's low 8 bytes.
            unsafe {
                let a: [int8x8_t; T] = core::array::from_fn(|p| {
                    vget_low_s8(load16::<BOUNDED>(
                        ctx.input,
                        offs[p] + 16 * full,
                        ctx.input_len,
                    ))
                });
                let w: [int8x8_t; LANES] =
                    core::array::from_fn(|c| vld1_s8(wt.add(full * 64 + 16 * c)));
                for p in 0..T {
                    for c in 0..LANES {
                        acc[p][c] = vpadalq_s16(acc[p][c], vmull_s8(a[p], w[c]));
                    }
                }
            }
        }
    }
    let n = (ctx.cout - b * LANES).min(LANES);
    // SAFETY: the block's 4 biases, multipliers and shifts.
    let (bias, rq) = unsafe {
        (
            vld1q_s32(consts),
            Requant4::load(consts.add(4), 4, ctx.zero_point),
        )
    };
    let lut = ctx.lut.map(|lut| Lut256::load(lut));
    for (p, row) in acc.iter().enumerate() {
        let sum = vpaddq_s32(vpaddq_s32(row[0], row[1]), vpaddq_s32(row[2], row[3]));
        let q16 = rq.apply(vaddq_s32(sum, bias));
        let q = vqmovn_s16(vcombine_s16(q16, q16));
        // SAFETY: pixel first + p exists; its channels b * 4 .. + n <= cout.
        unsafe {
            let dst = ctx
                .output
                .add((first + p - ctx.out_first) * ctx.out_stride + b * LANES);
            store(vcombine_s8(q, q), lut.as_ref(), dst, n);
        }
    }
}
