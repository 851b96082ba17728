//! The input nodes: raw counts onto the input grid, as the model's input
//! stage says (fixed normalisation, or each image's own statistics).

use alloc::vec::Vec;
use core::ops::Range;

use super::EngineError;
use crate::image::InputImage;
use crate::kernels::{scalar, Dims};
use crate::model::{InputNode, Int8InputStage, Model};
use crate::quant::InputQuant;

/// A per-image model refuses images without statistics: it cannot guess
/// them from a band of rows, and guessing from a tile would make a tile's
/// answer differ from the FOV's.
pub(crate) fn check_stats(model: &Model, image: &InputImage<'_>) -> Result<(), EngineError> {
    match (&model.input_stage, image.stats()) {
        (Int8InputStage::PerImage { .. }, None) => Err(EngineError::BadInput(
            "a per-image model needs each image's statistics (InputImage::with_stats)",
        )),
        _ => Ok(()),
    }
}

/// Rows `rows` of input node `input` into `output` (`dims`, rows relative to
/// `rows.start`).
pub(crate) fn quantise_rows(
    model: &Model,
    input: &InputNode<Vec<InputQuant>>,
    image: &InputImage<'_>,
    output: &mut [i8],
    dims: Dims,
    rows: Range<usize>,
) -> Result<(), EngineError> {
    let first = input.first_channel as usize;
    let zero_point = model.tensor_quant[input.output as usize].zero_point;
    match &model.input_stage {
        Int8InputStage::Fixed => {
            scalar::quantise_input(image, first, &input.quant, zero_point, output, dims, rows);
            Ok(())
        }
        Int8InputStage::PerImage { table } => {
            let stats = image.stats().ok_or(EngineError::BadInput(
                "a per-image model needs each image's statistics (InputImage::with_stats)",
            ))?;
            scalar::quantise_input_per_image(image, first, stats, table, output, dims, rows)
                .map_err(|_| EngineError::BadInput("image statistics out of range"))
        }
    }
}
