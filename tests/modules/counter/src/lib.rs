//! counter (test module): keeps a count in its private storage under the key
//! `count`. Each message adds one and sends the new count out of `output1`. A
//! message with the body `big` tries to store a value of `big-bytes` bytes
//! (config, default 2 MiB) and sends `stored` or the storage error. A message
//! with the body `list` sends the keys under `seen/`.

use ganglion_sdk::{Config, Message, Module, export_module, send, storage};

struct Counter {
    big_bytes: usize,
}

fn reply(text: &str) -> Result<(), String> {
    send("output1", &Message::new(text.as_bytes().to_vec())).map_err(|e| e.to_string())
}

impl Module for Counter {
    fn init(config: Config) -> Result<Self, String> {
        Ok(Counter {
            big_bytes: config.parse_or("big-bytes", 2 * 1024 * 1024)?,
        })
    }

    fn on_message(&mut self, _input: &str, msg: Message) -> Result<(), String> {
        match msg.body() {
            b"big" => match storage::set("big", &vec![7u8; self.big_bytes]) {
                Ok(()) => reply("stored"),
                Err(e) => reply(&e.to_string()),
            },
            b"list" => {
                let keys: Vec<String> = storage::scan("seen/", None, 100)
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .map(|(k, _)| k)
                    .collect();
                reply(&keys.join(","))
            }
            body => {
                let count = match storage::get("count").map_err(|e| e.to_string())? {
                    Some(bytes) => String::from_utf8_lossy(&bytes).parse::<u64>().unwrap_or(0),
                    None => 0,
                } + 1;
                storage::set("count", count.to_string().as_bytes()).map_err(|e| e.to_string())?;
                let key = format!("seen/{}", String::from_utf8_lossy(body));
                storage::set(&key, b"1").map_err(|e| e.to_string())?;
                reply(&count.to_string())
            }
        }
    }
}

export_module!(Counter);
