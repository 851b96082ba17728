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

use super::{read_group, tap_offsets, Packing};
use crate::kernels::driver::{conv3x3_path, for_each_tile, ConvCtx};
use crate::kernels::packing::YMM_CONSTS;

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

/// # Safety
///
/// AVX2 must be available and `ctx` must satisfy `check_args` for `pixels`
/// (flattened output pixel indices).
#[target_feature(enable = "avx2")]
unsafe fn conv(ctx: &ConvCtx<'_>, pixels: Range<usize>) {
    let blocks = ctx.cout.div_ceil(LANES);
    let mut b = 0;
    while b < blocks {
        // 2 pixels x 3 blocks: 12 accumulators, 2 sign-extended inputs, one
        // weight vector and one product fill the 16 ymm registers; each
        // input broadcast and sign extension feeds 6 multiply-adds. Two
        // blocks left take 2 x 2 (3 x 2 spills: 50 against 63 GMAC/s at
        // 48 -> 16 channels).
        // SAFETY: forwarded contract; `b + C <= blocks`.
        unsafe {
            match blocks - b {
                1 => {
                    run::<4, 1>(ctx, b, pixels.clone());
                    b += 1;
                }
                2 => {
                    run::<2, 2>(ctx, b, pixels.clone());
                    b += 2;
                }
                _ => {
                    run::<2, 3>(ctx, b, pixels.clone());
                    b += 3;
                }
            }
        }
    }
}

/// Output blocks `b..b + C` for every pixel of `pixels`, `P` at a time.
///
/// # Safety
///
/// As [`conv`], and `b + C` at most the number of blocks.
#[target_feature(enable = "avx2")]
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
    // Join the half-sums in a loop small enough for LLVM to unroll, so the
    // accumulators stay in registers; the epilogue below indexes `sums` by
    // loop counters.
    let mut sums = [[_mm256_setzero_si256(); C]; P];
    for p in 0..P {
        for c in 0..C {
            sums[p][c] = _mm256_hadd_epi32(acc[p][c][0], acc[p][c][1]);
        }
    }
    for c in 0..C {
        let block = b + c;
        // SAFETY: block < blocks; YMM_CONSTS i32 per block.
        let rq = unsafe { Requant8::load(ctx.consts.add(block * YMM_CONSTS), ctx.zero_point) };
        let n = (ctx.cout - block * LANES).min(LANES);
        for (p, row) in sums.iter().enumerate() {
            let sum = _mm256_add_epi32(row[c], rq.bias);
            // SAFETY: pixel first + p exists; its channels
            // block * 8 .. block * 8 + n <= cout.
            unsafe {
                let dst = ctx
                    .output
                    .add((first + p - ctx.out_first) * ctx.out_stride + block * LANES);
                store(rq.apply(sum), ctx.lut, dst, n);
            }
        }
    }
}

/// Writes the first `n` of 8 int8 results, through `lut` when present.
///
/// # Safety
///
/// `dst` must be valid for writes of `n <= 8` bytes.
#[inline(always)]
pub(crate) unsafe fn store(q: u64, lut: Option<&[i8; 256]>, dst: *mut i8, n: usize) {
    let mut q = q;
    if let Some(lut) = lut {
        // Assembled in a register: byte stores to a stack array and one
        // 8-byte reload would stall on store forwarding.
        let mut mapped = 0u64;
        for i in 0..8 {
            let index = ((q >> (8 * i)) as u8 ^ 0x80) as usize;
            mapped |= (lut[index] as u8 as u64) << (8 * i);
        }
        q = mapped;
    }
    if n == 8 {
        // SAFETY: by the caller's contract; one unaligned 8-byte store
        // (a dynamic-length copy would call `memcpy`).
        unsafe { dst.cast::<u64>().write_unaligned(q.to_le()) }
    } else {
        for i in 0..n {
            // SAFETY: i < n, by the caller's contract.
            unsafe { *dst.add(i) = (q >> (8 * i)) as u8 as i8 }
        }
    }
}

/// Bias and requantisation constants of 8 channels, in registers (layout:
/// [`YMM_CONSTS`]).
#[derive(Clone, Copy)]
pub(crate) struct Requant8 {
    /// Bias with the input zero point (and, for `vpdpbusd`, the `+128`
    /// correction) folded in.
    pub(crate) bias: __m256i,
    low: __m256i,
    high: __m256i,
    mult: __m256i,
    mult_odd: __m256i,
    shift_even: __m256i,
    shift_odd: __m256i,
    round_even: __m256i,
    round_odd: __m256i,
    /// `zero_point - 2^(62-s)` (low 32 bits): undoes the `2^62` offset and
    /// moves onto the output grid in one add.
    offset: __m256i,
}

impl Requant8 {
    /// # Safety
    ///
    /// [`YMM_CONSTS`] `i32`s must be readable at `consts`.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) unsafe fn load(consts: *const i32, zero_point: i32) -> Requant8 {
        // SAFETY: every offset is below YMM_CONSTS, by the caller's contract.
        let at = |i: usize| unsafe { _mm256_loadu_si256(consts.add(i).cast()) };
        let mult = at(24);
        Requant8 {
            bias: at(0),
            low: at(8),
            high: at(16),
            mult,
            mult_odd: _mm256_srli_epi64::<32>(mult),
            shift_even: at(32),
            shift_odd: at(40),
            round_even: at(48),
            round_odd: at(56),
            offset: _mm256_sub_epi32(_mm256_set1_epi32(zero_point), at(64)),
        }
    }

    /// `clamp(zp + ((acc * m + 2^(s-1)) >> s), -128, 127)` for 8 lanes, as
    /// 8 little-endian bytes.
    ///
    /// `acc` is first clamped to the saturating bounds, so the rescaled
    /// value fits in `i32`. `acc * m + 2^(s-1) + 2^62` is non-negative and
    /// below `2^64`, so AVX2's logical 64-bit shift acts as the arithmetic
    /// one; the `2^(62-s)` it leaves is subtracted in `offset`.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) fn apply(&self, acc: __m256i) -> u64 {
        let acc = _mm256_min_epi32(_mm256_max_epi32(acc, self.low), self.high);
        let even = _mm256_mul_epi32(acc, self.mult);
        let odd = _mm256_mul_epi32(_mm256_srli_epi64::<32>(acc), self.mult_odd);
        let even = _mm256_srlv_epi64(_mm256_add_epi64(even, self.round_even), self.shift_even);
        let odd = _mm256_srlv_epi64(_mm256_add_epi64(odd, self.round_odd), self.shift_odd);
        let v = _mm256_blend_epi32::<0b1010_1010>(even, _mm256_slli_epi64::<32>(odd));
        let v = _mm256_add_epi32(v, self.offset);
        // Signed saturation i32 -> i16 -> i8 is the clamp to [-128, 127].
        let v = _mm256_packs_epi32(v, v);
        let v = _mm256_packs_epi16(v, v);
        let lo = _mm256_cvtsi256_si32(v) as u32 as u64;
        let hi = _mm256_extract_epi32::<4>(v) as u32 as u64;
        lo | (hi << 32)
    }
}
