//! Module hop: one message through the wasm temp-filter module (host → guest →
//! `send` → back to the host), against the same filter as a native Rust
//! function. Half the messages are above the threshold, as in the issue.

// Benchmark set-up: a failure is a broken benchmark, reported by a panic.
#![allow(clippy::expect_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ganglion::harness::ModuleHarness;
use ganglion::message::{IdGenerator, new_message};
use ganglion_benches::{native_filter, reading};
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

fn messages() -> Vec<ganglion::Message> {
    [20.0, 30.0]
        .iter()
        .map(|t| {
            let mut m = new_message(reading(*t));
            m.system.content_type = Some("application/json".into());
            m.system.content_encoding = Some("utf-8".into());
            m
        })
        .collect()
}

fn hop(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let config = vec![("threshold".to_string(), "25".to_string())];
    let mut harness = rt
        .block_on(ModuleHarness::load(
            "filter",
            Path::new(ganglion_tests::artifacts::TEMP_FILTER),
            &config,
        ))
        .expect("load temp-filter");
    let msgs = messages();
    let mut group = c.benchmark_group("module-hop");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("wasm temp-filter", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    let msg = &msgs[(i % 2) as usize];
                    let out = harness.send("input1", msg).await.expect("filter call");
                    black_box(out);
                }
                start.elapsed()
            })
        })
    });
    let ids = IdGenerator::new();
    group.bench_function("native temp-filter", |b| {
        let mut i = 0usize;
        b.iter(|| {
            let mut out = Vec::new();
            native_filter(&msgs[i % 2], 25.0, &ids, &mut out).expect("filter");
            i += 1;
            black_box(out)
        })
    });
    group.finish();
}

criterion_group!(benches, hop);
criterion_main!(benches);
