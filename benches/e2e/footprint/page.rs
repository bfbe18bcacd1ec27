//! The web endpoint's readers in the footprint bench: a scrape of
//! `/metrics` and the first event of the page's stream (`/api/events`),
//! over plain HTTP/1.1 on a std socket, so that the sample is of a gateway
//! whose endpoint has served both.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// How long a read may wait for the gateway.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A loopback port no one listens on (for `--metrics-addr`).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Scrapes `/metrics` and reads one event of `/api/events` on `port`.
pub fn read_page(port: u16) {
    get(port, "/metrics", "ganglion_module_status");
    get(port, "/api/events", "\n\n");
}

/// `GET path`, read until the answer holds `until`; panics if it does not.
fn get(port: u16, path: &str, until: &str) {
    let mut socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
    socket.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    write!(
        socket,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&answer).contains(until) {
        let n = socket
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert!(
            n > 0,
            "GET {path} ended without {until:?}: {}",
            String::from_utf8_lossy(&answer)
        );
        answer.extend_from_slice(&buf[..n]);
    }
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "GET {path}: {}",
        String::from_utf8_lossy(&answer)
    );
}
