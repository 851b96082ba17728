//! `robofish run`: every FOV of an experiment into transcript tables.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use robofish_host::args::DataArgs;
use robofish_host::run::{
    parts_dir, prepare, read_positions, run_fovs, write_tables, DatasetSource, FovSource, Method,
    PartSet, RunIdentity, RunJob,
};
use robofish_host::sim::Split;

/// Decode every FOV of an experiment into the tables spatial-omics tools
/// load: OUT/detected_transcripts.csv and .parquet (MERSCOPE's columns plus
/// confidence, hamming_distance, intensity), counts_per_gene.csv, qc.json
/// and qc.png. Each FOV keeps only the transcripts in its own part of the
/// overlaps, so FOVs can run as separate jobs (`--fov N`) and be combined
/// with `robofish merge`. Rerunning resumes: FOVs already written with the
/// same model and codebook are skipped. A FOV that cannot be read or
/// decoded is reported, skipped and listed in qc.json; the exit status is
/// non-zero only when every FOV selected failed.
#[derive(Args, Debug)]
pub struct Cmd {
    #[command(flatten)]
    pub data: DataArgs,
    /// Split of --data whose tiles are the FOVs.
    #[arg(long, default_value = "test")]
    pub split: Split,
    /// The experiment's codebook (MERlin CSV); default: the dataset's
    /// codebook.csv, else the model's.
    #[arg(long, value_name = "FILE")]
    pub codebook: Option<PathBuf>,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Device for --method network: exec:COMMAND, tcp:HOST:PORT,
    /// serial:PATH[@BAUD] or local (in-process).
    #[arg(long, default_value = "local")]
    pub device: String,
    /// Flash this model first (required for a fresh local device).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// network (the int8 model on --device) or classical (host-side decoder).
    #[arg(long, value_enum, default_value = "network")]
    pub method: Method,
    /// FOVs to decode: an id, a range or a list (`12`, `0-99`, `1,3,8-9`);
    /// default all.
    #[arg(long = "fov", value_name = "IDS")]
    pub fov: Option<String>,
    /// Stage positions: one `x,y` line in µm per FOV, in FOV order (MERlin's
    /// positions file). They give global coordinates and de-duplicate overlaps.
    #[arg(long, value_name = "FILE")]
    pub positions: Option<PathBuf>,
    /// Pixel size in µm per pixel; without it global coordinates are in pixels.
    #[arg(long, value_name = "UM")]
    pub pixel_size: Option<f64>,
    /// Threads of a local device.
    #[arg(long)]
    pub threads: Option<usize>,
}

impl Cmd {
    pub fn run(self) -> Result<()> {
        let mut source = DatasetSource::open(&self.data, self.split, self.codebook.as_deref())?;
        let positions = self.positions.as_deref().map(read_positions).transpose()?;
        source.place(positions.as_deref(), self.pixel_size)?;
        let all: Vec<u32> = source.placements().iter().map(|p| p.fov).collect();
        let selected = match &self.fov {
            Some(spec) => select(spec, &all)?,
            None => all,
        };
        let prepared = prepare(
            self.method,
            &self.device,
            self.model.as_deref(),
            self.threads,
            source.codebook(),
            source.bit_order(),
        )?;
        let identity = RunIdentity {
            method: self.method.name().into(),
            model: prepared.model.clone(),
            codebook: robofish_host::run::fingerprint(prepared.codebook.to_csv().as_bytes()),
        };
        std::fs::create_dir_all(&self.out)
            .with_context(|| format!("cannot create {}", self.out.display()))?;
        write_codebook(&self.out, &prepared.codebook)?;
        let parts = parts_dir(&self.out);
        let mut backend = prepared.backend;
        let outcome = run_fovs(
            &RunJob {
                parts: &parts,
                source: &source,
                selected: &selected,
                identity: &identity,
                codebook: &prepared.codebook,
                progress: true,
            },
            &mut backend,
        )?;
        backend.close()?;
        let mut set = PartSet::default();
        set.absorb(
            robofish_host::run::load_parts(&parts)?,
            &parts.display().to_string(),
        )?;
        let qc = write_tables(&self.out, &set, &prepared.codebook)?;
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "FOVs          {} decoded, {} already written (resumed), {} failed; {} in the tables",
            outcome.decoded.len(),
            outcome.resumed.len(),
            outcome.failed.len(),
            qc.fovs
        )?;
        robofish_host::run::print_qc(&mut out, &qc, &self.out)?;
        if !selected.is_empty() && outcome.failed.len() == selected.len() {
            bail!("every FOV selected failed ({}); see above", selected.len());
        }
        Ok(())
    }
}

/// The FOVs `spec` names (`12`, `0-99`, `1,3,8-9`), each of which must exist.
fn select(spec: &str, all: &[u32]) -> Result<Vec<u32>> {
    let mut ids = Vec::new();
    for item in spec.split(',').map(str::trim) {
        let parse = |v: &str| {
            v.trim()
                .parse::<u32>()
                .with_context(|| format!("--fov {spec}: `{v}` is not a FOV id"))
        };
        let (first, last) = match item.split_once('-') {
            Some((a, b)) => (parse(a)?, parse(b)?),
            None => (parse(item)?, parse(item)?),
        };
        if first > last {
            bail!("--fov {spec}: range {item} runs backwards");
        }
        for id in first..=last {
            if all.binary_search(&id).is_err() {
                bail!(
                    "--fov {spec}: the data has no FOV {id} (it has {} FOVs, ids {}..={})",
                    all.len(),
                    all.first().copied().unwrap_or(0),
                    all.last().copied().unwrap_or(0)
                );
            }
            ids.push(id);
        }
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// `OUT/codebook.csv`: the codebook the calls index, for `merge`.
fn write_codebook(out: &Path, codebook: &robofish_host::sim::Codebook) -> Result<()> {
    robofish_host::run::write_atomic(&out.join("codebook.csv"), codebook.to_csv().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fov_selections() {
        let all: Vec<u32> = (0..10).collect();
        assert_eq!(select("3", &all).unwrap(), vec![3]);
        assert_eq!(select("8-9,1, 3", &all).unwrap(), vec![1, 3, 8, 9]);
        assert!(select("12", &all)
            .unwrap_err()
            .to_string()
            .contains("no FOV 12"));
        assert!(select("5-2", &all).is_err());
        assert!(select("x", &all).is_err());
    }
}
