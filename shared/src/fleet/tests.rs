//! Round trips of every fleet payload, topic names, and hostile bytes.

use std::vec;
use std::vec::Vec;

use heapless::String;
use proptest::prelude::*;

use super::*;
use crate::protocol::{Access, ModelInfo, PROTOCOL_VERSION};

fn job() -> JobId {
    JobId {
        run: 0xDEAD_BEEF_0123_4567,
        lease: 7,
        fov: 29,
    }
}

fn announce() -> Status {
    Status::Online(Announce {
        board: String::try_from("bench-3").unwrap(),
        device: HelloAck {
            version: PROTOCOL_VERSION,
            kernel_path: String::try_from("avx2").unwrap(),
            model: Some(ModelInfo {
                hash: 0x0123_4567_89AB_CDEF,
                name: String::try_from("anglerfish").unwrap(),
                arena_bytes: 4096,
            }),
            threads: 2,
            free_memory: 1 << 30,
            max_row_band_bytes: 65536,
            access: Access::StreamOpen,
            challenge: [0; crate::protocol::CHALLENGE_BYTES],
            model_fault: None,
        },
    })
}

fn round_trip<'b, M>(message: &M, buffer: &'b mut [u8]) -> M
where
    M: FleetMessage + Deserialize<'b> + core::fmt::Debug,
{
    let len = encode(message, buffer).unwrap().len();
    decode::<M>(&buffer[..len]).unwrap()
}

#[test]
fn every_payload_round_trips() {
    let mut buffer = vec![0u8; MAX_PAYLOAD_BYTES];
    let status = announce();
    assert_eq!(round_trip(&status, &mut buffer), status);
    assert_eq!(round_trip(&Status::Offline, &mut buffer), Status::Offline);
    let beat = Heartbeat {
        job: Some(job()),
        consumed: 123_456,
        answered: 3,
    };
    assert_eq!(round_trip(&beat, &mut buffer), beat);
    let hello = HostHello { run: 42 };
    assert_eq!(round_trip(&hello, &mut buffer), hello);
    let ready = BoardMessage::Ready(Ready { job: None });
    assert_eq!(round_trip(&ready, &mut buffer), ready);

    let bytes: Vec<u8> = (0..MAX_CHUNK_BYTES).map(|i| (i * 7) as u8).collect();
    let mut buffer = vec![0u8; MAX_PAYLOAD_BYTES];
    let chunk = JobChunk {
        job: job(),
        index: 3,
        last: true,
        bytes: &bytes,
    };
    let len = encode(&chunk, &mut buffer).unwrap().len();
    assert!(len <= MAX_PAYLOAD_BYTES);
    assert_eq!(decode::<JobChunk>(&buffer[..len]).unwrap(), chunk);

    let result = BoardMessage::Result(ResultChunk {
        job: job(),
        model_hash: u64::MAX,
        elapsed_us: u32::MAX,
        index: u32::MAX,
        last: false,
        bytes: &bytes,
    });
    let len = encode(&result, &mut buffer).unwrap().len();
    assert!(len <= MAX_PAYLOAD_BYTES, "a full chunk fits: {len}");
    assert_eq!(decode::<BoardMessage>(&buffer[..len]).unwrap(), result);
}

#[test]
fn an_oversized_chunk_is_refused_both_ways() {
    let bytes = vec![1u8; MAX_CHUNK_BYTES + 1];
    let chunk = JobChunk {
        job: job(),
        index: 0,
        last: true,
        bytes: &bytes,
    };
    let mut buffer = vec![0u8; 2 * MAX_PAYLOAD_BYTES];
    assert!(matches!(
        encode(&chunk, &mut buffer),
        Err(FleetError::Oversized { .. })
    ));
    // Hand-made past the encoder's check.
    let len = postcard::to_slice(&(FLEET_VERSION, &chunk), &mut buffer)
        .unwrap()
        .len();
    assert!(matches!(
        decode::<JobChunk>(&buffer[..len]),
        Err(FleetError::Oversized { .. })
    ));
}

#[test]
fn version_truncation_and_trailing_bytes_are_told_apart() {
    let mut buffer = vec![0u8; 256];
    let len = encode(&HostHello { run: 9 }, &mut buffer).unwrap().len();
    let good = buffer[..len].to_vec();

    let mut other_version = vec![0u8; 256];
    let n = postcard::to_slice(
        &(FLEET_VERSION + 1, HostHello { run: 9 }),
        &mut other_version,
    )
    .unwrap()
    .len();
    assert_eq!(
        decode::<HostHello>(&other_version[..n]),
        Err(FleetError::UnknownVersion {
            received: FLEET_VERSION + 1,
            supported: FLEET_VERSION
        })
    );
    assert_eq!(
        decode::<HostHello>(&good[..good.len() - 1]),
        Err(FleetError::Truncated)
    );
    assert_eq!(decode::<HostHello>(&[]), Err(FleetError::Truncated));
    let mut long = good.clone();
    long.push(0);
    assert_eq!(
        decode::<HostHello>(&long),
        Err(FleetError::TrailingBytes { count: 1 })
    );
    // A board id with a topic wildcard in an announce is refused.
    let Status::Online(mut bad) = announce() else {
        unreachable!()
    };
    bad.board = String::try_from("a/+").unwrap();
    let n = postcard::to_slice(&(FLEET_VERSION, Status::Online(bad)), &mut buffer)
        .unwrap()
        .len();
    assert_eq!(decode::<Status>(&buffer[..n]), Err(FleetError::BadBoardId));
}

#[test]
fn topics_name_and_parse_each_other() {
    for topic in [
        Topic::Status("b1"),
        Topic::Heartbeat("board_2.lab-A"),
        Topic::Job("x"),
        Topic::Out("0123456789abcdef0123456789abcdef"),
        Topic::Host,
    ] {
        let name = topic.name().unwrap();
        assert!(name.len() <= MAX_TOPIC_BYTES);
        assert_eq!(Topic::parse(&name), Some(topic), "{name}");
    }
    assert_eq!(
        Topic::Out("b1").name().unwrap().as_str(),
        "robofish/v1/boards/b1/out"
    );
    assert_eq!(
        all_boards(BoardLeaf::Status).as_str(),
        "robofish/v1/boards/+/status"
    );
    for bad in [
        "",
        "a/b",
        "+",
        "#",
        "a b",
        "é",
        "0123456789abcdef0123456789abcdefX",
    ] {
        assert_eq!(check_board_id(bad), Err(FleetError::BadBoardId), "{bad:?}");
        assert!(Topic::Job(bad).name().is_err());
    }
    for outside in [
        "robofish/v1/boards/b1/other",
        "robofish/v2/boards/b1/out",
        "robofish/v1/boards/b1",
        "robofish/v1/boards//out",
        "elsewhere",
    ] {
        assert_eq!(Topic::parse(outside), None, "{outside}");
    }
}

proptest! {
    /// No bytes make any decoder panic; whatever decodes re-encodes to a
    /// payload that decodes to the same message.
    #[test]
    fn hostile_bytes_give_errors_not_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        fn again<'b, M>(message: &M, buffer: &'b mut [u8]) -> Result<(), TestCaseError>
        where
            M: FleetMessage + Deserialize<'b> + PartialEq + core::fmt::Debug,
        {
            let len = encode(message, buffer).map_err(|e| TestCaseError::fail(std::format!("{e}")))?.len();
            prop_assert_eq!(&decode::<M>(&buffer[..len]).unwrap(), message);
            Ok(())
        }
        if let Ok(m) = decode::<Status>(&bytes) {
            again(&m, &mut vec![0u8; MAX_PAYLOAD_BYTES])?;
        }
        if let Ok(m) = decode::<Heartbeat>(&bytes) {
            again(&m, &mut vec![0u8; MAX_PAYLOAD_BYTES])?;
        }
        if let Ok(m) = decode::<JobChunk>(&bytes) {
            again(&m, &mut vec![0u8; MAX_PAYLOAD_BYTES])?;
        }
        if let Ok(m) = decode::<BoardMessage>(&bytes) {
            again(&m, &mut vec![0u8; MAX_PAYLOAD_BYTES])?;
        }
        let _ = decode::<HostHello>(&bytes);
    }

    /// Hostile bytes after a valid version prefix reach the message
    /// decoders (random bytes rarely start with version 1).
    #[test]
    fn hostile_bodies_give_errors_not_panics(body in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut bytes = vec![FLEET_VERSION as u8];
        bytes.extend_from_slice(&body);
        let _ = decode::<Status>(&bytes);
        let _ = decode::<Heartbeat>(&bytes);
        let _ = decode::<JobChunk>(&bytes);
        let _ = decode::<BoardMessage>(&bytes);
        let _ = decode::<HostHello>(&bytes);
    }
}
