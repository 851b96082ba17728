//! Instruction rooflines: how many multiply-accumulates per second this
//! core issues with the instructions the int8 kernels are built on. `robofish
//! bench` divides a model's rate by its kernel path's roofline ("% of this
//! CPU's peak"), and `cargo bench -p robofish-shared --bench peak` times
//! the same loops with criterion.
//!
//! Every loop is register-only `asm!` (no loads, no stores), each trip an
//! 8-fold unrolled block with enough independent accumulators to hide the
//! instruction's latency, so what is timed is how many of the instruction
//! the core issues per cycle:
//!
//! * [`Roofline::VpmaddwdYmm`]: `vpmaddwd ymm` alone, 16 MAC each, the AVX2
//!   multiply peak. An exact AVX2 kernel cannot reach it: `vpmaddwd` leaves
//!   pairwise sums in fresh int32 lanes that still have to be added into an
//!   accumulator.
//! * [`Roofline::VpmaddwdVpadddYmm`]: each `vpmaddwd ymm` followed by the
//!   `vpaddd ymm` that adds its result into its own accumulator, i.e. what
//!   the AVX2 kernel really issues per 16 MACs; its roofline.
//! * [`Roofline::VpdpbusdZmm`]: `vpdpbusd zmm` (AVX-512 VNNI), 64 MAC each;
//!   the VNNI kernel's roofline. The rate is per zmm instruction: a core
//!   that splits zmm into two 256-bit halves (Zen 4) issues half as many of
//!   them per cycle as it does ymm ones.
//! * [`Roofline::VpdpbusdYmmEvex`]: the EVEX `vpdpbusd ymm` (AVX-512 VNNI +
//!   VL), 32 MAC each, to compare the zmm rate against.
//! * [`Roofline::VpdpbusdYmmVex`]: the VEX `vpdpbusd ymm` (AVX-VNNI), 32
//!   MAC each: the AVX-VNNI kernel's roofline, also on client CPUs without
//!   AVX-512.
//! * [`Roofline::VpdpwssdZmm`]: `vpdpwssd zmm`, 32 int16 MAC each.
//!
//! A loop runs only where the CPU reports its features. Dividing a rate by
//! the MACs per instruction and by the clock gives instructions per cycle.

use core::arch::asm;
use std::is_x86_feature_detected;
use std::time::Instant;
use std::vec::Vec;

use crate::kernels::KernelPath;

/// Copies of the block in one loop trip.
const UNROLL: u64 = 8;

/// The template pieces of `$block` eight times over: one loop trip.
macro_rules! unroll8 {
    ($block:expr) => {
        concat!($block, $block, $block, $block, $block, $block, $block, $block)
    };
}

/// 8 `vpmaddwd ymm` into 8 independent destinations.
const MADD_PER_BLOCK: u64 = 8;
macro_rules! madd_block {
    () => {
        concat!(
            "vpmaddwd ymm0, ymm14, ymm15\n",
            "vpmaddwd ymm1, ymm14, ymm15\n",
            "vpmaddwd ymm2, ymm14, ymm15\n",
            "vpmaddwd ymm3, ymm14, ymm15\n",
            "vpmaddwd ymm4, ymm14, ymm15\n",
            "vpmaddwd ymm5, ymm14, ymm15\n",
            "vpmaddwd ymm6, ymm14, ymm15\n",
            "vpmaddwd ymm7, ymm14, ymm15\n",
        )
    };
}

/// `trips` trips of 8 x `$block` on ymm0..11 (zeroed first) with inputs
/// ymm14 and ymm15. Must be expanded in a function that enables AVX2.
macro_rules! ymm_loop {
    ($trips:expr, $block:expr) => {
        asm!(
            "vpxor ymm0, ymm0, ymm0",
            "vpxor ymm1, ymm1, ymm1",
            "vpxor ymm2, ymm2, ymm2",
            "vpxor ymm3, ymm3, ymm3",
            "vpxor ymm4, ymm4, ymm4",
            "vpxor ymm5, ymm5, ymm5",
            "vpxor ymm6, ymm6, ymm6",
            "vpxor ymm7, ymm7, ymm7",
            "vpxor ymm14, ymm14, ymm14",
            "vpxor ymm15, ymm15, ymm15",
            "2:",
            unroll8!($block),
            "dec {n}",
            "jnz 2b",
            n = inout(reg) $trips => _,
            out("ymm0") _, out("ymm1") _, out("ymm2") _, out("ymm3") _,
            out("ymm4") _, out("ymm5") _, out("ymm6") _, out("ymm7") _,
            out("ymm8") _, out("ymm9") _, out("ymm10") _, out("ymm11") _,
            out("ymm14") _, out("ymm15") _,
            options(nostack, nomem),
        )
    };
}

/// `trips` trips of 8 x [`madd_block`].
#[target_feature(enable = "avx2")]
fn vpmaddwd_ymm(trips: u64) {
    assert!(trips > 0);
    // SAFETY: register-only code; every register it writes is declared
    // (the counter as an inout, the vector registers as clobbers), and
    // the enclosing function enables AVX2, which the caller detected.
    unsafe { ymm_loop!(trips, madd_block!()) }
}

/// 8 `vpmaddwd ymm` + `vpaddd ymm` pairs, each product added into its
/// own accumulator (ymm0..7); the products cycle through 4 temporaries,
/// renaming removes the false dependencies.
const MADD_ADD_PER_BLOCK: u64 = 8;
macro_rules! madd_add_block {
    () => {
        concat!(
            "vpmaddwd ymm8, ymm14, ymm15\n",
            "vpaddd ymm0, ymm0, ymm8\n",
            "vpmaddwd ymm9, ymm14, ymm15\n",
            "vpaddd ymm1, ymm1, ymm9\n",
            "vpmaddwd ymm10, ymm14, ymm15\n",
            "vpaddd ymm2, ymm2, ymm10\n",
            "vpmaddwd ymm11, ymm14, ymm15\n",
            "vpaddd ymm3, ymm3, ymm11\n",
            "vpmaddwd ymm8, ymm14, ymm15\n",
            "vpaddd ymm4, ymm4, ymm8\n",
            "vpmaddwd ymm9, ymm14, ymm15\n",
            "vpaddd ymm5, ymm5, ymm9\n",
            "vpmaddwd ymm10, ymm14, ymm15\n",
            "vpaddd ymm6, ymm6, ymm10\n",
            "vpmaddwd ymm11, ymm14, ymm15\n",
            "vpaddd ymm7, ymm7, ymm11\n",
        )
    };
}

/// `trips` trips of 8 x [`madd_add_block`].
#[target_feature(enable = "avx2")]
fn vpmaddwd_vpaddd_ymm(trips: u64) {
    assert!(trips > 0);
    // SAFETY: register-only code; every register it writes is declared,
    // and the enclosing function enables AVX2, which the caller detected.
    unsafe { ymm_loop!(trips, madd_add_block!()) }
}

/// 12 dot-product-accumulates (`$op $reg{0..11}, $reg30, $reg31`) into
/// 12 independent accumulators: enough to cover a latency of ~5 cycles
/// at two per cycle.
const DP_PER_BLOCK: u64 = 12;
macro_rules! dp_block {
    ($op:literal, $r:literal) => {
        concat!(
            dp_insn!($op, $r, "0"),
            dp_insn!($op, $r, "1"),
            dp_insn!($op, $r, "2"),
            dp_insn!($op, $r, "3"),
            dp_insn!($op, $r, "4"),
            dp_insn!($op, $r, "5"),
            dp_insn!($op, $r, "6"),
            dp_insn!($op, $r, "7"),
            dp_insn!($op, $r, "8"),
            dp_insn!($op, $r, "9"),
            dp_insn!($op, $r, "10"),
            dp_insn!($op, $r, "11"),
        )
    };
}

/// `$op $r$acc, $r30, $r31`: accumulate into register `$acc`.
macro_rules! dp_insn {
    ($op:literal, $r:literal, $acc:literal) => {
        concat!($op, " ", $r, $acc, ", ", $r, "30, ", $r, "31\n")
    };
}

/// `trips` trips of 8 x [`dp_block`] with instruction `$op` on registers
/// `$r` (`"zmm"` or `"ymm"`); the accumulators and inputs are zeroed
/// first. Must be expanded in a function that enables AVX-512F.
macro_rules! dp_loop {
    ($trips:expr, $op:literal, $r:literal) => {
        asm!(
            "vpxord zmm0, zmm0, zmm0",
            "vpxord zmm1, zmm1, zmm1",
            "vpxord zmm2, zmm2, zmm2",
            "vpxord zmm3, zmm3, zmm3",
            "vpxord zmm4, zmm4, zmm4",
            "vpxord zmm5, zmm5, zmm5",
            "vpxord zmm6, zmm6, zmm6",
            "vpxord zmm7, zmm7, zmm7",
            "vpxord zmm8, zmm8, zmm8",
            "vpxord zmm9, zmm9, zmm9",
            "vpxord zmm10, zmm10, zmm10",
            "vpxord zmm11, zmm11, zmm11",
            "vpxord zmm30, zmm30, zmm30",
            "vpxord zmm31, zmm31, zmm31",
            "2:",
            unroll8!(dp_block!($op, $r)),
            "dec {n}",
            "jnz 2b",
            n = inout(reg) $trips => _,
            out("zmm0") _, out("zmm1") _, out("zmm2") _, out("zmm3") _,
            out("zmm4") _, out("zmm5") _, out("zmm6") _, out("zmm7") _,
            out("zmm8") _, out("zmm9") _, out("zmm10") _, out("zmm11") _,
            out("zmm30") _, out("zmm31") _,
            options(nostack, nomem),
        )
    };
}

/// `vpdpbusd zmm`: 64 u8 x i8 MAC each.
#[target_feature(enable = "avx512f,avx512vnni")]
fn vpdpbusd_zmm(trips: u64) {
    assert!(trips > 0);
    // SAFETY: register-only code; every register it writes is declared,
    // and the enclosing function enables AVX-512F and AVX-512 VNNI, which
    // the caller detected.
    unsafe { dp_loop!(trips, "vpdpbusd", "zmm") }
}

/// EVEX `vpdpbusd ymm`: 32 u8 x i8 MAC each. `{evex}` keeps the
/// assembler from choosing the VEX (AVX-VNNI) encoding, which a CPU with
/// only AVX-512 VNNI (Zen 4) lacks; the ymm30/31 operands need EVEX too.
#[target_feature(enable = "avx512f,avx512vl,avx512vnni")]
fn vpdpbusd_ymm(trips: u64) {
    assert!(trips > 0);
    // SAFETY: register-only code; every register it writes is declared,
    // and the enclosing function enables AVX-512F, VL and VNNI, which the
    // caller detected.
    unsafe { dp_loop!(trips, "{{evex}} vpdpbusd", "ymm") }
}

/// `vpdpwssd zmm`: 32 i16 x i16 MAC each.
#[target_feature(enable = "avx512f,avx512vnni")]
fn vpdpwssd_zmm(trips: u64) {
    assert!(trips > 0);
    // SAFETY: register-only code; every register it writes is declared,
    // and the enclosing function enables AVX-512F and AVX-512 VNNI, which
    // the caller detected.
    unsafe { dp_loop!(trips, "vpdpwssd", "zmm") }
}

/// 12 VEX `vpdpbusd` into 12 independent accumulators.
macro_rules! vex_dp_block {
    () => {
        concat!(
            "{{vex}} vpdpbusd ymm0, ymm14, ymm15\n",
            "{{vex}} vpdpbusd ymm1, ymm14, ymm15\n",
            "{{vex}} vpdpbusd ymm2, ymm14, ymm15\n",
            "{{vex}} vpdpbusd ymm3, ymm14, ymm15\n",
            "{{vex}} vpdpbusd ymm4, ymm14, ymm15\n",
            "{{vex}} vpdpbusd ymm5, ymm14, ymm15\n",
            "{{vex}} vpdpbusd ymm6, ymm14, ymm15\n",
            "{{vex}} vpdpbusd ymm7, ymm14, ymm15\n",
            "{{vex}} vpdpbusd ymm8, ymm14, ymm15\n",
            "{{vex}} vpdpbusd ymm9, ymm14, ymm15\n",
            "{{vex}} vpdpbusd ymm10, ymm14, ymm15\n",
            "{{vex}} vpdpbusd ymm11, ymm14, ymm15\n",
        )
    };
}

/// `trips` trips of 8 x 12 VEX `vpdpbusd ymm` into ymm0..11 (ymm14, ymm15
/// the inputs: VEX cannot name ymm16 and up).
#[target_feature(enable = "avx2,avxvnni")]
fn vpdpbusd_ymm_vex(trips: u64) {
    assert!(trips > 0);
    // SAFETY: register-only code; every register it writes is declared,
    // and the enclosing function enables AVX2 and AVX-VNNI, which the
    // caller detected.
    unsafe { ymm_loop!(trips, vex_dp_block!()) }
}

/// One instruction loop of this module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Roofline {
    /// `vpmaddwd ymm` alone (AVX2).
    VpmaddwdYmm,
    /// `vpmaddwd ymm` + `vpaddd ymm` per 16 MACs (the AVX2 kernel's).
    VpmaddwdVpadddYmm,
    /// `vpdpbusd zmm` (AVX-512 VNNI; the VNNI kernel's).
    VpdpbusdZmm,
    /// EVEX `vpdpbusd ymm` (AVX-512 VNNI + VL).
    VpdpbusdYmmEvex,
    /// VEX `vpdpbusd ymm` (AVX-VNNI; the AVX-VNNI kernel's).
    VpdpbusdYmmVex,
    /// `vpdpwssd zmm` (AVX-512 VNNI, int16).
    VpdpwssdZmm,
}

impl Roofline {
    /// Every loop, in report order.
    pub const ALL: &'static [Roofline] = &[
        Roofline::VpmaddwdYmm,
        Roofline::VpmaddwdVpadddYmm,
        Roofline::VpdpbusdZmm,
        Roofline::VpdpbusdYmmEvex,
        Roofline::VpdpbusdYmmVex,
        Roofline::VpdpwssdZmm,
    ];

    /// Its name in reports (criterion's benchmark ids).
    pub fn name(self) -> &'static str {
        match self {
            Roofline::VpmaddwdYmm => "vpmaddwd_ymm",
            Roofline::VpmaddwdVpadddYmm => "vpmaddwd+vpaddd_ymm",
            Roofline::VpdpbusdZmm => "vpdpbusd_zmm",
            Roofline::VpdpbusdYmmEvex => "vpdpbusd_ymm",
            Roofline::VpdpbusdYmmVex => "vpdpbusd_ymm_vex",
            Roofline::VpdpwssdZmm => "vpdpwssd_zmm",
        }
    }

    /// The loop a kernel path's inner loop is bound by, if it has one here.
    pub fn of_path(path: KernelPath) -> Option<Roofline> {
        match path {
            KernelPath::Avx2 => Some(Roofline::VpmaddwdVpadddYmm),
            KernelPath::AvxVnni => Some(Roofline::VpdpbusdYmmVex),
            KernelPath::Avx512Vnni => Some(Roofline::VpdpbusdZmm),
            _ => None,
        }
    }

    /// Whether this CPU has the loop's instructions.
    pub fn is_supported(self) -> bool {
        let avx512_vnni =
            || is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vnni");
        match self {
            Roofline::VpmaddwdYmm | Roofline::VpmaddwdVpadddYmm => is_x86_feature_detected!("avx2"),
            Roofline::VpdpbusdZmm | Roofline::VpdpwssdZmm => avx512_vnni(),
            Roofline::VpdpbusdYmmEvex => avx512_vnni() && is_x86_feature_detected!("avx512vl"),
            Roofline::VpdpbusdYmmVex => {
                is_x86_feature_detected!("avx2") && is_x86_feature_detected!("avxvnni")
            }
        }
    }

    /// MACs of one loop trip.
    pub fn macs_per_trip(self) -> u64 {
        let (per_block, macs_per_insn) = match self {
            Roofline::VpmaddwdYmm => (MADD_PER_BLOCK, 16),
            Roofline::VpmaddwdVpadddYmm => (MADD_ADD_PER_BLOCK, 16),
            Roofline::VpdpbusdZmm => (DP_PER_BLOCK, 64),
            Roofline::VpdpbusdYmmEvex | Roofline::VpdpbusdYmmVex => (DP_PER_BLOCK, 32),
            Roofline::VpdpwssdZmm => (DP_PER_BLOCK, 32),
        };
        UNROLL * per_block * macs_per_insn
    }

    /// Runs `trips` loop trips; `None` (nothing run) when the CPU lacks the
    /// instructions, or `trips` is 0.
    pub fn run(self, trips: u64) -> Option<()> {
        if trips == 0 || !self.is_supported() {
            return None;
        }
        // SAFETY: `is_supported` detected the target features each called
        // function enables.
        unsafe {
            match self {
                Roofline::VpmaddwdYmm => vpmaddwd_ymm(trips),
                Roofline::VpmaddwdVpadddYmm => vpmaddwd_vpaddd_ymm(trips),
                Roofline::VpdpbusdZmm => vpdpbusd_zmm(trips),
                Roofline::VpdpbusdYmmEvex => vpdpbusd_ymm(trips),
                Roofline::VpdpbusdYmmVex => vpdpbusd_ymm_vex(trips),
                Roofline::VpdpwssdZmm => vpdpwssd_zmm(trips),
            }
        }
        Some(())
    }

    /// This core's rate in GMAC/s: the median of `repeats` timed runs of
    /// `trips` trips, after one untimed run (clock ramp-up). `None` when the
    /// CPU lacks the instructions or an argument is 0.
    pub fn measure(self, trips: u64, repeats: usize) -> Option<f64> {
        if repeats == 0 {
            return None;
        }
        self.run(trips)?;
        let mut rates: Vec<f64> = (0..repeats)
            .map(|_| {
                let start = Instant::now();
                self.run(trips);
                let seconds = start.elapsed().as_secs_f64().max(1e-12);
                (self.macs_per_trip() * trips) as f64 / seconds / 1e9
            })
            .collect();
        rates.sort_by(f64::total_cmp);
        Some(rates[rates.len() / 2])
    }
}
