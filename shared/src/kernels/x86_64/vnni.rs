//! AVX-512 VNNI 3x3 convolution: `vpdpbusd` zmm, 16 output channels per
//! register, fused requantisation (`vpmuldq` + `vpsravq`) and LUT
//! (`vpermi2b`, AVX-512 VBMI).
//!
//! Tile: `P` output pixels (flattened over the rows, so narrow layers waste
//! nothing) times `C` blocks of 16 output channels; `P * C` zmm accumulators
//! start at the packed bias. For each tap and group of 4 input channels the
//! `C` weight vectors are loaded once and every pixel broadcasts its 4
//! activation bytes (`^ 0x80`, i.e. `+ 128` as `u8`) against them.
//! Layouts: see [`super`].

use core::arch::x86_64::*;
use core::ops::Range;

use super::{read_group, tap_offsets, Packing};
use crate::kernels::driver::{conv3x3_path, conv_by_blocks, for_each_tile, ConvCtx};
use crate::kernels::packing::ZMM_CONSTS;

/// Packing of this path.
pub(crate) const PACKING: Packing = Packing::U8S8 { lanes: 16 };

const LANES: usize = 16;

conv3x3_path! {
    /// Whether this CPU has AVX-512 F/BW/VL/VNNI/VBMI.
    fn is_supported = is_x86_feature_detected(
        "avx512f", "avx512bw", "avx512vl", "avx512vnni", "avx512vbmi"
    );
    /// The AVX-512 VNNI convolution; exists only where the CPU supports it.
    struct Conv3x3;
    /// Reads at most 3 bytes past a pixel's `in_channels` (within the pixel
    /// stride or the slice), never outside `input`; writes exactly the
    /// `out_channels` bytes of each output pixel in `rows` (`output` starts at row `rows.start`).
    fn run = conv;
}

conv_by_blocks! {
    "avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi";
    r if r >= 3 && r != 4 => tile::<8, 3>;
    r if r >= 2 => tile::<8, 2>;
    _ => tile::<16, 1>;
}

/// `P` pixels from flattened index `first`, output blocks `b..b + C`.
///
/// # Safety
///
/// As [`conv`], with `first + P <= height * width` and `b + C` at most the
/// number of blocks.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi")]
#[inline(never)]
unsafe fn tile<const P: usize, const C: usize>(ctx: &ConvCtx<'_>, b: usize, first: usize) {
    let groups = ctx.cin.div_ceil(4);
    let full = if ctx.wide { groups } else { ctx.cin / 4 };
    let block_bytes = 9 * groups * 64;
    let offsets = tap_offsets::<P>(first, ctx.width, ctx.height, ctx.in_stride);
    let flip = _mm512_set1_epi32(0x8080_8080u32 as i32);
    let mut acc = [[_mm512_setzero_si512(); C]; P];
    for c in 0..C {
        // SAFETY: block b + c < blocks; the bias leads its ZMM_CONSTS.
        let bias = unsafe { _mm512_loadu_si512(ctx.consts.add((b + c) * ZMM_CONSTS).cast()) };
        for row in acc.iter_mut() {
            row[c] = bias;
        }
    }
    for (t, offs) in offsets.iter().enumerate() {
        // SAFETY: inside block b's packed weights.
        let wt = unsafe { ctx.weights.add(b * block_bytes + t * groups * 64) };
        // One group of 4 input channels: `$bcast` yields pixel p's 4 bytes
        // `^ 0x80`, broadcast to every lane.
        macro_rules! group {
            ($g:expr, $bcast:expr) => {{
                let g = $g;
                let mut w = [_mm512_setzero_si512(); C];
                for (c, wc) in w.iter_mut().enumerate() {
                    // SAFETY: group g of tap t of block b + c, 64 bytes.
                    *wc = unsafe { _mm512_loadu_si512(wt.add(c * block_bytes + g * 64).cast()) };
                }
                for p in 0..P {
                    let bcast = $bcast;
                    let a = bcast(offs[p], g);
                    for c in 0..C {
                        acc[p][c] = dpbusd(acc[p][c], a, w[c]);
                    }
                }
            }};
        }
        // Full groups: one asm block per pixel (broadcast + C `vpdpbusd`),
        // so LLVM cannot hoist all P broadcasts ahead of the multiply-adds
        // and run out of zmm registers (it spilled 4 accumulators).
        let bases: [*const i8; P] = core::array::from_fn(|p| ctx.input.wrapping_add(offs[p]));
        for g in 0..full {
            mca_marker!("BEGIN", "vnni");
            let mut w = [_mm512_setzero_si512(); C];
            for (c, wc) in w.iter_mut().enumerate() {
                // SAFETY: group g of tap t of block b + c, 64 bytes.
                *wc = unsafe { _mm512_loadu_si512(wt.add(c * block_bytes + g * 64).cast()) };
            }
            for p in 0..P {
                // SAFETY: bases[p] is an input pixel; `check_args` makes
                // `full` groups of 4 bytes readable there.
                unsafe { pixel_group(&mut acc[p], &w, bases[p], 4 * g, flip) };
            }
            mca_marker!("END", "vnni");
        }
        if full < groups {
            // SAFETY: `read_group` stays within the pixel's `cin` bytes.
            group!(full, |o: usize, g: usize| unsafe {
                _mm512_xor_si512(
                    _mm512_set1_epi32(read_group(ctx.input, o, g, ctx.cin, false)),
                    flip,
                )
            });
        }
    }
    // The epilogue indexes by a loop counter; without this copy LLVM keeps
    // the accumulators in memory through the whole main loop (a store and
    // a reload around every multiply-add). `black_box` forces the copy.
    let acc = core::hint::black_box(acc);
    // The table in registers, once per tile: as cheap as reading it from a
    // copy made once per call.
    let luts = ctx.lut.map(|lut| {
        // SAFETY: 4 x 64 bytes inside the 256-byte table.
        unsafe { [0, 64, 128, 192].map(|o| _mm512_loadu_si512(lut.as_ptr().add(o).cast())) }
    });
    for c in 0..C {
        let block = b + c;
        // SAFETY: block < blocks; ZMM_CONSTS i32 per block.
        let rq = unsafe { Requant16::load(ctx.consts.add(block * ZMM_CONSTS), ctx.zero_point) };
        let n = (ctx.cout - block * LANES).min(LANES);
        let mask: __mmask16 = if n == LANES { !0 } else { (1 << n) - 1 };
        let dst = |p: usize| {
            // SAFETY: pixel first + p exists, so its channel block * 16
            // lies inside `output`.
            unsafe {
                ctx.output
                    .add((first + p - ctx.out_first) * ctx.out_stride + block * LANES)
            }
        };
        // Four pixels share one zmm through the LUT (`vpermi2b` maps 64
        // bytes as cheaply as 16).
        let quads = if luts.is_some() { P / 4 } else { 0 };
        for quad in 0..quads {
            let q: [__m128i; 4] = core::array::from_fn(|i| rq.apply(acc[4 * quad + i][c]));
            let mut v = _mm512_castsi128_si512(q[0]);
            v = _mm512_inserti32x4::<1>(v, q[1]);
            v = _mm512_inserti32x4::<2>(v, q[2]);
            v = _mm512_inserti32x4::<3>(v, q[3]);
            if let Some(t) = &luts {
                v = lut(v, t);
            }
            // SAFETY: lanes < n are channels block * 16 .. + n <= cout of
            // pixels first + 4 quad + i (masked stores).
            unsafe {
                _mm_mask_storeu_epi8(dst(4 * quad), mask, _mm512_castsi512_si128(v));
                _mm_mask_storeu_epi8(dst(4 * quad + 1), mask, _mm512_extracti32x4_epi32::<1>(v));
                _mm_mask_storeu_epi8(dst(4 * quad + 2), mask, _mm512_extracti32x4_epi32::<2>(v));
                _mm_mask_storeu_epi8(dst(4 * quad + 3), mask, _mm512_extracti32x4_epi32::<3>(v));
            }
        }
        for p in 4 * quads..P {
            let mut q = _mm512_castsi128_si512(rq.apply(acc[p][c]));
            if let Some(t) = &luts {
                q = lut(q, t);
            }
            // SAFETY: as above, one pixel.
            unsafe { _mm_mask_storeu_epi8(dst(p), mask, _mm512_castsi512_si128(q)) };
        }
    }
}

/// Requantisation constants of one block, in registers (layout:
/// [`ZMM_CONSTS`]).
#[derive(Clone, Copy)]
struct Requant16 {
    low: __m512i,
    high: __m512i,
    mult: __m512i,
    mult_odd: __m512i,
    shift_even: __m512i,
    shift_odd: __m512i,
    round_even: __m512i,
    round_odd: __m512i,
    zero_point: __m512i,
}

impl Requant16 {
    /// # Safety
    ///
    /// [`ZMM_CONSTS`] `i32`s must be readable at `consts`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn load(consts: *const i32, zero_point: i32) -> Requant16 {
        // SAFETY: every offset is below ZMM_CONSTS, by the caller's contract.
        let at = |i: usize| unsafe { _mm512_loadu_si512(consts.add(i).cast()) };
        let mult = at(48);
        Requant16 {
            low: at(16),
            high: at(32),
            mult,
            mult_odd: _mm512_srli_epi64::<32>(mult),
            shift_even: at(64),
            shift_odd: at(80),
            round_even: at(96),
            round_odd: at(112),
            zero_point: _mm512_set1_epi32(zero_point),
        }
    }

    /// `clamp(zp + ((acc * m + 2^(s-1)) >> s), -128, 127)` for 16 lanes.
    ///
    /// `acc` is first clamped to the saturating bounds, which keeps the
    /// rescaled value within `i32`: narrowing the 64-bit lanes is exact and
    /// the zero-point add cannot wrap.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn apply(&self, acc: __m512i) -> __m128i {
        let acc = _mm512_min_epi32(_mm512_max_epi32(acc, self.low), self.high);
        let even = _mm512_mul_epi32(acc, self.mult);
        let odd = _mm512_mul_epi32(_mm512_srli_epi64::<32>(acc), self.mult_odd);
        let even = _mm512_srav_epi64(_mm512_add_epi64(even, self.round_even), self.shift_even);
        let odd = _mm512_srav_epi64(_mm512_add_epi64(odd, self.round_odd), self.shift_odd);
        let v = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64::<32>(odd));
        _mm512_cvtsepi32_epi8(_mm512_add_epi32(v, self.zero_point))
    }
}

/// `lut[q + 128]` for 64 bytes via two `vpermi2b` and a blend on bit 7.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
#[inline]
fn lut(q: __m512i, t: &[__m512i; 4]) -> __m512i {
    let idx = _mm512_xor_si512(q, _mm512_set1_epi8(0x80u8 as i8));
    let lo = _mm512_permutex2var_epi8(t[0], idx, t[1]);
    let hi = _mm512_permutex2var_epi8(t[2], idx, t[3]);
    let high = _mm512_movepi8_mask(idx);
    _mm512_mask_blend_epi8(high, lo, hi)
}

/// `acc[c] += dpbusd(broadcast(bytes at base + offset) ^ flip, w[c])` for
/// every `c`: one `vpxord` with an embedded `{1to16}` broadcast, then `C`
/// `vpdpbusd`, in one asm block.
///
/// # Safety
///
/// `base + offset` must be valid for reads of 4 bytes; `C` is 1, 2 or 3.
#[target_feature(enable = "avx512f,avx512vnni")]
#[inline]
unsafe fn pixel_group<const C: usize>(
    acc: &mut [__m512i; C],
    w: &[__m512i; C],
    base: *const i8,
    offset: usize,
    flip: __m512i,
) {
    // A typed scratch output: `out(zmm_reg) _` picks a bogus register.
    let mut _scratch: __m512i;
    if let (Ok(acc), Ok(w)) = (
        <&mut [__m512i; 3]>::try_from(&mut acc[..]),
        <&[__m512i; 3]>::try_from(&w[..]),
    ) {
        // SAFETY: reads 4 bytes at base + offset (caller's contract);
        // AVX-512F/VNNI are enabled; registers only otherwise.
        unsafe {
            core::arch::asm!(
                "vpxord {a}, {flip}, dword ptr [{base} + {offset}]{{1to16}}",
                "vpdpbusd {c0}, {a}, {w0}",
                "vpdpbusd {c1}, {a}, {w1}",
                "vpdpbusd {c2}, {a}, {w2}",
                a = out(zmm_reg) _scratch,
                flip = in(zmm_reg) flip,
                base = in(reg) base,
                offset = in(reg) offset,
                w0 = in(zmm_reg) w[0],
                w1 = in(zmm_reg) w[1],
                w2 = in(zmm_reg) w[2],
                c0 = inout(zmm_reg) acc[0],
                c1 = inout(zmm_reg) acc[1],
                c2 = inout(zmm_reg) acc[2],
                options(pure, readonly, nostack, preserves_flags),
            );
        }
    } else if let (Ok(acc), Ok(w)) = (
        <&mut [__m512i; 2]>::try_from(&mut acc[..]),
        <&[__m512i; 2]>::try_from(&w[..]),
    ) {
        // SAFETY: reads 4 bytes at base + offset (caller's contract);
        // AVX-512F/VNNI are enabled; registers only otherwise.
        unsafe {
            core::arch::asm!(
                "vpxord {a}, {flip}, dword ptr [{base} + {offset}]{{1to16}}",
                "vpdpbusd {c0}, {a}, {w0}",
                "vpdpbusd {c1}, {a}, {w1}",
                a = out(zmm_reg) _scratch,
                flip = in(zmm_reg) flip,
                base = in(reg) base,
                offset = in(reg) offset,
                w0 = in(zmm_reg) w[0],
                w1 = in(zmm_reg) w[1],
                c0 = inout(zmm_reg) acc[0],
                c1 = inout(zmm_reg) acc[1],
                options(pure, readonly, nostack, preserves_flags),
            );
        }
    } else {
        for c in 0..C {
            // SAFETY: as above.
            unsafe {
                core::arch::asm!(
                    "vpxord {a}, {flip}, dword ptr [{base} + {offset}]{{1to16}}",
                    "vpdpbusd {c0}, {a}, {w0}",
                    a = out(zmm_reg) _scratch,
                    flip = in(zmm_reg) flip,
                    base = in(reg) base,
                    offset = in(reg) offset,
                    w0 = in(zmm_reg) w[c],
                    c0 = inout(zmm_reg) acc[c],
                    options(pure, readonly, nostack, preserves_flags),
                );
            }
        }
    }
}

/// `vpdpbusd zmm` (`acc + sum(u8 a * i8 w)` per `i32` lane, wrapping).
///
/// Inline assembly instead of `_mm512_dpbusd_epi32`: with many accumulators
/// the intrinsic sends LLVM 20 (Rust 1.95) into minutes of compile time.
#[target_feature(enable = "avx512f,avx512vnni")]
#[inline]
fn dpbusd(acc: __m512i, a: __m512i, w: __m512i) -> __m512i {
    let mut acc = acc;
    // SAFETY: register-only instruction, available by the target features.
    unsafe {
        core::arch::asm!(
            "vpdpbusd {acc}, {a}, {w}",
            acc = inout(zmm_reg) acc,
            a = in(zmm_reg) a,
            w = in(zmm_reg) w,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    acc
}
