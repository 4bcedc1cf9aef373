//! `cloudtaskctl task …`: create, inspect, change and drive tasks.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use cloudtask_shared::api::{ActionResult, StartRequest, TaskAction, TaskView};
use cloudtask_shared::{PackageRef, RunRecord, RunStatus, parse_duration_ms};
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::client::{Client, Exit, Failure, Result, enc};
use crate::table::{self, Output};

#[derive(Debug, Args)]
pub struct TaskRef {
    /// Task name (or id).
    name: String,
    /// Group of the task, when the name is used in several groups.
    #[arg(long)]
    group: Option<String>,
}

impl TaskRef {
    fn path(&self, suffix: &str) -> String {
        let q = self
            .group
            .as_ref()
            .map(|g| format!("?group={}", enc(g)))
            .unwrap_or_default();
        format!("/tasks/{}{suffix}{q}", enc(&self.name))
    }

    /// The path of an action on this task.
    fn action(&self, a: TaskAction) -> String {
        self.path(&format!("/{a}"))
    }
}

/// Fields of a task spec settable from flags (create sets them, edit patches them).
#[derive(Debug, Args, Default)]
pub struct SpecFlags {
    /// Command, run by `sh -c` in the package directory.
    #[arg(long = "cmd")]
    command: Option<String>,
    /// Schedule: cron (6 fields with seconds, or 5), @hourly-style alias, or "@every 30s". Repeatable.
    #[arg(long = "schedule")]
    schedules: Vec<String>,
    /// IANA time zone of the schedules.
    #[arg(long = "tz")]
    timezone: Option<String>,
    #[arg(long)]
    description: Option<String>,
    /// Environment variable K=V for the command. Repeatable.
    #[arg(long = "env", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// A secret environment variable NAME, its value read from this shell's variable of the
    /// same name (never from the command line, which others can see). Write-only: the center
    /// shows only that it is set. Repeatable.
    #[arg(long = "secret-env", value_name = "NAME")]
    secret_env: Vec<String>,
    /// Kill a run after this long (30s, 5m, 1h).
    #[arg(long)]
    timeout: Option<String>,
    /// Time between SIGTERM and SIGKILL.
    #[arg(long)]
    kill_grace: Option<String>,
    #[arg(long)]
    retries: Option<u32>,
    /// First retry delay; doubles each attempt.
    #[arg(long)]
    retry_backoff: Option<String>,
    /// forbid, allow or replace.
    #[arg(long)]
    concurrency: Option<String>,
    /// run_once or skip.
    #[arg(long)]
    misfire: Option<String>,
    #[arg(long)]
    misfire_grace: Option<String>,
    /// Nodes the task may run on, comma-separated.
    #[arg(long, value_delimiter = ',')]
    nodes: Option<Vec<String>>,
    #[arg(long)]
    cluster: Option<String>,
    /// Only on nodes with this label, K=V (repeatable; all must match).
    #[arg(long = "selector", value_parser = parse_env)]
    selector: Vec<(String, String)>,
    /// Do not fire before this instant (RFC 3339).
    #[arg(long)]
    start_at: Option<String>,
    /// Do not fire after this instant (RFC 3339).
    #[arg(long)]
    end_at: Option<String>,
    /// No schedule: the task runs only when started (edit: drops its schedules).
    #[arg(long, conflicts_with = "schedules")]
    on_demand: bool,
    /// A parameter a start may set, NAME or NAME=DEFAULT (repeatable; edit: replaces them all).
    #[arg(long = "param", value_name = "NAME[=DEFAULT]")]
    params: Vec<String>,
    /// Whether a start may pass extra arguments (--arg) to the command's "$@".
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    accepts_args: Option<bool>,
    /// Finished runs (with their logs) the center keeps of this task (default: the center's).
    #[arg(long, value_name = "N")]
    keep_runs: Option<u32>,
    /// How long the center keeps this task's finished runs, e.g. 7d (default: the center's).
    #[arg(long, value_name = "DURATION")]
    keep_runs_for: Option<String>,
    /// The Unix user its runs execute as on the node (default: the node's --run-as; edit:
    /// "" goes back to it).
    #[arg(long, value_name = "USER")]
    run_as: Option<String>,
    /// Who hears when it fails: an e-mail address or webhook URL (repeatable; edit: replaces
    /// them all, "" for none: the group's or center's defaults).
    #[arg(long = "notify", value_name = "RECIPIENT")]
    notify: Vec<String>,
    /// Announce a failure only after this many in a row (default 1).
    #[arg(long, value_name = "N")]
    alert_after: Option<u32>,
}

fn parse_env(s: &str) -> std::result::Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("{s:?} is not K=V"))
}

fn duration_field(name: &str, v: &Option<String>) -> Result<Option<Value>> {
    v.as_ref()
        .map(|d| {
            parse_duration_ms(d)
                .map(|ms| json!(ms))
                .map_err(|e| Failure::new(Exit::Usage, format!("--{name}: {e}")))
        })
        .transpose()
}

fn instant_field(name: &str, v: &Option<String>) -> Result<Option<Value>> {
    v.as_ref()
        .map(|t| {
            t.parse::<jiff::Timestamp>().map(|t| json!(t)).map_err(|e| {
                Failure::new(
                    Exit::Usage,
                    format!("--{name} {t:?}: not an RFC 3339 instant ({e})"),
                )
            })
        })
        .transpose()
}

impl SpecFlags {
    /// The flags given, as spec JSON fields.
    fn fields(&self) -> Result<Map<String, Value>> {
        let mut secrets = Map::new();
        for name in &self.secret_env {
            let value = std::env::var(name).map_err(|_| {
                Failure::new(
                    Exit::Usage,
                    format!("--secret-env {name}: set {name} in the environment to its value"),
                )
            })?;
            secrets.insert(name.clone(), Value::from(value));
        }
        let mut m = Map::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                m.insert(k.to_string(), v);
            }
        };
        put("command", self.command.clone().map(Value::from));
        put(
            "schedules",
            (!self.schedules.is_empty()).then(|| json!(self.schedules)),
        );
        put("timezone", self.timezone.clone().map(Value::from));
        put("description", self.description.clone().map(Value::from));
        put(
            "env",
            (!self.env.is_empty())
                .then(|| json!(self.env.iter().cloned().collect::<BTreeMap<_, _>>())),
        );
        put(
            "secret_env",
            (!secrets.is_empty()).then_some(Value::Object(secrets)),
        );
        put("timeout_ms", duration_field("timeout", &self.timeout)?);
        put(
            "kill_grace_ms",
            duration_field("kill-grace", &self.kill_grace)?,
        );
        put("retries", self.retries.map(Value::from));
        put(
            "retry_backoff_ms",
            duration_field("retry-backoff", &self.retry_backoff)?,
        );
        put("concurrency", self.concurrency.clone().map(Value::from));
        put("misfire", self.misfire.clone().map(Value::from));
        put(
            "misfire_grace_ms",
            duration_field("misfire-grace", &self.misfire_grace)?,
        );
        put("target_nodes", self.nodes.clone().map(|n| json!(n)));
        put("cluster", self.cluster.clone().map(Value::from));
        put(
            "node_selector",
            (!self.selector.is_empty())
                .then(|| json!(self.selector.iter().cloned().collect::<BTreeMap<_, _>>())),
        );
        put("start_at", instant_field("start-at", &self.start_at)?);
        put("end_at", instant_field("end-at", &self.end_at)?);
        if self.on_demand {
            put("schedules", Some(json!([])));
        }
        put(
            "params",
            (!self.params.is_empty()).then(|| {
                Value::Array(
                    self.params
                        .iter()
                        .map(|p| match p.split_once('=') {
                            Some((name, default)) => json!({ "name": name, "default": default }),
                            None => json!({ "name": p }),
                        })
                        .collect(),
                )
            }),
        );
        put("accepts_args", self.accepts_args.map(Value::from));
        put("keep_runs", self.keep_runs.map(Value::from));
        put(
            "keep_runs_for_ms",
            duration_field("keep-runs-for", &self.keep_runs_for)?,
        );
        put(
            "run_as",
            self.run_as.as_ref().map(|u| match u.as_str() {
                "" => Value::Null,
                u => Value::from(u),
            }),
        );
        let mut alerts = Map::new();
        if !self.notify.is_empty() {
            let to: Vec<&String> = self.notify.iter().filter(|t| !t.is_empty()).collect();
            alerts.insert("notify".into(), json!(to));
        }
        if let Some(n) = self.alert_after {
            alerts.insert("after_failures".into(), Value::from(n));
        }
        put(
            "alerts",
            (!alerts.is_empty()).then_some(Value::Object(alerts)),
        );
        Ok(m)
    }
}

#[derive(Debug, Subcommand)]
pub enum TaskCmd {
    /// Create a task.
    #[command(
        after_help = "Example:\n  cloudtaskctl task create backup --file backup.tar.gz --cmd './backup.sh' --schedule '0 30 2 * * *' --tz Europe/Berlin"
    )]
    Create {
        name: String,
        #[arg(long)]
        group: Option<String>,
        /// Package to upload and run from (.tar.gz, .tgz, .zip, or a single file).
        #[arg(long)]
        file: Option<PathBuf>,
        /// Create it paused.
        #[arg(long)]
        paused: bool,
        #[command(flatten)]
        spec: SpecFlags,
    },
    /// List tasks.
    #[command(after_help = "Example:\n  cloudtaskctl task ls --group ops -o wide")]
    Ls {
        #[arg(long)]
        group: Option<String>,
        #[arg(long)]
        cluster: Option<String>,
        /// Tasks asked for at a time: the list comes in pages of this many, so neither side
        /// holds all of a long one (`-o json` still prints one array).
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        chunk_size: u32,
    },
    /// Show one task: spec, state, node, next fire times.
    #[command(after_help = "Example:\n  cloudtaskctl task show backup --group ops -o json")]
    Show(TaskRef),
    /// Stop scheduling a task (running runs go on).
    #[command(after_help = "Example:\n  cloudtaskctl task pause backup")]
    Pause(TaskRef),
    /// Schedule a paused task again from now.
    #[command(after_help = "Example:\n  cloudtaskctl task resume backup")]
    Resume(TaskRef),
    /// Run a task now: every start is its own run.
    #[command(
        after_help = "Examples:\n  cloudtaskctl task start backup && cloudtaskctl task logs backup -f\n  cloudtaskctl task start deploy --idempotency-key \"$CI_PIPELINE_ID\""
    )]
    Start(StartArgs),
    /// Kill a task's active runs (they end as `killed`).
    #[command(after_help = "Example:\n  cloudtaskctl task stop backup")]
    Stop(TaskRef),
    /// Copy a task under a new name.
    #[command(after_help = "Example:\n  cloudtaskctl task clone backup backup-staging")]
    Clone {
        #[command(flatten)]
        task: TaskRef,
        new_name: String,
    },
    /// Change a task's fields from flags, or, with no flags on a terminal, the whole task as
    /// TOML in $EDITOR; both apply only if nobody changed the task meanwhile (else exit 4).
    #[command(
        after_help = "Example:\n  cloudtaskctl task edit backup --cmd './backup.sh --full' --timeout 2h"
    )]
    Edit {
        #[command(flatten)]
        task: TaskRef,
        /// Apply only if the task is still at this version (else exit 4).
        #[arg(long)]
        if_version: Option<u64>,
        #[command(flatten)]
        spec: SpecFlags,
    },
    /// Delete a task with its runs and logs.
    #[command(after_help = "Example:\n  cloudtaskctl task rm backup --group ops")]
    Rm(TaskRef),
    /// Upload a new package for a task.
    #[command(after_help = "Example:\n  cloudtaskctl task upload backup dist/backup.tar.gz")]
    Upload {
        #[command(flatten)]
        task: TaskRef,
        file: PathBuf,
    },
    /// List a task's runs, newest first.
    #[command(after_help = "Example:\n  cloudtaskctl task runs backup --status failed --since 2h")]
    Runs {
        #[command(flatten)]
        task: TaskRef,
        /// Only these statuses (comma-separated).
        #[arg(long)]
        status: Option<String>,
        /// Only runs scheduled after this (RFC 3339, or a duration back: 2h).
        #[arg(long)]
        since: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Print the next fire times, in the task's zone and in UTC.
    #[command(
        after_help = "Example:\n  cloudtaskctl task next backup -n 5 --from 2026-03-29T00:00:00Z"
    )]
    Next {
        #[command(flatten)]
        task: TaskRef,
        /// How many.
        #[arg(short = 'n', default_value_t = 10)]
        count: u32,
        /// Start after this instant (RFC 3339) instead of now.
        #[arg(long)]
        from: Option<String>,
    },
    /// Print a run's log (the latest run unless --run).
    #[command(after_help = "Example:\n  cloudtaskctl task logs backup -f")]
    Logs {
        #[command(flatten)]
        task: TaskRef,
        #[arg(long)]
        run: Option<String>,
        /// Follow a running run until it ends; exits non-zero unless it succeeded.
        #[arg(short, long)]
        follow: bool,
    },
}

pub async fn task(c: &Client, cmd: TaskCmd, out: Output) -> Result<()> {
    let show = |v: &TaskView| {
        if out.json() {
            table::print_json(v)
        } else {
            table::task(v);
            Ok(())
        }
    };
    match cmd {
        TaskCmd::Create {
            name,
            group,
            file,
            paused,
            spec,
        } => {
            let mut fields = spec.fields()?;
            fields.insert("name".into(), json!(name));
            if let Some(g) = group {
                fields.insert("group".into(), json!(g));
            }
            if paused {
                fields.insert("paused".into(), json!(true));
            }
            if let Some(f) = file {
                let p = upload(c, "/packages", &f).await?;
                fields.insert("package".into(), serde_json::to_value(p)?);
            }
            let v: TaskView = c
                .send_json(Method::POST, "/tasks", &Value::Object(fields))
                .await?;
            show(&v)?;
        }
        TaskCmd::Ls {
            group,
            cluster,
            chunk_size,
        } => {
            let mut q = vec![];
            if let Some(g) = group {
                q.push(format!("group={}", enc(&g)));
            }
            if let Some(cl) = cluster {
                q.push(format!("cluster={}", enc(&cl)));
            }
            // Page by page, so neither side holds the whole list: JSON is printed as it
            // comes (still one array), a table keeps only its rows' text.
            q.push(format!("limit={chunk_size}"));
            let base = format!("/tasks?{}", q.join("&"));
            let mut json = out.json().then(table::JsonArray::start);
            let mut rows = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let path = match &after {
                    Some(a) => format!("{base}&after={}", enc(a)),
                    None => base.clone(),
                };
                let (page, next): (Vec<TaskView>, _) = c.get_page(&path).await?;
                match json.as_mut() {
                    Some(j) => j.items(&page)?,
                    None => rows.extend(table::task_rows(&page, out.wide())),
                }
                match next {
                    Some(n) => after = Some(n),
                    None => break,
                }
            }
            match json {
                Some(j) => j.end(),
                None => table::print_task_rows(&rows, out.wide()),
            }
        }
        TaskCmd::Show(t) => show(&c.get(&t.path("")).await?)?,
        TaskCmd::Pause(t) => toggle(c, &t, TaskAction::Pause, out).await?,
        TaskCmd::Resume(t) => toggle(c, &t, TaskAction::Resume, out).await?,
        TaskCmd::Start(args) => start(c, args, out).await?,
        TaskCmd::Stop(t) => stop(c, &t, out).await?,
        TaskCmd::Clone { task, new_name } => {
            let v: TaskView = c
                .send_json(
                    Method::POST,
                    &task.action(TaskAction::Clone),
                    &json!({ "name": new_name }),
                )
                .await?;
            show(&v)?;
        }
        TaskCmd::Edit {
            task,
            if_version,
            spec,
        } => {
            let fields = spec.fields()?;
            if fields.is_empty() {
                if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
                    return Err(Failure::new(
                        Exit::Usage,
                        "nothing to change: give field flags (see --help), or run on a terminal to edit the whole task in $EDITOR",
                    ));
                }
                if let crate::editor::Outcome::Saved(v) =
                    crate::editor::edit(c, &task.path("")).await?
                {
                    show(&v)?;
                }
                return Ok(());
            }
            let version = match if_version {
                Some(v) => v,
                None => c.get::<TaskView>(&task.path("")).await?.task.version,
            };
            let mut body = fields;
            body.insert("version".into(), json!(version));
            let v: TaskView = c
                .send_json(Method::PATCH, &task.path(""), &Value::Object(body))
                .await?;
            show(&v)?;
        }
        TaskCmd::Rm(t) => {
            c.delete(&t.path("")).await?;
            if !out.json() {
                println!("task {} deleted", t.name);
            }
        }
        TaskCmd::Upload { task, file } => {
            let name = file_name(&file)?;
            let v: TaskView = c
                .upload(
                    &format!(
                        "{}{}file_name={}",
                        task.path("/package"),
                        if task.group.is_some() { "&" } else { "?" },
                        enc(&name)
                    ),
                    &file,
                )
                .await?;
            show(&v)?;
        }
        TaskCmd::Runs {
            task,
            status,
            since,
            limit,
        } => {
            let mut q = vec![format!("limit={limit}")];
            if let Some(s) = status {
                q.push(format!("status={}", enc(&s)));
            }
            if let Some(s) = since {
                q.push(format!("since={}", enc(&s)));
            }
            if let Some(g) = &task.group {
                q.push(format!("group={}", enc(g)));
            }
            let runs: Vec<RunRecord> = c
                .get(&format!("/tasks/{}/runs?{}", enc(&task.name), q.join("&")))
                .await?;
            if out.json() {
                return table::print_json(&runs);
            }
            table::runs(&runs, out.wide());
        }
        TaskCmd::Logs { task, run, follow } => logs(c, &task, run, follow).await?,
        TaskCmd::Next { task, count, from } => next(c, &task, count, from, out).await?,
    }
    Ok(())
}

/// Pause or resume: idempotent, prints the resulting state.
async fn toggle(c: &Client, t: &TaskRef, verb: TaskAction, out: Output) -> Result<()> {
    let v: TaskView = c.post_empty(&t.action(verb)).await?;
    if out.json() {
        return table::print_json(&v);
    }
    println!(
        "task {} {}",
        v.task.spec.name,
        if v.task.spec.paused {
            "paused"
        } else {
            "resumed"
        }
    );
    Ok(())
}

/// `task start`'s flags.
#[derive(Debug, Args)]
pub struct StartArgs {
    #[command(flatten)]
    task: TaskRef,
    /// A declared parameter K=V, passed to the command as an environment variable. Repeatable.
    #[arg(long = "env", value_parser = parse_env, value_name = "K=V")]
    env: Vec<(String, String)>,
    /// An extra argument for the command's "$@" (the task must accept arguments). Repeatable.
    #[arg(long = "arg", value_name = "ARG", allow_hyphen_values = true)]
    args: Vec<String>,
    /// Start at most one run per key: repeating the start with the same key within 24
    /// hours answers the run it created (a CI step re-run after a network error).
    #[arg(long, value_name = "KEY")]
    idempotency_key: Option<String>,
    /// Wait for the run to end; the exit code says how it ended (see the README).
    #[arg(long)]
    wait: bool,
    /// Print the run's output while waiting (implies --wait).
    #[arg(long, short)]
    follow: bool,
    /// Give up waiting after this long (the run goes on); exit code 95. Needs --wait or --follow.
    #[arg(long, value_name = "DURATION")]
    timeout: Option<String>,
}

/// Exit codes of `task start --wait`: how the run ended.
pub const EXIT_TIMED_OUT: i32 = 90;
pub const EXIT_KILLED: i32 = 91;
pub const EXIT_LOST: i32 = 92;
pub const EXIT_SKIPPED: i32 = 93;
pub const EXIT_MISSED: i32 = 94;
pub const EXIT_WAIT_TIMEOUT: i32 = 95;
/// A failed run exits 100 + its command's exit code (1–98); 199 for 99 and above or a signal.
pub const EXIT_FAILED_BASE: i32 = 100;

/// The exit code that says how `run` ended.
pub fn run_exit(run: &RunRecord) -> i32 {
    match run.status {
        RunStatus::Succeeded => 0,
        RunStatus::Failed => match run.exit_code {
            Some(c) if (1..=98).contains(&c) => EXIT_FAILED_BASE + c,
            _ => EXIT_FAILED_BASE + 99,
        },
        RunStatus::TimedOut => EXIT_TIMED_OUT,
        RunStatus::Killed => EXIT_KILLED,
        RunStatus::Lost => EXIT_LOST,
        RunStatus::Skipped => EXIT_SKIPPED,
        RunStatus::Missed => EXIT_MISSED,
        // Not terminal: never asked of a finished wait.
        RunStatus::Scheduled | RunStatus::Running => 1,
    }
}

/// Starts a run; with --wait or --follow, waits for it and exits as it ended.
async fn start(c: &Client, a: StartArgs, out: Output) -> Result<()> {
    if a.timeout.is_some() && !(a.wait || a.follow) {
        return Err(Failure::new(
            Exit::Usage,
            "--timeout limits a wait: give it with --wait or --follow",
        ));
    }
    let headers: Vec<(&str, &str)> = a
        .idempotency_key
        .as_deref()
        .map(|k| ("idempotency-key", k))
        .into_iter()
        .collect();
    let body = StartRequest {
        env: a.env.iter().cloned().collect(),
        args: a.args.clone(),
    };
    let r: ActionResult = c
        .send_json_with(
            Method::POST,
            &a.task.action(TaskAction::Start),
            &body,
            &headers,
        )
        .await?;
    let Some(run_id) = r.runs.first().cloned() else {
        return Err(Failure::new(Exit::Failure, "the center started no run"));
    };
    if !(a.wait || a.follow) {
        if out.json() {
            return table::print_json(&r);
        }
        println!("started run {run_id}");
        return Ok(());
    }
    if !out.json() {
        eprintln!("started run {run_id}");
    }
    let deadline = match &a.timeout {
        Some(t) => Some(
            tokio::time::Instant::now()
                + std::time::Duration::from_millis(
                    parse_duration_ms(t)
                        .map_err(|e| Failure::new(Exit::Usage, format!("--timeout: {e}")))?,
                ),
        ),
        None => None,
    };
    let waited = async {
        if a.follow {
            stream_log(c, &run_id).await?;
        }
        wait_for_end(c, &run_id).await
    };
    let rec = match deadline {
        None => waited.await?,
        Some(d) => match tokio::time::timeout_at(d, waited).await {
            Ok(rec) => rec?,
            Err(_) => {
                return Err(Failure::new(
                    Exit::Run(EXIT_WAIT_TIMEOUT),
                    format!(
                        "gave up waiting for run {run_id} after {}; it goes on",
                        a.timeout.as_deref().unwrap_or("")
                    ),
                ));
            }
        },
    };
    if out.json() {
        table::print_json(&rec)?;
    } else {
        let code = rec
            .exit_code
            .map(|c| format!(" (exit {c})"))
            .unwrap_or_default();
        eprintln!("run {} {}{code}", rec.id, rec.status);
    }
    match run_exit(&rec) {
        0 => Ok(()),
        code => Err(Failure::new(
            Exit::Run(code),
            format!("run {} ended {}", rec.id, rec.status),
        )),
    }
}

/// Polls the run until it is terminal: a second apart, first sooner (most runs are short).
async fn wait_for_end(c: &Client, run_id: &str) -> Result<RunRecord> {
    let mut pause = std::time::Duration::from_millis(100);
    loop {
        let rec: RunRecord = c.get(&format!("/runs/{}", enc(run_id))).await?;
        if rec.status.is_terminal() {
            return Ok(rec);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_secs(1));
    }
}

/// Stop: kills the task's active runs, prints which.
async fn stop(c: &Client, t: &TaskRef, out: Output) -> Result<()> {
    let r: ActionResult = c.post_empty(&t.action(TaskAction::Stop)).await?;
    if out.json() {
        return table::print_json(&r);
    }
    if r.runs.is_empty() {
        println!("task {} has no active runs", t.name);
    } else {
        println!("stopping {}", r.runs.join(", "));
    }
    Ok(())
}

fn file_name(path: &std::path::Path) -> Result<String> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .ok_or_else(|| {
            Failure::new(
                Exit::Usage,
                format!("{} has no usable file name", path.display()),
            )
        })
}

async fn upload(c: &Client, path: &str, file: &std::path::Path) -> Result<PackageRef> {
    let name = file_name(file)?;
    c.upload(&format!("{path}?file_name={}", enc(&name)), file)
        .await
}

async fn logs(c: &Client, task: &TaskRef, run: Option<String>, follow: bool) -> Result<()> {
    let run_id = match run {
        Some(r) => r,
        None => {
            let q = task
                .group
                .as_ref()
                .map(|g| format!("&group={}", enc(g)))
                .unwrap_or_default();
            let runs: Vec<RunRecord> = c
                .get(&format!("/tasks/{}/runs?limit=1{q}", enc(&task.name)))
                .await?;
            runs.into_iter().next().map(|r| r.id).ok_or_else(|| {
                Failure::new(
                    Exit::NotFound,
                    format!("task {} has no runs yet", task.name),
                )
            })?
        }
    };
    print_log(c, &run_id, follow).await
}

/// Copies a run's log to stdout, following it until the run ends.
async fn stream_log(c: &Client, run_id: &str) -> Result<()> {
    copy_log(c, run_id, true).await
}

async fn copy_log(c: &Client, run_id: &str, follow: bool) -> Result<()> {
    let resp = c
        .stream(&format!(
            "/runs/{}/log{}",
            enc(run_id),
            if follow { "?follow=true" } else { "" }
        ))
        .await?;
    let mut body = resp.bytes_stream();
    let mut out = std::io::stdout();
    while let Some(chunk) = body.next().await {
        out.write_all(&chunk?)?;
        out.flush()?;
    }
    Ok(())
}

/// Prints a run's log; with `follow`, until the run ends, then its status (non-zero exit
/// unless it succeeded).
pub async fn print_log(c: &Client, run_id: &str, follow: bool) -> Result<()> {
    copy_log(c, run_id, follow).await?;
    if follow {
        let rec: RunRecord = c.get(&format!("/runs/{}", enc(run_id))).await?;
        let code = rec
            .exit_code
            .map(|c| format!(" (exit {c})"))
            .unwrap_or_default();
        eprintln!("run {} {}{code}", rec.id, rec.status);
        if rec.status != RunStatus::Succeeded {
            return Err(Failure::new(
                Exit::Failure,
                format!("run {} ended {}", rec.id, rec.status),
            ));
        }
    }
    Ok(())
}

async fn next(
    c: &Client,
    task: &TaskRef,
    count: u32,
    from: Option<String>,
    out: Output,
) -> Result<()> {
    let mut q = vec![format!("n={count}")];
    if let Some(f) = from {
        let at: jiff::Timestamp = f.parse().map_err(|e| {
            Failure::new(
                Exit::Usage,
                format!("--from {f:?}: not an RFC 3339 instant ({e}), e.g. 2026-03-29T00:00:00Z"),
            )
        })?;
        q.push(format!("from={}", enc(&at.to_string())));
    }
    if let Some(g) = &task.group {
        q.push(format!("group={}", enc(g)));
    }
    let v: Value = c
        .get(&format!("/tasks/{}/next?{}", enc(&task.name), q.join("&")))
        .await?;
    if out.json() {
        return table::print_json(&v);
    }
    let zone = v["timezone"].as_str().unwrap_or("UTC");
    let utc = v["fires"].as_array().cloned().unwrap_or_default();
    let local = v["local"].as_array().cloned().unwrap_or_default();
    let rows: Vec<Vec<String>> = local
        .iter()
        .zip(&utc)
        .map(|(l, u)| {
            vec![
                l.as_str().unwrap_or_default().to_string(),
                u.as_str().unwrap_or_default().to_string(),
            ]
        })
        .collect();
    let local_header = format!("LOCAL ({zone})");
    table::print(&[local_header.as_str(), "UTC"], &rows);
    Ok(())
}
