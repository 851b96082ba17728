//! A job's bytes and a result's meaning, in the ordinary wire protocol:
//! the job is what `robofish run` would send a TCP device for one FOV (the
//! experiment's codebook, then each z plane as `FrameStart`, row bands,
//! `FrameEnd`), written by the same [`Client`]; the result is read back
//! with the same client, as if the device had answered over a socket.

use std::io::{Cursor, Empty, Sink};

use anyhow::{bail, Context, Result};
use robofish_device::client::{Client, FovResult};
use robofish_shared::fleet::MAX_CHUNK_BYTES;

use crate::sim::{Codebook, Tile};

/// A FOV's job: its protocol frames and the codebook checksum its result
/// must acknowledge.
pub struct JobBytes {
    /// COBS frames, ready to be cut into chunks.
    pub bytes: Vec<u8>,
    /// What the board's `CodebookAccepted` must report.
    pub codebook_checksum: u32,
}

/// The frames of one FOV: `tiles` are its z planes, in order (frame ids
/// 0, 1, ... within the job).
pub fn job_bytes(codebook: &Codebook, tiles: &[Tile]) -> Result<JobBytes> {
    let mut client: Client<Empty, Vec<u8>> = Client::new(std::io::empty(), Vec::new());
    let codebook_checksum = client
        .write_codebook(codebook)
        .context("encoding the codebook")?;
    for (frame_id, tile) in tiles.iter().enumerate() {
        let fov = crate::streaming::tile_fov(tile);
        client
            .send_fov(frame_id as u32, &fov)
            .with_context(|| format!("encoding z plane {frame_id}"))?;
    }
    let (_, bytes) = client.into_parts();
    Ok(JobBytes {
        bytes,
        codebook_checksum,
    })
}

/// `bytes` cut into chunks of at most [`MAX_CHUNK_BYTES`] (one empty chunk
/// for no bytes).
pub fn chunks(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let count = bytes.len().div_ceil(MAX_CHUNK_BYTES).max(1);
    (0..count).map(move |i| {
        let start = (i * MAX_CHUNK_BYTES).min(bytes.len());
        &bytes[start..(start + MAX_CHUNK_BYTES).min(bytes.len())]
    })
}

/// Reads a board's answer to a job of `planes` z planes whose codebook
/// checksum was `codebook_checksum`: one result per plane (each with its
/// spots and timing, or the device's error).
pub fn read_result(
    answer: Vec<u8>,
    codebook_checksum: u32,
    planes: usize,
) -> Result<Vec<FovResult>> {
    let mut client: Client<Cursor<Vec<u8>>, Sink> =
        Client::new(Cursor::new(answer), std::io::sink());
    let info = client
        .codebook_answer()
        .context("the board did not accept the codebook")?;
    if info.checksum != codebook_checksum {
        bail!(
            "the board holds another codebook (checksum {:#010x}, sent {codebook_checksum:#010x})",
            info.checksum
        );
    }
    (0..planes)
        .map(|plane| {
            client
                .collect(plane as u32)
                .with_context(|| format!("reading z plane {plane}'s result"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{preset, Simulator, Split};
    use robofish_device::{serve, Device, DeviceConfig};

    /// A job served by an in-process device reads back as one result per
    /// plane, and a cut answer is an error, not a panic.
    #[test]
    fn a_job_served_by_a_device_reads_back() {
        let mut config = preset("seed").unwrap();
        config.height = 24;
        config.width = 24;
        let codebook = Codebook::mhd4(config.real_genes);
        let sim = Simulator::new(config, codebook.clone(), 3).unwrap();
        let tiles = [sim.tile(Split::Test, 0), sim.tile(Split::Test, 1)];
        let job = job_bytes(&codebook, &tiles).unwrap();
        assert_eq!(
            chunks(&job.bytes).map(<[u8]>::len).sum::<usize>(),
            job.bytes.len()
        );

        let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../models/anglerfish-static.rfm");
        let mut device = Device::new(DeviceConfig {
            threads: 1,
            ..DeviceConfig::default()
        });
        device.load_model(&std::fs::read(model).unwrap()).unwrap();
        let mut answer = Vec::new();
        serve(
            &mut device,
            &mut Cursor::new(job.bytes.clone()),
            &mut answer,
        )
        .unwrap();

        let results = read_result(answer.clone(), job.codebook_checksum, 2).unwrap();
        assert_eq!(results.len(), 2);
        assert!(results
            .iter()
            .all(|r| r.error.is_none() && r.timing.is_some()));
        assert!(read_result(answer.clone(), job.codebook_checksum ^ 1, 2).is_err());
        for cut in [0, 1, answer.len() / 2, answer.len() - 1] {
            assert!(read_result(answer[..cut].to_vec(), job.codebook_checksum, 2).is_err());
        }
    }
}
