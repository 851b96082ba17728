//! `robofish flash`: put a model on a device.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use robofish_device::DeviceConfig;
use robofish_host::link::{Link, LinkArgs};

/// Upload a model to a device; it verifies (checksum, version, loads in the
/// engine), stores it atomically and keeps the old one if anything fails.
#[derive(Args, Debug)]
pub struct Cmd {
    /// Device: exec:COMMAND, tcp:HOST:PORT, serial:PATH[@BAUD] or local.
    #[arg(long)]
    pub device: String,
    /// Model file to flash.
    #[arg(long)]
    pub model: PathBuf,
    #[command(flatten)]
    pub link: LinkArgs,
}

impl Cmd {
    pub fn run(self) -> Result<()> {
        let bytes = std::fs::read(&self.model)
            .with_context(|| format!("cannot read {}", self.model.display()))?;
        robofish_shared::model::decode_model(&bytes).with_context(|| {
            format!(
                "{} is not a usable model; nothing was sent",
                self.model.display()
            )
        })?;
        let mut link = Link::open(&self.device, DeviceConfig::default(), &self.link.options()?)?;
        let ack = link.ack.clone();
        let info = link
            .client
            .flash(&bytes)
            .with_context(|| format!("flashing {} to {}", self.model.display(), self.device))?;
        writeln!(
            io::stdout(),
            "flashed {} to {}: model '{}' hash {:016x}, arena {} bytes at 256x256 (kernels {}, previous model {})",
            self.model.display(),
            self.device,
            info.name,
            info.hash,
            info.arena_bytes,
            ack.kernel_path,
            ack.model.map_or("none".to_string(), |m| format!("{:016x}", m.hash))
        )?;
        link.close()
    }
}
