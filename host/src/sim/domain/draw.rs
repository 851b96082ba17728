//! One tile's microscope drawn from the ranges, and the check that a fixed
//! configuration lies inside them.
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{DomainRanges, Range};
use crate::sim::config::{Artefacts, Camera, SimConfig};

impl DomainRanges {
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
    let one_d = crate::sim::psf::pixel_fraction(0, 0.5, sigma);
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
