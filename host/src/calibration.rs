//! Calibration of static int8 quantisation on the host: the observer a
//! command line names, and the fp32 forward passes that record every
//! activation's range. `robofish init` and `robofish quantise` both use it.

use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use robofish_shared::engine::{InputImage, Pixels};
use robofish_shared::ptq::{Calibrator, Observer};
use robofish_shared::reference::FloatModel;

use crate::sim::Tile;

/// Parses `minmax` or a percentile in (50, 100].
pub fn parse_observer(text: &str) -> Result<Observer> {
    if text == "minmax" {
        return Ok(Observer::MinMax);
    }
    match text.parse::<f64>() {
        Ok(p) if p > 50.0 && p <= 100.0 => Ok(Observer::Percentile(p)),
        _ => bail!("observer '{text}' must be 'minmax' or a percentile in (50, 100], e.g. 99.99"),
    }
}

/// Observes every activation range of `float` over `tiles` (forward passes
/// in parallel, a few tiles at a time: each pass keeps every tensor).
pub fn calibrate_on(float: &FloatModel, tiles: &[Tile], observer: Observer) -> Result<Calibrator> {
    let mut calib = Calibrator::new(float, observer);
    let bar = ProgressBar::new(tiles.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("calibrating {bar:30} {pos}/{len} tiles")
            .expect("valid template"),
    );
    for batch in tiles.chunks(4) {
        let acts: Vec<_> = batch
            .par_iter()
            .map(|tile| {
                let image =
                    InputImage::planar(Pixels::U16(&tile.images), 16, tile.height, tile.width)?;
                Ok(float.forward(&image))
            })
            .collect::<Result<Vec<_>>>()?;
        for a in &acts {
            calib.observe(a);
        }
        bar.inc(batch.len() as u64);
    }
    bar.finish_and_clear();
    Ok(calib)
}
