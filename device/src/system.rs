//! What the device says about itself in `HelloAck`: protocol version,
//! kernel path, model, threads and free memory.

use heapless::String as HString;
use robofish_shared::protocol::{
    Challenge, HelloAck, ModelInfo, MAX_ROW_BAND_BYTES, PROTOCOL_VERSION,
};

use crate::config::DeviceConfig;

/// The device's answer to `Hello`.
pub fn hello_ack(
    config: &DeviceConfig,
    model: Option<&ModelInfo>,
    challenge: Challenge,
    model_fault: Option<&str>,
) -> HelloAck {
    HelloAck {
        version: PROTOCOL_VERSION,
        kernel_path: bounded(config.kernels.name()),
        model: model.cloned(),
        threads: config.threads.min(u16::MAX as usize) as u16,
        free_memory: free_memory(),
        max_row_band_bytes: MAX_ROW_BAND_BYTES as u32,
        access: config.auth.access(),
        challenge,
        model_fault: model_fault.map(bounded),
    }
}

/// Available memory from /proc/meminfo (0 when unknown).
pub fn free_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("MemAvailable:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// `text` cut, at a character boundary, to what a wire string holds.
pub(crate) fn bounded<const N: usize>(text: &str) -> HString<N> {
    let mut s = HString::new();
    for c in text.chars() {
        if s.push(c).is_err() {
            break;
        }
    }
    s
}
