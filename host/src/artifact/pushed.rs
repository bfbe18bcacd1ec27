//! Artifacts pushed to the gateway through the broker (`ganglion module
//! push`), kept in the store under their content address, so that a
//! deployment can name a module by digest (`artifact = "sha256:<hex>"`) and
//! the gateway runs it again after a restart.
//!
//! Two sled trees: `artifacts` (hex → the `.wasm` bytes) and
//! `artifact-meta` (hex → JSON: the signature file's text, if it came with
//! one, and when it was stored). An artifact is stored only once its digest
//! matches its bytes, its signature checked out (on a gateway that trusts
//! keys) and it compiled as a component of the module world; the store is
//! flushed before the push is confirmed.

use crate::message::now_ms;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::time::Duration;

const BYTES_TREE: &str = "artifacts";
const META_TREE: &str = "artifact-meta";

/// The prefix of a content address.
pub const DIGEST_PREFIX: &str = "sha256:";

/// How long an artifact is kept after it was stored, or last named by an
/// applied deployment: long enough for the deployment that follows its push,
/// and for going back to the previous deployment.
pub const UNREFERENCED_GRACE: Duration = Duration::from_secs(3600);

/// The hex part of `digest` (`sha256:<64 lowercase hex>`), if it is one.
pub fn digest_hex(digest: &str) -> Option<&str> {
    let hex = digest.strip_prefix(DIGEST_PREFIX)?;
    is_hex_digest(hex).then_some(hex)
}

/// Whether `hex` is 64 lowercase hex digits, as a sha256 content address.
pub fn is_hex_digest(hex: &str) -> bool {
    hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Meta {
    signature: Option<String>,
    /// When it was stored, or last named by an applied deployment.
    stored_at_ms: u64,
}

/// A stored artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredArtifact {
    /// The `.wasm` bytes.
    pub bytes: Vec<u8>,
    /// The signature file's text, as pushed.
    pub signature: Option<String>,
}

/// The pushed artifacts in the store.
#[derive(Debug, Clone)]
pub struct ArtifactStore {
    bytes: sled::Tree,
    meta: sled::Tree,
}

impl ArtifactStore {
    /// Opens the artifact trees of `db`.
    pub fn open(db: &sled::Db) -> Result<ArtifactStore, sled::Error> {
        Ok(ArtifactStore {
            bytes: db.open_tree(BYTES_TREE)?,
            meta: db.open_tree(META_TREE)?,
        })
    }

    /// Stores an artifact under `hex` and flushes. The metadata goes first:
    /// bytes without it would look abandoned to [`ArtifactStore::prune`].
    pub fn put(&self, hex: &str, bytes: &[u8], signature: Option<&str>) -> Result<(), sled::Error> {
        let meta = Meta {
            signature: signature.map(str::to_string),
            stored_at_ms: now_ms(),
        };
        self.meta.insert(hex, encode(&meta)?)?;
        self.bytes.insert(hex, bytes)?;
        self.meta.flush()?;
        self.bytes.flush()?;
        Ok(())
    }

    /// The artifact stored under `hex`.
    pub fn get(&self, hex: &str) -> Result<Option<StoredArtifact>, sled::Error> {
        let Some(bytes) = self.bytes.get(hex)? else {
            return Ok(None);
        };
        let meta = self
            .meta
            .get(hex)?
            .and_then(|m| serde_json::from_slice::<Meta>(&m).ok());
        Ok(Some(StoredArtifact {
            bytes: bytes.to_vec(),
            signature: meta.and_then(|m| m.signature),
        }))
    }

    /// Whether an artifact is stored under `hex`.
    pub fn contains(&self, hex: &str) -> bool {
        self.bytes.contains_key(hex).unwrap_or(false)
    }

    /// The hex digests stored.
    pub fn list(&self) -> Vec<String> {
        self.bytes
            .iter()
            .keys()
            .filter_map(Result::ok)
            .map(|k| String::from_utf8_lossy(&k).into_owned())
            .collect()
    }

    /// Marks every artifact in `keep` as named now, then removes every other
    /// one stored or last named more than `grace` ago; returns the hex
    /// digests removed.
    pub fn prune(
        &self,
        keep: &HashSet<String>,
        grace: Duration,
    ) -> Result<Vec<String>, sled::Error> {
        let now = now_ms();
        let cutoff = now.saturating_sub(u64::try_from(grace.as_millis()).unwrap_or(u64::MAX));
        let mut removed = Vec::new();
        for hex in self.list() {
            let Some(mut meta) = self
                .meta
                .get(&hex)?
                .and_then(|m| serde_json::from_slice::<Meta>(&m).ok())
            else {
                // Being stored right now (its metadata is written first).
                continue;
            };
            if keep.contains(&hex) {
                meta.stored_at_ms = now;
                self.meta.insert(hex.as_str(), encode(&meta)?)?;
            } else if meta.stored_at_ms <= cutoff {
                self.bytes.remove(&hex)?;
                self.meta.remove(&hex)?;
                removed.push(hex);
            }
        }
        self.bytes.flush()?;
        self.meta.flush()?;
        Ok(removed)
    }
}

fn encode(meta: &Meta) -> Result<Vec<u8>, sled::Error> {
    serde_json::to_vec(meta).map_err(|e| sled::Error::Unsupported(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_checked() {
        let hex = "a".repeat(64);
        assert_eq!(digest_hex(&format!("sha256:{hex}")), Some(hex.as_str()));
        assert_eq!(digest_hex(&format!("sha256:{}", "A".repeat(64))), None);
        assert_eq!(digest_hex(&format!("sha1:{hex}")), None);
        assert_eq!(digest_hex("sha256:abc"), None);
    }

    #[test]
    fn artifacts_are_kept_with_their_signature_and_unreferenced_ones_pruned() {
        // Surviving a restart is tests/it/push.rs's: sled may still hold its
        // lock for a moment after a drop, which the gateway's store waits out.
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        let db = sled::open(dir.path()).unwrap();
        ArtifactStore::open(&db)
            .unwrap()
            .put(&a, b"one", Some("{\"sig\":1}"))
            .unwrap();
        let store = ArtifactStore::open(&db).unwrap();
        store.put(&b, b"two", None).unwrap();
        let got = store.get(&a).unwrap().unwrap();
        assert_eq!(got.bytes, b"one");
        assert_eq!(got.signature.as_deref(), Some("{\"sig\":1}"));
        let keep: HashSet<String> = [a.clone()].into();
        assert!(store.prune(&keep, UNREFERENCED_GRACE).unwrap().is_empty());
        assert_eq!(store.prune(&keep, Duration::ZERO).unwrap(), vec![b.clone()]);
        assert!(store.contains(&a));
        assert!(!store.contains(&b));
    }
}
