//! The .NET behaviours that edgeHub's condition language inherits from the
//! runtime it is written for, reproduced here so that a condition gives the same
//! answer in ganglion: string literal escapes, `double.TryParse` with
//! `NumberStyles.Any` (number literals and `as_number`), hexadecimal literals
//! (`long.TryParse` with `HexNumber`), and strings as UTF-16 (`length`,
//! `substring`, `index_of` count UTF-16 code units; `<` compares them
//! ordinally; `lower`/`upper` are the invariant culture's; property names match
//! with `OrdinalIgnoreCase`).

use std::cmp::Ordering;

const BACKSLASH: u16 = b'\\' as u16;

/// Resolves a string literal's escapes as edgeHub's `ConditionVisitor.Unescape`
/// does: first every `\uXXXX` (or `\UXXXX`) becomes that UTF-16 code unit, then
/// in what results every `\"`, `\'` and `\\` becomes the quoted character.
/// A lone surrogate, which a Rust string cannot hold, becomes U+FFFD.
pub fn unescape(s: &str) -> String {
    let units: Vec<u16> = s.encode_utf16().collect();
    let mut first = Vec::with_capacity(units.len());
    let mut i = 0;
    while let Some(&u) = units.get(i) {
        let is_u = units
            .get(i + 1)
            .is_some_and(|&n| n == u16::from(b'u') || n == u16::from(b'U'));
        let hex: Option<u16> = units
            .get(i + 2..i + 6)
            .and_then(|h| String::from_utf16(h).ok())
            .filter(|h| h.chars().all(|c| c.is_ascii_hexdigit()))
            .and_then(|h| u16::from_str_radix(&h, 16).ok());
        match (u == BACKSLASH && is_u, hex) {
            (true, Some(unit)) => {
                first.push(unit);
                i += 6;
            }
            _ => {
                first.push(u);
                i += 1;
            }
        }
    }
    let mut second = Vec::with_capacity(first.len());
    let mut i = 0;
    while let Some(&u) = first.get(i) {
        let quoted = first
            .get(i + 1)
            .copied()
            .filter(|&n| n == u16::from(b'"') || n == u16::from(b'\'') || n == BACKSLASH);
        match (u == BACKSLASH, quoted) {
            (true, Some(q)) => {
                second.push(q);
                i += 2;
            }
            _ => {
                second.push(u);
                i += 1;
            }
        }
    }
    String::from_utf16_lossy(&second)
}

fn is_dotnet_white(c: char) -> bool {
    c == ' ' || ('\t'..='\r').contains(&c)
}

/// `double.TryParse(s, NumberStyles.Any, CultureInfo.InvariantCulture)` as .NET
/// Core 3.0 and later do it: white space around, a leading or trailing sign or
/// parentheses, the currency sign `¤`, `,` between integer digits, a decimal
/// point, an exponent, and `Infinity`/`NaN`. Out-of-range values are infinite.
pub fn parse_number(s: &str) -> Option<f64> {
    let t = s.trim_matches(is_dotnet_white);
    for (word, value) in [
        ("Infinity", f64::INFINITY),
        ("+Infinity", f64::INFINITY),
        ("-Infinity", f64::NEG_INFINITY),
        ("NaN", f64::NAN),
        ("+NaN", f64::NAN),
        ("-NaN", f64::NAN),
    ] {
        if t.eq_ignore_ascii_case(word) {
            return Some(value);
        }
    }
    let chars: Vec<char> = t.chars().collect();
    let at = |i: usize| chars.get(i).copied();
    let mut i = 0;
    let (mut negative, mut signed, mut paren, mut currency) = (false, false, false, false);
    loop {
        match at(i) {
            Some(c @ ('+' | '-')) if !signed => {
                signed = true;
                negative = c == '-';
            }
            Some('(') if !signed => {
                signed = true;
                paren = true;
                negative = true;
            }
            Some('¤') if !currency => currency = true,
            _ => break,
        }
        i += 1;
    }
    let mut int_digits = String::new();
    while let Some(c) = at(i) {
        if c.is_ascii_digit() {
            int_digits.push(c);
        } else if c != ',' || int_digits.is_empty() {
            break;
        }
        i += 1;
    }
    let mut frac_digits = String::new();
    if at(i) == Some('.') {
        i += 1;
        while let Some(c) = at(i).filter(char::is_ascii_digit) {
            frac_digits.push(c);
            i += 1;
        }
    }
    if int_digits.is_empty() && frac_digits.is_empty() {
        return None;
    }
    let mut exponent = String::new();
    if matches!(at(i), Some('e' | 'E')) {
        let mut j = i + 1;
        let mut exp = String::new();
        if let Some(sign @ ('+' | '-')) = at(j) {
            exp.push(sign);
            j += 1;
        }
        let start = exp.len();
        while let Some(c) = at(j).filter(char::is_ascii_digit) {
            exp.push(c);
            j += 1;
        }
        if exp.len() > start {
            exponent = exp;
            i = j;
        }
    }
    loop {
        match at(i) {
            Some(c @ ('+' | '-')) if !signed => {
                signed = true;
                negative = c == '-';
            }
            Some('¤') if !currency => currency = true,
            _ => break,
        }
        i += 1;
    }
    if paren {
        if at(i) != Some(')') {
            return None;
        }
        i += 1;
    }
    if i != chars.len() {
        return None;
    }
    let int_digits = if int_digits.is_empty() {
        "0".to_string()
    } else {
        int_digits
    };
    let frac_digits = if frac_digits.is_empty() {
        "0".to_string()
    } else {
        frac_digits
    };
    let exponent = if exponent.is_empty() {
        "0".to_string()
    } else {
        exponent
    };
    let text = format!(
        "{}{int_digits}.{frac_digits}e{exponent}",
        if negative { "-" } else { "" }
    );
    text.parse().ok()
}

/// A hexadecimal literal (`0x1F`) as edgeHub reads it: `long.TryParse` of the
/// digits with `HexNumber`, so 16 digits wrap to negative numbers and more fail
/// (`None`: the literal is `undefined`).
pub fn parse_hex(literal: &str) -> Option<f64> {
    let digits = literal.get(2..)?.trim_start_matches('0');
    if digits.len() > 16 {
        return None;
    }
    if digits.is_empty() {
        return Some(0.0);
    }
    let bits = u64::from_str_radix(digits, 16).ok()?;
    Some(i64::from_ne_bytes(bits.to_ne_bytes()) as f64)
}

/// `string.Length`: UTF-16 code units.
pub fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// `string.CompareOrdinal`: by UTF-16 code units.
pub fn ordinal_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// `s.IndexOf(t, StringComparison.Ordinal)` in UTF-16 code units, or -1.
pub fn index_of(s: &str, t: &str) -> f64 {
    s.find(t)
        .and_then(|byte| s.get(..byte))
        .map_or(-1.0, |prefix| utf16_len(prefix) as f64)
}

/// `s.Substring(start, length)` in UTF-16 code units; the caller has checked the
/// bounds. Halves of a surrogate pair become U+FFFD.
pub fn substring(s: &str, start: usize, length: usize) -> String {
    let units: Vec<u16> = s.encode_utf16().skip(start).take(length).collect();
    String::from_utf16_lossy(&units)
}

/// The simple (one character to one character) uppercase mapping, which .NET's
/// invariant culture uses.
fn upper_char(c: char) -> char {
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// `ToUpperInvariant`.
pub fn upper(s: &str) -> String {
    s.chars().map(upper_char).collect()
}

/// `ToLowerInvariant`.
pub fn lower(s: &str) -> String {
    s.chars()
        .map(|c| c.to_lowercase().next().unwrap_or(c))
        .collect()
}

/// `string.Equals(a, b, StringComparison.OrdinalIgnoreCase)`.
pub fn eq_ignore_case(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    a.chars().count() == b.chars().count()
        && a.chars()
            .zip(b.chars())
            .all(|(x, y)| upper_char(x) == upper_char(y))
}

/// Whether `s` starts with `prefix`, ignoring case as `OrdinalIgnoreCase` does.
pub fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|head| eq_ignore_case(head, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_as_dotnet_any() {
        for (text, want) in [
            ("3", Some(3.0)),
            (" -1.5e2 ", Some(-150.0)),
            ("1,000", Some(1000.0)),
            ("(5)", Some(-5.0)),
            ("5-", Some(-5.0)),
            (".5", Some(0.5)),
            ("5.", Some(5.0)),
            ("10e1000", Some(f64::INFINITY)),
            ("-infinity", Some(f64::NEG_INFINITY)),
            ("¤12", Some(12.0)),
            ("e5", None),
            ("1e", None),
            (",1", None),
            ("0x10", None),
            ("--1", None),
            ("", None),
            ("abc", None),
        ] {
            assert_eq!(parse_number(text), want, "{text}");
        }
    }

    #[test]
    fn escapes_resolve_in_two_passes() {
        assert_eq!(unescape(r#"a\'b\"c\\d"#), r#"a'b"c\d"#);
        assert_eq!(unescape(r"\u0041\U0042"), "AB");
        assert_eq!(unescape(r"\\u0041"), r"\A");
        assert_eq!(unescape(r"\ud83d\ude00"), "😀");
        assert_eq!(unescape(r"\n"), r"\n");
    }

    #[test]
    fn strings_are_utf16() {
        assert_eq!(utf16_len("😀a"), 3);
        assert_eq!(index_of("😀ab", "b"), 3.0);
        assert_eq!(substring("😀ab", 2, 1), "a");
        assert_eq!(ordinal_cmp("\u{FFFD}", "😀"), Ordering::Greater);
        assert_eq!(parse_hex("0xFFFFFFFFFFFFFFFF"), Some(-1.0));
        assert_eq!(parse_hex("0x10000000000000000"), None);
        assert!(eq_ignore_case("KEY1", "key1") && eq_ignore_case("ÉTÉ", "été"));
        assert_eq!(upper("straße"), "STRAßE");
    }
}
