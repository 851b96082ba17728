//! The named presets: four for training and development (`seed`, `easy`,
//! `hard`, `fov`), the domain-randomised training preset (`wide-domain`),
//! and the held-out generalisation benchmark (`heldout-*`).
//!
//! **Held-out presets are for evaluation only.** They are never trained on
//! and never used to choose hyperparameters or thresholds: `robofish train`
//! and `quantise` refuse them ([`is_held_out`]). Each has a fixed seed
//! ([`HELD_OUT`]), so every evaluation sees the same tiles. Their parameters
//! lie inside the `wide-domain` ranges (generalisation is judged inside the
//! physics the model was built for), but each combines them as no training
//! tile is made to: together they span median peak SNR ~3 to ~20, density
//! 0.008 to 0.045 emitters/px², PSF sigma 1.0 to 2.0 px, cameras from 8-bit
//! to 12-bit with offsets up to 900 ADU and gains 0.4 to 6 ADU/e-, and the
//! artefacts (blobs, hot pixels, fixed-pattern offsets, shifts).
use robofish_shared::codebook::BitOrder;

use super::config::{Artefacts, Camera, SimConfig};
use super::domain::DomainRanges;

/// Names accepted by [`preset`]: training and development presets first,
/// then the held-out ones.
pub const PRESET_NAMES: [&str; 13] = [
    "seed",
    "easy",
    "hard",
    "fov",
    "wide-domain",
    "heldout-dim",
    "heldout-bright",
    "heldout-dense",
    "heldout-widepsf",
    "heldout-camera",
    "heldout-8bit",
    "heldout-artefacts",
    "heldout-large",
];

/// The held-out presets and the seed each is always simulated with.
pub const HELD_OUT: [(&str, u64); 8] = [
    ("heldout-dim", 9001),
    ("heldout-bright", 9002),
    ("heldout-dense", 9003),
    ("heldout-widepsf", 9004),
    ("heldout-camera", 9005),
    ("heldout-8bit", 9006),
    ("heldout-artefacts", 9007),
    ("heldout-large", 9008),
];

/// Whether `name` is a held-out preset (evaluation only).
pub fn is_held_out(name: &str) -> bool {
    HELD_OUT.iter().any(|(held_out, _)| *held_out == name)
}

/// The fixed seed of a held-out preset.
pub fn held_out_seed(name: &str) -> Option<u64> {
    HELD_OUT
        .iter()
        .find(|(held_out, _)| *held_out == name)
        .map(|&(_, seed)| seed)
}

/// The `seed` preset: resembles the original's Data/50. 40 x 40 tiles with
/// exactly 50 emitters (the folder name and its config's `emitter_count`;
/// 50 in 1600 pixels, and each image shows only the ~12 emitters whose bit
/// is on, so spots are sparse per image). ~1500 photons per spot-bit over
/// ~20 background photons/pixel gives a peak of ~140 photons (SNR ~10, see
/// `stats`): clearly visible but with dim emitters near the noise, as the
/// original's 0.92 position recall suggests. Gain 1 ADU/photon makes the
/// signal span ~0-300 ADU, the dynamic range of 8-bit data.
fn seed() -> SimConfig {
    SimConfig {
        preset: "seed".into(),
        height: 40,
        width: 40,
        density: 50.0 / 1600.0,
        fixed_count: true,
        real_genes: 130,
        gene_frequency_sigma: 1.0,
        psf_sigma: [1.2, 1.35],
        spot_photons: 1500.0,
        colour_brightness: [1.0, 0.8],
        emitter_brightness_sigma: 0.35,
        round_brightness_sigma: 0.2,
        background: [20.0, 15.0],
        background_gradient: 0.3,
        bit_dropout: 0.02,
        spurious_rate: 0.02,
        spurious_fraction: 0.25,
        registration_sigma: 0.3,
        chromatic_shift: [0.0, 0.0],
        bit_order: BitOrder::Blocked,
        camera: Camera {
            bits: 16,
            gain: 1.0,
            offset: 100.0,
            read_noise: 2.0,
            offset_sigma: 0.0,
            read_noise_spread: 0.0,
            hot_pixel_rate: 0.0,
            hot_pixel_counts: 0.0,
        },
        artefacts: Artefacts::default(),
        domain: None,
    }
}

/// The seed to simulate `preset` with, given the one asked for (default 1):
/// a held-out preset always takes its own, and asking for another is an
/// error.
pub fn simulation_seed(preset: &str, asked: Option<u64>) -> Result<u64, String> {
    match (held_out_seed(preset), asked) {
        (Some(fixed), Some(asked)) if asked != fixed => Err(format!(
            "held-out preset `{preset}` is always simulated with seed {fixed} (asked: {asked})"
        )),
        (Some(fixed), _) => Ok(fixed),
        (None, asked) => Ok(asked.unwrap_or(1)),
    }
}

/// The named presets:
///
/// - `seed`: see [`seed`].
/// - `easy`: sparse (20 per 40 x 40), bright, no dropout or shifts.
/// - `hard`: dense (~96 per 40 x 40), dim, noisy, dropout, spurious
///   spots and larger shifts.
/// - `fov`: a 2048 x 2048 field of view with `seed`'s optics at a typical
///   cell-covered density (~42 000 emitters).
/// - `wide-domain`: the training preset; every tile draws its physics from
///   [`DomainRanges::wide`].
/// - `heldout-*`: the held-out benchmark (module docs); median peak SNR
///   and density as measured by `robofish simulate --stats` are in each
///   entry's comment.
pub fn preset(name: &str) -> Option<SimConfig> {
    let seed = seed();
    let held_out = |name: &str, density: f64| SimConfig {
        preset: name.into(),
        density,
        fixed_count: false,
        ..seed.clone()
    };
    let config = match name {
        "seed" => seed,
        "easy" => SimConfig {
            preset: "easy".into(),
            density: 20.0 / 1600.0,
            fixed_count: false,
            psf_sigma: [1.0, 1.1],
            spot_photons: 3000.0,
            emitter_brightness_sigma: 0.2,
            round_brightness_sigma: 0.1,
            background: [10.0, 8.0],
            bit_dropout: 0.0,
            spurious_rate: 0.0,
            registration_sigma: 0.0,
            ..seed
        },
        "hard" => SimConfig {
            preset: "hard".into(),
            density: 0.06,
            fixed_count: false,
            spot_photons: 600.0,
            emitter_brightness_sigma: 0.5,
            round_brightness_sigma: 0.3,
            background: [40.0, 30.0],
            background_gradient: 0.5,
            bit_dropout: 0.05,
            spurious_rate: 0.05,
            spurious_fraction: 0.3,
            registration_sigma: 0.5,
            camera: Camera {
                read_noise: 4.0,
                ..seed.camera.clone()
            },
            ..seed
        },
        "fov" => SimConfig {
            preset: "fov".into(),
            height: 2048,
            width: 2048,
            density: 0.01,
            fixed_count: false,
            ..seed
        },
        "wide-domain" => SimConfig {
            preset: "wide-domain".into(),
            fixed_count: false,
            domain: Some(DomainRanges::wide()),
            ..seed
        },
        // Dim: spots barely above a bright, noisy background.
        "heldout-dim" => SimConfig {
            spot_photons: 450.0,
            background: [70.0, 55.0],
            psf_sigma: [1.3, 1.45],
            background_gradient: 0.4,
            bit_dropout: 0.03,
            camera: Camera {
                offset: 200.0,
                gain: 1.5,
                read_noise: 3.0,
                ..seed.camera.clone()
            },
            ..held_out("heldout-dim", 0.01)
        },
        // Bright and sparse, with a sharp PSF and a low-gain camera.
        "heldout-bright" => SimConfig {
            spot_photons: 3200.0,
            background: [5.0, 4.0],
            psf_sigma: [1.0, 1.1],
            emitter_brightness_sigma: 0.25,
            registration_sigma: 0.2,
            camera: Camera {
                offset: 50.0,
                gain: 0.7,
                read_noise: 1.5,
                ..seed.camera.clone()
            },
            ..held_out("heldout-bright", 0.008)
        },
        // Crowded: overlapping spots in every image.
        "heldout-dense" => SimConfig {
            spot_photons: 1800.0,
            background: [20.0, 15.0],
            camera: Camera {
                offset: 400.0,
                gain: 2.5,
                read_noise: 4.0,
                ..seed.camera.clone()
            },
            ..held_out("heldout-dense", 0.045)
        },
        // A wide PSF (thick sample, lower NA): few photons per pixel.
        "heldout-widepsf" => SimConfig {
            spot_photons: 2600.0,
            background: [12.0, 10.0],
            psf_sigma: [1.8, 2.0],
            registration_sigma: 0.35,
            camera: Camera {
                offset: 100.0,
                gain: 1.2,
                read_noise: 2.0,
                ..seed.camera.clone()
            },
            ..held_out("heldout-widepsf", 0.012)
        },
        // A 12-bit sCMOS with a high offset and gain, per-pixel offsets,
        // uneven read noise and hot pixels.
        "heldout-camera" => SimConfig {
            spot_photons: 1400.0,
            background: [18.0, 14.0],
            camera: Camera {
                bits: 12,
                offset: 900.0,
                gain: 6.0,
                read_noise: 9.0,
                offset_sigma: 6.0,
                read_noise_spread: 0.4,
                hot_pixel_rate: 1e-3,
                hot_pixel_counts: 800.0,
            },
            ..held_out("heldout-camera", 0.015)
        },
        // An 8-bit recording: low gain, small offset, coarse counts.
        "heldout-8bit" => SimConfig {
            spot_photons: 1800.0,
            background: [25.0, 20.0],
            camera: Camera {
                bits: 8,
                offset: 6.0,
                gain: 0.4,
                read_noise: 0.8,
                ..seed.camera.clone()
            },
            ..held_out("heldout-8bit", 0.015)
        },
        // Autofluorescent blobs, hot pixels, large shifts and a chromatic
        // offset between the colours.
        "heldout-artefacts" => SimConfig {
            spot_photons: 1500.0,
            background: [20.0, 16.0],
            registration_sigma: 0.55,
            chromatic_shift: [0.6, -0.5],
            bit_dropout: 0.04,
            spurious_rate: 0.04,
            camera: Camera {
                offset: 300.0,
                gain: 2.0,
                read_noise: 3.0,
                hot_pixel_rate: 2e-3,
                hot_pixel_counts: 400.0,
                ..seed.camera.clone()
            },
            artefacts: Artefacts {
                blobs_per_1600_px: 1.5,
                blob_sigma: [3.0, 25.0],
                blob_brightness: [0.5, 4.0],
                blob_round_retention: 0.93,
            },
            ..held_out("heldout-artefacts", 0.015)
        },
        // 256 x 256 tiles: image statistics over a large field with a strong
        // gradient and blobs, as a FOV has.
        "heldout-large" => SimConfig {
            height: 256,
            width: 256,
            spot_photons: 1300.0,
            background: [25.0, 20.0],
            background_gradient: 1.0,
            psf_sigma: [1.4, 1.55],
            camera: Camera {
                offset: 300.0,
                gain: 3.0,
                read_noise: 5.0,
                offset_sigma: 2.0,
                ..seed.camera.clone()
            },
            artefacts: Artefacts {
                blobs_per_1600_px: 0.4,
                blob_sigma: [4.0, 40.0],
                blob_brightness: [0.3, 2.0],
                blob_round_retention: 0.95,
            },
            ..held_out("heldout-large", 0.02)
        },
        _ => return None,
    };
    Some(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_is_valid() {
        for name in PRESET_NAMES {
            let config = preset(name).unwrap();
            assert_eq!(config.preset, name);
            config.validate().unwrap();
        }
        assert!(preset("nope").is_none());
    }

    #[test]
    fn seed_preset_has_fifty_emitters_on_forty_pixels() {
        let seed = preset("seed").unwrap();
        assert_eq!((seed.height, seed.width), (40, 40));
        assert_eq!(seed.mean_emitters(), 50.0);
    }

    #[test]
    fn held_out_presets_are_named_seeded_and_distinct() {
        let names: Vec<&str> = PRESET_NAMES
            .iter()
            .copied()
            .filter(|n| n.starts_with("heldout-"))
            .collect();
        assert_eq!(names.len(), HELD_OUT.len());
        for name in names {
            assert!(is_held_out(name));
            let seed = held_out_seed(name).unwrap();
            assert_eq!(simulation_seed(name, None), Ok(seed));
            assert_eq!(simulation_seed(name, Some(seed)), Ok(seed));
            assert!(simulation_seed(name, Some(seed + 1)).is_err());
            assert!(preset(name).unwrap().domain.is_none());
        }
        for name in ["seed", "easy", "hard", "fov", "wide-domain"] {
            assert!(!is_held_out(name));
            assert_eq!(simulation_seed(name, None), Ok(1));
            assert_eq!(simulation_seed(name, Some(7)), Ok(7));
        }
    }

    #[test]
    fn held_out_presets_lie_inside_the_training_ranges() {
        let ranges = DomainRanges::wide();
        for (name, _) in HELD_OUT {
            let config = preset(name).unwrap();
            if let Err(why) = ranges.covers(&config) {
                panic!("{name}: {why}");
            }
        }
    }
}
