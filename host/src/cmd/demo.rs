//! `robofish demo`: the main job with the shipped model.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use robofish_device::DeviceConfig;
use robofish_host::link::{Link, LinkOptions};
use robofish_host::sim::{preset, Codebook, Simulator, Split};
use robofish_host::streaming::{print_summary, stream_tiles, StreamJob};

/// Simulate a short MERFISH acquisition, stream it through an in-process
/// device running the shipped int8 model (the same runtime a board runs),
/// and print spots, latency, throughput and accuracy against the truth.
#[derive(Args, Debug)]
pub struct Cmd {
    /// Folder with the shipped models.
    #[arg(long, default_value = "models")]
    pub models: PathBuf,
    /// Model file (default: the shipped static model).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Fields of view to stream.
    #[arg(long, default_value_t = 6)]
    pub fovs: usize,
    /// FOV side in pixels (multiple of 4).
    #[arg(long, default_value_t = 128)]
    pub size: usize,
    /// Simulation seed.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
}

/// The model the demo runs by default.
pub const SHIPPED_MODEL: &str = "anglerfish-static.rfm";

impl Cmd {
    pub fn run(self) -> Result<()> {
        let model = match &self.model {
            Some(m) => m.clone(),
            None => self.models.join(SHIPPED_MODEL),
        };
        if !model.exists() {
            writeln!(
                io::stdout(),
                "robofish demo: no trained model at {} yet.\n\
                 Every stage without it works today; try:\n\
                 \n  cargo run --release -p robofish-host -- init --out scratch/untrained.rfm\n  \
                 cargo run --release -p robofish-host -- stream --device local --model scratch/untrained.rfm --simulate seed --fovs 5 --truth",
                model.display()
            )?;
            return Ok(());
        }
        let mut config = preset("seed").context("seed preset")?;
        config.height = self.size;
        config.width = self.size;
        let codebook = Codebook::mhd4(config.real_genes);
        let simulator = Simulator::new(config.clone(), codebook.clone(), self.seed)?;
        writeln!(
            io::stdout(),
            "robofish demo: {} simulated FOVs of {}x{} (8 rounds x 2 colours, preset 'seed'), model {}",
            self.fovs,
            self.size,
            self.size,
            display(&model)
        )?;
        let tiles: Vec<_> = (0..self.fovs)
            .map(|i| simulator.tile(Split::Test, i))
            .collect();
        let mut link = Link::open("local", DeviceConfig::default(), &LinkOptions::default())?;
        let summary = stream_tiles(
            &mut link,
            &StreamJob {
                model: Some(&model),
                tiles: &tiles,
                codebook: Some(&codebook),
                truth: true,
                spots_out: None,
                progress: true,
            },
        )?;
        link.close()?;
        print_summary(
            &mut io::stdout().lock(),
            "local (in-process robofish-device runtime)",
            &summary,
        )?;
        Ok(())
    }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}
