//! The full anglerFISH topology runs end to end in int8 and agrees with the
//! float reference.
//!
//! The network: random LeCun-normal weights (He-initialised random nets of
//! this depth are chaotic: they amplify any perturbation, int8 rounding
//! included, layer after layer), calibrated with min/max over two tiles, and
//! each head's last convolution scaled so its pre-activation spans about +-4
//! and the probabilities cover [0.02, 0.99] like a trained network's.
//!
//! Tolerance, derived: every int8 tensor adds rounding noise of up to half a
//! step; through the 27 convolutions from an input to a head that noise adds
//! up to a few per cent of the hidden activations' range (measured layer by
//! layer: ~5 % at the head's input), and the head multiplies it by its gain
//! times the sigmoid slope (<= 1/4). For gain ~4/0.3 that bounds the typical
//! probability error near 0.01 with rare worst cases where the sigmoid is
//! steepest.
//!
//! Measured (2026-12-03, scalar path; the arithmetic is the same on every
//! x86 machine), mean / signed bias / p99 / max of |int8 - float|:
//!
//! | case | mean | bias | p99 | max |
//! |---|---|---|---|---|
//! | 40x40 min/max | 0.0097 | -0.0004 | 0.039 | 0.139 |
//! | 64x96 min/max | 0.0101 | -0.0002 | 0.042 | 0.155 |
//! | 40x40 percentile 99.99 | 0.0192 | -0.0002 | 0.078 | 0.238 |
//! | 40x40 dynamic | 0.0072 | -0.0003 | 0.030 | 0.083 |
//!
//! The limits sit just above these, and the bias limit (0.0015) is well
//! below one code step (1/255 = 0.0039), so a systematic one-step shift
//! fails even where the absolute errors stay small. The percentile
//! observer is worse on this random network: it clips activations that the
//! next layers need, which a trained network's tails rarely are.

mod common;

use robofish_shared::engine::{InputImage, Network, Pixels};
use robofish_shared::kernels::KernelPath;
use robofish_shared::model::{decode_model, encode_model, ArchConfig, Model};
use robofish_shared::ptq::Observer;
use robofish_shared::reference::FloatModel;

/// How far the int8 probabilities are from the float ones, over every
/// output pixel of both heads.
#[derive(Debug)]
struct Errors {
    /// Mean absolute error.
    mean: f64,
    /// Mean signed error (int8 minus float): a systematic shift, such as a
    /// one-code bias (1/255 = 0.0039), shows here, not in `mean` alone.
    bias: f64,
    /// 99th percentile of the absolute error.
    p99: f64,
    /// Largest absolute error.
    max: f64,
}

/// Limits just above the measured values (see the header): a regression of
/// a fraction of a code step fails.
struct Limits {
    mean: f64,
    bias: f64,
    p99: f64,
    max: f64,
}

impl Errors {
    fn check(&self, what: &str, limits: Limits) {
        println!("{what}: {self:?}");
        assert!(self.mean < limits.mean, "{what}: mean {}", self.mean);
        assert!(self.bias.abs() < limits.bias, "{what}: bias {}", self.bias);
        assert!(self.p99 < limits.p99, "{what}: p99 {}", self.p99);
        assert!(self.max < limits.max, "{what}: max {}", self.max);
    }
}

fn compare(height: usize, width: usize, observer: Observer) -> Errors {
    let (float, model) = common::quantised_with(&ArchConfig::seed(), 7, 2, 40, observer);
    compare_model(&float, model, height, width)
}

fn compare_model(float: &FloatModel, model: Model, height: usize, width: usize) -> Errors {
    let bytes = encode_model(&model).unwrap();
    let network = Network::new(decode_model(&bytes).unwrap(), KernelPath::Scalar).unwrap();
    let plan = network.plan(height, width).unwrap();
    let mut arena = vec![0u8; plan.arena_bytes()];
    let tile = common::camera_tile(height, width, 99);
    let image = InputImage::planar(Pixels::U16(&tile), 16, height, width).unwrap();
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
    let acts = float.forward(&image);
    let (mut sum, mut signed, mut max) = (0.0f64, 0.0f64, 0.0f64);
    let mut errors = Vec::new();
    let (mut lo, mut hi) = (1.0f32, 0.0f32);
    for (i, int8) in [&position, &barcode].iter().enumerate() {
        let reference = float.output_maps(&acts, i);
        for (&q, &f) in int8.iter().zip(&reference) {
            lo = lo.min(f);
            hi = hi.max(f);
            let diff = q as f64 / 255.0 - f as f64;
            signed += diff;
            sum += diff.abs();
            errors.push(diff.abs());
            max = max.max(diff.abs());
        }
    }
    let count = errors.len() as f64;
    errors.sort_by(f64::total_cmp);
    println!("{height}x{width}: float probabilities span {lo:.3}..{hi:.3}");
    assert!(
        hi - lo > 0.8,
        "the test network's outputs must span most of [0, 1]"
    );
    Errors {
        mean: sum / count,
        bias: signed / count,
        p99: errors[errors.len() * 99 / 100],
        max,
    }
}

#[test]
fn seed_topology_40x40_matches_float() {
    compare(40, 40, Observer::MinMax).check("40x40 min/max", LIMITS_40);
}

#[test]
fn seed_topology_64x96_matches_float() {
    compare(64, 96, Observer::MinMax).check("64x96 min/max", LIMITS_64X96);
}

/// The percentile observer clips the rare largest activations for finer
/// grids; until now no test calibrated with it.
#[test]
fn seed_topology_percentile_observer_matches_float() {
    let (float, min_max) = common::quantised_with(&ArchConfig::seed(), 7, 2, 40, Observer::MinMax);
    let (_, percentile) =
        common::quantised_with(&ArchConfig::seed(), 7, 2, 40, Observer::Percentile(99.99));
    // It must have chosen other grids, or this test checks min/max twice.
    assert_ne!(
        encode_model(&min_max).unwrap(),
        encode_model(&percentile).unwrap(),
        "the percentile observer chose the min/max grids"
    );
    compare_model(&float, percentile, 40, 40).check("40x40 percentile", LIMITS_PERCENTILE);
}

#[test]
fn dynamic_mode_runs_and_matches_float() {
    // Same network, dynamic quantisation: grids measured on the tile itself.
    let (float, _) = common::quantised(&ArchConfig::seed(), 7, 2, 40);
    let options = robofish_shared::ptq::QuantiseOptions::default();
    let model = robofish_shared::ptq::quantise_dynamic(&float, &options).unwrap();
    assert_eq!(
        model.metadata.mode,
        robofish_shared::model::QuantMode::Dynamic
    );
    compare_model(&float, model, 40, 40).check("40x40 dynamic", LIMITS_DYNAMIC);
}

const LIMITS_40: Limits = Limits {
    mean: 0.0105,
    bias: 0.0015,
    p99: 0.042,
    max: 0.15,
};
const LIMITS_64X96: Limits = Limits {
    mean: 0.011,
    bias: 0.0015,
    p99: 0.045,
    max: 0.17,
};
const LIMITS_PERCENTILE: Limits = Limits {
    mean: 0.021,
    bias: 0.0015,
    p99: 0.085,
    max: 0.26,
};
const LIMITS_DYNAMIC: Limits = Limits {
    mean: 0.008,
    bias: 0.0015,
    p99: 0.033,
    max: 0.095,
};
