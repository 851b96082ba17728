//! The training loop and its run directory.
//!
//! ```text
//! RUN_DIR/config.json              what was trained on what, with which knobs
//! RUN_DIR/best.safetensors         lowest validation loss so far
//! RUN_DIR/last.safetensors         after the latest epoch
//! RUN_DIR/last.optim.safetensors   AdamW moments + step (for --resume)
//! RUN_DIR/metrics.csv              one row per epoch
//! RUN_DIR/loss.png                 train (blue) and val (orange) total loss
//! ```
//!
//! Each epoch visits the training tiles in an order drawn from
//! `(seed, epoch)`, so a resumed run sees the same batches as an
//! uninterrupted one.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use robofish_shared::codebook::BitOrder;
use robofish_shared::input_stage::InputStage;
use robofish_shared::model::{ArchConfig, Normalisation};
use robofish_shared::ptq::ActivationGrids;
use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

use super::loss::{loss, BarcodeTarget};
use super::net::{Net, WeightInit};
use super::optim::{clip_grad_norm, AdamW, AdamWConfig};
use crate::checkpoint::{decode_tensors, encode_tensors, write_atomic, Checkpoint, CheckpointMeta};
use crate::norm::{identity_normalisation, measure_normalisation, network_input};
use crate::report::{line_plot, write_png, LinePlot, Series};
use crate::sim::Tile;
use crate::targets::{truth_maps, PixelScores, PixelSummary};

/// Knobs of a run, saved as `config.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Architecture.
    pub arch: ArchConfig,
    /// Epochs to train in total (a resumed run continues up to this).
    pub epochs: usize,
    /// Tiles per step.
    pub batch_size: usize,
    /// AdamW learning rate (the peak, with a schedule).
    pub lr: f64,
    /// How the learning rate changes over the run.
    #[serde(default)]
    pub lr_schedule: LrSchedule,
    /// Gradient-norm clip.
    pub grad_clip: f64,
    /// Which pixels the barcode loss trains (runs before this field: the
    /// original's `pixel`).
    #[serde(default)]
    pub barcode_target: BarcodeTarget,
    /// How new weights are drawn (runs before this field: the original's
    /// `uniform`).
    #[serde(default)]
    pub init: WeightInit,
    /// Train with a batch normalisation after each convolution, folded
    /// into the weights of every checkpoint written ([`Net::with_batch_norm`]).
    #[serde(default)]
    pub batch_norm: bool,
    /// Seed of initialisation and batch order.
    pub seed: u64,
    /// Random flips and transposes of each batch.
    pub augment: bool,
    /// Print a loss line every this many steps (0: never).
    pub print_every: usize,
    /// Where the data came from (for people).
    pub data: String,
    /// Bit order of the data.
    pub bit_order: BitOrder,
    /// Normalisation measured on the training tiles (fixed input stage).
    pub normalisation: Option<Normalisation>,
    /// How raw counts become the network's input.
    #[serde(default)]
    pub input_stage: InputStage,
    /// Device asked for.
    pub device: String,
    /// Quantisation-aware fine-tuning: start from an fp32 checkpoint and
    /// train through the fake-quantised graph on fixed grids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qat: Option<QatSetup>,
}

/// What a QAT run starts from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct QatSetup {
    /// The fp32 checkpoint fine-tuned (its weights and normalisation).
    pub from_checkpoint: PathBuf,
    /// The activation grids, calibrated on the fp32 network (the observers'
    /// warm-up) and frozen for the whole run and the export.
    pub grids: ActivationGrids,
}

/// Learning-rate schedule over the whole run (all epochs, including those
/// before a resume, so a resumed run follows the same curve).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LrSchedule {
    /// The original's: `lr` throughout.
    #[default]
    Constant,
    /// Half a cosine from `lr` down to `lr / 50` at the last step. Averages
    /// out the step noise of the final epochs, which the thresholded pixel
    /// metrics are sensitive to.
    Cosine,
}

impl LrSchedule {
    /// Learning rate for `step` (0-based) of `total` steps.
    pub fn lr_at(self, peak: f64, step: u64, total: u64) -> f64 {
        match self {
            LrSchedule::Constant => peak,
            LrSchedule::Cosine => {
                let floor = peak / 50.0;
                let t = (step as f64 / total.max(1) as f64).clamp(0.0, 1.0);
                floor + (peak - floor) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
            }
        }
    }
}

/// One epoch's row of `metrics.csv`.
#[derive(Clone, Debug, Default)]
pub struct EpochMetrics {
    /// 1-based epoch.
    pub epoch: usize,
    /// Train losses (mean over steps): total, position, barcode.
    pub train: [f64; 3],
    /// Validation losses: total, position, barcode.
    pub val: [f64; 3],
    /// Validation pixel metrics.
    pub pixels: PixelSummary,
    /// Seconds the epoch took (training and validation).
    pub seconds: f64,
}

const CSV_HEADER: &str = "epoch,train_loss,train_position_loss,train_barcode_loss,val_loss,val_position_loss,val_barcode_loss,val_position_recall,val_position_jaccard,val_barcode_recall,val_barcode_jaccard,seconds";

impl EpochMetrics {
    fn csv_row(&self) -> String {
        let p = &self.pixels;
        format!(
            "{},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{:.4},{:.4},{:.4},{:.4},{:.2}",
            self.epoch,
            self.train[0],
            self.train[1],
            self.train[2],
            self.val[0],
            self.val[1],
            self.val[2],
            p.position_recall,
            p.position_jaccard,
            p.barcode_recall,
            p.barcode_jaccard,
            self.seconds
        )
    }

    fn parse(line: &str) -> Option<EpochMetrics> {
        let v: Vec<f64> = line
            .split(',')
            .map(|s| s.parse().ok())
            .collect::<Option<_>>()?;
        (v.len() == 12).then(|| EpochMetrics {
            epoch: v[0] as usize,
            train: [v[1], v[2], v[3]],
            val: [v[4], v[5], v[6]],
            pixels: PixelSummary {
                position_recall: v[7],
                position_jaccard: v[8],
                barcode_recall: v[9],
                barcode_jaccard: v[10],
            },
            seconds: v[11],
        })
    }
}

/// Tiles as tensors: normalised input `[N, 16, H, W]`, position target
/// `[N, 1, H, W]`, barcode target `[N, 16, H, W]`.
pub struct TensorSet {
    /// Input.
    pub input: Tensor,
    /// Position target.
    pub position: Tensor,
    /// Barcode target.
    pub barcode: Tensor,
}

impl TensorSet {
    /// Stacks tiles of one size, normalised for `stage` (with `norm` for a
    /// fixed stage).
    pub fn new(
        tiles: &[Tile],
        stage: InputStage,
        norm: &Normalisation,
        device: Device,
    ) -> Result<TensorSet> {
        let first = tiles.first().context("no tiles")?;
        let (h, w) = (first.height, first.width);
        if let Some(t) = tiles.iter().find(|t| (t.height, t.width) != (h, w)) {
            bail!(
                "tiles differ in size ({h}x{w} and {}x{}); train on tiles of one size",
                t.height,
                t.width
            );
        }
        let (mut input, mut position, mut barcode) = (Vec::new(), Vec::new(), Vec::new());
        for tile in tiles {
            input.extend(network_input(tile, stage, norm));
            let (p, b) = truth_maps(tile);
            position.extend(p.iter().map(|&v| v as f32));
            barcode.extend(b.iter().map(|&v| v as f32));
        }
        let n = tiles.len() as i64;
        let (h, w) = (h as i64, w as i64);
        let make = |v: &[f32], c: i64| -> Result<Tensor> {
            Ok(Tensor::from_slice(v)
                .f_view([n, c, h, w])?
                .to_device(device))
        };
        Ok(TensorSet {
            input: make(&input, 16)?,
            position: make(&position, 1)?,
            barcode: make(&barcode, 16)?,
        })
    }

    /// Number of tiles.
    pub fn len(&self) -> i64 {
        self.input.size()[0]
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn select(&self, index: &Tensor) -> [Tensor; 3] {
        [
            self.input.index_select(0, index),
            self.position.index_select(0, index),
            self.barcode.index_select(0, index),
        ]
    }
}

/// A random element of the dihedral group applied to a batch (flips of
/// rows and columns, and a transpose when the tile is square).
fn augment(batch: [Tensor; 3], rng: &mut ChaCha8Rng) -> [Tensor; 3] {
    use rand::Rng;
    let (flip_y, flip_x, transpose): (bool, bool, bool) =
        (rng.random(), rng.random(), rng.random());
    batch.map(|mut t| {
        if flip_y {
            t = t.flip([2]);
        }
        if flip_x {
            t = t.flip([3]);
        }
        let size = t.size();
        if transpose && size[2] == size[3] {
            t = t.transpose(2, 3).contiguous();
        }
        t
    })
}

/// Per-image statistics measured on a whole FOV differ from those of a
/// tile cut from it (a background gradient moves the median, and the noise
/// varies with the local background): a random per-image shift (sd 0.3 noise
/// units) and scale (log-normal sd 0.1) of the normalised input teach the
/// network not to rely on the exact statistics.
fn jitter_statistics(input: &Tensor, rng: &mut ChaCha8Rng) -> Result<Tensor> {
    use rand_distr::{Distribution, StandardNormal};
    let size = input.size();
    let (n, c) = (size[0], size[1]);
    let count = (n * c) as usize;
    let mut draw = |sd: f64| -> Vec<f32> {
        (0..count)
            .map(|_| {
                let v: f64 = StandardNormal.sample(rng);
                (v * sd) as f32
            })
            .collect()
    };
    let shift = Tensor::from_slice(&draw(0.3))
        .f_view([n, c, 1, 1])?
        .to_device(input.device());
    let scale = Tensor::from_slice(&draw(0.1))
        .f_view([n, c, 1, 1])?
        .to_device(input.device())
        .exp();
    let [lo, hi] = robofish_shared::input_stage::compressed_range();
    Ok(((input - shift) / scale).clamp(lo as f64, hi as f64))
}

/// Validation losses and pixel metrics of `net` on `set` (whose tiles are
/// `tiles`), in batches of `batch`.
pub fn evaluate(
    net: &Net,
    set: &TensorSet,
    tiles: &[Tile],
    batch: i64,
    rule: BarcodeTarget,
) -> Result<([f64; 3], PixelSummary)> {
    let _guard = tch::no_grad_guard();
    let mut sums = [0f64; 3];
    let mut batches = 0f64;
    let mut scores = PixelScores::default();
    let n = set.len();
    let mut start = 0;
    while start < n {
        let len = batch.min(n - start);
        let x = set.input.narrow(0, start, len);
        let (pl, bl) = net.forward_logits(&x)?;
        let l = loss(
            &pl,
            &bl,
            &set.position.narrow(0, start, len),
            &set.barcode.narrow(0, start, len),
            rule,
        )?;
        sums[0] += l.total.double_value(&[]);
        sums[1] += l.position.double_value(&[]);
        sums[2] += l.barcode.double_value(&[]);
        batches += 1.0;
        let pos = Vec::<f32>::try_from(&pl.sigmoid().to_device(Device::Cpu).view([-1]))?;
        let bc = Vec::<f32>::try_from(&bl.sigmoid().to_device(Device::Cpu).view([-1]))?;
        let plane = pos.len() / len as usize;
        for i in 0..len as usize {
            let tile = &tiles[start as usize + i];
            scores.add(
                tile,
                &pos[i * plane..(i + 1) * plane],
                &bc[i * 16 * plane..(i + 1) * 16 * plane],
            );
        }
        start += len;
    }
    Ok((sums.map(|s| s / batches.max(1.0)), scores.summary()))
}

/// Paths inside a run directory.
pub struct RunDir(pub PathBuf);

impl RunDir {
    /// `config.json`.
    pub fn config(&self) -> PathBuf {
        self.0.join("config.json")
    }
    /// `best.safetensors`.
    pub fn best(&self) -> PathBuf {
        self.0.join("best.safetensors")
    }
    /// `last.safetensors`.
    pub fn last(&self) -> PathBuf {
        self.0.join("last.safetensors")
    }
    /// `last.optim.safetensors`.
    pub fn optim(&self) -> PathBuf {
        self.0.join("last.optim.safetensors")
    }
    /// `last.train.safetensors`: the unfolded weights and batch-norm
    /// state of a `--batch-norm` run, for `--resume`.
    pub fn training_state(&self) -> PathBuf {
        self.0.join("last.train.safetensors")
    }
    /// `metrics.csv`.
    pub fn metrics(&self) -> PathBuf {
        self.0.join("metrics.csv")
    }
    /// `loss.png`.
    pub fn plot(&self) -> PathBuf {
        self.0.join("loss.png")
    }
}

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    /// Every epoch's metrics (including those before a resume).
    pub epochs: Vec<EpochMetrics>,
    /// Epoch of the best checkpoint.
    pub best_epoch: usize,
    /// Training tiles per second over this invocation's epochs.
    pub tiles_per_second: f64,
    /// Seconds this invocation trained.
    pub seconds: f64,
}

/// Trains `config` on `train`, validating on `val`, writing into `dir`.
/// With `resume`, continues from `dir`'s last checkpoint.
pub fn train(
    mut config: TrainConfig,
    train: &[Tile],
    val: &[Tile],
    dir: &Path,
    device: Device,
    resume: bool,
) -> Result<TrainSummary> {
    if config.batch_size == 0 || config.epochs == 0 {
        bail!("--batch-size and --epochs must be at least 1");
    }
    if !(config.lr > 0.0 && config.grad_clip > 0.0) {
        bail!("--lr and --grad-clip must be positive");
    }
    if train.is_empty() || val.is_empty() {
        bail!(
            "need training and validation tiles (got {} and {})",
            train.len(),
            val.len()
        );
    }
    let run = RunDir(dir.to_path_buf());
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut history = Vec::new();
    let mut net;
    let mut optim;
    let mut best_loss = f64::INFINITY;
    let mut best_epoch = 0;
    if resume {
        let ckpt = Checkpoint::read(&run.last())
            .with_context(|| format!("--resume: cannot read {}", run.last().display()))?;
        if ckpt.meta.arch != config.arch {
            bail!("--resume: {} was trained with a different architecture (--width / --shared-first-stage)", run.last().display());
        }
        config.normalisation = Some(ckpt.meta.normalisation.clone());
        config.input_stage = ckpt.meta.input_stage;
        // How the run was set up is the run's, not this command line's.
        if let Ok(text) = std::fs::read_to_string(run.config()) {
            if let Ok(first) = serde_json::from_str::<TrainConfig>(&text) {
                config.init = first.init;
                config.batch_norm = first.batch_norm;
            }
        }
        net = Net::new(&config.arch, device, config.seed, config.init)?;
        if config.batch_norm {
            net = net.with_batch_norm();
            let path = run.training_state();
            let bytes = std::fs::read(&path)
                .with_context(|| format!("--resume: cannot read {}", path.display()))?;
            let (state, _) = decode_tensors(&bytes)?;
            net.load_tensors(&state)?;
        } else {
            net.load_tensors(&ckpt.tensors)?;
        }
        optim = AdamW::new(AdamWConfig::new(config.lr), &net.trainable());
        let bytes = std::fs::read(run.optim())
            .with_context(|| format!("--resume: cannot read {}", run.optim().display()))?;
        let (state, meta) = decode_tensors(&bytes)?;
        let step = meta
            .get("step")
            .and_then(|s| s.parse().ok())
            .context("optimizer state has no step count")?;
        optim.load_state(&net.trainable_names(), &state, step)?;
        if let Ok(text) = std::fs::read_to_string(run.metrics()) {
            history = text
                .lines()
                .skip(1)
                .filter_map(EpochMetrics::parse)
                .filter(|m| m.epoch <= ckpt.meta.epoch)
                .collect();
        }
        for m in &history {
            if m.val[0] < best_loss {
                best_loss = m.val[0];
                best_epoch = m.epoch;
            }
        }
        if history.len() != ckpt.meta.epoch {
            eprintln!(
                "warning: metrics.csv has {} rows for {} epochs; the best-checkpoint choice may differ",
                history.len(),
                ckpt.meta.epoch
            );
        }
    } else if let Some(qat) = &config.qat {
        let ckpt = Checkpoint::read(&qat.from_checkpoint)
            .with_context(|| format!("QAT: cannot read {}", qat.from_checkpoint.display()))?;
        if ckpt.meta.arch != config.arch {
            bail!(
                "QAT: {} has a different architecture from the one asked for",
                qat.from_checkpoint.display()
            );
        }
        config.normalisation = Some(ckpt.meta.normalisation.clone());
        config.input_stage = ckpt.meta.input_stage;
        if config.batch_norm {
            bail!("QAT fine-tunes the folded network: leave out --batch-norm");
        }
        net = Net::new(&config.arch, device, config.seed, config.init)?;
        net.load_tensors(&ckpt.tensors)?;
        optim = AdamW::new(AdamWConfig::new(config.lr), &net.trainable());
    } else {
        config.normalisation = Some(match config.input_stage {
            InputStage::Fixed => measure_normalisation(train),
            InputStage::PerImage => identity_normalisation(),
        });
        net = Net::new(&config.arch, device, config.seed, config.init)?;
        if config.batch_norm {
            net = net.with_batch_norm();
        }
        optim = AdamW::new(AdamWConfig::new(config.lr), &net.trainable());
    }
    net.fake_quant = config.qat.as_ref().map(|q| q.grids.clone());
    let norm = config.normalisation.clone().context("normalisation")?;
    let json = serde_json::to_string_pretty(&config)?;
    std::fs::write(run.config(), json)
        .with_context(|| format!("cannot write {}", run.config().display()))?;

    let stage = config.input_stage;
    let train_set = TensorSet::new(train, stage, &norm, device).context("training tiles")?;
    let val_set = TensorSet::new(val, stage, &norm, device).context("validation tiles")?;
    let n = train_set.len();
    let batch = config.batch_size as i64;
    let steps = (n + batch - 1) / batch;
    let params = net.trainable();
    let names = net.trainable_names();
    let start_epoch = history.len() + 1;
    let started = Instant::now();
    let mut tiles_seen = 0usize;
    eprintln!(
        "training {} parameters on {} tiles ({} val), {} steps per epoch, device {:?}, epochs {}..={}",
        net.parameter_count(),
        n,
        val_set.len(),
        steps,
        device,
        start_epoch,
        config.epochs
    );
    for epoch in start_epoch..=config.epochs {
        let t0 = Instant::now();
        let mut rng = ChaCha8Rng::seed_from_u64(
            config.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let mut order: Vec<i64> = (0..n).collect();
        order.shuffle(&mut rng);
        let bar = ProgressBar::new(steps as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "epoch {prefix} [{bar:30}] {pos}/{len} steps {elapsed}<{eta} {msg}",
            )?
            .progress_chars("=> "),
        );
        bar.set_prefix(format!("{epoch}/{}", config.epochs));
        let mut sums = [0f64; 3];
        for (s, chunk) in order.chunks(batch as usize).enumerate() {
            let index = Tensor::from_slice(chunk).to_device(device);
            let mut b = train_set.select(&index);
            if config.augment {
                b = augment(b, &mut rng);
                if stage == InputStage::PerImage {
                    b[0] = jitter_statistics(&b[0], &mut rng)?;
                }
            }
            net.batch_statistics.set(true);
            let forward = net.forward_logits(&b[0]);
            net.batch_statistics.set(false);
            let (pl, bl) = forward?;
            let l = loss(&pl, &bl, &b[1], &b[2], config.barcode_target)?;
            for p in &params {
                let mut g = p.grad();
                if g.defined() {
                    let _ = g.zero_();
                }
            }
            l.total.backward();
            clip_grad_norm(&params, config.grad_clip);
            optim.config.lr = config.lr_schedule.lr_at(
                config.lr,
                optim.step,
                (config.epochs as i64 * steps) as u64,
            );
            optim.step(&params);
            let vals = [
                l.total.double_value(&[]),
                l.position.double_value(&[]),
                l.barcode.double_value(&[]),
            ];
            if !vals[0].is_finite() {
                bail!(
                    "loss became {} at epoch {epoch} step {}; try a lower --lr",
                    vals[0],
                    s + 1
                );
            }
            for (sum, v) in sums.iter_mut().zip(vals) {
                *sum += v;
            }
            tiles_seen += chunk.len();
            let mean = sums[0] / (s + 1) as f64;
            bar.set_message(format!("loss {mean:.4}"));
            bar.inc(1);
            if config.print_every > 0 && (s + 1) % config.print_every == 0 {
                bar.println(format!(
                    "epoch {epoch} step {}/{steps}: loss {:.4} (position {:.4}, barcode {:.4})",
                    s + 1,
                    vals[0],
                    vals[1],
                    vals[2]
                ));
            }
        }
        bar.finish_and_clear();
        let train_losses = sums.map(|v| v / steps as f64);
        let (val_losses, pixels) = evaluate(&net, &val_set, val, batch, config.barcode_target)?;
        let metrics = EpochMetrics {
            epoch,
            train: train_losses,
            val: val_losses,
            pixels,
            seconds: t0.elapsed().as_secs_f64(),
        };
        eprintln!(
            "epoch {epoch}/{}: train {:.4} val {:.4} (pos {:.4}, bc {:.4}) | val pos R/J {:.3}/{:.3} bc R/J {:.3}/{:.3} | {:.1}s",
            config.epochs,
            train_losses[0],
            val_losses[0],
            val_losses[1],
            val_losses[2],
            pixels.position_recall,
            pixels.position_jaccard,
            pixels.barcode_recall,
            pixels.barcode_jaccard,
            metrics.seconds
        );
        history.push(metrics);
        let ckpt = Checkpoint {
            meta: CheckpointMeta {
                arch: config.arch.clone(),
                normalisation: norm.clone(),
                input_stage: stage,
                bit_order: config.bit_order,
                epoch,
                val_loss: val_losses[0],
            },
            tensors: net.to_tensors()?,
        };
        ckpt.write(&run.last())?;
        if net.has_batch_norm() {
            let tensors = net.to_training_tensors()?;
            let meta = std::collections::HashMap::from([("epoch".to_string(), epoch.to_string())]);
            write_atomic(&run.training_state(), &encode_tensors(&tensors, meta)?)?;
        }
        let state = optim.state(&names)?;
        let meta = std::collections::HashMap::from([
            ("step".to_string(), optim.step.to_string()),
            ("epoch".to_string(), epoch.to_string()),
        ]);
        write_atomic(&run.optim(), &encode_tensors(&state, meta)?)?;
        if val_losses[0] < best_loss {
            best_loss = val_losses[0];
            best_epoch = epoch;
            ckpt.write(&run.best())?;
        }
        write_metrics(&run, &history)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(TrainSummary {
        epochs: history,
        best_epoch,
        tiles_per_second: tiles_seen as f64 / seconds.max(1e-9),
        seconds,
    })
}

fn write_metrics(run: &RunDir, history: &[EpochMetrics]) -> Result<()> {
    let mut text = String::from(CSV_HEADER);
    text.push('\n');
    for m in history {
        let _ = writeln!(text, "{}", m.csv_row());
    }
    std::fs::write(run.metrics(), text)
        .with_context(|| format!("cannot write {}", run.metrics().display()))?;
    let series = |label: &str, f: fn(&EpochMetrics) -> f64, colour| Series {
        label: label.into(),
        points: history.iter().map(|m| (m.epoch as f64, f(m))).collect(),
        colour,
    };
    let picture = line_plot(&LinePlot {
        title: format!("Loss per epoch, {}", run.0.display()),
        x_label: "epoch".into(),
        y_label: "loss (position BCE + 16 x barcode BCE)".into(),
        series: vec![
            series("training (mean over steps)", |m| m.train[0], [31, 119, 180]),
            series("validation", |m| m.val[0], [255, 127, 14]),
        ],
    })?;
    write_png(&run.plot(), &picture)
}

/// Reads a run's `metrics.csv`.
pub fn read_metrics(dir: &Path) -> Result<Vec<EpochMetrics>> {
    let path = RunDir(dir.to_path_buf()).metrics();
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(text
        .lines()
        .skip(1)
        .filter_map(EpochMetrics::parse)
        .collect())
}
