//! A module's private key-value namespace: its own sled tree, which only its
//! instances are given, with a byte quota. The host side of the `storage`
//! import.

use super::ModuleState;
use crate::bindings::module::storage::{self, StorageError};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The longest key.
pub const MAX_KEY_BYTES: u32 = 1024;
/// The largest value.
pub const MAX_VALUE_BYTES: u32 = 256 * 1024;
/// The most entries one `scan` returns.
pub const MAX_SCAN: u32 = 1000;
/// The default quota of a module's storage.
pub const DEFAULT_STORAGE_QUOTA: u64 = 4 * 1024 * 1024;

/// A module's storage: its tree, the bytes it uses (keys and values), and its
/// quota. Clones share the count, so a restarted instance carries on.
#[derive(Clone)]
pub struct ModuleStorage {
    tree: sled::Tree,
    used: Arc<AtomicU64>,
    quota: u64,
}

/// The name of module `module`'s tree.
pub fn tree_name(module: &str) -> String {
    format!("kv/{module}")
}

impl ModuleStorage {
    /// Opens module `module`'s namespace in `db`.
    pub fn open(db: &sled::Db, module: &str, quota: u64) -> Result<ModuleStorage, sled::Error> {
        let tree = db.open_tree(tree_name(module))?;
        let mut used = 0u64;
        for entry in tree.iter() {
            let (k, v) = entry?;
            used += (k.len() + v.len()) as u64;
        }
        Ok(ModuleStorage {
            tree,
            used: Arc::new(AtomicU64::new(used)),
            quota,
        })
    }

    /// A namespace in a temporary database that is gone when dropped, for
    /// the module harness.
    pub fn temporary(quota: u64) -> Result<ModuleStorage, sled::Error> {
        let db = sled::Config::new().temporary(true).open()?;
        ModuleStorage::open(&db, "harness", quota)
    }

    /// The most bytes it may hold.
    pub fn quota(&self) -> u64 {
        self.quota
    }

    /// The bytes in use.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Makes the writes so far durable.
    pub fn flush(&self) -> Result<(), sled::Error> {
        self.tree.flush().map(|_| ())
    }

    fn check_key(key: &str) -> Result<(), StorageError> {
        if key.is_empty() || key.len() > MAX_KEY_BYTES as usize {
            return Err(StorageError::InvalidKey(MAX_KEY_BYTES));
        }
        Ok(())
    }
}

fn unavailable(e: sled::Error) -> StorageError {
    StorageError::Unavailable(e.to_string())
}

fn no_storage() -> StorageError {
    StorageError::Unavailable("this instance has no storage".to_string())
}

impl storage::Host for ModuleState {
    fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, StorageError> {
        let s = self.storage.as_ref().ok_or_else(no_storage)?;
        ModuleStorage::check_key(&key)?;
        Ok(s.tree
            .get(key.as_bytes())
            .map_err(unavailable)?
            .map(|v| v.to_vec()))
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), StorageError> {
        let s = self.storage.as_ref().ok_or_else(no_storage)?;
        ModuleStorage::check_key(&key)?;
        if value.len() > MAX_VALUE_BYTES as usize {
            return Err(StorageError::ValueTooLarge(MAX_VALUE_BYTES));
        }
        let old = s.tree.get(key.as_bytes()).map_err(unavailable)?;
        let old_size = old.map_or(0, |v| (key.len() + v.len()) as u64);
        let new_size = (key.len() + value.len()) as u64;
        let used = s.used();
        if used.saturating_sub(old_size).saturating_add(new_size) > s.quota {
            return Err(StorageError::QuotaExceeded(s.quota));
        }
        s.tree.insert(key.as_bytes(), value).map_err(unavailable)?;
        s.used
            .store(used.saturating_sub(old_size) + new_size, Ordering::Relaxed);
        Ok(())
    }

    fn delete(&mut self, key: String) -> Result<bool, StorageError> {
        let s = self.storage.as_ref().ok_or_else(no_storage)?;
        ModuleStorage::check_key(&key)?;
        match s.tree.remove(key.as_bytes()).map_err(unavailable)? {
            Some(old) => {
                s.used.fetch_sub(
                    ((key.len() + old.len()) as u64).min(s.used()),
                    Ordering::Relaxed,
                );
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn scan(
        &mut self,
        prefix: String,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        let s = self.storage.as_ref().ok_or_else(no_storage)?;
        let limit = limit.min(MAX_SCAN) as usize;
        let mut out = Vec::new();
        for entry in s.tree.scan_prefix(prefix.as_bytes()) {
            if out.len() >= limit {
                break;
            }
            let (k, v) = entry.map_err(unavailable)?;
            let Ok(key) = String::from_utf8(k.to_vec()) else {
                continue;
            };
            if after.as_ref().is_some_and(|a| key.as_str() <= a.as_str()) {
                continue;
            }
            out.push((key, v.to_vec()));
        }
        Ok(out)
    }
}
