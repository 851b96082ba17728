//! `groundtruth_<T>.csv`: the original's `row, column, barcode` and our
//! `y, x, gene, brightness`.
use super::DataError;
use crate::sim::{Emitter, UNKNOWN_GENE};
use robofish_shared::codebook::{Codebook, BARCODE_BITS};
use std::fmt::Write;
use std::path::Path;

const HEADER: &str = "row,column,barcode,y,x,gene,brightness";

/// `[0100...]`: character `i` is barcode bit `i`.
pub fn format_barcode(word: u16) -> String {
    let bits: String = (0..BARCODE_BITS)
        .map(|bit| if word & (1 << bit) != 0 { '1' } else { '0' })
        .collect();
    format!("[{bits}]")
}

/// Parses `[0100...]` (brackets optional, surrounding spaces ignored).
pub fn parse_barcode(text: &str) -> Result<u16, String> {
    let text = text.trim();
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    if inner.chars().count() != BARCODE_BITS {
        return Err(format!(
            "barcode `{text}` must have {BARCODE_BITS} characters of 0 or 1"
        ));
    }
    inner
        .chars()
        .enumerate()
        .try_fold(0u16, |word, (bit, c)| match c {
            '0' => Ok(word),
            '1' => Ok(word | (1 << bit)),
            _ => Err(format!(
                "barcode `{text}`: character {} is `{c}`, not 0 or 1",
                bit + 1
            )),
        })
}

/// The CSV text for `truth`; gene names come from `codebook` (empty for
/// [`UNKNOWN_GENE`]). Numbers use Rust's shortest round-trip formatting,
/// so reading gives back the same `f32`s.
pub fn truth_csv(truth: &[Emitter], codebook: &Codebook) -> String {
    let mut out = String::from(HEADER);
    out.push('\n');
    for emitter in truth {
        let (row, column) = emitter.pixel();
        let name = codebook.name(emitter.gene).unwrap_or("");
        let _ = writeln!(
            out,
            "{row},{column},{},{},{},{name},{}",
            format_barcode(emitter.word),
            emitter.y,
            emitter.x,
            emitter.brightness
        );
    }
    out
}

/// Column positions found in the header.
struct Columns {
    row: usize,
    column: usize,
    barcode: usize,
    y: Option<usize>,
    x: Option<usize>,
    gene: Option<usize>,
    brightness: Option<usize>,
}

/// Parses a ground-truth CSV read from `path` for a `height x width` tile.
///
/// Columns are found by header name, so an extra index column (as pandas
/// writes) or a missing optional column is fine. Without `y`/`x` the pixel
/// centre is used; without `gene` the word is looked up in `codebook`
/// ([`UNKNOWN_GENE`] when absent or unknown); without `brightness` it is 0.
/// A `gene` name must be in `codebook` with the same word.
pub fn parse_truth_csv(
    text: &str,
    path: &Path,
    height: usize,
    width: usize,
    codebook: Option<&Codebook>,
) -> Result<Vec<Emitter>, DataError> {
    let error = |line: usize, message: String| DataError::Csv {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty());
    let (header_line, header) = lines.next().ok_or_else(|| {
        error(
            1,
            "empty file: expected a header `row,column,barcode`".into(),
        )
    })?;
    let columns = find_columns(header).map_err(|message| error(header_line, message))?;
    let mut truth = Vec::new();
    for (line, text) in lines {
        let fields: Vec<&str> = text.split(',').map(str::trim).collect();
        let field = |index: usize, name: &str| {
            fields.get(index).copied().ok_or_else(|| {
                error(
                    line,
                    format!("missing `{name}` field ({} fields)", fields.len()),
                )
            })
        };
        let row: usize =
            parse_number(field(columns.row, "row")?, "row").map_err(|m| error(line, m))?;
        let column: usize =
            parse_number(field(columns.column, "column")?, "column").map_err(|m| error(line, m))?;
        if row >= height || column >= width {
            return Err(error(
                line,
                format!("pixel ({row}, {column}) is outside the {height} x {width} tile"),
            ));
        }
        let word = parse_barcode(field(columns.barcode, "barcode")?).map_err(|m| error(line, m))?;
        let coordinate =
            |index: Option<usize>, name: &str, pixel: usize| -> Result<f32, DataError> {
                let Some(index) = index else {
                    return Ok(pixel as f32 + 0.5);
                };
                let value: f32 =
                    parse_number(field(index, name)?, name).map_err(|m| error(line, m))?;
                if value.is_finite() && value.floor() as i64 == pixel as i64 {
                    Ok(value)
                } else {
                    Err(error(
                        line,
                        format!("{name} = {value} is not inside pixel {pixel}"),
                    ))
                }
            };
        let y = coordinate(columns.y, "y", row)?;
        let x = coordinate(columns.x, "x", column)?;
        let brightness = match columns.brightness {
            Some(index) => parse_number(field(index, "brightness")?, "brightness")
                .map_err(|m| error(line, m))?,
            None => 0.0,
        };
        let gene_name = match columns.gene {
            Some(index) => field(index, "gene")?,
            None => "",
        };
        let gene = resolve_gene(gene_name, word, codebook).map_err(|m| error(line, m))?;
        truth.push(Emitter {
            y,
            x,
            gene,
            word,
            brightness,
        });
    }
    Ok(truth)
}

fn find_columns(header: &str) -> Result<Columns, String> {
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    let optional = |name: &str| names.iter().position(|n| n.eq_ignore_ascii_case(name));
    let required = |name: &str| {
        optional(name).ok_or_else(|| format!("header has no `{name}` column (found `{header}`)"))
    };
    Ok(Columns {
        row: required("row")?,
        column: required("column")?,
        barcode: required("barcode")?,
        y: optional("y"),
        x: optional("x"),
        gene: optional("gene"),
        brightness: optional("brightness"),
    })
}

fn parse_number<T: std::str::FromStr>(text: &str, name: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("`{name}` = `{text}` is not a valid number"))
}

fn resolve_gene(name: &str, word: u16, codebook: Option<&Codebook>) -> Result<usize, String> {
    let Some(codebook) = codebook else {
        return Ok(UNKNOWN_GENE);
    };
    if name.is_empty() {
        return Ok(codebook.index_of_word(word).unwrap_or(UNKNOWN_GENE));
    }
    let index = codebook
        .index_of_name(name)
        .ok_or_else(|| format!("gene `{name}` is not in the codebook"))?;
    if codebook.word(index) != Some(word) {
        return Err(format!(
            "gene `{name}` has barcode {} in the codebook, not {}",
            format_barcode(codebook.word(index).unwrap_or(0)),
            format_barcode(word)
        ));
    }
    Ok(index)
}
