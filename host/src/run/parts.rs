//! Per-FOV parts: `fovs/fov_{id}.csv` (the transcripts the FOV owns) and
//! `fovs/fov_{id}.json` (its counts, identity and placement), written in
//! that order, each atomically, so a JSON means its CSV is whole. A FOV
//! that failed leaves `fovs/fov_{id}.failed.json` instead. `run` resumes
//! from them and `merge` combines them.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use robofish_shared::post::metrics::SpotEvaluation;
use serde::{Deserialize, Serialize};

use super::atomic::{write_bytes, write_with};
use super::source::FovPlacement;
use super::transcript::{read_transcripts_csv, write_transcripts_csv, Transcript};

/// What made a part: parts of different identities never mix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunIdentity {
    /// `network` or `classical`.
    pub method: String,
    /// The model's identity hash (network), or the classical parameters'.
    pub model: String,
    /// Hash of the codebook CSV the calls index.
    pub codebook: String,
}

/// One decoded FOV's counts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FovPart {
    /// The FOV.
    pub fov: u32,
    /// What decoded it.
    pub identity: RunIdentity,
    /// Where it sits.
    pub placement: FovPlacement,
    /// Image rows.
    pub height: usize,
    /// Image columns.
    pub width: usize,
    /// Spots found, before ownership.
    pub spots: u64,
    /// Spots it owns that no word was called for (not in the tables).
    pub unassigned: u64,
    /// Spots (called or not) left to a neighbouring FOV that owns them.
    pub dropped_in_overlap: u64,
    /// Transcripts written.
    pub transcripts: u64,
    /// Accuracy against the ground truth over the whole FOV, when it has some.
    pub truth: Option<SpotEvaluation>,
    /// Seconds to read and decode it.
    pub seconds: f64,
}

/// A FOV that could not be decoded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FovFailure {
    /// The FOV.
    pub fov: u32,
    /// Why, as the error chain reads.
    pub error: String,
}

/// Every part of a folder (or several).
#[derive(Debug, Default)]
pub struct PartSet {
    /// Decoded FOVs with their transcripts, by FOV id.
    pub parts: Vec<(FovPart, Vec<Transcript>)>,
    /// FOVs that failed and have no part.
    pub failures: Vec<FovFailure>,
}

/// `OUT/fovs`.
pub fn parts_dir(out: &Path) -> PathBuf {
    out.join("fovs")
}

fn part_path(dir: &Path, fov: u32, ext: &str) -> PathBuf {
    dir.join(format!("fov_{fov}.{ext}"))
}

/// 64-bit FNV-1a of `bytes` as 16 hex digits: a stable identity, not a
/// security hash.
pub fn fingerprint(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// Writes FOV `part.fov`'s part into `dir` (CSV first, then the JSON that
/// marks it complete) and removes an earlier failure record.
pub fn write_part(dir: &Path, part: &FovPart, transcripts: &[Transcript]) -> Result<()> {
    write_with(&part_path(dir, part.fov, "csv"), |out| {
        write_transcripts_csv(out, transcripts)
    })?;
    write_bytes(
        &part_path(dir, part.fov, "json"),
        &serde_json::to_vec_pretty(part)?,
    )?;
    let _ = std::fs::remove_file(part_path(dir, part.fov, "failed.json"));
    Ok(())
}

/// Records that `failure.fov` failed.
pub fn write_failure(dir: &Path, failure: &FovFailure) -> Result<()> {
    write_bytes(
        &part_path(dir, failure.fov, "failed.json"),
        &serde_json::to_vec_pretty(failure)?,
    )
}

/// Whether FOV `fov` already has a complete part made with `identity`.
pub fn is_done(dir: &Path, fov: u32, identity: &RunIdentity) -> bool {
    let Ok(bytes) = std::fs::read(part_path(dir, fov, "json")) else {
        return false;
    };
    serde_json::from_slice::<FovPart>(&bytes).is_ok_and(|p| p.fov == fov && &p.identity == identity)
        && part_path(dir, fov, "csv").is_file()
}

/// The FOV id of a part file's name, with its kind (`json` or `failed.json`).
fn part_name(name: &str) -> Option<(u32, bool)> {
    let rest = name.strip_prefix("fov_")?;
    if let Some(id) = rest.strip_suffix(".failed.json") {
        return Some((id.parse().ok()?, true));
    }
    Some((rest.strip_suffix(".json")?.parse().ok()?, false))
}

/// Every part in `dir`, by FOV id; a failure record is kept only for a FOV
/// with no part.
pub fn load_parts(dir: &Path) -> Result<PartSet> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list parts in {}", dir.display()))?;
    let mut set = PartSet::default();
    for entry in entries {
        let name = entry?.file_name();
        let Some((fov, failed)) = name.to_str().and_then(part_name) else {
            continue;
        };
        let path = dir.join(&name);
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        if failed {
            let failure: FovFailure = serde_json::from_slice(&bytes)
                .with_context(|| format!("{}: not a failure record", path.display()))?;
            set.failures.push(failure);
            continue;
        }
        let part: FovPart = serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not a robofish FOV part", path.display()))?;
        if part.fov != fov {
            bail!("{}: holds FOV {}, not {fov}", path.display(), part.fov);
        }
        let csv = part_path(dir, fov, "csv");
        let file = std::fs::File::open(&csv).with_context(|| {
            format!(
                "{} has no transcripts file {}",
                path.display(),
                csv.display()
            )
        })?;
        let transcripts = read_transcripts_csv(file, &csv.display().to_string())?;
        if transcripts.len() as u64 != part.transcripts {
            bail!(
                "{}: {} transcripts, but {} says {}; rerun FOV {fov}",
                csv.display(),
                transcripts.len(),
                path.display(),
                part.transcripts
            );
        }
        set.parts.push((part, transcripts));
    }
    set.sort();
    Ok(set)
}

impl PartSet {
    /// Parts and failures by FOV id; failures of FOVs with a part dropped.
    fn sort(&mut self) {
        self.parts.sort_by_key(|(p, _)| p.fov);
        let done: Vec<u32> = self.parts.iter().map(|(p, _)| p.fov).collect();
        self.failures
            .retain(|f| done.binary_search(&f.fov).is_err());
        self.failures.sort_by_key(|f| f.fov);
        self.failures.dedup_by_key(|f| f.fov);
    }

    /// Adds `other`'s parts, refusing parts of another identity and a FOV
    /// that two sets hold differently.
    pub fn absorb(&mut self, other: PartSet, source: &str) -> Result<()> {
        let identity = self.parts.first().map(|(p, _)| p.identity.clone());
        for (part, transcripts) in other.parts {
            if let Some(identity) = &identity {
                if &part.identity != identity {
                    bail!(
                        "{source}: FOV {} was made by {:?}, the others by {:?}: parts of different \
                         models, methods or codebooks cannot be merged; rerun them with one",
                        part.fov,
                        part.identity,
                        identity
                    );
                }
            }
            match self.parts.iter().find(|(p, _)| p.fov == part.fov) {
                Some((_, existing)) if existing == &transcripts => {}
                Some(_) => bail!(
                    "{source}: FOV {} is in two part folders with different transcripts",
                    part.fov
                ),
                None => self.parts.push((part, transcripts)),
            }
        }
        self.failures.extend(other.failures);
        self.sort();
        Ok(())
    }

    /// The identity every part shares, when there is a part.
    pub fn identity(&self) -> Option<&RunIdentity> {
        self.parts.first().map(|(p, _)| &p.identity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names_and_fingerprints() {
        assert_eq!(part_name("fov_12.json"), Some((12, false)));
        assert_eq!(part_name("fov_3.failed.json"), Some((3, true)));
        assert_eq!(part_name("fov_3.csv"), None);
        assert_eq!(part_name(".fov_3.json.tmp-1"), None);
        assert_eq!(fingerprint(b""), "cbf29ce484222325");
        assert_ne!(fingerprint(b"a"), fingerprint(b"b"));
    }
}
