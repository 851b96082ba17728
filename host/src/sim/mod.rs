//! The MERFISH tile simulator.
//!
//! A tile is 16 images of `height x width` pixels: 8 rounds in each of two
//! colours. Images are stored by (colour, round): image `colour * 8 + round`
//! is 647 nm rounds 1-8 (images 0-7), then 750 nm rounds 1-8 (8-15). Which
//! image carries which barcode bit is [`BitOrder`]: by default *blocked*
//! (bits 0-7 = 647 nm rounds 1-8, bits 8-15 = 750 nm rounds 1-8, so bit `i`
//! is image `i`); *interleaved* puts bit `2r` in 647 nm round `r + 1` and
//! bit `2r + 1` in 750 nm round `r + 1`.
//!
//! Coordinates: pixel `(row, column)` covers `y` in `[row, row + 1)` and `x`
//! in `[column, column + 1)`; pixel centres are at `+0.5`, and an emitter's
//! integer pixel (the ground-truth CSV's `row, column`) is
//! `(floor(y), floor(x))`. Positions are in the frame of round 1.
//!
//! Per tile: emitters at uniform sub-pixel positions; each carries a real
//! (non-blank) codebook word drawn with log-normal gene expression levels
//! (fixed per dataset seed); each on-bit renders a pixel-integrated Gaussian
//! of `brightness x colour factor x per-bit log-normal factor` photons,
//! shifted by its round's registration offset; on-bits drop out with
//! `bit_dropout` and off-bits light up with `spurious_rate`; the background
//! is a constant per colour (+-10 % per image) times a linear gradient of
//! random direction, plus autofluorescent blobs when the configuration has
//! them; then shot noise, gain, the camera's offset and read noise (per
//! pixel when it has a fixed pattern, with hot pixels) and clipping. The
//! 750 nm images are shifted by the chromatic offset on top of each round's
//! registration shift.
//!
//! Domain randomisation ([`DomainRanges`]): a configuration with `domain`
//! set draws a whole configuration per tile ([`Simulator::tile_config`]).
//!
//! Determinism: every random number comes from ChaCha8 keyed by the seed,
//! with a separate stream per (split, tile, purpose), so a tile is the same
//! whatever the thread count or the order tiles are made in.
pub mod artefacts;
mod checks;
pub mod config;
pub mod domain;
pub mod noise;
pub mod presets;
pub mod psf;
pub mod stats;
mod tile;

pub use config::{parse_bit_order, Artefacts, Camera, ConfigError, SimConfig};
pub use domain::DomainRanges;
pub use presets::{held_out_seed, is_held_out, preset, simulation_seed, HELD_OUT, PRESET_NAMES};
pub use robofish_shared::codebook::{BitOrder, Codebook};
pub use tile::{Emitter, Split, Tile, IMAGE_COUNT, UNKNOWN_GENE};

use std::borrow::Cow;

use rand::distr::weighted::WeightedIndex;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Normal, Poisson};
use rayon::prelude::*;
use robofish_shared::codebook::{COLOURS, ROUNDS};

/// Why a simulator cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// A parameter is out of range.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Every codebook entry is a blank, so no emitter can be made.
    #[error("the codebook has no real (non-blank) genes to simulate")]
    NoRealGenes,
}

/// Stream used for the dataset-wide gene expression levels.
const GENE_LEVEL_STREAM: u64 = u64::MAX;

/// Per-tile stream purposes: 0 is the layout and 1..=16 the noise of each
/// image (as before these existed); the rest are drawn only when used, so
/// configurations without them give the same tiles as ever.
const BLOB_PURPOSE: u64 = 17;
const FIXED_PATTERN_PURPOSE: u64 = 18;
const DOMAIN_PURPOSE: u64 = 19;

/// A configured simulator: makes any tile of any split on demand.
#[derive(Debug, Clone)]
pub struct Simulator {
    config: SimConfig,
    codebook: Codebook,
    seed: u64,
    real_genes: Vec<usize>,
    gene_weights: Vec<f64>,
    gene_sampler: WeightedIndex<f64>,
}

/// The random draws of one tile that do not depend on pixels.
struct TilePlan {
    truth: Vec<Emitter>,
    /// Photons of each emitter in each image (`[emitter][image]`).
    amplitudes: Vec<[f64; IMAGE_COUNT]>,
    /// Registration shift `(dy, dx)` of each round.
    shifts: [(f64, f64); ROUNDS],
    /// Background level and gradient `(level, gy, gx)` of each image.
    backgrounds: [(f64, f64, f64); IMAGE_COUNT],
    /// Autofluorescent blobs.
    blobs: Vec<artefacts::Blob>,
}

impl Simulator {
    /// A simulator for `config`, drawing genes from the real words of
    /// `codebook`, seeded by `seed`.
    pub fn new(config: SimConfig, codebook: Codebook, seed: u64) -> Result<Simulator, SimError> {
        config.validate()?;
        let real_genes = codebook.real_indices();
        if real_genes.is_empty() {
            return Err(SimError::NoRealGenes);
        }
        let mut rng = stream_rng(seed, GENE_LEVEL_STREAM);
        let levels = LogNormal::new(0.0, config.gene_frequency_sigma).map_err(|_| {
            ConfigError::OutOfRange {
                name: "gene_frequency_sigma",
                value: config.gene_frequency_sigma,
                requirement: ">= 0",
            }
        })?;
        let raw: Vec<f64> = real_genes.iter().map(|_| levels.sample(&mut rng)).collect();
        let total: f64 = raw.iter().sum();
        let gene_weights: Vec<f64> = raw.iter().map(|w| w / total).collect();
        let gene_sampler = WeightedIndex::new(&gene_weights).map_err(|_| SimError::NoRealGenes)?;
        Ok(Simulator {
            config,
            codebook,
            seed,
            real_genes,
            gene_weights,
            gene_sampler,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// The codebook genes are drawn from.
    pub fn codebook(&self) -> &Codebook {
        &self.codebook
    }

    /// Relative expression of each real gene: `(codebook index, frequency)`,
    /// frequencies summing to 1.
    pub fn gene_frequencies(&self) -> Vec<(usize, f64)> {
        self.real_genes
            .iter()
            .copied()
            .zip(self.gene_weights.iter().copied())
            .collect()
    }

    /// The configuration tile `index` of `split` is made with: the
    /// simulator's own, or with domain randomisation, one drawn for the tile.
    pub fn tile_config(&self, split: Split, index: usize) -> Cow<'_, SimConfig> {
        match &self.config.domain {
            None => Cow::Borrowed(&self.config),
            Some(domain) => {
                let mut rng = stream_rng(self.seed, tile_stream(split, index, DOMAIN_PURPOSE));
                Cow::Owned(domain.draw(&self.config, &mut rng))
            }
        }
    }

    /// Tile `index` (0-based) of `split`.
    pub fn tile(&self, split: Split, index: usize) -> Tile {
        let config = self.tile_config(split, index);
        let plan = self.plan(&config, split, index);
        let (height, width) = (config.height, config.width);
        let pixels = height * width;
        let pattern = {
            let mut rng = stream_rng(self.seed, tile_stream(split, index, FIXED_PATTERN_PURPOSE));
            artefacts::draw_fixed_pattern(&config.camera, pixels, &mut rng)
        };
        let images_per_plane: Vec<Vec<u16>> = (0..IMAGE_COUNT)
            .into_par_iter()
            .map(|image| {
                let expected = expected_photons(&config, &plan, image);
                let mut rng = stream_rng(self.seed, tile_stream(split, index, 1 + image as u64));
                noise::expose(&expected, &config.camera, pattern.as_ref(), &mut rng)
            })
            .collect();
        let mut images = Vec::with_capacity(IMAGE_COUNT * pixels);
        for plane in images_per_plane {
            images.extend_from_slice(&plane);
        }
        Tile {
            height,
            width,
            images,
            truth: plan.truth,
        }
    }

    /// Draws emitters, brightness, dropout, shifts and backgrounds.
    fn plan(&self, config: &SimConfig, split: Split, index: usize) -> TilePlan {
        let mut rng = stream_rng(self.seed, tile_stream(split, index, 0));
        let count = emitter_count(config, &mut rng);
        let emitter_brightness = mean_one_log_normal(config.emitter_brightness_sigma);
        let round_brightness = mean_one_log_normal(config.round_brightness_sigma);

        let truth: Vec<Emitter> = (0..count)
            .map(|_| {
                let y = uniform_coordinate(&mut rng, config.height);
                let x = uniform_coordinate(&mut rng, config.width);
                let gene = self.real_genes[self.gene_sampler.sample(&mut rng)];
                let word = self.codebook.word(gene).unwrap_or(0);
                let brightness = config.spot_photons * emitter_brightness.sample(&mut rng);
                Emitter {
                    y,
                    x,
                    gene,
                    word,
                    brightness: brightness as f32,
                }
            })
            .collect();

        let amplitudes = truth
            .iter()
            .map(|emitter| {
                let mut per_image = [0.0; IMAGE_COUNT];
                for (image, amplitude) in per_image.iter_mut().enumerate() {
                    // Always draw both numbers so later draws do not depend
                    // on earlier branches.
                    let chance: f64 = rng.random();
                    let factor = round_brightness.sample(&mut rng);
                    let colour = image / ROUNDS;
                    let bit = config.bit_order.bit_of_image(image);
                    let scale = if emitter.word & (1 << bit) != 0 {
                        if chance < config.bit_dropout {
                            0.0
                        } else {
                            1.0
                        }
                    } else if chance < config.spurious_rate {
                        config.spurious_fraction
                    } else {
                        0.0
                    };
                    *amplitude = emitter.brightness as f64
                        * config.colour_brightness[colour]
                        * factor
                        * scale;
                }
                per_image
            })
            .collect();

        let mut shifts = [(0.0, 0.0); ROUNDS];
        if let Ok(shift) = Normal::new(0.0, config.registration_sigma) {
            for round_shift in shifts.iter_mut().skip(1) {
                *round_shift = (shift.sample(&mut rng), shift.sample(&mut rng));
            }
        }

        let mut backgrounds = [(0.0, 0.0, 0.0); IMAGE_COUNT];
        for (image, background) in backgrounds.iter_mut().enumerate() {
            let level = config.background[image / ROUNDS] * rng.random_range(0.9..1.1);
            let angle = rng.random_range(0.0..std::f64::consts::TAU);
            let amplitude = config.background_gradient;
            *background = (level, amplitude * angle.sin(), amplitude * angle.cos());
        }
        debug_assert_eq!(IMAGE_COUNT, ROUNDS * COLOURS);
        let blobs = if config.artefacts.blobs_per_1600_px > 0.0 {
            let mut rng = stream_rng(self.seed, tile_stream(split, index, BLOB_PURPOSE));
            artefacts::draw_blobs(&config.artefacts, config.height, config.width, &mut rng)
        } else {
            Vec::new()
        };
        TilePlan {
            truth,
            amplitudes,
            shifts,
            backgrounds,
            blobs,
        }
    }
}

/// Expected photons per pixel of one image: background, blobs and spots.
fn expected_photons(config: &SimConfig, plan: &TilePlan, image: usize) -> Vec<f64> {
    let (height, width) = (config.height, config.width);
    let (level, gy, gx) = plan.backgrounds[image];
    let mut expected = Vec::with_capacity(height * width);
    for row in 0..height {
        let fy = (row as f64 + 0.5) / height as f64 - 0.5;
        for col in 0..width {
            let fx = (col as f64 + 0.5) / width as f64 - 0.5;
            expected.push(level * (1.0 + gy * fy + gx * fx));
        }
    }
    let (colour, round) = (image / ROUNDS, image % ROUNDS);
    artefacts::add_blobs(
        &mut expected,
        height,
        width,
        &plan.blobs,
        colour,
        round,
        level,
        config.artefacts.blob_round_retention,
    );
    let (mut dy, mut dx) = plan.shifts[round];
    if colour == 1 {
        dy += config.chromatic_shift[0];
        dx += config.chromatic_shift[1];
    }
    let sigma = config.psf_sigma[colour];
    for (emitter, amplitudes) in plan.truth.iter().zip(&plan.amplitudes) {
        let (y, x) = (emitter.y as f64 + dy, emitter.x as f64 + dx);
        psf::add_spot(&mut expected, height, width, y, x, sigma, amplitudes[image]);
    }
    expected
}

/// A uniform coordinate in `[0, len)` as `f32`. Rounding an `f64` just
/// below `len` to `f32` can give exactly `len`, whose pixel would be outside
/// the tile, so such values step down to the largest `f32` below `len`.
fn uniform_coordinate(rng: &mut ChaCha8Rng, len: usize) -> f32 {
    let limit = len as f32;
    ((rng.random::<f64>() * len as f64) as f32).min(limit.next_down())
}

/// Emitter count of one tile: fixed, or Poisson around the mean.
fn emitter_count(config: &SimConfig, rng: &mut ChaCha8Rng) -> usize {
    let mean = config.mean_emitters();
    if config.fixed_count {
        return mean.round() as usize;
    }
    match Poisson::new(mean) {
        Ok(poisson) if mean > 0.0 => poisson.sample(rng) as usize,
        _ => 0,
    }
}

/// Log-normal with mean 1 (mu = -sigma^2 / 2), so brightness variation
/// leaves the requested mean photons unchanged.
fn mean_one_log_normal(sigma: f64) -> LogNormal<f64> {
    LogNormal::new(-sigma * sigma / 2.0, sigma)
        .unwrap_or_else(|_| LogNormal::new(0.0, 0.0).expect("sigma 0 is valid"))
}

/// ChaCha8 keyed by the seed, on its own stream.
fn stream_rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// Stream of one purpose (0 = layout, 1..=16 = noise of each image) of one tile.
fn tile_stream(split: Split, index: usize, purpose: u64) -> u64 {
    ((split as u64) << 56) | ((index as u64 & 0xFFFF_FFFF_FFFF) << 8) | purpose
}

#[cfg(test)]
mod tests {
    use super::*;

    fn simulator(seed: u64) -> Simulator {
        let config = preset("seed").unwrap();
        Simulator::new(config, Codebook::mhd4(130), seed).unwrap()
    }

    #[test]
    fn same_seed_same_tile_other_seed_other_tile() {
        let a = simulator(1).tile(Split::Test, 3);
        assert_eq!(a, simulator(1).tile(Split::Test, 3));
        assert_ne!(a, simulator(2).tile(Split::Test, 3));
        assert_ne!(a, simulator(1).tile(Split::Train, 3));
        assert_eq!(a.images.len(), 16 * 40 * 40);
        assert_eq!(a.truth.len(), 50);
    }

    #[test]
    fn emitters_carry_real_words_inside_the_tile() {
        let sim = simulator(5);
        let book = sim.codebook().clone();
        for index in 0..20 {
            for emitter in sim.tile(Split::Train, index).truth {
                assert!(!book.is_blank(emitter.gene));
                assert_eq!(book.word(emitter.gene), Some(emitter.word));
                assert!((0.0..40.0).contains(&emitter.y) && (0.0..40.0).contains(&emitter.x));
                assert!(emitter.brightness > 0.0);
            }
        }
    }

    #[test]
    fn interleaved_order_lights_the_matching_images() {
        let mut config = preset("easy").unwrap();
        config.density = 1.0 / 1600.0;
        config.fixed_count = true;
        config.background = [0.0, 0.0];
        config.camera.read_noise = 0.0;
        config.bit_order = BitOrder::Interleaved;
        let sim = Simulator::new(config, Codebook::mhd4(130), 3).unwrap();
        let tile = sim.tile(Split::Val, 0);
        let emitter = tile.truth[0];
        for image in 0..IMAGE_COUNT {
            let lit = tile.image(image).iter().any(|&v| v > 100 + 50);
            let bit = BitOrder::Interleaved.bit_of_image(image);
            assert_eq!(lit, emitter.word & (1 << bit) != 0, "image {image}");
        }
    }

    /// Dropout, spurious off-bit signal and registration shifts happen at
    /// their configured rates (the statistics test switches them off).
    #[test]
    fn dropout_spurious_bits_and_shifts_follow_their_rates() {
        let mut config = preset("seed").unwrap();
        config.bit_dropout = 0.1;
        config.spurious_rate = 0.05;
        config.spurious_fraction = 0.3;
        config.registration_sigma = 0.4;
        // Every on-bit then carries exactly its emitter's colour brightness.
        config.round_brightness_sigma = 0.0;
        let sim = Simulator::new(config.clone(), Codebook::mhd4(130), 21).unwrap();
        let (mut on, mut dropped, mut off, mut lit) = (0usize, 0usize, 0usize, 0usize);
        let mut shifts = Vec::new();
        for index in 0..200 {
            let tile_config = sim.tile_config(Split::Train, index);
            let plan = sim.plan(&tile_config, Split::Train, index);
            for (emitter, amplitudes) in plan.truth.iter().zip(&plan.amplitudes) {
                for (image, &amplitude) in amplitudes.iter().enumerate() {
                    let bit = config.bit_order.bit_of_image(image);
                    let full = emitter.brightness as f64 * config.colour_brightness[image / ROUNDS];
                    if emitter.word & (1 << bit) != 0 {
                        on += 1;
                        if amplitude == 0.0 {
                            dropped += 1;
                        } else {
                            assert!(
                                (amplitude / full - 1.0).abs() < 1e-9,
                                "{amplitude} vs {full}"
                            );
                        }
                    } else {
                        off += 1;
                        if amplitude != 0.0 {
                            lit += 1;
                            assert!(
                                (amplitude / full - 0.3).abs() < 1e-9,
                                "{amplitude} vs {full}"
                            );
                        }
                    }
                }
            }
            assert_eq!(plan.shifts[0], (0.0, 0.0), "round 1 is the reference");
            shifts.extend(plan.shifts[1..].iter().flat_map(|&(dy, dx)| [dy, dx]));
        }
        // 40,000 on-bits and 120,000 off-bits: standard errors 0.0015 and
        // 0.0006; 2,800 shifts: the sd's standard error is about 0.005.
        let dropout = dropped as f64 / on as f64;
        let spurious = lit as f64 / off as f64;
        assert!((dropout - 0.1).abs() < 0.008, "dropout {dropout} of {on}");
        assert!(
            (spurious - 0.05).abs() < 0.004,
            "spurious {spurious} of {off}"
        );
        let n = shifts.len() as f64;
        let mean = shifts.iter().sum::<f64>() / n;
        let sd = (shifts.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / n).sqrt();
        assert!(
            mean.abs() < 0.03 && (sd - 0.4).abs() < 0.03,
            "shifts: mean {mean}, sd {sd}"
        );
    }

    #[test]
    fn gene_frequencies_sum_to_one_over_real_genes() {
        let sim = simulator(9);
        let frequencies = sim.gene_frequencies();
        assert_eq!(frequencies.len(), 130);
        let total: f64 = frequencies.iter().map(|f| f.1).sum();
        assert!((total - 1.0).abs() < 1e-9);
    }
}
