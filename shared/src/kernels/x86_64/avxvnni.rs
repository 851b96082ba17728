//! AVX-VNNI 3x3 convolution (`vpdpbusd` on ymm, for CPUs with AVX-VNNI but
//! without AVX-512): 8 output channels per register, activations `^ 0x80`
//! (`+ 128` as `u8`) with the correction folded into the bias, and the
//! 8-lane requantisation epilogue shared with AVX2.
//!
//! Tile: `P` output pixels (flattened over the rows) times `C` blocks of 8
//! output channels, one accumulator each: 4 x 3 or 6 x 2 (12 independent
//! chains, enough to keep two `vpdpbusd` ports busy through its latency),
//! 8 x 1 for a lone last block. Layouts: see [`super`].

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
    r if r >= 3 && r != 4 => tile::<4, 3>;
    r if r >= 2 => tile::<6, 2>;
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
        // Full groups: one asm block per pixel (broadcast from memory, `^
        // 0x80` with the mask as a memory operand, `C` `vpdpbusd`). AVX-VNNI
        // has 16 ymm registers: `P * C` accumulators, `C` weights and the
        // broadcast fill them (4 x 3 + 3 + 1), so the mask must not take one;
        // left to LLVM, the intrinsics spilled accumulators every group.
        let bases: [*const i8; P] = core::array::from_fn(|p| ctx.input.wrapping_add(offs[p]));
        for g in 0..full {
            mca_marker!("BEGIN", "avxvnni");
            let mut w = [_mm256_setzero_si256(); C];
            for (c, wc) in w.iter_mut().enumerate() {
                // SAFETY: group g of tap t of block b + c, 32 bytes.
                *wc = unsafe { _mm256_loadu_si256(wt.add(c * block_bytes + g * 32).cast()) };
            }
            for p in 0..P {
                // SAFETY: bases[p] is an input pixel; `check_args` makes
                // `full` groups of 4 bytes readable there.
                unsafe { pixel_group(&mut acc[p], &w, bases[p], 4 * g, &FLIP) };
            }
            mca_marker!("END", "avxvnni");
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

/// `0x80` in every byte: the `+ 128` that makes activations unsigned.
static FLIP: Flip = Flip([0x80; 32]);

/// 32 bytes aligned for a `ymmword` memory operand.
#[repr(C, align(32))]
struct Flip([u8; 32]);

/// `acc[c] += dpbusd(broadcast(bytes at base + offset) ^ flip, w[c])` for
/// every `c`, in one asm block: `vpbroadcastd` from memory (a load, no ALU
/// port), `vpxor` with `flip` from memory, then `C` `vpdpbusd`.
///
/// # Safety
///
/// `base + offset` must be valid for reads of 4 bytes; `C` is 1, 2 or 3.
#[target_feature(enable = "avx2,avxvnni")]
#[inline]
unsafe fn pixel_group<const C: usize>(
    acc: &mut [__m256i; C],
    w: &[__m256i; C],
    base: *const i8,
    offset: usize,
    flip: &Flip,
) {
    // A typed scratch output: `out(ymm_reg) _` picks a bogus register.
    let mut _scratch: __m256i;
    let flip = flip.0.as_ptr();
    if let (Ok(acc), Ok(w)) = (
        <&mut [__m256i; 3]>::try_from(&mut acc[..]),
        <&[__m256i; 3]>::try_from(&w[..]),
    ) {
        // SAFETY: reads 4 bytes at base + offset (caller's contract) and
        // the 32 bytes of `flip`; AVX2/AVX-VNNI are enabled.
        unsafe {
            core::arch::asm!(
                "vpbroadcastd {a}, dword ptr [{base} + {offset}]",
                "vpxor {a}, {a}, ymmword ptr [{flip}]",
                "{{vex}} vpdpbusd {c0}, {a}, {w0}",
                "{{vex}} vpdpbusd {c1}, {a}, {w1}",
                "{{vex}} vpdpbusd {c2}, {a}, {w2}",
                a = out(ymm_reg) _scratch,
                flip = in(reg) flip,
                base = in(reg) base,
                offset = in(reg) offset,
                w0 = in(ymm_reg) w[0],
                w1 = in(ymm_reg) w[1],
                w2 = in(ymm_reg) w[2],
                c0 = inout(ymm_reg) acc[0],
                c1 = inout(ymm_reg) acc[1],
                c2 = inout(ymm_reg) acc[2],
                options(pure, readonly, nostack, preserves_flags),
            );
        }
    } else if let (Ok(acc), Ok(w)) = (
        <&mut [__m256i; 2]>::try_from(&mut acc[..]),
        <&[__m256i; 2]>::try_from(&w[..]),
    ) {
        // SAFETY: as above.
        unsafe {
            core::arch::asm!(
                "vpbroadcastd {a}, dword ptr [{base} + {offset}]",
                "vpxor {a}, {a}, ymmword ptr [{flip}]",
                "{{vex}} vpdpbusd {c0}, {a}, {w0}",
                "{{vex}} vpdpbusd {c1}, {a}, {w1}",
                a = out(ymm_reg) _scratch,
                flip = in(reg) flip,
                base = in(reg) base,
                offset = in(reg) offset,
                w0 = in(ymm_reg) w[0],
                w1 = in(ymm_reg) w[1],
                c0 = inout(ymm_reg) acc[0],
                c1 = inout(ymm_reg) acc[1],
                options(pure, readonly, nostack, preserves_flags),
            );
        }
    } else {
        for c in 0..C {
            // SAFETY: as above.
            unsafe {
                core::arch::asm!(
                    "vpbroadcastd {a}, dword ptr [{base} + {offset}]",
                    "vpxor {a}, {a}, ymmword ptr [{flip}]",
                    "{{vex}} vpdpbusd {c0}, {a}, {w0}",
                    a = out(ymm_reg) _scratch,
                    flip = in(reg) flip,
                    base = in(reg) base,
                    offset = in(reg) offset,
                    w0 = in(ymm_reg) w[c],
                    c0 = inout(ymm_reg) acc[c],
                    options(pure, readonly, nostack, preserves_flags),
                );
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
