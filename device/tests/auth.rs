//! Authentication against the real TCP device: without the token nothing
//! that changes the device is accepted (and, unless it allows anonymous
//! streaming, nothing at all), a wrong token ends the session, and the
//! right one flashes and stops the device.

use std::time::Duration;

use robofish_device::auth::Token;
use robofish_device::client::Fov;
use robofish_device::Error;
use robofish_shared::protocol::{Access, ErrorKind};

mod common;
use common::tcp::{shipped_model, TcpDevice};

const TOKEN: &str = "3f9a1c0e8b7d6a5f4e3d2c1b0a998877";

fn token_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("token");
    std::fs::write(&path, format!("{TOKEN}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    path
}

fn unauthorized(result: Result<impl std::fmt::Debug, Error>) -> String {
    match result {
        Err(Error::Device(report)) if report.kind == ErrorKind::Unauthorized => {
            report.message.to_string()
        }
        other => panic!("not refused as unauthorized: {other:?}"),
    }
}

fn small_fov(images: &[u16]) -> Fov<'_> {
    common::fov(images, 16, 16)
}

#[test]
fn only_a_host_with_the_token_flashes_streams_or_stops_the_device() {
    let dir = tempfile::tempdir().unwrap();
    let token = token_file(dir.path());
    let model = std::fs::read(shipped_model()).unwrap();
    let mut device = TcpDevice::start(&["--token-file", token.to_str().unwrap()]);
    let images = vec![100u16; 16 * 16 * 16];

    // Anonymous: the handshake says what is needed; each refused request
    // gets exactly one reply, and the session goes on.
    let (mut anonymous, ack, _) = device.served_within(Duration::from_secs(10));
    assert_eq!(ack.access, Access::Closed);
    assert_ne!(ack.challenge, [0; 32]);
    assert!(matches!(
        anonymous.authenticate(&ack, None),
        Err(Error::NeedsToken)
    ));
    assert!(unauthorized(anonymous.flash(&model)).contains("--token-file"));
    anonymous.send_fov(1, &small_fov(&images)).unwrap();
    let refused = anonymous.collect(1).unwrap().error.expect("FOV refused");
    assert_eq!(refused.kind, ErrorKind::Unauthorized);
    unauthorized(anonymous.report());
    assert!(unauthorized(anonymous.stop_device()).contains("authenticated"));
    anonymous.shutdown().unwrap();
    drop(anonymous);

    // A wrong token: refused, and the device ends that session.
    let (mut wrong, ack, _) = device.served_within(Duration::from_secs(10));
    assert!(
        unauthorized(wrong.authenticate(&ack, Some(b"not-the-token-at-all"))).contains("wrong")
    );
    assert!(
        wrong.report().is_err(),
        "the session continued after a wrong token"
    );
    drop(wrong);

    // A recorded tag does not open a new session: every Hello has a new
    // challenge.
    let (mut first, ack1, _) = device.served_within(Duration::from_secs(10));
    first.shutdown().unwrap();
    drop(first);
    let (mut replay, ack2, _) = device.served_within(Duration::from_secs(10));
    assert_ne!(ack1.challenge, ack2.challenge);
    let old = robofish_shared::protocol::auth_tag(TOKEN.as_bytes(), &ack1.challenge);
    replay
        .send(&robofish_shared::protocol::HostMessage::Authenticate(
            robofish_shared::protocol::Authenticate { tag: old },
        ))
        .unwrap();
    replay.flush().unwrap();
    match replay.recv().unwrap() {
        robofish_shared::protocol::DeviceMessage::Error(e) => {
            assert_eq!(e.kind, ErrorKind::Unauthorized)
        }
        other => panic!("a replayed tag was accepted: {other:?}"),
    }
    drop(replay);

    // The right token: flash, stream, then stop the device.
    let secret = Token::from_contents(TOKEN.as_bytes()).unwrap();
    let (mut admin, ack, _) = device.served_within(Duration::from_secs(10));
    admin.authenticate(&ack, Some(secret.bytes())).unwrap();
    admin.flash(&model).unwrap();
    admin.send_fov(2, &small_fov(&images)).unwrap();
    let result = admin.collect(2).unwrap();
    assert!(result.error.is_none(), "{:?}", result.error);
    admin.stop_device().unwrap();
    let status = device
        .exits_within(Duration::from_secs(10))
        .expect("the device stops when an authenticated host says so");
    assert!(status.success(), "{status}: {}", device.log());
    assert!(
        device.log().contains("stopped the device"),
        "{}",
        device.log()
    );
}

#[test]
fn anonymous_streaming_leaves_flashing_and_stopping_protected() {
    let dir = tempfile::tempdir().unwrap();
    let token = token_file(dir.path());
    let model = std::fs::read(shipped_model()).unwrap();
    let mut device = TcpDevice::start(&[
        "--token-file",
        token.to_str().unwrap(),
        "--allow-anonymous-streaming",
    ]);
    let images = vec![100u16; 16 * 16 * 16];
    let (mut host, ack, _) = device.served_within(Duration::from_secs(10));
    assert_eq!(ack.access, Access::StreamOpen);
    host.authenticate(&ack, None).unwrap();
    host.send_fov(1, &small_fov(&images)).unwrap();
    let result = host.collect(1).unwrap();
    assert!(result.error.is_none(), "{:?}", result.error);
    host.report().unwrap();
    unauthorized(host.flash(&model));
    unauthorized(host.stop_device());
    // Still serving after both refusals.
    host.send_fov(2, &small_fov(&images)).unwrap();
    assert!(host.collect(2).unwrap().error.is_none());
    host.shutdown().unwrap();
    assert!(device.alive());
}

#[test]
fn a_device_without_a_token_cannot_be_stopped_over_the_wire() {
    let mut device = TcpDevice::start(&[]);
    let (mut host, ack, _) = device.served_within(Duration::from_secs(10));
    assert_eq!(ack.access, Access::Open);
    assert!(unauthorized(host.stop_device()).contains("signal"));
    host.shutdown().unwrap();
    assert!(device.alive());
}
