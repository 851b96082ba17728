//! `robofish inspect MODEL`: what a model file holds and what it costs to run.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use robofish_host::args::TileSize;
use robofish_shared::checksum::crc32;
use robofish_shared::engine::Network;
use robofish_shared::kernels::KernelPath;
use robofish_shared::model::file::{FORMAT_VERSION, HEADER_LEN};
use robofish_shared::model::{decode_model, model_hash, Model, Node};

/// Print a model's architecture, size, cost and provenance.
#[derive(Args, Debug)]
pub struct Cmd {
    /// Model file (robofish int8 format).
    pub model: PathBuf,
    /// Tile sizes to report arena bytes and MACs for (repeatable).
    #[arg(long = "tile", value_name = "HxW", default_values = ["40x40", "256x256"])]
    pub tiles: Vec<TileSize>,
    /// FOV size whose row-streaming memory (device) to report.
    #[arg(long, value_name = "HxW", default_value = "2048x2048")]
    pub stream: TileSize,
    /// Also list every node with its shapes and int8 grids.
    #[arg(long)]
    pub layers: bool,
}

impl Cmd {
    pub fn run(self) -> Result<()> {
        let bytes = std::fs::read(&self.model)
            .with_context(|| format!("cannot read model file {}", self.model.display()))?;
        let model = decode_model(&bytes).with_context(|| {
            let header = if bytes.len() >= HEADER_LEN {
                let stored = u32::from_le_bytes(bytes[16..20].try_into().unwrap_or_default());
                format!(
                    " (header CRC-32 {stored:#010x}, payload CRC-32 {:#010x})",
                    crc32(&bytes[HEADER_LEN..])
                )
            } else {
                String::new()
            };
            format!("{} is not a usable model{header}", self.model.display())
        })?;
        let crc = crc32(&bytes[HEADER_LEN..]);
        let path = KernelPath::from_env().context("ROBOFISH_KERNELS names an unusable path")?;
        // Built before anything is printed, so a tile size the model cannot
        // run is an error of its own, not a line inside the table.
        let network =
            std::sync::Arc::new(Network::new(model, path).context("model cannot be prepared")?);
        let plans = self
            .tiles
            .iter()
            .map(|tile| {
                network
                    .plan(tile.height, tile.width)
                    .with_context(|| format!("cannot plan --tile {tile}"))
            })
            .collect::<Result<Vec<_>>>()?;
        let streamer = robofish_shared::engine::RowStreamer::new(
            network.clone(),
            self.stream.height,
            self.stream.width,
        )
        .with_context(|| format!("cannot plan row streaming of --stream {}", self.stream))?;
        let mut out = io::stdout().lock();
        writeln!(
            out,
            "file          {} ({} bytes)",
            self.model.display(),
            bytes.len()
        )?;
        writeln!(
            out,
            "format        version {FORMAT_VERSION}, CRC-32 {crc:#010x} ok, model hash {:016x}",
            model_hash(&bytes)
        )?;
        print_summary(&mut out, network.model())?;
        let macs = network.model().graph.macs_per_pixel();
        for (tile, plan) in self.tiles.iter().zip(&plans) {
            writeln!(
                out,
                "tile {:>9}  arena {:>12} bytes, {:.3} G MAC",
                tile.to_string(),
                group_digits(plan.arena_bytes() as u64),
                macs * (tile.height * tile.width) as f64 / 1e9
            )?;
        }
        writeln!(
            out,
            "stream {:>9}  rings {:>12} bytes (row streaming, whole FOV, no halo recompute)",
            self.stream.to_string(),
            group_digits(streamer.memory_bytes() as u64)
        )?;
        if self.layers {
            for (t, (rows, bytes)) in streamer.ring_sizes().iter().enumerate() {
                writeln!(
                    out,
                    "  tensor {t:>3}: ring of {rows:>3} rows, {:>11} bytes",
                    group_digits(*bytes as u64)
                )?;
            }
        }
        let supported: Vec<&str> = KernelPath::ALL
            .iter()
            .filter(|p| p.is_supported())
            .map(|p| p.name())
            .collect();
        writeln!(
            out,
            "kernels       {} (supported here: {})",
            network.kernel_path(),
            supported.join(", ")
        )?;
        if self.layers {
            print_layers(&mut out, network.model())?;
        }
        Ok(())
    }
}

fn print_summary(out: &mut impl Write, model: &Model) -> io::Result<()> {
    let meta = &model.metadata;
    let graph = &model.graph;
    writeln!(out, "name          {}", meta.name)?;
    writeln!(
        out,
        "quantisation  {} (int8 weights per output channel, int8 activations per tensor)",
        meta.mode.name()
    )?;
    match &meta.arch {
        Some(a) => {
            writeln!(
            out,
            "architecture  anglerFISH: widths {}, depth {}, {} convs/block, stage outputs {}/{}, \
             heads {}, {} barcode bits, {} rounds x {} colours, first stage {}",
            a.widths.iter().map(|w| w.to_string()).collect::<Vec<_>>().join("/"),
            a.depth(),
            a.convs_per_block,
            a.first_stage_out,
            a.second_stage_out,
            a.head_width,
            a.barcode_bits,
            a.rounds,
            a.colours,
            if a.shared_first_stage { "shared by both colours" } else { "one per colour" }
        )?
        }
        None => writeln!(out, "architecture  custom graph")?,
    }
    let count = |f: fn(&Node<_, _>) -> bool| graph.nodes.iter().filter(|n| f(n)).count();
    writeln!(
        out,
        "graph         {} nodes ({} conv, {} max-pool, {} upsample, {} concat, {} input), {} tensors, {} raw channels",
        graph.nodes.len(),
        count(|n| matches!(n, Node::Conv(_))),
        count(|n| matches!(n, Node::MaxPool(_))),
        count(|n| matches!(n, Node::Upsample(_))),
        count(|n| matches!(n, Node::Concat(_))),
        count(|n| matches!(n, Node::Input(_))),
        graph.tensors.len(),
        graph.input_channels
    )?;
    let params = model.parameter_count();
    writeln!(
        out,
        "parameters    {} ({} weight blobs; {:.2} MB as int8 + i32 bias, {:.2} MB as fp32)",
        group_digits(params as u64),
        model.weights.len(),
        (params as f64 + 3.0 * bias_count(model) as f64) / 1e6,
        params as f64 * 4.0 / 1e6
    )?;
    writeln!(
        out,
        "MACs          {:.3} M per pixel",
        graph.macs_per_pixel() / 1e6
    )?;
    match model.input_stage.kind() {
        // The stored (mean, std) of a per-image model are the identity and
        // say nothing about the input.
        robofish_shared::input_stage::InputStage::PerImage => writeln!(
            out,
            "input stage   per image: (raw - the image's median) / its robust noise, measured \
             on every image (any camera offset, gain or bit depth)"
        )?,
        robofish_shared::input_stage::InputStage::Fixed => {
            let norm = &meta.normalisation;
            writeln!(
                out,
                "normalisation (raw - mean) / std; mean {:.1}..{:.1}, std {:.1}..{:.1} (fixed: \
                 right for the training camera only)",
                norm.mean.iter().cloned().fold(f32::INFINITY, f32::min),
                norm.mean.iter().cloned().fold(f32::NEG_INFINITY, f32::max),
                norm.std.iter().cloned().fold(f32::INFINITY, f32::min),
                norm.std.iter().cloned().fold(f32::NEG_INFINITY, f32::max),
            )?
        }
    }
    writeln!(out, "bit order     {:?}", meta.bit_order)?;
    match &meta.codebook {
        Some(words) => {
            let blank = words
                .iter()
                .filter(|w| robofish_shared::codebook::is_blank_name(&w.name))
                .count();
            writeln!(out, "codebook      {} words ({} blank)", words.len(), blank)?;
        }
        None => writeln!(
            out,
            "codebook      none stored (give one with --codebook or the dataset's codebook.csv)"
        )?,
    }
    let prov = &meta.provenance;
    for (label, value) in [
        ("made by", &prov.tool),
        ("command", &prov.command),
        ("data", &prov.data),
        ("notes", &prov.notes),
    ] {
        if !value.is_empty() {
            writeln!(out, "{label:<13} {value}")?;
        }
    }
    Ok(())
}

fn bias_count(model: &Model) -> usize {
    model
        .graph
        .nodes
        .iter()
        .map(|n| match n {
            Node::Conv(c) => c.bias.len(),
            _ => 0,
        })
        .sum()
}

fn print_layers(out: &mut impl Write, model: &Model) -> io::Result<()> {
    writeln!(
        out,
        "\n{:>4}  {:<10} {:>5} -> {:<5} {:>5}  {:<9} {:>10} {:>5}",
        "node", "kind", "in", "out", "level", "act", "scale", "zp"
    )?;
    for (i, node) in model.graph.nodes.iter().enumerate() {
        let output = node.output() as usize;
        let shape = model.graph.tensors[output];
        let q = model.tensor_quant[output];
        let mut input_channels = 0u32;
        node.for_each_input(|t| input_channels += model.graph.tensors[t as usize].channels as u32);
        if let Node::Input(input) = node {
            input_channels = input.channels as u32;
        }
        let act = match node {
            Node::Conv(c) => c.activation.name(),
            _ => "",
        };
        writeln!(
            out,
            "{i:>4}  {:<10} {:>5} -> {:<5} {:>5}  {:<9} {:>10.6} {:>5}",
            node.kind_name(),
            input_channels,
            shape.channels,
            shape.level,
            act,
            q.scale,
            q.zero_point
        )?;
    }
    Ok(())
}

/// 1234567 -> "1,234,567".
pub fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
