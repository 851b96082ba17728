//! x86_64 kernels: AVX2, AVX-512 VNNI (zmm) and AVX-VNNI (ymm).
//!
//! Every kernel here computes exactly what [`super::scalar::conv3x3`]
//! computes, on weights and biases packed at prepare time by
//! [`KernelPath::pack_conv`](crate::kernels::KernelPath::pack_conv). This
//! module documents the packed layouts; the packing code, the argument checks
//! and the reflect-padding geometry of a tile of output pixels
//! (`kernels::packing`) and the call context, pixel-tiling loop and public
//! wrapper (`kernels::driver`) are shared with the aarch64 kernels. The
//! intrinsics live in [`avx2`], [`avxvnni`] and [`vnni`].
//!
//! # Packed layouts
//!
//! Output channels live in vector lanes, in blocks of `L` (`L = 16` for
//! AVX-512 VNNI, 8 for AVX-VNNI and AVX2); the tail block is zero-padded, so
//! padded lanes compute garbage-free zeros and are never stored. Input
//! channels go in groups of 4 (`G = ceil(cin / 4)` groups, tail zero-padded:
//! activations read past `cin` meet zero weights).
//!
//! - `u8 x s8` paths (`vpdpbusd`): weights `[block][tap 9][G][L][4]` as
//!   `i8`, taps in `ky * 3 + kx` order. Activations enter as `x ^ 0x80 =
//!   x + 128` (unsigned), so each block's bias is `bias - 128 * sum(w)`
//!   (wrapping, exactly as the accumulator wraps).
//! - AVX2 (`vpmaddwd`): weights sign-extended to `i16` (stored as
//!   little-endian byte pairs in the `i8` vector), `[block][tap][G][2][8][2]`:
//!   for each group two ymm, `j = 0, 1`, whose `i32` lane `i` holds output
//!   channel `block * 8 + ORDER[j][i / 2]`, input channels
//!   `4g + 2 (i % 2) + {0, 1}`. A broadcast group `a0 a1 a2 a3`
//!   sign-extended to `i16` pairs `(a0, a1), (a2, a3), ...` meets them, and
//!   `vphaddd` of the two accumulators yields 8 channels in natural order.
//! - Bias vector: per block the bias, the accumulator bounds beyond which
//!   the int8 result saturates (`Requant::saturating_bounds`: clamping to
//!   them first keeps the rescaled value within `i32`, so no 64-bit clamp
//!   is needed), the multipliers and, as 64-bit lanes for the even and odd
//!   channels, the shifts and rounding terms (`kernels::packing::ZMM_CONSTS`
//!   for AVX-512, `YMM_CONSTS` for the 8-lane AVX2 / AVX-VNNI epilogue
//!   `Requant8` here, which also emulates the 64-bit arithmetic shift
//!   AVX2 lacks).

// Register-blocked tiles index several arrays (accumulators, offsets,
// weights) by the same pixel and block counters; index loops read best.
#![allow(clippy::needless_range_loop)]

/// Under `--cfg robofish_mca` (scripts/mca.sh), an LLVM-MCA region marker
/// (`BEGIN` or `END`, and the kernel's name) in the emitted assembly; else
/// nothing. One loop body per region: one group of 4 input channels.
/// Defined before the kernel modules, which see it by textual scope.
macro_rules! mca_marker {
    ($edge:literal, $kernel:literal) => {
        #[cfg(robofish_mca)]
        // SAFETY: an assembler comment; no instruction is emitted.
        unsafe {
            core::arch::asm!(
                concat!("# LLVM-MCA-", $edge, " ", $kernel),
                options(nomem, nostack, preserves_flags)
            );
        }
    };
}

pub mod avx2;
pub mod avxvnni;
pub mod vnni;

use core::arch::x86_64::*;

use super::driver::ConvCtx;
use super::packing::YMM_CONSTS;
pub(crate) use super::packing::{read_group, tap_offsets, Packing};

/// Output channels per ymm register in the 8-lane epilogue.
const YMM_LANES: usize = 8;

/// The 8-lane epilogue of the AVX2 and AVX-VNNI tiles: requantises `C`
/// blocks of `P` pixels and writes them. `acc[p][c]` holds the `i32` sums of
/// pixel `first + p`, output block `b + c`; `ADD_BIAS` adds the block's bias
/// first (for accumulators that did not start at it).
///
/// # Safety
///
/// `ctx` must satisfy `check_args`, pixels `first..first + P` lie in its
/// requested rows and blocks `b..b + C` exist (their constants are packed
/// and their channels below `cout`).
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) unsafe fn store_blocks<const P: usize, const C: usize, const ADD_BIAS: bool>(
    ctx: &ConvCtx<'_>,
    b: usize,
    first: usize,
    acc: &[[__m256i; C]; P],
) {
    for c in 0..C {
        let block = b + c;
        // SAFETY: block < blocks; YMM_CONSTS i32 per block.
        let rq = unsafe { Requant8::load(ctx.consts.add(block * YMM_CONSTS), ctx.zero_point) };
        let n = (ctx.cout - block * YMM_LANES).min(YMM_LANES);
        for (p, row) in acc.iter().enumerate() {
            let sum = if ADD_BIAS {
                _mm256_add_epi32(row[c], rq.bias)
            } else {
                row[c]
            };
            // SAFETY: pixel first + p exists; its channels
            // block * 8 .. block * 8 + n <= cout.
            unsafe {
                let dst = ctx
                    .output
                    .add((first + p - ctx.out_first) * ctx.out_stride + block * YMM_LANES);
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
unsafe fn store(q: u64, lut: Option<&[i8; 256]>, dst: *mut i8, n: usize) {
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
struct Requant8 {
    /// Bias with the input zero point (and, for `vpdpbusd`, the `+128`
    /// correction) folded in.
    bias: __m256i,
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
    unsafe fn load(consts: *const i32, zero_point: i32) -> Requant8 {
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
    fn apply(&self, acc: __m256i) -> u64 {
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
