//! Global coordinates, and which FOV owns a transcript that two FOVs see.
//!
//! Every FOV decides alone, from all FOVs' stage positions, so one job per
//! FOV still de-duplicates and `merge` only concatenates. A transcript
//! belongs to the FOV whose centre is nearest among the FOVs whose frame
//! contains it (ties: the lower FOV id), so the overlap is split along the
//! midline between the centres. Frames are taken to be the size of the FOV
//! being decoded: one camera images every FOV. A molecule within a
//! localisation error (~0.1 px) of a midline can still be kept by both
//! FOVs or by neither.

use super::source::FovPlacement;

/// All FOVs' positions, in global units.
#[derive(Clone, Debug)]
pub struct Layout {
    /// `(fov, origin x, origin y)` in global units.
    origins: Vec<(u32, f64, f64)>,
    /// Global units per pixel (µm, or 1 without a pixel size).
    scale: f64,
    /// Whether every FOV has a stage position: only then are overlaps known.
    placed: bool,
}

impl Layout {
    /// The layout of `placements`. Global units are µm when every FOV has a
    /// pixel size, else pixels.
    pub fn new(placements: &[FovPlacement]) -> Layout {
        let scale = placements
            .first()
            .and_then(|p| p.pixel_size_um)
            .filter(|_| placements.iter().all(|p| p.pixel_size_um.is_some()))
            .unwrap_or(1.0);
        let placed = !placements.is_empty() && placements.iter().all(|p| p.origin_um.is_some());
        Layout {
            origins: placements
                .iter()
                .map(|p| {
                    let (x, y) = p.origin_um.unwrap_or((0.0, 0.0));
                    (p.fov, x, y)
                })
                .collect(),
            scale,
            placed,
        }
    }

    /// Whether overlaps are de-duplicated (every FOV has a stage position).
    pub fn deduplicates(&self) -> bool {
        self.placed
    }

    fn origin(&self, fov: u32) -> (f64, f64) {
        self.origins
            .iter()
            .find(|o| o.0 == fov)
            .map_or((0.0, 0.0), |o| (o.1, o.2))
    }

    /// The global `(x, y)` of pixel coordinates `(x, y)` of FOV `fov`.
    pub fn to_global(&self, fov: u32, x: f64, y: f64) -> (f64, f64) {
        let (ox, oy) = self.origin(fov);
        (ox + x * self.scale, oy + y * self.scale)
    }

    /// Whether FOV `fov` (frames of `height x width` pixels) owns the
    /// transcript at global `(gx, gy)`. Always true without positions.
    pub fn owns(&self, fov: u32, (gx, gy): (f64, f64), (height, width): (usize, usize)) -> bool {
        if !self.placed {
            return true;
        }
        let (w, h) = (width as f64 * self.scale, height as f64 * self.scale);
        let owner = self
            .origins
            .iter()
            .filter(|(_, ox, oy)| gx >= *ox && gx < ox + w && gy >= *oy && gy < oy + h)
            .map(|&(id, ox, oy)| {
                let (dx, dy) = (gx - (ox + w / 2.0), gy - (oy + h / 2.0));
                (dx * dx + dy * dy, id)
            })
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        // A point outside every frame (a spot past the image edge) stays
        // with the FOV that saw it.
        owner.is_none_or(|(_, id)| id == fov)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(fov: u32, x: f64, y: f64) -> FovPlacement {
        FovPlacement {
            fov,
            origin_um: Some((x, y)),
            pixel_size_um: Some(0.5),
            planes: Vec::new(),
        }
    }

    #[test]
    fn the_overlap_is_split_at_the_midline_ties_to_the_lower_id() {
        // Two 64 px FOVs (32 µm) overlapping by 16 px: centres 16 and 40 µm.
        let layout = Layout::new(&[at(0, 0.0, 0.0), at(1, 24.0, 0.0)]);
        assert!(layout.deduplicates());
        assert_eq!(layout.to_global(1, 2.0, 4.0), (25.0, 2.0));
        let size = (64, 64);
        assert!(layout.owns(0, (27.9, 5.0), size));
        assert!(!layout.owns(1, (27.9, 5.0), size));
        assert!(layout.owns(1, (28.1, 5.0), size));
        assert!(layout.owns(0, (28.0, 5.0), size), "tie: lower id");
        assert!(!layout.owns(1, (28.0, 5.0), size));
        // Without positions nothing is shared.
        let mut lone = at(0, 0.0, 0.0);
        lone.origin_um = None;
        assert!(Layout::new(&[lone]).owns(0, (1e9, 0.0), size));
    }
}
