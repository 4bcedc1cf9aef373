//! kill -9 of the standalone center while tasks fire every second: after a restart no
//! instant has run twice, and every run finished before the kill is still there with its log.

use std::collections::HashMap;
use std::time::Duration;

use cloudtask_e2e::Center;
use cloudtask_shared::RunStatus;
use serde_json::json;

#[tokio::test]
async fn kill_9_and_restart_loses_nothing_and_runs_nothing_twice() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let mut c = Center::start_in(dir, &[]).await;
    let fires = dir.join("fires.log");
    let names: Vec<String> = (0..5).map(|i| format!("beat-{i}")).collect();
    for n in &names {
        // Each execution appends its (task, instant): the file, not the store, proves exactly-once.
        c.create_task(json!({
            "name": n,
            "command": format!("echo \"$CLOUDTASK_TASK_NAME $CLOUDTASK_SCHEDULED_AT\" >> {}; echo beat $CLOUDTASK_SCHEDULED_AT", fires.display()),
            "schedules": ["@every 1s"],
        }))
        .await;
    }
    for n in &names {
        c.wait_runs(n, Duration::from_secs(30), "3 succeeded runs", |r| {
            r.iter()
                .filter(|r| r.status == RunStatus::Succeeded)
                .count()
                >= 3
        })
        .await;
    }
    let mut before = HashMap::new();
    for n in &names {
        for r in c
            .runs(n)
            .await
            .into_iter()
            .filter(|r| r.status.is_terminal())
        {
            let log = c.text(&format!("/runs/{}/log", r.id)).await;
            before.insert(r.id.clone(), (r, log));
        }
    }
    c.kill9();
    let killed_at = jiff::Timestamp::now();

    let c = Center::start_in(dir, &[]).await;
    for n in &names {
        c.wait_runs(n, Duration::from_secs(30), "runs after the restart", |r| {
            r.iter()
                .filter(|r| r.status == RunStatus::Succeeded && r.scheduled_at > killed_at)
                .count()
                >= 3
        })
        .await;
    }
    for (id, (run, log)) in &before {
        let (_, now) = c
            .api(reqwest::Method::GET, &format!("/runs/{id}"), None)
            .await;
        assert_eq!(
            now["status"],
            json!(run.status),
            "run {id} changed after the restart"
        );
        assert_eq!(
            &c.text(&format!("/runs/{id}/log")).await,
            log,
            "log of {id} changed"
        );
    }
    // The instants that passed while the center was down follow misfire = run_once: at most one
    // catch-up per task, the rest recorded `missed`; runs cut short by the kill are `lost`.
    for n in &names {
        let runs = c.runs(n).await;
        let catch_ups = runs
            .iter()
            .filter(|r| r.trigger == cloudtask_shared::Trigger::CatchUp)
            .count();
        assert!(catch_ups <= 1, "{n}: {catch_ups} catch-up runs");
        let down: Vec<_> = runs
            .iter()
            .filter(|r| r.scheduled_at > killed_at && r.status == RunStatus::Missed)
            .collect();
        assert!(down.iter().all(|r| r.started_at.is_none()));
        assert!(
            runs.iter()
                .all(|r| r.status != RunStatus::Running || r.scheduled_at > killed_at),
            "{n}: a run from before the kill is still running: {runs:#?}"
        );
    }
    let text = std::fs::read_to_string(&fires).unwrap();
    let mut seen = HashMap::new();
    for line in text.lines() {
        *seen.entry(line).or_insert(0) += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "instants executed more than once: {twice:?}"
    );
    assert!(seen.len() >= names.len() * 6);
}

#[tokio::test]
async fn uploads_a_dead_center_left_unfinished_are_removed_at_start_and_fresh_ones_kept() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let packages = dir.join("packages");
    std::fs::create_dir_all(&packages).unwrap();
    let old = packages.join(".upload-left-by-a-crash");
    let fresh = packages.join(".upload-another-center-is-receiving");
    std::fs::write(&old, b"half an archive").unwrap();
    std::fs::write(&fresh, b"half an archive").unwrap();
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    let _c = Center::start_in(dir, &[]).await;
    assert!(!old.exists(), "a stale temporary upload is removed");
    assert!(fresh.exists(), "an upload in progress is left alone");
}
