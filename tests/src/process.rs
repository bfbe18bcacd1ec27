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
    /// once it has stopped cleanly (exit 0, "stopped cleanly" logged).
    pub fn stop(mut self) -> (String, Vec<String>) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().unwrap();
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        let log = self.log.lock().unwrap().clone();
        let rest: Vec<String> = self
            .lines
            .try_iter()
            .filter(|l| !l.starts_with(LOG))
            .collect();
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
