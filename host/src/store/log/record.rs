//! The log's on-disk format: a segment opens with a 16-byte header (magic and
//! its number); a record is `len: u32 LE`, `crc32(body): u32 LE`, then the
//! body (see the parent module's doc for the kinds).

use crate::store::queue::QueueKey;

pub(super) const MAGIC: &[u8; 8] = b"GNGLQ001";
pub(super) const HEADER: u64 = 16;
pub(super) const RECORD_HEADER: usize = 8;
pub(super) const KIND_PUT: u8 = 1;
pub(super) const KIND_DEL: u8 = 2;
/// A put's body before its value: kind, key, expiry.
pub(super) const PUT_PREFIX: usize = 1 + 9 + 8;
/// The largest record body the log writes or reads back.
pub(super) const MAX_BODY: usize = 64 * 1024 * 1024;

/// A record parsed out of a segment.
pub(super) enum Record<'a> {
    Put { key: QueueKey, expires_ms: u64 },
    Del(&'a [u8]),
}

/// Parses the record at the start of `bytes`: the record and its length, or
/// `None` when it is cut short or damaged.
pub(super) fn parse(bytes: &[u8]) -> Option<(Record<'_>, usize)> {
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(bytes.get(4..8)?.try_into().ok()?);
    if len == 0 || len > MAX_BODY {
        return None;
    }
    let body = bytes.get(RECORD_HEADER..RECORD_HEADER + len)?;
    if crc32fast::hash(body) != crc {
        return None;
    }
    let record = match body[0] {
        KIND_PUT if body.len() >= PUT_PREFIX => Record::Put {
            key: body[1..10].try_into().ok()?,
            expires_ms: u64::from_le_bytes(body[10..18].try_into().ok()?),
        },
        KIND_DEL if (body.len() - 1) % 9 == 0 && body.len() > 1 => Record::Del(&body[1..]),
        _ => return None,
    };
    Some((record, RECORD_HEADER + len))
}

/// Appends one record with `body_parts` as its body.
pub(super) fn encode(buf: &mut Vec<u8>, body_parts: &[&[u8]]) {
    let len: usize = body_parts.iter().map(|p| p.len()).sum();
    let mut crc = crc32fast::Hasher::new();
    for part in body_parts {
        crc.update(part);
    }
    buf.extend_from_slice(&(len as u32).to_le_bytes());
    buf.extend_from_slice(&crc.finalize().to_le_bytes());
    for part in body_parts {
        buf.extend_from_slice(part);
    }
}
