//! `ganglion route test`: checks a route or a bare condition against a sample
//! message before it is deployed. Exit code 0: it matches; 1: it does not (false
//! or undefined); 2: it does not compile, or the message file is bad.

use ganglion::route::sample::{parse_sample, sample_origin};
use ganglion::route::{Condition, MessageView, Tri, parse_route};
use std::path::Path;
use std::process::ExitCode;

/// Whether `text` is a whole route rather than a bare condition.
fn is_route(text: &str) -> bool {
    let first = text.split_whitespace().next().unwrap_or("");
    first.eq_ignore_ascii_case("FROM") || first.eq_ignore_ascii_case("SELECT")
}

fn fail(json: bool, what: &str, error: &str) -> ExitCode {
    if json {
        println!(
            "{}",
            serde_json::json!({ "error": format!("{what}: {error}") })
        );
    } else {
        eprintln!("{what}: {error}");
    }
    ExitCode::from(2)
}

/// Runs the command; the exit code is the answer.
pub fn run(message: &Path, text: &str, json: bool) -> ExitCode {
    let sample = match std::fs::read_to_string(message) {
        Ok(s) => s,
        Err(e) => {
            return fail(
                json,
                &format!("cannot read {}", message.display()),
                &e.to_string(),
            );
        }
    };
    let msg = match parse_sample(&sample) {
        Ok(m) => m,
        Err(e) => return fail(json, &message.display().to_string(), &e.to_string()),
    };
    let view = MessageView::new(&msg);
    let mut report = serde_json::Map::new();
    let result = if is_route(text) {
        let route = match parse_route(text) {
            Ok(r) => r,
            Err(e) => return fail(json, "the route does not compile", &e.to_string()),
        };
        let selected = route.source.matches(sample_origin(&msg));
        report.insert("source".into(), route.source.to_string().into());
        report.insert("sink".into(), route.sink.to_string().into());
        report.insert("sourceSelectsMessage".into(), selected.into());
        if !json {
            println!("source: {}", route.source);
            println!("sink:   {}", route.sink);
            if !selected {
                println!(
                    "the source does not select this message (check connectionModuleId, outputName, connectionDeviceId)"
                );
            }
        }
        match (&route.condition, selected) {
            (_, false) => Tri::False,
            (None, true) => Tri::True,
            (Some(c), true) => c.evaluate(&view),
        }
    } else {
        match Condition::compile(text) {
            Ok(c) => c.evaluate(&view),
            Err(e) => return fail(json, "the condition does not compile", &e.to_string()),
        }
    };
    if json {
        report.insert("result".into(), result.as_str().into());
        println!("{}", serde_json::Value::Object(report));
    } else {
        println!("{}", result.as_str());
    }
    if result == Tri::True {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
