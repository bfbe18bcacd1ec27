//! A `ganglion run` process, for the tests that drive the binary itself (on
//! another architecture under an emulator, or under a `ulimit`): its stdout
//! and stderr a line at a time, stderr's lines prefixed with [`LOG`], and
//! its stderr also kept whole.

// Test support: a failed expectation is a panic, with what was seen.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// What a stderr line is prefixed with among the lines [`Running`] hands out.
pub const LOG: &str = "[log] ";

/// Sends `signal` (`INT`, `TERM`, `KILL`, ...) to `child` and waits up to
/// `limit` for it to end: its exit status, or `None` if it did not end (it
/// is then killed). A child that has ended already is not signalled.
pub fn signal(
    child: &mut Child,
    signal: &str,
    limit: Duration,
) -> Option<std::process::ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Some(status);
    }
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status();
    assert!(
        matches!(&sent, Ok(status) if status.success()),
        "kill -{signal}: {sent:?}"
    );
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// A running process, killed if dropped before [`Running::stop`].
pub struct Running {
    child: Child,
    /// stdout and stderr (prefixed with [`LOG`]) lines, as they come.
    pub lines: mpsc::Receiver<String>,
    readers: Vec<std::thread::JoinHandle<()>>,
    log: Arc<Mutex<String>>,
    wait: Duration,
}

impl Running {
    /// Starts `cmd` with its output piped; [`Running::until`] waits at most
    /// `wait` for what it wants.
    pub fn spawn(mut cmd: Command, wait: Duration) -> Running {
        let mut child = cmd
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let (tx, lines) = mpsc::channel();
        let log = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().unwrap();
        let out = tx.clone();
        let stdout = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = out.send(line);
            }
        });
        let stderr = child.stderr.take().unwrap();
        let kept = log.clone();
        let stderr = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = kept.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
                let _ = tx.send(format!("{LOG}{line}"));
            }
        });
        Running {
            child,
            lines,
            readers: vec![stdout, stderr],
            log,
            wait,
        }
    }

    /// The lines up to and including the `n`th that `wanted` accepts; fails
    /// with the lines seen if they do not come within the wait.
    pub fn until(&self, n: usize, wanted: impl Fn(&str) -> bool) -> Vec<String> {
        let deadline = Instant::now() + self.wait;
        let mut seen = Vec::new();
        let mut found = 0;
        while found < n {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = self.lines.recv_timeout(left) else {
                panic!(
                    "{found} of {n} expected lines within {:?}:\n{}",
                    self.wait,
                    seen.join("\n")
                );
            };
            if wanted(&line) {
                found += 1;
            }
            seen.push(line);
        }
        seen
    }

    /// Stops it with SIGINT; returns its stderr and the rest of its stdout,
    /// once it has stopped cleanly (exit 0, "stopped cleanly" logged) within
    /// its wait.
    pub fn stop(mut self) -> (String, Vec<String>) {
        let status = signal(&mut self.child, "INT", self.wait);
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        let log = self.log.lock().unwrap().clone();
        let rest: Vec<String> = self
            .lines
            .try_iter()
            .filter(|l| !l.starts_with(LOG))
            .collect();
        let status =
            status.unwrap_or_else(|| panic!("no stop on SIGINT within {:?}:\n{log}", self.wait));
        assert!(status.success(), "{status}:\n{log}");
        assert!(log.contains("stopped cleanly"), "{log}");
        (log, rest)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
