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
use serde::{Deserialize, Serialize};

mod draw;

pub use draw::predicted_peak_snr;

use super::checks::{check, check_range, ConfigError};

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
}

#[cfg(test)]
mod tests {
    use super::super::preset;
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

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
