//! The predictive-maintenance chain as real components: fan-sensor (a
//! simulated fan that wears out and can drift), drift-monitor (PSI of the
//! live readings against the training bins in `ml/models/reference.json`),
//! and fan-sensor → window-stats → fan-health.
//!
//! The unshifted stream is the held-out readings of `ml/models/golden.json`
//! (80 fans the models never saw, so a sample of the training population);
//! the shifted one is the same readings with the temperature 4 °C high, a
//! miscalibrated sensor. Expected scores over the default window of 500
//! (computed with the same bins in Python): 0.088 unshifted (worst feature
//! `hours`), 0.674 shifted (`temperature`).

use crate::support::{config, json_body as body, json_message, on};
use ganglion::harness::{HarnessError, ModuleHarness};
use ganglion::message::{Message, new_message, property};
use ganglion_tests::artifacts::{DRIFT_MONITOR, FAN_HEALTH, FAN_SENSOR, WINDOW_STATS};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The drift monitor's default alert level: the usual "significant shift".
const DEFAULT_THRESHOLD: f64 = 0.2;
/// The temperature offset of the shifted stream, °C.
const SHIFT_CELSIUS: f64 = 4.0;
/// fan-sensor's reading timer.
const TICK: u32 = 1;
/// 2023-11-14T22:13:20Z: a multiple of the window-stats window used here.
const T0: u64 = 1_700_000_000_000;

/// The held-out readings of golden.json, flat, in file order.
fn golden_readings() -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ml/models/golden.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run `cargo xtask train`", path.display()));
    let golden: Value = serde_json::from_str(&text).unwrap();
    let readings: Vec<Value> = golden["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            json!({"device": "golden", "temperature": c["temperature"], "vibration": c["vibration"],
                   "pressure": c["pressure"], "hours": c["hours"]})
        })
        .collect();
    assert_eq!(readings.len(), 500, "the tests assume 500 golden readings");
    readings
}

/// `readings` with the temperature `SHIFT_CELSIUS` higher.
fn shifted(readings: &[Value]) -> Vec<Value> {
    readings
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r["temperature"] = json!(r["temperature"].as_f64().unwrap() + SHIFT_CELSIUS);
            r
        })
        .collect()
}

async fn load_monitor(pairs: &[(&str, &str)]) -> ModuleHarness {
    ModuleHarness::load("drift", Path::new(DRIFT_MONITOR), &config(pairs))
        .await
        .unwrap()
}

/// The `drift` object of the monitor's reported twin.
fn drift(h: &ModuleHarness) -> Value {
    let reported = h.reported();
    assert!(reported["drift"].is_object(), "no `drift` in {reported}");
    reported["drift"].clone()
}

fn overall(h: &ModuleHarness) -> f64 {
    drift(h)["overall"].as_f64().unwrap()
}

/// Sends every reading; returns the alerts sent, checking that nothing else
/// was.
async fn feed(h: &mut ModuleHarness, readings: &[Value]) -> Vec<Value> {
    let mut alerts = Vec::new();
    for r in readings {
        let out = h.send("input1", &json_message(r)).await.unwrap();
        for (output, msg) in &out {
            assert_eq!(output, "alerts");
            assert_eq!(property(msg, "MessageType"), Some("Alert"));
            alerts.push(body(msg));
        }
    }
    alerts
}

#[tokio::test]
async fn drift_monitor_scores_golden_low_and_a_shifted_stream_high_once_per_crossing() {
    let golden = golden_readings();
    let hot = shifted(&golden);
    // The defaults: window 500, threshold 0.2, all four features.
    let mut h = load_monitor(&[("report-every", "100")]).await;
    let d = drift(&h);
    assert_eq!(d["windowFill"], 0);
    assert_eq!(d["window"], 500);
    assert_eq!(d["threshold"], DEFAULT_THRESHOLD);
    assert_eq!(d["overall"], Value::Null);

    // Unshifted: below the threshold, no alert.
    assert!(feed(&mut h, &golden[..250]).await.is_empty());
    assert_eq!(drift(&h)["windowFill"], 200, "reported every 100 readings");
    assert!(feed(&mut h, &golden[250..]).await.is_empty());
    let d = drift(&h);
    let unshifted = overall(&h);
    eprintln!("drift-monitor, golden readings: {d}");
    assert_eq!(
        (&d["windowFill"], &d["readings"]),
        (&json!(500), &json!(500))
    );
    assert!(unshifted < 0.1, "unshifted PSI {unshifted}");
    assert_eq!(d["above"], false);
    assert_eq!(d["alerts"], 0);
    for name in ["temperature", "vibration", "pressure", "hours"] {
        let psi = d["psi"][name].as_f64().unwrap();
        assert!((0.0..=unshifted).contains(&psi), "{name}: {psi}");
    }
    let temperature_before = d["psi"]["temperature"].as_f64().unwrap();

    // Shifted: one alert when the score crosses, none while it stays above.
    let alerts = feed(&mut h, &hot).await;
    let d = drift(&h);
    let shifted_score = overall(&h);
    eprintln!("drift-monitor, temperature +{SHIFT_CELSIUS} °C: {d}");
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let alert = &alerts[0];
    assert_eq!(alert["worstFeature"], "temperature");
    assert_eq!(alert["threshold"], DEFAULT_THRESHOLD);
    assert_eq!(alert["window"], 500);
    let at_alert = alert["overall"].as_f64().unwrap();
    assert!(at_alert > DEFAULT_THRESHOLD, "{alert}");
    assert_eq!(alert["psi"]["temperature"].as_f64().unwrap(), at_alert);
    assert!(shifted_score > 0.5, "shifted PSI {shifted_score}");
    assert_eq!(d["worstFeature"], "temperature");
    assert!(d["psi"]["temperature"].as_f64().unwrap() > 10.0 * temperature_before);
    assert_eq!((&d["above"], &d["alerts"]), (&json!(true), &json!(1)));
    // The other features did not move: the window holds the same readings.
    assert!(d["psi"]["hours"].as_f64().unwrap() < 0.1, "{d}");

    // Back to normal re-arms without an alert; the next shift alerts again.
    assert!(feed(&mut h, &golden).await.is_empty());
    let d = drift(&h);
    assert_eq!(d["above"], false);
    assert!(
        (overall(&h) - unshifted).abs() < 1e-12,
        "same window, same score"
    );
    let alerts = feed(&mut h, &hot).await;
    assert_eq!(alerts.len(), 1, "one alert per crossing: {alerts:?}");
    let d = drift(&h);
    assert_eq!((&d["alerts"], &d["readings"]), (&json!(2), &json!(2000)));
    assert!((overall(&h) - shifted_score).abs() < 1e-12);
}

#[tokio::test]
async fn drift_monitor_takes_its_threshold_from_the_desired_twin_without_a_restart() {
    let golden = golden_readings();
    let hot = shifted(&golden);
    let mut h = load_monitor(&[]).await;
    // The gateway tells the whole (empty) desired twin at start.
    assert!(h.tell_whole_desired().await.unwrap().is_empty());
    assert!(
        h.set_desired(&json!({"threshold": 1.0}))
            .await
            .unwrap()
            .is_empty()
    );
    let d = drift(&h);
    assert_eq!(
        (&d["threshold"], &d["thresholdSource"]),
        (&json!(1.0), &json!("desired"))
    );

    // Above 0.2 but below the desired 1.0: no alert.
    assert!(feed(&mut h, &hot).await.is_empty());
    let score = overall(&h);
    assert!(score > DEFAULT_THRESHOLD && score < 1.0, "{score}");
    assert_eq!(drift(&h)["above"], false);

    // Lowering it below the score alerts at once, from the twin change.
    let out = h
        .set_desired(&json!({"threshold": score / 2.0}))
        .await
        .unwrap();
    let alerts = on(&out, "alerts");
    assert_eq!((out.len(), alerts.len()), (1, 1), "{out:?}");
    assert_eq!(property(alerts[0], "MessageType"), Some("Alert"));
    let alert = body(alerts[0]);
    assert_eq!(alert["threshold"], score / 2.0);
    assert!((alert["overall"].as_f64().unwrap() - score).abs() < 1e-12);
    assert_eq!(drift(&h)["above"], true);
    // The same level again changes nothing; readings above it do not repeat it.
    assert!(
        h.set_desired(&json!({"threshold": score / 2.0}))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(feed(&mut h, &hot[..50]).await.is_empty());

    // Raising it above the score re-arms; `null` restores the config's 0.2,
    // which the score is above: a second alert.
    assert!(
        h.set_desired(&json!({"threshold": score * 2.0}))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(drift(&h)["above"], false);
    let out = h.set_desired(&json!({"threshold": null})).await.unwrap();
    assert_eq!(on(&out, "alerts").len(), 1, "{out:?}");
    assert_eq!(body(on(&out, "alerts")[0])["threshold"], DEFAULT_THRESHOLD);
    let d = drift(&h);
    assert_eq!(
        (&d["threshold"], &d["thresholdSource"]),
        (&json!(DEFAULT_THRESHOLD), &json!("config"))
    );
    assert_eq!(d["alerts"], 2);
    // Five patches so far.
    assert_eq!(h.reported()["desiredVersion"], 5);

    // A bad desired value or key is refused, and the threshold stays.
    for (patch, needle) in [
        (json!({"threshold": -1}), "`threshold`"),
        (json!({"threshold": "high"}), "`threshold`"),
        (json!({"window": 10}), "`window` is unknown"),
    ] {
        let err = h.set_desired(&patch).await.unwrap_err();
        assert!(matches!(err, HarnessError::Guest { .. }), "{err}");
        assert!(err.to_string().contains(needle), "{patch}: {err}");
        h.set_desired(&json!({"threshold": null, "window": null}))
            .await
            .unwrap();
    }
    assert_eq!(drift(&h)["threshold"], DEFAULT_THRESHOLD);

    // Junk is an error naming the problem; the window is left as it was.
    let fill = drift(&h)["windowFill"].clone();
    let readings = drift(&h)["readings"].clone();
    let mut missing = golden[0].clone();
    missing.as_object_mut().unwrap().remove("pressure");
    for (msg, needle) in [
        (new_message(b"{".to_vec()), "not JSON"),
        (json_message(&json!(7)), "expected a JSON object"),
        (json_message(&missing), "`pressure` is missing"),
        (
            json_message(&json!({"machine": {"temperature": "hot"}})),
            "`temperature` is not a number",
        ),
    ] {
        let err = h.send("input1", &msg).await.unwrap_err();
        assert!(matches!(err, HarnessError::Guest { .. }), "{err}");
        assert!(err.to_string().contains(needle), "{err}");
    }
    // The nested shape is a reading too.
    let nested = json!({"machine": golden[0].clone()});
    h.send("input1", &json_message(&nested)).await.unwrap();
    h.set_desired(&json!({"report-every": 1})).await.unwrap();
    let d = drift(&h);
    assert_eq!(d["badReadings"], 4);
    assert_eq!(d["windowFill"], fill);
    assert_eq!(d["readings"].as_u64(), readings.as_u64().map(|n| n + 1));
    assert_eq!(d["reportEvery"], 1);
}

#[tokio::test]
async fn drift_monitor_refuses_a_bad_config_and_watches_only_the_features_named() {
    for (pairs, needle) in [
        (vec![("window", "5")], "`window`"),
        (vec![("window", "many")], "`window`"),
        (vec![("threshold", "0")], "`threshold`"),
        (vec![("report-every", "0")], "`report-every`"),
        (vec![("features", "temperature,speed")], "`speed`"),
        (vec![("features", "hours,hours")], "twice"),
        (vec![("windw", "500")], "unknown config key `windw`"),
    ] {
        let err = ModuleHarness::load("drift", Path::new(DRIFT_MONITOR), &config(&pairs))
            .await
            .err()
            .unwrap_or_else(|| panic!("{pairs:?} was accepted"));
        assert!(matches!(err, HarnessError::Guest { .. }), "{err}");
        assert!(err.to_string().contains(needle), "{pairs:?}: {err}");
    }
    // Without `hours`, a reading need not have it, and only the named
    // features are scored.
    let mut h = load_monitor(&[("features", "vibration,pressure"), ("window", "20")]).await;
    let golden = golden_readings();
    let mut out = Vec::new();
    for r in &golden[..20] {
        let mut r = r.clone();
        r.as_object_mut().unwrap().remove("hours");
        out.extend(h.send("input1", &json_message(&r)).await.unwrap());
    }
    h.set_desired(&json!({"report-every": 1})).await.unwrap();
    let d = drift(&h);
    let names: Vec<&String> = d["psi"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["pressure", "vibration"]);
    assert_eq!(d["windowFill"], 20);
    // The full window alerts exactly when its score is above the threshold.
    assert_eq!(
        on(&out, "alerts").len(),
        usize::from(overall(&h) > DEFAULT_THRESHOLD)
    );
}

async fn load_sensor(pairs: &[(&str, &str)]) -> ModuleHarness {
    ModuleHarness::load("fan", Path::new(FAN_SENSOR), &config(pairs))
        .await
        .unwrap()
}

/// Fires the reading timer `n` times; returns the readings sent.
async fn tick(h: &mut ModuleHarness, n: usize) -> Vec<Message> {
    let mut readings = Vec::new();
    for _ in 0..n {
        for (output, msg) in h.fire_timer(TICK).await.unwrap() {
            assert_eq!(output, "readings");
            readings.push(msg);
        }
    }
    readings
}

fn field(msg: &Message, name: &str) -> f64 {
    body(msg)[name]
        .as_f64()
        .unwrap_or_else(|| panic!("no `{name}` in {}", body(msg)))
}

#[tokio::test]
async fn fan_sensor_is_repeatable_wears_out_drifts_from_the_desired_twin_and_refuses_bad_config() {
    let base = [
        ("device", "fan-7"),
        ("seed", "42"),
        ("start-hours", "100"),
        ("hours-per-reading", "2"),
        ("life-hours", "1000"),
    ];
    let mut a = load_sensor(&base).await;
    let mut b = load_sensor(&base).await;
    let mut other_seed = base.to_vec();
    other_seed[1] = ("seed", "43");
    let mut c = load_sensor(&other_seed).await;

    // The same seed gives the same readings; another seed, others.
    let (ra, rb, rc) = (
        tick(&mut a, 20).await,
        tick(&mut b, 20).await,
        tick(&mut c, 20).await,
    );
    assert_eq!(ra.len(), 20);
    for (i, (x, y)) in ra.iter().zip(&rb).enumerate() {
        assert_eq!(x.body, y.body, "reading {i}");
        assert_eq!(
            property(x, "sequenceNumber"),
            Some((i + 1).to_string().as_str())
        );
        let v = body(x);
        assert_eq!(v["device"], "fan-7");
        assert_eq!(
            v["hours"],
            100.0 + 2.0 * i as f64,
            "hours advance by 2 each"
        );
    }
    assert!(
        ra.iter()
            .zip(&rc)
            .all(|(x, y)| field(x, "temperature") != field(y, "temperature"))
    );
    assert_eq!(a.reported()["fan"]["constants"]["lifeHours"], 1000.0);
    assert_eq!(a.reported()["fan"]["seed"], 42);

    // Drift from the desired twin, without a restart: b stays clean, and a's
    // temperature moves away from it by 0.5 °C more at each reading.
    a.set_desired(&json!({"drift-per-reading": 0.5}))
        .await
        .unwrap();
    let (da, db) = (tick(&mut a, 10).await, tick(&mut b, 10).await);
    for (k, (x, y)) in da.iter().zip(&db).enumerate() {
        let expected = 0.5 * (k + 1) as f64;
        let diff = field(x, "temperature") - field(y, "temperature");
        assert!(
            (diff - expected).abs() < 1e-9,
            "reading {k}: {diff} vs {expected}"
        );
        for name in ["vibration", "pressure", "hours"] {
            assert_eq!(field(x, name), field(y, name), "{name}");
        }
    }
    let reported = a.reported();
    assert_eq!(reported["drift"]["perReading"], 0.5);
    assert_eq!(reported["drift"]["feature"], "temperature");
    // `null` restores the config's drift (none): the offset stays where it got.
    a.set_desired(&json!({"drift-per-reading": null}))
        .await
        .unwrap();
    let (da, db) = (tick(&mut a, 5).await, tick(&mut b, 5).await);
    for (x, y) in da.iter().zip(&db) {
        let diff = field(x, "temperature") - field(y, "temperature");
        assert!((diff - 5.0).abs() < 1e-9, "{diff}");
    }
    // Reported at the desired change, after the ten drifting readings.
    let reported = a.reported();
    assert_eq!(reported["drift"]["perReading"], 0.0);
    assert!((reported["drift"]["offset"].as_f64().unwrap() - 5.0).abs() < 1e-9);
    assert_eq!(reported["sent"], 30);
    assert_eq!(reported["hours"], 160.0, "the next reading's");
    let err = a.set_desired(&json!({"drift": 1})).await.unwrap_err();
    assert!(err.to_string().contains("`drift` is unknown"), "{err}");

    // Wear: b is at hours 100 + 2·35 = 170; 416 readings later it is at the
    // end of its life (1000 h) and the bearing has failed: vibration up by
    // about 9 mm/s, temperature by about 30 °C.
    let first = &ra[0];
    let rest = tick(&mut b, 416).await;
    let last = rest.last().unwrap();
    assert_eq!(field(last, "hours"), 1000.0);
    assert!(field(last, "vibration") > field(first, "vibration") + 6.0);
    assert!(field(last, "temperature") > field(first, "temperature") + 20.0);
    assert!(field(last, "pressure") < field(first, "pressure"));

    // `messages` stops the sensor.
    let mut few = load_sensor(&[("messages", "3")]).await;
    assert_eq!(tick(&mut few, 5).await.len(), 3);
    assert_eq!(few.reported()["sent"], 3);

    for (pairs, needle) in [
        (vec![("life-hours", "-5")], "`life-hours`"),
        (
            vec![("start-hours", "900"), ("life-hours", "800")],
            "`start-hours`",
        ),
        (vec![("hours-per-reading", "0")], "`hours-per-reading`"),
        (vec![("seed", "x")], "`seed`"),
        (vec![("interval-ms", "0")], "`interval-ms`"),
        (vec![("drift-feature", "speed")], "`drift-feature`"),
        (vec![("drift-per-reading", "NaN")], "`drift-per-reading`"),
        (vec![("colour", "red")], "unknown config key `colour`"),
    ] {
        let err = ModuleHarness::load("fan", Path::new(FAN_SENSOR), &config(&pairs))
            .await
            .err()
            .unwrap_or_else(|| panic!("{pairs:?} was accepted"));
        assert!(matches!(err, HarnessError::Guest { .. }), "{err}");
        assert!(err.to_string().contains(needle), "{pairs:?}: {err}");
    }
}

/// The single prediction among `out`: (device, abnormal probability, RUL).
fn prediction(out: &[(String, Message)]) -> (Value, f64, f64) {
    let predictions = on(out, "output1");
    assert_eq!(predictions.len(), 1, "{out:?}");
    assert_eq!(property(predictions[0], "MessageType"), Some("Prediction"));
    let v = body(predictions[0]);
    (
        v["device"].clone(),
        v["abnormal_probability"].as_f64().unwrap(),
        v["rul_hours"].as_f64().unwrap(),
    )
}

#[tokio::test]
async fn fan_sensor_through_window_stats_into_fan_health_predicts_a_falling_rul() {
    // A fan 300 h from the end of its life, 1 h per reading.
    let mut sensor = load_sensor(&[
        ("device", "fan-9"),
        ("seed", "7"),
        ("start-hours", "700"),
        ("life-hours", "1000"),
    ])
    .await;
    let mut stats = ModuleHarness::load(
        "stats",
        Path::new(WINDOW_STATS),
        &config(&[
            ("window-size-ms", "10000"),
            ("late-tolerance-ms", "0"),
            ("fields", "temperature,vibration,pressure,hours"),
            ("key-by", "field:device"),
            ("flush-interval-ms", "0"),
        ]),
    )
    .await
    .unwrap();
    // One reading a second of event time: a window of 10 readings.
    let mut windows = Vec::new();
    for (i, mut msg) in tick(&mut sensor, 311).await.into_iter().enumerate() {
        msg.system.creation_time_ms = Some(T0 + 1000 * i as u64);
        for (output, window) in stats.send("input1", &msg).await.unwrap() {
            assert_eq!(output, "output1");
            windows.push(window);
        }
    }
    assert_eq!(windows.len(), 31);

    let started = std::time::Instant::now();
    let mut health = ModuleHarness::load("health", Path::new(FAN_HEALTH), &[])
        .await
        .unwrap();
    eprintln!("fan-health loaded in {:?}", started.elapsed());
    let mut ruls = Vec::new();
    let mut orders = 0;
    for window in &windows {
        let w = body(window);
        assert_eq!((&w["key"], &w["events"]), (&json!("fan-9"), &json!(10)));
        let out = health.send("input1", window).await.unwrap();
        let (device, _, rul) = prediction(&out);
        assert_eq!(device, "fan-9", "the device is the window's key");
        orders += on(&out, "orders").len();
        ruls.push((w["stats"]["hours"]["avg"].as_f64().unwrap(), rul));
    }
    eprintln!("fan-health on fan-sensor windows, (mean hours, predicted RUL): {ruls:?}");
    let (first, last) = (ruls[0].1, ruls[ruls.len() - 1].1);
    assert!(first > 150.0, "300 h from the end: RUL {first}");
    assert!(last < 24.0, "at the end of life: RUL {last}");
    assert_eq!(orders, 1, "one purchase order for fan-9");

    // The prediction is the one on the window's averages as a flat reading.
    let w = body(&windows[25]);
    let avg = |name: &str| w["stats"][name]["avg"].clone();
    let flat = json!({"device": "fan-9", "temperature": avg("temperature"),
        "vibration": avg("vibration"), "pressure": avg("pressure"), "hours": avg("hours")});
    let from_flat = prediction(&health.send("input1", &json_message(&flat)).await.unwrap());
    let from_window = prediction(&health.send("input1", &windows[25]).await.unwrap());
    assert_eq!(from_flat, from_window);
    // Fields under `machine.` (window-stats over the nested shape) work too.
    let mut nested = w.clone();
    let stats_map = nested["stats"].as_object_mut().unwrap();
    for name in ["temperature", "vibration", "pressure", "hours"] {
        let s = stats_map.remove(name).unwrap();
        stats_map.insert(format!("machine.{name}"), s);
    }
    let from_nested = prediction(&health.send("input1", &json_message(&nested)).await.unwrap());
    assert_eq!(from_nested, from_window);
    // A window without a value of a feature is an error that names it.
    let mut empty = w.clone();
    empty["stats"]["vibration"] =
        json!({"count": 0, "avg": null, "min": null, "max": null, "stddev": null});
    let err = health
        .send("input1", &json_message(&empty))
        .await
        .unwrap_err();
    assert!(matches!(err, HarnessError::Guest { .. }), "{err}");
    assert!(err.to_string().contains("no `vibration` values"), "{err}");
}

#[tokio::test]
async fn a_simulated_fleet_scores_like_training_until_its_sensors_drift() {
    let features = ("features", "temperature,vibration,pressure");
    let mut steady = load_sensor(&[("fleet", "true"), ("seed", "11")]).await;
    let steady: Vec<Value> = tick(&mut steady, 600).await.iter().map(body).collect();
    let hours: Vec<f64> = steady
        .iter()
        .map(|r| r["hours"].as_f64().unwrap())
        .collect();
    assert!(
        hours.windows(2).any(|w| w[1] < w[0]),
        "each reading is a fan of its own, at its own age"
    );
    let mut monitor = load_monitor(&[("window", "300"), features]).await;
    assert!(feed(&mut monitor, &steady).await.is_empty(), "no alert");
    let calm = overall(&monitor);
    assert!(
        calm < 0.2,
        "an undrifted fleet is near training: PSI {calm}"
    );

    // +0.01 °C a reading: +6 °C after 600 readings.
    let mut drifting = load_sensor(&[
        ("fleet", "true"),
        ("seed", "11"),
        ("drift-per-reading", "0.01"),
    ])
    .await;
    let drifting: Vec<Value> = tick(&mut drifting, 600).await.iter().map(body).collect();
    let mut monitor = load_monitor(&[("window", "300"), features]).await;
    let alerts = feed(&mut monitor, &drifting).await;
    assert_eq!(alerts.len(), 1, "one alert for the crossing: {alerts:?}");
    let drifted = overall(&monitor);
    assert!(
        drifted > 0.2 && drifted > 2.0 * calm,
        "PSI {calm} → {drifted}"
    );
    assert_eq!(
        drift(&monitor)["worstFeature"],
        "temperature",
        "{}",
        drift(&monitor)
    );
}
