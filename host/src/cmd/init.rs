//! `robofish init`: an untrained int8 model, for checking the pipeline,
//! planning memory and benchmarking before a trained model exists.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use robofish_host::calibration::{calibrate_on, parse_observer};
use robofish_host::norm::measure_normalisation;
use robofish_host::sim::{preset, Codebook, Simulator, Split, PRESET_NAMES};
use robofish_shared::model::{encode_model, ArchConfig, Provenance, QuantMode};
use robofish_shared::ptq::{quantise, QuantiseOptions};
use robofish_shared::reference::FloatModel;

/// Make an UNTRAINED anglerFISH int8 model: random LeCun-normal weights,
/// statically calibrated on simulated tiles. Its predictions are meaningless;
/// use it to exercise the engine, `inspect` and `bench`.
#[derive(Args, Debug)]
pub struct Cmd {
    /// Output model file.
    #[arg(long)]
    pub out: PathBuf,
    /// Channel-width multiplier (1.0 = the original 48/96/192).
    #[arg(long, default_value_t = 1.0)]
    pub width: f32,
    /// One set of first-stage weights for both colours.
    #[arg(long)]
    pub shared_first_stage: bool,
    /// Seed for the weights and the calibration tiles.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Simulated tiles used for normalisation and calibration.
    #[arg(long, default_value_t = 4)]
    pub calib_tiles: usize,
    /// Simulator preset of the calibration tiles.
    #[arg(long, default_value = "seed", value_parser = clap::builder::PossibleValuesParser::new(PRESET_NAMES))]
    pub preset: String,
    /// Activation range observer: minmax or a percentile such as 99.99.
    #[arg(long, default_value = "minmax")]
    pub observer: String,
    /// Also write the random fp32 weights as a checkpoint (safetensors), for
    /// `robofish export` and the peer benchmarks: latency does not depend on
    /// the weights, so a peer can be timed at any width without training.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
}

impl Cmd {
    pub fn run(self) -> Result<()> {
        if !(self.width > 0.0 && self.width <= 4.0) {
            bail!("--width {} must be in (0, 4]", self.width);
        }
        if self.calib_tiles == 0 {
            bail!("--calib-tiles must be at least 1");
        }
        let observer = parse_observer(&self.observer)?;
        let mut arch = ArchConfig::seed().scaled(self.width);
        arch.shared_first_stage = self.shared_first_stage;
        let config = preset(&self.preset).context("unknown preset")?;
        let codebook = Codebook::mhd4(config.real_genes);
        let simulator = Simulator::new(config, codebook.clone(), self.seed)?;
        let tiles: Vec<_> = (0..self.calib_tiles)
            .map(|i| simulator.tile(Split::Train, i))
            .collect();
        let normalisation = measure_normalisation(&tiles);
        let float = FloatModel::random(&arch, normalisation, self.seed)?;
        let calib = calibrate_on(&float, &tiles, observer)?;
        if let Some(path) = &self.checkpoint {
            robofish_host::checkpoint::Checkpoint::from_float_model(
                &float,
                Default::default(),
                0,
                f64::NAN,
            )?
            .write(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
            writeln!(io::stdout(), "wrote {} (fp32, untrained)", path.display())?;
        }
        let options = QuantiseOptions {
            name: format!("anglerfish-untrained-w{}", self.width),
            mode: QuantMode::Static,
            bit_order: Default::default(),
            codebook: Some(robofish_shared::model::codebook_entries(&codebook)),
            provenance: Provenance {
                tool: format!("robofish {}", env!("CARGO_PKG_VERSION")),
                command: std::env::args().collect::<Vec<_>>().join(" "),
                data: format!(
                    "{} calibration tiles of preset '{}', seed {}",
                    self.calib_tiles, self.preset, self.seed
                ),
                notes: "UNTRAINED: random weights; for engine checks and benchmarks only".into(),
            },
        };
        let model = quantise(&float, &calib, &options)?;
        let bytes = encode_model(&model)?;
        std::fs::write(&self.out, &bytes)
            .with_context(|| format!("cannot write {}", self.out.display()))?;
        writeln!(
            io::stdout(),
            "wrote {} ({} bytes, {} parameters, untrained)",
            self.out.display(),
            bytes.len(),
            model.parameter_count()
        )?;
        Ok(())
    }
}
