//! The live table: per board, its state, FOVs decoded, throughput,
//! latency, device time and (with truth) accuracy. Redrawn in place on a
//! terminal; printed as plain lines every few seconds otherwise, so a log
//! file reads well.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use robofish_shared::post::metrics::SpotEvaluation;

use super::dispatch::BoardState;

/// What one board did.
#[derive(Clone, Debug, Default)]
pub struct BoardStats {
    /// Kernel path and threads, from its announcement.
    pub describe: String,
    /// FOVs whose result was kept.
    pub fovs: u32,
    /// When it was first leased a FOV.
    pub first_lease: Option<Instant>,
    /// When its last kept result came.
    pub last_result: Option<Instant>,
    /// Lease to result, seconds, per kept FOV.
    pub latencies: Vec<f64>,
    /// Device time per kept FOV (sum of its planes' `FrameTiming`), µs.
    pub device_us: Vec<u64>,
    /// Accuracy summed over its FOVs with truth.
    pub truth: Option<SpotEvaluation>,
    /// Leases taken back from it.
    pub lost: u32,
    /// Its results dropped as duplicates (or stale).
    pub dropped: u32,
}

impl BoardStats {
    /// FOVs per minute from its first lease to its last result.
    pub fn per_minute(&self) -> Option<f64> {
        let span = self.last_result?.duration_since(self.first_lease?);
        (span > Duration::ZERO && self.fovs > 0)
            .then(|| f64::from(self.fovs) * 60.0 / span.as_secs_f64())
    }

    /// Adds a kept FOV.
    pub fn kept(
        &mut self,
        latency: Duration,
        device_us: u64,
        truth: Option<&SpotEvaluation>,
        now: Instant,
    ) {
        self.fovs += 1;
        self.last_result = Some(now);
        self.latencies.push(latency.as_secs_f64());
        self.device_us.push(device_us);
        if let Some(t) = truth {
            match &mut self.truth {
                Some(all) => all.merge(t),
                none => *none = Some(*t),
            }
        }
    }
}

/// The median of `values` (0 for none).
fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut sorted: Vec<f64> = values.collect();
    if sorted.is_empty() {
        return 0.0;
    }
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn state_name(state: Option<&BoardState>) -> String {
    match state {
        None => "unknown".into(),
        Some(BoardState::Unknown) => "joining".into(),
        Some(BoardState::Idle) => "idle".into(),
        Some(BoardState::Leased(job)) => format!("FOV {}", job.fov),
        Some(BoardState::Unresponsive) => "unresponsive".into(),
        Some(BoardState::Offline) => "offline".into(),
        Some(BoardState::Refused(_)) => "refused".into(),
    }
}

/// The table's lines: a header, one line per board, and a total.
pub fn table(
    stats: &BTreeMap<String, BoardStats>,
    states: &BTreeMap<String, BoardState>,
    settled: usize,
    total: usize,
    elapsed: Duration,
) -> Vec<String> {
    let mut lines = vec![format!(
        "{:<16} {:<12} {:>5} {:>9} {:>10} {:>10} {:>8} {:>5}  {}",
        "board", "state", "FOVs", "FOVs/min", "latency", "device", "spot F1", "lost", "kernels"
    )];
    let mut ids: Vec<&String> = stats.keys().chain(states.keys()).collect();
    ids.sort();
    ids.dedup();
    for id in ids {
        let s = stats.get(id).cloned().unwrap_or_default();
        let rate = s
            .per_minute()
            .map_or_else(|| "-".to_string(), |r| format!("{r:.1}"));
        let f1 = s
            .truth
            .as_ref()
            .map_or_else(|| "-".to_string(), |t| format!("{:.3}", t.detection.f1()));
        lines.push(format!(
            "{:<16} {:<12} {:>5} {:>9} {:>8.0}ms {:>8.0}ms {:>8} {:>5}  {}",
            id,
            state_name(states.get(id)),
            s.fovs,
            rate,
            median(s.latencies.iter().copied()) * 1e3,
            median(s.device_us.iter().map(|&us| us as f64)) / 1e3,
            f1,
            s.lost,
            s.describe
        ));
    }
    let minutes = elapsed.as_secs_f64() / 60.0;
    let rate = if minutes > 0.0 {
        format!("{:.1}", settled as f64 / minutes)
    } else {
        "-".into()
    };
    lines.push(format!(
        "all: {settled}/{total} FOVs settled in {:.1} s, {rate} FOVs/min",
        elapsed.as_secs_f64()
    ));
    lines
}

/// Where the table goes: redrawn in place on a terminal, else printed
/// whole every `every`.
pub struct LiveTable {
    terminal: bool,
    every: Duration,
    last: Option<Instant>,
    /// The table on screen (a terminal), redrawn below each log line.
    shown: Vec<String>,
}

impl LiveTable {
    /// For stdout; `every` is the period of the plain lines.
    pub fn stdout(every: Duration) -> LiveTable {
        use std::io::IsTerminal;
        LiveTable {
            terminal: std::io::stdout().is_terminal(),
            every,
            last: None,
            shown: Vec::new(),
        }
    }

    /// Draws `lines` if it is time (a terminal: 4 times a second).
    pub fn tick(&mut self, lines: &[String], now: Instant) {
        let period = if self.terminal {
            Duration::from_millis(250)
        } else {
            self.every
        };
        if self.last.is_some_and(|t| now.duration_since(t) < period) {
            return;
        }
        self.last = Some(now);
        self.draw(lines);
    }

    /// Draws `lines` now (the final table).
    pub fn draw(&mut self, lines: &[String]) {
        let mut out = std::io::stdout().lock();
        // A closed stdout is not worth failing the run for.
        if self.terminal {
            self.erase(&mut out);
            self.shown = lines.to_vec();
        }
        for line in lines {
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
    }

    /// Prints a log line to stderr; on a terminal the table is erased
    /// first and drawn again below the line, so neither overwrites the
    /// other.
    pub fn say(&mut self, line: &str) {
        if !self.terminal || self.shown.is_empty() {
            eprintln!("{line}");
            return;
        }
        let mut out = std::io::stdout().lock();
        self.erase(&mut out);
        let _ = out.flush();
        eprintln!("{line}");
        for shown in &self.shown {
            let _ = writeln!(out, "{shown}");
        }
        let _ = out.flush();
    }

    /// Moves up to the table's first line and clears to the end.
    fn erase(&self, out: &mut impl Write) {
        if !self.shown.is_empty() {
            let _ = write!(out, "\x1b[{}A\x1b[J", self.shown.len());
        }
    }

    /// Whether it redraws in place (log lines must then go elsewhere).
    pub fn is_terminal(&self) -> bool {
        self.terminal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_a_line_per_board_and_rates_from_first_lease_to_last_result() {
        let start = Instant::now();
        let mut a = BoardStats {
            describe: "avx2 x1".into(),
            first_lease: Some(start),
            ..BoardStats::default()
        };
        for i in 1..=3 {
            a.kept(
                Duration::from_millis(100),
                80_000,
                None,
                start + Duration::from_secs(10 * i),
            );
        }
        assert_eq!(a.per_minute(), Some(6.0));
        let stats = BTreeMap::from([("a".to_string(), a)]);
        let states = BTreeMap::from([
            ("a".to_string(), BoardState::Idle),
            ("b".to_string(), BoardState::Offline),
        ]);
        let lines = table(&stats, &states, 3, 4, Duration::from_secs(30));
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert!(
            lines[1].starts_with("a ") && lines[1].contains("6.0"),
            "{}",
            lines[1]
        );
        assert!(
            lines[1].contains("100ms") && lines[1].contains("80ms"),
            "{}",
            lines[1]
        );
        assert!(lines[2].contains("offline"), "{}", lines[2]);
        assert!(lines[3].contains("3/4 FOVs") && lines[3].contains("6.0 FOVs/min"));
    }
}
