//! The manifests the benchmark runs: the demo deployment, with or without
//! idle relays, and the ten-module deployment of the cold starts.

use ganglion_tests::artifacts::{
    COUNTER, DRIFT_MONITOR, FAN_SENSOR, RELAY, TEMP_FILTER, TEMP_SENSOR, WINDOW_STATS,
};
use ganglion_tests::toml_path;

const DEMO_ROUTES: &str = r#"
[routes]
sensor-to-filter = 'FROM /messages/modules/temp-sensor/outputs/temperatureOutput INTO BrokeredEndpoint("/modules/temp-filter/inputs/input1")'
alerts-to-cloud = 'FROM /messages/modules/temp-filter/outputs/output1 INTO $upstream'
"#;

/// The charts of `demo/deployment.toml`'s web page.
const DEMO_CHARTS: &str = r#"
[[metrics.chart]]
route = "sensor-to-filter"
path = "machine.temperature"

[[metrics.chart]]
route = "alerts-to-cloud"
path = "machine.temperature"

[[metrics.chart]]
route = "sensor-to-filter"
path = "ambient.humidity"
"#;

/// The demo deployment with its web page's charts.
pub fn demo_with_charts() -> String {
    demo_manifest(0) + DEMO_CHARTS
}

/// `demo/deployment.toml` with this build's component paths, and
/// `extra_relays` idle relays.
pub fn demo_manifest(extra_relays: usize) -> String {
    let mut m = format!(
        "[modules.temp-sensor]\npath = \"{}\"\nconfig = {{ interval-ms = 500, messages = 0 }}\n\n\
         [modules.temp-filter]\npath = \"{}\"\nconfig = {{ threshold = 25 }}\n",
        toml_path(TEMP_SENSOR),
        toml_path(TEMP_FILTER)
    );
    for i in 1..=extra_relays {
        m.push_str(&format!(
            "\n[modules.relay-{i}]\npath = \"{}\"\n",
            toml_path(RELAY)
        ));
    }
    m.push_str(DEMO_ROUTES);
    m
}

/// 10 modules of 7 components; the sensor's readings all pass the filter to
/// `$upstream`, one every 10 ms.
pub fn cold_manifest() -> String {
    let module = |name: &str, path: &str, config: &str| {
        format!(
            "[modules.{name}]\npath = \"{}\"\n{config}\n",
            toml_path(path)
        )
    };
    [
        module(
            "temp-sensor",
            TEMP_SENSOR,
            "config = { interval-ms = 10, messages = 0 }",
        ),
        module("temp-filter", TEMP_FILTER, "config = { threshold = 0 }"),
        module("relay-1", RELAY, ""),
        module("relay-2", RELAY, ""),
        module("relay-3", RELAY, ""),
        module("counter-1", COUNTER, ""),
        module("counter-2", COUNTER, ""),
        module("window-stats", WINDOW_STATS, ""),
        module("drift-monitor", DRIFT_MONITOR, ""),
        module(
            "fan-sensor",
            FAN_SENSOR,
            "config = { interval-ms = 3600000 }",
        ),
        DEMO_ROUTES.to_string(),
    ]
    .join("\n")
}
