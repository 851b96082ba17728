//! Who may change a device: a shared-secret challenge/response.
//!
//! A device started with a token (`robofish-device --token-file F`) puts
//! a fresh random [`Challenge`] in every [`HelloAck`](super::HelloAck). A
//! host that holds the same token answers with
//! [`Authenticate`](super::Authenticate), whose tag is
//! `HMAC-SHA256(token, DOMAIN || challenge)` ([`auth_tag`]). The device
//! checks it in constant time ([`verify_tag`]) and from then on, for the
//! rest of that session, accepts the commands that change it: flashing a
//! model and stopping the device (and streaming, unless the device allows
//! that anonymously, see [`Access`]).
//!
//! Why this and not TLS: a board on a lab network needs one thing kept from
//! strangers, the power to replace its model or stop it; the images and
//! spots are not secret in most labs, and a shared secret in a file is
//! something a lab can manage without a certificate authority. The token
//! never crosses the wire, a tag is good for one challenge only (a
//! recorded session cannot be replayed: the next `Hello` draws a new
//! challenge), and the domain string keeps the tag from meaning anything in
//! another protocol. What it does not give: confidentiality or integrity of
//! the traffic after the handshake (someone who can rewrite packets in
//! flight can still alter a session); put an SSH tunnel or a VPN around it
//! when that matters. The README's "Security" section says the same.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Bytes of a [`Challenge`].
pub const CHALLENGE_BYTES: usize = 32;

/// Bytes of an authentication tag (HMAC-SHA256).
pub const TAG_BYTES: usize = 32;

/// Shortest token accepted, in bytes: 16 random bytes (e.g. 32 hex digits
/// from `openssl rand -hex 16`) put an online guess out of reach.
pub const MIN_TOKEN_BYTES: usize = 16;

/// Longest token accepted, in bytes.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// The random value a device sends in `HelloAck` for the host to sign.
pub type Challenge = [u8; CHALLENGE_BYTES];

/// Separates robofish's tags from any other use of the same secret.
const DOMAIN: &[u8] = b"robofish device authentication v4\0";

/// What a device lets an unauthenticated host do; sent in `HelloAck`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Access {
    /// The device has no token: any host may do anything (the device
    /// warns when it listens beyond the loopback interface).
    Open,
    /// Streaming, codebooks and reports need no authentication; flashing
    /// and stopping do (`--allow-anonymous-streaming`).
    StreamOpen,
    /// Everything but the handshake needs authentication.
    Closed,
}

impl Access {
    /// Whether an unauthenticated host may stream FOVs, send a codebook
    /// and ask for the report.
    pub const fn anonymous_streaming(self) -> bool {
        matches!(self, Access::Open | Access::StreamOpen)
    }

    /// Whether an unauthenticated host may flash a model.
    pub const fn anonymous_changes(self) -> bool {
        matches!(self, Access::Open)
    }
}

/// Why a token file's contents cannot be a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenError {
    /// Fewer than [`MIN_TOKEN_BYTES`] bytes once surrounding whitespace is
    /// removed.
    TooShort {
        /// Bytes found.
        len: usize,
    },
    /// More than [`MAX_TOKEN_BYTES`] bytes.
    TooLong {
        /// Bytes found.
        len: usize,
    },
}

impl core::fmt::Display for TokenError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TokenError::TooShort { len } => write!(
                f,
                "the token is {len} bytes; at least {MIN_TOKEN_BYTES} are needed \
                 (make one with `openssl rand -hex 32 > FILE`)"
            ),
            TokenError::TooLong { len } => write!(
                f,
                "the token is {len} bytes; at most {MAX_TOKEN_BYTES} are accepted"
            ),
        }
    }
}

impl core::error::Error for TokenError {}

/// The token in a token file's `contents`: the bytes between leading and
/// trailing ASCII whitespace (so a trailing newline does not matter), on
/// both host and device alike.
pub fn parse_token(contents: &[u8]) -> Result<&[u8], TokenError> {
    let token = contents.trim_ascii();
    if token.len() < MIN_TOKEN_BYTES {
        Err(TokenError::TooShort { len: token.len() })
    } else if token.len() > MAX_TOKEN_BYTES {
        Err(TokenError::TooLong { len: token.len() })
    } else {
        Ok(token)
    }
}

fn keyed(token: &[u8], challenge: &Challenge) -> Hmac<Sha256> {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(token)
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(DOMAIN);
    mac.update(challenge);
    mac
}

/// The tag a host holding `token` sends for `challenge`.
pub fn auth_tag(token: &[u8], challenge: &Challenge) -> [u8; TAG_BYTES] {
    keyed(token, challenge).finalize().into_bytes().into()
}

/// Whether `tag` is `token`'s tag for `challenge`, compared in constant
/// time.
pub fn verify_tag(token: &[u8], challenge: &Challenge, tag: &[u8; TAG_BYTES]) -> bool {
    keyed(token, challenge).verify_slice(tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_is_hmac_sha256_of_domain_and_challenge() {
        // RFC 4231 test case 2 ("Jefe" / "what do ya want for nothing?"),
        // to pin the primitive: the domain and challenge are just the
        // message, split here as DOMAIN-less input.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        let expected: [u8; 32] = mac.finalize().into_bytes().into();
        assert_eq!(
            expected[..8],
            [0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e]
        );
        let token = b"0123456789abcdef";
        let challenge = [7u8; CHALLENGE_BYTES];
        let tag = auth_tag(token, &challenge);
        assert!(verify_tag(token, &challenge, &tag));
        let mut other = challenge;
        other[31] ^= 1;
        assert!(
            !verify_tag(token, &other, &tag),
            "a tag is for one challenge"
        );
        assert!(!verify_tag(b"0123456789abcdeF", &challenge, &tag));
        let mut bad = tag;
        bad[0] ^= 0x80;
        assert!(!verify_tag(token, &challenge, &bad));
    }

    #[test]
    fn token_files_are_trimmed_and_bounded() {
        assert_eq!(
            parse_token(b"  0123456789abcdef\n").unwrap(),
            b"0123456789abcdef"
        );
        assert_eq!(
            parse_token(b"short\n"),
            Err(TokenError::TooShort { len: 5 })
        );
        assert_eq!(
            parse_token(&[b'a'; MAX_TOKEN_BYTES + 1]),
            Err(TokenError::TooLong {
                len: MAX_TOKEN_BYTES + 1
            })
        );
    }
}
