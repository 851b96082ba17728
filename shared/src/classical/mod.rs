//! A classical MERFISH decoder: no network, no training, camera-invariant.
//! It is the floor a network must clear and a fallback that works on data
//! nobody trained for.
//!
//! # Pipeline
//!
//! **Per image** (the image of barcode bit `b` is
//! [`BitOrder::image_of_bit`]`(b)`):
//!
//! 1. *Normalise*: `z = (raw - background) / noise` with the image's median
//!    and neighbour-difference noise from [`crate::image_stats`], so `z` is
//!    in units of the pixel noise whatever the camera's offset, gain or bit
//!    depth.
//! 2. *Local background*: the mean of `z` over a square window of
//!    [`Params::background_radius`], leaving out pixels more than
//!    [`Params::background_clip`] above the current estimate (spots) and
//!    their neighbours within [`Params::background_dilation`]; repeated
//!    [`Params::background_passes`] times, each pass masking against the
//!    last one's estimate. It follows gradients and blobs wider than the
//!    window; the masking keeps spots from lifting it.
//! 3. *Matched filter*: a Gaussian of [`Params::smoothing_sigma`] (about the
//!    PSF's), rescaled so that white noise comes out with unit variance at
//!    every pixel, borders included: filtered values are signal-to-noise
//!    ratios of a PSF-shaped spot.
//!
//! **Bit values.** A bit's value at a pixel is the highest local maximum of
//! its plane within [`Params::peak_radius`] (0 when there is none): the
//! slope of a neighbouring molecule's spot is not a bit of this one, and
//! the bits of rounds misregistered by up to that radius still meet. The
//! spot's *score* is the mean of its four brightest bit values.
//!
//! **Candidates** are the pixels where some bit's plane has a local maximum
//! (3x3, the tie rule of [`crate::post::peaks`]) at or above
//! [`Params::spot_threshold`]; those whose score reaches the threshold too
//! are decoded (below).
//!
//! **Registration** ([`Params::register`]): the bright exact calls of a
//! first pass give each image's shift (each image's peaks against their
//! spots' positions); the images are filtered again with Gaussians shifted
//! by it, which brings them into line without a second interpolation.
//!
//! **Rounds** ([`Params::rounds`]): within [`Params::merge_radius`] only the
//! strongest call of a round is kept; the kept calls' model (per bit, a
//! Gaussian of the measured spot width at the bit's peak) is subtracted
//! from the planes, and the next round looks again, finding the molecules
//! that brighter neighbours hid. What a subtraction may have got wrong
//! ([`Params::subtraction_error`] of the model) is discounted from later
//! rounds' bit values, so its leftovers are not taken for molecules. A
//! round decides again only the candidates whose values the last
//! subtractions touched; elsewhere nothing changed, nor would the
//! decisions.
//!
//! **Output**: the calls of every round, one per codeword within the merge
//! radius; then undecodable candidates whose score reaches
//! [`Params::unassigned_threshold`], away from every call and from stronger
//! unassigned spots.
//!
//! # Decoding
//!
//! With `a` the candidate's score, a bit is on when its value reaches
//! `max(bit_fraction * a, bit_floor)` ([`Params::bit_fraction`],
//! [`Params::bit_floor`]). The codeword whose bits best correlate with the
//! values is called when the observed word is within one bit of it and of
//! no other codeword: exact (distance 0), corrected (1); distance 2 and
//! beyond is rejected. The confidence is the call's posterior among all
//! codewords under a two-level Gaussian bit model whose spread grows with
//! the brightness ([`Params::bit_spread`]); calls below
//! [`Params::min_confidence`] are left unassigned.
//!
//! Two molecules closer than the peak radius meet at one pixel and show
//! the union of their codewords. When their bit peaks tell the two
//! codewords apart (each group tight, the split clearly better than the
//! others), the brighter one is called as if the other's bits were off;
//! the other is found in the next round.
//!
//! # Positions
//!
//! Pixel centres are at integer coordinates, as in [`crate::post`]: a spot
//! at `y = row + 0.25` lies a quarter pixel below the centre of row `row`.
//! A call's position is the mean of its on-bits' peaks, each refined by a
//! parabola through the peak and its neighbours; with registration, in
//! the frame of the first round (its two images, one per colour).
//!
//! # Memory and streaming
//!
//! Memory is proportional to the image: three sets of 16 `f32` planes
//! (filtered residual, discounted model error, bit values), while
//! filtering a fourth (the background-free images, kept to filter again
//! after registration), and a few scratch planes. Every stage reads a bounded number of rows around each
//! output row, so the pipeline could run on row bands with the halo
//! [`Params::halo_rows`] adds up. Three inputs are measured over the whole
//! image, and a row streamer would take them from the sender (the host has
//! the whole field of view): the per-image statistics of step 1, the spot
//! width per colour, and the registration shifts. The greedy choice of
//! the strongest call within the merge radius can in principle chain
//! across a band edge; the halo covers one link of such a chain.

mod call;
mod filter;
mod math;
mod pairs;
mod params;
mod planes;
mod prepare;
mod registration;
mod spots;

use alloc::vec::Vec;
use core::fmt;

use crate::codebook::BitOrder;
use crate::image::InputImage;
use crate::post::{Call, DecodeError, Decoded, Decoder, BARCODE_BITS};

pub use params::{Params, MAX_RADIUS};
use planes::BitPlanes;
use prepare::Residuals;

/// Calls at least this many times the spot threshold, and exact, measure
/// the misregistration.
const REGISTRATION_SCORE: f32 = 2.0;

/// Why the decoder cannot run.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ClassicalError {
    /// The input does not have one image per barcode bit.
    ImageCount {
        /// Images given.
        channels: usize,
    },
    /// The codebook is unusable (blank flags do not match, too many words).
    Codebook(DecodeError),
    /// A parameter is out of range.
    Parameter {
        /// Field of [`Params`].
        name: &'static str,
        /// Its value.
        value: f32,
        /// What it must be.
        requirement: &'static str,
    },
    /// The image is too large to hold 16 planes of it in memory.
    ImageTooLarge {
        /// Rows.
        height: usize,
        /// Columns.
        width: usize,
    },
}

impl fmt::Display for ClassicalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClassicalError::ImageCount { channels } => write!(
                f,
                "the classical decoder needs {BARCODE_BITS} images (8 rounds x 2 colours), got {channels}"
            ),
            ClassicalError::Codebook(e) => write!(f, "unusable codebook: {e}"),
            ClassicalError::Parameter {
                name,
                value,
                requirement,
            } => write!(f, "classical decoder parameter `{name}` = {value}: must be {requirement}"),
            ClassicalError::ImageTooLarge { height, width } => write!(
                f,
                "a {height} x {width} image is too large for the classical decoder's {BARCODE_BITS} planes; decode it in tiles"
            ),
        }
    }
}

impl core::error::Error for ClassicalError {}

/// One spot the classical decoder found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClassicalSpot {
    /// Sub-pixel row (pixel centres at integers, as in [`crate::post`]).
    pub y: f32,
    /// Sub-pixel column.
    pub x: f32,
    /// The spot's score: the mean of its four brightest bits after the
    /// matched filter, in noise sigmas (camera-independent).
    pub intensity: f32,
    /// The observed word and the call, as [`Decoder::decode`] reports them:
    /// the codeword index, the distance (0 or 1), blank or not, and the
    /// confidence in `[0, 1]`; no call when unassigned.
    pub decoded: Decoded,
}

impl ClassicalSpot {
    /// The call, when the spot was assigned a codeword.
    pub fn call(&self) -> Option<Call> {
        self.decoded.call
    }
}

/// The classical decoder for one codebook, bit order and parameter set.
#[derive(Clone, Debug)]
pub struct ClassicalDecoder<'a> {
    params: Params,
    codewords: &'a [u16],
    blank: &'a [bool],
    bit_order: BitOrder,
}

impl<'a> ClassicalDecoder<'a> {
    /// A decoder of spots into `codewords` (with their `blank` flags, as
    /// [`Decoder::new`] takes them) for images whose barcode bits are laid
    /// out by `bit_order`.
    pub fn new(
        params: Params,
        codewords: &'a [u16],
        blank: &'a [bool],
        bit_order: BitOrder,
    ) -> Result<ClassicalDecoder<'a>, ClassicalError> {
        params.validate()?;
        Decoder::new(codewords, blank).map_err(ClassicalError::Codebook)?;
        Ok(ClassicalDecoder {
            params,
            codewords,
            blank,
            bit_order,
        })
    }

    /// The parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Finds and decodes the spots of one stack of 16 raw images (u8 or
    /// u16, any camera), sorted by row, then column.
    pub fn decode(&self, image: &InputImage<'_>) -> Result<Vec<ClassicalSpot>, ClassicalError> {
        if image.channels() != BARCODE_BITS {
            return Err(ClassicalError::ImageCount {
                channels: image.channels(),
            });
        }
        let p = &self.params;
        let residuals = Residuals::new(image, self.bit_order, p)?;
        let mut planes = BitPlanes::new(&residuals, self.bit_order, p, &[(0.0, 0.0); BARCODE_BITS]);
        if p.register {
            let (calls, _) = self.strongest_calls(&planes);
            let exact: Vec<(u16, (usize, usize))> = calls
                .iter()
                .filter_map(|(spot, pixel)| {
                    let call = spot.call()?;
                    let bright = spot.intensity >= REGISTRATION_SCORE * p.spot_threshold;
                    (call.distance == 0 && bright)
                        .then(|| (self.codewords[usize::from(call.codeword)], *pixel))
                })
                .collect();
            if let Some(shifts) = registration::estimate(&planes, &exact, self.bit_order) {
                planes = BitPlanes::new(&residuals, self.bit_order, p, &shifts);
            }
        }
        drop(residuals);
        let mut called: Vec<ClassicalSpot> = Vec::new();
        let mut unassigned: Vec<Located> = Vec::new();
        for round in 0..=p.rounds {
            // Only what the last subtractions touched is decided again:
            // elsewhere the values, and the decisions, are as before.
            let (calls, undecoded) = self.strongest_calls(&planes);
            called.extend(calls.iter().map(|(spot, _)| *spot));
            unassigned.retain(|&(_, pixel)| !planes.affected(pixel));
            unassigned.extend(undecoded);
            if round == p.rounds || calls.is_empty() {
                break;
            }
            for (spot, pixel) in &calls {
                if let Some(call) = spot.call() {
                    planes.subtract(
                        self.codewords[usize::from(call.codeword)],
                        (spot.y, spot.x),
                        *pixel,
                    );
                }
            }
            planes.find_peaks(p.spot_threshold);
        }
        // A molecule called twice (once, then on what its subtraction
        // left) counts once; undecodable spots only away from every call
        // and stronger unassigned spot.
        let first_unassigned = called.len();
        called.extend(unassigned.into_iter().map(|(spot, _)| spot));
        let order = strongest_first(&called, first_unassigned);
        let kept = self.suppress(&called, &order, |kept, candidate| {
            candidate >= first_unassigned || codeword(&called[kept]) == codeword(&called[candidate])
        });
        let mut spots: Vec<ClassicalSpot> = kept.into_iter().map(|i| called[i]).collect();
        spots.sort_by(|a, b| a.y.total_cmp(&b.y).then(a.x.total_cmp(&b.x)));
        Ok(spots)
    }

    /// The calls of one round, each with the pixel it was read at: the
    /// strongest within the merge radius (the others are decided again on
    /// the residual, once it is subtracted); and the unassigned candidates
    /// bright enough to report.
    fn strongest_calls(&self, planes: &BitPlanes) -> (Vec<Located>, Vec<Located>) {
        let (calls, unassigned) = self.decode_candidates(planes);
        let spots: Vec<ClassicalSpot> = calls.iter().map(|(s, _)| *s).collect();
        let kept = self.suppress(&spots, &strongest_first(&spots, spots.len()), |_, _| true);
        (kept.into_iter().map(|i| calls[i]).collect(), unassigned)
    }

    /// Decodes every candidate of `planes`: the calls, each with the pixel
    /// it was read at, and the undecodable candidates bright enough to
    /// report.
    fn decode_candidates(&self, planes: &BitPlanes) -> (Vec<Located>, Vec<Located>) {
        let p = &self.params;
        let (mut calls, mut undecoded) = (Vec::new(), Vec::new());
        for &(row, col) in planes.candidates() {
            let values = planes.values_at(row, col);
            let amplitude = call::top4_mean(&values);
            if amplitude.is_nan() || amplitude < p.spot_threshold {
                continue;
            }
            let book = (self.codewords, self.blank);
            let mut decoded = call::call(&values, amplitude, book, p);
            if decoded.call.is_none() {
                decoded = self.split_pair(planes, &values, decoded, (row, col));
            }
            let spot = |(y, x): (f32, f32)| ClassicalSpot {
                y,
                x,
                intensity: amplitude,
                decoded,
            };
            match decoded.call {
                Some(c) => {
                    let bits = self.codewords[usize::from(c.codeword)] & decoded.word;
                    calls.push((spot(planes.position(bits, row, col)), (row, col)));
                }
                None if amplitude >= p.unassigned_threshold => {
                    let position = planes.position(brightest_bit(&values), row, col);
                    undecoded.push((spot(position), (row, col)));
                }
                None => {}
            }
        }
        (calls, undecoded)
    }

    /// `decoded` (no call) again, as two molecules whose bits meet at
    /// `(row, col)`: the brighter one's call with the other's bits treated
    /// as off, when their bit peaks tell them apart; else `decoded`.
    fn split_pair(
        &self,
        planes: &BitPlanes,
        values: &[f32; BARCODE_BITS],
        decoded: Decoded,
        (row, col): (usize, usize),
    ) -> Decoded {
        let word = decoded.word;
        let positions = core::array::from_fn(|b| {
            (word & (1 << b) != 0)
                .then(|| planes.bit_peak(b, row, col).map(|(y, x, _)| (y, x)))
                .flatten()
        });
        let Some((index, partner)) = pairs::split(word, values, &positions, self.codewords) else {
            return decoded;
        };
        let alone: [f32; BARCODE_BITS] = core::array::from_fn(|b| {
            if partner & (1 << b) != 0 {
                0.0
            } else {
                values[b]
            }
        });
        let again = call::call(
            &alone,
            call::top4_mean(&alone),
            (self.codewords, self.blank),
            &self.params,
        );
        match again.call {
            Some(c) if usize::from(c.codeword) == index => again,
            _ => decoded,
        }
    }

    /// The spots of `spots` kept when going through them in `order` and
    /// dropping each that `duplicates(kept, candidate)` says repeats a kept
    /// spot within the merge radius.
    fn suppress(
        &self,
        spots: &[ClassicalSpot],
        order: &[usize],
        duplicates: impl Fn(usize, usize) -> bool,
    ) -> Vec<usize> {
        let positions: Vec<(f32, f32)> = spots.iter().map(|s| (s.y, s.x)).collect();
        spots::suppress_duplicates(&positions, order, self.params.merge_radius, duplicates)
    }
}

/// A spot and the pixel it was read at.
type Located = (ClassicalSpot, (usize, usize));

/// The called codeword of a spot.
fn codeword(spot: &ClassicalSpot) -> Option<u16> {
    spot.decoded.call.map(|c| c.codeword)
}

/// Indices of `spots`: those before `split` first, then the rest, each
/// part strongest first (a stable sort: ties keep their order).
fn strongest_first(spots: &[ClassicalSpot], split: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..spots.len()).collect();
    order.sort_by(|&a, &b| {
        (a >= split)
            .cmp(&(b >= split))
            .then(spots[b].intensity.total_cmp(&spots[a].intensity))
    });
    order
}

/// The word with only the brightest bit of `values` set.
fn brightest_bit(values: &[f32; BARCODE_BITS]) -> u16 {
    let mut best = 0;
    for (bit, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = bit;
        }
    }
    1 << best
}
