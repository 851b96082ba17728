//! MERlin's `dataorganization.csv`: one row per data channel, naming the
//! image type and imaging round of the file that holds it, its colour, and
//! the frame (one per z position) inside that file.
//!
//! Columns read: `readoutName` (a barcode bit is `bitN`, as the codebook's
//! column names) or else `bitNumber`, `imageType`, `imageRegExp`,
//! `imagingRound`, `color`, `frame` and the optional `zPos`; the others
//! (`channelName`, the fiducial columns, ...) are ignored. Rows whose bit
//! is not 1..=16 (DAPI, polyT, sequential stains) are not barcode bits.
use crate::data::DataError;
use crate::sim::IMAGE_COUNT;
use std::path::Path;

/// One barcode bit's row.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct BitRow {
    /// 1-based line in the file.
    pub line: usize,
    /// Barcode bit, 0-based.
    pub bit: usize,
    /// `imageType`: the first field of the file-name pattern.
    pub image_type: String,
    /// `imageRegExp`: the Python regular expression file names match.
    pub pattern: String,
    /// `imagingRound`.
    pub round: i64,
    /// `color`, as written.
    pub colour: String,
    /// `frame`: one frame per z position (or one for all).
    pub frames: Vec<usize>,
    /// `zPos`, µm; empty when the column is absent.
    pub z: Vec<f64>,
}

/// The 16 barcode bits' rows, in bit order.
pub(super) fn read_data_organization(path: &Path) -> Result<Vec<BitRow>, DataError> {
    let text = std::fs::read_to_string(path).map_err(crate::data::io_error(path))?;
    let error = |line: usize, message: String| DataError::Csv {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|err| error(1, err.to_string()))?
        .clone();
    let column = |name: &str| header.iter().position(|h| h.eq_ignore_ascii_case(name));
    let required = |name: &str| {
        column(name).ok_or_else(|| {
            error(
                1,
                format!(
                    "header has no `{name}` column (MERlin's data organisation has \
                     channelName, readoutName, imageType, imageRegExp, bitNumber, imagingRound, \
                     color, frame, zPos, ...)"
                ),
            )
        })
    };
    let (readout, bit_number) = (column("readoutName"), column("bitNumber"));
    if readout.is_none() && bit_number.is_none() {
        required("readoutName")?;
    }
    let image_type = required("imageType")?;
    let pattern = required("imageRegExp")?;
    let round = required("imagingRound")?;
    let colour = required("color")?;
    let frame = required("frame")?;
    let z = column("zPos");

    let mut rows: Vec<BitRow> = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|err| {
            let line = err.position().map_or(0, |p| p.line() as usize);
            error(line, err.to_string())
        })?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        let field = |index: usize| record.get(index).unwrap_or("");
        let Some(bit) = barcode_bit(readout.map(field), bit_number.map(field)) else {
            continue;
        };
        if let Some(first) = rows.iter().find(|row| row.bit == bit) {
            return Err(error(
                line,
                format!("barcode bit {} is already on line {}", bit + 1, first.line),
            ));
        }
        let text = |index: usize, name: &str| {
            let value = field(index);
            if value.is_empty() {
                Err(error(line, format!("`{name}` is empty")))
            } else {
                Ok(value.to_string())
            }
        };
        let round_text = field(round);
        let round = round_text.parse::<i64>().map_err(|_| {
            error(
                line,
                format!("imagingRound `{round_text}` is not a whole number"),
            )
        })?;
        let frames: Vec<usize> =
            parse_list(field(frame)).map_err(|m| error(line, format!("frame: {m}")))?;
        if frames.is_empty() {
            return Err(error(line, "`frame` is empty".into()));
        }
        let z: Vec<f64> = match z {
            Some(index) => {
                parse_list(field(index)).map_err(|m| error(line, format!("zPos: {m}")))?
            }
            None => Vec::new(),
        };
        if !z.is_empty() && frames.len() != 1 && frames.len() != z.len() {
            return Err(error(
                line,
                format!(
                    "{} frames for {} z positions: give one frame per zPos",
                    frames.len(),
                    z.len()
                ),
            ));
        }
        rows.push(BitRow {
            line,
            bit,
            image_type: text(image_type, "imageType")?,
            pattern: text(pattern, "imageRegExp")?,
            round,
            colour: text(colour, "color")?,
            frames,
            z,
        });
    }
    rows.sort_by_key(|row| row.bit);
    if let Some(missing) = (0..IMAGE_COUNT).find(|&bit| rows.iter().all(|row| row.bit != bit)) {
        return Err(DataError::BadFile {
            path: path.to_path_buf(),
            message: format!(
                "no row for barcode bit {} (readoutName bit{}): robofish reads {IMAGE_COUNT}-bit \
                 barcodes",
                missing + 1,
                missing + 1
            ),
        });
    }
    Ok(rows)
}

/// The 0-based barcode bit a row carries: `readoutName` `bitN`, else
/// `bitNumber`; `None` for rows that are not one of the 16 bits.
fn barcode_bit(readout: Option<&str>, bit_number: Option<&str>) -> Option<usize> {
    let from_readout = readout.and_then(|name| {
        let lower = name.to_ascii_lowercase();
        lower.strip_prefix("bit")?.parse::<usize>().ok()
    });
    let number = from_readout.or_else(|| bit_number?.parse::<usize>().ok())?;
    (1..=IMAGE_COUNT).contains(&number).then(|| number - 1)
}

/// `3`, `[0, 1, 2]`, `0 1 2` or `[0.0,1.5]`: MERlin writes lists either way.
fn parse_list<T: std::str::FromStr>(text: &str) -> Result<Vec<T>, String> {
    text.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split([',', ' '])
        .filter(|item| !item.trim().is_empty())
        .map(|item| {
            item.trim()
                .parse::<T>()
                .map_err(|_| format!("`{item}` in `{text}` is not a number"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "channelName,readoutName,imageType,imageRegExp,bitNumber,imagingRound,\
                          color,frame,zPos,fiducialImageType,fiducialRegExp,fiducialImagingRound,\
                          fiducialFrame,fiducialColor";

    fn organisation(rows: impl Iterator<Item = String>) -> String {
        let mut text = String::from(HEADER);
        for row in rows {
            text.push('\n');
            text.push_str(&row);
        }
        text + "\n"
    }

    fn row(bit: usize, frames: &str, z: &str) -> String {
        format!(
            "bit{bit},bit{bit},Conv,(?P<imageType>[\\w|-]+)_(?P<fov>[0-9]+)_(?P<imagingRound>[0-9]+),\
             {bit},{},{},\"{frames}\",\"{z}\",Conv,x,0,2,561",
            (bit - 1) % 8,
            if bit <= 8 { 650 } else { 750 }
        )
    }

    fn read(text: &str) -> Result<Vec<BitRow>, DataError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dataorganization.csv");
        std::fs::write(&path, text).unwrap();
        read_data_organization(&path)
    }

    #[test]
    fn reads_bits_frames_and_z_and_skips_stains() {
        let rows = (1..=16)
            .map(|bit| row(bit, "[0, 2]", "[0.0, 1.5]"))
            .chain(["DAPI,cellstain,Conv,x,48,0,488,3,0,Conv,x,0,2,561".to_string()]);
        let bits = read(&organisation(rows)).unwrap();
        assert_eq!(bits.len(), 16);
        assert_eq!(bits[9].round, 1);
        assert_eq!(bits[9].colour, "750");
        assert_eq!(bits[9].frames, [0, 2]);
        assert_eq!(bits[9].z, [0.0, 1.5]);
        assert_eq!(bits[9].line, 11);
    }

    #[test]
    fn bad_rows_name_the_line() {
        let rows: Vec<String> = (1..=16).map(|bit| row(bit, "1", "0")).collect();
        let mut bad_round = rows.clone();
        bad_round[4] = bad_round[4].replace(",4,650,", ",four,650,");
        let err = read(&organisation(bad_round.into_iter()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("dataorganization.csv, line 6") && err.contains("four"),
            "{err}"
        );

        let mut short = rows.clone();
        short[2] = "bit3,bit3,Conv".into();
        let err = read(&organisation(short.into_iter()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 4"), "{err}");

        let mut twice = rows.clone();
        twice[7] = row(7, "1", "0");
        let err = read(&organisation(twice.into_iter()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 9") && err.contains("already on line 8"),
            "{err}"
        );

        let err = read(&organisation(rows.into_iter().take(15)))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no row for barcode bit 16"), "{err}");
    }
}
