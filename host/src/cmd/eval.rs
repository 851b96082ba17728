//! `robofish eval`: fp32 checkpoints and int8 models on a split, reported
//! as the original's two tables (latency + size, accuracy) and more.
use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use robofish_host::args::DataArgs;
use robofish_host::evaluate::plots::write_input_plot;
use robofish_host::evaluate::tables::{latency_table, machine_description, EvalRow};
use robofish_host::evaluate::{
    benchmark, classical, evaluate_classical, evaluate_engine, markdown_report, set_reductions,
    DecodeBook, EvalModel, EvalSettings, FloatEngine, Timing,
};
use robofish_host::sim::{Split, Tile};
use robofish_shared::classical::Params as ClassicalParams;

/// Evaluate models the way the original reported them, and more.
///
/// Models: fp32 checkpoints (`*.safetensors`, run on the `--engine`s) and
/// int8 model files (`*.rfm`, static, dynamic or QAT, run by the robofish
/// engine). For every model x engine: latency (median of --runs after
/// --warmup runs on the first tile, one thread and all threads), file size
/// and reduction; the original's pixel metrics (position recall/Jaccard at
/// 0.5, barcode recall/Jaccard at 0.9); spot F1 and RMSE (peaks at the
/// device's threshold matched within 1.5 px), gene-aware F1 and the blank
/// misidentification rate (decoded with the device's decoder, against the
/// model's codebook or else the data's). The original's fp32 row is printed
/// for comparison. `--method classical` adds a row for robofish's classical
/// decoder (no model), scored on the same spots, genes and matching.
#[derive(Args, Debug)]
pub struct Cmd {
    /// Model files: *.safetensors (fp32 checkpoint) or *.rfm (int8); several
    /// after one flag, repeated, or separated by commas.
    #[arg(
        long = "models",
        visible_alias = "checkpoint",
        required_unless_present_any = ["methods", "benchmark"],
        num_args = 1..,
        value_delimiter = ','
    )]
    pub models: Vec<PathBuf>,
    /// What finds the spots: `network` (the --models) and/or `classical`
    /// (robofish's classical decoder, no model); repeated or separated by
    /// commas. Default: network.
    #[arg(long = "method", value_enum, value_delimiter = ',')]
    pub methods: Vec<Method>,
    /// Engines for fp32 checkpoints (int8 files always run on robofish's
    /// engine): tract, tch (needs `--features torch`), reference (slow).
    /// Default: tract, plus tch in a build with libtorch.
    #[arg(long = "engine", value_enum, value_delimiter = ',')]
    pub engines: Vec<FloatEngine>,
    #[command(flatten)]
    pub data: DataArgs,
    /// Split to evaluate.
    #[arg(long, default_value = "test")]
    pub split: Split,
    /// Timed runs per latency (the median is reported).
    #[arg(long, default_value_t = 20)]
    pub runs: usize,
    /// Untimed runs before them.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Threads for "all threads" (default: every core this process may use).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Also write both tables as Markdown, with a machine description.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Also write a JSON list with one object per model x engine.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write PNGs of the first --plot-tiles tiles here: the input images
    /// (tileNN-input.png) and, per model x engine, the position map
    /// (truth: green rings; detections: red >= 0.9, orange >= 0.6, blue
    /// below) and the 16 barcode-bit maps (green ring: the emitter's bit is
    /// on, red cross: off).
    #[arg(long)]
    pub plots: Option<PathBuf>,
    /// Tiles to draw with --plots.
    #[arg(long, default_value_t = 3)]
    pub plot_tiles: usize,
    /// cpu, cuda or auto, for the tch engine.
    #[arg(long, default_value = "cpu", value_parser = ["cpu", "cuda", "auto"])]
    pub device: String,
    /// Run the generalisation benchmark instead of one split: the --models
    /// and the classical decoder on `seed` and every held-out preset (never
    /// trained or tuned on, each with its fixed seed), into one table.
    #[arg(long, conflicts_with_all = ["data", "simulate"])]
    pub benchmark: bool,
    /// Tiles per benchmark preset, in 40 x 40 equivalents (larger tiles get
    /// fewer, with the same pixel count).
    #[arg(long, default_value_t = 200)]
    pub benchmark_tiles: usize,
}

/// What makes a row's spots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// The --models, on their engines.
    Network,
    /// robofish's classical decoder: no model, no training.
    Classical,
}

impl Cmd {
    /// `--benchmark`: every model (on its engines) and the classical
    /// decoder on seed and the held-out presets.
    fn run_benchmark(&self, settings: EvalSettings) -> Result<()> {
        let fp32_engines = if self.engines.is_empty() {
            FloatEngine::defaults()
        } else {
            self.engines.clone()
        };
        let mut models = Vec::new();
        for path in &self.models {
            let model = EvalModel::load(path)?;
            let engines = model
                .engines(&fp32_engines, &self.device)
                .with_context(|| format!("cannot run {}", path.display()))?;
            models.push((model, engines));
        }
        let rows = benchmark::run(&mut models, self.benchmark_tiles, &settings, &mut |name| {
            eprintln!("benchmark: {name}")
        })?;
        let report = benchmark::markdown(&rows, &machine_description());
        write!(io::stdout(), "{report}")?;
        if let Some(path) = &self.markdown {
            std::fs::write(path, &report)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        if let Some(path) = &self.json {
            std::fs::write(path, serde_json::to_string_pretty(&rows)? + "\n")
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(())
    }
}

/// The report of data without ground truth: latency and size only.
fn untruthed_report(rows: &[EvalRow], data: &str) -> String {
    format!(
        "## robofish eval\n\nMachine: {}\n\nData: {data}\n\n### Latency and size\n\n{}\n\
         ### Accuracy\n\nNot measured: the data has no ground truth.\n",
        machine_description(),
        latency_table(rows)
    )
}

/// The JSON fields that compare against ground truth, nulled (the blank
/// misidentification rate needs none and stays).
fn drop_accuracy(rows: &mut serde_json::Value) {
    const ACCURACY: [&str; 10] = [
        "pos_recall",
        "pos_jaccard",
        "bc_recall",
        "bc_jaccard",
        "spot_precision",
        "spot_recall",
        "spot_f1",
        "rmse",
        "gene_f1",
        "truth_spots",
    ];
    for row in rows.as_array_mut().into_iter().flatten() {
        for key in ACCURACY {
            if let Some(value) = row.get_mut(key) {
                *value = serde_json::Value::Null;
            }
        }
    }
}

/// The tile size shared by every tile of the split.
fn common_tile_size(tiles: &[Tile]) -> Result<(usize, usize)> {
    let first = tiles
        .first()
        .context("the split has no tiles to evaluate")?;
    let size = (first.height, first.width);
    if let Some((i, odd)) = tiles
        .iter()
        .enumerate()
        .find(|(_, t)| (t.height, t.width) != size)
    {
        bail!(
            "tile {i} is {}x{} but tile 0 is {}x{}; eval needs one tile size per split",
            odd.height,
            odd.width,
            size.0,
            size.1
        );
    }
    Ok(size)
}

/// The codebook a model's spots are decoded with: its own (as on the
/// device), else the data's.
fn codebook_for(model: &EvalModel, data: Option<&DecodeBook>) -> Result<Option<DecodeBook>> {
    let own = model.codebook()?;
    if let (Some(own), Some(data)) = (&own, data) {
        if !own.same_words(data) {
            eprintln!(
                "warning: {}'s codebook differs from the data's; genes are compared by \
                 barcode word",
                model.name
            );
        }
    }
    Ok(own.or_else(|| data.cloned()))
}

impl Cmd {
    fn settings(&self) -> Result<EvalSettings> {
        if self.runs == 0 {
            bail!("--runs must be at least 1");
        }
        let all_threads = match self.threads {
            Some(0) => bail!("--threads must be at least 1"),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        Ok(EvalSettings {
            timing: Timing {
                warmup: self.warmup,
                runs: self.runs,
            },
            all_threads,
            plots: self.plots.clone(),
            plot_tiles: self.plot_tiles,
        })
    }

    pub fn run(self) -> Result<()> {
        let settings = self.settings()?;
        if self.benchmark {
            return self.run_benchmark(settings);
        }
        let classical = self.methods.contains(&Method::Classical);
        if self.methods.contains(&Method::Network) && self.models.is_empty() {
            bail!("--method network needs --models");
        }
        // Load and check everything before the long work starts.
        let mut models = self
            .models
            .iter()
            .map(|path| EvalModel::load(path))
            .collect::<Result<Vec<_>>>()?;
        // Rows, plots and JSON name models by file name; where two share
        // one (run-a/best.safetensors, run-b/best.safetensors), use paths.
        let shared_name: Vec<bool> = models
            .iter()
            .map(|m| models.iter().filter(|o| o.name == m.name).count() > 1)
            .collect();
        for (model, shared) in models.iter_mut().zip(shared_name) {
            if shared {
                model.name = model.path.display().to_string();
            }
        }
        let split = self.data.load(self.split)?;
        let (height, width) = common_tile_size(&split.tiles)?;
        let data_book = split
            .codebook
            .as_ref()
            .map(|c| DecodeBook::from_codebook(c, "the data's codebook"));
        let fp32_engines = if self.engines.is_empty() {
            FloatEngine::defaults()
        } else {
            self.engines.clone()
        };
        let mut runs = Vec::new();
        for model in &models {
            model.check_data(height, width)?;
            if model.bit_order() != split.bit_order {
                eprintln!(
                    "warning: {} was trained on {} bit order data but the evaluation data is \
                     {}; its barcode maps will not line up",
                    model.name,
                    model.bit_order().name(),
                    split.bit_order.name()
                );
            }
            let book = codebook_for(model, data_book.as_ref())?;
            let engines = model
                .engines(&fp32_engines, &self.device)
                .with_context(|| format!("cannot run {}", model.path.display()))?;
            runs.push((model, book, engines));
        }
        if let Some(dir) = &settings.plots {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            for (index, tile) in split.tiles.iter().take(settings.plot_tiles).enumerate() {
                write_input_plot(dir, index, tile, split.bit_order)?;
            }
        }

        let mut rows = Vec::new();
        let mut pictures = 0;
        for (model, book, engines) in &mut runs {
            for engine in engines.iter_mut() {
                let (row, written) = evaluate_engine(
                    model,
                    engine.as_mut(),
                    &split.tiles,
                    book.as_ref(),
                    &settings,
                )?;
                rows.push(row);
                pictures += written.len();
            }
        }
        set_reductions(&mut rows);
        let classical_params = ClassicalParams::default();
        if classical {
            rows.push(evaluate_classical(
                &split.tiles,
                split.bit_order,
                split.codebook.as_ref(),
                classical_params,
                settings.timing,
            )?);
        }

        let mut report = if split.has_truth {
            markdown_report(&rows, &machine_description(), &split.source)
        } else {
            untruthed_report(&rows, &split.source)
        };
        if classical {
            report += &classical::notes(&classical_params);
        }
        write!(io::stdout(), "{report}")?;
        if let Some(path) = &self.markdown {
            std::fs::write(path, &report)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        if let Some(path) = &self.json {
            let mut json = serde_json::to_value(&rows)?;
            if !split.has_truth {
                drop_accuracy(&mut json);
            }
            std::fs::write(path, serde_json::to_string_pretty(&json)? + "\n")
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        if let Some(dir) = &settings.plots {
            eprintln!("wrote {pictures} model pictures to {}", dir.display());
        }
        Ok(())
    }
}
