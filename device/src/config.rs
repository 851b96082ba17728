//! How the device runs: threads, batching, the model store, the kernels.

use std::path::PathBuf;

use robofish_shared::kernels::KernelPath;

use crate::auth::AuthConfig;

/// How the device runs.
#[derive(Clone, Debug)]
pub struct DeviceConfig {
    /// Worker threads (one column strip each).
    pub threads: usize,
    /// Rows gathered before they are pushed through the strips (fewer
    /// thread hand-offs; latency of one batch).
    pub batch_rows: usize,
    /// Where flashed models are stored (written atomically); `None` keeps
    /// them in memory only.
    pub model_store: Option<PathBuf>,
    /// Kernel path for the engine.
    pub kernels: KernelPath,
    /// Who may flash, stop and stream.
    pub auth: AuthConfig,
    /// Most bytes one FOV may need (its plan's row rings, pending rows and
    /// truth); a larger FOV is refused before anything is allocated.
    /// `None`: no limit beyond the protocol's.
    pub max_memory: Option<u64>,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            batch_rows: 16,
            model_store: None,
            kernels: KernelPath::detect(),
            auth: AuthConfig::default(),
            max_memory: None,
        }
    }
}
