//! Conformance of ganglion's routes with edgeHub's: conditions here and in
//! `language.rs` and `body.rs`, sources in `sources.rs` (edgeHub's RoutingTest).
//!
//! The cases come from edgeHub's own tests and sources, in the Azure/iotedge
//! repository, under `edge-hub/core/`:
//!
//! - `test/Microsoft.Azure.Devices.Routing.Core.Test/query/ConditionCompilerTest.cs`:
//!   `TestSuccessDataSource` (literals, equality, three-valued logic, `??`,
//!   `null`, arithmetic, comparisons, property access, every built-in function)
//!   and `TestCompilationFailureDataSource` (type errors, wrong arguments).
//!   Its message has application properties `key1=value1`, `key2=3`,
//!   `key3=VALUE3`, `$sys4=value4` and system properties `sys1`..`sys4`;
//!   ganglion's system properties are fixed fields, so `$messageId`,
//!   `$connectionDeviceId` and `$correlationId` stand in for `$sys1`, `$sys2`
//!   and `$sys4`.
//! - `test/.../query/BodyQueryTest.cs`: `$body` queries on its weather message,
//!   case rules, property conflicts, null and missing paths, built-ins on body
//!   values, paths that do not compile.
//! - `test/.../query/ErrorListenerTest.cs`: conditions that must not compile.
//! - `test/.../MessageQueryTest.cs`: content type and encoding rules.
//! - `test/.../query/QueryValueTest.cs` and `src/.../query/types/QueryValue.cs`:
//!   how `$body` values of different JSON types compare.
//! - The sources the remaining cases are read from: `src/.../grammar/GrammarLexer.g4`
//!   and `Condition.g4` (tokens, keywords, precedence), `query/ConditionVisitor.cs`
//!   (type rules, string escapes, `$name` lookup), `query/Bool.cs`, `Null.cs`,
//!   `Undefined.cs`, `ComparisonOperators.cs`, `query/builtins/*.cs`,
//!   `JsonMessageQueryValueProvider.cs`, `Message.cs` and `Constants.cs`, and
//!   `query/jsonpath/JsonPath.g4`.

use ganglion::message::{Message, new_message};
use ganglion::route::{Condition, MessageView, Tri};

mod body;
mod language;
mod sources;

/// What a condition should do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Want {
    T,
    F,
    U,
    /// Must not compile.
    E,
}
use Want::{E, F, T, U};

/// ConditionCompilerTest's message, on ganglion's fields.
fn props() -> Message {
    let mut m = new_message(Vec::new());
    for (k, v) in [
        ("key1", "value1"),
        ("key2", "3"),
        ("key3", "VALUE3"),
        ("$correlationId", "value4"),
        ("a-b", "x"),
    ] {
        m.properties.push((k.into(), v.into()));
    }
    m.system.message_id = Some("sysvalue1".into());
    m.system.connection_device_id = Some("4".into());
    m.system.connection_module_id = Some("SYSVALUE3".into());
    m.system.correlation_id = Some("sysvalue4".into());
    m
}

const WEATHER: &str = r#"{
   "message": {
      "Weather": {
         "Temperature": 50,
         "FreezingTemperature": -50.4,
         "PreciseTemperature": 50.4,
         "Temperature_PropertyConflict": 50,
         "NullValue": null,
         "Time" : "2017-03-09T00:00:00.000Z",
         "PrevTemperatures" : [20, 30, 40 ],
         "IsEnabled": true,
         "IsDisabled": false,
         "Location": {
            "Street": "One Microsoft Way",
            "City": "Redmond",
            "State": "WA"
         },
         "HistoricalData": [
            { "Month" : "Feb", "Temperature": 40 },
            { "Month" : "Jan", "Temperature": 30 }
         ]
      }
   }
}"#;

/// BodyQueryTest's message.
fn weather() -> Message {
    let mut m = new_message(WEATHER.as_bytes().to_vec());
    for (k, v) in [
        ("City", "Redmond"),
        ("$State", "WA"),
        ("$body.message.Weather.Temperature_PropertyConflict", "100"),
        ("IntegerProperty", "110"),
    ] {
        m.properties.push((k.into(), v.into()));
    }
    m.system.content_encoding = Some("UTF-8".into());
    m.system.content_type = Some("application/json".into());
    m
}

fn with(encoding: Option<&str>, content_type: Option<&str>, body: Vec<u8>) -> Message {
    let mut m = new_message(body);
    m.system.content_encoding = encoding.map(Into::into);
    m.system.content_type = content_type.map(Into::into);
    m
}

const JSON: Option<&str> = Some("application/json");

fn utf16() -> Message {
    let body = WEATHER.encode_utf16().flat_map(u16::to_le_bytes).collect();
    with(Some("UTf-16"), JSON, body)
}
fn utf32() -> Message {
    let body = WEATHER
        .chars()
        .flat_map(|c| u32::from(c).to_le_bytes())
        .collect();
    with(Some("utf-32"), JSON, body)
}
fn invalid_json() -> Message {
    with(Some("UTF-8"), JSON, b"Invalid Json".to_vec())
}
fn invalid_bytes() -> Message {
    with(Some("UTF-8"), JSON, vec![1, 2, 3])
}
fn no_encoding() -> Message {
    with(None, JSON, WEATHER.as_bytes().to_vec())
}
fn no_content_type() -> Message {
    with(Some("Utf-8"), None, WEATHER.as_bytes().to_vec())
}
fn upper_content_type() -> Message {
    with(
        Some("utf-8"),
        Some("Application/JSON"),
        WEATHER.as_bytes().to_vec(),
    )
}
fn charset_content_type() -> Message {
    with(
        Some("utf-8"),
        Some("application/json; charset=utf-8"),
        WEATHER.as_bytes().to_vec(),
    )
}
fn unknown_encoding() -> Message {
    with(Some("utf8"), JSON, WEATHER.as_bytes().to_vec())
}
fn array_body() -> Message {
    with(Some("utf-8"), JSON, br#"[{"message": 1}]"#.to_vec())
}
fn text_body() -> Message {
    with(
        Some("utf-8"),
        Some("text/plain"),
        WEATHER.as_bytes().to_vec(),
    )
}

pub(super) type Case = (&'static str, fn() -> Message, Want);

/// Every case, the language's first, then `$body` and content types.
fn cases() -> impl Iterator<Item = &'static Case> {
    language::CASES.iter().chain(body::CASES)
}

#[test]
fn conditions_behave_as_in_edgehub() {
    let total = cases().count();
    assert!(total >= 150, "only {total} cases");
    let mut failures = Vec::new();
    for (text, setup, want) in cases() {
        let got = match Condition::compile(text) {
            Err(_) => E,
            Ok(c) => match c.evaluate(&MessageView::new(&setup())) {
                Tri::True => T,
                Tri::False => F,
                Tri::Undefined => U,
            },
        };
        if got != *want {
            failures.push(format!("{text:?}: want {want:?}, got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        total,
        failures.join("\n")
    );
}

#[test]
fn compile_errors_point_at_the_offending_token() {
    // ErrorListenerTest gives 1-based columns; these are 0-based.
    for (text, column) in [
        ("3 + '4' = 7", 2),
        ("as_number(true) = true", 0),
        ("nope(true) = true", 0),
        ("(2 + 22 = 24", 0),
        ("as_number(\"2\" = 24", 18),
        ("(2 + 22 )) = 24", 9),
        ("as_number(\"2\")) = 24", 14),
        ("\"2 = 24", 0),
        ("3 = @ 3", 4),
    ] {
        match Condition::compile(text) {
            Ok(_) => panic!("{text}: compiled"),
            Err(e) => assert_eq!(e.column, column, "{text}: {e}"),
        }
    }
}
