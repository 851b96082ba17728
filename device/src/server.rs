//! The serve loop: bytes in, frames decoded, messages handled, replies out.
//!
//! Any byte stream works as a transport (`Read` + `Write`): stdin/stdout,
//! a TCP socket, a serial port, or an in-memory pipe in tests. A malformed,
//! truncated or oversized frame is answered with an Error and the stream
//! resynchronises at the next frame; a dropped connection abandons only the
//! FOV in flight.

use std::io::{ErrorKind as IoErrorKind, Read, Write};

use robofish_shared::protocol::{
    encode_frame, DeviceMessage, ErrorReport, Feed, FrameDecoder, HostMessage,
    MAX_ENCODED_FRAME_BYTES,
};

use crate::error::{Error, Result};
use crate::session::{Control, Device};

/// Why [`serve`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServeOutcome {
    /// The host sent Shutdown (or failed to authenticate).
    Shutdown,
    /// An authenticated host asked the device to stop.
    Stop,
    /// The host closed the connection.
    Disconnected,
}

/// Serves one connection until Shutdown or end of stream.
pub fn serve(
    device: &mut Device,
    reader: &mut dyn Read,
    writer: &mut dyn Write,
) -> Result<ServeOutcome> {
    let mut decoder: Box<FrameDecoder> = Box::new(FrameDecoder::new());
    let mut input = vec![0u8; 64 * 1024];
    let mut out = vec![0u8; MAX_ENCODED_FRAME_BYTES];
    let mut write_error: Option<std::io::Error> = None;
    loop {
        let n = match reader.read(&mut input) {
            Ok(0) => {
                if let Some(e) = decoder.finish() {
                    // The host is gone; nobody can read the report.
                    let _ = e;
                }
                device.connection_lost();
                return Ok(ServeOutcome::Disconnected);
            }
            Ok(n) => n,
            Err(e) if e.kind() == IoErrorKind::Interrupted => continue,
            Err(e) if e.kind() == IoErrorKind::ConnectionReset => {
                device.connection_lost();
                return Ok(ServeOutcome::Disconnected);
            }
            Err(e) => return Err(Error::io("reading from the host")(e)),
        };
        let mut rest = &input[..n];
        while !rest.is_empty() {
            let mut send = |message: DeviceMessage| {
                if write_error.is_some() {
                    return;
                }
                match encode_frame(&message, &mut out) {
                    Ok(frame) => {
                        if let Err(e) = writer.write_all(frame) {
                            write_error = Some(e);
                        }
                    }
                    Err(e) => {
                        let report = DeviceMessage::Error(ErrorReport::from_error(&e));
                        if let Ok(frame) = encode_frame(&report, &mut out) {
                            if let Err(e) = writer.write_all(frame) {
                                write_error = Some(e);
                            }
                        }
                    }
                }
            };
            match decoder.feed::<HostMessage<'_>>(rest) {
                Feed::Pending => break,
                Feed::Message { message, remaining } => {
                    rest = remaining;
                    match device.handle(message, &mut send) {
                        Control::Continue => {}
                        Control::Shutdown => {
                            writer.flush().ok();
                            device.connection_lost();
                            return Ok(ServeOutcome::Shutdown);
                        }
                        Control::Stop => {
                            writer.flush().ok();
                            device.connection_lost();
                            return Ok(ServeOutcome::Stop);
                        }
                    }
                }
                Feed::Error { error, remaining } => {
                    rest = remaining;
                    send(DeviceMessage::Error(ErrorReport::from_error(&error)));
                }
            }
            if let Some(e) = write_error.take() {
                device.connection_lost();
                if matches!(
                    e.kind(),
                    IoErrorKind::BrokenPipe | IoErrorKind::ConnectionReset
                ) {
                    return Ok(ServeOutcome::Disconnected);
                }
                return Err(Error::io("writing to the host")(e));
            }
        }
        writer.flush().ok();
    }
}
