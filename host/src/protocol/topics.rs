//! The device's topic tree on the cloud broker (see `docs/protocol.md`).

/// The root of every device's topic tree.
pub const ROOT: &str = "ganglion";

/// Topics of one device.
#[derive(Debug, Clone)]
pub struct Topics {
    root: String,
}

/// What an incoming topic addresses.
#[derive(Debug, PartialEq, Eq)]
pub enum Addressed<'t> {
    /// A twin's full desired document.
    Desired {
        /// The twin id.
        twin: &'t str,
    },
    /// The deployment document.
    Deployment,
    /// A chunk of a pushed artifact.
    ArtifactChunk {
        /// The artifact's hex digest.
        hex: &'t str,
        /// The chunk's number, as written.
        index: &'t str,
    },
    /// A direct method request.
    Method {
        /// The module.
        module: &'t str,
        /// The method.
        method: &'t str,
    },
}

impl Topics {
    /// The tree of `device`.
    pub fn new(device: &str) -> Topics {
        Topics {
            root: format!("{ROOT}/{device}"),
        }
    }

    /// `ganglion/{device}/`: what every topic of the device starts with.
    pub fn prefix(&self) -> String {
        format!("{}/", self.root)
    }

    /// What an operator watching the device subscribes to: telemetry, the
    /// reported twins, the status and the online flag.
    pub fn observed(&self) -> [String; 4] {
        [
            self.events(),
            format!("{}/twins/+/reported", self.root),
            self.status(),
            self.online(),
        ]
    }

    /// What the gateway subscribes to.
    pub fn subscriptions(&self) -> [String; 4] {
        [
            format!("{}/twins/+/desired", self.root),
            format!("{}/methods/+/+", self.root),
            self.deployment(),
            format!("{}/artifacts/+/+", self.root),
        ]
    }

    /// Chunk `index` of the artifact with hex digest `hex`.
    pub fn artifact_chunk(&self, hex: &str, index: usize) -> String {
        format!("{}/artifacts/{hex}/{index}", self.root)
    }

    /// Where the gateway says whether it stored the artifact `hex`.
    pub fn artifact_state(&self, hex: &str) -> String {
        format!("{}/artifact-states/{hex}", self.root)
    }

    /// The retained deployment document.
    pub fn deployment(&self) -> String {
        format!("{}/deployment", self.root)
    }

    /// `online`: retained `true` or `false`.
    pub fn online(&self) -> String {
        format!("{}/online", self.root)
    }

    /// A twin's retained reported document.
    pub fn reported(&self, twin: &str) -> String {
        format!("{}/twins/{twin}/reported", self.root)
    }

    /// A twin's retained desired document.
    pub fn desired(&self, twin: &str) -> String {
        format!("{}/twins/{twin}/desired", self.root)
    }

    /// The retained status document.
    pub fn status(&self) -> String {
        format!("{}/status", self.root)
    }

    /// A method response, correlated by `request`.
    pub fn response(&self, request: &str) -> String {
        format!("{}/method-responses/{request}", self.root)
    }

    /// A method request for `module`.
    pub fn method(&self, module: &str, method: &str) -> String {
        format!("{}/methods/{module}/{method}", self.root)
    }

    /// The prefix every method response topic must have.
    pub fn responses_prefix(&self) -> String {
        format!("{}/method-responses/", self.root)
    }

    /// Telemetry.
    pub fn events(&self) -> String {
        format!("{}/messages/events", self.root)
    }

    /// What `topic` addresses, if it is one of the gateway's inbound topics.
    pub fn parse<'t>(&self, topic: &'t str) -> Option<Addressed<'t>> {
        let rest = topic.strip_prefix(&self.root)?.strip_prefix('/')?;
        let levels: Vec<&str> = rest.split('/').collect();
        match levels.as_slice() {
            ["twins", twin, "desired"] => Some(Addressed::Desired { twin }),
            ["methods", module, method] => Some(Addressed::Method { module, method }),
            ["deployment"] => Some(Addressed::Deployment),
            ["artifacts", hex, index] => Some(Addressed::ArtifactChunk { hex, index }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbound_topics_parse() {
        let t = Topics::new("gw-1");
        assert_eq!(
            t.parse("ganglion/gw-1/twins/$device/desired"),
            Some(Addressed::Desired { twin: "$device" })
        );
        assert_eq!(
            t.parse("ganglion/gw-1/methods/filter/reset"),
            Some(Addressed::Method {
                module: "filter",
                method: "reset"
            })
        );
        assert_eq!(
            t.parse("ganglion/gw-1/artifacts/ab/0"),
            Some(Addressed::ArtifactChunk {
                hex: "ab",
                index: "0"
            })
        );
        assert_eq!(t.parse("ganglion/gw-1/artifact-states/ab"), None);
        assert_eq!(t.parse("ganglion/gw-2/methods/filter/reset"), None);
        assert_eq!(t.parse("ganglion/gw-1/twins/x/reported"), None);
        assert_eq!(t.parse("ganglion/gw-1x/twins/x/desired"), None);
    }
}
