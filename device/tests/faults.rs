//! The TCP device against ordinary and faulty hosts, on 127.0.0.1 only:
//! it stays up after a host's session (even one that says `Shutdown`),
//! tells concurrent hosts it is busy, and drops a host that goes quiet so
//! the next one is served. Each test starts its own `robofish-device`.

use std::net::TcpStream;
use std::time::Duration;

use robofish_device::client::Client;
use robofish_device::Error;
use robofish_shared::protocol::ErrorKind;

mod common;
use common::tcp::TcpDevice;

#[test]
fn a_tcp_device_stays_up_after_each_session() {
    let mut device = TcpDevice::start(&[]);
    for session in 0..3 {
        let (mut client, _, _) = device.served_within(Duration::from_secs(10));
        client.report().unwrap();
        // What `robofish stream` and `flash` send when they close.
        client.shutdown().unwrap();
        drop(client);
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            device.alive(),
            "exited after session {session}: {}",
            device.log()
        );
    }
}

#[test]
fn concurrent_hosts_are_told_the_device_is_busy() {
    let device = TcpDevice::start(&[]);
    let (mut holder, _, _) = device.served_within(Duration::from_secs(10));
    let others: Vec<_> = (0..5)
        .map(|_| {
            let addr = device.addr.clone();
            std::thread::spawn(move || {
                let stream = TcpStream::connect(addr).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(30)))
                    .unwrap();
                Client::new(stream.try_clone().unwrap(), stream).hello()
            })
        })
        .collect();
    for other in others {
        match other.join().unwrap() {
            Err(Error::Device(report)) => {
                assert_eq!(report.kind, ErrorKind::Busy, "{report:?}");
                assert!(report.message.contains("serving 127.0.0.1:"), "{report:?}");
            }
            reply => panic!("not told busy: {reply:?}"),
        }
    }
    // The holder was never disturbed, and once it leaves the next is served.
    holder.report().unwrap();
    holder.shutdown().unwrap();
    drop(holder);
    device.served_within(Duration::from_secs(10));
}

#[test]
fn a_quiet_host_is_dropped_and_the_next_one_served() {
    let device = TcpDevice::start(&["--idle-timeout", "1"]);
    let (quiet, _, _) = device.served_within(Duration::from_secs(10));
    let (mut next, _, waited) = device.served_within(Duration::from_secs(20));
    println!("the next host was served after {waited:?} (idle timeout 1 s)");
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
    next.report().unwrap();
    let log = device.log();
    assert!(
        log.contains("sent nothing for 1 s (--idle-timeout)"),
        "{log}"
    );
    drop(quiet);
}

#[test]
fn a_host_that_stops_reading_is_dropped_and_the_next_one_served() {
    use robofish_shared::protocol::HostMessage;
    let device = TcpDevice::start(&["--io-timeout", "1"]);
    let (mut deaf, _, _) = device.served_within(Duration::from_secs(10));
    // Ask for reports and never read one: the device's replies fill the
    // socket buffers, its writes block, and after --io-timeout it gives up.
    let flood = std::thread::spawn(move || {
        let mut sent = 0u64;
        while deaf.send(&HostMessage::ReportRequest).is_ok() && deaf.flush().is_ok() {
            sent += 1;
        }
        sent
    });
    let (mut next, _, waited) = device.served_within(Duration::from_secs(60));
    next.report().unwrap();
    let requests = flood.join().unwrap();
    println!(
        "a host that sent {requests} report requests without reading was dropped; the next \
         host was served after {waited:?} (io timeout 1 s)"
    );
    let log = device.log();
    assert!(
        log.contains("read none of the replies for 1 s (--io-timeout)"),
        "{log}"
    );
}
