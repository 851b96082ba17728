//! Simulation parameters and the named presets.
//!
//! All photon numbers are photo-electrons (quantum efficiency folded in);
//! the camera converts them to ADU with `gain`, adds `offset` and read noise.
use robofish_shared::codebook::BitOrder;
use serde::{Deserialize, Serialize};

/// Index of the 647 nm channel in per-colour arrays.
pub const COLOUR_647: usize = 0;
/// Index of the 750 nm channel in per-colour arrays.
pub const COLOUR_750: usize = 1;

/// Everything that determines a simulated tile, apart from the seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimConfig {
    /// Preset this configuration started from.
    pub preset: String,
    /// Tile height in pixels.
    pub height: usize,
    /// Tile width in pixels.
    pub width: usize,
    /// Mean emitters per pixel.
    pub density: f64,
    /// Exactly `round(density * height * width)` emitters per tile (as the
    /// original's fixed `emitter_count`) instead of a Poisson-distributed
    /// count.
    pub fixed_count: bool,
    /// Real genes in the MHD4 codebook made when the dataset has none; the
    /// other `140 - real_genes` words are blanks.
    pub real_genes: usize,
    /// Gene expression levels are log-normal with this sigma (natural log);
    /// 0 draws every real gene equally often.
    pub gene_frequency_sigma: f64,
    /// Gaussian PSF sigma in pixels, per colour (647 nm, 750 nm); the longer
    /// wavelength gives the wider spot.
    pub psf_sigma: [f64; 2],
    /// Mean integrated photons of one on-bit spot in the 647 nm channel.
    pub spot_photons: f64,
    /// Relative brightness per colour (750 nm dyes are usually dimmer).
    pub colour_brightness: [f64; 2],
    /// Log-normal sigma of per-emitter brightness (mean preserved).
    pub emitter_brightness_sigma: f64,
    /// Log-normal sigma of per-bit (round) brightness (mean preserved).
    pub round_brightness_sigma: f64,
    /// Background photons per pixel, per colour.
    pub background: [f64; 2],
    /// Peak-to-peak relative amplitude of the linear background gradient
    /// across a tile (0.3 = +-15 % at opposite edges), random direction.
    pub background_gradient: f64,
    /// Probability that an on-bit shows no signal.
    pub bit_dropout: f64,
    /// Probability that an off-bit shows a spurious spot.
    pub spurious_rate: f64,
    /// Brightness of a spurious spot relative to a real on-bit.
    pub spurious_fraction: f64,
    /// Standard deviation (pixels) of the per-round registration shift; the
    /// first round is the reference and is never shifted.
    pub registration_sigma: f64,
    /// Which image carries which barcode bit.
    pub bit_order: BitOrder,
    /// Camera model.
    pub camera: Camera,
}

/// Camera: photo-electrons -> ADU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Camera {
    /// Output bit depth: 8 or 16. Values above `2^bits - 1` are clipped.
    pub bits: u8,
    /// ADU per photo-electron.
    pub gain: f64,
    /// Dark offset in ADU.
    pub offset: f64,
    /// Gaussian read noise in ADU.
    pub read_noise: f64,
}

impl Camera {
    /// Largest representable value.
    pub fn max_value(&self) -> f64 {
        ((1u32 << self.bits) - 1) as f64
    }

    /// The same camera at another bit depth. Going to 8 bits moves the
    /// offset to 10 ADU (a 100 ADU offset would waste 40 % of 8 bits),
    /// keeping the gain, so bright spots clip at 255 as 8-bit data does.
    pub fn with_bits(&self, bits: u8) -> Camera {
        let offset = if bits == 8 {
            self.offset.min(10.0)
        } else {
            self.offset
        };
        Camera {
            bits,
            offset,
            ..self.clone()
        }
    }
}

/// Parses `blocked` or `interleaved` (command-line values).
pub fn parse_bit_order(text: &str) -> Result<BitOrder, String> {
    match text {
        "blocked" => Ok(BitOrder::Blocked),
        "interleaved" => Ok(BitOrder::Interleaved),
        _ => Err(format!("`{text}`: expected blocked or interleaved")),
    }
}

/// Names accepted by [`preset`].
pub const PRESET_NAMES: [&str; 4] = ["seed", "easy", "hard", "fov"];

/// The named presets:
///
/// - `seed`: resembles the original's Data/50. 40 x 40 tiles with exactly 50
///   emitters (the folder name and its config's `emitter_count`; 50 in 1600
///   pixels, and each image shows only the ~12 emitters whose bit is on, so
///   spots are sparse per image). ~1500 photons per spot-bit over ~20
///   background photons/pixel gives a peak of ~140 photons (SNR ~10, see
///   `stats`): clearly visible but with dim emitters near the noise, as the
///   original's 0.92 position recall suggests. Gain 1 ADU/photon makes the
///   signal span ~0-300 ADU, the dynamic range of 8-bit data.
/// - `easy`: sparse (20 per 40 x 40), bright, no dropout or shifts.
/// - `hard`: dense (~96 per 40 x 40), dim, noisy, dropout, spurious
///   spots and larger shifts.
/// - `fov`: a 2048 x 2048 field of view with `seed`'s optics at a typical
///   cell-covered density (~42 000 emitters).
pub fn preset(name: &str) -> Option<SimConfig> {
    let seed = SimConfig {
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
        bit_order: BitOrder::Blocked,
        camera: Camera {
            bits: 16,
            gain: 1.0,
            offset: 100.0,
            read_noise: 2.0,
        },
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
        _ => return None,
    };
    Some(config)
}

/// Why a configuration cannot be simulated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A parameter is outside its valid range.
    #[error("invalid simulation parameter `{name}` = {value}: {requirement}")]
    OutOfRange {
        /// Parameter name.
        name: &'static str,
        /// Offending value.
        value: f64,
        /// What it must satisfy.
        requirement: &'static str,
    },
}

impl SimConfig {
    /// Mean emitter count per tile.
    pub fn mean_emitters(&self) -> f64 {
        self.density * (self.height * self.width) as f64
    }

    /// Checks every parameter so that simulation cannot fail or panic later.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let check = |name, value: f64, ok: bool, requirement| {
            if ok && value.is_finite() {
                Ok(())
            } else {
                Err(ConfigError::OutOfRange {
                    name,
                    value,
                    requirement,
                })
            }
        };
        let size_ok = |v: usize| (1..=16384).contains(&v);
        check(
            "height",
            self.height as f64,
            size_ok(self.height),
            "1 to 16384 pixels",
        )?;
        check(
            "width",
            self.width as f64,
            size_ok(self.width),
            "1 to 16384 pixels",
        )?;
        check(
            "density",
            self.density,
            (0.0..=1.0).contains(&self.density),
            "0 to 1 emitters per pixel",
        )?;
        check(
            "real_genes",
            self.real_genes as f64,
            (1..=140).contains(&self.real_genes),
            "1 to 140",
        )?;
        check(
            "gene_frequency_sigma",
            self.gene_frequency_sigma,
            self.gene_frequency_sigma >= 0.0,
            ">= 0",
        )?;
        for sigma in self.psf_sigma {
            check(
                "psf_sigma",
                sigma,
                (0.3..=10.0).contains(&sigma),
                "0.3 to 10 pixels",
            )?;
        }
        check(
            "spot_photons",
            self.spot_photons,
            self.spot_photons >= 0.0,
            ">= 0",
        )?;
        for b in self.colour_brightness {
            check("colour_brightness", b, b >= 0.0, ">= 0")?;
        }
        for b in self.background {
            check("background", b, b >= 0.0, ">= 0 photons per pixel")?;
        }
        let sigma_ok = |s: f64| (0.0..=3.0).contains(&s);
        check(
            "emitter_brightness_sigma",
            self.emitter_brightness_sigma,
            sigma_ok(self.emitter_brightness_sigma),
            "0 to 3",
        )?;
        check(
            "round_brightness_sigma",
            self.round_brightness_sigma,
            sigma_ok(self.round_brightness_sigma),
            "0 to 3",
        )?;
        check(
            "background_gradient",
            self.background_gradient,
            (0.0..=2.0).contains(&self.background_gradient),
            "0 to 2",
        )?;
        let probability = |p: f64| (0.0..=1.0).contains(&p);
        check(
            "bit_dropout",
            self.bit_dropout,
            probability(self.bit_dropout),
            "a probability, 0 to 1",
        )?;
        check(
            "spurious_rate",
            self.spurious_rate,
            probability(self.spurious_rate),
            "a probability, 0 to 1",
        )?;
        check(
            "spurious_fraction",
            self.spurious_fraction,
            self.spurious_fraction >= 0.0,
            ">= 0",
        )?;
        check(
            "registration_sigma",
            self.registration_sigma,
            (0.0..=5.0).contains(&self.registration_sigma),
            "0 to 5 pixels",
        )?;
        let camera = &self.camera;
        check(
            "camera.bits",
            camera.bits as f64,
            matches!(camera.bits, 8 | 16),
            "8 or 16",
        )?;
        check(
            "camera.gain",
            camera.gain,
            camera.gain > 0.0,
            "> 0 ADU per photon",
        )?;
        check(
            "camera.offset",
            camera.offset,
            camera.offset >= 0.0 && camera.offset <= camera.max_value(),
            "0 to the largest pixel value",
        )?;
        check(
            "camera.read_noise",
            camera.read_noise,
            camera.read_noise >= 0.0,
            ">= 0 ADU",
        )?;
        Ok(())
    }
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
    fn invalid_values_are_named() {
        let mut config = preset("seed").unwrap();
        config.bit_dropout = 1.5;
        let message = config.validate().unwrap_err().to_string();
        assert!(message.contains("bit_dropout"), "{message}");
        config.bit_dropout = f64::NAN;
        assert!(config.validate().is_err());
    }
}
