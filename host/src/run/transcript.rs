//! One transcript: a row of `detected_transcripts.csv` / `.parquet`, with
//! MERSCOPE's columns and robofish's three. Coordinates follow the
//! [module docs](super).

use std::io::{Read, Write};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// The columns, in order.
pub const COLUMNS: [&str; 12] = [
    "barcode_id",
    "global_x",
    "global_y",
    "global_z",
    "x",
    "y",
    "fov",
    "gene",
    "transcript_id",
    "confidence",
    "hamming_distance",
    "intensity",
];

/// A decoded transcript.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    /// Index of the called word in the experiment's codebook (row order of
    /// its CSV, from 0).
    pub barcode_id: u32,
    /// Global x (µm, or pixels without a pixel size).
    pub global_x: f64,
    /// Global y.
    pub global_y: f64,
    /// Global z: µm when known, else the plane index.
    pub global_z: f64,
    /// Column coordinate in the FOV, pixels (pixel centres at +0.5).
    pub x: f64,
    /// Row coordinate in the FOV, pixels.
    pub y: f64,
    /// The FOV that owns it.
    pub fov: u32,
    /// The called gene's (or blank's) name.
    pub gene: String,
    /// `{fov}-{row}-{col}` of its pixel (`{fov}-z{plane}-{row}-{col}` in a
    /// FOV of several z planes): the same on every rerun.
    pub transcript_id: String,
    /// The call's confidence, 0 ..= 1.
    pub confidence: f32,
    /// 0 (exact) or 1 (one bit error-corrected).
    pub hamming_distance: u8,
    /// Background-corrected brightness in camera counts: the mean of the
    /// called word's on-bit images at the transcript's pixel minus the mean
    /// of its off-bit images there.
    pub intensity: f32,
}

/// Writes `transcripts` as CSV with a header.
pub fn write_transcripts_csv(out: impl Write, transcripts: &[Transcript]) -> Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    if transcripts.is_empty() {
        writer.write_record(COLUMNS)?;
    }
    for t in transcripts {
        writer.serialize(t)?;
    }
    writer.flush()?;
    Ok(())
}

/// Reads a transcripts CSV; `source` names it in errors.
pub fn read_transcripts_csv(input: impl Read, source: &str) -> Result<Vec<Transcript>> {
    let mut reader = csv::Reader::from_reader(input);
    let header: Vec<String> = reader
        .headers()
        .with_context(|| format!("{source}: no header"))?
        .iter()
        .map(str::to_string)
        .collect();
    if header != COLUMNS {
        anyhow::bail!(
            "{source}: columns are {header:?}, expected {COLUMNS:?} (not a robofish transcripts table?)"
        );
    }
    reader
        .deserialize()
        .enumerate()
        .map(|(i, row)| row.with_context(|| format!("{source}, row {}", i + 1)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_round_trips_exactly() {
        let t = Transcript {
            barcode_id: 3,
            global_x: 12.345678901,
            global_y: -0.1,
            global_z: 0.0,
            x: 10.25,
            y: 3.5,
            fov: 2,
            gene: "Blank-1".into(),
            transcript_id: "2-3-10".into(),
            confidence: 0.8,
            hamming_distance: 1,
            intensity: 123.4,
        };
        let mut bytes = Vec::new();
        write_transcripts_csv(&mut bytes, std::slice::from_ref(&t)).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with(&COLUMNS.join(",")), "{text}");
        assert_eq!(read_transcripts_csv(&bytes[..], "t").unwrap(), vec![t]);
        let mut empty = Vec::new();
        write_transcripts_csv(&mut empty, &[]).unwrap();
        assert!(read_transcripts_csv(&empty[..], "e").unwrap().is_empty());
        assert!(read_transcripts_csv(&b"a,b\n1,2\n"[..], "x").is_err());
    }
}
