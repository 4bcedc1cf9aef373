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
    // Ann is a user: her address is hers to set, and an alert to user:ann goes there.
    let (s, body) = c
        .api(
            Method::POST,
            "/users",
            Some(json!({"name": "ann", "password": "a long enough password", "grants": []})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let out = c.ctl(&["user", "set-email", "ann", "ann@example.com"]);
    assert!(out.status.success(), "{}", output_text(&out));
    // A user that does not exist is refused when the task is saved.
    let (s, body) = c
        .api(
            Method::POST,
            "/tasks",
            Some(json!({"name": "x", "command": "true", "alerts": {"notify": ["user:nobody"]}})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let t = c
        .create_task(json!({
            "name": "nightly", "group": "default",
            "command": "echo first-line; echo boom-output; exit 3",
            "alerts": {"notify": ["user:ann", "bob@example.com"]},
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

/// Waits for the `n`th message (1-based) and checks that its subject holds `text`.
async fn nth_subject(
    sink: &Sink,
    n: usize,
    text: &str,
    within: Duration,
    what: &str,
) -> Vec<Value> {
    let got = sink.wait(within, what, |m| m.len() >= n).await;
    let subject = got[n - 1]["subject"].as_str().unwrap();
    assert!(
        subject.contains(text),
        "message {n}: {subject:?}, not {text:?}: {got:#?}"
    );
    got
}

/// The first incident of `kind`, waited for.
async fn wait_incident(c: &Center, kind: &str, within: Duration) -> Value {
    let deadline = std::time::Instant::now() + within;
    loop {
        let open = incidents(c, "?all=true").await;
        if let Some(i) = open.iter().find(|i| i["kind"] == kind) {
            return i.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {kind} incident within {within:?}: {open:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn ts(v: &Value) -> jiff::Timestamp {
    v.as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn an_overrunning_run_alerts_once_and_resolves_when_it_ends() {
    let sink = Sink::smtp(SmtpMode::Plain);
    let dir = tempfile::tempdir().unwrap();
    let mut flags = smtp_flags(&sink, SmtpMode::Plain, dir.path());
    flags.extend(["--notify".into(), "ops@example.com".into()]);
    let (c, _d) = center_with(&flags).await;
    let t = c
        .create_task(json!({"name": "slow", "command": "sleep 60",
            "alerts": {"max_duration_ms": 1500}}))
        .await;
    let id = t["id"].as_str().unwrap();
    let (s, body) = c
        .api(Method::POST, &format!("/tasks/{id}/start"), None)
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    let i = wait_incident(&c, "overrunning", Duration::from_secs(20)).await;
    assert!(
        i["summary"]
            .as_str()
            .unwrap()
            .contains("past its limit of 1.5s"),
        "{i}"
    );
    nth_subject(
        &sink,
        1,
        "OVERRUNNING default/slow",
        Duration::from_secs(20),
        "the overrun message",
    )
    .await;
    // It alerts once however long the run goes on.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sink.received().len(), 1);
    // Stopping it ends the incident, with one recovery message.
    let (s, body) = c
        .api(Method::POST, &format!("/tasks/{id}/stop"), None)
        .await;
    assert!(s.is_success(), "{body}");
    nth_subject(
        &sink,
        2,
        "RECOVERED default/slow (overrunning)",
        Duration::from_secs(20),
        "the recovery",
    )
    .await;
    assert!(incidents(&c, "").await.is_empty());
}

#[tokio::test]
async fn a_frozen_agent_raises_did_not_start_within_grace_and_a_center_restart_raises_none() {
    use cloudtask_e2e::Agent;
    use cloudtask_e2e::zookeeper::ZooKeeper;
    let sink = Sink::smtp(SmtpMode::Plain);
    let zk = ZooKeeper::start();
    let dir = tempfile::tempdir().unwrap();
    let mut flags = smtp_flags(&sink, SmtpMode::Plain, dir.path());
    flags.extend(["--notify".into(), "ops@example.com".into()]);
    let args: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut c = Center::start_cluster(dir.path(), &zk.connect("/ct"), &args).await;
    let agent = Agent::start("a1", "default", &zk.connect("/ct"), &c.url, dir.path());
    let mut ids = Vec::new();
    for i in 0..5 {
        let t = c
            .create_task(json!({"name": format!("tick-{i}"), "command": "true",
                "schedules": ["@every 4s"], "alerts": {"start_grace_ms": 2000}}))
            .await;
        ids.push(t["id"].as_str().unwrap().to_string());
    }
    c.wait_runs(&ids[0], Duration::from_secs(30), "runs flowing", |r| {
        r.len() >= 3
    })
    .await;
    // The center restarts while runs flow: the agent spools meanwhile and delivers its
    // backlog after. No instant is taken for not started.
    let addr = c.url.trim_start_matches("http://").to_string();
    c.terminate(Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut again = args.clone();
    again.extend(["--listen", addr.as_str()]);
    c = Center::start_cluster(dir.path(), &zk.connect("/ct"), &again).await;
    let restarted = jiff::Timestamp::now();
    // Past the warm-up and a few instants more.
    let until = std::time::Instant::now() + Duration::from_secs(14);
    while std::time::Instant::now() < until {
        let found = incidents(&c, "?all=true").await;
        assert!(
            found.is_empty(),
            "a false alarm after the restart: {found:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after: Vec<_> = c
        .runs(&ids[0])
        .await
        .into_iter()
        .filter(|r| r.scheduled_at > restarted)
        .collect();
    assert!(
        after.len() >= 4,
        "runs went on after the restart: {after:?}"
    );
    // Now the agent freezes: its instants stop starting, and the center says so within the
    // start grace and 2 s, without a word from the agent.
    agent.signal("STOP");
    let frozen = jiff::Timestamp::now();
    let i = wait_incident(&c, "did_not_start", Duration::from_secs(15)).await;
    let task = i["subject"].as_str().unwrap();
    let last_started = c
        .runs(task)
        .await
        .iter()
        .filter(|r| r.started_at.is_some())
        .map(|r| r.scheduled_at)
        .max()
        .unwrap();
    let first_missing = last_started + jiff::SignedDuration::from_secs(4);
    let took = ts(&i["opened_at"]).duration_since(first_missing);
    // Within the start grace (2 s) and 2 s.
    assert!(
        took <= jiff::SignedDuration::from_secs(4),
        "noticed {took:#} after the instant {first_missing} (frozen at {frozen}): {i}"
    );
    sink.wait(Duration::from_secs(20), "the did-not-start messages", |m| {
        m.iter()
            .any(|m| m["subject"].as_str().unwrap().contains("DID NOT START"))
    })
    .await;
    // It wakes: starts resolve the incidents.
    agent.signal("CONT");
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    loop {
        let open: Vec<Value> = incidents(&c, "")
            .await
            .into_iter()
            .filter(|i| i["kind"] == "did_not_start")
            .collect();
        if open.is_empty() {
            break;
        }
        if std::time::Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.path().join("center.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            panic!(
                "still open after the agent woke: {open:#?}\ncenter log, newest first:\n{}",
                tail.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_node_killed_gives_one_offline_message_and_when_it_returns_one_online() {
    use cloudtask_e2e::Agent;
    use cloudtask_e2e::zookeeper::ZooKeeper;
    let sink = Sink::smtp(SmtpMode::Plain);
    let zk = ZooKeeper::start();
    let dir = tempfile::tempdir().unwrap();
    let mut flags = smtp_flags(&sink, SmtpMode::Plain, dir.path());
    flags.extend([
        "--notify".into(),
        "ops@example.com".into(),
        "--node-offline-after".into(),
        "3s".into(),
    ]);
    let args: Vec<&str> = flags.iter().map(String::as_str).collect();
    let c = Center::start_cluster(dir.path(), &zk.connect("/ct"), &args).await;
    let mut agent = Agent::start("a1", "default", &zk.connect("/ct"), &c.url, dir.path());
    let t = c
        .create_task(json!({"name": "on-a1", "command": "true", "schedules": ["@every 1s"]}))
        .await;
    c.wait_runs(
        t["id"].as_str().unwrap(),
        Duration::from_secs(30),
        "runs on a1",
        |r| r.len() >= 2,
    )
    .await;
    agent.kill9();
    let i = wait_incident(&c, "offline", Duration::from_secs(20)).await;
    assert_eq!(i["subject"], "node:default/a1");
    let has = |m: &[Value], text: &str| {
        m.iter()
            .any(|m| m["subject"].as_str().unwrap().contains(text))
    };
    // The node is offline, and its task, with no other node, unassigned.
    sink.wait(Duration::from_secs(20), "offline and unassigned", |m| {
        has(m, "OFFLINE node default/a1") && has(m, "UNASSIGNED default/on-a1")
    })
    .await;
    // Node incidents are cluster-wide: an admin's.
    let out = c.ctl(&["alert", "ls"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("offline"),
        "{}",
        output_text(&out)
    );
    agent.restart();
    sink.wait(Duration::from_secs(30), "back online and placed", |m| {
        has(m, "BACK ONLINE node default/a1") && has(m, "RECOVERED default/on-a1 (unassigned)")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let node: Vec<Value> = sink
        .received()
        .into_iter()
        .filter(|m| m["subject"].as_str().unwrap().contains("node default/a1"))
        .collect();
    assert_eq!(node.len(), 2, "one offline, one online: {node:#?}");
}

#[tokio::test]
async fn a_silenced_incident_is_recorded_quietly_and_announced_once_the_silence_ends() {
    let sink = Sink::smtp(SmtpMode::Plain);
    let dir = tempfile::tempdir().unwrap();
    let mut flags = smtp_flags(&sink, SmtpMode::Plain, dir.path());
    flags.extend(["--notify".into(), "ops@example.com".into()]);
    let (c, _d) = center_with(&flags).await;
    let t = c
        .create_task(json!({"name": "noisy", "command": "exit 1"}))
        .await;
    let id = t["id"].as_str().unwrap();
    let out = c.ctl(&[
        "alert",
        "silence",
        "--task",
        "noisy",
        "--for",
        "4s",
        "--reason",
        "swapping disks",
    ]);
    assert!(out.status.success(), "{}", output_text(&out));
    let listed = c.ctl(&["alert", "silences"]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        text.contains("swapping disks") && text.contains("admin"),
        "who set it is shown: {text}"
    );
    let silenced_at = std::time::Instant::now();
    c.run_now(id).await;
    wait_count(&c, id, 1).await;
    let open = incidents(&c, "").await;
    assert_eq!(
        open[0]["announced"], false,
        "recorded, not announced: {open:?}"
    );
    // Nothing is sent while the silence holds…
    while silenced_at.elapsed() < Duration::from_secs(3) {
        assert!(sink.received().is_empty(), "sent during the silence");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // …and once it ends, the incident still open is announced, once.
    let got = sink
        .wait(
            Duration::from_secs(20),
            "the message after the silence",
            |m| !m.is_empty(),
        )
        .await;
    assert!(
        got[0]["subject"]
            .as_str()
            .unwrap()
            .contains("FAILING default/noisy"),
        "{got:?}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(sink.received().len(), 1);
    // A silence needs a reason and an end after now; one of everything needs every group.
    let (s, body) = c
        .api(
            Method::POST,
            "/silences",
            Some(json!({"ends_at": "2000-01-01T00:00:00Z", "reason": "x"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let audit = c.ctl(&["audit", "--action", "silence.create", "-o", "json"]);
    let rows: Vec<Value> = serde_json::from_slice(&audit.stdout).unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
}

#[tokio::test]
async fn messages_queued_when_the_leader_dies_are_all_delivered_by_the_next_under_their_ids() {
    use cloudtask_e2e::Agent;
    use cloudtask_e2e::zookeeper::{ZooKeeper, free_port};
    // The SMTP server is down at first, so the messages queue up on the leader.
    let port = free_port();
    let zk = ZooKeeper::start();
    let dir = tempfile::tempdir().unwrap();
    let flags: Vec<String> = [
        "--smtp-server",
        &format!("127.0.0.1:{port}"),
        "--smtp-security",
        "plain",
        "--smtp-from",
        FROM,
        "--notify",
        "ops@example.com,oncall@example.com",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let args: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut leader = Center::start_cluster(dir.path(), &zk.connect("/ct"), &args).await;
    let other = Center::start_cluster(dir.path(), &zk.connect("/ct"), &args).await;
    let _agent = Agent::start("a1", "default", &zk.connect("/ct"), &leader.url, dir.path());
    let mut ids = Vec::new();
    // Four incidents to two recipients: within each recipient's burst, so no digest.
    for i in 0..4 {
        let t = leader
            .create_task(json!({"name": format!("bad-{i}"), "command": "exit 1"}))
            .await;
        ids.push(t["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        leader.run_now(id).await;
    }
    // Eight messages, queued and failing.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let expected: Vec<String> = loop {
        let (_, s) = leader.api(Method::GET, "/notify/status", None).await;
        let email = &s["channels"][0];
        if email["queued"] == 8 && email["retrying"].as_u64() >= Some(1) {
            let open = incidents(&leader, "").await;
            break open
                .iter()
                .flat_map(|i| {
                    let id = i["id"].as_str().unwrap().to_string();
                    [
                        format!("<{id}.opened.0@cloudtask>"),
                        format!("<{id}.opened.1@cloudtask>"),
                    ]
                })
                .collect();
        }
        assert!(std::time::Instant::now() < deadline, "{s}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(expected.len(), 8);
    leader.kill9();
    let sink = Sink::smtp_at(SmtpMode::Plain, port);
    // The other center takes the lead and delivers every one, some perhaps twice, but only
    // ever under the ids they were queued with.
    let got = sink
        .wait(Duration::from_secs(90), "every queued message", |m| {
            let ids: std::collections::BTreeSet<&str> = m
                .iter()
                .map(|m| m["message_id"].as_str().unwrap())
                .collect();
            expected.iter().all(|e| ids.contains(e.as_str()))
        })
        .await;
    for m in &got {
        let mid = m["message_id"].as_str().unwrap();
        assert!(
            expected.iter().any(|e| e == mid),
            "a message under a new id: {m}"
        );
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, s) = other.api(Method::GET, "/notify/status", None).await;
        if s["channels"][0]["queued"] == 0 {
            assert_eq!(s["channels"][0]["delivered"], 8, "{s}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{s}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_burst_of_incidents_reaches_a_recipient_as_a_few_messages_not_dozens() {
    let sink = Sink::smtp(SmtpMode::Plain);
    let dir = tempfile::tempdir().unwrap();
    let mut flags = smtp_flags(&sink, SmtpMode::Plain, dir.path());
    flags.extend([
        "--notify".into(),
        "ops@example.com".into(),
        "--alert-rate".into(),
        "60".into(),
    ]);
    let (c, _d) = center_with(&flags).await;
    let mut ids = Vec::new();
    for i in 0..30 {
        let t = c
            .create_task(json!({"name": format!("storm-{i:02}"), "command": "exit 1"}))
            .await;
        ids.push(t["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        let (s, b) = c
            .api(Method::POST, &format!("/tasks/{id}/start"), None)
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    }
    // Every one of the thirty incidents is told, in a handful of messages.
    let got = sink
        .wait(Duration::from_secs(60), "every task named", |m| {
            let all: String = m
                .iter()
                .map(|m| format!("{} {}", m["subject"], m["body"]))
                .collect();
            (0..30).all(|i| all.contains(&format!("default/storm-{i:02}")))
        })
        .await;
    assert!(got.len() <= 8, "{} messages for 30 incidents", got.len());
    assert!(
        got.iter()
            .any(|m| m["subject"].as_str().unwrap().contains("alerts")),
        "a digest: {got:#?}"
    );
}

#[tokio::test]
async fn a_node_at_capacity_is_shedding_until_it_skips_no_more() {
    let sink = Sink::smtp(SmtpMode::Plain);
    let dir = tempfile::tempdir().unwrap();
    let mut flags = smtp_flags(&sink, SmtpMode::Plain, dir.path());
    flags.extend([
        "--notify".into(),
        "ops@example.com".into(),
        "--capacity".into(),
        "1".into(),
        "--node-offline-after".into(),
        "2s".into(),
    ]);
    let (c, _d) = center_with(&flags).await;
    let mut ids = Vec::new();
    // One slot and 150 runs a second: the queue behind it (1,024 runs) fills within seconds
    // and the node sheds. (The tasks' own alerts are off: their runs are late by design.)
    for i in 0..150 {
        let t = c
            .create_task(json!({"name": format!("busy-{i}"), "command": "sleep 30",
                "schedules": ["@every 1s"], "concurrency": "allow", "alerts": {"off": true}}))
            .await;
        ids.push(t["id"].as_str().unwrap().to_string());
    }
    let i = wait_incident(&c, "shedding", Duration::from_secs(60)).await;
    assert_eq!(i["subject"], "node:default/node-1");
    assert!(
        i["summary"].as_str().unwrap().contains("at capacity"),
        "{i}"
    );
    nth_subject(
        &sink,
        1,
        "SHEDDING node default/node-1",
        Duration::from_secs(20),
        "the shedding message",
    )
    .await;
    for id in &ids {
        let (s, b) = c
            .api(Method::POST, &format!("/tasks/{id}/pause"), None)
            .await;
        assert!(s.is_success(), "{b}");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let open: Vec<Value> = incidents(&c, "")
            .await
            .into_iter()
            .filter(|i| i["kind"] == "shedding")
            .collect();
        if open.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still shedding: {open:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
