//! Recovery of the real TCP device: killed mid-flash or mid-FOV it comes
//! back with the model it had, and a corrupt model store does not keep it
//! down (it starts without a model, says why, and takes a new flash).

use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use robofish_device::client::{Client, Fov};
use robofish_device::upload::upload_path;
use robofish_shared::checksum::crc32;
use robofish_shared::image::{InputImage, Pixels};
use robofish_shared::image_stats::measure_all;
use robofish_shared::model::model_hash;
use robofish_shared::protocol::{
    ErrorKind, FrameStart, HostMessage, ModelBegin, ModelChunk, PixelType, RowBand,
    MAX_MODEL_CHUNK_BYTES,
};

mod common;
use common::tcp::{shipped_model, TcpDevice};

fn models_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../models"))
}

/// A device serving the model stored at `store` (no --model).
fn device_on_store(store: &Path) -> TcpDevice {
    TcpDevice::start_bare(&["--model-store", store.to_str().unwrap()])
}

fn stored_hash(device: &TcpDevice) -> Option<u64> {
    let (mut client, ack, _) = device.served_within(Duration::from_secs(10));
    client.shutdown().unwrap();
    ack.model.map(|m| m.hash)
}

fn wait_for(what: &str, patience: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < patience, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_device_killed_mid_flash_comes_back_with_its_old_model() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("model.rfm");
    let old = std::fs::read(shipped_model()).unwrap();
    std::fs::write(&store, &old).unwrap();
    let new = std::fs::read(models_dir().join("anglerfish-qat.rfm")).unwrap();
    assert_ne!(model_hash(&old), model_hash(&new));

    let mut device = device_on_store(&store);
    assert_eq!(stored_hash(&device), Some(model_hash(&old)));
    let (mut host, _, _) = device.served_within(Duration::from_secs(10));
    host.send(&HostMessage::ModelBegin(ModelBegin {
        total_len: new.len() as u32,
        hash: model_hash(&new),
    }))
    .unwrap();
    let half = new.len() / 2;
    for (i, chunk) in new[..half].chunks(MAX_MODEL_CHUNK_BYTES).enumerate() {
        host.send(&HostMessage::ModelChunk(ModelChunk {
            offset: (i * MAX_MODEL_CHUNK_BYTES) as u32,
            bytes: chunk,
            crc32: crc32(chunk),
        }))
        .unwrap();
    }
    host.flush().unwrap();
    let upload = upload_path(&store);
    wait_for(
        "the upload to reach the disk",
        Duration::from_secs(10),
        || std::fs::metadata(&upload).is_ok_and(|m| m.len() > 0),
    );
    device.kill();

    assert_eq!(std::fs::read(&store).unwrap(), old, "the store was touched");
    let device = device_on_store(&store);
    assert_eq!(stored_hash(&device), Some(model_hash(&old)));
    assert!(!upload.exists(), "the half-finished upload was left behind");
    assert!(
        device.log().contains("removed a half-finished upload"),
        "{}",
        device.log()
    );
}

#[test]
fn a_host_or_device_killed_mid_fov_costs_only_that_fov() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("model.rfm");
    let model = std::fs::read(shipped_model()).unwrap();
    std::fs::write(&store, &model).unwrap();
    let (height, width) = (64usize, 64usize);
    let images: Vec<u16> = (0..16 * height * width)
        .map(|i| 100 + (i * 7919 % 61) as u16)
        .collect();
    let stats = measure_all(&InputImage::planar(Pixels::U16(&images), 16, height, width).unwrap());
    // Half a FOV: its start and its first 8 rows.
    let half_fov = |host: &mut Client<TcpStream, TcpStream>| {
        let start = FrameStart {
            frame_id: 1,
            width: width as u16,
            height: height as u16,
            rounds: 8,
            colours: 2,
            pixel: PixelType::U16,
            has_truth: false,
            stats: heapless::Vec::from_slice(&stats).unwrap(),
        };
        host.send(&HostMessage::FrameStart(start)).unwrap();
        let mut data = Vec::new();
        for y in 0..8 {
            for image in 0..16 {
                for x in 0..width {
                    data.extend_from_slice(&images[(image * height + y) * width + x].to_le_bytes());
                }
            }
        }
        host.send(&HostMessage::RowBand(RowBand {
            frame_id: 1,
            first_row: 0,
            row_count: 8,
            data: &data,
        }))
        .unwrap();
        host.flush().unwrap();
    };
    let whole = Fov {
        height,
        width,
        rounds: 8,
        colours: 2,
        images: &images,
        truth: None,
        stats: None,
    };

    // The host dies mid-FOV: the next host is served and its FOV succeeds.
    let mut device = device_on_store(&store);
    let (mut host, _, _) = device.served_within(Duration::from_secs(10));
    half_fov(&mut host);
    drop(host);
    let (mut next, _, _) = device.served_within(Duration::from_secs(10));
    next.send_fov(2, &whole).unwrap();
    let answer = next.collect(2).unwrap();
    assert!(answer.error.is_none(), "{:?}", answer.error);
    let report = next.report().unwrap();
    assert_eq!((report.frames, report.failed_frames), (1, 1), "{report:?}");

    // The device dies mid-FOV: it comes back with its model.
    half_fov(&mut next);
    device.kill();
    let device = device_on_store(&store);
    let (mut after, ack, _) = device.served_within(Duration::from_secs(10));
    assert_eq!(ack.model.map(|m| m.hash), Some(model_hash(&model)));
    after.send_fov(3, &whole).unwrap();
    assert!(after.collect(3).unwrap().error.is_none());
}

#[test]
fn a_corrupt_store_starts_without_a_model_and_takes_a_flash() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("model.rfm");
    std::fs::write(&store, b"RFM? not a model, a disk fault").unwrap();
    let device = device_on_store(&store);
    let (mut host, ack, _) = device.served_within(Duration::from_secs(10));
    assert!(ack.model.is_none());
    let fault = ack
        .model_fault
        .expect("HelloAck says why there is no model");
    assert!(fault.contains("stored model"), "{fault}");
    let images = vec![100u16; 16 * 16 * 16];
    let fov = Fov {
        height: 16,
        width: 16,
        rounds: 8,
        colours: 2,
        images: &images,
        truth: None,
        stats: None,
    };
    host.send_fov(1, &fov).unwrap();
    let refused = host.collect(1).unwrap().error.expect("no model");
    assert_eq!(refused.kind, ErrorKind::NoModel);
    assert!(refused.message.contains("flash"), "{}", refused.message);
    let model = std::fs::read(shipped_model()).unwrap();
    host.flash(&model).unwrap();
    host.send_fov(2, &fov).unwrap();
    assert!(host.collect(2).unwrap().error.is_none());
    host.shutdown().unwrap();
    drop(host);
    // The flash replaced the corrupt store, and a restart serves it.
    drop(device);
    let device = device_on_store(&store);
    let (_, ack, _) = device.served_within(Duration::from_secs(10));
    assert_eq!(ack.model.map(|m| m.hash), Some(model_hash(&model)));
    assert!(ack.model_fault.is_none());
}
