//! AVX-VNNI 3x3 convolution (`vpdpbusd` on ymm, for CPUs with AVX-VNNI but
//! without AVX-512): 8 output channels per register, activations `^ 0x80`
//! (`+ 128` as `u8`) with the correction folded into the bias, and the
//! 8-lane requantisation epilogue shared with AVX2.
//!
//! Tile: `P` output pixels (flattened over the rows) times `C` blocks of 8
//! output channels, one accumulator each. Layouts: see [`super`].

use core::arch::x86_64::*;
use core::ops::Range;

use super::{read_group, store_blocks, tap_offsets, Packing};
use crate::kernels::driver::{conv3x3_path, conv_by_blocks, for_each_tile, ConvCtx};
use crate::kernels::packing::YMM_CONSTS;

/// Packing of this path.
pub(crate) const PACKING: Packing = Packing::U8S8 { lanes: 8 };

const LANES: usize = 8;

conv3x3_path! {
    /// Whether this CPU has AVX2 and AVX-VNNI.
    fn is_supported = is_x86_feature_detected("avx2", "avxvnni");
    /// The AVX-VNNI convolution; exists only where the CPU supports it.
    struct Conv3x3;
    /// Reads at most 3 bytes past a pixel's `in_channels` (within the pixel
    /// stride or the slice), never outside `input`; writes exactly the
    /// `out_channels` bytes of each output pixel in `rows` (`output` starts at row `rows.start`).
    fn run = conv;
}

conv_by_blocks! {
    "avx2,avxvnni";
    r if r >= 3 => tile::<4, 3>;
    _ => tile::<8, 1>;
}

/// `P` pixels from flattened index `first`, output blocks `b..b + C`.
///
/// # Safety
///
/// As [`conv`], with `first + P <= height * width` and `b + C` at most the
/// number of blocks.
#[target_feature(enable = "avx2,avxvnni")]
#[inline(never)]
unsafe fn tile<const P: usize, const C: usize>(ctx: &ConvCtx<'_>, b: usize, first: usize) {
    let groups = ctx.cin.div_ceil(4);
    let full = if ctx.wide { groups } else { ctx.cin / 4 };
    let block_bytes = 9 * groups * 32;
    let offsets = tap_offsets::<P>(first, ctx.width, ctx.height, ctx.in_stride);
    let flip = _mm256_set1_epi32(0x8080_8080u32 as i32);
    let mut acc = [[_mm256_setzero_si256(); C]; P];
    for c in 0..C {
        // SAFETY: block b + c < blocks; the bias leads its YMM_CONSTS.
        let bias = unsafe { _mm256_loadu_si256(ctx.consts.add((b + c) * YMM_CONSTS).cast()) };
        for row in acc.iter_mut() {
            row[c] = bias;
        }
    }
    for (t, offs) in offsets.iter().enumerate() {
        // SAFETY: inside block b's packed weights.
        let wt = unsafe { ctx.weights.add(b * block_bytes + t * groups * 32) };
        // One group of 4 input channels: `$read` yields pixel p's 4 bytes.
        macro_rules! group {
            ($g:expr, $read:expr) => {{
                let g = $g;
                let mut w = [_mm256_setzero_si256(); C];
                for (c, wc) in w.iter_mut().enumerate() {
                    // SAFETY: group g of tap t of block b + c, 32 bytes.
                    *wc = unsafe { _mm256_loadu_si256(wt.add(c * block_bytes + g * 32).cast()) };
                }
                for p in 0..P {
                    let read = $read;
                    let a = _mm256_xor_si256(_mm256_set1_epi32(read(offs[p], g)), flip);
                    for c in 0..C {
                        acc[p][c] = dpbusd(acc[p][c], a, w[c]);
                    }
                }
            }};
        }
        for g in 0..full {
            // SAFETY: offs[p] is an input pixel; `check_args` makes `full`
            // groups of 4 bytes readable there.
            group!(g, |o: usize, g: usize| unsafe {
                ctx.input.add(o + 4 * g).cast::<i32>().read_unaligned()
            });
        }
        if full < groups {
            // SAFETY: `read_group` stays within the pixel's `cin` bytes.
            group!(full, |o: usize, g: usize| unsafe {
                read_group(ctx.input, o, g, ctx.cin, false)
            });
        }
    }
    // The epilogue indexes by a loop counter; without this copy LLVM keeps
    // the accumulators in memory through the whole main loop (a store and
    // a reload around every multiply-add). `black_box` forces the copy.
    let acc = core::hint::black_box(acc);
    // SAFETY: forwarded contract (blocks b..b + C exist, pixels first..first + P).
    unsafe { store_blocks::<P, C, false>(ctx, b, first, &acc) }
}

/// `{vex} vpdpbusd ymm` (`acc + sum(u8 a * i8 w)` per `i32` lane, wrapping).
///
/// Inline assembly instead of `_mm256_dpbusd_avx_epi32`: with many
/// accumulators the intrinsic sends LLVM (Rust 1.95) into minutes of
/// compile time.
#[target_feature(enable = "avx2,avxvnni")]
#[inline]
fn dpbusd(acc: __m256i, a: __m256i, w: __m256i) -> __m256i {
    let mut acc = acc;
    // SAFETY: register-only instruction, available by the target features.
    unsafe {
        core::arch::asm!(
            "{{vex}} vpdpbusd {acc}, {a}, {w}",
            acc = inout(ymm_reg) acc,
            a = in(ymm_reg) a,
            w = in(ymm_reg) w,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    acc
}
