//! `robofish fleet`: an experiment's FOVs decoded by a fleet of boards
//! through an MQTT broker, into the same parts and tables as `robofish
//! run`. The topics and payloads are [`robofish_shared::fleet`]'s, the
//! board is [`robofish_device::fleet`], and `docs/scaling-out.md` is the
//! user's guide.
//!
//! The host owns the queue ([`dispatch`]) and leases one FOV at a time to
//! each board that said it is idle; the job is the FOV's protocol frames
//! ([`payload`]) in chunks; each kept result becomes the FOV's part
//! through the same [`FovAssembly`] `run` uses, so the tables, resuming
//! and `robofish merge` work unchanged.

mod connection;
pub mod dispatch;
pub mod live;
pub mod payload;
mod session;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use robofish_device::fleet::broker::{BrokerUrl, Credentials};
use robofish_shared::fleet::Status;

use self::connection::HostEvent;
use self::dispatch::{Dispatcher, Requeued};
use self::live::{BoardStats, LiveTable};
use self::session::Host;
use crate::run::{fingerprint, is_done, FovFailure, FovSource, Layout, RunIdentity};
use crate::sim::Codebook;

/// How the host runs the fleet.
#[derive(Clone, Debug)]
pub struct FleetOptions {
    /// The broker.
    pub url: BrokerUrl,
    /// Its login, if it wants one.
    pub credentials: Option<Credentials>,
    /// A lease without progress for this long is taken back.
    pub lease_timeout: Duration,
    /// Give up when no board can take work for this long.
    pub board_wait: Duration,
    /// The model every board must run (`None`: the first board's).
    pub model_hash: Option<u64>,
    /// Period of the plain progress lines when stdout is not a terminal.
    pub report_every: Duration,
}

/// What a fleet run did.
#[derive(Debug, Default)]
pub struct FleetOutcome {
    /// FOVs decoded now.
    pub decoded: Vec<u32>,
    /// FOVs already written with the same model and codebook.
    pub resumed: Vec<u32>,
    /// FOVs that failed now (their data, or lost too often).
    pub failed: Vec<FovFailure>,
    /// Leases taken back, with how long until their FOV was leased again
    /// (`None`: it was not, e.g. it had its result by then).
    pub requeued: Vec<(Requeued, Option<Duration>)>,
    /// Later results of FOVs that had one, dropped.
    pub duplicates: u32,
    /// Results of another host run or model, dropped.
    pub stale: u32,
    /// Per board.
    pub boards: BTreeMap<String, BoardStats>,
    /// The identity the parts were written with.
    pub identity: Option<RunIdentity>,
    /// Wall time of the whole run.
    pub seconds: f64,
}

/// What the FOVs are and where their parts go.
pub struct FleetData<'a> {
    /// The experiment.
    pub source: &'a dyn FovSource,
    /// FOVs to decode, in order.
    pub selected: &'a [u32],
    /// The codebook the calls index (sent with every job).
    pub codebook: &'a Codebook,
    /// The parts folder (`OUT/fovs`).
    pub parts: &'a Path,
}

/// Decodes `data.selected` on the fleet at `options.url`.
pub fn run_fleet(data: &FleetData<'_>, options: &FleetOptions) -> Result<FleetOutcome> {
    std::fs::create_dir_all(data.parts)
        .with_context(|| format!("cannot create {}", data.parts.display()))?;
    let started = Instant::now();
    let run = fresh_run()?;
    let (client, events) = connection::connect(
        &options.url,
        options.credentials.as_ref(),
        run,
        options.board_wait.min(Duration::from_secs(30)),
    )?;
    // Without --model the first board's model names the parts, so wait
    // for it before telling what is done already.
    let mut backlog = Vec::new();
    let mut model_hash = options.model_hash;
    while model_hash.is_none() {
        let event = match events.recv_timeout(options.board_wait) {
            Ok(event) => event,
            Err(_) => bail!(
                "no board with a model announced itself on {} within {} s (--board-wait); \
                 start boards with `robofish-device --fleet {} --model FILE`",
                options.url,
                options.board_wait.as_secs_f64(),
                options.url
            ),
        };
        match &event {
            HostEvent::Fatal(why) => bail!("{why}"),
            HostEvent::Status(_, status) => {
                if let Status::Online(announce) = &**status {
                    model_hash = announce.device.model.as_ref().map(|m| m.hash);
                }
            }
            _ => {}
        }
        backlog.push(event);
    }
    let model_hash = model_hash.unwrap_or_default();
    let identity = RunIdentity {
        method: "network".into(),
        model: format!("{model_hash:016x}"),
        codebook: fingerprint(data.codebook.to_csv().as_bytes()),
    };
    let (resumed, todo): (Vec<u32>, Vec<u32>) = data
        .selected
        .iter()
        .partition(|&&fov| is_done(data.parts, fov, &identity));
    let layout = Layout::new(data.source.placements());
    let mut host = Host {
        run,
        client: &client,
        data,
        identity: &identity,
        layout: &layout,
        dispatcher: Dispatcher::new(run, &todo, Some(model_hash), options.lease_timeout),
        collecting: HashMap::new(),
        lease_started: HashMap::new(),
        taken_back: HashMap::new(),
        codebook_checksum: None,
        live: LiveTable::stdout(options.report_every),
        outcome: FleetOutcome {
            resumed,
            ..FleetOutcome::default()
        },
        total: todo.len(),
    };
    for event in backlog {
        host.handle(event, Instant::now())?;
    }
    let mut usable_since = Instant::now();
    while !host.dispatcher.finished() {
        let now = Instant::now();
        match events.recv_timeout(Duration::from_millis(50)) {
            Ok(event) => host.handle(event, now)?,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => bail!("the broker connection thread ended"),
        }
        while let Ok(event) = events.try_recv() {
            host.handle(event, Instant::now())?;
        }
        let now = Instant::now();
        for lost in host.dispatcher.expire(now) {
            host.record_loss(lost, now);
        }
        while let Some((board, job)) = host.dispatcher.next_lease(now) {
            host.send_job(&board, job, now)?;
        }
        if host.any_usable_board() {
            usable_since = now;
        } else if now.duration_since(usable_since) > options.board_wait {
            bail!(
                "{} FOVs left but no board could take work for {} s (--board-wait): {}",
                host.total - host.dispatcher.settled(),
                options.board_wait.as_secs_f64(),
                host.board_summary()
            );
        }
        let lines = host.table(started);
        host.live.tick(&lines, now);
    }
    let lines = host.table(started);
    host.live.draw(&lines);
    let _ = client.disconnect();
    let mut outcome = host.outcome;
    outcome.duplicates = host.dispatcher.duplicates;
    outcome.stale = host.dispatcher.stale;
    outcome.identity = Some(identity.clone());
    outcome.seconds = started.elapsed().as_secs_f64();
    Ok(outcome)
}

/// A random host run number.
fn fresh_run() -> Result<u64> {
    let mut bytes = [0u8; 8];
    getrandom_fill(&mut bytes)?;
    Ok(u64::from_le_bytes(bytes))
}

/// The OS's random bytes (through the device crate's source).
fn getrandom_fill(bytes: &mut [u8; 8]) -> Result<()> {
    let challenge = robofish_device::auth::fresh_challenge()?;
    bytes.copy_from_slice(&challenge[..8]);
    Ok(())
}
