//! Stage positions in MERlin's `positions.csv` form: one `x,y` line in µm
//! per FOV, in FOV order (line `i` is FOV `i`), no header. Blank lines and
//! `#` comments are skipped; a header line of non-numbers is refused
//! rather than guessed at.

use std::path::Path;

use anyhow::{bail, Context, Result};

/// The `(x, y)` µm of each FOV in `text`; `source` names it in errors.
pub fn parse_positions(text: &str, source: &str) -> Result<Vec<(f64, f64)>> {
    let mut positions = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let parse = |v: &str| v.parse::<f64>().ok().filter(|v| v.is_finite());
        match fields.as_slice() {
            [x, y] => match (parse(x), parse(y)) {
                (Some(x), Some(y)) => positions.push((x, y)),
                _ => bail!(
                    "{source}, line {}: `{line}` is not two numbers (x,y in µm)",
                    number + 1
                ),
            },
            _ => bail!(
                "{source}, line {}: expected `x,y` (µm), found {} fields",
                number + 1,
                fields.len()
            ),
        }
    }
    if positions.is_empty() {
        bail!("{source}: no positions (expected one `x,y` line in µm per FOV)");
    }
    Ok(positions)
}

/// [`parse_positions`] of the file at `path`.
pub fn read_positions(path: &Path) -> Result<Vec<(f64, f64)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read stage positions {}", path.display()))?;
    parse_positions(&text, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_merlin_lines_and_refuses_headers() {
        let p = parse_positions("0,0\n# c\n\n 10.5 , -3\n", "p").unwrap();
        assert_eq!(p, vec![(0.0, 0.0), (10.5, -3.0)]);
        let err = parse_positions("x,y\n0,0\n", "p").unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
        assert!(parse_positions("1,2,3\n", "p").is_err());
        assert!(parse_positions("", "p").is_err());
    }
}
