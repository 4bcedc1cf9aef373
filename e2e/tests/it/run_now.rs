//! Run now: every accepted start is its own run, idempotency keys, and `forbid` refusing a
//! start while a run is active.

use std::collections::BTreeSet;
use std::time::Duration;

use cloudtask_e2e::Center;
use cloudtask_e2e::output_text as text;
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
            let http = cloudtask_e2e::http();
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
            let mut req = cloudtask_e2e::http().post(url).bearer_auth(token);
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
    assert_eq!(body["error"]["code"], "run_active");
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

#[tokio::test]
async fn an_on_demand_task_never_fires_and_runs_when_started() {
    let c = Center::start(&[]).await;
    let out = c.ctl(&[
        "task",
        "create",
        "adhoc",
        "--cmd",
        "echo ran",
        "--on-demand",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let ls = c.ctl(&["task", "ls"]);
    let listing = String::from_utf8_lossy(&ls.stdout).to_string();
    assert!(listing.contains("on-demand"), "{listing}");
    let (_, shown) = c.api(Method::GET, "/tasks/adhoc", None).await;
    assert_eq!(shown["state"], "on-demand", "{shown}");
    assert_eq!(shown["next_fires"].as_array().unwrap().len(), 0);
    let (_, next) = c.api(Method::GET, "/tasks/adhoc/next", None).await;
    assert_eq!(next["fires"].as_array().unwrap().len(), 0, "{next}");
    let show = c.ctl(&["task", "show", "adhoc"]);
    assert!(
        String::from_utf8_lossy(&show.stdout).contains("next fires:  none"),
        "{}",
        text(&show)
    );

    // A scheduled task beside it fires twice while the on-demand one stays silent.
    c.create_task(json!({ "name": "ticker", "command": "true", "schedules": ["@every 1s"] }))
        .await;
    c.wait_runs(
        "ticker",
        Duration::from_secs(20),
        "two scheduled fires",
        |r| r.iter().filter(|r| r.status.is_terminal()).count() >= 2,
    )
    .await;
    assert!(c.runs("adhoc").await.is_empty(), "an on-demand task fired");

    let (run, log) = c.run_now("adhoc").await;
    assert_eq!(run.status, RunStatus::Succeeded);
    assert!(log.contains("ran"), "{log}");

    // Editing a scheduled task into an on-demand one drops its schedules.
    let out = c.ctl(&["task", "edit", "ticker", "--on-demand"]);
    assert!(out.status.success(), "{}", text(&out));
    let (_, shown) = c.api(Method::GET, "/tasks/ticker", None).await;
    assert_eq!(shown["schedules"], json!([]), "{shown}");
}

#[tokio::test]
async fn a_start_passes_declared_parameters_and_arguments_and_refuses_others() {
    let c = Center::start(&[]).await;
    let out = c.ctl(&[
        "task",
        "create",
        "deploy",
        "--on-demand",
        "--cmd",
        "echo \"version=$VERSION target=$TARGET args=$# [$*]\"",
        "--param",
        "VERSION",
        "--param",
        "TARGET=staging",
        "--accepts-args",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let out = c.ctl(&[
        "task",
        "start",
        "deploy",
        "--env",
        "VERSION=1.4.2",
        "--arg",
        "--dry-run",
        "--arg",
        "two words",
        "--wait",
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(
        run["params"],
        json!({ "VERSION": "1.4.2", "TARGET": "staging" }),
        "{run}"
    );
    assert_eq!(run["args"], json!(["--dry-run", "two words"]), "{run}");
    let id = run["id"].as_str().unwrap();
    let log = c.text(&format!("/runs/{id}/log")).await;
    assert!(
        log.contains("version=1.4.2 target=staging args=2 [--dry-run two words]"),
        "{log}"
    );
    let shown = c.ctl(&["run", "show", id]);
    let shown = String::from_utf8_lossy(&shown.stdout).to_string();
    assert!(shown.contains("TARGET=staging VERSION=1.4.2"), "{shown}");
    assert!(shown.contains("--dry-run 'two words'"), "{shown}");

    // Undeclared parameters are refused, naming the parameter and what is declared.
    let out = c.ctl(&["task", "start", "deploy", "--env", "DEBUG=1"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("env.DEBUG") && text(&out).contains("VERSION, TARGET"),
        "{}",
        text(&out)
    );
    // A task that declares none refuses parameters and arguments.
    c.create_task(json!({ "name": "plain", "command": "true" }))
        .await;
    let (status, body) = c
        .api(
            Method::POST,
            "/tasks/plain/start",
            Some(json!({ "args": ["x"] })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not accept arguments"),
        "{body}"
    );
    // A parameter that looks like a secret cannot be declared.
    let (status, body) = c
        .api(
            Method::POST,
            "/tasks",
            Some(json!({
                "name": "leaky", "command": "true", "params": [{ "name": "DB_PASSWORD" }],
            })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("looks like a secret"),
        "{body}"
    );
    assert!(c.runs("plain").await.is_empty(), "a refused start ran");
}

#[tokio::test]
async fn start_and_wait_exits_with_how_the_run_ended() {
    let c = Center::start(&[]).await;
    for (name, cmd, timeout) in [
        ("ok", "echo fine", None),
        ("seven", "echo before; exit 7", None),
        ("slow", "sleep 30", Some(300)),
        ("long", "sleep 30", None),
    ] {
        let mut spec = json!({ "name": name, "command": cmd, "concurrency": "allow" });
        if let Some(ms) = timeout {
            spec["timeout_ms"] = json!(ms);
            spec["kill_grace_ms"] = json!(200);
        }
        c.create_task(spec).await;
    }
    let out = c.ctl(&["task", "start", "ok", "--wait"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // --follow prints the output before exiting with the command's code mapped to 100 + 7.
    let out = c.ctl(&["task", "start", "seven", "--follow"]);
    assert_eq!(out.status.code(), Some(107), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("before"),
        "{}",
        text(&out)
    );
    let out = c.ctl(&["task", "start", "slow", "--wait"]);
    assert_eq!(out.status.code(), Some(90), "timed out: {}", text(&out));
    // Giving up waiting has its own code, and the run goes on.
    let out = c.ctl(&["task", "start", "long", "--wait", "--timeout", "1s"]);
    assert_eq!(out.status.code(), Some(95), "{}", text(&out));
    let running = c
        .wait_runs(
            "long",
            Duration::from_secs(10),
            "the run to be running",
            |r| r.iter().any(|r| r.status == RunStatus::Running),
        )
        .await;
    assert_eq!(running.len(), 1);
    // A run stopped while a caller waits: killed.
    let waiter = {
        let (bin, url, token) = (
            cloudtask_e2e::bin("cloudtaskctl"),
            c.url.clone(),
            c.token.clone(),
        );
        std::thread::spawn(move || {
            std::process::Command::new(bin)
                .args(["task", "start", "long", "--wait"])
                .env("CLOUDTASK_SERVER", url)
                .env("CLOUDTASK_TOKEN", token)
                .output()
                .unwrap()
        })
    };
    c.wait_runs("long", Duration::from_secs(10), "two running runs", |r| {
        r.iter().filter(|r| r.status == RunStatus::Running).count() == 2
    })
    .await;
    let (stopped, _) = c.api(Method::POST, "/tasks/long/stop", None).await;
    assert_eq!(stopped, StatusCode::ACCEPTED);
    let out = waiter.join().unwrap();
    assert_eq!(out.status.code(), Some(91), "killed: {}", text(&out));
    // --timeout without a wait is a usage error.
    let out = c.ctl(&["task", "start", "ok", "--timeout", "1s"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}
