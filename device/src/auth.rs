//! The device's token and who may change it (the wire side is
//! [`robofish_shared::protocol::auth`]).

use std::path::Path;
use std::sync::Arc;

use robofish_shared::protocol::{parse_token, Access};

use crate::error::{Error, Result};

/// A shared secret read from a token file. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(Arc<[u8]>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token({} bytes)", self.0.len())
    }
}

impl Token {
    /// The token in a file's `contents` (surrounding whitespace removed).
    pub fn from_contents(contents: &[u8]) -> Result<Token> {
        Ok(Token(Arc::from(
            parse_token(contents).map_err(Error::Token)?,
        )))
    }

    /// Reads a token file. The second value is a warning when the file can
    /// be read by other users (as ssh does, robofish still uses it).
    pub fn read_file(path: &Path) -> Result<(Token, Option<String>)> {
        let contents = std::fs::read(path).map_err(Error::io(format!(
            "cannot read token file {}",
            path.display()
        )))?;
        let token = Token::from_contents(&contents).map_err(|e| Error::TokenFile {
            path: path.display().to_string(),
            source: Box::new(e),
        })?;
        Ok((token, permission_warning(path)))
    }

    /// The token a `--token-file` flag names, if it names one; a
    /// permission warning goes to stderr after `program`'s name (device and
    /// host read the same file format, and warn alike).
    pub fn from_flag(path: Option<&Path>, program: &str) -> Result<Option<Token>> {
        let Some(path) = path else { return Ok(None) };
        let (token, warning) = Token::read_file(path)?;
        if let Some(warning) = warning {
            eprintln!("{program}: warning: {warning}");
        }
        Ok(Some(token))
    }

    /// The secret's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(unix)]
fn permission_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "token file {} is readable by other users (mode {:o}); `chmod 600` it",
            path.display(),
            mode & 0o777
        )
    })
}

#[cfg(not(unix))]
fn permission_warning(_: &Path) -> Option<String> {
    None
}

/// Who may change the device.
#[derive(Clone, Debug, Default)]
pub struct AuthConfig {
    /// The shared secret; `None` leaves every command open to every host.
    pub token: Option<Token>,
    /// With a token, still let unauthenticated hosts stream FOVs, send
    /// codebooks and ask for reports (flashing and stopping stay
    /// authenticated).
    pub anonymous_streaming: bool,
}

impl AuthConfig {
    /// What an unauthenticated host may do, as `HelloAck` says it.
    pub fn access(&self) -> Access {
        match (&self.token, self.anonymous_streaming) {
            (None, _) => Access::Open,
            (Some(_), true) => Access::StreamOpen,
            (Some(_), false) => Access::Closed,
        }
    }
}

/// A fresh challenge from the operating system's random source.
pub fn fresh_challenge() -> Result<robofish_shared::protocol::Challenge> {
    let mut challenge = [0u8; robofish_shared::protocol::CHALLENGE_BYTES];
    getrandom::fill(&mut challenge).map_err(|e| {
        Error::io("drawing a random challenge")(std::io::Error::other(e.to_string()))
    })?;
    Ok(challenge)
}
