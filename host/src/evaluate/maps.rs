//! The two output maps of one tile, whatever engine made them.

use anyhow::{ensure, Result};
use robofish_shared::post::BARCODE_BITS;

/// Position and barcode probability maps of one tile, planar:
/// `position[y * width + x]`, `barcode[bit * height * width + y * width + x]`.
///
/// Float engines fill them directly; the int8 engine's u8 maps are stored as
/// `value / 255`, which [`ProbabilityMaps::to_u8`] turns back into the same
/// bytes, so every engine reaches the device's post-processing through the
/// same u8 scale.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbabilityMaps {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Emitter probability, `height * width` values.
    pub position: Vec<f32>,
    /// Barcode-bit probabilities, `16 * height * width` values.
    pub barcode: Vec<f32>,
}

impl ProbabilityMaps {
    /// Checks that the sizes agree with `height x width` and 16 bits.
    pub fn new(
        height: usize,
        width: usize,
        position: Vec<f32>,
        barcode: Vec<f32>,
    ) -> Result<ProbabilityMaps> {
        let plane = height * width;
        ensure!(
            position.len() == plane,
            "position map has {} values, expected {height} x {width}",
            position.len()
        );
        ensure!(
            barcode.len() == BARCODE_BITS * plane,
            "barcode maps have {} values, expected {BARCODE_BITS} x {height} x {width}",
            barcode.len()
        );
        Ok(ProbabilityMaps {
            height,
            width,
            position,
            barcode,
        })
    }

    /// Maps from the int8 engine's u8 outputs (probability = value / 255).
    pub fn from_u8(
        height: usize,
        width: usize,
        position: &[u8],
        barcode: &[u8],
    ) -> Result<ProbabilityMaps> {
        let scale = |v: &[u8]| v.iter().map(|&b| f32::from(b) / 255.0).collect();
        ProbabilityMaps::new(height, width, scale(position), scale(barcode))
    }

    /// Position and barcode maps on the u8 scale the device uses
    /// (`round(p * 255)`).
    pub fn to_u8(&self) -> (Vec<u8>, Vec<u8>) {
        (to_u8(&self.position), to_u8(&self.barcode))
    }
}

fn to_u8(values: &[f32]) -> Vec<u8> {
    values
        .iter()
        .map(|&p| (p.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u8_maps_survive_the_float_round_trip() {
        let position: Vec<u8> = (0..=255).collect();
        let barcode: Vec<u8> = (0..16 * 256).map(|i| (i * 7 % 256) as u8).collect();
        let maps = ProbabilityMaps::from_u8(16, 16, &position, &barcode).unwrap();
        assert_eq!(maps.to_u8(), (position, barcode));
    }

    #[test]
    fn wrong_sizes_are_refused() {
        assert!(ProbabilityMaps::new(2, 2, vec![0.0; 4], vec![0.0; 63]).is_err());
        assert!(ProbabilityMaps::new(2, 2, vec![0.0; 3], vec![0.0; 64]).is_err());
    }
}
