//! Synthetic inputs and random calibrated models for tests, fuzzing and
//! benchmarks of the engine without a trained network or the simulator.

use std::vec;
use std::vec::Vec;

use crate::image::{InputImage, Pixels};
use crate::model::{ArchConfig, Model, Normalisation};
use crate::ptq::{quantise, Calibrator, Observer, QuantiseOptions};
use crate::reference::FloatModel;
use crate::rng::SplitMix64;

/// Camera-like raw stack `[16][h][w]`: background around 120 counts with
/// noise, plus Gaussian spots lit in random subsets of the images.
pub fn camera_tile(h: usize, w: usize, seed: u64) -> Vec<u16> {
    let mut rng = SplitMix64::new(seed);
    let channels = 16;
    let mut img = vec![0f64; channels * h * w];
    for c in 0..channels {
        let bg = 100.0 + 40.0 * rng.uniform();
        for p in 0..h * w {
            img[c * h * w + p] = bg + 8.0 * rng.normal();
        }
    }
    let spots = (h * w / 60).max(3);
    for _ in 0..spots {
        let (y0, x0) = (rng.uniform() * h as f64, rng.uniform() * w as f64);
        let amplitude = 150.0 + 300.0 * rng.uniform();
        let lit: Vec<bool> = (0..channels).map(|_| rng.below(4) == 0).collect();
        let (ylo, yhi) = ((y0 - 5.0).max(0.0) as usize, ((y0 + 6.0) as usize).min(h));
        let (xlo, xhi) = ((x0 - 5.0).max(0.0) as usize, ((x0 + 6.0) as usize).min(w));
        for (c, _) in lit.iter().enumerate().filter(|(_, &on)| on) {
            for y in ylo..yhi {
                for x in xlo..xhi {
                    let d2 = (y as f64 + 0.5 - y0).powi(2) + (x as f64 + 0.5 - x0).powi(2);
                    img[c * h * w + y * w + x] += amplitude * (-d2 / 2.6).exp();
                }
            }
        }
    }
    img.iter()
        .map(|v| v.round().clamp(0.0, 65535.0) as u16)
        .collect()
}

/// The normalisation matching [`camera_tile`].
pub fn camera_normalisation() -> Normalisation {
    Normalisation::uniform(16, 160.0, 120.0)
}

/// A random float anglerFISH of `arch` and its static int8 quantisation
/// (min/max observer), calibrated on `calib_tiles` tiles of `size x size`.
pub fn random_quantised(
    arch: &ArchConfig,
    seed: u64,
    calib_tiles: usize,
    size: usize,
) -> (FloatModel, Model) {
    random_quantised_with(arch, seed, calib_tiles, size, Observer::MinMax, |_| {})
}

/// A random model whose heads behave like a trained network's: like
/// [`random_quantised`], with [`spread_heads`] applied before calibration.
/// Its position map has a realistic share of pixels above the spot
/// threshold, so tests of peak finding and thresholds mean something.
pub fn random_realistic(
    arch: &ArchConfig,
    seed: u64,
    calib_tiles: usize,
    size: usize,
    observer: Observer,
) -> (FloatModel, Model) {
    random_quantised_with(arch, seed, calib_tiles, size, observer, |float| {
        spread_heads(float, size)
    })
}

/// LeCun-initialised random networks are stable but their sigmoid heads sit
/// near 0.5 (position codes of only about 105-149, every pixel above the
/// spot threshold). This scales each head's last convolution so its
/// pre-activation spans about +-4 on a sample tile of `size x size`, making
/// the probabilities use the whole [0, 1] range as a trained network's do.
pub fn spread_heads(float: &mut FloatModel, size: usize) {
    use crate::model::{ActivationKind, Node};
    let tile = camera_tile(size, size, 4242);
    let image =
        InputImage::planar(Pixels::U16(&tile), 16, size, size).expect("tile matches its size");
    let acts = float.forward(&image);
    for (step, node) in float.graph.nodes.iter_mut().enumerate() {
        if let Node::Conv(conv) = node {
            if conv.activation == ActivationKind::Sigmoid {
                let Some(pre) = acts.pre_activations[step].as_ref() else {
                    continue;
                };
                let max = pre.iter().fold(0f32, |m, v| m.max(v.abs()));
                let gain = 4.0 / max.max(1e-6);
                conv.weights.iter_mut().for_each(|w| *w *= gain);
                conv.bias.iter_mut().for_each(|b| *b *= gain);
            }
        }
    }
}

/// Like [`random_quantised`], with an observer and a hook that may adjust
/// the float model before calibration.
pub fn random_quantised_with(
    arch: &ArchConfig,
    seed: u64,
    calib_tiles: usize,
    size: usize,
    observer: Observer,
    adjust: impl FnOnce(&mut FloatModel),
) -> (FloatModel, Model) {
    let mut float =
        FloatModel::random(arch, camera_normalisation(), seed).expect("valid architecture");
    adjust(&mut float);
    let mut calib = Calibrator::new(&float, observer);
    for t in 0..calib_tiles {
        let tile = camera_tile(size, size, 1000 + t as u64);
        let image =
            InputImage::planar(Pixels::U16(&tile), 16, size, size).expect("tile matches its size");
        calib.observe(&float.forward(&image));
    }
    let model =
        quantise(&float, &calib, &QuantiseOptions::default()).expect("random models quantise");
    (float, model)
}
