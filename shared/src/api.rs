//! JSON wire types of the center's HTTP API (`/api/v1`), shared by the center, agents and ctl.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::model::{NodeInfo, RunRecord, Task};

pub const API_PREFIX: &str = "/api/v1";

/// The response header of a paged list (`GET /tasks?limit=N`) that names where the next page
/// starts (its `after=`); absent on the last page.
pub const NEXT_PAGE_HEADER: &str = "cloudtask-next";

/// Every error answer: a stable machine-readable code and a message for humans.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
}

/// What went wrong, by name: a stale version and a taken name are different problems, so
/// they are different codes. Each code has one HTTP status and one `cloudtaskctl` exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request does not parse: malformed JSON, a bad query or header.
    InvalidRequest,
    /// A field the request (or task file) has that the API does not know.
    UnknownField,
    /// A field with a value the API refuses (named in the message).
    InvalidField,
    /// A schedule, time zone or window that does not parse or can never fire.
    InvalidSchedule,
    /// A start's parameters or arguments that the task does not declare.
    InvalidParameter,
    /// An upload that is not an acceptable package.
    InvalidPackage,
    PayloadTooLarge,
    /// No token, or one the center does not know.
    Unauthorized,
    /// A known caller that may not do this.
    Forbidden,
    TaskNotFound,
    RunNotFound,
    NodeNotFound,
    GroupNotFound,
    PackageNotFound,
    /// No such endpoint or action.
    NotFound,
    /// The edit was based on an older version of the task.
    StaleVersion,
    /// The name (of a task in its group, a group, a cluster) is taken.
    NameTaken,
    /// A group or cluster that still has tasks cannot be removed.
    GroupNotEmpty,
    /// A task name used in several groups, given without its group.
    AmbiguousName,
    /// A start refused because a run is active and concurrency is `forbid`.
    RunActive,
    /// No live node can run the task.
    Unassigned,
    Internal,
    /// The center is at its limit of requests in flight and sheds this one: retry shortly.
    Busy,
    /// The center's disk is full: nothing was stored.
    StorageFull,
    /// The center cannot reach its store (PostgreSQL down, restarting or unreachable): retry
    /// once it is back.
    StoreUnavailable,
    /// Too many failed logins or tokens from this address (or for this user from it): wait.
    RateLimited,
    /// No such user.
    UserNotFound,
    /// What the request needs is not set up on the center (an alert channel).
    NotConfigured,
    /// A code this client does not know yet (a newer center).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The HTTP status it is answered with.
    pub fn status(self) -> u16 {
        use ErrorCode::*;
        match self {
            InvalidRequest | UnknownField | InvalidField | InvalidSchedule | InvalidParameter
            | InvalidPackage => 400,
            Unauthorized => 401,
            Forbidden => 403,
            TaskNotFound | RunNotFound | NodeNotFound | GroupNotFound | PackageNotFound
            | NotFound => 404,
            StaleVersion | NameTaken | GroupNotEmpty | AmbiguousName | RunActive | Unassigned
            | NotConfigured => 409,
            UserNotFound => 404,
            PayloadTooLarge => 413,
            RateLimited => 429,
            Internal | Unknown => 500,
            Busy | StoreUnavailable => 503,
            StorageFull => 507,
        }
    }

    /// The exit code `cloudtaskctl` ends with: 2 invalid input, 3 not found, 4 conflict,
    /// 5 unauthorized, 6 forbidden, 7 a center too busy to answer, 1 anything else.
    pub fn exit_code(self) -> i32 {
        match self.status() {
            503 | 429 => 7,
            400 | 413 => 2,
            404 => 3,
            409 => 4,
            401 => 5,
            403 => 6,
            _ => 1,
        }
    }
}

/// What `POST /tasks/{task}/{action}` asks of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskAction {
    Pause,
    Resume,
    /// Run now.
    Start,
    /// Stop the task's active runs.
    Stop,
    Clone,
}

impl TaskAction {
    pub const ALL: [TaskAction; 5] = [
        TaskAction::Pause,
        TaskAction::Resume,
        TaskAction::Start,
        TaskAction::Stop,
        TaskAction::Clone,
    ];

    /// The action's path segment (and its name in messages).
    pub fn as_str(self) -> &'static str {
        match self {
            TaskAction::Pause => "pause",
            TaskAction::Resume => "resume",
            TaskAction::Start => "start",
            TaskAction::Stop => "stop",
            TaskAction::Clone => "clone",
        }
    }

    /// `/tasks/{task}/{action}`, with `task` already path-encoded.
    pub fn path(self, encoded_task: &str) -> String {
        format!("/tasks/{encoded_task}/{}", self.as_str())
    }
}

impl std::fmt::Display for TaskAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TaskAction {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TaskAction::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = TaskAction::ALL.iter().map(|a| a.as_str()).collect();
                format!("no task action {s:?}; actions are {}", names.join(", "))
            })
    }
}

/// What a listing says of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskState {
    /// Placed on a node, which fires it.
    Scheduled,
    Paused,
    /// Created a moment ago: the next allocation round places it.
    Pending,
    /// No live node of its cluster matches it.
    Unassigned,
    /// No schedule: runs only when started.
    OnDemand,
    /// Its window ended: nothing ahead.
    Ended,
    /// Stored before such schedules were refused: it can never fire.
    NeverFires,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Scheduled => "scheduled",
            TaskState::Paused => "paused",
            TaskState::Pending => "pending",
            TaskState::Unassigned => "unassigned",
            TaskState::OnDemand => "on-demand",
            TaskState::Ended => "ended",
            TaskState::NeverFires => "never-fires",
        }
    }
}

impl std::fmt::Display for TaskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A task as the API shows it: the stored task plus where it is placed and when it fires next.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskView {
    #[serde(flatten)]
    pub task: Task,
    pub state: TaskState,
    pub node: Option<String>,
    pub next_fires: Vec<Timestamp>,
}

/// An edit: fields to change (a JSON merge patch over the spec) and the version it was based on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PatchRequest {
    pub version: u64,
    #[serde(flatten)]
    pub changes: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CloneRequest {
    pub name: String,
    #[serde(default)]
    pub group: Option<String>,
}

/// A stored package; a task keeps the history of those it used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageInfo {
    pub sha256: String,
    pub file_name: String,
    pub size: u64,
    pub uploaded_at: Timestamp,
    pub uploaded_by: String,
}

/// Largest request body the center takes from an agent (run reports, live output). A report
/// carries up to the run's log cap (1 MiB by default, up to 6× that once JSON-escaped), so the
/// limit is far above what one report needs; agents split deliveries well below it.
pub const AGENT_BODY_LIMIT: usize = 64 << 20;

/// What an agent delivers about a run: the record and, once it ends, its captured log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    pub run: RunRecord,
    #[serde(default)]
    pub log: Option<String>,
}

/// An agent's statement of the runs it has active, made only when every report it wrote
/// before was acknowledged: a run the center has `running` on `node`, started before
/// `taken_at` (the agent's clock, like the runs' `started_at`), that is not listed here, is
/// unknown to the node (orphaned).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveStatement {
    pub node: String,
    pub taken_at: Timestamp,
    pub runs: Vec<String>,
}

/// Live output of a running run, pushed by the agent while it runs (in batches across runs).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutputChunk {
    pub run: String,
    pub data: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeView {
    #[serde(flatten)]
    pub info: NodeInfo,
    pub tasks: usize,
}

/// One frame of the center's server-sent event stream.
#[derive(Debug, Clone)]
pub enum StreamFrame {
    Event(Box<Event>),
    /// The follower fell behind and events were dropped: re-read what it shows.
    Lagged,
    /// A comment, keep-alive, or an event type this client does not know.
    Other,
}

impl StreamFrame {
    /// Parses one frame (the text between blank lines).
    pub fn parse(frame: &[u8]) -> StreamFrame {
        let text = String::from_utf8_lossy(frame);
        if text.lines().any(|l| l.trim_end() == "event: lagged") {
            return StreamFrame::Lagged;
        }
        let data: String = text
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(str::trim_start)
            .collect::<Vec<_>>()
            .join("\n");
        match serde_json::from_str(&data) {
            Ok(e) => StreamFrame::Event(Box::new(e)),
            Err(_) => StreamFrame::Other,
        }
    }
}

#[cfg(test)]
mod stream_tests {
    use super::*;

    #[test]
    fn frames_parse_into_events_lag_and_others() {
        let ev = b"data: {\"type\":\"task_deleted\",\"id\":\"t1\"}\n\n";
        match StreamFrame::parse(ev) {
            StreamFrame::Event(e) => {
                assert!(matches!(*e, Event::TaskDeleted { ref id } if id == "t1"))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            StreamFrame::parse(b"event: lagged\ndata: 12\n\n"),
            StreamFrame::Lagged
        ));
        assert!(matches!(
            StreamFrame::parse(b": keep-alive\n\n"),
            StreamFrame::Other
        ));
    }
}

/// A cluster with its live state: nodes registered now, tasks that belong to it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterView {
    pub name: String,
    pub description: String,
    pub nodes: usize,
    pub tasks: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VersionInfo {
    pub version: String,
    pub mode: String,
    /// Whether this center is the elected leader that allocates tasks.
    #[serde(default)]
    pub leader: bool,
}

/// The body of `POST /tasks/{key}/start` (optional): parameter values and extra arguments,
/// checked against what the task declares.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub args: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActionResult {
    pub task: String,
    /// Runs the action touched (run now: the new run; stop: the runs asked to stop).
    #[serde(default)]
    pub runs: Vec<String>,
}

/// One change on the event stream (`GET /api/v1/events`, server-sent events).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    TaskChanged {
        task: Box<Task>,
    },
    TaskDeleted {
        id: String,
    },
    RunChanged {
        run: Box<RunRecord>,
    },
    /// The task's node changed (`None`: no eligible live node).
    TaskPlaced {
        task: String,
        node: Option<String>,
    },
    NodeUp {
        node: Box<NodeInfo>,
    },
    NodeDown {
        cluster: String,
        name: String,
    },
    /// For the owning agent: kill these runs of the task (all active ones when `runs` is empty).
    StopRequested {
        task: String,
        node: String,
        runs: Vec<String>,
    },
    /// For the owning agent: run the task now under this run id.
    RunRequested {
        task: String,
        node: String,
        /// Run at least this version: an edit just before "run now" must not run the old spec.
        task_version: u64,
        run: Box<RunRecord>,
    },
}

/// What a user (or a token) may do, nested: each role may do everything the ones below it
/// may. `admin` is bound to all groups; the others to named groups or to all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read tasks, runs and logs.
    Viewer,
    /// Run now, stop, pause and resume, and what a viewer may.
    Operator,
    /// Create, edit and delete tasks, upload packages, and what an operator may.
    Editor,
    /// Everything: users, clusters, groups, join tokens, in every group.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Operator, Role::Editor, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not a role (admin, editor, operator, viewer)"))
    }
}

/// One role in one group, or (`group` absent) in every group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

impl std::fmt::Display for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.group {
            Some(g) => write!(f, "{} in {g}", self.role),
            None => write!(f, "{} in all groups", self.role),
        }
    }
}

/// `POST /login`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// A new secret token, shown once (a login's session token, a created API token).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssuedToken {
    pub token: String,
    pub name: String,
    pub expires_at: Timestamp,
}

/// `GET /whoami`: who the center takes the caller for, and what it may do.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WhoAmI {
    /// `user:NAME`, `token:USER/NAME`, `bootstrap` or `node:NAME`.
    pub principal: String,
    /// The user it acts for, if any.
    #[serde(default)]
    pub user: Option<String>,
    pub grants: Vec<Grant>,
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
}

/// A user as `GET /users` lists it (never its password hash).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserView {
    pub name: String,
    pub grants: Vec<Grant>,
    pub created_at: Timestamp,
    pub created_by: String,
    /// Where alerts naming `user:NAME` go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// `PUT /users/{name}/email`: the address alerts naming `user:NAME` go to (`None` clears it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetEmail {
    pub email: Option<String>,
}

/// `POST /users`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub name: String,
    pub password: String,
    #[serde(default)]
    pub grants: Vec<Grant>,
    /// Where alerts naming `user:NAME` go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl std::fmt::Debug for CreateUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateUser")
            .field("name", &self.name)
            .field("grants", &self.grants)
            .finish_non_exhaustive()
    }
}

/// `PUT /users/{name}/password`: an admin sets it; a user changing its own gives the
/// current one too.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetPassword {
    pub password: String,
    #[serde(default)]
    pub current: Option<String>,
}

impl std::fmt::Debug for SetPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetPassword").finish_non_exhaustive()
    }
}

/// `POST /tokens`: a named API token for scripts, within its creator's rights.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub name: String,
    /// How long it lasts (`30d`, `12h`): mandatory, at most the center's `--max-token-ttl`.
    pub expires_in: String,
    /// Its rights, each covered by the creator's; none: all of the creator's.
    #[serde(default)]
    pub grants: Vec<Grant>,
}

/// An API token as `GET /tokens` lists it (never the token).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenView {
    pub name: String,
    pub user: String,
    /// Its scope; empty: all of its user's rights.
    pub grants: Vec<Grant>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub last_used_from: Option<String>,
}

/// `POST /join-tokens`: a token agents join with (an admin's).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateJoinToken {
    pub name: String,
    /// The one cluster it admits nodes to; none: any cluster.
    #[serde(default)]
    pub cluster: Option<String>,
    /// How long it lasts (`24h`): mandatory, at most the center's `--max-token-ttl`.
    pub expires_in: String,
}

/// A join token as `GET /join-tokens` lists it (never the token).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinTokenView {
    pub name: String,
    pub cluster: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub last_used_from: Option<String>,
}

/// `POST /agent/join`, under a join token: the node asks for its credential.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinRequest {
    pub node: String,
    pub cluster: String,
}

/// The answer to a join: the node's credential, shown once (the agent keeps it in
/// `node.token` in its data dir).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeCredential {
    pub token: String,
    pub node: String,
    pub cluster: String,
}

/// The answer to `POST /agent/runs`: the reports the center refused (nothing of them is
/// stored). The others are stored.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReportAnswer {
    #[serde(default)]
    pub refused: Vec<RefusedRun>,
}

/// A refused report: which run, and why.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefusedRun {
    pub run: String,
    pub reason: String,
}

/// One row of the audit log (`GET /audit`): who did what to which object, from where, and for
/// a task the versions before and after and the spec fields that changed (by name: secret
/// values never reach the audit log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: Timestamp,
    /// The user, `user/token`, `node:NAME`, `join:NAME`, or `center` for its own doing.
    pub actor: String,
    /// The address the request came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub action: String,
    pub target: String,
    /// The group of the task it is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_before: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_after: Option<u64>,
    /// The task spec fields it changed (`secret_env.NAME` for a secret).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    pub detail: String,
}

impl AuditEntry {
    /// A row about no task, from nowhere in particular (the center's own doing).
    pub fn new(at: Timestamp, actor: &str, action: &str, target: &str, detail: &str) -> Self {
        AuditEntry {
            at,
            actor: actor.to_string(),
            from: None,
            action: action.to_string(),
            target: target.to_string(),
            group: None,
            version_before: None,
            version_after: None,
            fields: Vec::new(),
            detail: detail.to_string(),
        }
    }
}

/// What `GET /audit` selects (all optional but the limit), newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// A user: its own rows and its API tokens' (`user/token`); or any actor by full name.
    pub actor: Option<String>,
    /// A task id (or any target).
    pub target: Option<String>,
    pub group: Option<String>,
    pub action: Option<String>,
    pub limit: u32,
}

impl AuditFilter {
    /// The newest `limit` rows.
    pub fn latest(limit: u32) -> AuditFilter {
        AuditFilter {
            limit,
            ..AuditFilter::default()
        }
    }
}

/// What an incident is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentKind {
    /// Runs of the task end `failed`, `timed_out` or `lost` (or `killed`, when the task
    /// says so) with no retry left; resolved by a success.
    Failed,
    /// A scheduled run started more than the start grace after its instant; resolved by a
    /// start on time.
    LateStart,
    /// No run of a scheduled instant started by the instant plus the start grace (noticed
    /// by the center from the schedule, whatever the node does); resolved by a start.
    DidNotStart,
    /// A run is running longer than the task's maximum (or a multiple of its typical
    /// duration); resolved when that run ends.
    Overrunning,
    /// A successful run was shorter than the task's minimum; resolved by one that was not.
    TooFast,
    /// A node left its cluster (subject `node:CLUSTER/NAME`) and stayed away past the
    /// damping; resolved once it has been back as long.
    Offline,
    /// A task has had no eligible node for the damping; resolved when it is placed.
    Unassigned,
    /// A node at its capacity skipped runs (subject `node:CLUSTER/NAME`); resolved when it
    /// has skipped none for the damping.
    Shedding,
}

impl IncidentKind {
    pub const ALL: [IncidentKind; 8] = [
        IncidentKind::Failed,
        IncidentKind::LateStart,
        IncidentKind::DidNotStart,
        IncidentKind::Overrunning,
        IncidentKind::TooFast,
        IncidentKind::Offline,
        IncidentKind::Unassigned,
        IncidentKind::Shedding,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IncidentKind::Failed => "failed",
            IncidentKind::LateStart => "late_start",
            IncidentKind::DidNotStart => "did_not_start",
            IncidentKind::Overrunning => "overrunning",
            IncidentKind::TooFast => "too_fast",
            IncidentKind::Offline => "offline",
            IncidentKind::Unassigned => "unassigned",
            IncidentKind::Shedding => "shedding",
        }
    }

    pub fn parse(s: &str) -> Option<IncidentKind> {
        IncidentKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for IncidentKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem, from when it was noticed until it recovered: however often it recurs in
/// between, it is one incident, announced once (and again only if the task says
/// `renotify_every`) and resolved with one recovery message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub id: String,
    pub kind: IncidentKind,
    /// The task's id (or the node's `cluster/name`).
    pub subject: String,
    /// The task's name and group, as they were when it opened.
    pub name: String,
    pub group: String,
    pub opened_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<Timestamp>,
    /// Occurrences so far (consecutive failures).
    pub count: u32,
    /// Whether its recipients were told (an incident below its task's `after_failures` is
    /// open but quiet).
    pub announced: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_announced_at: Option<Timestamp>,
    /// The run that last changed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<String>,
    /// What happened last, in a line.
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked_at: Option<Timestamp>,
}

/// One message to one recipient, as `notify status` shows it (never its body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageView {
    /// Stable across retries and leader changes: the e-mail's `Message-ID`, the webhook's
    /// `webhook-id`.
    pub id: String,
    pub channel: crate::model::Channel,
    pub to: String,
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<String>,
    pub created_at: Timestamp,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Given up after its last try (a dead letter).
    pub dead: bool,
}

/// How one channel's deliveries stand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelStatus {
    pub channel: crate::model::Channel,
    /// Whether the center is set up to send on it.
    pub configured: bool,
    /// Messages waiting to be delivered (including those being retried).
    pub queued: u64,
    /// Of those, how many failed at least once.
    pub retrying: u64,
    /// Given up after the last try.
    pub dead: u64,
    pub delivered: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_delivered_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error_at: Option<Timestamp>,
}

/// `GET /notify/status`: every channel, and the dead letters, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyStatus {
    pub channels: Vec<ChannelStatus>,
    pub dead_letters: Vec<MessageView>,
}

/// `POST /notify/test`: a test message on a channel, to the given address or to the center's
/// default recipients of that channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyTest {
    pub channel: crate::model::Channel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// What `notify test` queued: one message per recipient, delivered like any other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyTestAnswer {
    pub messages: Vec<MessageView>,
}

/// A silence (or, starting later, a maintenance window): while it is on, the incidents it
/// matches are recorded but not announced; one still open when it ends is announced then.
/// It matches by task, by group, by kind — what it leaves out matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    pub id: String,
    /// A task's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<IncidentKind>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub reason: String,
    pub created_by: String,
    pub created_at: Timestamp,
}

impl Silence {
    /// Whether it holds back `incident`'s messages at `now`.
    pub fn silences(&self, i: &Incident, now: Timestamp) -> bool {
        self.starts_at <= now
            && now < self.ends_at
            && self.task.as_ref().is_none_or(|t| *t == i.subject)
            && self.group.as_ref().is_none_or(|g| *g == i.group)
            && self.kind.is_none_or(|k| k == i.kind)
    }
}

/// `POST /silences`: what to silence (a task by name or id, with `group` when its name is in
/// several; a group; neither: everything) and for how long.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSilence {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<IncidentKind>,
    /// From when (default: now): a later start makes a maintenance window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<Timestamp>,
    pub ends_at: Timestamp,
    pub reason: String,
}
