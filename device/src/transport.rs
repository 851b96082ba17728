//! Naming the byte stream between host and device, and opening serial
//! ports: the one parser of device SPECs, used by the device binary and by
//! the host (`robofish stream --device SPEC`).
//!
//! | SPEC | host side | device side |
//! |---|---|---|
//! | `stdio` | — | standard input/output |
//! | `exec:COMMAND` | spawns `sh -c COMMAND`, talks over its stdio | (runs `--stdio`) |
//! | `tcp:HOST:PORT` | connects | listens (`--listen`) |
//! | `serial:PATH[@BAUD]` | opens the port | opens the port (`--serial`) |
//! | `local` | a device on a thread, over pipes | — |

use std::fmt;
use std::fs::File;
use std::process::Command;
use std::str::FromStr;

use crate::error::{Error, Result};

/// Serial speed when a SPEC names none.
pub const DEFAULT_BAUD: u32 = 115_200;

/// Where host and device talk; see the [module docs](self) for each form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    /// `stdio`: the process's standard input and output.
    Stdio,
    /// `exec:COMMAND`: a device spawned by `sh -c COMMAND`.
    Exec(String),
    /// `tcp:HOST:PORT`: a TCP socket.
    Tcp(String),
    /// `serial:PATH[@BAUD]`: a serial port.
    Serial(SerialPort),
    /// `local`: a device served in-process.
    Local,
}

impl FromStr for Transport {
    type Err = Error;

    fn from_str(spec: &str) -> Result<Transport> {
        let nonempty = |rest: &str| {
            if rest.is_empty() {
                Err(Error::BadSpec(spec.to_string()))
            } else {
                Ok(rest.to_string())
            }
        };
        if spec == "stdio" {
            Ok(Transport::Stdio)
        } else if spec == "local" {
            Ok(Transport::Local)
        } else if let Some(command) = spec.strip_prefix("exec:") {
            nonempty(command).map(Transport::Exec)
        } else if let Some(addr) = spec.strip_prefix("tcp:") {
            nonempty(addr).map(Transport::Tcp)
        } else if let Some(port) = spec.strip_prefix("serial:") {
            nonempty(port)?.parse().map(Transport::Serial)
        } else {
            Err(Error::BadSpec(spec.to_string()))
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transport::Stdio => f.write_str("stdio"),
            Transport::Exec(command) => write!(f, "exec:{command}"),
            Transport::Tcp(addr) => write!(f, "tcp:{addr}"),
            Transport::Serial(port) => write!(f, "serial:{port}"),
            Transport::Local => f.write_str("local"),
        }
    }
}

/// A serial port and its speed, written `PATH[@BAUD]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SerialPort {
    /// The device file, e.g. `/dev/ttyUSB0`.
    pub path: String,
    /// Bits per second.
    pub baud: u32,
}

impl FromStr for SerialPort {
    type Err = Error;

    /// `PATH[@BAUD]`; the last `@` splits, so a path may hold one.
    fn from_str(text: &str) -> Result<SerialPort> {
        let (path, baud) = match text.rsplit_once('@') {
            Some((path, baud)) => (
                path,
                baud.parse().map_err(|source| Error::BadBaud {
                    text: baud.to_string(),
                    source,
                })?,
            ),
            None => (text, DEFAULT_BAUD),
        };
        if path.is_empty() {
            return Err(Error::BadSpec(format!("serial:{text}")));
        }
        Ok(SerialPort {
            path: path.to_string(),
            baud,
        })
    }
}

impl fmt::Display for SerialPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.path, self.baud)
    }
}

/// An opened serial port.
#[derive(Debug)]
pub struct OpenSerial {
    /// The port, open for reading and writing.
    pub file: File,
    /// Why `stty` could not configure it, if it could not: the port is then
    /// used as it is, which is fine for a pty or a pipe (tests) and worth a
    /// warning for a real port.
    pub unconfigured: Option<Error>,
}

impl SerialPort {
    /// Opens the port read/write and sets raw mode and the speed with
    /// `stty`, which every board's userland has.
    pub fn open(&self) -> Result<OpenSerial> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .map_err(Error::io(format!("cannot open serial port {}", self.path)))?;
        let stty = Command::new("stty")
            .args(["-F", &self.path, &self.baud.to_string(), "raw", "-echo"])
            .status();
        let unconfigured = match stty {
            Ok(status) if status.success() => None,
            Ok(status) => Some(status.to_string()),
            Err(e) => Some(format!("cannot run stty: {e}")),
        }
        .map(|detail| Error::Stty {
            path: self.path.clone(),
            detail,
        });
        Ok(OpenSerial { file, unconfigured })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spec_form_parses_and_prints_back() {
        let cases = [
            ("stdio", Transport::Stdio),
            ("local", Transport::Local),
            (
                "exec:robofish-device --stdio",
                Transport::Exec("robofish-device --stdio".into()),
            ),
            ("tcp:board:7878", Transport::Tcp("board:7878".into())),
            (
                "serial:/dev/ttyUSB0@921600",
                Transport::Serial(SerialPort {
                    path: "/dev/ttyUSB0".into(),
                    baud: 921_600,
                }),
            ),
        ];
        for (spec, transport) in cases {
            assert_eq!(spec.parse::<Transport>().unwrap(), transport, "{spec}");
            assert_eq!(transport.to_string(), spec);
        }
    }

    #[test]
    fn serial_baud_defaults_and_the_last_at_splits() {
        let port: SerialPort = "/dev/ttyS1".parse().unwrap();
        assert_eq!(port.baud, DEFAULT_BAUD);
        let port: SerialPort = "/dev/by-id/a@b@9600".parse().unwrap();
        assert_eq!((port.path.as_str(), port.baud), ("/dev/by-id/a@b", 9600));
    }

    #[test]
    fn bad_specs_say_what_is_accepted() {
        for spec in ["", "usb:0", "exec:", "tcp:", "serial:", "serial:@9600"] {
            let e = spec.parse::<Transport>().unwrap_err();
            assert!(matches!(e, Error::BadSpec(_)), "{spec}: {e}");
            assert!(e.to_string().contains("serial:PATH[@BAUD]"), "{e}");
        }
        let e = "serial:/dev/ttyS0@fast".parse::<Transport>().unwrap_err();
        assert_eq!(e.to_string(), "bad baud rate 'fast'");
    }

    #[test]
    fn a_port_stty_cannot_configure_still_opens_with_a_warning() {
        let path = std::env::temp_dir().join(format!("robofish-tty-{}", std::process::id()));
        std::fs::write(&path, b"").unwrap();
        let port = SerialPort {
            path: path.display().to_string(),
            baud: 9600,
        };
        let opened = port.open().unwrap();
        assert!(
            matches!(opened.unconfigured, Some(Error::Stty { .. })),
            "a plain file is no tty: {:?}",
            opened.unconfigured
        );
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn opening_a_missing_port_names_it() {
        let port: SerialPort = "/nonexistent/robofish-tty".parse().unwrap();
        let e = port.open().unwrap_err();
        assert!(
            crate::error::chain(&e)
                .starts_with("cannot open serial port /nonexistent/robofish-tty: "),
            "{e}"
        );
    }
}
