//! The host's queue of FOVs and its leases to boards: a state machine with
//! no I/O, fed what the broker delivers and asked what to send, so its
//! exactly-once rules are tested without a broker.
//!
//! - A board is leased one FOV at a time, and only when it said it is idle
//!   (a `Ready`, or a complete result).
//! - A lease is taken back, and its FOV queued again at the front, when its
//!   board goes offline, says `Ready` naming the lease (it gave the job
//!   up), or shows no progress for the lease timeout; a board whose lease
//!   timed out gets no new one until it says it is idle (a `Ready`, a
//!   result, or a heartbeat with no job in hand).
//! - The first complete result of a FOV with the fleet's model is kept;
//!   any later one (a board that was only slow) is a duplicate, dropped
//!   and counted, as are results of another host run or another model.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use robofish_shared::fleet::{Heartbeat, JobId, Ready};

/// Where a board stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BoardState {
    /// Connected; not known to be idle yet.
    Unknown,
    /// Said it is idle: the next FOV goes to it.
    Idle,
    /// Working on this lease.
    Leased(JobId),
    /// Its lease timed out: nothing more until it says it is idle.
    Unresponsive,
    /// Its last will came (or it said it stopped).
    Offline,
    /// Not used: the reason (another model, another protocol version).
    Refused(String),
}

/// A lease in flight.
#[derive(Clone, Debug)]
pub struct Lease {
    /// The board.
    pub board: String,
    /// When it was given.
    pub started: Instant,
    /// When the board last showed progress on it.
    pub last_progress: Instant,
    /// Bytes of the job the board said it consumed.
    pub consumed: u64,
}

/// Why a lease was taken back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// The board's last will (or its own `Offline`).
    Offline,
    /// No progress for the lease timeout.
    TimedOut,
    /// The board said `Ready` naming the lease: it gave the job up.
    GivenUp,
    /// Its result could not be read.
    Garbled,
}

impl Loss {
    /// For log lines.
    pub fn describe(self) -> &'static str {
        match self {
            Loss::Offline => "the board went offline",
            Loss::TimedOut => "no progress within the lease timeout",
            Loss::GivenUp => "the board gave the job up",
            Loss::Garbled => "its result could not be read",
        }
    }
}

/// A FOV back in the queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requeued {
    /// The lease lost.
    pub job: JobId,
    /// Its board.
    pub board: String,
    /// Why.
    pub loss: Loss,
    /// The FOV has been lost this many times; past the limit it is not
    /// queued again ([`Requeued::abandoned`]).
    pub losses: u32,
    /// Whether the FOV was lost too often and is given up.
    pub abandoned: bool,
}

/// What to do with a complete result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The FOV's first result: keep it.
    Accept,
    /// The FOV has a result already: drop this one.
    Duplicate,
    /// From another host run: drop it.
    Stale,
    /// Decoded by another model than the fleet's: drop it.
    WrongModel,
}

/// How often a FOV may be lost before it is given up.
pub const MAX_LOSSES: u32 = 5;

/// The queue, the leases and the boards.
#[derive(Debug)]
pub struct Dispatcher {
    run: u64,
    model_hash: Option<u64>,
    lease_timeout: Duration,
    queue: VecDeque<u32>,
    /// FOVs with their result (or given up): never leased again.
    settled: HashSet<u32>,
    total: usize,
    next_lease: u32,
    leases: BTreeMap<u32, (JobId, Lease)>,
    losses: BTreeMap<u32, u32>,
    boards: BTreeMap<String, BoardState>,
    /// Later results of FOVs that had one.
    pub duplicates: u32,
    /// Results of another run or model.
    pub stale: u32,
}

impl Dispatcher {
    /// A queue of `fovs` (in order) for host run `run`; results must come
    /// from `model_hash` (`None`: the first board's model decides).
    pub fn new(
        run: u64,
        fovs: &[u32],
        model_hash: Option<u64>,
        lease_timeout: Duration,
    ) -> Dispatcher {
        Dispatcher {
            run,
            model_hash,
            lease_timeout,
            queue: fovs.iter().copied().collect(),
            settled: HashSet::new(),
            total: fovs.len(),
            next_lease: 1,
            leases: BTreeMap::new(),
            losses: BTreeMap::new(),
            boards: BTreeMap::new(),
            duplicates: 0,
            stale: 0,
        }
    }

    /// The fleet's model hash, once known.
    pub fn model_hash(&self) -> Option<u64> {
        self.model_hash
    }

    /// Every FOV has its result or was given up.
    pub fn finished(&self) -> bool {
        self.settled.len() == self.total
    }

    /// FOVs settled so far.
    pub fn settled(&self) -> usize {
        self.settled.len()
    }

    /// FOVs waiting for a board.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// The boards and their states.
    pub fn boards(&self) -> &BTreeMap<String, BoardState> {
        &self.boards
    }

    /// The lease of `job`, while it is held.
    pub fn lease(&self, job: &JobId) -> Option<&Lease> {
        self.leases
            .get(&job.lease)
            .filter(|(held, _)| held == job)
            .map(|(_, lease)| lease)
    }

    /// A board announced itself with `model_hash` (`None`: it has no
    /// model). Returns why it is refused, if it is.
    pub fn online(&mut self, board: &str, model_hash: Option<u64>) -> Option<String> {
        let refusal = match (model_hash, self.model_hash) {
            (None, _) => Some("it has no model".to_string()),
            (Some(own), Some(fleet)) if own != fleet => Some(format!(
                "its model {own:016x} is not the fleet's {fleet:016x}"
            )),
            (Some(own), None) => {
                self.model_hash = Some(own);
                None
            }
            _ => None,
        };
        let state = self
            .boards
            .entry(board.to_string())
            .or_insert(BoardState::Unknown);
        match &refusal {
            Some(why) => *state = BoardState::Refused(why.clone()),
            // A reconnecting board keeps its lease until it says otherwise.
            None if matches!(state, BoardState::Leased(_)) => {}
            None => *state = BoardState::Unknown,
        }
        refusal
    }

    /// A board refused for another reason than its model.
    pub fn refuse(&mut self, board: &str, why: String) -> Option<Requeued> {
        let lost = self.take_back_board(board, Loss::Offline);
        self.boards
            .insert(board.to_string(), BoardState::Refused(why));
        lost
    }

    /// A board's last will.
    pub fn offline(&mut self, board: &str) -> Option<Requeued> {
        let lost = self.take_back_board(board, Loss::Offline);
        if let Some(state) = self.boards.get_mut(board) {
            if !matches!(state, BoardState::Refused(_)) {
                *state = BoardState::Offline;
            }
        }
        lost
    }

    /// A board's heartbeat: progress on its lease; and a board whose lease
    /// timed out and that beats with no job in hand is idle (its `Ready`
    /// may have been lost with a broker that restarted).
    pub fn heartbeat(&mut self, board: &str, beat: &Heartbeat, now: Instant) {
        if beat.job.is_none() && self.boards.get(board) == Some(&BoardState::Unresponsive) {
            self.boards.insert(board.to_string(), BoardState::Idle);
            return;
        }
        let Some(BoardState::Leased(job)) = self.boards.get(board) else {
            return;
        };
        if beat.job != Some(*job) {
            return;
        }
        if let Some((_, lease)) = self.leases.get_mut(&job.lease) {
            if beat.consumed > lease.consumed {
                lease.consumed = beat.consumed;
                lease.last_progress = now;
            }
        }
    }

    /// Progress other than a heartbeat (a result chunk) on `job`.
    pub fn progress(&mut self, job: &JobId, now: Instant) {
        if let Some((held, lease)) = self.leases.get_mut(&job.lease) {
            if held == job {
                lease.last_progress = now;
            }
        }
    }

    /// A board says it is idle.
    pub fn ready(&mut self, board: &str, ready: &Ready) -> Option<Requeued> {
        let state = self
            .boards
            .entry(board.to_string())
            .or_insert(BoardState::Unknown);
        match state.clone() {
            BoardState::Refused(_) => None,
            BoardState::Leased(job) if ready.job == Some(job) => {
                let lost = self.take_back(job, Loss::GivenUp);
                self.boards.insert(board.to_string(), BoardState::Idle);
                lost
            }
            // Sent before the board saw its lease: the lease stands.
            BoardState::Leased(_) => None,
            _ => {
                *state = BoardState::Idle;
                None
            }
        }
    }

    /// A complete result of `job` from `board`, decoded by `model_hash`.
    /// The board is idle afterwards, whatever the verdict.
    pub fn result(&mut self, board: &str, job: &JobId, model_hash: u64) -> Verdict {
        let state = self
            .boards
            .entry(board.to_string())
            .or_insert(BoardState::Unknown);
        match state {
            BoardState::Refused(_) => {}
            BoardState::Leased(held) if held != job => {}
            _ => *state = BoardState::Idle,
        }
        if job.run != self.run {
            self.stale += 1;
            return Verdict::Stale;
        }
        let held = self.lease(job).is_some();
        if held {
            self.leases.remove(&job.lease);
        }
        if self.model_hash.is_some_and(|fleet| fleet != model_hash) {
            self.stale += 1;
            if held {
                self.queue.push_front(job.fov);
            }
            return Verdict::WrongModel;
        }
        if self.settled.contains(&job.fov) {
            self.duplicates += 1;
            return Verdict::Duplicate;
        }
        // Accepted, maybe from a board whose lease was taken back: the FOV
        // is settled, and a lease of it in flight now will be a duplicate.
        self.settled.insert(job.fov);
        self.queue.retain(|&fov| fov != job.fov);
        Verdict::Accept
    }

    /// A result was accepted but cannot be read: queue the FOV again.
    pub fn garbled(&mut self, board: &str, job: &JobId) -> Requeued {
        self.settled.remove(&job.fov);
        self.requeue(*job, board.to_string(), Loss::Garbled)
    }

    /// Leases without progress for the lease timeout, taken back.
    pub fn expire(&mut self, now: Instant) -> Vec<Requeued> {
        let late: Vec<JobId> = self
            .leases
            .values()
            .filter(|(_, lease)| now.duration_since(lease.last_progress) > self.lease_timeout)
            .map(|(job, _)| *job)
            .collect();
        let mut lost = Vec::new();
        for job in late {
            let board = self.leases.get(&job.lease).map(|(_, l)| l.board.clone());
            if let Some(requeued) = self.take_back(job, Loss::TimedOut) {
                lost.push(requeued);
            }
            if let Some(board) = board {
                self.boards.insert(board, BoardState::Unresponsive);
            }
        }
        lost
    }

    /// The next lease to give: an idle board and the FOV at the queue's
    /// front, or `None`.
    pub fn next_lease(&mut self, now: Instant) -> Option<(String, JobId)> {
        let board = self
            .boards
            .iter()
            .find(|(_, state)| **state == BoardState::Idle)
            .map(|(id, _)| id.clone())?;
        let fov = loop {
            let fov = self.queue.pop_front()?;
            if !self.settled.contains(&fov) {
                break fov;
            }
        };
        let job = JobId {
            run: self.run,
            lease: self.next_lease,
            fov,
        };
        self.next_lease += 1;
        self.leases.insert(
            job.lease,
            (
                job,
                Lease {
                    board: board.clone(),
                    started: now,
                    last_progress: now,
                    consumed: 0,
                },
            ),
        );
        self.boards.insert(board.clone(), BoardState::Leased(job));
        Some((board, job))
    }

    /// A lease that could not be sent (the broker connection failed).
    pub fn unsent(&mut self, board: &str, job: JobId) {
        self.leases.remove(&job.lease);
        self.queue.push_front(job.fov);
        self.boards.insert(board.to_string(), BoardState::Unknown);
    }

    /// A lease that was never sent because its FOV cannot be read: the FOV
    /// is settled as failed, the board still idle.
    pub fn cancel(&mut self, board: &str, job: JobId) {
        self.leases.remove(&job.lease);
        self.failed(job.fov);
        self.boards.insert(board.to_string(), BoardState::Idle);
    }

    /// A FOV that failed on its board for a reason another board would
    /// share (its data): settled without a result.
    pub fn failed(&mut self, fov: u32) {
        self.settled.insert(fov);
        self.queue.retain(|&f| f != fov);
    }

    fn take_back_board(&mut self, board: &str, loss: Loss) -> Option<Requeued> {
        match self.boards.get(board) {
            Some(BoardState::Leased(job)) => {
                let job = *job;
                self.take_back(job, loss)
            }
            _ => None,
        }
    }

    fn take_back(&mut self, job: JobId, loss: Loss) -> Option<Requeued> {
        let (_, lease) = self.leases.remove(&job.lease)?;
        Some(self.requeue(job, lease.board, loss))
    }

    fn requeue(&mut self, job: JobId, board: String, loss: Loss) -> Requeued {
        let losses = self.losses.entry(job.fov).or_insert(0);
        *losses += 1;
        let losses = *losses;
        let abandoned = losses >= MAX_LOSSES;
        if abandoned {
            self.settled.insert(job.fov);
        } else if !self.settled.contains(&job.fov) {
            self.queue.push_front(job.fov);
        }
        Requeued {
            job,
            board,
            loss,
            losses,
            abandoned,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUN: u64 = 77;
    const MODEL: u64 = 0xAB;

    fn fleet(fovs: u32) -> Dispatcher {
        let ids: Vec<u32> = (0..fovs).collect();
        Dispatcher::new(RUN, &ids, None, Duration::from_secs(10))
    }

    fn join(d: &mut Dispatcher, board: &str) {
        assert_eq!(d.online(board, Some(MODEL)), None);
        assert_eq!(d.ready(board, &Ready { job: None }), None);
    }

    #[test]
    fn every_fov_once_across_boards() {
        let mut d = fleet(5);
        let now = Instant::now();
        join(&mut d, "a");
        join(&mut d, "b");
        let mut results = Vec::new();
        while !d.finished() {
            let mut leased = Vec::new();
            while let Some(lease) = d.next_lease(now) {
                leased.push(lease);
            }
            assert!(leased.len() <= 2, "one lease per board");
            for (board, job) in leased {
                assert_eq!(d.result(&board, &job, MODEL), Verdict::Accept);
                results.push(job.fov);
            }
        }
        results.sort_unstable();
        assert_eq!(results, vec![0, 1, 2, 3, 4]);
        assert_eq!(d.duplicates, 0);
    }

    #[test]
    fn a_dead_board_s_fov_goes_to_another_and_a_late_result_is_a_duplicate() {
        let mut d = fleet(2);
        let now = Instant::now();
        join(&mut d, "a");
        let (_, first) = d.next_lease(now).unwrap();
        assert_eq!(first.fov, 0);
        // Board a dies: its FOV is queued again, at the front.
        let lost = d.offline("a").unwrap();
        assert_eq!(
            (lost.job, lost.loss, lost.abandoned),
            (first, Loss::Offline, false)
        );
        join(&mut d, "b");
        let (board, again) = d.next_lease(now).unwrap();
        assert_eq!((board.as_str(), again.fov), ("b", 0));
        assert_ne!(again.lease, first.lease);
        assert_eq!(d.result("b", &again, MODEL), Verdict::Accept);
        // a was only cut off: its result of the old lease comes late.
        assert_eq!(d.result("a", &first, MODEL), Verdict::Duplicate);
        assert_eq!(d.duplicates, 1);
        let (_, second) = d.next_lease(now).unwrap();
        assert_eq!(second.fov, 1);
    }

    #[test]
    fn a_silent_lease_times_out_and_its_board_waits_until_it_says_it_is_idle() {
        let mut d = fleet(1);
        let start = Instant::now();
        join(&mut d, "a");
        let (_, job) = d.next_lease(start).unwrap();
        let beat = Heartbeat {
            job: Some(job),
            consumed: 10,
            answered: 0,
        };
        d.heartbeat("a", &beat, start + Duration::from_secs(8));
        assert!(
            d.expire(start + Duration::from_secs(15)).is_empty(),
            "progress at 8 s"
        );
        // The same count again is no progress.
        d.heartbeat("a", &beat, start + Duration::from_secs(17));
        let lost = d.expire(start + Duration::from_secs(19));
        assert_eq!(lost.len(), 1);
        assert_eq!(lost[0].loss, Loss::TimedOut);
        assert_eq!(d.boards()["a"], BoardState::Unresponsive);
        assert_eq!(d.next_lease(start), None, "no idle board");
        let busy = Heartbeat {
            job: Some(job),
            consumed: 10,
            answered: 0,
        };
        d.heartbeat("a", &busy, start + Duration::from_secs(19));
        assert_eq!(
            d.boards()["a"],
            BoardState::Unresponsive,
            "still on the old job"
        );
        // It wakes up and finishes the old lease first: accepted (the FOV
        // had no result yet), and nothing is left in the queue.
        assert_eq!(d.result("a", &job, MODEL), Verdict::Accept);
        assert!(d.finished());
    }

    #[test]
    fn an_unresponsive_board_beating_with_no_job_is_idle_again() {
        let mut d = fleet(2);
        let start = Instant::now();
        join(&mut d, "a");
        let (_, job) = d.next_lease(start).unwrap();
        assert_eq!(d.expire(start + Duration::from_secs(11)).len(), 1);
        let idle = Heartbeat {
            job: None,
            consumed: 0,
            answered: 1,
        };
        d.heartbeat("a", &idle, start + Duration::from_secs(12));
        let (_, again) = d.next_lease(start + Duration::from_secs(12)).unwrap();
        assert_eq!(again.fov, job.fov, "the lost FOV first");
        // A beat without a job while leased is not a give-up (it may have
        // been sent before the lease arrived).
        d.heartbeat("a", &idle, start + Duration::from_secs(13));
        assert_eq!(d.boards()["a"], BoardState::Leased(again));
    }

    #[test]
    fn ready_naming_the_lease_gives_it_back_and_an_older_ready_does_not() {
        let mut d = fleet(1);
        let now = Instant::now();
        join(&mut d, "a");
        let (_, job) = d.next_lease(now).unwrap();
        assert_eq!(
            d.ready("a", &Ready { job: None }),
            None,
            "sent before the lease"
        );
        assert_eq!(d.boards()["a"], BoardState::Leased(job));
        let lost = d.ready("a", &Ready { job: Some(job) }).unwrap();
        assert_eq!(lost.loss, Loss::GivenUp);
        let (_, again) = d.next_lease(now).unwrap();
        assert_eq!(again.fov, job.fov);
    }

    #[test]
    fn other_models_and_runs_are_refused_and_repeated_losses_give_a_fov_up() {
        let mut d = fleet(1);
        let now = Instant::now();
        join(&mut d, "a");
        assert!(d
            .online("b", Some(MODEL + 1))
            .unwrap()
            .contains("not the fleet's"));
        assert!(d.online("c", None).unwrap().contains("no model"));
        let other_run = JobId {
            run: RUN + 1,
            lease: 1,
            fov: 0,
        };
        assert_eq!(d.result("a", &other_run, MODEL), Verdict::Stale);
        for n in 1..=MAX_LOSSES {
            join(&mut d, "a");
            let (_, job) = d.next_lease(now).unwrap();
            let lost = d.offline("a").unwrap();
            assert_eq!((lost.losses, lost.abandoned), (n, n == MAX_LOSSES));
            assert_eq!(d.result("a", &job, MODEL + 1), Verdict::WrongModel);
        }
        assert!(d.finished(), "given up after {MAX_LOSSES} losses");
    }
}
