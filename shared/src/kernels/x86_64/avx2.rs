//! AVX2 3x3 convolution: exact `i8 x i8` products by sign-extending to
//! `i16` and `vpmaddwd` (never the saturating `vpmaddubsw`), fused
//! requantisation (`vpmuldq` + emulated 64-bit arithmetic shift) and LUT.
//!
//! Tile: `P` output pixels (flattened over the rows) times `C` blocks of 8
//! output channels. Each block owns two accumulators per pixel whose `i32`
//! lanes hold half-sums `(a0 w0 + a1 w1)` and `(a2 w2 + a3 w3)` of a group
//! of 4 input channels; `vphaddd` joins them into 8 channels in natural
//! order at the end. Layouts: see [`super`].

use core::arch::x86_64::*;
use core::ops::Range;

use super::{read_group, store_blocks, tap_offsets, Packing};
use crate::kernels::driver::{conv3x3_path, conv_by_blocks, for_each_tile, ConvCtx};

/// Packing of this path.
pub(crate) const PACKING: Packing = Packing::Avx2;

const LANES: usize = 8;

conv3x3_path! {
    /// Whether this CPU has AVX2.
    fn is_supported = is_x86_feature_detected("avx2");
    /// The AVX2 convolution; exists only where the CPU supports it.
    struct Conv3x3;
    /// Reads at most 3 bytes past a pixel's `in_channels` (within the pixel
    /// stride or the slice), never outside `input`; writes exactly the
    /// `out_channels` bytes of each output pixel in `rows` (`output` starts at row `rows.start`).
    fn run = conv;
}

// 2 pixels x 3 blocks: 12 accumulators, 2 sign-extended inputs, one weight
// vector and one product fill the 16 ymm registers; each input broadcast
// and sign extension feeds 6 multiply-adds. Two blocks left take 2 x 2 (3 x 2
// spills: 50 against 63 GMAC/s at 48 -> 16 channels).
conv_by_blocks! {
    "avx2";
    1 => tile::<4, 1>;
    2 => tile::<2, 2>;
    _ => tile::<2, 3>;
}

/// `P` pixels from flattened index `first`, output blocks `b..b + C`.
///
/// # Safety
///
/// As [`conv`], with `first + P <= height * width` and `b + C` at most the
/// number of blocks.
#[target_feature(enable = "avx2")]
#[inline(never)]
unsafe fn tile<const P: usize, const C: usize>(ctx: &ConvCtx<'_>, b: usize, first: usize) {
    let groups = ctx.cin.div_ceil(4);
    let full = if ctx.wide { groups } else { ctx.cin / 4 };
    let block_bytes = 9 * groups * 64;
    let offsets = tap_offsets::<P>(first, ctx.width, ctx.height, ctx.in_stride);
    let mut acc = [[[_mm256_setzero_si256(); 2]; C]; P];
    for (t, offs) in offsets.iter().enumerate() {
        // SAFETY: inside block b's packed weights.
        let wt = unsafe { ctx.weights.add(b * block_bytes + t * groups * 64) };
        // One group of 4 input channels: `$read` yields pixel p's 4 bytes.
        macro_rules! group {
            ($g:expr, $read:expr) => {{
                let g = $g;
                let read = $read;
                let a: [__m256i; P] = core::array::from_fn(|p| {
                    _mm256_cvtepi8_epi16(_mm_set1_epi32(read(offs[p], g)))
                });
                for c in 0..C {
                    for j in 0..2 {
                        // SAFETY: group g of tap t of block b + c, 2 x 32 bytes.
                        let w = unsafe {
                            _mm256_loadu_si256(wt.add(c * block_bytes + g * 64 + j * 32).cast())
                        };
                        for p in 0..P {
                            acc[p][c][j] =
                                _mm256_add_epi32(acc[p][c][j], _mm256_madd_epi16(a[p], w));
                        }
                    }
                }
            }};
        }
        for g in 0..full {
            mca_marker!("BEGIN", "avx2");
            // SAFETY: offs[p] is an input pixel; `check_args` makes `full`
            // groups of 4 bytes readable there.
            group!(g, |o: usize, g: usize| unsafe {
                ctx.input.add(o + 4 * g).cast::<i32>().read_unaligned()
            });
            mca_marker!("END", "avx2");
        }
        if full < groups {
            // SAFETY: `read_group` stays within the pixel's `cin` bytes.
            group!(full, |o: usize, g: usize| unsafe {
                read_group(ctx.input, o, g, ctx.cin, false)
            });
        }
    }
    // Join the half-sums in a loop small enough for LLVM to unroll, so the
    // accumulators stay in registers; the epilogue below indexes `sums` by
    // loop counters.
    let mut sums = [[_mm256_setzero_si256(); C]; P];
    for p in 0..P {
        for c in 0..C {
            sums[p][c] = _mm256_hadd_epi32(acc[p][c][0], acc[p][c][1]);
        }
    }
    // SAFETY: forwarded contract (blocks b..b + C exist, pixels first..first + P).
    unsafe { store_blocks::<P, C, true>(ctx, b, first, &sums) }
}
