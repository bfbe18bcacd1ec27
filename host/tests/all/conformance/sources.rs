//! Route sources as edgeHub reads them: a source is a prefix of the message's
//! path (`/messages/modules/<m>/outputs/<o>`, `/twinChangeNotifications`),
//! level by level, with or without a trailing `/*`.
//!
//! The routes and what each must take come from edgeHub's RoutingTest
//! (Azure/iotedge,
//! `edge-hub/core/test/Microsoft.Azure.Devices.Edge.Hub.Core.Test/routing/RoutingTest.cs`):
//! its device `device1` on edge device `edge`, and its modules `ml`, `asa`,
//! `mod1`, `mod2`. edgeHub's modules may also send on no output at all
//! (`MultipleRoutesTest_WithNoModuleOutput`); a ganglion module always names
//! one, so that test's cases are read with output `op1`, which every source
//! naming only the module takes, as edgeHub's does.

use ganglion::Manifest;
use ganglion::manifest::import::import_azure;
use ganglion::message::{Message, new_message};
use ganglion::route::{MessageView, Origin, Sink, Source, parse_route};

/// Where a test message comes from, with its application properties.
#[derive(Clone, Copy)]
struct Sent {
    origin: Origin<'static>,
    properties: &'static [(&'static str, &'static str)],
}

const fn device(properties: &'static [(&'static str, &'static str)]) -> Sent {
    Sent {
        origin: Origin::Device("device1"),
        properties,
    }
}

const fn module(
    module: &'static str,
    output: &'static str,
    properties: &'static [(&'static str, &'static str)],
) -> Sent {
    Sent {
        origin: Origin::Module { module, output },
        properties,
    }
}

const TWIN: Sent = Sent {
    origin: Origin::TwinChange,
    properties: &[],
};

impl Sent {
    /// The message as edgeHub's test sends it: system properties set by the
    /// hub for the connection it came on.
    fn message(&self) -> Message {
        let mut m = new_message(b"Message body".to_vec());
        match self.origin {
            Origin::Device(id) => m.system.connection_device_id = Some(id.into()),
            Origin::Module { module, .. } => {
                m.system.connection_device_id = Some("edge".into());
                m.system.connection_module_id = Some(module.into());
            }
            Origin::TwinChange => m.system.connection_device_id = Some("edge".into()),
        }
        for (k, v) in self.properties {
            m.properties.push(((*k).into(), (*v).into()));
        }
        m
    }
}

/// (edgeHub test, route, message, taken).
type Case = (&'static str, &'static str, Sent, bool);

const CASES: &[Case] = &[
    (
        "RouteToCloudTest",
        "FROM /messages INTO $upstream",
        device(&[]),
        true,
    ),
    (
        "RouteToCloudTest",
        "FROM /messages INTO $upstream",
        module("mod1", "op1", &[]),
        true,
    ),
    (
        "RouteToModuleTest",
        r#"FROM /messages INTO BrokeredEndpoint("/modules/mod1/inputs/in1")"#,
        device(&[]),
        true,
    ),
    (
        "MultipleRoutesTest",
        r#"FROM /messages/* WHERE $connectionDeviceId = 'device1' INTO BrokeredEndpoint("/modules/ml/inputs/in1")"#,
        device(&[]),
        true,
    ),
    (
        "MultipleRoutesTest",
        r#"FROM /messages/* WHERE $connectionDeviceId = 'device1' INTO BrokeredEndpoint("/modules/ml/inputs/in1")"#,
        module("ml", "op1", &[]),
        false,
    ),
    (
        "MultipleRoutesTest",
        r#"FROM /messages/modules/ml WHERE $connectionModuleId = 'ml' INTO BrokeredEndpoint("/modules/asa/inputs/input1")"#,
        device(&[]),
        false,
    ),
    (
        "MultipleRoutesTest",
        r#"FROM /messages/modules/ml WHERE $connectionModuleId = 'ml' INTO BrokeredEndpoint("/modules/asa/inputs/input1")"#,
        module("ml", "op1", &[]),
        true,
    ),
    (
        "MultipleRoutesTest",
        r#"FROM /messages/modules/ml WHERE $connectionModuleId = 'ml' INTO BrokeredEndpoint("/modules/asa/inputs/input1")"#,
        module("asa", "output1", &[]),
        false,
    ),
    (
        "MultipleRoutesTest",
        "FROM /messages/modules/asa/outputs/output1 INTO $upstream",
        module("asa", "output1", &[]),
        true,
    ),
    (
        "MultipleRoutesTest",
        "FROM /messages/modules/asa/outputs/output1 INTO $upstream",
        module("ml", "op1", &[]),
        false,
    ),
    (
        "MultipleRoutesTest",
        "FROM /messages/modules/asa/outputs/output1 INTO $upstream",
        device(&[]),
        false,
    ),
    (
        "MultipleRoutesSameModuleTest",
        r#"FROM /messages/modules/ml/outputs/op1 WHERE $connectionModuleId = 'ml' INTO BrokeredEndpoint("/modules/ml/inputs/in2")"#,
        module("ml", "op1", &[]),
        true,
    ),
    (
        "MultipleRoutesSameModuleTest",
        r#"FROM /messages/modules/ml/outputs/op1 WHERE $connectionModuleId = 'ml' INTO BrokeredEndpoint("/modules/ml/inputs/in2")"#,
        module("ml", "op2", &[]),
        false,
    ),
    (
        "MultipleRoutesSameModuleTest",
        r#"FROM /messages/modules/ml/outputs/op2 INTO BrokeredEndpoint("/modules/asa/inputs/input1")"#,
        module("ml", "op2", &[]),
        true,
    ),
    (
        "MultipleRoutesSameModuleTest",
        r#"FROM /messages/modules/ml/outputs/op2 INTO BrokeredEndpoint("/modules/asa/inputs/input1")"#,
        module("ml", "op1", &[]),
        false,
    ),
    (
        "MultipleRoutesTest_WithNoModuleOutput",
        r#"FROM /messages WHERE $connectionDeviceId = 'device1' INTO BrokeredEndpoint("/modules/ml/inputs/in1")"#,
        device(&[]),
        true,
    ),
    (
        "MultipleRoutesTest_WithNoModuleOutput",
        r#"FROM /messages/modules/ml INTO BrokeredEndpoint("/modules/asa/inputs/input1")"#,
        module("ml", "op1", &[]),
        true,
    ),
    (
        "MultipleRoutesTest_WithNoModuleOutput",
        r#"FROM /messages/modules/ml INTO BrokeredEndpoint("/modules/asa/inputs/input1")"#,
        device(&[]),
        false,
    ),
    (
        "MultipleRoutesTest_WithNoModuleOutput",
        "FROM /messages/modules/asa/* INTO $upstream",
        module("asa", "op1", &[]),
        true,
    ),
    (
        "MultipleRoutesTest_WithNoModuleOutput",
        "FROM /messages/modules/asa/* INTO $upstream",
        module("ml", "op1", &[]),
        false,
    ),
    (
        "RoutesWithConditionsTest1",
        r#"FROM /messages WHERE as_number(temp) > 50 INTO BrokeredEndpoint("/modules/ml/inputs/in1")"#,
        device(&[("temp", "100")]),
        true,
    ),
    (
        "RoutesWithConditionsTest1",
        r#"FROM /messages/modules/ml WHERE messageType = 'alert' INTO BrokeredEndpoint("/modules/asa/inputs/input1")"#,
        module("ml", "op1", &[("messageType", "alert")]),
        true,
    ),
    (
        "RoutesWithConditionsTest1",
        "FROM /messages/modules/asa/outputs/output1 WHERE info = 'aggregate' INTO $upstream",
        module("asa", "output1", &[("info", "aggregate")]),
        true,
    ),
    (
        "RoutesWithConditionsTest2",
        r#"FROM /messages WHERE as_number(temp) > 50 INTO BrokeredEndpoint("/modules/mod1/inputs/in1")"#,
        device(&[("temp", "20")]),
        false,
    ),
    (
        "RoutesWithConditionsTest2",
        r#"FROM /messages/* WHERE as_number(temp) < 50 INTO BrokeredEndpoint("/modules/mod2/inputs/in2")"#,
        device(&[("temp", "20")]),
        true,
    ),
    (
        "ReportedPropertyUpdatesAsTelemetryTest",
        "FROM /* INTO $upstream",
        TWIN,
        true,
    ),
    (
        "ReportedPropertyUpdatesAsTelemetryTest",
        "FROM /* INTO $upstream",
        device(&[]),
        true,
    ),
    (
        "TestRoutingTwinChangeNotificationFromDevice",
        r#"FROM /twinChangeNotifications INTO BrokeredEndpoint("/modules/mod1/inputs/in1")"#,
        TWIN,
        true,
    ),
    (
        "TestRoutingTwinChangeNotificationFromDevice",
        r#"FROM /twinChangeNotifications INTO BrokeredEndpoint("/modules/mod1/inputs/in1")"#,
        device(&[]),
        false,
    ),
    // A twin change notification is not a message: `/messages` does not take it.
    (
        "RouteToCloudTest",
        "FROM /messages INTO $upstream",
        TWIN,
        false,
    ),
];

#[test]
fn sources_take_what_edgehub_routing_test_routes() {
    let mut failures = Vec::new();
    for (test, text, from, want) in CASES {
        let route = match parse_route(text) {
            Ok(route) => route,
            Err(e) => {
                failures.push(format!("{test}: {text}: does not compile: {e}"));
                continue;
            }
        };
        let message = from.message();
        let got = route.accepts(from.origin, &MessageView::new(&message));
        if got != *want {
            failures.push(format!(
                "{test}: {text}: a message from {:?} {} it",
                from.origin,
                if got { "takes" } else { "does not take" }
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// edgeHub's source forms in a `deployment.json`: imported, each reads as the
/// source edgeHub would use, and the manifest is valid once the component paths
/// are filled in.
#[test]
fn a_deployment_with_every_source_form_imports() {
    let forms = [
        ("all", "FROM /* INTO $upstream", Source::All),
        ("root", "FROM / INTO $upstream", Source::All),
        (
            "messages",
            "FROM /messages INTO $upstream",
            Source::AllMessages,
        ),
        (
            "messagesStar",
            "FROM /messages/* INTO $upstream",
            Source::AllMessages,
        ),
        (
            "modules",
            "FROM /messages/modules INTO $upstream",
            Source::AllModules,
        ),
        (
            "modulesStar",
            "FROM /messages/modules/* INTO $upstream",
            Source::AllModules,
        ),
        (
            "ml",
            "FROM /messages/modules/ml INTO $upstream",
            Source::Module("ml".into()),
        ),
        (
            "mlStar",
            "FROM /messages/modules/ml/* INTO $upstream",
            Source::Module("ml".into()),
        ),
        (
            "mlOutputs",
            "FROM /messages/modules/ml/outputs INTO $upstream",
            Source::Module("ml".into()),
        ),
        (
            "mlOutputsStar",
            "FROM /messages/modules/ml/outputs/* INTO $upstream",
            Source::Module("ml".into()),
        ),
        (
            "mlOp1",
            r#"FROM /messages/modules/ml/outputs/op1 INTO BrokeredEndpoint("/modules/asa/inputs/input1")"#,
            Source::ModuleOutput("ml".into(), "op1".into()),
        ),
        (
            "twin",
            "FROM /twinChangeNotifications INTO $upstream",
            Source::TwinChangeNotifications,
        ),
    ];
    let routes: serde_json::Map<String, serde_json::Value> = forms
        .iter()
        .map(|(name, text, _)| ((*name).to_string(), (*text).into()))
        .collect();
    let module = serde_json::json!({
        "type": "docker", "status": "running", "restartPolicy": "always",
        "settings": {"image": "example.invalid/m:1"}
    });
    let deployment = serde_json::json!({"modulesContent": {
        "$edgeAgent": {"properties.desired": {"modules": {"ml": module, "asa": module}}},
        "$edgeHub": {"properties.desired": {"schemaVersion": "1.0", "routes": routes}}
    }});
    let imported = import_azure(&deployment.to_string()).expect("imports");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.wasm"), b"not loaded by this test").unwrap();
    let filled = imported.toml.replace("path = \"\"", "path = \"m.wasm\"");
    let manifest = Manifest::parse(&filled, "imported.toml", dir.path())
        .unwrap_or_else(|e| panic!("{e}\n{filled}"));
    for (name, text, source) in forms {
        let route = manifest
            .routes
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("route {name} was not imported"));
        assert_eq!(route.route.source, source, "{name}: {text}");
    }
    let op1 = manifest.routes.iter().find(|r| r.name == "mlOp1").unwrap();
    assert_eq!(
        op1.route.sink,
        Sink::ModuleInput("asa".into(), "input1".into())
    );
}
