//! Offline control: the manifest file given to `ganglion run` is checked
//! every [`WATCH_EVERY`], and an edit is applied like a deployment from the
//! cloud (or reported as refused, if it does not validate).

use super::DeployRequest;
use crate::manifest::Manifest;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How often the file is checked.
pub const WATCH_EVERY: Duration = Duration::from_secs(1);

/// The file's content, to notice a change (a modification time can stay the
/// same within its resolution).
fn read(path: &PathBuf) -> Option<Vec<u8>> {
    std::fs::read(path).ok()
}

/// Watches `path` until shutdown, sending each edit to `deployer`.
pub async fn run(
    path: PathBuf,
    deployer: mpsc::Sender<DeployRequest>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut last = read(&path);
    let mut tick = tokio::time::interval(WATCH_EVERY);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => {}
        }
        let now = read(&path);
        if now.is_none() || now == last {
            continue;
        }
        last = now;
        tracing::info!(path = %path.display(), "the manifest changed; applying it");
        let request = match Manifest::load(&path) {
            Ok(manifest) => DeployRequest::Local {
                manifest: Box::new(manifest),
                reply: None,
            },
            Err(e) => DeployRequest::Invalid {
                description: e.to_string(),
            },
        };
        if deployer.send(request).await.is_err() {
            return;
        }
    }
}
