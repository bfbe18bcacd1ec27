//! Reading the gateway's metrics endpoint: a sample's value in the
//! Prometheus text exposition.

// Test support: a failed expectation is a panic, with what was seen.
#![allow(clippy::panic)]

/// The value of the sample `series` (a metric name with its labels, as the
/// gateway writes them) in `text`. Panics with the text if there is none.
pub fn metric(text: &str, series: &str) -> f64 {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '));
    match line.map(str::parse) {
        Some(Ok(v)) => v,
        _ => panic!("no sample {series} in:\n{text}"),
    }
}
