//! The decoder's parameters, their checks, and the rows a band needs
//! around it.

use super::filter::{self, Gaussian};
use super::{planes, ClassicalError};

/// The decoder's settings. The defaults work without tuning: every
/// threshold is in units of the image noise, every length in pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    /// Half-width (px) of the square window the local background is
    /// averaged over: wider than a spot (a few PSF sigmas), narrower than
    /// the background's structure.
    pub background_radius: usize,
    /// Pixels above the background by more than this (noise sigmas) are
    /// spots and left out of the background.
    pub background_clip: f32,
    /// Pixels within this many pixels of such a spot pixel are left out
    /// too (a spot's faint shoulders).
    pub background_dilation: usize,
    /// Masking and averaging passes; each masks against the last estimate.
    pub background_passes: usize,
    /// Sigma (px) of the Gaussian matched filter: about the PSF's. 0 turns
    /// it off.
    pub smoothing_sigma: f32,
    /// A bit's value at a pixel is the highest local maximum of its plane
    /// within this many pixels (0 when there is none): the slope of a
    /// neighbouring molecule's spot is not a bit of this one, and the bits
    /// of rounds misregistered by up to this much still meet. 0 reads the
    /// filtered value at the pixel itself.
    pub peak_radius: usize,
    /// Smallest score (mean of a pixel's four brightest bits, in filtered
    /// noise sigmas) of a spot candidate.
    pub spot_threshold: f32,
    /// A bit is on when it reaches this fraction of the spot's score...
    pub bit_fraction: f32,
    /// ...and at least this many filtered noise sigmas.
    pub bit_floor: f32,
    /// Relative spread of a spot's on-bits (round-to-round brightness),
    /// used for the confidence.
    pub bit_spread: f32,
    /// Calls less confident than this are left unassigned.
    pub min_confidence: f32,
    /// Undecodable candidates are reported (as unassigned) only from this
    /// score up; `f32::INFINITY` never reports them.
    pub unassigned_threshold: f32,
    /// Spots closer than this (px) are one molecule when they call the same
    /// codeword, or when the weaker is unassigned; within a round, only the
    /// strongest call this close is subtracted.
    pub merge_radius: f32,
    /// Rounds of calling and subtracting: each round calls the spots it
    /// can, subtracts their model from the planes and looks again, so
    /// molecules that bright neighbours hid are found. 0 calls once and
    /// subtracts nothing.
    pub rounds: usize,
    /// Measure each image's misregistration from a first pass's bright
    /// exact calls and filter again with the images brought into line
    /// (positions are then in the frame of the first round). Needs the
    /// matched filter (a smoothing sigma of at least 0.05 px).
    pub register: bool,
    /// How far off a subtracted spot's model may be, as a fraction of its
    /// height: later rounds discount that much (times the model's shape)
    /// from the residual of its bits, so what an imperfect subtraction
    /// leaves is not taken for a molecule.
    pub subtraction_error: f32,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            background_radius: 8,
            background_clip: 2.5,
            background_dilation: 1,
            background_passes: 2,
            smoothing_sigma: 1.0,
            peak_radius: 1,
            spot_threshold: 4.0,
            bit_fraction: 0.5,
            bit_floor: 1.5,
            bit_spread: 0.3,
            min_confidence: 0.5,
            unassigned_threshold: 6.0,
            merge_radius: 2.0,
            rounds: 4,
            register: true,
            subtraction_error: 0.2,
        }
    }
}

/// Largest radius (px) of any window the parameters may ask for.
pub const MAX_RADIUS: usize = 256;

impl Params {
    /// Checks every field; the decoder does this on construction.
    pub fn validate(&self) -> Result<(), ClassicalError> {
        let check = |name: &'static str, value: f32, ok: bool, requirement: &'static str| {
            if ok && !value.is_nan() {
                Ok(())
            } else {
                Err(ClassicalError::Parameter {
                    name,
                    value,
                    requirement,
                })
            }
        };
        let radius = |r: usize| r <= MAX_RADIUS;
        check(
            "background_radius",
            self.background_radius as f32,
            (1..=MAX_RADIUS).contains(&self.background_radius),
            "1 to 256 pixels",
        )?;
        check(
            "background_clip",
            self.background_clip,
            self.background_clip > 0.0 && self.background_clip.is_finite(),
            "a positive number of noise sigmas",
        )?;
        check(
            "background_dilation",
            self.background_dilation as f32,
            radius(self.background_dilation),
            "0 to 256 pixels",
        )?;
        check(
            "background_passes",
            self.background_passes as f32,
            self.background_passes <= 8,
            "0 to 8",
        )?;
        check(
            "smoothing_sigma",
            self.smoothing_sigma,
            (0.0..=10.0).contains(&self.smoothing_sigma),
            "0 to 10 pixels",
        )?;
        check(
            "peak_radius",
            self.peak_radius as f32,
            radius(self.peak_radius),
            "0 to 256 pixels",
        )?;
        check(
            "spot_threshold",
            self.spot_threshold,
            self.spot_threshold.is_finite(),
            "a finite number of noise sigmas",
        )?;
        check(
            "bit_fraction",
            self.bit_fraction,
            (0.0..=1.0).contains(&self.bit_fraction),
            "0 to 1",
        )?;
        check(
            "bit_floor",
            self.bit_floor,
            self.bit_floor.is_finite(),
            "a finite number of noise sigmas",
        )?;
        check(
            "bit_spread",
            self.bit_spread,
            (0.0..=10.0).contains(&self.bit_spread),
            "0 to 10",
        )?;
        check(
            "min_confidence",
            self.min_confidence,
            (0.0..=1.0).contains(&self.min_confidence),
            "0 to 1",
        )?;
        check(
            "unassigned_threshold",
            self.unassigned_threshold,
            true,
            "a number of noise sigmas or infinity",
        )?;
        check(
            "merge_radius",
            self.merge_radius,
            (0.0..=MAX_RADIUS as f32).contains(&self.merge_radius),
            "0 to 256 pixels",
        )?;
        check("rounds", self.rounds as f32, self.rounds <= 64, "0 to 64")?;
        check(
            "subtraction_error",
            self.subtraction_error,
            (0.0..=10.0).contains(&self.subtraction_error),
            "0 to 10",
        )
    }

    /// Rows above and below a band that the pipeline reads to find the
    /// band's spots as the whole image would (given the whole-image
    /// statistics, widths and shifts; see the [module docs](crate::classical)): each
    /// background pass (window + mask dilation) and the matched filter's
    /// half-width (shifted as far as registration may), then per round the
    /// bit values (peak test + peak radius), the decoding at a candidate
    /// (peak radius, peak test and parabola), the subtraction of the
    /// widest spot model, and the merge radius.
    pub fn halo_rows(&self) -> usize {
        let shift = if self.register {
            filter::MAX_SHIFT
        } else {
            0.0
        };
        let filter = self.background_passes * (self.background_radius + self.background_dilation)
            + Gaussian::shifted(self.smoothing_sigma, shift).radius();
        let subtraction = (3.0 * planes::MAX_SPOT_SIGMA) as usize + 1;
        let round = (self.peak_radius + 1)
            + (self.peak_radius + 2)
            + subtraction
            + self.merge_radius as usize
            + 1;
        filter + (self.rounds + 1) * round
    }
}
