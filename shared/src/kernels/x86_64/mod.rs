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
//!   `avx2::Requant8`, which also emulates the 64-bit arithmetic shift AVX2
//!   lacks).

// Register-blocked tiles index several arrays (accumulators, offsets,
// weights) by the same pixel and block counters; index loops read best.
#![allow(clippy::needless_range_loop)]

pub mod avx2;
pub mod avxvnni;
pub mod vnni;

pub(crate) use super::packing::{read_group, tap_offsets, Packing};
