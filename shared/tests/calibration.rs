//! Calibration spends a sigmoid's 256 pre-activation codes where its output
//! can still move.
use robofish_shared::engine::{InputImage, Pixels};
use robofish_shared::model::{ActivationKind, ArchConfig, Node};
use robofish_shared::ptq::{ActivationGrids, Calibrator, Observer, PtqError, SIGMOID_SATURATION};
use robofish_shared::synthetic::{camera_tile, random_quantised_with};

#[test]
fn sigmoid_logit_ranges_are_clipped_where_the_probability_saturates() {
    let size = 16;
    // Heads whose logits span about +-30, as a confident trained network's do.
    let (_, model) = random_quantised_with(
        &ArchConfig::seed().scaled(0.125),
        3,
        1,
        size,
        Observer::MinMax,
        |float| {
            let tile = camera_tile(size, size, 77);
            let image = InputImage::planar(Pixels::U16(&tile), 16, size, size).unwrap();
            let acts = float.forward(&image);
            for (step, node) in float.graph.nodes.iter_mut().enumerate() {
                if let Node::Conv(conv) = node {
                    if conv.activation == ActivationKind::Sigmoid {
                        let pre = acts.pre_activations[step].as_ref().unwrap();
                        let max = pre.iter().fold(0f32, |m, v| m.max(v.abs()));
                        let gain = 30.0 / max.max(1e-6);
                        conv.weights.iter_mut().for_each(|w| *w *= gain);
                        conv.bias.iter_mut().for_each(|b| *b *= gain);
                    }
                }
            }
        },
    );
    let mut heads = 0;
    for node in &model.graph.nodes {
        if let Node::Conv(conv) = node {
            if conv.activation == ActivationKind::Sigmoid {
                heads += 1;
                let grid = conv.pre_activation;
                let lo = grid.dequantise(-128);
                let hi = grid.dequantise(127);
                let step = grid.scale;
                assert!(lo >= -SIGMOID_SATURATION - step && hi <= SIGMOID_SATURATION + step);
                // Still covers most of the saturating range (not over-clipped).
                assert!(hi - lo >= SIGMOID_SATURATION - step, "{lo}..{hi}");
            }
        }
    }
    assert_eq!(heads, 2);
}

#[test]
fn quantiser_errors_are_typed() {
    let (float, model) =
        robofish_shared::synthetic::random_quantised(&ArchConfig::seed().scaled(0.125), 3, 1, 16);
    let calib = Calibrator::new(&float, Observer::MinMax);
    assert_eq!(
        ActivationGrids::calibrated(&float, &calib).unwrap_err(),
        PtqError::NoCalibrationTiles
    );
    let mut dynamic = model;
    dynamic.metadata.mode = robofish_shared::model::QuantMode::Dynamic;
    assert_eq!(
        ActivationGrids::of_model(&dynamic).unwrap_err(),
        PtqError::DynamicModel
    );
}
