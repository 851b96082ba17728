//! Latency of one engine on one tile: the median of timed forward passes
//! after untimed warm-up passes (the original took the mean of 5 passes
//! with no warm-up, which the first, slow pass skews).

use std::time::Instant;

use anyhow::{bail, Result};
use serde::Serialize;

use super::engines::Engine;
use crate::sim::Tile;

/// Timings of one engine at one thread count.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Latency {
    /// Median of the timed runs, milliseconds.
    pub median_ms: f64,
    /// Fastest timed run, milliseconds.
    pub min_ms: f64,
    /// Threads the engine actually used.
    pub threads: usize,
    /// Timed runs.
    pub runs: usize,
}

/// How to time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Untimed runs first.
    pub warmup: usize,
    /// Timed runs.
    pub runs: usize,
}

/// Times `engine` on `tile` with `threads` threads asked for; `on_run` is
/// called after every run (for progress bars).
pub fn measure_latency(
    engine: &mut dyn Engine,
    tile: &Tile,
    threads: usize,
    timing: Timing,
    mut on_run: impl FnMut(),
) -> Result<Latency> {
    if timing.runs == 0 {
        bail!("latency needs at least one timed run");
    }
    let threads = engine.set_threads(threads);
    engine.load(tile)?;
    let mut times = Vec::with_capacity(timing.runs);
    for run in 0..timing.warmup + timing.runs {
        let start = Instant::now();
        engine.forward()?;
        let elapsed = start.elapsed().as_secs_f64() * 1e3;
        if run >= timing.warmup {
            times.push(elapsed);
        }
        on_run();
    }
    Ok(Latency {
        median_ms: median(&mut times),
        min_ms: times.iter().copied().fold(f64::INFINITY, f64::min),
        threads,
        runs: timing.runs,
    })
}

/// The median (mean of the middle two for an even count); NaN when empty.
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }
}
