//! The segment log on real files in a temporary directory.

use super::*;
use crate::store::queue::queue_key;
use std::io::Write;

fn put(log: &mut Log, priority: Option<u8>, body: &str) -> QueueKey {
    let key = log.next_key(priority);
    log.put(&[(key, u64::MAX, body.as_bytes().to_vec())])
        .unwrap();
    key
}

fn bodies(log: &Log) -> Vec<String> {
    log.range(Bound::Unbounded)
        .map(|(_, loc)| String::from_utf8(log.read(loc).unwrap()).unwrap())
        .collect()
}

fn last_segment(dir: &Path) -> PathBuf {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    names.sort();
    names.pop().unwrap()
}

#[test]
fn records_come_back_in_key_order_after_a_restart_in_the_middle_of_a_segment() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut log, recovery) = Log::open(dir.path()).unwrap();
        assert_eq!(recovery, Recovery::default());
        put(&mut log, None, "low-1");
        put(&mut log, Some(0), "urgent-1");
        log.sync().unwrap();
    }
    {
        let (mut log, recovery) = Log::open(dir.path()).unwrap();
        assert_eq!(recovery.truncated, 0);
        put(&mut log, Some(0), "urgent-2");
        put(&mut log, None, "low-2");
        log.sync().unwrap();
    }
    let (log, recovery) = Log::open(dir.path()).unwrap();
    assert_eq!(recovery.segments, 1, "appends continue in the same segment");
    assert_eq!(bodies(&log), ["urgent-1", "urgent-2", "low-1", "low-2"]);
    assert_eq!(log.len(), 4);
    let sizes: u64 = log.range(Bound::Unbounded).map(|(_, l)| l.size()).sum();
    assert_eq!(log.live_bytes(), sizes);
}

#[test]
fn a_torn_last_record_is_cut_off_and_the_rest_kept() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut log, _) = Log::open(dir.path()).unwrap();
        for i in 0..3 {
            put(&mut log, None, &format!("m{i}"));
        }
        log.sync().unwrap();
    }
    // A fourth record cut short by a power cut: its header and half its body.
    let mut record = Vec::new();
    encode(
        &mut record,
        &[
            &[KIND_PUT],
            &queue_key(None, 99),
            &u64::MAX.to_le_bytes(),
            b"torn-away",
        ],
    );
    let mut file = OpenOptions::new()
        .append(true)
        .open(last_segment(dir.path()))
        .unwrap();
    file.write_all(&record[..record.len() - 5]).unwrap();
    drop(file);
    {
        let (mut log, recovery) = Log::open(dir.path()).unwrap();
        assert_eq!(recovery.truncated, (record.len() - 5) as u64);
        assert_eq!(bodies(&log), ["m0", "m1", "m2"]);
        let key = put(&mut log, None, "after");
        assert!(seq_of(&key) < 99, "the torn record's number is not taken");
        log.sync().unwrap();
    }
    let (log, recovery) = Log::open(dir.path()).unwrap();
    assert_eq!(recovery.truncated, 0);
    assert_eq!(bodies(&log), ["m0", "m1", "m2", "after"]);
}

#[test]
fn a_record_that_fails_its_checksum_ends_its_segment() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut log, _) = Log::open(dir.path()).unwrap();
        put(&mut log, None, "kept");
        put(&mut log, None, "flipped");
        log.sync().unwrap();
    }
    let path = last_segment(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let (log, recovery) = Log::open(dir.path()).unwrap();
    assert!(recovery.truncated > 0);
    assert_eq!(bodies(&log), ["kept"]);
}

#[test]
fn removals_survive_a_restart_and_numbers_are_not_reused() {
    let dir = tempfile::tempdir().unwrap();
    let removed;
    {
        let (mut log, _) = Log::open(dir.path()).unwrap();
        put(&mut log, None, "a");
        removed = put(&mut log, None, "b");
        assert_eq!(log.remove(&[removed, removed]).unwrap(), 1);
        assert_eq!(log.remove(&[removed]).unwrap(), 0);
        log.sync().unwrap();
    }
    let (mut log, _) = Log::open(dir.path()).unwrap();
    assert_eq!(bodies(&log), ["a"]);
    assert!(seq_of(&log.next_key(None)) > seq_of(&removed));
}

#[test]
fn delivered_segments_are_deleted_and_an_old_straggler_is_moved_out() {
    let dir = tempfile::tempdir().unwrap();
    let body = "x".repeat(64 * 1024);
    let straggler;
    {
        let (mut log, _) = Log::open(dir.path()).unwrap();
        straggler = put(&mut log, Some(9), "straggler");
        let mut urgent = Vec::new();
        // About four segments of urgent messages behind it.
        for _ in 0..(4 * SEGMENT_BYTES / body.len() as u64) {
            urgent.push(put(&mut log, Some(0), &body));
        }
        log.sync().unwrap();
        assert!(log.segment_count() >= 4, "{}", log.segment_count());
        log.remove(&urgent).unwrap();
        log.sync().unwrap();
        assert_eq!(log.len(), 1);
        assert!(
            log.segment_count() <= 2,
            "{} segments kept for one message",
            log.segment_count()
        );
        assert!(log.file_bytes() < SEGMENT_BYTES);
    }
    let (log, _) = Log::open(dir.path()).unwrap();
    assert_eq!(log.len(), 1);
    assert!(log.get(&straggler).is_some());
    assert_eq!(bodies(&log), ["straggler"]);
}

#[test]
fn the_lowest_priority_is_dropped_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = Log::open(dir.path()).unwrap();
    put(&mut log, Some(0), "urgent");
    let first_low = put(&mut log, Some(7), "low-1");
    put(&mut log, Some(7), "low-2");
    assert_eq!(log.oldest_of_lowest(), Some(first_low));
}

#[test]
fn a_segment_with_a_foreign_header_is_set_aside_not_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("0000000001.log"), b"not a ganglion segment").unwrap();
    let (log, _) = Log::open(dir.path()).unwrap();
    assert!(log.is_empty());
    assert!(dir.path().join("0000000001.damaged").is_file());
}

#[test]
fn a_segment_whose_header_never_reached_the_disk_is_removed_not_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut log, _) = Log::open(dir.path()).unwrap();
        put(&mut log, None, "kept");
        log.sync().unwrap();
    }
    // What a power cut can leave of a segment made just before it: its
    // length reached the disk, its bytes did not.
    std::fs::write(dir.path().join("0000000002.log"), [0u8; 4096]).unwrap();
    let (log, _) = Log::open(dir.path()).unwrap();
    assert_eq!(bodies(&log), ["kept"]);
    assert!(!dir.path().join("0000000002.log").exists());
    assert!(!dir.path().join("0000000002.damaged").exists());
}

#[test]
fn a_planned_sync_covers_what_was_appended_before_it_and_not_after() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = Log::open(dir.path()).unwrap();
    put(&mut log, None, "before");
    let job = log.plan_sync().unwrap().unwrap();
    assert_eq!(log.unsynced_bytes(), 0);
    // Appends go on while the sync runs elsewhere.
    let running = std::thread::spawn(move || {
        let result = job.run();
        (job, result)
    });
    put(&mut log, None, "after");
    let after = log.written();
    let (job, result) = running.join().unwrap();
    result.unwrap();
    log.synced_to(job.mark());
    assert!(job.mark() < after);
    assert!(log.is_dirty(), "the later append still waits for a sync");
    let next = log.plan_sync().unwrap().unwrap();
    assert_eq!(next.mark(), after);
    next.run().unwrap();
    log.synced_to(next.mark());
    assert!(!log.is_dirty());
    assert!(log.plan_sync().unwrap().is_none());
}

#[test]
fn a_sync_after_a_new_segment_covers_the_closed_one_and_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = Log::open(dir.path()).unwrap();
    log.sync().unwrap();
    let body = "x".repeat(64 * 1024);
    for _ in 0..(SEGMENT_BYTES / body.len() as u64 + 1) {
        put(&mut log, None, &body);
    }
    assert_eq!(log.segment_count(), 2);
    let job = log.plan_sync().unwrap().unwrap();
    assert_eq!(job.files.len(), 2, "the closed segment and the current one");
    assert!(job.dir.is_some(), "the new segment's directory entry");
    // A failed sync gives its work back to the next.
    log.sync_failed(job);
    let again = log.plan_sync().unwrap().unwrap();
    assert!(again.files.len() >= 2);
    assert!(again.dir.is_some());
    again.run().unwrap();
    log.synced_to(again.mark());
    assert!(!log.is_dirty());
}
