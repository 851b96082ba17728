//! NEON dotprod 3x3 convolution: `sdot` by element (`s8 x s8`, so no `+128`
//! correction), 16 output channels per block in 4 q registers, fused
//! requantisation and LUT.
//!
//! Tile: `P = 4` output pixels (flattened over the rows) times one block of
//! 16 output channels: 16 accumulators start at the packed bias. Per tap,
//! each pixel's 16 activation bytes (4 groups of 4 input channels) are
//! loaded once; for each group the 4 weight registers are loaded once and
//! meet every pixel's group through `sdot v.4s, w.16b, a.4b[g]`: 64 `sdot`
//! (1024 MACs) per 4 activation and 16 weight loads. Layouts: see [`super`].

use core::arch::aarch64::*;
use core::ops::Range;

use super::{load16, max_offset, Epilogue16};
use crate::kernels::driver::{conv3x3_path, conv_by_blocks, for_each_tile, ConvCtx};
use crate::kernels::packing::{tap_offsets, Packing};

/// Packing of this path.
pub(crate) const PACKING: Packing = Packing::S8S8 { lanes: 16 };

const LANES: usize = 16;

/// Pixels per tile.
const P: usize = 4;

conv3x3_path! {
    /// Whether this CPU has NEON with the dot-product extension.
    fn is_supported = is_aarch64_feature_detected("neon", "dotprod");
    /// The NEON dotprod convolution; exists only where the CPU supports it.
    struct Conv3x3;
    /// Reads past a pixel's `in_channels` only within the input slice (the
    /// extra bytes meet zero weights); writes exactly the `out_channels`
    /// bytes of each output pixel in `rows` (`output` starts at row
    /// `rows.start`).
    fn run = conv;
}

conv_by_blocks!("neon,dotprod", tile::<P>, tile::<1>);

/// `T` pixels from flattened index `first`, output block `b`.
///
/// # Safety
///
/// As [`conv`], with `first + T <= height * width` and `b` a block.
#[target_feature(enable = "neon,dotprod")]
#[inline(never)]
unsafe fn tile<const T: usize>(ctx: &ConvCtx<'_>, b: usize, first: usize) {
    let offsets = tap_offsets::<T>(first, ctx.width, ctx.height, ctx.in_stride);
    let groups = ctx.cin.div_ceil(4);
    // SAFETY: forwarded; the unbounded body only when every 16-byte read
    // of every tap stays inside the input slice.
    unsafe {
        if max_offset(&offsets) + groups.div_ceil(4) * 16 <= ctx.input_len {
            body::<T, false>(ctx, b, first, &offsets);
        } else {
            body::<T, true>(ctx, b, first, &offsets);
        }
    }
}

/// # Safety
///
/// As [`tile`]; when `!BOUNDED`, `offsets[t][p] + 16 * ceil(G / 4)` bytes
/// must be readable.
#[target_feature(enable = "neon,dotprod")]
#[inline]
unsafe fn body<const T: usize, const BOUNDED: bool>(
    ctx: &ConvCtx<'_>,
    b: usize,
    first: usize,
    offsets: &[[usize; T]; 9],
) {
    let groups = ctx.cin.div_ceil(4);
    let quads = groups / 4;
    let rest = groups % 4;
    let tap_bytes = groups * 64;
    // SAFETY: block b's 48 constants; its 9 taps of packed weights.
    let (consts, wblock) = unsafe { (ctx.consts.add(b * 48), ctx.weights.add(b * 9 * tap_bytes)) };
    let mut acc = [[vdupq_n_s32(0); 4]; T];
    for c in 0..4 {
        // SAFETY: inside the block's 16 biases.
        let bias = unsafe { vld1q_s32(consts.add(4 * c)) };
        for row in acc.iter_mut() {
            row[c] = bias;
        }
    }
    for (t, offs) in offsets.iter().enumerate() {
        // SAFETY: tap t of block b.
        let wt = unsafe { wblock.add(t * tap_bytes) };
        for q in 0..quads {
            #[cfg(robofish_mca)]
            // SAFETY: an assembler comment.
            unsafe {
                core::arch::asm!(
                    "// LLVM-MCA-BEGIN dotprod",
                    options(nomem, nostack, preserves_flags)
                );
            }
            // SAFETY: bytes 16q..16q+16 of each tap pixel: readable by the
            // `BOUNDED` contract; weights of groups 4q..4q+4 of tap t.
            unsafe {
                let a: [int8x16_t; T] = core::array::from_fn(|p| {
                    load16::<BOUNDED>(ctx.input, offs[p] + 16 * q, ctx.input_len)
                });
                let wq = wt.add(q * 256);
                group::<T, 0>(&mut acc, wq, &a);
                group::<T, 1>(&mut acc, wq.add(64), &a);
                group::<T, 2>(&mut acc, wq.add(128), &a);
                group::<T, 3>(&mut acc, wq.add(192), &a);
            }
            #[cfg(robofish_mca)]
            // SAFETY: an assembler comment.
            unsafe {
                core::arch::asm!(
                    "// LLVM-MCA-END dotprod",
                    options(nomem, nostack, preserves_flags)
                );
            }
        }
        if rest > 0 {
            // SAFETY: as above for the last, partial quad: groups past
            // `rest` are never used.
            unsafe {
                let a: [int8x16_t; T] = core::array::from_fn(|p| {
                    load16::<BOUNDED>(ctx.input, offs[p] + 16 * quads, ctx.input_len)
                });
                let wq = wt.add(quads * 256);
                group::<T, 0>(&mut acc, wq, &a);
                if rest > 1 {
                    group::<T, 1>(&mut acc, wq.add(64), &a);
                }
                if rest > 2 {
                    group::<T, 2>(&mut acc, wq.add(128), &a);
                }
            }
        }
    }
    let n = (ctx.cout - b * LANES).min(LANES);
    // SAFETY: the block's 48 constants.
    let epilogue = unsafe { Epilogue16::load(consts, ctx.zero_point, ctx.lut, n) };
    for (p, row) in acc.iter().enumerate() {
        // SAFETY: pixel first + p exists; its channels b * 16 .. + n <= cout.
        unsafe {
            let dst = ctx
                .output
                .add((first + p - ctx.out_first) * ctx.out_stride + b * LANES);
            epilogue.store(row, dst);
        }
    }
}

/// One group `G` of 4 input channels: 4 weight registers at `w` against
/// lane `G` of every pixel's activations.
///
/// # Safety
///
/// `w` must be readable for 64 bytes; dotprod must be available.
#[target_feature(enable = "neon,dotprod")]
#[inline]
unsafe fn group<const T: usize, const G: usize>(
    acc: &mut [[int32x4_t; 4]; T],
    w: *const i8,
    a: &[int8x16_t; T],
) {
    // SAFETY: 64 bytes by the caller's contract.
    let wv: [int8x16_t; 4] = unsafe { core::array::from_fn(|c| vld1q_s8(w.add(16 * c))) };
    for p in 0..T {
        for c in 0..4 {
            acc[p][c] = sdot_lane::<G>(acc[p][c], wv[c], a[p]);
        }
    }
}

/// `sdot acc.4s, w.16b, a.4b[G]`: lane `i` of `acc` plus the dot product of
/// bytes `4i..4i+4` of `w` with bytes `4G..4G+4` of `a`, wrapping.
#[target_feature(enable = "neon,dotprod")]
#[inline]
fn sdot_lane<const G: usize>(acc: int32x4_t, w: int8x16_t, a: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    // SAFETY: register-only instruction, available by the target features.
    unsafe {
        core::arch::asm!(
            "sdot {acc:v}.4s, {w:v}.16b, {a:v}.4b[{g}]",
            acc = inout(vreg) acc,
            w = in(vreg) w,
            a = in(vreg) a,
            g = const G,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    acc
}
