//! Peak issue rates of the instructions the int8 convolution kernels are
//! built on, in int8 (or int16) multiply-accumulates per second
//! (`Throughput::Elements` counts MACs, so criterion's `Gelem/s` reads as
//! GMAC/s). These are the rooflines the `conv` bench is measured against;
//! the loops and what each one means are in `robofish_shared::roofline`,
//! which `robofish bench` also runs to print "% of this CPU's peak".
//!
//! `cargo bench -p robofish-shared --bench peak`
//! (add e.g. `-- --measurement-time 1 --warm-up-time 0.3` for a quick run,
//! or a filter such as `vpdpbusd`).

#[cfg(target_arch = "x86_64")]
mod x86 {
    use criterion::{criterion_group, Criterion, Throughput};
    use robofish_shared::roofline::Roofline;

    /// Loop trips per criterion iteration.
    const TRIPS: u64 = 1000;

    fn peak(c: &mut Criterion) {
        let mut group = c.benchmark_group("peak");
        for &roofline in Roofline::ALL {
            if !roofline.is_supported() {
                continue;
            }
            group.throughput(Throughput::Elements(roofline.macs_per_trip() * TRIPS));
            group.bench_function(roofline.name(), |b| b.iter(|| roofline.run(TRIPS)));
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
