//! The uplink: one MQTT 5 session to the cloud broker. A connection task owns
//! the rumqttc event loop; it reconnects with capped, jittered backoff and
//! reports what happens ([`LinkEvent`]) to the `$upstream` task, which owns the
//! queue and decides what to publish (see [`crate::upstream`]).
//!
//! Each connection starts clean: what was in flight when a connection dropped
//! is sent again from the queue on the next one (at least once; the receiver
//! may see a duplicate, never a gap).

pub mod publish;
pub mod tls;

use crate::backoff::{self, Backoff};
use rumqttc::Outgoing;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{ConnectReturnCode, LastWill, Packet, PubAckReason, Publish};
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use rumqttc::{TlsConfiguration, Transport};
use std::time::Duration;
use tls::{TlsError, TlsSettings};
use tokio::sync::{mpsc, watch};

/// How many events wait for the `$upstream` task.
pub const LINK_EVENTS: usize = 1024;
/// How many control events (desired twins, method requests) wait for the agent.
pub const CONTROL_EVENTS: usize = 256;

/// What the connection tells the agent.
#[derive(Debug)]
pub enum ControlEvent {
    /// A connection is up, subscribed to the control topics; publish through
    /// this client.
    Connected(AsyncClient),
    /// A message on a control topic (a desired twin, a method request).
    Publish(Box<Publish>),
    /// The connection is down.
    Disconnected,
}

/// Where and how to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UplinkConfig {
    /// The broker's host name or address.
    pub host: String,
    /// The broker's port.
    pub port: u16,
    /// This gateway's id: the MQTT client id and the topic prefix.
    pub device_id: String,
    /// User name and password, if the broker wants them.
    pub credentials: Option<(String, String)>,
    /// TLS (`mqtts://`), if the connection is secured.
    pub tls: Option<TlsSettings>,
    /// How many messages may be published and not yet acknowledged.
    pub in_flight: u16,
    /// The MQTT keep-alive interval.
    pub keep_alive: Duration,
    /// The reconnect backoff.
    pub backoff: Backoff,
}

use crate::protocol::MAX_INBOUND_PACKET;

/// The default in-flight window.
pub const DEFAULT_IN_FLIGHT: u16 = 64;

/// Why an uplink address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("upstream address `{url}`: {reason}")]
pub struct UplinkUrlError {
    /// The address.
    pub url: String,
    /// What is wrong with it.
    pub reason: String,
}

impl UplinkConfig {
    /// A configuration for `mqtt://host[:port]` (port 1883 by default) or
    /// `mqtts://host[:port]` (TLS, port 8883 by default, checked against the
    /// system's roots until [`TlsSettings`] say otherwise).
    pub fn from_url(url: &str, device_id: &str) -> Result<UplinkConfig, UplinkUrlError> {
        let bad = |reason: &str| UplinkUrlError {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let (rest, tls, default_port) = if let Some(rest) = url.strip_prefix("mqtt://") {
            (rest, None, 1883)
        } else if let Some(rest) = url.strip_prefix("mqtts://") {
            (rest, Some(TlsSettings::default()), 8883)
        } else {
            return Err(bad("it must start with mqtt:// or mqtts://"));
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| bad("the port is not a number from 1 to 65535"))?,
            ),
            None => (rest, default_port),
        };
        if host.is_empty() || port == 0 {
            return Err(bad("it needs a host and a port"));
        }
        if device_id.is_empty() || device_id.contains(['/', '+', '#']) {
            return Err(bad(
                "the device id must be non-empty, without `/`, `+` or `#`",
            ));
        }
        Ok(UplinkConfig {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
            device_id: device_id.to_string(),
            credentials: None,
            tls,
            in_flight: DEFAULT_IN_FLIGHT,
            keep_alive: Duration::from_secs(30),
            backoff: backoff::RECONNECT,
        })
    }

    /// The rumqttc options for one connection attempt (this reads the TLS
    /// files, so that renewed certificates are used).
    pub fn options(&self) -> Result<MqttOptions, TlsError> {
        let mut options = self.connection(&self.device_id)?;
        options
            .set_keep_alive(self.keep_alive)
            .set_max_packet_size(Some(MAX_INBOUND_PACKET))
            .set_outgoing_inflight_upper_limit(self.in_flight.saturating_add(1));
        let topics = crate::protocol::topics::Topics::new(&self.device_id);
        options.set_last_will(LastWill::new(
            topics.online(),
            "false",
            QoS::AtLeastOnce,
            true,
            None,
        ));
        Ok(options)
    }

    /// The options that reach this broker as `client_id`: its address, the
    /// socket options, a clean start, the credentials and TLS; nothing of the
    /// gateway's session (no last will). `ganglion doctor` probes with them.
    pub fn connection(&self, client_id: &str) -> Result<MqttOptions, TlsError> {
        let mut options = MqttOptions::new(client_id, &self.host, self.port);
        options
            .set_network_options(network_options())
            .set_clean_start(true);
        if let Some((user, password)) = &self.credentials {
            options.set_credentials(user, password);
        }
        if let Some(tls) = &self.tls {
            let config = tls::client_config(tls)?;
            options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(config)));
        }
        Ok(options)
    }
}

/// What the connection task reports. Every event carries the connection's
/// generation, so that nothing from a dropped connection is taken for the
/// current one.
#[derive(Debug)]
pub enum LinkEvent {
    /// A connection is up; publish through `client`.
    Connected {
        /// The connection's generation.
        generation: u64,
        /// The client for this connection.
        client: AsyncClient,
    },
    /// The client sent the oldest pending publish under packet id `pkid`.
    Sent {
        /// The connection's generation.
        generation: u64,
        /// The packet id.
        pkid: u16,
    },
    /// The broker acknowledged packet `pkid`.
    Acked {
        /// The connection's generation.
        generation: u64,
        /// The packet id.
        pkid: u16,
    },
    /// The broker refused packet `pkid` (a failure reason in its PUBACK).
    Refused {
        /// The connection's generation.
        generation: u64,
        /// The packet id.
        pkid: u16,
        /// The broker's reason.
        reason: String,
    },
    /// The connection is down; it will be retried after `retry_in`.
    Disconnected {
        /// The connection's generation.
        generation: u64,
        /// Why.
        reason: String,
        /// When the next attempt is.
        retry_in: Duration,
    },
}

/// The socket options of the gateway's MQTT connections: `TCP_NODELAY`, so
/// that a 4-byte PUBACK or a small publish goes out when it is written rather
/// than when the peer's TCP acknowledgement of the previous one comes back
/// (Nagle's algorithm; the peer may delay that acknowledgement by up to
/// 40 ms).
pub fn network_options() -> rumqttc::NetworkOptions {
    let mut options = rumqttc::NetworkOptions::new();
    options.set_tcp_nodelay(true);
    options
}

fn ack_ok(reason: PubAckReason) -> bool {
    matches!(
        reason,
        PubAckReason::Success | PubAckReason::NoMatchingSubscribers
    )
}

/// Keeps a connection up until shutdown, reporting to `events`.
pub async fn run(
    config: UplinkConfig,
    events: mpsc::Sender<LinkEvent>,
    control: mpsc::Sender<ControlEvent>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut generation = 0u64;
    let mut failures = 0u32;
    loop {
        generation += 1;
        let reason = match config.options() {
            Ok(options) => {
                let link = Channels {
                    events: &events,
                    control: &control,
                };
                let ended = connection(
                    &config,
                    options,
                    generation,
                    link,
                    &mut shutdown,
                    &mut failures,
                )
                .await;
                let _ = control.send(ControlEvent::Disconnected).await;
                ended
            }
            Err(e) => Some(e.to_string()),
        };
        let Some(reason) = reason else { return };
        let retry_in = config.backoff.jittered(failures, backoff::jitter());
        failures = failures.saturating_add(1);
        tracing::warn!(host = %config.host, port = config.port, "cloud connection down: {reason}; retrying in {retry_in:?}");
        if events
            .send(LinkEvent::Disconnected {
                generation,
                reason,
                retry_in,
            })
            .await
            .is_err()
        {
            return;
        }
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(retry_in) => {}
        }
    }
}

/// Where a connection reports.
#[derive(Clone, Copy)]
struct Channels<'a> {
    events: &'a mpsc::Sender<LinkEvent>,
    control: &'a mpsc::Sender<ControlEvent>,
}

/// One connection, until it fails (`Some(reason)`) or the gateway stops.
async fn connection(
    config: &UplinkConfig,
    options: MqttOptions,
    generation: u64,
    link: Channels<'_>,
    shutdown: &mut watch::Receiver<bool>,
    failures: &mut u32,
) -> Option<String> {
    let events = link.events;
    let (client, mut eventloop) = AsyncClient::new(options, usize::from(config.in_flight) + 8);
    loop {
        let event = tokio::select! {
            _ = shutdown.changed() => return None,
            event = eventloop.poll() => event,
        };
        let report = match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) if ack.code == ConnectReturnCode::Success => {
                *failures = 0;
                tracing::info!(host = %config.host, port = config.port, "connected to the cloud broker");
                let topics = crate::protocol::topics::Topics::new(&config.device_id);
                for filter in topics.subscriptions() {
                    if let Err(e) = client.try_subscribe(filter, QoS::AtLeastOnce) {
                        return Some(format!("cannot subscribe to the control topics: {e}"));
                    }
                }
                if link
                    .control
                    .send(ControlEvent::Connected(client.clone()))
                    .await
                    .is_err()
                {
                    return None;
                }
                Some(LinkEvent::Connected {
                    generation,
                    client: client.clone(),
                })
            }
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                return Some(format!("the broker refused the connection: {:?}", ack.code));
            }
            Ok(Event::Incoming(Packet::PubAck(ack))) if ack_ok(ack.reason) => {
                Some(LinkEvent::Acked {
                    generation,
                    pkid: ack.pkid,
                })
            }
            Ok(Event::Incoming(Packet::PubAck(ack))) => Some(LinkEvent::Refused {
                generation,
                pkid: ack.pkid,
                reason: format!("{:?}", ack.reason),
            }),
            // Packet id 0 is a QoS 0 publish of the agent's (status, twins,
            // method responses): only the queue's QoS 1 publishes are tracked.
            Ok(Event::Outgoing(Outgoing::Publish(0))) => None,
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                Some(LinkEvent::Sent { generation, pkid })
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                if link
                    .control
                    .send(ControlEvent::Publish(Box::new(publish)))
                    .await
                    .is_err()
                {
                    return None;
                }
                None
            }
            Ok(_) => None,
            Err(e) => return Some(e.to_string()),
        };
        if let Some(report) = report
            && events.send(report).await.is_err()
        {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let c = UplinkConfig::from_url("mqtt://127.0.0.1:18830", "gw").unwrap();
        assert_eq!((c.host.as_str(), c.port), ("127.0.0.1", 18830));
        assert_eq!(
            UplinkConfig::from_url("mqtt://broker", "gw").unwrap().port,
            1883
        );
        assert!(UplinkConfig::from_url("http://x:1", "gw").is_err());
        assert!(UplinkConfig::from_url("mqtt://x:99999", "gw").is_err());
        assert!(UplinkConfig::from_url("mqtt://:1", "gw").is_err());
        assert!(UplinkConfig::from_url("mqtt://x:1", "a/b").is_err());
    }
}
