//! Where the cloud broker is and how to reach it: [`BrokerSettings`] as the
//! operator gives them, turned into rumqttc options through the uplink's own
//! [`UplinkConfig::from_url`] and [`UplinkConfig::options`], so that
//! `mqtts://`, CA files, client certificates and credentials work exactly as
//! they do for the gateway.

use super::OperatorError;
use crate::uplink::UplinkConfig;
use crate::uplink::tls::ClientCert;
use rumqttc::v5::MqttOptions;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

/// The largest packet a session accepts: a method response (128 KiB of
/// payload) or a status document, with room for the headers.
pub const MAX_INCOMING_PACKET: u32 = 1024 * 1024;

/// Where the broker is and how to authenticate, as the operator gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerSettings {
    /// `mqtt://HOST[:PORT]` or `mqtts://HOST[:PORT]`.
    pub url: String,
    /// PEM file with the CA certificates for the broker (`mqtts://` only);
    /// the system's roots if `None`.
    pub ca_file: Option<PathBuf>,
    /// A client certificate, for X.509 authentication (`mqtts://` only).
    pub client_cert: Option<ClientCert>,
    /// User name and password.
    pub credentials: Option<(String, String)>,
}

impl BrokerSettings {
    /// Settings for `url`, with no TLS files and no credentials.
    pub fn new(url: &str) -> BrokerSettings {
        BrokerSettings {
            url: url.to_string(),
            ca_file: None,
            client_cert: None,
            credentials: None,
        }
    }

    /// The uplink configuration for one session with client id `client_id`.
    /// TLS files given for an `mqtt://` address are an error, not ignored.
    pub fn uplink_config(&self, client_id: &str) -> Result<UplinkConfig, OperatorError> {
        let mut config =
            UplinkConfig::from_url(&self.url, client_id).map_err(|e| OperatorError::BadBroker {
                url: e.url,
                reason: e.reason,
            })?;
        config.credentials = self.credentials.clone();
        match config.tls.as_mut() {
            Some(tls) => {
                tls.ca_file = self.ca_file.clone();
                tls.client_cert = self.client_cert.clone();
            }
            None if self.ca_file.is_some() || self.client_cert.is_some() => {
                return Err(OperatorError::BadBroker {
                    url: self.url.clone(),
                    reason: "a CA file or a client certificate needs an mqtts:// address"
                        .to_string(),
                });
            }
            None => {}
        }
        Ok(config)
    }

    /// The rumqttc options for one session with client id `client_id`: the
    /// uplink's (this reads the TLS files), without its last will.
    pub fn options(&self, client_id: &str) -> Result<MqttOptions, OperatorError> {
        Ok(without_will(&self.uplink_config(client_id)?.options()?))
    }
}

/// The uplink's options without the gateway's last will (which would leave a
/// retained `online` flag under the session's client id), and with room for
/// [`MAX_INCOMING_PACKET`]. The transport (TLS), credentials and keep-alive
/// are the uplink's, and the session starts clean.
pub fn without_will(uplink: &MqttOptions) -> MqttOptions {
    let (host, port) = uplink.broker_address();
    let mut options = MqttOptions::new(uplink.client_id(), host, port);
    options
        .set_transport(uplink.transport())
        .set_keep_alive(uplink.keep_alive())
        .set_clean_start(true)
        .set_max_packet_size(Some(MAX_INCOMING_PACKET));
    if let Some(login) = uplink.credentials() {
        options.set_credentials(login.username, login.password);
    }
    options
}

/// 64 random bits (std's per-process random hash keys, mixed with the
/// clock): enough to keep client ids and request ids apart, not a secret.
pub fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    hasher.write_u128(nanos);
    hasher.finish()
}

/// A client id of its own for each invocation: `ganglion-cli-{pid}-{random}`.
pub fn client_id() -> String {
    format!(
        "ganglion-cli-{}-{:08x}",
        std::process::id(),
        random_u64() >> 32
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_differ_per_call() {
        let (a, b) = (client_id(), client_id());
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("ganglion-cli-{}-", std::process::id())));
    }

    #[test]
    fn settings_build_the_uplink_config() {
        let mut s = BrokerSettings::new("mqtts://broker.example:8884");
        s.ca_file = Some(PathBuf::from("ca.pem"));
        s.credentials = Some(("ops".to_string(), "pw".to_string()));
        let c = s.uplink_config("cli-1").unwrap();
        assert_eq!((c.host.as_str(), c.port), ("broker.example", 8884));
        assert_eq!(c.device_id, "cli-1");
        assert_eq!(c.tls.unwrap().ca_file, Some(PathBuf::from("ca.pem")));
        assert!(c.credentials.is_some());
        let mut plain = BrokerSettings::new("mqtt://127.0.0.1:1883");
        plain.ca_file = Some(PathBuf::from("ca.pem"));
        let e = plain.uplink_config("cli-1").unwrap_err().to_string();
        assert!(e.contains("mqtts://"), "{e}");
        let e = BrokerSettings::new("tcp://x")
            .uplink_config("c")
            .unwrap_err();
        assert!(e.to_string().starts_with("broker address `tcp://x`"), "{e}");
    }

    #[test]
    fn sessions_leave_no_will_behind() {
        let mut s = BrokerSettings::new("mqtt://127.0.0.1:1884");
        s.credentials = Some(("ops".to_string(), "pw".to_string()));
        let uplink = s.uplink_config("cli-2").unwrap().options().unwrap();
        let options = s.options("cli-2").unwrap();
        assert!(options.last_will().is_none());
        assert_eq!(options.client_id(), "cli-2");
        assert_eq!(options.broker_address(), ("127.0.0.1".to_string(), 1884));
        assert_eq!(options.keep_alive(), uplink.keep_alive());
        assert!(options.clean_start());
        assert_eq!(
            options.credentials().map(|l| l.username),
            Some("ops".to_string())
        );
        assert_eq!(options.max_packet_size(), Some(MAX_INCOMING_PACKET));
    }
}
