//! Camera noise: photon shot noise, gain, offset, read noise, quantisation.
use super::config::Camera;
use rand::Rng;
use rand_distr::{Distribution, Normal, Poisson, StandardNormal};

use super::artefacts::FixedPattern;

/// Turns an image of expected photo-electrons per pixel into camera counts:
/// `round(gain * Poisson(expected) + offset + Normal(0, read_noise))`,
/// clipped to `0..=2^bits - 1`. With a fixed `pattern`, each pixel has its
/// own offset and read noise.
pub fn expose(
    expected_photons: &[f64],
    camera: &Camera,
    pattern: Option<&FixedPattern>,
    rng: &mut impl Rng,
) -> Vec<u16> {
    let max_value = camera.max_value();
    let to_counts = |adu: f64| adu.round().clamp(0.0, max_value) as u16;
    match pattern {
        None => {
            let read_noise = Normal::new(0.0, camera.read_noise.max(0.0)).ok();
            expected_photons
                .iter()
                .map(|&mean| {
                    let photons = sample_poisson(mean, rng);
                    let noise = read_noise.map_or(0.0, |normal| normal.sample(rng));
                    to_counts(camera.gain * photons + camera.offset + noise)
                })
                .collect()
        }
        Some(pattern) => expected_photons
            .iter()
            .zip(pattern.offset.iter().zip(&pattern.read_noise))
            .map(|(&mean, (&offset, &read_noise))| {
                let photons = sample_poisson(mean, rng);
                let noise: f64 = StandardNormal.sample(rng);
                to_counts(camera.gain * photons + offset + read_noise * noise)
            })
            .collect(),
    }
}

/// One Poisson draw; zero (or a non-finite mean) gives zero photons, where
/// `Poisson::new` would refuse.
fn sample_poisson(mean: f64, rng: &mut impl Rng) -> f64 {
    match Poisson::new(mean) {
        Ok(poisson) if mean > 0.0 => poisson.sample(rng),
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn mean_and_variance_follow_the_camera_model() {
        let camera = Camera {
            bits: 16,
            gain: 2.0,
            offset: 100.0,
            read_noise: 3.0,
            ..Camera::ideal()
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let counts = expose(&vec![50.0; 200_000], &camera, None, &mut rng);
        let n = counts.len() as f64;
        let mean = counts.iter().map(|&v| v as f64).sum::<f64>() / n;
        let variance = counts
            .iter()
            .map(|&v| (v as f64 - mean).powi(2))
            .sum::<f64>()
            / n;
        assert!((mean - 200.0).abs() < 0.2, "mean {mean}");
        // gain^2 * photons + read^2 + rounding (1/12).
        let expected_variance = 4.0 * 50.0 + 9.0 + 1.0 / 12.0;
        assert!(
            (variance / expected_variance - 1.0).abs() < 0.02,
            "variance {variance}"
        );
    }

    #[test]
    fn eight_bit_output_clips_at_255() {
        let camera = Camera {
            bits: 8,
            gain: 1.0,
            offset: 10.0,
            read_noise: 0.0,
            ..Camera::ideal()
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let counts = expose(&[0.0, 1e6], &camera, None, &mut rng);
        assert_eq!(counts, [10, 255]);
    }
}
