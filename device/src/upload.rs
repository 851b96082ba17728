//! Flashing a model over the wire: the upload written chunk by chunk to a
//! temporary file beside the model store (or, without a store, gathered in
//! memory as it arrives), verified, prepared and moved into place
//! atomically, or refused with the old model kept.

use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use robofish_shared::checksum::Crc32;
use robofish_shared::kernels::KernelPath;
use robofish_shared::model::model_hash;
use robofish_shared::protocol::{ModelBegin, ModelChunk};

use crate::error::{Error, Result};
use crate::prepared::PreparedModel;

/// Largest model accepted over the wire (32 MiB). The shipped models are
/// under 1 MiB and a full-width int8 U-Net a few MiB. With a model store
/// an upload costs no memory until it is checked (it goes to disk as it
/// arrives); without one it is held in memory, growing chunk by chunk, so
/// a host's claim of a large model costs nothing it does not send.
pub const MAX_MODEL_BYTES: u32 = 32 << 20;

/// Where an upload's bytes go until it is checked.
#[derive(Debug)]
enum Sink {
    Memory(Vec<u8>),
    File { path: PathBuf, file: File },
}

/// A model upload in progress. Dropping it (the host left mid-upload)
/// removes its temporary file.
#[derive(Debug)]
pub(crate) struct Upload {
    expected_len: u32,
    hash: u64,
    received: u32,
    crc: Crc32,
    sink: Sink,
}

/// The temporary file an upload to `store` is written to.
pub fn upload_path(store: &Path) -> PathBuf {
    let mut name = OsString::from(store.as_os_str());
    name.push(".upload");
    PathBuf::from(name)
}

impl Upload {
    /// Starts the upload `begin` announces, written to `store`'s temporary
    /// file when there is a store.
    pub fn begin(begin: &ModelBegin, store: Option<&Path>) -> Result<Upload> {
        if begin.total_len == 0 || begin.total_len > MAX_MODEL_BYTES {
            return Err(Error::ModelSize);
        }
        let sink = match store {
            None => Sink::Memory(Vec::new()),
            Some(store) => {
                let path = upload_path(store);
                let file = File::create(&path).map_err(|e| {
                    Error::ModelNotStored(Box::new(Error::io(format!(
                        "cannot create {}",
                        path.display()
                    ))(e)))
                })?;
                Sink::File { path, file }
            }
        };
        Ok(Upload {
            expected_len: begin.total_len,
            hash: begin.hash,
            received: 0,
            crc: Crc32::new(),
            sink,
        })
    }

    /// Appends `chunk`, which must be intact and continue the upload.
    pub fn accept(&mut self, chunk: &ModelChunk<'_>) -> Result<()> {
        chunk.validate()?;
        let len = chunk.bytes.len() as u64;
        if chunk.offset != self.received
            || u64::from(self.received) + len > u64::from(self.expected_len)
        {
            return Err(Error::ChunkMisplaced);
        }
        match &mut self.sink {
            Sink::Memory(bytes) => bytes.extend_from_slice(chunk.bytes),
            Sink::File { path, file } => file.write_all(chunk.bytes).map_err(|e| {
                Error::ModelNotStored(Box::new(Error::io(format!(
                    "cannot write {}",
                    path.display()
                ))(e)))
            })?,
        }
        self.crc.update(chunk.bytes);
        // Bounded by `expected_len`, a u32, as checked above.
        self.received += len as u32;
        Ok(())
    }

    /// Checks the upload against `crc` and its announcement, prepares the
    /// model and, with a `store`, moves it there; the model to run, or an
    /// error after which the old model stays (and the temporary file is
    /// gone).
    pub fn finish(
        mut self,
        crc: u32,
        kernels: KernelPath,
        store: Option<&Path>,
    ) -> Result<PreparedModel> {
        if self.received != self.expected_len {
            return Err(Error::UploadIncomplete);
        }
        if self.crc.finalize() != crc {
            return Err(Error::UploadChecksum);
        }
        let stored = |e| Error::ModelNotStored(Box::new(e));
        let bytes = match &mut self.sink {
            Sink::Memory(bytes) => std::mem::take(bytes),
            Sink::File { path, file } => {
                let what = format!("cannot write {}", path.display());
                file.sync_all().map_err(|e| stored(Error::io(what)(e)))?;
                std::fs::read(&*path)
                    .map_err(|e| stored(Error::io(format!("cannot read {}", path.display()))(e)))?
            }
        };
        // What was written must still be what was received.
        if robofish_shared::checksum::crc32(&bytes) != crc {
            return Err(stored(Error::UploadChecksum));
        }
        if model_hash(&bytes) != self.hash {
            return Err(Error::UploadHash);
        }
        let model =
            PreparedModel::load(&bytes, kernels).map_err(|e| Error::ModelRefused(Box::new(e)))?;
        match (&self.sink, store) {
            (Sink::File { path, .. }, Some(store)) => {
                move_into_place(path, store).map_err(stored)?
            }
            (Sink::Memory(_), Some(store)) => store_atomically(store, &bytes).map_err(stored)?,
            (_, None) => {}
        }
        Ok(model)
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Sink::File { path, .. } = &self.sink {
            // Gone already once it was moved into place.
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Writes `bytes` to `path` via a temporary file, an fsync and a rename,
/// then fsyncs the folder, so a crash or a full disk never leaves a
/// half-written model behind and a finished store survives a power cut.
pub fn store_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = upload_path(path);
    let mut file =
        File::create(&tmp).map_err(Error::io(format!("cannot create {}", tmp.display())))?;
    let written = format!("cannot write {}", tmp.display());
    file.write_all(bytes).map_err(Error::io(written.clone()))?;
    file.sync_all().map_err(Error::io(written))?;
    drop(file);
    move_into_place(&tmp, path)
}

/// Renames the synced file `from` to `to` and fsyncs their folder, so the
/// rename itself is durable.
fn move_into_place(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(Error::io(format!(
        "cannot rename {} to {}",
        from.display(),
        to.display()
    )))?;
    let folder = match to.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // Directories open read-only on Unix; an fsync there makes the rename
    // durable. Elsewhere opening a directory fails and the rename stands.
    #[cfg(unix)]
    File::open(folder)
        .and_then(|dir| dir.sync_all())
        .map_err(Error::io(format!(
            "cannot sync folder {}",
            folder.display()
        )))?;
    #[cfg(not(unix))]
    let _ = folder;
    Ok(())
}

/// Removes an upload a killed device left half-written beside `store`;
/// `true` when there was one.
pub fn remove_stale_upload(store: &Path) -> bool {
    std::fs::remove_file(upload_path(store)).is_ok()
}
