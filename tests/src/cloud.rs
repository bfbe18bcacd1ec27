//! The cloud side of a test on a real broker: a subscriber that hands over
//! what the gateway published upstream, with its topic and user properties.

// Test support: a failed expectation is a panic, with what was seen.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use std::time::Duration;
use tokio::sync::mpsc;

/// How long [`subscribe`] waits for the broker to acknowledge the
/// subscription.
pub const SUBSCRIBE_WAIT: Duration = Duration::from_secs(10);

/// How long the subscriber waits before it connects again after an error.
const RECONNECT: Duration = Duration::from_millis(100);

/// One message the subscriber received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The topic it was published on.
    pub topic: String,
    /// The payload, as text (lossy).
    pub body: String,
    /// Its MQTT 5 user properties, in order.
    pub properties: Vec<(String, String)>,
}

/// How the subscriber's session is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session {
    /// A new session on each connection.
    Clean,
    /// One session that outlives a disconnect (an hour), so that the broker
    /// keeps what arrives while the subscriber or the broker restarts.
    Persistent,
}

/// Subscribes as `client_id` to `filter` at QoS 1 on the broker at `port`,
/// and returns what arrives. It connects again after an error, and
/// subscribes again on each connection. Returns once the first subscription
/// is acknowledged; panics if that takes longer than [`SUBSCRIBE_WAIT`].
pub async fn subscribe(
    port: u16,
    client_id: &str,
    filter: &str,
    session: Session,
) -> mpsc::UnboundedReceiver<Received> {
    subscribe_with(port, client_id, filter, session, |r| r).await
}

/// [`subscribe`], handing over only the bodies.
pub async fn bodies(
    port: u16,
    client_id: &str,
    filter: &str,
    session: Session,
) -> mpsc::UnboundedReceiver<String> {
    subscribe_with(port, client_id, filter, session, |r| r.body).await
}

async fn subscribe_with<T: Send + 'static>(
    port: u16,
    client_id: &str,
    filter: &str,
    session: Session,
    map: fn(Received) -> T,
) -> mpsc::UnboundedReceiver<T> {
    let mut options = MqttOptions::new(client_id, "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(5));
    if session == Session::Persistent {
        options
            .set_clean_start(false)
            .set_session_expiry_interval(Some(3600));
    }
    let (client, mut eventloop) = AsyncClient::new(options, 100);
    let (tx, rx) = mpsc::unbounded_channel();
    let (ready_tx, mut ready) = mpsc::channel(1);
    let topic_filter = filter.to_string();
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    if client
                        .subscribe(&topic_filter, QoS::AtLeastOnce)
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    let _ = ready_tx.try_send(());
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let received = Received {
                        topic: String::from_utf8_lossy(&p.topic).into_owned(),
                        body: String::from_utf8_lossy(&p.payload).into_owned(),
                        properties: p.properties.map(|p| p.user_properties).unwrap_or_default(),
                    };
                    if tx.send(map(received)).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(RECONNECT).await,
            }
        }
    });
    if tokio::time::timeout(SUBSCRIBE_WAIT, ready.recv())
        .await
        .is_err()
    {
        panic!("{client_id}: no SUBACK for `{filter}` within {SUBSCRIBE_WAIT:?}");
    }
    rx
}

/// The telemetry filter of `device` (`+` for every device).
pub fn events(device: &str) -> String {
    ganglion::protocol::topics::Topics::new(device).events()
}
