//! robofish device runtime: receives fields of view over a transport,
//! localises and decodes emitters in int8 as row bands arrive, and reports
//! spots, timing and accuracy back to the host.
//!
//! [`session`] dispatches each message; [`upload`] flashes models,
//! [`codebook`] holds the codebook FOVs decode with (the experiment's or
//! the model's), `frame` streams one FOV through the [`tiling`] strips and
//! [`spots`] finds and decodes its spots; [`server`] runs a session over a byte stream named by
//! a [`transport`] SPEC, and [`client`] is the host's end of it; [`fleet`]
//! runs the device as a board that takes jobs from an MQTT broker.

pub mod auth;
pub mod cli;
pub mod client;
pub mod codebook;
pub mod config;
pub mod error;
pub mod fleet;
mod frame;
pub mod listener;
pub mod prepared;
pub mod server;
pub mod session;
pub mod spots;
mod stats;
pub mod system;
pub mod tiling;
pub mod transport;
pub mod upload;

pub use config::DeviceConfig;
pub use error::{Error, Result};
pub use server::{serve, ServeOutcome};
pub use session::{Control, Device};
pub use transport::{SerialPort, Transport};
