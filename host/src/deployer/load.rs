//! Loading a deployment's components, from files or from the artifacts
//! pushed to the gateway, and forgetting pushed artifacts no deployment
//! needs any more.

use crate::artifact::pushed::{ArtifactStore, UNREFERENCED_GRACE, digest_hex, is_hex_digest};
use crate::manifest::{Manifest, ModuleSource, ModuleSpec};
use crate::runtime::{LoadError, LoadedComponent, Runtime};
use std::collections::HashSet;

/// Loads `spec`'s component. A pushed one is read from `artifacts` and its
/// signature checked again (the trusted keys may have changed since the
/// push).
pub(super) fn component(
    runtime: &Runtime,
    artifacts: &ArtifactStore,
    spec: &ModuleSpec,
) -> Result<LoadedComponent, LoadError> {
    runtime.admits(&spec.name, &spec.limits)?;
    match &spec.source {
        ModuleSource::File(path) => runtime.load_file(&spec.name, path),
        ModuleSource::Pushed { digest } => {
            let not_pushed = || LoadError::NotPushed {
                module: spec.name.clone(),
                digest: digest.clone(),
            };
            let hex = digest_hex(digest).ok_or_else(not_pushed)?;
            let stored = artifacts
                .get(hex)
                .map_err(|e| LoadError::Read {
                    module: spec.name.clone(),
                    path: digest.clone(),
                    source: std::io::Error::other(e),
                })?
                .ok_or_else(not_pushed)?;
            runtime.load_artifact(
                &spec.name,
                digest,
                &stored.bytes,
                stored.signature.as_deref(),
            )
        }
    }
}

/// Removes the pushed artifacts that neither `manifest` nor the stored cloud
/// deployment's text (`stored`) names and that were stored or last named
/// more than [`UNREFERENCED_GRACE`] ago.
pub(super) fn prune(artifacts: &ArtifactStore, manifest: &Manifest, stored: Option<&str>) {
    let mut keep: HashSet<String> = manifest
        .modules
        .iter()
        .filter_map(|m| match &m.source {
            ModuleSource::Pushed { digest } => digest_hex(digest).map(str::to_string),
            ModuleSource::File(_) => None,
        })
        .collect();
    keep.extend(stored.into_iter().flat_map(digests_in));
    match artifacts.prune(&keep, UNREFERENCED_GRACE) {
        Ok(removed) if !removed.is_empty() => {
            tracing::info!(
                count = removed.len(),
                "removed pushed artifacts no deployment names"
            )
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("cannot prune pushed artifacts: {e}"),
    }
}

/// Every `sha256:<hex>` in `text` (a manifest that may not validate any
/// more: keeping too much is harmless).
fn digests_in(text: &str) -> Vec<String> {
    text.match_indices("sha256:")
        .filter_map(|(at, prefix)| text.get(at + prefix.len()..at + prefix.len() + 64))
        .filter(|hex| is_hex_digest(hex))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_found_in_a_manifest_text() {
        let a = "a".repeat(64);
        let text = format!(
            "[modules.m]\nartifact = \"sha256:{a}\"\n# sha256:xyz\nx = \"sha256:{}\"",
            "b".repeat(63)
        );
        assert_eq!(digests_in(&text), vec![a]);
    }
}
