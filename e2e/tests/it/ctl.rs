//! The first cut of `cloudtaskctl` against a real center: exit codes and JSON for scripts.

use std::time::Duration;

use cloudtask_e2e::{Center, tar_gz};
use serde_json::Value;

fn json_of(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "cloudtaskctl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn code(out: &std::process::Output) -> i32 {
    out.status.code().unwrap()
}

#[tokio::test]
async fn create_upload_run_and_inspect_through_the_cli() {
    let c = Center::start(&[]).await;
    let pkg = c.dir.join("job.tar.gz");
    std::fs::write(
        &pkg,
        tar_gz(&[("job.sh", 0o755, "#!/bin/sh\necho job says hi\n")]),
    )
    .unwrap();
    let created = json_of(&c.ctl(&[
        "-o",
        "json",
        "task",
        "create",
        "job",
        "--file",
        pkg.to_str().unwrap(),
        "--cmd",
        "./job.sh",
        "--schedule",
        "@every 1s",
        "--timeout",
        "30s",
    ]));
    assert_eq!(created["name"], "job");
    assert_eq!(created["timeout_ms"], 30_000);
    assert_eq!(created["package"]["file_name"], "job.tar.gz");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let runs = loop {
        let runs = json_of(&c.ctl(&["task", "runs", "job", "-o", "json", "--status", "succeeded"]));
        if runs.as_array().unwrap().len() >= 3 {
            break runs;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no 3 succeeded runs: {runs}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let first = &runs[0];
    for key in [
        "id",
        "task",
        "scheduled_at",
        "started_at",
        "finished_at",
        "status",
        "exit_code",
        "node",
        "attempt",
        "trigger",
    ] {
        assert!(first.get(key).is_some(), "run JSON lacks {key}: {first}");
    }
    assert_eq!(first["trigger"], "schedule");
    assert!(
        first["finished_at"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .is_ok()
    );

    let logs = c.ctl(&[
        "task",
        "logs",
        "job",
        "--run",
        first["id"].as_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&logs.stdout).contains("job says hi"));

    let shown = json_of(&c.ctl(&["task", "show", "job", "-o", "json"]));
    let version = shown["version"].as_u64().unwrap();
    let stale = c.ctl(&[
        "task",
        "edit",
        "job",
        "--cmd",
        "./job.sh again",
        "--if-version",
        &(version + 7).to_string(),
    ]);
    assert_eq!(
        code(&stale),
        4,
        "stale edit: {}",
        String::from_utf8_lossy(&stale.stderr)
    );
    let edited = json_of(&c.ctl(&[
        "task",
        "edit",
        "job",
        "--cmd",
        "./job.sh again",
        "-o",
        "json",
    ]));
    assert_eq!(edited["command"], "./job.sh again");

    assert_eq!(code(&c.ctl(&["task", "pause", "job"])), 0);
    assert_eq!(
        json_of(&c.ctl(&["task", "show", "job", "-o", "json"]))["state"],
        "paused"
    );
    let cloned = json_of(&c.ctl(&["task", "clone", "job", "job2", "-o", "json"]));
    assert_eq!(cloned["command"], "./job.sh again");

    assert_eq!(code(&c.ctl(&["task", "show", "nope"])), 3);
    assert_eq!(code(&c.ctl(&["task", "bogus-verb"])), 2);
    let unauthorized = c.ctl_env(&["task", "ls"], &[("CLOUDTASK_TOKEN", "ct_wrong")]);
    assert_eq!(code(&unauthorized), 5);
    assert!(String::from_utf8_lossy(&unauthorized.stderr).contains("token"));
    assert_eq!(code(&c.ctl(&["task", "rm", "job2"])), 0);
    assert_eq!(code(&c.ctl(&["task", "show", "job2"])), 3);
}

#[tokio::test]
async fn logs_follow_ends_with_the_run_status() {
    let c = Center::start(&[]).await;
    let out = c.ctl(&[
        "task",
        "create",
        "count",
        "--cmd",
        "for i in 1 2 3; do echo line $i; sleep 0.5; done",
        "--schedule",
        "0 0 0 1 1 *",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(code(&c.ctl(&["task", "start", "count"])), 0);
    let followed = c.ctl(&["task", "logs", "count", "-f"]);
    let stdout = String::from_utf8_lossy(&followed.stdout);
    assert!(stdout.contains("line 3"), "{stdout}");
    assert!(
        String::from_utf8_lossy(&followed.stderr).contains("succeeded"),
        "{}",
        String::from_utf8_lossy(&followed.stderr)
    );
    assert_eq!(code(&followed), 0);
}
