//! `--fov 12`, `--fov 0-99`, `--fov 1,3,5-7`: which FOVs a command reads.
use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

/// A set of FOV ids: single ids and inclusive ranges, separated by commas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FovSelection {
    ranges: Vec<RangeInclusive<usize>>,
}

impl FovSelection {
    /// Exactly FOV `id`.
    pub fn single(id: usize) -> FovSelection {
        FovSelection {
            ranges: vec![id..=id],
        }
    }

    /// Whether FOV `id` is selected.
    pub fn contains(&self, id: usize) -> bool {
        self.ranges.iter().any(|range| range.contains(&id))
    }
}

impl FromStr for FovSelection {
    type Err = String;

    fn from_str(text: &str) -> Result<FovSelection, String> {
        let number = |part: &str| {
            part.trim().parse::<usize>().map_err(|_| {
                format!("--fov `{text}`: `{part}` is not a FOV id (a whole number >= 0)")
            })
        };
        let ranges = text
            .split(',')
            .map(|part| {
                let range = match part.split_once('-') {
                    Some((first, last)) => number(first)?..=number(last)?,
                    None => number(part)?..=number(part)?,
                };
                if range.is_empty() {
                    return Err(format!(
                        "--fov `{text}`: range `{part}` runs backwards; write it low-high"
                    ));
                }
                Ok(range)
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(FovSelection { ranges })
    }
}

impl fmt::Display for FovSelection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, range) in self.ranges.iter().enumerate() {
            let separator = if i == 0 { "" } else { "," };
            if range.start() == range.end() {
                write!(f, "{separator}{}", range.start())?;
            } else {
                write!(f, "{separator}{}-{}", range.start(), range.end())?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_ranges_and_lists() {
        let selection: FovSelection = "1,3,5-7".parse().unwrap();
        let chosen: Vec<usize> = (0..10).filter(|&id| selection.contains(id)).collect();
        assert_eq!(chosen, [1, 3, 5, 6, 7]);
        assert_eq!(selection.to_string(), "1,3,5-7");
        assert!("12".parse::<FovSelection>().unwrap().contains(12));
        assert!(" 0 - 99 ".parse::<FovSelection>().unwrap().contains(99));
    }

    #[test]
    fn bad_selections_say_why() {
        for (text, why) in [
            ("", "is not a FOV id"),
            ("a", "is not a FOV id"),
            ("3,", "is not a FOV id"),
            ("-1", "is not a FOV id"),
            ("7-5", "runs backwards"),
        ] {
            let err = text.parse::<FovSelection>().unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
    }
}
