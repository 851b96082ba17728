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
    /// Kernel path for the engine (default: `ROBOFISH_KERNELS`, else the
    /// best this CPU has).
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
            // The forced path of ROBOFISH_KERNELS when it names a usable
            // one (so `stream --device local` and the demo honour it like
            // everything else); the binaries refuse an unusable value
            // before they get here.
            kernels: KernelPath::from_env().unwrap_or_else(|_| KernelPath::detect()),
            auth: AuthConfig::default(),
            max_memory: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run by the suite both natively and with `ROBOFISH_KERNELS=scalar`:
    /// the default follows the variable whenever it is set.
    #[test]
    fn the_default_kernels_follow_robofish_kernels() {
        let expected = match std::env::var("ROBOFISH_KERNELS") {
            Ok(name) if !name.is_empty() => KernelPath::require(&name).unwrap(),
            _ => KernelPath::detect(),
        };
        assert_eq!(DeviceConfig::default().kernels, expected);
    }
}
