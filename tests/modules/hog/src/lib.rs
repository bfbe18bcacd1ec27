//! hog (test module): forwards each message out of `output1`, except that:
//! - a body of `bomb` allocates 1 MiB blocks until memory runs out. The host
//!   refuses to grow the module's memory past its limit, the allocation fails,
//!   and the module aborts: a trap.
//! - a body of `try:<MiB>` asks for that much memory with `try_reserve`, and
//!   answers `granted` or `refused` without trapping.

use ganglion_sdk::{Config, Message, Module, export_module, send};

struct Hog;

const BLOCK: usize = 1 << 20;

/// Allocates and keeps 1 MiB blocks until an allocation fails (and aborts).
fn bomb() {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block = vec![0u8; BLOCK];
        block[BLOCK - 1] = 1;
        hoard.push(block);
        std::hint::black_box(&hoard);
    }
}

fn try_reserve(mib: &str) -> Result<&'static str, String> {
    let mib: usize = mib
        .parse()
        .map_err(|_| format!("not a number of MiB: {mib}"))?;
    let mut v: Vec<u8> = Vec::new();
    Ok(match v.try_reserve_exact(mib.saturating_mul(BLOCK)) {
        Ok(()) => "granted",
        Err(_) => "refused",
    })
}

impl Module for Hog {
    fn init(_config: Config) -> Result<Self, String> {
        Ok(Hog)
    }

    fn on_message(&mut self, _input: &str, msg: Message) -> Result<(), String> {
        let body = String::from_utf8_lossy(msg.body()).into_owned();
        if body == "bomb" {
            bomb();
        }
        let out = match body.strip_prefix("try:") {
            Some(mib) => msg.with_body(try_reserve(mib)?),
            None => msg,
        };
        send("output1", &out).map_err(|e| e.to_string())
    }
}

export_module!(Hog);
