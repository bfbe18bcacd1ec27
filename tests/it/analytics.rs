//! window-stats, the windowed-analytics example module, run as a real
//! component through the module harness: window boundaries, hopping windows,
//! late events, statistics against hand-computed values, the processing-time
//! flush, the cap on open windows, and configuration by the desired twin.

use crate::support::config;
use ganglion::harness::{HarnessError, ModuleHarness};
use ganglion::message::{Message, new_message, property};
use ganglion_tests::artifacts::{TEMP_SENSOR, WINDOW_STATS};
use serde_json::{Value, json};
use std::path::Path;

/// 2023-11-14T22:13:20Z: a multiple of every window size used here.
const T0: u64 = 1_700_000_000_000;
/// The module's flush timer.
const FLUSH: u32 = 1;

async fn load(pairs: &[(&str, &str)]) -> ModuleHarness {
    ModuleHarness::load("stats", Path::new(WINDOW_STATS), &config(pairs))
        .await
        .unwrap()
}

/// A reading shaped as temp-sensor sends it, made at `offset_ms` after
/// [`T0`], from leaf device `device`.
fn reading(offset_ms: u64, temperature: f64, pressure: f64, device: &str) -> Message {
    let body = json!({
        "machine": {"temperature": temperature, "pressure": pressure},
        "ambient": {"temperature": 21.0, "humidity": 25.0},
        "timeCreated": "2023-11-14T22:13:20.000Z",
    });
    let mut msg = new_message(body.to_string().into_bytes());
    msg.system.creation_time_ms = Some(T0 + offset_ms);
    msg.system.connection_device_id = Some(device.to_string());
    msg
}

/// Sends `(offset, temperature)` readings from `dev1`; returns the windows
/// they closed.
async fn feed(h: &mut ModuleHarness, readings: &[(u64, f64)]) -> Vec<Value> {
    let mut out = Vec::new();
    for &(offset, temperature) in readings {
        let msg = reading(offset, temperature, 1.0, "dev1");
        out.extend(windows(h.send("input1", &msg).await.unwrap()));
    }
    out
}

/// The window bodies sent, checking that each left by `output1`.
fn windows(out: Vec<(String, Message)>) -> Vec<Value> {
    out.into_iter()
        .map(|(output, msg)| {
            assert_eq!(output, "output1");
            serde_json::from_slice(&msg.body).unwrap()
        })
        .collect()
}

/// (start, end) of `w`, as offsets from [`T0`] (may be negative).
fn span(w: &Value) -> (i64, i64) {
    let at = |k: &str| w[k].as_i64().unwrap() - T0 as i64;
    (at("windowStartMs"), at("windowEndMs"))
}

fn close_to(actual: &Value, expected: f64) {
    let a = actual
        .as_f64()
        .unwrap_or_else(|| panic!("{actual} is not a number"));
    assert!((a - expected).abs() < 1e-9, "{a} is not {expected}");
}

fn counter(h: &ModuleHarness, name: &str) -> u64 {
    let reported = h.reported();
    reported["counters"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no counter `{name}` in {reported}"))
}

#[tokio::test]
async fn tumbling_windows_end_exclusive_with_hand_computed_stats() {
    let mut h = load(&[
        ("window-size-ms", "10000"),
        ("late-tolerance-ms", "0"),
        ("fields", "machine.temperature,machine.pressure"),
    ])
    .await;
    for (offset, t, p) in [
        (0, 20.0, 1.0),
        (2000, 22.0, 2.0),
        (4000, 24.0, 3.0),
        (9999, 26.0, 4.0),
    ] {
        let out = h
            .send("input1", &reading(offset, t, p, "dev1"))
            .await
            .unwrap();
        assert!(out.is_empty(), "nothing closes before the end");
    }
    // A reading exactly at the end closes the window and opens the next.
    let out = h
        .send("input1", &reading(10_000, 100.0, 9.0, "dev1"))
        .await
        .unwrap();
    assert_eq!(out.len(), 1);
    let msg = &out[0].1;
    assert_eq!(msg.system.creation_time_ms, Some(T0 + 10_000));
    assert_eq!(property(msg, "windowKey"), Some("dev1"));
    let w: Value = serde_json::from_slice(&msg.body).unwrap();
    assert_eq!(span(&w), (0, 10_000));
    assert_eq!(w["windowStart"], "2023-11-14T22:13:20.000Z");
    assert_eq!(w["windowEnd"], "2023-11-14T22:13:30.000Z");
    assert_eq!(
        (&w["key"], &w["events"], &w["complete"]),
        (&json!("dev1"), &json!(4), &json!(true))
    );
    // Temperatures 20, 22, 24, 26: mean 23, squared deviations 9+1+1+9 = 20,
    // population variance 20/4 = 5 (the sample one would be 20/3).
    let t = &w["stats"]["machine.temperature"];
    assert_eq!(t["count"], 4);
    close_to(&t["avg"], 23.0);
    close_to(&t["min"], 20.0);
    close_to(&t["max"], 26.0);
    close_to(&t["stddev"], 5f64.sqrt());
    // Pressures 1, 2, 3, 4: mean 2.5, variance (2.25+0.25+0.25+2.25)/4 = 1.25.
    let p = &w["stats"]["machine.pressure"];
    close_to(&p["avg"], 2.5);
    close_to(&p["stddev"], 1.25f64.sqrt());
    // The reading at the boundary is alone in the next window.
    let next = feed(&mut h, &[(20_000, 0.0)]).await;
    assert_eq!(next.len(), 1);
    assert_eq!(span(&next[0]), (10_000, 20_000));
    assert_eq!(next[0]["events"], 1);
    close_to(&next[0]["stats"]["machine.temperature"]["avg"], 100.0);
    close_to(&next[0]["stats"]["machine.temperature"]["stddev"], 0.0);
}

#[tokio::test]
async fn hopping_windows_hold_each_reading_in_every_window_that_contains_it() {
    let mut h = load(&[
        ("window-size-ms", "10000"),
        ("hop-ms", "5000"),
        ("late-tolerance-ms", "0"),
    ])
    .await;
    assert!(feed(&mut h, &[(1000, 10.0)]).await.is_empty());
    // 1000 is in [-5000, 5000) and [0, 10000); the watermark at 6000 closes the first.
    let first = feed(&mut h, &[(6000, 20.0)]).await;
    assert_eq!(first.len(), 1);
    assert_eq!(span(&first[0]), (-5000, 5000));
    close_to(&first[0]["stats"]["machine.temperature"]["avg"], 10.0);
    let second = feed(&mut h, &[(11_000, 30.0)]).await;
    assert_eq!(second.len(), 1);
    assert_eq!(span(&second[0]), (0, 10_000));
    let t = &second[0]["stats"]["machine.temperature"];
    assert_eq!(t["count"], 2);
    close_to(&t["avg"], 15.0);
    close_to(&t["stddev"], 5.0);
    // One reading far ahead closes both windows that hold 11000, oldest first.
    let rest = feed(&mut h, &[(30_000, 0.0)]).await;
    let spans: Vec<_> = rest.iter().map(span).collect();
    assert_eq!(spans, vec![(5000, 15_000), (10_000, 20_000)]);
    close_to(&rest[0]["stats"]["machine.temperature"]["avg"], 25.0);
    close_to(&rest[1]["stats"]["machine.temperature"]["avg"], 30.0);
}

#[tokio::test]
async fn late_readings_within_tolerance_count_and_later_ones_drop() {
    let mut h = load(&[
        ("window-size-ms", "10000"),
        ("late-tolerance-ms", "5000"),
        ("flush-interval-ms", "1000"),
    ])
    .await;
    // Watermark 12000 - 5000 = 7000: [0, 10000) is still open for 8000.
    assert!(
        feed(&mut h, &[(2000, 10.0), (12_000, 50.0), (8000, 20.0)])
            .await
            .is_empty()
    );
    // Watermark 11000 closes [0, 10000) with the late reading in it.
    let closed = feed(&mut h, &[(16_000, 60.0)]).await;
    assert_eq!(closed.len(), 1);
    assert_eq!(span(&closed[0]), (0, 10_000));
    assert_eq!(closed[0]["events"], 2);
    close_to(&closed[0]["stats"]["machine.temperature"]["avg"], 15.0);
    // 9000 belongs to a closed window: dropped.
    assert!(feed(&mut h, &[(9000, 99.0)]).await.is_empty());
    // The first tick counts no idle time, so it closes nothing; it reports.
    assert!(h.fire_timer(FLUSH).await.unwrap().is_empty());
    assert_eq!(counter(&h, "lateAccepted"), 1);
    assert_eq!(counter(&h, "lateDropped"), 1);
    assert_eq!(counter(&h, "accepted"), 4);
    assert_eq!(counter(&h, "windowsEmitted"), 1);
    assert_eq!(h.reported()["watermarkMs"], T0 + 11_000);
    // The dropped reading is in no window.
    let next = feed(&mut h, &[(26_000, 0.0)]).await;
    assert_eq!(span(&next[0]), (10_000, 20_000));
    assert_eq!(next[0]["events"], 2);
    close_to(&next[0]["stats"]["machine.temperature"]["avg"], 55.0);
}

#[tokio::test]
async fn the_timer_closes_the_window_of_a_stream_that_stopped() {
    let mut h = load(&[
        ("window-size-ms", "10000"),
        ("late-tolerance-ms", "2000"),
        ("flush-interval-ms", "1000"),
    ])
    .await;
    assert!(feed(&mut h, &[(5000, 42.0)]).await.is_empty());
    // [0, 10000) closes when 5000 + idle - 2000 >= 10000: idle 7000 ms, that
    // is 7 whole intervals after the first tick.
    for tick in 1..=7 {
        let out = h.fire_timer(FLUSH).await.unwrap();
        assert!(out.is_empty(), "closed early, at tick {tick}");
    }
    let out = windows(h.fire_timer(FLUSH).await.unwrap());
    assert_eq!(out.len(), 1);
    assert_eq!(span(&out[0]), (0, 10_000));
    close_to(&out[0]["stats"]["machine.temperature"]["max"], 42.0);
    assert_eq!(counter(&h, "windowsEmitted"), 1);
    assert_eq!(counter(&h, "openWindows"), 0);
}

#[tokio::test]
async fn keys_default_to_the_device_then_the_module_and_the_cap_refuses() {
    let mut h = load(&[
        ("window-size-ms", "10000"),
        ("late-tolerance-ms", "0"),
        ("max-open-windows", "2"),
    ])
    .await;
    let mut from_device = reading(1000, 10.0, 1.0, "d1");
    from_device.system.connection_module_id = Some("edgeHub".into());
    let mut from_module = reading(2000, 20.0, 1.0, "unused");
    from_module.system.connection_device_id = None;
    from_module.system.connection_module_id = Some("sensor".into());
    let third = reading(3000, 30.0, 1.0, "d3");
    for msg in [&from_device, &from_module, &third] {
        assert!(h.send("input1", msg).await.unwrap().is_empty());
    }
    h.fire_timer(FLUSH).await.unwrap();
    assert_eq!(counter(&h, "refusedWindows"), 1);
    assert_eq!(counter(&h, "openWindows"), 2);
    // A reading without any source groups under `unknown`; it closes the
    // two windows, and the refused key has none.
    let mut anonymous = reading(10_000, 0.0, 0.0, "");
    anonymous.system.connection_device_id = None;
    let out = windows(h.send("input1", &anonymous).await.unwrap());
    let keys: Vec<_> = out.iter().map(|w| w["key"].as_str().unwrap()).collect();
    assert_eq!(keys, vec!["d1", "sensor"]);
    let last = windows(
        h.send("input1", &reading(20_000, 0.0, 0.0, "d1"))
            .await
            .unwrap(),
    );
    assert_eq!(last[0]["key"], "unknown");
}

#[tokio::test]
async fn without_an_event_time_a_reading_is_counted_and_dropped() {
    let mut h = load(&[("window-size-ms", "10000"), ("late-tolerance-ms", "0")]).await;
    let mut untimed = reading(0, 1.0, 1.0, "dev1");
    untimed.system.creation_time_ms = None;
    assert!(h.send("input1", &untimed).await.unwrap().is_empty());
    h.fire_timer(FLUSH).await.unwrap();
    assert_eq!(counter(&h, "noEventTime"), 1);
    assert_eq!(counter(&h, "openWindows"), 0);
    let junk = new_message(b"not json".to_vec());
    let err = h.send("input1", &junk).await.unwrap_err();
    assert!(err.to_string().contains("not JSON"), "{err}");

    // With `time-field`, the body's `timeCreated` is the fallback.
    let mut h = load(&[("window-size-ms", "10000"), ("time-field", "timeCreated")]).await;
    assert!(h.send("input1", &untimed).await.unwrap().is_empty());
    h.fire_timer(FLUSH).await.unwrap();
    assert_eq!(counter(&h, "noEventTime"), 0);
    assert_eq!(counter(&h, "openWindows"), 1);
}

#[tokio::test]
async fn a_desired_twin_change_applies_without_a_restart() {
    let mut h = load(&[("window-size-ms", "10000"), ("late-tolerance-ms", "0")]).await;
    assert_eq!(h.reported()["configSource"], "init");
    assert_eq!(h.reported()["config"]["window-size-ms"], 10_000);
    assert!(
        h.tell_whole_desired().await.unwrap().is_empty(),
        "an empty twin changes nothing"
    );
    assert!(feed(&mut h, &[(1000, 10.0), (3000, 20.0)]).await.is_empty());
    // The open window is flushed, marked incomplete, and 4 s windows start.
    let out = windows(
        h.set_desired(&json!({"window-size-ms": 4000}))
            .await
            .unwrap(),
    );
    assert_eq!(out.len(), 1);
    assert_eq!(span(&out[0]), (0, 10_000));
    assert_eq!(
        (&out[0]["events"], &out[0]["complete"]),
        (&json!(2), &json!(false))
    );
    close_to(&out[0]["stats"]["machine.temperature"]["avg"], 15.0);
    let reported = h.reported();
    assert_eq!(reported["configSource"], "desired");
    assert_eq!(reported["desiredVersion"], 1);
    assert_eq!(reported["config"]["window-size-ms"], 4000);
    assert_eq!(
        reported["config"]["hop-ms"], 4000,
        "the hop follows the size"
    );
    assert!(feed(&mut h, &[(5000, 30.0)]).await.is_empty());
    let closed = feed(&mut h, &[(8000, 40.0)]).await;
    assert_eq!(closed.len(), 1);
    assert_eq!(span(&closed[0]), (4000, 8000));
    assert_eq!(closed[0]["complete"], true);
    close_to(&closed[0]["stats"]["machine.temperature"]["avg"], 30.0);
    // `null` restores the manifest's value.
    let out = windows(
        h.set_desired(&json!({"window-size-ms": null}))
            .await
            .unwrap(),
    );
    assert_eq!(span(&out[0]), (8000, 12_000));
    assert_eq!(h.reported()["config"]["window-size-ms"], 10_000);
    assert_eq!(h.reported()["configSource"], "init");
}

#[tokio::test]
async fn a_bad_desired_config_is_refused_and_the_old_one_stays() {
    let mut h = load(&[
        ("window-size-ms", "10000"),
        ("hop-ms", "5000"),
        ("late-tolerance-ms", "0"),
    ])
    .await;
    assert!(feed(&mut h, &[(1000, 10.0)]).await.is_empty());
    let err = h.set_desired(&json!({"hop-ms": 20_000})).await.unwrap_err();
    assert!(matches!(err, HarnessError::Guest { .. }), "{err}");
    assert!(
        err.to_string().contains("`hop-ms`") && err.to_string().contains("refused"),
        "{err}"
    );
    let reported = h.reported();
    assert!(
        reported["configError"]
            .as_str()
            .unwrap()
            .contains("`hop-ms`"),
        "{reported}"
    );
    assert_eq!(reported["config"]["hop-ms"], 5000);
    assert_eq!(reported["configSource"], "init");
    let err = h.set_desired(&json!({"window-size": 5})).await.unwrap_err();
    assert!(
        err.to_string().contains("unknown key `window-size`"),
        "{err}"
    );
    // The open windows were kept and the old windows still apply.
    let out = feed(&mut h, &[(12_000, 20.0)]).await;
    let spans: Vec<_> = out.iter().map(span).collect();
    assert_eq!(spans, vec![(-5000, 5000), (0, 10_000)]);
    assert!(
        out.iter()
            .all(|w| w["complete"] == true && w["events"] == 1)
    );
    // Fixing both keys is accepted and clears the error.
    let fixed = json!({"hop-ms": 2500, "window-size": null});
    h.set_desired(&fixed).await.unwrap();
    let reported = h.reported();
    assert!(reported.get("configError").is_none(), "{reported}");
    assert_eq!(reported["config"]["hop-ms"], 2500);
    assert_eq!(reported["desiredVersion"], 3);
}

#[tokio::test]
async fn aggregates_what_temp_sensor_sends() {
    let mut sensor = ModuleHarness::load(
        "sensor",
        Path::new(TEMP_SENSOR),
        &config(&[("seed", "7"), ("messages", "3")]),
    )
    .await
    .unwrap();
    let size = 3_600_000u64;
    let size_text = size.to_string();
    let mut h = load(&[("window-size-ms", &size_text), ("late-tolerance-ms", "0")]).await;
    let mut readings = Vec::new();
    for _ in 0..3 {
        for (_, msg) in sensor.fire_timer(1).await.unwrap() {
            assert!(h.send("temperatureInput", &msg).await.unwrap().is_empty());
            let body: Value = serde_json::from_slice(&msg.body).unwrap();
            let t = body["machine"]["temperature"].as_f64().unwrap();
            readings.push((msg.system.creation_time_ms.unwrap() / size, t));
        }
    }
    assert_eq!(readings.len(), 3);
    // A reading an hour later closes every window the sensor's readings are in.
    let mut later = reading(0, 0.0, 0.0, "x");
    later.system.creation_time_ms = Some((readings[2].0 + 1) * size);
    let out = windows(h.send("input1", &later).await.unwrap());
    assert!(!out.is_empty());
    for w in &out {
        assert_eq!(w["key"], "sensor", "keyed by the sending module");
        let k = w["windowStartMs"].as_u64().unwrap() / size;
        let temps: Vec<f64> = readings.iter().filter(|r| r.0 == k).map(|r| r.1).collect();
        let t = &w["stats"]["machine.temperature"];
        assert_eq!(t["count"], temps.len());
        close_to(&t["avg"], temps.iter().sum::<f64>() / temps.len() as f64);
        close_to(&t["max"], temps.iter().copied().fold(f64::MIN, f64::max));
    }
    let total: u64 = out.iter().map(|w| w["events"].as_u64().unwrap()).sum();
    assert_eq!(total, 3);
}
