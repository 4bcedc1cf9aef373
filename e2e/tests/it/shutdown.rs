//! SIGTERM: daemons stop promptly, end their streams, let runs drain, and record what they
//! had to kill as `killed` ("shutdown"), never `lost`.

use std::time::Duration;

use cloudtask_e2e::{Agent, Center, zookeeper::ZooKeeper};
use cloudtask_shared::RunStatus;
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::json;

/// Opens `/events` (optionally for one node) and returns once the stream has begun.
async fn follow(c: &Center, query: &str) -> tokio::task::JoinHandle<usize> {
    let resp = cloudtask_e2e::http()
        .get(format!("{}/api/v1/events{query}", c.url))
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    tokio::spawn(async move {
        let mut body = resp.bytes_stream();
        let mut chunks = 0;
        while let Some(Ok(_)) = body.next().await {
            chunks += 1;
        }
        chunks
    })
}

#[tokio::test]
async fn a_center_with_open_streams_exits_promptly_on_sigterm() {
    let mut c = Center::start(&[]).await;
    let everything = follow(&c, "").await;
    let one_node = follow(&c, "?node=node-1").await;
    let took = c.terminate(Duration::from_secs(5)).await;
    assert!(
        took.is_some(),
        "the center did not exit within 5 s of SIGTERM"
    );
    // The streams ended (rather than hanging on a dead socket).
    tokio::time::timeout(Duration::from_secs(5), everything)
        .await
        .unwrap()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), one_node)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_run_still_going_after_the_drain_is_killed_for_shutdown_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Center::start_in(dir.path(), &["--drain-timeout", "1s"]).await;
    c.create_task(json!({ "name": "long", "command": "sleep 60", "kill_grace_ms": 500 }))
        .await;
    let (status, body) = c.api(Method::POST, "/tasks/long/start", None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let id = body["runs"][0].as_str().unwrap().to_string();
    c.wait_runs("long", Duration::from_secs(10), "the run to run", |r| {
        r.iter().any(|r| r.status == RunStatus::Running)
    })
    .await;
    // A follower of its log does not hold the center up either.
    let log = cloudtask_e2e::http()
        .get(format!("{}/api/v1/runs/{id}/log?follow=true", c.url))
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap();
    let follower = tokio::spawn(async move { log.text().await.is_ok() });
    let took = c.terminate(Duration::from_secs(1 + 5)).await;
    assert!(took.is_some(), "not stopped within the drain timeout + 5 s");
    tokio::time::timeout(Duration::from_secs(5), follower)
        .await
        .unwrap()
        .unwrap();
    drop(c);

    let c = Center::start_in(dir.path(), &[]).await;
    let runs = c
        .wait_runs(
            "long",
            Duration::from_secs(20),
            "the run's final report",
            |r| r.iter().any(|r| r.status.is_terminal()),
        )
        .await;
    assert_eq!(runs.len(), 1, "nothing retried it: {runs:?}");
    assert_eq!(runs[0].status, RunStatus::Killed, "{runs:?}");
    assert_eq!(runs[0].message.as_deref(), Some("shutdown"), "{runs:?}");
}

#[tokio::test]
async fn a_cluster_agent_lets_a_run_finish_inside_the_drain_and_delivers_its_report() {
    let zk = ZooKeeper::start();
    let dir = tempfile::tempdir().unwrap();
    let c = Center::start_cluster(dir.path(), &zk.connect("/ct"), &[]).await;
    let mut agent = Agent::start("a1", "default", &zk.connect("/ct"), &c.url, dir.path());
    c.create_task(json!({ "name": "short", "command": "sleep 2; echo done" }))
        .await;
    let run = loop {
        let (status, body) = c.api(Method::POST, "/tasks/short/start", None).await;
        if status == StatusCode::ACCEPTED {
            break body["runs"][0].as_str().unwrap().to_string();
        }
        // Until the agent has joined and the task is placed.
        assert_eq!(body["error"]["code"], "unassigned", "{body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    c.wait_runs("short", Duration::from_secs(20), "the run to run", |r| {
        r.iter()
            .any(|r| r.id == run && r.status == RunStatus::Running)
    })
    .await;
    let took = agent
        .terminate(Duration::from_secs(10 + 5))
        .await
        .expect("the agent exits after the drain");
    assert!(
        took >= Duration::from_millis(500),
        "it waited for the run ({took:?})"
    );
    // Its report reached the store before the agent exited.
    let stored = c.runs("short").await;
    let rec = stored.iter().find(|r| r.id == run).unwrap();
    assert_eq!(rec.status, RunStatus::Succeeded, "{stored:?}");
    let log = c.text(&format!("/runs/{run}/log")).await;
    assert!(log.contains("done"), "{log}");
}
