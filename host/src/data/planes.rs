//! The order of the pages of a multi-page TIFF: through z planes, channels
//! (colours) and time points (imaging rounds).
use std::fmt;
use std::str::FromStr;

/// One axis the pages run through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// z plane.
    Z,
    /// Channel: a colour.
    C,
    /// Time point: an imaging round.
    T,
}

/// How many planes each axis has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaneSizes {
    /// z planes.
    pub z: usize,
    /// Channels.
    pub c: usize,
    /// Time points.
    pub t: usize,
}

impl PlaneSizes {
    /// Pages they make.
    pub fn pages(self) -> usize {
        self.z * self.c * self.t
    }

    fn of(self, axis: Axis) -> usize {
        match axis {
            Axis::Z => self.z,
            Axis::C => self.c,
            Axis::T => self.t,
        }
    }
}

/// `--planes zct`: the axes fastest-varying first, as OME's
/// `DimensionOrder` without its leading `XY` (`XYZCT` is `zct`: z changes
/// every page, then the channel, then the time point).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaneOrder(pub [Axis; 3]);

impl PlaneOrder {
    /// The page holding plane `(z, c, t)`, counting in this order.
    pub fn page(self, sizes: PlaneSizes, z: usize, c: usize, t: usize) -> usize {
        let at = |axis| match axis {
            Axis::Z => z,
            Axis::C => c,
            Axis::T => t,
        };
        let [fast, middle, slow] = self.0;
        at(fast) + sizes.of(fast) * (at(middle) + sizes.of(middle) * at(slow))
    }

    /// `(z, c, t)` of the `index`-th plane counting in this order from
    /// `first`: the inverse of [`PlaneOrder::page`] shifted to `first`.
    pub fn plane(
        self,
        sizes: PlaneSizes,
        first: (usize, usize, usize),
        index: usize,
    ) -> (usize, usize, usize) {
        let start = self.page(sizes, first.0, first.1, first.2);
        let mut rest = start + index;
        let mut out = (0, 0, 0);
        for axis in self.0 {
            let size = sizes.of(axis).max(1);
            let value = rest % size;
            rest /= size;
            match axis {
                Axis::Z => out.0 = value,
                Axis::C => out.1 = value,
                Axis::T => out.2 = value,
            }
        }
        out
    }
}

impl FromStr for PlaneOrder {
    type Err = String;

    fn from_str(text: &str) -> Result<PlaneOrder, String> {
        let lower = text.trim().to_ascii_lowercase();
        let letters = lower.strip_prefix("xy").unwrap_or(&lower);
        let axes: Vec<Axis> = letters
            .chars()
            .map(|c| match c {
                'z' => Ok(Axis::Z),
                'c' => Ok(Axis::C),
                't' => Ok(Axis::T),
                other => Err(format!("plane order `{text}`: `{other}` is not z, c or t")),
            })
            .collect::<Result<_, _>>()?;
        match axes.as_slice() {
            &[a, b, c] if a != b && b != c && a != c => Ok(PlaneOrder([a, b, c])),
            _ => Err(format!(
                "plane order `{text}` must name z, c and t once each, fastest first (e.g. zct)"
            )),
        }
    }
}

impl fmt::Display for PlaneOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for axis in self.0 {
            f.write_str(match axis {
                Axis::Z => "z",
                Axis::C => "c",
                Axis::T => "t",
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_count_fastest_axis_first() {
        let sizes = PlaneSizes { z: 3, c: 2, t: 8 };
        let zct: PlaneOrder = "zct".parse().unwrap();
        assert_eq!(zct.page(sizes, 1, 0, 0), 1);
        assert_eq!(zct.page(sizes, 0, 1, 0), 3);
        assert_eq!(zct.page(sizes, 0, 0, 1), 6);
        let ome: PlaneOrder = "XYCTZ".parse().unwrap();
        assert_eq!(ome.to_string(), "ctz");
        assert_eq!(ome.page(sizes, 2, 1, 7), 1 + 2 * (7 + 8 * 2));
        for page in 0..sizes.pages() {
            let (z, c, t) = ome.plane(sizes, (0, 0, 0), page);
            assert_eq!(ome.page(sizes, z, c, t), page);
        }
        assert_eq!(zct.plane(sizes, (1, 1, 0), 2), (0, 0, 1));
    }

    #[test]
    fn bad_orders_are_refused() {
        for text in ["zc", "zzt", "zcx", "xyzctq"] {
            assert!(text.parse::<PlaneOrder>().is_err(), "{text}");
        }
    }
}
