//! `/metrics` on the center and on an agent, parsed by the Prometheus reference client's
//! parser; and JSON logs.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use cloudtask_e2e::{Agent, Center};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The text, parsed by `prometheus_client` (the reference library): its families.
fn parse(text: &str) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("parse_metrics.py");
    std::fs::write(&script, include_str!("../../scripts/parse_metrics.py")).unwrap();
    let mut child = Command::new("python3")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 with prometheus_client (pip install prometheus_client)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "not Prometheus text: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
}

fn family<'a>(families: &'a [Value], name: &str) -> &'a Value {
    families
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no family {name} in {families:#?}"))
}

fn sample(f: &Value, name: &str, label: Option<(&str, &str)>) -> f64 {
    f["samples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name && label.is_none_or(|(k, v)| s["labels"][k] == v))
        .unwrap_or_else(|| panic!("no sample {name} {label:?} in {f}"))["value"]
        .as_f64()
        .unwrap()
}

async fn scrape(url: &str, token: Option<&str>) -> (StatusCode, String) {
    let mut req = cloudtask_e2e::http().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    let text = resp.text().await.unwrap();
    if status.is_success() {
        assert!(ct.unwrap().starts_with("text/plain; version=0.0.4"));
    }
    (status, text)
}

#[tokio::test]
async fn the_centers_metrics_parse_as_prometheus_text_and_count_what_happened() {
    let c = Center::start(&["--log-format", "json"]).await;
    let ok = c
        .create_task(json!({"name": "ok", "command": "true", "schedules": ["@every 1s"]}))
        .await;
    let bad = c
        .create_task(json!({"name": "bad", "command": "exit 1"}))
        .await;
    c.run_now(bad["id"].as_str().unwrap()).await;
    c.wait_runs(
        ok["id"].as_str().unwrap(),
        Duration::from_secs(30),
        "scheduled runs",
        |r| r.iter().filter(|r| r.status.is_terminal()).count() >= 2,
    )
    .await;
    let url = format!("{}/api/v1/metrics", c.url);
    let (status, text) = scrape(&url, Some(&c.token)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let f = parse(&text);
    let runs = family(&f, "cloudtask_runs");
    assert!(sample(runs, "cloudtask_runs_total", Some(("status", "succeeded"))) >= 2.0);
    assert!(sample(runs, "cloudtask_runs_total", Some(("status", "failed"))) >= 1.0);
    let late = family(&f, "cloudtask_fire_lateness_seconds");
    assert_eq!(late["type"], "histogram");
    assert!(sample(late, "cloudtask_fire_lateness_seconds_count", None) >= 2.0);
    assert!(
        sample(
            late,
            "cloudtask_fire_lateness_seconds_bucket",
            Some(("le", "+Inf"))
        ) >= 2.0
    );
    assert!(sample(family(&f, "cloudtask_fires"), "cloudtask_fires_total", None) >= 2.0);
    assert_eq!(
        sample(family(&f, "cloudtask_leader"), "cloudtask_leader", None),
        1.0
    );
    assert_eq!(
        sample(
            family(&f, "cloudtask_coordination_session_up"),
            "cloudtask_coordination_session_up",
            Some(("daemon", "center"))
        ),
        1.0
    );
    assert!(
        sample(
            family(&f, "cloudtask_incidents_open"),
            "cloudtask_incidents_open",
            None
        ) >= 1.0
    );
    family(&f, "cloudtask_claim_seconds");
    family(&f, "cloudtask_store_write_seconds");
    family(&f, "cloudtask_notify_queued");
    // Without a token it is refused; a node's credential is refused too.
    assert_eq!(scrape(&url, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        scrape(&url, Some(&c.node_token())).await.0,
        StatusCode::FORBIDDEN
    );
    // Every log line is one JSON object.
    let log = std::fs::read_to_string(c.dir.join("center.log")).unwrap();
    let mut n = 0;
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {line}"));
        assert!(
            v["timestamp"].is_string() && v["level"].is_string(),
            "{line}"
        );
        n += 1;
    }
    assert!(n > 5, "{log}");
}

#[tokio::test]
async fn an_agents_metrics_answer_tokens_the_center_accepts_for_its_own() {
    use cloudtask_e2e::zookeeper::{ZooKeeper, free_port};
    let zk = ZooKeeper::start();
    let dir = tempfile::tempdir().unwrap();
    let c = Center::start_cluster(dir.path(), &zk.connect("/ct"), &[]).await;
    let port = free_port();
    let _agent = Agent::start_with(
        "a1",
        "default",
        &zk.connect("/ct"),
        &c.url,
        dir.path(),
        &["--metrics-listen", &port.to_string()],
    );
    let t = c
        .create_task(json!({"name": "tick", "command": "true", "schedules": ["@every 1s"]}))
        .await;
    c.wait_runs(
        t["id"].as_str().unwrap(),
        Duration::from_secs(30),
        "runs",
        |r| r.len() >= 2,
    )
    .await;
    let url = format!("http://127.0.0.1:{port}/metrics");
    let (status, text) = scrape(&url, Some(&c.token)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let f = parse(&text);
    assert!(sample(family(&f, "cloudtask_fires"), "cloudtask_fires_total", None) >= 2.0);
    family(&f, "cloudtask_claim_seconds");
    family(&f, "cloudtask_fire_lateness_seconds");
    assert_eq!(
        sample(
            family(&f, "cloudtask_coordination_session_up"),
            "cloudtask_coordination_session_up",
            Some(("daemon", "agent"))
        ),
        1.0
    );
    // The center's rule: no token 401, a token it does not know 401, a join token 403.
    assert_eq!(scrape(&url, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        scrape(&url, Some("ct_nonsense")).await.0,
        StatusCode::UNAUTHORIZED
    );
    let join = std::fs::read_to_string(dir.path().join("join.token")).unwrap();
    assert_eq!(
        scrape(&url, Some(join.trim())).await.0,
        StatusCode::FORBIDDEN
    );
    // A viewer may, with its login session.
    let pw = "a long enough password";
    let (s, body) = c
        .api(
            Method::POST,
            "/users",
            Some(json!({"name": "vi", "password": pw, "grants": [{"role": "viewer", "group": "default"}]})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let (s, login) = c
        .api_as(
            None,
            Method::POST,
            "/login",
            Some(json!({"user": "vi", "password": pw})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{login}");
    let session = login["token"].as_str().unwrap();
    assert_eq!(scrape(&url, Some(session)).await.0, StatusCode::OK);
}
