//! `robofish merge`: per-FOV parts of several `run` jobs into one set of tables.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use robofish_host::run::{
    fingerprint, load_parts, parts_dir, print_qc, write_atomic, write_tables, PartSet,
};
use robofish_host::sim::Codebook;

/// Combine the per-FOV parts of `robofish run` jobs (e.g. one `--fov N` job
/// per FOV on a cluster) into OUT's tables. Each PART_DIR is a run's OUT
/// folder (or its fovs/ folder). Parts made with different models, methods
/// or codebooks are refused; a FOV in two folders must hold the same
/// transcripts.
#[derive(Args, Debug)]
pub struct Cmd {
    /// Output folder (may be one of the PART_DIRS).
    #[arg(long)]
    pub out: PathBuf,
    /// Run output folders holding fovs/ and codebook.csv.
    #[arg(required = true, value_name = "PART_DIRS")]
    pub parts: Vec<PathBuf>,
}

impl Cmd {
    pub fn run(self) -> Result<()> {
        let mut set = PartSet::default();
        let mut codebook: Option<(Codebook, PathBuf)> = None;
        for dir in &self.parts {
            let (root, fovs) = if parts_dir(dir).is_dir() {
                (dir.clone(), parts_dir(dir))
            } else {
                (dir.parent().unwrap_or(dir).to_path_buf(), dir.clone())
            };
            let book_path = root.join("codebook.csv");
            let text = std::fs::read_to_string(&book_path).with_context(|| {
                format!(
                    "{}: no codebook.csv (not a robofish run output?)",
                    root.display()
                )
            })?;
            let book = Codebook::from_csv(&text)
                .with_context(|| format!("codebook {}", book_path.display()))?;
            match &codebook {
                Some((first, path)) if first.to_csv() != book.to_csv() => bail!(
                    "{} and {} hold different codebooks: parts decoded against different codebooks cannot be merged",
                    path.display(),
                    book_path.display()
                ),
                Some(_) => {}
                None => codebook = Some((book, book_path)),
            }
            set.absorb(load_parts(&fovs)?, &fovs.display().to_string())?;
        }
        let (codebook, _) = codebook.context("no part folders given")?;
        if let Some(identity) = set.identity() {
            if identity.codebook != fingerprint(codebook.to_csv().as_bytes()) {
                bail!("the parts were decoded against another codebook than their codebook.csv");
            }
        }
        copy_parts(&self.out, &self.parts)?;
        write_atomic(&self.out.join("codebook.csv"), codebook.to_csv().as_bytes())?;
        let qc = write_tables(&self.out, &set, &codebook)?;
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "merged        {} FOVs from {} folders, {} failed",
            qc.fovs,
            self.parts.len(),
            qc.failures.len()
        )?;
        print_qc(&mut out, &qc, &self.out)?;
        Ok(())
    }
}

/// Copies every part file into `OUT/fovs`, so OUT can be resumed and merged
/// again like a single run's.
fn copy_parts(out: &Path, dirs: &[PathBuf]) -> Result<()> {
    let target = parts_dir(out);
    std::fs::create_dir_all(&target)
        .with_context(|| format!("cannot create {}", target.display()))?;
    for dir in dirs {
        let fovs = if parts_dir(dir).is_dir() {
            parts_dir(dir)
        } else {
            dir.clone()
        };
        if fovs.canonicalize().ok() == target.canonicalize().ok() {
            continue;
        }
        for entry in std::fs::read_dir(&fovs)? {
            let entry = entry?;
            let name = entry.file_name();
            if name.to_string_lossy().starts_with("fov_") {
                let bytes = std::fs::read(entry.path())?;
                write_atomic(&target.join(&name), &bytes)?;
            }
        }
    }
    Ok(())
}
