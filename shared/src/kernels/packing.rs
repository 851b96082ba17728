//! Packed weight layouts and the geometry every SIMD conv kernel shares
//! (x86_64 and aarch64): packing at prepare time, argument checks, and the
//! reflect-padded tap offsets of a tile of output pixels. The layouts are
//! documented in `x86_64` (`U8S8`, `Avx2`) and `aarch64` (`S8S8`, `Neon`).

// Register-blocked tiles index several arrays (accumulators, offsets,
// weights) by the same pixel and block counters; index loops read best.
#![allow(clippy::needless_range_loop)]
// Each target uses only some of the layouts.
#![allow(dead_code)]

use alloc::vec::Vec;
use core::ops::Range;

use super::{ConvParams, Dims};
use crate::quant::Requant;

/// Output-channel order of the two AVX2 accumulators of a block (see the
/// module docs): `vphaddd(acc0, acc1)` interleaves 128-bit halves.
pub(crate) const AVX2_ORDER: [[usize; 4]; 2] = [[0, 1, 4, 5], [2, 3, 6, 7]];

/// How a path packs its weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Packing {
    /// `vpdpbusd` with this many `i32` lanes.
    U8S8 { lanes: usize },
    /// `vpmaddwd` on `i16` pairs, 8 lanes.
    Avx2,
    /// `sdot` (`s8 x s8`): the `U8S8` layout without the `+128` bias
    /// correction.
    S8S8 { lanes: usize },
    /// NEON `smull`/`smlal2`/`sadalp`: blocks of 4 output channels,
    /// `[block][tap 9][chunk][4][16]`, chunks of 16 input channels
    /// (tail zero-padded).
    Neon,
    /// NEON `smmla`: blocks of 16 output channels,
    /// `[block][tap 9][chunk][8 channel pairs][2][8]`, chunks of 8 input
    /// channels (tail zero-padded).
    I8mm,
}

impl Packing {
    pub(crate) fn lanes(self) -> usize {
        match self {
            Packing::U8S8 { lanes } | Packing::S8S8 { lanes } => lanes,
            Packing::Avx2 => 8,
            Packing::Neon => 4,
            Packing::I8mm => 16,
        }
    }

    /// Bytes of packed weights for `cin -> cout`.
    pub(crate) fn weight_bytes(self, cin: usize, cout: usize) -> usize {
        let blocks = cout.div_ceil(self.lanes());
        if self == Packing::Neon {
            return blocks * 9 * cin.div_ceil(16) * 4 * 16;
        }
        if self == Packing::I8mm {
            return blocks * 9 * cin.div_ceil(8) * 16 * 8;
        }
        let groups = cin.div_ceil(4);
        let per_group = match self {
            Packing::U8S8 { lanes } | Packing::S8S8 { lanes } => lanes * 4,
            Packing::Avx2 => 2 * 8 * 2 * 2,
            Packing::Neon | Packing::I8mm => unreachable!(),
        };
        blocks * 9 * groups * per_group
    }

    /// Whether the path uses the 8-lane ymm epilogue (`avx2::Requant8`),
    /// whose constants follow [`YMM_CONSTS`].
    pub(crate) fn ymm_epilogue(self) -> bool {
        matches!(self, Packing::Avx2 | Packing::U8S8 { lanes: 8 })
    }

    /// `i32`s of packed bias + requantisation constants.
    pub(crate) fn bias_len(self, cout: usize) -> usize {
        let lanes = self.lanes();
        let per_block = match self {
            _ if self.ymm_epilogue() => YMM_CONSTS,
            Packing::U8S8 { lanes: 16 } => ZMM_CONSTS,
            _ => 3 * lanes,
        };
        cout.div_ceil(lanes) * per_block
    }
}

/// `i32`s per 8-channel block of the ymm epilogue's constants. Offsets:
/// `0` bias', `8` clamp low, `16` clamp high ([`Requant::saturating_bounds`]),
/// `24` multiplier, `32` / `40` shifts of the even / odd channels as `i64`,
/// `48` / `56` their rounding terms `2^(s-1) + 2^62` as `i64`, `64` the low
/// 32 bits of `2^(62-s)` (what the `2^62` offset adds after the shift).
/// Padded lanes: `0, MIN, MAX, 0, 1, 1, 2^62 + 1, 2^62 + 1, 0`.
pub(crate) const YMM_CONSTS: usize = 72;

/// `i32`s per 16-channel block of the AVX-512 epilogue's constants. Offsets:
/// `0` bias', `16` clamp low, `32` clamp high
/// ([`Requant::saturating_bounds`]), `48` multiplier, `64` / `80` shifts of
/// the even / odd channels as `i64`, `96` / `112` their rounding terms
/// `2^(s-1)` as `i64`. Padded lanes: `0, MIN, MAX, 0, 1, 1, 1, 1`.
pub(crate) const ZMM_CONSTS: usize = 128;

/// Appends one block of epilogue constants ([`ZMM_CONSTS`] layout, or
/// [`YMM_CONSTS`] when `logical_shift`) for its lanes' folded bias and
/// requantisation (`None`: a padded lane).
///
/// `logical_shift`: AVX2 has no 64-bit arithmetic shift, so its rounding
/// terms carry a `2^62` offset that keeps the shifted value non-negative,
/// and a last vector holds what that offset leaves after the shift.
fn push_epilogue_constants(
    constants: &mut Vec<i32>,
    lanes: &[Option<(i32, Requant)>],
    logical_shift: bool,
) {
    let requant = |lane: &Option<(i32, Requant)>| lane.map(|(_, r)| r);
    let shift = |lane: usize| requant(&lanes[lane]).map_or(1, |r| r.shift as u32);
    let bounds = |lane: &Option<(i32, Requant)>| {
        requant(lane).map_or((i32::MIN, i32::MAX), |r| r.saturating_bounds())
    };
    constants.extend(lanes.iter().map(|lane| lane.map_or(0, |(bias, _)| bias)));
    constants.extend(lanes.iter().map(|lane| bounds(lane).0));
    constants.extend(lanes.iter().map(|lane| bounds(lane).1));
    constants.extend(
        lanes
            .iter()
            .map(|lane| requant(lane).map_or(0, |r| r.multiplier)),
    );
    let offset = if logical_shift { 1u64 << 62 } else { 0 };
    let mut push_i64 = |value: u64| {
        constants.push(value as u32 as i32);
        constants.push((value >> 32) as u32 as i32);
    };
    for first in [0, 1] {
        for lane in (first..lanes.len()).step_by(2) {
            push_i64(shift(lane) as u64);
        }
    }
    for first in [0, 1] {
        for lane in (first..lanes.len()).step_by(2) {
            push_i64((1u64 << (shift(lane) - 1)) + offset);
        }
    }
    if logical_shift {
        constants.extend((0..lanes.len()).map(|lane| (1u64 << (62 - shift(lane))) as u32 as i32));
    }
}

/// Packs `[cout][ky][kx][cin]` weights, the zero-point-folded bias and the
/// requantisation constants for `packing` (layouts in the module docs).
pub(crate) fn pack_conv(
    packing: Packing,
    cin: usize,
    cout: usize,
    weights: &[i8],
    bias: &[i32],
    requant: &[Requant],
) -> (Vec<i8>, Vec<i32>) {
    assert_eq!(weights.len(), cout * 9 * cin);
    assert_eq!(bias.len(), cout);
    assert_eq!(requant.len(), cout);
    if packing == Packing::Neon {
        // `smull` + `smlal2` add two products in `i16`: exact only while
        // |w| <= 127 (validated models guarantee it).
        assert!(
            !weights.contains(&-128),
            "the NEON kernel needs weights in [-127, 127]"
        );
    }
    let lanes = packing.lanes();
    let blocks = cout.div_ceil(lanes);
    let groups = cin.div_ceil(4);
    let w = |co: usize, tap: usize, ci: usize| -> i8 {
        if co < cout && ci < cin {
            weights[(co * 9 + tap) * cin + ci]
        } else {
            0
        }
    };
    let mut packed = Vec::with_capacity(packing.weight_bytes(cin, cout));
    for b in 0..blocks {
        for tap in 0..9 {
            if packing == Packing::Neon {
                for chunk in 0..cin.div_ceil(16) {
                    for lane in 0..4 {
                        for k in 0..16 {
                            packed.push(w(b * 4 + lane, tap, 16 * chunk + k));
                        }
                    }
                }
                continue;
            }
            if packing == Packing::I8mm {
                for chunk in 0..cin.div_ceil(8) {
                    for channel in 0..16 {
                        for k in 0..8 {
                            packed.push(w(b * 16 + channel, tap, 8 * chunk + k));
                        }
                    }
                }
                continue;
            }
            for g in 0..groups {
                match packing {
                    Packing::U8S8 { .. } | Packing::S8S8 { .. } => {
                        for lane in 0..lanes {
                            for k in 0..4 {
                                packed.push(w(b * lanes + lane, tap, 4 * g + k));
                            }
                        }
                    }
                    Packing::Avx2 => {
                        for order in AVX2_ORDER {
                            for i in 0..8 {
                                let co = b * 8 + order[i / 2];
                                for k in 0..2 {
                                    let v = w(co, tap, 4 * g + 2 * (i % 2) + k) as i16;
                                    for byte in v.to_le_bytes() {
                                        packed.push(byte as i8);
                                    }
                                }
                            }
                        }
                    }
                    Packing::Neon | Packing::I8mm => unreachable!(),
                }
            }
        }
    }
    debug_assert_eq!(packed.len(), packing.weight_bytes(cin, cout));
    let mut constants = Vec::with_capacity(packing.bias_len(cout));
    let folded_bias = |co: usize| {
        let mut value = bias[co];
        if matches!(packing, Packing::U8S8 { .. }) {
            let sum: i32 = weights[co * 9 * cin..(co + 1) * 9 * cin]
                .iter()
                .map(|&v| v as i32)
                .sum();
            value = value.wrapping_sub(sum.wrapping_mul(128));
        }
        value
    };
    for b in 0..blocks {
        let channels = (b * lanes..(b + 1) * lanes).map(|co| (co < cout).then_some(co));
        if packing.ymm_epilogue() || packing == (Packing::U8S8 { lanes: 16 }) {
            let block: Vec<Option<(i32, Requant)>> = channels
                .map(|co| co.map(|co| (folded_bias(co), requant[co])))
                .collect();
            push_epilogue_constants(&mut constants, &block, packing.ymm_epilogue());
            continue;
        }
        for co in channels.clone() {
            constants.push(co.map_or(0, folded_bias));
        }
        for co in channels.clone() {
            constants.push(co.map_or(0, |co| requant[co].multiplier));
        }
        for co in channels {
            constants.push(co.map_or(1, |co| requant[co].shift as i32));
        }
    }
    debug_assert_eq!(constants.len(), packing.bias_len(cout));
    (packed, constants)
}

/// Checks every slice bound a kernel relies on; panics like the scalar
/// kernel's indexing would (with a message) when one does not hold.
///
/// Returns whether 4 bytes may be read at the last input group of every
/// pixel (`false` only when `cin` is not a multiple of 4 and the input slice
/// ends within 3 bytes of the last pixel's channels).
pub(crate) fn check_args(
    packing: Packing,
    input: &[i8],
    in_dims: Dims,
    params: &ConvParams<'_>,
    output: &[i8],
    out_dims: Dims,
    rows: &Range<usize>,
) -> bool {
    let (cin, cout) = (params.in_channels, params.out_channels);
    let (h, w) = (in_dims.height, in_dims.width);
    assert!(h >= 2 && w >= 2, "reflect padding needs at least 2x2");
    assert!(out_dims.height == h && out_dims.width == w);
    assert!(rows.start <= rows.end && rows.end <= h, "rows out of range");
    assert!(
        cin >= 1 && cin <= in_dims.pixel_stride,
        "bad input channels"
    );
    assert!(
        cout >= 1 && cout <= out_dims.pixel_stride,
        "bad output channels"
    );
    let pixels = h * w;
    assert!(input.len() >= (pixels - 1) * in_dims.pixel_stride + cin);
    // The output slice starts at row `rows.start`.
    assert!(rows.is_empty() || output.len() >= (rows.len() * w - 1) * out_dims.pixel_stride + cout);
    assert_eq!(params.weights.len(), packing.weight_bytes(cin, cout));
    assert_eq!(params.bias.len(), packing.bias_len(cout));
    // 4-byte reads are inside the slice for every full group; the last
    // group of the last pixel may run past `cin` by up to 3 bytes.
    (pixels - 1) * in_dims.pixel_stride + cin.div_ceil(4) * 4 <= input.len()
}

/// Byte offsets of the 9 taps of `P` output pixels, flattened pixel indices
/// `first..first + P` (row-major over the whole image), reflect padding.
#[inline(always)]
pub(crate) fn tap_offsets<const P: usize>(
    first: usize,
    width: usize,
    height: usize,
    stride: usize,
) -> [[usize; P]; 9] {
    let mut offsets = [[0usize; P]; 9];
    let (mut y, mut x) = (first / width, first % width);
    for p in 0..P {
        let up = if y == 0 { 1 } else { y - 1 };
        let down = if y + 1 == height { height - 2 } else { y + 1 };
        let left = if x == 0 { 1 } else { x - 1 };
        let right = if x + 1 == width { width - 2 } else { x + 1 };
        for (ky, sy) in [up, y, down].into_iter().enumerate() {
            for (kx, sx) in [left, x, right].into_iter().enumerate() {
                offsets[ky * 3 + kx][p] = (sy * width + sx) * stride;
            }
        }
        x += 1;
        if x == width {
            x = 0;
            y += 1;
        }
    }
    offsets
}

/// Reads the 4 activation bytes of group `g` at `pixel` as a little-endian
/// `i32`, zero-filling bytes past `cin` when `wide` is false.
///
/// # Safety
///
/// `input` must be valid for reads of `pixel + cin` bytes, and, when `wide`
/// is true, of `pixel + 4 * g + 4` bytes.
#[inline(always)]
pub(crate) unsafe fn read_group(
    input: *const i8,
    pixel: usize,
    g: usize,
    cin: usize,
    wide: bool,
) -> i32 {
    if wide || 4 * g + 4 <= cin {
        // SAFETY: in bounds by the caller's contract.
        unsafe { input.add(pixel + 4 * g).cast::<i32>().read_unaligned() }
    } else {
        let mut bytes = [0u8; 4];
        for (k, b) in bytes.iter_mut().enumerate().take(cin - 4 * g) {
            // SAFETY: 4g + k < cin, in bounds by the caller's contract.
            *b = unsafe { *input.add(pixel + 4 * g + k) } as u8;
        }
        i32::from_le_bytes(bytes)
    }
}
