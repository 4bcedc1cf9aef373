//! The words of a message: an e-mail's subject and plain-text body, and a webhook's JSON
//! payload (Standard Webhooks' `{type, timestamp, data}`), from an incident, its task and
//! the run that changed it. Rendered once, when the change is noticed, and stored: a retry
//! or another leader sends the same message.

use cloudtask_shared::RunRecord;
use cloudtask_shared::api::Incident;
use jiff::Timestamp;
use serde_json::json;

use super::rules::{Announce, TaskInfo};

/// The most of a run's output a message carries: its last lines, up to this many bytes.
pub const TAIL_BYTES: usize = 2048;
pub const TAIL_LINES: usize = 20;

/// What a message is about.
pub struct Subject<'a> {
    pub announce: Announce,
    /// None for a plain run announcement ([`Announce::Succeeded`]).
    pub incident: Option<&'a Incident>,
    pub task_id: &'a str,
    pub task: &'a TaskInfo,
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

fn time(t: Option<Timestamp>) -> String {
    t.map_or_else(|| "-".to_string(), |t| t.to_string())
}

/// The e-mail's subject line.
pub fn subject(s: &Subject<'_>) -> String {
    let what = format!("{}/{}", s.task.group, s.task.name);
    let (summary, count) = s
        .incident
        .map_or((String::new(), 0), |i| (i.summary.clone(), i.count));
    match s.announce {
        Announce::Opened => format!("[CloudTask] FAILING {what}: {summary}"),
        Announce::Reminder => {
            format!("[CloudTask] STILL FAILING {what}: {count} failures in a row")
        }
        Announce::Resolved => format!(
            "[CloudTask] RECOVERED {what} after {count} failure{}",
            if count == 1 { "" } else { "s" }
        ),
        Announce::Succeeded => match s.run {
            Some(r) => format!("[CloudTask] OK {what}: {}", super::rules::summary(r)),
            None => format!("[CloudTask] OK {what}"),
        },
    }
}

/// The e-mail's body, plain text.
pub fn body(s: &Subject<'_>) -> String {
    let mut b = String::new();
    let headline = match s.announce {
        Announce::Opened => "A task is failing.",
        Announce::Reminder => "A task is still failing.",
        Announce::Resolved => "A task that was failing has recovered.",
        Announce::Succeeded => "A run succeeded.",
    };
    b.push_str(headline);
    b.push_str("\n\n");
    let mut row = |k: &str, v: String| b.push_str(&format!("{k:<11}{v}\n"));
    row(
        "Task:",
        format!("{}/{} ({})", s.task.group, s.task.name, s.task_id),
    );
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
            row("Duration:", format!("{:#}", z.duration_since(a)));
        }
        if let Some(m) = &r.message {
            row("Why:", m.clone());
        }
    }
    if let Some(i) = s.incident {
        row(
            "Incident:",
            format!(
                "{} — {} failure{} in a row, open since {}",
                i.id,
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
    if let Some(r) = s.run {
        b.push_str(&format!("Show the run:  cloudtaskctl run show {}\n", r.id));
        b.push_str(&format!("Its output:    cloudtaskctl run logs {}\n", r.id));
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
            "task": {"id": s.task_id, "name": s.task.name, "group": s.task.group},
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
