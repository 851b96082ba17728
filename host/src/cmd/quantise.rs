//! `robofish quantise`: an fp32 checkpoint to an int8 model file.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use robofish_host::calibration::{calibrate_on, parse_observer};
use robofish_host::checkpoint::Checkpoint;
use robofish_host::data::{find_codebook, Dataset};
use robofish_host::sim::{is_held_out, preset, Codebook, Simulator, Split, Tile, PRESET_NAMES};
use robofish_shared::model::{encode_model, Provenance, QuantMode};
use robofish_shared::ptq::{
    quantise, quantise_dynamic, quantise_on_grids, ActivationGrids, Calibrator, QuantiseOptions,
};
use robofish_shared::reference::FloatModel;

/// Quantisation mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Activation grids calibrated once over many tiles (no float at run time).
    Static,
    /// Activation grids measured per tile at run time (int8 weights and convs).
    Dynamic,
    /// Static grids, then fine-tuning through the fake-quantised network
    /// on exactly those grids (needs `--features torch` and --data).
    Qat,
}

/// Quantise a trained fp32 checkpoint (safetensors, from `robofish train`)
/// into an int8 robofish model: per-channel int8 weights clamped to
/// [-127, 127], per-tensor int8 activations, fixed-point requantisation and
/// exact activation lookup tables folded into the file.
#[derive(Args, Debug)]
pub struct Cmd {
    /// Quantisation mode.
    #[arg(long, value_enum)]
    pub mode: Mode,
    /// fp32 checkpoint (safetensors).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Output model file.
    #[arg(long)]
    pub out: PathBuf,
    /// Calibration data (a dataset folder); default: simulate --preset.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Split of --data used for calibration.
    #[arg(long, default_value = "train")]
    pub split: Split,
    /// Simulator preset for calibration tiles when no --data is given (a
    /// per-image model calibrates best on `wide-domain`; held-out presets
    /// are refused).
    #[arg(long, default_value = "seed", value_parser = clap::builder::PossibleValuesParser::new(PRESET_NAMES))]
    pub preset: String,
    /// Calibration tiles (static mode).
    #[arg(long, default_value_t = 64)]
    pub calib_tiles: usize,
    /// Activation range observer: minmax, or a two-sided percentile such as 99.99.
    #[arg(long, default_value = "minmax")]
    pub observer: String,
    /// Codebook to embed (default: the dataset's codebook.csv, else MHD4 with 130 genes).
    #[arg(long)]
    pub codebook: Option<PathBuf>,
    /// Model name stored in the file (default: from the output file name).
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub qat: QatArgs,
}

/// Fine-tuning knobs of `--mode qat`.
#[derive(Args, Debug)]
#[command(next_help_heading = "QAT (--mode qat)")]
pub struct QatArgs {
    /// QAT epochs over --data's train split.
    #[arg(long, default_value_t = 5)]
    pub epochs: usize,
    /// AdamW learning rate for the fine-tuning (peak of a cosine decay).
    #[arg(long, default_value_t = 1e-4)]
    pub lr: f64,
    /// Tiles per step.
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    /// Clip the gradients' total L2 norm to this.
    #[arg(long, default_value_t = 0.01)]
    pub grad_clip: f64,
    /// Which pixels the barcode loss trains (as `train
    /// --barcode-target`; use the fp32 run's).
    #[arg(long, default_value = "neighbourhood", value_parser = ["neighbourhood", "pixel"])]
    pub barcode_target: String,
    /// Run directory of the fine-tuning (default: OUT with `.qat` appended).
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
    /// Continue the fine-tuning in the run directory.
    #[arg(long)]
    pub resume: bool,
    /// Random flips / transposes of each batch.
    #[arg(long)]
    pub augment: bool,
    /// cpu, cuda, or auto.
    #[arg(long, default_value = "auto", value_parser = ["cpu", "cuda", "auto"])]
    pub device: String,
    /// Threads libtorch may use on the CPU.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Seed of the batch order.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

impl Cmd {
    pub fn run(self) -> Result<()> {
        let checkpoint = Checkpoint::read(&self.checkpoint)
            .with_context(|| format!("cannot read checkpoint {}", self.checkpoint.display()))?;
        let float = checkpoint.to_float_model()?;
        let codebook = match &self.data {
            Some(dir) => find_codebook(dir, self.codebook.as_deref())?,
            None => match &self.codebook {
                Some(path) => Some(
                    Codebook::from_csv(
                        &std::fs::read_to_string(path)
                            .with_context(|| format!("cannot read {}", path.display()))?,
                    )
                    .with_context(|| format!("bad codebook {}", path.display()))?,
                ),
                None => None,
            },
        }
        .unwrap_or_else(|| Codebook::mhd4(130));
        let name = self.name.clone().unwrap_or_else(|| {
            self.out
                .file_stem()
                .map_or("anglerfish".into(), |s| s.to_string_lossy().into_owned())
        });
        let mut options = QuantiseOptions {
            name,
            mode: QuantMode::Static,
            bit_order: checkpoint.meta.bit_order,
            codebook: Some(robofish_shared::model::codebook_entries(&codebook)),
            provenance: Provenance {
                tool: format!("robofish {}", env!("CARGO_PKG_VERSION")),
                command: std::env::args().collect::<Vec<_>>().join(" "),
                data: String::new(),
                notes: format!("from checkpoint {}", self.checkpoint.display()),
            },
        };
        let model = match self.mode {
            Mode::Dynamic => {
                options.mode = QuantMode::Dynamic;
                options.provenance.data = "none (dynamic: grids measured at run time)".into();
                quantise_dynamic(&float, &options)?
            }
            Mode::Static => {
                let (calib, source) = self.calibrate(&float)?;
                options.provenance.data = source;
                quantise(&float, &calib, &options)?
            }
            Mode::Qat => {
                let (calib, source) = self.calibrate(&float)?;
                let grids = ActivationGrids::calibrated(&float, &calib)?;
                let tuned = self.fine_tune(&checkpoint, grids.clone())?;
                options.mode = QuantMode::Qat;
                options.provenance.data = format!("calibration: {source}");
                options.provenance.notes = format!(
                    "QAT for {} epochs from checkpoint {}; best fine-tuned weights {}",
                    self.qat.epochs,
                    self.checkpoint.display(),
                    tuned.display()
                );
                let tuned = Checkpoint::read(&tuned)
                    .with_context(|| format!("cannot read {}", tuned.display()))?;
                quantise_on_grids(&tuned.to_float_model()?, &grids, &options)?
            }
        };
        let bytes = encode_model(&model)?;
        std::fs::write(&self.out, &bytes)
            .with_context(|| format!("cannot write {}", self.out.display()))?;
        writeln!(
            io::stdout(),
            "wrote {} ({} mode, {} bytes, {} parameters)",
            self.out.display(),
            model.metadata.mode.name(),
            bytes.len(),
            model.parameter_count()
        )?;
        Ok(())
    }

    /// Runs the fp32 network over the calibration tiles, observing every
    /// activation's range.
    fn calibrate(&self, float: &FloatModel) -> Result<(Calibrator, String)> {
        if self.calib_tiles == 0 {
            bail!("--calib-tiles must be at least 1");
        }
        let observer = parse_observer(&self.observer)?;
        let (tiles, source) = self.calibration_tiles()?;
        Ok((calibrate_on(float, &tiles, observer)?, source))
    }

    /// QAT: fine-tunes the checkpoint through the fake-quantised network on
    /// `grids` and returns the best fine-tuned checkpoint's path.
    #[cfg(not(feature = "torch"))]
    fn fine_tune(&self, _: &Checkpoint, _: ActivationGrids) -> Result<PathBuf> {
        bail!(
            "--mode qat trains through libtorch, and this robofish was built without it; \
             see `robofish train --help` for building with --features torch"
        )
    }

    /// QAT: fine-tunes the checkpoint through the fake-quantised network on
    /// `grids` and returns the best fine-tuned checkpoint's path.
    #[cfg(feature = "torch")]
    fn fine_tune(&self, checkpoint: &Checkpoint, grids: ActivationGrids) -> Result<PathBuf> {
        use robofish_host::train::{parse_device, trainer};
        let Some(dir) = &self.data else {
            bail!(
                "--mode qat fine-tunes on a dataset: give --data DIR (with train and val splits)"
            );
        };
        if let Some(t) = self.qat.threads {
            tch::set_num_threads(t.max(1) as i32);
        }
        let dataset = Dataset::open(dir, self.codebook.as_deref())?;
        let train = dataset.read_split(Split::Train)?;
        let val = dataset.read_split(Split::Val)?;
        let run_dir = self.qat.run_dir.clone().unwrap_or_else(|| {
            let mut name = self.out.clone().into_os_string();
            name.push(".qat");
            PathBuf::from(name)
        });
        let config = trainer::TrainConfig {
            arch: checkpoint.meta.arch.clone(),
            epochs: self.qat.epochs,
            batch_size: self.qat.batch_size,
            lr: self.qat.lr,
            lr_schedule: trainer::LrSchedule::Cosine,
            grad_clip: self.qat.grad_clip,
            barcode_target: robofish_host::train::loss::BarcodeTarget::parse(
                &self.qat.barcode_target,
            )?,
            // The weights come from the fp32 checkpoint, folded.
            init: Default::default(),
            batch_norm: false,
            seed: self.qat.seed,
            augment: self.qat.augment,
            print_every: 0,
            data: format!(
                "{} (train {} tiles, val {})",
                dir.display(),
                train.len(),
                val.len()
            ),
            bit_order: dataset.bit_order(Split::Train)?,
            normalisation: None,
            // Taken from the fp32 checkpoint by the trainer.
            input_stage: Default::default(),
            device: self.qat.device.clone(),
            qat: Some(trainer::QatSetup {
                from_checkpoint: self.checkpoint.clone(),
                grids,
            }),
        };
        let device = parse_device(&self.qat.device)?;
        let summary = trainer::train(config, &train, &val, &run_dir, device, self.qat.resume)?;
        eprintln!(
            "QAT: {} epochs in {:.1} s; best epoch {} in {}",
            summary.epochs.len(),
            summary.seconds,
            summary.best_epoch,
            run_dir.display()
        );
        Ok(run_dir.join("best.safetensors"))
    }

    /// Held-out presets, and datasets simulated from one, never calibrate
    /// or fine-tune a model: they are the benchmark.
    fn refuse_held_out(&self) -> Result<()> {
        if is_held_out(&self.preset) {
            bail!(
                "preset `{}` is held out for evaluation: it must never be used for calibration \
                 or QAT; use `wide-domain` (or seed/easy/hard)",
                self.preset
            );
        }
        if let Some(dir) = &self.data {
            let dataset = Dataset::open(dir, None)?;
            if let Some(name) = dataset.simulated_preset().filter(|n| is_held_out(n)) {
                bail!(
                    "{} was simulated from the held-out preset `{name}`: it must never be used \
                     for calibration or QAT",
                    dir.display()
                );
            }
        }
        Ok(())
    }

    fn calibration_tiles(&self) -> Result<(Vec<Tile>, String)> {
        self.refuse_held_out()?;
        match &self.data {
            Some(dir) => {
                let dataset = Dataset::open(dir, self.codebook.as_deref())?;
                let numbers = dataset.tile_numbers(self.split)?;
                let tiles = numbers
                    .iter()
                    .take(self.calib_tiles)
                    .map(|&n| dataset.read_tile(self.split, n))
                    .collect::<Result<Vec<_>, _>>()?;
                if tiles.is_empty() {
                    bail!(
                        "{} has no {:?} tiles to calibrate on",
                        dir.display(),
                        self.split
                    );
                }
                let source = format!(
                    "{} {:?} tiles of {}",
                    tiles.len(),
                    self.split,
                    dir.display()
                );
                Ok((tiles, source))
            }
            None => {
                let config = preset(&self.preset).context("unknown preset")?;
                let simulator =
                    Simulator::new(config.clone(), Codebook::mhd4(config.real_genes), 12345)?;
                let tiles = (0..self.calib_tiles)
                    .map(|i| simulator.tile(Split::Train, i))
                    .collect();
                Ok((
                    tiles,
                    format!(
                        "{} simulated '{}' tiles, seed 12345",
                        self.calib_tiles, self.preset
                    ),
                ))
            }
        }
    }
}
