//! Helpers shared by the integration tests.
#![allow(dead_code)]

use robofish_shared::engine::{InputImage, Pixels};
use robofish_shared::model::{ArchConfig, Model};
use robofish_shared::ptq::Observer;
use robofish_shared::reference::FloatModel;

pub use robofish_shared::synthetic::camera_tile;

/// A random float anglerFISH of `arch` and its static int8 quantisation,
/// calibrated on `calib_tiles` tiles of `size x size`.
pub fn quantised(
    arch: &ArchConfig,
    seed: u64,
    calib_tiles: usize,
    size: usize,
) -> (FloatModel, Model) {
    robofish_shared::synthetic::random_quantised_with(
        arch,
        seed,
        calib_tiles,
        size,
        observer(),
        |float| spread_heads(float, size),
    )
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
