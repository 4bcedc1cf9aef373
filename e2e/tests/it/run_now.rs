//! Run now: every accepted start is its own run, idempotency keys, and `forbid` refusing a
//! start while a run is active.

use std::collections::BTreeSet;
use std::time::Duration;

use cloudtask_e2e::Center;
use cloudtask_shared::{RunStatus, Trigger};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn concurrent_starts_are_each_their_own_run() {
    let c = Center::start(&[]).await;
    c.create_task(json!({
        "name": "burst", "command": "echo \"$CLOUDTASK_RUN_ID\"",
        "schedules": ["@yearly"], "concurrency": "allow",
    }))
    .await;
    // 200 starts from 8 concurrent callers, as a CI fleet would.
    let url = format!("{}/api/v1/tasks/burst/start", c.url);
    let mut callers = vec![];
    for _ in 0..8 {
        let (url, token) = (url.clone(), c.token.clone());
        callers.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut ids = vec![];
            for _ in 0..25 {
                let resp = http.post(&url).bearer_auth(&token).send().await.unwrap();
                assert_eq!(resp.status(), StatusCode::ACCEPTED);
                let body: serde_json::Value = resp.json().await.unwrap();
                ids.push(body["runs"][0].as_str().unwrap().to_string());
            }
            ids
        }));
    }
    let mut told = vec![];
    for caller in callers {
        told.extend(caller.await.unwrap());
    }
    let distinct: BTreeSet<&String> = told.iter().collect();
    assert_eq!(distinct.len(), 200, "each caller is told its own run");
    let runs = c
        .wait_runs("burst", Duration::from_secs(60), "200 runs to end", |r| {
            r.len() >= 200 && r.iter().all(|r| r.status.is_terminal())
        })
        .await;
    assert_eq!(runs.len(), 200, "every accepted start is stored once");
    for r in &runs {
        assert!(distinct.contains(&r.id), "{} was never answered", r.id);
        assert_eq!(r.status, RunStatus::Succeeded, "{r:?}");
        assert_eq!(r.trigger, Trigger::Manual);
        // Each run ran as itself.
        let log = c.text(&format!("/runs/{}/log", r.id)).await;
        assert!(log.contains(&r.id), "{}: {log}", r.id);
    }
}

#[tokio::test]
async fn an_idempotency_key_gives_one_run_and_forbid_refuses_while_one_is_active() {
    let c = Center::start(&[]).await;
    c.create_task(json!({
        "name": "deploy", "command": "sleep 30", "schedules": ["@yearly"],
    }))
    .await;
    let start = |key: Option<&'static str>| {
        let (url, token) = (
            format!("{}/api/v1/tasks/deploy/start", c.url),
            c.token.clone(),
        );
        async move {
            let mut req = reqwest::Client::new().post(url).bearer_auth(token);
            if let Some(k) = key {
                req = req.header("Idempotency-Key", k);
            }
            let resp = req.send().await.unwrap();
            let status = resp.status();
            (status, resp.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (first, body) = start(Some("pipeline-41")).await;
    assert_eq!(first, StatusCode::ACCEPTED, "{body}");
    let id = body["runs"][0].clone();
    // The same request again (a CI step re-run): the same run, not a second one, and not a
    // refusal either, although a run is active.
    for _ in 0..3 {
        let (again, body) = start(Some("pipeline-41")).await;
        assert_eq!(again, StatusCode::OK, "{body}");
        assert_eq!(body["runs"][0], id);
    }
    let runs = c
        .wait_runs("deploy", Duration::from_secs(10), "the run to start", |r| {
            r.iter().any(|r| r.status == RunStatus::Running)
        })
        .await;
    assert_eq!(runs.len(), 1, "{runs:?}");

    // concurrency = forbid: a start without the key while the run is active is refused.
    let (refused, body) = start(None).await;
    assert_eq!(refused, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("concurrency is forbid"), "{message}");
    assert!(message.contains(id.as_str().unwrap()), "{message}");
    // The CLI says the same, with the conflict exit code, and the key flag works.
    let out = c.ctl(&["task", "start", "deploy"]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let out = c.ctl(&[
        "task",
        "start",
        "deploy",
        "--idempotency-key",
        "pipeline-41",
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["runs"][0], id);
    assert_eq!(c.runs("deploy").await.len(), 1);

    // Once the run ends, a start is accepted again.
    let (stopped, _) = c.api(Method::POST, "/tasks/deploy/stop", None).await;
    assert_eq!(stopped, StatusCode::ACCEPTED);
    c.wait_runs(
        "deploy",
        Duration::from_secs(20),
        "the run to be killed",
        |r| r.iter().all(|r| r.status.is_terminal()),
    )
    .await;
    let (next, body) = start(Some("pipeline-42")).await;
    assert_eq!(next, StatusCode::ACCEPTED, "{body}");
    assert_ne!(body["runs"][0], id);
    c.api(Method::POST, "/tasks/deploy/stop", None).await;
}
