//! One short MQTT 5 session to the cloud broker, for an operator command.
//!
//! The connection comes from [`BrokerSettings::options`]: built like the
//! gateway's uplink, with a client id of its own per invocation and a clean
//! start. The session owns the rumqttc event loop and drives it only while a
//! call waits, so there is no background task: a publish that arrives while a
//! call waits for an acknowledgement is kept for [`Session::next_publish`].

use super::OperatorError;
use super::broker::{BrokerSettings, client_id};
use rumqttc::Outgoing;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{
    ConnectReturnCode, Filter, Packet, PubAckReason, Publish, PublishProperties,
    SubscribeReasonCode,
};
use rumqttc::v5::{AsyncClient, ConnectionError, Event, EventLoop};
use std::collections::{HashMap, VecDeque};
use std::time::Duration;
use tokio::time::Instant;

/// How long to wait for the broker to accept the connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to wait for the broker to acknowledge a subscribe or a publish.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to wait for retained messages after the broker acknowledged the
/// subscription, unless all of them arrived earlier.
pub const DEFAULT_RETAINED_WAIT: Duration = Duration::from_secs(2);

/// How many requests wait for the event loop.
const REQUEST_CAPACITY: usize = 16;

/// How long a clean disconnect may take before the session is just dropped.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// A publish the session received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// Its topic.
    pub topic: String,
    /// Its payload.
    pub payload: Vec<u8>,
    /// Whether the broker sent it as a retained message (that is, as the
    /// state when the subscription was made).
    pub retain: bool,
    /// Its MQTT 5 user properties, in order.
    pub user_properties: Vec<(String, String)>,
    /// Its response topic (a direct-method request has one).
    pub response_topic: Option<String>,
    /// Its correlation data.
    pub correlation_data: Option<Vec<u8>>,
    /// Its content type.
    pub content_type: Option<String>,
}

impl From<&Publish> for Incoming {
    fn from(p: &Publish) -> Incoming {
        let props = p.properties.as_ref();
        Incoming {
            topic: String::from_utf8_lossy(&p.topic).into_owned(),
            payload: p.payload.to_vec(),
            retain: p.retain,
            user_properties: props.map(|p| p.user_properties.clone()).unwrap_or_default(),
            response_topic: props.and_then(|p| p.response_topic.clone()),
            correlation_data: props.and_then(|p| p.correlation_data.as_ref().map(|c| c.to_vec())),
            content_type: props.and_then(|p| p.content_type.clone()),
        }
    }
}

/// An MQTT 5 session to the cloud broker.
pub struct Session {
    client: AsyncClient,
    eventloop: EventLoop,
    broker: String,
    received: VecDeque<Incoming>,
}

fn connection_error(broker: &str, e: &ConnectionError) -> OperatorError {
    match e {
        ConnectionError::ConnectionRefused(code) => OperatorError::Refused {
            broker: broker.to_string(),
            reason: format!("{code:?}"),
        },
        other => OperatorError::Connect {
            broker: broker.to_string(),
            reason: other.to_string(),
        },
    }
}

impl Session {
    /// Connects to the broker and waits until it accepts the session.
    pub async fn connect(settings: &BrokerSettings) -> Result<Session, OperatorError> {
        let options = settings.options(&client_id())?;
        let (client, mut eventloop) = AsyncClient::new(options, REQUEST_CAPACITY);
        let broker = settings.url.clone();
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        loop {
            let event = tokio::time::timeout_at(deadline, eventloop.poll())
                .await
                .map_err(|_| OperatorError::ConnectTimeout {
                    broker: broker.clone(),
                    waited: CONNECT_TIMEOUT,
                })?
                .map_err(|e| connection_error(&broker, &e))?;
            if let Event::Incoming(Packet::ConnAck(ack)) = event {
                if ack.code != ConnectReturnCode::Success {
                    return Err(OperatorError::Refused {
                        broker,
                        reason: format!("{:?}", ack.code),
                    });
                }
                return Ok(Session {
                    client,
                    eventloop,
                    broker,
                    received: VecDeque::new(),
                });
            }
        }
    }

    /// The broker's address, for messages.
    pub fn broker(&self) -> &str {
        &self.broker
    }

    fn lost(&self, reason: impl ToString) -> OperatorError {
        OperatorError::ConnectionLost {
            broker: self.broker.clone(),
            reason: reason.to_string(),
        }
    }

    /// Drives the event loop once, until `deadline` at the latest (`None`
    /// then). A received publish is kept for [`Session::next_publish`].
    async fn poll(&mut self, deadline: Instant) -> Result<Option<Event>, OperatorError> {
        let Ok(event) = tokio::time::timeout_at(deadline, self.eventloop.poll()).await else {
            return Ok(None);
        };
        let event = event.map_err(|e| self.lost(e))?;
        match &event {
            Event::Incoming(Packet::Publish(p)) => self.received.push_back(Incoming::from(p)),
            Event::Incoming(Packet::Disconnect(d)) => {
                return Err(self.lost(format!("the broker disconnected: {:?}", d.reason_code)));
            }
            _ => {}
        }
        Ok(Some(event))
    }

    /// Subscribes to `filters` at QoS 1 in one SUBSCRIBE, and waits until the
    /// broker acknowledges every one of them.
    pub async fn subscribe(&mut self, filters: &[String]) -> Result<(), OperatorError> {
        let what = format!("the subscription to {}", filters.join(", "));
        let request = filters
            .iter()
            .map(|f| Filter::new(f.clone(), QoS::AtLeastOnce));
        self.client
            .subscribe_many(request)
            .await
            .map_err(|e| self.lost(format!("cannot subscribe: {e}")))?;
        let deadline = Instant::now() + ACK_TIMEOUT;
        let mut pkid = None;
        loop {
            match self.poll(deadline).await? {
                None => {
                    return Err(OperatorError::AckTimeout {
                        broker: self.broker.clone(),
                        what,
                        waited: ACK_TIMEOUT,
                    });
                }
                Some(Event::Outgoing(Outgoing::Subscribe(id))) => pkid = Some(id),
                Some(Event::Incoming(Packet::SubAck(ack))) if Some(ack.pkid) == pkid => {
                    for (filter, code) in filters.iter().zip(&ack.return_codes) {
                        if !matches!(code, SubscribeReasonCode::Success(_)) {
                            return Err(OperatorError::SubscribeRefused {
                                filter: filter.clone(),
                                reason: format!("{code:?}"),
                            });
                        }
                    }
                    return Ok(());
                }
                Some(_) => {}
            }
        }
    }

    /// Publishes at QoS 1 and waits for the broker's PUBACK. Returns
    /// `false` if the broker said that no one subscribes to `topic`, `true`
    /// if it took the message with subscribers (or did not say).
    pub async fn publish(
        &mut self,
        topic: &str,
        payload: Vec<u8>,
        retain: bool,
        properties: PublishProperties,
    ) -> Result<bool, OperatorError> {
        self.client
            .publish_with_properties(topic, QoS::AtLeastOnce, retain, payload, properties)
            .await
            .map_err(|e| OperatorError::PublishRefused {
                topic: topic.to_string(),
                reason: format!("the client refused it ({e})"),
            })?;
        let deadline = Instant::now() + ACK_TIMEOUT;
        let mut pkid = None;
        loop {
            match self.poll(deadline).await? {
                None => {
                    return Err(OperatorError::AckTimeout {
                        broker: self.broker.clone(),
                        what: format!("the publish to `{topic}`"),
                        waited: ACK_TIMEOUT,
                    });
                }
                Some(Event::Outgoing(Outgoing::Publish(id))) => pkid = Some(id),
                Some(Event::Incoming(Packet::PubAck(ack))) if Some(ack.pkid) == pkid => {
                    return match ack.reason {
                        PubAckReason::Success => Ok(true),
                        PubAckReason::NoMatchingSubscribers => Ok(false),
                        other => Err(OperatorError::PublishRefused {
                            topic: topic.to_string(),
                            reason: format!("{other:?}"),
                        }),
                    };
                }
                Some(_) => {}
            }
        }
    }

    /// The next publish received, waiting until `deadline` at the latest
    /// (`None` then). `None` as the deadline waits for ever.
    pub async fn next_publish(
        &mut self,
        deadline: Option<Instant>,
    ) -> Result<Option<Incoming>, OperatorError> {
        loop {
            if let Some(incoming) = self.received.pop_front() {
                return Ok(Some(incoming));
            }
            // Far enough away to mean "never", near enough not to overflow.
            let until = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400));
            if self.poll(until).await?.is_none() && deadline.is_some() {
                return Ok(None);
            }
        }
    }

    /// Subscribes to `topics` (exact topics, no wildcards) and collects the
    /// messages retained on them: it returns once every topic has one, or
    /// `wait` after the broker acknowledged the subscription. A topic with
    /// nothing retained (or an empty payload) is absent from the result.
    pub async fn read_retained(
        &mut self,
        topics: &[String],
        wait: Duration,
    ) -> Result<HashMap<String, Incoming>, OperatorError> {
        self.subscribe(topics).await?;
        let deadline = Instant::now() + wait;
        let mut found = HashMap::new();
        while found.len() < topics.len() {
            let Some(incoming) = self.next_publish(Some(deadline)).await? else {
                break;
            };
            if topics.contains(&incoming.topic) {
                if incoming.payload.is_empty() {
                    found.remove(&incoming.topic);
                } else {
                    found.insert(incoming.topic.clone(), incoming);
                }
            }
        }
        Ok(found)
    }

    /// Disconnects cleanly, or gives up after a second.
    pub async fn disconnect(mut self) {
        if self.client.disconnect().await.is_err() {
            return;
        }
        let deadline = Instant::now() + DISCONNECT_TIMEOUT;
        while let Ok(Some(event)) = self.poll(deadline).await {
            if matches!(event, Event::Outgoing(Outgoing::Disconnect)) {
                return;
            }
        }
    }
}
