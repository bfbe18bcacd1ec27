//! sandbox-probe (test module): tries what each message asks and sends the
//! outcome out of `result`, so that tests can see what the sandbox allows.
//!
//! The body is a JSON object with an `op`:
//! - `{"op": "read", "path": P}`: `std::fs::read_to_string(P)`;
//! - `{"op": "write", "path": P, "text": T}`: `std::fs::write(P, T)`;
//! - `{"op": "list", "path": P}`: the sorted names in directory `P`;
//! - `{"op": "env", "name": N}`: `std::env::var(N)`;
//! - `{"op": "env-all"}`: every variable's name, sorted;
//! - `{"op": "connect", "addr": A}`: `std::net::TcpStream::connect(A)`.
//!
//! The result is `{"ok": <value>}` or `{"err": <the error's text>}`. A body it
//! does not understand is an error of `on-message`.

use ganglion_sdk::{Config, Message, Module, export_module, send};
use serde_json::{Value, json};

struct SandboxProbe;

fn text(body: &Value, key: &str) -> Result<String, String> {
    body.get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| format!("the body has no string `{key}`"))
}

fn list(path: &str) -> std::io::Result<Value> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(path)? {
        names.push(entry?.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(json!(names))
}

fn outcome<T: Into<Value>, E: std::fmt::Display>(result: Result<T, E>) -> Value {
    match result {
        Ok(value) => json!({ "ok": value.into() }),
        Err(e) => json!({ "err": e.to_string() }),
    }
}

fn probe(body: &Value) -> Result<Value, String> {
    let op = text(body, "op")?;
    Ok(match op.as_str() {
        "read" => outcome(std::fs::read_to_string(text(body, "path")?)),
        "write" => {
            outcome(std::fs::write(text(body, "path")?, text(body, "text")?).map(|()| Value::Null))
        }
        "list" => outcome(list(&text(body, "path")?)),
        "env" => outcome(std::env::var(text(body, "name")?)),
        "env-all" => {
            let mut names: Vec<String> = std::env::vars_os()
                .map(|(k, _)| k.to_string_lossy().into_owned())
                .collect();
            names.sort();
            json!({ "ok": names })
        }
        "connect" => outcome(
            std::net::TcpStream::connect(text(body, "addr")?)
                .map(|stream| json!(format!("{:?}", stream.peer_addr().ok()))),
        ),
        other => return Err(format!("unknown op `{other}`")),
    })
}

impl Module for SandboxProbe {
    fn init(_config: Config) -> Result<Self, String> {
        Ok(SandboxProbe)
    }

    fn on_message(&mut self, _input: &str, msg: Message) -> Result<(), String> {
        let body: Value = msg
            .body_json()
            .map_err(|e| format!("the body is not JSON: {e}"))?;
        let result = probe(&body)?;
        let out = Message::json(&result).map_err(|e| e.to_string())?;
        send("result", &out).map_err(|e| e.to_string())
    }
}

export_module!(SandboxProbe);
