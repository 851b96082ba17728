//! Helpers shared by the integration tests.
#![allow(dead_code)]

use robofish_shared::engine::{InputImage, Pixels};
use robofish_shared::model::{ArchConfig, Model, Normalisation};
use robofish_shared::quantize::{quantise, Calibrator, Observer, QuantiseOptions};
use robofish_shared::reference::FloatModel;
use robofish_shared::rng::SplitMix64;

/// Camera-like raw stack `[16][h][w]`: offset + background + a few Gaussian
/// spots on random subsets of the images + noise.
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
        for c in 0..channels {
            if rng.below(4) != 0 {
                continue;
            }
            for y in 0..h {
                for x in 0..w {
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

pub fn normalisation() -> Normalisation {
    Normalisation::uniform(16, 160.0, 120.0)
}

/// A random float anglerFISH of `arch` and its static int8 quantisation,
/// calibrated on `calib_tiles` tiles of `size x size`.
pub fn quantised(
    arch: &ArchConfig,
    seed: u64,
    calib_tiles: usize,
    size: usize,
) -> (FloatModel, Model) {
    let mut float = FloatModel::random(arch, normalisation(), seed).unwrap();
    spread_heads(&mut float, size);
    let mut calib = Calibrator::new(&float, observer());
    for t in 0..calib_tiles {
        let tile = camera_tile(size, size, 1000 + t as u64);
        let image = InputImage::planar(Pixels::U16(&tile), 16, size, size).unwrap();
        calib.observe(&float.forward(&image));
    }
    let model = quantise(&float, &calib, &QuantiseOptions::default()).unwrap();
    (float, model)
}

/// LeCun-initialised random networks are stable but their sigmoid heads sit
/// near 0.5; scale each head's last convolution so its pre-activation spans
/// about +-6 on a sample tile, making the probabilities use the whole [0, 1]
/// range as a trained network's do.
pub fn spread_heads(float: &mut FloatModel, size: usize) {
    use robofish_shared::model::{ActivationKind, Node};
    let tile = camera_tile(size, size, 4242);
    let image = InputImage::planar(Pixels::U16(&tile), 16, size, size).unwrap();
    let acts = float.forward(&image);
    for (step, node) in float.graph.nodes.iter_mut().enumerate() {
        if let Node::Conv(conv) = node {
            if conv.activation == ActivationKind::Sigmoid {
                let pre = acts.pre_activations[step].as_ref().unwrap();
                let max = pre.iter().fold(0f32, |m, v| m.max(v.abs()));
                let gain = 4.0 / max.max(1e-6);
                conv.weights.iter_mut().for_each(|w| *w *= gain);
                conv.bias.iter_mut().for_each(|b| *b *= gain);
            }
        }
    }
}

pub fn observer() -> Observer {
    match std::env::var("TEST_OBSERVER").as_deref() {
        Ok("minmax") => Observer::MinMax,
        Ok("percentile") => Observer::Percentile(99.99),
        _ => Observer::MinMax,
    }
}
