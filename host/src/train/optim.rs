//! AdamW (decoupled weight decay, as `torch.optim.AdamW`) and gradient-norm
//! clipping (as `torch.nn.utils.clip_grad_norm_`), written out so their
//! state can be saved with a checkpoint and a run resumed exactly.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use tch::{Kind, Tensor};

use super::net::{named_to_tensor, tensor_to_named};
use crate::checkpoint::NamedTensor;

/// AdamW hyper-parameters (PyTorch's defaults but the learning rate).
#[derive(Clone, Copy, Debug)]
pub struct AdamWConfig {
    /// Learning rate.
    pub lr: f64,
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Denominator guard.
    pub eps: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
}

impl AdamWConfig {
    /// `torch.optim.AdamW(lr=lr)`.
    pub fn new(lr: f64) -> AdamWConfig {
        AdamWConfig {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

/// Moments of every parameter and the step count.
#[derive(Debug)]
pub struct AdamW {
    /// Hyper-parameters.
    pub config: AdamWConfig,
    /// Steps taken.
    pub step: u64,
    exp_avg: Vec<Tensor>,
    exp_avg_sq: Vec<Tensor>,
}

impl AdamW {
    /// Zero moments for `params`.
    pub fn new(config: AdamWConfig, params: &[&Tensor]) -> AdamW {
        let zeros = || params.iter().map(|p| p.zeros_like()).collect();
        AdamW {
            config,
            step: 0,
            exp_avg: zeros(),
            exp_avg_sq: zeros(),
        }
    }

    /// One update of `params` from their gradients.
    pub fn step(&mut self, params: &[&Tensor]) {
        let c = self.config;
        self.step += 1;
        let bias1 = 1.0 - c.beta1.powi(self.step as i32);
        let bias2 = 1.0 - c.beta2.powi(self.step as i32);
        let _guard = tch::no_grad_guard();
        for (i, p) in params.iter().enumerate() {
            let grad = p.grad();
            if !grad.defined() {
                continue;
            }
            let mut p = p.shallow_clone();
            let _ = p.g_mul_scalar_(1.0 - c.lr * c.weight_decay);
            let m = &mut self.exp_avg[i];
            let _ = m.g_mul_scalar_(c.beta1);
            let _ = m.g_add_(&(&grad * (1.0 - c.beta1)));
            let v = &mut self.exp_avg_sq[i];
            let _ = v.g_mul_scalar_(c.beta2);
            let _ = v.g_add_(&(&grad * &grad * (1.0 - c.beta2)));
            let denom = (&*v / bias2).sqrt() + c.eps;
            let update = &*m / &denom * (c.lr / bias1);
            let _ = p.g_sub_(&update);
        }
    }

    /// The moments as tensors named `{param}.exp_avg` / `.exp_avg_sq`.
    pub fn state(&self, names: &[String]) -> Result<BTreeMap<String, NamedTensor>> {
        let mut out = BTreeMap::new();
        for (i, name) in names.iter().enumerate() {
            out.insert(
                format!("{name}.exp_avg"),
                tensor_to_named(&self.exp_avg[i])?,
            );
            out.insert(
                format!("{name}.exp_avg_sq"),
                tensor_to_named(&self.exp_avg_sq[i])?,
            );
        }
        Ok(out)
    }

    /// Restores moments saved by [`AdamW::state`].
    pub fn load_state(
        &mut self,
        names: &[String],
        state: &BTreeMap<String, NamedTensor>,
        step: u64,
    ) -> Result<()> {
        if names.len() != self.exp_avg.len() {
            bail!("optimizer state is for a different network");
        }
        for (i, name) in names.iter().enumerate() {
            for (suffix, slot) in [
                ("exp_avg", &mut self.exp_avg[i]),
                ("exp_avg_sq", &mut self.exp_avg_sq[i]),
            ] {
                let key = format!("{name}.{suffix}");
                let t = state
                    .get(&key)
                    .with_context(|| format!("optimizer state has no '{key}'"))?;
                let value = named_to_tensor(t, slot.device())?;
                if value.size() != slot.size() {
                    bail!("optimizer state '{key}' has the wrong shape");
                }
                *slot = value;
            }
        }
        self.step = step;
        Ok(())
    }
}

/// Clips the total L2 norm of the gradients to `max_norm` (scaling all by
/// `max_norm / (norm + 1e-6)` when above it); returns the norm before.
pub fn clip_grad_norm(params: &[&Tensor], max_norm: f64) -> f64 {
    let _guard = tch::no_grad_guard();
    let grads: Vec<Tensor> = params
        .iter()
        .map(|p| p.grad())
        .filter(|g| g.defined())
        .collect();
    if grads.is_empty() {
        return 0.0;
    }
    let squares: Vec<Tensor> = grads.iter().map(|g| g.square().sum(Kind::Float)).collect();
    let norm = Tensor::stack(&squares, 0)
        .sum(Kind::Float)
        .sqrt()
        .double_value(&[]);
    if norm.is_finite() && norm > max_norm {
        let scale = max_norm / (norm + 1e-6);
        for g in &grads {
            let mut g = g.shallow_clone();
            let _ = g.g_mul_scalar_(scale);
        }
    }
    norm
}
