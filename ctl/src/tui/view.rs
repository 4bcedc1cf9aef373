//! Pure rendering: `render(&App, area, buf)`. Only visible rows are built; widths are display
//! widths; arithmetic saturates, so any size and any data draws without panicking.

use cloudtask_shared::RunStatus;
use jiff::Timestamp;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Row, Sparkline, Table, Widget, Wrap};
use unicode_width::UnicodeWidthStr;

use super::app::{App, Conn, Focus, Overlay, PromptKind, Sort, View};
use super::keys::{BINDINGS, Scope};
use crate::table::fit;

/// Smallest size the console draws in; below it, it says so.
pub const MIN_SIZE: (u16, u16) = (40, 10);

/// Colours, or in mono (`NO_COLOR`) reverse/bold and words.
struct Theme {
    mono: bool,
}

impl Theme {
    fn selected(&self) -> Style {
        if self.mono {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        } else {
            Style::new().bg(Color::Blue).fg(Color::White)
        }
    }
    fn dim(&self) -> Style {
        Style::new().add_modifier(Modifier::DIM)
    }
    fn header(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }
    fn state(&self, s: &str) -> Style {
        if self.mono {
            return match s {
                "failed" | "timed_out" | "lost" | "unassigned" | "killed" => {
                    Style::new().add_modifier(Modifier::BOLD)
                }
                _ => Style::new(),
            };
        }
        match s {
            "succeeded" | "scheduled" => Style::new().fg(Color::Green),
            "failed" | "timed_out" | "lost" | "unassigned" | "killed" => {
                Style::new().fg(Color::Red)
            }
            "running" | "pending" => Style::new().fg(Color::Cyan),
            "paused" | "skipped" | "missed" => Style::new().fg(Color::Yellow),
            _ => Style::new(),
        }
    }
    fn error(&self) -> Style {
        if self.mono {
            Style::new().add_modifier(Modifier::BOLD)
        } else {
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
        }
    }
}

fn time(t: Timestamp) -> String {
    t.strftime("%H:%M:%S").to_string()
}

fn countdown(now: Timestamp, at: Option<&Timestamp>) -> String {
    let Some(at) = at else {
        return "-".into();
    };
    let s = at.as_second().saturating_sub(now.as_second());
    match s {
        i64::MIN..=0 => "now".into(),
        1..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let theme = Theme { mono: app.mono };
    if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
        Paragraph::new(format!(
            "terminal too small: {}×{} (needs {}×{})",
            area.width, area.height, MIN_SIZE.0, MIN_SIZE.1
        ))
        .wrap(Wrap { trim: true })
        .render(area, buf);
        return;
    }
    let [top, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(2),
    ])
    .areas(area);
    header(app, &theme, top, buf);
    let stale = !matches!(app.conn, Conn::Up | Conn::Connecting);
    match app.view() {
        View::Dashboard => dashboard(app, &theme, body, buf),
        View::Tasks => tasks(app, &theme, body, buf),
        View::Nodes => nodes(app, &theme, body, buf),
        View::Task(id) => task(app, &theme, id, body, buf),
        View::Log => log(app, &theme, body, buf),
        View::Messages => messages(app, &theme, body, buf),
        View::Audit => audit(app, &theme, body, buf),
    }
    if stale {
        // Stale data stays visible, dimmed, never blank.
        buf.set_style(body, theme.dim());
    }
    footer_lines(app, &theme, footer, buf);
    if let Some(o) = &app.overlay {
        overlay(app, &theme, o, area, buf);
    }
}

fn header(app: &App, theme: &Theme, area: Rect, buf: &mut Buffer) {
    let conn = match &app.conn {
        Conn::Up => Span::raw("● live"),
        Conn::Connecting => Span::raw("○ connecting"),
        Conn::Down {
            since, retry_at, ..
        } => Span::styled(
            format!(
                "✕ disconnected since {} — retrying in {}",
                time(*since),
                countdown(app.now, Some(retry_at))
            ),
            theme.error(),
        ),
    };
    let mut spans = vec![
        Span::styled("cloudtask ", theme.header()),
        Span::raw(fit(&app.server, 30)),
        Span::raw("  "),
        conn,
    ];
    if app.readonly {
        spans.push(Span::styled("  [read-only]", theme.header()));
    }
    Paragraph::new(Line::from(spans)).render(area, buf);
}

fn footer_lines(app: &App, theme: &Theme, area: Rect, buf: &mut Buffer) {
    let crumbs: Vec<String> = app.stack.iter().map(|v| v.title(app)).collect();
    let mut first = vec![Span::styled(
        fit(&crumbs.join(" › "), area.width as usize / 2),
        theme.header(),
    )];
    match (&app.focus, &app.flash) {
        (Some(Focus::Filter), _) => first.push(Span::raw(format!("  /{}▏", app.filter))),
        (Some(Focus::LogSearch), _) => first.push(Span::raw(format!(
            "  /{}▏",
            app.log.as_ref().map(|l| l.search.as_str()).unwrap_or("")
        ))),
        (None, Some((m, _))) => first.push(Span::styled(
            format!("  {}{}", if m.ok { "" } else { "✕ " }, m.text),
            if m.ok { Style::new() } else { theme.error() },
        )),
        (None, None) if !app.filter.is_empty() => {
            first.push(Span::raw(format!("  filter: {}", app.filter)))
        }
        _ => {}
    }
    let view = app.view();
    let hints: Vec<String> = BINDINGS
        .iter()
        .filter(|b| b.scope != Scope::All && view.in_scope(b.scope) && app.may(b.action, None))
        .map(|b| format!("{} {}", b.keys[0], b.help))
        .chain(["? help".to_string(), ": command".to_string()])
        .collect();
    let lines = vec![
        Line::from(first),
        Line::styled(fit(&hints.join(" · "), area.width as usize), theme.dim()),
    ];
    Paragraph::new(lines).render(area, buf);
}

fn block(title: String) -> Block<'static> {
    Block::new().borders(Borders::TOP).title(title)
}

/// One open incident: kind, what, since when, and its last word.
fn incident_line<'a>(app: &App, theme: &Theme, i: &'a cloudtask_shared::api::Incident) -> Line<'a> {
    let what = if i.group.is_empty() {
        i.subject.clone()
    } else {
        format!("{}/{}", i.group, i.name)
    };
    let ago = app.now.duration_since(i.opened_at).as_secs().max(0);
    let ack = match &i.acked_by {
        Some(by) => format!(" (acked by {by})"),
        None => String::new(),
    };
    Line::from(vec![
        Span::styled(format!("{:<14}", i.kind.as_str()), theme.state("failed")),
        Span::raw(format!("{what}  {ago}s ago ×{}{ack}  ", i.count)),
        Span::raw(i.summary.as_str()),
    ])
}

fn dashboard(app: &App, theme: &Theme, area: Rect, buf: &mut Buffer) {
    let alerts = (app.incidents.len() as u16).min(5);
    let [stats, incidents, spark, fails] = Layout::vertical([
        Constraint::Length(6),
        Constraint::Length(if alerts == 0 { 0 } else { alerts + 2 }),
        Constraint::Length(4),
        Constraint::Min(2),
    ])
    .areas(area);
    let mut by_state: std::collections::BTreeMap<&str, usize> = Default::default();
    for t in app.tasks.values() {
        *by_state.entry(t.state.as_str()).or_default() += 1;
    }
    let hour = app.now.as_second().saturating_sub(3600);
    let day = app.now.as_second().saturating_sub(86_400);
    let window = |since: i64| {
        let runs: Vec<_> = app
            .runs
            .iter()
            .filter(|r| r.scheduled_at.as_second() >= since && r.status.is_terminal())
            .collect();
        let ok = runs
            .iter()
            .filter(|r| r.status == RunStatus::Succeeded)
            .count();
        let pct = if runs.is_empty() {
            "-".to_string()
        } else {
            format!("{}%", ok * 100 / runs.len())
        };
        format!("{} runs, {pct} succeeded", runs.len())
    };
    let nodes_online = app.nodes.len();
    let lines = vec![
        Line::from(format!(
            "clusters {}   nodes online {}",
            app.clusters.len(),
            nodes_online
        )),
        Line::from(
            vec![Span::raw(format!("tasks {}:", app.tasks.len()))]
                .into_iter()
                .chain(by_state.iter().flat_map(|(s, n)| {
                    [
                        Span::raw(" "),
                        Span::styled(format!("{s} {n}"), theme.state(s)),
                    ]
                }))
                .collect::<Vec<_>>(),
        ),
        Line::from(format!("last hour: {}", window(hour))),
        Line::from(format!("last 24 h: {}", window(day))),
    ];
    Paragraph::new(lines)
        .block(block(" dashboard ".into()))
        .render(stats, buf);
    if alerts > 0 {
        let rows: Vec<Line> = app
            .incidents
            .iter()
            .take(5)
            .map(|i| incident_line(app, theme, i))
            .collect();
        Paragraph::new(rows)
            .block(block(format!(" open incidents {} ", app.incidents.len())))
            .render(incidents, buf);
    }
    // Runs per hour over the last day.
    let mut buckets = [0u64; 24];
    for r in &app.runs {
        let age = app
            .now
            .as_second()
            .saturating_sub(r.scheduled_at.as_second());
        if (0..86_400).contains(&age) {
            let i = 23usize.saturating_sub((age / 3600) as usize);
            buckets[i.min(23)] += 1;
        }
    }
    Sparkline::default()
        .block(block(" runs per hour, 24 h ".into()))
        .data(buckets)
        .render(spark, buf);
    let failures: Vec<Row> = app
        .runs
        .iter()
        .filter(|r| {
            matches!(
                r.status,
                RunStatus::Failed | RunStatus::TimedOut | RunStatus::Lost | RunStatus::Killed
            )
        })
        .take(fails.height.saturating_sub(2) as usize)
        .map(|r| {
            Row::new(vec![
                Span::raw(time(r.scheduled_at)),
                Span::raw(r.task_name.clone()),
                Span::styled(r.status.to_string(), theme.state(r.status.as_str())),
                Span::raw(r.node.clone()),
            ])
        })
        .collect();
    Table::new(
        failures,
        [
            Constraint::Length(9),
            Constraint::Fill(2),
            Constraint::Length(10),
            Constraint::Fill(1),
        ],
    )
    .header(Row::new(["AT", "TASK", "STATUS", "NODE"]).style(theme.header()))
    .block(block(" latest failures — enter: tasks ".into()))
    .render(fails, buf);
}

fn tasks(app: &App, theme: &Theme, area: Rect, buf: &mut Buffer) {
    let sort = match app.sort {
        Sort::Name => "name",
        Sort::State => "state",
        Sort::Next => "next run",
    };
    let title = format!(
        " tasks {}/{} · sort {sort}{} ",
        app.visible.len(),
        app.tasks.len(),
        if app.marks.is_empty() {
            String::new()
        } else {
            format!(" · {} marked", app.marks.len())
        }
    );
    let rows_fit = area.height.saturating_sub(2) as usize;
    // Only the visible window of rows is built.
    let start = app
        .cursor
        .saturating_sub(rows_fit.saturating_sub(1))
        .min(app.visible.len().saturating_sub(rows_fit));
    let rows: Vec<Row> = app
        .visible
        .iter()
        .enumerate()
        .skip(start)
        .take(rows_fit)
        .filter_map(|(i, id)| {
            let t = app.tasks.get(id)?;
            let last = app.last_run.get(id);
            let mark = if app.marks.contains(id) { "●" } else { " " };
            let row = Row::new(vec![
                Span::raw(mark),
                Span::styled(t.state.as_str(), theme.state(t.state.as_str())),
                Span::raw(format!("{}/{}", t.task.spec.group, t.task.spec.name)),
                Span::raw(t.task.spec.schedule_text()),
                Span::raw(countdown(app.now, t.next_fires.first())),
                Span::styled(
                    last.map(|r| r.status.to_string())
                        .unwrap_or_else(|| "-".into()),
                    last.map(|r| theme.state(r.status.as_str()))
                        .unwrap_or_default(),
                ),
                Span::raw(t.node.clone().unwrap_or_else(|| "-".into())),
            ]);
            Some(if i == app.cursor {
                row.style(theme.selected())
            } else {
                row
            })
        })
        .collect();
    Table::new(
        rows,
        [
            Constraint::Length(1),
            Constraint::Length(10),
            Constraint::Fill(3),
            Constraint::Fill(2),
            Constraint::Length(7),
            Constraint::Length(10),
            Constraint::Fill(1),
        ],
    )
    .header(
        Row::new(["", "STATE", "TASK", "SCHEDULE", "NEXT", "LAST", "NODE"]).style(theme.header()),
    )
    .block(block(title))
    .render(area, buf);
}

fn nodes(app: &App, theme: &Theme, area: Rect, buf: &mut Buffer) {
    let wanted = |cluster: &str| app.node_cluster.as_deref().is_none_or(|c| c == cluster);
    let rows: Vec<Row> = app
        .nodes
        .iter()
        .filter(|n| wanted(&n.info.cluster))
        .enumerate()
        .take(area.height.saturating_sub(2) as usize)
        .map(|(i, n)| {
            let uptime = countdown(n.info.started_at, Some(&app.now));
            let labels: Vec<String> = n
                .info
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let row = Row::new(vec![
                n.info.name.clone(),
                n.info.cluster.clone(),
                "online".into(),
                uptime,
                n.tasks.to_string(),
                n.info.version.clone(),
                labels.join(","),
            ]);
            if i == app.node_cursor {
                row.style(theme.selected())
            } else {
                row
            }
        })
        .collect();
    let room = area.height.saturating_sub(2) as usize;
    let offline = app
        .offline
        .iter()
        .filter(|(c, _, _)| wanted(c))
        .take(room.saturating_sub(rows.len()))
        .map(|(cluster, name, since)| {
            Row::new(vec![
                Span::raw(name.clone()),
                Span::raw(cluster.clone()),
                Span::styled("offline", theme.error()),
                Span::raw(format!("since {}", time(*since))),
            ])
            .style(theme.dim())
        });
    let rows: Vec<Row> = rows.into_iter().chain(offline).collect();
    Table::new(
        rows,
        [
            Constraint::Fill(2),
            Constraint::Fill(1),
            Constraint::Length(7),
            Constraint::Length(14),
            Constraint::Length(6),
            Constraint::Length(8),
            Constraint::Fill(2),
        ],
    )
    .header(
        Row::new([
            "NODE", "CLUSTER", "STATE", "UP", "TASKS", "VERSION", "LABELS",
        ])
        .style(theme.header()),
    )
    .block(block(format!(" nodes {} ", app.nodes.len())))
    .render(area, buf);
}

fn task(app: &App, theme: &Theme, id: &str, area: Rect, buf: &mut Buffer) {
    let Some(t) = app.tasks.get(id) else {
        Paragraph::new("this task is gone").render(area, buf);
        return;
    };
    let s = &t.task.spec;
    let [spec, lower] = Layout::vertical([Constraint::Length(9), Constraint::Min(3)]).areas(area);
    let pkg = s
        .package
        .as_ref()
        .map(|p| format!("{} ({} B)", p.file_name, p.size))
        .unwrap_or_else(|| "-".into());
    let lines = vec![
        Line::from(vec![
            Span::raw("state    "),
            Span::styled(t.state.as_str(), theme.state(t.state.as_str())),
            Span::raw(format!(
                "   node {}",
                t.node.clone().unwrap_or_else(|| "-".into())
            )),
            Span::raw(format!("   version {}", t.task.version)),
        ]),
        Line::from(format!("command  {}", s.command)),
        Line::from(format!("schedule {}  ({})", s.schedule_text(), s.timezone)),
        Line::from(format!("package  {pkg}")),
        Line::from(format!(
            "policy   concurrency {} · misfire {} · retries {} · timeout {}",
            word(&s.concurrency),
            word(&s.misfire),
            s.retries,
            s.timeout_ms
                .map(|m| format!("{m} ms"))
                .unwrap_or_else(|| "none".into())
        )),
        Line::from(format!(
            "cluster  {}   group {}   updated by {}",
            s.cluster, s.group, t.task.updated_by
        )),
    ];
    let mut lines = lines;
    let open: Vec<&cloudtask_shared::api::Incident> =
        app.incidents.iter().filter(|i| i.subject == id).collect();
    lines.push(match open.first() {
        None => Line::from("alerts   none open"),
        Some(i) => {
            let mut l = incident_line(app, theme, i);
            l.spans.insert(0, Span::raw("alerts   "));
            if open.len() > 1 {
                l.spans
                    .push(Span::raw(format!("  (+{} more)", open.len() - 1)));
            }
            l
        }
    });
    Paragraph::new(lines)
        .block(block(format!(" {}/{} ", s.group, s.name)))
        .render(spec, buf);
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(lower);
    let detail = app.detail.as_ref().filter(|d| d.task == id);
    let mut info: Vec<Line> = vec![Line::styled("next fires (UTC)", theme.header())];
    let next: Vec<Timestamp> = detail
        .map(|d| d.next.clone())
        .unwrap_or_else(|| t.next_fires.clone());
    info.extend(
        next.iter()
            .take(5)
            .map(|n| Line::from(format!("  {}", n.strftime("%Y-%m-%d %H:%M:%S")))),
    );
    info.push(Line::styled("packages", theme.header()));
    match detail {
        Some(d) if !d.packages.is_empty() => info.extend(d.packages.iter().take(5).map(|p| {
            Line::from(format!(
                "  {} {} {}",
                p.uploaded_at.strftime("%m-%d %H:%M"),
                fit(&p.sha256, 12),
                p.file_name
            ))
        })),
        Some(_) => info.push(Line::from("  none")),
        None => info.push(Line::from("  loading…")),
    }
    Paragraph::new(info)
        .block(block(" schedule ".into()))
        .render(left, buf);
    let runs: Vec<Row> = detail
        .map(|d| d.runs.as_slice())
        .unwrap_or_default()
        .iter()
        .take(right.height.saturating_sub(2) as usize)
        .map(|r| {
            let took = match (r.started_at, r.finished_at) {
                (Some(a), Some(b)) => format!(
                    "{:.1}s",
                    (b.as_millisecond() - a.as_millisecond()) as f64 / 1000.0
                ),
                _ => "-".into(),
            };
            Row::new(vec![
                Span::raw(r.scheduled_at.strftime("%m-%d %H:%M:%S").to_string()),
                Span::styled(r.status.to_string(), theme.state(r.status.as_str())),
                Span::raw(took),
                Span::raw(
                    r.exit_code
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "-".into()),
                ),
            ])
        })
        .collect();
    Table::new(
        runs,
        [
            Constraint::Length(15),
            Constraint::Length(10),
            Constraint::Length(8),
            Constraint::Length(5),
        ],
    )
    .header(Row::new(["SCHEDULED", "STATUS", "TOOK", "EXIT"]).style(theme.header()))
    .block(block(" recent runs — l: log ".into()))
    .render(right, buf);
}

/// The wire name of an enum value (`forbid`, `run_once`).
fn word<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn log(app: &App, theme: &Theme, area: Rect, buf: &mut Buffer) {
    let Some(l) = &app.log else {
        Paragraph::new("no log open").render(area, buf);
        return;
    };
    let status = match l.ended {
        Some(s) => s.to_string(),
        None => "running".into(),
    };
    let title = format!(
        " {} · {status} · {} · {}{} ",
        l.run,
        if l.follow {
            "following"
        } else {
            "paused (f: follow)"
        },
        if l.wrap { "wrap" } else { "no wrap" },
        if l.dropped > 0 {
            format!(" · {} older lines dropped", l.dropped)
        } else {
            String::new()
        }
    );
    let height = area.height.saturating_sub(1) as usize;
    let first = if l.follow {
        l.lines.len().saturating_sub(height)
    } else {
        l.top.min(l.lines.len().saturating_sub(1))
    };
    let needle = l.search.to_lowercase();
    let lines: Vec<Line> = l
        .lines
        .iter()
        .skip(first)
        .take(height)
        .map(|s| {
            if !needle.is_empty() && s.to_lowercase().contains(&needle) {
                Line::styled(s.clone(), theme.selected())
            } else {
                Line::raw(s.clone())
            }
        })
        .collect();
    let mut p = Paragraph::new(lines).block(block(title));
    if l.wrap {
        p = p.wrap(Wrap { trim: false });
    }
    p.render(area, buf);
}

fn messages(app: &App, theme: &Theme, area: Rect, buf: &mut Buffer) {
    let rows: Vec<Row> = app
        .messages
        .iter()
        .rev()
        .enumerate()
        .take(area.height.saturating_sub(1) as usize)
        .map(|(i, m)| {
            let row = Row::new(vec![
                Span::raw(time(m.at)),
                Span::styled(
                    if m.ok { "ok" } else { "error" },
                    if m.ok { Style::new() } else { theme.error() },
                ),
                Span::raw(m.text.clone()),
            ]);
            if i == app.message_cursor {
                row.style(theme.selected())
            } else {
                row
            }
        })
        .collect();
    Table::new(
        rows,
        [
            Constraint::Length(9),
            Constraint::Length(6),
            Constraint::Fill(1),
        ],
    )
    .block(block(format!(" messages {} ", app.messages.len())))
    .render(area, buf);
}

/// The audit log, newest first, scrolled to keep the cursor in sight.
fn audit(app: &App, theme: &Theme, area: Rect, buf: &mut Buffer) {
    let height = area.height.saturating_sub(3).max(1) as usize;
    let skip = app.audit_cursor.saturating_sub(height - 1);
    let rows: Vec<Row> = app
        .audit
        .iter()
        .enumerate()
        .skip(skip)
        .take(height)
        .map(|(i, a)| {
            let version = crate::table::versions(a);
            let row = Row::new(vec![
                Span::raw(time(a.at)),
                Span::raw(a.actor.clone()),
                Span::raw(a.from.clone().unwrap_or_default()),
                Span::styled(
                    a.action.clone(),
                    if a.action.ends_with(".refused") || a.action.ends_with(".fail") {
                        theme.error()
                    } else {
                        Style::new()
                    },
                ),
                Span::raw(a.target.clone()),
                Span::raw(version),
                Span::raw(if a.fields.is_empty() {
                    a.detail.clone()
                } else {
                    a.fields.join(",")
                }),
            ]);
            if i == app.audit_cursor {
                row.style(theme.selected())
            } else {
                row
            }
        })
        .collect();
    Table::new(
        rows,
        [
            Constraint::Length(9),
            Constraint::Length(14),
            Constraint::Length(15),
            Constraint::Length(16),
            Constraint::Length(16),
            Constraint::Length(8),
            Constraint::Fill(1),
        ],
    )
    .header(Row::new(vec![
        "AT",
        "ACTOR",
        "FROM",
        "ACTION",
        "TARGET",
        "VERSION",
        "CHANGED / DETAIL",
    ]))
    .block(block(format!(" audit {} ", app.audit.len())))
    .render(area, buf);
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn overlay(app: &App, theme: &Theme, o: &Overlay, area: Rect, buf: &mut Buffer) {
    let (title, lines, width, height): (String, Vec<Line>, u16, u16) = match o {
        Overlay::Help => {
            let view = app.view();
            let entries: Vec<String> = BINDINGS
                .iter()
                .filter(|b| app.may(b.action, None))
                .filter(|b| view.in_scope(b.scope))
                .map(|b| {
                    format!(
                        "{:<12} {}{}",
                        b.keys.join(" "),
                        b.help,
                        if b.destructive { " (asks)" } else { "" }
                    )
                })
                .collect();
            // One column when it fits the height, else two side by side.
            let room = area.height.saturating_sub(2) as usize;
            let (lines, width): (Vec<Line>, u16) = if entries.len() <= room {
                (entries.into_iter().map(Line::from).collect(), 64)
            } else {
                let col = (area.width.saturating_sub(4) / 2) as usize;
                let half = entries.len().div_ceil(2);
                let lines = (0..half)
                    .map(|i| {
                        let left = fit(&entries[i], col.saturating_sub(1));
                        let right = entries
                            .get(i + half)
                            .map(|e| fit(e, col))
                            .unwrap_or_default();
                        let pad = col.saturating_sub(left.width());
                        Line::from(format!("{left}{}{right}", " ".repeat(pad)))
                    })
                    .collect();
                (lines, area.width)
            };
            let h = lines.len() as u16 + 2;
            (" help — esc closes ".into(), lines, width, h)
        }
        Overlay::Palette { input } => {
            let matches: Vec<&str> = super::app::PALETTE
                .iter()
                .copied()
                .filter(|c| c.starts_with(input.trim()))
                .collect();
            (
                " command — tab completes, enter runs ".into(),
                vec![
                    Line::from(format!(":{input}▏")),
                    Line::styled(matches.join("  "), theme.dim()),
                ],
                60,
                4,
            )
        }
        Overlay::Confirm { text, .. } => (
            " confirm ".into(),
            vec![
                Line::from(text.clone()),
                Line::styled("y: yes · any other key: no", theme.dim()),
            ],
            60,
            4,
        ),
        Overlay::Prompt { kind, input, task } => {
            let what = match kind {
                PromptKind::Params => {
                    format!("Run {} now with (K=V … -- args)", app.task_name(task))
                }
                PromptKind::Clone => format!("Clone {} as", app.task_name(task)),
                PromptKind::Upload => "Package to upload (tab completes)".to_string(),
                PromptKind::Command => format!("Command of {}", app.task_name(task)),
                PromptKind::SavePath => "Save the log to".to_string(),
            };
            (
                " prompt — enter applies, esc cancels ".into(),
                vec![Line::from(what), Line::from(format!("> {input}▏"))],
                70,
                4,
            )
        }
        Overlay::Delete { name, input, .. } => (
            " delete ".into(),
            vec![
                Line::styled(
                    format!("Delete task {name} with all its runs and logs?"),
                    theme.error(),
                ),
                Line::from("Type its name and press enter; esc cancels."),
                Line::from(format!("> {input}▏")),
            ],
            70,
            5,
        ),
    };
    let rect = centered(area, width, height);
    Clear.render(rect, buf);
    Paragraph::new(lines)
        .block(Block::bordered().title(title))
        .wrap(Wrap { trim: false })
        .render(rect, buf);
}
