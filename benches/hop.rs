//! Module hop: one message through the wasm temp-filter module (host → guest →
//! `send` → back to the host), against the same filter as a native Rust
//! function. Half the messages are above the threshold, as in the issue. The
//! wasm call is measured with and without its CPU deadline (epoch
//! interruption), and with the instance pool a gateway uses; and the relay
//! test module, which does not parse the body, shows the cost of a call
//! itself. Batches of 16 and 64 messages (`ganglion:module@0.2.0`'s
//! `on-messages`, as a gateway delivers what waits in a queue) show what one
//! call per batch saves; the relay built against 0.1.0 takes the same batches
//! one `on-message` call each. Every row is per message.

// Benchmark set-up: a failure is a broken benchmark, reported by a panic.
#![allow(clippy::expect_used, clippy::panic)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ganglion::harness::ModuleHarness;
use ganglion::message::{IdGenerator, new_message};
use ganglion::runtime::alloc::{Allocation, PoolSize};
use ganglion::runtime::grants::Grants;
use ganglion::runtime::{Runtime, RuntimeOptions};
use ganglion_benches::{native_filter, reading};
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
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

/// The filter in a runtime set up by `options`.
fn filter(rt: &tokio::runtime::Runtime, options: RuntimeOptions<'_>) -> ModuleHarness {
    let config = vec![("threshold".to_string(), "25".to_string())];
    load(rt, options, ganglion_tests::artifacts::TEMP_FILTER, &config)
}

fn load(
    rt: &tokio::runtime::Runtime,
    options: RuntimeOptions<'_>,
    component: &str,
    config: &[(String, String)],
) -> ModuleHarness {
    let runtime = Arc::new(Runtime::with_options(options).expect("runtime"));
    rt.block_on(ModuleHarness::load_in(
        runtime,
        "filter",
        Path::new(component),
        config,
        &Grants::default(),
    ))
    .unwrap_or_else(|e| panic!("load {component}: {e}"))
}

/// Times `iters` calls of `harness` on the messages, in turn.
fn calls(
    rt: &tokio::runtime::Runtime,
    harness: &mut ModuleHarness,
    input: &str,
    msgs: &[ganglion::Message],
    iters: u64,
) -> Duration {
    rt.block_on(async {
        let start = Instant::now();
        for i in 0..iters {
            let msg = &msgs[(i % 2) as usize];
            let out = harness.send(input, msg).await.expect("module call");
            black_box(out);
        }
        start.elapsed()
    })
}

/// Times `iters` messages through `harness` in batches of `size` (the
/// last one shorter), as the gateway hands a queue's waiting messages.
fn batches(
    rt: &tokio::runtime::Runtime,
    harness: &mut ModuleHarness,
    input: &str,
    msgs: &[ganglion::Message],
    size: usize,
    iters: u64,
) -> Duration {
    let batch: Vec<ganglion::Message> = (0..size).map(|i| msgs[i % 2].clone()).collect();
    rt.block_on(async {
        let start = Instant::now();
        let mut left = iters as usize;
        while left > 0 {
            let n = left.min(size);
            let out = harness.send_batch(input, &batch[..n]).await;
            assert!(out.fault.is_none() && out.failed.is_empty(), "{out:?}");
            black_box(out);
            left -= n;
        }
        start.elapsed()
    })
}

/// The batch sizes measured besides single messages.
const BATCHES: [usize; 2] = [16, 64];

fn hop(c: &mut Criterion) {
    ganglion::allocator::configure();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    // wasmtime's default allocation (4 GiB reserved per memory, no bounds
    // checks), with and without the CPU deadline, and the pool a gateway
    // reserves (memory slots of 64 MiB: explicit bounds checks).
    let cases = [
        ("wasm temp-filter", RuntimeOptions::default()),
        (
            "wasm temp-filter, no CPU deadline",
            RuntimeOptions {
                deadlines: false,
                ..RuntimeOptions::default()
            },
        ),
        (
            "wasm temp-filter, pooled as in a gateway",
            RuntimeOptions {
                allocation: Allocation::Pooling(PoolSize::for_limits(1, 0)),
                ..RuntimeOptions::default()
            },
        ),
    ];
    let msgs = messages();
    let mut group = c.benchmark_group("module-hop");
    group.warm_up_time(ganglion_benches::WARM_UP);
    group.measurement_time(ganglion_benches::MEASUREMENT);
    group.throughput(Throughput::Elements(1));
    for (name, options) in cases {
        let mut harness = filter(&rt, options);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| calls(&rt, &mut harness, "input1", &msgs, iters))
        });
    }
    // The floor under any module: the same message through the relay test
    // module, which parses no body and sends every message on.
    let mut relay = load(
        &rt,
        RuntimeOptions::default(),
        ganglion_tests::artifacts::RELAY,
        &[],
    );
    group.bench_function("wasm relay (no body parsing)", |b| {
        b.iter_custom(|iters| calls(&rt, &mut relay, "in", &msgs, iters))
    });
    let mut filter_batched = filter(&rt, RuntimeOptions::default());
    let mut relay_v0_1 = load(
        &rt,
        RuntimeOptions::default(),
        ganglion_tests::artifacts::RELAY_V0_1,
        &[],
    );
    for size in BATCHES {
        group.bench_function(format!("wasm temp-filter, batches of {size}"), |b| {
            b.iter_custom(|iters| batches(&rt, &mut filter_batched, "input1", &msgs, size, iters))
        });
        group.bench_function(format!("wasm relay, batches of {size}"), |b| {
            b.iter_custom(|iters| batches(&rt, &mut relay, "in", &msgs, size, iters))
        });
        group.bench_function(
            format!("wasm relay 0.1.0, batches of {size} (a call each)"),
            |b| b.iter_custom(|iters| batches(&rt, &mut relay_v0_1, "in", &msgs, size, iters)),
        );
    }
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
