//! One module per subcommand; shared argument types live here.

pub mod bench;
pub mod demo;
pub mod flash;
pub mod init;
pub mod inspect;
pub mod render;
pub mod simulate;
pub mod stream;

use std::fmt;
use std::str::FromStr;

/// A tile size given as `HxW` (e.g. `40x40`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TileSize {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

impl FromStr for TileSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (h, w) = s
            .split_once(['x', 'X'])
            .ok_or_else(|| format!("tile size '{s}' must look like HxW, e.g. 40x40"))?;
        let parse = |v: &str| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| format!("tile size '{s}': '{v}' is not a whole number"))
        };
        Ok(TileSize {
            height: parse(h)?,
            width: parse(w)?,
        })
    }
}

impl fmt::Display for TileSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.height, self.width)
    }
}
