//! `$body` queries, as edgeHub runs them.
//!
//! - A body is read only when the message's `contentType` is
//!   `application/json` and its `contentEncoding` is `utf-8`, `utf-16` or
//!   `utf-32` (both in any case; UTF-16 and UTF-32 little-endian, as .NET's
//!   `Encoding.Unicode` and `Encoding.UTF32`). Otherwise, or when the body is not
//!   a JSON object, every query on it is undefined.
//! - At compile time the path must fit edgeHub's `JsonPath.g4`: names separated
//!   by `.`, each with at most one `[index]`.
//! - Per message the path is run as Newtonsoft's `SelectTokens` runs it. A path
//!   that matches nothing gives null (so `$body.missing = null` holds), a path
//!   that matches an object, an array or several values gives undefined, and so
//!   does a string Newtonsoft reads as a date (`"2017-03-09T00:00:00Z"`).

use super::dotnet::eq_ignore_case;
use super::eval::Value;
use crate::message::Message;
use std::borrow::Cow;

/// One step of a path.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `.name` or `['name']`.
    Field(String),
    /// `.*`: every field of an object.
    AllFields,
    /// `[n]`; `None` for an index that matches nothing (negative).
    Index(Option<usize>),
}

/// A compiled `$body` path.
#[derive(Debug, Clone, PartialEq)]
pub struct BodyPath {
    /// The path as written, after `$body.`.
    pub text: String,
    /// The steps, or `None` when Newtonsoft would refuse the path at run time
    /// (text after the part edgeHub checks, such as `a[0]b`): always undefined.
    pub steps: Option<Vec<Step>>,
}

impl BodyPath {
    /// Compiles the path after `$body.`; `None` if edgeHub refuses it.
    pub fn compile(query: &str) -> Option<BodyPath> {
        if !validate(query) {
            return None;
        }
        Some(BodyPath {
            text: query.to_string(),
            steps: newtonsoft_path(query),
        })
    }

    /// Runs the path on a body (a JSON object).
    pub fn select<'a>(&self, root: &'a serde_json::Value) -> Value<'a> {
        let Some(steps) = &self.steps else {
            return Value::Undefined;
        };
        let mut current: Vec<&'a serde_json::Value> = vec![root];
        for step in steps {
            let mut next = Vec::new();
            for node in current {
                match (step, node) {
                    (Step::Field(name), serde_json::Value::Object(map)) => {
                        next.extend(map.get(name.as_str()));
                    }
                    (Step::AllFields, serde_json::Value::Object(map)) => next.extend(map.values()),
                    (Step::Index(Some(i)), serde_json::Value::Array(items)) => {
                        next.extend(items.get(*i));
                    }
                    _ => {}
                }
            }
            current = next;
        }
        match current.as_slice() {
            [] => Value::Missing,
            [one] => leaf(one),
            _ => Value::Undefined,
        }
    }
}

fn leaf(v: &serde_json::Value) -> Value<'_> {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => n.as_f64().map_or(Value::Undefined, Value::Number),
        serde_json::Value::String(s) if is_newtonsoft_date(s) => Value::Undefined,
        serde_json::Value::String(s) => Value::Str(Cow::Borrowed(s)),
        serde_json::Value::Array(_) | serde_json::Value::Object(_) => Value::Undefined,
    }
}

/// The tokens of edgeHub's `JsonPath.g4`.
#[derive(PartialEq)]
enum PathTok<'q> {
    Dot,
    Open,
    Close,
    Int,
    Ident(&'q str),
}

fn path_tokens(query: &str) -> Vec<PathTok<'_>> {
    let mut out = Vec::new();
    let mut rest = query;
    while let Some(c) = rest.chars().next() {
        let tok = match c {
            '.' => PathTok::Dot,
            '[' => PathTok::Open,
            ']' => PathTok::Close,
            _ => {
                let end = rest.find(['.', '[', ']']).unwrap_or(rest.len());
                let word = rest.get(..end).unwrap_or_default();
                rest = rest.get(end..).unwrap_or_default();
                out.push(if word.bytes().all(|b| b.is_ascii_digit()) {
                    PathTok::Int
                } else {
                    PathTok::Ident(word)
                });
                continue;
            }
        };
        out.push(tok);
        rest = rest.get(1..).unwrap_or_default();
    }
    out
}

/// Whether edgeHub's `JsonPathValidator` accepts `query`: the grammar
/// `innerExpr ('.' innerExpr)*` with `innerExpr: IDENTIFIER ('[' INT ']')?`,
/// which, having no `EOF`, stops quietly at a token that cannot continue it.
fn validate(query: &str) -> bool {
    let toks = path_tokens(query);
    let mut i = 0;
    loop {
        if !matches!(toks.get(i), Some(PathTok::Ident(_))) {
            return false;
        }
        i += 1;
        if toks.get(i) == Some(&PathTok::Open) {
            if toks.get(i + 1) != Some(&PathTok::Int) || toks.get(i + 2) != Some(&PathTok::Close) {
                return false;
            }
            i += 3;
        }
        if toks.get(i) != Some(&PathTok::Dot) {
            return true;
        }
        i += 1;
    }
}

/// The path as Newtonsoft's `JPath` parses it, for the forms a validated path
/// can take: `$` for the root, `.name`, `.*`, `[n]` and `['name']`. `None` when
/// Newtonsoft would throw, or for a form this does not model.
fn newtonsoft_path(query: &str) -> Option<Vec<Step>> {
    let chars: Vec<char> = query.chars().collect();
    let mut i = 0;
    if chars.first() == Some(&'$') && matches!(chars.get(1), None | Some('.' | '[')) {
        i = 1;
    }
    let mut steps = Vec::new();
    let mut name = String::new();
    let (mut after_index, mut after_dot) = (false, false);
    let push_name = |name: &mut String, steps: &mut Vec<Step>| {
        if !name.is_empty() {
            steps.push(if name == "*" {
                Step::AllFields
            } else {
                Step::Field(std::mem::take(name))
            });
            name.clear();
        }
    };
    while let Some(&c) = chars.get(i) {
        match c {
            '[' => {
                push_name(&mut name, &mut steps);
                let (step, next) = indexer(&chars, i + 1)?;
                steps.push(step);
                i = next;
                after_index = true;
                after_dot = false;
            }
            '.' => {
                push_name(&mut name, &mut steps);
                if chars.get(i + 1) == Some(&'.') {
                    return None;
                }
                i += 1;
                after_index = false;
                after_dot = true;
            }
            ']' | ')' | ' ' => return None,
            _ if after_index => return None,
            _ => {
                name.push(c);
                i += 1;
            }
        }
    }
    if name.is_empty() && after_dot {
        return None;
    }
    push_name(&mut name, &mut steps);
    Some(steps)
}

/// An indexer from just after its `[` to just after its `]`.
fn indexer(chars: &[char], start: usize) -> Option<(Step, usize)> {
    let close = start + chars.get(start..)?.iter().position(|c| *c == ']')?;
    let inner: String = chars.get(start..close)?.iter().collect();
    let step = if let Some(quoted) = inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        if quoted.contains(['\\', '\'']) {
            return None;
        }
        Step::Field(quoted.to_string())
    } else {
        let n: i32 = inner.parse().ok()?;
        Step::Index(usize::try_from(n).ok())
    };
    Some((step, close + 1))
}

/// Whether Newtonsoft's reader, with its default `DateParseHandling.DateTime`,
/// turns this JSON string into a date: ISO 8601 `yyyy-MM-ddTHH:mm:ss[.f][zone]`
/// (19 to 40 characters) or Microsoft's `/Date(ticks[±hhmm])/`.
pub fn is_newtonsoft_date(s: &str) -> bool {
    if let Some(inner) = s.strip_prefix("/Date(").and_then(|r| r.strip_suffix(")/")) {
        let digits = inner.strip_prefix('-').unwrap_or(inner);
        let (ticks, zone) = match digits.find(['+', '-']) {
            Some(at) => (digits.get(..at).unwrap_or_default(), digits.get(at + 1..)),
            None => (digits, None),
        };
        let all_digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        return all_digits(ticks)
            && ticks.parse::<i64>().is_ok()
            && zone.is_none_or(|z| z.len() == 4 && all_digits(z));
    }
    let b = s.as_bytes();
    if !(19..=40).contains(&b.len()) || b.get(10) != Some(&b'T') {
        return false;
    }
    iso_date(b).unwrap_or(false)
}

fn two(b: &[u8], at: usize) -> Option<u32> {
    let d = b.get(at..at + 2)?;
    d.iter()
        .all(u8::is_ascii_digit)
        .then(|| d.iter().fold(0, |acc, c| acc * 10 + u32::from(c - b'0')))
}

fn iso_date(b: &[u8]) -> Option<bool> {
    let year = two(b, 0)? * 100 + two(b, 2)?;
    let (month, day) = (two(b, 5)?, two(b, 8)?);
    let (hour, minute, second) = (two(b, 11)?, two(b, 14)?, two(b, 17)?);
    let seps = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if seps.iter().any(|(at, c)| b.get(*at) != Some(c)) {
        return Some(false);
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Some(false),
    };
    let mut i = 19;
    let mut fraction_zero = true;
    if b.get(i) == Some(&b'.') {
        let digits = b
            .get(i + 1..)?
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if digits == 0 {
            return Some(false);
        }
        fraction_zero = b.get(i + 1..i + 1 + digits)?.iter().all(|c| *c == b'0');
        i += 1 + digits;
    }
    match b.get(i) {
        None => {}
        Some(b'Z' | b'z') => i += 1,
        Some(b'+' | b'-') => {
            two(b, i + 1)?;
            i += 3;
            if b.get(i) == Some(&b':') {
                i += 1;
            }
            if two(b, i).is_some() {
                i += 2;
            }
        }
        Some(_) => return Some(false),
    }
    let midnight = hour == 24 && minute == 0 && second == 0 && fraction_zero;
    Some(
        i == b.len()
            && year >= 1
            && (1..=days).contains(&day)
            && (hour < 24 || midnight)
            && minute < 60
            && second < 60,
    )
}

/// The body of `msg` as edgeHub reads it for `$body` queries: a JSON object, or
/// `None` when the content type, the encoding or the JSON does not allow it.
pub fn decode(msg: &Message) -> Option<serde_json::Value> {
    let encoding = msg.system.content_encoding.as_deref()?;
    let content_type = msg.system.content_type.as_deref()?;
    let text = if eq_ignore_case(encoding, "utf-8") {
        String::from_utf8_lossy(&msg.body).into_owned()
    } else if eq_ignore_case(encoding, "utf-16") {
        let units = msg.body.chunks(2).map(|c| match c {
            [lo, hi] => u16::from_le_bytes([*lo, *hi]),
            _ => 0xFFFD,
        });
        char::decode_utf16(units)
            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect()
    } else if eq_ignore_case(encoding, "utf-32") {
        msg.body
            .chunks(4)
            .map(|c| match c {
                [a, b, c, d] => char::from_u32(u32::from_le_bytes([*a, *b, *c, *d]))
                    .unwrap_or(char::REPLACEMENT_CHARACTER),
                _ => char::REPLACEMENT_CHARACTER,
            })
            .collect()
    } else {
        return None;
    };
    if !eq_ignore_case(content_type, "application/json") {
        return None;
    }
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .filter(serde_json::Value::is_object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_as_edgehub_grammar() {
        for ok in ["a", "a.b", "a[0].b", "a[0][1]", "Welcome!.he", "a]", "$.a"] {
            assert!(validate(ok), "{ok}");
        }
        for bad in [
            "", "a[]", "a[1:2]", "a.", "a..b", "0", "a.1", "[0]", "a[b]", "a[0",
        ] {
            assert!(!validate(bad), "{bad}");
        }
    }

    #[test]
    fn paths_parse_as_newtonsoft() {
        assert_eq!(
            newtonsoft_path("a[0]['b c'].*"),
            Some(vec![
                Step::Field("a".into()),
                Step::Index(Some(0)),
                Step::Field("b c".into()),
                Step::AllFields
            ])
        );
        assert_eq!(newtonsoft_path("$.a"), Some(vec![Step::Field("a".into())]));
        assert_eq!(newtonsoft_path("a[0]b"), None);
        assert_eq!(newtonsoft_path("a]"), None);
        assert_eq!(newtonsoft_path("a[99999999999]"), None);
    }

    #[test]
    fn dates_as_newtonsoft_reads_them() {
        for date in [
            "2017-03-09T00:00:00.000Z",
            "2017-03-09T00:00:00",
            "2020-02-29T23:59:59+01:00",
            "/Date(1234567890000)/",
            "/Date(-1+0100)/",
        ] {
            assert!(is_newtonsoft_date(date), "{date}");
        }
        for text in [
            "2017-03-09",
            "2019-02-29T00:00:00Z",
            "2017-03-09 00:00:00",
            "2017-13-09T00:00:00Z",
            "2017-03-09T25:00:00Z",
            "/Date(x)/",
            "hello",
        ] {
            assert!(!is_newtonsoft_date(text), "{text}");
        }
    }
}
