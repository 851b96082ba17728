//! AVX-VNNI 3x3 convolution (`vpdpbusd` on ymm, for CPUs with AVX-VNNI but
//! without AVX-512): 8 output channels per register, activations `^ 0x80`
//! (`+ 128` as `u8`) with the correction folded into the bias, and the AVX2
//! requantisation epilogue.
//!
//! Tile: `P` output pixels (flattened over the rows) times `C` blocks of 8
//! output channels, one accumulator each. Layouts: see [`super`].

use core::arch::x86_64::*;
use core::ops::Range;

use super::avx2::{store, Requant8};
use super::{read_group, tap_offsets, Packing};
use crate::kernels::driver::{conv3x3_path, for_each_tile, ConvCtx};
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

/// # Safety
///
/// AVX2 and AVX-VNNI must be available and `ctx` must satisfy `check_args` for `pixels`
/// (flattened output pixel indices).
#[target_feature(enable = "avx2,avxvnni")]
unsafe fn conv(ctx: &ConvCtx<'_>, pixels: Range<usize>) {
    let blocks = ctx.cout.div_ceil(LANES);
    let mut b = 0;
    while b < blocks {
        // SAFETY: forwarded contract; `b + C <= blocks`.
        unsafe {
            if blocks - b >= 3 {
                run::<4, 3>(ctx, b, pixels.clone());
                b += 3;
            } else {
                run::<8, 1>(ctx, b, pixels.clone());
                b += 1;
            }
        }
    }
}

/// Output blocks `b..b + C` for every pixel of `pixels`, `P` at a time.
///
/// # Safety
///
/// As [`conv`], and `b + C` at most the number of blocks.
#[target_feature(enable = "avx2,avxvnni")]
unsafe fn run<const P: usize, const C: usize>(ctx: &ConvCtx<'_>, b: usize, pixels: Range<usize>) {
    for_each_tile::<P>(
        pixels,
        // SAFETY: `run`'s contract; `for_each_tile` passes only tiles of
        // `P` pixels inside `pixels`.
        |first| unsafe { tile::<P, C>(ctx, b, first) },
        // SAFETY: `run`'s contract; `px` lies in `pixels`.
        |px| unsafe { tile::<1, C>(ctx, b, px) },
    );
}

/// `P` pixels from flattened index `first`, output blocks `b..b + C`.
///
/// # Safety
///
/// As [`run`], with `first + P <= height * width`.
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
    for c in 0..C {
        let block = b + c;
        // SAFETY: block < blocks; YMM_CONSTS i32 per block.
        let rq = unsafe { Requant8::load(ctx.consts.add(block * YMM_CONSTS), ctx.zero_point) };
        let n = (ctx.cout - block * LANES).min(LANES);
        for (p, row) in acc.iter().enumerate() {
            // SAFETY: pixel first + p exists; its channels
            // block * 8 .. block * 8 + n <= cout.
            unsafe {
                let dst = ctx
                    .output
                    .add((first + p - ctx.out_first) * ctx.out_stride + block * LANES);
                store(rq.apply(row[c]), ctx.lut, dst, n);
            }
        }
    }
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
