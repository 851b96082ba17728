//! `robofish eval`: the original's pixel metrics for models on a split.
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use robofish_host::checkpoint::Checkpoint;
use robofish_host::onnx::{onnx_bytes, TractModel};
use robofish_host::sim::{Split, Tile};
use robofish_host::targets::{PixelScores, PixelSummary};
use robofish_shared::engine::{InputImage, Pixels};
use robofish_shared::reference::FloatModel;
use serde::Serialize;

use super::DataArgs;

/// The original's fp32 row (its README).
const ORIGINAL_FP32: PixelSummary = PixelSummary {
    position_recall: 0.923,
    position_jaccard: 0.898,
    barcode_recall: 0.877,
    barcode_jaccard: 0.731,
};

/// Evaluate models with the original's pixel metrics: position recall and
/// Jaccard at 0.5, barcode recall and Jaccard at 0.9 (per-tile means).
///
/// Engines: `tract` (the exported fp32 ONNX in tract), `tch` (libtorch; needs
/// `--features torch`), `reference` (robofish's pure-Rust float reference,
/// slow). Every model runs on every engine asked for; the original's fp32
/// row is printed for comparison.
#[derive(Args, Debug)]
pub struct Cmd {
    /// Checkpoints (safetensors from `robofish train`); repeat or separate
    /// with commas.
    #[arg(
        long = "checkpoint",
        alias = "models",
        required = true,
        value_delimiter = ','
    )]
    pub checkpoints: Vec<PathBuf>,
    /// Engines: tract, tch, reference; repeat or separate with commas.
    #[arg(long = "engine", default_value = "tract", value_delimiter = ',', value_parser = ["tract", "tch", "reference"])]
    pub engines: Vec<String>,
    #[command(flatten)]
    pub data: DataArgs,
    /// Split to evaluate.
    #[arg(long, default_value = "test")]
    pub split: Split,
    /// Also write the results as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// cpu, cuda or auto, for the tch engine.
    #[arg(long, default_value = "cpu", value_parser = ["cpu", "cuda", "auto"])]
    pub device: String,
}

/// One row of the table.
#[derive(Debug, Serialize)]
pub struct Row {
    /// Model file.
    pub model: String,
    /// Engine.
    pub engine: String,
    /// Tiles evaluated.
    pub tiles: usize,
    /// The four metrics.
    pub metrics: PixelSummary,
    /// Tiles per second of the engine (inference only).
    pub tiles_per_second: f64,
}

type Maps = (Vec<f32>, Vec<f32>);

fn progress(len: usize, what: &str) -> Result<ProgressBar> {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(ProgressStyle::with_template(
        "{prefix} [{bar:30}] {pos}/{len} tiles {elapsed}<{eta}",
    )?);
    bar.set_prefix(what.to_string());
    Ok(bar)
}

fn run_tract(model: &FloatModel, tiles: &[Tile], bar: &ProgressBar) -> Result<Vec<Maps>> {
    let bytes = onnx_bytes(model, "eval");
    let mut loaded: Option<((usize, usize), TractModel)> = None;
    let mut out = Vec::with_capacity(tiles.len());
    for tile in tiles {
        let size = (tile.height, tile.width);
        if loaded.as_ref().map(|(s, _)| *s) != Some(size) {
            let m = TractModel::load(&bytes, 1, size.0, size.1)
                .map_err(|e| anyhow::anyhow!("{e:?}"))
                .context("tract cannot load the model")?;
            loaded = Some((size, m));
        }
        let Some((_, m)) = loaded.as_ref() else {
            unreachable!()
        };
        let raw: Vec<f32> = tile.images.iter().map(|&v| v as f32).collect();
        out.push(m.run(&raw).map_err(|e| anyhow::anyhow!("{e:?}"))?);
        bar.inc(1);
    }
    Ok(out)
}

fn run_reference(model: &FloatModel, tiles: &[Tile], bar: &ProgressBar) -> Result<Vec<Maps>> {
    let mut out = Vec::with_capacity(tiles.len());
    for tile in tiles {
        let image = InputImage::planar(Pixels::U16(&tile.images), 16, tile.height, tile.width)?;
        let acts = model.forward(&image);
        out.push((model.output_maps(&acts, 0), model.output_maps(&acts, 1)));
        bar.inc(1);
    }
    Ok(out)
}

#[cfg(feature = "torch")]
fn run_tch(
    ckpt: &Checkpoint,
    tiles: &[Tile],
    device: &str,
    bar: &ProgressBar,
) -> Result<Vec<Maps>> {
    use robofish_host::norm::normalise_tile;
    use robofish_host::train::{net::Net, parse_device};
    let device = parse_device(device)?;
    let mut net = Net::new(&ckpt.meta.arch, device, 0)?;
    net.load_tensors(&ckpt.tensors)?;
    let _guard = tch::no_grad_guard();
    let mut out = Vec::with_capacity(tiles.len());
    for tile in tiles {
        let x = tch::Tensor::from_slice(&normalise_tile(tile, &ckpt.meta.normalisation))
            .f_view([1, 16, tile.height as i64, tile.width as i64])?
            .to_device(device);
        let (p, b) = net.forward(&x)?;
        let flat = |t: tch::Tensor| -> Result<Vec<f32>> {
            Ok(Vec::<f32>::try_from(
                &t.to_device(tch::Device::Cpu).view([-1]),
            )?)
        };
        out.push((flat(p)?, flat(b)?));
        bar.inc(1);
    }
    Ok(out)
}

#[cfg(not(feature = "torch"))]
fn run_tch(_: &Checkpoint, _: &[Tile], _: &str, _: &ProgressBar) -> Result<Vec<Maps>> {
    bail!("--engine tch needs a robofish built with `--features torch` (see `robofish train --help`); use --engine tract")
}

impl Cmd {
    pub fn run(self) -> Result<()> {
        let split = self.data.load(self.split)?;
        if split.tiles.is_empty() {
            bail!("no tiles to evaluate");
        }
        let mut rows = Vec::new();
        for path in &self.checkpoints {
            let ckpt = Checkpoint::read(path)
                .with_context(|| format!("cannot load {}", path.display()))?;
            let model = ckpt.to_float_model()?;
            if ckpt.meta.bit_order != split.bit_order {
                eprintln!(
                    "warning: {} was trained on {} bit order data but the evaluation data is {}; its barcode maps will not line up",
                    path.display(),
                    ckpt.meta.bit_order.name(),
                    split.bit_order.name()
                );
            }
            for engine in &self.engines {
                let bar = progress(split.tiles.len(), engine)?;
                let t0 = Instant::now();
                let maps = match engine.as_str() {
                    "tract" => run_tract(&model, &split.tiles, &bar)?,
                    "reference" => run_reference(&model, &split.tiles, &bar)?,
                    "tch" => run_tch(&ckpt, &split.tiles, &self.device, &bar)?,
                    other => bail!("unknown engine '{other}'"),
                };
                let seconds = t0.elapsed().as_secs_f64();
                bar.finish_and_clear();
                let mut scores = PixelScores::default();
                for (tile, (pos, bc)) in split.tiles.iter().zip(&maps) {
                    scores.add(tile, pos, bc);
                }
                rows.push(Row {
                    model: path.display().to_string(),
                    engine: engine.clone(),
                    tiles: split.tiles.len(),
                    metrics: scores.summary(),
                    tiles_per_second: split.tiles.len() as f64 / seconds.max(1e-9),
                });
            }
        }
        println!("data: {}", split.source);
        println!(
            "{:<40} {:<9} {:>6} {:>10} {:>11} {:>10} {:>11} {:>8}",
            "model", "engine", "tiles", "pos acc", "pos Jacc", "bc acc", "bc Jacc", "tiles/s"
        );
        let line = |name: &str, engine: &str, tiles: &str, m: &PixelSummary, tps: &str| {
            println!(
                "{:<40} {:<9} {:>6} {:>10.3} {:>11.3} {:>10.3} {:>11.3} {:>8}",
                name,
                engine,
                tiles,
                m.position_recall,
                m.position_jaccard,
                m.barcode_recall,
                m.barcode_jaccard,
                tps
            )
        };
        line(
            "original fp32 (its README)",
            "pytorch",
            "50",
            &ORIGINAL_FP32,
            "-",
        );
        for r in &rows {
            let name = if r.model.len() > 40 {
                format!("...{}", &r.model[r.model.len() - 37..])
            } else {
                r.model.clone()
            };
            line(
                &name,
                &r.engine,
                &r.tiles.to_string(),
                &r.metrics,
                &format!("{:.1}", r.tiles_per_second),
            );
        }
        if let Some(path) = &self.json {
            let json = serde_json::json!({ "data": split.source, "rows": rows });
            std::fs::write(path, serde_json::to_string_pretty(&json)?)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(())
    }
}
