//! Effects of the console: API calls through the CLI's client, the event stream with
//! reconnects, log following. Each reports back as a `Msg`; none touches the state.

use std::time::Duration;

use cloudtask_shared::RunRecord;
use cloudtask_shared::api::{
    ActionResult, AuditEntry, ClusterView, NodeView, PackageInfo, StartRequest, StreamFrame,
    TaskAction, TaskView, WhoAmI,
};
use cloudtask_shared::backoff::Backoff;
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::app::{Cmd, Detail, Msg, Resource};
use crate::client::{Client, enc};

type Tx = mpsc::Sender<Msg>;

/// Runs one command (except the editor hand-off, which the loop owns).
pub async fn run(c: Client, cmd: Cmd, tx: Tx) {
    if !matches!(
        cmd,
        Cmd::Load(_) | Cmd::SaveLog { .. } | Cmd::CompletePath { .. }
    ) {
        super::trace(format_args!("request {cmd:?}"));
    }
    let msg = match cmd {
        Cmd::Load(r) => load(&c, r).await,
        Cmd::Action { task, name, verb } => {
            let what = format!("{verb} {name}");
            let path = verb.path(&enc(&task));
            let result = if matches!(verb, TaskAction::Pause | TaskAction::Resume) {
                c.post_empty::<TaskView>(&path)
                    .await
                    .map(|v| format!("{} is {} — p to undo", v.task.spec.name, v.state))
            } else {
                c.post_empty::<ActionResult>(&path)
                    .await
                    .map(|r| match (verb, r.runs.as_slice()) {
                        (TaskAction::Stop, []) => "no active runs".to_string(),
                        (TaskAction::Stop, runs) => format!("stopping {} run(s)", runs.len()),
                        (_, runs) => format!("started {}", runs.join(", ")),
                    })
            };
            Msg::Done {
                what,
                result: result.map_err(|f| f.message),
            }
        }
        Cmd::Start {
            task,
            name,
            env,
            args,
        } => Msg::Done {
            what: format!("start {name}"),
            result: c
                .send_json::<_, ActionResult>(
                    Method::POST,
                    &format!("/tasks/{}/start", enc(&task)),
                    &StartRequest { env, args },
                )
                .await
                .map(|r| format!("started {}", r.runs.join(", ")))
                .map_err(|f| f.message),
        },
        Cmd::Clone { task, name } => Msg::Done {
            what: format!("clone as {name}"),
            result: c
                .send_json::<_, TaskView>(
                    Method::POST,
                    &TaskAction::Clone.path(&enc(&task)),
                    &json!({ "name": name }),
                )
                .await
                .map(|v| format!("created {}", v.task.spec.name))
                .map_err(|f| f.message),
        },
        Cmd::Delete { task, name } => Msg::Done {
            what: format!("delete {name}"),
            result: c
                .delete(&format!("/tasks/{}", enc(&task)))
                .await
                .map(|()| "deleted".to_string())
                .map_err(|f| f.message),
        },
        Cmd::Upload { task, path } => {
            let file = std::path::PathBuf::from(&path);
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Msg::Done {
                what: format!("upload {path}"),
                result: c
                    .upload::<TaskView>(
                        &format!("/tasks/{}/package?file_name={}", enc(&task), enc(&name)),
                        &file,
                    )
                    .await
                    .map(|v| format!("{} now runs {name}", v.task.spec.name))
                    .map_err(|f| f.message),
            }
        }
        Cmd::SetCommand {
            task,
            command,
            version,
        } => Msg::Done {
            what: "edit command".into(),
            result: c
                .send_json::<_, TaskView>(
                    Method::PATCH,
                    &format!("/tasks/{}", enc(&task)),
                    &json!({ "version": version, "command": command }),
                )
                .await
                .map(|v| format!("{} is at version {}", v.task.spec.name, v.task.version))
                .map_err(|f| f.message),
        },
        Cmd::FollowLog { run } => return follow_log(c, run, tx).await,
        Cmd::SaveLog { path, text } => Msg::Done {
            what: format!("save log to {path}"),
            result: std::fs::write(&path, text)
                .map(|()| "saved".to_string())
                .map_err(|e| e.to_string()),
        },
        Cmd::CompletePath { input } => Msg::PathCompleted {
            completed: complete_path(&input),
            input,
        },
        Cmd::Edit { .. } | Cmd::Copy { .. } => return,
    };
    let _ = tx.send(msg).await;
}

async fn load(c: &Client, r: Resource) -> Msg {
    super::trace(format_args!("request load {r:?}"));
    let failed = |resource: Resource| {
        move |f: crate::client::Failure| Msg::Failed {
            resource,
            error: f.message,
        }
    };
    match r {
        Resource::Tasks => c
            .get::<Vec<TaskView>>("/tasks")
            .await
            .map(Msg::Tasks)
            .unwrap_or_else(failed(Resource::Tasks)),
        Resource::Nodes => c
            .get::<Vec<NodeView>>("/nodes")
            .await
            .map(Msg::Nodes)
            .unwrap_or_else(failed(Resource::Nodes)),
        Resource::Clusters => c
            .get::<Vec<ClusterView>>("/clusters")
            .await
            .map(Msg::Clusters)
            .unwrap_or_else(failed(Resource::Clusters)),
        Resource::WhoAmI => c
            .get::<WhoAmI>("/whoami")
            .await
            .map(Msg::WhoAmI)
            .unwrap_or_else(failed(Resource::WhoAmI)),
        Resource::Incidents => c
            .get::<Vec<cloudtask_shared::api::Incident>>("/alerts?limit=200")
            .await
            .map(Msg::Incidents)
            .unwrap_or_else(failed(Resource::Incidents)),
        Resource::Audit => c
            .get::<Vec<AuditEntry>>("/audit?limit=500")
            .await
            .map(Msg::Audit)
            .unwrap_or_else(failed(Resource::Audit)),
        Resource::Runs => c
            .get::<Vec<RunRecord>>("/runs?since=24h&limit=5000")
            .await
            .map(Msg::Runs)
            .unwrap_or_else(failed(Resource::Runs)),
        Resource::Next(task) => {
            let r = Resource::Next(task.clone());
            match c
                .get::<Value>(&format!("/tasks/{}/next?n=5", enc(&task)))
                .await
            {
                Ok(next) => Msg::Next {
                    task,
                    fires: serde_json::from_value(next["fires"].clone()).unwrap_or_default(),
                },
                Err(f) => failed(r)(f),
            }
        }
        Resource::Detail(task) => {
            let r = Resource::Detail(task.clone());
            let id = enc(&task);
            let next = c.get::<Value>(&format!("/tasks/{id}/next?n=5")).await;
            let packages = c
                .get::<Vec<PackageInfo>>(&format!("/tasks/{id}/packages"))
                .await;
            let runs = c
                .get::<Vec<RunRecord>>(&format!("/tasks/{id}/runs?limit=50"))
                .await;
            match (next, packages, runs) {
                (Ok(next), Ok(packages), Ok(runs)) => Msg::Detail(Detail {
                    task,
                    next: serde_json::from_value(next["fires"].clone()).unwrap_or_default(),
                    packages,
                    runs,
                }),
                (Err(f), _, _) | (_, Err(f), _) | (_, _, Err(f)) => failed(r)(f),
            }
        }
    }
}

/// Follows the event stream, reconnecting with backoff; never gives up.
pub async fn follow_events(c: Client, tx: Tx) {
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(8));
    loop {
        super::trace(format_args!("request stream /events"));
        let result = async {
            let resp = c.stream("/events").await?;
            let _ = tx.send(Msg::StreamUp).await;
            backoff.reset();
            let mut body = resp.bytes_stream();
            let mut buf: Vec<u8> = Vec::new();
            while let Some(chunk) = body.next().await {
                buf.extend_from_slice(&chunk?);
                while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
                    let frame: Vec<u8> = buf.drain(..end + 2).collect();
                    let msg = match StreamFrame::parse(&frame) {
                        StreamFrame::Event(e) => Msg::Event(e),
                        StreamFrame::Lagged => Msg::Lagged,
                        StreamFrame::Other => continue,
                    };
                    if tx.send(msg).await.is_err() {
                        return Ok(());
                    }
                }
            }
            Err(crate::client::Failure::new(
                crate::client::Exit::Failure,
                "the center closed the event stream",
            ))
        }
        .await;
        let error = match result {
            Ok(()) => return,
            Err(f) => f.message,
        };
        let delay = backoff.next_delay();
        if tx
            .send(Msg::StreamDown {
                error,
                retry_in_s: delay.as_secs_f64().ceil() as u64,
            })
            .await
            .is_err()
        {
            return;
        }
        tokio::time::sleep(delay).await;
    }
}

async fn follow_log(c: Client, run: String, tx: Tx) {
    let resp = match c
        .stream(&format!("/runs/{}/log?follow=true", enc(&run)))
        .await
    {
        Ok(r) => r,
        Err(f) => {
            let _ = tx
                .send(Msg::Done {
                    what: format!("log of {run}"),
                    result: Err(f.message),
                })
                .await;
            return;
        }
    };
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let Ok(chunk) = chunk else { break };
        let text = String::from_utf8_lossy(&chunk).into_owned();
        if tx
            .send(Msg::LogText {
                run: run.clone(),
                text,
            })
            .await
            .is_err()
        {
            return;
        }
    }
    if let Ok(rec) = c.get::<RunRecord>(&format!("/runs/{}", enc(&run))).await {
        let _ = tx.send(Msg::LogEnded { run: Box::new(rec) }).await;
    }
}

/// Completes a path prompt from the file system: the longest common prefix of the matches.
fn complete_path(input: &str) -> String {
    let (dir, stem) = match input.rfind('/') {
        Some(i) => (&input[..=i], &input[i + 1..]),
        None => ("", input),
    };
    let read = if dir.is_empty() { "." } else { dir };
    let Ok(entries) = std::fs::read_dir(read) else {
        return input.to_string();
    };
    let mut matches: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let slash = if e.path().is_dir() { "/" } else { "" };
            name.starts_with(stem).then(|| format!("{name}{slash}"))
        })
        .collect();
    matches.sort();
    let Some(first) = matches.first() else {
        return input.to_string();
    };
    let mut common = first.clone();
    for m in &matches[1..] {
        while !m.starts_with(&common) {
            common.pop();
        }
    }
    format!("{dir}{common}")
}
