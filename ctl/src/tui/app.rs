//! The console's state and its one update function: `App::update(msg) -> Vec<Cmd>` is pure
//! (no I/O, no clock: time arrives as `Msg::Tick`). Effects run elsewhere and come back as
//! messages, so every behaviour here is tested by feeding messages.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use cloudtask_shared::api::{
    AuditEntry, ClusterView, Event, Grant, Incident, NodeView, PackageInfo, Role, TaskAction,
    TaskState, TaskView, WhoAmI,
};
use cloudtask_shared::{RunRecord, RunStatus, TaskSpec};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use jiff::Timestamp;

use super::keys::{self, Action, Scope};

/// Log lines and bytes kept per log view; older lines are dropped and counted.
pub const LOG_MAX_LINES: usize = 20_000;
pub const LOG_MAX_BYTES: usize = 8 << 20;
/// Messages kept in the messages view.
pub const MESSAGES_KEPT: usize = 500;
/// Recent runs kept for the dashboard.
pub const RUNS_KEPT: usize = 5_000;
/// How often open incidents are asked for.
pub const INCIDENTS_EVERY: jiff::SignedDuration = jiff::SignedDuration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    Dashboard,
    Nodes,
    Tasks,
    Task(String),
    Log,
    Messages,
    /// The audit log, newest first (admins).
    Audit,
}

impl View {
    pub fn title(&self, app: &App) -> String {
        match self {
            View::Dashboard => "dashboard".into(),
            View::Nodes => "nodes".into(),
            View::Tasks => "tasks".into(),
            View::Task(id) => format!("task {}", app.task_name(id)),
            View::Log => match &app.log {
                Some(l) => format!("log {}", l.run),
                None => "log".into(),
            },
            View::Messages => "messages".into(),
            View::Audit => "audit".into(),
        }
    }

    pub fn in_scope(&self, s: Scope) -> bool {
        match s {
            Scope::All => true,
            Scope::Lists => matches!(self, View::Tasks | View::Nodes | View::Dashboard),
            Scope::Tasks => matches!(self, View::Tasks | View::Task(_) | View::Log),
            Scope::Log => matches!(self, View::Log),
        }
    }
}

/// What the center gives us, fetched once per view and then kept live by events.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Resource {
    Tasks,
    Nodes,
    Clusters,
    Runs,
    Detail(String),
    /// A task's next fire times, asked of the center (which computes every fire time).
    Next(String),
    /// Who the center takes us for: what the console offers follows from its grants.
    WhoAmI,
    Audit,
    /// Open incidents, looked at every few seconds (the event stream does not carry them).
    Incidents,
}

#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Paste(String),
    Resize(u16, u16),
    Tick(Timestamp),
    Tasks(Vec<TaskView>),
    Nodes(Vec<NodeView>),
    Clusters(Vec<ClusterView>),
    Runs(Vec<RunRecord>),
    WhoAmI(WhoAmI),
    Audit(Vec<AuditEntry>),
    Incidents(Vec<Incident>),
    Detail(Detail),
    Next {
        task: String,
        fires: Vec<Timestamp>,
    },
    Failed {
        resource: Resource,
        error: String,
    },
    Event(Box<Event>),
    StreamUp,
    StreamDown {
        error: String,
        retry_in_s: u64,
    },
    Lagged,
    LogText {
        run: String,
        text: String,
    },
    LogEnded {
        run: Box<RunRecord>,
    },
    Done {
        what: String,
        result: Result<String, String>,
    },
    /// A path prompt's completion, for the input it was asked for.
    PathCompleted {
        input: String,
        completed: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmd {
    Load(Resource),
    Action {
        task: String,
        name: String,
        verb: TaskAction,
    },
    Clone {
        task: String,
        name: String,
    },
    /// Run now with parameter values and arguments.
    Start {
        task: String,
        name: String,
        env: BTreeMap<String, String>,
        args: Vec<String>,
    },
    Delete {
        task: String,
        name: String,
    },
    Upload {
        task: String,
        path: String,
    },
    SetCommand {
        task: String,
        command: String,
        version: u64,
    },
    Edit {
        task: String,
    },
    FollowLog {
        run: String,
    },
    CompletePath {
        input: String,
    },
    /// Put text on the terminal's clipboard (OSC 52).
    Copy {
        text: String,
    },
    SaveLog {
        path: String,
        text: String,
    },
}

#[derive(Debug, Clone, Default)]
pub struct Detail {
    pub task: String,
    pub next: Vec<Timestamp>,
    pub packages: Vec<PackageInfo>,
    pub runs: Vec<RunRecord>,
}

#[derive(Debug, Clone)]
pub struct LogState {
    pub task: String,
    pub run: String,
    pub lines: VecDeque<String>,
    pub bytes: usize,
    pub dropped: usize,
    /// A partial last line, waiting for its newline.
    pub partial: String,
    pub follow: bool,
    /// First line shown when not following.
    pub top: usize,
    pub wrap: bool,
    pub search: String,
    pub ended: Option<RunStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Focus {
    Filter,
    LogSearch,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptKind {
    /// Run now with parameters: `K=V …` and, after `--`, arguments.
    Params,
    Clone,
    Upload,
    Command,
    SavePath,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    Help,
    Palette {
        input: String,
    },
    Confirm {
        text: String,
        cmds: Vec<Cmd>,
    },
    Prompt {
        kind: PromptKind,
        task: String,
        input: String,
    },
    Delete {
        task: String,
        name: String,
        input: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Name,
    State,
    Next,
}

#[derive(Debug, Clone)]
pub struct Message {
    pub at: Timestamp,
    pub ok: bool,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conn {
    Connecting,
    Up,
    Down {
        since: Timestamp,
        error: String,
        retry_at: Timestamp,
    },
}

pub struct App {
    pub now: Timestamp,
    pub size: (u16, u16),
    pub server: String,
    pub readonly: bool,
    pub mono: bool,
    pub stack: Vec<View>,
    pub tasks: BTreeMap<String, TaskView>,
    /// Ids of the tasks shown, filtered and sorted; recomputed only when inputs change.
    pub visible: Vec<String>,
    pub cursor: usize,
    /// The selected task, kept by id across updates.
    pub selected: Option<String>,
    pub marks: BTreeSet<String>,
    pub filter: String,
    pub focus: Option<Focus>,
    pub sort: Sort,
    pub node_cursor: usize,
    pub nodes: Vec<NodeView>,
    /// Nodes seen leaving while the console runs: (cluster, name, since), shown as offline.
    pub offline: Vec<(String, String, Timestamp)>,
    /// The nodes view shows only this cluster (`:nodes CLUSTER`).
    pub node_cluster: Option<String>,
    pub clusters: Vec<ClusterView>,
    pub runs: VecDeque<RunRecord>,
    pub last_run: HashMap<String, RunRecord>,
    pub detail: Option<Detail>,
    pub log: Option<LogState>,
    pub overlay: Option<Overlay>,
    pub messages: VecDeque<Message>,
    pub message_cursor: usize,
    /// The caller's grants, once `/whoami` answered (`None` until then: everything is
    /// offered and the center decides).
    pub grants: Option<Vec<Grant>>,
    pub audit: Vec<AuditEntry>,
    pub audit_cursor: usize,
    /// Open incidents the caller may read, newest first, and when they were last asked for.
    pub incidents: Vec<Incident>,
    pub incidents_at: Option<Timestamp>,
    pub flash: Option<(Message, Timestamp)>,
    pub conn: Conn,
    pub in_flight: BTreeSet<Resource>,
    pub dirty: bool,
    /// Task events changed what the list shows: filter and sort again once the batch of
    /// waiting messages is applied (an event storm must not re-sort 10,000 rows per event).
    visible_stale: bool,
    /// Tasks the center says have no fire time ahead (asked again when they change).
    no_next: BTreeSet<String>,
    /// Set by the loop while it applies a batch of messages; see [`App::end_batch`].
    pub batching: bool,
    pub quit: bool,
}

fn is_text_key(k: &KeyEvent) -> Option<char> {
    match k.code {
        KeyCode::Char(c)
            if !k
                .modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
        {
            Some(c)
        }
        _ => None,
    }
}

/// Edits a text input; true when the key was Enter.
fn edit_text(input: &mut String, k: &KeyEvent) -> bool {
    match k.code {
        KeyCode::Enter => return true,
        KeyCode::Backspace => {
            input.pop();
        }
        _ => {
            if let Some(c) = is_text_key(k) {
                input.push(c);
            }
        }
    }
    false
}

pub const PALETTE: &[&str] = &[
    "dash", "tasks", "nodes", "messages", "audit", "help", "quit",
];

impl App {
    pub fn new(server: &str, readonly: bool, mono: bool, now: Timestamp) -> App {
        App {
            now,
            size: (80, 24),
            server: server.to_string(),
            readonly,
            mono,
            stack: vec![View::Dashboard],
            tasks: BTreeMap::new(),
            visible: Vec::new(),
            cursor: 0,
            selected: None,
            marks: BTreeSet::new(),
            filter: String::new(),
            focus: None,
            sort: Sort::Name,
            node_cursor: 0,
            nodes: Vec::new(),
            offline: Vec::new(),
            node_cluster: None,
            clusters: Vec::new(),
            runs: VecDeque::new(),
            last_run: HashMap::new(),
            detail: None,
            log: None,
            overlay: None,
            messages: VecDeque::new(),
            grants: None,
            audit: Vec::new(),
            incidents: Vec::new(),
            incidents_at: None,
            audit_cursor: 0,
            message_cursor: 0,
            flash: None,
            conn: Conn::Connecting,
            in_flight: BTreeSet::new(),
            dirty: true,
            visible_stale: false,
            no_next: BTreeSet::new(),
            batching: false,
            quit: false,
        }
    }

    /// What to load at start: one snapshot of each list; the event stream keeps them live.
    pub fn start(&mut self) -> Vec<Cmd> {
        let mut cmds = Vec::new();
        for r in [
            Resource::Tasks,
            Resource::Nodes,
            Resource::Clusters,
            Resource::Runs,
            Resource::WhoAmI,
            Resource::Incidents,
        ] {
            self.load(r, &mut cmds);
        }
        cmds
    }

    /// Whether the console offers `action` (in `group`, or in some group when `None`): not a
    /// write in read-only mode, and within the caller's grants once they are known. The
    /// center enforces the same rules; this only keeps what would be refused out of sight.
    pub fn may(&self, action: Action, group: Option<&str>) -> bool {
        let writes = keys::BINDINGS
            .iter()
            .any(|b| b.action == action && b.writes);
        if self.readonly && writes {
            return false;
        }
        match (keys::role_needed(action), &self.grants) {
            (Some(role), Some(grants)) => grants.iter().any(|g| {
                g.role >= role
                    && match (&g.group, group) {
                        (None, _) | (Some(_), None) => true,
                        (Some(have), Some(want)) => have == want,
                    }
            }),
            _ => true,
        }
    }

    /// Whether the caller is an admin in every group (the audit view is theirs).
    pub fn is_admin(&self) -> bool {
        self.grants.as_ref().is_some_and(|gs| {
            gs.iter()
                .any(|g| g.role == Role::Admin && g.group.is_none())
        })
    }

    pub fn view(&self) -> &View {
        self.stack.last().unwrap_or(&View::Dashboard)
    }

    pub fn task_name(&self, id: &str) -> String {
        self.tasks
            .get(id)
            .map(|t| t.task.spec.name.clone())
            .unwrap_or_else(|| id.to_string())
    }

    /// The tasks on or near the screen: the open one and the rows around the cursor.
    fn nearby_tasks(&self) -> Vec<String> {
        let rows = usize::from(self.size.1).max(24);
        let from = self.cursor.saturating_sub(rows);
        let mut ids: Vec<String> = self
            .visible
            .iter()
            .skip(from)
            .take(2 * rows)
            .cloned()
            .collect();
        if let Some(t) = self.current_task() {
            ids.push(t.task.id.clone());
        }
        ids
    }

    /// At most one request in flight per resource.
    fn load(&mut self, r: Resource, cmds: &mut Vec<Cmd>) {
        if self.in_flight.insert(r.clone()) {
            cmds.push(Cmd::Load(r));
        }
    }

    fn note(&mut self, ok: bool, text: impl Into<String>) {
        let m = Message {
            at: self.now,
            ok,
            text: text.into(),
        };
        self.messages.push_back(m.clone());
        while self.messages.len() > MESSAGES_KEPT {
            self.messages.pop_front();
        }
        let until = self
            .now
            .checked_add(jiff::SignedDuration::from_secs(4))
            .unwrap_or(self.now);
        self.flash = Some((m, until));
    }

    /// Recomputes the visible tasks (filter, sort), keeping the selection on the same task.
    pub fn refresh_visible(&mut self) {
        self.visible_stale = false;
        let needle = self.filter.to_lowercase();
        let mut ids: Vec<&TaskView> = self
            .tasks
            .values()
            .filter(|t| {
                needle.is_empty()
                    || t.task.spec.name.to_lowercase().contains(&needle)
                    || t.task.spec.group.to_lowercase().contains(&needle)
                    || t.state.as_str().contains(&needle)
            })
            .collect();
        match self.sort {
            Sort::Name => ids.sort_by(|a, b| {
                (&a.task.spec.group, &a.task.spec.name)
                    .cmp(&(&b.task.spec.group, &b.task.spec.name))
            }),
            Sort::State => ids.sort_by(|a, b| {
                (a.state.as_str(), &a.task.spec.name).cmp(&(b.state.as_str(), &b.task.spec.name))
            }),
            Sort::Next => ids.sort_by_key(|t| {
                (
                    t.next_fires.first().copied().unwrap_or(Timestamp::MAX),
                    t.task.spec.name.clone(),
                )
            }),
        }
        self.visible = ids.into_iter().map(|t| t.task.id.clone()).collect();
        self.cursor = match &self.selected {
            Some(id) => self
                .visible
                .iter()
                .position(|v| v == id)
                .unwrap_or(self.cursor.min(self.visible.len().saturating_sub(1))),
            None => 0,
        };
        self.selected = self.visible.get(self.cursor).cloned();
        self.dirty = true;
    }

    /// The task the action keys act on: the open task, else the selected row.
    pub fn current_task(&self) -> Option<&TaskView> {
        match self.view() {
            View::Task(id) => self.tasks.get(id),
            View::Log => self.log.as_ref().and_then(|l| self.tasks.get(&l.task)),
            _ => self.selected.as_ref().and_then(|id| self.tasks.get(id)),
        }
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Cmd> {
        let mut cmds = Vec::new();
        match msg {
            Msg::Key(k) => self.on_key(k, &mut cmds),
            Msg::Paste(text) => {
                if let Some(input) = self.text_input() {
                    input.push_str(&text.replace(['\n', '\r'], " "));
                    if self.focus == Some(Focus::Filter) {
                        self.refresh_visible();
                    }
                }
            }
            Msg::Resize(w, h) => self.size = (w, h),
            Msg::Tick(now) => {
                self.now = now;
                // Fire times that passed drop off; a task near the screen whose list ran out asks
                // the center for more (the center computes every fire time, so what is shown is
                // what runs).
                for t in self.tasks.values_mut() {
                    t.next_fires.retain(|n| *n > now);
                }
                for id in self.nearby_tasks() {
                    if self.tasks.get(&id).is_some_and(|t| {
                        !t.task.spec.paused
                            && t.next_fires.is_empty()
                            && !self.no_next.contains(&id)
                    }) {
                        self.load(Resource::Next(id), &mut cmds);
                    }
                }
                if self.flash.as_ref().is_some_and(|(_, until)| *until <= now) {
                    self.flash = None;
                }
                if self
                    .incidents_at
                    .is_none_or(|at| now.duration_since(at) >= INCIDENTS_EVERY)
                {
                    self.incidents_at = Some(now);
                    self.load(Resource::Incidents, &mut cmds);
                }
                // Countdowns and "disconnected since" move with the clock.
                self.dirty = true;
                return cmds;
            }
            Msg::Tasks(list) => {
                self.in_flight.remove(&Resource::Tasks);
                self.no_next = list
                    .iter()
                    .filter(|t| t.next_fires.is_empty())
                    .map(|t| t.task.id.clone())
                    .collect();
                self.tasks = list.into_iter().map(|t| (t.task.id.clone(), t)).collect();
                self.marks.retain(|id| self.tasks.contains_key(id));
                self.refresh_visible();
            }
            Msg::Nodes(n) => {
                self.in_flight.remove(&Resource::Nodes);
                self.nodes = n;
                let nodes = &self.nodes;
                self.offline.retain(|(c, name, _)| {
                    !nodes
                        .iter()
                        .any(|n| n.info.cluster == *c && n.info.name == *name)
                });
                self.node_cursor = self.node_cursor.min(self.nodes.len().saturating_sub(1));
            }
            Msg::Clusters(c) => {
                self.in_flight.remove(&Resource::Clusters);
                self.clusters = c;
            }
            Msg::WhoAmI(me) => {
                self.in_flight.remove(&Resource::WhoAmI);
                self.grants = Some(me.grants);
            }
            Msg::Incidents(list) => {
                self.in_flight.remove(&Resource::Incidents);
                self.incidents = list;
            }
            Msg::Audit(rows) => {
                self.in_flight.remove(&Resource::Audit);
                self.audit = rows;
                self.audit_cursor = self.audit_cursor.min(self.audit.len().saturating_sub(1));
            }
            Msg::Runs(runs) => {
                self.in_flight.remove(&Resource::Runs);
                self.runs = runs.into_iter().take(RUNS_KEPT).collect();
                self.last_run.clear();
                for r in self.runs.iter().rev() {
                    self.last_run.insert(r.task.clone(), r.clone());
                }
            }
            Msg::Detail(d) => {
                self.in_flight.remove(&Resource::Detail(d.task.clone()));
                self.detail = Some(d);
            }
            Msg::Next { task, fires } => {
                self.in_flight.remove(&Resource::Next(task.clone()));
                let now = self.now;
                if let Some(t) = self.tasks.get_mut(&task) {
                    t.next_fires = fires.into_iter().filter(|f| *f > now).collect();
                    if t.next_fires.is_empty() {
                        self.no_next.insert(task);
                    }
                    self.visible_stale = true;
                }
            }
            Msg::Failed {
                resource: Resource::Next(task),
                ..
            } => {
                // Shown as no fire time; asked again when the task changes or on resync.
                self.in_flight.remove(&Resource::Next(task.clone()));
                self.no_next.insert(task);
            }
            Msg::Failed { resource, error } => {
                self.in_flight.remove(&resource);
                self.note(false, format!("loading {resource:?} failed: {error}"));
            }
            Msg::Event(ev) => self.on_event(*ev, &mut cmds),
            Msg::StreamUp => {
                let was_down = self.conn != Conn::Connecting && self.conn != Conn::Up;
                self.conn = Conn::Up;
                if was_down {
                    // Events were missed while away: one resync.
                    self.resync(&mut cmds);
                    self.note(true, "reconnected to the center");
                }
            }
            Msg::StreamDown { error, retry_in_s } => {
                let since = match &self.conn {
                    Conn::Down { since, .. } => *since,
                    _ => self.now,
                };
                let retry_at = self
                    .now
                    .checked_add(jiff::SignedDuration::from_secs(retry_in_s as i64))
                    .unwrap_or(self.now);
                self.conn = Conn::Down {
                    since,
                    error,
                    retry_at,
                };
            }
            Msg::Lagged => self.resync(&mut cmds),
            Msg::LogText { run, text } => {
                if let Some(l) = self.log.as_mut().filter(|l| l.run == run) {
                    push_log(l, &text);
                }
            }
            Msg::LogEnded { run } => {
                if let Some(l) = self.log.as_mut().filter(|l| l.run == run.id) {
                    if !l.partial.is_empty() {
                        let rest = std::mem::take(&mut l.partial);
                        push_log(l, &format!("{rest}\n"));
                    }
                    l.ended = Some(run.status);
                }
                self.record_run(*run);
            }
            Msg::PathCompleted { input, completed } => {
                if let Some(Overlay::Prompt {
                    kind: PromptKind::Upload,
                    input: current,
                    ..
                }) = self.overlay.as_mut()
                    && *current == input
                {
                    *current = completed;
                }
            }
            Msg::Done { what, result } => match result {
                Ok(text) => self.note(true, format!("{what}: {text}")),
                Err(e) => self.note(false, format!("{what} failed: {e}")),
            },
        }
        self.dirty = true;
        if !self.batching {
            self.end_batch();
        }
        cmds
    }

    /// Ends a batch of messages: the task list is filtered and sorted once for all of them.
    pub fn end_batch(&mut self) {
        self.batching = false;
        if self.visible_stale {
            self.refresh_visible();
        }
    }

    fn resync(&mut self, cmds: &mut Vec<Cmd>) {
        for r in [
            Resource::Tasks,
            Resource::Nodes,
            Resource::Clusters,
            Resource::Runs,
        ] {
            self.load(r, cmds);
        }
        if self.view() == &View::Audit {
            self.load(Resource::Audit, cmds);
        }
        if let View::Task(id) = self.view().clone() {
            self.load(Resource::Detail(id), cmds);
        }
    }

    fn record_run(&mut self, run: RunRecord) {
        if let Some(d) = self.detail.as_mut().filter(|d| d.task == run.task) {
            match d.runs.iter_mut().find(|r| r.id == run.id) {
                Some(r) => *r = run.clone(),
                None => {
                    d.runs.insert(0, run.clone());
                    d.runs.truncate(50);
                }
            }
        }
        match self.runs.iter_mut().find(|r| r.id == run.id) {
            Some(r) => *r = run.clone(),
            None => {
                self.runs.push_front(run.clone());
                self.runs.truncate(RUNS_KEPT);
            }
        }
        self.last_run.insert(run.task.clone(), run);
    }

    fn on_event(&mut self, ev: Event, cmds: &mut Vec<Cmd>) {
        match ev {
            Event::TaskChanged { task } => {
                let entry = self.tasks.entry(task.id.clone());
                let view = entry.or_insert_with(|| TaskView {
                    task: (*task).clone(),
                    state: TaskState::Pending,
                    node: None,
                    next_fires: Vec::new(),
                });
                view.task = *task;
                // Its fire times may have changed: the next tick asks the center again.
                view.next_fires.clear();
                self.no_next.remove(&view.task.id);
                let placed = view.node.is_some().then_some(true);
                view.state = live_state(&view.task.spec, placed, view.state);
                let id = view.task.id.clone();
                if matches!(self.view(), View::Task(t) if *t == id) {
                    self.load(Resource::Detail(id), cmds);
                }
                self.visible_stale = true;
            }
            Event::TaskDeleted { id } => {
                self.tasks.remove(&id);
                self.marks.remove(&id);
                if matches!(self.view(), View::Task(t) if *t == id) {
                    self.stack.pop();
                    self.note(false, "the open task was deleted");
                }
                self.visible_stale = true;
            }
            Event::TaskPlaced { task, node } => {
                if let Some(t) = self.tasks.get_mut(&task) {
                    t.state = live_state(&t.task.spec, Some(node.is_some()), t.state);
                    t.node = node;
                    self.visible_stale = true;
                }
            }
            Event::RunChanged { run } => self.record_run(*run),
            Event::NodeDown { cluster, name } => {
                self.offline
                    .retain(|(c, n, _)| !(*c == cluster && *n == name));
                self.offline.push((cluster, name.clone(), self.now));
                self.note(false, format!("node {name} went offline"));
                self.load(Resource::Nodes, cmds);
                self.load(Resource::Clusters, cmds);
            }
            Event::NodeUp { .. } => {
                self.load(Resource::Nodes, cmds);
                self.load(Resource::Clusters, cmds);
            }
            Event::RunRequested { .. } | Event::StopRequested { .. } => {}
        }
    }

    fn text_input(&mut self) -> Option<&mut String> {
        if let Some(o) = self.overlay.as_mut() {
            return match o {
                Overlay::Palette { input }
                | Overlay::Prompt { input, .. }
                | Overlay::Delete { input, .. } => Some(input),
                _ => None,
            };
        }
        match self.focus {
            Some(Focus::Filter) => Some(&mut self.filter),
            Some(Focus::LogSearch) => self.log.as_mut().map(|l| &mut l.search),
            None => None,
        }
    }

    fn on_key(&mut self, k: KeyEvent, cmds: &mut Vec<Cmd>) {
        if k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL) {
            self.quit = true;
            return;
        }
        if self.overlay.is_some() {
            self.on_overlay_key(k, cmds);
            return;
        }
        // A focused text input takes every key: no action fires while typing.
        if let Some(focus) = self.focus.clone() {
            match k.code {
                KeyCode::Esc => {
                    match focus {
                        Focus::Filter => {
                            self.filter.clear();
                            self.refresh_visible();
                        }
                        Focus::LogSearch => {
                            if let Some(l) = self.log.as_mut() {
                                l.search.clear();
                            }
                        }
                    }
                    self.focus = None;
                }
                _ => {
                    let done = self.text_input().is_some_and(|i| edit_text(i, &k));
                    if done {
                        self.focus = None;
                        if focus == Focus::LogSearch {
                            self.search_log(true);
                        }
                    }
                    if focus == Focus::Filter {
                        self.refresh_visible();
                    }
                }
            }
            return;
        }
        let Some(name) = keys::key_name(&k) else {
            return;
        };
        let view = self.view().clone();
        let Some(binding) = keys::lookup(&name, |s| view.in_scope(s), |b| self.may(b.action, None))
        else {
            return;
        };
        self.act(binding.action, cmds);
    }

    fn on_overlay_key(&mut self, k: KeyEvent, cmds: &mut Vec<Cmd>) {
        let Some(overlay) = self.overlay.take() else {
            return;
        };
        if k.code == KeyCode::Esc {
            return;
        }
        match overlay {
            Overlay::Help => {
                if !matches!(k.code, KeyCode::Char('?') | KeyCode::Char('q')) {
                    self.overlay = Some(Overlay::Help);
                }
            }
            Overlay::Confirm {
                cmds: confirmed, ..
            } => {
                // Only y confirms: "no" is the default.
                if matches!(k.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
                    cmds.extend(confirmed);
                }
            }
            Overlay::Palette { mut input } => {
                if k.code == KeyCode::Tab {
                    if let Some(c) = complete(&input) {
                        input = c.to_string();
                    }
                    self.overlay = Some(Overlay::Palette { input });
                } else if edit_text(&mut input, &k) {
                    self.run_palette(&input, cmds);
                } else {
                    self.overlay = Some(Overlay::Palette { input });
                }
            }
            Overlay::Prompt {
                kind,
                task,
                mut input,
            } => {
                if k.code == KeyCode::Tab && kind == PromptKind::Upload {
                    cmds.push(Cmd::CompletePath {
                        input: input.clone(),
                    });
                    self.overlay = Some(Overlay::Prompt { kind, task, input });
                } else if edit_text(&mut input, &k) {
                    let value = input.trim().to_string();
                    if value.is_empty() && kind != PromptKind::Params {
                        return;
                    }
                    match kind {
                        PromptKind::Params => match parse_start_input(&value) {
                            Ok((env, args)) => {
                                let name = self.task_name(&task);
                                cmds.push(Cmd::Start {
                                    task,
                                    name,
                                    env,
                                    args,
                                });
                            }
                            Err(e) => {
                                self.note(false, e);
                                self.overlay = Some(Overlay::Prompt { kind, task, input });
                            }
                        },
                        PromptKind::Clone => cmds.push(Cmd::Clone { task, name: value }),
                        PromptKind::Upload => cmds.push(Cmd::Upload { task, path: value }),
                        PromptKind::Command => {
                            if let Some(t) = self.tasks.get(&task) {
                                cmds.push(Cmd::SetCommand {
                                    task,
                                    command: input.clone(),
                                    version: t.task.version,
                                });
                            }
                        }
                        PromptKind::SavePath => {
                            if let Some(l) = &self.log {
                                let text: Vec<&str> = l.lines.iter().map(String::as_str).collect();
                                cmds.push(Cmd::SaveLog {
                                    path: value,
                                    text: text.join("\n") + "\n",
                                });
                            }
                        }
                    }
                } else {
                    self.overlay = Some(Overlay::Prompt { kind, task, input });
                }
            }
            Overlay::Delete {
                task,
                name,
                mut input,
            } => {
                if edit_text(&mut input, &k) {
                    if input == name {
                        cmds.push(Cmd::Delete { task, name });
                    } else {
                        self.note(false, format!("not deleted: {input:?} is not {name:?}"));
                    }
                } else {
                    self.overlay = Some(Overlay::Delete { task, name, input });
                }
            }
        }
    }

    /// `:word [argument]`: `:tasks TEXT` filters the list, `:nodes CLUSTER` shows one cluster.
    fn run_palette(&mut self, input: &str, cmds: &mut Vec<Cmd>) {
        let mut parts = input.split_whitespace();
        let word = parts.next().unwrap_or("");
        let arg = parts.collect::<Vec<_>>().join(" ");
        let target = complete(word).unwrap_or(word);
        match target {
            "dash" => self.stack = vec![View::Dashboard],
            "tasks" => {
                self.push(View::Tasks);
                self.filter = arg;
                self.refresh_visible();
            }
            "nodes" => {
                self.push(View::Nodes);
                self.node_cluster = (!arg.is_empty()).then_some(arg);
                self.node_cursor = 0;
                self.load(Resource::Nodes, cmds);
            }
            "messages" => self.push(View::Messages),
            "audit" if self.grants.is_some() && !self.is_admin() => {
                self.note(false, "forbidden: the audit log is for admins")
            }
            "audit" => {
                self.push(View::Audit);
                self.audit_cursor = 0;
                self.load(Resource::Audit, cmds);
            }
            "help" => self.overlay = Some(Overlay::Help),
            "quit" => self.quit = true,
            other => self.note(false, format!("unknown command :{other} (try :help)")),
        }
    }

    fn push(&mut self, v: View) {
        if self.view() != &v {
            self.stack.push(v);
        }
    }

    fn move_cursor(&mut self, delta: isize) {
        let page = self.size.1.saturating_sub(6).max(1) as isize;
        let d = match delta {
            isize::MIN => isize::MIN / 2,
            isize::MAX => isize::MAX / 2,
            100 => page,
            -100 => -page,
            d => d,
        };
        match self.view().clone() {
            View::Tasks | View::Dashboard => {
                if self.visible.is_empty() {
                    return;
                }
                let max = self.visible.len() as isize - 1;
                self.cursor = (self.cursor as isize).saturating_add(d).clamp(0, max) as usize;
                self.selected = self.visible.get(self.cursor).cloned();
            }
            View::Nodes => {
                let max = self.nodes.len().saturating_sub(1) as isize;
                self.node_cursor =
                    (self.node_cursor as isize).saturating_add(d).clamp(0, max) as usize;
            }
            View::Messages => {
                let max = self.messages.len().saturating_sub(1) as isize;
                self.message_cursor = (self.message_cursor as isize)
                    .saturating_add(d)
                    .clamp(0, max) as usize;
            }
            View::Audit => {
                let max = self.audit.len().saturating_sub(1) as isize;
                self.audit_cursor =
                    (self.audit_cursor as isize).saturating_add(d).clamp(0, max) as usize;
            }
            View::Log => {
                if let Some(l) = self.log.as_mut() {
                    let max = l.lines.len().saturating_sub(1) as isize;
                    let from = if l.follow { max } else { l.top as isize };
                    l.top = from.saturating_add(d).clamp(0, max) as usize;
                    // Scrolling up pauses following; reaching the end resumes it.
                    l.follow = d > 0 && l.top as isize >= max;
                }
            }
            View::Task(_) => {}
        }
    }

    fn act(&mut self, action: Action, cmds: &mut Vec<Cmd>) {
        // A task action in a group the caller holds no such role in is not sent: said here,
        // as the center would refuse it.
        if let Some(role) = keys::role_needed(action) {
            let ids: Vec<String> = match action {
                Action::PauseResume | Action::RunNow | Action::Stop => {
                    self.targets().into_iter().map(|(id, _)| id).collect()
                }
                _ => self
                    .current_task()
                    .map(|t| t.task.id.clone())
                    .into_iter()
                    .collect(),
            };
            let denied = ids
                .iter()
                .filter_map(|id| self.tasks.get(id))
                .map(|t| t.task.spec.group.clone())
                .find(|g| !self.may(action, Some(g)));
            if let Some(group) = denied {
                self.note(
                    false,
                    format!("forbidden: that needs the {role} role in group {group:?}"),
                );
                return;
            }
        }
        match action {
            Action::Quit => self.quit = true,
            Action::Back => {
                if !self.filter.is_empty() && matches!(self.view(), View::Tasks) {
                    self.filter.clear();
                    self.refresh_visible();
                } else if self.stack.len() > 1 {
                    self.stack.pop();
                } else {
                    self.quit = true;
                }
            }
            Action::Help => self.overlay = Some(Overlay::Help),
            Action::Palette => {
                self.overlay = Some(Overlay::Palette {
                    input: String::new(),
                })
            }
            Action::Filter => {
                if matches!(self.view(), View::Log) {
                    if let Some(l) = self.log.as_mut() {
                        l.search.clear();
                    }
                    self.focus = Some(Focus::LogSearch);
                } else {
                    if !matches!(self.view(), View::Tasks) {
                        self.push(View::Tasks);
                    }
                    // A new filter starts empty (the old one shows until the first key).
                    self.filter.clear();
                    self.refresh_visible();
                    self.focus = Some(Focus::Filter);
                }
            }
            Action::Up => self.move_cursor(-1),
            Action::Down => self.move_cursor(1),
            Action::Top => self.move_cursor(isize::MIN),
            Action::Bottom => self.move_cursor(isize::MAX),
            Action::PageUp => self.move_cursor(-100),
            Action::PageDown => self.move_cursor(100),
            Action::Open => match self.view().clone() {
                View::Dashboard => self.push(View::Tasks),
                View::Tasks => {
                    if let Some(id) = self.selected.clone() {
                        self.detail = None;
                        self.push(View::Task(id.clone()));
                        self.load(Resource::Detail(id), cmds);
                    }
                }
                _ => {}
            },
            Action::Logs => {
                if let Some(t) = self.current_task() {
                    let id = t.task.id.clone();
                    match self.runs_of(&id).first().map(|r| r.id.clone()) {
                        Some(run) => self.open_log(&id, &run, cmds),
                        None => self.note(
                            false,
                            format!(
                                "{} has no runs in the last 24 h (enter shows its history)",
                                self.task_name(&id)
                            ),
                        ),
                    }
                }
            }
            Action::PauseResume => {
                for (id, paused) in self.targets() {
                    let verb = if paused {
                        TaskAction::Resume
                    } else {
                        TaskAction::Pause
                    };
                    let name = self.task_name(&id);
                    cmds.push(Cmd::Action {
                        task: id,
                        name,
                        verb,
                    });
                }
            }
            Action::RunNow => {
                let targets = self.targets();
                // One task that declares parameters or arguments: offer them, defaults filled in.
                if let [(id, _)] = targets.as_slice()
                    && let Some(t) = self.tasks.get(id)
                    && (!t.task.spec.params.is_empty() || t.task.spec.accepts_args)
                {
                    let mut input: Vec<String> = t
                        .task
                        .spec
                        .params
                        .iter()
                        .map(|p| format!("{}={}", p.name, p.default.clone().unwrap_or_default()))
                        .collect();
                    if t.task.spec.accepts_args {
                        input.push("--".into());
                    }
                    self.overlay = Some(Overlay::Prompt {
                        kind: PromptKind::Params,
                        task: id.clone(),
                        input: input.join(" "),
                    });
                    return;
                }
                for (id, _) in targets {
                    let name = self.task_name(&id);
                    cmds.push(Cmd::Action {
                        task: id,
                        name,
                        verb: TaskAction::Start,
                    });
                }
            }
            Action::Stop => {
                let targets = self.targets();
                if targets.is_empty() {
                    return;
                }
                let names: Vec<String> = targets.iter().map(|(id, _)| self.task_name(id)).collect();
                let stops = targets
                    .iter()
                    .zip(&names)
                    .map(|((id, _), name)| Cmd::Action {
                        task: id.clone(),
                        name: name.clone(),
                        verb: TaskAction::Stop,
                    })
                    .collect();
                self.overlay = Some(Overlay::Confirm {
                    text: format!("Stop the running runs of {}? (y/N)", names.join(", ")),
                    cmds: stops,
                });
            }
            Action::Clone => {
                if let Some(t) = self.current_task() {
                    let (task, input) = (t.task.id.clone(), format!("{}-copy", t.task.spec.name));
                    self.overlay = Some(Overlay::Prompt {
                        kind: PromptKind::Clone,
                        task,
                        input,
                    });
                }
            }
            Action::Edit => {
                if let Some(t) = self.current_task() {
                    cmds.push(Cmd::Edit {
                        task: t.task.id.clone(),
                    });
                }
            }
            Action::EditCommand => {
                if let Some(t) = self.current_task() {
                    let (task, input) = (t.task.id.clone(), t.task.spec.command.clone());
                    self.overlay = Some(Overlay::Prompt {
                        kind: PromptKind::Command,
                        task,
                        input,
                    });
                }
            }
            Action::Upload => {
                if let Some(t) = self.current_task() {
                    let task = t.task.id.clone();
                    self.overlay = Some(Overlay::Prompt {
                        kind: PromptKind::Upload,
                        task,
                        input: String::new(),
                    });
                }
            }
            Action::Delete => {
                if let Some(t) = self.current_task() {
                    let (task, name) = (t.task.id.clone(), t.task.spec.name.clone());
                    self.overlay = Some(Overlay::Delete {
                        task,
                        name,
                        input: String::new(),
                    });
                }
            }
            Action::Mark => {
                if let Some(id) = self.selected.clone()
                    && !self.marks.remove(&id)
                {
                    self.marks.insert(id);
                }
                self.move_cursor(1);
            }
            Action::Sort => {
                self.sort = match self.sort {
                    Sort::Name => Sort::State,
                    Sort::State => Sort::Next,
                    Sort::Next => Sort::Name,
                };
                self.refresh_visible();
            }
            Action::Resync => self.resync(cmds),
            Action::Messages => self.push(View::Messages),
            Action::Follow => {
                if let Some(l) = self.log.as_mut() {
                    l.follow = true;
                }
            }
            Action::Wrap => {
                if let Some(l) = self.log.as_mut() {
                    l.wrap = !l.wrap;
                }
            }
            Action::Save => {
                if let Some(l) = &self.log {
                    let (task, input) = (l.task.clone(), format!("{}.log", l.run));
                    self.overlay = Some(Overlay::Prompt {
                        kind: PromptKind::SavePath,
                        task,
                        input,
                    });
                }
            }
            Action::PrevRun | Action::NextRun => self.step_run(action == Action::PrevRun, cmds),
            Action::Copy => {
                if let Some(t) = self.current_task() {
                    let text = format!("{}/{}", t.task.spec.group, t.task.spec.name);
                    self.note(true, format!("copied {text}"));
                    cmds.push(Cmd::Copy { text });
                }
            }
            Action::SearchNext => self.search_log(true),
            Action::SearchPrev => self.search_log(false),
        }
    }

    /// Marked tasks, else the current one: (id, paused).
    fn targets(&self) -> Vec<(String, bool)> {
        if !self.marks.is_empty() && matches!(self.view(), View::Tasks) {
            return self
                .marks
                .iter()
                .filter_map(|id| self.tasks.get(id))
                .map(|t| (t.task.id.clone(), t.task.spec.paused))
                .collect();
        }
        self.current_task()
            .map(|t| vec![(t.task.id.clone(), t.task.spec.paused)])
            .unwrap_or_default()
    }

    pub fn open_log(&mut self, task: &str, run: &str, cmds: &mut Vec<Cmd>) {
        self.log = Some(LogState {
            task: task.to_string(),
            run: run.to_string(),
            lines: VecDeque::new(),
            bytes: 0,
            dropped: 0,
            partial: String::new(),
            follow: true,
            top: 0,
            wrap: false,
            search: String::new(),
            ended: None,
        });
        if matches!(self.view(), View::Log) {
            self.stack.pop();
        }
        self.push(View::Log);
        cmds.push(Cmd::FollowLog {
            run: run.to_string(),
        });
    }

    /// Runs of the log's task, newest first, from what the console knows.
    fn runs_of(&self, task: &str) -> Vec<&RunRecord> {
        let mut runs: Vec<&RunRecord> = match self.detail.as_ref().filter(|d| d.task == task) {
            Some(d) => d.runs.iter().collect(),
            None => self.runs.iter().filter(|r| r.task == task).collect(),
        };
        if let Some(last) = self.last_run.get(task)
            && !runs.iter().any(|r| r.id == last.id)
        {
            runs.push(last);
        }
        runs.sort_by(|a, b| b.scheduled_at.cmp(&a.scheduled_at).then(b.id.cmp(&a.id)));
        runs
    }

    fn step_run(&mut self, older: bool, cmds: &mut Vec<Cmd>) {
        let Some(l) = &self.log else { return };
        let (task, current) = (l.task.clone(), l.run.clone());
        let runs = self.runs_of(&task);
        let Some(i) = runs.iter().position(|r| r.id == current) else {
            return;
        };
        let j = if older { i + 1 } else { i.wrapping_sub(1) };
        if let Some(r) = runs.get(j).map(|r| r.id.clone()) {
            self.open_log(&task, &r, cmds);
        } else {
            self.note(
                false,
                if older {
                    "no older run"
                } else {
                    "no newer run"
                },
            );
        }
    }

    fn search_log(&mut self, forward: bool) {
        let Some(l) = self.log.as_mut() else { return };
        if l.search.is_empty() || l.lines.is_empty() {
            return;
        }
        let n = l.lines.len();
        let start = if l.follow { n - 1 } else { l.top.min(n - 1) };
        let needle = l.search.to_lowercase();
        for step in 1..=n {
            let i = if forward {
                (start + step) % n
            } else {
                (start + n - step % n) % n
            };
            if l.lines[i].to_lowercase().contains(&needle) {
                l.top = i;
                l.follow = false;
                return;
            }
        }
        let missing = format!("no line matches {:?}", l.search);
        self.note(false, missing);
    }
}

/// Appends output, splitting lines and keeping the bounds.
fn push_log(l: &mut LogState, text: &str) {
    l.partial.push_str(text);
    while let Some(i) = l.partial.find('\n') {
        let line: String = l.partial.drain(..=i).collect();
        let line = line.trim_end_matches(['\n', '\r']).to_string();
        l.bytes += line.len();
        l.lines.push_back(line);
    }
    while l.lines.len() > LOG_MAX_LINES || l.bytes > LOG_MAX_BYTES {
        match l.lines.pop_front() {
            Some(old) => {
                l.bytes -= old.len();
                l.dropped += 1;
                l.top = l.top.saturating_sub(1);
            }
            None => break,
        }
    }
}

fn complete(prefix: &str) -> Option<&'static str> {
    let p = prefix.trim();
    if p.is_empty() {
        return None;
    }
    PALETTE.iter().copied().find(|c| c.starts_with(p))
}

/// Parses the run-now prompt: `K=V` words set parameters (an empty value leaves the parameter
/// to its default), words after `--` are arguments. Words split on spaces.
pub fn parse_start_input(text: &str) -> Result<(BTreeMap<String, String>, Vec<String>), String> {
    let mut env = BTreeMap::new();
    let mut args = Vec::new();
    let mut words = text.split_whitespace();
    for w in words.by_ref() {
        if w == "--" {
            break;
        }
        match w.split_once('=') {
            Some((k, "")) if !k.is_empty() => {}
            Some((k, v)) if !k.is_empty() => {
                env.insert(k.to_string(), v.to_string());
            }
            _ => return Err(format!("{w:?} is not K=V (arguments go after --)")),
        }
    }
    args.extend(words.map(str::to_string));
    Ok((env, args))
}

/// A task's state after an event, from what the event says: its spec, and whether it is
/// placed (`None`: not known, kept or pending). The center's word on `ended` and `never-fires`
/// (which take fire times to know) stands until the task is paused or given no schedule.
fn live_state(spec: &TaskSpec, placed: Option<bool>, before: TaskState) -> TaskState {
    if spec.paused {
        TaskState::Paused
    } else if spec.schedules.is_empty() {
        TaskState::OnDemand
    } else if matches!(before, TaskState::Ended | TaskState::NeverFires) {
        before
    } else {
        match placed {
            Some(true) => TaskState::Scheduled,
            Some(false) => TaskState::Unassigned,
            None => TaskState::Pending,
        }
    }
}
