//! Input normalisation: measured once on the training tiles, stored with
//! every checkpoint and model file, applied as `(raw - mean[c]) / std[c]` to
//! raw camera counts by every engine (tch, tract, the float reference and
//! the int8 engine).

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
}
