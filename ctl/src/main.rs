//! `cloudtaskctl`: the command line for CloudTask. Tables for people, `-o json` for scripts;
//! exit codes 0 ok, 1 failure, 2 usage, 3 not found, 4 conflict, 5 unauthorized.

mod client;
mod table;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use cloudtask_shared::api::{ActionResult, ClusterView, NodeView, TaskView};
use cloudtask_shared::{PackageRef, RunRecord, RunStatus, parse_duration_ms};
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{Map, Value, json};

use client::{Client, Exit, Failure, Result, enc};

#[derive(Debug, Parser)]
#[command(
    name = "cloudtaskctl",
    version,
    about = "Drive a CloudTask center from the shell"
)]
struct Cli {
    /// Center URL.
    #[arg(
        long,
        global = true,
        env = "CLOUDTASK_SERVER",
        default_value = "http://127.0.0.1:7878"
    )]
    server: String,
    /// API token (the standalone center writes one to <data dir>/admin.token).
    #[arg(long, global = true, env = "CLOUDTASK_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Output format.
    #[arg(short, long, global = true, value_enum, default_value_t = Format::Table)]
    output: Format,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create, inspect and control tasks.
    #[command(subcommand)]
    Task(Box<TaskCmd>),
    /// Inspect nodes.
    #[command(subcommand)]
    Node(NodeCmd),
    /// Inspect clusters.
    #[command(subcommand)]
    Cluster(ClusterCmd),
}

#[derive(Debug, Subcommand)]
enum ClusterCmd {
    /// List clusters with their live node and task counts.
    Ls,
}

#[derive(Debug, Subcommand)]
enum NodeCmd {
    /// List live nodes.
    Ls {
        #[arg(long)]
        cluster: Option<String>,
    },
}

#[derive(Debug, Args)]
struct TaskRef {
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
}

/// Fields of a task spec settable from flags (create sets them, edit patches them).
#[derive(Debug, Args, Default)]
struct SpecFlags {
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
                .map_err(|e| Failure::new(Exit::Failure, format!("--{name}: {e}")))
        })
        .transpose()
}

impl SpecFlags {
    /// The flags given, as spec JSON fields.
    fn fields(&self) -> Result<Map<String, Value>> {
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
        Ok(m)
    }
}

#[derive(Debug, Subcommand)]
enum TaskCmd {
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
    Ls {
        #[arg(long)]
        group: Option<String>,
        #[arg(long)]
        cluster: Option<String>,
    },
    /// Show one task: spec, state, node, next fire times.
    Show(TaskRef),
    /// Stop scheduling a task (running runs go on).
    Pause(TaskRef),
    /// Schedule a paused task again from now.
    Resume(TaskRef),
    /// Run a task now.
    Start(TaskRef),
    /// Kill a task's active runs (they end as `killed`).
    Stop(TaskRef),
    /// Copy a task under a new name.
    Clone {
        #[command(flatten)]
        task: TaskRef,
        new_name: String,
    },
    /// Change a task's fields.
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
    Rm(TaskRef),
    /// Upload a new package for a task.
    Upload {
        #[command(flatten)]
        task: TaskRef,
        file: PathBuf,
    },
    /// List a task's runs, newest first.
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
    /// Print a run's log (the latest run unless --run).
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

fn main() {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            std::process::exit(1);
        }
    };
    if let Err(f) = rt.block_on(run(cli)) {
        eprintln!("error: {}", f.message);
        std::process::exit(f.exit as i32);
    }
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

async fn run(cli: Cli) -> Result<()> {
    let c = Client::new(&cli.server, cli.token.clone());
    let json = cli.output == Format::Json;
    match cli.command {
        Command::Node(NodeCmd::Ls { cluster }) => {
            let q = cluster
                .map(|c| format!("?cluster={}", enc(&c)))
                .unwrap_or_default();
            let nodes: Vec<NodeView> = c.get(&format!("/nodes{q}")).await?;
            if json {
                return print_json(&nodes);
            }
            table::nodes(&nodes);
        }
        Command::Cluster(ClusterCmd::Ls) => {
            let clusters: Vec<ClusterView> = c.get("/clusters").await?;
            if json {
                return print_json(&clusters);
            }
            table::clusters(&clusters);
        }
        Command::Task(cmd) => task(&c, *cmd, json).await?,
    }
    Ok(())
}

async fn task(c: &Client, cmd: TaskCmd, json: bool) -> Result<()> {
    let show = |v: &TaskView| {
        if json {
            print_json(v)
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
        TaskCmd::Ls { group, cluster } => {
            let mut q = vec![];
            if let Some(g) = group {
                q.push(format!("group={}", enc(&g)));
            }
            if let Some(cl) = cluster {
                q.push(format!("cluster={}", enc(&cl)));
            }
            let q = if q.is_empty() {
                String::new()
            } else {
                format!("?{}", q.join("&"))
            };
            let tasks: Vec<TaskView> = c.get(&format!("/tasks{q}")).await?;
            if json {
                return print_json(&tasks);
            }
            table::tasks(&tasks);
        }
        TaskCmd::Show(t) => show(&c.get(&t.path("")).await?)?,
        TaskCmd::Pause(t) => toggle(c, &t, "pause", json).await?,
        TaskCmd::Resume(t) => toggle(c, &t, "resume", json).await?,
        TaskCmd::Start(t) => action(c, &t, "start", json).await?,
        TaskCmd::Stop(t) => action(c, &t, "stop", json).await?,
        TaskCmd::Clone { task, new_name } => {
            let v: TaskView = c
                .send_json(
                    Method::POST,
                    &task.path("/clone"),
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
                return Err(Failure::new(
                    Exit::Failure,
                    "nothing to change: give at least one field flag (see --help)",
                ));
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
            if !json {
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
            if json {
                return print_json(&runs);
            }
            table::runs(&runs);
        }
        TaskCmd::Logs { task, run, follow } => logs(c, &task, run, follow).await?,
    }
    Ok(())
}

/// Pause or resume: idempotent, prints the resulting state.
async fn toggle(c: &Client, t: &TaskRef, verb: &str, json: bool) -> Result<()> {
    let v: TaskView = c.post_empty(&t.path(&format!("/{verb}"))).await?;
    if json {
        return print_json(&v);
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

async fn action(c: &Client, t: &TaskRef, verb: &str, json: bool) -> Result<()> {
    let r: ActionResult = c.post_empty(&t.path(&format!("/{verb}"))).await?;
    if json {
        return print_json(&r);
    }
    match (verb, r.runs.as_slice()) {
        ("stop", []) => println!("task {} has no active runs", t.name),
        ("stop", runs) => println!("stopping {}", runs.join(", ")),
        (_, runs) => println!("started run {}", runs.join(", ")),
    }
    Ok(())
}

fn file_name(path: &std::path::Path) -> Result<String> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .ok_or_else(|| {
            Failure::new(
                Exit::Failure,
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
    let resp = c
        .stream(&format!(
            "/runs/{}/log{}",
            enc(&run_id),
            if follow { "?follow=true" } else { "" }
        ))
        .await?;
    let mut body = resp.bytes_stream();
    let mut out = std::io::stdout();
    while let Some(chunk) = body.next().await {
        out.write_all(&chunk?)?;
        out.flush()?;
    }
    if follow {
        let rec: RunRecord = c.get(&format!("/runs/{}", enc(&run_id))).await?;
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

#[cfg(test)]
mod generated {
    use std::path::PathBuf;

    use clap::CommandFactory;
    use clap_complete::Shell;
    use cloudtask_shared::generated::check;

    fn repo() -> PathBuf {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
    }

    /// One man page per command and subcommand: cloudtaskctl.1, cloudtaskctl-task-create.1, …
    fn pages(cmd: &clap::Command, name: &str, out: &mut Vec<(String, Vec<u8>)>) {
        let mut buf = Vec::new();
        clap_mangen::Man::new(cmd.clone())
            .title(name.to_uppercase())
            .section("1")
            .manual("CloudTask")
            .render(&mut buf)
            .unwrap();
        out.push((format!("{name}.1"), buf));
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            pages(sub, &format!("{name}-{}", sub.get_name()), out);
        }
    }

    #[test]
    fn generated_man_pages_and_completions_are_current() {
        let mut cmd = super::Cli::command();
        cmd.build();
        let mut files = Vec::new();
        pages(&cmd, "cloudtaskctl", &mut files);
        let mut failures: Vec<String> = files
            .into_iter()
            .filter_map(|(name, content)| check(&repo().join("man").join(name), &content).err())
            .collect();
        for (shell, file) in [
            (Shell::Bash, "cloudtaskctl.bash"),
            (Shell::Zsh, "_cloudtaskctl"),
            (Shell::Fish, "cloudtaskctl.fish"),
        ] {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd, "cloudtaskctl", &mut buf);
            failures.extend(check(&repo().join("completions").join(file), &buf).err());
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
