//! `ganglion` as a child process: finding the binary, spawning it without
//! the environment settings that would change what is measured, reading its
//! stdout and stderr line by line (the flow display's first `$upstream` line,
//! the "gateway running" log, any warning or error), stopping it, and
//! sampling its memory and threads from `/proc/PID/status` and
//! `/proc/PID/task`.

use super::START_TIMEOUT;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What the flow display prints for each message that reaches `$upstream`.
const UPSTREAM_LINE: &str = "→ $upstream";
/// What `ganglion run` logs once the gateway has started.
const RUNNING_LOG: &str = "gateway running";

pub fn ganglion_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("GANGLION_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().join("..").join("ganglion");
    assert!(
        bin.is_file(),
        "{} not found: run `cargo build --release -p ganglion-host --bin ganglion` or set GANGLION_BIN",
        bin.display()
    );
    bin
}

/// The command, with no setting from this environment that would change what
/// is measured (the gateway's own variables, glibc's allocator tunables).
pub fn command(bin: &Path) -> Command {
    let mut cmd = Command::new(bin);
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("GANGLION_") || k.starts_with("MALLOC_") || k == "GLIBC_TUNABLES" {
            cmd.env_remove(&key);
        }
    }
    cmd.env("GANGLION_LOG", "info").env("NO_COLOR", "1");
    cmd
}

/// A line from the process, with when this program read it.
enum Event {
    Stdout(String, Instant),
    Stderr(String, Instant),
    Closed,
}

fn forward(pipe: impl Read + Send + 'static, tx: mpsc::Sender<Event>, out: bool) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            let now = Instant::now();
            let event = if out {
                Event::Stdout(line, now)
            } else {
                Event::Stderr(strip_ansi(&line), now)
            };
            if tx.send(event).is_err() {
                return;
            }
        }
        let _ = tx.send(Event::Closed);
    });
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A running `ganglion`, killed if dropped.
pub struct Process {
    child: Option<Child>,
    pub pid: u32,
    pub spawned: Instant,
    events: mpsc::Receiver<Event>,
    closed: usize,
    log: Vec<String>,
    running_at: Option<Instant>,
    upstream_at: Option<Instant>,
}

impl Process {
    pub fn spawn(bin: &Path, args: &[&OsStr]) -> Process {
        let mut cmd = command(bin);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let spawned = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let (tx, events) = mpsc::channel();
        forward(child.stdout.take().unwrap(), tx.clone(), true);
        forward(child.stderr.take().unwrap(), tx, false);
        Process {
            pid: child.id(),
            child: Some(child),
            spawned,
            events,
            closed: 0,
            log: Vec::new(),
            running_at: None,
            upstream_at: None,
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Stdout(line, at) => {
                if self.upstream_at.is_none() && line.starts_with(UPSTREAM_LINE) {
                    self.upstream_at = Some(at);
                }
            }
            Event::Stderr(line, at) => {
                if self.running_at.is_none() && line.contains(RUNNING_LOG) {
                    self.running_at = Some(at);
                }
                let level = line.split_whitespace().nth(1).unwrap_or("");
                if level == "WARN" || level == "ERROR" {
                    panic!(
                        "ganglion logged a warning or an error, so the figures would not be \
                         what they claim:\n{}\n{line}",
                        self.log.join("\n")
                    );
                }
                self.log.push(line);
            }
            Event::Closed => {
                self.closed += 1;
                if self.closed == 2 {
                    panic!("ganglion exited early; it said:\n{}", self.log.join("\n"));
                }
            }
        }
    }

    /// Handles the process's lines until `done` holds.
    fn wait_until(&mut self, what: &str, done: impl Fn(&Process) -> bool) {
        let deadline = Instant::now() + START_TIMEOUT;
        while !done(self) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(event) => self.handle(event),
                Err(_) => panic!(
                    "no {what} within {START_TIMEOUT:?}; ganglion said:\n{}",
                    self.log.join("\n")
                ),
            }
        }
    }

    pub fn wait_running(&mut self) -> Instant {
        self.wait_until("\"gateway running\"", |p| p.running_at.is_some());
        self.running_at.unwrap()
    }

    pub fn wait_upstream(&mut self) -> Instant {
        self.wait_until("message at $upstream", |p| p.upstream_at.is_some());
        self.upstream_at.unwrap()
    }

    /// Handles what arrived, and checks that the process still runs.
    pub fn check_alive(&mut self) {
        while let Ok(event) = self.events.try_recv() {
            self.handle(event);
        }
        let exited = self.child.as_mut().unwrap().try_wait().unwrap();
        assert!(
            exited.is_none(),
            "ganglion exited ({exited:?}); it said:\n{}",
            self.log.join("\n")
        );
    }

    /// The value of the log field `key=` in the first line that contains
    /// `marker`.
    pub fn logged(&self, marker: &str, key: &str) -> Option<String> {
        let line = self.log.iter().find(|l| l.contains(marker))?;
        let (_, rest) = line.split_once(&format!("{key}="))?;
        Some(rest.trim().to_string())
    }

    /// Stops it as a service manager would (SIGTERM), and waits for it.
    pub fn stop(mut self) {
        if let Some(mut child) = self.child.take()
            && ganglion_tests::process::signal(&mut child, "TERM", Duration::from_secs(10))
                .is_none()
        {
            while let Ok(event) = self.events.recv_timeout(Duration::from_millis(200)) {
                if let Event::Stderr(line, _) = event {
                    self.log.push(line);
                }
            }
            panic!(
                "ganglion did not stop within 10 s of SIGTERM; it said:\n{}",
                self.log.join("\n")
            );
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What `/proc/PID/status` and `/proc/PID/task` say, in MB and threads.
pub struct Footprint {
    pub rss: f64,
    pub anon: f64,
    pub file: f64,
    pub vm_size: f64,
    pub threads: f64,
    pub thread_names: String,
}

fn kib_to_mb(kib: u64) -> f64 {
    kib as f64 * 1024.0 / 1e6
}

pub fn footprint(pid: u32) -> Footprint {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
    };
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let comm = std::fs::read_to_string(task.unwrap().path().join("comm")).unwrap_or_default();
        let comm = comm.trim();
        let name = match comm.strip_prefix("sled-io-") {
            Some(n) if n.chars().all(|c| c.is_ascii_digit()) => "sled-io-N".to_string(),
            _ => comm.to_string(),
        };
        *names.entry(name).or_default() += 1;
    }
    let thread_names = names
        .iter()
        .map(|(n, c)| format!("{c} × {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    Footprint {
        rss: kib_to_mb(field("VmRSS")),
        anon: kib_to_mb(field("RssAnon")),
        file: kib_to_mb(field("RssFile")),
        vm_size: kib_to_mb(field("VmSize")),
        threads: field("Threads") as f64,
        thread_names,
    }
}

pub fn run_args<'a>(manifest: &'a Path, data_dir: &'a Path, flags: &[&'a str]) -> Vec<&'a OsStr> {
    let mut args: Vec<&OsStr> = vec![
        OsStr::new("run"),
        OsStr::new("--manifest"),
        manifest.as_os_str(),
        OsStr::new("--data-dir"),
        data_dir.as_os_str(),
    ];
    args.extend(flags.iter().map(|f| OsStr::new(*f)));
    args
}
