//! `ganglion doctor`: checks a device before the first run and says what to
//! fix. Each check is a function that returns a [`Finding`]; the ones that
//! read the machine (the file system, the clock, the address space) take
//! what they read as arguments where a test must choose it.
//!
//! - [`data_dir`]: the data directory can be created and written, and which
//!   file system it is on (a RAM file system loses the queue at power-off).
//! - [`free_space`]: the file system has room for the `$upstream` queue's
//!   quota and the modules' storage quotas.
//! - [`address_space`]: the instance pool fits the address space the process
//!   may map (else the gateway runs with on-demand memory).
//! - [`clock`]: the clock is set (a Pi without a real-time clock starts in
//!   1970 until NTP answers) and has not gone back behind the data.
//! - [`broker`]: a broker answers an MQTT CONNECT.
//! - [`trusted_keys`]: the trusted keys folder holds keys that parse.

use crate::Manifest;
use crate::runtime::alloc::{Allocation, AllocationChoice};
use crate::uplink::UplinkConfig;
use rumqttc::v5::mqttbytes::v5::{ConnectReturnCode, Packet};
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a broker has to answer.
pub const BROKER_TIMEOUT: Duration = Duration::from_secs(5);
/// A clock before this (2026-01-01 UTC, in seconds since 1970) has not been
/// set.
pub const CLOCK_FLOOR_SECS: u64 = 1_767_225_600;
/// File systems that do not outlive a power cut.
const VOLATILE: [&str; 2] = ["tmpfs", "ramfs"];
/// File systems on which sled's file locks and flushes are not to be trusted.
const UNSUITED: [&str; 5] = ["nfs", "nfs4", "cifs", "smb3", "9p"];

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing to do.
    Ok,
    /// The gateway runs, but not as well as it could.
    Warn,
    /// The gateway will fail or lose data: fix it first.
    Fail,
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What was checked, e.g. `data dir`.
    pub check: &'static str,
    /// How it came out.
    pub verdict: Verdict,
    /// What was found.
    pub detail: String,
    /// What to do about it, unless it is fine.
    pub fix: Option<String>,
}

impl Finding {
    fn ok(check: &'static str, detail: impl Into<String>) -> Finding {
        Finding {
            check,
            verdict: Verdict::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    fn bad(
        check: &'static str,
        verdict: Verdict,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding {
            check,
            verdict,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = match self.verdict {
            Verdict::Ok => "ok  ",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
        };
        write!(f, "{verdict} {:<13} {}", self.check, self.detail)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n     {:<13} fix: {fix}", "")?;
        }
        Ok(())
    }
}

/// A mounted file system, from `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Where it is mounted.
    pub point: PathBuf,
    /// Its type (`ext4`, `tmpfs`, ...).
    pub fstype: String,
    /// What is mounted (`/dev/mmcblk0p2`, ...).
    pub source: String,
}

/// The mount that holds `path` (an absolute, resolved path), from the text
/// of `/proc/self/mountinfo`: the one with the longest mount point above it.
pub fn mount_of(mountinfo: &str, path: &Path) -> Option<Mount> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let point = unescape(left.split(' ').nth(4)?);
            let mut right = right.split(' ');
            let fstype = right.next()?.to_string();
            let source = unescape(right.next()?);
            Some(Mount {
                point: PathBuf::from(point),
                fstype,
                source,
            })
        })
        .filter(|m| path.starts_with(&m.point))
        .max_by_key(|m| m.point.components().count())
}

/// A mountinfo field with its octal escapes (`\040` for a space) decoded.
fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut rest = field;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let code = rest
            .get(i + 1..i + 4)
            .and_then(|d| u8::from_str_radix(d, 8).ok());
        match code {
            Some(byte) => {
                out.push(char::from(byte));
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The data directory: created if missing, a file written, flushed and
/// removed in it, and its file system named.
pub fn data_dir(dir: &Path) -> Finding {
    const CHECK: &str = "data dir";
    let fix = "give `--data-dir` (or GANGLION_DATA_DIR) a folder on persistent storage that this user may write";
    if let Err(e) = std::fs::create_dir_all(dir) {
        return Finding::bad(
            CHECK,
            Verdict::Fail,
            format!("{}: cannot be created: {e}", dir.display()),
            fix,
        );
    }
    let probe = dir.join(".ganglion-doctor");
    let written = std::fs::File::create(&probe)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"probe").and_then(|()| f.sync_all()));
    let _ = std::fs::remove_file(&probe);
    if let Err(e) = written {
        return Finding::bad(
            CHECK,
            Verdict::Fail,
            format!("{}: cannot be written: {e}", dir.display()),
            fix,
        );
    }
    let resolved = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mount = std::fs::read_to_string("/proc/self/mountinfo")
        .ok()
        .and_then(|info| mount_of(&info, &resolved));
    let Some(mount) = mount else {
        return Finding::ok(
            CHECK,
            format!("{}: writable (file system unknown)", dir.display()),
        );
    };
    let on = format!(
        "{}: writable, {} on {} (mounted at {})",
        dir.display(),
        mount.fstype,
        mount.source,
        mount.point.display()
    );
    if VOLATILE.contains(&mount.fstype.as_str()) {
        Finding::bad(
            CHECK,
            Verdict::Fail,
            format!("{on}: kept in RAM, so the queue and the twins are lost at power-off"),
            fix,
        )
    } else if UNSUITED.contains(&mount.fstype.as_str()) {
        Finding::bad(
            CHECK,
            Verdict::Warn,
            format!(
                "{on}: a network file system, whose locks and flushes the store cannot rely on"
            ),
            fix,
        )
    } else if mount.source.starts_with("/dev/mmcblk") {
        Finding::ok(
            CHECK,
            format!("{on}: an SD card or eMMC (docs/operations.md says how to spare it)"),
        )
    } else {
        Finding::ok(CHECK, on)
    }
}

/// What the data directory may come to hold: the `$upstream` queue's quota
/// and each module's storage quota.
pub fn space_needed(manifest: &Manifest) -> u64 {
    let storage: u64 = manifest.modules.iter().map(|m| m.storage_quota).sum();
    manifest
        .store_and_forward
        .quota
        .max_bytes
        .saturating_add(storage)
}

/// The bytes under `dir` (what the data already takes).
fn size_of(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => size_of(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

/// Whether the data directory's file system has room for `needed` bytes, with
/// `available` bytes free and the data already there counted as room.
pub fn free_space(dir: &Path, needed: u64, available: Option<u64>) -> Finding {
    const CHECK: &str = "free space";
    let mib = |b: u64| b / (1024 * 1024);
    let Some(available) = available else {
        return Finding::bad(
            CHECK,
            Verdict::Warn,
            format!("cannot read the free space of {}", dir.display()),
            "check it by hand (df -h)",
        );
    };
    let room = available.saturating_add(size_of(dir));
    if room >= needed {
        Finding::ok(
            CHECK,
            format!(
                "{} MiB for the data, which may take {} MiB (queue and module storage quotas)",
                mib(room),
                mib(needed)
            ),
        )
    } else {
        Finding::bad(
            CHECK,
            Verdict::Fail,
            format!(
                "{} MiB for the data, which may take {} MiB (queue and module storage quotas): a long outage fills the disk",
                mib(room),
                mib(needed)
            ),
            "lower `[store-and-forward] max-bytes` (or the modules' `storage-quota-bytes`), or free space on that file system",
        )
    }
}

/// The free bytes of the file system that holds `dir`, for this user.
pub fn available_bytes(dir: &Path) -> Option<u64> {
    let stat = rustix::fs::statvfs(dir).ok()?;
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// Whether the instance pool for `manifest` fits the address space: `left`
/// is what the process may still map (`None`: unlimited), `overcommit` the
/// kernel's `vm.overcommit_memory`.
pub fn address_space(
    manifest: &Manifest,
    choice: AllocationChoice,
    left: Option<u64>,
    overcommit: Option<u8>,
) -> Finding {
    const CHECK: &str = "address space";
    let largest = manifest
        .modules
        .iter()
        .map(|m| m.limits.memory_bytes)
        .max()
        .unwrap_or(0);
    match choice.decide(manifest.modules.len(), largest, left) {
        Allocation::OnDemand(why) if choice == AllocationChoice::OnDemand => {
            Finding::ok(CHECK, format!("memory on demand: {why}"))
        }
        Allocation::OnDemand(why) => Finding::bad(
            CHECK,
            Verdict::Warn,
            format!(
                "no room for the instance pool ({why}): modules get memory on demand, and each start or hot swap maps it afresh"
            ),
            "raise the address-space limit (`ulimit -v unlimited`, or LimitAS=infinity in the systemd unit), or shrink the pool with --pool-instances / --pool-memory-mib",
        ),
        Allocation::Pooling(pool) => {
            let reserve = pool.reservation() / (1024 * 1024);
            if overcommit == Some(2) {
                Finding::bad(
                    CHECK,
                    Verdict::Warn,
                    format!(
                        "the pool reserves {reserve} MiB of address space, and the kernel counts reservations against RAM (vm.overcommit_memory = 2)"
                    ),
                    "set vm.overcommit_memory to 0, or run with --no-pool",
                )
            } else {
                Finding::ok(
                    CHECK,
                    format!("a pool of {pool} reserves {reserve} MiB of address space, which fits"),
                )
            }
        }
    }
}

/// The kernel's `vm.overcommit_memory`.
pub fn overcommit_memory() -> Option<u8> {
    std::fs::read_to_string("/proc/sys/vm/overcommit_memory")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The newest modification time under `dir`, one level down (sled's files).
pub fn newest_in(dir: &Path) -> Option<SystemTime> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok()?.modified().ok())
        .max()
}

/// Whether the clock reads `now` sensibly: after [`CLOCK_FLOOR_SECS`], and
/// not behind the newest file of the data (`newest`).
pub fn clock(now: SystemTime, newest: Option<SystemTime>) -> Finding {
    const CHECK: &str = "clock";
    let since_1970 = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let shown = crate::message::rfc3339(u64::try_from(since_1970.as_millis()).unwrap_or(u64::MAX));
    if since_1970.as_secs() < CLOCK_FLOOR_SECS {
        return Finding::bad(
            CHECK,
            Verdict::Fail,
            format!(
                "it reads {shown}: not set, so message times and time-to-live expiry are wrong"
            ),
            "enable NTP (systemd-timesyncd, chrony) or fit a real-time clock, and wait for it before `ganglion run` (After=time-sync.target)",
        );
    }
    if let Some(newest) = newest
        && let Ok(behind) = newest.duration_since(now)
        && behind > Duration::from_secs(60)
    {
        return Finding::bad(
            CHECK,
            Verdict::Warn,
            format!(
                "it reads {shown}, {} s behind the newest data file: it went back (a restart before NTP answered?)",
                behind.as_secs()
            ),
            "enable NTP and wait for it before `ganglion run` (After=time-sync.target)",
        );
    }
    Finding::ok(CHECK, format!("it reads {shown}"))
}

/// Whether a broker answers an MQTT CONNECT within [`BROKER_TIMEOUT`].
/// `what` names it (`cloud broker`, `local broker`); `options` carry the
/// address, credentials and TLS, and a client id of the doctor's own, so
/// that a running gateway's session is not taken over.
pub async fn broker(what: &'static str, address: &str, options: MqttOptions) -> Finding {
    let (client, mut events) = AsyncClient::new(options, 10);
    let answer = tokio::time::timeout(BROKER_TIMEOUT, async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => return Ok(ack.code),
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    })
    .await;
    let _ = client.try_disconnect();
    let fix = "check the address, the port, the firewall and the credentials; `ganglion run` retries with backoff meanwhile";
    match answer {
        Ok(Ok(ConnectReturnCode::Success)) => {
            Finding::ok(what, format!("{address} answers (MQTT 5)"))
        }
        Ok(Ok(code)) => Finding::bad(
            what,
            Verdict::Fail,
            format!("{address} refused the connection: {code:?}"),
            fix,
        ),
        Ok(Err(e)) => Finding::bad(
            what,
            Verdict::Fail,
            format!("{address}: cannot connect: {e}"),
            fix,
        ),
        Err(_) => Finding::bad(
            what,
            Verdict::Fail,
            format!("{address}: no answer in {} s", BROKER_TIMEOUT.as_secs()),
            fix,
        ),
    }
}

/// The options to probe the cloud broker of `config` with: its address,
/// credentials and TLS, under the client id `<device>-doctor`, with no last
/// will (the gateway's would announce it offline).
pub fn cloud_probe(config: &UplinkConfig) -> Result<MqttOptions, crate::uplink::tls::TlsError> {
    config.connection(&format!("{}-doctor", config.device_id))
}

/// The trusted keys folder (`--trusted-keys`), if one is given: it must hold
/// at least one `*.pub` key, and every one must parse.
pub fn trusted_keys(dir: Option<&Path>) -> Finding {
    const CHECK: &str = "trusted keys";
    let Some(dir) = dir else {
        return Finding::ok(
            CHECK,
            "none given: any module artifact runs, signed or not (pass --trusted-keys to require signatures)",
        );
    };
    match crate::artifact::read_trusted_keys(dir) {
        Ok(keys) => Finding::ok(CHECK, format!("{}: {} key(s)", dir.display(), keys.len())),
        Err(e) => Finding::bad(
            CHECK,
            Verdict::Fail,
            format!("{}: {e}", dir.display()),
            "make the folder and its *.pub files readable, put the public keys in it (`ganglion key gen` makes NAME.pub), and replace any key that does not parse",
        ),
    }
}

#[cfg(test)]
mod tests;
