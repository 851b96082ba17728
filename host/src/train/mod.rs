//! Training anglerFISH through libtorch (`tch`), behind the `torch` feature.
//!
//! - [`net`]: the network built by walking the same architecture graph as
//!   the float reference and the int8 model (so names, shapes and wiring
//!   agree by construction, and the 750 nm first stage is really used);
//! - [`loss`]: the original's loss, vectorised, with a per-pixel reference;
//! - [`optim`]: AdamW and gradient-norm clipping with savable state;
//! - [`trainer`]: the epoch loop, run directory, checkpoints and resume.
pub mod loss;
pub mod net;
pub mod optim;
pub mod trainer;

use anyhow::{bail, Result};
use tch::Device;

/// `cpu`, `cuda` or `auto` (CUDA when available).
pub fn parse_device(text: &str) -> Result<Device> {
    match text {
        "cpu" => Ok(Device::Cpu),
        "cuda" => {
            if !tch::Cuda::is_available() {
                bail!("--device cuda: libtorch sees no CUDA device (use --device cpu or auto)");
            }
            Ok(Device::Cuda(0))
        }
        "auto" => Ok(Device::cuda_if_available()),
        other => bail!("--device '{other}' must be cpu, cuda or auto"),
    }
}
