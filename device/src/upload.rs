//! Flashing a model over the wire: the upload assembled chunk by chunk,
//! verified, prepared and stored atomically, or refused with the old model
//! kept.

use std::path::Path;

use robofish_shared::checksum::crc32;
use robofish_shared::kernels::KernelPath;
use robofish_shared::model::model_hash;
use robofish_shared::protocol::{ModelBegin, ModelChunk};

use crate::error::{Error, Result};
use crate::prepared::PreparedModel;

/// Largest model accepted over the wire. An upload is buffered in memory
/// until it is checked, so this bounds what one host can make the device
/// hold; the shipped models are under 1 MiB and a full-width int8 U-Net
/// a few MiB.
pub const MAX_MODEL_BYTES: u32 = 32 << 20;

/// A model upload in progress.
#[derive(Debug)]
pub(crate) struct Upload {
    expected_len: u32,
    hash: u64,
    bytes: Vec<u8>,
}

impl Upload {
    /// Starts the upload `begin` announces.
    pub fn begin(begin: &ModelBegin) -> Result<Upload> {
        if begin.total_len == 0 || begin.total_len > MAX_MODEL_BYTES {
            return Err(Error::ModelSize);
        }
        Ok(Upload {
            expected_len: begin.total_len,
            hash: begin.hash,
            bytes: Vec::with_capacity(begin.total_len as usize),
        })
    }

    /// Appends `chunk`, which must be intact and continue the upload.
    pub fn accept(&mut self, chunk: &ModelChunk<'_>) -> Result<()> {
        chunk.validate()?;
        if chunk.offset as usize != self.bytes.len()
            || self.bytes.len() + chunk.bytes.len() > self.expected_len as usize
        {
            return Err(Error::ChunkMisplaced);
        }
        self.bytes.extend_from_slice(chunk.bytes);
        Ok(())
    }

    /// Checks the upload against `crc` and its announcement, prepares the
    /// model and, with a `store`, writes it there; the model to run, or an
    /// error after which the old model stays.
    pub fn finish(
        self,
        crc: u32,
        kernels: KernelPath,
        store: Option<&Path>,
    ) -> Result<PreparedModel> {
        if self.bytes.len() != self.expected_len as usize {
            return Err(Error::UploadIncomplete);
        }
        if crc32(&self.bytes) != crc {
            return Err(Error::UploadChecksum);
        }
        if model_hash(&self.bytes) != self.hash {
            return Err(Error::UploadHash);
        }
        let model = PreparedModel::load(&self.bytes, kernels)
            .map_err(|e| Error::ModelRefused(Box::new(e)))?;
        if let Some(path) = store {
            store_atomically(path, &self.bytes).map_err(|e| Error::ModelNotStored(Box::new(e)))?;
        }
        Ok(model)
    }
}

/// Writes `bytes` to `path` via a temporary file and a rename, so a crash
/// or a full disk never leaves a half-written model behind.
pub fn store_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("rfm.tmp");
    let mut file = std::fs::File::create(&tmp)
        .map_err(Error::io(format!("cannot create {}", tmp.display())))?;
    let written = format!("cannot write {}", tmp.display());
    file.write_all(bytes).map_err(Error::io(written.clone()))?;
    file.sync_all().map_err(Error::io(written))?;
    std::fs::rename(&tmp, path).map_err(Error::io(format!(
        "cannot rename {} to {}",
        tmp.display(),
        path.display()
    )))
}
