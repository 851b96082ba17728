//! What one host can make the real TCP device hold: truth per FOV, model
//! uploads and FOV sizes are bounded (refused with a reason, memory
//! bounded), and a long soak of small FOVs loses nothing with flat memory.
//! Memory is the device process's own RSS (from /proc), so tests running
//! in parallel do not disturb it.

use std::time::Duration;

use robofish_device::client::Fov;
use robofish_shared::checksum::crc32;
use robofish_shared::model::encode_model;
use robofish_shared::protocol::{
    DeviceMessage, ErrorKind, HostMessage, ModelBegin, ModelChunk, ModelEnd, TruthSpot,
    MAX_MODEL_CHUNK_BYTES, MAX_TRUTH_SPOTS_PER_FOV,
};

mod common;
use common::tcp::TcpDevice;

fn small_fov<'a>(images: &'a [u16], truth: Option<&'a [TruthSpot]>) -> Fov<'a> {
    Fov {
        truth,
        ..common::fov(images, 16, 16)
    }
}

#[test]
fn a_truth_flood_is_refused_and_memory_stays_bounded() {
    let device = TcpDevice::start(&[]);
    let (mut host, _, _) = device.served_within(Duration::from_secs(10));
    let images = vec![100u16; 16 * 16 * 16];
    host.send_fov(1, &small_fov(&images, Some(&[]))).unwrap();
    assert!(host.collect(1).unwrap().error.is_none());
    let before = device.rss_kib();
    let flood: Vec<TruthSpot> = (0..4 * MAX_TRUTH_SPOTS_PER_FOV)
        .map(|i| TruthSpot {
            y: (i % 16) as f32,
            x: (i / 16 % 16) as f32,
            gene: Some(0),
        })
        .collect();
    host.send_fov(2, &small_fov(&images, Some(&flood))).unwrap();
    let refused = host
        .collect(2)
        .unwrap()
        .error
        .expect("the flood is refused");
    assert_eq!(refused.kind, ErrorKind::Oversized, "{refused}");
    assert!(refused.message.contains("ground-truth"), "{refused}");
    host.send_fov(3, &small_fov(&images, Some(&flood[..100])))
        .unwrap();
    assert!(host.collect(3).unwrap().error.is_none());
    let after = device.rss_kib();
    println!(
        "truth flood of {} spots: refused at {MAX_TRUTH_SPOTS_PER_FOV}; device RSS {before} -> \
         {after} KiB",
        flood.len()
    );
    // At most the allowed truth (12 bytes a spot, 3 MiB) was ever held;
    // the whole flood would be 12 MiB.
    assert!(after < before + 5 * 1024, "{before} -> {after} KiB");
}

#[test]
fn oversized_and_unfinished_uploads_cost_no_memory_and_keep_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("model.rfm");
    std::fs::copy(common::tcp::shipped_model(), &store).unwrap();
    let device = TcpDevice::start_bare(&["--model-store", store.to_str().unwrap()]);
    let (mut host, ack, _) = device.served_within(Duration::from_secs(10));
    let kept = ack.model.unwrap().hash;

    // Claimed too big: one refusal, and its chunks are dropped quietly.
    host.send(&HostMessage::ModelBegin(ModelBegin {
        total_len: robofish_device::upload::MAX_MODEL_BYTES + 1,
        hash: 1,
    }))
    .unwrap();
    let chunk = vec![0u8; MAX_MODEL_CHUNK_BYTES];
    for i in 0..4 {
        host.send(&HostMessage::ModelChunk(ModelChunk {
            offset: (i * MAX_MODEL_CHUNK_BYTES) as u32,
            bytes: &chunk,
            crc32: crc32(&chunk),
        }))
        .unwrap();
    }
    host.send(&HostMessage::ModelEnd(ModelEnd { crc32: 0 }))
        .unwrap();
    host.flush().unwrap();
    match host.recv().unwrap() {
        DeviceMessage::Error(e) => assert_eq!(e.kind, ErrorKind::Oversized, "{e}"),
        other => panic!("oversized upload not refused: {other:?}"),
    }
    // That was the only reply: the next one is the report's.
    host.report().unwrap();

    // A 32 MiB claim, 8 MiB sent, then the end: it went to disk, not RAM.
    let before = device.rss_kib();
    host.send(&HostMessage::ModelBegin(ModelBegin {
        total_len: robofish_device::upload::MAX_MODEL_BYTES,
        hash: 1,
    }))
    .unwrap();
    let sent = 8 << 20;
    for i in 0..sent / MAX_MODEL_CHUNK_BYTES {
        host.send(&HostMessage::ModelChunk(ModelChunk {
            offset: (i * MAX_MODEL_CHUNK_BYTES) as u32,
            bytes: &chunk,
            crc32: crc32(&chunk),
        }))
        .unwrap();
    }
    host.flush().unwrap();
    host.report().unwrap();
    let during = device.rss_kib();
    let on_disk = std::fs::metadata(robofish_device::upload::upload_path(&store))
        .unwrap()
        .len();
    assert_eq!(on_disk, sent as u64);
    host.send(&HostMessage::ModelEnd(ModelEnd { crc32: 0 }))
        .unwrap();
    host.flush().unwrap();
    match host.recv().unwrap() {
        DeviceMessage::Error(e) => assert_eq!(e.kind, ErrorKind::Truncated, "{e}"),
        other => panic!("an unfinished upload was not refused: {other:?}"),
    }
    println!(
        "8 MiB of a 32 MiB upload: device RSS {before} -> {during} KiB, {on_disk} bytes on disk"
    );
    assert!(during < before + 2 * 1024, "{before} -> {during} KiB");
    assert!(!robofish_device::upload::upload_path(&store).exists());
    host.shutdown().unwrap();
    let (_, ack, _) = device.served_within(Duration::from_secs(10));
    assert_eq!(ack.model.unwrap().hash, kept);
}

#[test]
fn max_memory_refuses_a_large_fov_before_allocating_it() {
    let device = TcpDevice::start(&["--max-memory", "4M"]);
    let (mut host, _, _) = device.served_within(Duration::from_secs(10));
    let before = device.rss_kib();
    let (height, width) = (64, 2048);
    let images = vec![100u16; 16 * height * width];
    let large = Fov {
        height,
        width,
        rounds: 8,
        colours: 2,
        images: &images,
        truth: None,
        stats: None,
    };
    host.send_fov(1, &large).unwrap();
    let refused = host.collect(1).unwrap().error.expect("refused");
    assert_eq!(refused.kind, ErrorKind::Oversized, "{refused}");
    assert!(refused.message.contains("--max-memory"), "{refused}");
    let after = device.rss_kib();
    println!("64x2048 FOV under --max-memory 4M: {refused}; RSS {before} -> {after} KiB");
    assert!(after < before + 2 * 1024, "{before} -> {after} KiB");
    let small = vec![100u16; 16 * 16 * 16];
    host.send_fov(2, &small_fov(&small, None)).unwrap();
    assert!(host.collect(2).unwrap().error.is_none());
}

#[test]
fn a_soak_of_ten_thousand_fovs_loses_none_with_flat_memory() {
    const FOVS: u32 = 10_000;
    const WARM_UP: u32 = 500;
    // An eighth-width model: the soak is about the server, not the network.
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("eighth.rfm");
    std::fs::write(&model, encode_model(&common::model(1)).unwrap()).unwrap();
    let device = TcpDevice::start_bare(&["--model", model.to_str().unwrap()]);
    let (mut host, _, _) = device.served_within(Duration::from_secs(10));
    let images: Vec<u16> = (0..16 * 16 * 16).map(|i| 100 + (i % 37) as u16).collect();
    let truth = [TruthSpot {
        y: 8.0,
        x: 8.0,
        gene: Some(3),
    }];
    let fov = small_fov(&images, Some(&truth));
    let started = std::time::Instant::now();
    let mut warm = 0;
    for id in 0..FOVS {
        if id == WARM_UP {
            warm = device.rss_kib();
        }
        host.send_fov(id, &fov).unwrap();
        let answer = host.collect(id).unwrap();
        assert!(answer.error.is_none(), "FOV {id}: {:?}", answer.error);
        assert!(answer.timing.is_some_and(|t| t.frame_id == id));
    }
    let end = device.rss_kib();
    let report = host.report().unwrap();
    println!(
        "soak: {FOVS} FOVs of 16x16 in {:.1} s, {} answered, {} failed; device RSS {warm} KiB \
         after {WARM_UP} FOVs, {end} KiB at the end",
        started.elapsed().as_secs_f64(),
        report.frames,
        report.failed_frames
    );
    assert_eq!((report.frames, report.failed_frames), (FOVS, 0));
    assert!(end < warm + 2 * 1024, "RSS grew {warm} -> {end} KiB");
}
