//! The stage-positions CSV: MERlin's (`x,y` per line, no header, line `k`
//! = FOV `k`) or one with a header naming `fov`, `x` and `y` columns. µm.
use super::{io_error, DataError};
use std::collections::BTreeMap;
use std::path::Path;

/// Stage `(x, y)` in µm per FOV id.
pub type Positions = BTreeMap<usize, (f64, f64)>;

/// Reads a positions CSV; every error names the file and line.
pub fn read_positions(path: &Path) -> Result<Positions, DataError> {
    let text = std::fs::read_to_string(path).map_err(io_error(path))?;
    let error = |line: usize, message: String| DataError::Csv {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut rows = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes())
        .into_records()
        .peekable();
    // Columns (fov, x, y); `None` for fov: the row's index is the FOV.
    let mut columns = (None, 0, 1);
    if let Some(Ok(first)) = rows.peek() {
        if first.get(0).is_some_and(|f| f.parse::<f64>().is_err()) {
            let names: Vec<String> = first.iter().map(|f| f.to_ascii_lowercase()).collect();
            let line = first.position().map_or(1, |p| p.line() as usize);
            let find = |name: &str| {
                names.iter().position(|n| n == name).ok_or_else(|| {
                    error(
                        line,
                        format!(
                            "header has no `{name}` column (found `{}`)",
                            names.join(",")
                        ),
                    )
                })
            };
            columns = (
                names.iter().position(|n| n == "fov"),
                find("x")?,
                find("y")?,
            );
            rows.next();
        }
    }
    let mut positions = Positions::new();
    for (index, row) in rows.enumerate() {
        let row = row.map_err(|err| error(0, err.to_string()))?;
        let line = row.position().map_or(0, |p| p.line() as usize);
        if row.iter().all(str::is_empty) {
            continue;
        }
        let field = |column: usize, name: &str| -> Result<f64, DataError> {
            let text = row.get(column).unwrap_or("");
            text.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| error(line, format!("`{name}` = `{text}` is not a number")))
        };
        let fov = match columns.0 {
            Some(column) => {
                let id = field(column, "fov")?;
                if id < 0.0 || id.fract() != 0.0 {
                    return Err(error(line, format!("fov = {id} is not a FOV id")));
                }
                id as usize
            }
            None => index,
        };
        let (x, y) = (field(columns.1, "x")?, field(columns.2, "y")?);
        if positions.insert(fov, (x, y)).is_some() {
            return Err(error(line, format!("FOV {fov} is listed twice")));
        }
    }
    Ok(positions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Positions, DataError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("positions.csv");
        std::fs::write(&path, text).unwrap();
        read_positions(&path)
    }

    #[test]
    fn merlin_rows_and_headed_columns() {
        let merlin = read("-2000,-2000\n-2000,-1805\n").unwrap();
        assert_eq!(merlin[&1], (-2000.0, -1805.0));
        let headed = read("fov, y, x\n7, 2.5, 1.5\n3, 0, 0\n").unwrap();
        assert_eq!(headed[&7], (1.5, 2.5));
        assert_eq!(headed.len(), 2);
    }

    #[test]
    fn bad_rows_name_file_and_line() {
        let err = read("0,0\n1,abc\n").unwrap_err().to_string();
        assert!(
            err.contains("positions.csv, line 2") && err.contains("abc"),
            "{err}"
        );
        let err = read("fov,x\n0,1\n").unwrap_err().to_string();
        assert!(err.contains("no `y` column"), "{err}");
    }
}
