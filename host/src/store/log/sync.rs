//! Syncs of the segment log: what makes appended records durable. A
//! [`SyncJob`] holds its own file handles, so that it runs on another thread
//! while the log goes on taking appends; the log counts appends (`written`)
//! and what a sync covered (`synced`), so that a caller knows which appends a
//! finished job made durable.

use super::Log;
use std::fs::File;
use std::io;

/// What one sync makes durable: the segments written since the last one
/// was planned and, if a segment was created, the directory. It holds its
/// own handles, so that it runs on another thread while the log goes on
/// taking appends: a record appended meanwhile waits for the next one.
#[derive(Debug)]
pub struct SyncJob {
    pub(super) files: Vec<File>,
    pub(super) dir: Option<File>,
    mark: u64,
}

impl SyncJob {
    /// Waits until the device has everything the job covers.
    pub fn run(&self) -> io::Result<()> {
        for file in &self.files {
            file.sync_data()?;
        }
        if let Some(dir) = &self.dir {
            dir.sync_all()?;
        }
        Ok(())
    }

    /// The appends it covers: every one counted up to this mark.
    pub fn mark(&self) -> u64 {
        self.mark
    }
}

impl Log {
    /// Makes every record appended so far durable, on this thread.
    pub fn sync(&mut self) -> io::Result<()> {
        if let Some(job) = self.plan_sync()? {
            match job.run() {
                Ok(()) => self.synced_to(job.mark()),
                Err(e) => {
                    self.sync_failed(job);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Whether anything appended is not durable yet.
    pub fn is_dirty(&self) -> bool {
        self.written > self.synced
    }

    /// The appends counted so far; a record appended now is durable once a
    /// sync with this mark or a later one has run.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Bytes appended since the last sync was planned.
    pub fn unsynced_bytes(&self) -> u64 {
        self.unsynced_bytes
    }

    /// The sync of everything appended so far, to run on any thread; `None`
    /// when there is nothing to sync. Report how it went with
    /// [`Log::synced_to`] or [`Log::sync_failed`].
    pub fn plan_sync(&mut self) -> io::Result<Option<SyncJob>> {
        if !self.is_dirty() {
            return Ok(None);
        }
        // The handles this job needs are opened first, so that a failure to
        // open one leaves the closed segments' work where it was.
        let current = match self.segments.get(&self.current) {
            Some(segment) => Some(segment.file.try_clone()?),
            None => None,
        };
        let dir = if self.dir_unsynced {
            Some(File::open(&self.dir)?)
        } else {
            None
        };
        self.dir_unsynced = false;
        let mut files = std::mem::take(&mut self.closed_unsynced);
        files.extend(current);
        self.unsynced_bytes = 0;
        Ok(Some(SyncJob {
            files,
            dir,
            mark: self.written,
        }))
    }

    /// Records that `mark`'s sync succeeded.
    pub fn synced_to(&mut self, mark: u64) {
        self.synced = self.synced.max(mark);
    }

    /// Takes back a failed sync's work, for the next one to do again.
    pub fn sync_failed(&mut self, job: SyncJob) {
        self.closed_unsynced.extend(job.files);
        if job.dir.is_some() {
            self.dir_unsynced = true;
        }
    }
}
