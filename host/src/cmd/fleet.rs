//! `robofish fleet`: an experiment's FOVs through a fleet of boards on an
//! MQTT broker, into `run`'s tables.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use robofish_device::fleet::broker::{BrokerAuthArgs, BrokerUrl};
use robofish_host::args::DataArgs;
use robofish_host::fleet::{run_fleet, FleetData, FleetOptions};
use robofish_host::run::{
    load_parts, parts_dir, print_qc, write_atomic, write_tables, DatasetSource, FovSource, PartSet,
};
use robofish_host::sim::{Codebook, Split};
use robofish_shared::model::{decode_model, model_hash};

/// Decode an experiment on a fleet of boards through an MQTT broker, into
/// the same tables as `robofish run` (OUT/detected_transcripts.csv and
/// .parquet, counts_per_gene.csv, qc.json, qc.png; parts in OUT/fovs, so
/// reruns resume and `robofish merge` combines them).
///
/// Boards join with `robofish-device --fleet URL --model FILE --board-id
/// ID`. The host keeps the queue and leases one FOV at a time to each
/// board that is idle; a board that dies or stalls loses its lease after
/// --lease-timeout (at once when the broker reports it gone) and its FOV
/// goes to another, and every FOV is kept exactly once (by FOV id and
/// model hash). Live per-board throughput, latency and (with truth)
/// accuracy show on stdout: redrawn on a terminal, as lines every
/// --report-every seconds otherwise. See docs/scaling-out.md.
#[derive(Args, Debug)]
pub struct Cmd {
    /// The broker: mqtt://HOST[:PORT] (default port 1883).
    #[arg(long, value_name = "URL")]
    pub broker: BrokerUrl,
    #[command(flatten)]
    pub auth: BrokerAuthArgs,
    #[command(flatten)]
    pub data: DataArgs,
    /// Split of --data whose tiles are the FOVs.
    #[arg(long, default_value = "test")]
    pub split: Split,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// The fleet's model file: boards running another model are not used,
    /// and its stored codebook names the genes when the data has none.
    /// Without it the first board's model is the fleet's.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Take a lease back when its board shows no progress (heartbeats
    /// counting consumed bytes, result chunks) for SECONDS.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0, value_parser = positive_seconds)]
    pub lease_timeout: f64,
    /// Give up when no board can take work for SECONDS (none announced,
    /// all offline or refused).
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0, value_parser = positive_seconds)]
    pub board_wait: f64,
    /// Without a terminal, print the per-board table every SECONDS.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0, value_parser = positive_seconds)]
    pub report_every: f64,
}

fn positive_seconds(text: &str) -> std::result::Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s < 1e9 => Ok(s),
        _ => Err(format!("`{text}` is not a positive number of seconds")),
    }
}

impl Cmd {
    pub fn run(self) -> Result<()> {
        let source = DatasetSource::open(&self.data, self.split)?;
        let model = match &self.model {
            Some(path) => Some(
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
            ),
            None => None,
        };
        let codebook = match (source.codebook(), &model) {
            (Some(codebook), _) => codebook.clone(),
            (None, Some(bytes)) => model_codebook(bytes)?,
            (None, None) => bail!(
                "no codebook to name the genes: pass --codebook FILE (or --model with a stored codebook)"
            ),
        };
        std::fs::create_dir_all(&self.out)
            .with_context(|| format!("cannot create {}", self.out.display()))?;
        write_atomic(&self.out.join("codebook.csv"), codebook.to_csv().as_bytes())?;
        let parts = parts_dir(&self.out);
        let outcome = run_fleet(
            &FleetData {
                source: &source,
                selected: source.selected(),
                codebook: &codebook,
                parts: &parts,
            },
            &FleetOptions {
                url: self.broker.clone(),
                credentials: self.auth.credentials("robofish")?,
                lease_timeout: Duration::from_secs_f64(self.lease_timeout),
                board_wait: Duration::from_secs_f64(self.board_wait),
                model_hash: model.as_deref().map(model_hash),
                report_every: Duration::from_secs_f64(self.report_every),
            },
        )?;
        let mut set = PartSet::default();
        set.absorb(load_parts(&parts)?, &parts.display().to_string())?;
        let qc = write_tables(&self.out, &set, &codebook)?;
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "FOVs          {} decoded on the fleet, {} already written (resumed), {} failed; {} in the tables",
            outcome.decoded.len(),
            outcome.resumed.len(),
            outcome.failed.len(),
            qc.fovs
        )?;
        let reassigned: Vec<String> = outcome
            .requeued
            .iter()
            .map(|(lost, after)| match after {
                Some(after) => format!(
                    "FOV {} from {} ({}) re-leased after {:.3} s",
                    lost.job.fov,
                    lost.board,
                    lost.loss.describe(),
                    after.as_secs_f64()
                ),
                None => format!(
                    "FOV {} from {} ({})",
                    lost.job.fov,
                    lost.board,
                    lost.loss.describe()
                ),
            })
            .collect();
        writeln!(
            out,
            "leases        {} taken back{}; {} duplicate results dropped, {} stale",
            outcome.requeued.len(),
            if reassigned.is_empty() {
                String::new()
            } else {
                format!(": {}", reassigned.join("; "))
            },
            outcome.duplicates,
            outcome.stale
        )?;
        if let Some(identity) = &outcome.identity {
            writeln!(
                out,
                "model         {} (every kept result), {:.1} s on the fleet",
                identity.model, outcome.seconds
            )?;
        }
        print_qc(&mut out, &qc, &self.out)?;
        let selected = source.selected().len();
        if selected > 0 && outcome.failed.len() == selected {
            bail!("every FOV selected failed ({selected}); see above");
        }
        Ok(())
    }
}

/// The codebook stored in a model file.
fn model_codebook(bytes: &[u8]) -> Result<Codebook> {
    let entries = decode_model(bytes)
        .ok()
        .and_then(|m| m.metadata.codebook)
        .filter(|entries| !entries.is_empty())
        .context("the model stores no codebook: pass --codebook FILE")?;
    let entries = entries
        .into_iter()
        .map(|e| robofish_shared::codebook::CodebookEntry {
            id: e.name.clone(),
            name: e.name,
            word: e.word,
        })
        .collect();
    Codebook::from_entries(entries).context("the model's codebook")
}
