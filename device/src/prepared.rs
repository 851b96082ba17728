//! A model made ready to stream: its network, its identity for `HelloAck`,
//! its spot decoder and its stored codebook, all built once per load.

use std::sync::Arc;

use robofish_shared::engine::Network;
use robofish_shared::kernels::KernelPath;
use robofish_shared::model::{decode_model, model_hash, QuantMode};
use robofish_shared::protocol::ModelInfo;

use crate::codebook::ActiveCodebook;
use crate::error::{Error, Result};
use crate::spots::SpotDecoder;
use crate::system::bounded;

/// The model the device runs.
#[derive(Debug)]
pub struct PreparedModel {
    /// The engine's network, shared with the strip runners.
    pub network: Arc<Network>,
    /// Hash, name and arena size.
    pub info: ModelInfo,
    /// Where the model's spots and barcodes are.
    pub spots: SpotDecoder,
    /// The codebook stored in the model: the default when the host sends
    /// none. `None` when it stores none.
    pub codebook: Option<Arc<ActiveCodebook>>,
}

impl PreparedModel {
    /// Decodes, checks and prepares a model file's bytes.
    pub fn load(bytes: &[u8], kernels: KernelPath) -> Result<PreparedModel> {
        let model = decode_model(bytes)?;
        if model.metadata.mode == QuantMode::Dynamic {
            return Err(Error::DynamicModel);
        }
        let name = bounded(&model.metadata.name);
        let network = Network::new(model, kernels)?;
        let spots = SpotDecoder::new(network.model())?;
        let stored = network
            .model()
            .metadata
            .codebook
            .as_deref()
            .unwrap_or_default();
        let codebook = ActiveCodebook::from_model(stored)?.map(Arc::new);
        let arena = network.plan(256, 256).map(|p| p.arena_bytes()).unwrap_or(0);
        Ok(PreparedModel {
            info: ModelInfo {
                hash: model_hash(bytes),
                name,
                arena_bytes: arena.min(u32::MAX as usize) as u32,
            },
            network: Arc::new(network),
            spots,
            codebook,
        })
    }

    /// Images per FOV the model takes.
    pub fn images(&self) -> usize {
        self.network.model().graph.input_channels as usize
    }
}
