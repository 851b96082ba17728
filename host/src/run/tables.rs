//! The final tables, rebuilt from the parts every time (so a resumed run,
//! a single run and a merge of per-FOV jobs give the same bytes), each
//! written atomically: `detected_transcripts.csv` and `.parquet`,
//! `counts_per_gene.csv`, `qc.json` and `qc.png`.

use std::io::Write;
use std::path::Path;

use anyhow::Result;

use super::atomic::{write_bytes, write_with};
use super::parquet_out::write_parquet;
use super::parts::PartSet;
use super::qc::Qc;
use super::qc_plot::qc_png;
use super::transcript::{write_transcripts_csv, Transcript};
use crate::report::write_png;
use crate::sim::Codebook;

/// Writes the final tables of `set` (calls indexing `codebook`) into `out`
/// and returns their QC.
pub fn write_tables(out: &Path, set: &PartSet, codebook: &Codebook) -> Result<Qc> {
    let transcripts: Vec<Transcript> = set.parts.iter().flat_map(|(_, t)| t.clone()).collect();
    let micrometres = !set.parts.is_empty()
        && set
            .parts
            .iter()
            .all(|(p, _)| p.placement.pixel_size_um.is_some());
    let qc = Qc::of(set, codebook, if micrometres { "µm" } else { "px" });
    write_with(&out.join("detected_transcripts.csv"), |w| {
        write_transcripts_csv(w, &transcripts)
    })?;
    write_with(&out.join("detected_transcripts.parquet"), |w| {
        write_parquet(w, &transcripts)
    })?;
    write_with(&out.join("counts_per_gene.csv"), |w| {
        writeln!(w, "barcode_id,gene,blank,count")?;
        let mut genes = qc.calls_per_gene.clone();
        genes.sort_by_key(|g| g.barcode_id);
        for g in &genes {
            writeln!(w, "{},{},{},{}", g.barcode_id, g.gene, g.blank, g.calls)?;
        }
        Ok(())
    })?;
    write_bytes(&out.join("qc.json"), &serde_json::to_vec_pretty(&qc)?)?;
    let picture = qc_png(&qc)?;
    // write_png writes to a path: a temporary one, renamed like the rest.
    let temp = out.join(format!(".qc.png.tmp-{}", std::process::id()));
    write_png(&temp, &picture)?;
    std::fs::rename(&temp, out.join("qc.png"))?;
    Ok(qc)
}

/// The few lines a person reads after a run or a merge.
pub fn print_qc(out: &mut impl Write, qc: &Qc, dir: &Path) -> std::io::Result<()> {
    let ratio = |v: Option<f64>| v.map_or_else(|| "n/a".into(), |v| format!("{v:.3}"));
    let m = &qc.misidentification;
    writeln!(
        out,
        "transcripts   {} ({} exact-or-corrected calls to {} coding and {} blank words; {} unassigned spots, {} left to overlapping FOVs)",
        qc.transcripts, m.coding_calls + m.blank_calls, m.coding_words, m.blank_words, qc.unassigned, qc.dropped_in_overlap
    )?;
    writeln!(
        out,
        "decoding      {} blank calls; misidentification {} (blank-based), mean confidence {}",
        m.blank_calls,
        ratio(m.rate),
        ratio(m.mean_confidence)
    )?;
    if let Some(t) = &qc.truth {
        writeln!(
            out,
            "accuracy      precision {:.3}, recall {:.3}, spot F1 {:.3}, gene F1 {:.3} ({} truth spots, each FOV whole)",
            t.precision, t.recall, t.spot_f1, t.gene_f1, t.truth_spots
        )?;
    }
    for f in &qc.failures {
        writeln!(out, "failed        FOV {}: {}", f.fov, f.error)?;
    }
    writeln!(out, "tables        {}", dir.display())
}
