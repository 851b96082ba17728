//! Domain randomisation: every training tile draws its own microscope.
//!
//! A network trained on one preset learns that preset's camera, optics and
//! sample, and fails on the next lab's. [`DomainRanges`] instead gives a range
//! for every physical parameter, wide enough to cover the MERFISH set-ups in
//! use (sCMOS and EMCCD cameras, 8- to 16-bit exports, 60x to 100x oil
//! objectives, tissue and cultured cells), and each tile draws one value of
//! each from its own random stream. The reasoning for each range is on its
//! field. Scale parameters (photons, background, gain, density, sizes) are
//! drawn log-uniformly, so a decade at the low end is sampled as often as a
//! decade at the high end.
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::config::{check, check_range, Artefacts, Camera, ConfigError, SimConfig};

/// A closed range `[low, high]`.
pub type Range = [f64; 2];

/// The ranges every physical parameter is drawn from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainRanges {
    /// Emitters per pixel (log-uniform). 0.002 is a sparse cell line; 0.06 is
    /// the crowding limit of diffraction-limited MERFISH (one emitter per
    /// ~17 px², about one lit spot per 70 px² in each image).
    pub density: Range,
    /// Mean photons of one on-bit spot (log-uniform): 150 for dim probes on
    /// a fast exposure to 5000 for bright probes with long exposures.
    pub spot_photons: Range,
    /// Accepted median peak-pixel SNR (`stats`'s definition, predicted from
    /// the drawn photons, PSF and background): draws outside are redrawn, so
    /// that tiles are neither invisible (< 2: nothing to learn) nor trivial.
    pub peak_snr: Range,
    /// Background photons per pixel in 647 nm (log-uniform): 5 for a clean
    /// coverslip, 200 for thick autofluorescent tissue.
    pub background: Range,
    /// 750 nm background relative to 647 nm.
    pub background_ratio_750: Range,
    /// Peak-to-peak relative amplitude of the linear background gradient
    /// (uneven illumination: flat-field errors reach +-50 %).
    pub background_gradient: Range,
    /// 647 nm PSF sigma in pixels: 0.8 for a 100x/1.4 objective with 108 nm
    /// pixels, 2.0 for a defocused or low-NA set-up.
    pub psf_sigma: Range,
    /// 750 nm PSF sigma relative to 647 nm (longer wavelength, wider spot;
    /// the result is capped at the top of `psf_sigma`).
    pub psf_ratio_750: Range,
    /// 750 nm spot brightness relative to 647 nm (dimmer dyes, lower QE).
    pub colour_brightness_750: Range,
    /// Log-normal sigma of per-emitter brightness (probe count per RNA).
    pub emitter_brightness_sigma: Range,
    /// Log-normal sigma of per-round brightness (hybridisation efficiency).
    pub round_brightness_sigma: Range,
    /// Probability that an on-bit shows no signal (failed hybridisation):
    /// 0-10 %, the range MERFISH papers report.
    pub bit_dropout: Range,
    /// Probability that an off-bit shows a spurious spot (off-target
    /// binding, incomplete stripping).
    pub spurious_rate: Range,
    /// Brightness of a spurious spot relative to a real on-bit.
    pub spurious_fraction: Range,
    /// Per-round registration shift sd in pixels (residual after fiducial
    /// registration: 0 to 0.6 px).
    pub registration_sigma: Range,
    /// Each component of the 750-vs-647 nm chromatic shift, pixels.
    pub chromatic_shift: Range,
    /// Relative odds of 8-, 12- and 16-bit output.
    pub bit_depth_odds: [f64; 3],
    /// Camera gain, ADU per photo-electron (log-uniform): 0.25 for a
    /// high-full-well sCMOS mode to 8 for an EMCCD with gain. For 8- and
    /// 12-bit output the gain is lowered further when needed so that the
    /// background plus a typical spot stays below 80 % of full scale, as an
    /// operator sets it.
    pub gain: Range,
    /// Dark offset in ADU for 16-bit output (0 to 1000: cameras ship with
    /// 100-500; some exports add more).
    pub offset_16bit: Range,
    /// Dark offset in ADU for 12-bit output.
    pub offset_12bit: Range,
    /// Dark offset in ADU for 8-bit output.
    pub offset_8bit: Range,
    /// Read noise in photo-electrons (sCMOS 1-2 e-, older CCDs 4 e-).
    pub read_noise_electrons: Range,
    /// Per-pixel offset sd in ADU (sCMOS fixed pattern).
    pub offset_sigma: Range,
    /// Log-normal sigma of the per-pixel read noise.
    pub read_noise_spread: Range,
    /// Chance that a tile's sensor region has hot pixels at all.
    pub hot_pixel_chance: f64,
    /// Hot-pixel fraction when it has (log-uniform).
    pub hot_pixel_rate: Range,
    /// Mean extra counts of a hot pixel, in units of the background's
    /// noise (log-uniform): from barely visible to saturated.
    pub hot_pixel_noise_units: Range,
    /// Chance that a tile has autofluorescent blobs at all.
    pub blob_chance: f64,
    /// Blob parameters when it has: mean blobs per 1600 px (log-uniform).
    pub blobs_per_1600_px: Range,
    /// Range of blob sigmas drawn per blob (log-uniform), pixels: a few
    /// pixels (granules) to tens (cell bodies).
    pub blob_sigma: Range,
    /// Range of blob peak brightness relative to the background.
    pub blob_brightness: Range,
    /// Blob brightness kept per round.
    pub blob_round_retention: Range,
}

impl DomainRanges {
    /// The `wide-domain` ranges (the reasoning is on each field).
    pub fn wide() -> DomainRanges {
        DomainRanges {
            density: [0.002, 0.06],
            spot_photons: [150.0, 5000.0],
            peak_snr: [2.0, 60.0],
            background: [5.0, 200.0],
            background_ratio_750: [0.5, 1.2],
            background_gradient: [0.0, 1.0],
            psf_sigma: [0.8, 2.0],
            psf_ratio_750: [1.0, 1.2],
            colour_brightness_750: [0.5, 1.1],
            emitter_brightness_sigma: [0.15, 0.6],
            round_brightness_sigma: [0.05, 0.35],
            bit_dropout: [0.0, 0.1],
            spurious_rate: [0.0, 0.06],
            spurious_fraction: [0.1, 0.4],
            registration_sigma: [0.0, 0.6],
            chromatic_shift: [-0.8, 0.8],
            bit_depth_odds: [0.2, 0.3, 0.5],
            gain: [0.25, 8.0],
            offset_16bit: [0.0, 1000.0],
            offset_12bit: [0.0, 1000.0],
            offset_8bit: [0.0, 20.0],
            read_noise_electrons: [0.5, 4.0],
            offset_sigma: [0.0, 8.0],
            read_noise_spread: [0.0, 0.5],
            hot_pixel_chance: 0.5,
            hot_pixel_rate: [1e-4, 3e-3],
            hot_pixel_noise_units: [3.0, 300.0],
            blob_chance: 0.5,
            blobs_per_1600_px: [0.2, 3.0],
            blob_sigma: [2.0, 40.0],
            blob_brightness: [0.2, 5.0],
            blob_round_retention: [0.85, 1.0],
        }
    }

    /// Checks that every range is ordered and physical.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = f64::MIN_POSITIVE;
        let ranges: [(&'static str, Range, f64, f64); 27] = [
            ("domain.density", self.density, positive, 1.0),
            ("domain.spot_photons", self.spot_photons, positive, 1e7),
            ("domain.peak_snr", self.peak_snr, 0.0, 1e6),
            ("domain.background", self.background, positive, 1e6),
            (
                "domain.background_ratio_750",
                self.background_ratio_750,
                0.0,
                100.0,
            ),
            (
                "domain.background_gradient",
                self.background_gradient,
                0.0,
                2.0,
            ),
            ("domain.psf_sigma", self.psf_sigma, 0.3, 10.0),
            ("domain.psf_ratio_750", self.psf_ratio_750, 0.1, 10.0),
            (
                "domain.colour_brightness_750",
                self.colour_brightness_750,
                0.0,
                100.0,
            ),
            (
                "domain.emitter_brightness_sigma",
                self.emitter_brightness_sigma,
                0.0,
                3.0,
            ),
            (
                "domain.round_brightness_sigma",
                self.round_brightness_sigma,
                0.0,
                3.0,
            ),
            ("domain.bit_dropout", self.bit_dropout, 0.0, 1.0),
            ("domain.spurious_rate", self.spurious_rate, 0.0, 1.0),
            (
                "domain.spurious_fraction",
                self.spurious_fraction,
                0.0,
                100.0,
            ),
            (
                "domain.registration_sigma",
                self.registration_sigma,
                0.0,
                5.0,
            ),
            ("domain.chromatic_shift", self.chromatic_shift, -5.0, 5.0),
            ("domain.gain", self.gain, positive, 1e4),
            ("domain.offset_16bit", self.offset_16bit, 0.0, 60000.0),
            ("domain.offset_12bit", self.offset_12bit, 0.0, 4000.0),
            ("domain.offset_8bit", self.offset_8bit, 0.0, 200.0),
            (
                "domain.read_noise_electrons",
                self.read_noise_electrons,
                0.0,
                1e3,
            ),
            ("domain.offset_sigma", self.offset_sigma, 0.0, 1e3),
            ("domain.read_noise_spread", self.read_noise_spread, 0.0, 3.0),
            ("domain.hot_pixel_rate", self.hot_pixel_rate, positive, 1.0),
            (
                "domain.hot_pixel_noise_units",
                self.hot_pixel_noise_units,
                positive,
                1e6,
            ),
            (
                "domain.blobs_per_1600_px",
                self.blobs_per_1600_px,
                positive,
                100.0,
            ),
            ("domain.blob_sigma", self.blob_sigma, 0.5, 500.0),
        ];
        for (name, range, min, max) in ranges {
            check_range(name, range, min, max, "an ordered range of valid values")?;
        }
        check_range(
            "domain.blob_brightness",
            self.blob_brightness,
            0.0,
            1000.0,
            "an ordered range within 0 to 1000",
        )?;
        check_range(
            "domain.blob_round_retention",
            self.blob_round_retention,
            0.0,
            1.0,
            "an ordered range within 0 to 1",
        )?;
        for chance in [self.hot_pixel_chance, self.blob_chance] {
            check(
                "domain chance",
                chance,
                (0.0..=1.0).contains(&chance),
                "a probability",
            )?;
        }
        let odds = self.bit_depth_odds;
        check(
            "domain.bit_depth_odds",
            odds.iter().sum(),
            odds.iter().all(|&o| o >= 0.0) && odds.iter().sum::<f64>() > 0.0,
            "non-negative odds, not all zero",
        )
    }

    /// One tile's configuration: `base` with every physical parameter drawn
    /// from these ranges. Deterministic in `rng`.
    pub fn draw(&self, base: &SimConfig, rng: &mut ChaCha8Rng) -> SimConfig {
        let psf_647 = uniform(rng, self.psf_sigma);
        let psf_750 = (psf_647 * uniform(rng, self.psf_ratio_750)).min(self.psf_sigma[1]);
        let background_647 = log_uniform(rng, self.background);
        let background = [
            background_647,
            background_647 * uniform(rng, self.background_ratio_750),
        ];
        let bits = [8u8, 12, 16][weighted_index(rng, &self.bit_depth_odds)];
        let read_noise_electrons = uniform(rng, self.read_noise_electrons);
        // Photons: redraw until the predicted median SNR is in range (at
        // most 32 tries; the last draw stands).
        let mut spot_photons = log_uniform(rng, self.spot_photons);
        for _ in 0..32 {
            let snr =
                predicted_peak_snr(spot_photons, psf_647, background_647, read_noise_electrons);
            if (self.peak_snr[0]..=self.peak_snr[1]).contains(&snr) {
                break;
            }
            spot_photons = log_uniform(rng, self.spot_photons);
        }
        let peak = spot_photons * centre_fraction(psf_647);
        let (gain, offset) = self.draw_gain_offset(rng, bits, background_647 + peak);
        let noise_adu = gain * (background_647 + read_noise_electrons.powi(2)).sqrt();
        let hot_pixel_rate = if rng.random::<f64>() < self.hot_pixel_chance {
            log_uniform(rng, self.hot_pixel_rate)
        } else {
            0.0
        };
        let camera = Camera {
            bits,
            gain,
            offset,
            read_noise: gain * read_noise_electrons,
            offset_sigma: uniform(rng, self.offset_sigma).min(4.0 * noise_adu + 1.0),
            read_noise_spread: uniform(rng, self.read_noise_spread),
            hot_pixel_rate,
            hot_pixel_counts: noise_adu * log_uniform(rng, self.hot_pixel_noise_units),
        };
        let artefacts = if rng.random::<f64>() < self.blob_chance {
            Artefacts {
                blobs_per_1600_px: log_uniform(rng, self.blobs_per_1600_px),
                blob_sigma: self.blob_sigma,
                blob_brightness: self.blob_brightness,
                blob_round_retention: uniform(rng, self.blob_round_retention),
            }
        } else {
            Artefacts::default()
        };
        SimConfig {
            preset: base.preset.clone(),
            height: base.height,
            width: base.width,
            density: log_uniform(rng, self.density),
            fixed_count: false,
            real_genes: base.real_genes,
            gene_frequency_sigma: base.gene_frequency_sigma,
            psf_sigma: [psf_647, psf_750],
            spot_photons,
            colour_brightness: [1.0, uniform(rng, self.colour_brightness_750)],
            emitter_brightness_sigma: uniform(rng, self.emitter_brightness_sigma),
            round_brightness_sigma: uniform(rng, self.round_brightness_sigma),
            background,
            background_gradient: uniform(rng, self.background_gradient),
            bit_dropout: uniform(rng, self.bit_dropout),
            spurious_rate: uniform(rng, self.spurious_rate),
            spurious_fraction: uniform(rng, self.spurious_fraction),
            registration_sigma: uniform(rng, self.registration_sigma),
            chromatic_shift: [
                uniform(rng, self.chromatic_shift),
                uniform(rng, self.chromatic_shift),
            ],
            bit_order: base.bit_order,
            camera,
            artefacts,
            domain: None,
        }
    }

    /// Gain and offset for `bits`-bit output of a scene whose typical
    /// bright pixel holds `bright_photons` photo-electrons.
    fn draw_gain_offset(&self, rng: &mut ChaCha8Rng, bits: u8, bright_photons: f64) -> (f64, f64) {
        let gain = log_uniform(rng, self.gain);
        let offset = match bits {
            8 => uniform(rng, self.offset_8bit),
            12 => uniform(rng, self.offset_12bit),
            _ => uniform(rng, self.offset_16bit),
        };
        let full_scale = ((1u32 << bits) - 1) as f64;
        let highest = 0.8 * (full_scale - offset) / bright_photons.max(1.0);
        let gain = if gain > highest {
            highest * uniform(rng, [0.5, 1.0])
        } else {
            gain
        };
        (gain, offset.round())
    }

    /// Whether a fixed configuration lies inside these ranges (the held-out
    /// presets must); `Err` names the first parameter outside.
    pub fn covers(&self, config: &SimConfig) -> Result<(), String> {
        let inside = |name: &str, value: f64, [lo, hi]: Range| {
            if (lo..=hi).contains(&value) {
                Ok(())
            } else {
                Err(format!("{name} = {value} is outside [{lo}, {hi}]"))
            }
        };
        inside("density", config.density, self.density)?;
        inside("spot_photons", config.spot_photons, self.spot_photons)?;
        inside("background", config.background[0], self.background)?;
        inside(
            "background 750/647",
            config.background[1] / config.background[0],
            self.background_ratio_750,
        )?;
        inside("psf_sigma 647", config.psf_sigma[0], self.psf_sigma)?;
        inside("psf_sigma 750", config.psf_sigma[1], self.psf_sigma)?;
        inside(
            "background_gradient",
            config.background_gradient,
            self.background_gradient,
        )?;
        inside("bit_dropout", config.bit_dropout, self.bit_dropout)?;
        inside("spurious_rate", config.spurious_rate, self.spurious_rate)?;
        inside(
            "registration_sigma",
            config.registration_sigma,
            self.registration_sigma,
        )?;
        for shift in config.chromatic_shift {
            inside("chromatic_shift", shift, self.chromatic_shift)?;
        }
        let camera = &config.camera;
        let offsets = match camera.bits {
            8 => self.offset_8bit,
            12 => self.offset_12bit,
            _ => self.offset_16bit,
        };
        inside("camera.offset", camera.offset, offsets)?;
        inside(
            "camera.read_noise (e-)",
            camera.read_noise / camera.gain,
            [0.0, self.read_noise_electrons[1]],
        )?;
        if camera.bits == 16 {
            inside("camera.gain", camera.gain, self.gain)?;
        } else {
            inside("camera.gain", camera.gain, [0.0, self.gain[1]])?;
        }
        inside(
            "camera.offset_sigma",
            camera.offset_sigma,
            self.offset_sigma,
        )?;
        if camera.hot_pixel_rate > 0.0 {
            inside(
                "camera.hot_pixel_rate",
                camera.hot_pixel_rate,
                self.hot_pixel_rate,
            )?;
        }
        let artefacts = &config.artefacts;
        if artefacts.blobs_per_1600_px > 0.0 {
            inside("blobs", artefacts.blobs_per_1600_px, self.blobs_per_1600_px)?;
            for sigma in artefacts.blob_sigma {
                inside("blob_sigma", sigma, self.blob_sigma)?;
            }
            for brightness in artefacts.blob_brightness {
                inside("blob_brightness", brightness, self.blob_brightness)?;
            }
        }
        Ok(())
    }
}

/// Fraction of a spot's photons in its brightest pixel, averaged over
/// sub-pixel positions (about 0.85 of the centred value).
fn centre_fraction(sigma: f64) -> f64 {
    let one_d = super::psf::pixel_fraction(0, 0.5, sigma);
    0.85 * one_d * one_d
}

/// The median peak-pixel SNR `stats` would measure, predicted from the
/// parameters: `peak / sqrt(peak + background + read^2)`, in photo-electrons.
pub fn predicted_peak_snr(photons: f64, sigma: f64, background: f64, read_noise: f64) -> f64 {
    let peak = photons * centre_fraction(sigma);
    peak / (peak + background + read_noise * read_noise)
        .max(1e-9)
        .sqrt()
}

fn uniform(rng: &mut ChaCha8Rng, [lo, hi]: Range) -> f64 {
    if hi > lo {
        rng.random_range(lo..=hi)
    } else {
        lo
    }
}

fn log_uniform(rng: &mut ChaCha8Rng, [lo, hi]: Range) -> f64 {
    if hi > lo && lo > 0.0 {
        rng.random_range(lo.ln()..=hi.ln()).exp()
    } else {
        lo
    }
}

fn weighted_index(rng: &mut ChaCha8Rng, odds: &[f64]) -> usize {
    let total: f64 = odds.iter().sum();
    let mut pick = rng.random::<f64>() * total;
    for (i, &o) in odds.iter().enumerate() {
        if pick < o {
            return i;
        }
        pick -= o;
    }
    odds.len() - 1
}

#[cfg(test)]
mod tests {
    use super::super::preset;
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn draws_are_valid_deterministic_and_inside_the_ranges() {
        let ranges = DomainRanges::wide();
        ranges.validate().unwrap();
        let base = preset("wide-domain").unwrap();
        let mut bits_seen = [false; 3];
        for seed in 0..300 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let config = ranges.draw(&base, &mut rng);
            config.validate().unwrap();
            assert!(config.domain.is_none());
            assert_eq!(
                config,
                ranges.draw(&base, &mut ChaCha8Rng::seed_from_u64(seed))
            );
            ranges.covers(&config).unwrap();
            let snr = predicted_peak_snr(
                config.spot_photons,
                config.psf_sigma[0],
                config.background[0],
                config.camera.read_noise / config.camera.gain,
            );
            assert!(snr.is_finite() && snr > 0.5, "{snr}");
            bits_seen[[8, 12, 16]
                .iter()
                .position(|&b| b == config.camera.bits)
                .unwrap()] = true;
            let full = ((1u32 << config.camera.bits) - 1) as f64;
            assert!(config.camera.offset < full);
        }
        assert_eq!(bits_seen, [true; 3]);
    }

    #[test]
    fn bad_ranges_are_refused() {
        let mut ranges = DomainRanges::wide();
        ranges.gain = [8.0, 0.25];
        assert!(ranges.validate().is_err());
        let mut ranges = DomainRanges::wide();
        ranges.bit_depth_odds = [0.0; 3];
        assert!(ranges.validate().is_err());
    }
}
