//! The deployment received from the cloud, kept in the database so that the
//! gateway runs it again after a restart, and the last version it applied or
//! refused, so that a retained deployment is not applied twice.

/// The tree that holds it.
pub const TREE: &str = "deployment";
const VERSION: &[u8] = b"version";
const APPLIED: &[u8] = b"applied-version";
const MANIFEST: &[u8] = b"manifest";

/// The stored deployment.
pub struct StoredDeployment {
    tree: sled::Tree,
}

fn read_u64(tree: &sled::Tree, key: &[u8]) -> u64 {
    tree.get(key)
        .ok()
        .flatten()
        .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

impl StoredDeployment {
    /// Opens it in `db`.
    pub fn open(db: &sled::Db) -> Result<StoredDeployment, sled::Error> {
        Ok(StoredDeployment {
            tree: db.open_tree(TREE)?,
        })
    }

    /// The last version applied or refused (0: none yet).
    pub fn last_version(&self) -> u64 {
        read_u64(&self.tree, VERSION)
    }

    /// The applied deployment: its version and manifest text.
    pub fn get(&self) -> Option<(u64, String)> {
        let text = self.tree.get(MANIFEST).ok().flatten()?;
        let text = String::from_utf8(text.to_vec()).ok()?;
        Some((read_u64(&self.tree, APPLIED), text))
    }

    /// Records that `version` was applied, with its manifest text, durably.
    pub fn save(&self, version: u64, manifest: &str) -> Result<(), sled::Error> {
        self.tree.insert(VERSION, &version.to_be_bytes())?;
        self.tree.insert(APPLIED, &version.to_be_bytes())?;
        self.tree.insert(MANIFEST, manifest.as_bytes())?;
        self.tree.flush()?;
        Ok(())
    }

    /// Records that `version` was refused, durably.
    pub fn refused(&self, version: u64) -> Result<(), sled::Error> {
        self.tree.insert(VERSION, &version.to_be_bytes())?;
        self.tree.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_persist() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path()).unwrap();
            let s = StoredDeployment::open(&db).unwrap();
            assert_eq!((s.last_version(), s.get()), (0, None));
            s.save(2, "[routes]\n").unwrap();
            s.refused(3).unwrap();
        }
        let db = sled::open(dir.path()).unwrap();
        let s = StoredDeployment::open(&db).unwrap();
        assert_eq!(s.last_version(), 3);
        assert_eq!(s.get(), Some((2, "[routes]\n".to_string())));
    }
}
