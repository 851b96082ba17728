//! What a real acquisition holds besides spots and a smooth background:
//! autofluorescent blobs in the sample, and a camera's fixed pattern
//! (per-pixel offsets, uneven read noise, hot pixels).
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, LogNormal, Normal, Poisson};

use super::config::{Artefacts, Camera};
use super::psf;

/// One autofluorescent blob: a broad Gaussian glow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Blob {
    /// Centre row, pixels.
    pub y: f64,
    /// Centre column, pixels.
    pub x: f64,
    /// Gaussian sigma, pixels.
    pub sigma: f64,
    /// Peak brightness relative to the image background, per colour.
    pub brightness: [f64; 2],
}

/// The blobs of one tile. Centres may lie up to two sigmas outside the
/// tile, so tiles also see the edges of blobs centred elsewhere.
pub fn draw_blobs(
    artefacts: &Artefacts,
    height: usize,
    width: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<Blob> {
    let mean = artefacts.blobs_per_1600_px * (height * width) as f64 / 1600.0;
    if mean <= 0.0 {
        return Vec::new();
    }
    let count = Poisson::new(mean).map_or(0, |p| p.sample(rng) as usize);
    let log_uniform = |rng: &mut ChaCha8Rng, [lo, hi]: [f64; 2]| {
        if hi > lo && lo > 0.0 {
            rng.random_range(lo.ln()..=hi.ln()).exp()
        } else {
            lo
        }
    };
    (0..count)
        .map(|_| {
            let sigma = log_uniform(rng, artefacts.blob_sigma);
            let margin = 2.0 * sigma;
            Blob {
                y: rng.random_range(-margin..=height as f64 + margin),
                x: rng.random_range(-margin..=width as f64 + margin),
                sigma,
                brightness: [
                    log_uniform(rng, artefacts.blob_brightness),
                    log_uniform(rng, artefacts.blob_brightness),
                ],
            }
        })
        .collect()
}

/// Adds the blobs' glow in `colour`, round `round` (0-based), to an image of
/// expected photons whose background level is `level` photons per pixel.
#[allow(clippy::too_many_arguments)]
pub fn add_blobs(
    expected: &mut [f64],
    height: usize,
    width: usize,
    blobs: &[Blob],
    colour: usize,
    round: usize,
    level: f64,
    retention: f64,
) {
    let bleach = retention.powi(round as i32);
    for blob in blobs {
        let peak = blob.brightness[colour] * level * bleach;
        let total = peak * std::f64::consts::TAU * blob.sigma * blob.sigma;
        psf::add_spot(expected, height, width, blob.y, blob.x, blob.sigma, total);
    }
}

/// A camera's fixed pattern over one tile's pixels: the same in every image.
#[derive(Debug, Clone, PartialEq)]
pub struct FixedPattern {
    /// Per-pixel offset in ADU (the camera's offset plus the pixel's own
    /// deviation, plus a hot pixel's dark signal).
    pub offset: Vec<f64>,
    /// Per-pixel read noise sd in ADU.
    pub read_noise: Vec<f64>,
}

/// The fixed pattern of `pixels` pixels, or `None` for an ideal camera
/// (then [`super::noise::expose`] takes its uniform path, unchanged from
/// before fixed patterns existed).
pub fn draw_fixed_pattern(
    camera: &Camera,
    pixels: usize,
    rng: &mut ChaCha8Rng,
) -> Option<FixedPattern> {
    if camera.offset_sigma <= 0.0 && camera.read_noise_spread <= 0.0 && camera.hot_pixel_rate <= 0.0
    {
        return None;
    }
    let deviation = Normal::new(0.0, camera.offset_sigma).ok();
    let spread = camera.read_noise_spread;
    let noise_factor = LogNormal::new(-spread * spread / 2.0, spread).ok();
    let hot = Exp::new(1.0 / camera.hot_pixel_counts.max(1e-9)).ok();
    let mut offset = Vec::with_capacity(pixels);
    let mut read_noise = Vec::with_capacity(pixels);
    for _ in 0..pixels {
        let mut pixel_offset = camera.offset + deviation.map_or(0.0, |d| d.sample(rng));
        let chance: f64 = rng.random();
        if chance < camera.hot_pixel_rate {
            pixel_offset += hot.map_or(0.0, |h| h.sample(rng));
        }
        offset.push(pixel_offset);
        read_noise.push(camera.read_noise * noise_factor.map_or(1.0, |f| f.sample(rng)));
    }
    Some(FixedPattern { offset, read_noise })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn camera() -> Camera {
        Camera {
            bits: 16,
            gain: 2.0,
            offset: 100.0,
            read_noise: 3.0,
            offset_sigma: 0.0,
            read_noise_spread: 0.0,
            hot_pixel_rate: 0.0,
            hot_pixel_counts: 0.0,
        }
    }

    #[test]
    fn an_ideal_camera_has_no_pattern() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert!(draw_fixed_pattern(&camera(), 100, &mut rng).is_none());
    }

    #[test]
    fn hot_pixels_appear_at_their_rate() {
        let camera = Camera {
            hot_pixel_rate: 0.01,
            hot_pixel_counts: 500.0,
            ..camera()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let pattern = draw_fixed_pattern(&camera, 100_000, &mut rng).unwrap();
        let hot = pattern.offset.iter().filter(|&&o| o > 110.0).count();
        assert!((800..1200).contains(&hot), "{hot}");
        assert!(pattern.read_noise.iter().all(|&r| r == 3.0));
    }

    #[test]
    fn blobs_glow_and_bleach() {
        let artefacts = Artefacts {
            blobs_per_1600_px: 2.0,
            blob_sigma: [5.0, 5.0],
            blob_brightness: [1.0, 1.0],
            blob_round_retention: 0.5,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let blobs = draw_blobs(&artefacts, 80, 80, &mut rng);
        assert!(!blobs.is_empty());
        let render = |round| {
            let mut image = vec![0.0; 80 * 80];
            add_blobs(&mut image, 80, 80, &blobs, 0, round, 10.0, 0.5);
            image.iter().sum::<f64>()
        };
        let (first, second) = (render(0), render(1));
        assert!(first > 0.0);
        assert!((second / first - 0.5).abs() < 1e-9);
    }
}
