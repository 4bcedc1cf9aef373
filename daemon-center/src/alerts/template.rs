//! The words of a message: an e-mail's subject and plain-text body, and a webhook's JSON
//! payload (Standard Webhooks' `{type, timestamp, data}`), from an incident, its task and
//! the run that changed it. Rendered once, when the change is noticed, and stored: a retry
//! or another leader sends the same message.

use cloudtask_shared::RunRecord;
use cloudtask_shared::api::{Incident, IncidentKind};
use jiff::Timestamp;
use serde_json::json;

use super::rules::{Announce, TaskInfo};

/// The most of a run's output a message carries: its last lines, up to this many bytes.
pub const TAIL_BYTES: usize = 2048;
pub const TAIL_LINES: usize = 20;

/// Whom an incident is about.
#[derive(Debug, Clone, Copy)]
pub enum About<'a> {
    Task { id: &'a str, info: &'a TaskInfo },
    Node { cluster: &'a str, name: &'a str },
}

impl About<'_> {
    /// `group/name`, or `node cluster/name`.
    fn what(&self) -> String {
        match self {
            About::Task { info, .. } => format!("{}/{}", info.group, info.name),
            About::Node { cluster, name } => format!("node {cluster}/{name}"),
        }
    }
}

/// What a message is about.
pub struct Subject<'a> {
    pub announce: Announce,
    /// None for a plain run announcement ([`Announce::Succeeded`]).
    pub incident: Option<&'a Incident>,
    pub about: About<'a>,
    pub run: Option<&'a RunRecord>,
    /// The tail of the run's output (already cut by [`tail`]).
    pub output: Option<&'a str>,
}

/// The last [`TAIL_LINES`] lines of `log`, at most [`TAIL_BYTES`], cut on a character.
pub fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let from = lines.len().saturating_sub(TAIL_LINES);
    let mut text = lines[from..].join("\n");
    if text.len() > TAIL_BYTES {
        let mut cut = text.len() - TAIL_BYTES;
        while !text.is_char_boundary(cut) {
            cut += 1;
        }
        text = format!("…{}", &text[cut..]);
    }
    text
}

/// A duration as people read it: `350ms`, `1.5s`, `2m 5s`, `3h 10m`.
pub fn human(d: jiff::SignedDuration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    if ms < 60_000 {
        let tenths = ms / 100;
        return if tenths % 10 == 0 {
            format!("{}s", tenths / 10)
        } else {
            format!("{}.{}s", tenths / 10, tenths % 10)
        };
    }
    let secs = ms / 1000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m, s) {
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m {s}s"),
        (h, 0, _) => format!("{h}h"),
        (h, m, _) => format!("{h}h {m}m"),
    }
}

fn time(t: Option<Timestamp>) -> String {
    t.map_or_else(|| "-".to_string(), |t| t.to_string())
}

/// What an incident of `kind` is called in a subject line.
fn title(kind: IncidentKind) -> &'static str {
    match kind {
        IncidentKind::Failed => "FAILING",
        IncidentKind::LateStart => "LATE START",
        IncidentKind::DidNotStart => "DID NOT START",
        IncidentKind::Overrunning => "OVERRUNNING",
        IncidentKind::TooFast => "TOO FAST",
        IncidentKind::Offline => "OFFLINE",
        IncidentKind::Unassigned => "UNASSIGNED",
        IncidentKind::Shedding => "SHEDDING",
    }
}

/// The e-mail's subject line.
pub fn subject(s: &Subject<'_>) -> String {
    let what = s.about.what();
    let Some(i) = s.incident else {
        return match s.run {
            Some(r) => format!("[CloudTask] OK {what}: {}", super::rules::summary(r)),
            None => format!("[CloudTask] OK {what}"),
        };
    };
    let t = title(i.kind);
    match (s.announce, i.kind) {
        (Announce::Opened, _) => format!("[CloudTask] {t} {what}: {}", i.summary),
        (Announce::Reminder, IncidentKind::Failed) => format!(
            "[CloudTask] STILL FAILING {what}: {} failures in a row",
            i.count
        ),
        (Announce::Reminder, _) => format!("[CloudTask] STILL {t} {what}: {}", i.summary),
        (Announce::Resolved, IncidentKind::Failed) => format!(
            "[CloudTask] RECOVERED {what} after {} failure{}",
            i.count,
            if i.count == 1 { "" } else { "s" }
        ),
        (Announce::Resolved, IncidentKind::Offline) => {
            format!("[CloudTask] BACK ONLINE {what}: {}", i.summary)
        }
        (Announce::Resolved, kind) => {
            format!("[CloudTask] RECOVERED {what} ({kind}): {}", i.summary)
        }
        (Announce::Succeeded, _) => format!("[CloudTask] OK {what}"),
    }
}

/// The e-mail's body, plain text.
pub fn body(s: &Subject<'_>) -> String {
    let mut b = String::new();
    let kind = s.incident.map(|i| i.kind);
    let headline = match (s.announce, kind) {
        (Announce::Succeeded, _) | (_, None) => "A run succeeded.",
        (Announce::Resolved, _) => "A task's incident has ended.",
        (_, Some(IncidentKind::Failed)) => "A task is failing.",
        (_, Some(IncidentKind::LateStart)) => "A scheduled run started late.",
        (_, Some(IncidentKind::DidNotStart)) => {
            "A scheduled run did not start: the center saw no start of its instant within the start grace."
        }
        (_, Some(IncidentKind::Overrunning)) => "A run is running longer than it should.",
        (_, Some(IncidentKind::TooFast)) => "A run succeeded faster than the task's minimum.",
        (_, Some(IncidentKind::Offline)) => {
            "A node is offline: it left its cluster and has not come back."
        }
        (_, Some(IncidentKind::Unassigned)) => {
            "A task has no node to run on: no live node of its cluster is eligible for it."
        }
        (_, Some(IncidentKind::Shedding)) => {
            "A node is at its capacity and skips runs it has no room for."
        }
    };
    b.push_str(headline);
    b.push_str("\n\n");
    if let Some(i) = s.incident {
        b.push_str(&format!("{}\n\n", i.summary));
    }
    let mut row = |k: &str, v: String| b.push_str(&format!("{k:<11}{v}\n"));
    match s.about {
        About::Task { id, info } => row("Task:", format!("{}/{} ({id})", info.group, info.name)),
        About::Node { cluster, name } => row("Node:", format!("{name}, cluster {cluster}")),
    }
    if let Some(r) = s.run {
        let status = match r.exit_code {
            Some(c) => format!("{}, exit code {c}", r.status),
            None => r.status.to_string(),
        };
        row("Status:", status);
        row(
            "Node:",
            if r.node.is_empty() {
                "-".into()
            } else {
                r.node.clone()
            },
        );
        row("Scheduled:", r.scheduled_at.to_string());
        row("Started:", time(r.started_at));
        row("Finished:", time(r.finished_at));
        if let (Some(a), Some(z)) = (r.started_at, r.finished_at) {
            row("Duration:", human(z.duration_since(a)));
        }
        if let Some(m) = &r.message {
            row("Why:", m.clone());
        }
    }
    if let Some(i) = s.incident {
        row(
            "Incident:",
            format!(
                "{} ({}) — seen {} time{}, open since {}",
                i.id,
                i.kind,
                i.count,
                if i.count == 1 { "" } else { "s" },
                i.opened_at
            ),
        );
    }
    if let Some(out) = s.output.filter(|o| !o.is_empty()) {
        b.push_str("\nLast output:\n");
        for line in out.lines() {
            b.push_str("  ");
            b.push_str(line);
            b.push('\n');
        }
    }
    b.push('\n');
    let run_id = s
        .run
        .map(|r| r.id.as_str())
        .or(s.incident.and_then(|i| i.last_run.as_deref()));
    if let Some(id) = run_id {
        b.push_str(&format!("Show the run:  cloudtaskctl run show {id}\n"));
        b.push_str(&format!("Its output:    cloudtaskctl run logs {id}\n"));
    } else {
        match s.about {
            About::Task { id, .. } => {
                b.push_str(&format!("Its runs:      cloudtaskctl task runs {id}\n"))
            }
            About::Node { .. } => b.push_str("The nodes:     cloudtaskctl node ls\n"),
        }
    }
    if let Some(i) = s.incident.filter(|_| s.announce != Announce::Resolved) {
        b.push_str(&format!("Acknowledge:   cloudtaskctl alert ack {}\n", i.id));
    }
    b
}

/// The webhook's payload.
pub fn payload(s: &Subject<'_>, at: Timestamp) -> serde_json::Value {
    json!({
        "type": s.announce.as_str(),
        "timestamp": at,
        "data": {
            "incident": s.incident,
            "task": match s.about {
                About::Task { id, info } => json!({"id": id, "name": info.name, "group": info.group}),
                About::Node { .. } => serde_json::Value::Null,
            },
            "node": match s.about {
                About::Node { cluster, name } => json!({"cluster": cluster, "name": name}),
                About::Task { .. } => serde_json::Value::Null,
            },
            "run": s.run,
            "output_tail": s.output,
            "subject": subject(s),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        let d = |ms| human(jiff::SignedDuration::from_millis(ms));
        assert_eq!(d(350), "350ms");
        assert_eq!(d(1500), "1.5s");
        assert_eq!(d(2000), "2s");
        assert_eq!(d(125_000), "2m 5s");
        assert_eq!(d(3_600_000 * 3 + 600_000), "3h 10m");
    }

    #[test]
    fn the_tail_keeps_the_last_lines_within_its_cap() {
        let log: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let t = tail(&log);
        assert!(t.starts_with("line 80") && t.ends_with("line 99"), "{t}");
        let long = "é".repeat(5000);
        let t = tail(&long);
        assert!(t.len() <= TAIL_BYTES + "…".len() + 1, "{}", t.len());
        assert!(t.starts_with('…'));
    }
}
