//! Task isolation: a daemon started as root runs tasks as an unprivileged user (here
//! `nobody`) that cannot read the center's or the agent's credentials or the store, cannot
//! write into its package, gets a fresh work directory of its own, and is timed out and
//! stopped like any run. Runs as root are refused unless asked for. CI runs as root; as
//! another user the tests say so and check only what such a daemon does.

use std::time::Duration;

use cloudtask_e2e::zookeeper::ZooKeeper;
use cloudtask_e2e::{Agent, Center, tar_gz, wait_for};
use cloudtask_shared::RunStatus;
use reqwest::{Method, StatusCode};
use serde_json::json;

fn root() -> bool {
    // The effective uid (the e2e crate links no libc binding of its own).
    cloudtask_e2e::bench::status_field::<u32>("self", "Uid:", 2) == Some(0)
}

/// What the probe script prints: one line per attempt, `name: ok` or `name: denied`.
const PROBE: &str = r#"#!/bin/sh
try() { name=$1; shift; if "$@" >/dev/null 2>&1; then echo "$name: ok"; else echo "$name: denied"; fi; }
echo "uid: $(id -u)"
echo "home holds: [$(ls -A "$HOME" | tr '\n' ' ')]"
try read-admin-token cat "$CENTER_DIR/admin.token"
try read-admin-password cat "$CENTER_DIR/admin.password"
try read-node-token cat "$CENTER_DIR/node.token"
try read-store cat "$CENTER_DIR/cloudtask.db"
try list-center-dir ls "$CENTER_DIR"
try list-agent-specs ls "$CENTER_DIR/agent/specs"
try write-package sh -c 'echo x > ./new-file'
try change-package sh -c 'echo x >> ./probe.sh'
try write-home sh -c 'echo x > "$HOME/f" && test "$HOME" = "$CLOUDTASK_WORK_DIR"'
try write-tmp sh -c 'echo x > "$TMPDIR/t"'
"#;

/// Creates the task, runs it now and returns why its run was refused (it must fail, and
/// run nothing: no output).
async fn refusal(c: &Center, spec: serde_json::Value) -> String {
    let name = spec["name"].as_str().unwrap().to_string();
    c.create_task(spec).await;
    let (run, log) = c.run_now(&name).await;
    assert_eq!(run.status, RunStatus::Failed, "{log}");
    assert!(!log.contains(" out "), "a refused run ran: {log}");
    run.message.unwrap_or_default()
}

#[tokio::test]
async fn a_run_as_nobody_cannot_read_credentials_or_the_store_nor_write_its_package() {
    if !root() {
        eprintln!("not root: no user to switch to; the root-only checks are skipped");
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let c = Center::start_exact(
        dir,
        &[
            "--standalone",
            "--node-name",
            "node-1",
            "--run-as",
            "nobody",
        ],
    )
    .await;
    let pkg = tar_gz(&[("probe.sh", 0o777, PROBE)]);
    let (status, p) = c.upload("/packages?file_name=probe.tar.gz", pkg).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let center_dir = dir.display().to_string();
    c.create_task(json!({
        "name": "probe", "command": "./probe.sh", "package": p,
        "env": {"CENTER_DIR": center_dir},
    }))
    .await;
    for round in 0..2 {
        let (run, log) = c.run_now("probe").await;
        assert_eq!(run.status, RunStatus::Succeeded, "{log}");
        assert!(log.contains("out uid: 65534\n"), "{log}");
        for denied in [
            "read-admin-token",
            "read-admin-password",
            "read-node-token",
            "read-store",
            "list-center-dir",
            "list-agent-specs",
            "write-package",
            "change-package",
        ] {
            assert!(
                log.contains(&format!("out {denied}: denied\n")),
                "{denied}: {log}"
            );
        }
        assert!(log.contains("out write-home: ok\n"), "{log}");
        assert!(log.contains("out write-tmp: ok\n"), "{log}");
        // Each run's work directory is fresh: the second sees nothing the first wrote.
        assert!(log.contains("out home holds: []\n"), "round {round}: {log}");
    }
    // What runs leave in their work directories goes with them.
    wait_for(
        Duration::from_secs(10),
        "the work directories emptied",
        || {
            std::fs::read_dir(dir.join("agent/work")).is_ok_and(|d| {
                d.filter_map(Result::ok)
                    .all(|e| std::fs::read_dir(e.path()).is_ok_and(|mut w| w.next().is_none()))
            })
        },
    )
    .await;

    // A switched run is timed out and stopped with its whole group, as any run.
    c.create_task(json!({"name": "slow", "command": "sleep 300 & sleep 300", "timeout_ms": 300}))
        .await;
    let (run, log) = c.run_now("slow").await;
    assert_eq!(run.status, RunStatus::TimedOut, "{log}");
    c.create_task(json!({"name": "stopped", "command": "echo up; sleep 300"}))
        .await;
    let (status, body) = c.api(Method::POST, "/tasks/stopped/start", None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    c.wait_runs("stopped", Duration::from_secs(30), "running", |r| {
        r.iter().any(|r| r.status == RunStatus::Running)
    })
    .await;
    let (status, body) = c.api(Method::POST, "/tasks/stopped/stop", None).await;
    assert!(status.is_success(), "{body}");
    c.wait_runs("stopped", Duration::from_secs(30), "killed", |r| {
        r.iter().any(|r| r.status == RunStatus::Killed)
    })
    .await;

    // Root, or a user not on the list, is refused with what to do.
    let msg = refusal(
        &c,
        json!({"name": "as-root", "command": "id -u", "run_as": "root"}),
    )
    .await;
    assert!(msg.contains("--allow-root-runs"), "{msg}");
    let msg = refusal(
        &c,
        json!({"name": "as-daemon", "command": "id -u", "run_as": "daemon"}),
    )
    .await;
    assert!(
        msg.contains("\"daemon\"") && msg.contains("--allow-run-as"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_root_center_without_a_run_user_refuses_its_runs_and_an_unknown_user_stops_its_start() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    // An unknown user: the daemon does not start, and says which.
    let out = std::process::Command::new(cloudtask_e2e::bin("cloudtask-center"))
        .args(["--standalone", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("unknown"))
        .args(["--run-as", "no-such-user-here"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"no-such-user-here\" does not exist"),
        "{err}"
    );

    if !root() {
        eprintln!("not root: runs execute as this user; the root refusal is not checked");
        return;
    }
    let c = Center::start_exact(dir, &["--standalone", "--node-name", "node-1"]).await;
    let msg = refusal(&c, json!({"name": "t", "command": "id -u"})).await;
    assert!(
        msg.contains("--run-as") && msg.contains("--allow-root-runs"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_cluster_agent_started_as_root_runs_its_tasks_as_its_run_user() {
    if !root() {
        eprintln!("not root: no user to switch to");
        return;
    }
    let zk = ZooKeeper::start();
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let c = Center::start_cluster(dir, &zk.connect("/ct"), &[]).await;
    // The agent's data dir must be reachable by its runs: not inside the center's (0700).
    let agents = tempfile::tempdir().unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(agents.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::copy(dir.join("join.token"), agents.path().join("join.token")).unwrap();
    // A package cache of a version before switching users (unmarked): dropped at start.
    let old_package = agents.path().join("agent-node-1/packages/0123abcd/run.sh");
    std::fs::create_dir_all(old_package.parent().unwrap()).unwrap();
    std::fs::write(&old_package, "echo old").unwrap();
    let agent = Agent::start_with(
        "node-1",
        "default",
        &zk.connect("/ct"),
        &c.url,
        agents.path(),
        &["--run-as", "nobody"],
    );
    let agent_dir = agent.dir.display().to_string();
    c.create_task(json!({
        "name": "probe",
        "command": "id -u; cat \"$AGENT_DIR/node.token\" || echo token-denied; ls \"$AGENT_DIR/specs\" || echo specs-denied",
        "env": {"AGENT_DIR": agent_dir},
    }))
    .await;
    let (run, log) = c.run_now("probe").await;
    assert_eq!(run.status, RunStatus::Succeeded, "{log}");
    assert!(log.contains("out 65534\n"), "{log}");
    assert!(log.contains("out token-denied\n"), "{log}");
    assert!(log.contains("out specs-denied\n"), "{log}");
    assert!(!old_package.exists(), "an unmarked cache is emptied");
    assert!(
        agent.dir.join("packages/.modes-readable").exists(),
        "and marked"
    );
}
