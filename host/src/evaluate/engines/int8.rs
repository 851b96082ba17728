//! The robofish int8 engine on a model file.

use anyhow::{bail, Context, Result};
use robofish_shared::engine::{InputImage, Network, Pixels, Plan};
use robofish_shared::kernels::KernelPath;
use robofish_shared::model::{Model, OutputKind, QuantMode};

use super::{Engine, ProbabilityMaps};
use crate::sim::{Tile, IMAGE_COUNT};

/// A [`Network`] with its plan, arena and output buffers for one tile size.
pub struct Int8Engine {
    network: Network,
    /// Plan for the loaded tile's size.
    plan: Option<Plan>,
    arena: Vec<u8>,
    /// One buffer per graph output.
    outputs: Vec<Vec<u8>>,
    position: usize,
    barcode: usize,
    /// The loaded tile's images and size.
    images: Vec<u16>,
    stats: Vec<robofish_shared::image::ImageStats>,
    size: (usize, usize),
    threads: usize,
}

impl Int8Engine {
    /// Prepares `model` for `kernels`.
    pub fn new(model: Model, kernels: KernelPath) -> Result<Int8Engine> {
        let find = |kind: OutputKind| {
            model
                .graph
                .outputs
                .iter()
                .position(|o| o.kind == kind)
                .with_context(|| format!("the model has no {kind:?} output"))
        };
        let (position, barcode) = (find(OutputKind::Position)?, find(OutputKind::Barcode)?);
        let network = Network::new(model, kernels).context("cannot prepare the int8 network")?;
        Ok(Int8Engine {
            network,
            plan: None,
            arena: Vec::new(),
            outputs: Vec::new(),
            position,
            barcode,
            images: Vec::new(),
            stats: Vec::new(),
            size: (0, 0),
            threads: 1,
        })
    }

    fn plan_for(&mut self, height: usize, width: usize) -> Result<()> {
        if self.plan.is_some() && self.size == (height, width) {
            return Ok(());
        }
        let plan = self
            .network
            .plan(height, width)
            .with_context(|| format!("the int8 model cannot run {height}x{width} tiles"))?;
        self.arena = vec![0; plan.arena_bytes()];
        let graph = &self.network.model().graph;
        self.outputs = graph
            .outputs
            .iter()
            .map(|o| vec![0; graph.tensors[o.tensor as usize].channels as usize * height * width])
            .collect();
        self.plan = Some(plan);
        self.size = (height, width);
        Ok(())
    }
}

impl Engine for Int8Engine {
    fn name(&self) -> &'static str {
        "robofish"
    }

    fn set_threads(&mut self, threads: usize) -> usize {
        // Dynamic grids are measured over whole tensors, so the engine runs
        // dynamic models on one thread whatever it is given.
        self.threads = if self.network.model().metadata.mode == QuantMode::Dynamic {
            1
        } else {
            threads.max(1)
        };
        self.threads
    }

    fn load(&mut self, tile: &Tile) -> Result<()> {
        self.plan_for(tile.height, tile.width)?;
        self.images.clone_from(&tile.images);
        // The tile's own statistics (not timed: the host measures them once
        // per FOV before streaming it).
        self.stats = crate::norm::tile_stats(tile);
        Ok(())
    }

    fn forward(&mut self) -> Result<()> {
        let Some(plan) = &self.plan else {
            bail!("no tile loaded");
        };
        let (height, width) = self.size;
        let image = InputImage::planar(Pixels::U16(&self.images), IMAGE_COUNT, height, width)?
            .with_stats(&self.stats)?;
        let mut outputs: Vec<&mut [u8]> = self.outputs.iter_mut().map(Vec::as_mut_slice).collect();
        if self.threads > 1 {
            self.network
                .run_threaded(plan, &mut self.arena, &image, &mut outputs, self.threads)?;
        } else {
            self.network
                .run(plan, &mut self.arena, &image, &mut outputs)?;
        }
        Ok(())
    }

    fn maps(&self) -> Result<ProbabilityMaps> {
        let (height, width) = self.size;
        ProbabilityMaps::from_u8(
            height,
            width,
            &self.outputs[self.position],
            &self.outputs[self.barcode],
        )
    }

    fn kernel_path(&self) -> Option<String> {
        Some(self.network.kernel_path().to_string())
    }
}
