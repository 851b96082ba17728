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
//! [`reference_loss`] computes the same with plain loops, one pixel at a
//! time, as the original did.

use anyhow::Result;
use tch::{Kind, Tensor};

/// Weight of the barcode loss in the total.
pub const BARCODE_LOSS_WEIGHT: f64 = 16.0;
/// Positive weight of the barcode BCE at emitter pixels.
pub const BARCODE_POS_WEIGHT: f64 = 3.0;

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
) -> Result<Losses> {
    let bce = |x: &Tensor, y: &Tensor, w: f64| -> Tensor {
        y * (-x).softplus() * w + (1.0 - y) * x.softplus()
    };
    let position = bce(pos_logits, pos_target, 1.0).mean(Kind::Float);
    let emitter = pos_target.f_squeeze_dim(1)?; // [N, H, W]
    let background = emitter.ones_like() - &emitter;
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
) -> (f64, f64, f64) {
    let plane = h * w;
    let (mut pos_sum, mut e_sum, mut n_sum, mut e_count, mut n_count) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for img in 0..n {
        for p in 0..plane {
            let i = img * plane + p;
            pos_sum += bce(pos_logits[i] as f64, pos_target[i] as f64, 1.0);
            let is_emitter = pos_target[i] > 0.5;
            let weight = if is_emitter { BARCODE_POS_WEIGHT } else { 1.0 };
            let mut pixel = 0.0;
            for b in 0..bits {
                let j = (img * bits + b) * plane + p;
                pixel += bce(bc_logits[j] as f64, bc_target[j] as f64, weight);
            }
            pixel /= bits as f64;
            if is_emitter {
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
