//! Input normalisation, as the network's input stage defines it
//! ([`InputStage`]):
//!
//! - fixed (models before the per-image stage): measured once on the
//!   training tiles, stored with every checkpoint and model file, applied as
//!   `(raw - mean[c]) / std[c]` to raw camera counts by every engine (tch,
//!   tract, the float reference and the int8 engine);
//! - per image: each image's own robust background and noise
//!   ([`robofish_shared::image_stats`]), then the shared
//!   [`robofish_shared::input_stage::normalise`].

use robofish_shared::image::{InputImage, Pixels};
use robofish_shared::image_stats::{self, ImageStats};
use robofish_shared::input_stage::{self, InputStage};
use robofish_shared::model::Normalisation;

use crate::sim::{Tile, IMAGE_COUNT};

/// Per-image mean and standard deviation of raw counts over `tiles` (the
/// standard deviation is at least 1 count). Fixed per model, so streamed
/// bands and whole tiles see the same numbers.
pub fn measure_normalisation(tiles: &[Tile]) -> Normalisation {
    let mut mean = vec![0f32; IMAGE_COUNT];
    let mut std = vec![0f32; IMAGE_COUNT];
    for c in 0..IMAGE_COUNT {
        let (mut sum, mut sq, mut n) = (0f64, 0f64, 0f64);
        for tile in tiles {
            for &v in tile.image(c) {
                sum += v as f64;
                sq += (v as f64) * (v as f64);
                n += 1.0;
            }
        }
        let m = sum / n.max(1.0);
        mean[c] = m as f32;
        std[c] = ((sq / n.max(1.0) - m * m).max(1.0)).sqrt() as f32;
    }
    Normalisation { mean, std }
}

/// The tile's 16 images normalised, planar `[16][H][W]`.
pub fn normalise_tile(tile: &Tile, norm: &Normalisation) -> Vec<f32> {
    let plane = tile.height * tile.width;
    tile.images
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = i / plane.max(1);
            (v as f32 - norm.mean[c]) / norm.std[c]
        })
        .collect()
}

/// The robust statistics of each of the tile's 16 images.
pub fn tile_stats(tile: &Tile) -> Vec<ImageStats> {
    match InputImage::planar(
        Pixels::U16(&tile.images),
        IMAGE_COUNT,
        tile.height,
        tile.width,
    ) {
        Ok(image) => image_stats::measure_all(&image),
        // Only an empty tile fails to make a view; it has no pixels to scale.
        Err(_) => vec![
            ImageStats {
                background: 0.0,
                noise: 1.0,
            };
            IMAGE_COUNT
        ],
    }
}

/// The tile's 16 images through the per-image input stage, planar `[16][H][W]`.
pub fn normalise_tile_per_image(tile: &Tile) -> Vec<f32> {
    let plane = (tile.height * tile.width).max(1);
    let stats = tile_stats(tile);
    tile.images
        .iter()
        .enumerate()
        .map(|(i, &v)| input_stage::normalise(v as f32, stats[i / plane]))
        .collect()
}

/// The network input of `tile` for a model with `stage` (and, for a fixed
/// stage, `norm`), planar `[16][H][W]`.
pub fn network_input(tile: &Tile, stage: InputStage, norm: &Normalisation) -> Vec<f32> {
    match stage {
        InputStage::Fixed => normalise_tile(tile, norm),
        InputStage::PerImage => normalise_tile_per_image(tile),
    }
}

/// The normalisation a per-image model stores for its (unused) fixed stage:
/// the identity, so a tool that ignores the stage at least sees raw counts.
pub fn identity_normalisation() -> Normalisation {
    Normalisation::uniform(IMAGE_COUNT, 0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_images_get_unit_std_floor() {
        let tile = Tile {
            height: 2,
            width: 2,
            images: (0..IMAGE_COUNT * 4).map(|i| (i / 4) as u16 * 10).collect(),
            truth: vec![],
        };
        let norm = measure_normalisation(std::slice::from_ref(&tile));
        assert_eq!(norm.mean[3], 30.0);
        assert_eq!(norm.std[3], 1.0);
        assert!(normalise_tile(&tile, &norm).iter().all(|&v| v == 0.0));
    }

    #[test]
    fn per_image_input_does_not_see_the_camera() {
        use crate::sim::{preset, Codebook, Simulator, Split};
        let base = preset("seed").unwrap();
        let record = |gain: f64, offset: f64| {
            let mut config = base.clone();
            config.camera.gain = gain;
            config.camera.offset = offset;
            config.camera.read_noise = 2.0 * gain;
            let sim = Simulator::new(config, Codebook::mhd4(130), 4).unwrap();
            normalise_tile_per_image(&sim.tile(Split::Test, 0))
        };
        let reference = record(1.0, 100.0);
        for (gain, offset) in [(4.0, 1000.0), (8.0, 0.0)] {
            let other = record(gain, offset);
            let worst = reference
                .iter()
                .zip(&other)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            // The same photons: only the rounding of counts differs.
            assert!(worst < 0.5, "gain {gain}: {worst}");
        }
    }
}
