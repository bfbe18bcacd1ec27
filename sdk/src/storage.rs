//! The module's private, persistent key-value store: its own namespace in the
//! gateway's database, kept across restarts and never visible to another
//! module.

use crate::bindings::module::storage as wit;
use std::fmt;

/// Why a storage call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageError {
    /// The write would take the module over its quota (bytes).
    QuotaExceeded(u64),
    /// The key is empty or longer than the limit (bytes).
    InvalidKey(u32),
    /// The value is larger than the limit (bytes).
    ValueTooLarge(u32),
    /// The gateway's database failed.
    Unavailable(String),
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::QuotaExceeded(q) => write!(f, "storage quota of {q} bytes exceeded"),
            StorageError::InvalidKey(max) => write!(f, "a key must have 1 to {max} bytes"),
            StorageError::ValueTooLarge(max) => write!(f, "a value may have at most {max} bytes"),
            StorageError::Unavailable(why) => write!(f, "storage unavailable: {why}"),
        }
    }
}

impl std::error::Error for StorageError {}

impl From<wit::StorageError> for StorageError {
    fn from(e: wit::StorageError) -> Self {
        match e {
            wit::StorageError::QuotaExceeded(q) => StorageError::QuotaExceeded(q),
            wit::StorageError::InvalidKey(m) => StorageError::InvalidKey(m),
            wit::StorageError::ValueTooLarge(m) => StorageError::ValueTooLarge(m),
            wit::StorageError::Unavailable(w) => StorageError::Unavailable(w),
        }
    }
}

/// The value stored under `key`.
pub fn get(key: &str) -> Result<Option<Vec<u8>>, StorageError> {
    wit::get(key).map_err(StorageError::from)
}

/// Stores `value` under `key`.
pub fn set(key: &str, value: &[u8]) -> Result<(), StorageError> {
    wit::set(key, value).map_err(StorageError::from)
}

/// Removes `key`; returns whether it was there.
pub fn delete(key: &str) -> Result<bool, StorageError> {
    wit::delete(key).map_err(StorageError::from)
}

/// Up to `limit` entries whose keys start with `prefix`, in key order, after
/// `after` when given.
pub fn scan(
    prefix: &str,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
    wit::scan(prefix, after, limit).map_err(StorageError::from)
}
