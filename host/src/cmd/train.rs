//! `robofish train`: train anglerFISH in fp32 through libtorch.
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use robofish_host::args::DataArgs;

/// Train the anglerFISH network (fp32, libtorch) on a dataset or on freshly
/// simulated tiles. Needs a build with `--features torch`.
///
/// Writes RUN_DIR/config.json, best.safetensors (lowest validation loss),
/// last.safetensors + last.optim.safetensors (for --resume), metrics.csv
/// and loss.png. The loss is the original's, 16 x barcode BCE (positive
/// weight 3 at emitter pixels, down-weighted elsewhere) + position BCE,
/// except that by default the barcode term also trains the pixels around a
/// lone emitter towards its word (--barcode-target); AdamW with
/// gradient-norm clipping. The input stage (--input-stage) is
/// stored in every checkpoint: per-image by default, so the model works on
/// cameras it never saw.
#[derive(Args, Debug)]
pub struct Cmd {
    #[command(flatten)]
    pub data: DataArgs,
    /// Run directory to write (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Epochs in total (a resumed run continues up to this).
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    /// Tiles per optimisation step.
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    /// AdamW learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Learning-rate schedule: constant (the original's) or cosine (decays
    /// from --lr to --lr/50 over all --epochs).
    #[arg(long, default_value = "constant", value_parser = ["constant", "cosine"])]
    pub lr_schedule: String,
    /// Clip the gradients' total L2 norm to this.
    #[arg(long, default_value_t = 0.01)]
    pub grad_clip: f64,
    /// Which pixels the barcode loss trains towards an emitter's word:
    /// neighbourhood (its pixel and the 3x3 around it, when no other
    /// emitter is there; a peak found one pixel off still reads the word) or
    /// pixel (its own pixel only, the original's).
    #[arg(long, default_value = "neighbourhood", value_parser = ["neighbourhood", "pixel"])]
    pub barcode_target: String,
    /// How new weights are drawn: he (variance-preserving normal weights,
    /// zero biases, heads biased towards background) or uniform (PyTorch's
    /// default, the original's). Ignored by --resume, which loads them.
    #[arg(long, default_value = "he", value_parser = ["he", "uniform"])]
    pub init: String,
    /// Train with a batch normalisation after every convolution but the
    /// heads' last; each checkpoint gets them folded into the convolutions,
    /// so the files (and everything that reads them) are unchanged. The
    /// unfolded state for --resume goes to RUN_DIR/last.train.safetensors.
    #[arg(long)]
    pub batch_norm: bool,
    /// cpu, cuda, or auto (CUDA when libtorch sees a GPU).
    #[arg(long, default_value = "auto", value_parser = ["cpu", "cuda", "auto"])]
    pub device: String,
    /// Also print a loss line every N steps (0: only the progress bar and
    /// one line per epoch).
    #[arg(long, default_value_t = 0)]
    pub print_every: usize,
    /// Seed of the weights and the batch order.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Channel-width multiplier (1.0 = the original 48/96/192).
    #[arg(long, default_value_t = 1.0)]
    pub width: f32,
    /// One set of first-stage weights for both colours.
    #[arg(long)]
    pub shared_first_stage: bool,
    /// Random flips / transposes of each batch (the original had none).
    #[arg(long)]
    pub augment: bool,
    /// Continue the run in --out from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// How raw counts become the network's input: per-image (each image's
    /// own robust background and noise: works on any camera) or fixed (one
    /// mean and std per image index measured on the training tiles: only
    /// right for the training camera; the models before per-image).
    #[arg(long, default_value = "per-image", value_parser = ["per-image", "fixed"])]
    pub input_stage: String,
    /// Threads libtorch may use on the CPU (default: its own choice).
    #[arg(long)]
    pub threads: Option<usize>,
}

impl Cmd {
    #[cfg(not(feature = "torch"))]
    pub fn run(self) -> Result<()> {
        anyhow::bail!(
            "this robofish was built without libtorch, so it cannot train.\n\
             Build it with the `torch` feature against PyTorch 2.13.0:\n  \
             python3 -m venv ~/.cache/robofish/venv && ~/.cache/robofish/venv/bin/pip install torch==2.13.0\n  \
             LIBTORCH_USE_PYTORCH=1 PATH=~/.cache/robofish/venv/bin:$PATH cargo build --release -p robofish-host --features torch\n\
             (scripts/test.sh does the first step for you)"
        )
    }

    #[cfg(feature = "torch")]
    pub fn run(self) -> Result<()> {
        use std::io::{self, Write};

        use anyhow::{bail, Context};
        use robofish_host::sim::Split;
        use robofish_host::train::{parse_device, trainer};
        use robofish_shared::model::ArchConfig;

        if !(self.width > 0.0 && self.width <= 4.0) {
            bail!("--width {} must be in (0, 4]", self.width);
        }
        if let Some(t) = self.threads {
            tch::set_num_threads(t.max(1) as i32);
        }
        let device = parse_device(&self.device)?;
        let mut arch = ArchConfig::seed().scaled(self.width);
        arch.shared_first_stage = self.shared_first_stage;
        self.data.refuse_held_out("training")?;
        let train = self.data.load(Split::Train).context("training tiles")?;
        let train = train.require_truth("training")?;
        let val = self.data.load(Split::Val).context("validation tiles")?;
        let val = val.require_truth("validation")?;
        let config = trainer::TrainConfig {
            arch,
            epochs: self.epochs,
            batch_size: self.batch_size,
            lr: self.lr,
            lr_schedule: match self.lr_schedule.as_str() {
                "cosine" => trainer::LrSchedule::Cosine,
                _ => trainer::LrSchedule::Constant,
            },
            grad_clip: self.grad_clip,
            barcode_target: robofish_host::train::loss::BarcodeTarget::parse(&self.barcode_target)?,
            init: robofish_host::train::net::WeightInit::parse(&self.init)?,
            batch_norm: self.batch_norm,
            seed: self.seed,
            augment: self.augment,
            print_every: self.print_every,
            data: format!("train: {}; val: {}", train.source, val.source),
            bit_order: train.bit_order,
            normalisation: None,
            input_stage: match self.input_stage.as_str() {
                "fixed" => robofish_shared::input_stage::InputStage::Fixed,
                _ => robofish_shared::input_stage::InputStage::PerImage,
            },
            device: self.device.clone(),
            qat: None,
        };
        let summary = trainer::train(
            config,
            &train.tiles,
            &val.tiles,
            &self.out,
            device,
            self.resume,
        )?;
        let best = summary
            .epochs
            .iter()
            .find(|m| m.epoch == summary.best_epoch);
        writeln!(
            io::stdout(),
            "trained {} epochs in {:.1} s ({:.1} tiles/s); best epoch {} (val loss {:.4}); run in {}",
            summary.epochs.len(),
            summary.seconds,
            summary.tiles_per_second,
            summary.best_epoch,
            best.map_or(f64::NAN, |m| m.val[0]),
            self.out.display()
        )?;
        Ok(())
    }
}
