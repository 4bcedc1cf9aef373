//! One run from claim to report: package, process, live output, spooled result.

use std::path::Path;
use std::time::Duration;

use std::sync::Arc;

use cloudtask_shared::api::{OutputChunk, RunReport};
use cloudtask_shared::{RunRecord, RunStatus, Task, Trigger};
use jiff::Timestamp;
use tokio::sync::{mpsc, watch};

use crate::client::CenterClient;
use crate::exec::{self, Held, Launch, Start, StopRequest};
use crate::fence::Fence;
use crate::package::PackageCache;
use crate::spool::SpoolWriter;
use crate::workdir::WorkDirs;

/// What every run of this agent shares.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// Kills this agent's runs when it stops beating (none in tests that run no keeper).
    pub fence: Option<Fence>,
    pub node: String,
    pub client: CenterClient,
    pub packages: PackageCache,
    /// Reports go to disk through the batching writer.
    pub writer: SpoolWriter,
    /// The runs' own work directories ([`crate::workdir`]).
    pub work_dirs: Arc<WorkDirs>,
    /// Which user each run executes as.
    pub run_as: Arc<crate::users::RunAs>,
    pub log_cap: usize,
    /// The agent's live-output forwarder.
    pub live: mpsc::Sender<(Arc<str>, String)>,
    /// What runs take from the agent's own environment (see [`inherited_env`]).
    pub inherited_env: Arc<[(String, String)]>,
}

/// Variables a run takes from the agent's environment, as systemd gives a service: where to
/// find programs, whose home, which language and time zone. Nothing else of the agent's
/// environment (its configuration, its secrets) reaches tasks; the task's own `env` and the
/// `CLOUDTASK_*` run variables come on top. Read once: copying the agent's whole environment
/// on every spawn cost 15% of the agent's CPU at 2,000 runs a second.
pub fn inherited_env() -> Arc<[(String, String)]> {
    inherited_from(std::env::vars())
}

fn inherited_from(vars: impl Iterator<Item = (String, String)>) -> Arc<[(String, String)]> {
    let mut env: Vec<(String, String)> = vars
        .filter(|(k, _)| {
            matches!(
                k.as_str(),
                "PATH" | "HOME" | "USER" | "LOGNAME" | "LANG" | "LANGUAGE" | "TZ" | "TMPDIR"
            ) || k.starts_with("LC_")
        })
        .collect();
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.push((
            "PATH".into(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        ));
    }
    env.into()
}

/// A run still going after this long is reported `running`; shorter runs are reported once,
/// when they end (half the reports at high fire rates; the ledger covers a crash meanwhile).
pub const RUNNING_REPORT_DELAY: Duration = Duration::from_millis(250);

/// Runs `run` (status `running`) of `task` to its end, in `held` when its process was started
/// ahead, and returns the final record and whether its report reached the disk (if not, the
/// run stays in the ledger). The caller has already put the run in the ledger.
pub async fn run(
    ctx: RunContext,
    task: Task,
    mut run: RunRecord,
    stop: watch::Receiver<Option<StopRequest>>,
    held: Option<Held>,
) -> (RunRecord, bool) {
    let start = match held {
        Some(h) => Ok(Start::Held(h)),
        None => launch_for(&ctx, &task, &run).await.map(Start::Now),
    };
    let outcome = match start {
        Err(message) => {
            let now = Timestamp::now();
            exec::Outcome {
                status: RunStatus::Failed,
                exit_code: None,
                message: Some(message),
                started_at: now,
                finished_at: now,
                log: String::new(),
            }
        }
        Ok(start) => {
            let live = (Arc::<str>::from(run.id.as_str()), ctx.live.clone());
            let exec = exec::execute(start, Some(live), stop);
            tokio::pin!(exec);
            tokio::select! {
                out = &mut exec => out,
                () = tokio::time::sleep(RUNNING_REPORT_DELAY) => {
                    ctx.writer.send(RunReport { run: run.clone(), log: None }).await;
                    exec.await
                }
            }
        }
    };
    run.status = outcome.status;
    run.exit_code = outcome.exit_code;
    run.message = outcome.message;
    run.started_at = Some(outcome.started_at);
    run.finished_at = Some(outcome.finished_at);
    if matches!(run.trigger, Trigger::Schedule | Trigger::CatchUp) {
        let late = outcome.started_at.duration_since(run.scheduled_at);
        metrics::histogram!(cloudtask_daemon_kit::metrics::FIRE_LATENESS)
            .record(late.as_secs_f64().max(0.0));
    }
    tracing::info!(task = %task.spec.name, run = %run.id, status = %run.status, "run finished");
    let report = RunReport {
        run: run.clone(),
        log: Some(outcome.log),
    };
    let spooled = ctx.writer.write(report).await;
    (run, spooled)
}

/// Starts the process of `run` (not yet launched) ahead of its instant: package fetched and
/// unpacked, process spawned and held until [`run`] releases it.
pub async fn hold(ctx: &RunContext, task: &Task, run: &RunRecord) -> Result<Held, String> {
    exec::hold(launch_for(ctx, task, run).await?)
}

/// Everything `run` of `task` needs to start: its user, its package unpacked, its own work
/// directory and its environment.
async fn launch_for(ctx: &RunContext, task: &Task, run: &RunRecord) -> Result<Launch, String> {
    let switch = ctx.run_as.user(task.spec.run_as.as_deref())?;
    let package = match &task.spec.package {
        Some(pkg) => Some(
            ctx.packages
                .ensure(pkg, &ctx.client)
                .await
                .map_err(|e| e.to_string())?,
        ),
        None => None,
    };
    let work = ctx.work_dirs.take(switch.as_ref().map(|s| &*s.user))?;
    // The command runs in the unpacked package (read-only to it), or in its work directory.
    let workdir = match &package {
        Some(lease) => lease.dir.clone(),
        None => work.path().to_path_buf(),
    };
    let user = switch.as_ref().map(|s| s.user.name.as_str());
    Ok(Launch {
        command: task.spec.command.clone(),
        args: run.args.clone(),
        workdir,
        package,
        env: env_for(ctx, task, run, work.path(), user),
        timeout: task.spec.timeout_ms.map(Duration::from_millis),
        kill_grace: Duration::from_millis(task.spec.kill_grace_ms),
        log_cap: ctx.log_cap,
        fence: ctx.fence.clone(),
        switch,
        work: Some(Arc::new(work)),
    })
}

/// The run's environment, in order (a later entry of the same name wins): the agent's basics,
/// the run's own home (its work directory) and user, the task's env and secrets, the start's
/// parameters, the `CLOUDTASK_*` run variables.
fn env_for(
    ctx: &RunContext,
    task: &Task,
    run: &RunRecord,
    work: &Path,
    user: Option<&str>,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = ctx.inherited_env.to_vec();
    let work = work.display().to_string();
    env.extend([
        ("HOME".into(), work.clone()),
        ("TMPDIR".into(), work.clone()),
        ("CLOUDTASK_WORK_DIR".into(), work),
    ]);
    if let Some(user) = user {
        env.extend([
            ("USER".into(), user.into()),
            ("LOGNAME".into(), user.into()),
        ]);
    }
    env.extend(task.spec.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env.extend(
        task.spec
            .secret_env
            .iter()
            .filter_map(|(k, s)| Some((k.clone(), s.value.clone()?))),
    );
    // Declared parameters: the start's values (which already hold the defaults it did not
    // set), or for a scheduled run the defaults.
    for p in &task.spec.params {
        if let Some(v) = run.params.get(&p.name).or(p.default.as_ref()) {
            env.push((p.name.clone(), v.clone()));
        }
    }
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

/// Starts the agent's one live-output forwarder: chunks of all running runs are gathered for
/// up to 100 ms and sent in one request. Best effort: the final log is the complete copy.
pub fn start_output_forwarder(client: CenterClient) -> mpsc::Sender<(Arc<str>, String)> {
    let (tx, mut rx) = mpsc::channel::<(Arc<str>, String)>(8192);
    tokio::spawn(async move {
        let mut buf = Vec::new();
        loop {
            if rx.recv_many(&mut buf, 4096).await == 0 {
                return;
            }
            let gather = async {
                loop {
                    let room = 4096usize.saturating_sub(buf.len());
                    if room == 0 || rx.recv_many(&mut buf, room).await == 0 {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(Duration::from_millis(100), gather).await;
            let mut by_run: Vec<OutputChunk> = Vec::new();
            for (run, data) in buf.drain(..) {
                match by_run.iter_mut().find(|c| *c.run == *run) {
                    Some(c) => c.data.push_str(&data),
                    None => by_run.push(OutputChunk {
                        run: run.to_string(),
                        data,
                    }),
                }
            }
            if let Err(e) = client.output(&by_run).await {
                tracing::debug!(error = %e, "live output not delivered");
            }
        }
    });
    tx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_inherit_only_the_basics_of_the_agents_environment() {
        let agent = [
            ("HOME", "/root"),
            ("CLOUDTASK_TOKEN", "secret"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("LC_TIME", "C"),
            ("TZ", "UTC"),
        ];
        let env = inherited_from(agent.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let keys: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["HOME", "LC_TIME", "TZ", "PATH"], "{env:?}");
        assert!(
            env.iter()
                .any(|(k, v)| k == "PATH" && v.contains("/usr/bin"))
        );
    }
}
