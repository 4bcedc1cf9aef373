//! One run from claim to report: package, process, live output, spooled result.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cloudtask_shared::api::RunReport;
use cloudtask_shared::{RunRecord, RunStatus, Task};
use jiff::Timestamp;
use tokio::sync::{mpsc, watch};

use crate::client::CenterClient;
use crate::exec::{self, Launch, StopRequest};
use crate::package::PackageCache;
use crate::spool::Spool;

/// What every run of this agent shares.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub node: String,
    pub client: CenterClient,
    pub packages: PackageCache,
    pub spool: Arc<Spool>,
    /// Where tasks without a package run: `<dir>/<task id>/`.
    pub work_dir: PathBuf,
    pub log_cap: usize,
}

/// Runs `run` of `task` to its end and returns the final record (already spooled).
pub async fn run(
    ctx: RunContext,
    task: Task,
    mut run: RunRecord,
    stop: watch::Receiver<Option<StopRequest>>,
) -> RunRecord {
    run.status = RunStatus::Running;
    run.started_at = Some(Timestamp::now());
    if let Err(e) = ctx.spool.mark_active(&run).await {
        tracing::warn!(run = %run.id, error = %e, "cannot write active marker");
    }
    spool(&ctx, &run, None).await;

    let (outcome_log, status, exit_code, message, started, finished) =
        match prepare(&ctx, &task).await {
            Err(message) => (
                String::new(),
                RunStatus::Failed,
                None,
                Some(message),
                Timestamp::now(),
                Timestamp::now(),
            ),
            Ok(workdir) => {
                let launch = Launch {
                    command: task.spec.command.clone(),
                    workdir,
                    env: env_for(&ctx, &task, &run),
                    timeout: task.spec.timeout_ms.map(Duration::from_millis),
                    kill_grace: Duration::from_millis(task.spec.kill_grace_ms),
                    log_cap: ctx.log_cap,
                };
                let (live_tx, live_rx) = mpsc::channel(1024);
                let forwarder =
                    tokio::spawn(forward_output(ctx.client.clone(), run.id.clone(), live_rx));
                let out = exec::execute(launch, Some(live_tx), stop).await;
                let _ = forwarder.await;
                (
                    out.log,
                    out.status,
                    out.exit_code,
                    out.message,
                    out.started_at,
                    out.finished_at,
                )
            }
        };
    run.status = status;
    run.exit_code = exit_code;
    run.message = message;
    run.started_at = Some(started);
    run.finished_at = Some(finished);
    spool(&ctx, &run, Some(outcome_log)).await;
    ctx.spool.clear_active(&run.id).await;
    tracing::info!(task = %task.spec.name, run = %run.id, status = %run.status, "run finished");
    run
}

async fn spool(ctx: &RunContext, run: &RunRecord, log: Option<String>) {
    let report = RunReport {
        run: run.clone(),
        log,
    };
    if let Err(e) = ctx.spool.push(&report).await {
        tracing::error!(run = %run.id, error = %e, "cannot spool run report");
    }
}

/// The directory the command runs in: the unpacked package, or the task's work directory.
async fn prepare(ctx: &RunContext, task: &Task) -> Result<PathBuf, String> {
    match &task.spec.package {
        Some(pkg) => ctx
            .packages
            .ensure(pkg, &ctx.client)
            .await
            .map_err(|e| e.to_string()),
        None => {
            let dir = ctx.work_dir.join(&task.id);
            tokio::fs::create_dir_all(&dir)
                .await
                .map_err(|e| format!("cannot create work directory {}: {e}", dir.display()))?;
            Ok(dir)
        }
    }
}

fn env_for(ctx: &RunContext, task: &Task, run: &RunRecord) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = task
        .spec
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    env.extend([
        ("CLOUDTASK_TASK_ID".into(), task.id.clone()),
        ("CLOUDTASK_TASK_NAME".into(), task.spec.name.clone()),
        ("CLOUDTASK_RUN_ID".into(), run.id.clone()),
        (
            "CLOUDTASK_SCHEDULED_AT".into(),
            run.scheduled_at.to_string(),
        ),
        ("CLOUDTASK_ATTEMPT".into(), run.attempt.to_string()),
        ("CLOUDTASK_NODE".into(), ctx.node.clone()),
    ]);
    env
}

/// Sends live output to the center in small batches; best effort (the final log is complete).
async fn forward_output(client: CenterClient, run: String, mut rx: mpsc::Receiver<String>) {
    let mut batch = String::new();
    loop {
        let more = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await;
        match more {
            Ok(Some(line)) => {
                batch.push_str(&line);
                if batch.len() < 64 * 1024 {
                    continue;
                }
            }
            Ok(None) => {
                if !batch.is_empty() {
                    let _ = client.output(&run, std::mem::take(&mut batch)).await;
                }
                return;
            }
            Err(_) => {}
        }
        if !batch.is_empty()
            && let Err(e) = client.output(&run, std::mem::take(&mut batch)).await
        {
            tracing::debug!(run = %run, error = %e, "live output not delivered");
        }
    }
}
