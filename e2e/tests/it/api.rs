//! The center's HTTP API driving the in-process agent: runs, failures, timeouts, stop, pause,
//! clone, optimistic concurrency, hostile uploads, limits and auth.

use std::collections::HashSet;
use std::time::Duration;

use cloudtask_e2e::{Center, hostile_tar_gz, process_alive, processes_with_env, tar_gz};
use cloudtask_shared::RunStatus;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn package_runs_every_second_with_output() {
    let c = Center::start(&[]).await;
    let pkg = tar_gz(&[(
        "bin/hello.sh",
        0o755,
        "#!/bin/sh\necho \"hello from package, attempt $CLOUDTASK_ATTEMPT on $CLOUDTASK_NODE\"\n",
    )]);
    let (status, p) = c.upload("/packages?file_name=hello.tar.gz", pkg).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    c.create_task(json!({"name": "hello", "command": "./bin/hello.sh", "schedules": ["@every 1s"], "package": p})).await;
    let runs = c
        .wait_runs("hello", WAIT, "3 succeeded runs", |r| {
            r.iter()
                .filter(|r| r.status == RunStatus::Succeeded)
                .count()
                >= 3
        })
        .await;
    let ok: Vec<_> = runs
        .iter()
        .filter(|r| r.status == RunStatus::Succeeded)
        .collect();
    for r in &ok[..3] {
        assert_eq!(r.exit_code, Some(0));
        assert_eq!(r.node, "node-1");
        assert_eq!(
            r.scheduled_at.subsec_nanosecond(),
            0,
            "every-second instants are whole seconds"
        );
        let log = c.text(&format!("/runs/{}/log", r.id)).await;
        assert!(
            log.contains("out hello from package, attempt 1 on node-1"),
            "{log}"
        );
    }
    let instants: HashSet<_> = runs.iter().map(|r| r.scheduled_at).collect();
    assert_eq!(instants.len(), runs.len(), "an instant ran twice");
}

#[tokio::test]
async fn failure_timeout_and_stop_end_as_they_should() {
    let c = Center::start(&[]).await;
    c.create_task(json!({"name": "fails", "command": "echo about to fail >&2; exit 3", "schedules": ["@every 1s"]})).await;
    let pidfile = c.dir.join("grandchild.pid");
    c.create_task(json!({
        "name": "slow",
        "command": format!("sh -c 'echo $$ > {}; exec sleep 300' & wait", pidfile.display()),
        "schedules": ["0 0 0 1 1 *"],
        "timeout_ms": 1500,
        "kill_grace_ms": 500,
    }))
    .await;
    c.create_task(
        json!({"name": "long", "command": "echo started; sleep 300", "schedules": ["0 0 0 1 1 *"]}),
    )
    .await;

    let runs = c
        .wait_runs("fails", WAIT, "a failed run", |r| {
            r.iter().any(|r| r.status == RunStatus::Failed)
        })
        .await;
    let failed = runs.iter().find(|r| r.status == RunStatus::Failed).unwrap();
    assert_eq!(failed.exit_code, Some(3));
    assert!(
        c.text(&format!("/runs/{}/log", failed.id))
            .await
            .contains("err about to fail")
    );

    let (status, body) = c.api(Method::POST, "/tasks/slow/start", None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let runs = c
        .wait_runs("slow", WAIT, "a timed-out run", |r| {
            r.iter().any(|r| r.status == RunStatus::TimedOut)
        })
        .await;
    assert_eq!(runs[0].trigger, cloudtask_shared::Trigger::Manual);
    assert_eq!(runs[0].requested_by.as_deref(), Some("admin"), "who asked");
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while process_alive(pid.trim()) {
        assert!(
            std::time::Instant::now() < deadline,
            "grandchild {pid} outlived the timeout"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let (status, _) = c.api(Method::POST, "/tasks/long/start", None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    c.wait_runs("long", WAIT, "a running run", |r| {
        r.iter().any(|r| r.status == RunStatus::Running)
    })
    .await;
    let (status, body) = c.api(Method::POST, "/tasks/long/stop", None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(body["runs"].as_array().unwrap().len(), 1, "{body}");
    let runs = c
        .wait_runs("long", WAIT, "a killed run", |r| {
            r.iter().any(|r| r.status.is_terminal())
        })
        .await;
    assert_eq!(
        runs[0].status,
        RunStatus::Killed,
        "a stop is never a success: {runs:?}"
    );
}

#[tokio::test]
async fn a_run_sees_its_tasks_environment_and_not_the_agents() {
    // The center (and its in-process agent) runs with CLOUDTASK_LOG set: a run must not see it.
    let c = Center::start(&[]).await;
    c.create_task(json!({"name": "env", "command": "env", "env": {"GREETING": "hi"}, "schedules": ["0 0 0 1 1 *"]}))
        .await;
    let (run, log) = c.run_now("env").await;
    assert_eq!(run.status, RunStatus::Succeeded, "{log}");
    for want in [" out GREETING=hi\n", " out PATH=", " out CLOUDTASK_RUN_ID="] {
        assert!(log.contains(want), "no {want:?} in {log}");
    }
    assert!(
        !log.contains("CLOUDTASK_LOG="),
        "the agent's environment leaked: {log}"
    );
}

#[tokio::test]
async fn pause_stops_firing_and_resume_restarts() {
    let c = Center::start(&[]).await;
    c.create_task(json!({"name": "tick", "command": "true", "schedules": ["@every 1s"]}))
        .await;
    c.wait_runs("tick", WAIT, "a first run", |r| !r.is_empty())
        .await;
    let (status, body) = c.api(Method::POST, "/tasks/tick/pause", None).await;
    assert_eq!(
        (status, body["state"].as_str()),
        (StatusCode::OK, Some("paused")),
        "{body}"
    );
    // The pause reaches the agent through an assignment change: wait (bounded) until no new
    // run appears for 2.5 s, then check that three more instants pass without a fire.
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut seen = c.runs("tick").await.len();
    let mut quiet_since = tokio::time::Instant::now();
    while quiet_since.elapsed() < Duration::from_millis(2500) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still firing {WAIT:?} after the pause"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        let n = c.runs("tick").await.len();
        if n != seen {
            seen = n;
            quiet_since = tokio::time::Instant::now();
        }
    }
    let quiet_at = jiff::Timestamp::now();
    while jiff::Timestamp::now() < quiet_at + jiff::SignedDuration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let late: Vec<_> = c
        .runs("tick")
        .await
        .into_iter()
        .filter(|r| r.scheduled_at > quiet_at)
        .collect();
    assert!(late.is_empty(), "fired while paused: {late:?}");
    let (status, _) = c.api(Method::POST, "/tasks/tick/resume", None).await;
    assert_eq!(status, StatusCode::OK);
    let resumed = jiff::Timestamp::now();
    c.wait_runs("tick", WAIT, "a run after resume", |r| {
        r.iter().any(|r| r.scheduled_at > resumed)
    })
    .await;
}

#[tokio::test]
async fn clone_copies_all_but_identity_and_edits_need_the_current_version() {
    let c = Center::start(&[]).await;
    let orig = c
        .create_task(json!({
            "name": "orig", "command": "echo $A", "schedules": ["0 0 3 * * *", "@every 1h"], "timezone": "Europe/Berlin",
            "env": {"A": "1"}, "timeout_ms": 60000, "retries": 2, "concurrency": "allow", "misfire": "skip",
            "description": "nightly", "paused": true,
        }))
        .await;
    let (status, copy) = c
        .api(
            Method::POST,
            "/tasks/orig/clone",
            Some(json!({"name": "copy"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{copy}");
    assert_ne!(copy["id"], orig["id"]);
    assert_eq!(copy["name"], "copy");
    for field in [
        "command",
        "schedules",
        "timezone",
        "env",
        "timeout_ms",
        "retries",
        "concurrency",
        "misfire",
        "description",
        "paused",
        "group",
        "cluster",
    ] {
        assert_eq!(copy[field], orig[field], "field {field}");
    }
    let (status, _) = c
        .api(
            Method::POST,
            "/tasks/orig/clone",
            Some(json!({"name": "copy"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "clone onto an existing name");

    let v = orig["version"].as_u64().unwrap();
    let (status, edited) = c
        .api(
            Method::PATCH,
            "/tasks/orig",
            Some(json!({"version": v, "command": "echo $A $A"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["version"].as_u64(), Some(v + 1));
    let (status, body) = c
        .api(
            Method::PATCH,
            "/tasks/orig",
            Some(json!({"version": v, "command": "stale"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "stale_version");
    let (status, body) = c
        .api(
            Method::PATCH,
            "/tasks/orig",
            Some(json!({"version": v + 1, "schedules": ["61 * * * *"]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("schedules[0]"),
        "{body}"
    );
}

#[tokio::test]
async fn hostile_archives_are_refused_and_write_nothing() {
    let c = Center::start(&[]).await;
    let outside = c.dir.join("evil.sh");
    for (name, link, needle) in [
        ("../evil.sh", None, "'..'"),
        ("/tmp/cloudtask-e2e-absolute.sh", None, "absolute"),
        ("escape", Some("/etc"), "link"),
    ] {
        let (status, body) = c
            .upload("/packages?file_name=bad.tar.gz", hostile_tar_gz(name, link))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(needle),
            "{name}: {body}"
        );
    }
    assert!(!outside.exists());
    assert!(!std::path::Path::new("/tmp/cloudtask-e2e-absolute.sh").exists());
    let kept: Vec<_> = std::fs::read_dir(c.dir.join("packages")).unwrap().collect();
    assert!(kept.is_empty(), "refused uploads left files: {kept:?}");
}

#[tokio::test]
async fn limits_and_auth() {
    let c = Center::start(&["--max-upload-bytes", "1000"]).await;
    let (status, body) = c
        .upload("/packages?file_name=big.sh", vec![b'x'; 5000])
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    let (status, body) = c.api_as(None, Method::GET, "/tasks", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _) = c
        .api_as(Some("ct_wrong"), Method::GET, "/tasks", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = c.api_as(None, Method::GET, "/health", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = c.api_as(None, Method::GET, "/ready", None).await;
    assert_eq!(status, StatusCode::OK, "readiness needs no token: {body}");
    let (status, _) = c
        .api_as(None, Method::POST, "/agent/active", Some(json!({})))
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "statements need a node credential"
    );
    let agent = c.node_token();
    let (status, _) = c
        .api_as(Some(agent.trim()), Method::POST, "/tasks", Some(json!({})))
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a node credential may not create tasks"
    );
    let (status, body) = c
        .api(
            Method::POST,
            "/tasks",
            Some(json!({"name": "x", "command": "true", "schedules": ["@every 1s"], "comand": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("comand"),
        "{body}"
    );
    let token_mode = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(c.dir.join("admin.token"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(token_mode, 0o600);
}

#[tokio::test]
async fn retries_back_off_and_forbid_skips_overlapping_fires() {
    let c = Center::start(&[]).await;
    c.create_task(json!({
        "name": "flaky", "command": "echo attempt $CLOUDTASK_ATTEMPT; exit 1", "schedules": ["0 0 0 1 1 *"],
        "retries": 2, "retry_backoff_ms": 200,
    }))
    .await;
    let (status, _) = c.api(Method::POST, "/tasks/flaky/start", None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let runs = c
        .wait_runs("flaky", WAIT, "three failed attempts", |r| {
            r.iter().filter(|r| r.status == RunStatus::Failed).count() == 3
        })
        .await;
    let mut attempts: Vec<(u32, cloudtask_shared::Trigger)> =
        runs.iter().map(|r| (r.attempt, r.trigger)).collect();
    attempts.sort_by_key(|a| a.0);
    use cloudtask_shared::Trigger::{Manual, Retry};
    assert_eq!(attempts, [(1, Manual), (2, Retry), (3, Retry)]);
    assert!(
        runs.iter().all(|r| r.scheduled_at == runs[0].scheduled_at),
        "retries keep the instant"
    );
    let by_attempt = |n: u32| runs.iter().find(|r| r.attempt == n).unwrap();
    let gap = by_attempt(3)
        .started_at
        .unwrap()
        .duration_since(by_attempt(2).finished_at.unwrap());
    assert!(
        gap >= jiff::SignedDuration::from_millis(400),
        "second retry waits twice the backoff, waited {gap:#}"
    );

    c.create_task(json!({"name": "overlap", "command": "sleep 2.5", "schedules": ["@every 1s"], "concurrency": "forbid"})).await;
    let runs = c
        .wait_runs("overlap", WAIT, "a skipped fire", |r| {
            r.iter().any(|r| r.status == RunStatus::Skipped)
        })
        .await;
    let skipped = runs
        .iter()
        .find(|r| r.status == RunStatus::Skipped)
        .unwrap();
    assert!(
        skipped.message.as_deref().unwrap().contains("still active"),
        "{skipped:?}"
    );
    assert!(skipped.started_at.is_none(), "a skipped fire never started");
}

#[tokio::test]
async fn package_history_lets_an_older_package_be_reselected() {
    let c = Center::start(&[]).await;
    let v1 = tar_gz(&[("run.sh", 0o755, "echo version one\n")]);
    let v2 = tar_gz(&[("run.sh", 0o755, "echo version two\n")]);
    let (_, p1) = c.upload("/packages?file_name=app.tar.gz", v1).await;
    c.create_task(
        json!({"name": "app", "command": "sh run.sh", "schedules": ["0 0 0 1 1 *"], "package": p1}),
    )
    .await;
    let (status, t) = c
        .upload("/tasks/app/package?file_name=app.tar.gz", v2)
        .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_ne!(t["package"]["sha256"], p1["sha256"]);
    let (_, history) = c.api(Method::GET, "/tasks/app/packages", None).await;
    assert_eq!(history.as_array().unwrap().len(), 2, "{history}");

    let c = &c;
    let run_and_read = |expect: &'static str| async move {
        let (_, log) = c.run_now("app").await;
        assert!(log.contains(expect), "{log}");
    };
    run_and_read("version two").await;
    let (status, body) = c
        .api(
            Method::PATCH,
            "/tasks/app",
            Some(json!({"version": t["version"], "package": p1})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    run_and_read("version one").await;
    let bogus = json!({"sha256": "0".repeat(64), "file_name": "x.tar.gz", "size": 1});
    let (status, body) = c
        .api(
            Method::PATCH,
            "/tasks/app",
            Some(json!({"version": body["version"], "package": bogus})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("package.sha256"),
        "{body}"
    );
}

/// Processes of the task `name` started ahead and still waiting for their instant: (pid,
/// scheduled instant).
fn held_processes(name: &str) -> Vec<(String, jiff::Timestamp)> {
    let now = jiff::Timestamp::now();
    processes_with_env("CLOUDTASK_TASK_NAME", name)
        .into_iter()
        .filter_map(|(pid, env)| {
            let at = env.get("CLOUDTASK_SCHEDULED_AT")?.parse().ok()?;
            (at > now).then_some((pid, at))
        })
        .collect()
}

/// Waits for a process of `name` held for an instant at least `lead` away; returns it.
async fn wait_held(name: &str, lead: jiff::SignedDuration) -> (String, jiff::Timestamp) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let now = jiff::Timestamp::now();
        if let Some(h) = held_processes(name)
            .into_iter()
            .find(|(_, at)| *at > now + lead)
        {
            return h;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no process of {name} held {lead:#} ahead within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_gone(pid: &str, why: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while process_alive(pid) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{why}: process {pid} lives on"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn processes_started_ahead_run_at_their_instant_and_only_for_the_task_they_were_for() {
    let c = Center::start(&["--launch-ahead", "5s"]).await;
    let out = c.dir.join("out");
    let command = |v: &str| {
        format!(
            "echo \"$CLOUDTASK_SCHEDULED_AT $(date +%s%N) {v}\" >> {}",
            out.display()
        )
    };
    let task = c
        .create_task(json!({"name": "ahead", "command": command("v1"), "schedules": ["@every 3s"]}))
        .await;
    let lead = jiff::SignedDuration::from_millis(1500);
    c.wait_runs("ahead", WAIT, "a first run", |r| {
        r.iter().any(|r| r.status == RunStatus::Succeeded)
    })
    .await;

    // An edit while a process waits for its instant: that process goes, the instant runs the
    // new command.
    let (pid, at) = wait_held("ahead", lead).await;
    let v = task["version"].as_u64().unwrap();
    let (status, body) = c
        .api(
            Method::PATCH,
            "/tasks/ahead",
            Some(json!({"version": v, "command": command("v2")})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    wait_gone(&pid, "held for a command edited since").await;
    c.wait_runs("ahead", WAIT, "the run at the held instant", |r| {
        r.iter()
            .any(|r| r.scheduled_at == at && r.status == RunStatus::Succeeded)
    })
    .await;

    // A pause while a process waits: it goes, and its instant does not run.
    let (pid, paused_at) = wait_held("ahead", lead).await;
    let (status, _) = c.api(Method::POST, "/tasks/ahead/pause", None).await;
    assert_eq!(status, StatusCode::OK);
    wait_gone(&pid, "held for a task paused since").await;
    while jiff::Timestamp::now() < paused_at + jiff::SignedDuration::from_secs(1) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let runs = c.runs("ahead").await;
    assert!(
        runs.iter().all(|r| r.scheduled_at < paused_at),
        "ran after the pause: {runs:#?}"
    );
    let lines = std::fs::read_to_string(&out).unwrap();
    let mut seen = HashSet::new();
    for line in lines.lines() {
        let mut f = line.split(' ');
        let (Some(instant), Some(ns), Some(version)) = (f.next(), f.next(), f.next()) else {
            panic!("odd line {line:?}");
        };
        let instant: jiff::Timestamp = instant.parse().unwrap();
        let ran = jiff::Timestamp::from_nanosecond(ns.parse().unwrap()).unwrap();
        assert!(ran >= instant, "ran at {ran}, before its instant {instant}");
        let want = if instant >= at { "v2" } else { "v1" };
        assert_eq!(
            version, want,
            "instant {instant} ran the wrong command: {lines}"
        );
        seen.insert(version.to_string());
    }
    assert_eq!(seen.len(), 2, "both commands ran: {lines}");
}

#[tokio::test]
async fn a_run_with_more_output_than_its_log_keeps_reaches_the_store() {
    // 3 MB of output against the 1 MiB cap: the report carries a full capped log.
    let c = Center::start(&[]).await;
    c.create_task(json!({
        "name": "loud",
        "command": "i=0; while [ $i -lt 30000 ]; do echo \"line $i of a long and chatty run, padded to about a hundred bytes....\"; i=$((i+1)); done",
        "schedules": ["0 0 0 1 1 *"],
    }))
    .await;
    let (run, log) = c.run_now("loud").await;
    assert_eq!(run.status, RunStatus::Succeeded);
    assert!(log.len() > 900_000, "log of {} bytes", log.len());
    assert!(log.contains("line 0 of"), "head kept");
    assert!(log.contains("line 29999 of"), "tail kept");
}

/// (code, token if not the admin's, method, path, body, status).
type ErrorCase<'a> = (
    &'a str,
    Option<&'a str>,
    Method,
    &'a str,
    Option<serde_json::Value>,
    StatusCode,
);

/// Every error code names its problem, with the status and the CLI exit code that go with it.
#[tokio::test]
async fn error_codes_name_the_problem_and_choose_the_exit_code() {
    let c = Center::start(&["--max-upload-bytes", "1000"]).await;
    c.create_task(json!({ "name": "taken", "command": "true", "schedules": ["@daily"] }))
        .await;
    let agent = c.node_token();
    let cases: Vec<ErrorCase> = vec![
        (
            "unknown_field",
            None,
            Method::POST,
            "/tasks",
            Some(json!({ "name": "a", "command": "true", "comand": 1 })),
            StatusCode::BAD_REQUEST,
        ),
        (
            "invalid_schedule",
            None,
            Method::POST,
            "/tasks",
            Some(json!({ "name": "a", "command": "true", "schedules": ["61 * * * *"] })),
            StatusCode::BAD_REQUEST,
        ),
        (
            "invalid_field",
            None,
            Method::POST,
            "/tasks",
            Some(json!({ "name": "a b", "command": "true" })),
            StatusCode::BAD_REQUEST,
        ),
        (
            "invalid_request",
            None,
            Method::POST,
            "/tasks",
            Some(json!([1, 2])),
            StatusCode::BAD_REQUEST,
        ),
        (
            "invalid_parameter",
            None,
            Method::POST,
            "/tasks/taken/start",
            Some(json!({ "env": { "X": "1" } })),
            StatusCode::BAD_REQUEST,
        ),
        (
            "task_not_found",
            None,
            Method::GET,
            "/tasks/ghost",
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            "run_not_found",
            None,
            Method::GET,
            "/runs/ghost-1-1",
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            "group_not_found",
            None,
            Method::DELETE,
            "/groups/ghost",
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            "not_found",
            None,
            Method::GET,
            "/nothing-here",
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            "name_taken",
            None,
            Method::POST,
            "/tasks",
            Some(json!({ "name": "taken", "command": "true" })),
            StatusCode::CONFLICT,
        ),
        (
            "stale_version",
            None,
            Method::PATCH,
            "/tasks/taken",
            Some(json!({ "version": 99, "command": "false" })),
            StatusCode::CONFLICT,
        ),
        (
            "unauthorized",
            Some("ct_wrong"),
            Method::GET,
            "/tasks",
            None,
            StatusCode::UNAUTHORIZED,
        ),
        (
            "forbidden",
            Some(agent.trim()),
            Method::POST,
            "/tasks",
            Some(json!({})),
            StatusCode::FORBIDDEN,
        ),
    ];
    for (code, token, method, path, body, status) in cases {
        let token = token.unwrap_or(&c.token);
        let (got, answer) = c.api_as(Some(token), method, path, body).await;
        assert_eq!(got, status, "{code}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{answer}");
    }
    let (status, answer) = c
        .upload("/packages?file_name=big.sh", vec![b'x'; 5000])
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer["error"]["code"], "payload_too_large", "{answer}");

    // The CLI exits by the code, and with -o json says it on stderr.
    for (args, exit, code) in [
        (
            vec!["task", "show", "ghost", "-o", "json"],
            3,
            Some("task_not_found"),
        ),
        (
            vec!["task", "create", "taken", "--cmd", "true", "-o", "json"],
            4,
            Some("name_taken"),
        ),
        (
            vec![
                "task",
                "create",
                "bad",
                "--cmd",
                "true",
                "--schedule",
                "61 * * * *",
                "-o",
                "json",
            ],
            2,
            Some("invalid_schedule"),
        ),
    ] {
        let out = c.ctl(&args);
        assert_eq!(out.status.code(), Some(exit), "{args:?}: {out:?}");
        let err: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
        assert_eq!(err["error"]["code"].as_str(), code, "{err}");
        assert_eq!(err["error"]["exit"], exit);
    }
    let forbidden = c.ctl_env(
        &["task", "create", "x", "--cmd", "true"],
        &[("CLOUDTASK_TOKEN", agent.trim())],
    );
    assert_eq!(forbidden.status.code(), Some(6), "{forbidden:?}");
    // A center that is not there: 7.
    let gone = c.ctl_env(
        &["task", "ls"],
        &[("CLOUDTASK_SERVER", "http://127.0.0.1:9")],
    );
    assert_eq!(gone.status.code(), Some(7), "{gone:?}");
}

#[tokio::test]
async fn every_change_leaves_one_audit_row_and_a_refused_one_none() {
    let c = Center::start(&[]).await;
    let t = c
        .create_task(
            json!({"name": "audited", "group": "ops", "command": "true", "schedules": ["@daily"]}),
        )
        .await;
    let id = t["id"].as_str().unwrap().to_string();
    let (status, body) = c.api(Method::POST, "/tasks/audited/pause", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Refused: a taken name, a stale edit, removing a group that has tasks.
    let (status, _) = c
        .api(
            Method::POST,
            "/tasks",
            Some(json!({"name": "audited", "group": "ops", "command": "true"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = c
        .api(
            Method::PATCH,
            "/tasks/audited",
            Some(json!({"version": 1, "changes": {"command": "false"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = c.api(Method::DELETE, "/groups/ops", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "group_not_empty", "{body}");
    let (status, body) = c
        .api(
            Method::PATCH,
            "/tasks/audited",
            Some(json!({"version": 2, "command": "false", "description": "d"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = c.api(Method::DELETE, "/tasks/audited", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let (status, log) = c.api(Method::GET, "/audit?limit=50", None).await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let rows: Vec<(String, String, String)> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"].as_str().is_some_and(|a| a.starts_with("task.")))
        .map(|r| {
            (
                r["actor"].as_str().unwrap().to_string(),
                r["action"].as_str().unwrap().to_string(),
                r["target"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String, String)> =
        ["task.delete", "task.edit", "task.pause", "task.create"]
            .iter()
            .map(|a| ("admin".to_string(), a.to_string(), id.clone()))
            .collect();
    assert_eq!(rows, want, "newest first, refused writes absent");
    // Each says where it came from, the task's group, and what it changed.
    let of = |action: &str| {
        log.as_array()
            .unwrap()
            .iter()
            .find(|r| r["action"] == action)
            .unwrap()
            .clone()
    };
    let versions = |r: &Value| (r["version_before"].as_u64(), r["version_after"].as_u64());
    for a in ["task.create", "task.pause", "task.edit", "task.delete"] {
        let r = of(a);
        assert_eq!(r["from"], "127.0.0.1", "{r}");
        assert_eq!(r["group"], "ops", "{r}");
    }
    assert_eq!(versions(&of("task.create")), (None, Some(1)));
    assert_eq!(versions(&of("task.pause")), (Some(1), Some(2)));
    assert_eq!(of("task.pause")["fields"], json!(["paused"]));
    assert_eq!(versions(&of("task.edit")), (Some(2), Some(3)));
    assert_eq!(of("task.edit")["fields"], json!(["command", "description"]));
    assert_eq!(versions(&of("task.delete")), (Some(3), None));
    // The CLI filters by task (a deleted one by its id), user, action and time.
    let json_rows = |args: &[&str]| -> Vec<Value> {
        let mut all = vec!["audit", "-o", "json"];
        all.extend_from_slice(args);
        let out = c.ctl(&all);
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    };
    assert_eq!(json_rows(&["--task", &id]).len(), 4);
    let edits = json_rows(&["--user", "admin", "--action", "task.edit"]);
    assert_eq!(edits.len(), 1, "{edits:?}");
    assert_eq!(edits[0]["target"], id.as_str());
    assert_eq!(json_rows(&["--group", "ops", "--since", "1h"]).len(), 4);
    assert!(
        json_rows(&["--until", "1h"]).is_empty(),
        "nothing an hour old"
    );
    let table = c.ctl(&["audit", "--task", &id, "-o", "wide"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("2→3") && text.contains("command,description"),
        "{text}"
    );
    let agent = c.node_token();
    let (status, _) = c
        .api_as(Some(agent.trim()), Method::GET, "/audit", None)
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "agents may not read the audit log"
    );
}

/// GET /tasks in pages: `limit` reads that many, `cloudtask-next` says where the next page
/// starts, the filters apply on the store's side, and bad paging parameters are named.
#[tokio::test]
async fn the_task_list_pages_and_filters() {
    let c = Center::start(&[]).await;
    for g in ["alpha", "beta"] {
        let (status, body) = c
            .api(Method::POST, "/groups", Some(json!({"name": g})))
            .await;
        assert!(status.is_success(), "{body}");
    }
    for (g, n) in [
        ("alpha", "a-0"),
        ("alpha", "a-1"),
        ("alpha", "a-2"),
        ("beta", "job-1"),
        ("beta", "job-2"),
        ("beta", "other"),
    ] {
        c.create_task(json!({"name": n, "group": g, "command": "true"}))
            .await;
    }
    let page = |query: String| {
        let c = &c;
        async move {
            let resp = cloudtask_e2e::http()
                .get(format!("{}/api/v1/tasks?{query}", c.url))
                .bearer_auth(&c.token)
                .send()
                .await
                .unwrap();
            let status = resp.status();
            let next = resp
                .headers()
                .get("cloudtask-next")
                .map(|v| v.to_str().unwrap().to_string());
            let body: Value = resp.json().await.unwrap();
            (status, body, next)
        }
    };
    let names = |body: &Value| -> Vec<String> {
        body.as_array()
            .unwrap()
            .iter()
            .map(|t| {
                format!(
                    "{}/{}",
                    t["group"].as_str().unwrap(),
                    t["name"].as_str().unwrap()
                )
            })
            .collect()
    };
    // Pages of 4 walk every task once, in group and name order.
    let mut seen = Vec::new();
    let mut query = "limit=4".to_string();
    let mut pages = 0;
    loop {
        let (status, body, next) = page(query.clone()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        seen.extend(names(&body));
        pages += 1;
        match next {
            Some(after) => query = format!("limit=4&after={after}"),
            None => break,
        }
    }
    assert_eq!(pages, 2);
    assert_eq!(
        seen,
        [
            "alpha/a-0",
            "alpha/a-1",
            "alpha/a-2",
            "beta/job-1",
            "beta/job-2",
            "beta/other"
        ]
    );
    // Filters: a group and a name prefix; a page that ends the list has no next.
    let (_, body, next) = page("group=beta&name_prefix=job".into()).await;
    assert_eq!(names(&body), ["beta/job-1", "beta/job-2"]);
    assert_eq!(next, None);
    let (_, body, next) = page("name_prefix=a-&limit=2".into()).await;
    assert_eq!(names(&body), ["alpha/a-0", "alpha/a-1"]);
    assert_eq!(next.as_deref(), Some("alpha/a-1"));
    // Without limit, the whole list as before.
    let (_, body, next) = page(String::new()).await;
    assert_eq!(names(&body).len(), 6);
    assert_eq!(next, None);
    for bad in ["after=nogroup", "limit=0", "limit=many"] {
        let (status, body, _) = page(bad.into()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["error"]["message"].as_str().is_some(), "{bad}: {body}");
    }
}
