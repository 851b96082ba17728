//! `robofish stop`: stop a device process (authenticated).

use std::io::{self, Write};

use anyhow::Result;
use clap::Args;
use robofish_device::DeviceConfig;
use robofish_host::link::{Link, LinkArgs};

/// Stop a device: a TCP device (which otherwise serves host after host
/// until it gets a signal) or a stdio/serial one. Only a device started
/// with --token-file can be stopped over the wire, and only by a host
/// holding that token (--token-file here).
#[derive(Args, Debug)]
pub struct Cmd {
    /// Device: tcp:HOST:PORT, exec:COMMAND or serial:PATH[@BAUD].
    #[arg(long)]
    pub device: String,
    #[command(flatten)]
    pub link: LinkArgs,
}

impl Cmd {
    pub fn run(self) -> Result<()> {
        let link = Link::open(&self.device, DeviceConfig::default(), &self.link.options()?)?;
        link.stop()?;
        writeln!(io::stdout(), "stopped {}", self.device)?;
        Ok(())
    }
}
