//! `robofish fleet` against real boards through a real broker: mosquitto
//! on 127.0.0.1, three `robofish device --fleet` processes, 30 FOVs. One
//! board is killed mid-FOV and another stalls past the lease timeout; every
//! FOV still appears exactly once, and the tables equal one `robofish run`
//! over the same data. A broker that restarts mid-run loses nothing: boards
//! and host reconnect and resume. A broker with a password file turns away
//! a wrong password with a message that says so.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::broker::{board_command, Broker, Logged};
use common::{ok, robofish, temp_dir};

const FOVS: usize = 30;
/// Well above a FOV's time on a board (0.2 s here, 1.3 s with the scalar
/// kernels), which is how long a dead board's FOV waits for another board
/// to become idle; well below the 15 s after which the broker would give
/// up on a stopped board (1.5 keep-alives of at least 10 s).
const LEASE_TIMEOUT_S: f64 = 6.0;

fn shipped_model() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../models/anglerfish-static.rfm")
        .display()
        .to_string()
}

/// `fovs` test FOVs of 48 x 48: big enough that a board is still on a FOV
/// (a quarter of a second or more with one thread) well after the host
/// said it leased it (before it sends the bytes).
fn dataset(dir: &Path, fovs: usize, seed: u64) -> String {
    let data = dir.join("data");
    ok(robofish([
        "simulate",
        "--out",
        data.to_str().unwrap(),
        "--train",
        "1",
        "--val",
        "1",
        "--test",
        &fovs.to_string(),
        "--height",
        "48",
        "--width",
        "48",
        "--seed",
        &seed.to_string(),
    ]));
    data.display().to_string()
}

fn fleet_command(url: &str, data: &str, out: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_robofish"));
    command
        .args(["fleet", "--broker", url, "--data", data, "--out"])
        .arg(out)
        .args(["--model", &shipped_model(), "--board-wait", "20"])
        .args(extra);
    command
}

/// The FOV in a host line `fleet: lease N: FOV F to board B...`, if the
/// line is a lease to `board`.
fn leased_to(line: &str, board: &str) -> Option<u32> {
    let rest = line.strip_prefix("fleet: lease ")?;
    let (_, rest) = rest.split_once(": FOV ")?;
    let (fov, rest) = rest.split_once(" to board ")?;
    let to = rest.split([' ', ',']).next()?;
    (to == board).then(|| fov.parse().ok()).flatten()
}

/// Waits for the host's next lease to `board` (up to `limit`).
fn next_lease(
    lines: &mpsc::Receiver<(Instant, String)>,
    board: &str,
    limit: Duration,
    host: &Logged,
) -> u32 {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok((_, line)) => {
                if let Some(fov) = leased_to(&line, board) {
                    return fov;
                }
            }
            Err(_) => panic!("no lease to {board} within {limit:?}:\n{}", host.log()),
        }
    }
}

#[test]
fn thirty_fovs_once_each_when_one_board_dies_and_one_stalls() {
    let dir = temp_dir("fleet");
    let data = dataset(&dir, FOVS, 5);
    let broker = Broker::anonymous(&dir.join("broker"));
    let url = broker.url();
    println!("broker: {} on 127.0.0.1:{}", Broker::version(), broker.port);
    let boards: Vec<Logged> = ["b1", "b2", "b3"]
        .iter()
        .map(|id| Logged::spawn(board_command(&url, id, &["--heartbeat", "0.2"]), None))
        .collect();

    let out = dir.join("fleet-out");
    let (send, lines) = mpsc::channel();
    let lease_timeout = LEASE_TIMEOUT_S.to_string();
    let mut host = Logged::spawn(
        fleet_command(
            &url,
            &data,
            &out,
            &["--lease-timeout", &lease_timeout, "--report-every", "1"],
        ),
        Some(send),
    );

    // b3 dies (SIGKILL) on its second FOV, right after the host leased it
    // and before its bytes can even have arrived.
    next_lease(&lines, "b3", Duration::from_secs(30), &host);
    let killed_fov = next_lease(&lines, "b3", Duration::from_secs(30), &host);
    let killed_at = Instant::now();
    boards[2].signal("KILL");
    // The FOV is taken back and leased to another board.
    let deadline = killed_at + Duration::from_secs(30);
    let (released_at, again) = loop {
        let (at, line) = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("FOV {killed_fov} never leased again:\n{}", host.log()));
        if line.contains(&format!(": FOV {killed_fov} to board ")) && line.contains(" again") {
            break (at, line);
        }
    };
    let reassigned = released_at.duration_since(killed_at);
    println!(
        "killed b3 mid-FOV {killed_fov}: reassigned after {:.3} s ({again})",
        reassigned.as_secs_f64()
    );
    assert!(
        reassigned < Duration::from_secs_f64(LEASE_TIMEOUT_S),
        "reassigned after {reassigned:?}, past the {LEASE_TIMEOUT_S} s lease timeout"
    );

    // b2 stalls (SIGSTOP) on its next FOV for longer than the lease
    // timeout, then wakes up and finishes it: its lease is taken back
    // on time, and its late result is dropped or kept, never doubled.
    let stalled_fov = next_lease(&lines, "b2", Duration::from_secs(30), &host);
    let stalled_at = Instant::now();
    boards[1].signal("STOP");
    let deadline = stalled_at + Duration::from_secs(20);
    let taken_back_at = loop {
        let (at, line) = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("b2's lease never timed out:\n{}", host.log()));
        if line.contains(&format!("FOV {stalled_fov} taken back from board b2"))
            && line.contains("lease timeout")
        {
            break at;
        }
    };
    let waited = taken_back_at.duration_since(stalled_at);
    println!(
        "stalled b2 on FOV {stalled_fov}: lease taken back after {:.3} s",
        waited.as_secs_f64()
    );
    assert!(
        waited >= Duration::from_secs_f64(LEASE_TIMEOUT_S * 0.9),
        "taken back after {waited:?}, before the lease timeout"
    );
    std::thread::sleep(Duration::from_millis(500));
    boards[1].signal("CONT");

    let (status, stdout) = host.wait(Duration::from_secs(60));
    let log = host.log();
    assert!(status.success(), "stdout: {stdout}\nstderr: {log}");
    println!("{stdout}");
    assert!(
        stdout.contains(&format!("{FOVS} decoded on the fleet, 0 already written (resumed), 0 failed; {FOVS} in the tables")),
        "{stdout}"
    );
    // Exactly once: every FOV has one part, and no FOV was kept twice.
    let kept: Vec<u32> = log
        .lines()
        .filter_map(|l| l.strip_prefix("fleet: FOV "))
        .filter(|l| l.contains(" decoded on board "))
        .filter_map(|l| l.split(' ').next()?.parse().ok())
        .collect();
    let unique: BTreeSet<u32> = kept.iter().copied().collect();
    assert_eq!(kept.len(), FOVS, "kept results: {kept:?}\n{log}");
    assert_eq!(unique, (0..FOVS as u32).collect(), "{log}");
    let b1_kept = log
        .lines()
        .filter(|l| l.contains(" decoded on board b1 "))
        .count();
    assert!(b1_kept > 0, "{log}");

    // The tables are those of one `robofish run` over the same data.
    let single = dir.join("run-out");
    ok(robofish([
        "run",
        "--data",
        &data,
        "--out",
        single.to_str().unwrap(),
        "--model",
        &shipped_model(),
        "--threads",
        "1",
    ]));
    // The parts are run's own: `run` over the fleet's output resumes them all.
    let resumed = ok(robofish([
        "run",
        "--data",
        &data,
        "--out",
        out.to_str().unwrap(),
        "--model",
        &shipped_model(),
    ]));
    assert!(
        resumed.contains(&format!("0 decoded, {FOVS} already written (resumed)")),
        "{resumed}"
    );
    for table in ["detected_transcripts.csv", "counts_per_gene.csv"] {
        let fleet = std::fs::read_to_string(out.join(table)).unwrap();
        let run = std::fs::read_to_string(single.join(table)).unwrap();
        assert!(fleet.lines().count() > 1, "{table} is empty");
        assert!(fleet == run, "{table} differs from a single run's");
    }
    drop(boards);
}

#[test]
fn boards_and_host_resume_after_the_broker_restarts() {
    const FOVS: usize = 12;
    let dir = temp_dir("fleet-restart");
    let data = dataset(&dir, FOVS, 8);
    let mut broker = Broker::anonymous(&dir.join("broker"));
    let url = broker.url();
    let _boards: Vec<Logged> = ["r1", "r2"]
        .iter()
        .map(|id| {
            let extra = ["--heartbeat", "0.2", "--job-timeout", "3"];
            Logged::spawn(board_command(&url, id, &extra), None)
        })
        .collect();
    let (send, lines) = mpsc::channel();
    let mut host = Logged::spawn(
        fleet_command(&url, &data, &dir.join("out"), &["--lease-timeout", "2"]),
        Some(send),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut kept = 0;
    while kept < 3 {
        let (_, line) = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("3 FOVs never decoded:\n{}", host.log()));
        kept += usize::from(line.contains(" decoded on board "));
    }
    broker.restart(Duration::from_millis(500));
    let (status, stdout) = host.wait(Duration::from_secs(60));
    let log = host.log();
    assert!(status.success(), "{stdout}\n{log}");
    assert!(
        stdout.contains(&format!("{FOVS} decoded on the fleet, 0 already written (resumed), 0 failed; {FOVS} in the tables")),
        "{stdout}\n{log}"
    );
    let kept: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" decoded on board "))
        .collect();
    assert_eq!(kept.len(), FOVS, "{log}");
    assert!(
        log.matches("connected to the broker").count() >= 2,
        "the host reconnected: {log}"
    );
    for line in log
        .lines()
        .filter(|l| l.contains("connected") || l.contains("taken back") || l.contains("again"))
    {
        println!("{line}");
    }
}

#[test]
fn a_wrong_broker_password_is_refused_with_a_clear_error() {
    let dir = temp_dir("fleet-auth");
    let broker = Broker::with_password(&dir.join("broker"), "lab", "right-horse-battery");
    let url = broker.url();
    let right = dir.join("right.pw");
    let wrong = dir.join("wrong.pw");
    std::fs::write(&right, "right-horse-battery\n").unwrap();
    std::fs::write(&wrong, "wrong-horse\n").unwrap();
    let login = |file: &Path| {
        vec![
            "--mqtt-username".to_string(),
            "lab".to_string(),
            "--mqtt-password-file".to_string(),
            file.display().to_string(),
        ]
    };

    let wrong_args = login(&wrong);
    let wrong_args: Vec<&str> = wrong_args.iter().map(String::as_str).collect();
    let mut board = Logged::spawn(board_command(&url, "intruder", &wrong_args), None);
    let (status, _) = board.wait(Duration::from_secs(30));
    assert!(!status.success());
    assert!(
        board.log().contains("refused the login") && board.log().contains("--mqtt-password-file"),
        "{}",
        board.log()
    );
    let data = dir.join("data");
    ok(robofish([
        "simulate",
        "--out",
        data.to_str().unwrap(),
        "--train",
        "1",
        "--val",
        "1",
        "--test",
        "2",
        "--height",
        "40",
        "--width",
        "40",
    ]));
    let data = data.display().to_string();
    let mut host = Logged::spawn(
        fleet_command(&url, &data, &dir.join("refused"), &wrong_args),
        None,
    );
    let (status, _) = host.wait(Duration::from_secs(30));
    assert!(!status.success());
    assert!(host.log().contains("refused the login"), "{}", host.log());

    // The right password works end to end.
    let right_args = login(&right);
    let right_args: Vec<&str> = right_args.iter().map(String::as_str).collect();
    let _board = Logged::spawn(board_command(&url, "member", &right_args), None);
    let mut host = Logged::spawn(
        fleet_command(&url, &data, &dir.join("accepted"), &right_args),
        None,
    );
    let (status, stdout) = host.wait(Duration::from_secs(60));
    assert!(status.success(), "{stdout}\n{}", host.log());
    assert!(stdout.contains("2 decoded on the fleet"), "{stdout}");
}
