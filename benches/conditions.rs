//! Route condition evaluation: a compiled condition against one message, for a
//! simple application-property comparison and a `$body` query; and what a
//! chart on the web page costs the router per message of its route: reading
//! the number at its body path and recording it into the series.

// Benchmark set-up: a failure is a broken benchmark, reported by a panic.
#![allow(clippy::expect_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ganglion::message::{new_message, now_ms};
use ganglion::metrics::series::{ChartSpec, Series};
use ganglion::route::{BodyPath, Condition, MessageView, Tri};
use ganglion_benches::reading;
use std::hint::black_box;

fn conditions(c: &mut Criterion) {
    ganglion::allocator::configure();
    let mut msg = new_message(reading(30.0));
    msg.system.content_type = Some("application/json".into());
    msg.system.content_encoding = Some("utf-8".into());
    msg.properties.push(("MessageType".into(), "Alert".into()));
    let property = Condition::compile("MessageType = 'Alert'").expect("compiles");
    let body = Condition::compile("$body.machine.temperature > 25").expect("compiles");
    assert_eq!(property.evaluate(&MessageView::new(&msg)), Tri::True);
    assert_eq!(body.evaluate(&MessageView::new(&msg)), Tri::True);

    let mut group = c.benchmark_group("condition");
    group.warm_up_time(ganglion_benches::WARM_UP);
    group.measurement_time(ganglion_benches::MEASUREMENT);
    group.throughput(Throughput::Elements(1));
    group.bench_function("property = 'Alert'", |b| {
        b.iter(|| black_box(property.evaluate(&MessageView::new(black_box(&msg)))))
    });
    group.bench_function("$body.machine.temperature > 25", |b| {
        b.iter(|| black_box(body.evaluate(&MessageView::new(black_box(&msg)))))
    });
    let path = BodyPath::compile("machine.temperature").expect("compiles");
    let series = Series::new(ChartSpec {
        route: "alerts".into(),
        path: path.clone(),
        title: "temperature".into(),
    });
    assert_eq!(MessageView::new(&msg).number(&path), Some(30.0));
    group.bench_function(
        "chart point: read $body.machine.temperature, record it",
        |b| {
            b.iter(|| {
                let view = MessageView::new(black_box(&msg));
                if let Some(v) = view.number(&path) {
                    series.record(now_ms(), v);
                }
            })
        },
    );
    group.finish();
}

criterion_group!(benches, conditions);
criterion_main!(benches);
