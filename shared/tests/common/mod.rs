//! Helpers shared by the integration tests.
#![allow(dead_code)]

use robofish_shared::model::{ArchConfig, Model};
use robofish_shared::ptq::Observer;
use robofish_shared::reference::FloatModel;

pub mod paths;

pub use robofish_shared::synthetic::camera_tile;

/// A random float anglerFISH of `arch` and its static int8 quantisation
/// (min/max observer), calibrated on `calib_tiles` tiles of `size x size`,
/// heads spread over the probability range as a trained network's are.
pub fn quantised(
    arch: &ArchConfig,
    seed: u64,
    calib_tiles: usize,
    size: usize,
) -> (FloatModel, Model) {
    quantised_with(arch, seed, calib_tiles, size, Observer::MinMax)
}

/// [`quantised`] with another calibration observer.
pub fn quantised_with(
    arch: &ArchConfig,
    seed: u64,
    calib_tiles: usize,
    size: usize,
    observer: Observer,
) -> (FloatModel, Model) {
    robofish_shared::synthetic::random_realistic(arch, seed, calib_tiles, size, observer)
}
