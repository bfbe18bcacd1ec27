//! Inference per message: fan-health's two ONNX models (tract) on one fan
//! reading, inside the wasm component (through the module harness: JSON in,
//! both models, JSON out, host calls), against the same code compiled
//! natively — fan-health's own `reading.rs` and `model.rs`, included here —
//! doing the same work (parse, both models, serialize). It also prints the
//! component's linear memory after the run.

// Benchmark set-up: a failure is a broken benchmark, reported by a panic.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

#[path = "../example-modules/fan-health/src/model.rs"]
mod model;
#[path = "../example-modules/fan-health/src/reading.rs"]
mod reading;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ganglion::harness::ModuleHarness;
use ganglion::message::new_message;
use ganglion_benches::results::{Row, Table};
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

/// Readings of healthy fans from the held-out set (no order is due).
fn readings() -> Vec<Vec<u8>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ml/models/golden.json");
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    golden["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["rul_hours"].as_f64().unwrap() > 100.0)
        .take(16)
        .map(|c| {
            serde_json::json!({
                "device": "fan-1",
                "temperature": c["temperature"],
                "vibration": c["vibration"],
                "pressure": c["pressure"],
                "hours": c["hours"],
            })
            .to_string()
            .into_bytes()
        })
        .collect()
}

fn inference(c: &mut Criterion) {
    ganglion::allocator::configure();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let bodies = readings();
    let msgs: Vec<_> = bodies.iter().map(|b| new_message(b.clone())).collect();
    let mut fan = rt
        .block_on(ModuleHarness::load(
            "fan-health",
            Path::new(ganglion_tests::artifacts::FAN_HEALTH),
            &[],
        ))
        .expect("load fan-health");
    let models = model::Models::load().expect("models");
    let mut group = c.benchmark_group("fan-health inference");
    group.warm_up_time(ganglion_benches::WARM_UP);
    group.measurement_time(ganglion_benches::MEASUREMENT);
    group.throughput(Throughput::Elements(1));
    group.bench_function("wasm fan-health (per message)", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    let msg = &msgs[i as usize % msgs.len()];
                    black_box(fan.send("in", msg).await.expect("prediction"));
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("native fan-health code (per message)", |b| {
        let mut i = 0usize;
        b.iter(|| {
            let r = reading::Reading::from_body(&bodies[i % bodies.len()]).expect("reading");
            let p = models.predict(&r.features).expect("prediction");
            i += 1;
            black_box(serde_json::to_vec(&p).expect("json"))
        })
    });
    group.bench_function("native models only", |b| {
        let r = reading::Reading::from_body(&bodies[0]).expect("reading");
        b.iter(|| black_box(models.predict(&r.features).expect("prediction")))
    });
    group.finish();
    let kib = |bytes: u64| bytes as f64 / 1024.0;
    Table {
        id: "inference-memory".into(),
        rows: vec![
            Row::new(
                "fan-health linear memory after the run",
                "KiB",
                vec![kib(fan.memory_bytes() as u64)],
            ),
            Row::new(
                "fan-health `.wasm` on disk",
                "KiB",
                vec![kib(std::fs::metadata(
                    ganglion_tests::artifacts::FAN_HEALTH,
                )
                .expect("fan-health component")
                .len())],
            ),
        ],
        notes: Vec::new(),
    }
    .publish()
    .expect("results");
}

criterion_group!(benches, inference);
criterion_main!(benches);
