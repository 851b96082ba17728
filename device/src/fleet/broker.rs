//! Reaching an MQTT broker: its URL, the credentials, the client options
//! both ends of the fleet use (boards here, the host's `robofish fleet`),
//! and what to tell a person when the broker says no.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use robofish_shared::fleet::MAX_PACKET_BYTES;
use rumqttc::{ConnectReturnCode, ConnectionError, MqttOptions};

/// The broker's port when a URL names none (MQTT's registered port).
pub const DEFAULT_PORT: u16 = 1883;

/// Where the broker listens: `mqtt://HOST[:PORT]` (or `tcp://`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerUrl {
    /// Host name or address (an IPv6 address without its brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl FromStr for BrokerUrl {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, Self::Err> {
        let rest = if let Some(rest) = text
            .strip_prefix("mqtt://")
            .or_else(|| text.strip_prefix("tcp://"))
        {
            rest
        } else if text.starts_with("mqtts://") || text.starts_with("ssl://") {
            return Err(format!(
                "`{text}`: this build speaks plain MQTT only (no TLS); reach a TLS broker \
                 through a local tunnel (see docs/scaling-out.md, \"Security\")"
            ));
        } else {
            return Err(format!(
                "`{text}` is not a broker URL such as mqtt://127.0.0.1:1883"
            ));
        };
        let rest = rest.trim_end_matches('/');
        if rest.contains('@') {
            return Err(format!(
                "`{text}`: give credentials with --mqtt-username and --mqtt-password-file, \
                 never in the URL (it shows in `ps` and shell histories)"
            ));
        }
        if rest.contains('/') || rest.contains('?') {
            return Err(format!("`{text}`: a broker URL has no path or query"));
        }
        let (host, port) = match rest.strip_prefix('[') {
            // [v6]:port or [v6]
            Some(v6) => {
                let (host, after) = v6
                    .split_once(']')
                    .ok_or_else(|| format!("`{text}`: unclosed [ in the host"))?;
                let port = match after {
                    "" => None,
                    p => Some(
                        p.strip_prefix(':')
                            .ok_or_else(|| format!("`{text}`: expected :PORT after the address"))?,
                    ),
                };
                (host, port)
            }
            None => match rest.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            },
        };
        if host.is_empty() {
            return Err(format!("`{text}` names no host"));
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| format!("`{text}`: `{p}` is not a port (1-65535)"))?,
        };
        Ok(BrokerUrl {
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "mqtt://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "mqtt://{}:{}", self.host, self.port)
        }
    }
}

/// The broker credentials flags, shared by boards and the host.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct BrokerAuthArgs {
    /// Log in to the broker as NAME (with --mqtt-password-file).
    #[arg(long, value_name = "NAME", requires = "mqtt_password_file")]
    pub mqtt_username: Option<String>,
    /// The broker password, the first line of FILE (`chmod 600` it): a
    /// password is never taken on the command line, where `ps` shows it.
    #[arg(long, value_name = "FILE", requires = "mqtt_username")]
    pub mqtt_password_file: Option<PathBuf>,
}

/// A user name and password for the broker. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({}, password hidden)", self.username)
    }
}

impl BrokerAuthArgs {
    /// The credentials the flags name (reads the password file), if any;
    /// warnings (a file others can read) go to stderr after `program`.
    pub fn credentials(&self, program: &str) -> Result<Option<Credentials>> {
        let (Some(username), Some(path)) = (&self.mqtt_username, &self.mqtt_password_file) else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the broker password file {}", path.display()))?;
        let password = text.lines().next().unwrap_or("").trim().to_string();
        if password.is_empty() {
            bail!(
                "the broker password file {} is empty: put the password on its first line",
                path.display()
            );
        }
        if let Some(warning) = readable_by_others(path) {
            eprintln!("{program}: warning: {warning}");
        }
        Ok(Some(Credentials {
            username: username.clone(),
            password,
        }))
    }
}

#[cfg(unix)]
fn readable_by_others(path: &std::path::Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "broker password file {} is readable by other users (mode {:o}); `chmod 600` it",
            path.display(),
            mode & 0o777
        )
    })
}

#[cfg(not(unix))]
fn readable_by_others(_: &std::path::Path) -> Option<String> {
    None
}

/// The client options both ends use: packets up to a full fleet chunk,
/// a clean session (a reconnecting client subscribes again and says
/// who it is again), and `keep_alive` so the broker notices a silent peer.
pub fn options(
    client_id: &str,
    url: &BrokerUrl,
    credentials: Option<&Credentials>,
    keep_alive: Duration,
) -> MqttOptions {
    let mut options = MqttOptions::new(client_id, url.host.clone(), url.port);
    options
        .set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES)
        .set_clean_session(true)
        .set_keep_alive(keep_alive.max(Duration::from_secs(1)))
        // Publishing blocks when this many requests wait: the back-pressure
        // that keeps a host from queueing a whole FOV in memory twice.
        .set_request_channel_capacity(64);
    if let Some(c) = credentials {
        options.set_credentials(c.username.clone(), c.password.clone());
    }
    options
}

/// What a connection error means for a person, and whether retrying can
/// help (a refused login cannot).
pub fn explain(error: &ConnectionError, url: &BrokerUrl) -> (String, bool) {
    match error {
        ConnectionError::ConnectionRefused(
            code @ (ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized),
        ) => (
            format!(
                "the broker at {url} refused the login ({code:?}): check --mqtt-username and \
                 --mqtt-password-file against the broker's password file"
            ),
            false,
        ),
        ConnectionError::ConnectionRefused(ConnectReturnCode::BadClientId) => (
            format!("the broker at {url} refused the client id: choose another --board-id"),
            false,
        ),
        ConnectionError::ConnectionRefused(code) => (
            format!("the broker at {url} refused the connection ({code:?})"),
            false,
        ),
        ConnectionError::Io(e) => (format!("cannot reach the broker at {url}: {e}"), true),
        ConnectionError::NetworkTimeout => {
            (format!("the broker at {url} did not answer in time"), true)
        }
        other => (
            format!("connection to the broker at {url} failed: {other}"),
            true,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls_parse_or_say_why_not() {
        let url: BrokerUrl = "mqtt://127.0.0.1:18830".parse().unwrap();
        assert_eq!((url.host.as_str(), url.port), ("127.0.0.1", 18830));
        assert_eq!(url.to_string(), "mqtt://127.0.0.1:18830");
        let url: BrokerUrl = "tcp://broker.lab/".parse().unwrap();
        assert_eq!((url.host.as_str(), url.port), ("broker.lab", DEFAULT_PORT));
        let url: BrokerUrl = "mqtt://[::1]:1884".parse().unwrap();
        assert_eq!((url.host.as_str(), url.port), ("::1", 1884));
        assert_eq!(url.to_string(), "mqtt://[::1]:1884");
        for (bad, says) in [
            ("127.0.0.1:1883", "not a broker URL"),
            ("mqtts://b:8883", "no TLS"),
            ("mqtt://user:pw@b:1883", "never in the URL"),
            ("mqtt://b:0", "not a port"),
            ("mqtt://b:http", "not a port"),
            ("mqtt://", "names no host"),
            ("mqtt://b/topic", "no path"),
        ] {
            let err = bad.parse::<BrokerUrl>().unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn passwords_come_from_a_file_and_stay_hidden() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret\nignored\n").unwrap();
        let args = BrokerAuthArgs {
            mqtt_username: Some("board".into()),
            mqtt_password_file: Some(path.clone()),
        };
        let creds = args.credentials("test").unwrap().unwrap();
        assert_eq!(creds.password, "s3cret");
        assert!(!format!("{creds:?}").contains("s3cret"));
        std::fs::write(&path, "\n").unwrap();
        let err = args.credentials("test").unwrap_err().to_string();
        assert!(err.contains("empty"), "{err}");
        assert_eq!(BrokerAuthArgs::default().credentials("test").unwrap(), None);
    }
}
