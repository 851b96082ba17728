//! robofish device runtime: receives fields of view over a transport,
//! localises and decodes emitters in int8 as row bands arrive, and reports
//! spots, timing and accuracy back to the host.

pub mod client;
pub mod server;
pub mod session;
pub mod tiling;

pub use server::{serve, ServeOutcome};
pub use session::{Control, Device, DeviceConfig};
