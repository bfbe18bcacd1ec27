//! What the endpoint measures of the process itself at each request, beside
//! the gateway's counters: resident memory and bytes written to storage
//! (Linux `/proc/self`), and the age of the `$upstream` queue's oldest
//! message as its sink answers.

/// What is measured at the scrape beside the gateway's counters.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScrapeFigures {
    /// How long the oldest message in the `$upstream` queue has existed, in
    /// seconds, if the sink answered.
    pub oldest_queued_secs: Option<f64>,
    /// Resident memory in bytes, if the system says.
    pub resident_bytes: Option<u64>,
    /// Bytes the process has caused to be written to storage, if the system
    /// says: the gateway writes only under its data directory (the store,
    /// twins, the compiled cache), so this is what it costs an SD card.
    pub written_bytes: Option<u64>,
}

impl ScrapeFigures {
    /// This process, now (`VmRSS` of `/proc/self/status` on Linux).
    pub fn now() -> ScrapeFigures {
        ScrapeFigures {
            oldest_queued_secs: None,
            resident_bytes: resident_bytes(),
            written_bytes: written_bytes(),
        }
    }
}

/// `write_bytes` of `/proc/self/io`.
fn written_bytes() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))?
        .trim()
        .parse()
        .ok()
}

fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}
