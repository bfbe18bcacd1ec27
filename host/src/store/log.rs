//! The `$upstream` queue's segment log: an append-only log of records in
//! numbered segment files, with the index of the queued messages in memory.
//!
//! A message is written once, as a `put` record appended to the newest
//! segment; its removal (delivered, expired, dropped) is a `del` record
//! appended after it. One `fdatasync` makes every record appended before it
//! durable, however many: that is what keeps the bytes written per message
//! near its own size, where a B-tree rewrites whole pages for each commit.
//!
//! - **Records**: `len: u32 LE`, `crc32(body): u32 LE`, then the body: a kind
//!   byte, then for a `put` the 9-byte queue key, `expires_ms: u64 LE` and the
//!   value; for a `del` one or more 9-byte keys.
//! - **Segments**: `NNNNNNNNNN.log`, each opening with a 16-byte header (magic
//!   and its number). A new one starts once the newest passes
//!   [`SEGMENT_BYTES`]. The oldest is deleted once nothing in it is queued;
//!   one that still holds a few messages (an old, low-priority one that waits
//!   while newer ones pass) has them copied to the newest segment first, so
//!   that disk use follows what is queued. Once nothing is queued, the one
//!   segment left starts over from its header.
//! - **Recovery**: opening reads the segments in order and replays them. A
//!   record cut short or failing its checksum (a crash or power cut in the
//!   middle of a write) ends its segment: the file is truncated there and the
//!   rest is kept. A new message's sequence number continues after the
//!   highest one any record names.
//! - **Failure**: a write that fails (a full disk) is cut back off the file,
//!   so the log stays a sequence of whole records, and the error is returned:
//!   nothing it held is taken as queued.

use crate::store::queue::QueueKey;
use record::{HEADER, KIND_DEL, KIND_PUT, MAGIC, PUT_PREFIX, RECORD_HEADER, Record, encode, parse};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::ops::Bound;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// A segment is closed, and a new one started, past this many bytes.
pub const SEGMENT_BYTES: u64 = 4 * 1024 * 1024;

/// Where a queued message's record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loc {
    segment: u32,
    /// The record's offset in its segment.
    offset: u32,
    /// The record's length, header included.
    len: u32,
    /// When the message expires, in ms since the Unix epoch.
    pub expires_ms: u64,
}

impl Loc {
    /// The bytes the record takes on disk.
    pub fn size(&self) -> u64 {
        u64::from(self.len)
    }
}

struct Segment {
    file: File,
    /// Where the next record goes (the end of the last whole record).
    len: u64,
    /// How many queued messages it holds.
    live: u64,
    /// The bytes of their records.
    live_bytes: u64,
}

impl Segment {
    /// A segment holding its header only.
    fn empty(file: File) -> Segment {
        Segment {
            file,
            len: HEADER,
            live: 0,
            live_bytes: 0,
        }
    }
}

/// What opening found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// How many segments were read.
    pub segments: usize,
    /// Bytes cut off the ends of segments (a torn or damaged last record).
    pub truncated: u64,
}

/// The log; see the module docs.
pub struct Log {
    dir: PathBuf,
    segments: BTreeMap<u32, Segment>,
    current: u32,
    index: BTreeMap<QueueKey, Loc>,
    next_seq: u64,
    live_bytes: u64,
    /// Appends (and truncations) so far: a sync covers those made before it
    /// was planned.
    written: u64,
    /// How many of them a sync has made durable.
    synced: u64,
    /// Bytes appended since the last sync was planned.
    unsynced_bytes: u64,
    /// Closed segments written since the last sync was planned.
    closed_unsynced: Vec<File>,
    /// Whether a segment was created since then (the directory needs a sync).
    dir_unsynced: bool,
    /// Scratch space for one append.
    buf: Vec<u8>,
}

fn segment_path(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("{n:010}.log"))
}

fn seq_of(key: &QueueKey) -> u64 {
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&key[1..]);
    u64::from_be_bytes(seq)
}

fn damaged(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

impl Log {
    /// Opens the log in `dir` (creating it), replaying its segments.
    pub fn open(dir: &Path) -> io::Result<(Log, Recovery)> {
        std::fs::create_dir_all(dir)?;
        let mut numbers = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if let Some(n) = name
                .strip_suffix(".log")
                .and_then(|n| n.parse::<u32>().ok())
            {
                numbers.push(n);
            }
        }
        numbers.sort_unstable();
        let mut log = Log {
            dir: dir.to_path_buf(),
            segments: BTreeMap::new(),
            current: 0,
            index: BTreeMap::new(),
            next_seq: 1,
            live_bytes: 0,
            written: 0,
            synced: 0,
            unsynced_bytes: 0,
            closed_unsynced: Vec::new(),
            dir_unsynced: false,
            buf: Vec::new(),
        };
        let mut recovery = Recovery::default();
        for n in numbers {
            recovery.truncated += log.replay(n)?;
            recovery.segments += 1;
        }
        match log.segments.keys().next_back() {
            Some(&n) => log.current = n,
            None => log.start_segment(1)?,
        }
        Ok((log, recovery))
    }

    /// Reads segment `n` into the index; returns how many bytes were cut off
    /// its end.
    fn replay(&mut self, n: u32) -> io::Result<u64> {
        let path = segment_path(&self.dir, n);
        let file = OpenOptions::new().read(true).write(true).open(&path)?;
        let bytes = std::fs::read(&path)?;
        let header_ok = bytes.len() >= HEADER as usize
            && &bytes[..8] == MAGIC
            && bytes[8..12] == n.to_le_bytes();
        if !header_ok {
            drop(file);
            // A segment's header reaches the disk with the first sync of
            // anything in it, so a missing or zeroed one means none of it did.
            let never_synced =
                bytes.len() < HEADER as usize || bytes[..HEADER as usize].iter().all(|b| *b == 0);
            if never_synced {
                // Cut short while it was being made: nothing was in it.
                tracing::warn!(segment = %path.display(), "an empty queue segment left by a crash; removed");
                std::fs::remove_file(&path)?;
            } else {
                // Not one of ours, or its header is damaged: set aside, not
                // read and not overwritten.
                let aside = path.with_extension("damaged");
                tracing::error!(
                    segment = %path.display(),
                    "a queue segment's header is wrong; its records are not read, and it is kept as {}",
                    aside.display()
                );
                std::fs::rename(&path, &aside)?;
            }
            return Ok(bytes.len() as u64);
        }
        self.segments.insert(n, Segment::empty(file));
        let mut at = HEADER as usize;
        while at < bytes.len() {
            let Some((record, len)) = parse(&bytes[at..]) else {
                break;
            };
            match record {
                Record::Put { key, expires_ms } => {
                    let loc = Loc {
                        segment: n,
                        offset: at as u32,
                        len: len as u32,
                        expires_ms,
                    };
                    self.next_seq = self.next_seq.max(seq_of(&key) + 1);
                    self.insert(key, loc);
                }
                Record::Del(keys) => {
                    for key in keys.chunks_exact(9) {
                        let Ok(key) = QueueKey::try_from(key) else {
                            continue;
                        };
                        self.next_seq = self.next_seq.max(seq_of(&key) + 1);
                        self.forget(&key);
                    }
                }
            }
            at += len;
        }
        let cut = (bytes.len() - at) as u64;
        if cut > 0 {
            tracing::warn!(
                segment = %path.display(),
                bytes = cut,
                "a queue segment ends in a torn or damaged record (a crash in the middle of a write?); it is cut off, the rest is kept"
            );
            if let Some(segment) = self.segments.get_mut(&n) {
                segment.file.set_len(at as u64)?;
                segment.file.sync_all()?;
            }
        }
        if let Some(segment) = self.segments.get_mut(&n) {
            segment.len = at as u64;
        }
        Ok(cut)
    }

    /// Indexes `key` at `loc`, replacing an older copy of it.
    fn insert(&mut self, key: QueueKey, loc: Loc) {
        self.forget(&key);
        if let Some(segment) = self.segments.get_mut(&loc.segment) {
            segment.live += 1;
            segment.live_bytes += loc.size();
        }
        self.live_bytes += loc.size();
        self.index.insert(key, loc);
    }

    /// Drops `key` from the index; its location, if it was queued.
    fn forget(&mut self, key: &QueueKey) -> Option<Loc> {
        let loc = self.index.remove(key)?;
        if let Some(segment) = self.segments.get_mut(&loc.segment) {
            segment.live = segment.live.saturating_sub(1);
            segment.live_bytes = segment.live_bytes.saturating_sub(loc.size());
        }
        self.live_bytes = self.live_bytes.saturating_sub(loc.size());
        Some(loc)
    }

    /// Creates segment `n` and makes it the one appended to. Its header and
    /// its directory entry reach the disk with the next sync, before anything
    /// appended to it counts as durable.
    fn start_segment(&mut self, n: u32) -> io::Result<()> {
        let path = segment_path(&self.dir, n);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        let mut header = [0u8; HEADER as usize];
        header[..8].copy_from_slice(MAGIC);
        header[8..12].copy_from_slice(&n.to_le_bytes());
        if let Err(e) = file.write_all_at(&header, 0) {
            drop(file);
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        if self.written > self.synced
            && let Some(closed) = self.segments.get(&self.current)
        {
            self.closed_unsynced.push(closed.file.try_clone()?);
        }
        self.segments.insert(n, Segment::empty(file));
        self.current = n;
        self.dir_unsynced = true;
        self.written += 1;
        Ok(())
    }

    /// The key for a new message of `priority`.
    pub fn next_key(&mut self, priority: Option<u8>) -> QueueKey {
        let key = crate::store::queue::queue_key(priority, self.next_seq);
        self.next_seq += 1;
        key
    }

    /// How many messages are queued.
    pub fn len(&self) -> u64 {
        self.index.len() as u64
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The bytes the queued messages' records take.
    pub fn live_bytes(&self) -> u64 {
        self.live_bytes
    }

    /// The bytes a put of a `value_len`-byte value takes.
    pub fn put_size(value_len: usize) -> u64 {
        (RECORD_HEADER + PUT_PREFIX + value_len) as u64
    }

    /// The bytes the segment files take.
    pub fn file_bytes(&self) -> u64 {
        self.segments.values().map(|s| s.len).sum()
    }

    /// How many segment files there are.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Where `key` is, if it is queued.
    pub fn get(&self, key: &QueueKey) -> Option<&Loc> {
        self.index.get(key)
    }

    /// The queued keys from `from`, in key order.
    pub fn range(&self, from: Bound<QueueKey>) -> impl Iterator<Item = (&QueueKey, &Loc)> {
        self.index.range((from, Bound::Unbounded))
    }

    /// The oldest queued key of the lowest priority that has one.
    pub fn oldest_of_lowest(&self) -> Option<QueueKey> {
        let (last, _) = self.index.last_key_value()?;
        let mut from: QueueKey = [0; 9];
        from[0] = last[0];
        self.index.range(from..).next().map(|(k, _)| *k)
    }

    /// Appends `self.buf` to the current segment (starting a new one first
    /// when it is full); returns where it went. On a failed write the partial
    /// bytes are cut off again.
    fn append_buf(&mut self) -> io::Result<(u32, u64)> {
        let end = self.segments.get(&self.current).map_or(0, |s| s.len);
        if end > HEADER && end + self.buf.len() as u64 > SEGMENT_BYTES {
            self.start_segment(self.current + 1)?;
        }
        let n = self.current;
        let segment = self
            .segments
            .get_mut(&n)
            .ok_or_else(|| damaged("the current queue segment is missing".to_string()))?;
        let at = segment.len;
        if let Err(e) = segment.file.write_all_at(&self.buf, at) {
            let _ = segment.file.set_len(at);
            return Err(e);
        }
        segment.len += self.buf.len() as u64;
        self.written += 1;
        self.unsynced_bytes += self.buf.len() as u64;
        Ok((n, at))
    }

    /// Appends a put per message: key, expiry and the encoded value. Nothing
    /// is indexed unless the whole write succeeds.
    pub fn put(&mut self, records: &[(QueueKey, u64, Vec<u8>)]) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        self.buf.clear();
        let mut offsets = Vec::with_capacity(records.len());
        for (key, expires_ms, value) in records {
            offsets.push(self.buf.len());
            encode(
                &mut self.buf,
                &[&[KIND_PUT], key, &expires_ms.to_le_bytes(), value],
            );
        }
        let (segment, at) = self.append_buf()?;
        for (i, (key, expires_ms, value)) in records.iter().enumerate() {
            self.next_seq = self.next_seq.max(seq_of(key) + 1);
            let loc = Loc {
                segment,
                offset: (at + offsets[i] as u64) as u32,
                len: Log::put_size(value.len()) as u32,
                expires_ms: *expires_ms,
            };
            self.insert(*key, loc);
        }
        Ok(())
    }

    /// Removes queued messages; returns how many of `keys` were queued. The
    /// removal is durable with the next sync: one lost in a crash only means
    /// the message is sent again.
    pub fn remove(&mut self, keys: &[QueueKey]) -> io::Result<u64> {
        let mut queued: Vec<QueueKey> = keys
            .iter()
            .filter(|k| self.index.contains_key(*k))
            .copied()
            .collect();
        queued.sort_unstable();
        queued.dedup();
        if queued.is_empty() {
            return Ok(0);
        }
        self.buf.clear();
        let flat: Vec<u8> = queued.iter().flatten().copied().collect();
        encode(&mut self.buf, &[&[KIND_DEL], &flat]);
        self.append_buf()?;
        for key in &queued {
            self.forget(key);
        }
        self.reclaim()?;
        Ok(queued.len() as u64)
    }

    /// Reads the value of the message at `loc`.
    pub fn read(&self, loc: &Loc) -> io::Result<Vec<u8>> {
        let segment = self
            .segments
            .get(&loc.segment)
            .ok_or_else(|| damaged(format!("queue segment {} is missing", loc.segment)))?;
        let mut bytes = vec![0u8; loc.len as usize];
        segment
            .file
            .read_exact_at(&mut bytes, u64::from(loc.offset))?;
        match parse(&bytes) {
            Some((Record::Put { .. }, _)) => {
                bytes.drain(..RECORD_HEADER + PUT_PREFIX);
                Ok(bytes)
            }
            _ => Err(damaged(format!(
                "the record at {} of queue segment {} is damaged",
                loc.offset, loc.segment
            ))),
        }
    }

    /// Deletes the oldest segments once nothing in them is queued. When the
    /// oldest still holds a few messages behind at least one closed segment,
    /// they are copied to the newest segment first (and synced there), so
    /// that one old message does not keep every segment after it on disk.
    fn reclaim(&mut self) -> io::Result<()> {
        loop {
            let Some((&oldest, segment)) = self.segments.iter().next() else {
                return Ok(());
            };
            if oldest == self.current {
                // The only segment, and nothing in it is queued: start it
                // over, so that a queue that drains gives its disk back (a
                // full disk included) without waiting for the segment to fill.
                // The next sync makes the new length durable.
                if segment.live == 0 && segment.len > SEGMENT_BYTES / 4 {
                    segment.file.set_len(HEADER)?;
                    if let Some(segment) = self.segments.get_mut(&oldest) {
                        segment.len = HEADER;
                    }
                    self.written += 1;
                }
                return Ok(());
            }
            if segment.live > 0 {
                let sparse = segment.live_bytes * 4 < segment.len && self.segments.len() > 2;
                if !sparse {
                    return Ok(());
                }
                self.move_out(oldest)?;
            }
            if let Some(segment) = self.segments.remove(&oldest) {
                drop(segment.file);
                std::fs::remove_file(segment_path(&self.dir, oldest))?;
            }
        }
    }

    /// Copies the messages still queued in segment `n` to the newest one.
    fn move_out(&mut self, n: u32) -> io::Result<()> {
        let moving: Vec<(QueueKey, Loc)> = self
            .index
            .iter()
            .filter(|(_, loc)| loc.segment == n)
            .map(|(k, l)| (*k, *l))
            .collect();
        let mut records = Vec::with_capacity(moving.len());
        for (key, loc) in &moving {
            records.push((*key, loc.expires_ms, self.read(loc)?));
        }
        self.put(&records)?;
        self.sync()
    }
}

mod record;
mod sync;

pub use sync::SyncJob;
#[cfg(test)]
mod tests;
