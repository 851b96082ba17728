//! An fp32 checkpoint in libtorch (`--features torch`); without the
//! feature, asking for it is an error that says how to get it.

#[cfg(feature = "torch")]
pub use with_torch::TchEngine;
#[cfg(not(feature = "torch"))]
pub use without_torch::TchEngine;

#[cfg(feature = "torch")]
mod with_torch {
    use anyhow::{bail, Context, Result};
    use robofish_shared::input_stage::InputStage;
    use robofish_shared::model::Normalisation;
    use tch::{Device, Tensor};

    use super::super::{Engine, ProbabilityMaps};
    use crate::checkpoint::Checkpoint;
    use crate::norm::network_input;
    use crate::sim::{Tile, IMAGE_COUNT};
    use crate::train::net::{Net, WeightInit};
    use crate::train::parse_device;

    /// The training graph with the checkpoint's weights.
    pub struct TchEngine {
        net: Net,
        device: Device,
        normalisation: Normalisation,
        input_stage: InputStage,
        input: Option<((usize, usize), Tensor)>,
        outputs: Option<(Tensor, Tensor)>,
    }

    impl TchEngine {
        /// Builds the network on `device` (`cpu`, `cuda` or `auto`).
        pub fn new(checkpoint: &Checkpoint, device: &str) -> Result<TchEngine> {
            let device = parse_device(device)?;
            let mut net = Net::new(&checkpoint.meta.arch, device, 0, WeightInit::Uniform)?;
            net.load_tensors(&checkpoint.tensors)
                .context("the checkpoint's tensors do not fit its architecture")?;
            Ok(TchEngine {
                net,
                device,
                normalisation: checkpoint.meta.normalisation.clone(),
                input_stage: checkpoint.meta.input_stage,
                input: None,
                outputs: None,
            })
        }
    }

    fn to_vec(t: &Tensor) -> Result<Vec<f32>> {
        Ok(Vec::<f32>::try_from(&t.to_device(Device::Cpu).view([-1]))?)
    }

    impl Engine for TchEngine {
        fn name(&self) -> &'static str {
            "tch"
        }

        fn set_threads(&mut self, threads: usize) -> usize {
            tch::set_num_threads(i32::try_from(threads.max(1)).unwrap_or(i32::MAX));
            usize::try_from(tch::get_num_threads()).unwrap_or(1)
        }

        fn load(&mut self, tile: &Tile) -> Result<()> {
            let (h, w) = (tile.height, tile.width);
            let x = Tensor::from_slice(&network_input(tile, self.input_stage, &self.normalisation))
                .f_view([1, IMAGE_COUNT as i64, h as i64, w as i64])?
                .to_device(self.device);
            self.input = Some(((h, w), x));
            Ok(())
        }

        fn forward(&mut self) -> Result<()> {
            let Some((_, x)) = &self.input else {
                bail!("no tile loaded");
            };
            let _no_grad = tch::no_grad_guard();
            let outputs = self.net.forward(x)?;
            // CUDA runs asynchronously: wait, so latency is the real work.
            if let Device::Cuda(index) = self.device {
                tch::Cuda::synchronize(index as i64);
            }
            self.outputs = Some(outputs);
            Ok(())
        }

        fn maps(&self) -> Result<ProbabilityMaps> {
            let (Some(((h, w), _)), Some((p, b))) = (&self.input, &self.outputs) else {
                bail!("no forward pass yet");
            };
            ProbabilityMaps::new(*h, *w, to_vec(p)?, to_vec(b)?)
        }
    }
}

#[cfg(not(feature = "torch"))]
mod without_torch {
    use anyhow::{bail, Result};
    use std::convert::Infallible;

    use super::super::{Engine, ProbabilityMaps};
    use crate::checkpoint::Checkpoint;
    use crate::sim::Tile;

    /// Cannot be made in a build without libtorch.
    pub struct TchEngine {
        never: Infallible,
    }

    impl TchEngine {
        /// Always fails: this build has no libtorch.
        pub fn new(_checkpoint: &Checkpoint, _device: &str) -> Result<TchEngine> {
            bail!(
                "the tch engine needs a robofish built with `--features torch` \
                 (see README, Training); use --engine tract or reference"
            )
        }
    }

    impl Engine for TchEngine {
        fn name(&self) -> &'static str {
            match self.never {}
        }
        fn set_threads(&mut self, _: usize) -> usize {
            match self.never {}
        }
        fn load(&mut self, _: &Tile) -> Result<()> {
            match self.never {}
        }
        fn forward(&mut self) -> Result<()> {
            match self.never {}
        }
        fn maps(&self) -> Result<ProbabilityMaps> {
            match self.never {}
        }
    }
}
