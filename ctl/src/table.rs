//! Aligned tables for people; `-o json` is the format for scripts.

use cloudtask_shared::RunRecord;
use cloudtask_shared::api::{ClusterView, NodeView, TaskView};
use jiff::Timestamp;

/// Prints rows under a header, each column as wide as its widest cell.
pub fn print(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, cell) in r.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        println!("{}", s.trim_end());
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

fn when(t: Option<Timestamp>) -> String {
    t.map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

pub fn tasks(tasks: &[TaskView]) {
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|v| {
            vec![
                v.task.spec.name.clone(),
                v.task.spec.group.clone(),
                v.state.clone(),
                v.node.clone().unwrap_or_else(|| "-".into()),
                v.task.spec.schedules.join(" | "),
                when(v.next_fires.first().copied()),
            ]
        })
        .collect();
    print(
        &["NAME", "GROUP", "STATE", "NODE", "SCHEDULE", "NEXT (UTC)"],
        &rows,
    );
}

pub fn task(v: &TaskView) {
    let t = &v.task;
    let s = &t.spec;
    let mut fields = vec![
        ("name", s.name.clone()),
        ("id", t.id.clone()),
        ("group", s.group.clone()),
        ("cluster", s.cluster.clone()),
        ("state", v.state.clone()),
        ("node", v.node.clone().unwrap_or_else(|| "-".into())),
        ("command", s.command.clone()),
        ("schedules", s.schedules.join(" | ")),
        ("timezone", s.timezone.clone()),
        (
            "package",
            s.package
                .as_ref()
                .map(|p| {
                    format!(
                        "{} ({} bytes, sha256 {})",
                        p.file_name,
                        p.size,
                        &p.sha256[..12]
                    )
                })
                .unwrap_or_else(|| "-".into()),
        ),
        (
            "timeout",
            s.timeout_ms
                .map(|ms| format!("{ms} ms"))
                .unwrap_or_else(|| "none".into()),
        ),
        ("retries", s.retries.to_string()),
        ("concurrency", format!("{:?}", s.concurrency).to_lowercase()),
        ("version", t.version.to_string()),
        (
            "updated",
            format!("{} by {}", when(Some(t.updated_at)), t.updated_by),
        ),
    ];
    if !s.env.is_empty() {
        fields.push((
            "env",
            s.env
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" "),
        ));
    }
    for (k, val) in fields {
        println!("{:<12} {val}", format!("{k}:"));
    }
    if !v.next_fires.is_empty() {
        println!("next fires (UTC):");
        for f in &v.next_fires {
            println!("  {}", when(Some(*f)));
        }
    }
}

pub fn runs(runs: &[RunRecord]) {
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                r.status.to_string(),
                r.exit_code
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "-".into()),
                when(Some(r.scheduled_at)),
                when(r.started_at),
                when(r.finished_at),
                r.node.clone(),
                r.attempt.to_string(),
                r.trigger.as_str().to_string(),
            ]
        })
        .collect();
    print(
        &[
            "RUN",
            "STATUS",
            "EXIT",
            "SCHEDULED",
            "STARTED",
            "FINISHED",
            "NODE",
            "ATTEMPT",
            "TRIGGER",
        ],
        &rows,
    );
}

pub fn clusters(clusters: &[ClusterView]) {
    let rows: Vec<Vec<String>> = clusters
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                c.nodes.to_string(),
                c.tasks.to_string(),
                c.description.clone(),
            ]
        })
        .collect();
    print(&["NAME", "NODES", "TASKS", "DESCRIPTION"], &rows);
}

pub fn nodes(nodes: &[NodeView]) {
    let rows: Vec<Vec<String>> = nodes
        .iter()
        .map(|n| {
            vec![
                n.info.name.clone(),
                n.info.cluster.clone(),
                n.tasks.to_string(),
                n.info.os.clone(),
                n.info.version.clone(),
                when(Some(n.info.started_at)),
            ]
        })
        .collect();
    print(
        &["NAME", "CLUSTER", "TASKS", "OS", "VERSION", "STARTED"],
        &rows,
    );
}
