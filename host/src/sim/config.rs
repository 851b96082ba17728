//! Simulation parameters and the named presets.
//!
//! All photon numbers are photo-electrons (quantum efficiency folded in);
//! the camera converts them to ADU with `gain`, adds `offset` and read noise.
use robofish_shared::codebook::BitOrder;

pub use super::checks::ConfigError;
use super::checks::{check, check_range};
use super::domain::DomainRanges;
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
    /// Shift `(dy, dx)` in pixels of the 750 nm images against the 647 nm
    /// ones (chromatic aberration left after registration), on top of the
    /// per-round shifts.
    #[serde(default)]
    pub chromatic_shift: [f64; 2],
    /// Which image carries which barcode bit.
    pub bit_order: BitOrder,
    /// Camera model.
    pub camera: Camera,
    /// Sample artefacts: autofluorescence blobs.
    #[serde(default)]
    pub artefacts: Artefacts,
    /// Domain randomisation: when set, every tile draws its own physical
    /// parameters from these ranges (see [`super::domain`]), and the fields
    /// above are only the defaults the ranges leave alone (tile size, codebook,
    /// bit order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<DomainRanges>,
}

/// Autofluorescence: cells and debris glow in broad blobs that no barcode
/// explains. The same blobs are in every round of a colour (they are in the
/// sample), dimmer each round as they bleach.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Artefacts {
    /// Mean blobs per 1600 pixels (one 40 x 40 tile).
    pub blobs_per_1600_px: f64,
    /// Range of blob sizes: Gaussian sigma in pixels, drawn log-uniformly.
    pub blob_sigma: [f64; 2],
    /// Peak brightness of a blob relative to its image's background level,
    /// drawn log-uniformly from this range.
    pub blob_brightness: [f64; 2],
    /// Brightness kept from one round to the next (photobleaching; 1 = none).
    pub blob_round_retention: f64,
}

/// Camera: photo-electrons -> ADU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Camera {
    /// Output bit depth: 8, 12 or 16. Values above `2^bits - 1` are
    /// clipped; 12-bit data is stored in 16-bit files, as cameras do.
    pub bits: u8,
    /// ADU per photo-electron.
    pub gain: f64,
    /// Dark offset in ADU.
    pub offset: f64,
    /// Gaussian read noise in ADU.
    pub read_noise: f64,
    /// Standard deviation (ADU) of the fixed per-pixel offset around
    /// `offset` (sCMOS column and pixel offsets).
    #[serde(default)]
    pub offset_sigma: f64,
    /// Log-normal sigma of the per-pixel read noise around `read_noise`
    /// (sCMOS pixels differ; a few are very noisy).
    #[serde(default)]
    pub read_noise_spread: f64,
    /// Fraction of hot pixels: fixed pixels with a large dark signal.
    #[serde(default)]
    pub hot_pixel_rate: f64,
    /// Mean extra counts (ADU) of a hot pixel, exponentially distributed.
    #[serde(default)]
    pub hot_pixel_counts: f64,
}

impl Camera {
    /// A 16-bit camera with gain 1, no offset, no noise and no fixed
    /// pattern: the base for building others with `..Camera::ideal()`.
    pub fn ideal() -> Camera {
        Camera {
            bits: 16,
            gain: 1.0,
            offset: 0.0,
            read_noise: 0.0,
            offset_sigma: 0.0,
            read_noise_spread: 0.0,
            hot_pixel_rate: 0.0,
            hot_pixel_counts: 0.0,
        }
    }

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

impl SimConfig {
    /// Bits per pixel of the files tiles are written to: 8 for 8-bit
    /// cameras, else 16 (12-bit data in 16-bit files, as cameras write it;
    /// domain-randomised tiles mix depths, so 16).
    pub fn file_bits(&self) -> u8 {
        if self.camera.bits == 8 && self.domain.is_none() {
            8
        } else {
            16
        }
    }

    /// Mean emitter count per tile.
    pub fn mean_emitters(&self) -> f64 {
        self.density * (self.height * self.width) as f64
    }

    /// Checks every parameter so that simulation cannot fail or panic later.
    pub fn validate(&self) -> Result<(), ConfigError> {
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
        for shift in self.chromatic_shift {
            check(
                "chromatic_shift",
                shift,
                (-5.0..=5.0).contains(&shift),
                "-5 to 5 pixels",
            )?;
        }
        self.artefacts.validate()?;
        if let Some(domain) = &self.domain {
            domain.validate()?;
        }
        let camera = &self.camera;
        check(
            "camera.bits",
            camera.bits as f64,
            matches!(camera.bits, 8 | 12 | 16),
            "8, 12 or 16",
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
        check(
            "camera.offset_sigma",
            camera.offset_sigma,
            camera.offset_sigma >= 0.0,
            ">= 0 ADU",
        )?;
        check(
            "camera.read_noise_spread",
            camera.read_noise_spread,
            (0.0..=3.0).contains(&camera.read_noise_spread),
            "0 to 3",
        )?;
        check(
            "camera.hot_pixel_rate",
            camera.hot_pixel_rate,
            probability(camera.hot_pixel_rate),
            "a probability, 0 to 1",
        )?;
        check(
            "camera.hot_pixel_counts",
            camera.hot_pixel_counts,
            camera.hot_pixel_counts >= 0.0,
            ">= 0 ADU",
        )?;
        Ok(())
    }
}

impl Artefacts {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check(
            "artefacts.blobs_per_1600_px",
            self.blobs_per_1600_px,
            (0.0..=100.0).contains(&self.blobs_per_1600_px),
            "0 to 100",
        )?;
        if self.blobs_per_1600_px > 0.0 {
            check_range(
                "artefacts.blob_sigma",
                self.blob_sigma,
                0.5,
                500.0,
                "an ordered range within 0.5 to 500 pixels",
            )?;
            check_range(
                "artefacts.blob_brightness",
                self.blob_brightness,
                0.0,
                1000.0,
                "an ordered range within 0 to 1000 x background",
            )?;
        }
        check(
            "artefacts.blob_round_retention",
            self.blob_round_retention,
            (0.0..=1.0).contains(&self.blob_round_retention),
            "0 to 1",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::preset;

    #[test]
    fn invalid_values_are_named() {
        let mut config = preset("seed").unwrap();
        config.bit_dropout = 1.5;
        let message = config.validate().unwrap_err().to_string();
        assert!(message.contains("bit_dropout"), "{message}");
        config.bit_dropout = f64::NAN;
        assert!(config.validate().is_err());
        let mut config = preset("seed").unwrap();
        config.artefacts.blobs_per_1600_px = 1.0;
        config.artefacts.blob_sigma = [5.0, 2.0];
        let message = config.validate().unwrap_err().to_string();
        assert!(message.contains("blob_sigma"), "{message}");
        let mut config = preset("seed").unwrap();
        config.camera.bits = 10;
        assert!(config.validate().is_err());
    }
}
