//! `robofish run`: every FOV of an experiment into transcript tables.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use robofish_host::args::DataArgs;
use robofish_host::link::LinkArgs;
use robofish_host::run::{
    parts_dir, prepare, run_fovs, write_tables, DatasetSource, FovSource, Method, PartSet,
    RunIdentity, RunJob,
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
    /// Threads of a local device.
    #[arg(long)]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub link: LinkArgs,
}

impl Cmd {
    pub fn run(self) -> Result<()> {
        let source = DatasetSource::open(&self.data, self.split)?;
        let selected = source.selected().to_vec();
        let prepared = prepare(
            self.method,
            &self.device,
            self.model.as_deref(),
            self.threads,
            &self.link.options()?,
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

/// `OUT/codebook.csv`: the codebook the calls index, for `merge`.
fn write_codebook(out: &Path, codebook: &robofish_host::sim::Codebook) -> Result<()> {
    robofish_host::run::write_atomic(&out.join("codebook.csv"), codebook.to_csv().as_bytes())
}
