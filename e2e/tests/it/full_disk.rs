//! Full disks, on small tmpfs mounts (the tests need root, as CI has): with the agent's disk
//! full it launches nothing it cannot record and the center records those instants `failed`
//! with the reason; with the center's disk full it refuses writes with 507 `storage_full`
//! and reports wait in the agent's spool until space returns, then all arrive once.

use std::path::Path;
use std::time::Duration;

use cloudtask_e2e::Center;
use cloudtask_e2e::tmpfs::{Tmpfs, can_mount};
use cloudtask_shared::RunStatus;
use reqwest::{Method, StatusCode};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);

/// No (task, instant) ran twice.
fn assert_no_duplicates(runs: &[cloudtask_shared::RunRecord]) {
    let mut seen = std::collections::HashSet::new();
    for r in runs {
        assert!(
            seen.insert((r.scheduled_at, r.attempt)),
            "instant {} attempt {} recorded twice",
            r.scheduled_at,
            r.attempt
        );
    }
}

#[tokio::test]
async fn an_agent_with_a_full_disk_launches_nothing_it_cannot_record_and_says_so() {
    if !can_mount() {
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let disk = Tmpfs::mount(&temp.path().join("agent"), "4m");
    let mut c = Center::start_in(temp.path(), &[]).await;
    c.create_task(json!({"name": "tick", "command": "echo tick", "schedules": ["@every 1s"]}))
        .await;
    c.wait_runs("tick", WAIT, "2 succeeded runs", |r| {
        r.iter()
            .filter(|r| r.status == RunStatus::Succeeded)
            .count()
            >= 2
    })
    .await;

    let filler = disk.fill();
    let refused = c
        .wait_runs(
            "tick",
            WAIT,
            "an instant recorded failed: launch not recorded",
            |r| {
                r.iter().any(|r| {
                    r.status == RunStatus::Failed
                        && r.message
                            .as_deref()
                            .is_some_and(|m| m.contains("could not record the launch"))
                })
            },
        )
        .await;
    let first_refused = refused
        .iter()
        .filter(|r| r.status == RunStatus::Failed)
        .map(|r| r.scheduled_at)
        .min()
        .unwrap();
    let log = std::fs::read_to_string(temp.path().join("center.log")).unwrap();
    assert!(log.contains("not launching"), "said loudly:\n{log}");
    assert!(log.contains("not_launched_total"), "and counted:\n{log}");

    // Space returns: runs succeed again, and no instant ran twice.
    std::fs::remove_file(filler).unwrap();
    let runs = c
        .wait_runs("tick", WAIT, "runs succeeding after space returns", |r| {
            r.iter()
                .filter(|r| r.status == RunStatus::Succeeded && r.scheduled_at > first_refused)
                .count()
                >= 2
        })
        .await;
    assert_no_duplicates(&runs);
    c.kill9();
    drop(disk);
}

#[tokio::test]
async fn a_center_with_a_full_disk_refuses_writes_and_reports_wait_in_the_spool() {
    if !can_mount() {
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let center_disk = Tmpfs::mount(&temp.path().join("center"), "32m");
    let _agent_disk = Tmpfs::mount(&temp.path().join("center/agent"), "32m");
    let dir = temp.path().join("center");
    let mut c = Center::start_in(&dir, &[]).await;
    c.create_task(json!({"name": "tick", "command": "echo tick", "schedules": ["@every 1s"]}))
        .await;
    let before = c
        .wait_runs("tick", WAIT, "2 succeeded runs", |r| {
            r.iter()
                .filter(|r| r.status == RunStatus::Succeeded)
                .count()
                >= 2
        })
        .await
        .len();

    let filler = center_disk.fill();
    // An edit is refused with a code that names the problem, and nothing is half-written.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (status, body) = create_more(&c).await;
        if status == StatusCode::INSUFFICIENT_STORAGE {
            assert_eq!(body["error"]["code"], "storage_full", "{body}");
            break;
        }
        // Writes may still fit for a moment (the WAL has room until a page is needed).
        if status == StatusCode::CREATED {
            c.api(Method::DELETE, "/tasks/more", None).await;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never refused: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Runs go on; their reports wait in the agent's spool.
    let spool = dir.join("agent/spool");
    let deadline = tokio::time::Instant::now() + WAIT;
    while spool_files(&spool) < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "reports are not waiting in the spool"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // What the center stored before stays readable.
    let runs = c.runs("tick").await;
    assert!(runs.len() >= before, "stored runs went missing");
    let finished_while_full = runs.iter().filter(|r| r.status.is_terminal()).count();

    // Space returns: the center takes writes again and everything spooled arrives, once.
    std::fs::remove_file(&filler).unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (status, body) = create_more(&c).await;
        if status == StatusCode::CREATED {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "writes still refused once space returned: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    while spool_files(&spool) > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the spool did not drain once space returned"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let runs = c
        .wait_runs("tick", WAIT, "the spooled reports stored", |r| {
            r.iter().filter(|r| r.status.is_terminal()).count() > finished_while_full
        })
        .await;
    assert_no_duplicates(&runs);
    c.kill9();
}

/// An API write: creating task `more`.
async fn create_more(c: &Center) -> (StatusCode, serde_json::Value) {
    c.api(
        Method::POST,
        "/tasks",
        Some(json!({"name": "more", "command": "true"})),
    )
    .await
}

fn spool_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                .count()
        })
        .unwrap_or(0)
}
