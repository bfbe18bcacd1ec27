//! Putting a pushed artifact together from its chunks (sans-IO: the agent
//! feeds it what the broker delivers).
//!
//! An artifact travels as chunks on `ganglion/{device}/artifacts/{hex}/{n}`
//! (`n` from 0), each at most [`CHUNK_BYTES`], with the MQTT 5 user
//! properties `chunks` (how many) and `size` (the artifact's bytes), and on
//! one chunk or more `signature` (the signature file's JSON). Once every
//! chunk is in, the bytes are checked against the digest the topic names.
//! Chunks may come again or out of order; a chunk that contradicts the
//! others restarts that upload.

use super::pushed::is_hex_digest;
use crate::artifact::digest;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// The largest chunk a pusher sends: half the gateway's largest inbound
/// packet, leaving room for the topic and properties.
pub const CHUNK_BYTES: usize = 256 * 1024;
/// The largest artifact a gateway takes.
pub const MAX_ARTIFACT_BYTES: u64 = 64 * 1024 * 1024;
/// How many artifacts may be arriving at once.
pub const MAX_UPLOADS: usize = 2;
/// An upload with no chunk for this long is dropped.
pub const UPLOAD_IDLE: Duration = Duration::from_secs(300);

/// The user property with the number of chunks.
pub const CHUNKS_PROPERTY: &str = "chunks";
/// The user property with the artifact's size.
pub const SIZE_PROPERTY: &str = "size";
/// The user property with the signature file's text.
pub const SIGNATURE_PROPERTY: &str = "signature";

/// Why a chunk or an upload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    /// The topic or properties do not describe a chunk.
    #[error("not a valid chunk: {0}")]
    BadChunk(String),
    /// The artifact is larger than the gateway takes.
    #[error("the artifact is {size} bytes, over the limit of {MAX_ARTIFACT_BYTES}")]
    TooLarge {
        /// Its size.
        size: u64,
    },
    /// Too many uploads at once.
    #[error("{MAX_UPLOADS} other artifacts are arriving; push again once they are in")]
    Busy,
    /// The chunks add up to another size than announced.
    #[error("the chunks hold {got} bytes, but the artifact was announced as {size}")]
    SizeMismatch {
        /// The announced size.
        size: u64,
        /// What arrived.
        got: u64,
    },
    /// The bytes are not what the digest names.
    #[error("the bytes' digest is {actual}, not sha256:{expected} as pushed")]
    DigestMismatch {
        /// The hex digest in the topic.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
}

/// One chunk, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The artifact's hex digest (from the topic).
    pub hex: String,
    /// Its position, from 0.
    pub index: u32,
    /// How many chunks the artifact has.
    pub chunks: u32,
    /// The artifact's size in bytes.
    pub size: u64,
    /// The signature file's text, if this chunk carries it.
    pub signature: Option<String>,
    /// The chunk's bytes.
    pub bytes: Vec<u8>,
}

fn property<'p>(properties: &'p [(String, String)], key: &str) -> Option<&'p str> {
    properties
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

impl Chunk {
    /// Reads a chunk from its topic's `hex` and `index` levels, its user
    /// properties and its payload.
    pub fn parse(
        hex: &str,
        index: &str,
        properties: &[(String, String)],
        payload: &[u8],
    ) -> Result<Chunk, UploadError> {
        let bad = |reason: String| UploadError::BadChunk(reason);
        if !is_hex_digest(hex) {
            return Err(bad(format!(
                "`{hex}` is not a sha256 digest (64 lowercase hex digits)"
            )));
        }
        let index: u32 = index
            .parse()
            .map_err(|_| bad(format!("the chunk number `{index}` is not a number")))?;
        let number = |key: &str| -> Result<u64, UploadError> {
            let text = property(properties, key)
                .ok_or_else(|| bad(format!("the user property `{key}` is missing")))?;
            text.parse().map_err(|_| {
                bad(format!(
                    "the user property `{key}` is not a number: `{text}`"
                ))
            })
        };
        let chunks = u32::try_from(number(CHUNKS_PROPERTY)?)
            .map_err(|_| bad("too many chunks".to_string()))?;
        let size = number(SIZE_PROPERTY)?;
        if size > MAX_ARTIFACT_BYTES {
            return Err(UploadError::TooLarge { size });
        }
        let expected_chunks = chunk_count(size);
        if u64::from(chunks) != expected_chunks {
            return Err(bad(format!(
                "{size} bytes come in {expected_chunks} chunks of {CHUNK_BYTES}, not {chunks}"
            )));
        }
        if index >= chunks {
            return Err(bad(format!("chunk {index} of {chunks}")));
        }
        // Every chunk is full but the last, which holds the rest.
        let expected_len = if index + 1 < chunks {
            CHUNK_BYTES as u64
        } else {
            size - u64::from(index) * CHUNK_BYTES as u64
        };
        if payload.len() as u64 != expected_len {
            return Err(bad(format!(
                "chunk {index} of {chunks} holds {} bytes, not {expected_len}",
                payload.len()
            )));
        }
        Ok(Chunk {
            hex: hex.to_string(),
            index,
            chunks,
            size,
            signature: property(properties, SIGNATURE_PROPERTY).map(str::to_string),
            bytes: payload.to_vec(),
        })
    }
}

/// How many chunks an artifact of `size` bytes comes in (one, if empty).
pub fn chunk_count(size: u64) -> u64 {
    size.div_ceil(CHUNK_BYTES as u64).max(1)
}

/// An artifact whose chunks are all in and whose bytes match its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Complete {
    /// Its hex digest.
    pub hex: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// The signature file's text, if one came with it.
    pub signature: Option<String>,
}

#[derive(Debug)]
struct Partial {
    chunks: u32,
    size: u64,
    parts: BTreeMap<u32, Vec<u8>>,
    held: u64,
    signature: Option<String>,
    last: Instant,
}

/// The uploads in progress.
#[derive(Debug, Default)]
pub struct Uploads {
    partial: HashMap<String, Partial>,
}

impl Uploads {
    /// No uploads.
    pub fn new() -> Uploads {
        Uploads::default()
    }

    /// How many uploads are in progress.
    pub fn in_progress(&self) -> usize {
        self.partial.len()
    }

    /// Takes `chunk` at `now`. Returns the artifact once it is whole.
    pub fn accept(&mut self, chunk: Chunk, now: Instant) -> Result<Option<Complete>, UploadError> {
        self.partial
            .retain(|_, p| now.saturating_duration_since(p.last) < UPLOAD_IDLE);
        let fresh = || Partial {
            chunks: chunk.chunks,
            size: chunk.size,
            parts: BTreeMap::new(),
            held: 0,
            signature: None,
            last: now,
        };
        let contradicts = self
            .partial
            .get(&chunk.hex)
            .is_some_and(|p| p.chunks != chunk.chunks || p.size != chunk.size);
        if contradicts {
            self.partial.insert(chunk.hex.clone(), fresh());
        }
        if !self.partial.contains_key(&chunk.hex) && self.partial.len() >= MAX_UPLOADS {
            return Err(UploadError::Busy);
        }
        let partial = self.partial.entry(chunk.hex.clone()).or_insert_with(fresh);
        partial.last = now;
        if chunk.signature.is_some() {
            partial.signature = chunk.signature;
        }
        let len = chunk.bytes.len() as u64;
        if let Some(old) = partial.parts.insert(chunk.index, chunk.bytes) {
            partial.held -= old.len() as u64;
        }
        partial.held += len;
        if partial.held > partial.size {
            let got = partial.held;
            let size = partial.size;
            self.partial.remove(&chunk.hex);
            return Err(UploadError::SizeMismatch { size, got });
        }
        if partial.parts.len() < partial.chunks as usize {
            return Ok(None);
        }
        let Some(done) = self.partial.remove(&chunk.hex) else {
            return Ok(None);
        };
        if done.held != done.size {
            return Err(UploadError::SizeMismatch {
                size: done.size,
                got: done.held,
            });
        }
        let mut bytes = Vec::with_capacity(usize::try_from(done.size).unwrap_or(0));
        for part in done.parts.into_values() {
            bytes.extend_from_slice(&part);
        }
        let actual = digest(&bytes);
        if actual.strip_prefix("sha256:") != Some(chunk.hex.as_str()) {
            return Err(UploadError::DigestMismatch {
                expected: chunk.hex,
                actual,
            });
        }
        Ok(Some(Complete {
            hex: chunk.hex,
            bytes,
            signature: done.signature,
        }))
    }
}

/// A chunk to send: its MQTT 5 user properties and its bytes.
pub type OutgoingChunk = (Vec<(String, String)>, Vec<u8>);

/// Splits `bytes` into the chunks a pusher sends, with their properties
/// (`signature` on the first).
pub fn split(bytes: &[u8], signature: Option<&str>) -> Vec<OutgoingChunk> {
    let pieces: Vec<&[u8]> = if bytes.is_empty() {
        vec![&[][..]]
    } else {
        bytes.chunks(CHUNK_BYTES).collect()
    };
    let chunks = pieces.len();
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, piece)| {
            let mut properties = vec![
                (CHUNKS_PROPERTY.to_string(), chunks.to_string()),
                (SIZE_PROPERTY.to_string(), bytes.len().to_string()),
            ];
            if let (0, Some(sig)) = (i, signature) {
                properties.push((SIGNATURE_PROPERTY.to_string(), sig.to_string()));
            }
            (properties, piece.to_vec())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks_of(bytes: &[u8], sig: Option<&str>) -> Vec<Chunk> {
        let hex = digest(bytes).trim_start_matches("sha256:").to_string();
        split(bytes, sig)
            .into_iter()
            .enumerate()
            .map(|(i, (props, payload))| {
                Chunk::parse(&hex, &i.to_string(), &props, &payload).unwrap()
            })
            .collect()
    }

    #[test]
    fn chunks_in_any_order_and_repeated_make_the_artifact() {
        let bytes: Vec<u8> = (0..(CHUNK_BYTES * 2 + 10)).map(|i| i as u8).collect();
        let mut chunks = chunks_of(&bytes, Some("sig"));
        assert_eq!(chunks.len(), 3);
        chunks.swap(0, 2);
        let mut uploads = Uploads::new();
        let now = Instant::now();
        assert_eq!(uploads.accept(chunks[0].clone(), now).unwrap(), None);
        assert_eq!(uploads.accept(chunks[0].clone(), now).unwrap(), None);
        assert_eq!(uploads.accept(chunks[1].clone(), now).unwrap(), None);
        let done = uploads.accept(chunks[2].clone(), now).unwrap().unwrap();
        assert_eq!(done.bytes, bytes);
        assert_eq!(done.signature.as_deref(), Some("sig"));
        assert_eq!(uploads.in_progress(), 0);
    }

    #[test]
    fn chunks_are_counted() {
        let full = CHUNK_BYTES as u64;
        assert_eq!(chunk_count(0), 1);
        assert_eq!(chunk_count(full), 1);
        assert_eq!(chunk_count(full + 1), 2);
    }

    #[test]
    fn tampered_bytes_are_refused_by_digest() {
        let bytes = vec![7u8; 1000];
        let mut chunk = chunks_of(&bytes, None).remove(0);
        chunk.bytes[3] = 8;
        let err = Uploads::new().accept(chunk, Instant::now()).unwrap_err();
        assert!(matches!(err, UploadError::DigestMismatch { .. }), "{err}");
    }

    #[test]
    fn bad_chunks_are_named() {
        let props = |chunks: &str, size: &str| {
            vec![
                (CHUNKS_PROPERTY.to_string(), chunks.to_string()),
                (SIZE_PROPERTY.to_string(), size.to_string()),
            ]
        };
        let hex = "0".repeat(64);
        let e = Chunk::parse("xyz", "0", &props("1", "1"), b"a").unwrap_err();
        assert!(e.to_string().contains("not a sha256 digest"), "{e}");
        let e = Chunk::parse(&hex, "1", &props("1", "1"), b"a").unwrap_err();
        assert!(e.to_string().contains("chunk 1 of 1"), "{e}");
        let e = Chunk::parse(&hex, "0", &props("4294967295", "1"), b"a").unwrap_err();
        assert!(e.to_string().contains("1 chunks of"), "{e}");
        let e = Chunk::parse(&hex, "0", &props("1", "2"), b"a").unwrap_err();
        assert!(e.to_string().contains("holds 1 bytes, not 2"), "{e}");
        let e = Chunk::parse(&hex, "0", &props("x", "1"), b"a").unwrap_err();
        assert!(e.to_string().contains("`chunks` is not a number"), "{e}");
        let e = Chunk::parse(&hex, "0", &[], b"a").unwrap_err();
        assert!(e.to_string().contains("missing"), "{e}");
        let huge = (MAX_ARTIFACT_BYTES + 1).to_string();
        let e = Chunk::parse(&hex, "0", &props("1", &huge), b"a").unwrap_err();
        assert!(matches!(e, UploadError::TooLarge { .. }), "{e}");
    }

    #[test]
    fn at_most_a_few_uploads_at_once_and_idle_ones_expire() {
        let mut uploads = Uploads::new();
        let now = Instant::now();
        for n in 0..MAX_UPLOADS {
            let bytes = vec![n as u8; CHUNK_BYTES + 1];
            let first = chunks_of(&bytes, None).remove(0);
            assert_eq!(uploads.accept(first, now).unwrap(), None);
        }
        let extra = chunks_of(&[9u8; CHUNK_BYTES + 1], None).remove(0);
        assert_eq!(
            uploads.accept(extra.clone(), now).unwrap_err(),
            UploadError::Busy
        );
        let later = now + UPLOAD_IDLE;
        assert_eq!(uploads.accept(extra, later).unwrap(), None);
        assert_eq!(uploads.in_progress(), 1);
    }
}
