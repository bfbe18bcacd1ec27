//! The gateway under test as a process: the `ganglion` binary, its manifest,
//! its start and stop, and what `/proc` says of its CPU time (in the kernel's
//! clock ticks) and peak resident set.

use super::{DEVICE, LEAF_FILTER, LOG};
use ganglion_tests::artifacts::TEMP_FILTER;
use ganglion_tests::broker::Broker;
use ganglion_tests::process;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The gateway process, stopped (SIGKILL) if the bench ends early.
pub struct Gateway {
    child: Child,
}

impl Gateway {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops it as systemd would (SIGTERM), and waits.
    pub fn stop(mut self) {
        process::signal(&mut self.child, "TERM", Duration::from_secs(5));
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn ganglion_bin() -> PathBuf {
    let bin = match std::env::var_os("GANGLION_BIN") {
        Some(p) => PathBuf::from(p),
        None => std::env::current_exe()
            .unwrap()
            .parent()
            .unwrap()
            .join("../ganglion"),
    };
    assert!(
        bin.is_file(),
        "no gateway binary at {}: run `cargo build --release -p ganglion-host --bin ganglion` \
         or set GANGLION_BIN",
        bin.display()
    );
    bin
}

/// Which routes the gateway's manifest has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Copies {
    /// Every leaf message to the filter, and its output to `$upstream`.
    One,
    /// Those, and every leaf message straight to `$upstream` as well (route
    /// `straight`).
    Two,
}

/// The route that sends every leaf message straight to `$upstream`.
const STRAIGHT: &str =
    "straight = \"FROM /messages/* WHERE is_defined($connectionDeviceId) INTO $upstream\"\n";

/// The manifest, with the routes of `copies` and `store_and_forward` as the
/// body of its `[store-and-forward]` table (empty: the defaults).
fn write_manifest(dir: &Path, broker: &Broker, copies: Copies, store_and_forward: &str) -> PathBuf {
    let straight = match copies {
        Copies::One => "",
        Copies::Two => STRAIGHT,
    };
    let text = format!(
        "[modules.temp-filter]\npath = \"{}\"\nconfig = {{ threshold = 25 }}\n\n\
         [ingest]\nurl = \"{}\"\ntopics = [\"{LEAF_FILTER}\"]\nclient-id = \"bench-ingest\"\n\n\
         [routes]\n\
         leaves = \"FROM /messages/* WHERE is_defined($connectionDeviceId) \
         INTO BrokeredEndpoint('/modules/temp-filter/inputs/input1')\"\n\
         alerts = \"FROM /messages/modules/temp-filter/outputs/output1 INTO $upstream\"\n\
         {straight}\n\
         [store-and-forward]\n{store_and_forward}\n",
        ganglion_tests::toml_path(TEMP_FILTER),
        broker.url()
    );
    ganglion_tests::write_manifest(dir, &text)
}

/// Starts `ganglion run` on the bench's manifest, with the routes of
/// `copies` and its `[store-and-forward]` table holding `store_and_forward`,
/// on `worker_threads` threads.
pub fn start_gateway(
    dir: &Path,
    broker: &Broker,
    copies: Copies,
    store_and_forward: &str,
    worker_threads: u16,
) -> Gateway {
    let manifest = write_manifest(dir, broker, copies, store_and_forward);
    let child = Command::new(ganglion_bin())
        .args(["run", "--flow-every", "0", "--device-id", DEVICE])
        .arg("--worker-threads")
        .arg(worker_threads.to_string())
        .arg("--manifest")
        .arg(manifest)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--upstream")
        .arg(broker.url())
        .env("GANGLION_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(LOG)).unwrap())
        .spawn()
        .expect("start ganglion");
    Gateway { child }
}

/// utime + stime of a process, in µs.
pub fn cpu_us(pid: u32, tick_hz: f64) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of proc(5); the first after the name is field 3.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 * 1e6 / tick_hz
}

/// The peak resident set (`VmHWM`) of a process, in MB (1e6 bytes).
pub fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/PID/status");
    let kib: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024.0 / 1e6
}

/// The kernel's clock ticks per second, the unit of utime and stime.
pub fn clock_ticks() -> f64 {
    let out = Command::new("getconf").arg("CLK_TCK").output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Resets a process's peak resident set (`VmHWM`) to its current one.
pub fn reset_peak_rss(pid: u32) {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("reset VmHWM");
}

/// The bytes a process sent to the storage layer (`write_bytes` of
/// `/proc/PID/io`).
pub fn disk_write_bytes(pid: u32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))
        .expect("write_bytes in /proc/PID/io")
        .trim()
        .parse()
        .unwrap()
}
