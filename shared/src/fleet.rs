//! The fleet schema: what `robofish fleet` (the host) and boards started
//! with `robofish-device --fleet mqtt://HOST:PORT` exchange through an MQTT
//! broker. Both sides build their topics and payloads from this module, so
//! they agree on them in one place.
//!
//! # Model: the host owns the queue, boards pull
//!
//! The host holds the list of FOVs still to decode. A board that is idle
//! says so ([`Ready`]); the host *leases* it one FOV (a [`JobId`]) by
//! sending the job's bytes in [`JobChunk`]s; the board answers with
//! [`ResultChunk`]s, and a complete result means the board is idle again.
//! A lease that shows no progress for the host's `--lease-timeout`, or
//! whose board goes offline (its last will), is taken back and its FOV
//! queued again. Results are idempotent by FOV id and model hash: the host
//! keeps the first complete result of a FOV and drops (and counts) later
//! ones, so a FOV appears exactly once whichever boards died on it.
//!
//! # Bulk data: the wire protocol, carried in chunks
//!
//! A job's bytes are the ordinary wire protocol of
//! [`protocol`](crate::protocol): COBS frames of [`HostMessage`]s (the
//! experiment's codebook, then per z plane `FrameStart`, `RowBand`s and
//! `FrameEnd`), the same frames a board reads from a TCP host. A result's
//! bytes are the frames of the board's [`DeviceMessage`] answers. They are
//! cut into chunks of at most [`MAX_CHUNK_BYTES`] (128 KiB, below the
//! message limits brokers commonly set), which the receiver feeds to its
//! frame decoder in order as they arrive; a board never holds a whole
//! 128 MiB FOV.
//!
//! [`HostMessage`]: crate::protocol::HostMessage
//! [`DeviceMessage`]: crate::protocol::DeviceMessage
//!
//! # Topics and QoS
//!
//! `{board}` is a board id ([`check_board_id`]): 1 to
//! [`MAX_BOARD_ID_BYTES`] of `A-Z a-z 0-9 - _ .`.
//!
//! | topic | from | QoS | retained | payload |
//! |---|---|---|---|---|
//! | `robofish/v1/boards/{board}/status` | board (and the broker, as its last will) | 1 | yes | [`Status`] |
//! | `robofish/v1/boards/{board}/heartbeat` | board, every `--heartbeat` s | 0 | no | [`Heartbeat`] |
//! | `robofish/v1/boards/{board}/job` | host | 1 | no | [`JobChunk`] |
//! | `robofish/v1/boards/{board}/out` | board | 1 | no | [`BoardMessage`]: [`Ready`] or [`ResultChunk`] |
//! | `robofish/v1/host` | host, when it starts | 1 | no | [`HostHello`] |
//!
//! - `status` is retained, so a host that starts later still sees every
//!   board online; the board's last will (`Offline`, retained) replaces it
//!   when the broker loses the board's connection.
//! - `Ready` and results share the `out` topic because MQTT keeps the order
//!   of one client's messages only within one topic (and one QoS): the
//!   host must see a result before the `Ready` that follows it.
//! - QoS 1 (at least once) on `job` and `out`: a lost chunk would stall a
//!   lease; a chunk delivered twice is recognised by its index and dropped.
//!   Heartbeats are QoS 0: a lost one is replaced by the next.
//!
//! # Payloads
//!
//! Every payload is `postcard(FLEET_VERSION: u16, message)`. The version
//! comes first so that a peer of another version is told apart from
//! garbage ([`FleetError::UnknownVersion`]); the topic's `v1` changes with
//! it. [`decode`] never panics, whatever the bytes, and refuses trailing
//! bytes and over-long chunks.

use heapless::String;
use serde::{Deserialize, Serialize};

use crate::protocol::HelloAck;

/// Version of the fleet payloads; the `v1` in every topic.
pub const FLEET_VERSION: u16 = 1;

/// The root of every fleet topic.
pub const TOPIC_ROOT: &str = "robofish/v1";

/// The host's topic ([`HostHello`]).
pub const HOST_TOPIC: &str = "robofish/v1/host";

/// Longest board id, in bytes.
pub const MAX_BOARD_ID_BYTES: usize = 32;

/// Largest [`JobChunk::bytes`] and [`ResultChunk::bytes`] (128 KiB).
pub const MAX_CHUNK_BYTES: usize = 128 * 1024;

/// Largest encoded payload of any fleet message: a full chunk plus its
/// header (version, variant, job id, index, lengths: under 64 bytes as
/// varints) with room to spare. MQTT clients must accept packets of
/// [`MAX_PACKET_BYTES`].
pub const MAX_PAYLOAD_BYTES: usize = MAX_CHUNK_BYTES + 256;

/// Largest MQTT packet a fleet client sends or accepts: a payload, its
/// topic (under 80 bytes) and the MQTT header.
pub const MAX_PACKET_BYTES: usize = MAX_PAYLOAD_BYTES + 256;

/// Longest fleet topic, in bytes (`robofish/v1/boards/` + id + `/heartbeat`).
pub const MAX_TOPIC_BYTES: usize = 64;

/// Which topic of the schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topic<'a> {
    /// `robofish/v1/boards/{board}/status`.
    Status(&'a str),
    /// `robofish/v1/boards/{board}/heartbeat`.
    Heartbeat(&'a str),
    /// `robofish/v1/boards/{board}/job`.
    Job(&'a str),
    /// `robofish/v1/boards/{board}/out`.
    Out(&'a str),
    /// `robofish/v1/host`.
    Host,
}

/// The board topics' leaves, in [`Topic`] order.
const LEAVES: [&str; 4] = ["status", "heartbeat", "job", "out"];

/// Subscription filter for every board's topic `leaf` (`status`,
/// `heartbeat`, `out`): `robofish/v1/boards/+/{leaf}`.
pub fn all_boards(leaf: BoardLeaf) -> String<MAX_TOPIC_BYTES> {
    let mut topic = String::new();
    // Fits: 21 + 10 bytes at most.
    let _ = topic.push_str(TOPIC_ROOT);
    let _ = topic.push_str("/boards/+/");
    let _ = topic.push_str(LEAVES[leaf as usize]);
    topic
}

/// A board topic's last level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoardLeaf {
    /// `status`.
    Status = 0,
    /// `heartbeat`.
    Heartbeat = 1,
    /// `job`.
    Job = 2,
    /// `out`.
    Out = 3,
}

impl<'a> Topic<'a> {
    /// The topic's name. Fails only for a board id that
    /// [`check_board_id`] refuses.
    pub fn name(&self) -> Result<String<MAX_TOPIC_BYTES>, FleetError> {
        let (board, leaf) = match *self {
            Topic::Host => {
                let mut topic = String::new();
                let _ = topic.push_str(HOST_TOPIC);
                return Ok(topic);
            }
            Topic::Status(b) => (b, BoardLeaf::Status),
            Topic::Heartbeat(b) => (b, BoardLeaf::Heartbeat),
            Topic::Job(b) => (b, BoardLeaf::Job),
            Topic::Out(b) => (b, BoardLeaf::Out),
        };
        check_board_id(board)?;
        let mut topic = String::new();
        // 19 + 32 + 1 + 9 = 61 bytes at most: fits.
        let _ = topic.push_str(TOPIC_ROOT);
        let _ = topic.push_str("/boards/");
        let _ = topic.push_str(board);
        let _ = topic.push('/');
        let _ = topic.push_str(LEAVES[leaf as usize]);
        Ok(topic)
    }

    /// The topic `name` is, or `None` for a name outside the schema (or
    /// with an invalid board id).
    pub fn parse(name: &'a str) -> Option<Topic<'a>> {
        if name == HOST_TOPIC {
            return Some(Topic::Host);
        }
        let rest = name.strip_prefix(TOPIC_ROOT)?.strip_prefix("/boards/")?;
        let (board, leaf) = rest.split_once('/')?;
        check_board_id(board).ok()?;
        match leaf {
            "status" => Some(Topic::Status(board)),
            "heartbeat" => Some(Topic::Heartbeat(board)),
            "job" => Some(Topic::Job(board)),
            "out" => Some(Topic::Out(board)),
            _ => None,
        }
    }
}

/// Checks a board id: 1 to [`MAX_BOARD_ID_BYTES`] bytes of ASCII letters,
/// digits, `-`, `_` and `.` (so it is one topic level, never a wildcard).
pub fn check_board_id(id: &str) -> Result<(), FleetError> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    if id.is_empty() || id.len() > MAX_BOARD_ID_BYTES || !id.bytes().all(allowed) {
        return Err(FleetError::BadBoardId);
    }
    Ok(())
}

/// One lease of one FOV: which host run gave it, its number in that run,
/// and the FOV.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct JobId {
    /// A random number the host draws when it starts, so that a board's
    /// late result for an earlier run is not taken for this run's.
    pub run: u64,
    /// The lease's number within the run (1, 2, ...): a FOV leased again
    /// gets a new one.
    pub lease: u32,
    /// The FOV's id.
    pub fov: u32,
}

/// What a board says about itself on its `status` topic (retained).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(
    clippy::large_enum_variant,
    reason = "no_std without a heap cannot box; one status (about 330 bytes) is alive at a time"
)]
pub enum Status {
    /// Connected and taking jobs.
    Online(Announce),
    /// Gone: published by the broker as the board's last will when its
    /// connection is lost, or by the board when it stops.
    Offline,
}

/// A board's introduction: its id and what a TCP host would read in its
/// `HelloAck` (protocol version, kernel path, threads, model and its
/// hash, free memory, largest row band).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announce {
    /// The board's id (the same as in its topics).
    pub board: String<MAX_BOARD_ID_BYTES>,
    /// The board's device, as it answers `Hello`.
    pub device: HelloAck,
}

/// A board's sign of life, every few seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The job the board is working on, if any.
    pub job: Option<JobId>,
    /// Bytes of that job the board has consumed so far: the host's
    /// measure of progress on a lease.
    pub consumed: u64,
    /// Jobs the board has answered since it started.
    pub answered: u32,
}

/// Part of a job, host to board. Chunks of a job are numbered from 0 and
/// the final one has `last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobChunk<'a> {
    /// The lease.
    pub job: JobId,
    /// 0, 1, 2, ... within the job.
    pub index: u32,
    /// Whether this is the job's final chunk.
    pub last: bool,
    /// At most [`MAX_CHUNK_BYTES`] bytes of protocol frames (a frame may
    /// span chunks).
    #[serde(borrow)]
    pub bytes: &'a [u8],
}

/// What a board sends on its `out` topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BoardMessage<'a> {
    /// The board is idle and takes a job.
    Ready(Ready),
    /// Part of a job's result.
    #[serde(borrow)]
    Result(ResultChunk<'a>),
}

/// A board is idle: when it connects, when a host says hello, and when it
/// gave a job up (a chunk missing, or none for too long). A complete
/// result says the same without a `Ready`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ready {
    /// The last job the board saw (answered or given up), `None` before
    /// its first. A host whose lease to this board is `job` and still
    /// unanswered knows the board gave it up; a `Ready` naming an older
    /// job was sent before the board saw the lease, and is ignored.
    pub job: Option<JobId>,
}

/// Part of a job's result, board to host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultChunk<'a> {
    /// The lease answered.
    pub job: JobId,
    /// The model hash that decoded it (with the FOV id, what makes a
    /// result idempotent).
    pub model_hash: u64,
    /// Microseconds from the job's first chunk to its result, on the board.
    pub elapsed_us: u32,
    /// 0, 1, 2, ... within the result.
    pub index: u32,
    /// Whether this is the result's final chunk.
    pub last: bool,
    /// At most [`MAX_CHUNK_BYTES`] bytes of the board's protocol frames.
    #[serde(borrow)]
    pub bytes: &'a [u8],
}

/// The host has started: idle boards answer with [`Ready`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostHello {
    /// The host run's [`JobId::run`].
    pub run: u64,
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Status {}
    impl Sealed for super::Heartbeat {}
    impl Sealed for super::JobChunk<'_> {}
    impl Sealed for super::BoardMessage<'_> {}
    impl Sealed for super::HostHello {}
}

/// A top-level fleet payload: only these are encoded, so a bare inner
/// struct cannot be sent by mistake.
pub trait FleetMessage: Serialize + sealed::Sealed {
    /// Checks what postcard cannot: chunk sizes, board ids.
    fn validate(&self) -> Result<(), FleetError>;
}

fn check_chunk(bytes: &[u8]) -> Result<(), FleetError> {
    if bytes.len() > MAX_CHUNK_BYTES {
        return Err(FleetError::Oversized {
            len: bytes.len(),
            limit: MAX_CHUNK_BYTES,
        });
    }
    Ok(())
}

impl FleetMessage for Status {
    fn validate(&self) -> Result<(), FleetError> {
        match self {
            Status::Online(announce) => check_board_id(&announce.board),
            Status::Offline => Ok(()),
        }
    }
}

impl FleetMessage for Heartbeat {
    fn validate(&self) -> Result<(), FleetError> {
        Ok(())
    }
}

impl FleetMessage for JobChunk<'_> {
    fn validate(&self) -> Result<(), FleetError> {
        check_chunk(self.bytes)
    }
}

impl FleetMessage for BoardMessage<'_> {
    fn validate(&self) -> Result<(), FleetError> {
        match self {
            BoardMessage::Ready(_) => Ok(()),
            BoardMessage::Result(chunk) => check_chunk(chunk.bytes),
        }
    }
}

impl FleetMessage for HostHello {
    fn validate(&self) -> Result<(), FleetError> {
        Ok(())
    }
}

/// Encodes `message` as `postcard(FLEET_VERSION, message)` into `buffer`
/// (of [`MAX_PAYLOAD_BYTES`], which every valid message fits) and returns
/// the used part.
pub fn encode<'b, M: FleetMessage>(
    message: &M,
    buffer: &'b mut [u8],
) -> Result<&'b mut [u8], FleetError> {
    message.validate()?;
    let capacity = buffer.len();
    postcard::to_slice(&(FLEET_VERSION, message), buffer).map_err(|error| match error {
        postcard::Error::SerializeBufferFull => FleetError::BufferTooSmall { capacity },
        other => FleetError::Malformed(other),
    })
}

/// Decodes a payload: checks the version first, then the message, then
/// that nothing is left over and that it is valid. Any bytes give an
/// error or a message, never a panic.
pub fn decode<'a, M>(payload: &'a [u8]) -> Result<M, FleetError>
where
    M: FleetMessage + Deserialize<'a>,
{
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(FleetError::Oversized {
            len: payload.len(),
            limit: MAX_PAYLOAD_BYTES,
        });
    }
    let (version, body) = postcard::take_from_bytes::<u16>(payload).map_err(FleetError::from)?;
    if version != FLEET_VERSION {
        return Err(FleetError::UnknownVersion {
            received: version,
            supported: FLEET_VERSION,
        });
    }
    let (message, rest) = postcard::take_from_bytes::<M>(body).map_err(FleetError::from)?;
    if !rest.is_empty() {
        return Err(FleetError::TrailingBytes { count: rest.len() });
    }
    message.validate()?;
    Ok(message)
}

/// Why a fleet payload or topic was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FleetError {
    /// The peer speaks another fleet version.
    UnknownVersion {
        /// The peer's.
        received: u16,
        /// Ours, [`FLEET_VERSION`].
        supported: u16,
    },
    /// postcard rejected the bytes (or could not encode the message).
    Malformed(postcard::Error),
    /// The payload ended before its message did.
    Truncated,
    /// The message decoded but bytes were left over.
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// A payload or chunk exceeds its limit.
    Oversized {
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A board id that [`check_board_id`] refuses.
    BadBoardId,
    /// [`encode`] was given a buffer too small.
    BufferTooSmall {
        /// Bytes available.
        capacity: usize,
    },
}

impl From<postcard::Error> for FleetError {
    fn from(error: postcard::Error) -> Self {
        match error {
            postcard::Error::DeserializeUnexpectedEnd => FleetError::Truncated,
            other => FleetError::Malformed(other),
        }
    }
}

impl core::fmt::Display for FleetError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FleetError::UnknownVersion {
                received,
                supported,
            } => write!(
                f,
                "peer speaks fleet version {received}, this side speaks version {supported}; \
                 update the older of host and board"
            ),
            FleetError::Malformed(error) => write!(f, "malformed fleet message: {error}"),
            FleetError::Truncated => f.write_str("fleet message cut short"),
            FleetError::TrailingBytes { count } => {
                write!(f, "malformed fleet message: {count} bytes after its end")
            }
            FleetError::Oversized { len, limit } => {
                write!(
                    f,
                    "fleet message of {len} bytes exceeds the limit of {limit}"
                )
            }
            FleetError::BadBoardId => write!(
                f,
                "a board id must be 1 to {MAX_BOARD_ID_BYTES} letters, digits, '-', '_' or '.'"
            ),
            FleetError::BufferTooSmall { capacity } => write!(
                f,
                "encode buffer of {capacity} bytes is too small (MAX_PAYLOAD_BYTES suffices)"
            ),
        }
    }
}

impl core::error::Error for FleetError {}

#[cfg(all(test, feature = "std"))]
mod tests;
