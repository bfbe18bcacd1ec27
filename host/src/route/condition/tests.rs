//! Condition language cases: precedence, three-valued logic, body queries and
//! the built-in functions. The full table, with its edgeHub sources, is
//! `host/tests/all/conformance/`.

use super::{Condition, MAX_DEPTH, MessageView, Tri};
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
        ("messagetype = 'Alert'", T),
        ("MessageType <> \"Alert\"", F),
        ("$connectionModuleId = 'sensor'", T),
        ("{$connectionModuleId} = 'sensor'", T),
        ("$CONNECTIONMODULEID = 'sensor'", T),
        ("$connectionDeviceId = 'x'", U),
        ("$noSuchProperty = 'x'", U),
        ("NOT ($connectionDeviceId = 'x')", U),
        ("NOT is_defined($connectionDeviceId)", T),
        ("$body.machine.temperature > 30", T),
        ("$body.machine.temperature > 30 AND $body.ok = true", T),
        ("$body.machine.tags[1] = 'b'", T),
        ("$body.machine.temperature = '30.5'", F),
        ("$body.missing = null", T),
        ("$body.missing > 1", T),
        ("$body.machine > 1", U),
        ("is_null($body.none)", T),
        ("is_null($body.missing)", F),
        ("1 + 2 * 3 = 7", T),
        ("(1 + 2) * 3 = 9", T),
        ("-2 * -3 = 6", T),
        ("10 % 4 = 2", T),
        ("0x10 = 16", T),
        ("1.5e1 = 15", T),
        ("'a' || 'b' = 'ab'", T),
        ("1 < 2 = true", T),
        ("true OR false AND false", T),
        ("NOT false = false", F),
        ("undefined ?? undefined", U),
        ("as_number(level) = 3", T),
        ("abs(-2) = 2 AND power(2, 10) = 1024 AND square(3) = 9", T),
        ("0 / 0 = 0 / 0", U),
        ("null", F),
        ("null = null", T),
        ("3", U),
        ("$body.ok", T),
    ];
    for (text, want) in cases {
        assert_eq!(eval(text, &m), *want, "{text}");
    }
}

#[test]
fn body_needs_json_content_type_and_a_known_encoding() {
    let mut m = msg();
    m.system.content_type = Some("text/plain".into());
    assert_eq!(eval("$body.machine.temperature > 0", &m), Tri::Undefined);
    let mut m = msg();
    m.system.content_encoding = Some("latin-1".into());
    assert_eq!(eval("$body.machine.temperature > 0", &m), Tri::Undefined);
    let mut m = msg();
    m.body = b"not json".to_vec();
    assert_eq!(eval("$body.machine.temperature > 0", &m), Tri::Undefined);
    let mut m = msg();
    m.system.content_encoding = Some("utf-16".into());
    m.body = "{\"t\": 5}"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    assert_eq!(eval("$body.t = 5", &m), Tri::True);
}

#[test]
fn compile_errors_name_the_column() {
    for (text, column, found) in [
        ("a = ", 4, "the end of the condition"),
        ("a = = b", 4, "`=`"),
        ("nosuch(1)", 0, "`nosuch(`"),
        ("abs(1, 2)", 0, "abs(number, number)"),
        ("abs(level)", 0, "abs(string)"),
        ("$nope = 1", 6, "`=` applied to string and number"),
        ("3 + '4' = 7", 2, "`+` applied to number and string"),
        ("(a = 1", 0, "an unclosed `(`"),
        ("a = 1 b", 6, "`b`"),
        ("3 = @ 3", 4, "the symbol '@'"),
        ("\"2 = 24", 0, "an unterminated string"),
        ("{MessageType} = 'x'", 1, "`MessageType`"),
        ("$body.a[] = 1", 0, "`$body.a[]`"),
    ] {
        let e = Condition::compile(text).unwrap_err();
        assert_eq!((e.column, e.found.as_str()), (column, found), "{text}: {e}");
    }
}

#[test]
fn an_empty_condition_is_undefined() {
    let c = Condition::compile("  /* nothing */ ").unwrap();
    assert_eq!(c.evaluate(&MessageView::new(&msg())), Tri::Undefined);
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let deep = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(Condition::compile(&deep).is_err());
    let nots = format!("{}true", "NOT ".repeat(10_000));
    assert!(Condition::compile(&nots).is_err());
    let chain = vec!["1"; 10_000].join(" + ");
    assert!(Condition::compile(&chain).is_err());
    let ok = vec!["a = 'x'"; MAX_DEPTH - 2].join(" OR ");
    assert!(Condition::compile(&ok).is_ok());
}

#[test]
fn deep_json_bodies_are_undefined_not_overflowed() {
    let mut m = msg();
    m.body = format!("{{\"a\":{}1{}}}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes();
    assert_eq!(eval("$body.a[0] = 1", &m), Tri::Undefined);
    m.body = format!("{{\"a\":{}1{}}}", "[".repeat(100), "]".repeat(100)).into_bytes();
    assert_eq!(eval("is_defined($body.a)", &m), Tri::False);
    assert_eq!(eval("$body.a[0][0][0] = null", &m), Tri::Undefined);
}
