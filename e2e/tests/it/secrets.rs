//! Secret environment entries against a real center: write-only through the API, given to the
//! run (and to the node it runs on) only, copied by a clone on the center, exported as
//! references, compared by fingerprint in `diff` — and never in an answer, an event, an audit
//! row or a log line.

use std::time::Duration;

use cloudtask_e2e::{Center, output_text};
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const SECRET: &str = "s3cr3t-VALUE-4711-never-shown";
const ROTATED: &str = "r0tated-VALUE-0815-never-shown";

/// A command that succeeds only when `$DB_PASSWORD` is the value in `expected`.
fn checks_secret(expected: &std::path::Path) -> String {
    format!(
        "if [ \"$DB_PASSWORD\" = \"$(cat {})\" ]; then echo got-the-secret; else echo wrong-secret; exit 1; fi",
        expected.display()
    )
}

async fn run_ok(c: &Center, task: &str) {
    let (run, log) = c.run_now(task).await;
    assert_eq!(
        run.status,
        cloudtask_shared::RunStatus::Succeeded,
        "{run:?}\n{log}"
    );
    assert!(log.contains("got-the-secret"), "{log}");
}

#[tokio::test]
async fn a_secret_reaches_its_runs_and_nothing_else() {
    let c = Center::start(&[]).await;
    // Everything the center says is kept, to be searched at the end.
    let mut seen: Vec<String> = Vec::new();
    let events = cloudtask_e2e::http()
        .get(format!("{}/api/v1/events", c.url))
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), StatusCode::OK);
    let mut events = events.bytes_stream();

    let expected = c.dir.join("expected");
    std::fs::write(&expected, SECRET).unwrap();
    let out = c.ctl_env(
        &[
            "task",
            "create",
            "db",
            "--cmd",
            &checks_secret(&expected),
            "--secret-env",
            "DB_PASSWORD",
        ],
        &[("DB_PASSWORD", SECRET)],
    );
    assert!(out.status.success(), "{out:?}");
    seen.push(output_text(&out));

    // Shown as set, with a fingerprint, never the value.
    let (s, task) = c.api(Method::GET, "/tasks/db", None).await;
    assert_eq!(s, StatusCode::OK, "{task}");
    let entry = &task["secret_env"]["DB_PASSWORD"];
    assert!(
        entry["sha256"].as_str().is_some_and(|h| h.len() == 64),
        "{task}"
    );
    assert!(entry.get("value").is_none(), "{task}");
    seen.push(task.to_string());
    let id = task["id"].as_str().unwrap().to_string();
    run_ok(&c, "db").await;

    // The node that runs it reads it; it is the only principal that does.
    let (s, as_node) = c
        .api_as(
            Some(&c.node_token()),
            Method::GET,
            &format!("/tasks/{id}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{as_node}");
    assert_eq!(as_node["secret_env"]["DB_PASSWORD"]["value"], SECRET);

    // An edit that sends the fingerprint back keeps the value; another fingerprint is refused.
    let version = task["version"].as_u64().unwrap();
    let (s, edited) = c
        .api(
            Method::PATCH,
            &format!("/tasks/{id}"),
            Some(json!({"version": version, "description": "edited",
                "secret_env": {"DB_PASSWORD": entry.clone()}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{edited}");
    seen.push(edited.to_string());
    let (s, refused) = c
        .api(
            Method::PATCH,
            &format!("/tasks/{id}"),
            Some(json!({"version": version + 1,
                "secret_env": {"DB_PASSWORD": {"salt": "00", "sha256": "ab".repeat(32)}}})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["error"]["code"], "invalid_field", "{refused}");
    run_ok(&c, "db").await;

    // A clone gets the value on the center.
    let (s, clone) = c
        .api(
            Method::POST,
            &format!("/tasks/{id}/clone"),
            Some(json!({"name": "db-copy"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{clone}");
    seen.push(clone.to_string());
    run_ok(&c, "db-copy").await;

    // Export writes a reference; applying it back with the same value changes nothing, with
    // another value changes that secret, and the runs get the new one.
    let out = c.ctl(&["export"]);
    assert!(out.status.success(), "{out:?}");
    let exported = String::from_utf8(out.stdout).unwrap();
    assert!(
        exported.contains("[task.secret_env.DB_PASSWORD]\nenv = \"DB_PASSWORD\""),
        "{exported}"
    );
    seen.push(exported.clone());
    let file = c.dir.join("tasks.toml");
    std::fs::write(&file, &exported).unwrap();
    let file = file.display().to_string();
    let same = c.ctl_env(
        &["diff", "-f", &file, "--exit-code"],
        &[("DB_PASSWORD", SECRET)],
    );
    assert_eq!(same.status.code(), Some(0), "{same:?}");
    seen.push(output_text(&same));
    let unset = c.ctl_env(&["diff", "-f", &file], &[]);
    assert_eq!(unset.status.code(), Some(2), "{unset:?}");
    assert!(
        output_text(&unset).contains("environment variable DB_PASSWORD is not set"),
        "{unset:?}"
    );
    let changed = c.ctl_env(&["diff", "-f", &file], &[("DB_PASSWORD", ROTATED)]);
    let text = output_text(&changed);
    assert!(text.contains("secret_env.DB_PASSWORD"), "{text}");
    seen.push(text);
    let applied = c.ctl_env(&["apply", "-f", &file], &[("DB_PASSWORD", ROTATED)]);
    assert!(applied.status.success(), "{applied:?}");
    seen.push(output_text(&applied));
    std::fs::write(&expected, ROTATED).unwrap();
    run_ok(&c, "db").await;
    run_ok(&c, "db-copy").await;

    // A value written into a task file is refused: files end up in version control.
    let literal = c.dir.join("literal.toml");
    std::fs::write(
        &literal,
        "[[task]]\nname = \"lit\"\ncommand = \"true\"\n[task.secret_env]\nX = \"plain\"\n",
    )
    .unwrap();
    let out = c.ctl(&["apply", "-f", &literal.display().to_string()]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        output_text(&out).contains("never the value itself"),
        "{out:?}"
    );

    // Now search everything: answers, the event stream, the audit log, the center's log.
    let (_, list) = c.api(Method::GET, "/tasks", None).await;
    seen.push(list.to_string());
    let (_, audit) = c.api(Method::GET, "/audit?limit=10000", None).await;
    seen.push(audit.to_string());
    let (_, runs) = c.api(Method::GET, "/runs", None).await;
    seen.push(runs.to_string());
    let mut stream = String::new();
    while let Ok(Some(Ok(chunk))) =
        tokio::time::timeout(Duration::from_millis(500), events.next()).await
    {
        stream.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        stream.contains("db-copy"),
        "the stream saw the changes: {stream}"
    );
    seen.push(stream);
    seen.push(std::fs::read_to_string(c.dir.join("center.log")).unwrap());
    for (i, text) in seen.iter().enumerate() {
        for secret in [SECRET, ROTATED] {
            assert!(!text.contains(secret), "secret in #{i}: {text}");
        }
    }
    let shown: Value = serde_json::from_str(&seen[1]).unwrap();
    assert!(shown["secret_env"]["DB_PASSWORD"]["salt"].is_string());
}
