//! Planning: tile-size errors, arena sizes and tensor placement invariants.

mod common;

use robofish_shared::engine::{
    check_tile_size, EngineError, Extent, ImageError, InputImage, Network, Pixels, RowStreamer,
    CHANNEL_ALIGN, MAX_TILE_SIDE,
};
use robofish_shared::kernels::KernelPath;
use robofish_shared::model::{ArchConfig, ModelError, Node};

fn network() -> Network {
    let (_, model) = common::quantised(&ArchConfig::seed().scaled(0.25), 5, 1, 16);
    Network::new(model, KernelPath::Scalar).unwrap()
}

#[test]
fn tile_sizes_not_fitting_the_depth_are_refused() {
    let net = network();
    for (h, w) in [(42, 40), (40, 6), (4, 4), (0, 8)] {
        let err = net.plan(h, w).unwrap_err();
        assert!(
            matches!(
                err,
                EngineError::BadTileSize {
                    multiple: 4,
                    minimum: 8,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("multiples of 4"), "{err}");
    }
    assert!(net.plan(8, 8).is_ok());
    assert!(net.plan(40, 64).is_ok());
}

#[test]
fn one_tile_rule_bounds_only_what_is_held_whole() {
    let net = std::sync::Arc::new(network());
    let graph = &net.model().graph;
    let long = 2 * MAX_TILE_SIDE;
    let too_large = |e: EngineError| matches!(e, EngineError::TileTooLarge { .. });
    // A planned tile holds both sides whole.
    assert!(too_large(net.plan(long, 64).unwrap_err()));
    assert!(too_large(net.plan(64, long).unwrap_err()));
    // A streamed image holds rows, not its height; strips hold neither side.
    assert!(check_tile_size(graph, long, 64, Extent::Rows).is_ok());
    assert!(too_large(
        check_tile_size(graph, 64, long, Extent::Rows).unwrap_err()
    ));
    assert!(check_tile_size(graph, long, long, Extent::Strips).is_ok());
    // The divisibility rule holds everywhere, the streamer included.
    for extent in [Extent::Tile, Extent::Rows, Extent::Strips] {
        let err = check_tile_size(graph, long + 2, 64, extent).unwrap_err();
        assert!(matches!(err, EngineError::BadTileSize { .. }), "{err:?}");
    }
    assert!(RowStreamer::new(net.clone(), long + 2, 64).is_err());
    assert!(RowStreamer::new(net, 40, 64).is_ok());
}

#[test]
fn an_invalid_model_is_refused_with_its_reason() {
    let (_, mut model) = common::quantised(&ArchConfig::seed().scaled(0.25), 5, 1, 16);
    model.tensor_quant.pop();
    let err = Network::new(model, KernelPath::Scalar).unwrap_err();
    assert!(
        matches!(err, EngineError::InvalidModel(ModelError::Invalid(_))),
        "{err:?}"
    );
    assert!(err.to_string().contains("tensor grids for"), "{err}");
}

#[test]
fn live_tensors_never_overlap() {
    let net = network();
    let plan = net.plan(40, 56).unwrap();
    let graph = &net.model().graph;
    // Recompute lifetimes and check every pair of simultaneously live
    // tensors that are not views of one concat buffer is disjoint.
    let steps = graph.nodes.len();
    let mut first = vec![usize::MAX; graph.tensors.len()];
    let mut last = vec![0usize; graph.tensors.len()];
    for (s, node) in graph.nodes.iter().enumerate() {
        let out = node.output() as usize;
        first[out] = first[out].min(s);
        last[out] = last[out].max(s);
        node.for_each_input(|t| last[t as usize] = last[t as usize].max(s));
    }
    for o in &graph.outputs {
        last[o.tensor as usize] = steps;
    }
    // Concat membership: a tensor and its concat output share a buffer.
    let mut concat_of = vec![None; graph.tensors.len()];
    for node in &graph.nodes {
        if let Node::Concat(c) = node {
            for &t in &c.inputs {
                if plan.placement(t).in_concat {
                    concat_of[t as usize] = Some(c.output as usize);
                }
            }
        }
    }
    let root = |t: usize| concat_of[t].unwrap_or(t);
    let span = |t: usize| {
        let p = plan.placement(t as u16);
        (p.offset, p.offset + p.dims.span())
    };
    for a in 0..graph.tensors.len() {
        let pa = plan.placement(a as u16);
        assert_eq!(pa.dims.pixel_stride % CHANNEL_ALIGN, 0);
        assert!(span(a).1 <= plan.arena_bytes());
        for b in a + 1..graph.tensors.len() {
            if root(a) == root(b) {
                continue;
            }
            let overlap_in_time = first[a] <= last[b] && first[b] <= last[a];
            let (sa, ea) = span(a);
            let (sb, eb) = span(b);
            if overlap_in_time {
                assert!(
                    ea <= sb || eb <= sa,
                    "tensors {a} and {b} overlap while both alive"
                );
            }
        }
    }
    // Skips are aliased into their concat buffers (the concat is free).
    assert!(plan.placements().iter().any(|p| p.in_concat));
}

#[test]
fn run_rejects_mismatched_buffers() {
    let net = network();
    let plan = net.plan(16, 16).unwrap();
    let tile = common::camera_tile(16, 16, 2);
    let image = InputImage::planar(Pixels::U16(&tile), 16, 16, 16).unwrap();
    let mut small = vec![0u8; plan.arena_bytes() - 1];
    let mut pos = vec![0u8; 256];
    let mut bc = vec![0u8; 16 * 256];
    let err = net
        .run(&plan, &mut small, &image, &mut [&mut pos, &mut bc])
        .unwrap_err();
    assert!(matches!(err, EngineError::ArenaTooSmall { .. }));
    let mut arena = vec![0u8; plan.arena_bytes()];
    let mut short = vec![0u8; 255];
    let err = net
        .run(&plan, &mut arena, &image, &mut [&mut short, &mut bc])
        .unwrap_err();
    assert!(matches!(err, EngineError::BadOutputs { index: 0, .. }));
    let other = network();
    let err = other
        .run(&plan, &mut arena, &image, &mut [&mut pos, &mut bc])
        .unwrap_err();
    assert_eq!(err, EngineError::PlanMismatch);
    assert_eq!(
        InputImage::planar(Pixels::U16(&tile[..100]), 16, 16, 16).unwrap_err(),
        ImageError::BufferTooSmall {
            needed: 16 * 16 * 16,
            given: 100
        }
    );
}

#[test]
fn layouts_give_identical_results() {
    // Planar and row-interleaved inputs of the same pixels give the same maps.
    let net = network();
    let plan = net.plan(16, 24).unwrap();
    let planar = common::camera_tile(16, 24, 9);
    let mut rows = vec![0u16; planar.len()];
    for c in 0..16 {
        for y in 0..16 {
            for x in 0..24 {
                rows[y * 16 * 24 + c * 24 + x] = planar[c * 16 * 24 + y * 24 + x];
            }
        }
    }
    let mut results = Vec::new();
    for image in [
        InputImage::planar(Pixels::U16(&planar), 16, 16, 24).unwrap(),
        InputImage::row_interleaved(Pixels::U16(&rows), 16, 16, 24).unwrap(),
    ] {
        let mut arena = vec![0u8; plan.arena_bytes()];
        let mut pos = vec![0u8; 16 * 24];
        let mut bc = vec![0u8; 16 * 16 * 24];
        net.run(&plan, &mut arena, &image, &mut [&mut pos, &mut bc])
            .unwrap();
        results.push((pos, bc));
    }
    assert_eq!(results[0], results[1]);
}
