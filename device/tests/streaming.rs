//! The device runtime end to end: band streaming equals whole-image
//! inference and every fault gets an explicit error without losing later
//! FOVs (the in-process soak is `soak.rs`, alone in its binary).

mod common;

use std::io::{BufReader, BufWriter, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use common::config;
use robofish_device::client::{spawn_local, Client, Fov};
use robofish_device::tiling::StripRunner;
use robofish_device::{serve, Device, ServeOutcome};
use robofish_shared::engine::{InputImage, Network, Pixels};
use robofish_shared::kernels::KernelPath;
use robofish_shared::model::{encode_model, Model};
use robofish_shared::post::peaks::find_spots;
use robofish_shared::post::SPOT_THRESHOLD;
use robofish_shared::protocol::{
    encode_frame, ErrorKind, FrameEnd, FrameStart, Hello, HostMessage, PixelType, RowBand,
    TruthSpot, PROTOCOL_VERSION,
};
use robofish_shared::synthetic::camera_tile;

/// Longest wait for the device's answer before the test fails.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The model these tests stream through.
fn model() -> Model {
    common::model(21)
}

fn whole_image(network: &Network, tile: &[u16], h: usize, w: usize) -> Vec<Vec<u8>> {
    let plan = network.plan(h, w).unwrap();
    let mut arena = vec![0u8; plan.arena_bytes()];
    let image = InputImage::planar(Pixels::U16(tile), 16, h, w).unwrap();
    let mut pos = vec![0u8; h * w];
    let mut bits = vec![0u8; 16 * h * w];
    network
        .run(&plan, &mut arena, &image, &mut [&mut pos, &mut bits])
        .unwrap();
    vec![pos, bits]
}

fn row_interleaved(tile: &[u16], h: usize, w: usize) -> Vec<u16> {
    let mut rows = vec![0u16; tile.len()];
    for c in 0..16 {
        for y in 0..h {
            rows[y * 16 * w + c * w..][..w].copy_from_slice(&tile[c * h * w + y * w..][..w]);
        }
    }
    rows
}

#[test]
fn strip_streamed_output_equals_whole_fov_512() {
    let (h, w) = (512, 512);
    let tile = camera_tile(h, w, 77);
    let rows = row_interleaved(&tile, h, w);
    for path in common::paths::under_test("strip_streamed_output_equals_whole_fov_512") {
        let network = Arc::new(Network::new(model(), path).unwrap());
        let whole = whole_image(&network, &tile, h, w);
        // Three strips: two inner seams, each covered by the 67-pixel halo.
        let mut runner = StripRunner::new(network.clone(), h, w, 3).unwrap();
        assert_eq!(runner.strips(), 3);
        let mut next = 0;
        for chunk in rows.chunks(13 * 16 * w) {
            for out in runner.push_rows(chunk).unwrap() {
                assert_eq!(out.y, next, "{path}: rows come out in order");
                next += 1;
                for (map, full) in out.maps.iter().zip(&whole) {
                    let channels = full.len() / (h * w);
                    for c in 0..channels {
                        assert_eq!(
                            &map[c * w..(c + 1) * w],
                            &full[c * h * w + out.y * w..][..w],
                            "{path}: channel {c}, row {}",
                            out.y
                        );
                    }
                }
            }
        }
        assert_eq!(next, h, "{path}: every row came out");
        // The strips hold row rings, not the FOV.
        assert!(
            runner.memory_bytes() < h * w * 16 * 2,
            "{} bytes of rings",
            runner.memory_bytes()
        );
    }
}

fn fov_truth(seed: u64) -> Vec<TruthSpot> {
    (0..5)
        .map(|i| TruthSpot {
            y: 3.0 + i as f32 * 5.0 + (seed % 3) as f32,
            x: 7.0 + i as f32 * 4.0,
            gene: Some(i),
        })
        .collect()
}

fn expected_peaks(network: &Network, tile: &[u16], h: usize, w: usize) -> Vec<(u16, u16)> {
    let maps = whole_image(network, tile, h, w);
    let mut peaks = Vec::new();
    find_spots(&maps[0], h, w, SPOT_THRESHOLD, |p| {
        peaks.push((p.row, p.col))
    })
    .unwrap();
    peaks
}

#[test]
fn streamed_spots_equal_whole_image_peaks_and_flash_works() {
    let model = model();
    let bytes = encode_model(&model).unwrap();
    let network = Network::new(model, KernelPath::from_env().unwrap()).unwrap();
    let (mut client, handle) = spawn_local(Device::new(config(2))).unwrap();
    let ack = client.hello().unwrap();
    assert!(ack.model.is_none());
    // A FOV before any model: explicit NoModel error.
    let tile = camera_tile(64, 96, 1);
    let fov = Fov {
        height: 64,
        width: 96,
        rounds: 8,
        colours: 2,
        images: &tile,
        truth: None,
        stats: None,
    };
    client.send_fov(1, &fov).unwrap();
    assert_eq!(
        client.collect(1).unwrap().error.unwrap().kind,
        ErrorKind::NoModel
    );
    let info = client.flash(&bytes).unwrap();
    assert_eq!(info.hash, robofish_shared::model::model_hash(&bytes));
    for (id, (h, w)) in [(2u32, (64usize, 96usize)), (3, (200, 128)), (4, (40, 40))] {
        let tile = camera_tile(h, w, id as u64);
        let truth = fov_truth(id as u64);
        let fov = Fov {
            height: h,
            width: w,
            rounds: 8,
            colours: 2,
            images: &tile,
            truth: Some(&truth),
            stats: None,
        };
        client.send_fov(id, &fov).unwrap();
        let result = client.collect(id).unwrap();
        assert!(result.error.is_none(), "{:?}", result.error);
        let mut got: Vec<(u16, u16)> = result.spots.iter().map(|s| (s.row, s.col)).collect();
        got.sort_unstable();
        let mut want = expected_peaks(&network, &tile, h, w);
        want.sort_unstable();
        // A realistic model: some pixels are spots, most are not (a model
        // whose every pixel clears the threshold would find ~a fifth of
        // them as peaks, and the threshold would decide nothing).
        println!("frame {id}: {} peaks in {h}x{w}", want.len());
        assert!(
            !want.is_empty() && want.len() * 20 < h * w,
            "frame {id}: {} peaks in {h}x{w}",
            want.len()
        );
        assert_eq!(got, want, "frame {id}");
        let metrics = result.metrics.unwrap();
        assert_eq!(metrics.truth_spots, 5);
        assert_eq!(metrics.called_spots, want.len() as u64);
        assert!(result.timing.is_some());
    }
    let report = client.report().unwrap();
    assert_eq!((report.frames, report.failed_frames), (3, 1));
    client.shutdown().unwrap();
    assert_eq!(handle.join().unwrap().unwrap(), ServeOutcome::Shutdown);
}

/// The start of a 16-row U16 FOV without truth.
fn frame_start(frame_id: u32, width: u16) -> FrameStart {
    FrameStart {
        frame_id,
        width,
        height: 16,
        rounds: 8,
        colours: 2,
        pixel: PixelType::U16,
        has_truth: false,
        stats: heapless::Vec::new(),
    }
}

/// One frame's raw messages: `start`, a band `(first row, rows, bytes)` if
/// given, and an end with `checksum`.
fn frame<'a>(
    start: FrameStart,
    band: Option<(u16, u16, &'a [u8])>,
    checksum: u32,
) -> Vec<HostMessage<'a>> {
    let frame_id = start.frame_id;
    let mut messages = vec![HostMessage::FrameStart(start)];
    if let Some((first_row, row_count, data)) = band {
        messages.push(HostMessage::RowBand(RowBand {
            frame_id,
            first_row,
            row_count,
            data,
        }));
    }
    messages.push(HostMessage::FrameEnd(FrameEnd { frame_id, checksum }));
    messages
}

/// Sends raw bytes, then a good FOV, and returns the error kinds seen before
/// the good FOV's timing.
fn fault_then_good<R: std::io::Read, W: Write>(
    client: &mut Client<R, W>,
    raw: &[HostMessage<'_>],
    id: u32,
) -> Vec<ErrorKind> {
    for message in raw {
        client.send(message).unwrap();
    }
    client.flush().unwrap();
    let tile = camera_tile(16, 16, id as u64);
    common::errors_before_timing(client, id, &common::fov(&tile, 16, 16), |_| {})
}

#[test]
fn every_fault_gets_an_error_and_the_next_fov_still_works() {
    let bytes = encode_model(&model()).unwrap();
    let mut device = Device::new(config(1));
    device.load_model(&bytes).unwrap();
    let (mut client, handle) = spawn_local(device).unwrap();
    client.hello().unwrap();
    let row = vec![0u8; 16 * 16 * 2];
    let full = vec![0u8; 16 * 16 * 16 * 2];
    // (fault, frame start, band as (first row, rows, bytes), checksum)
    let faults = [
        // Wrong dimensions (not a multiple of 4).
        (
            ErrorKind::WrongDimensions,
            frame(frame_start(10, 18), None, 0),
        ),
        // Truncated FOV: FrameEnd before all rows.
        (
            ErrorKind::Truncated,
            frame(frame_start(12, 16), Some((0, 1, &row)), 0),
        ),
        (
            ErrorKind::BadChecksum,
            frame(frame_start(14, 16), Some((0, 16, &full)), 1),
        ),
    ];
    for (id, (fault, messages)) in (10..).step_by(2).zip(faults) {
        let kinds = fault_then_good(&mut client, &messages, id + 1);
        assert_eq!(kinds, vec![fault], "frame {id}");
    }
    // Band with the wrong size.
    let kinds = fault_then_good(
        &mut client,
        &frame(frame_start(16, 16), Some((0, 2, &row)), 0),
        17,
    );
    // Two rows announced, one row's bytes sent: the band is inconsistent
    // with the FOV's dimensions.
    assert_eq!(kinds, vec![ErrorKind::WrongDimensions]);
    // Unknown version in Hello.
    let mut client_name = heapless::String::new();
    let _ = client_name.push_str("old host");
    let kinds = fault_then_good(
        &mut client,
        &[HostMessage::Hello(Hello {
            version: PROTOCOL_VERSION + 1,
            client: client_name,
        })],
        18,
    );
    assert_eq!(kinds, vec![ErrorKind::UnknownVersion]);
    // Model upload whose hash does not match: old model kept.
    let bytes_ok = bytes.clone();
    client
        .send(&HostMessage::ModelBegin(
            robofish_shared::protocol::ModelBegin {
                total_len: bytes_ok.len() as u32,
                hash: 1,
            },
        ))
        .unwrap();
    for (i, chunk) in bytes_ok
        .chunks(robofish_shared::protocol::MAX_MODEL_CHUNK_BYTES)
        .enumerate()
    {
        client
            .send(&HostMessage::ModelChunk(
                robofish_shared::protocol::ModelChunk {
                    offset: (i * robofish_shared::protocol::MAX_MODEL_CHUNK_BYTES) as u32,
                    bytes: chunk,
                    crc32: robofish_shared::checksum::crc32(chunk),
                },
            ))
            .unwrap();
    }
    let kinds = fault_then_good(
        &mut client,
        &[HostMessage::ModelEnd(robofish_shared::protocol::ModelEnd {
            crc32: robofish_shared::checksum::crc32(&bytes_ok),
        })],
        19,
    );
    assert_eq!(kinds, vec![ErrorKind::ModelHashMismatch]);
    client.shutdown().unwrap();
    handle.join().unwrap().unwrap();
}

#[test]
fn a_failed_fov_left_open_gets_exactly_one_error() {
    let bytes = encode_model(&model()).unwrap();
    let mut device = Device::new(config(1));
    device.load_model(&bytes).unwrap();
    let (mut client, handle) = spawn_local(device).unwrap();
    client.hello().unwrap();
    let full = vec![0u8; 16 * 16 * 16 * 2];
    let band = |frame_id, row_count: u16, data| {
        HostMessage::RowBand(RowBand {
            frame_id,
            first_row: 0,
            row_count,
            data,
        })
    };
    // FOV 40 fails on its first band (wrong size), more of its bands come
    // and then a new FrameStart leaves it open for good; FOV 41's start is
    // refused outright (width 0) and its band and FrameEnd follow anyway.
    let raw = [
        HostMessage::FrameStart(frame_start(40, 16)),
        band(40, 16, &full[..64]),
        band(40, 16, &full),
        HostMessage::FrameStart(frame_start(41, 0)),
        band(41, 16, &full),
        HostMessage::FrameEnd(FrameEnd {
            frame_id: 41,
            checksum: 0,
        }),
    ];
    let kinds = fault_then_good(&mut client, &raw, 42);
    assert_eq!(
        kinds,
        vec![ErrorKind::WrongDimensions, ErrorKind::WrongDimensions],
        "one error per failed FOV"
    );
    // A healthy FOV left open by the next FrameStart is reported once.
    let half = &full[..full.len() / 2];
    let raw = [
        HostMessage::FrameStart(frame_start(43, 16)),
        band(43, 8, half),
    ];
    let kinds = fault_then_good(&mut client, &raw, 44);
    assert_eq!(kinds, vec![ErrorKind::Truncated]);
    let report = client.report().unwrap();
    assert_eq!((report.frames, report.failed_frames), (2, 3));
    client.shutdown().unwrap();
    handle.join().unwrap().unwrap();
}

#[test]
fn malformed_and_oversized_frames_over_a_socket_cost_no_later_fov() {
    let bytes = encode_model(&model()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let mut device = Device::new(config(1));
        device.load_model(&bytes).unwrap();
        let mut outcomes = Vec::new();
        for stream in listener.incoming().take(2) {
            let stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut writer = BufWriter::new(stream);
            outcomes.push(serve(&mut device, &mut reader, &mut writer).unwrap());
        }
        outcomes
    });
    // Connection 1: garbage, an oversized frame, then disconnect mid-FOV.
    {
        let stream = TcpStream::connect(addr).unwrap();
        // A device regression fails the test instead of hanging CI.
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut raw = stream.try_clone().unwrap();
        let mut client = Client::new(
            BufReader::new(stream.try_clone().unwrap()),
            BufWriter::new(stream),
        );
        client.hello().unwrap();
        raw.write_all(&[0, 1, 2, 3, 4, 5, 0]).unwrap();
        let oversized = vec![7u8; 200_000];
        raw.write_all(&oversized).unwrap();
        raw.write_all(&[0]).unwrap();
        let tile = camera_tile(16, 16, 3);
        client
            .send_fov(
                30,
                &Fov {
                    height: 16,
                    width: 16,
                    rounds: 8,
                    colours: 2,
                    images: &tile,
                    truth: None,
                    stats: None,
                },
            )
            .unwrap();
        let mut kinds = Vec::new();
        loop {
            match client.recv().unwrap() {
                robofish_shared::protocol::DeviceMessage::Error(e) => kinds.push(e.kind),
                robofish_shared::protocol::DeviceMessage::FrameTiming(t) => {
                    assert_eq!(t.frame_id, 30);
                    break;
                }
                _ => {}
            }
        }
        // The garbage is reported as malformed or truncated (it ends inside
        // a COBS block), the 200 kB run as oversized; the FOV still arrives.
        assert_eq!(kinds.len(), 2, "{kinds:?}");
        assert!(
            matches!(kinds[0], ErrorKind::Malformed | ErrorKind::Truncated),
            "{kinds:?}"
        );
        assert_eq!(kinds[1], ErrorKind::Oversized);
        // Disconnect in the middle of a FOV.
        let mut out = vec![0u8; 1024];
        let start = FrameStart {
            frame_id: 31,
            width: 16,
            height: 16,
            rounds: 8,
            colours: 2,
            pixel: PixelType::U16,
            has_truth: false,
            stats: heapless::Vec::new(),
        };
        raw.write_all(encode_frame(&HostMessage::FrameStart(start), &mut out).unwrap())
            .unwrap();
    }
    // Connection 2: the device serves the next host normally.
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut client = Client::new(
        BufReader::new(stream.try_clone().unwrap()),
        BufWriter::new(stream),
    );
    client.hello().unwrap();
    let tile = camera_tile(16, 16, 4);
    client
        .send_fov(
            32,
            &Fov {
                height: 16,
                width: 16,
                rounds: 8,
                colours: 2,
                images: &tile,
                truth: None,
                stats: None,
            },
        )
        .unwrap();
    assert!(client.collect(32).unwrap().error.is_none());
    client.shutdown().unwrap();
    assert_eq!(
        server.join().unwrap(),
        vec![ServeOutcome::Disconnected, ServeOutcome::Shutdown]
    );
}

#[test]
fn flashing_stores_atomically_and_keeps_the_old_model_on_failure() {
    let dir = std::env::temp_dir().join(format!("robofish-flash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = dir.join("model.rfm");
    let good = encode_model(&model()).unwrap();
    let mut cfg = config(1);
    cfg.model_store = Some(store.clone());
    let (mut client, handle) = spawn_local(Device::new(cfg)).unwrap();
    client.hello().unwrap();
    let info = client.flash(&good).unwrap();
    assert_eq!(
        std::fs::read(&store).unwrap(),
        good,
        "stored file is the uploaded model"
    );
    // A corrupt model (valid transfer, invalid content) is refused; the old one stays.
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x55;
    let err = client.flash(&bad).unwrap_err().to_string();
    assert!(err.contains("old model kept"), "{err}");
    assert_eq!(std::fs::read(&store).unwrap(), good);
    assert!(
        !dir.join("model.rfm.tmp").exists(),
        "no temporary file left behind"
    );
    assert_eq!(client.hello().unwrap().model.unwrap().hash, info.hash);
    client.shutdown().unwrap();
    handle.join().unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
