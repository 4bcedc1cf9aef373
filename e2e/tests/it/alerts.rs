//! Alerts against real receivers: an SMTP server (aiosmtpd: plain, STARTTLS with AUTH,
//! implicit TLS) and a webhook receiver that checks signatures with the Standard Webhooks
//! reference library.

use std::time::Duration;

use cloudtask_e2e::sinks::{SMTP_PASSWORD, SMTP_USER, Sink, SmtpMode};
use cloudtask_e2e::{Center, output_text};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const FROM: &str = "CloudTask <cloudtask@example.com>";
/// The Standard Webhooks specification's example key.
const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The center's flags for sending through `sink`.
fn smtp_flags(sink: &Sink, mode: SmtpMode, dir: &std::path::Path) -> Vec<String> {
    let mut f = vec![
        "--smtp-server".to_string(),
        format!("127.0.0.1:{}", sink.port),
        "--smtp-from".into(),
        FROM.into(),
        "--smtp-security".into(),
        match mode {
            SmtpMode::Plain => "plain",
            SmtpMode::Starttls => "starttls",
            SmtpMode::Tls => "tls",
        }
        .into(),
    ];
    if let Some(ca) = &sink.ca_file {
        f.extend(["--smtp-ca-file".into(), ca.display().to_string()]);
    }
    if mode == SmtpMode::Starttls {
        let pw = dir.join("smtp.password");
        std::fs::write(&pw, format!("{SMTP_PASSWORD}\n")).unwrap();
        f.extend([
            "--smtp-user".into(),
            SMTP_USER.into(),
            "--smtp-password-file".into(),
            pw.display().to_string(),
        ]);
    }
    f
}

async fn center_with(flags: &[String]) -> (Center, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<&str> = flags.iter().map(String::as_str).collect();
    (Center::start_in(dir.path(), &args).await, dir)
}

fn to_of(m: &Value) -> Vec<String> {
    m["rcpt_tos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

async fn incidents(c: &Center, query: &str) -> Vec<Value> {
    let (s, body) = c.api(Method::GET, &format!("/alerts{query}"), None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body.as_array().unwrap().clone()
}

async fn edit(c: &Center, id: &str, changes: Value) {
    let (s, t) = c.api(Method::GET, &format!("/tasks/{id}"), None).await;
    assert_eq!(s, StatusCode::OK);
    let mut patch = changes;
    patch["version"] = t["version"].clone();
    let (s, body) = c
        .api(Method::PATCH, &format!("/tasks/{id}"), Some(patch))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_failing_task_mails_each_recipient_once_and_its_recovery_once() {
    let sink = Sink::smtp(SmtpMode::Plain);
    let dir = tempfile::tempdir().unwrap();
    let flags = smtp_flags(&sink, SmtpMode::Plain, dir.path());
    let (c, _d) = center_with(&flags).await;
    let t = c
        .create_task(json!({
            "name": "nightly", "group": "default",
            "command": "echo first-line; echo boom-output; exit 3",
            "alerts": {"notify": ["ann@example.com", "bob@example.com"]},
        }))
        .await;
    let id = t["id"].as_str().unwrap();
    let (run, _) = c.run_now(id).await;
    assert_eq!(run.exit_code, Some(3));
    let got = sink
        .wait(Duration::from_secs(20), "one message per recipient", |m| {
            m.len() >= 2
        })
        .await;
    let mut rcpts: Vec<String> = got.iter().flat_map(to_of).collect();
    rcpts.sort();
    assert_eq!(rcpts, ["ann@example.com", "bob@example.com"]);
    for m in &got {
        assert_eq!(to_of(m).len(), 1, "one recipient per message: {m}");
        assert_eq!(
            m["to"],
            to_of(m)[0].as_str(),
            "To: names that recipient only"
        );
        let subject = m["subject"].as_str().unwrap();
        assert!(
            subject.contains("FAILING default/nightly") && subject.contains("exit code 3"),
            "{subject}"
        );
        let body = m["body"].as_str().unwrap();
        assert!(body.contains("boom-output"), "the output's tail: {body}");
        assert!(
            body.contains(&format!("cloudtaskctl run show {}", run.id)),
            "{body}"
        );
        assert!(body.contains("Node:") && body.contains("node-1"), "{body}");
        assert!(m["message_id"].as_str().unwrap().ends_with("@cloudtask>"));
        assert_eq!(m["mail_from"], "cloudtask@example.com");
    }
    assert_ne!(got[0]["message_id"], got[1]["message_id"]);
    let open = incidents(&c, "").await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["count"], 1);
    // A second failure counts on the same incident and sends nothing.
    c.run_now(id).await;
    wait_count(&c, id, 2).await;
    // The CLI shows and acknowledges it.
    let out = c.ctl(&["alert", "ls"]);
    assert!(out.status.success(), "{}", output_text(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("default/nightly") && text.contains("open"),
        "{text}"
    );
    let inc = open[0]["id"].as_str().unwrap();
    let out = c.ctl(&["alert", "ack", inc]);
    assert!(out.status.success(), "{}", output_text(&out));
    let shown = c.ctl(&["alert", "show", inc, "-o", "json"]);
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["acked_by"], "admin");
    // It recovers: one message per recipient, and the incident is resolved.
    edit(&c, id, json!({"command": "true"})).await;
    c.run_now(id).await;
    let got = sink
        .wait(Duration::from_secs(20), "the recovery messages", |m| {
            m.len() >= 4
        })
        .await;
    let recovered: Vec<&Value> = got
        .iter()
        .filter(|m| {
            m["subject"]
                .as_str()
                .unwrap()
                .contains("RECOVERED default/nightly after 2 failures")
        })
        .collect();
    assert_eq!(recovered.len(), 2, "{got:#?}");
    assert!(incidents(&c, "").await.is_empty(), "nothing open");
    let all = incidents(&c, "?all=true").await;
    assert!(all[0]["resolved_at"].is_string());
    // Nothing more arrives (no message was sent twice).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sink.received().len(), 4);
}

/// Waits until the task's open incident has counted `n` failures.
async fn wait_count(c: &Center, task: &str, n: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let open = incidents(c, &format!("?task={task}")).await;
        if open.first().and_then(|i| i["count"].as_u64()) == Some(n) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "count {n}: {open:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn fifty_failures_after_three_in_a_row_send_one_message_and_one_recovery_over_starttls() {
    let sink = Sink::smtp(SmtpMode::Starttls);
    let dir = tempfile::tempdir().unwrap();
    let flags = smtp_flags(&sink, SmtpMode::Starttls, dir.path());
    let mut flags = flags;
    flags.extend(["--notify".into(), "oncall@example.com".into()]);
    let (c, _d) = center_with(&flags).await;
    let t = c
        .create_task(json!({
            "name": "flaky", "command": "exit 1", "concurrency": "allow",
            "alerts": {"after_failures": 3},
        }))
        .await;
    let id = t["id"].as_str().unwrap();
    for _ in 0..50 {
        let (s, b) = c
            .api(Method::POST, &format!("/tasks/{id}/start"), None)
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    }
    c.wait_runs(id, Duration::from_secs(60), "50 failed runs", |r| {
        r.iter().filter(|r| r.status.is_terminal()).count() == 50
    })
    .await;
    wait_count(&c, id, 50).await;
    let got = sink
        .wait(Duration::from_secs(20), "the incident's message", |m| {
            !m.is_empty()
        })
        .await;
    assert_eq!(got.len(), 1, "one message for 50 failures: {got:#?}");
    assert_eq!(
        to_of(&got[0]),
        ["oncall@example.com"],
        "the center's default recipient"
    );
    assert_eq!(got[0]["tls"], true, "STARTTLS was used");
    assert_eq!(got[0]["authenticated"], true, "and AUTH");
    edit(&c, id, json!({"command": "true"})).await;
    c.run_now(id).await;
    let got = sink
        .wait(Duration::from_secs(20), "the recovery", |m| m.len() >= 2)
        .await;
    assert!(
        got[1]["subject"].as_str().unwrap().contains("RECOVERED"),
        "{got:#?}"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sink.received().len(), 2, "exactly one recovery");
}

#[tokio::test]
async fn notify_test_goes_out_over_implicit_tls_and_notify_status_counts_it() {
    let sink = Sink::smtp(SmtpMode::Tls);
    let dir = tempfile::tempdir().unwrap();
    let flags = smtp_flags(&sink, SmtpMode::Tls, dir.path());
    let (c, _d) = center_with(&flags).await;
    let out = c.ctl(&["notify", "test", "email", "--to", "ops@example.com"]);
    assert!(out.status.success(), "{}", output_text(&out));
    let got = sink
        .wait(Duration::from_secs(20), "the test message", |m| {
            !m.is_empty()
        })
        .await;
    assert_eq!(got[0]["tls"], true);
    assert_eq!(got[0]["subject"], "[CloudTask] test message");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let out = c.ctl(&["notify", "status", "-o", "json"]);
        assert!(out.status.success(), "{}", output_text(&out));
        let s: Value = serde_json::from_slice(&out.stdout).unwrap();
        let email = &s["channels"][0];
        assert_eq!(email["channel"], "email");
        if email["delivered"] == 1 {
            assert_eq!(email["queued"], 0);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Without a webhook allow-list, the webhook channel is not set up: named, exit 4.
    let out = c.ctl(&[
        "notify",
        "test",
        "webhook",
        "--to",
        "https://hooks.example.com/x",
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", output_text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--webhook-allow"));
}

#[tokio::test]
async fn with_the_smtp_server_unreachable_runs_go_on_and_notify_status_shows_the_error() {
    // A port nothing listens on.
    let port = cloudtask_e2e::zookeeper::free_port();
    let flags: Vec<String> = [
        "--smtp-server",
        &format!("127.0.0.1:{port}"),
        "--smtp-security",
        "plain",
        "--smtp-from",
        FROM,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (c, _d) = center_with(&flags).await;
    let failing = c
        .create_task(json!({"name": "failing", "command": "exit 1",
            "alerts": {"notify": ["ann@example.com"]}}))
        .await;
    c.run_now(failing["id"].as_str().unwrap()).await;
    let steady = c
        .create_task(json!({"name": "steady", "command": "true", "schedules": ["@every 1s"]}))
        .await;
    let sid = steady["id"].as_str().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        let (s, body) = c.api(Method::GET, "/notify/status", None).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let email = body["channels"][0].clone();
        if email["last_error"].is_string() {
            break email;
        }
        assert!(std::time::Instant::now() < deadline, "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status["queued"], 1, "{status}");
    assert_eq!(status["retrying"], 1, "{status}");
    let err = status["last_error"].as_str().unwrap();
    assert!(
        err.contains("SMTP") && err.to_lowercase().contains("connect"),
        "{err}"
    );
    // Scheduling is unaffected: the every-second task keeps running on time.
    c.wait_runs(sid, Duration::from_secs(20), "five on-time runs", |r| {
        r.iter()
            .filter(|r| r.status == cloudtask_shared::RunStatus::Succeeded)
            .count()
            >= 5
    })
    .await;
    let out = c.ctl(&["notify", "status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("email") && text.contains("SMTP"), "{text}");
}

#[tokio::test]
async fn webhooks_are_signed_as_standard_webhooks_say_and_stay_within_the_allow_list() {
    let hook = Sink::webhook(WEBHOOK_SECRET);
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("webhook.key");
    std::fs::write(&secret, WEBHOOK_SECRET).unwrap();
    let flags: Vec<String> = [
        "--webhook-allow",
        "127.0.0.1",
        "--webhook-secret-file",
        secret.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (c, _d) = center_with(&flags).await;
    // Destinations off the list are refused when the task is saved, naming the problem.
    for url in [
        "http://169.254.169.254/latest",
        "http://localhost:9/x",
        "https://example.com/x",
    ] {
        let (s, body) = c
            .api(
                Method::POST,
                "/tasks",
                Some(json!({"name": "probe", "command": "true", "alerts": {"notify": [url]}})),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{url}: {body}");
        assert_eq!(body["error"]["code"], "invalid_field");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("alerts.notify[0]"),
            "{body}"
        );
    }
    let url = format!("http://127.0.0.1:{}/hook", hook.port);
    let t = c
        .create_task(json!({"name": "hooked", "command": "echo out; exit 2",
            "alerts": {"notify": [url]}}))
        .await;
    let id = t["id"].as_str().unwrap();
    let (run, _) = c.run_now(id).await;
    let got = hook
        .wait(Duration::from_secs(20), "the webhook", |m| !m.is_empty())
        .await;
    let h = &got[0];
    assert_eq!(
        h["verified"], true,
        "the reference library verified it: {h}"
    );
    assert_eq!(h["path"], "/hook");
    let p = &h["payload"];
    assert_eq!(p["type"], "incident.opened");
    assert_eq!(p["data"]["task"]["name"], "hooked");
    assert_eq!(p["data"]["run"]["id"], run.id.as_str());
    assert_eq!(p["data"]["run"]["exit_code"], 2);
    assert!(p["data"]["output_tail"].as_str().unwrap().contains("out"));
    assert_eq!(
        p["data"]["incident"]["id"].as_str().unwrap(),
        h["id"].as_str().unwrap().split('.').next().unwrap()
    );
    // A signature made with another key is refused by the same library (it does check).
    let other = Sink::webhook("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    let out = c.ctl(&[
        "notify",
        "test",
        "webhook",
        "--to",
        &format!("http://127.0.0.1:{}/t", other.port),
    ]);
    assert!(out.status.success(), "{}", output_text(&out));
    let refused = other
        .wait(Duration::from_secs(20), "the test webhook", |m| {
            !m.is_empty()
        })
        .await;
    assert_eq!(refused[0]["verified"], false, "{:?}", refused[0]);
    // The receiver answered 400: a refusal for good, kept as a dead letter.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, s) = c.api(Method::GET, "/notify/status", None).await;
        if s["dead_letters"].as_array().is_some_and(|d| !d.is_empty()) {
            assert!(
                s["dead_letters"][0]["last_error"]
                    .as_str()
                    .unwrap()
                    .contains("400"),
                "{s}"
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
