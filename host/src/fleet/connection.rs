//! The host's broker connection: rumqttc's event loop on a thread of its
//! own, subscribing (again) on every connection and handing what boards
//! publish to the host's loop as [`HostEvent`]s.

use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use robofish_device::fleet::broker::{self, BrokerUrl, Credentials};
use robofish_shared::fleet::{
    self, all_boards, BoardLeaf, Heartbeat, HostHello, Status, Topic, MAX_PAYLOAD_BYTES,
};
use rumqttc::{Client, Event, Packet, QoS};

/// What the broker delivered.
#[derive(Debug)]
pub enum HostEvent {
    /// Connected (again) and subscribed.
    Connected,
    /// The connection cannot work (a refused login, a broker never
    /// reached): the run ends with this message.
    Fatal(String),
    /// A board's status.
    Status(String, Box<Status>),
    /// A board's heartbeat.
    Heartbeat(String, Heartbeat),
    /// A board's `out` payload (a `Ready` or a result chunk), decoded by
    /// the loop so result bytes are borrowed, not copied twice.
    Out(String, Vec<u8>),
}

/// Connects as host run `run`. The connection is made in the background:
/// the first event is `Connected` or, after `connect_timeout` without a
/// connection, `Fatal`.
pub fn connect(
    url: &BrokerUrl,
    credentials: Option<&Credentials>,
    run: u64,
    connect_timeout: Duration,
) -> Result<(Client, Receiver<HostEvent>)> {
    let options = broker::options(
        &format!("robofish-host-{run:016x}"),
        url,
        credentials,
        Duration::from_secs(10),
    );
    let (client, mut connection) = Client::new(options, 64);
    let (send, events) = mpsc::channel();
    let subscriber = client.clone();
    let url = url.clone();
    let mut hello = vec![0u8; MAX_PAYLOAD_BYTES];
    let hello_len = fleet::encode(&HostHello { run }, &mut hello)
        .context("encoding the host's hello")?
        .len();
    hello.truncate(hello_len);
    thread::Builder::new()
        .name("robofish-fleet-mqtt".into())
        .spawn(move || {
            let started = Instant::now();
            let mut connected = false;
            let mut failures = 0u32;
            for event in connection.iter() {
                let delivered = match event {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        connected = true;
                        failures = 0;
                        // Never blocking here: this thread drains the
                        // request queue that a blocking call would wait on.
                        for leaf in [BoardLeaf::Status, BoardLeaf::Heartbeat, BoardLeaf::Out] {
                            let _ = subscriber
                                .try_subscribe(all_boards(leaf).as_str(), QoS::AtLeastOnce);
                        }
                        let _ = subscriber.try_publish(
                            fleet::HOST_TOPIC,
                            QoS::AtLeastOnce,
                            false,
                            hello.clone(),
                        );
                        send.send(HostEvent::Connected)
                    }
                    Ok(Event::Incoming(Packet::Publish(publish))) => {
                        match incoming(&publish.topic, &publish.payload) {
                            Some(event) => send.send(event),
                            None => Ok(()),
                        }
                    }
                    Ok(_) => Ok(()),
                    Err(error) => {
                        let (why, retry) = broker::explain(&error, &url);
                        if !retry || (!connected && started.elapsed() > connect_timeout) {
                            let _ = send.send(HostEvent::Fatal(why));
                            return;
                        }
                        failures += 1;
                        if failures == 1 || failures.is_multiple_of(30) {
                            eprintln!("fleet: {why}; retrying");
                        }
                        thread::sleep(Duration::from_millis(200 * u64::from(failures.min(5))));
                        Ok(())
                    }
                };
                if delivered.is_err() {
                    // The host's loop ended.
                    return;
                }
            }
        })
        .context("starting the MQTT thread")?;
    Ok((client, events))
}

/// The event a publish on `topic` is, or `None` for one to ignore (a
/// topic outside the schema, a payload that does not decode: logged).
fn incoming(topic: &str, payload: &[u8]) -> Option<HostEvent> {
    let parsed = Topic::parse(topic)?;
    let event = match parsed {
        Topic::Status(board) => fleet::decode::<Status>(payload)
            .map(|status| HostEvent::Status(board.to_string(), Box::new(status))),
        Topic::Heartbeat(board) => fleet::decode::<Heartbeat>(payload)
            .map(|beat| HostEvent::Heartbeat(board.to_string(), beat)),
        Topic::Out(board) => Ok(HostEvent::Out(board.to_string(), payload.to_vec())),
        Topic::Job(_) | Topic::Host => return None,
    };
    match event {
        Ok(event) => Some(event),
        // An empty retained message clears a topic: nothing to say.
        Err(_) if payload.is_empty() => None,
        Err(e) => {
            eprintln!("fleet: dropped a message on {topic}: {e}");
            None
        }
    }
}
