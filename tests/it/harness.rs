//! The module harness runs one built module directly: what module authors use
//! to unit-test a module.

use crate::support::config;
use ganglion::harness::{HarnessError, ModuleHarness};
use ganglion::message::{new_message, property};
use ganglion_tests::artifacts::{TEMP_FILTER, TEMP_SENSOR, TRAPPER};
use std::path::Path;

#[tokio::test]
async fn the_filter_alerts_above_threshold_and_refuses_non_readings() {
    let mut filter = ModuleHarness::load(
        "filter",
        Path::new(TEMP_FILTER),
        &config(&[("threshold", "30")]),
    )
    .await
    .unwrap();
    let hot = new_message(br#"{"machine":{"temperature":30.5}}"#.to_vec());
    let out = filter.send("input1", &hot).await.unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, "output1");
    assert_eq!(property(&out[0].1, "MessageType"), Some("Alert"));
    assert_eq!(
        out[0].1.system.connection_module_id.as_deref(),
        Some("filter")
    );
    let cool = new_message(br#"{"machine":{"temperature":30.0}}"#.to_vec());
    assert!(filter.send("input1", &cool).await.unwrap().is_empty());
    let junk = new_message(b"not json".to_vec());
    let err = filter.send("input1", &junk).await.unwrap_err();
    assert!(matches!(err, HarnessError::Guest { .. }), "{err}");
    assert!(err.to_string().contains("not a reading"), "{err}");
    // An ordinary error leaves the module usable.
    assert_eq!(filter.send("input1", &hot).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_bad_config_value_fails_init_with_the_key_named() {
    let err = ModuleHarness::load(
        "filter",
        Path::new(TEMP_FILTER),
        &config(&[("threshold", "hot")]),
    )
    .await
    .err()
    .unwrap();
    let text = err.to_string();
    assert!(
        text.contains("`threshold`") && text.contains("`hot`"),
        "{text}"
    );
}

#[tokio::test]
async fn the_sensor_sends_a_simulated_reading_per_tick() {
    let mut sensor = ModuleHarness::load(
        "sensor",
        Path::new(TEMP_SENSOR),
        &config(&[("seed", "42"), ("messages", "2")]),
    )
    .await
    .unwrap();
    let mut last = 0.0;
    for seq in 1..=2 {
        let out = sensor.fire_timer(1).await.unwrap();
        assert_eq!(out.len(), 1);
        let (output, msg) = &out[0];
        assert_eq!(output, "temperatureOutput");
        assert_eq!(msg.system.content_type.as_deref(), Some("application/json"));
        assert_eq!(
            property(msg, "sequenceNumber"),
            Some(seq.to_string().as_str())
        );
        let v: serde_json::Value = serde_json::from_slice(&msg.body).unwrap();
        let t = v["machine"]["temperature"].as_f64().unwrap();
        assert!(
            (21.0..=100.0).contains(&t) && t >= last,
            "temperature rises: {t}"
        );
        last = t;
        assert!(v["machine"]["pressure"].is_number(), "{v}");
        assert!(v["ambient"]["temperature"].is_number() && v["ambient"]["humidity"].is_number());
        assert!(v["timeCreated"].as_str().unwrap().ends_with('Z'));
    }
    assert!(
        sensor.fire_timer(1).await.unwrap().is_empty(),
        "stops after `messages`"
    );
}

#[tokio::test]
async fn a_trap_is_reported_as_a_trap() {
    let mut trapper = ModuleHarness::load("trapper", Path::new(TRAPPER), &[])
        .await
        .unwrap();
    let err = trapper
        .send("in", &new_message(b"trap".to_vec()))
        .await
        .unwrap_err();
    assert!(matches!(err, HarnessError::Trap { .. }), "{err}");
    assert!(
        err.to_string().contains("module `trapper` trapped"),
        "{err}"
    );
}

#[tokio::test]
async fn the_harness_tells_the_linear_memory_a_module_has() {
    let mut hog = ModuleHarness::load("hog", Path::new(ganglion_tests::artifacts::HOG), &[])
        .await
        .unwrap();
    let before = hog.memory_bytes();
    assert!(before >= 64 * 1024, "at least one page at start: {before}");
    let out = hog
        .send("in", &new_message(b"try:4".to_vec()))
        .await
        .unwrap();
    assert_eq!(out.len(), 1);
    let after = hog.memory_bytes();
    assert!(
        after >= before + 4 * 1024 * 1024,
        "a 4 MiB allocation grows the memory: {before} -> {after}"
    );
}
