//! Condition language cases: precedence, three-valued logic, body queries and
//! the built-in functions.

use super::{Condition, MessageView, Tri};
use crate::message::{Message, new_message};

fn msg() -> Message {
    let mut m = new_message(
        br#"{"machine":{"temperature":30.5,"tags":["a","b"]},"name":"press-7","ok":true,"none":null}"#
            .to_vec(),
    );
    m.system.content_type = Some("application/json".into());
    m.system.content_encoding = Some("UTF-8".into());
    m.system.connection_module_id = Some("sensor".into());
    m.properties.push(("MessageType".into(), "Alert".into()));
    m.properties.push(("level".into(), "3".into()));
    m
}

fn eval(text: &str, m: &Message) -> Tri {
    Condition::compile(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .evaluate(&MessageView::new(m))
}

#[test]
fn cases() {
    use Tri::{False as F, True as T, Undefined as U};
    let m = msg();
    let cases: &[(&str, Tri)] = &[
        ("MessageType = 'Alert'", T),
        ("messagetype = 'Alert'", U),
        ("MessageType <> \"Alert\"", F),
        ("{MessageType} = 'Alert'", T),
        ("$connectionModuleId = 'sensor'", T),
        ("{$connectionModuleId} = 'sensor'", T),
        ("$connectionDeviceId = 'x'", U),
        ("NOT ($connectionDeviceId = 'x')", U),
        ("NOT is_defined($connectionDeviceId)", T),
        ("$body.machine.temperature > 30", T),
        ("$body.machine.temperature > 30 AND $body.ok = true", T),
        ("$body.machine.tags[1] = 'b'", T),
        ("$body.machine['temperature'] >= 30.5", T),
        ("$body.missing > 1", U),
        ("$body.missing > 1 OR true", T),
        ("$body.missing > 1 AND false", F),
        ("is_null($body.none)", T),
        ("1 + 2 * 3 = 7", T),
        ("(1 + 2) * 3 = 9", T),
        ("-2 * -3 = 6", T),
        ("10 % 4 = 2", T),
        ("0x10 = 16", T),
        ("1.5e1 = 15", T),
        ("'a' || 'b' = 'ab'", T),
        ("1 < 2 = true", T),
        ("true OR false AND false", T),
        ("undefined ?? 'x' = 'x'", T),
        ("$body.missing ?? 5 = 5", T),
        ("level = 3", U),
        ("as_number(level) = 3", T),
        ("abs(-2) = 2 AND power(2, 10) = 1024 AND square(3) = 9", T),
        (
            "ceiling(1.2) = 2 AND floor(1.8) = 1 AND sign(-4) = -1 AND sqrt(9) = 3",
            T,
        ),
        ("exp(0) = 1", T),
        ("concat('a', 'b', 'c') = 'abc' AND length('héllo') = 5", T),
        ("lower('AbC') = 'abc' AND upper('abc') = 'ABC'", T),
        (
            "substring('gateway', 4) = 'way' AND substring('gateway', 0, 4) = 'gate'",
            T,
        ),
        (
            "index_of('gateway', 'way') = 4 AND index_of('x', 'y') = -1",
            T,
        ),
        (
            "starts_with($body.name, 'press') AND ends_with($body.name, '7')",
            T,
        ),
        ("contains($body.name, 's-')", T),
        (
            "is_string($body.name) AND is_number($body.machine.temperature) AND is_bool($body.ok)",
            T,
        ),
        ("0 / 0 = 0 / 0", F),
        ("0 / 0 <> 0 / 0", T),
        ("1 = 'a'", U),
    ];
    for (text, want) in cases {
        assert_eq!(eval(text, &m), *want, "{text}");
    }
}

#[test]
fn body_needs_json_content_type_and_utf8() {
    let mut m = msg();
    m.system.content_type = Some("text/plain".into());
    assert_eq!(eval("$body.machine.temperature > 0", &m), Tri::Undefined);
    let mut m = msg();
    m.system.content_encoding = Some("utf-16".into());
    assert_eq!(eval("$body.machine.temperature > 0", &m), Tri::Undefined);
    let mut m = msg();
    m.body = b"not json".to_vec();
    assert_eq!(eval("$body.machine.temperature > 0", &m), Tri::Undefined);
}

#[test]
fn compile_errors_name_the_column() {
    for (text, column, found) in [
        ("a = ", 4, "the end of the condition"),
        ("a = = b", 4, "`=`"),
        ("nosuch(1)", 0, "`nosuch(`"),
        ("abs(1, 2)", 0, "2 arguments to abs"),
        ("$nope = 1", 0, "`$nope`"),
        ("(a = 1", 6, "the end of the condition"),
        ("a = 1 b", 6, "`b`"),
    ] {
        let e = Condition::compile(text).unwrap_err();
        assert_eq!((e.column, e.found.as_str()), (column, found), "{text}: {e}");
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let deep = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(Condition::compile(&deep).is_err());
    let nots = format!("{}true", "NOT ".repeat(10_000));
    assert!(Condition::compile(&nots).is_err());
}
