//! No run stuck active: a run the store has `running` that its node does not know, or that
//! sits on a node that is gone with nothing left to notice it, becomes `lost`; real runs stay.
//!
//! Such runs are made the way they arise (a report whose run's ledger entry was lost, a
//! leader that died between emptying a node's assignment and marking its runs): with a
//! `running` report sent under the node's credential for a run that is not running.

use std::time::Duration;

use cloudtask_e2e::Center;
use cloudtask_shared::api::TaskView;
use cloudtask_shared::{RunRecord, RunStatus, Trigger, run_id};
use jiff::{SignedDuration, Timestamp};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// A `running` record of `task` on the center's own node that no process backs, stored
/// through the agents' API under that node's credential (once the task is placed on it).
async fn phantom_run(c: &Center, task: &str, node: &str) -> String {
    let t: TaskView = c
        .wait_task(task, Duration::from_secs(30), "placed on its node", |t| {
            t.node.as_deref() == Some(node)
        })
        .await;
    let at = Timestamp::now() - SignedDuration::from_secs(60);
    let id = run_id(&t.task.id, at, 1, Trigger::Schedule);
    let run = RunRecord {
        status: RunStatus::Running,
        started_at: Some(at),
        ..RunRecord::scheduled(&t.task, id, at, node, 1, Trigger::Schedule)
    };
    let (status, body) = c
        .api_as(
            Some(&c.node_token()),
            Method::POST,
            "/agent/runs",
            Some(json!([{ "run": run }])),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["refused"], json!([]), "{body}");
    run.id
}

#[tokio::test]
async fn a_running_run_its_live_node_does_not_know_becomes_lost_and_real_runs_stay() {
    let c = Center::start(&[]).await;
    c.create_task(json!({"name": "long", "command": "sleep 120", "schedules": ["@yearly"]}))
        .await;
    c.create_task(json!({"name": "ghosted", "command": "true", "schedules": ["@yearly"]}))
        .await;
    let (status, body) = c.api(Method::POST, "/tasks/long/start", None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let real = body["runs"][0].as_str().unwrap().to_string();
    c.wait_runs(
        "long",
        Duration::from_secs(30),
        "the real run running",
        |r| {
            r.iter()
                .any(|r| r.id == real && r.status == RunStatus::Running)
        },
    )
    .await;
    let phantom = phantom_run(&c, "ghosted", "node-1").await;
    // The node states its active runs every 10 s once its reports are all delivered.
    let runs = c
        .wait_runs("ghosted", Duration::from_secs(60), "the orphan lost", |r| {
            r.iter()
                .any(|r| r.id == phantom && r.status == RunStatus::Lost)
        })
        .await;
    let lost = runs.iter().find(|r| r.id == phantom).unwrap();
    assert!(
        lost.message.as_deref().unwrap_or("").contains("orphaned"),
        "{lost:?}"
    );
    let long = c.runs("long").await;
    assert_eq!(
        long.iter().find(|r| r.id == real).map(|r| r.status),
        Some(RunStatus::Running),
        "a run the node has is never reaped: {long:?}"
    );
}

#[tokio::test]
async fn a_run_left_active_on_a_node_that_is_gone_is_marked_lost_by_the_leader() {
    let temp = tempfile::tempdir().unwrap();
    // The run is node "gone"'s: the center ran as that node when it was reported.
    let mut before = Center::start_as(temp.path(), "gone", &[]).await;
    before
        .create_task(json!({"name": "stranded", "command": "true", "schedules": ["@yearly"]}))
        .await;
    let phantom = phantom_run(&before, "stranded", "gone").await;
    before.kill9();
    // Now node "gone" is no member and has no assignment: nothing but the leader's own
    // bookkeeping will ever end this run.
    let c = Center::start_in(temp.path(), &[]).await;
    let runs = c
        .wait_runs(
            "stranded",
            Duration::from_secs(60),
            "the stranded run lost",
            |r| {
                r.iter()
                    .any(|r| r.id == phantom && r.status == RunStatus::Lost)
            },
        )
        .await;
    let lost = runs.iter().find(|r| r.id == phantom).unwrap();
    assert!(
        lost.message.as_deref().unwrap_or("").contains("node gone"),
        "{lost:?}"
    );
}
