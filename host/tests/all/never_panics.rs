//! Property tests: no input panics the condition compiler, the route parser or
//! the evaluator.

use ganglion::message::{Message, new_message};
use ganglion::route::{Condition, MessageView, parse_route};
use proptest::prelude::*;

/// Pieces of conditions, so that random input also reaches the parser's and the
/// type checker's deeper paths, not only the lexer's.
const VOCABULARY: &[&str] = &[
    "(",
    ")",
    "{",
    "}",
    ",",
    "+",
    "-",
    "*",
    "/",
    "%",
    "=",
    "!=",
    "<>",
    "<",
    "<=",
    ">",
    ">=",
    "||",
    "??",
    "AND",
    "or",
    "NOT",
    "true",
    "false",
    "null",
    "undefined",
    "3",
    "-1",
    "0.5",
    "1e400",
    "0x1F",
    "e5",
    "'a'",
    "\"b\"",
    "'\\u0041'",
    "'open",
    "key1",
    "a-b",
    "$messageId",
    "$body",
    "$body.a",
    "$body.a.b",
    "$body.a[0]",
    "$body.a[0][1]",
    "$body.*",
    "$body.$.a",
    "$body.a[",
    "$body.0",
    "{$body.a}",
    "$x[1]",
    "abs(",
    "as_number(",
    "is_null(",
    "is_bool(",
    "is_defined(",
    "is_number(",
    "is_string(",
    "concat(",
    "length(",
    "lower(",
    "upper(",
    "substring(",
    "index_of(",
    "starts_with(",
    "ends_with(",
    "contains(",
    "power(",
    "sign(",
    "sqrt(",
    "nosuch(",
    "/*",
    "*/",
    "@",
    ";",
    "[",
    "]",
    "select",
    "INTO",
];

/// Conditions evaluated on random messages, between them every operator, every
/// function and every kind of `$body` query.
const CONDITIONS: &[&str] = &[
    "$body.a = 1",
    "$body.a.b[0] > 'x' OR $body.a.b[1] <= 2",
    "$body.a[0][1] ?? 3",
    "$body.*.b = null",
    "$body.$.a <> true",
    "is_null($body.a) AND is_defined($body.b)",
    "is_bool($body.a) OR is_number($body.a) OR is_string($body.a)",
    "NOT $body.a",
    "$body.a AND $body.b",
    "$body.a + $body.b * $body.c / $body.d - 1 > 0",
    "abs($body.a) + exp($body.a) + power($body.a, $body.b) + square($body.a) > sqrt($body.a)",
    "ceiling($body.a) = floor($body.a) + sign($body.a)",
    "as_number($body.a) = as_number(key1)",
    "concat($body.a, key1, $body.b) = lower($body.a) || upper(key1)",
    "length($body.a) > index_of($body.a, key1)",
    "substring($body.a, $body.b) = substring(key1, 1, $body.c)",
    "starts_with($body.a, key1) OR ends_with(key1, $body.b) OR contains($body.a, $body.b)",
    "key1 = 'x' AND $messageId <> key2",
    "{$contentType} = 'application/json' OR $contentEncoding = 'utf-8'",
    "$creationTime < $enqueuedTime",
    "as_number(key1) % as_number(key2) = 0",
    "(null and true) = null OR null OR NOT null",
    "undefined ?? undefined",
    "$body.a[99999999999] = 1",
    "$body.a[0]b = 1",
];

fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number)),
        any::<i64>().prop_map(|i| serde_json::Value::Number(i.into())),
        prop_oneof![
            any::<String>(),
            Just("2017-03-09T00:00:00.000Z".to_string()),
            Just("/Date(0)/".to_string()),
            "[a-c]{0,3}".prop_map(String::from),
        ]
        .prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(6, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::btree_map("[a-d*$]{1,2}", inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any::<Vec<u8>>(),
        json().prop_map(|v| v.to_string().into_bytes()),
        (json(), any::<bool>()).prop_map(|(v, wide)| {
            let text = v.to_string();
            if wide {
                text.encode_utf16().flat_map(u16::to_le_bytes).collect()
            } else {
                text.chars()
                    .flat_map(|c| u32::from(c).to_le_bytes())
                    .collect()
            }
        }),
    ]
}

fn text_or(choices: &'static [&'static str]) -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        prop::sample::select(choices).prop_map(|s| Some(s.to_string())),
        any::<String>().prop_map(Some),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    (
        body(),
        prop::collection::vec(
            ("[a-z$.12]{1,6}|key1|key2|\\$body\\.a", any::<String>()),
            0..6,
        ),
        text_or(&["application/json", "APPLICATION/JSON", "text/plain"]),
        text_or(&["utf-8", "UTF-16", "utf-32", "latin1"]),
        any::<Option<u64>>(),
        any::<Option<String>>(),
    )
        .prop_map(|(body, properties, content_type, encoding, time, id)| {
            let mut m = new_message(body);
            m.properties = properties;
            m.system.content_type = content_type;
            m.system.content_encoding = encoding;
            m.system.creation_time_ms = time;
            m.system.message_id = id;
            m
        })
}

fn vocabulary_text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(VOCABULARY), 0..24).prop_map(|w| w.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn compiling_any_string_does_not_panic(text in any::<String>()) {
        let _ = Condition::compile(&text);
        let _ = parse_route(&text);
        let _ = parse_route(&format!("FROM /messages/* WHERE {text} INTO $upstream"));
    }

    #[test]
    fn compiling_condition_like_text_does_not_panic(
        text in prop_oneof![
            vocabulary_text(),
            "[a-z$(){}'\" .,=<>!?|*/%+\\-0-9\\[\\]@;:_A-Z\\\\]{0,80}",
        ],
        msg in message(),
    ) {
        let _ = parse_route(&format!("FROM /messages/* WHERE {text} INTO $upstream"));
        if let Ok(c) = Condition::compile(&text) {
            let _ = c.evaluate(&MessageView::new(&msg));
        }
    }

    #[test]
    fn evaluating_any_message_does_not_panic(msg in message()) {
        let view = MessageView::new(&msg);
        for text in CONDITIONS {
            let c = Condition::compile(text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            let _ = c.evaluate(&view);
        }
    }
}
