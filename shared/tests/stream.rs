//! Row streaming equals whole-image inference, bit for bit.

mod common;

use std::sync::Arc;

use common::camera_tile;
use robofish_shared::engine::{InputImage, Network, Pixels, RowStreamer};
use robofish_shared::image_stats::measure_all;
use robofish_shared::input_stage::InputStage;
use robofish_shared::kernels::KernelPath;
use robofish_shared::model::{ArchConfig, Model};
use robofish_shared::ptq::Observer;
use robofish_shared::synthetic::{random_quantised, random_quantised_with};

fn check(arch: &ArchConfig, h: usize, w: usize, test: &str) -> usize {
    let (_, model) = random_quantised(arch, 5, 1, 32);
    check_model(model, h, w, test)
}

/// [`check_path`] on every kernel path under test; returns the ring bytes.
fn check_model(model: Model, h: usize, w: usize, test: &str) -> usize {
    let mut bytes = None;
    for path in common::paths::under_test(test) {
        let ring = check_path(&model, path, h, w);
        // The rings' layout is the plan's, not the kernels'.
        assert_eq!(*bytes.get_or_insert(ring), ring, "{path}: ring bytes");
    }
    bytes.expect("at least the scalar path runs")
}

/// Streams `model` on `path` over a camera tile row by row and compares
/// every output row with the whole-image run; returns the ring bytes.
fn check_path(model: &Model, path: KernelPath, h: usize, w: usize) -> usize {
    let per_image = model.input_stage.kind() == InputStage::PerImage;
    let network = Arc::new(Network::new(model.clone(), path).unwrap());
    let tile = camera_tile(h, w, 11);
    let plan = network.plan(h, w).unwrap();
    let mut arena = vec![0u8; plan.arena_bytes()];
    let image = InputImage::planar(Pixels::U16(&tile), 16, h, w).unwrap();
    // The whole image's statistics, which every streamed row carries.
    let stats = measure_all(&image);
    let image = if per_image {
        image.with_stats(&stats).unwrap()
    } else {
        image
    };
    let mut pos = vec![0u8; h * w];
    let mut bits = vec![0u8; 16 * h * w];
    network
        .run(&plan, &mut arena, &image, &mut [&mut pos, &mut bits])
        .unwrap();

    let mut streamer = RowStreamer::new(network.clone(), h, w).unwrap();
    // The plan a device checks against --max-memory is what the streamer
    // then holds: its rings, plus one row of every output map (17 x w).
    assert_eq!(
        RowStreamer::planned_bytes(network.clone(), h, w).unwrap(),
        streamer.memory_bytes() + 17 * w,
        "{h}x{w}"
    );
    let mut seen = 0;
    for y in 0..h {
        let row = image.rows(y, 1).unwrap();
        streamer
            .push_row(&row, &mut |oy, maps| {
                assert_eq!(oy, seen, "rows come out in order");
                seen += 1;
                assert_eq!(
                    &maps[0][..],
                    &pos[oy * w..(oy + 1) * w],
                    "{path}: position row {oy}"
                );
                for b in 0..16 {
                    assert_eq!(
                        &maps[1][b * w..(b + 1) * w],
                        &bits[b * h * w + oy * w..][..w],
                        "{path}: bit {b} row {oy}"
                    );
                }
            })
            .unwrap();
    }
    assert_eq!(seen, h, "every row was emitted");
    streamer.memory_bytes()
}

#[test]
fn streaming_equals_whole_image() {
    let arch = ArchConfig::seed().scaled(0.125);
    let test = "streaming_equals_whole_image";
    check(&arch, 64, 96, test);
    check(&arch, 8, 8, test);
    // The wide case checks the rings' size, which is the plan's whatever
    // the path: the best path only (every path would cost minutes under qemu).
    let (_, model) = random_quantised(&arch, 5, 1, 32);
    let bytes = check_path(&model, KernelPath::from_env().unwrap(), 512, 512);
    println!("rings for 512 wide, width 1/8: {bytes} bytes");
}

#[test]
fn per_image_streaming_equals_whole_image() {
    let arch = ArchConfig::seed().scaled(0.125);
    let (_, model) = random_quantised_with(&arch, 6, 1, 32, Observer::MinMax, |float| {
        float.input_stage = InputStage::PerImage
    });
    assert!(matches!(
        model.input_stage,
        robofish_shared::model::Int8InputStage::PerImage { .. }
    ));
    let test = "per_image_streaming_equals_whole_image";
    check_model(model.clone(), 64, 96, test);
    check_model(model, 8, 8, test);
}

#[test]
fn per_image_models_refuse_images_without_statistics() {
    let arch = ArchConfig::seed().scaled(0.125);
    let (_, model) = random_quantised_with(&arch, 6, 1, 32, Observer::MinMax, |float| {
        float.input_stage = InputStage::PerImage
    });
    let network = Arc::new(Network::new(model, KernelPath::from_env().unwrap()).unwrap());
    let tile = camera_tile(8, 8, 1);
    let image = InputImage::planar(Pixels::U16(&tile), 16, 8, 8).unwrap();
    let plan = network.plan(8, 8).unwrap();
    let mut arena = vec![0u8; plan.arena_bytes()];
    let (mut pos, mut bits) = (vec![0u8; 64], vec![0u8; 16 * 64]);
    let error = network
        .run(&plan, &mut arena, &image, &mut [&mut pos, &mut bits])
        .unwrap_err();
    assert!(error.to_string().contains("statistics"), "{error}");
    let mut streamer = RowStreamer::new(network, 8, 8).unwrap();
    let error = streamer
        .push_row(&image.rows(0, 1).unwrap(), &mut |_, _| {})
        .unwrap_err();
    assert!(error.to_string().contains("statistics"), "{error}");
}
