//! `alert …` (incidents: list, show, acknowledge) and `notify …` (the channels' state, a
//! test message).

use clap::{Subcommand, ValueEnum};
use cloudtask_shared::Channel;
use cloudtask_shared::api::{
    CreateSilence, Incident, IncidentKind, MessageView, NotifyStatus, NotifyTest, NotifyTestAnswer,
    Silence,
};
use reqwest::Method;

use crate::client::{Client, Exit, Failure, Result, enc};
use crate::table::{self, Output, print_json};

#[derive(Debug, Subcommand)]
pub enum AlertCmd {
    /// List open incidents (with --all, resolved ones too), newest first.
    #[command(
        after_help = "Examples:\n  cloudtaskctl alert ls\n  cloudtaskctl alert ls --all --task backup --group ops -o wide"
    )]
    Ls {
        /// Resolved incidents too.
        #[arg(long)]
        all: bool,
        /// Only this task's (name or id).
        #[arg(long)]
        task: Option<String>,
        /// The task's group, when its name is in several.
        #[arg(long)]
        group: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Show one incident.
    #[command(after_help = "Example:\n  cloudtaskctl alert show 0195f3a2b1c4d5e6f7a8")]
    Show { id: String },
    /// Acknowledge an open incident: you are looking into it (recorded with your name).
    #[command(after_help = "Example:\n  cloudtaskctl alert ack 0195f3a2b1c4d5e6f7a8")]
    Ack { id: String },
    /// Silence a task's, a group's or every incident for a while (or, with --from, plan a
    /// maintenance window): they are recorded, not announced; one still open at the end is
    /// announced then.
    #[command(
        after_help = "Examples:\n  cloudtaskctl alert silence --task backup --for 2h --reason 'disk swap'\n  cloudtaskctl alert silence --group billing --kind did_not_start --from 2026-12-24T22:00:00Z --until 2026-12-25T06:00:00Z --reason 'db maintenance'\n  cloudtaskctl alert silence --everything --for 30m --reason 'network work'"
    )]
    Silence {
        /// A task (name or id).
        #[arg(long, conflicts_with = "everything")]
        task: Option<String>,
        /// A group (with --task: the task's group, when its name is in several).
        #[arg(long, conflicts_with = "everything")]
        group: Option<String>,
        /// Every incident, nodes' included (operators of every group).
        #[arg(long)]
        everything: bool,
        /// Only incidents of this kind (failed, late_start, did_not_start, overrunning,
        /// too_fast, offline).
        #[arg(long)]
        kind: Option<String>,
        /// How long, from its start (e.g. 2h).
        #[arg(long = "for", value_name = "DURATION", conflicts_with = "until")]
        for_: Option<String>,
        /// Until this instant (RFC 3339).
        #[arg(long)]
        until: Option<String>,
        /// From this instant (RFC 3339; default now).
        #[arg(long)]
        from: Option<String>,
        /// Why: shown to whoever wonders where an alert went.
        #[arg(long)]
        reason: String,
    },
    /// List silences and maintenance windows not ended yet.
    #[command(after_help = "Example:\n  cloudtaskctl alert silences")]
    Silences,
    /// End a silence now.
    #[command(after_help = "Example:\n  cloudtaskctl alert unsilence 0195f3a2b1c4d5e6f7a8")]
    Unsilence { id: String },
}

fn instant(flag: &str, text: &str) -> Result<jiff::Timestamp> {
    text.parse().map_err(|e| {
        Failure::new(
            Exit::Usage,
            format!("--{flag} {text:?}: not an RFC 3339 instant ({e})"),
        )
    })
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ChannelArg {
    Email,
    Webhook,
}

#[derive(Debug, Subcommand)]
pub enum NotifyCmd {
    /// Each channel's queue, failures and last error, and the messages given up on (admins).
    #[command(after_help = "Example:\n  cloudtaskctl notify status -o json")]
    Status,
    /// Send a test message on a channel, to an address or to the center's default
    /// recipients (admins); delivered like any alert: see `notify status`.
    #[command(
        after_help = "Examples:\n  cloudtaskctl notify test email --to ops@example.com\n  cloudtaskctl notify test webhook --to https://hooks.example.com/cloudtask"
    )]
    Test {
        channel: ChannelArg,
        /// The address (e-mail) or URL (webhook); default: the center's --notify recipients.
        #[arg(long)]
        to: Option<String>,
    },
}

fn dash(s: Option<String>) -> String {
    s.unwrap_or_else(|| "-".into())
}

fn state(i: &Incident) -> String {
    match (&i.resolved_at, &i.acked_by, i.announced) {
        (Some(_), _, _) => "resolved".into(),
        (None, Some(by), _) => format!("acked by {by}"),
        (None, None, true) => "open".into(),
        (None, None, false) => "open (quiet)".into(),
    }
}

pub async fn alert(c: &Client, cmd: AlertCmd, out: Output) -> Result<()> {
    match cmd {
        AlertCmd::Ls {
            all,
            task,
            group,
            limit,
        } => {
            let mut q = vec![format!("limit={limit}")];
            if all {
                q.push("all=true".into());
            }
            if let Some(t) = &task {
                q.push(format!("task={}", enc(t)));
            }
            if let Some(g) = &group {
                q.push(format!("group={}", enc(g)));
            }
            let rows: Vec<Incident> = c.get(&format!("/alerts?{}", q.join("&"))).await?;
            if out.json() {
                return print_json(&rows);
            }
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|i| {
                    let mut row = vec![
                        i.id.clone(),
                        i.kind.to_string(),
                        format!("{}/{}", i.group, i.name),
                        state(i),
                        i.count.to_string(),
                        table::when(Some(i.opened_at)),
                        i.summary.clone(),
                    ];
                    if out.wide() {
                        row.extend([
                            table::when(i.resolved_at),
                            dash(i.last_run.clone()),
                            i.subject.clone(),
                        ]);
                    }
                    row
                })
                .collect();
            let mut header = vec!["ID", "KIND", "TASK", "STATE", "COUNT", "OPENED", "LAST"];
            if out.wide() {
                header.extend(["RESOLVED", "LAST RUN", "TASK ID"]);
            }
            table::print(&header, &cells);
        }
        AlertCmd::Show { id } => {
            let i: Incident = c.get(&format!("/alerts/{}", enc(&id))).await?;
            show(&i, out)?;
        }
        AlertCmd::Silence {
            task,
            group,
            everything,
            kind,
            for_,
            until,
            from,
            reason,
        } => {
            if task.is_none() && group.is_none() && !everything {
                return Err(Failure::new(
                    Exit::Usage,
                    "say what to silence: --task, --group or --everything",
                ));
            }
            let kind = match kind {
                Some(k) => Some(IncidentKind::parse(&k).ok_or_else(|| {
                    Failure::new(Exit::Usage, format!("--kind {k:?}: not an incident kind"))
                })?),
                None => None,
            };
            let starts_at = from.as_deref().map(|t| instant("from", t)).transpose()?;
            let ends_at = match (for_, until) {
                (Some(d), None) => {
                    let ms = cloudtask_shared::parse_duration_ms(&d)
                        .map_err(|e| Failure::new(Exit::Usage, format!("--for {d:?}: {e}")))?;
                    starts_at
                        .unwrap_or_else(jiff::Timestamp::now)
                        .checked_add(jiff::SignedDuration::from_millis(
                            i64::try_from(ms).unwrap_or(i64::MAX),
                        ))
                        .map_err(|e| Failure::new(Exit::Usage, format!("--for {d:?}: {e}")))?
                }
                (None, Some(t)) => instant("until", &t)?,
                _ => {
                    return Err(Failure::new(
                        Exit::Usage,
                        "say for how long: --for DURATION or --until INSTANT",
                    ));
                }
            };
            let body = CreateSilence {
                task,
                group,
                kind,
                starts_at,
                ends_at,
                reason,
            };
            let made: Silence = c.send_json(Method::POST, "/silences", &body).await?;
            if out.json() {
                return print_json(&made);
            }
            println!(
                "silence {} from {} until {}",
                made.id,
                table::when(Some(made.starts_at)),
                table::when(Some(made.ends_at))
            );
        }
        AlertCmd::Silences => {
            let rows: Vec<Silence> = c.get("/silences").await?;
            if out.json() {
                return print_json(&rows);
            }
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|s| {
                    vec![
                        s.id.clone(),
                        s.task
                            .clone()
                            .or_else(|| s.group.clone().map(|g| format!("group {g}")))
                            .unwrap_or_else(|| "everything".into()),
                        s.kind.map_or("-".into(), |k| k.to_string()),
                        table::when(Some(s.starts_at)),
                        table::when(Some(s.ends_at)),
                        s.created_by.clone(),
                        s.reason.clone(),
                    ]
                })
                .collect();
            table::print(
                &["ID", "SILENCES", "KIND", "FROM", "UNTIL", "BY", "REASON"],
                &cells,
            );
        }
        AlertCmd::Unsilence { id } => {
            c.delete(&format!("/silences/{}", enc(&id))).await?;
            println!("silence {id} ended");
        }
        AlertCmd::Ack { id } => {
            let i: Incident = c.post_empty(&format!("/alerts/{}/ack", enc(&id))).await?;
            if out.json() {
                return print_json(&i);
            }
            println!("incident {} acknowledged by {}", i.id, dash(i.acked_by));
        }
    }
    Ok(())
}

fn show(i: &Incident, out: Output) -> Result<()> {
    if out.json() {
        return print_json(i);
    }
    let rows = [
        ("id", i.id.clone()),
        ("kind", i.kind.to_string()),
        ("task", format!("{}/{} ({})", i.group, i.name, i.subject)),
        ("state", state(i)),
        ("count", i.count.to_string()),
        ("opened", table::when(Some(i.opened_at))),
        ("updated", table::when(Some(i.updated_at))),
        ("resolved", table::when(i.resolved_at)),
        ("announced", table::when(i.last_announced_at)),
        ("last run", dash(i.last_run.clone())),
        ("last", i.summary.clone()),
        (
            "acked",
            match (&i.acked_by, i.acked_at) {
                (Some(by), at) => format!("{by} {}", table::when(at)),
                _ => "-".into(),
            },
        ),
    ];
    for (k, v) in rows {
        println!("{:<10} {v}", format!("{k}:"));
    }
    if let Some(run) = &i.last_run {
        println!("\nthe run: cloudtaskctl run show {run}");
    }
    Ok(())
}

fn messages_table(rows: &[MessageView]) {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|m| {
            vec![
                m.id.clone(),
                m.channel.to_string(),
                m.to.clone(),
                m.attempts.to_string(),
                if m.dead {
                    "dead".into()
                } else if m.delivered_at.is_some() {
                    "delivered".into()
                } else {
                    "queued".into()
                },
                dash(m.last_error.clone()),
            ]
        })
        .collect();
    table::print(
        &["ID", "CHANNEL", "TO", "TRIES", "STATE", "LAST ERROR"],
        &cells,
    );
}

pub async fn notify(c: &Client, cmd: NotifyCmd, out: Output) -> Result<()> {
    match cmd {
        NotifyCmd::Status => {
            let s: NotifyStatus = c.get("/notify/status").await?;
            if out.json() {
                return print_json(&s);
            }
            let cells: Vec<Vec<String>> = s
                .channels
                .iter()
                .map(|ch| {
                    vec![
                        ch.channel.to_string(),
                        if ch.configured { "yes" } else { "no" }.into(),
                        ch.queued.to_string(),
                        ch.retrying.to_string(),
                        ch.dead.to_string(),
                        ch.delivered.to_string(),
                        table::when(ch.last_delivered_at),
                        match (&ch.last_error, ch.last_error_at) {
                            (Some(e), at) => format!("{} {e}", table::when(at)),
                            _ => "-".into(),
                        },
                    ]
                })
                .collect();
            table::print(
                &[
                    "CHANNEL",
                    "CONFIGURED",
                    "QUEUED",
                    "RETRYING",
                    "DEAD",
                    "DELIVERED",
                    "LAST DELIVERED",
                    "LAST ERROR",
                ],
                &cells,
            );
            if !s.dead_letters.is_empty() {
                println!("\ndead letters (given up after their last try):");
                messages_table(&s.dead_letters);
            }
        }
        NotifyCmd::Test { channel, to } => {
            let channel = match channel {
                ChannelArg::Email => Channel::Email,
                ChannelArg::Webhook => Channel::Webhook,
            };
            let a: NotifyTestAnswer = c
                .send_json(Method::POST, "/notify/test", &NotifyTest { channel, to })
                .await?;
            if out.json() {
                return print_json(&a);
            }
            for m in &a.messages {
                println!("queued test message {} to {} ({})", m.id, m.to, m.channel);
            }
            println!("follow its delivery with: cloudtaskctl notify status");
        }
    }
    Ok(())
}
