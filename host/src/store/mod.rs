//! The store: the gateway's data directory, owned here.
//!
//! - `queue/`: the `$upstream` queue, a segment log (see [`log`] for its files
//!   and [`queue`] for its order, expiry and quota rules). Under the default
//!   flush policy a message counts as accepted only once the batch it came in
//!   has been synced to disk.
//! - a sled database beside it, for what is read and changed in place (twins,
//!   module data, deployments, artifacts) and `meta`, the format marker. A
//!   directory that holds something else, or a store of another format, is
//!   refused at start-up with a clear error rather than overwritten. A store
//!   of the previous format (`ganglion-store-1`, whose queue was a sled tree)
//!   has its queue moved into the log when it is opened.
//!
//! When the queue syncs is its [`flush::FlushPolicy`].

pub mod flush;
pub mod log;
pub mod queue;

use crate::envelope::UpstreamMessage;
use crate::message::now_ms;
use flush::FlushPolicy;
use log::{Log, SyncJob};
use queue::{Admission, QueueKey, QueuedMessage, Quota};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The format marker this version writes and reads.
pub const FORMAT: &[u8] = b"ganglion-store-2";
/// The previous format, whose `$upstream` queue was a sled tree: opened, and
/// its queue moved into the log.
const FORMAT_1: &[u8] = b"ganglion-store-1";
/// Where the queue's segment log is, in the data directory.
const QUEUE_DIR: &str = "queue";
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
    /// The queue's files failed (a full disk, a damaged segment).
    #[error("the $upstream queue's files: {0}")]
    Io(#[from] std::io::Error),
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
    log: Log,
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
        let migrate = match meta.get(FORMAT_KEY)? {
            Some(format) if format.as_ref() == FORMAT => false,
            Some(format) if format.as_ref() == FORMAT_1 => true,
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
                false
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
        };
        let (mut log, recovery) =
            Log::open(&dir.join(QUEUE_DIR)).map_err(|e| open_error(dir, e))?;
        if recovery.truncated > 0 {
            tracing::warn!(
                bytes = recovery.truncated,
                "the $upstream queue's log ended in a torn record; it was cut off"
            );
        }
        if migrate {
            let moved = migrate_queue(&db, &mut log)?;
            meta.insert(FORMAT_KEY, FORMAT)?;
            db.flush()?;
            tracing::info!(
                messages = moved,
                "the $upstream queue moved from sled into its segment log"
            );
        }
        Ok(Store {
            dir: dir.to_path_buf(),
            db,
            log,
            config,
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How many messages are queued.
    pub fn depth(&self) -> u64 {
        self.log.len()
    }

    /// How many bytes the queued records take.
    pub fn used_bytes(&self) -> u64 {
        self.log.live_bytes()
    }

    /// When the message that has waited longest was made (its creation time,
    /// in ms since the Unix epoch): of each priority's first message, the one
    /// queued first. `None` when the queue is empty, or that record does not
    /// read back (the sender drops it when it gets there).
    pub fn oldest_created_ms(&self) -> Option<u64> {
        let mut oldest: Option<(&QueueKey, &log::Loc)> = None;
        for priority in 0..=queue::UNSET_PRIORITY {
            let first = self
                .log
                .range(Bound::Included(queue::queue_key(Some(priority), 0)))
                .next()
                .filter(|(k, _)| queue::key_priority(&k[..]) == priority);
            if let Some((key, loc)) = first
                && oldest.is_none_or(|(o, _)| key[1..] < o[1..])
            {
                oldest = Some((key, loc));
            }
        }
        let (_, loc) = oldest?;
        let record = self.log.read(loc).ok()?;
        postcard::from_bytes::<QueuedMessage>(&record)
            .ok()?
            .message
            .system
            .creation_time_ms
    }

    /// Queues a batch and syncs it to disk before returning: what it reports
    /// as accepted survives a crash or a power cut.
    pub fn accept(&mut self, batch: &[UpstreamMessage]) -> Result<AcceptReport, StoreError> {
        let report = self.write(batch)?;
        self.log.sync()?;
        Ok(report)
    }

    /// Queues a batch without syncing it: it reaches the disk with the next
    /// [`Store::flush`] (or the kernel's own writeback).
    pub fn write(&mut self, batch: &[UpstreamMessage]) -> Result<AcceptReport, StoreError> {
        let now = now_ms();
        let mut report = AcceptReport::default();
        let mut records: Vec<(QueueKey, u64, Vec<u8>)> = Vec::with_capacity(batch.len());
        let mut pending_bytes = 0;
        for up in batch {
            let ttl = up.time_to_live.unwrap_or(self.config.default_ttl);
            let expires_ms = now.saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
            let record = QueuedMessage {
                accepted_ms: now,
                expires_ms,
                route: up.route.to_string(),
                message: up.message.clone(),
            };
            let value = postcard::to_stdvec(&record)?;
            let size = Log::put_size(value.len());
            let used = self.log.live_bytes() + pending_bytes;
            match self.config.quota.admit(used, size) {
                Admission::Accept => {}
                Admission::Reject => {
                    report.offers.push(Offer::Refused);
                    continue;
                }
                Admission::MakeRoom(bytes) => {
                    // What this batch queued so far is among what may go.
                    self.log.put(&records)?;
                    records.clear();
                    pending_bytes = 0;
                    report.dropped_oldest += self.drop_oldest(bytes)?;
                    if self.config.quota.admit(self.log.live_bytes(), size) != Admission::Accept {
                        report.offers.push(Offer::Refused);
                        continue;
                    }
                }
            }
            let key = self.log.next_key(up.priority);
            records.push((key, expires_ms, value));
            pending_bytes += size;
            report.offers.push(Offer::Accepted(key));
        }
        self.log.put(&records)?;
        Ok(report)
    }

    /// Drops the oldest messages of the lowest priority until `bytes` are free;
    /// returns how many it dropped.
    fn drop_oldest(&mut self, bytes: u64) -> Result<u64, StoreError> {
        let mut freed = 0;
        let mut dropped = 0;
        while freed < bytes {
            let Some(key) = self.log.oldest_of_lowest() else {
                break;
            };
            let size = self.log.get(&key).map_or(0, log::Loc::size);
            self.log.remove(&[key])?;
            freed += size;
            dropped += 1;
        }
        Ok(dropped)
    }

    /// Removes a message (sent and acknowledged, or expired). The removal is
    /// made durable by the next sync; one lost in a crash only means the
    /// message is sent again.
    pub fn remove(&mut self, key: &QueueKey) -> Result<bool, StoreError> {
        Ok(self.log.remove(&[*key])? > 0)
    }

    /// Removes messages, like [`Store::remove`]; returns how many were queued.
    pub fn remove_many(&mut self, keys: &[QueueKey]) -> Result<u64, StoreError> {
        Ok(self.log.remove(keys)?)
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
    /// what it has already handed out need not scan past it again). A record
    /// that no longer reads back (a damaged disk) is removed, with an error
    /// in the log, rather than blocking the queue behind it.
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
        let mut damaged = Vec::new();
        for (key, loc) in self.log.range(start) {
            if out.len() >= limit {
                break;
            }
            if skip(key) {
                continue;
            }
            if loc.expires_ms <= now {
                expired.push(*key);
                continue;
            }
            let record = self
                .log
                .read(loc)
                .map_err(StoreError::from)
                .and_then(|v| Ok(postcard::from_bytes::<QueuedMessage>(&v)?));
            match record {
                Ok(record) => out.push((*key, record)),
                Err(e) => {
                    tracing::error!(
                        "a queued $upstream message cannot be read back ({e}); it is dropped"
                    );
                    damaged.push(*key);
                }
            }
        }
        self.log.remove(&expired)?;
        self.log.remove(&damaged)?;
        Ok((out, expired.len() as u64))
    }

    /// Removes every expired message; returns how many.
    pub fn expire(&mut self) -> Result<u64, StoreError> {
        let now = now_ms();
        let expired: Vec<QueueKey> = self
            .log
            .range(Bound::Unbounded)
            .filter(|(_, loc)| loc.expires_ms <= now)
            .map(|(k, _)| *k)
            .collect();
        Ok(self.log.remove(&expired)?)
    }

    /// Makes every change so far durable.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        self.log.sync()?;
        self.db.flush()?;
        Ok(())
    }

    /// The sync of the queue's writes so far, to run on another thread while
    /// the queue goes on (see [`Log::plan_sync`]); `None` when all are
    /// durable.
    pub fn plan_sync(&mut self) -> Result<Option<SyncJob>, StoreError> {
        Ok(self.log.plan_sync()?)
    }

    /// Records that a planned sync succeeded (or failed, giving its work back).
    pub fn sync_done(&mut self, job: SyncJob, result: &std::io::Result<()>) {
        match result {
            Ok(()) => self.log.synced_to(job.mark()),
            Err(_) => self.log.sync_failed(job),
        }
    }

    /// The queue's writes so far: one made now is durable once a sync of
    /// this mark or a later one is done.
    pub fn written(&self) -> u64 {
        self.log.written()
    }

    /// Bytes the queue appended since the last sync was planned.
    pub fn unsynced_bytes(&self) -> u64 {
        self.log.unsynced_bytes()
    }

    /// The database, for the parts of the gateway that keep their own trees.
    pub fn db(&self) -> &sled::Db {
        &self.db
    }
}

/// Moves the `$upstream` queue of a `ganglion-store-1` store (a sled tree)
/// into the log, keeping each message's key; returns how many it moved. The
/// tree is cleared only once the log holds them durably, so a crash in the
/// middle moves them again (the log keeps one copy per key).
fn migrate_queue(db: &sled::Db, log: &mut Log) -> Result<u64, StoreError> {
    let tree = db.open_tree(UPSTREAM)?;
    let mut records = Vec::new();
    for entry in tree.iter() {
        let (k, v) = entry?;
        let Ok(key) = QueueKey::try_from(k.as_ref()) else {
            continue;
        };
        let record: QueuedMessage = postcard::from_bytes(&v)?;
        records.push((key, record.expires_ms, v.to_vec()));
        if records.len() >= 1024 {
            log.put(&records)?;
            records.clear();
        }
    }
    log.put(&records)?;
    log.sync()?;
    let moved = tree.len() as u64;
    db.drop_tree(UPSTREAM)?;
    Ok(moved)
}

#[cfg(test)]
mod tests;
