//! 3x3 convolution throughput on real anglerFISH layer shapes, every kernel
//! path this CPU supports beside scalar, in MAC/s (`Throughput::Elements`
//! counts multiply-accumulates).
//!
//! `cargo bench -p robofish-shared --bench conv -- --measurement-time 2`
//! (filter with e.g. `vnni/40x40x48`).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use robofish_shared::kernels::{self, ConvParams, Dims, KernelPath};
use robofish_shared::quant::Requant;
use robofish_shared::rng::SplitMix64;

/// (height, width, cin, cout) of anglerFISH convolutions.
const SHAPES: &[(usize, usize, usize, usize)] = &[
    (40, 40, 8, 48),
    (40, 40, 48, 48),
    (20, 20, 96, 96),
    (10, 10, 192, 192),
    (40, 40, 144, 48),
    (256, 256, 48, 48),
    (128, 128, 96, 96),
    (40, 40, 48, 16),
    (40, 40, 48, 1),
];

fn conv(c: &mut Criterion) {
    let mut group = c.benchmark_group("conv3x3");
    for &(h, w, cin, cout) in SHAPES {
        let mut rng = SplitMix64::new(1);
        let stride_in = cin.div_ceil(16) * 16;
        let stride_out = cout.div_ceil(16) * 16;
        let in_dims = Dims {
            height: h,
            width: w,
            channels: cin,
            pixel_stride: stride_in,
        };
        let out_dims = Dims {
            height: h,
            width: w,
            channels: cout,
            pixel_stride: stride_out,
        };
        let input: Vec<i8> = (0..h * w * stride_in + 64)
            .map(|_| rng.next_u64() as i8)
            .collect();
        let weights: Vec<i8> = (0..cout * 9 * cin)
            .map(|_| (rng.below(255) as i32 - 127) as i8)
            .collect();
        let bias: Vec<i32> = (0..cout).map(|_| rng.below(1 << 16) as i32).collect();
        let requant = vec![
            Requant {
                multiplier: 1 << 30,
                shift: 40
            };
            cout
        ];
        let lut: [i8; 256] = core::array::from_fn(|i| (i as i32 - 128).max(-100) as i8);
        let mut output = vec![0i8; h * w * stride_out + 64];
        let macs = (h * w * 9 * cin * cout) as u64;
        group.throughput(Throughput::Elements(macs));
        let shape = format!("{h}x{w}x{cin}->{cout}");
        for &path in KernelPath::ALL {
            if !path.is_supported() {
                continue;
            }
            // Scalar on the big shapes takes seconds per iteration.
            if path == KernelPath::Scalar && h * w > 1600 {
                continue;
            }
            let (pw, pb) = path.pack_conv(cin, cout, &weights, &bias, &requant);
            let params = ConvParams {
                in_channels: cin,
                out_channels: cout,
                weights: &pw,
                bias: &pb,
                requant: &requant,
                pre_zero_point: -3,
                lut: Some(&lut),
            };
            group.bench_function(BenchmarkId::new(path.name(), &shape), |b| {
                b.iter(|| {
                    kernels::conv3x3(path, &input, in_dims, &params, &mut output, out_dims, 0..h)
                })
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = conv
}
criterion_main!(benches);
