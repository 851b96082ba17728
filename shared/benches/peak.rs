//! Peak issue rates of the instructions the int8 convolution kernels are
//! built on, in int8 (or int16) multiply-accumulates per second
//! (`Throughput::Elements` counts MACs, so criterion's `Gelem/s` reads as
//! GMAC/s). These are the rooflines the `conv` bench is measured against.
//!
//! Every loop is register-only `asm!` (no loads, no stores), each loop trip
//! an 8-fold unrolled block with enough independent accumulators to hide the
//! instruction's latency, so what is timed is how many of the instruction
//! the core issues per cycle:
//!
//! * `peak/vpmaddwd_ymm`: `vpmaddwd ymm` alone, 16 MAC each, the AVX2
//!   multiply peak. An exact AVX2 kernel cannot reach it: `vpmaddwd` leaves
//!   pairwise sums in fresh int32 lanes that still have to be added into an
//!   accumulator.
//! * `peak/vpmaddwd+vpaddd_ymm`: each `vpmaddwd ymm` followed by the
//!   `vpaddd ymm` that adds its result into its own accumulator, i.e. what
//!   the AVX2 kernel really issues per 16 MACs; its roofline.
//! * `peak/vpdpbusd_zmm`: `vpdpbusd zmm` (AVX-512 VNNI), 64 MAC each,
//!   multiply and accumulate in one instruction; the VNNI kernel's roofline.
//!   The rate is per zmm instruction: a core that splits zmm into two 256-bit
//!   halves (Zen 4) issues half as many of them per cycle as it does ymm ones.
//! * `peak/vpdpbusd_ymm`: the EVEX `vpdpbusd ymm` (AVX-512 VNNI + VL),
//!   32 MAC each, to compare the zmm rate against.
//! * `peak/vpdpwssd_zmm`: `vpdpwssd zmm`, 32 int16 MAC each.
//!
//! A loop is run only where `is_x86_feature_detected!` reports its features;
//! on other architectures there is nothing to measure. Dividing a figure by
//! the MACs per instruction and by the clock gives instructions per cycle.
//!
//! `cargo bench -p robofish-shared --bench peak`
//! (add e.g. `-- --measurement-time 1 --warm-up-time 0.3` for a quick run,
//! or a filter such as `vpdpbusd`).

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::asm;
    use criterion::{criterion_group, Criterion, Throughput};

    /// Trips of the unrolled block per criterion iteration.
    const TRIPS: u64 = 1000;
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

    /// MACs one criterion iteration performs: `TRIPS` trips of `UNROLL`
    /// blocks of `per_block` instructions of `macs_per_insn` MACs.
    const fn macs(per_block: u64, macs_per_insn: u64) -> u64 {
        TRIPS * UNROLL * per_block * macs_per_insn
    }

    fn peak(c: &mut Criterion) {
        let mut group = c.benchmark_group("peak");
        if is_x86_feature_detected!("avx2") {
            group.throughput(Throughput::Elements(macs(MADD_PER_BLOCK, 16)));
            group.bench_function("vpmaddwd_ymm", |b| {
                // SAFETY: AVX2 was detected above.
                b.iter(|| unsafe { vpmaddwd_ymm(TRIPS) })
            });
            group.throughput(Throughput::Elements(macs(MADD_ADD_PER_BLOCK, 16)));
            group.bench_function("vpmaddwd+vpaddd_ymm", |b| {
                // SAFETY: AVX2 was detected above.
                b.iter(|| unsafe { vpmaddwd_vpaddd_ymm(TRIPS) })
            });
        }
        if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vnni") {
            group.throughput(Throughput::Elements(macs(DP_PER_BLOCK, 64)));
            group.bench_function("vpdpbusd_zmm", |b| {
                // SAFETY: AVX-512F and AVX-512 VNNI were detected above.
                b.iter(|| unsafe { vpdpbusd_zmm(TRIPS) })
            });
            if is_x86_feature_detected!("avx512vl") {
                group.throughput(Throughput::Elements(macs(DP_PER_BLOCK, 32)));
                group.bench_function("vpdpbusd_ymm", |b| {
                    // SAFETY: AVX-512F, VL and VNNI were detected above.
                    b.iter(|| unsafe { vpdpbusd_ymm(TRIPS) })
                });
            }
            group.throughput(Throughput::Elements(macs(DP_PER_BLOCK, 32)));
            group.bench_function("vpdpwssd_zmm", |b| {
                // SAFETY: AVX-512F and AVX-512 VNNI were detected above.
                b.iter(|| unsafe { vpdpwssd_zmm(TRIPS) })
            });
        }
        group.finish();
    }

    criterion_group!(benches, peak);
}

#[cfg(target_arch = "x86_64")]
criterion::criterion_main!(x86::benches);

#[cfg(not(target_arch = "x86_64"))]
fn main() {
    println!("peak: x86_64-only instruction loops, nothing to measure on this architecture");
}
