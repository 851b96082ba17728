//! Helpers shared by the device's integration tests: a small random model
//! that stores the MHD4 codebook, a device configuration, and FOVs.
#![allow(dead_code)]

#[path = "../../../shared/tests/common/paths.rs"]
pub mod paths;
pub mod tcp;

use std::io::{Read, Write};

use robofish_device::client::{Client, Fov};
use robofish_device::DeviceConfig;
use robofish_shared::codebook::mhd4_words;
use robofish_shared::kernels::KernelPath;
use robofish_shared::model::{ArchConfig, CodebookEntry, Model};
use robofish_shared::protocol::{DeviceMessage, ErrorKind};
use robofish_shared::ptq::Observer;
use robofish_shared::synthetic::random_realistic;

/// A random eighth-width static model (`seed` picks its weights), heads
/// spread over the probability range as a trained network's are (so the
/// spot threshold decides something), storing the MHD4 codebook in word
/// order: `Gene000` .. `Gene129`, then the last 10 words as blanks.
pub fn model(seed: u64) -> Model {
    let (_, mut model) = random_realistic(
        &ArchConfig::seed().scaled(0.125),
        seed,
        1,
        32,
        Observer::MinMax,
    );
    model.metadata.codebook = Some(
        mhd4_words()
            .iter()
            .enumerate()
            .map(|(i, &word)| CodebookEntry {
                name: if i < 130 {
                    format!("Gene{i:03}")
                } else {
                    format!("Blank-{i}")
                },
                word,
            })
            .collect(),
    );
    model
}

/// `threads` strips, batches of 5 rows, no model store, the kernels of
/// `ROBOFISH_KERNELS` (or the best available).
pub fn config(threads: usize) -> DeviceConfig {
    DeviceConfig {
        threads,
        batch_rows: 5,
        model_store: None,
        kernels: KernelPath::from_env().unwrap(),
        ..DeviceConfig::default()
    }
}

/// A FOV of 8 rounds x 2 colours without truth, statistics measured by
/// the client.
pub fn fov(images: &[u16], height: usize, width: usize) -> Fov<'_> {
    Fov {
        height,
        width,
        rounds: 8,
        colours: 2,
        images,
        truth: None,
        stats: None,
    }
}

/// Sends `fov` as FOV `id` and returns the kinds of the errors the device
/// sends before that FOV's timing; every other message goes to `seen`.
pub fn errors_before_timing<R: Read, W: Write>(
    client: &mut Client<R, W>,
    id: u32,
    fov: &Fov<'_>,
    mut seen: impl FnMut(&DeviceMessage),
) -> Vec<ErrorKind> {
    client.send_fov(id, fov).unwrap();
    let mut kinds = Vec::new();
    loop {
        match client.recv().unwrap() {
            DeviceMessage::Error(e) => kinds.push(e.kind),
            DeviceMessage::FrameTiming(t) if t.frame_id == id => return kinds,
            other => seen(&other),
        }
    }
}
