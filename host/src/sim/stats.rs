//! Measured statistics of simulated tiles, taken from the pixels (not from
//! the simulator's parameters), so they check the rendering end to end.
//!
//! Definitions, all in photo-electrons (`(count - offset) / gain`):
//! - *background*: mean of an image's pixels outside the windows of its lit
//!   emitters;
//! - *photons per spot*: for an on-bit of an isolated emitter (no other
//!   emitter lit in that image within `r + 3 sigma`), the background-
//!   subtracted sum over the `(2r + 1)^2` window around its pixel,
//!   `r = ceil(4 sigma)` (the window holds > 99.99 % of the spot);
//! - *SNR*: `peak / sqrt(peak + background + (read_noise / gain)^2)`, where
//!   peak is the largest background-subtracted pixel of the 3 x 3 around the
//!   emitter: the Poisson + read-noise SNR of the brightest pixel.
//!
//! Dropped-out bits count as spots with ~0 photons, as a detector sees them.
use super::config::SimConfig;
use super::tile::{Tile, IMAGE_COUNT};
use robofish_shared::codebook::ROUNDS;
use std::fmt;

/// Statistics accumulated over tiles; merge with [`TileStats::merge`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TileStats {
    /// Tiles measured.
    pub tiles: usize,
    /// Emitters in those tiles.
    pub emitters: usize,
    /// Sum of background photons per pixel, per colour (one term per image).
    pub background_sum: [f64; 2],
    /// Images measured per colour.
    pub background_images: [usize; 2],
    /// Sum of photons per isolated spot-bit, per colour.
    pub photon_sum: [f64; 2],
    /// Isolated spot-bits measured per colour.
    pub spot_bits: [usize; 2],
    /// SNR of every isolated spot-bit.
    pub snr: Vec<f64>,
    /// Largest camera count seen.
    pub max_count: u16,
}

impl TileStats {
    /// Measures one tile simulated (or read) with `config`'s camera, PSF and
    /// bit order.
    pub fn measure(tile: &Tile, config: &SimConfig) -> TileStats {
        let mut stats = TileStats {
            tiles: 1,
            emitters: tile.truth.len(),
            ..TileStats::default()
        };
        stats.max_count = tile.images.iter().copied().max().unwrap_or(0);
        let camera = &config.camera;
        for image in 0..IMAGE_COUNT {
            let colour = image / ROUNDS;
            let sigma = config.psf_sigma[colour];
            let radius = (4.0 * sigma).ceil() as usize;
            let bit = config.bit_order.bit_of_image(image);
            let mut lit: Vec<(usize, usize)> = tile
                .truth
                .iter()
                .filter(|e| e.word & (1 << bit) != 0)
                .map(|e| e.pixel())
                .collect();
            lit.sort_unstable();
            let photons: Vec<f64> = tile
                .image(image)
                .iter()
                .map(|&v| (v as f64 - camera.offset) / camera.gain)
                .collect();
            let background = background_outside(&photons, tile.width, &lit, radius);
            stats.background_sum[colour] += background;
            stats.background_images[colour] += 1;

            let isolation = radius as f64 + 3.0 * sigma;
            for (i, &(row, col)) in lit.iter().enumerate() {
                let fits = row >= radius
                    && col >= radius
                    && row + radius < tile.height
                    && col + radius < tile.width;
                if !fits || crowded(&lit, i, isolation) {
                    continue;
                }
                let window = |r: usize| {
                    (row - r..=row + r).flat_map(move |y| (col - r..=col + r).map(move |x| (y, x)))
                };
                let at = |(y, x): (usize, usize)| photons[y * tile.width + x] - background;
                let total: f64 = window(radius).map(at).sum();
                let peak = window(1).map(at).fold(f64::MIN, f64::max);
                let variance =
                    peak.max(0.0) + background.max(0.0) + (camera.read_noise / camera.gain).powi(2);
                stats.photon_sum[colour] += total;
                stats.spot_bits[colour] += 1;
                stats.snr.push(peak / variance.max(1e-9).sqrt());
            }
        }
        stats
    }

    /// Adds `other` into `self`.
    pub fn merge(mut self, other: TileStats) -> TileStats {
        self.tiles += other.tiles;
        self.emitters += other.emitters;
        for c in 0..2 {
            self.background_sum[c] += other.background_sum[c];
            self.background_images[c] += other.background_images[c];
            self.photon_sum[c] += other.photon_sum[c];
            self.spot_bits[c] += other.spot_bits[c];
        }
        self.snr.extend(other.snr);
        self.max_count = self.max_count.max(other.max_count);
        self
    }

    /// Mean emitters per tile.
    pub fn emitters_per_tile(&self) -> f64 {
        self.emitters as f64 / self.tiles.max(1) as f64
    }

    /// Mean background photons per pixel of `colour`.
    pub fn background(&self, colour: usize) -> f64 {
        self.background_sum[colour] / self.background_images[colour].max(1) as f64
    }

    /// Mean photons per isolated spot-bit of `colour`.
    pub fn photons_per_spot(&self, colour: usize) -> f64 {
        self.photon_sum[colour] / self.spot_bits[colour].max(1) as f64
    }

    /// Mean and median SNR (0 when nothing was measured).
    pub fn snr_mean_median(&self) -> (f64, f64) {
        if self.snr.is_empty() {
            return (0.0, 0.0);
        }
        let mean = self.snr.iter().sum::<f64>() / self.snr.len() as f64;
        let mut sorted = self.snr.clone();
        sorted.sort_by(f64::total_cmp);
        (mean, sorted[sorted.len() / 2])
    }
}

/// Mean of the pixels farther than `radius` (Chebyshev) from every lit
/// emitter; the plain mean when every pixel is near one. Stamps a mask so
/// the cost is pixels + emitters x window, not their product (a 2048 x 2048
/// field has ~10 000 lit emitters per image).
fn background_outside(photons: &[f64], width: usize, lit: &[(usize, usize)], radius: usize) -> f64 {
    let height = photons.len() / width.max(1);
    let mut near = vec![false; photons.len()];
    for &(row, col) in lit {
        for r in row.saturating_sub(radius)..(row + radius + 1).min(height) {
            near[r * width + col.saturating_sub(radius)..r * width + (col + radius + 1).min(width)]
                .fill(true);
        }
    }
    let (sum, count) = photons
        .iter()
        .zip(&near)
        .filter(|(_, near)| !**near)
        .fold((0.0, 0usize), |(s, n), (v, _)| (s + v, n + 1));
    if count > 0 {
        sum / count as f64
    } else {
        photons.iter().sum::<f64>() / photons.len().max(1) as f64
    }
}

/// Whether another lit emitter lies within `distance` of `lit[index]`;
/// `lit` is sorted by row, so only a band of rows is searched.
fn crowded(lit: &[(usize, usize)], index: usize, distance: f64) -> bool {
    let (row, col) = lit[index];
    let reach = distance.ceil() as usize;
    let first = lit.partition_point(|&(r, _)| r + reach < row);
    lit[first..]
        .iter()
        .enumerate()
        .take_while(|(_, &(r, _))| r <= row + reach)
        .any(|(j, &(r, c))| {
            first + j != index && (r as f64 - row as f64).hypot(c as f64 - col as f64) < distance
        })
}

impl fmt::Display for TileStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (snr_mean, snr_median) = self.snr_mean_median();
        writeln!(
            f,
            "tiles {}, emitters per tile {:.1}",
            self.tiles,
            self.emitters_per_tile()
        )?;
        writeln!(
            f,
            "photons per spot-bit (isolated, background-subtracted): 647 nm {:.0} (n={}), 750 nm {:.0} (n={})",
            self.photons_per_spot(0),
            self.spot_bits[0],
            self.photons_per_spot(1),
            self.spot_bits[1]
        )?;
        writeln!(
            f,
            "background photons per pixel: 647 nm {:.1}, 750 nm {:.1}",
            self.background(0),
            self.background(1)
        )?;
        write!(
            f,
            "peak-pixel SNR = peak / sqrt(peak + background + read^2): mean {snr_mean:.1}, median {snr_median:.1}; max count {}",
            self.max_count
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::{preset, Codebook, Simulator, Split};
    use super::*;

    #[test]
    fn measured_photons_and_background_match_the_request() {
        let mut config = preset("seed").unwrap();
        config.density = 4.0 / 1600.0;
        config.bit_dropout = 0.0;
        config.spurious_rate = 0.0;
        config.registration_sigma = 0.0;
        let sim = Simulator::new(config.clone(), Codebook::mhd4(130), 11).unwrap();
        let stats = (0..400)
            .map(|i| TileStats::measure(&sim.tile(Split::Train, i), &config))
            .fold(TileStats::default(), TileStats::merge);
        assert_eq!(stats.emitters_per_tile(), 4.0);
        for colour in 0..2 {
            let requested = config.spot_photons * config.colour_brightness[colour];
            let measured = stats.photons_per_spot(colour);
            assert!(
                stats.spot_bits[colour] > 1000,
                "{}",
                stats.spot_bits[colour]
            );
            assert!(
                (measured / requested - 1.0).abs() < 0.03,
                "colour {colour}: {measured} vs {requested}"
            );
            let background = stats.background(colour);
            assert!(
                (background / config.background[colour] - 1.0).abs() < 0.02,
                "colour {colour}: {background}"
            );
        }
        let (snr, _) = stats.snr_mean_median();
        assert!(snr > 5.0 && snr < 20.0, "{snr}");
    }
}
