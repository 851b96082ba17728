//! A soak of 1,000 FOVs through the library's serve loop over TCP loses
//! nothing and keeps memory flat. Alone in its test binary: it reads this
//! process's resident memory, which tests running beside it would move.
//! (The 10,000-FOV soak of the real binary is in `limits.rs`; it measures
//! the device process.)

mod common;

use std::io::{BufReader, BufWriter};
use std::net::{TcpListener, TcpStream};

use common::config;
use robofish_device::client::{Client, Fov};
use robofish_device::{serve, Device, ServeOutcome};
use robofish_shared::model::encode_model;
use robofish_shared::synthetic::camera_tile;

/// Longest wait for the device's answer before the test fails.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

fn resident_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

#[test]
fn soak_1000_fovs_over_tcp_loses_none_and_memory_stays_flat() {
    let bytes = encode_model(&common::model(21)).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let mut device = Device::new(config(2));
        device.load_model(&bytes).unwrap();
        let (stream, _) = listener.accept().unwrap();
        stream.set_nodelay(true).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = BufWriter::new(stream);
        serve(&mut device, &mut reader, &mut writer).unwrap()
    });
    let stream = TcpStream::connect(addr).unwrap();
    // Without it every FOV waits out Nagle's delayed-ACK stall (~40 ms).
    stream.set_nodelay(true).unwrap();
    // A device regression fails the test instead of hanging CI.
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut client = Client::new(
        BufReader::new(stream.try_clone().unwrap()),
        BufWriter::new(stream),
    );
    client.hello().unwrap();
    let tiles: Vec<Vec<u16>> = (0..8).map(|i| camera_tile(16, 16, 500 + i)).collect();
    let mut rss_after_warmup = 0;
    for id in 0..1000u32 {
        let tile = &tiles[id as usize % tiles.len()];
        client
            .send_fov(
                id,
                &Fov {
                    height: 16,
                    width: 16,
                    rounds: 8,
                    colours: 2,
                    images: tile,
                    truth: None,
                    stats: None,
                },
            )
            .unwrap();
        let result = client.collect(id).unwrap();
        assert!(
            result.error.is_none() && result.timing.is_some(),
            "frame {id}: {:?}",
            result.error
        );
        if id == 200 {
            rss_after_warmup = resident_kb();
        }
    }
    let report = client.report().unwrap();
    assert_eq!((report.frames, report.failed_frames), (1000, 0));
    let growth = resident_kb().saturating_sub(rss_after_warmup);
    assert!(
        growth < 4 * 1024,
        "resident memory grew by {growth} KiB over 800 FOVs"
    );
    client.shutdown().unwrap();
    assert_eq!(server.join().unwrap(), ServeOutcome::Shutdown);
}
