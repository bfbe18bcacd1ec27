//! Cloud control against a real mosquitto and a real component
//! (`tests/modules/twin-probe`): desired twins reach the module (also after
//! the gateway was offline while they changed), its reports come back as the
//! retained reported document and as twin change notifications, and direct
//! methods answer with the module's status, or 404, 413 and 504.

use crate::support::collect_until;
use ganglion::{Gateway, GatewayOptions, Manifest};
use ganglion_tests::artifacts::TWIN_PROBE;
use ganglion_tests::broker::Broker;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, PublishProperties};
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc;

const DEVICE: &str = "gw-ctl";

/// A message the cloud side received: topic, payload and the `status` user
/// property if any.
type Got = (String, Vec<u8>, Option<String>);

/// The operator's side: a client subscribed to the device's whole tree.
struct Cloud {
    client: AsyncClient,
    rx: mpsc::UnboundedReceiver<Got>,
}

impl Cloud {
    async fn connect(port: u16) -> Cloud {
        let mut options = MqttOptions::new("ctl-cloud", "127.0.0.1", port);
        options.set_max_packet_size(Some(1024 * 1024));
        let (client, mut eventloop) = AsyncClient::new(options, 100);
        let (tx, rx) = mpsc::unbounded_channel();
        let (ready_tx, mut ready) = mpsc::channel(1);
        let sub = client.clone();
        tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        sub.subscribe(format!("ganglion/{DEVICE}/#"), QoS::AtLeastOnce)
                            .await
                            .unwrap();
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        let _ = ready_tx.try_send(());
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let status = p.properties.as_ref().and_then(|props| {
                            props
                                .user_properties
                                .iter()
                                .find(|(k, _)| k == "status")
                                .map(|(_, v)| v.clone())
                        });
                        let topic = String::from_utf8_lossy(&p.topic).into_owned();
                        if tx.send((topic, p.payload.to_vec(), status)).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), ready.recv())
            .await
            .expect("subscribed");
        Cloud { client, rx }
    }

    async fn set_desired(&self, twin: &str, doc: Value) {
        self.client
            .publish(
                format!("ganglion/{DEVICE}/twins/{twin}/desired"),
                QoS::AtLeastOnce,
                true,
                doc.to_string(),
            )
            .await
            .unwrap();
    }

    /// Waits for a message on `topic` whose JSON satisfies `want`.
    async fn until(&mut self, topic: &str, mut want: impl FnMut(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some((t, payload, _))) if t == topic => {
                    let v: Value = serde_json::from_slice(&payload).unwrap_or(Value::Null);
                    if want(&v) {
                        return v;
                    }
                }
                Ok(Some(_)) => {}
                _ => panic!("nothing on {topic} as wanted within 20 s"),
            }
        }
    }

    /// Calls a method and returns (status, payload).
    async fn invoke(
        &mut self,
        module: &str,
        method: &str,
        payload: Vec<u8>,
        timeout: u64,
    ) -> (u16, Value) {
        let id = format!("req-{module}-{method}-{}", payload.len());
        let response_topic = format!("ganglion/{DEVICE}/method-responses/{id}");
        let props = PublishProperties {
            response_topic: Some(response_topic.clone()),
            correlation_data: Some(id.clone().into_bytes().into()),
            user_properties: vec![("timeout-secs".into(), timeout.to_string())],
            ..Default::default()
        };
        self.client
            .publish_with_properties(
                format!("ganglion/{DEVICE}/methods/{module}/{method}"),
                QoS::AtLeastOnce,
                false,
                payload,
                props,
            )
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout + 10);
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some((t, payload, status))) if t == response_topic => {
                    let status = status.expect("a status").parse().unwrap();
                    return (status, serde_json::from_slice(&payload).unwrap());
                }
                Ok(Some(_)) => {}
                _ => panic!("no answer to {module}.{method}"),
            }
        }
    }
}

fn manifest(dir: &Path) -> Manifest {
    let text = format!(
        "[modules.probe]\npath = \"{}\"\ncpu-deadline-ms = 20000\n\n[routes]\n\
         twins = \"FROM /twinChangeNotifications INTO $upstream\"\n",
        ganglion_tests::toml_path(TWIN_PROBE)
    );
    Manifest::load(&ganglion_tests::write_manifest(dir, &text)).unwrap()
}

fn options(dir: &Path, broker: &Broker) -> GatewayOptions {
    let uplink = crate::support::fast_uplink(&broker.url(), DEVICE);
    {
        let mut o = GatewayOptions::new(dir.join("data"));
        o.uplink = Some(uplink);
        o
    }
}

fn reported_topic() -> String {
    format!("ganglion/{DEVICE}/twins/probe/reported")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desired_reaches_the_module_and_reports_come_back_also_after_being_offline() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path()).unwrap();
    let mut cloud = Cloud::connect(broker.port()).await;
    let m = manifest(dir.path());
    let mut gw = Gateway::start_with(&m, &options(dir.path(), &broker))
        .await
        .unwrap();
    let mut up = gw.subscribe_upstream();

    cloud
        .set_desired("probe", json!({"$version": 1, "threshold": 30}))
        .await;
    let reported = cloud
        .until(&reported_topic(), |v| v["seen"]["threshold"] == 30)
        .await;
    assert!(reported["$version"].as_u64().unwrap() >= 1);
    // The report was routed as a twin change notification too.
    let notes = collect_until(&mut up, Duration::from_secs(10), |g| {
        g.iter()
            .any(|m| String::from_utf8_lossy(&m.message.body).contains("\"threshold\":30"))
    })
    .await;
    let note = notes.last().unwrap();
    assert_eq!(
        note.message.system.connection_module_id.as_deref(),
        Some("probe")
    );
    // The module reads its desired twin through the import.
    let (status, desired) = cloud.invoke("probe", "desired", b"{}".to_vec(), 10).await;
    assert_eq!((status, &desired["threshold"]), (200, &json!(30)));
    assert_eq!(desired["$version"], 1);
    gw.shutdown().await;

    // Offline, the desired twin changes twice; the retained document is the
    // latest.
    cloud
        .set_desired("probe", json!({"$version": 2, "threshold": 31}))
        .await;
    cloud
        .set_desired(
            "probe",
            json!({"$version": 3, "threshold": 32, "mode": "fast"}),
        )
        .await;
    let gw = Gateway::start_with(&m, &options(dir.path(), &broker))
        .await
        .unwrap();
    let reported = cloud
        .until(&reported_topic(), |v| {
            v["seen"]["threshold"] == 32 && v["seen"]["mode"] == "fast"
        })
        .await;
    assert_eq!(reported["seen"], json!({"threshold": 32, "mode": "fast"}));

    // A stale document is ignored; one over the limits is refused and shown
    // in the status, and the last good one stays.
    cloud
        .set_desired("probe", json!({"$version": 2, "threshold": 1}))
        .await;
    cloud
        .set_desired("probe", json!({"$version": 4, "bad key": 1}))
        .await;
    let status = cloud
        .until(&format!("ganglion/{DEVICE}/status"), |v| {
            v["twinErrors"]["probe"].is_string()
        })
        .await;
    assert!(
        status["twinErrors"]["probe"]
            .as_str()
            .unwrap()
            .contains("bad key"),
        "{status}"
    );
    assert_eq!(status["modules"]["probe"]["runtimeStatus"], "running");
    let (_, desired) = cloud.invoke("probe", "desired", b"{}".to_vec(), 10).await;
    assert_eq!(desired["threshold"], 32, "the last good desired twin stays");
    assert_eq!(desired["$version"], 3);
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_methods_answer_with_a_status() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path()).unwrap();
    let mut cloud = Cloud::connect(broker.port()).await;
    let gw = Gateway::start_with(&manifest(dir.path()), &options(dir.path(), &broker))
        .await
        .unwrap();
    cloud
        .until(&format!("ganglion/{DEVICE}/online"), |v| *v == json!(true))
        .await;

    let (status, answer) = cloud
        .invoke("probe", "echo", br#"{"hello": [1, 2]}"#.to_vec(), 10)
        .await;
    assert_eq!((status, answer), (200, json!({"hello": [1, 2]})));
    let (status, answer) = cloud.invoke("probe", "fail", b"null".to_vec(), 10).await;
    assert_eq!(
        (status, answer["message"].as_str()),
        (418, Some("I am a teapot"))
    );
    let (status, _) = cloud.invoke("ghost", "echo", b"{}".to_vec(), 10).await;
    assert_eq!(status, 404, "a module that does not exist");
    let (status, _) = cloud.invoke("probe", "nothing", b"{}".to_vec(), 10).await;
    assert_eq!(status, 404, "the module's own 404 for a method it lacks");
    let big = format!("\"{}\"", "x".repeat(130 * 1024)).into_bytes();
    let (status, _) = cloud.invoke("probe", "echo", big, 10).await;
    assert_eq!(status, 413, "a request over 128 KB");
    let (status, _) = cloud.invoke("probe", "big", b"{}".to_vec(), 10).await;
    assert_eq!(status, 413, "an answer over 128 KB");
    let (status, _) = cloud
        .invoke("probe", "echo", b"not json".to_vec(), 10)
        .await;
    assert_eq!(status, 400);
    let (status, answer) = cloud
        .invoke("probe", "spin", br#"{"ms": 7000}"#.to_vec(), 5)
        .await;
    assert_eq!(status, 504, "{answer}");
    // The module finishes the spin, and answers again.
    let (status, _) = cloud.invoke("probe", "echo", b"1".to_vec(), 10).await;
    assert_eq!(status, 200);
    let (status, answer) = cloud.invoke("probe", "trap", b"{}".to_vec(), 10).await;
    assert_eq!(status, 500, "{answer}");
    gw.shutdown().await;
}
