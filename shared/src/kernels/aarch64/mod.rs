//! aarch64 kernels: NEON without dotprod ([`neon`]: `smull` + `smlal2` +
//! `sadalp`), with it ([`dotprod`]: `sdot` by element) and with the int8
//! matrix-multiply extension ([`i8mm`]: `smmla`). `sdot` and `smmla` are
//! emitted with `asm!`: their intrinsics are unstable on stable Rust.
//!
//! Both compute exactly what [`super::scalar::conv3x3`] computes, on
//! weights packed at prepare time by
//! [`KernelPath::pack_conv`](crate::kernels::KernelPath::pack_conv). This
//! module holds what they share beyond `kernels::driver` (call context,
//! tiling loop, block scheduler, public wrapper): 16-byte activation loads
//! that never leave the input slice, and the requantisation epilogue.
//!
//! # Packed layouts
//!
//! - dotprod (`S8S8`, 16 lanes): weights `[block][tap 9][G][16][4]`, as the
//!   x86 `vpdpbusd` layout but `s8 x s8`, so the bias needs no `+128`
//!   correction. Four q registers hold one group of 4 input channels for 16
//!   output channels; the 16 activation bytes of 4 groups sit in one q
//!   register and `sdot v.4s, w.16b, a.4b[g]` picks group `g`.
//! - NEON (`Neon`, 4 lanes): weights `[block][tap 9][chunk][4][16]`, one q
//!   register per output channel and chunk of 16 input channels (tail
//!   zero-padded). `smull` + `smlal2` add two `i8 x i8` products in `i16`
//!   (exact for `|w| <= 127`, enforced at packing), `sadalp` accumulates
//!   pairs into 4 `i32` partial sums per channel, `addp` joins them.
//! - i8mm (`I8mm`, 16 lanes): weights `[block][tap 9][K][8][2][8]`, `K =
//!   ceil(cin / 8)` chunks of 8 input channels (tail zero-padded): per
//!   chunk, for each of the 8 output-channel pairs, the two channels' 8
//!   weights (one q register: the `W` of `smmla`).
//! - Bias vector: per block `[bias'; L] [multiplier; L] [shift; L]` as
//!   `i32`, padded lanes `0, 0, 1`.
//!
//! The requantisation is `smull` to `i64`, `srshl` by `-shift` (exactly the
//! rounding rule `(p + 2^(s-1)) >> s`), saturating narrows and a saturating
//! zero-point add: the scalar clamps, in the same order.

pub mod dotprod;
pub mod i8mm;
pub mod neon;

use core::arch::aarch64::*;

/// Loads 16 activation bytes at `input + offset`; when `BOUNDED`, bytes at
/// or past `len` read as zero (they only ever meet zero weights).
///
/// # Safety
///
/// When `!BOUNDED`, `input` must be valid for reads of `offset + 16` bytes;
/// when `BOUNDED`, of `min(len, offset + 16)` bytes.
#[target_feature(enable = "neon")]
#[inline]
pub(crate) unsafe fn load16<const BOUNDED: bool>(
    input: *const i8,
    offset: usize,
    len: usize,
) -> int8x16_t {
    if !BOUNDED || offset + 16 <= len {
        // SAFETY: in bounds by the caller's contract.
        unsafe { vld1q_s8(input.add(offset)) }
    } else {
        let mut bytes = [0i8; 16];
        let n = len.saturating_sub(offset);
        // SAFETY: n < 16 bytes from `offset`, all below `len`.
        unsafe {
            core::ptr::copy_nonoverlapping(input.add(offset), bytes.as_mut_ptr(), n);
            vld1q_s8(bytes.as_ptr())
        }
    }
}

/// Loads 8 activation bytes at `input + offset`; when `BOUNDED`, bytes at
/// or past `len` read as zero (they only ever meet zero weights).
///
/// # Safety
///
/// When `!BOUNDED`, `input` must be valid for reads of `offset + 8` bytes;
/// when `BOUNDED`, of `min(len, offset + 8)` bytes.
#[target_feature(enable = "neon")]
#[inline]
pub(crate) unsafe fn load8<const BOUNDED: bool>(
    input: *const i8,
    offset: usize,
    len: usize,
) -> int8x8_t {
    if !BOUNDED || offset + 8 <= len {
        // SAFETY: in bounds by the caller's contract.
        unsafe { vld1_s8(input.add(offset)) }
    } else {
        let mut bytes = [0i8; 8];
        let n = len.saturating_sub(offset);
        // SAFETY: n < 8 bytes from `offset`, all below `len`.
        unsafe {
            core::ptr::copy_nonoverlapping(input.add(offset), bytes.as_mut_ptr(), n);
            vld1_s8(bytes.as_ptr())
        }
    }
}

/// Requantisation constants of 4 output channels, in registers.
#[derive(Clone, Copy)]
pub(crate) struct Requant4 {
    mult: int32x4_t,
    neg_shift_lo: int64x2_t,
    neg_shift_hi: int64x2_t,
    zero_point: int32x4_t,
}

impl Requant4 {
    /// Reads `[multiplier; 4]` at `consts` and `[shift; 4]` at `consts + shifts`.
    ///
    /// # Safety
    ///
    /// Both 4-lane groups must be readable.
    #[target_feature(enable = "neon")]
    #[inline]
    pub(crate) unsafe fn load(consts: *const i32, shifts: usize, zero_point: i32) -> Requant4 {
        // SAFETY: by the caller's contract.
        let (mult, shift) = unsafe { (vld1q_s32(consts), vld1q_s32(consts.add(shifts))) };
        let neg = vnegq_s32(shift);
        Requant4 {
            mult,
            neg_shift_lo: vmovl_s32(vget_low_s32(neg)),
            neg_shift_hi: vmovl_high_s32(neg),
            zero_point: vdupq_n_s32(zero_point),
        }
    }

    /// `clamp(zp + clamp_i32((acc * m + 2^(s-1)) >> s), -128, 127)` for 4
    /// lanes, saturated to `i16` (already within `i8` after the final
    /// narrow).
    #[target_feature(enable = "neon")]
    #[inline]
    pub(crate) fn apply(&self, acc: int32x4_t) -> int16x4_t {
        let lo = vrshlq_s64(
            vmull_s32(vget_low_s32(acc), vget_low_s32(self.mult)),
            self.neg_shift_lo,
        );
        let hi = vrshlq_s64(vmull_high_s32(acc, self.mult), self.neg_shift_hi);
        let v = vqmovn_high_s64(vqmovn_s64(lo), hi);
        vqmovn_s32(vqaddq_s32(v, self.zero_point))
    }
}

/// A 256-entry activation table in 16 q registers, applied with `tbl` /
/// `tbx` (4 registers = 64 entries per lookup instruction).
#[derive(Clone, Copy)]
pub(crate) struct Lut256([int8x16x4_t; 4]);

impl Lut256 {
    /// Loads `lut` (indexed by `q + 128`).
    #[target_feature(enable = "neon")]
    #[inline]
    pub(crate) fn load(lut: &[i8; 256]) -> Lut256 {
        // SAFETY: four 64-byte loads inside the 256-byte table.
        Lut256(core::array::from_fn(|i| unsafe {
            vld1q_s8_x4(lut.as_ptr().add(64 * i))
        }))
    }

    /// `lut[q + 128]` for 16 lanes: `tbl` on the first 64 entries, then
    /// `tbx` on each further 64 with the index moved down by 64 (lanes whose
    /// index falls outside a table keep their value).
    #[target_feature(enable = "neon")]
    #[inline]
    pub(crate) fn map(&self, q: int8x16_t) -> int8x16_t {
        let index = veorq_u8(vreinterpretq_u8_s8(q), vdupq_n_u8(0x80));
        let step = vdupq_n_u8(64);
        let mut out = vqtbl4q_s8(self.0[0], index);
        let mut index = index;
        for table in &self.0[1..] {
            index = vsubq_u8(index, step);
            out = vqtbx4q_s8(out, *table, index);
        }
        out
    }
}

/// Writes the first `n <= 16` bytes of `q` (saturated to `i8`), through
/// `lut` when present.
///
/// # Safety
///
/// `dst` must be valid for writes of `n` bytes.
#[target_feature(enable = "neon")]
#[inline]
pub(crate) unsafe fn store(q: int8x16_t, lut: Option<&Lut256>, dst: *mut i8, n: usize) {
    let q = match lut {
        Some(lut) => lut.map(q),
        None => q,
    };
    match n {
        // SAFETY (both arms): `n` bytes at `dst` by the caller's contract;
        // `st1` and `write_unaligned` take any alignment.
        16 => unsafe { vst1q_s8(dst, q) },
        4 => unsafe {
            dst.cast::<i32>()
                .write_unaligned(vgetq_lane_s32::<0>(vreinterpretq_s32_s8(q)))
        },
        _ => {
            let mut bytes = [0i8; 16];
            // SAFETY: 16 bytes into a 16-byte array.
            unsafe { vst1q_s8(bytes.as_mut_ptr(), q) };
            for (i, &byte) in bytes.iter().enumerate().take(n) {
                // SAFETY: i < n, by the caller's contract.
                unsafe { *dst.add(i) = byte }
            }
        }
    }
}

/// The epilogue of a 16-channel block: requantisation of 4 x 4 lanes with
/// the block's constants, the LUT, and a store of its `n` channels.
pub(crate) struct Epilogue16 {
    requant: [Requant4; 4],
    lut: Option<Lut256>,
    n: usize,
}

impl Epilogue16 {
    /// Reads the multipliers and shifts of the block whose constants
    /// (`[bias; 16] [multiplier; 16] [shift; 16]`) start at `consts`;
    /// `n` is how many of its channels exist.
    ///
    /// # Safety
    ///
    /// 48 `i32` must be readable at `consts`.
    #[target_feature(enable = "neon")]
    #[inline]
    pub(crate) unsafe fn load(
        consts: *const i32,
        zero_point: i32,
        lut: Option<&[i8; 256]>,
        n: usize,
    ) -> Epilogue16 {
        Epilogue16 {
            // SAFETY: multipliers at 16.., shifts at 32.., 4 lanes at a time.
            requant: core::array::from_fn(|q| unsafe {
                Requant4::load(consts.add(16 + 4 * q), 16, zero_point)
            }),
            lut: lut.map(|lut| Lut256::load(lut)),
            n,
        }
    }

    /// Requantises the block's 16 accumulators (bias included; channels
    /// `4q..4q + 4` in `acc[q]`) and writes its `n` channels at `dst`.
    ///
    /// # Safety
    ///
    /// `dst` must be valid for writes of `n` bytes.
    #[target_feature(enable = "neon")]
    #[inline]
    pub(crate) unsafe fn store(&self, acc: &[int32x4_t; 4], dst: *mut i8) {
        let rq = &self.requant;
        let lo = vcombine_s16(rq[0].apply(acc[0]), rq[1].apply(acc[1]));
        let hi = vcombine_s16(rq[2].apply(acc[2]), rq[3].apply(acc[3]));
        let q = vqmovn_high_s16(vqmovn_s16(lo), hi);
        // SAFETY: by the caller's contract.
        unsafe { store(q, self.lut.as_ref(), dst, self.n) }
    }
}

/// Largest byte offset among `offsets` (the 9 taps of a tile).
#[inline(always)]
pub(crate) fn max_offset<const P: usize>(offsets: &[[usize; P]; 9]) -> usize {
    let mut max = 0;
    for tap in offsets {
        for &o in tap {
            max = max.max(o);
        }
    }
    max
}
