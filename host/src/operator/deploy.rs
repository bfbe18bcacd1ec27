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
use crate::manifest::{Manifest, ManifestError, Problem};
use crate::protocol::deployment::{APPLIED, Deployment, claimed_version};
use crate::protocol::status::{DesiredStatus, Status};
use crate::protocol::topics::Topics;
use rumqttc::v5::mqttbytes::v5::PublishProperties;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::time::Instant;

/// How long `ganglion deploy` waits for the gateway to report a deployment
/// when not told otherwise.
pub const DEFAULT_STATUS_WAIT: Duration = Duration::from_secs(30);

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

/// Reads the deployment document retained on `topic`.
pub fn read_deployment(topic: &str, payload: &[u8]) -> Result<Deployment, OperatorError> {
    Deployment::parse(payload).map_err(|reason| OperatorError::BadDocument {
        topic: topic.to_string(),
        reason,
    })
}

/// The document `deployment` as published; one too large for a gateway is
/// refused.
pub fn deployment_payload(deployment: &Deployment) -> Result<Vec<u8>, OperatorError> {
    deployment
        .to_payload()
        .map_err(|reason| OperatorError::BadInput {
            what: "the manifest".to_string(),
            reason,
        })
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

/// What the gateway reported about a deployment in its status.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentReport {
    /// The status's `lastDesiredVersion`: the deployment it is about. It can
    /// be above the one published if a later deployment overtook it.
    pub version: u64,
    /// The status's `lastDesiredStatus`, if it has one.
    pub status: Option<DesiredStatus>,
}

impl DeploymentReport {
    /// The report in a status document, if it is about `version` or a later
    /// one.
    pub fn from_status(status: &Status, version: u64) -> Option<DeploymentReport> {
        let reported = status.last_desired_version?;
        (reported >= version).then(|| DeploymentReport {
            version: reported,
            status: status.last_desired_status.clone(),
        })
    }

    /// `lastDesiredStatus.code`.
    pub fn code(&self) -> Option<u16> {
        self.status.as_ref().and_then(|s| s.code)
    }

    /// `lastDesiredStatus.description`.
    pub fn description(&self) -> Option<&str> {
        self.status.as_ref().and_then(|s| s.description.as_deref())
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
            "status": self.report.as_ref().and_then(|r| r.status.clone()),
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
        // Only its version counts here: a deployment the gateway refused
        // (it does not parse) is published over, above the version it claims.
        Some(incoming) => Deployment::parse(&incoming.payload)
            .map(|d| d.version)
            .ok()
            .or_else(|| claimed_version(&incoming.payload))
            .unwrap_or(0),
        None => 0,
    };
    let last_desired = match found.remove(&status_topic) {
        Some(incoming) => Status::parse(&incoming.payload)
            .map_err(|reason| OperatorError::BadDocument {
                topic: status_topic.clone(),
                reason,
            })?
            .last_desired_version
            .unwrap_or(0),
        None => 0,
    };
    let mut online = found
        .remove(&online_topic)
        .and_then(|o| parse_online(&o.payload));
    let version = next_version(device, deployed, last_desired)?;
    let payload = deployment_payload(&Deployment {
        version,
        manifest: manifest.text().to_string(),
    })?;
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
                && let Ok(status) = Status::parse(&incoming.payload)
                && let Some(r) = DeploymentReport::from_status(&status, version)
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
    use crate::protocol::deployment::MAX_DEPLOYMENT_BYTES;

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
    fn the_payload_keeps_the_text_and_a_deployment_too_large_is_refused() {
        let text = "[modules.filter]\npath = \"filter.wasm\"\n# \"quoted\" \\ é\n";
        let d = Deployment {
            version: 4,
            manifest: text.to_string(),
        };
        let payload = deployment_payload(&d).unwrap();
        let value: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(value, json!({"version": 4, "manifest": text}));
        assert_eq!(read_deployment("t", &payload).unwrap(), d);
        assert_eq!(deployment_topic("gw-1"), "ganglion/gw-1/deployment");
        let big = Deployment {
            version: 1,
            manifest: "#".repeat(MAX_DEPLOYMENT_BYTES),
        };
        let e = deployment_payload(&big).unwrap_err().to_string();
        assert!(
            e.starts_with("the manifest:") && e.contains("at most"),
            "{e}"
        );
    }

    #[test]
    fn malformed_deployments_are_named_with_their_topic() {
        let e = read_deployment("ganglion/gw/deployment", br#"{"version": 1}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ganglion/gw/deployment") && e.contains("no manifest"),
            "{e}"
        );
    }

    #[test]
    fn a_report_counts_from_the_version_published() {
        let status = Status::parse(
            br#"{"lastDesiredVersion": 4,
                "lastDesiredStatus": {"code": 200, "description": "applied: started filter"}}"#,
        )
        .unwrap();
        assert!(DeploymentReport::from_status(&status, 5).is_none());
        let r = DeploymentReport::from_status(&status, 4).unwrap();
        assert_eq!((r.version, r.code(), r.is_applied()), (4, Some(200), true));
        assert_eq!(r.description(), Some("applied: started filter"));
        let refused = Status::parse(
            br#"{"lastDesiredVersion": 5,
                "lastDesiredStatus": {"code": 400, "description": "m.toml:2:8: no such file"}}"#,
        )
        .unwrap();
        let r = DeploymentReport::from_status(&refused, 4).unwrap();
        assert_eq!((r.version, r.is_applied()), (5, false));
        let bare = Status::parse(br#"{"lastDesiredVersion": 4}"#).unwrap();
        let bare = DeploymentReport::from_status(&bare, 4).unwrap();
        assert_eq!((bare.status.clone(), bare.code()), (None, None));
        assert!(!bare.is_applied());
        assert!(DeploymentReport::from_status(&Status::default(), 1).is_none());
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
            status: Some(DesiredStatus {
                code: Some(400),
                description: Some("bad route".to_string()),
            }),
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
            status: Some(DesiredStatus {
                code: Some(200),
                description: Some("applied".to_string()),
            }),
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
