//! `robofish bench MODEL`: int8 engine latency on one tile.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use robofish_host::args::TileSize;
use robofish_host::cpu::CpuIdentity;
use robofish_host::sim::{preset, Codebook, Simulator, Split};
use robofish_shared::engine::{InputImage, Network, Pixels};
use robofish_shared::kernels::KernelPath;
use robofish_shared::model::decode_model;

/// Time the int8 engine on a simulated tile (median and minimum of N runs
/// after warm-up; one thread unless --threads). The kernel path is the best
/// this CPU supports unless ROBOFISH_KERNELS names one.
#[derive(Args, Debug)]
pub struct Cmd {
    /// Model file.
    pub model: PathBuf,
    /// Tile size HxW.
    #[arg(long, default_value = "40x40")]
    pub tile: TileSize,
    /// Timed runs.
    #[arg(long, default_value_t = 20)]
    pub runs: usize,
    /// Untimed warm-up runs.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Threads per run (each node's output rows split across them).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Skip measuring this CPU's instruction roofline for the kernel path
    /// (the loop of `cargo bench -p robofish-shared --bench peak`, about a
    /// tenth of a second), and with it the "% of peak" figure.
    #[arg(long)]
    pub no_peak: bool,
}

/// This core's roofline for the kernel path: the instruction's name and
/// its rate in GMAC/s on one core, measured now (same clock state as the
/// model's runs). `None` where robofish has no loop for the path (scalar,
/// ARM).
fn roofline(path: KernelPath) -> Option<(&'static str, f64)> {
    #[cfg(target_arch = "x86_64")]
    {
        use robofish_shared::roofline::Roofline;
        let roofline = Roofline::of_path(path)?;
        // 20,000 trips: 15-60 M MACs, a few hundred microseconds per run.
        roofline
            .measure(20_000, 9)
            .map(|rate| (roofline.name(), rate))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = path;
        None
    }
}

impl Cmd {
    pub fn run(self) -> Result<()> {
        if self.runs == 0 {
            bail!("--runs must be at least 1");
        }
        if self.threads == 0 {
            bail!("--threads must be at least 1");
        }
        let bytes = std::fs::read(&self.model)
            .with_context(|| format!("cannot read {}", self.model.display()))?;
        let model = decode_model(&bytes)
            .with_context(|| format!("{} is not a usable model", self.model.display()))?;
        let path = KernelPath::from_env()?;
        let network = Network::new(model, path)?;
        let plan = network.plan(self.tile.height, self.tile.width)?;
        let mut config = preset("seed").context("seed preset")?;
        config.height = self.tile.height;
        config.width = self.tile.width;
        let simulator = Simulator::new(config, Codebook::mhd4(130), 1)?;
        let tile = simulator.tile(Split::Test, 0);
        let stats = robofish_host::norm::tile_stats(&tile);
        let image = InputImage::planar(Pixels::U16(&tile.images), 16, tile.height, tile.width)?
            .with_stats(&stats)?;
        let mut arena = vec![0u8; plan.arena_bytes()];
        let pixels = self.tile.height * self.tile.width;
        let mut outputs: Vec<Vec<u8>> = network
            .model()
            .graph
            .outputs
            .iter()
            .map(|o| {
                vec![
                    0u8;
                    network.model().graph.tensors[o.tensor as usize].channels as usize * pixels
                ]
            })
            .collect();
        let mut times = Vec::with_capacity(self.runs);
        for i in 0..self.warmup + self.runs {
            let mut refs: Vec<&mut [u8]> = outputs.iter_mut().map(|o| o.as_mut_slice()).collect();
            let start = Instant::now();
            network.run_threaded(&plan, &mut arena, &image, &mut refs, self.threads)?;
            if i >= self.warmup {
                times.push(start.elapsed().as_secs_f64() * 1e3);
            }
        }
        times.sort_by(f64::total_cmp);
        let median = if times.len() % 2 == 1 {
            times[times.len() / 2]
        } else {
            (times[times.len() / 2 - 1] + times[times.len() / 2]) / 2.0
        };
        let min = times[0];
        let macs = network.model().graph.macs_per_pixel() * pixels as f64;
        let gmac_per_s = macs / (median * 1e-3) / 1e9;
        let cpu = CpuIdentity::detect();
        let peak = if self.no_peak {
            None
        } else {
            roofline(network.kernel_path())
        };
        // The roofline is per core; the threads each have one.
        let share = peak.map(|(_, rate)| gmac_per_s / (rate * self.threads as f64));
        if self.json {
            let report = serde_json::json!({
                "model": self.model.display().to_string(),
                "tile": self.tile.to_string(),
                "threads": self.threads,
                "kernel_path": network.kernel_path().to_string(),
                "cpu": cpu,
                "runs": self.runs,
                "median_ms": median,
                "min_ms": min,
                "gmac": macs / 1e9,
                "gmac_per_s": gmac_per_s,
                "arena_bytes": plan.arena_bytes(),
                "peak": peak.map(|(instruction, rate)| serde_json::json!({
                    "instruction": instruction,
                    "gmac_per_s_per_core": rate,
                    "share": share,
                })),
            });
            writeln!(io::stdout(), "{report}")?;
        } else {
            writeln!(
                io::stdout(),
                "{} on {} tile, {} thread(s), kernels {}: median {:.3} ms, min {:.3} ms over {} runs ({:.3} G MAC, {:.2} GMAC/s, arena {} bytes)\ncpu: {cpu}",
                self.model.display(),
                self.tile,
                self.threads,
                network.kernel_path(),
                median,
                min,
                self.runs,
                macs / 1e9,
                gmac_per_s,
                plan.arena_bytes()
            )?;
            match (peak, share) {
                (Some((instruction, rate)), Some(share)) => writeln!(
                    io::stdout(),
                    "peak: {:.0} % of this CPU's {instruction} roofline ({rate:.1} GMAC/s per core x {} thread(s), measured now)",
                    100.0 * share,
                    self.threads
                )?,
                _ if self.no_peak => {}
                _ => writeln!(
                    io::stdout(),
                    "peak: no roofline loop for kernel path {} on this architecture",
                    network.kernel_path()
                )?,
            }
        }
        Ok(())
    }
}
