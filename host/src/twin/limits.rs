//! Azure IoT Hub's limits on a twin's properties, checked before any change
//! is made.
//!
//! Each of `desired` and `reported` must keep within these limits:
//!
//! - **size**: at most [`MAX_SECTION_BYTES`] (32 KiB) of compact JSON (no
//!   whitespace), as [`serde_json::to_vec`] writes it. A patch is held to the
//!   same size, and so is the document the patch would produce.
//! - **depth**: at most [`MAX_DEPTH`] (10) levels of nesting. The section
//!   itself (`desired` or `reported`) is level 0; each object or array is
//!   one level deeper than the object or array that holds it. So in
//!   `{"a": {"b": [1, {"c": 2}]}}` the object under `a` is at depth 1, the
//!   array under `b` at depth 2 and the object holding `c` at depth 3; scalar
//!   values add no level. This matches Azure's own example, where ten nested
//!   objects under `desired` are allowed. Azure counts only objects; arrays
//!   count here too, so that nothing the gateway accepts is refused upstream.
//! - **keys**: at most [`MAX_KEY_BYTES`] (1 KiB) of UTF-8, not empty, and
//!   with no `.`, `$`, space or control character (Unicode C0 and C1), at any
//!   depth, including inside objects held in arrays.
//!
//! Values may be any JSON: strings, numbers, booleans, objects and arrays.
//! `null` in a patch means "delete"; a document never holds one as the value
//! of a key.

use super::TwinError;
use serde_json::{Map, Value};
use std::fmt;

/// The largest `desired` or `reported` section, and the largest patch to
/// either, in bytes of compact JSON.
pub const MAX_SECTION_BYTES: usize = 32 * 1024;

/// The deepest nesting of objects and arrays allowed (see the module doc for
/// how it is counted).
pub const MAX_DEPTH: usize = 10;

/// The longest key allowed, in bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 1024;

/// How long a key may get in an error message before it is cut short.
const SHOWN_KEY_CHARS: usize = 64;

/// Which limit a patch or a document breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// A key is the empty string.
    #[error("key is empty")]
    EmptyKey,
    /// A key is longer than [`MAX_KEY_BYTES`].
    #[error("key is {bytes} bytes long; at most {MAX_KEY_BYTES} are allowed")]
    KeyTooLong {
        /// The key's length in bytes of UTF-8.
        bytes: usize,
    },
    /// A key holds a character twins do not allow.
    #[error("key contains {}", describe_char(*.0))]
    ForbiddenChar(char),
    /// Objects and arrays are nested deeper than [`MAX_DEPTH`].
    #[error(
        "objects and arrays are nested {depth} deep here; at most {MAX_DEPTH} levels are allowed"
    )]
    TooDeep {
        /// The depth reached at the reported path.
        depth: usize,
    },
    /// The patch itself is larger than [`MAX_SECTION_BYTES`].
    #[error("the patch is {bytes} bytes of JSON; at most {MAX_SECTION_BYTES} are allowed")]
    PatchTooLarge {
        /// The patch's size in bytes of compact JSON.
        bytes: usize,
    },
    /// The document the change would produce is larger than
    /// [`MAX_SECTION_BYTES`].
    #[error("the result would be {bytes} bytes of JSON; at most {MAX_SECTION_BYTES} are allowed")]
    DocumentTooLarge {
        /// The resulting section's size in bytes of compact JSON.
        bytes: usize,
    },
}

fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".to_string(),
        c if c.is_control() => format!("the control character U+{:04X}", u32::from(c)),
        c => format!("'{c}'"),
    }
}

/// One of the two property sections of a twin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    /// `properties.desired`.
    Desired,
    /// `properties.reported`.
    Reported,
}

impl Section {
    /// The name that starts every path in an error message.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Section::Desired => "desired",
            Section::Reported => "reported",
        }
    }
}

/// Whether `map` is a patch (it may delete with `null`) or a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A merge patch.
    Patch,
    /// A whole section, as it would be stored.
    Document,
}

/// Checks a patch or a document of `section` against every limit. The first
/// broken limit is returned with the path where it was found.
pub(crate) fn check(
    section: Section,
    kind: Kind,
    map: &Map<String, Value>,
) -> Result<(), TwinError> {
    let mut path = Vec::new();
    check_members(section, map, 1, &mut path)?;
    let bytes = json_len(map);
    if bytes > MAX_SECTION_BYTES {
        let violation = match kind {
            Kind::Patch => Violation::PatchTooLarge { bytes },
            Kind::Document => Violation::DocumentTooLarge { bytes },
        };
        return Err(limit(section, &path, violation));
    }
    Ok(())
}

/// One step of a path: a key of an object or an index into an array.
#[derive(Debug, Clone, Copy)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Checks the members of an object whose values would sit at `depth`.
fn check_members<'a>(
    section: Section,
    map: &'a Map<String, Value>,
    depth: usize,
    path: &mut Vec<Step<'a>>,
) -> Result<(), TwinError> {
    for (key, value) in map {
        path.push(Step::Key(key));
        if let Err(violation) = check_key(key) {
            return Err(limit(section, path, violation));
        }
        check_value(section, value, depth, path)?;
        path.pop();
    }
    Ok(())
}

/// Checks a value that sits at `depth` (if it is an object or an array).
fn check_value<'a>(
    section: Section,
    value: &'a Value,
    depth: usize,
    path: &mut Vec<Step<'a>>,
) -> Result<(), TwinError> {
    let too_deep = || limit(section, path, Violation::TooDeep { depth });
    match value {
        Value::Object(map) => {
            if depth > MAX_DEPTH {
                return Err(too_deep());
            }
            check_members(section, map, depth + 1, path)
        }
        Value::Array(items) => {
            if depth > MAX_DEPTH {
                return Err(too_deep());
            }
            for (index, item) in items.iter().enumerate() {
                path.push(Step::Index(index));
                check_value(section, item, depth + 1, path)?;
                path.pop();
            }
            Ok(())
        }
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => Ok(()),
    }
}

/// Checks one key against the key rules.
fn check_key(key: &str) -> Result<(), Violation> {
    if key.is_empty() {
        return Err(Violation::EmptyKey);
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(Violation::KeyTooLong { bytes: key.len() });
    }
    match key
        .chars()
        .find(|&c| matches!(c, '.' | '$' | ' ') || c.is_control())
    {
        Some(c) => Err(Violation::ForbiddenChar(c)),
        None => Ok(()),
    }
}

fn limit(section: Section, path: &[Step<'_>], violation: Violation) -> TwinError {
    TwinError::Limit {
        path: render(section, path),
        violation,
    }
}

/// Writes a path as `desired.a.b[2].c`, with control characters escaped and
/// very long keys cut short, so that the message stays readable.
fn render(section: Section, path: &[Step<'_>]) -> String {
    use fmt::Write as _;
    let mut out = section.name().to_string();
    for step in path {
        match step {
            Step::Key(key) => {
                out.push('.');
                for (shown, c) in key.chars().enumerate() {
                    if shown == SHOWN_KEY_CHARS {
                        out.push('…');
                        break;
                    }
                    if c.is_control() {
                        out.extend(c.escape_default());
                    } else {
                        out.push(c);
                    }
                }
            }
            Step::Index(index) => {
                let _ = write!(out, "[{index}]");
            }
        }
    }
    out
}

/// The length of `map` as compact JSON, counted without building the text.
pub(crate) fn json_len(map: &Map<String, Value>) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing a map of strings to values into a sink that never fails cannot
    // fail; should it ever, count it as too large rather than as small.
    match serde_json::to_writer(&mut counter, map) {
        Ok(()) => counter.0,
        Err(_) => usize::MAX,
    }
}
