//! Row streaming equals whole-image inference, bit for bit.

use std::sync::Arc;

use robofish_shared::engine::{InputImage, Network, Pixels, RowStreamer};
use robofish_shared::kernels::KernelPath;
use robofish_shared::model::ArchConfig;
use robofish_shared::synthetic::{camera_tile, random_quantised};

fn check(arch: &ArchConfig, h: usize, w: usize) -> usize {
    let (_, model) = random_quantised(arch, 5, 1, 32);
    let network = Arc::new(Network::new(model, KernelPath::from_env().unwrap()).unwrap());
    let tile = camera_tile(h, w, 11);
    let plan = network.plan(h, w).unwrap();
    let mut arena = vec![0u8; plan.arena_bytes()];
    let image = InputImage::planar(Pixels::U16(&tile), 16, h, w).unwrap();
    let mut pos = vec![0u8; h * w];
    let mut bits = vec![0u8; 16 * h * w];
    network
        .run(&plan, &mut arena, &image, &mut [&mut pos, &mut bits])
        .unwrap();

    let mut streamer = RowStreamer::new(network.clone(), h, w).unwrap();
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
                    "position row {oy}"
                );
                for b in 0..16 {
                    assert_eq!(
                        &maps[1][b * w..(b + 1) * w],
                        &bits[b * h * w + oy * w..][..w],
                        "bit {b} row {oy}"
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
    check(&arch, 64, 96);
    check(&arch, 8, 8);
    let bytes = check(&arch, 512, 512);
    println!("rings for 512 wide, width 1/8: {bytes} bytes");
}
