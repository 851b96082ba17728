//! Fields of view through a device link: flash, send each FOV (with its
//! truth when asked), collect the spots and summarise latency, throughput
//! and accuracy. `robofish stream` and `robofish demo` both run this.

use std::io::{self, Write};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use robofish_device::client::{Fov, FovResult};
use robofish_shared::model::{decode_model, CodebookEntry};
use robofish_shared::post::MATCH_RADIUS;
use robofish_shared::protocol::{DetectionCounts, Report, TruthSpot, UNASSIGNED_GENE};

use crate::link::Link;
use crate::sim::{Codebook, Tile};

/// What a stream measured.
#[derive(Debug, Default)]
pub struct StreamSummary {
    /// FOVs answered with results.
    pub fovs: usize,
    /// FOVs answered with an error.
    pub failed: usize,
    /// Spots reported.
    pub spots: usize,
    /// Device-side latency per FOV (microseconds).
    pub latencies_us: Vec<u32>,
    /// Pixels streamed (per image).
    pub pixels: u64,
    /// Host wall-clock seconds.
    pub seconds: f64,
    /// Accuracy, when truth was sent.
    pub counts: Option<DetectionCounts>,
    /// Kernel path the device reported.
    pub kernels: String,
    /// Device threads.
    pub threads: u16,
}

/// What to stream and how.
pub struct StreamJob<'a> {
    /// Model to flash first (else the device's current one is used).
    pub model: Option<&'a std::path::Path>,
    /// FOVs to stream.
    pub tiles: &'a [Tile],
    /// The codebook the tiles' truth genes index (`None`: unknown).
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
    let ack = link.client.hello()?;
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
    let genes = TruthGenes::new(job.codebook, model_codebook.as_deref());
    if job.truth {
        if let Some(warning) = genes.warning() {
            eprintln!("warning: {warning}");
        }
    }
    let (tiles, truth, spots_out) = (job.tiles, job.truth, job.spots_out);
    let mut out = match spots_out {
        Some(p) => {
            let mut f = std::io::BufWriter::new(
                std::fs::File::create(p)
                    .with_context(|| format!("cannot create {}", p.display()))?,
            );
            writeln!(f, "frame,row,col,dy,dx,gene,confidence")?;
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
        ..StreamSummary::default()
    };
    let started = Instant::now();
    for (id, tile) in tiles.iter().enumerate() {
        let truth_spots: Vec<TruthSpot> = tile
            .truth
            .iter()
            .map(|e| TruthSpot {
                // The device reports pixel-centred coordinates (centres at integers).
                y: e.y - 0.5,
                x: e.x - 0.5,
                gene: Some(genes.translate(e.gene)).filter(|&g| g != UNASSIGNED_GENE),
            })
            .collect();
        let fov = Fov {
            height: tile.height,
            width: tile.width,
            rounds: 8,
            colours: 2,
            images: &tile.images,
            truth: truth.then_some(truth_spots.as_slice()),
            stats: None,
        };
        link.client.send_fov(id as u32, &fov)?;
        let result: FovResult = link.client.collect(id as u32)?;
        summary.pixels += (tile.height * tile.width * 16) as u64;
        if let Some(e) = &result.error {
            summary.failed += 1;
            // suspend, not println: a hidden bar (no terminal) drops its lines.
            bar.suspend(|| eprintln!("frame {id}: {e}"));
        } else {
            summary.fovs += 1;
            summary.spots += result.spots.len();
            if let Some(t) = result.timing {
                summary.latencies_us.push(t.total_us);
            }
            if let Some(c) = result.metrics {
                summary
                    .counts
                    .get_or_insert_with(DetectionCounts::default)
                    .accumulate(&c);
            }
            if let Some(f) = out.as_mut() {
                for s in &result.spots {
                    writeln!(
                        f,
                        "{id},{},{},{:?},{:?},{},{}",
                        s.row, s.col, s.dy, s.dx, s.gene, s.confidence
                    )?;
                }
            }
        }
        bar.inc(1);
        let secs = started.elapsed().as_secs_f64();
        bar.set_message(format!(
            "{} spots, {:.1} Mpx/s",
            summary.spots,
            summary.pixels as f64 / secs / 1e6
        ));
    }
    bar.finish_and_clear();
    summary.seconds = started.elapsed().as_secs_f64();
    if let Some(mut f) = out {
        f.flush()?;
    }
    Ok(summary)
}

/// Truth genes moved from the dataset's codebook order into the model's,
/// which is the order the device names genes in. Entries are matched by
/// barcode word; a dataset gene the model's codebook lacks becomes
/// [`UNASSIGNED_GENE`], so its spots count as misidentified rather than as
/// some other gene.
#[derive(Debug)]
struct TruthGenes {
    /// Model index per dataset index; `None`: one codebook is unknown, and
    /// indices go through unchanged.
    map: Option<Vec<u16>>,
    /// Why indices go through unchanged, or how many genes have no match.
    warning: Option<String>,
}

impl TruthGenes {
    fn new(dataset: Option<&Codebook>, model: Option<&[CodebookEntry]>) -> TruthGenes {
        let (dataset, model) = match (dataset, model) {
            (Some(dataset), Some(model)) => (dataset, model),
            (dataset, _) => {
                let missing = if dataset.is_none() {
                    "the dataset has no codebook"
                } else {
                    "the device's model codebook is unknown (no --model, or the model stores none)"
                };
                return TruthGenes {
                    map: None,
                    warning: Some(format!(
                        "{missing}: truth genes are sent as dataset codebook indices, so gene \
                         accuracy assumes the device's model uses the same codebook order"
                    )),
                };
            }
        };
        let map: Vec<u16> = dataset
            .words()
            .iter()
            .map(|&word| {
                model
                    .iter()
                    .position(|entry| entry.word == word)
                    .and_then(|index| u16::try_from(index).ok())
                    .unwrap_or(UNASSIGNED_GENE)
            })
            .collect();
        let unmatched = map.iter().filter(|&&g| g == UNASSIGNED_GENE).count();
        let warning = (unmatched > 0).then(|| {
            format!(
                "{unmatched} of the dataset's {} codebook words are not in the model's codebook; \
                 spots of those genes count as misidentified",
                map.len()
            )
        });
        TruthGenes {
            map: Some(map),
            warning,
        }
    }

    fn warning(&self) -> Option<&str> {
        self.warning.as_deref()
    }

    /// The device-side gene of dataset gene `gene`.
    fn translate(&self, gene: usize) -> u16 {
        match &self.map {
            Some(map) => map.get(gene).copied().unwrap_or(UNASSIGNED_GENE),
            None => u16::try_from(gene).unwrap_or(UNASSIGNED_GENE),
        }
    }
}

fn percentile(sorted: &[u32], q: f64) -> f64 {
    Report::latency_percentile(sorted, q) as f64 / 1000.0
}

/// Writes the final table to `out`.
pub fn print_summary(out: &mut impl Write, device: &str, s: &StreamSummary) -> io::Result<()> {
    let mut lat = s.latencies_us.clone();
    lat.sort_unstable();
    writeln!(
        out,
        "device        {device} (kernels {}, {} threads)",
        s.kernels, s.threads
    )?;
    writeln!(out, "FOVs          {} ok, {} failed", s.fovs, s.failed)?;
    writeln!(out, "spots         {}", s.spots)?;
    writeln!(
        out,
        "latency       p50 {:.2} ms, p99 {:.2} ms per FOV (device)",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99)
    )?;
    writeln!(
        out,
        "throughput    {:.2} Mpixel/s ({} images x pixels), {:.1} FOVs/min (host wall clock, {:.2} s)",
        s.pixels as f64 / s.seconds.max(1e-9) / 1e6,
        16,
        (s.fovs + s.failed) as f64 / s.seconds.max(1e-9) * 60.0,
        s.seconds
    )?;
    if let Some(c) = &s.counts {
        let f = |v: f64| format!("{v:.3}");
        writeln!(
            out,
            "accuracy      precision {}, recall {}, F1 {}, gene accuracy of matches {} (r = {MATCH_RADIUS} px; {} truth, {} called, {} blank calls)",
            f(c.detection.precision()),
            f(c.detection.recall()),
            f(c.detection.f1()),
            f(c.gene_accuracy()),
            c.truth_spots,
            c.called_spots,
            c.blank_calls
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, word: u16) -> CodebookEntry {
        CodebookEntry {
            name: name.into(),
            word,
        }
    }

    #[test]
    fn truth_genes_follow_the_model_codebook_by_word() {
        let dataset = Codebook::mhd4(12);
        let words = dataset.words();
        // The model stores the same words in another order, minus one.
        let mut model: Vec<CodebookEntry> = words
            .iter()
            .enumerate()
            .rev()
            .map(|(i, &w)| entry(&format!("g{i}"), w))
            .collect();
        let dropped = model.remove(0).word;
        let genes = TruthGenes::new(Some(&dataset), Some(&model));
        for (i, &word) in words.iter().enumerate() {
            let device = genes.translate(i);
            if word == dropped {
                assert_eq!(device, UNASSIGNED_GENE);
            } else {
                assert_eq!(model[device as usize].word, word, "gene {i}");
            }
        }
        assert_eq!(genes.translate(words.len() + 5), UNASSIGNED_GENE);
        assert!(genes.warning().unwrap().starts_with("1 of the dataset's"));
    }

    #[test]
    fn unknown_codebooks_pass_indices_through_with_a_warning() {
        let dataset = Codebook::mhd4(12);
        for genes in [
            TruthGenes::new(None, Some(&[entry("a", 3)])),
            TruthGenes::new(Some(&dataset), None),
        ] {
            assert_eq!(genes.translate(7), 7);
            assert_eq!(genes.translate(usize::MAX), UNASSIGNED_GENE);
            assert!(genes.warning().unwrap().contains("same codebook order"));
        }
        let same = TruthGenes::new(
            Some(&dataset),
            Some(&robofish_shared::model::codebook_entries(&dataset)),
        );
        assert!(same.warning().is_none());
        assert_eq!(same.translate(4), 4);
    }
}
