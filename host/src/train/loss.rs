//! The original's loss, vectorised over the batch.
//!
//! With `x` the logits, `y` the 0/1 targets and
//! `bce_w(x, y) = w y softplus(-x) + (1 - y) softplus(x)` (binary
//! cross-entropy on `sigmoid(x)` with positive weight `w`, computed from
//! logits so it never takes `log(0)`):
//!
//! - position loss: mean of `bce_1` over all pixels of the batch;
//! - barcode loss: per pixel, the mean over the 16 bits of `bce_3` at
//!   emitter pixels (positive weight 3 = 12 zeros / 4 ones of a weight-4
//!   code) and of `bce_1` elsewhere; the non-emitter sum is scaled down by
//!   (non-emitter pixels / emitter pixels), and the whole divided by the
//!   emitter pixels, i.e. `mean_emitters + mean_non_emitters` (each term is
//!   0 when its set is empty);
//! - total: `16 x barcode + 1 x position`.
//!
//! [`BarcodeTarget::Neighbourhood`] changes which pixels the barcode term
//! trains and towards what. With one target pixel per emitter, the pixels
//! around it look the same to the network but are trained towards "all
//! bits off", so the bit maps learn to follow the position uncertainty
//! instead of the bits, and a peak found one pixel off reads a blank word.
//! In the neighbourhood rule a pixel whose 3x3 neighbourhood holds exactly
//! one emitter is trained towards that emitter's word (weighted like an
//! emitter pixel), a non-emitter pixel next to two or more emitters is left
//! out (its word is ambiguous), and only pixels with no emitter within one
//! pixel count as background.
//!
//! [`reference_loss`] computes the same with plain loops, one pixel at a
//! time, as the original did.

use anyhow::Result;
use tch::{Kind, Tensor};

/// Weight of the barcode loss in the total.
pub const BARCODE_LOSS_WEIGHT: f64 = 16.0;
/// Positive weight of the barcode BCE at emitter pixels.
pub const BARCODE_POS_WEIGHT: f64 = 3.0;

/// Which pixels the barcode term trains towards an emitter's word.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BarcodeTarget {
    /// The original's: the emitter's own pixel only; every other pixel is
    /// background.
    #[default]
    Pixel,
    /// The emitter's pixel and its 3x3 neighbourhood (module docs).
    Neighbourhood,
}

impl BarcodeTarget {
    /// Name on the command line and in `config.json`.
    pub fn name(self) -> &'static str {
        match self {
            BarcodeTarget::Pixel => "pixel",
            BarcodeTarget::Neighbourhood => "neighbourhood",
        }
    }

    /// The rule called `name`.
    pub fn parse(name: &str) -> Result<Self> {
        [BarcodeTarget::Pixel, BarcodeTarget::Neighbourhood]
            .into_iter()
            .find(|r| r.name() == name)
            .ok_or_else(|| {
                anyhow::anyhow!("unknown barcode target {name:?}: use pixel or neighbourhood")
            })
    }
}

/// The three losses of a batch (scalar tensors).
#[derive(Debug)]
pub struct Losses {
    /// `16 x barcode + position`, differentiable.
    pub total: Tensor,
    /// Position BCE.
    pub position: Tensor,
    /// Barcode loss.
    pub barcode: Tensor,
}

/// Vectorised loss. Logits and targets: position `[N, 1, H, W]`, barcode
/// `[N, B, H, W]`; targets are 0/1 floats.
pub fn loss(
    pos_logits: &Tensor,
    bc_logits: &Tensor,
    pos_target: &Tensor,
    bc_target: &Tensor,
    rule: BarcodeTarget,
) -> Result<Losses> {
    let bce = |x: &Tensor, y: &Tensor, w: f64| -> Tensor {
        y * (-x).softplus() * w + (1.0 - y) * x.softplus()
    };
    let position = bce(pos_logits, pos_target, 1.0).mean(Kind::Float);
    let (emitter, background, bc_target) = match rule {
        BarcodeTarget::Pixel => {
            let emitter = pos_target.f_squeeze_dim(1)?; // [N, H, W]
            let background = emitter.ones_like() - &emitter;
            (emitter, background, bc_target.shallow_clone())
        }
        BarcodeTarget::Neighbourhood => {
            // 3x3 sums (zero padding): emitters around each pixel, and the
            // sum of their words.
            let sum3 = |t: &Tensor| -> Result<Tensor> {
                Ok(t.f_avg_pool2d([3, 3], [1, 1], [1, 1], false, true, None::<i64>)? * 9.0)
            };
            let count = sum3(pos_target)?.f_squeeze_dim(1)?.round();
            let own = pos_target.f_squeeze_dim(1)?;
            let lone = count.eq(1.0).to_kind(Kind::Float) * (own.ones_like() - &own);
            let words = sum3(bc_target)?.round().clamp(0.0, 1.0);
            let target = bc_target * pos_target + words * lone.unsqueeze(1);
            let background = count.eq(0.0).to_kind(Kind::Float);
            (own + lone, background, target)
        }
    };
    let bc_target = &bc_target;
    let weighted =
        bce(bc_logits, bc_target, BARCODE_POS_WEIGHT).f_mean_dim(1, false, Kind::Float)?;
    let plain = bce(bc_logits, bc_target, 1.0).f_mean_dim(1, false, Kind::Float)?;
    let e = emitter.sum(Kind::Float).clamp_min(1.0);
    let n = background.sum(Kind::Float).clamp_min(1.0);
    let barcode =
        (weighted * &emitter).sum(Kind::Float) / e + (plain * &background).sum(Kind::Float) / n;
    let total = &barcode * BARCODE_LOSS_WEIGHT + &position;
    Ok(Losses {
        total,
        position,
        barcode,
    })
}

fn softplus(x: f64) -> f64 {
    // log(1 + e^x) without overflow.
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

fn bce(x: f64, y: f64, w: f64) -> f64 {
    w * y * softplus(-x) + (1.0 - y) * softplus(x)
}

/// The same loss, one pixel at a time in f64. Slices are row-major
/// `[N][1][H][W]` and `[N][bits][H][W]`. Returns `(total, position, barcode)`.
#[allow(clippy::too_many_arguments)]
pub fn reference_loss(
    n: usize,
    bits: usize,
    h: usize,
    w: usize,
    pos_logits: &[f32],
    bc_logits: &[f32],
    pos_target: &[f32],
    bc_target: &[f32],
    rule: BarcodeTarget,
) -> (f64, f64, f64) {
    let plane = h * w;
    let is_emitter = |img: usize, y: usize, x: usize| pos_target[img * plane + y * w + x] > 0.5;
    // The emitter whose word pixel (y, x) is trained towards, or None for a
    // background pixel; Err(()) for a pixel the barcode term leaves out.
    let source = |img: usize, y: usize, x: usize| -> Result<Option<(usize, usize)>, ()> {
        if is_emitter(img, y, x) {
            return Ok(Some((y, x)));
        }
        if rule == BarcodeTarget::Pixel {
            return Ok(None);
        }
        let mut found = Vec::new();
        for ny in y.saturating_sub(1)..(y + 2).min(h) {
            for nx in x.saturating_sub(1)..(x + 2).min(w) {
                if is_emitter(img, ny, nx) {
                    found.push((ny, nx));
                }
            }
        }
        match found.len() {
            0 => Ok(None),
            1 => Ok(Some(found[0])),
            _ => Err(()),
        }
    };
    let (mut pos_sum, mut e_sum, mut n_sum, mut e_count, mut n_count) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for img in 0..n {
        for p in 0..plane {
            let i = img * plane + p;
            pos_sum += bce(pos_logits[i] as f64, pos_target[i] as f64, 1.0);
            let Ok(source) = source(img, p / w, p % w) else {
                continue;
            };
            let weight = if source.is_some() {
                BARCODE_POS_WEIGHT
            } else {
                1.0
            };
            let mut pixel = 0.0;
            for b in 0..bits {
                let j = (img * bits + b) * plane + p;
                let target = match source {
                    Some((y, x)) => bc_target[(img * bits + b) * plane + y * w + x] as f64,
                    None => 0.0,
                };
                pixel += bce(bc_logits[j] as f64, target, weight);
            }
            pixel /= bits as f64;
            if source.is_some() {
                e_sum += pixel;
                e_count += 1.0;
            } else {
                n_sum += pixel;
                n_count += 1.0;
            }
        }
    }
    let position = pos_sum / (n * plane) as f64;
    let mut barcode = 0.0;
    if e_count > 0.0 {
        // Emitter pixels as they are; non-emitter pixels scaled down by
        // (non-emitters / emitters); everything over the emitter count.
        barcode = (e_sum + n_sum / (n_count / e_count)) / e_count;
    } else if n_count > 0.0 {
        barcode = n_sum / n_count;
    }
    (BARCODE_LOSS_WEIGHT * barcode + position, position, barcode)
}
