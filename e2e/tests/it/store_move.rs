//! The store moves from SQLite to PostgreSQL with `cloudtask-center copy-store`, and a center
//! on the copy serves everything the old one had.

use std::time::Duration;

use cloudtask_e2e::{Center, bin, tar_gz};
use cloudtask_shared::RunStatus;
use cloudtask_shared::postgres_server::PostgresServer;
use reqwest::StatusCode;
use serde_json::json;

/// `cloudtask-center copy-store --from FROM --to TO`, run to its end.
fn copy_store(from: &std::path::Path, to: &str) -> std::process::Output {
    std::process::Command::new(bin("cloudtask-center"))
        .args(["copy-store", "--from"])
        .arg(from)
        .args(["--to", to])
        .output()
        .unwrap()
}

#[tokio::test]
async fn an_sqlite_store_moved_to_postgres_keeps_every_task_run_log_and_package() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let mut c = Center::start_in(dir, &[]).await;
    let (status, pkg) = c
        .upload(
            "/packages?file_name=hello.tar.gz",
            tar_gz(&[("hello.sh", 0o755, "echo hello from the package\n")]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{pkg}");
    let sha = pkg["sha256"].as_str().unwrap().to_string();
    let package = c.bytes(&format!("/packages/{sha}")).await;
    c.create_task(json!({
        "name": "hello",
        "command": "./hello.sh",
        "package": pkg,
        "schedules": ["@every 1s"],
    }))
    .await;
    c.wait_runs("hello", Duration::from_secs(60), "3 succeeded runs", |r| {
        r.iter()
            .filter(|r| r.status == RunStatus::Succeeded)
            .count()
            >= 3
    })
    .await;
    let finished: Vec<_> = c
        .runs("hello")
        .await
        .into_iter()
        .filter(|r| r.status == RunStatus::Succeeded)
        .collect();
    let log = c.text(&format!("/runs/{}/log", finished[0].id)).await;
    assert!(log.contains("hello from the package"), "{log}");
    assert!(c.terminate(Duration::from_secs(30)).await.is_some());

    let pg = PostgresServer::start();
    let url = pg.create_database("moved");
    let out = copy_store(&dir.join("cloudtask.db"), &url);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("every count verified"), "{stdout}");

    // A center on the copy (same data dir, so the same admin token file) has it all.
    let c = Center::start_in(dir, &["--store", &url]).await;
    let after = c.runs("hello").await;
    for r in &finished {
        assert!(after.contains(r), "run {} is missing or changed", r.id);
    }
    assert_eq!(c.text(&format!("/runs/{}/log", finished[0].id)).await, log);
    assert!(
        c.bytes(&format!("/packages/{sha}")).await == package,
        "the package downloads with the same bytes"
    );
    // And it carries on: new runs of the task land in PostgreSQL.
    let newest = after.iter().map(|r| r.scheduled_at).max().unwrap();
    c.wait_runs(
        "hello",
        Duration::from_secs(60),
        "a run after the move",
        |r| {
            r.iter()
                .any(|r| r.scheduled_at > newest && r.status == RunStatus::Succeeded)
        },
    )
    .await;
    // Copying again into the store now in use is refused.
    let out = copy_store(&dir.join("cloudtask.db"), &url);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not empty"), "{stderr}");
}
