//! The local web page (`/`), loaded in a real headless Chromium (Debian's
//! `chromium`, which `cargo xtask test` installs) over the DevTools
//! protocol: on the demo deployment its charts fill with the sensor's
//! readings, and its module table says what `/metrics` says. A screenshot
//! is saved under the tests' output folder. Its data feeds (`/api/state`,
//! `/api/events`) are checked over plain HTTP too: the token, the series'
//! points, and an event stream that ends when the gateway stops.

use ganglion::{Gateway, GatewayOptions, Manifest};
use ganglion_tests::artifacts::{TEMP_FILTER, TEMP_SENSOR};
use ganglion_tests::eventually::retry;
use ganglion_tests::prometheus::metric;
use ganglion_tests::toml_path;
use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::{Browser, LaunchOptions};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);
const TOKEN: &str = "page-token-0123456789";

/// `demo/deployment.toml` as shipped (its charts included), with this
/// build's components and the sensor sending every 100 ms, so that the
/// alerts start within a second or two; `metrics` appended to `[metrics]`.
fn demo(dir: &Path, metrics: &str) -> Manifest {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("demo/deployment.toml")).unwrap();
    let built = "\"../target/guests/wasm32-wasip2/release/";
    let text = text
        .replace(
            &format!("{built}temp_sensor.wasm\""),
            &format!("\"{}\"", toml_path(TEMP_SENSOR)),
        )
        .replace(
            &format!("{built}temp_filter.wasm\""),
            &format!("\"{}\"", toml_path(TEMP_FILTER)),
        )
        .replace("interval-ms = 500", "interval-ms = 100");
    assert!(
        !text.contains(built),
        "the demo loads another module:\n{text}"
    );
    let text = format!("[metrics]\n{metrics}\n\n{text}");
    Manifest::load(&ganglion_tests::write_manifest(dir, &text)).unwrap()
}

async fn start(m: &Manifest, dir: &Path) -> (Gateway, SocketAddr) {
    let mut options = GatewayOptions::new(dir.join("data"));
    options.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    let gw = Gateway::start_with(m, &options).await.unwrap();
    assert!(
        gw.failed_to_start().is_empty(),
        "{:?}",
        gw.failed_to_start()
    );
    let addr = gw.metrics_addr().expect("the endpoint runs");
    (gw, addr)
}

/// `GET path` on `addr` with `token`: the status and the body.
async fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, String) {
    let (status, _, body) = crate::endpoint::http_get(addr, path, token).await;
    (status, body)
}

/// Debian's chromium, or `$CHROMIUM`.
fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.exists(),
        "{} is missing: `cargo xtask test` installs Debian's chromium (apt-get install chromium), or set CHROMIUM",
        path.display()
    );
    path
}

/// What the browser read off the page.
struct Seen {
    /// The module table: per row, its name and each `data-field`'s value
    /// (the byte count for memory cells).
    modules: Vec<Value>,
    /// The routes table's rates, by route.
    rates: Value,
    /// Points per chart, by series key.
    points: Value,
    screenshot: Vec<u8>,
}

/// Loads `url` in headless Chromium, waits until every chart of `series`
/// has at least `points` points and the routes have rates, and reads the
/// page.
fn browse(url: &str, series: &[&str], points: u64) -> Seen {
    let no_shm = std::ffi::OsStr::new("--disable-dev-shm-usage");
    let options = LaunchOptions::default_builder()
        .path(Some(chromium()))
        .sandbox(false)
        .window_size(Some((1280, 1100)))
        .args(vec![no_shm])
        .idle_browser_timeout(WAIT)
        .build()
        .unwrap();
    let browser = Browser::new(options).expect("chromium starts");
    let tab = browser.new_tab().unwrap();
    tab.navigate_to(url)
        .unwrap()
        .wait_until_navigated()
        .unwrap();
    let read = |js: &str| -> Value {
        let result = tab.evaluate(js, false).unwrap();
        let text = result.value.and_then(|v| v.as_str().map(str::to_string));
        serde_json::from_str(&text.unwrap_or_else(|| "null".into())).unwrap()
    };
    let counts = r##"JSON.stringify(Object.fromEntries([...document.querySelectorAll(".chart")]
        .map(c => [c.dataset.series, Number(c.dataset.points)])))"##;
    let rates = r##"JSON.stringify(Object.fromEntries([...document.querySelectorAll("#routes tbody tr")]
        .map(r => [r.dataset.route, r.querySelector('[data-field="rate"]').textContent])))"##;
    let deadline = Instant::now() + WAIT;
    loop {
        let seen = read(counts);
        let filled = series
            .iter()
            .all(|s| seen[*s].as_u64().is_some_and(|n| n >= points));
        let rated = read(rates)
            .as_object()
            .is_some_and(|r| !r.is_empty() && r.values().all(|v| v != "–"));
        if filled && rated {
            break;
        }
        let status = read(r#"JSON.stringify(document.getElementById("live").textContent)"#);
        assert!(
            Instant::now() < deadline,
            "the charts did not fill: {seen} (page: {status})"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let modules = read(
        r##"JSON.stringify([...document.querySelectorAll("#modules tbody tr")].map(tr =>
            Object.fromEntries([...tr.querySelectorAll("td")].map(td =>
                [td.dataset.field, td.dataset.bytes ?? td.textContent]))))"##,
    );
    let screenshot = tab
        .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
        .unwrap();
    Seen {
        modules: modules.as_array().cloned().unwrap_or_default(),
        rates: read(rates),
        points: read(counts),
        screenshot,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_charts_the_demo_and_agrees_with_metrics_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let m = demo(dir.path(), "");
    let (gw, addr) = start(&m, dir.path()).await;
    let readings = "sensor-to-filter|machine.temperature";
    let alerts = "alerts-to-cloud|machine.temperature";
    let url = format!("http://{addr}/");
    let seen = tokio::task::spawn_blocking(move || browse(&url, &[readings, alerts], 3))
        .await
        .unwrap();
    let (_, scrape) = get(addr, "/metrics", None).await;

    // Three charts, as the demo manifest names them.
    assert_eq!(
        seen.points.as_object().map(|o| o.len()),
        Some(3),
        "{}",
        seen.points
    );
    // The table's values are the endpoint's: the page read them first, so
    // a counter may have moved on since, never back.
    assert_eq!(seen.modules.len(), 2, "{:?}", seen.modules);
    for row in &seen.modules {
        let name = row["name"].as_str().unwrap();
        let series = |family: &str| format!("{family}{{module=\"{name}\"}}");
        let number = |field: &str| row[field].as_str().unwrap().parse::<f64>().unwrap();
        assert_eq!(row["status"], "running", "{row}");
        let running = format!("ganglion_module_status{{module=\"{name}\",status=\"running\"}}");
        assert_eq!(metric(&scrape, &running), 1.0);
        assert_eq!(
            number("restarts"),
            metric(&scrape, &series("ganglion_module_restarts_total"))
        );
        assert_eq!(
            number("limit"),
            metric(&scrape, &series("ganglion_module_memory_limit_bytes"))
        );
        assert!(number("memory") > 0.0, "{row}");
        for (field, family) in [
            ("received", "ganglion_module_messages_received_total"),
            ("sent", "ganglion_module_messages_sent_total"),
        ] {
            let (page, now) = (number(field), metric(&scrape, &series(family)));
            assert!(page <= now, "{name} {field}: page {page}, /metrics {now}");
        }
    }
    let sensor = seen
        .modules
        .iter()
        .find(|r| r["name"] == "temp-sensor")
        .unwrap();
    assert!(sensor["sent"].as_str().unwrap().parse::<u64>().unwrap() > 0);
    // The sensor sends ten readings a second: the route's rate says so.
    let rate: f64 = seen.rates["sensor-to-filter"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((3.0..30.0).contains(&rate), "rate {rate}: {}", seen.rates);

    assert_eq!(&seen.screenshot[..8], b"\x89PNG\r\n\x1a\n");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("page");
    std::fs::create_dir_all(&out).unwrap();
    let shot = out.join("demo.png");
    std::fs::write(&shot, &seen.screenshot).unwrap();
    println!("screenshot: {}", shot.display());
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_open_and_its_data_needs_the_token() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), TOKEN).unwrap();
    let m = demo(dir.path(), "token-file = \"token\"");
    let (gw, addr) = start(&m, dir.path()).await;

    let (status, page) = get(addr, "/", None).await;
    assert_eq!(status, 200);
    assert!(page.contains("<title>ganglion</title>") && page.contains("#token="));
    for path in ["/api/state", "/api/events"] {
        assert_eq!(get(addr, path, None).await.0, 401, "{path}");
        assert_eq!(get(addr, path, Some("wrong-token-0123456789")).await.0, 401);
    }
    // With the token: the state, and each series' points, one per second,
    // each the mean of that second's readings.
    let poll = Duration::from_millis(200);
    let series = retry(poll, WAIT, "two points of the readings' series", || async {
        let (status, body) = get(addr, "/api/state", Some(TOKEN)).await;
        assert_eq!(status, 200);
        let state: Value = serde_json::from_str(&body).unwrap();
        let readings = state["series"][0].clone();
        match readings["points"].as_array().map(Vec::len) {
            Some(n) if n >= 2 => Ok(readings),
            other => Err(format!("{other:?} points: {body}")),
        }
    })
    .await;
    assert_eq!(series["route"], "sensor-to-filter");
    assert_eq!(series["path"], "machine.temperature");
    let points = series["points"].as_array().unwrap();
    let seconds: Vec<u64> = points.iter().map(|p| p["t"].as_u64().unwrap()).collect();
    assert!(
        seconds
            .windows(2)
            .all(|w| w[1] >= w[0] + 1000 && w[1] % 1000 == 0)
    );
    assert!(
        points
            .iter()
            .all(|p| (15.0..200.0).contains(&p["v"].as_f64().unwrap()))
    );
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_sends_the_state_each_second_and_ends_with_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let m = demo(dir.path(), "");
    let (gw, addr) = start(&m, dir.path()).await;
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let reader = std::thread::spawn(move || {
        let agent = ureq::Agent::new_with_defaults();
        let resp = agent
            .get(&format!("http://{addr}/api/events"))
            .call()
            .unwrap();
        let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
        assert_eq!(content_type, "text/event-stream");
        for line in BufReader::new(resp.into_body().into_reader()).lines() {
            let Ok(line) = line else { break };
            if let Some(data) = line.strip_prefix("data: ") {
                let _ = tx.send(serde_json::from_str::<Value>(data).unwrap());
            }
        }
    });
    let mut states = Vec::new();
    while states.len() < 3 {
        let state = tokio::time::timeout(WAIT, events.recv())
            .await
            .unwrap()
            .unwrap();
        states.push(state);
    }
    let times: Vec<u64> = states
        .iter()
        .map(|s| s["time_ms"].as_u64().unwrap())
        .collect();
    assert!(
        times
            .windows(2)
            .all(|w| (500..3000).contains(&(w[1] - w[0]))),
        "{times:?}"
    );
    // The first event has the hour so far; each later one only what is new
    // (the newest second again, if more readings fell into it).
    let first_t = |s: &Value| s["series"][0]["points"][0]["t"].as_u64();
    let last = states[2]["series"][0]["points"].as_array().unwrap();
    assert!(last.len() <= 2, "{last:?}");
    assert!(first_t(&states[2]) >= first_t(&states[1]));
    let sensor = |s: &Value| s["modules"][0]["sent"].as_u64().unwrap();
    assert!(sensor(&states[2]) > sensor(&states[0]));

    // Stopping the gateway ends the stream: the shutdown does not wait on
    // an open page, and the page sees the end.
    tokio::time::timeout(WAIT, gw.shutdown()).await.unwrap();
    tokio::task::spawn_blocking(move || reader.join().unwrap())
        .await
        .unwrap();
}

#[test]
fn a_chart_of_a_missing_route_or_a_bad_path_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[modules.a]\npath = \"{}\"\n\n[routes]\n\
         up = 'FROM /messages/* INTO $upstream'\n\n\
         [[metrics.chart]]\nroute = \"nope\"\npath = \"machine.temperature\"\n\n\
         [[metrics.chart]]\nroute = \"up\"\npath = \"machine..temperature\"\n\n\
         [[metrics.chart]]\nroute = \"up\"\npath = \"$body.machine.temperature\"\n",
        toml_path(TEMP_FILTER)
    );
    let err = Manifest::parse(&text, "charts.toml", dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("metrics.chart[0].route")
            && err.contains("no route is called `nope`: the routes are up"),
        "{err}"
    );
    assert!(
        err.contains("metrics.chart[1].path") && err.contains("`machine..temperature`"),
        "{err}"
    );
    assert!(!err.contains("metrics.chart[2]"), "{err}");
    assert!(
        err.contains("charts.toml:7:") && err.contains("charts.toml:11:"),
        "{err}"
    );

    // Fixed, it loads, with the `$body.` prefix taken off and a title made.
    let fixed = text
        .replace("\"nope\"", "\"up\"")
        .replace("machine..temperature", "machine.pressure");
    let m = Manifest::parse(&fixed, "charts.toml", dir.path()).unwrap();
    let charts = &m.metrics.charts;
    assert_eq!(charts.len(), 3);
    assert_eq!(charts[2].path.text, "machine.temperature");
    assert_eq!(charts[1].title, "up: machine.pressure");
}

/// Opens `/api/events` on a raw socket and reads until the first event:
/// the socket (the stream stays open while it lives) and the status line.
fn open_stream(addr: SocketAddr) -> (std::net::TcpStream, String) {
    use std::io::{Read, Write};
    let mut socket = std::net::TcpStream::connect(addr).unwrap();
    socket.set_read_timeout(Some(WAIT)).unwrap();
    write!(socket, "GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("\r\n\r\n") {
        let n = socket.read(&mut buf).unwrap();
        assert!(n > 0, "{}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&seen);
    (socket, text.lines().next().unwrap_or("").to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_beyond_the_limit_is_turned_away_until_one_closes() {
    let dir = tempfile::tempdir().unwrap();
    let m = demo(dir.path(), "");
    let (gw, addr) = start(&m, dir.path()).await;
    let mut open = Vec::new();
    for _ in 0..ganglion::web::page::MAX_STREAMS {
        let (socket, status) = tokio::task::spawn_blocking(move || open_stream(addr))
            .await
            .unwrap();
        assert_eq!(status, "HTTP/1.1 200 OK");
        open.push(socket);
    }
    let (status, body) = get(addr, "/api/events", None).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("pages are open"), "{body}");
    // /metrics and the state are not limited.
    assert_eq!(get(addr, "/metrics", None).await.0, 200);
    assert_eq!(get(addr, "/api/state", None).await.0, 200);

    // A page closes: the gateway notices at its next event, and a new page
    // is let in.
    drop(open.pop());
    let poll = Duration::from_millis(200);
    let (socket, _) = retry(poll, WAIT, "a stream let in", || async {
        let (socket, status) = tokio::task::spawn_blocking(move || open_stream(addr))
            .await
            .unwrap();
        if status == "HTTP/1.1 200 OK" {
            Ok((socket, status))
        } else {
            Err(status)
        }
    })
    .await;
    open.push(socket);
    tokio::time::timeout(WAIT, gw.shutdown()).await.unwrap();
}
