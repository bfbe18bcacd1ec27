//! [`Config`]: a module's configuration, as the deployment manifest gives it.

use std::str::FromStr;

/// The key/value configuration of a module, from its `config` table in the
/// deployment manifest. Values arrive as strings; [`Config::parse_or`] converts
/// them with a clear error.
#[derive(Debug, Clone, Default)]
pub struct Config {
    entries: Vec<(String, String)>,
}

impl Config {
    /// Wraps the key/value pairs the host passed to `init`.
    pub fn new(entries: Vec<(String, String)>) -> Self {
        Config { entries }
    }

    /// The raw value of `key`, if it is set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `key` parsed as `T`, or `default` when the key is not set.
    /// A value that does not parse is an error that names the key and the value.
    pub fn parse_or<T: FromStr>(&self, key: &str, default: T) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(key) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|e| format!("config key `{key}`: `{raw}` is not valid: {e}")),
        }
    }

    /// Refuses a key that is not in `known`, so that a misspelt key in the
    /// manifest is an error at `init` rather than a setting silently ignored.
    /// The error names the key and lists the known ones.
    pub fn check_keys(&self, known: &[&str]) -> Result<(), String> {
        match self
            .entries
            .iter()
            .find(|(k, _)| !known.contains(&k.as_str()))
        {
            Some((key, _)) => Err(format!(
                "unknown config key `{key}` (known: {})",
                known.join(", ")
            )),
            None => Ok(()),
        }
    }

    /// All the pairs, in manifest order.
    pub fn entries(&self) -> &[(String, String)] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_or_reads_defaults_and_reports_bad_values() {
        let c = Config::new(vec![
            ("threshold".into(), "25.5".into()),
            ("count".into(), "ten".into()),
        ]);
        assert_eq!(c.parse_or("threshold", 0.0).unwrap(), 25.5);
        assert_eq!(c.parse_or("missing", 7u32).unwrap(), 7);
        let err = c.parse_or("count", 0u32).unwrap_err();
        assert!(err.contains("`count`") && err.contains("`ten`"), "{err}");
    }

    #[test]
    fn check_keys_names_the_unknown_key() {
        let c = Config::new(vec![
            ("window".into(), "5".into()),
            ("widnow".into(), "6".into()),
        ]);
        assert_eq!(
            c.check_keys(&["window", "seed"]),
            Err("unknown config key `widnow` (known: window, seed)".into())
        );
        assert_eq!(c.check_keys(&["window", "widnow"]), Ok(()));
    }
}
