//! Fuzzes the route parser and the condition compiler with arbitrary text, and
//! evaluates whatever compiles against a fixed JSON message: nothing may panic.

#![no_main]

use ganglion::message::new_message;
use ganglion::route::{Condition, MessageView, parse_route};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut msg = new_message(br#"{"a":{"b":[1,"x",null,true]},"t":21.5}"#.to_vec());
    msg.system.content_type = Some("application/json".into());
    msg.system.content_encoding = Some("utf-8".into());
    msg.properties.push(("k".into(), "v".into()));
    if let Ok(route) = parse_route(text)
        && let Some(condition) = &route.condition
    {
        let _ = condition.evaluate(&MessageView::new(&msg));
    }
    if let Ok(condition) = Condition::compile(text) {
        let _ = condition.evaluate(&MessageView::new(&msg));
    }
});
