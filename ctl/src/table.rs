//! Output for people: aligned tables that fit the terminal, colour only on a terminal without
//! `NO_COLOR`; `-o wide` adds columns; `-o json` (for scripts) prints the API's JSON.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::OnceLock;

use clap::ValueEnum;
use cloudtask_shared::RunRecord;
use cloudtask_shared::api::{ClusterView, NodeView, TaskView};
use jiff::Timestamp;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Wide,
    Json,
}

impl Output {
    pub fn json(self) -> bool {
        self == Output::Json
    }

    pub fn wide(self) -> bool {
        self == Output::Wide
    }
}

/// An audit row's versions: `3→4`, `new→1`, `2→gone`; empty when it is about no task.
pub fn versions(a: &cloudtask_shared::api::AuditEntry) -> String {
    match (a.version_before, a.version_after) {
        (None, None) => String::new(),
        (before, after) => format!(
            "{}→{}",
            before.map_or("new".into(), |v| v.to_string()),
            after.map_or("gone".into(), |v| v.to_string())
        ),
    }
}

/// Prints a token made for the caller: the token alone on stdout (for `$(…)`), what it is on
/// stderr; or all of it as JSON.
pub fn print_issued(
    what: &str,
    t: &cloudtask_shared::api::IssuedToken,
    out: Output,
) -> crate::client::Result<()> {
    if out.json() {
        return print_json(t);
    }
    eprintln!(
        "{what} {:?} made, valid until {}; it is shown this once:",
        t.name,
        when(Some(t.expires_at))
    );
    println!("{}", t.token);
    Ok(())
}

pub fn print_json<T: serde::Serialize>(v: &T) -> crate::client::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

struct Style {
    color: bool,
    width: Option<usize>,
}

fn style() -> &'static Style {
    static STYLE: OnceLock<Style> = OnceLock::new();
    STYLE.get_or_init(|| {
        let tty = std::io::stdout().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
            || std::env::var("TERM").is_ok_and(|t| t == "dumb");
        Style {
            color: tty && !no_color,
            width: tty
                .then(|| crossterm::terminal::size().ok())
                .flatten()
                .map(|(w, _)| usize::from(w))
                .filter(|w| *w >= 20),
        }
    })
}

/// Colours a status or state word (only when colour is on).
fn paint(cell: &str) -> String {
    if !style().color {
        return cell.to_string();
    }
    let code = match cell.trim_end() {
        "succeeded" | "scheduled" => "32",
        "failed" | "timed_out" | "lost" | "unassigned" | "killed" => "31",
        "running" | "pending" => "36",
        "skipped" | "missed" | "paused" => "33",
        _ => return cell.to_string(),
    };
    format!("\x1b[{code}m{cell}\x1b[0m")
}

/// Cuts `s` to `max` display columns, marking the cut with `…`.
pub fn fit(s: &str, max: usize) -> String {
    if s.width() <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw + 1 > max {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push('…');
    out
}

/// Prints rows under a header, each column as wide as its widest cell; on a terminal, the
/// widest columns are cut so a row fits its width. STATUS and STATE cells are coloured.
pub fn print(header: &[&str], rows: &[Vec<String>]) {
    let painted = ["STATUS", "STATE"];
    let mut widths: Vec<usize> = header.iter().map(|h| h.width()).collect();
    for r in rows {
        for (i, cell) in r.iter().enumerate() {
            widths[i] = widths[i].max(cell.width());
        }
    }
    if let Some(term) = style().width {
        let gaps = 2 * widths.len().saturating_sub(1);
        while widths.iter().sum::<usize>() + gaps > term {
            let Some((i, w)) = widths.iter().copied().enumerate().max_by_key(|(_, w)| *w) else {
                break;
            };
            if w <= 8 {
                break;
            }
            let over = widths.iter().sum::<usize>() + gaps - term;
            widths[i] = (w - over.min(w - 8)).max(8);
        }
    }
    let line = |cells: Vec<&str>, paint_cells: bool| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let cell = fit(c, widths[i]);
            let pad = widths[i].saturating_sub(cell.width());
            let shown = if paint_cells && painted.contains(&header[i]) {
                paint(&cell)
            } else {
                cell
            };
            s.push_str(&shown);
            if i + 1 < cells.len() {
                s.push_str(&" ".repeat(pad + 2));
            }
        }
        println!("{}", s.trim_end());
    };
    line(header.to_vec(), false);
    for r in rows {
        line(r.iter().map(String::as_str).collect(), true);
    }
}

pub fn when(t: Option<Timestamp>) -> String {
    t.map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

/// A JSON array printed an item at a time, for lists read in pages.
pub struct JsonArray {
    empty: bool,
}

impl JsonArray {
    pub fn start() -> JsonArray {
        print!("[");
        JsonArray { empty: true }
    }

    pub fn items<T: serde::Serialize>(&mut self, items: &[T]) -> crate::client::Result<()> {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        for item in items {
            let text = serde_json::to_string_pretty(item)?;
            let sep = if self.empty { "" } else { "," };
            self.empty = false;
            let _ = write!(out, "{sep}\n  {}", text.replace('\n', "\n  "));
        }
        Ok(())
    }

    pub fn end(self) {
        if self.empty {
            println!("]");
        } else {
            println!("\n]");
        }
    }
}

/// The cells of a task list's rows: all a table needs to keep of a page.
pub fn task_rows(tasks: &[TaskView], wide: bool) -> Vec<Vec<String>> {
    tasks
        .iter()
        .map(|v| {
            let mut row = vec![
                v.task.spec.name.clone(),
                v.task.spec.group.clone(),
                v.state.to_string(),
                v.node.clone().unwrap_or_else(|| "-".into()),
                when(v.next_fires.first().copied()),
                v.task.spec.schedule_text(),
            ];
            if wide {
                row.splice(
                    4..4,
                    [
                        v.task.spec.cluster.clone(),
                        v.task.version.to_string(),
                        v.task
                            .spec
                            .package
                            .as_ref()
                            .map(|p| p.file_name.clone())
                            .unwrap_or_else(|| "-".into()),
                    ],
                );
                row.push(v.task.spec.command.clone());
            }
            row
        })
        .collect()
}

pub fn print_task_rows(rows: &[Vec<String>], wide: bool) {
    let mut header = vec!["NAME", "GROUP", "STATE", "NODE", "NEXT (UTC)", "SCHEDULE"];
    if wide {
        header.splice(4..4, ["CLUSTER", "VERSION", "PACKAGE"]);
        header.push("COMMAND");
    }
    print(&header, rows);
}

pub fn task(v: &TaskView) {
    let t = &v.task;
    let s = &t.spec;
    let mut fields = vec![
        ("name", s.name.clone()),
        ("id", t.id.clone()),
        ("group", s.group.clone()),
        ("cluster", s.cluster.clone()),
        ("state", paint(v.state.as_str())),
        ("node", v.node.clone().unwrap_or_else(|| "-".into())),
        ("command", s.command.clone()),
        ("schedules", s.schedule_text()),
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
        fields.push(("env", pairs(&s.env)));
    }
    if !s.secret_env.is_empty() {
        // Set, never shown: the center does not answer the values.
        let names: Vec<String> = s.secret_env.keys().map(|k| format!("{k}=(set)")).collect();
        fields.push(("secret env", names.join(" ")));
    }
    if !s.params.is_empty() {
        fields.push((
            "params",
            s.params
                .iter()
                .map(|p| match &p.default {
                    Some(d) => format!("{}={d}", p.name),
                    None => p.name.clone(),
                })
                .collect::<Vec<_>>()
                .join(" "),
        ));
    }
    if s.accepts_args {
        fields.push(("args", "accepted".into()));
    }
    if let Some(user) = &s.run_as {
        fields.push(("run as", user.clone()));
    }
    for (k, val) in fields {
        println!("{:<12} {val}", format!("{k}:"));
    }
    if v.next_fires.is_empty() {
        println!("next fires:  none");
    } else {
        println!("next fires (UTC):");
        for f in &v.next_fires {
            println!("  {}", when(Some(*f)));
        }
    }
}

pub fn runs(runs: &[RunRecord], wide: bool) {
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let mut row = vec![
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
            ];
            if wide {
                row.push(r.message.clone().unwrap_or_default());
            }
            row
        })
        .collect();
    let mut header = vec![
        "RUN",
        "STATUS",
        "EXIT",
        "SCHEDULED",
        "STARTED",
        "FINISHED",
        "NODE",
        "ATTEMPT",
        "TRIGGER",
    ];
    if wide {
        header.push("MESSAGE");
    }
    print(&header, &rows);
}

pub fn run(r: &RunRecord) {
    let fields = [
        ("run", r.id.clone()),
        ("task", format!("{} ({})", r.task_name, r.task)),
        ("status", paint(r.status.as_str())),
        (
            "exit",
            r.exit_code
                .map(|c| c.to_string())
                .unwrap_or_else(|| "-".into()),
        ),
        ("node", r.node.clone()),
        ("attempt", r.attempt.to_string()),
        (
            "trigger",
            match &r.requested_by {
                Some(who) => format!("{} by {who}", r.trigger.as_str()),
                None => r.trigger.as_str().to_string(),
            },
        ),
        ("scheduled", when(Some(r.scheduled_at))),
        ("started", when(r.started_at)),
        ("finished", when(r.finished_at)),
        ("message", r.message.clone().unwrap_or_else(|| "-".into())),
        ("params", pairs(&r.params)),
        ("args", shell_words(&r.args)),
    ];
    for (k, v) in fields {
        println!("{:<10} {v}", format!("{k}:"));
    }
}

/// `K=V K=V`, or `-`.
fn pairs(m: &BTreeMap<String, String>) -> String {
    if m.is_empty() {
        return "-".into();
    }
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Arguments as a shell would need them typed (single-quoted where needed), or `-`.
fn shell_words(args: &[String]) -> String {
    if args.is_empty() {
        return "-".into();
    }
    args.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
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

fn labels(n: &NodeView) -> String {
    n.info
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

pub fn nodes(nodes: &[NodeView], wide: bool) {
    let rows: Vec<Vec<String>> = nodes
        .iter()
        .map(|n| {
            let mut row = vec![
                n.info.name.clone(),
                n.info.cluster.clone(),
                n.tasks.to_string(),
                n.info.os.clone(),
                n.info.version.clone(),
                when(Some(n.info.started_at)),
            ];
            if wide {
                row.push(n.info.capacity.to_string());
                row.push(n.info.address.clone().unwrap_or_else(|| "-".into()));
                row.push(labels(n));
                row.push(n.info.tzdata.clone().unwrap_or_else(|| "-".into()));
            }
            row
        })
        .collect();
    let mut header = vec!["NAME", "CLUSTER", "TASKS", "OS", "VERSION", "STARTED"];
    if wide {
        header.extend(["CAPACITY", "ADDRESS", "LABELS", "TZDATA"]);
    }
    print(&header, &rows);
}

pub fn node(n: &NodeView) {
    let fields = [
        ("name", n.info.name.clone()),
        ("cluster", n.info.cluster.clone()),
        ("tasks", n.tasks.to_string()),
        ("capacity", n.info.capacity.to_string()),
        (
            "address",
            n.info.address.clone().unwrap_or_else(|| "-".into()),
        ),
        ("os", n.info.os.clone()),
        ("version", n.info.version.clone()),
        ("started", when(Some(n.info.started_at))),
        ("labels", labels(n)),
        (
            "tzdata",
            n.info.tzdata.clone().unwrap_or_else(|| "-".into()),
        ),
    ];
    for (k, v) in fields {
        println!("{:<10} {v}", format!("{k}:"));
    }
}
