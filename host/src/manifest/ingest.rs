//! The `[ingest]` table's domain types: the local broker and the topic
//! filters whose first `+` level names the leaf device.

/// A topic filter and where in it the device id is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicFilter {
    /// The MQTT filter.
    pub filter: String,
    /// The 0-based topic level that holds the device id.
    pub device_level: usize,
}

impl TopicFilter {
    /// Parses a filter; it must have a `+` level for the device id.
    pub fn parse(filter: &str) -> Result<TopicFilter, String> {
        let levels: Vec<&str> = filter.split('/').collect();
        if filter.is_empty() || levels.iter().any(|l| l.contains(['+', '#']) && l.len() > 1) {
            return Err(format!("`{filter}` is not a valid MQTT topic filter"));
        }
        if levels
            .iter()
            .take(levels.len().saturating_sub(1))
            .any(|l| *l == "#")
        {
            return Err(format!("`{filter}`: `#` may only be the last level"));
        }
        let device_level = levels
            .iter()
            .position(|l| *l == "+")
            .ok_or_else(|| format!("`{filter}` needs a `+` level for the device id"))?;
        Ok(TopicFilter {
            filter: filter.to_string(),
            device_level,
        })
    }

    /// The device id in `topic`, if the topic falls under this filter.
    pub fn device<'t>(&self, topic: &'t str) -> Option<&'t str> {
        let mut topic_levels = topic.split('/');
        let mut device = None;
        for (i, level) in self.filter.split('/').enumerate() {
            if level == "#" {
                return device;
            }
            let t = topic_levels.next()?;
            if level == "+" {
                if i == self.device_level {
                    device = Some(t);
                }
            } else if level != t {
                return None;
            }
        }
        topic_levels.next().is_none().then_some(device).flatten()
    }
}

/// Where and what to ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestConfig {
    /// The local broker's host.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// The MQTT client id of the ingest session (persistent on the broker).
    pub client_id: String,
    /// The filters to subscribe to.
    pub topics: Vec<TopicFilter>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_find_the_device() {
        let f = TopicFilter::parse("sensors/+/telemetry").unwrap();
        assert_eq!(f.device("sensors/pump-1/telemetry"), Some("pump-1"));
        assert_eq!(f.device("sensors/pump-1/status"), None);
        assert_eq!(f.device("sensors/pump-1/telemetry/x"), None);
        let f = TopicFilter::parse("site/+/+/#").unwrap();
        assert_eq!(f.device_level, 1);
        assert_eq!(f.device("site/a/b/c/d"), Some("a"));
        assert!(TopicFilter::parse("sensors/telemetry").is_err());
        assert!(TopicFilter::parse("a/#/b").is_err());
        assert!(TopicFilter::parse("a/x+/b").is_err());
        assert!(TopicFilter::parse("").is_err());
    }
}
