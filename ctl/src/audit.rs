//! `audit`: the center's audit log (admins), filtered by time, user, task, group and action.

use clap::Args;
use cloudtask_shared::api::AuditEntry;

use crate::client::{Client, Result, enc};
use crate::table::{self, Output, print_json};

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// From this instant: RFC 3339, or a duration back from now (`2h`, `7d`).
    #[arg(long)]
    since: Option<String>,
    /// Before this instant (same forms).
    #[arg(long)]
    until: Option<String>,
    /// Rows of this user and its API tokens (or any actor by its full name, `node:NAME`).
    #[arg(long)]
    user: Option<String>,
    /// Rows about this task (name or id; a deleted task by its id).
    #[arg(long)]
    task: Option<String>,
    /// Rows about tasks of this group.
    #[arg(long)]
    group: Option<String>,
    /// Rows of this action (`task.edit`, `request.refused`, `login.fail`, …).
    #[arg(long)]
    action: Option<String>,
    /// At most this many rows, newest first (at most 10,000).
    #[arg(long, default_value_t = 100)]
    limit: u32,
}

pub async fn audit(c: &Client, a: AuditArgs, out: Output) -> Result<()> {
    let mut q = vec![format!("limit={}", a.limit)];
    for (k, v) in [
        ("since", &a.since),
        ("until", &a.until),
        ("user", &a.user),
        ("task", &a.task),
        ("group", &a.group),
        ("action", &a.action),
    ] {
        if let Some(v) = v {
            q.push(format!("{k}={}", enc(v)));
        }
    }
    let rows: Vec<AuditEntry> = c.get(&format!("/audit?{}", q.join("&"))).await?;
    if out.json() {
        return print_json(&rows);
    }
    let dash = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let version = Some(table::versions(r)).filter(|v| !v.is_empty());
            let mut row = vec![
                table::when(Some(r.at)),
                r.actor.clone(),
                r.action.clone(),
                r.target.clone(),
                dash(&version),
                if r.fields.is_empty() {
                    "-".into()
                } else {
                    r.fields.join(",")
                },
            ];
            if out.wide() {
                row.extend([dash(&r.from), dash(&r.group), r.detail.clone()]);
            }
            row
        })
        .collect();
    let mut header = vec!["AT", "ACTOR", "ACTION", "TARGET", "VERSION", "FIELDS"];
    if out.wide() {
        header.extend(["FROM", "GROUP", "DETAIL"]);
    }
    table::print(&header, &cells);
    Ok(())
}
