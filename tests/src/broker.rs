//! A real mosquitto broker for tests, on a free loopback port, with a config
//! file and a persistence folder of its own. It stops when dropped.
//!
//! It runs as docs/deployment.md advises for a gateway's local broker: no
//! in-flight or queue limit, and `set_tcp_nodelay true`, since the gateway
//! acknowledges a leaf message only once it is safe, and with Nagle's
//! algorithm the broker would hold its next message to the gateway until then.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running mosquitto.
pub struct Broker {
    child: Option<Child>,
    port: u16,
    conf: PathBuf,
}

fn mosquitto_binary() -> PathBuf {
    for candidate in ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"] {
        if Path::new(candidate).is_file() {
            return PathBuf::from(candidate);
        }
    }
    PathBuf::from("mosquitto")
}

/// A port that was free a moment ago.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Broker {
    /// Starts mosquitto on a free port, keeping its state in `dir` (so that a
    /// restart keeps sessions and queued messages).
    pub fn start(dir: &Path) -> std::io::Result<Broker> {
        Broker::start_with(dir, "")
    }

    /// Like [`Broker::start`], with more configuration after the anonymous
    /// loopback listener, e.g. a TLS listener of its own. Each listener then
    /// has its own settings (`per_listener_settings true`).
    pub fn start_with(dir: &Path, extra: &str) -> std::io::Result<Broker> {
        let port = free_port()?;
        let conf = dir.join("mosquitto.conf");
        let data = dir.join("mosquitto-data");
        std::fs::create_dir_all(&data)?;
        std::fs::write(
            &conf,
            format!(
                "{}user root\npersistence true\n\
                 persistence_location {}/\nautosave_interval 1\nmax_queued_messages 0\n\
                 max_inflight_messages 0\nset_tcp_nodelay true\nlog_type error\n\
                 listener {port} 127.0.0.1\nallow_anonymous true\n{extra}",
                if extra.is_empty() {
                    ""
                } else {
                    "per_listener_settings true\n"
                },
                data.display()
            ),
        )?;
        let mut broker = Broker {
            child: None,
            port,
            conf,
        };
        broker.resume()?;
        Ok(broker)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `mqtt://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Stops it (SIGTERM, so that it saves its state) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            crate::process::signal(&mut child, "TERM", Duration::from_secs(10));
        }
    }

    /// Starts it again on the same port with the same state.
    pub fn resume(&mut self) -> std::io::Result<()> {
        let child = Command::new(mosquitto_binary())
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("cannot start mosquitto ({e}); `cargo xtask test` installs it"),
                )
            })?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(std::io::Error::other(format!(
            "mosquitto did not listen on port {} within 10 s",
            self.port
        )))
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
