//! The store: one sled database in the gateway's data directory, owned here.
//!
//! - `upstream`: the `$upstream` queue (see [`queue`] for its order, expiry and
//!   quota rules). Under the default flush policy a message counts as
//!   accepted only once the batch it came in has been flushed to disk.
//! - `meta`: the format marker. A directory that holds something else, or a
//!   store of another format, is refused at start-up with a clear error rather
//!   than overwritten.
//!
//! sled keeps its own write-ahead log; `flush` makes everything written before
//! it durable. When the queue flushes is its [`flush::FlushPolicy`].

pub mod flush;
pub mod queue;

use crate::message::now_ms;
use crate::router::UpstreamMessage;
use flush::FlushPolicy;
use queue::{Admission, QueueKey, QueuedMessage, Quota, key_priority, queue_key};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The format marker this version writes and reads.
pub const FORMAT: &[u8] = b"ganglion-store-1";
const META: &str = "meta";
const FORMAT_KEY: &[u8] = b"format";
const UPSTREAM: &str = "upstream";

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory cannot be opened as a store.
    #[error("cannot open the data directory {dir}: {reason}")]
    Open {
        /// The directory.
        dir: PathBuf,
        /// Why.
        reason: String,
    },
    /// The directory is some other program's, or another format's.
    #[error("the data directory {dir} is not a ganglion store ({reason}); refusing to touch it")]
    Foreign {
        /// The directory.
        dir: PathBuf,
        /// What was found.
        reason: String,
    },
    /// sled failed.
    #[error("the store failed: {0}")]
    Db(#[from] sled::Error),
    /// A queued record does not decode.
    #[error("a queued record is damaged: {0}")]
    Record(#[from] postcard::Error),
}

/// The queue's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreConfig {
    /// The disk quota of the `$upstream` queue and what to do when it is full.
    pub quota: Quota,
    /// How long a message may wait when its route sets no time to live.
    pub default_ttl: Duration,
    /// When the queue's writes reach the disk.
    pub flush: FlushPolicy,
}

/// What happened to one message offered to the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// Stored (durable once [`Store::accept`] returns).
    Accepted(QueueKey),
    /// Refused: the quota is full and the policy is `reject`.
    Refused,
}

/// What [`Store::accept`] did with a batch.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AcceptReport {
    /// One outcome per message, in order.
    pub offers: Vec<Offer>,
    /// Messages dropped to make room (policy `drop-oldest`).
    pub dropped_oldest: u64,
}

/// The gateway's durable state.
pub struct Store {
    dir: PathBuf,
    db: sled::Db,
    upstream: sled::Tree,
    used_bytes: u64,
    depth: u64,
    config: StoreConfig,
}

/// The most memory sled keeps as its page cache. sled's own default is
/// 1 GiB, which lets a busy `$upstream` queue grow the process by tens of
/// megabytes on a device that has one gigabyte in all; what falls out of
/// this cache is read back from the file (through the kernel's page cache).
pub const CACHE_BYTES: u64 = 8 * 1024 * 1024;

/// How long opening waits for a data directory that another holder (a
/// gateway still stopping, in this process or another) has locked.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Opens the sled database in `dir`, waiting up to [`LOCK_WAIT`] while its
/// lock is held, then failing with the reason. sled flushes on its own every
/// `background_flush`.
fn open_locked(dir: &Path, background_flush: Duration) -> Result<sled::Db, StoreError> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    let every_ms = u64::try_from(background_flush.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    loop {
        match sled::Config::new()
            .path(dir)
            .cache_capacity(CACHE_BYTES)
            .flush_every_ms(Some(every_ms))
            .open()
        {
            Err(sled::Error::Io(e))
                if e.kind() == std::io::ErrorKind::WouldBlock
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => return other.map_err(|e| open_error(dir, e)),
        }
    }
}

fn open_error(dir: &Path, reason: impl ToString) -> StoreError {
    StoreError::Open {
        dir: dir.to_path_buf(),
        reason: reason.to_string(),
    }
}

impl Store {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path, config: StoreConfig) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| open_error(dir, e))?;
        let is_new = std::fs::read_dir(dir)
            .map_err(|e| open_error(dir, e))?
            .next()
            .is_none();
        if !is_new && !dir.join("conf").is_file() {
            return Err(StoreError::Foreign {
                dir: dir.to_path_buf(),
                reason: "it is not empty and holds no sled database".to_string(),
            });
        }
        let db = open_locked(dir, config.flush.background_flush())?;
        let meta = db.open_tree(META)?;
        match meta.get(FORMAT_KEY)? {
            Some(format) if format.as_ref() == FORMAT => {}
            Some(other) => {
                return Err(StoreError::Foreign {
                    dir: dir.to_path_buf(),
                    reason: format!(
                        "its format is {:?}, this ganglion reads {:?}",
                        String::from_utf8_lossy(&other),
                        String::from_utf8_lossy(FORMAT)
                    ),
                });
            }
            None if is_new => {
                meta.insert(FORMAT_KEY, FORMAT)?;
                db.flush()?;
            }
            None => {
                // The marker is the first thing a new store writes, so a
                // database without it is another program's, or a damaged one
                // that sled reopened empty: either way, not ours to overwrite.
                return Err(StoreError::Foreign {
                    dir: dir.to_path_buf(),
                    reason: "it holds a database without ganglion's format marker: \
                             another program's, or a damaged store"
                        .to_string(),
                });
            }
        }
        let upstream = db.open_tree(UPSTREAM)?;
        let mut used_bytes = 0;
        let mut depth = 0;
        for entry in upstream.iter() {
            let (k, v) = entry?;
            used_bytes += (k.len() + v.len()) as u64;
            depth += 1;
        }
        Ok(Store {
            dir: dir.to_path_buf(),
            db,
            upstream,
            used_bytes,
            depth,
            config,
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How many messages are queued.
    pub fn depth(&self) -> u64 {
        self.depth
    }

    /// How many bytes the queued records take (keys and values).
    pub fn used_bytes(&self) -> u64 {
        self.used_bytes
    }

    /// Queues a batch and flushes it to disk before returning: what it reports
    /// as accepted survives a crash.
    pub fn accept(&mut self, batch: &[UpstreamMessage]) -> Result<AcceptReport, StoreError> {
        let report = self.write(batch)?;
        self.db.flush()?;
        Ok(report)
    }

    /// Queues a batch without flushing it: it reaches the disk with the next
    /// flush (sled's own, in the background, or [`Store::flush`]).
    pub fn write(&mut self, batch: &[UpstreamMessage]) -> Result<AcceptReport, StoreError> {
        let now = now_ms();
        let mut report = AcceptReport::default();
        for up in batch {
            let ttl = up.time_to_live.unwrap_or(self.config.default_ttl);
            let record = QueuedMessage {
                accepted_ms: now,
                expires_ms: now.saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)),
                route: up.route.to_string(),
                message: up.message.clone(),
            };
            let value = postcard::to_stdvec(&record)?;
            let size = (value.len() + 9) as u64;
            match self.config.quota.admit(self.used_bytes, size) {
                Admission::Accept => {}
                Admission::Reject => {
                    report.offers.push(Offer::Refused);
                    continue;
                }
                Admission::MakeRoom(bytes) => {
                    report.dropped_oldest += self.drop_oldest(bytes)?;
                    if self.config.quota.admit(self.used_bytes, size) != Admission::Accept {
                        report.offers.push(Offer::Refused);
                        continue;
                    }
                }
            }
            let key = queue_key(up.priority, self.db.generate_id()?);
            self.upstream.insert(key, value)?;
            self.used_bytes += size;
            self.depth += 1;
            report.offers.push(Offer::Accepted(key));
        }
        Ok(report)
    }

    /// Drops the oldest messages of the lowest priority until `bytes` are free;
    /// returns how many it dropped.
    fn drop_oldest(&mut self, bytes: u64) -> Result<u64, StoreError> {
        let mut freed = 0;
        let mut dropped = 0;
        while freed < bytes {
            let Some((last, _)) = self.upstream.last()? else {
                break;
            };
            let lowest = key_priority(&last);
            let Some((key, value)) = self.upstream.scan_prefix([lowest]).next().transpose()? else {
                break;
            };
            self.upstream.remove(&key)?;
            let size = (key.len() + value.len()) as u64;
            freed += size;
            self.used_bytes = self.used_bytes.saturating_sub(size);
            self.depth = self.depth.saturating_sub(1);
            dropped += 1;
        }
        Ok(dropped)
    }

    /// Removes a message (sent and acknowledged, or expired). The removal is
    /// made durable by the next flush; one lost in a crash only means the
    /// message is sent again.
    pub fn remove(&mut self, key: &QueueKey) -> Result<bool, StoreError> {
        match self.upstream.remove(key)? {
            Some(value) => {
                self.used_bytes = self
                    .used_bytes
                    .saturating_sub((key.len() + value.len()) as u64);
                self.depth = self.depth.saturating_sub(1);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Up to `limit` queued messages in sending order, skipping `skip` (those in
    /// flight). Expired messages found on the way are removed and counted in
    /// the second value.
    pub fn next_batch(
        &mut self,
        limit: usize,
        skip: impl Fn(&QueueKey) -> bool,
    ) -> Result<(Vec<(QueueKey, QueuedMessage)>, u64), StoreError> {
        self.next_batch_after(None, limit, skip)
    }

    /// Like [`Store::next_batch`], starting after `after` (a sender that knows
    /// what it has already handed out need not scan past it again).
    pub fn next_batch_after(
        &mut self,
        after: Option<QueueKey>,
        limit: usize,
        skip: impl Fn(&QueueKey) -> bool,
    ) -> Result<(Vec<(QueueKey, QueuedMessage)>, u64), StoreError> {
        let start = match after {
            Some(key) => Bound::Excluded(key),
            None => Bound::Unbounded,
        };
        let now = now_ms();
        let mut out = Vec::new();
        let mut expired = Vec::new();
        for entry in self
            .upstream
            .range::<QueueKey, _>((start, Bound::Unbounded))
        {
            if out.len() >= limit {
                break;
            }
            let (k, v) = entry?;
            let Ok(key) = QueueKey::try_from(k.as_ref()) else {
                continue;
            };
            if skip(&key) {
                continue;
            }
            let record: QueuedMessage = postcard::from_bytes(&v)?;
            if record.expired(now) {
                expired.push(key);
            } else {
                out.push((key, record));
            }
        }
        for key in &expired {
            self.remove(key)?;
        }
        Ok((out, expired.len() as u64))
    }

    /// Removes every expired message; returns how many.
    pub fn expire(&mut self) -> Result<u64, StoreError> {
        let now = now_ms();
        let mut expired = Vec::new();
        for entry in self.upstream.iter() {
            let (k, v) = entry?;
            let record: QueuedMessage = postcard::from_bytes(&v)?;
            if record.expired(now)
                && let Ok(key) = QueueKey::try_from(k.as_ref())
            {
                expired.push(key);
            }
        }
        for key in &expired {
            self.remove(key)?;
        }
        if !expired.is_empty() {
            self.db.flush()?;
        }
        Ok(expired.len() as u64)
    }

    /// Makes every change so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// The database, for the parts of the gateway that keep their own trees.
    pub fn db(&self) -> &sled::Db {
        &self.db
    }
}

#[cfg(test)]
mod tests;
