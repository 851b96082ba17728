//! `Network::run_threaded` gives the bytes of `Network::run`, for every
//! kernel path, thread count (including more threads than some layers have
//! rows) and tile shape.

mod common;

use robofish_shared::engine::{InputImage, Network, Pixels};
use robofish_shared::model::ArchConfig;

fn outputs(
    network: &Network,
    height: usize,
    width: usize,
    tile: &[u16],
    threads: usize,
) -> (Vec<u8>, Vec<u8>) {
    let image = InputImage::planar(Pixels::U16(tile), 16, height, width).unwrap();
    let plan = network.plan(height, width).unwrap();
    let mut arena = vec![0u8; plan.arena_bytes()];
    let mut position = vec![0u8; height * width];
    let mut barcode = vec![0u8; 16 * height * width];
    let mut maps = [&mut position[..], &mut barcode[..]];
    if threads == 0 {
        network.run(&plan, &mut arena, &image, &mut maps).unwrap();
    } else {
        network
            .run_threaded(&plan, &mut arena, &image, &mut maps, threads)
            .unwrap();
    }
    (position, barcode)
}

#[test]
fn threaded_equals_single_threaded() {
    let (_, model) = common::quantised(&ArchConfig::seed(), 7, 1, 40);
    for path in common::paths::under_test("threaded_equals_single_threaded") {
        let network = Network::new(model.clone(), path).unwrap();
        // 16x16 at 5 threads: the deepest layers have fewer rows than
        // threads (empty bands).
        for &(height, width, threads) in &[(24, 36, &[1, 2, 3][..]), (16, 16, &[5][..])] {
            let tile = common::camera_tile(height, width, 3);
            let reference = outputs(&network, height, width, &tile, 0);
            for &threads in threads {
                let got = outputs(&network, height, width, &tile, threads);
                assert!(
                    got == reference,
                    "{path}, {height}x{width}, {threads} threads: differs from run"
                );
            }
        }
    }
}
