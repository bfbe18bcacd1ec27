//! Twins kept in sled, one record per twin in the tree [`TREE`].
//!
//! The key is the twin id ([`DEVICE_TWIN_ID`](super::DEVICE_TWIN_ID) for the
//! device twin, the module's name for a module twin), as UTF-8. The value is
//! the [`TwinDoc`] as JSON: `{"desired": {..}, "desired_version": 3,
//! "reported": {..}, "reported_version": 7}`.
//!
//! Why JSON and not postcard: the properties are `serde_json::Value`s, whose
//! decoding needs a self-describing format, which postcard is not; and a
//! twin is at most about 64 KiB, read at start-up and written on change, so
//! the size and speed of JSON do not matter while being able to read a
//! record when debugging does.

use super::{TwinDoc, TwinError};

/// The name of the sled tree that holds the twins.
pub const TREE: &str = "twins";

/// The twins of one gateway, in its sled database.
///
/// Cloning it is cheap and gives a handle on the same tree.
#[derive(Debug, Clone)]
pub struct TwinStore {
    tree: sled::Tree,
}

impl TwinStore {
    /// Opens (or creates) the [`TREE`] tree in `db`.
    pub fn open(db: &sled::Db) -> Result<TwinStore, TwinError> {
        let tree = db.open_tree(TREE).map_err(TwinError::Open)?;
        Ok(TwinStore { tree })
    }

    /// Loads the twin `twin_id`: an empty twin at version 0 if none is
    /// stored. A record that does not decode is an error, never a reset.
    pub fn load(&self, twin_id: &str) -> Result<TwinDoc, TwinError> {
        let Some(bytes) = self
            .tree
            .get(twin_id.as_bytes())
            .map_err(|source| store_error(twin_id, source))?
        else {
            return Ok(TwinDoc::default());
        };
        serde_json::from_slice(&bytes).map_err(|source| TwinError::Corrupt {
            twin_id: twin_id.to_string(),
            source,
        })
    }

    /// Stores the twin `twin_id`, and returns once it is durable (flushed to
    /// disk).
    pub fn save(&self, twin_id: &str, doc: &TwinDoc) -> Result<(), TwinError> {
        self.save_all(&[(twin_id, doc.clone())])
    }

    /// Stores every twin of `docs` and returns once they are durable (one
    /// flush for all).
    pub fn save_all<I: AsRef<str>>(&self, docs: &[(I, TwinDoc)]) -> Result<(), TwinError> {
        let mut last = None;
        for (id, doc) in docs {
            let twin_id = id.as_ref();
            let bytes = serde_json::to_vec(doc).map_err(|source| TwinError::Encode {
                twin_id: twin_id.to_string(),
                source,
            })?;
            self.tree
                .insert(twin_id.as_bytes(), bytes)
                .map_err(|source| store_error(twin_id, source))?;
            last = Some(twin_id);
        }
        match last {
            Some(twin_id) => self.flush(twin_id),
            None => Ok(()),
        }
    }

    /// Removes the twin `twin_id` (for a module taken out of the deployment)
    /// and returns once that is durable. Removing an absent twin is not an
    /// error.
    pub fn remove(&self, twin_id: &str) -> Result<(), TwinError> {
        self.tree
            .remove(twin_id.as_bytes())
            .map_err(|source| store_error(twin_id, source))?;
        self.flush(twin_id)
    }

    /// Flushes sled's log to disk (the whole database's, not only this tree).
    fn flush(&self, twin_id: &str) -> Result<(), TwinError> {
        self.tree
            .flush()
            .map(|_| ())
            .map_err(|source| store_error(twin_id, source))
    }
}

fn store_error(twin_id: &str, source: sled::Error) -> TwinError {
    TwinError::Store {
        twin_id: twin_id.to_string(),
        source,
    }
}
