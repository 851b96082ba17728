//! Whole-model latency of the shipped int8 anglerFISH
//! (`models/anglerfish-static.rfm`, 1.155 M MAC per pixel) on 40x40 and
//! 256x256 tiles, one thread and two, on every SIMD kernel path this CPU
//! supports. `Throughput::Elements` counts multiply-accumulates, so
//! criterion's `Gelem/s` reads as GMAC/s. `robofish bench` prints the same
//! for any model file, with `--json`.
//!
//! `cargo bench -p robofish-shared --bench model` (filter with e.g.
//! `vnni/256x256`). Scalar is left out: one 256x256 tile takes ~20 s.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use robofish_shared::engine::{InputImage, Network, Pixels};
use robofish_shared::kernels::KernelPath;
use robofish_shared::model::decode_model;
use robofish_shared::synthetic::camera_tile;

const MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../models/anglerfish-static.rfm"
);
const TILES: [(usize, usize); 2] = [(40, 40), (256, 256)];
const THREADS: [usize; 2] = [1, 2];

fn model(c: &mut Criterion) {
    let bytes = std::fs::read(MODEL).unwrap_or_else(|e| panic!("cannot read {MODEL}: {e}"));
    let mut group = c.benchmark_group("model");
    for &path in KernelPath::ALL {
        if path == KernelPath::Scalar || !path.is_supported() {
            continue;
        }
        let network = Network::new(decode_model(&bytes).expect("shipped model"), path)
            .expect("the shipped model prepares");
        for (h, w) in TILES {
            let plan = network.plan(h, w).expect("plan");
            let mut arena = vec![0u8; plan.arena_bytes()];
            let raw = camera_tile(h, w, 1);
            let image = InputImage::planar(Pixels::U16(&raw), 16, h, w).expect("image");
            let graph = &network.model().graph;
            let mut outputs: Vec<Vec<u8>> = graph
                .outputs
                .iter()
                .map(|o| vec![0u8; graph.tensors[o.tensor as usize].channels as usize * h * w])
                .collect();
            group.throughput(Throughput::Elements(
                (graph.macs_per_pixel() * (h * w) as f64) as u64,
            ));
            // A 256x256 tile takes a third of a second: ten samples suffice.
            group.sample_size(if h * w > 10_000 { 10 } else { 30 });
            for threads in THREADS {
                let id = BenchmarkId::new(path.name(), format!("{h}x{w}/{threads}t"));
                group.bench_function(id, |b| {
                    b.iter(|| {
                        let mut refs: Vec<&mut [u8]> =
                            outputs.iter_mut().map(|o| o.as_mut_slice()).collect();
                        network
                            .run_threaded(&plan, &mut arena, &image, &mut refs, threads)
                            .expect("run")
                    })
                });
            }
        }
    }
    group.finish();
}

criterion_group!(benches, model);
criterion_main!(benches);
