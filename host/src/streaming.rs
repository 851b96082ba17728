//! Fields of view through a device link: flash, send the experiment's
//! codebook, send each FOV (with its truth when asked), collect the spots
//! and summarise latency, throughput and accuracy, with truth or without
//! it ([`summary`]). `robofish stream` and `robofish demo` both run this.

use std::io::Write;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use robofish_device::client::{Fov, FovResult};
use robofish_shared::model::{decode_model, CodebookEntry};
use robofish_shared::protocol::{
    CodebookInfo, CodebookSource, TruthSpot, WireSpot, NOT_DECODED, UNASSIGNED_GENE,
};

use crate::link::Link;
use crate::sim::{Codebook, Tile};

pub mod summary;

pub use summary::{print_summary, StreamSummary};

/// What to stream and how.
pub struct StreamJob<'a> {
    /// Model to flash first (else the device's current one is used).
    pub model: Option<&'a std::path::Path>,
    /// FOVs to stream.
    pub tiles: &'a [Tile],
    /// The experiment's codebook: sent to the device, which then decodes
    /// and names genes with it; the tiles' truth genes index it. `None`:
    /// the model's codebook decodes, and truth genes are unknown.
    pub codebook: Option<&'a Codebook>,
    /// Send the ground truth, so the device reports accuracy.
    pub truth: bool,
    /// Write every spot to this CSV.
    pub spots_out: Option<&'a std::path::Path>,
    /// Show a progress bar.
    pub progress: bool,
}

/// Streams `job.tiles` through `link` (flashing `job.model` first when given).
pub fn stream_tiles(link: &mut Link, job: &StreamJob<'_>) -> Result<StreamSummary> {
    let ack = link.ack.clone();
    let mut model_codebook = None;
    if let Some(path) = job.model {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        link.client
            .flash(&bytes)
            .with_context(|| format!("flashing {} to {}", path.display(), link.spec))?;
        // The device accepted it, so it decodes.
        model_codebook = decode_model(&bytes).ok().and_then(|m| m.metadata.codebook);
    } else if ack.model.is_none() {
        bail!(
            "device {} has no model: pass --model FILE (or flash one with robofish flash)",
            link.spec
        );
    }
    let genes = GeneNames::choose(link, job.codebook, model_codebook.as_deref())?;
    for warning in &genes.warnings {
        eprintln!("warning: {warning}");
    }
    if job.truth && job.codebook.is_none() {
        eprintln!(
            "warning: the data has no codebook (give --codebook FILE): the truth's genes are \
             unknown, so gene accuracy counts no match"
        );
    }
    let (tiles, truth, spots_out) = (job.tiles, job.truth, job.spots_out);
    let mut out = match spots_out {
        Some(p) => {
            let mut f = std::io::BufWriter::new(
                std::fs::File::create(p)
                    .with_context(|| format!("cannot create {}", p.display()))?,
            );
            writeln!(f, "{SPOTS_HEADER}")?;
            Some(f)
        }
        None => None,
    };
    let bar = if job.progress {
        let bar = ProgressBar::new(tiles.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} FOVs {msg}")
                .expect("valid template"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut summary = StreamSummary {
        kernels: ack.kernel_path.to_string(),
        threads: ack.threads,
        codebook: Some(genes.info),
        ..StreamSummary::default()
    };
    let started = Instant::now();
    for (id, tile) in tiles.iter().enumerate() {
        // The codebook sent is the one the truth's genes index, so its
        // indices are the device's.
        let known_genes = job.codebook.is_some();
        let truth_spots: Vec<TruthSpot> = tile
            .truth
            .iter()
            .map(|e| TruthSpot {
                // The device reports pixel-centred coordinates (centres at integers).
                y: e.y - 0.5,
                x: e.x - 0.5,
                gene: u16::try_from(e.gene)
                    .ok()
                    .filter(|&g| known_genes && g != UNASSIGNED_GENE),
            })
            .collect();
        let fov = Fov {
            truth: truth.then_some(truth_spots.as_slice()),
            ..tile_fov(tile)
        };
        link.client.send_fov(id as u32, &fov)?;
        let result: FovResult = link.client.collect(id as u32)?;
        if let Some(e) = &result.error {
            summary.failed += 1;
            // suspend, not println: a hidden bar (no terminal) drops its lines.
            bar.suspend(|| eprintln!("frame {id}: {e}"));
        } else {
            // Rates count the FOVs that succeeded only.
            summary.pixels += (tile.height * tile.width * 16) as u64;
            summary.add(&result);
            if let Some(f) = out.as_mut() {
                for s in &result.spots {
                    write_spot(f, id, s, &genes)?;
                }
            }
        }
        bar.inc(1);
        bar.set_message(summary.live(started.elapsed().as_secs_f64()));
    }
    bar.finish_and_clear();
    summary.seconds = started.elapsed().as_secs_f64();
    if let Some(mut f) = out {
        f.flush()?;
    }
    Ok(summary)
}

/// The columns of `--spots-out`.
const SPOTS_HEADER: &str = "frame,row,col,dy,dx,gene,distance,confidence";

/// One `--spots-out` row: the gene by name (its index when the names are
/// unknown, empty when unassigned) and the Hamming distance of the call
/// (empty when the spot was not decoded).
/// A tile as the device protocol's FOV (8 rounds x 2 colours), without
/// truth or precomputed statistics.
pub fn tile_fov(tile: &Tile) -> Fov<'_> {
    Fov {
        height: tile.height,
        width: tile.width,
        rounds: 8,
        colours: 2,
        images: &tile.images,
        truth: None,
        stats: None,
    }
}

fn write_spot(out: &mut impl Write, frame: usize, s: &WireSpot, genes: &GeneNames) -> Result<()> {
    let gene = match (s.is_assigned(), genes.name(s.gene)) {
        (false, _) => String::new(),
        (true, Some(name)) => name.to_string(),
        (true, None) => s.gene.to_string(),
    };
    let distance = match s.distance {
        NOT_DECODED => String::new(),
        d => d.to_string(),
    };
    writeln!(
        out,
        "{frame},{},{},{:?},{:?},{gene},{distance},{}",
        s.row, s.col, s.dy, s.dx, s.confidence
    )?;
    Ok(())
}

/// The codebook the device decodes with and the names of its genes.
///
/// Precedence (issue 3): the experiment's codebook (`--codebook`, else the
/// dataset's `codebook.csv`, resolved by the caller) is sent to the
/// device, and its names are the genes' names; without one, the model's
/// stored codebook decodes, named from the model file when it was flashed
/// here.
#[derive(Debug)]
struct GeneNames {
    /// Name per gene index of the device's active codebook; `None` when
    /// unknown (a model already on the device).
    names: Option<Vec<String>>,
    /// What the device reported about its codebook.
    info: CodebookInfo,
    /// What the user should hear about the codebook.
    warnings: Vec<String>,
}

impl GeneNames {
    fn choose(
        link: &mut Link,
        experiment: Option<&Codebook>,
        model: Option<&[CodebookEntry]>,
    ) -> Result<GeneNames> {
        let Some(codebook) = experiment else {
            // Back to the model's codebook, and learn what it is.
            let info = link.client.reset_codebook()?;
            let names = model.map(|entries| entries.iter().map(|e| e.name.clone()).collect());
            let mut warnings = Vec::new();
            if info.source == CodebookSource::None {
                warnings.push("the model stores no codebook and none was given: spots are found but not decoded".into());
            } else if !info.corrects {
                warnings.push(format!(
                    "the model's codebook has minimum Hamming distance {}: one-bit error \
                     correction is off, only exact matches are called",
                    info.min_distance.unwrap_or(0)
                ));
            }
            return Ok(GeneNames {
                names,
                info,
                warnings,
            });
        };
        let info = link
            .client
            .send_codebook(codebook)
            .with_context(|| format!("sending the codebook to {}", link.spec))?;
        let warnings = codebook
            .profile()
            .warnings()
            .map(|w| format!("codebook: {w}"))
            .collect();
        Ok(GeneNames {
            names: Some(codebook.entries().iter().map(|e| e.name.clone()).collect()),
            info,
            warnings,
        })
    }

    /// The name of the device's gene `gene`, when known.
    fn name(&self, gene: u16) -> Option<&str> {
        self.names
            .as_ref()?
            .get(usize::from(gene))
            .map(String::as_str)
    }
}
