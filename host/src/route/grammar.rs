//! The route statement: `[SELECT *] FROM <source> [WHERE <condition>] INTO <sink>`.
//! The condition is handed to [`Condition::compile`]; its columns are reported
//! relative to the whole route.

use super::{Condition, Route, RouteError, Sink, Source};

struct Scanner<'s> {
    chars: Vec<char>,
    pos: usize,
    text: &'s str,
}

fn err(column: usize, found: impl Into<String>, expected: &str) -> RouteError {
    RouteError {
        column,
        found: found.into(),
        expected: expected.to_string(),
    }
}

impl Scanner<'_> {
    fn skip_ws(&mut self) {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    /// The next whitespace-delimited word, without consuming it.
    fn peek_word(&self) -> String {
        self.chars[self.pos..]
            .iter()
            .take_while(|c| !c.is_whitespace())
            .collect()
    }

    fn found_here(&self) -> String {
        let word = self.peek_word();
        if word.is_empty() {
            "the end of the route".to_string()
        } else {
            format!("`{word}`")
        }
    }

    /// Consumes keyword `kw` (any case) followed by whitespace or the end.
    fn keyword(&mut self, kw: &str) -> bool {
        let n = kw.chars().count();
        let end = self.pos + n;
        if end > self.chars.len() {
            return false;
        }
        let word: String = self.chars[self.pos..end].iter().collect();
        let boundary = self.chars.get(end).is_none_or(|c| c.is_whitespace());
        if word.eq_ignore_ascii_case(kw) && boundary {
            self.pos = end;
            true
        } else {
            false
        }
    }

    fn rest(&self) -> String {
        self.chars[self.pos..].iter().collect()
    }
}

/// Finds the character index of the `INTO` keyword that ends a condition
/// starting at `from`: the last `INTO` that stands alone outside quotes.
fn find_into(chars: &[char], from: usize) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut found = None;
    let mut i = from;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None => {
                let before_ok = i == 0 || chars[i - 1].is_whitespace() || chars[i - 1] == ')';
                let word: String = chars[i..chars.len().min(i + 4)].iter().collect();
                let after_ok = chars.get(i + 4).is_none_or(|c| c.is_whitespace());
                if before_ok && after_ok && word.eq_ignore_ascii_case("into") {
                    found = Some(i);
                }
            }
        }
        i += 1;
    }
    found
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// Reads a source as edgeHub does (`CustomMessageSource.Create` and
/// `BaseMessageSource` in Azure/iotedge's Routing.Core): trailing `*`s and then
/// trailing `/`s are dropped, and the rest selects every message whose path
/// starts with it, level by level. So `/messages`, `/messages/*` and
/// `/messages/` are one source, and `/messages/modules/m` selects module `m`
/// (not `m2`).
fn parse_source(text: &str, column: usize) -> Result<Source, RouteError> {
    let bad = |expected: &str| err(column, format!("`{text}`"), expected);
    let expected = "a source: /*, /messages/*, /messages/modules/*, /messages/modules/<m>/*, \
                    /messages/modules/<m>/outputs/*, /messages/modules/<m>/outputs/<o> \
                    or /twinChangeNotifications (a trailing /* may be left out)";
    let trimmed = text.trim().trim_end_matches('*');
    let prefix = if trimmed.len() > 1 {
        trimmed.trim_end_matches('/')
    } else {
        trimmed
    };
    let parts: Vec<&str> = prefix.split('/').collect();
    let name_ok = |s: &str| !s.is_empty() && s.chars().all(is_name_char);
    let is = |part: &str, word: &str| part.eq_ignore_ascii_case(word);
    let source = match parts.as_slice() {
        ["", ""] => Source::All,
        ["", t] if is(t, "twinChangeNotifications") => Source::TwinChangeNotifications,
        ["", msgs] if is(msgs, "messages") => Source::AllMessages,
        ["", msgs, mods] if is(msgs, "messages") && is(mods, "modules") => Source::AllModules,
        ["", msgs, mods, m] if is(msgs, "messages") && is(mods, "modules") => {
            Source::Module(m.to_string())
        }
        ["", msgs, mods, m, outs]
            if is(msgs, "messages") && is(mods, "modules") && is(outs, "outputs") =>
        {
            Source::Module(m.to_string())
        }
        ["", msgs, mods, m, outs, output]
            if is(msgs, "messages") && is(mods, "modules") && is(outs, "outputs") =>
        {
            if name_ok(output) {
                Source::ModuleOutput(m.to_string(), output.to_string())
            } else {
                return Err(bad(
                    "an output name (letters, digits, `-`, `_`, `.`) or `*`",
                ));
            }
        }
        _ => return Err(bad(expected)),
    };
    if let Some(m) = source.module().filter(|m| !name_ok(m)) {
        return Err(bad(&format!(
            "a module name (letters, digits, `-`, `_`, `.`), not `{m}`"
        )));
    }
    Ok(source)
}

fn parse_sink(text: &str, column: usize) -> Result<Sink, RouteError> {
    let trimmed = text.trim_end();
    if trimmed.eq_ignore_ascii_case("$upstream") {
        return Ok(Sink::Upstream);
    }
    let expected = "a sink: $upstream or BrokeredEndpoint(\"/modules/<m>/inputs/<i>\")";
    let bad = || err(column, format!("`{trimmed}`"), expected);
    let open = trimmed.find('(').ok_or_else(bad)?;
    if !trimmed[..open]
        .trim_end()
        .eq_ignore_ascii_case("BrokeredEndpoint")
        || !trimmed.ends_with(')')
    {
        return Err(bad());
    }
    let inner = trimmed[open + 1..trimmed.len() - 1].trim();
    let unquoted = inner
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
        .ok_or_else(|| err(column, format!("`{inner}`"), "a quoted endpoint path"))?;
    let parts: Vec<&str> = unquoted.split('/').collect();
    let name_ok = |s: &str| !s.is_empty() && s.chars().all(is_name_char);
    match parts.as_slice() {
        ["", mods, m, ins, i]
            if mods.eq_ignore_ascii_case("modules") && ins.eq_ignore_ascii_case("inputs") =>
        {
            if !name_ok(m) {
                return Err(err(
                    column,
                    format!("`{m}`"),
                    "a module name (letters, digits, `-`, `_`, `.`)",
                ));
            }
            if !name_ok(i) {
                return Err(err(
                    column,
                    format!("`{i}`"),
                    "an input name (letters, digits, `-`, `_`, `.`)",
                ));
            }
            Ok(Sink::ModuleInput(m.to_string(), i.to_string()))
        }
        _ => Err(err(
            column,
            format!("`{unquoted}`"),
            "an endpoint of the form /modules/<m>/inputs/<i>",
        )),
    }
}

/// Parses and compiles a route. Never panics; a bad route is a [`RouteError`]
/// with the column, what was found and what was expected.
pub fn parse_route(text: &str) -> Result<Route, RouteError> {
    let mut s = Scanner {
        chars: text.chars().collect(),
        pos: 0,
        text,
    };
    s.skip_ws();
    if s.keyword("SELECT") {
        s.skip_ws();
        if s.chars.get(s.pos) != Some(&'*') {
            return Err(err(s.pos, s.found_here(), "`*` after SELECT"));
        }
        s.pos += 1;
        s.skip_ws();
    }
    if !s.keyword("FROM") {
        return Err(err(s.pos, s.found_here(), "FROM"));
    }
    s.skip_ws();
    let source_col = s.pos;
    let source_text = s.peek_word();
    if source_text.is_empty() {
        return Err(err(s.pos, "the end of the route", "a source after FROM"));
    }
    let source = parse_source(&source_text, source_col)?;
    s.pos += source_text.chars().count();
    s.skip_ws();
    let mut condition = None;
    if s.keyword("WHERE") {
        let cond_start = s.pos;
        let into = find_into(&s.chars, cond_start).ok_or_else(|| {
            err(
                s.chars.len(),
                "the end of the route",
                "INTO after the condition",
            )
        })?;
        let cond_text: String = s.chars[cond_start..into].iter().collect();
        if cond_text.trim().is_empty() {
            return Err(err(cond_start, "INTO", "a condition after WHERE"));
        }
        condition = Some(
            Condition::compile(&cond_text).map_err(|e| RouteError::from(e.shifted(cond_start)))?,
        );
        s.pos = into;
    }
    if !s.keyword("INTO") {
        let expected = if condition.is_some() {
            "INTO"
        } else {
            "WHERE or INTO"
        };
        return Err(err(s.pos, s.found_here(), expected));
    }
    s.skip_ws();
    let sink_col = s.pos;
    let sink_text = s.rest();
    if sink_text.trim().is_empty() {
        return Err(err(sink_col, "the end of the route", "a sink after INTO"));
    }
    let sink = parse_sink(&sink_text, sink_col)?;
    let _ = s.text;
    Ok(Route {
        source,
        condition,
        sink,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::Origin;

    #[test]
    fn parses_the_documented_forms() {
        let r = parse_route(
            r#"FROM /messages/modules/sensor/outputs/temperatureOutput INTO BrokeredEndpoint("/modules/filter/inputs/input1")"#,
        )
        .unwrap();
        assert_eq!(
            r.source,
            Source::ModuleOutput("sensor".into(), "temperatureOutput".into())
        );
        assert_eq!(r.sink, Sink::ModuleInput("filter".into(), "input1".into()));
        assert!(r.condition.is_none());

        let r = parse_route("select * from /messages/* where $body.t > 3 into $upstream").unwrap();
        assert_eq!(r.source, Source::AllMessages);
        assert_eq!(r.sink, Sink::Upstream);
        assert!(r.condition.is_some());

        let r =
            parse_route("FROM /messages/modules/m/* WHERE a = 'x into y' INTO $upstream").unwrap();
        assert_eq!(r.source, Source::Module("m".into()));
        assert_eq!(
            parse_route("FROM /* INTO $upstream").unwrap().source,
            Source::All
        );
        assert_eq!(
            parse_route("FROM /twinChangeNotifications INTO $upstream")
                .unwrap()
                .source,
            Source::TwinChangeNotifications
        );
    }

    /// The source forms of edgeHub's RouteFactoryTest and RoutingTest
    /// (Azure/iotedge, edge-hub/core/test/Microsoft.Azure.Devices.Routing.Core.Test),
    /// which give sources without a trailing `/*`: a source is a prefix of the
    /// message's path, level by level.
    #[test]
    fn sources_without_a_trailing_star_are_prefixes_as_in_edgehub() {
        let source = |s: &str| parse_route(&format!("FROM {s} INTO $upstream")).map(|r| r.source);
        for (text, want) in [
            ("/", Source::All),
            ("/messages", Source::AllMessages),
            ("/messages/", Source::AllMessages),
            ("/messages/modules", Source::AllModules),
            ("/messages/modules/", Source::AllModules),
            ("/messages/modules/m1", Source::Module("m1".into())),
            ("/messages/modules/m1/outputs", Source::Module("m1".into())),
            ("/messages/modules/m1/outputs/", Source::Module("m1".into())),
            (
                "/messages/modules/m1/outputs/o1/*",
                Source::ModuleOutput("m1".into(), "o1".into()),
            ),
            (
                "/twinChangeNotifications/*",
                Source::TwinChangeNotifications,
            ),
        ] {
            assert_eq!(source(text), Ok(want), "{text}");
        }
        // Level by level: module `m1` is not a prefix of module `m10`.
        let m1 = Source::Module("m1".into());
        let from = |module| Origin::Module {
            module,
            output: "o",
        };
        assert!(m1.matches(from("m1")));
        assert!(!m1.matches(from("m10")));
        for bad in ["/messages/events/x", "/msgs", "/messages/modules/m1/inputs"] {
            assert!(source(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_name_the_column_and_what_was_expected() {
        let e = parse_route("FROM /messages/* INTO $downstream").unwrap_err();
        assert_eq!(e.column, 22);
        assert!(e.expected.contains("$upstream"), "{e}");
        let e = parse_route("FRM /messages/* INTO $upstream").unwrap_err();
        assert_eq!((e.column, e.expected.as_str()), (0, "FROM"));
        let e = parse_route("FROM /messages/* WHERE a = INTO $upstream").unwrap_err();
        assert_eq!(e.column, 27, "{e}");
        let e = parse_route("FROM /messages/* WHERE a = 1").unwrap_err();
        assert!(e.expected.contains("INTO"), "{e}");
        let e = parse_route("FROM /messages/modules/a b/* INTO $upstream").unwrap_err();
        assert!(e.to_string().contains("column"), "{e}");
    }
}
