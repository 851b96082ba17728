//! Every SIMD kernel path equals the scalar specification bit for bit.
//!
//! One property-test module per path (instantiated by `path_tests!`), each
//! test skipped with one printed note when this CPU lacks the path (under
//! qemu-aarch64 the x86 paths skip, and dotprod skips on cortex-a53): random weights,
//! inputs and requantisation constants, extreme values (-128/127 inputs,
//! +-127 weights, huge biases that wrap), odd channel counts and lane tails,
//! tiny tiles (reflect borders), row sub-ranges, exact-size buffers and
//! garbage in the pixel-stride padding, with and without a LUT, every shift
//! 1..=62 and multiplier 0. Plus the whole anglerFISH network on every path.

mod common;
use common::paths;

use proptest::prelude::*;
use robofish_shared::kernels::{self, scalar, ConvParams, Dims, KernelPath};
use robofish_shared::quant::Requant;
use robofish_shared::rng::SplitMix64;

/// One random convolution problem.
#[derive(Clone, Debug)]
struct Case {
    height: usize,
    width: usize,
    cin: usize,
    cout: usize,
    in_pad: usize,
    out_pad: usize,
    slack: usize,
    rows: (usize, usize),
    seed: u64,
    /// 0: uniform, 1: extremes only, 2: mostly extremes.
    extremes: u8,
    lut: bool,
    /// Every channel uses this shift when set.
    shift: Option<u8>,
}

const CHANNELS: &[usize] = &[
    1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 20, 24, 31, 32, 33, 47, 48, 49, 64, 65,
];

fn case() -> impl Strategy<Value = Case> {
    (
        2usize..=6,
        2usize..=7,
        prop::sample::select(CHANNELS),
        prop::sample::select(CHANNELS),
        0usize..=5,
        0usize..=5,
        prop::sample::select(&[0usize, 64][..]),
        any::<u64>(),
        0u8..=2,
        any::<bool>(),
        (any::<u16>(), any::<u16>()),
    )
        .prop_map(
            |(height, width, cin, cout, in_pad, out_pad, slack, seed, extremes, lut, r)| {
                let start = r.0 as usize % (height + 1);
                let end = start + r.1 as usize % (height + 1 - start);
                Case {
                    height,
                    width,
                    cin,
                    cout,
                    in_pad,
                    out_pad,
                    slack,
                    rows: (start, end),
                    seed,
                    extremes,
                    lut,
                    shift: None,
                }
            },
        )
}

fn byte(rng: &mut SplitMix64, extremes: u8, lo: i8, hi: i8) -> i8 {
    let extreme = match extremes {
        0 => false,
        1 => true,
        _ => rng.below(4) != 0,
    };
    if extreme {
        if rng.below(2) == 0 {
            lo
        } else {
            hi
        }
    } else {
        (lo as i64 + rng.below((hi as i64 - lo as i64 + 1) as u64) as i64) as i8
    }
}

/// Runs `case` on `path` and on scalar; returns both output buffers.
fn run(case: &Case, path: KernelPath) -> (Vec<i8>, Vec<i8>) {
    let mut rng = SplitMix64::new(case.seed);
    let (cin, cout) = (case.cin, case.cout);
    let in_dims = Dims {
        height: case.height,
        width: case.width,
        channels: cin,
        pixel_stride: cin + case.in_pad,
    };
    let out_dims = Dims {
        height: case.height,
        width: case.width,
        channels: cout,
        pixel_stride: cout + case.out_pad,
    };
    let input: Vec<i8> = (0..in_dims.span() + case.slack)
        .map(|_| byte(&mut rng, case.extremes, -128, 127))
        .collect();
    let weights: Vec<i8> = (0..cout * 9 * cin)
        .map(|_| byte(&mut rng, case.extremes, -127, 127))
        .collect();
    let bias: Vec<i32> = (0..cout)
        .map(|_| match rng.below(8) {
            0 => rng.next_u64() as i32,
            1 => [i32::MIN, i32::MAX, 0][rng.below(3) as usize],
            _ => rng.below(1 << 21) as i32 - (1 << 20),
        })
        .collect();
    let requant: Vec<Requant> = (0..cout)
        .map(|_| {
            let shift = case.shift.unwrap_or_else(|| match rng.below(3) {
                // Around the scales that keep results inside int8.
                0 => 28 + rng.below(20) as u8,
                _ => 1 + rng.below(62) as u8,
            });
            let multiplier = if rng.below(10) == 0 {
                0
            } else {
                (1i64 << 30) as i32 + rng.below(1 << 30) as i32
            };
            Requant { multiplier, shift }
        })
        .collect();
    let lut: [i8; 256] = core::array::from_fn(|_| rng.next_u64() as i8);
    let pre_zero_point = byte(&mut rng, 0, -128, 127);
    let rows = case.rows.0..case.rows.1;
    let fill: Vec<i8> = (0..out_dims.span() + case.slack)
        .map(|_| rng.next_u64() as i8)
        .collect();

    // Output slices start at row `rows.start`.
    let out_start = (rows.start * case.width * out_dims.pixel_stride).min(fill.len());
    let mut expected = fill.clone();
    let params = ConvParams {
        in_channels: cin,
        out_channels: cout,
        weights: &weights,
        bias: &bias,
        requant: &requant,
        pre_zero_point,
        lut: case.lut.then_some(&lut),
    };
    scalar::conv3x3(
        &input,
        in_dims,
        &params,
        &mut expected[out_start..],
        out_dims,
        rows.clone(),
    );

    let (packed_w, packed_b) = path.pack_conv(cin, cout, &weights, &bias, &requant);
    let params = ConvParams {
        weights: &packed_w,
        bias: &packed_b,
        ..params
    };
    let mut actual = fill;
    kernels::conv3x3(
        path,
        &input,
        in_dims,
        &params,
        &mut actual[out_start..],
        out_dims,
        rows,
    );
    (expected, actual)
}

macro_rules! path_tests {
    ($module:ident, $path:expr) => {
        mod $module {
            use super::*;

            fn supported(test: &str) -> bool {
                paths::usable($path, &format!("{}::{test}", stringify!($module)))
            }

            #[test]
            fn equals_scalar() {
                if !supported("equals_scalar") {
                    return;
                }
                proptest!(ProptestConfig::with_cases(600), |(case in case())| {
                    let (expected, actual) = run(&case, $path);
                    prop_assert_eq!(expected, actual);
                });
            }

            #[test]
            fn every_shift_and_tail() {
                if !supported("every_shift_and_tail") {
                    return;
                }
                for shift in 1..=62u8 {
                    for (i, &(cin, cout)) in [
                        (1, 1),
                        (3, 15),
                        (5, 16),
                        (17, 17),
                        (33, 31),
                        (48, 49),
                        (8, 48),
                    ]
                    .iter()
                    .enumerate()
                    {
                        let case = Case {
                            height: 2 + i % 3,
                            width: 2 + (i + shift as usize) % 5,
                            cin,
                            cout,
                            in_pad: i % 2,
                            out_pad: (i + 1) % 2,
                            slack: 0,
                            rows: (0, 2 + i % 3),
                            seed: shift as u64 * 100 + i as u64,
                            extremes: (shift % 3),
                            lut: shift % 2 == 0,
                            shift: Some(shift),
                        };
                        let (expected, actual) = run(&case, $path);
                        assert_eq!(expected, actual, "{case:?}");
                    }
                }
            }

            #[test]
            fn larger_layers() {
                if !supported("larger_layers") {
                    return;
                }
                for (i, &(h, w, cin, cout)) in [
                    (9, 13, 48, 48),
                    (10, 10, 192, 192),
                    (5, 20, 96, 96),
                    (12, 11, 144, 48),
                    (7, 9, 16, 48),
                    (8, 8, 48, 16),
                    (8, 8, 48, 1),
                ]
                .iter()
                .enumerate()
                {
                    let case = Case {
                        height: h,
                        width: w,
                        cin,
                        cout,
                        in_pad: (16 - cin % 16) % 16,
                        out_pad: (16 - cout % 16) % 16,
                        slack: 64,
                        rows: (i % 3, h - i % 2),
                        seed: 77 + i as u64,
                        extremes: 0,
                        lut: i % 2 == 0,
                        shift: None,
                    };
                    let (expected, actual) = run(&case, $path);
                    assert_eq!(expected, actual, "{case:?}");
                }
            }
        }
    };
}

path_tests!(avx2, KernelPath::Avx2);
path_tests!(avxvnni, KernelPath::AvxVnni);
path_tests!(avx512_vnni, KernelPath::Avx512Vnni);
path_tests!(neon, KernelPath::Neon);
path_tests!(neon_dotprod, KernelPath::NeonDotprod);
path_tests!(neon_i8mm, KernelPath::NeonI8mm);

/// The random anglerFISH gives byte-identical outputs on every path.
#[test]
fn full_model_every_path_equals_scalar() {
    use robofish_shared::engine::{InputImage, Network, Pixels};
    use robofish_shared::model::ArchConfig;

    let (_, model) = common::quantised(&ArchConfig::seed(), 7, 1, 40);
    for &(height, width) in &[(40, 40), (24, 36)] {
        let tile = common::camera_tile(height, width, 5);
        let image = InputImage::planar(Pixels::U16(&tile), 16, height, width).unwrap();
        let mut reference = None;
        for &path in KernelPath::ALL {
            if !paths::usable(path, "full_model_every_path_equals_scalar") {
                continue;
            }
            let network = Network::new(model.clone(), path).unwrap();
            let plan = network.plan(height, width).unwrap();
            let mut arena = vec![0u8; plan.arena_bytes()];
            let mut position = vec![0u8; height * width];
            let mut barcode = vec![0u8; 16 * height * width];
            network
                .run(
                    &plan,
                    &mut arena,
                    &image,
                    &mut [&mut position, &mut barcode],
                )
                .unwrap();
            match &reference {
                None => reference = Some((position, barcode)),
                Some((p, b)) => {
                    assert!(p == &position, "{path}: position map differs from scalar");
                    assert!(b == &barcode, "{path}: barcode maps differ from scalar");
                }
            }
        }
    }
}

/// The machine's contract: every path `ROBOFISH_REQUIRED_PATHS` names runs
/// here (scripts/test.sh sets it from the CPU's flags or the qemu model).
#[test]
fn required_paths_are_supported_here() {
    for path in paths::required() {
        assert!(paths::usable(path, "required_paths_are_supported_here"));
    }
}

#[test]
fn path_names_round_trip_and_detection_is_supported() {
    for &path in KernelPath::ALL {
        assert_eq!(KernelPath::from_name(path.name()), Some(path));
    }
    assert_eq!(KernelPath::from_name("vnni"), Some(KernelPath::Avx512Vnni));
    assert_eq!(KernelPath::from_name("avxvnni"), Some(KernelPath::AvxVnni));
    assert_eq!(KernelPath::from_name("neon"), Some(KernelPath::Neon));
    assert_eq!(
        KernelPath::from_name("dotprod"),
        Some(KernelPath::NeonDotprod)
    );
    assert_eq!(KernelPath::from_name("i8mm"), Some(KernelPath::NeonI8mm));
    assert!(KernelPath::require("no-such-path").is_err());
    assert!(KernelPath::detect().is_supported());
    assert!(KernelPath::Scalar.is_supported());
    for &path in KernelPath::ALL {
        eprintln!("kernel path {path}: supported = {}", path.is_supported());
    }
}
