//! What a module writes to its standard output and standard error, into the
//! gateway's log: a line at a time, tagged with the module's name and the
//! stream, so that the message of a Rust module's panic, or the traceback a
//! Python or JavaScript module prints for an uncaught exception, is read
//! beside the trap it ends in.
//!
//! A line is cut at [`MAX_LINE`] bytes, and what reaches the log is limited
//! per instance: a burst of [`BURST`] lines, then [`LINES_PER_SEC`]; the lines
//! left out are counted, and the count is said when lines flow again and when
//! the instance ends. The buffer of a line not yet ended is bounded by
//! [`MAX_LINE`], so a module cannot grow the gateway's memory by writing.
//! Standard output is logged at INFO, standard error at WARN.

use bytes::Bytes;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// The longest line logged; a longer one is cut there (and goes on as the
/// next line).
pub const MAX_LINE: usize = 1024;
/// Lines an instance may log at once.
pub const BURST: f64 = 50.0;
/// Lines an instance may log each second after its burst.
pub const LINES_PER_SEC: f64 = 10.0;

/// Which stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One module instance's standard output or error; every stream the guest
/// opens on it writes into the same line buffer.
#[derive(Clone)]
pub struct GuestOutput {
    lines: Arc<Mutex<Lines>>,
}

impl GuestOutput {
    /// `module`'s `stream`, logged.
    pub fn new(module: &str, stream: Stream) -> GuestOutput {
        GuestOutput {
            lines: Arc::new(Mutex::new(Lines {
                module: module.to_string(),
                stream,
                partial: Vec::new(),
                tokens: BURST,
                refilled: Instant::now(),
                left_out: 0,
            })),
        }
    }

    fn write(&self, bytes: &[u8]) {
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        lines.feed(bytes);
    }
}

/// The line being written, and the rate limit.
struct Lines {
    module: String,
    stream: Stream,
    partial: Vec<u8>,
    /// Lines that may be logged now.
    tokens: f64,
    refilled: Instant,
    /// Lines not logged since the last one that was.
    left_out: u64,
}

impl Lines {
    fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let room = MAX_LINE - self.partial.len();
            let take = bytes.len().min(room);
            match bytes[..take].iter().position(|&b| b == b'\n') {
                Some(end) => {
                    self.partial.extend_from_slice(&bytes[..end]);
                    bytes = &bytes[end + 1..];
                    self.end_line();
                }
                None => {
                    self.partial.extend_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                    if self.partial.len() == MAX_LINE {
                        self.end_line();
                    }
                }
            }
        }
    }

    /// Logs the line in the buffer, if the limit allows, and empties it.
    fn end_line(&mut self) {
        let line = std::mem::take(&mut self.partial);
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches('\r');
        if text.trim().is_empty() {
            return;
        }
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * LINES_PER_SEC).min(BURST);
        self.refilled = now;
        if self.tokens < 1.0 {
            self.left_out += 1;
            return;
        }
        self.tokens -= 1.0;
        self.say_left_out();
        self.log(text);
    }

    fn say_left_out(&mut self) {
        if self.left_out > 0 {
            let n = std::mem::take(&mut self.left_out);
            self.log(&format!(
                "({n} lines of {} left out: more than {LINES_PER_SEC} a second)",
                self.stream.name()
            ));
        }
    }

    fn log(&self, text: &str) {
        let module = self.module.as_str();
        let stream = self.stream.name();
        match self.stream {
            Stream::Stdout => tracing::info!(module, stream, "{text}"),
            Stream::Stderr => tracing::warn!(module, stream, "{text}"),
        }
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        if !self.partial.is_empty() {
            self.end_line();
        }
        self.say_left_out();
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        GuestOutput::write(self, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for GuestOutput {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.write(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines() -> Lines {
        Lines {
            module: "m".into(),
            stream: Stream::Stderr,
            partial: Vec::new(),
            tokens: BURST,
            refilled: Instant::now(),
            left_out: 0,
        }
    }

    #[test]
    fn a_long_line_is_cut_and_the_buffer_stays_bounded() {
        let mut l = lines();
        l.feed(&vec![b'x'; MAX_LINE * 3 + 10]);
        assert_eq!(l.partial.len(), 10);
        // Three lines logged (the bucket refills a little meanwhile).
        assert!(
            (BURST - 3.0..BURST - 2.0).contains(&l.tokens),
            "{}",
            l.tokens
        );
    }

    #[test]
    fn lines_past_the_burst_are_counted_not_logged() {
        let mut l = lines();
        l.feed("line\n".repeat(BURST as usize + 20).as_bytes());
        assert!(l.left_out >= 19, "{}", l.left_out);
        assert!(l.tokens < 1.0);
    }

    #[test]
    fn blank_lines_cost_nothing_and_pieces_make_one_line() {
        let mut l = lines();
        l.feed(b"\n\r\n  \n");
        assert_eq!(l.tokens, BURST);
        l.feed(b"pan");
        l.feed(b"icked\n");
        assert!((BURST - 1.0..BURST).contains(&l.tokens), "{}", l.tokens);
        assert!(l.partial.is_empty());
    }
}
