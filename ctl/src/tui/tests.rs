//! The console without a terminal: message sequences into `App::update`, rendering into a
//! `TestBackend` (snapshots of every view and overlay, two sizes, two themes, key cells
//! asserted), and rendering at random sizes with hostile data.

use cloudtask_shared::api::{Event, NodeView, PackageInfo, TaskAction, TaskState, TaskView};
use cloudtask_shared::{NodeInfo, RunRecord, RunStatus, Task, TaskSpec, Trigger};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use jiff::Timestamp;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};

use super::app::{App, Cmd, Conn, Detail, LOG_MAX_LINES, Msg, Overlay, PromptKind, Resource, View};
use super::view;

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

const NOW: &str = "2026-11-27T12:00:00Z";

fn spec(name: &str, paused: bool) -> TaskSpec {
    serde_json::from_value(serde_json::json!({
        "name": name,
        "group": "ops",
        "command": format!("./{name}.sh --verbose"),
        "schedules": ["0 */5 * * * *"],
        "paused": paused,
    }))
    .unwrap()
}

fn task(id: &str, name: &str, state: &str) -> TaskView {
    TaskView {
        task: Task {
            id: id.into(),
            spec: spec(name, state == "paused"),
            version: 3,
            created_by: "admin".into(),
            created_at: at("2026-11-01T00:00:00Z"),
            updated_by: "admin".into(),
            updated_at: at("2026-11-20T00:00:00Z"),
        },
        state: serde_json::from_value(serde_json::Value::from(state)).unwrap(),
        node: (state == "scheduled").then(|| "node-1".into()),
        next_fires: vec![at("2026-11-27T12:05:00Z")],
    }
}

fn run(id: &str, task: &str, status: RunStatus, minutes_ago: i64) -> RunRecord {
    let scheduled = at(NOW)
        .checked_sub(jiff::SignedDuration::from_mins(minutes_ago))
        .unwrap();
    RunRecord {
        id: id.into(),
        task: task.into(),
        task_name: format!("name-of-{task}"),
        scheduled_at: scheduled,
        started_at: Some(scheduled),
        finished_at: status.is_terminal().then_some(scheduled),
        status,
        exit_code: (status == RunStatus::Failed).then_some(2),
        node: "node-1".into(),
        attempt: 1,
        trigger: Trigger::Schedule,
        message: None,
        params: Default::default(),
        args: Vec::new(),
        not_before: None,
        requested_by: None,
    }
}

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn code(k: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(k, KeyModifiers::NONE))
}

fn ctrl(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

fn typed(app: &mut App, text: &str) -> Vec<Cmd> {
    text.chars().flat_map(|c| app.update(key(c))).collect()
}

/// A console with fixed data and frozen time.
fn fixture(mono: bool) -> App {
    let mut app = App::new("http://center:7878", false, mono, at(NOW));
    app.update(Msg::Tasks(vec![
        task("t1", "backup", "scheduled"),
        task("t2", "report", "paused"),
        task("t3", "cleanup", "unassigned"),
    ]));
    app.update(Msg::Runs(vec![
        run("r3", "t1", RunStatus::Failed, 5),
        run("r2", "t1", RunStatus::Succeeded, 10),
        run("r1", "t3", RunStatus::Succeeded, 70),
    ]));
    app.update(Msg::Nodes(vec![NodeView {
        info: NodeInfo {
            name: "node-1".into(),
            cluster: "default".into(),
            address: None,
            version: "0.1.0".into(),
            os: "linux".into(),
            labels: [("zone".to_string(), "eu1".to_string())].into(),
            capacity: 64,
            started_at: at("2026-11-27T10:00:00Z"),
            tzdata: Some("2025b".into()),
            session: None,
        },
        tasks: 1,
    }]));
    app.update(Msg::StreamUp);
    app.in_flight.clear();
    app.messages.clear();
    app.flash = None;
    app
}

fn render(app: &App, w: u16, h: u16) -> Buffer {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| view::render(app, f.area(), f.buffer_mut()))
        .unwrap();
    term.backend().buffer().clone()
}

fn text(buf: &Buffer) -> String {
    let area = buf.area;
    let mut out = String::new();
    for y in 0..area.height {
        let mut line = String::new();
        for x in 0..area.width {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The row of the first cell whose line contains `needle`.
fn row_of(buf: &Buffer, needle: &str) -> Option<u16> {
    let t = text(buf);
    t.lines().position(|l| l.contains(needle)).map(|y| y as u16)
}

// ---- pure state ----

#[test]
fn a_filter_never_triggers_actions() {
    let mut app = fixture(false);
    app.update(key('/'));
    // p, t, x, c, e are action keys outside the filter.
    let cmds = typed(&mut app, "ptxce");
    assert!(cmds.is_empty(), "typing in the filter fired {cmds:?}");
    assert_eq!(app.filter, "ptxce");
    assert!(app.overlay.is_none());
    app.update(code(KeyCode::Esc));
    assert_eq!(app.filter, "");
    assert_eq!(app.visible.len(), 3);
}

#[test]
fn filter_narrows_and_selection_follows_the_task() {
    let mut app = fixture(false);
    app.update(code(KeyCode::Enter)); // dashboard → tasks
    app.update(key('j'));
    assert_eq!(
        app.selected.as_deref(),
        Some("t3"),
        "sorted by group/name: backup, cleanup, report"
    );
    let selected = app.selected.clone();
    // A task appears before the selection: the selection stays on the same task.
    app.update(Msg::Event(Box::new(Event::TaskChanged {
        task: Box::new(task("t0", "aaa", "scheduled").task),
    })));
    assert_eq!(app.selected, selected);
    app.update(key('/'));
    typed(&mut app, "rep");
    app.update(code(KeyCode::Enter));
    assert_eq!(app.visible, ["t2"]);
}

#[test]
fn delete_needs_the_exact_name() {
    let mut app = fixture(false);
    app.update(code(KeyCode::Enter));
    app.update(ctrl('d'));
    assert!(matches!(app.overlay, Some(Overlay::Delete { .. })));
    let mut cmds = typed(&mut app, "backu");
    cmds.extend(app.update(code(KeyCode::Enter)));
    assert!(cmds.is_empty(), "a wrong name deleted: {cmds:?}");
    assert!(app.overlay.is_none());
    app.update(ctrl('d'));
    let mut cmds = typed(&mut app, "backup");
    cmds.extend(app.update(code(KeyCode::Enter)));
    assert_eq!(
        cmds,
        [Cmd::Delete {
            task: "t1".into(),
            name: "backup".into()
        }]
    );
}

#[test]
fn stop_asks_and_no_is_the_default() {
    let mut app = fixture(false);
    app.update(code(KeyCode::Enter));
    app.update(key('x'));
    assert!(matches!(app.overlay, Some(Overlay::Confirm { .. })));
    assert!(
        app.update(code(KeyCode::Enter)).is_empty(),
        "enter must not confirm"
    );
    app.update(key('x'));
    let cmds = app.update(key('y'));
    assert!(matches!(
        &cmds[..],
        [Cmd::Action {
            verb: TaskAction::Stop,
            ..
        }]
    ));
}

#[test]
fn a_stream_gap_resyncs_exactly_once() {
    let mut app = fixture(false);
    let mut cmds = Vec::new();
    for _ in 0..3 {
        cmds.extend(app.update(Msg::StreamDown {
            error: "refused".into(),
            retry_in_s: 2,
        }));
    }
    assert!(cmds.is_empty(), "going down must not request: {cmds:?}");
    assert!(matches!(app.conn, Conn::Down { .. }));
    cmds.extend(app.update(Msg::StreamUp));
    cmds.extend(app.update(Msg::Lagged));
    cmds.extend(app.update(Msg::StreamUp));
    let loads: Vec<&Cmd> = cmds.iter().filter(|c| matches!(c, Cmd::Load(_))).collect();
    assert_eq!(
        loads.len(),
        4,
        "one load per resource while in flight: {loads:?}"
    );
    app.update(Msg::Tasks(vec![]));
    assert!(!app.in_flight.contains(&Resource::Tasks));
}

#[test]
fn a_thousand_events_make_a_bounded_number_of_requests() {
    let mut app = fixture(false);
    let mut cmds = Vec::new();
    for i in 0..1000 {
        cmds.extend(app.update(Msg::Event(Box::new(Event::TaskChanged {
            task: Box::new(task(&format!("x{i}"), &format!("n{i}"), "scheduled").task),
        }))));
        cmds.extend(app.update(Msg::Event(Box::new(Event::RunChanged {
            run: Box::new(run(&format!("run{i}"), "t1", RunStatus::Succeeded, 1)),
        }))));
        cmds.extend(app.update(Msg::Event(Box::new(Event::NodeDown {
            cluster: "default".into(),
            name: format!("n{i}"),
        }))));
    }
    assert!(cmds.len() <= 2, "requests grew with events: {}", cmds.len());
    assert_eq!(app.tasks.len(), 1003);
    assert_eq!(app.visible.len(), 1003);
}

#[test]
fn a_batch_of_task_events_sorts_the_list_once_at_its_end() {
    let mut app = fixture(false);
    app.batching = true;
    for i in 0..100 {
        app.update(Msg::Event(Box::new(Event::TaskChanged {
            task: Box::new(task(&format!("b{i}"), &format!("b{i}"), "scheduled").task),
        })));
    }
    assert_eq!(
        app.visible.len(),
        3,
        "the list was re-sorted inside the batch"
    );
    app.end_batch();
    assert_eq!(app.visible.len(), 103);
    assert!(!app.batching);
}

#[test]
fn read_only_hides_actions() {
    let mut app = App::new("x", true, false, at(NOW));
    app.update(Msg::Tasks(vec![task("t1", "backup", "scheduled")]));
    app.update(code(KeyCode::Enter));
    for c in ['p', 't', 'x', 'c', 'e', 'E', 'u'] {
        assert!(app.update(key(c)).is_empty(), "{c} acted in read-only mode");
        assert!(app.overlay.is_none(), "{c} opened {:?}", app.overlay);
    }
    assert!(app.update(ctrl('d')).is_empty());
    assert!(app.overlay.is_none());
}

fn whoami(grants: &[(cloudtask_shared::api::Role, Option<&str>)]) -> Msg {
    Msg::WhoAmI(cloudtask_shared::api::WhoAmI {
        principal: "user:ann".into(),
        user: Some("ann".into()),
        grants: grants
            .iter()
            .map(|(role, group)| cloudtask_shared::api::Grant {
                role: *role,
                group: group.map(str::to_string),
            })
            .collect(),
        expires_at: None,
    })
}

#[test]
fn the_console_offers_only_what_the_callers_grants_allow() {
    use cloudtask_shared::api::Role;
    // A viewer: no action key does anything, and none is hinted.
    let mut app = fixture(false);
    app.update(whoami(&[(Role::Viewer, None)]));
    app.update(code(KeyCode::Enter));
    for c in ['p', 't', 'x', 'c', 'e', 'E', 'u'] {
        assert!(app.update(key(c)).is_empty(), "{c} acted for a viewer");
        assert!(app.overlay.is_none(), "{c} opened {:?}", app.overlay);
    }
    let shown = text(&render(&app, 160, 30));
    assert!(!shown.contains("pause / resume"), "{shown}");
    // An operator of another group: the keys are offered, but this task's group is not
    // theirs, so nothing is sent and the console says why.
    let mut app = fixture(false);
    app.update(whoami(&[(Role::Operator, Some("web"))]));
    app.update(code(KeyCode::Enter));
    assert!(text(&render(&app, 160, 30)).contains("pause / resume"));
    assert!(app.update(key('p')).is_empty());
    let said = &app.messages.back().unwrap().text;
    assert!(
        said.contains("forbidden: that needs the operator role in group \"ops\""),
        "{said}"
    );
    // An operator of the task's group pauses it; editing still needs an editor.
    let mut app = fixture(false);
    app.update(whoami(&[(Role::Operator, Some("ops"))]));
    app.update(code(KeyCode::Enter));
    assert!(matches!(
        app.update(key('p')).as_slice(),
        [Cmd::Action { .. }]
    ));
    assert!(app.update(key('e')).is_empty());
    // The audit view is an admin's.
    let mut cmds = typed(&mut app, ":audit");
    cmds.extend(app.update(code(KeyCode::Enter)));
    assert!(!cmds.contains(&Cmd::Load(Resource::Audit)), "{cmds:?}");
    assert_ne!(app.view(), &View::Audit);
}

#[test]
fn an_admin_reads_the_audit_log_in_its_own_view() {
    use cloudtask_shared::api::{AuditEntry, Role};
    let mut app = fixture(false);
    app.update(whoami(&[(Role::Admin, None)]));
    let mut cmds = typed(&mut app, ":audit");
    cmds.extend(app.update(code(KeyCode::Enter)));
    assert!(cmds.contains(&Cmd::Load(Resource::Audit)), "{cmds:?}");
    assert_eq!(app.view(), &View::Audit);
    app.update(Msg::Audit(vec![
        AuditEntry {
            from: Some("10.1.2.3".into()),
            group: Some("ops".into()),
            version_before: Some(3),
            version_after: Some(4),
            fields: vec!["command".into()],
            ..AuditEntry::new(at(NOW), "ann", "task.edit", "t1", "backup")
        },
        AuditEntry::new(
            at(NOW),
            "bob",
            "request.refused",
            "POST /api/v1/users",
            "no",
        ),
    ]));
    app.update(key('j'));
    assert_eq!(app.audit_cursor, 1);
    let shown = text(&render(&app, 160, 30));
    for want in ["task.edit", "10.1.2.3", "3→4", "command", "request.refused"] {
        assert!(shown.contains(want), "{want}: {shown}");
    }
}

#[test]
fn logs_are_bounded_and_follow_pauses_on_scroll_up() {
    let mut app = fixture(false);
    let mut cmds = Vec::new();
    app.open_log("t1", "r3", &mut cmds);
    assert_eq!(cmds, [Cmd::FollowLog { run: "r3".into() }]);
    let chunk: String = (0..1000).map(|i| format!("line {i}\n")).collect();
    for _ in 0..(LOG_MAX_LINES / 1000 + 3) {
        app.update(Msg::LogText {
            run: "r3".into(),
            text: chunk.clone(),
        });
    }
    let l = app.log.as_ref().unwrap();
    assert_eq!(l.lines.len(), LOG_MAX_LINES);
    assert_eq!(l.dropped, 3000);
    assert!(l.follow);
    app.update(key('k'));
    assert!(
        !app.log.as_ref().unwrap().follow,
        "scrolling up pauses following"
    );
    app.update(key('f'));
    assert!(app.log.as_ref().unwrap().follow);
    // Output for another run is not mixed in.
    app.update(Msg::LogText {
        run: "other".into(),
        text: "intruder\n".into(),
    });
    assert!(
        !app.log
            .as_ref()
            .unwrap()
            .lines
            .iter()
            .any(|l| l == "intruder")
    );
}

#[test]
fn marks_make_bulk_actions() {
    let mut app = fixture(false);
    app.update(code(KeyCode::Enter));
    app.update(key(' '));
    app.update(key(' '));
    let cmds = app.update(key('t'));
    assert_eq!(cmds.len(), 2, "{cmds:?}");
}

#[test]
fn run_now_offers_declared_parameters() {
    let mut app = fixture(false);
    let mut deploy = task("t9", "deploy", "scheduled");
    deploy.task.spec.params = vec![
        cloudtask_shared::Param {
            name: "VERSION".into(),
            default: None,
            description: String::new(),
        },
        cloudtask_shared::Param {
            name: "TARGET".into(),
            default: Some("staging".into()),
            description: String::new(),
        },
    ];
    deploy.task.spec.accepts_args = true;
    app.update(Msg::Tasks(vec![deploy, task("t1", "backup", "scheduled")]));
    app.update(code(KeyCode::Enter));
    // Sorted by name: backup first; a task without parameters starts at once.
    let cmds = app.update(key('t'));
    assert!(
        matches!(
            cmds.as_slice(),
            [Cmd::Action {
                verb: TaskAction::Start,
                ..
            }]
        ),
        "{cmds:?}"
    );
    app.update(code(KeyCode::Down));
    assert!(app.update(key('t')).is_empty(), "a prompt first");
    assert!(
        matches!(&app.overlay, Some(Overlay::Prompt { kind: PromptKind::Params, input, .. })
            if input == "VERSION= TARGET=staging --"),
        "{:?}",
        app.overlay
    );
    for _ in 0..=" TARGET=staging --".len() - 1 {
        app.update(code(KeyCode::Backspace));
    }
    typed(&mut app, "1.2 TARGET=prod -- --dry-run");
    let cmds = app.update(code(KeyCode::Enter));
    let want = Cmd::Start {
        task: "t9".into(),
        name: "deploy".into(),
        env: [
            ("VERSION".to_string(), "1.2".to_string()),
            ("TARGET".into(), "prod".into()),
        ]
        .into_iter()
        .collect(),
        args: vec!["--dry-run".into()],
    };
    assert_eq!(cmds, [want]);
    // A word that is not K=V before `--` is refused and the prompt stays open.
    assert!(super::app::parse_start_input("oops").is_err());
}

#[test]
fn events_keep_the_states_that_only_the_center_can_tell() {
    let mut app = fixture(false);
    let mut t = app.tasks["t1"].task.clone();
    t.spec.schedules.clear();
    app.update(Msg::Event(Box::new(Event::TaskChanged {
        task: Box::new(t),
    })));
    assert_eq!(app.tasks["t1"].state, TaskState::OnDemand);
    app.update(Msg::Event(Box::new(Event::TaskPlaced {
        task: "t1".into(),
        node: Some("node-2".into()),
    })));
    assert_eq!(
        app.tasks["t1"].state,
        TaskState::OnDemand,
        "placing it does not schedule it"
    );
    let mut ended = task("t7", "last-year", "ended");
    ended.next_fires.clear();
    app.update(Msg::Tasks(vec![ended]));
    app.update(Msg::Event(Box::new(Event::TaskPlaced {
        task: "t7".into(),
        node: Some("node-1".into()),
    })));
    assert_eq!(app.tasks["t7"].state, TaskState::Ended);
}

#[test]
fn palette_completes_and_switches_views() {
    let mut app = fixture(false);
    app.update(key(':'));
    typed(&mut app, "no");
    app.update(code(KeyCode::Tab));
    assert!(matches!(&app.overlay, Some(Overlay::Palette { input }) if input == "nodes"));
    let cmds = app.update(code(KeyCode::Enter));
    assert_eq!(app.view(), &View::Nodes);
    assert_eq!(cmds, [Cmd::Load(Resource::Nodes)]);
    app.update(key(':'));
    typed(&mut app, "nodes elsewhere");
    app.update(code(KeyCode::Enter));
    assert!(
        !text(&render(&app, 80, 24)).contains("node-1"),
        "another cluster's node shown"
    );
    app.update(key(':'));
    typed(&mut app, "tasks rep");
    app.update(code(KeyCode::Enter));
    assert_eq!(app.visible, ["t2"]);
    app.update(key(':'));
    typed(&mut app, "bogus");
    app.update(code(KeyCode::Enter));
    assert!(
        app.messages
            .back()
            .is_some_and(|m| !m.ok && m.text.contains("bogus"))
    );
}

#[test]
fn time_moves_countdowns_and_expires_the_flash() {
    let mut app = fixture(false);
    app.update(Msg::Done {
        what: "pause backup".into(),
        result: Ok("paused".into()),
    });
    assert!(app.flash.is_some());
    let cmds = app.update(Msg::Tick(at("2026-11-27T12:05:01Z")));
    assert!(app.flash.is_none());
    assert!(
        app.tasks["t1"].next_fires.is_empty(),
        "a passed fire time drops off"
    );
    // The console does not compute fire times: it asks the center, once.
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Cmd::Load(Resource::Next(t)) if t == "t1")),
        "{cmds:?}"
    );
    let again = app.update(Msg::Tick(at("2026-11-27T12:05:02Z")));
    assert!(
        !again
            .iter()
            .any(|c| matches!(c, Cmd::Load(Resource::Next(_))))
    );
    app.update(Msg::Next {
        task: "t1".into(),
        fires: vec![at("2026-11-27T12:05:00Z"), at("2026-11-27T12:10:00Z")],
    });
    assert_eq!(
        app.tasks["t1"].next_fires,
        [at("2026-11-27T12:10:00Z")],
        "the center's answer, without what already passed"
    );
}

// ---- rendering ----

/// A named way to put the console into one view or overlay.
type Scene = (&'static str, fn(&mut App));

/// Puts the app into each view and overlay, by name.
fn scenes() -> Vec<Scene> {
    vec![
        ("dashboard", |_| {}),
        ("tasks", |a| {
            a.update(code(KeyCode::Enter));
        }),
        ("task", |a| {
            a.update(code(KeyCode::Enter));
            a.update(code(KeyCode::Enter));
            a.update(Msg::Detail(Detail {
                task: "t1".into(),
                next: vec![at("2026-11-27T12:05:00Z"), at("2026-11-27T12:10:00Z")],
                packages: vec![PackageInfo {
                    sha256: "ab".repeat(32),
                    file_name: "backup.tar.gz".into(),
                    size: 2048,
                    uploaded_at: at("2026-11-20T00:00:00Z"),
                    uploaded_by: "admin".into(),
                }],
                runs: vec![
                    run("r3", "t1", RunStatus::Failed, 5),
                    run("r2", "t1", RunStatus::Succeeded, 10),
                ],
            }));
        }),
        ("log", |a| {
            let mut c = Vec::new();
            a.open_log("t1", "r3", &mut c);
            a.update(Msg::LogText {
                run: "r3".into(),
                text: "2026-11-27T11:55:00.001Z out starting backup\n2026-11-27T11:55:01.000Z err disk full\n".into(),
            });
            a.update(Msg::LogEnded {
                run: Box::new(run("r3", "t1", RunStatus::Failed, 5)),
            });
        }),
        ("nodes", |a| {
            a.update(key(':'));
            typed(a, "nodes");
            a.update(code(KeyCode::Enter));
        }),
        ("messages", |a| {
            a.update(Msg::Done {
                what: "pause backup".into(),
                result: Ok("backup is paused".into()),
            });
            a.update(Msg::Done {
                what: "start report".into(),
                result: Err("task report is unassigned".into()),
            });
            a.update(key('@'));
        }),
        ("help", |a| {
            a.update(code(KeyCode::Enter));
            a.update(key('?'));
        }),
        ("palette", |a| {
            a.update(key(':'));
            typed(a, "ta");
        }),
        ("confirm", |a| {
            a.update(code(KeyCode::Enter));
            a.update(key('x'));
        }),
        ("prompt", |a| {
            a.update(code(KeyCode::Enter));
            a.update(key('c'));
        }),
        ("delete", |a| {
            a.update(code(KeyCode::Enter));
            a.update(ctrl('d'));
            typed(a, "bac");
        }),
        ("disconnected", |a| {
            a.update(code(KeyCode::Enter));
            a.update(Msg::StreamDown {
                error: "connection refused".into(),
                retry_in_s: 4,
            });
        }),
    ]
}

#[test]
fn every_view_and_overlay_renders_at_both_sizes_in_both_themes() {
    for (name, setup) in scenes() {
        for mono in [false, true] {
            for (w, h) in [(80u16, 24u16), (160, 48)] {
                let mut app = fixture(mono);
                setup(&mut app);
                let buf = render(&app, w, h);
                let shot = text(&buf);
                let theme = if mono { "mono" } else { "colour" };
                insta::assert_snapshot!(format!("{name}_{w}x{h}_{theme}"), shot);
                // Key cells: the header and the breadcrumbs are always there.
                assert!(shot.starts_with("cloudtask"), "{name}: {shot}");
                // The selected row is visible in both themes (colour: background; mono: reverse).
                if matches!(name, "tasks" | "confirm" | "prompt" | "delete") {
                    let y = row_of(&buf, "ops/backup").expect("the selected task row");
                    let cell = &buf[(3, y)];
                    if mono {
                        assert!(
                            cell.modifier.contains(Modifier::REVERSED),
                            "{name} mono selection"
                        );
                        assert_eq!(cell.bg, Color::Reset, "{name}: no colour in mono");
                    } else {
                        assert_eq!(cell.bg, Color::Blue, "{name} colour selection");
                    }
                }
            }
        }
    }
}

#[test]
fn base64_matches_the_standard() {
    assert_eq!(super::base64(b"ops/backup"), "b3BzL2JhY2t1cA==");
    assert_eq!(super::base64(b"abc"), "YWJj");
    assert_eq!(super::base64(b""), "");
}

#[test]
fn a_failed_run_reads_red_in_colour_and_bold_in_mono() {
    for mono in [false, true] {
        let mut app = fixture(mono);
        app.update(code(KeyCode::Enter));
        app.update(key('j')); // move the selection off the backup row
        let buf = render(&app, 80, 24);
        let y = row_of(&buf, "ops/backup").unwrap();
        let line = text(&buf).lines().nth(y as usize).unwrap().to_string();
        let x = line[..line.find("failed").unwrap()].chars().count() as u16;
        let cell = &buf[(x, y)];
        if mono {
            assert!(cell.modifier.contains(Modifier::BOLD));
            assert_eq!(cell.fg, Color::Reset);
        } else {
            assert_eq!(cell.fg, Color::Red);
        }
    }
}

#[test]
fn states_read_in_words_and_stale_data_dims() {
    let mut app = fixture(true);
    app.update(code(KeyCode::Enter));
    let buf = render(&app, 80, 24);
    let shot = text(&buf);
    for word in ["scheduled", "paused", "unassigned"] {
        assert!(shot.contains(word), "state {word} missing in mono:\n{shot}");
    }
    app.update(Msg::StreamDown {
        error: "refused".into(),
        retry_in_s: 4,
    });
    let buf = render(&app, 80, 24);
    let y = row_of(&buf, "ops/backup").unwrap();
    assert!(
        buf[(3, y)].modifier.contains(Modifier::DIM),
        "stale rows are dimmed"
    );
    assert!(text(&buf).contains("disconnected since 12:00:00"));
    assert!(text(&buf).contains("ops/backup"), "stale rows stay visible");
}

#[test]
fn a_node_that_leaves_shows_offline_in_words_until_it_returns() {
    let mut app = fixture(true);
    app.update(Msg::Event(Box::new(Event::NodeDown {
        cluster: "default".into(),
        name: "node-2".into(),
    })));
    app.update(key(':'));
    typed(&mut app, "nodes");
    app.update(code(KeyCode::Enter));
    let shot = text(&render(&app, 80, 24));
    assert!(
        shot.contains("node-2") && shot.contains("offline"),
        "{shot}"
    );
    let mut back = app.nodes.clone();
    back[0].info.name = "node-2".into();
    app.update(Msg::Nodes(back));
    assert!(app.offline.is_empty());
}

#[test]
fn too_small_says_so() {
    let app = fixture(false);
    let shot = text(&render(&app, 30, 8));
    assert!(shot.contains("terminal too small"), "{shot}");
}

mod hostile {
    use proptest::prelude::*;

    use super::*;

    fn hostile_text() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            "[a-z]{1,300}",
            Just("界".repeat(200)),
            Just("👩‍👩‍👧‍👦🇩🇪".repeat(50)),
            Just("\t\u{1b}[31m\r\n\u{0}zero\u{200b}width".to_string()),
            any::<String>(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn rendering_at_any_size_with_hostile_data_never_panics(
            w in 0u16..220,
            h in 0u16..70,
            name in hostile_text(),
            cmd in hostile_text(),
            line in hostile_text(),
            scene in 0usize..12,
            mono in any::<bool>(),
        ) {
            let mut app = fixture(mono);
            let mut t = task("tx", "x", "scheduled");
            t.task.spec.name = name.clone();
            t.task.spec.group = name.clone();
            t.task.spec.command = cmd.clone();
            t.task.spec.schedules = vec![cmd.clone(); 3];
            t.node = Some(name.clone());
            app.update(Msg::Tasks(vec![t, task("t1", "backup", "scheduled")]));
            app.update(Msg::Done { what: name.clone(), result: Err(line.clone()) });
            (scenes()[scene].1)(&mut app);
            let mut c = Vec::new();
            app.open_log("tx", &name, &mut c);
            app.update(Msg::LogText { run: name.clone(), text: format!("{line}\n{line}") });
            app.overlay = match scene % 3 {
                0 => Some(Overlay::Prompt { kind: PromptKind::Clone, task: "tx".into(), input: line.clone() }),
                1 => Some(Overlay::Delete { task: "tx".into(), name: name.clone(), input: line.clone() }),
                _ => app.overlay.take(),
            };
            let _ = render(&app, w, h);
        }
    }
}

#[test]
fn open_incidents_show_on_the_dashboard_and_on_their_tasks_detail_and_are_asked_for_again() {
    let mut app = fixture(true);
    let incident: cloudtask_shared::api::Incident = serde_json::from_value(serde_json::json!({
        "id": "inc1", "kind": "did_not_start", "subject": "t1", "name": "backup",
        "group": "default", "opened_at": "2026-11-28T11:58:00Z",
        "updated_at": "2026-11-28T11:58:00Z", "count": 3, "announced": true,
        "summary": "no run of the 11:58 instant started within 1m", "acked_by": "ann"
    }))
    .unwrap();
    app.update(Msg::Incidents(vec![incident]));
    let screen = text(&render(&app, 120, 40));
    assert!(screen.contains("open incidents 1"), "{screen}");
    assert!(
        screen.contains("did_not_start") && screen.contains("default/backup"),
        "{screen}"
    );
    assert!(screen.contains("×3 (acked by ann)"), "{screen}");
    // The task's detail says it too; another task's says none.
    app.stack.push(View::Task("t1".into()));
    let screen = text(&render(&app, 120, 40));
    assert!(screen.contains("alerts   did_not_start"), "{screen}");
    app.stack.push(View::Task("t2".into()));
    assert!(text(&render(&app, 120, 40)).contains("alerts   none open"));
    // They are asked for again every few seconds, one request at a time.
    let later = at(NOW) + super::app::INCIDENTS_EVERY;
    let cmds = app.update(Msg::Tick(later));
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Cmd::Load(Resource::Incidents))),
        "{cmds:?}"
    );
    let cmds = app.update(Msg::Tick(later + jiff::SignedDuration::from_secs(1)));
    assert!(
        !cmds
            .iter()
            .any(|c| matches!(c, Cmd::Load(Resource::Incidents)))
    );
}
