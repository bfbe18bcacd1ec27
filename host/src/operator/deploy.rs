//! Deployments from the cloud side: `ganglion deploy DEVICE MANIFEST`.
//!
//! A deployment is one retained document on `ganglion/{device}/deployment`:
//! `{"version": N, "manifest": "<TOML text>"}` (see `docs/protocol.md`). The
//! gateway applies a version it has not seen yet and reports the outcome in
//! its status document, as `lastDesiredVersion` and `lastDesiredStatus`.
//!
//! [`ManifestText::read`] reads the manifest file and, unless asked not to,
//! validates it locally first, so that manifest errors (with their lines)
//! show before anything is published. [`deploy`] then reads the retained
//! deployment and status, publishes the next version ([`next_version`]: one
//! above both) retained at QoS 1, and waits for the gateway's status to
//! report it. Two operators deploying to one device at the same moment may
//! both pick version N: the last one wins, as with twins.

use super::session::Session;
use super::status::{online_topic, parse_online, status_topic};
use super::{OperatorError, check_name};
use crate::agent::topics::Topics;
use crate::manifest::{Manifest, ManifestError, Problem};
use crate::uplink::MAX_INBOUND_PACKET;
use rumqttc::v5::mqttbytes::v5::PublishProperties;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::time::Instant;

/// How long `ganglion deploy` waits for the gateway to report a deployment
/// when not told otherwise.
pub const DEFAULT_STATUS_WAIT: Duration = Duration::from_secs(30);

/// The largest deployment document, in bytes: the gateway takes packets of
/// at most [`MAX_INBOUND_PACKET`] bytes (a broker drops a larger one for it),
/// and the topic and properties need some room.
pub const MAX_DEPLOYMENT_BYTES: usize = MAX_INBOUND_PACKET as usize - 4096;

/// The status code of a deployment the gateway applied.
pub const APPLIED: u64 = 200;

/// The status document's field with the last deployment's version.
pub const LAST_DESIRED_VERSION: &str = "lastDesiredVersion";

/// The status document's field with the last deployment's outcome.
pub const LAST_DESIRED_STATUS: &str = "lastDesiredStatus";

/// `ganglion/{device}/deployment`.
pub fn deployment_topic(device: &str) -> String {
    Topics::new(device).deployment()
}

/// A manifest file's text, as it will be deployed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestText {
    path: PathBuf,
    text: String,
    checked: bool,
}

impl ManifestText {
    /// Reads the manifest at `path`. With `check`, the text is validated
    /// first exactly as [`Manifest::load`] does (module paths relative to the
    /// file's folder), and a manifest with problems is refused with every
    /// problem and its line ([`OperatorError::ManifestRefused`]). The text
    /// validated is the text deployed: the file is read once.
    pub fn read(path: &Path, check: bool) -> Result<ManifestText, OperatorError> {
        let refused = |error: ManifestError| OperatorError::ManifestRefused {
            only_missing_files: only_missing_files(error.problems()),
            error,
        };
        let text = std::fs::read_to_string(path).map_err(|source| {
            refused(ManifestError::Read {
                path: path.display().to_string(),
                source,
            })
        })?;
        if check {
            let base = path.parent().unwrap_or(Path::new("."));
            Manifest::parse(&text, &path.display().to_string(), base).map_err(refused)?;
        }
        Ok(ManifestText {
            path: path.to_path_buf(),
            text,
            checked: check,
        })
    }

    /// A manifest's text made by a program rather than read from a file
    /// (such as the deployment `ganglion module push` edits); `origin` says
    /// where it came from. It is not validated here: the gateway does it.
    pub fn generated(origin: &str, text: String) -> ManifestText {
        ManifestText {
            path: PathBuf::from(origin),
            text,
            checked: false,
        }
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The text, as read.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether it was validated locally.
    pub fn checked(&self) -> bool {
        self.checked
    }
}

/// Whether `problem` is only that a file the manifest names is not there
/// (here; it may be on the gateway): a module's file, or the upstream
/// password file.
pub fn is_missing_file(problem: &Problem) -> bool {
    (problem.field.starts_with("modules.")
        && problem.field.ends_with(".path")
        && problem.message.starts_with("no such file"))
        || (problem.field == "upstream.password-file" && problem.message.starts_with("cannot read"))
}

/// Whether there are problems and every one is a missing file.
pub fn only_missing_files(problems: &[Problem]) -> bool {
    !problems.is_empty() && problems.iter().all(is_missing_file)
}

/// A deployment document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// Its version, raised with each deployment.
    pub version: u64,
    /// The manifest, as TOML text.
    pub manifest: String,
}

impl Deployment {
    /// Parses a document read from `topic`: a JSON object with a
    /// non-negative integer `version` and a string `manifest`.
    pub fn parse(topic: &str, payload: &[u8]) -> Result<Deployment, OperatorError> {
        let bad = |reason: String| OperatorError::BadDocument {
            topic: topic.to_string(),
            reason,
        };
        let value: Value =
            serde_json::from_slice(payload).map_err(|e| bad(format!("not JSON ({e})")))?;
        let Value::Object(doc) = value else {
            return Err(bad("not a JSON object".to_string()));
        };
        let version = match doc.get("version") {
            Some(v) => v.as_u64().ok_or_else(|| {
                bad(format!(
                    "its version must be a non-negative integer, not {v}"
                ))
            })?,
            None => return Err(bad("it has no version".to_string())),
        };
        let manifest = match doc.get("manifest") {
            Some(Value::String(text)) => text.clone(),
            Some(other) => return Err(bad(format!("its manifest must be a string, not {other}"))),
            None => return Err(bad("it has no manifest".to_string())),
        };
        Ok(Deployment { version, manifest })
    }

    /// The document as published: compact JSON, at most
    /// [`MAX_DEPLOYMENT_BYTES`].
    pub fn to_payload(&self) -> Result<Vec<u8>, OperatorError> {
        let payload = serde_json::to_vec(&json!({
            "version": self.version,
            "manifest": self.manifest,
        }))
        .map_err(|e| OperatorError::BadInput {
            what: "the deployment document".to_string(),
            reason: e.to_string(),
        })?;
        if payload.len() > MAX_DEPLOYMENT_BYTES {
            return Err(OperatorError::BadInput {
                what: "the manifest".to_string(),
                reason: format!(
                    "its deployment document is {} bytes; a gateway takes at most \
                     {MAX_DEPLOYMENT_BYTES}",
                    payload.len()
                ),
            });
        }
        Ok(payload)
    }
}

/// The version of the next deployment: one above both the version retained
/// on the broker and the last one the gateway reported (0 for either if
/// there is none). The gateway ignores a version it has already seen, so the
/// new one must be above both.
pub fn next_version(device: &str, deployed: u64, last_desired: u64) -> Result<u64, OperatorError> {
    deployed
        .max(last_desired)
        .checked_add(1)
        .ok_or_else(|| OperatorError::BadDocument {
            topic: deployment_topic(device),
            reason: "its version is the largest there is; no later one can follow".to_string(),
        })
}

/// The `lastDesiredVersion` of a status document read from `topic`: 0 if
/// it is absent or `null`.
pub fn last_desired_version(topic: &str, status: &Value) -> Result<u64, OperatorError> {
    match status.get(LAST_DESIRED_VERSION) {
        None | Some(Value::Null) => Ok(0),
        Some(v) => v.as_u64().ok_or_else(|| OperatorError::BadDocument {
            topic: topic.to_string(),
            reason: format!("its {LAST_DESIRED_VERSION} must be a non-negative integer, not {v}"),
        }),
    }
}

/// What the gateway reported about a deployment in its status.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentReport {
    /// The status's `lastDesiredVersion`: the deployment it is about. It can
    /// be above the one published if a later deployment overtook it.
    pub version: u64,
    /// The status's `lastDesiredStatus`, as published (`null` if absent):
    /// `{"code": 200 | 400, "description": "..."}`.
    pub status: Value,
}

impl DeploymentReport {
    /// The report in a status document from `topic`, if it is about
    /// `version` or a later one.
    pub fn from_status(topic: &str, status: &Value, version: u64) -> Option<DeploymentReport> {
        let reported = last_desired_version(topic, status).ok()?;
        (reported >= version).then(|| DeploymentReport {
            version: reported,
            status: status
                .get(LAST_DESIRED_STATUS)
                .cloned()
                .unwrap_or(Value::Null),
        })
    }

    /// `lastDesiredStatus.code`.
    pub fn code(&self) -> Option<u64> {
        self.status.get("code").and_then(Value::as_u64)
    }

    /// `lastDesiredStatus.description`.
    pub fn description(&self) -> Option<&str> {
        self.status.get("description").and_then(Value::as_str)
    }

    /// Whether the gateway applied it (code 200).
    pub fn is_applied(&self) -> bool {
        self.code() == Some(APPLIED)
    }
}

/// What [`deploy`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployOutcome {
    /// The device.
    pub device: String,
    /// The version published.
    pub version: u64,
    /// How long it waited for the gateway's report.
    pub waited: Duration,
    /// The gateway's report; `None` if it did not report within `waited`
    /// (or nothing was waited for).
    pub report: Option<DeploymentReport>,
    /// The gateway's online flag, as last seen; `None` if unknown.
    pub online: Option<bool>,
}

impl DeployOutcome {
    /// Whether the gateway reported the deployment as applied (code 200).
    pub fn is_applied(&self) -> bool {
        self.report
            .as_ref()
            .is_some_and(DeploymentReport::is_applied)
    }

    /// `{"version": N, "status": {...} | null}`: the version published and
    /// the gateway's `lastDesiredStatus`, `null` if it did not report.
    pub fn to_json(&self) -> Value {
        json!({
            "version": self.version,
            "status": self.report.as_ref().map(|r| r.status.clone()),
        })
    }

    /// One paragraph for people: what was published and what the gateway
    /// said about it, or that it did not say.
    pub fn summary(&self) -> String {
        let (device, version) = (&self.device, self.version);
        let Some(report) = &self.report else {
            if self.waited.is_zero() {
                return format!(
                    "deployment version {version} published (retained) for device `{device}`; \
                     not waiting for the gateway to report it"
                );
            }
            let state = match self.online {
                Some(true) => "the gateway is online but busy or unable to apply it",
                Some(false) => "the gateway is offline",
                None => "is the gateway offline?",
            };
            return format!(
                "device `{device}` did not report deployment version {version} within {} s \
                 ({state}); the deployment is retained on the broker, so the gateway applies \
                 it when it connects",
                self.waited.as_secs()
            );
        };
        let code = report
            .code()
            .map_or_else(|| "no code".to_string(), |c| c.to_string());
        let description = report.description().unwrap_or("no description");
        let verdict = if report.is_applied() {
            "applied"
        } else {
            "refused"
        };
        if report.version > version {
            format!(
                "device `{device}` {verdict} deployment version {}, a later one than the \
                 version {version} published here (someone else deployed meanwhile): \
                 {code} {description}",
                report.version
            )
        } else {
            format!(
                "device `{device}` {verdict} deployment version {version}: {code} {description}"
            )
        }
    }
}

/// Deploys `manifest` to `device`: reads the retained deployment and status
/// (waiting up to `retained_wait` after subscribing), publishes the
/// deployment at [`next_version`] retained at QoS 1 once the broker
/// acknowledged it, then waits up to `status_wait` (zero: not at all) for
/// the status to report that version or a later one.
pub async fn deploy(
    session: &mut Session,
    device: &str,
    manifest: &ManifestText,
    retained_wait: Duration,
    status_wait: Duration,
) -> Result<DeployOutcome, OperatorError> {
    check_name("device", device)?;
    let deployment_topic = deployment_topic(device);
    let status_topic = status_topic(device);
    let online_topic = online_topic(device);
    let topics = [
        deployment_topic.clone(),
        status_topic.clone(),
        online_topic.clone(),
    ];
    let mut found = session.read_retained(&topics, retained_wait).await?;
    let deployed = match found.remove(&deployment_topic) {
        Some(incoming) => Deployment::parse(&deployment_topic, &incoming.payload)?.version,
        None => 0,
    };
    let last_desired = match found.remove(&status_topic) {
        Some(incoming) => {
            let status: Value = serde_json::from_slice(&incoming.payload).map_err(|e| {
                OperatorError::BadDocument {
                    topic: status_topic.clone(),
                    reason: format!("not JSON ({e})"),
                }
            })?;
            last_desired_version(&status_topic, &status)?
        }
        None => 0,
    };
    let mut online = found
        .remove(&online_topic)
        .and_then(|o| parse_online(&o.payload));
    let version = next_version(device, deployed, last_desired)?;
    let payload = Deployment {
        version,
        manifest: manifest.text().to_string(),
    }
    .to_payload()?;
    let properties = PublishProperties {
        content_type: Some("application/json".to_string()),
        ..PublishProperties::default()
    };
    session
        .publish(&deployment_topic, payload, true, properties)
        .await?;

    let mut report = None;
    if !status_wait.is_zero() {
        let deadline = Instant::now() + status_wait;
        while let Some(incoming) = session.next_publish(Some(deadline)).await? {
            if incoming.topic == online_topic {
                online = parse_online(&incoming.payload);
            } else if incoming.topic == status_topic
                && let Ok(status) = serde_json::from_slice::<Value>(&incoming.payload)
                && let Some(r) = DeploymentReport::from_status(&status_topic, &status, version)
            {
                report = Some(r);
                break;
            }
        }
    }
    Ok(DeployOutcome {
        device: device.to_string(),
        version,
        waited: status_wait,
        report,
        online,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(field: &str, message: &str) -> Problem {
        Problem {
            line: 1,
            column: 1,
            field: field.to_string(),
            message: message.to_string(),
        }
    }

    #[test]
    fn the_next_version_is_above_both() {
        assert_eq!(next_version("gw", 0, 0).unwrap(), 1);
        assert_eq!(next_version("gw", 4, 0).unwrap(), 5);
        assert_eq!(next_version("gw", 4, 9).unwrap(), 10);
        assert_eq!(next_version("gw", 9, 4).unwrap(), 10);
        let e = next_version("gw", u64::MAX, 3).unwrap_err().to_string();
        assert!(
            e.contains("ganglion/gw/deployment") && e.contains("largest"),
            "{e}"
        );
    }

    #[test]
    fn the_payload_round_trips_and_keeps_the_text() {
        let text = "[modules.filter]\npath = \"filter.wasm\"\n# \"quoted\" \\ é\n";
        let d = Deployment {
            version: 4,
            manifest: text.to_string(),
        };
        let payload = d.to_payload().unwrap();
        let value: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(value, json!({"version": 4, "manifest": text}));
        assert_eq!(Deployment::parse("t", &payload).unwrap(), d);
        assert_eq!(deployment_topic("gw-1"), "ganglion/gw-1/deployment");
    }

    #[test]
    fn a_deployment_too_large_for_the_gateway_is_refused() {
        let d = Deployment {
            version: 1,
            manifest: "#".repeat(MAX_DEPLOYMENT_BYTES),
        };
        let e = d.to_payload().unwrap_err().to_string();
        assert!(
            e.starts_with("the manifest:") && e.contains("at most"),
            "{e}"
        );
    }

    #[test]
    fn malformed_deployments_are_named() {
        for (payload, needle) in [
            ("nope", "not JSON"),
            ("[]", "not a JSON object"),
            (r#"{"manifest": ""}"#, "no version"),
            (r#"{"version": -1, "manifest": ""}"#, "non-negative integer"),
            (r#"{"version": 1}"#, "no manifest"),
            (r#"{"version": 1, "manifest": 3}"#, "must be a string"),
        ] {
            let e = Deployment::parse("ganglion/gw/deployment", payload.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("ganglion/gw/deployment") && e.contains(needle),
                "{e}"
            );
        }
    }

    #[test]
    fn the_status_gives_the_last_desired_version() {
        let t = "ganglion/gw/status";
        assert_eq!(last_desired_version(t, &json!({})).unwrap(), 0);
        assert_eq!(
            last_desired_version(t, &json!({"lastDesiredVersion": null})).unwrap(),
            0
        );
        assert_eq!(
            last_desired_version(t, &json!({"lastDesiredVersion": 7})).unwrap(),
            7
        );
        let e = last_desired_version(t, &json!({"lastDesiredVersion": "7"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains(t) && e.contains("lastDesiredVersion"), "{e}");
    }

    #[test]
    fn a_report_counts_from_the_version_published() {
        let status = json!({
            "lastDesiredVersion": 4,
            "lastDesiredStatus": {"code": 200, "description": "applied: started filter"}
        });
        assert!(DeploymentReport::from_status("t", &status, 5).is_none());
        let r = DeploymentReport::from_status("t", &status, 4).unwrap();
        assert_eq!((r.version, r.code(), r.is_applied()), (4, Some(200), true));
        assert_eq!(r.description(), Some("applied: started filter"));
        let refused = json!({
            "lastDesiredVersion": 5,
            "lastDesiredStatus": {"code": 400, "description": "m.toml:2:8: no such file"}
        });
        let r = DeploymentReport::from_status("t", &refused, 4).unwrap();
        assert_eq!((r.version, r.is_applied()), (5, false));
        let bare =
            DeploymentReport::from_status("t", &json!({"lastDesiredVersion": 4}), 4).unwrap();
        assert_eq!((bare.status.clone(), bare.code()), (Value::Null, None));
        assert!(!bare.is_applied());
        assert!(
            DeploymentReport::from_status("t", &json!({"lastDesiredVersion": "x"}), 1).is_none()
        );
    }

    #[test]
    fn outcomes_for_people_and_programs() {
        let mut o = DeployOutcome {
            device: "gw".to_string(),
            version: 3,
            waited: Duration::from_secs(30),
            report: None,
            online: Some(false),
        };
        assert_eq!(o.to_json(), json!({"version": 3, "status": null}));
        assert!(!o.is_applied());
        let s = o.summary();
        assert!(
            s.contains("did not report deployment version 3 within 30 s")
                && s.contains("offline")
                && s.contains("when it connects"),
            "{s}"
        );
        o.waited = Duration::ZERO;
        assert!(o.summary().contains("not waiting"), "{}", o.summary());
        o.report = Some(DeploymentReport {
            version: 3,
            status: json!({"code": 400, "description": "bad route"}),
        });
        assert_eq!(
            o.to_json(),
            json!({"version": 3, "status": {"code": 400, "description": "bad route"}})
        );
        assert_eq!(
            o.summary(),
            "device `gw` refused deployment version 3: 400 bad route"
        );
        o.report = Some(DeploymentReport {
            version: 4,
            status: json!({"code": 200, "description": "applied"}),
        });
        assert!(o.is_applied());
        assert!(
            o.summary()
                .contains("applied deployment version 4, a later one")
        );
    }

    #[test]
    fn missing_files_are_told_apart() {
        let missing = problem("modules.filter.path", "no such file: /x/filter.wasm");
        let password = problem("upstream.password-file", "cannot read `pw`: No such file");
        let route = problem("routes.r", "unknown module");
        assert!(only_missing_files(&[missing.clone(), password]));
        assert!(!only_missing_files(&[missing, route]));
        assert!(!only_missing_files(&[]));
    }

    #[test]
    fn manifests_are_checked_unless_asked_not_to() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.toml");
        let text = "[modules.filter]\npath = \"filter.wasm\"\n";
        std::fs::write(&path, text).unwrap();
        let e = ManifestText::read(&path, true).unwrap_err();
        let message = e.to_string();
        assert!(
            matches!(
                e,
                OperatorError::ManifestRefused {
                    only_missing_files: true,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(
            message.contains("m.toml:2:8") && message.contains("--no-check"),
            "{message}"
        );
        let unchecked = ManifestText::read(&path, false).unwrap();
        assert_eq!((unchecked.text(), unchecked.checked()), (text, false));
        std::fs::write(dir.path().join("filter.wasm"), b"").unwrap();
        assert!(ManifestText::read(&path, true).unwrap().checked());

        std::fs::write(&path, "[modules.filter\n").unwrap();
        let e = ManifestText::read(&path, true).unwrap_err().to_string();
        assert!(
            e.contains("nothing was published") && !e.contains("--no-check"),
            "{e}"
        );
        let e = ManifestText::read(&dir.path().join("none.toml"), false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read manifest"), "{e}");
    }
}
