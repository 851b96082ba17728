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
        // Tiles of 2 x 2 blocks (and 4 x 1) keep every accumulator in the
        // 16 ymm registers: 3 x 2 spilled two, whose store/reload chain
        // outlasted the multiply-adds of an iteration.
        // SAFETY: forwarded contract; `b + C <= blocks`.
        unsafe {
            if blocks - b >= 2 {
                run::<2, 2>(ctx, b, pixels.clone());
                b += 2;
            } else {
                run::<4, 1>(ctx, b, pixels.clone());
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
                let mut w = [[_mm256_setzero_si256(); 2]; C];
                for (c, wc) in w.iter_mut().enumerate() {
                    for (j, wj) in wc.iter_mut().enumerate() {
                        // SAFETY: group g of tap t of block b + c, 2 x 32 bytes.
                        *wj = unsafe {
                            _mm256_loadu_si256(wt.add(c * block_bytes + g * 64 + j * 32).cast())
                        };
                    }
                }
                for p in 0..P {
                    let read = $read;
                    let a = _mm256_cvtepi8_epi16(_mm_set1_epi32(read(offs[p], g)));
                    for c in 0..C {
                        for j in 0..2 {
                            acc[p][c][j] =
                                _mm256_add_epi32(acc[p][c][j], _mm256_madd_epi16(a, w[c][j]));
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
    // The epilogue indexes by a loop counter; without this copy LLVM keeps
    // the accumulators in memory through the whole main loop (a store and
    // a reload around every multiply-add). `black_box` forces the copy.
    let acc = core::hint::black_box(acc);
    for c in 0..C {
        let block = b + c;
        // SAFETY: block < blocks; 24 i32 per block.
        let (bias, mult, shift) = unsafe {
            let base = ctx.consts.add(block * 24);
            (
                _mm256_loadu_si256(base.cast()),
                _mm256_loadu_si256(base.add(8).cast()),
                _mm256_loadu_si256(base.add(16).cast()),
            )
        };
        let rq = Requant8::new(mult, shift, ctx.zero_point);
        let n = (ctx.cout - block * LANES).min(LANES);
        for (p, row) in acc.iter().enumerate() {
            let sum = _mm256_add_epi32(_mm256_hadd_epi32(row[c][0], row[c][1]), bias);
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
    let mut bytes = q.to_le_bytes();
    if let Some(lut) = lut {
        for v in bytes.iter_mut() {
            *v = lut[(*v ^ 0x80) as usize] as u8;
        }
    }
    // SAFETY: by the caller's contract.
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr().cast::<i8>(), dst, n) }
}

/// Per-channel requantisation constants of 8 channels, in registers.
#[derive(Clone, Copy)]
pub(crate) struct Requant8 {
    mult: __m256i,
    mult_odd: __m256i,
    shift_even: __m256i,
    shift_odd: __m256i,
    round_even: __m256i,
    round_odd: __m256i,
    zero_point: __m256i,
}

impl Requant8 {
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) fn new(mult: __m256i, shift: __m256i, zero_point: i32) -> Requant8 {
        let one = _mm256_set1_epi64x(1);
        let shift_even = _mm256_and_si256(shift, _mm256_set1_epi64x(0xffff_ffff));
        let shift_odd = _mm256_srli_epi64::<32>(shift);
        Requant8 {
            mult,
            mult_odd: _mm256_srli_epi64::<32>(mult),
            shift_even,
            shift_odd,
            round_even: _mm256_sllv_epi64(one, _mm256_sub_epi64(shift_even, one)),
            round_odd: _mm256_sllv_epi64(one, _mm256_sub_epi64(shift_odd, one)),
            zero_point: _mm256_set1_epi32(zero_point),
        }
    }

    /// `clamp(zp + ((acc * m + 2^(s-1)) >> s), -128, 127)` for 8 lanes, as
    /// 8 little-endian bytes.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) fn apply(&self, acc: __m256i) -> u64 {
        let even = _mm256_mul_epi32(acc, self.mult);
        let odd = _mm256_mul_epi32(_mm256_srli_epi64::<32>(acc), self.mult_odd);
        let even = shift_clamp(_mm256_add_epi64(even, self.round_even), self.shift_even);
        let odd = shift_clamp(_mm256_add_epi64(odd, self.round_odd), self.shift_odd);
        let v = _mm256_blend_epi32::<0b1010_1010>(even, _mm256_slli_epi64::<32>(odd));
        let v = _mm256_add_epi32(v, self.zero_point);
        // Signed saturation i32 -> i16 -> i8 is the clamp to [-128, 127].
        let v = _mm256_packs_epi32(v, v);
        let v = _mm256_packs_epi16(v, v);
        let lo = _mm256_cvtsi256_si32(v) as u32 as u64;
        let hi = _mm256_extract_epi32::<4>(v) as u32 as u64;
        lo | (hi << 32)
    }
}

/// Arithmetic `v >> s` per 64-bit lane (AVX2 has only the logical
/// `vpsrlvq`), then clamped to `[-2^20, 2^20]`, far outside int8 whatever
/// the zero point, so narrowing to `i32` afterwards is exact.
#[target_feature(enable = "avx2")]
#[inline]
fn shift_clamp(v: __m256i, s: __m256i) -> __m256i {
    let sign = _mm256_cmpgt_epi64(_mm256_setzero_si256(), v);
    let v = _mm256_xor_si256(_mm256_srlv_epi64(_mm256_xor_si256(v, sign), s), sign);
    let limit = _mm256_set1_epi64x(1 << 20);
    let neg_limit = _mm256_set1_epi64x(-(1 << 20));
    let v = _mm256_blendv_epi8(v, limit, _mm256_cmpgt_epi64(v, limit));
    _mm256_blendv_epi8(v, neg_limit, _mm256_cmpgt_epi64(neg_limit, v))
}
