//! A leaf device on a real broker: publishes messages at QoS 1 and returns
//! once the broker acknowledged every one.

// Test support: a failed expectation is a panic, with what was seen.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, PublishProperties};
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use std::time::Duration;

/// How long the leaf waits for the broker's next acknowledgement before it
/// fails.
pub const ACK_WAIT: Duration = Duration::from_secs(10);

/// One message a leaf publishes.
#[derive(Debug, Clone, Default)]
pub struct LeafMessage {
    /// Its topic.
    pub topic: String,
    /// Its body.
    pub body: Vec<u8>,
    /// Its properties (user properties, content type, ...).
    pub properties: PublishProperties,
}

impl LeafMessage {
    /// `body` on `topic`, with no properties.
    pub fn new(topic: &str, body: impl Into<Vec<u8>>) -> LeafMessage {
        LeafMessage {
            topic: topic.to_string(),
            body: body.into(),
            properties: PublishProperties::default(),
        }
    }
}

/// Publishes `messages` in order at QoS 1 as `client_id` on the broker at
/// `port`, pausing 2 ms after every `burst` of them (0: no pauses), and
/// returns once the broker acknowledged all of them. Panics if the broker
/// goes away or stops acknowledging for [`ACK_WAIT`].
pub async fn publish(port: u16, client_id: &str, messages: Vec<LeafMessage>, burst: usize) {
    let mut options = MqttOptions::new(client_id, "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(5));
    let (client, mut eventloop) = AsyncClient::new(options, 100);
    let n = messages.len();
    let publisher = tokio::spawn(async move {
        for (i, m) in messages.into_iter().enumerate() {
            client
                .publish_with_properties(m.topic, QoS::AtLeastOnce, false, m.body, m.properties)
                .await
                .unwrap();
            if burst > 0 && (i + 1).is_multiple_of(burst) {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    });
    let mut acked = 0;
    while acked < n {
        match tokio::time::timeout(ACK_WAIT, eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => acked += 1,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("{client_id}: the leaf lost its broker: {e}"),
            Err(_) => panic!("{client_id}: the broker acknowledged {acked} of {n}"),
        }
    }
    publisher.await.unwrap();
}
