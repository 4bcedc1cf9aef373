//! Tasks, runs and nodes: the product's vocabulary, with validation that names the field at fault.

use std::collections::BTreeMap;
use std::fmt;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::schedule::{Schedule, ScheduleSet};

/// Default cluster and group: a newcomer never has to create either.
pub const DEFAULT_CLUSTER: &str = "default";
pub const DEFAULT_GROUP: &str = "default";

/// What a user sets on a task. Everything else on [`Task`] is owned by the center.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    pub name: String,
    #[serde(default = "default_cluster")]
    pub cluster: String,
    #[serde(default = "default_group")]
    pub group: String,
    #[serde(default)]
    pub description: String,
    /// Run through `sh -c` (Unix) or `cmd /C` (Windows) in the unpacked package directory.
    pub command: String,
    #[serde(default)]
    pub package: Option<PackageRef>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Environment entries whose values are secret: write-only through the API (answers and
    /// events carry only each value's salted fingerprint), given only to the node that runs
    /// the task.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secret_env: BTreeMap<String, Secret>,
    /// When it fires; none makes an on-demand task, run only when started.
    #[serde(default)]
    pub schedules: Vec<String>,
    #[serde(default = "default_timezone")]
    pub timezone: String,
    #[serde(default)]
    pub start_at: Option<Timestamp>,
    #[serde(default)]
    pub end_at: Option<Timestamp>,
    /// Wall-clock limit of one attempt; none means no limit.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Time between SIGTERM and SIGKILL when a run is timed out or stopped.
    #[serde(default = "default_kill_grace_ms")]
    pub kill_grace_ms: u64,
    #[serde(default)]
    pub retries: u32,
    /// First retry delay; doubles with each further attempt.
    #[serde(default = "default_retry_backoff_ms")]
    pub retry_backoff_ms: u64,
    #[serde(default)]
    pub concurrency: Concurrency,
    #[serde(default)]
    pub misfire: Misfire,
    /// How late a missed instant may still be caught up.
    #[serde(default = "default_misfire_grace_ms")]
    pub misfire_grace_ms: u64,
    /// Node names the task may run on; empty means any node of its cluster.
    #[serde(default)]
    pub target_nodes: Vec<String>,
    /// Labels a node must carry (all of them, with these values) to run the task.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    #[serde(default)]
    pub paused: bool,
    /// Parameters a start may set (`task start --env K=V`), passed to the command as
    /// environment variables; anything else a start names is refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
    /// Whether a start may pass extra arguments (`task start --arg X`): the command's `"$@"`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub accepts_args: bool,
    /// How many finished runs (with their logs) the center keeps of this task; none: the
    /// center's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_runs: Option<u32>,
    /// How long the center keeps this task's finished runs; none: the center's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_runs_for_ms: Option<u64>,
    /// The Unix user the task's runs execute as; none: the node's default (`--run-as`). A
    /// node runs a task only as a user on its allow-list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as: Option<String>,
    /// Who hears about this task's runs, and when.
    #[serde(default, skip_serializing_if = "AlertPolicy::is_default")]
    pub alerts: AlertPolicy,
}

/// A task's alerting: recipients and thresholds; every field has a documented default, so a
/// task that sets nothing still alerts its group's (or the center's) recipients when a run
/// fails for good.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertPolicy {
    /// E-mail addresses, `user:NAME` (that user's address) and webhook URLs (`https://…`);
    /// empty: the task's group's defaults, else the center's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<String>,
    /// Open an incident only after this many consecutive failures (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_failures: Option<u32>,
    /// Send an open incident again this often while it stays open (default: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renotify_every_ms: Option<u64>,
    /// A scheduled run that starts more than this after its instant started late; one that
    /// has not started by then did not start (default 60 s, never more than the task's
    /// period).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_grace_ms: Option<u64>,
    /// A run still running after this long is overrunning (default: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration_ms: Option<u64>,
    /// A run running longer than this multiple of the task's typical duration (the median
    /// of its last 20 successful runs, once there are 5) is overrunning (default: off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overrun_factor: Option<u32>,
    /// A successful run shorter than this was too fast (default: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_duration_ms: Option<u64>,
    /// A `killed` run (stopped by an operator or by the node's fence) counts as a failure.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub on_killed: bool,
    /// Every succeeded run is announced too (not an incident, a message).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub on_success: bool,
    /// No alerts at all for this task.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub off: bool,
}

impl AlertPolicy {
    pub fn is_default(&self) -> bool {
        *self == AlertPolicy::default()
    }

    /// Consecutive failures before an incident is announced.
    pub fn threshold(&self) -> u32 {
        self.after_failures.unwrap_or(1).max(1)
    }

    fn validate(&self) -> Result<(), ValidationError> {
        if self.notify.len() > 20 {
            return Err(ValidationError::new(
                "alerts.notify",
                "names more than 20 recipients",
            ));
        }
        for (i, to) in self.notify.iter().enumerate() {
            Recipient::parse(to)
                .map_err(|e| ValidationError::new(format!("alerts.notify[{i}]"), e))?;
        }
        if self.after_failures == Some(0) || self.after_failures.is_some_and(|n| n > 1000) {
            return Err(ValidationError::new(
                "alerts.after_failures",
                "must be between 1 and 1000",
            ));
        }
        if self.renotify_every_ms.is_some_and(|ms| ms < 60_000) {
            return Err(ValidationError::new(
                "alerts.renotify_every_ms",
                "must be at least a minute",
            ));
        }
        for (field, v) in [
            ("alerts.start_grace_ms", self.start_grace_ms),
            ("alerts.max_duration_ms", self.max_duration_ms),
            ("alerts.min_duration_ms", self.min_duration_ms),
        ] {
            if v == Some(0) {
                return Err(ValidationError::new(field, "must be positive"));
            }
        }
        if self
            .overrun_factor
            .is_some_and(|f| !(2..=1000).contains(&f))
        {
            return Err(ValidationError::new(
                "alerts.overrun_factor",
                "must be between 2 and 1000",
            ));
        }
        if let (Some(min), Some(max)) = (self.min_duration_ms, self.max_duration_ms)
            && min >= max
        {
            return Err(ValidationError::new(
                "alerts.min_duration_ms",
                "must be below alerts.max_duration_ms",
            ));
        }
        Ok(())
    }
}

/// Where an alert goes: an e-mail address or a webhook URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Recipient {
    Email(String),
    Webhook(String),
    /// `user:NAME`: the e-mail address that CloudTask user has set, when the message is made.
    User(String),
}

impl Recipient {
    /// An `http(s)://` URL is a webhook; `name@host` an e-mail address. Names what is wrong.
    pub fn parse(text: &str) -> Result<Recipient, String> {
        let t = text.trim();
        if t != text || t.is_empty() {
            return Err(format!("{text:?} has surrounding spaces or is empty"));
        }
        if t.len() > 2048 {
            return Err("is longer than 2048 bytes".into());
        }
        if let Some(user) = t.strip_prefix("user:") {
            validate_name("user", user).map_err(|e| e.to_string())?;
            return Ok(Recipient::User(user.to_string()));
        }
        if let Some(rest) = t
            .strip_prefix("https://")
            .or_else(|| t.strip_prefix("http://"))
        {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            let host = host.rsplit('@').next().unwrap_or("");
            if host.is_empty() || rest.contains(char::is_whitespace) {
                return Err(format!("{t:?} is not a URL with a host"));
            }
            return Ok(Recipient::Webhook(t.to_string()));
        }
        if t.contains("://") {
            return Err(format!(
                "{t:?}: only http(s) webhooks and e-mail addresses are recipients"
            ));
        }
        match t.split_once('@') {
            Some((local, domain))
                if !local.is_empty()
                    && !domain.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !t.contains(|c: char| c.is_whitespace() || "<>,;\"".contains(c)) =>
            {
                Ok(Recipient::Email(t.to_string()))
            }
            _ => Err(format!(
                "{t:?} is neither an e-mail address (name@example.com) nor a webhook URL (https://…)"
            )),
        }
    }

    pub fn channel(&self) -> Channel {
        match self {
            Recipient::Email(_) | Recipient::User(_) => Channel::Email,
            Recipient::Webhook(_) => Channel::Webhook,
        }
    }

    /// The address, the URL, or (for a user) the user's name.
    pub fn address(&self) -> &str {
        match self {
            Recipient::Email(a) | Recipient::Webhook(a) | Recipient::User(a) => a,
        }
    }
}

/// How a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Webhook,
}

impl Channel {
    pub const ALL: [Channel; 2] = [Channel::Email, Channel::Webhook];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Webhook => "webhook",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A secret environment value. Sent as a plain string (a new value), or as the
/// `{salt, sha256}` an answer showed (keep the value as it is). The center seals a new
/// value — a fresh salt, the fingerprint `sha256(salt ‖ value)` — and keeps the value only
/// in its store and for the node that runs the task; [`TaskSpec::redacted`] drops it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "SecretWire")]
pub struct Secret {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Hex; empty until the center sealed the value.
    pub salt: String,
    /// Hex `sha256(salt ‖ value)`: how `diff` tells a changed value from an unchanged one
    /// without ever being shown the value.
    pub sha256: String,
}

/// How a [`Secret`] arrives: a bare value, or a sealed one (with or without its value).
#[derive(Deserialize)]
#[serde(untagged)]
enum SecretWire {
    Value(String),
    Sealed(SealedSecret),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SealedSecret {
    #[serde(default)]
    value: Option<String>,
    salt: String,
    sha256: String,
}

impl From<SecretWire> for Secret {
    fn from(w: SecretWire) -> Secret {
        match w {
            SecretWire::Value(v) => Secret::new(v),
            SecretWire::Sealed(s) => Secret {
                value: s.value,
                salt: s.salt,
                sha256: s.sha256,
            },
        }
    }
}

impl fmt::Debug for Secret {
    // Never the value: specs reach log lines through `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret")
            .field("set", &self.value.is_some())
            .field("sha256", &self.sha256)
            .finish()
    }
}

impl Secret {
    /// A value not sealed yet.
    pub fn new(value: String) -> Secret {
        Secret {
            value: Some(value),
            salt: String::new(),
            sha256: String::new(),
        }
    }

    /// The fingerprint of `value` under `salt`.
    pub fn fingerprint(salt: &str, value: &str) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(salt.as_bytes());
        h.update(value.as_bytes());
        hex::encode(h.finalize())
    }

    /// Whether it holds a value whose fingerprint is the one it shows.
    pub fn is_sealed(&self) -> bool {
        !self.salt.is_empty()
            && self
                .value
                .as_deref()
                .is_some_and(|v| Secret::fingerprint(&self.salt, v) == self.sha256)
    }

    /// Whether `value` is the value this secret was sealed with.
    pub fn matches(&self, value: &str) -> bool {
        Secret::fingerprint(&self.salt, value) == self.sha256
    }
}

/// A declared parameter of a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Param {
    /// The environment variable it sets.
    pub name: String,
    /// Its value when a start (or a scheduled run) does not give one; unset if none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// The most arguments a start may pass, and the longest value of one argument or parameter.
pub const MAX_START_ARGS: usize = 64;
pub const MAX_PARAM_BYTES: usize = 4096;

/// Parameter names that look like secrets: those belong in the task's `env`, never in a
/// start's parameters, which are recorded on the run and shown to anyone who can read it.
fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "TOKEN",
        "CREDENTIAL",
        "PRIVATE_KEY",
        "API_KEY",
    ]
    .iter()
    .any(|w| upper.contains(w))
}

/// Whether `key` may name an environment variable of a run.
fn valid_env_name(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with(|c: char| c.is_ascii_digit())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn default_cluster() -> String {
    DEFAULT_CLUSTER.into()
}
fn default_group() -> String {
    DEFAULT_GROUP.into()
}
fn default_timezone() -> String {
    "UTC".into()
}
fn default_kill_grace_ms() -> u64 {
    5_000
}
fn default_retry_backoff_ms() -> u64 {
    1_000
}
fn default_misfire_grace_ms() -> u64 {
    60_000
}

/// A stored task: the spec plus identity and bookkeeping the center maintains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    #[serde(flatten)]
    pub spec: TaskSpec,
    /// Bumped on every change; edits must name the version they were based on.
    pub version: u64,
    pub created_by: String,
    pub created_at: Timestamp,
    pub updated_by: String,
    pub updated_at: Timestamp,
}

/// A package a task runs from, addressed by content so agents can cache and verify it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageRef {
    pub sha256: String,
    pub file_name: String,
    pub size: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Concurrency {
    /// A fire while a run is active is recorded as `skipped`.
    #[default]
    Forbid,
    Allow,
    /// A fire while a run is active kills the active run first.
    Replace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Misfire {
    /// One catch-up run for instants missed within the grace; the rest are `missed`.
    #[default]
    RunOnce,
    Skip,
}

/// Where a run is in its life. Terminal statuses never change again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Scheduled,
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Killed,
    Lost,
    Skipped,
    Missed,
}

impl RunStatus {
    pub const ALL: [RunStatus; 9] = [
        RunStatus::Scheduled,
        RunStatus::Running,
        RunStatus::Succeeded,
        RunStatus::Failed,
        RunStatus::TimedOut,
        RunStatus::Killed,
        RunStatus::Lost,
        RunStatus::Skipped,
        RunStatus::Missed,
    ];

    /// The statuses of a run not finished yet: it may still be started, running or stopped.
    pub const ACTIVE: [RunStatus; 2] = [RunStatus::Scheduled, RunStatus::Running];

    pub fn is_terminal(self) -> bool {
        !RunStatus::ACTIVE.contains(&self)
    }

    /// Orders statuses so a late, out-of-order report never moves a run backwards. `lost` is
    /// a presumption (the node went away), so a real outcome reported later replaces it.
    pub fn rank(self) -> u8 {
        match self {
            RunStatus::Scheduled => 0,
            RunStatus::Running => 1,
            RunStatus::Lost => 2,
            _ => 3,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Scheduled => "scheduled",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::TimedOut => "timed_out",
            RunStatus::Killed => "killed",
            RunStatus::Lost => "lost",
            RunStatus::Skipped => "skipped",
            RunStatus::Missed => "missed",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RunStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        RunStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown run status {s:?}"))
    }
}

/// Why a run exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Schedule,
    Manual,
    Retry,
    CatchUp,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Manual => "manual",
            Trigger::Retry => "retry",
            Trigger::CatchUp => "catch_up",
        }
    }
}

/// One execution (or non-execution) of a task at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Deterministic per (task, instant, attempt): see [`run_id`].
    pub id: String,
    pub task: String,
    pub task_name: String,
    pub scheduled_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub status: RunStatus,
    pub exit_code: Option<i32>,
    pub node: String,
    pub attempt: u32,
    pub trigger: Trigger,
    /// Why the run ended as it did, when the exit code does not say it.
    pub message: Option<String>,
    /// Parameters of a manual start (with the declared defaults it did not set).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    /// Extra arguments of a manual start: the command's `"$@"`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// A requested run (a retry after its backoff) is not started before this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<Timestamp>,
    /// Who started it (a manual start, and its retries): set by the center, never by a node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
}

impl RunRecord {
    /// A run of `task` not started yet (`scheduled`): what a claim, a start request or a
    /// retry begins with. The one place a run record is made from nothing.
    pub fn scheduled(
        task: &Task,
        id: String,
        scheduled_at: Timestamp,
        node: &str,
        attempt: u32,
        trigger: Trigger,
    ) -> RunRecord {
        RunRecord {
            id,
            task: task.id.clone(),
            task_name: task.spec.name.clone(),
            scheduled_at,
            started_at: None,
            finished_at: None,
            status: RunStatus::Scheduled,
            exit_code: None,
            node: node.to_string(),
            attempt,
            trigger,
            message: None,
            params: BTreeMap::new(),
            args: Vec::new(),
            not_before: None,
            requested_by: None,
        }
    }

    /// The attempt after this one, on `node`: same instant, parameters and arguments, its id
    /// by [`attempt_id`] (so it is claimed, and runs, once).
    pub fn next_attempt(&self, node: &str, message: Option<String>) -> RunRecord {
        let attempt = self.attempt + 1;
        RunRecord {
            id: attempt_id(&self.id, attempt),
            started_at: None,
            finished_at: None,
            status: RunStatus::Scheduled,
            exit_code: None,
            node: node.to_string(),
            attempt,
            trigger: Trigger::Retry,
            message,
            not_before: None,
            ..self.clone()
        }
    }

    /// Whether this finished attempt earns another one (the one policy [`RunRecord::retry`]
    /// applies): an attempt that does is not the run's last word, so alerts wait for it.
    pub fn earns_retry(&self, retries: u32, paused: bool) -> bool {
        self.retry_delay_ms(retries, 0, paused).is_some()
    }

    /// The delay before the next attempt, if this one earns one.
    fn retry_delay_ms(&self, retries: u32, backoff_ms: u64, paused: bool) -> Option<i64> {
        if paused || self.attempt >= MAX_ATTEMPTS {
            return None;
        }
        let within_budget = self.attempt <= retries;
        match self.status {
            RunStatus::Failed | RunStatus::TimedOut if within_budget => {
                let factor = 1u64 << self.attempt.saturating_sub(1).min(20);
                Some(backoff_ms.saturating_mul(factor).min(i64::MAX as u64) as i64)
            }
            RunStatus::Lost if within_budget || self.started_at.is_none() => Some(0),
            _ => None,
        }
    }

    /// The retry this finished attempt earns under `spec`, requested from `node`, if any:
    /// - `failed` or `timed_out` with retries left: after `retry_backoff` doubled per attempt
    ///   already made (capped at 2^20 ×), counted from when it finished;
    /// - `lost` with retries left: at once (its node went, or forgot it);
    /// - `lost` before it ever started (a request no node took before its node went): at
    ///   once, without using up a retry, up to [`MAX_ATTEMPTS`];
    /// - nothing else (succeeded, killed, skipped, missed), and nothing of a paused task.
    ///
    /// The retry's id is deterministic ([`attempt_id`]), so whoever asks for it — the report's
    /// center, a leader after a node loss, both — asks for the same run.
    pub fn retry(&self, spec: &TaskSpec, node: &str) -> Option<RunRecord> {
        let delay_ms = self.retry_delay_ms(spec.retries, spec.retry_backoff_ms, spec.paused)?;
        let why = match self.status {
            RunStatus::Lost if self.started_at.is_none() => {
                format!(
                    "request {} never started: its node ended before running it",
                    self.id
                )
            }
            status => format!("retry of {} ({status})", self.id),
        };
        let mut next = self.next_attempt(node, Some(why));
        if delay_ms > 0 {
            let from = self.finished_at.unwrap_or(self.scheduled_at);
            next.not_before = Some(
                from.checked_add(SignedDuration::from_millis(delay_ms))
                    .unwrap_or(Timestamp::MAX),
            );
        }
        Some(next)
    }

    /// This run ended as `status` at `at`, for `why`: a run that never started (skipped,
    /// missed) or one presumed gone (lost).
    pub fn ended(self, status: RunStatus, at: Timestamp, why: impl Into<String>) -> RunRecord {
        RunRecord {
            status,
            finished_at: Some(at),
            message: Some(why.into()),
            ..self
        }
    }
}

/// The id of a run: the same (task, instant, attempt) always gives the same id, so the claim,
/// the spool and the store all agree on it and a redelivered result is stored once.
pub fn run_id(task_id: &str, scheduled_at: Timestamp, attempt: u32, trigger: Trigger) -> String {
    let tag = if trigger == Trigger::Manual { "m" } else { "" };
    format!("{task_id}-{tag}{}-{attempt}", scheduled_at.as_millisecond())
}

/// The id of a manual run: unique per accepted start (`nonce` is the center's, random per
/// request), so two starts in the same millisecond are two runs.
pub fn manual_run_id(task_id: &str, at: Timestamp, nonce: &str) -> String {
    format!("{task_id}-m{}x{nonce}-1", at.as_millisecond())
}

/// No run goes past this many attempts, however often its requests are lost untaken: the
/// most `retries` allows (100) plus room for requests re-made after node losses.
pub const MAX_ATTEMPTS: u32 = 110;

/// The id of attempt `attempt` of the run `run` (an id of any of its attempts): a retry of a
/// scheduled run is `run_id(.., attempt, Retry)`, a retry of a manual run keeps its nonce.
pub fn attempt_id(run: &str, attempt: u32) -> String {
    let base = run.rsplit_once('-').map_or(run, |(base, _)| base);
    format!("{base}-{attempt}")
}

/// The scheduled instant a run id of `task_id` stands for; `None` for manual runs and ids of
/// other tasks.
pub fn scheduled_instant(task_id: &str, run: &str) -> Option<Timestamp> {
    let rest = run.strip_prefix(task_id)?.strip_prefix('-')?;
    let (ms, _attempt) = rest.split_once('-')?;
    Timestamp::from_millisecond(ms.parse().ok()?).ok()
}

/// A live agent as it registers itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub name: String,
    pub cluster: String,
    /// Base URL of its HTTP API, if it serves one.
    pub address: Option<String>,
    pub version: String,
    pub os: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Concurrent runs it accepts.
    pub capacity: u32,
    pub started_at: Timestamp,
    /// Version of the tz database it fires by (`2025b`): a node with older rules fires
    /// differently around a changed transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tzdata: Option<String>,
    /// The coordination session holding the membership (its id in hex), filled in by the
    /// backend when members are read, never written: claims name their session, and one no
    /// member holds any more belongs to a node that ended.
    #[serde(skip)]
    pub session: Option<String>,
}

/// The label (a node's name) and session id (hex) of a claim's owner tag, `<label>@<hex>`.
pub fn claim_owner(tag: &str) -> (&str, &str) {
    tag.rsplit_once('@').unwrap_or((tag, ""))
}

/// A field-level validation failure: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ValidationError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Checks a name (task, group, cluster, node): what shells, URLs and file names all accept.
pub fn validate_name(field: &str, name: &str) -> Result<(), ValidationError> {
    if name.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if name.len() > 63 {
        return Err(ValidationError::new(
            field,
            format!("{name:?} is longer than 63 characters"),
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(ValidationError::new(
            field,
            format!("{name:?} contains {c:?}; use letters, digits, '-', '_' and '.'"),
        ));
    }
    if name.starts_with('.') || name.starts_with('-') {
        return Err(ValidationError::new(
            field,
            format!("{name:?} must start with a letter, digit or '_'"),
        ));
    }
    Ok(())
}

impl TaskSpec {
    /// Validates every field and returns the parsed schedules, so callers never parse twice.
    pub fn validate(&self) -> Result<ScheduleSet, ValidationError> {
        validate_name("name", &self.name)?;
        validate_name("cluster", &self.cluster)?;
        validate_name("group", &self.group)?;
        if self.command.trim().is_empty() {
            return Err(ValidationError::new("command", "must not be empty"));
        }
        if self.command.len() > 64 * 1024 {
            return Err(ValidationError::new("command", "is longer than 64 KiB"));
        }
        if self.description.len() > 4096 {
            return Err(ValidationError::new(
                "description",
                "is longer than 4096 bytes",
            ));
        }
        if let Some(p) = &self.package {
            if p.sha256.len() != 64 || !p.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ValidationError::new(
                    "package.sha256",
                    format!("{:?} is not a sha256 hex digest", p.sha256),
                ));
            }
            if p.file_name.is_empty() || p.file_name.contains('/') {
                return Err(ValidationError::new(
                    "package.file_name",
                    format!("{:?} is not a plain file name", p.file_name),
                ));
            }
        }
        for key in self.env.keys() {
            if !valid_env_name(key) {
                return Err(ValidationError::new(
                    format!("env.{key}"),
                    "is not a valid variable name (letters, digits, '_', not starting with a digit)",
                ));
            }
            if key.starts_with("CLOUDTASK_") {
                return Err(ValidationError::new(
                    format!("env.{key}"),
                    "the CLOUDTASK_ prefix is reserved for variables the agent sets",
                ));
            }
        }
        for key in self.secret_env.keys() {
            let field = format!("secret_env.{key}");
            if !valid_env_name(key) || key.starts_with("CLOUDTASK_") {
                return Err(ValidationError::new(
                    field,
                    "is not a variable name a task may set (letters, digits, '_'; not CLOUDTASK_*)",
                ));
            }
            if self.env.contains_key(key) {
                return Err(ValidationError::new(
                    field,
                    "is also in env: an entry is secret or not, never both",
                ));
            }
        }
        let mut declared = std::collections::BTreeSet::new();
        for (i, p) in self.params.iter().enumerate() {
            let field = format!("params[{i}]");
            if !valid_env_name(&p.name) || p.name.starts_with("CLOUDTASK_") {
                return Err(ValidationError::new(
                    format!("{field}.name"),
                    format!(
                        "{:?} is not a variable name a start may set (letters, digits, '_'; not CLOUDTASK_*)",
                        p.name
                    ),
                ));
            }
            if looks_secret(&p.name) {
                return Err(ValidationError::new(
                    format!("{field}.name"),
                    format!(
                        "{:?} looks like a secret: parameters are recorded on the run in clear; put secrets in the task's env",
                        p.name
                    ),
                ));
            }
            if self.env.contains_key(&p.name) || self.secret_env.contains_key(&p.name) {
                return Err(ValidationError::new(
                    format!("{field}.name"),
                    format!(
                        "{:?} is also in the task's env, which a start may not override",
                        p.name
                    ),
                ));
            }
            if !declared.insert(p.name.as_str()) {
                return Err(ValidationError::new(
                    format!("{field}.name"),
                    format!("{:?} is declared twice", p.name),
                ));
            }
            if p.default
                .as_ref()
                .is_some_and(|d| d.len() > MAX_PARAM_BYTES)
            {
                return Err(ValidationError::new(
                    format!("{field}.default"),
                    format!("is longer than {MAX_PARAM_BYTES} bytes"),
                ));
            }
        }
        let tz = jiff::tz::TimeZone::get(&self.timezone).map_err(|_| {
            ValidationError::new(
                "timezone",
                format!("{:?} is not an IANA time zone name", self.timezone),
            )
        })?;
        let mut schedules = Vec::with_capacity(self.schedules.len());
        for (i, text) in self.schedules.iter().enumerate() {
            let s = Schedule::parse(text)
                .map_err(|e| ValidationError::new(format!("schedules[{i}]"), e.to_string()))?;
            schedules.push(s);
        }
        if let (Some(start), Some(end)) = (self.start_at, self.end_at)
            && start >= end
        {
            return Err(ValidationError::new(
                "end_at",
                format!("{end} is not after start_at {start}"),
            ));
        }
        if self.timeout_ms == Some(0) {
            return Err(ValidationError::new("timeout_ms", "must be positive"));
        }
        if self.keep_runs == Some(0) {
            return Err(ValidationError::new(
                "keep_runs",
                "must be at least 1 (the last run is what an operator looks at)",
            ));
        }
        if self.keep_runs_for_ms == Some(0) {
            return Err(ValidationError::new("keep_runs_for_ms", "must be positive"));
        }
        if let Some(user) = &self.run_as {
            validate_name("run_as", user)?;
        }
        self.alerts.validate()?;
        if self.retries > 100 {
            return Err(ValidationError::new("retries", "must be at most 100"));
        }
        for (i, node) in self.target_nodes.iter().enumerate() {
            validate_name(&format!("target_nodes[{i}]"), node)?;
        }
        if self.node_selector.keys().any(|k| k.trim().is_empty()) {
            return Err(ValidationError::new(
                "node_selector",
                "label names must not be empty",
            ));
        }
        Ok(ScheduleSet::new(schedules, tz, self.start_at, self.end_at))
    }
}

impl TaskSpec {
    /// The spec without its secret values (their fingerprints stay): what answers to users,
    /// events and the audit log carry.
    pub fn redacted(mut self) -> TaskSpec {
        for s in self.secret_env.values_mut() {
            s.value = None;
        }
        self
    }

    /// The spec fields whose values differ from `other`'s, secrets by entry
    /// (`secret_env.NAME`, told apart by fingerprint): what an audit row and `diff` name.
    pub fn changed_fields(&self, other: &TaskSpec) -> Vec<String> {
        let as_map = |s: &TaskSpec| match serde_json::to_value(s.clone().redacted()) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        let (a, b) = (as_map(self), as_map(other));
        let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        let mut out = Vec::new();
        for k in keys.into_iter().filter(|k| a.get(*k) != b.get(*k)) {
            if k == "secret_env" {
                let names: std::collections::BTreeSet<&String> = self
                    .secret_env
                    .keys()
                    .chain(other.secret_env.keys())
                    .collect();
                out.extend(
                    names
                        .into_iter()
                        .filter(|n| {
                            let fp = |s: &TaskSpec| {
                                s.secret_env
                                    .get(*n)
                                    .map(|x| (x.salt.clone(), x.sha256.clone()))
                            };
                            fp(self) != fp(other)
                        })
                        .map(|n| format!("secret_env.{n}")),
                );
            } else {
                out.push(k.clone());
            }
        }
        out
    }

    /// The schedules as listings show them: `on-demand` when there are none.
    pub fn schedule_text(&self) -> String {
        if self.schedules.is_empty() {
            "on-demand".to_string()
        } else {
            self.schedules.join(" | ")
        }
    }

    /// Checks what a start asks for against what the task declares, and gives the values a
    /// run gets: the start's, then the declared defaults. Names the offending parameter.
    pub fn resolve_start(
        &self,
        env: &BTreeMap<String, String>,
        args: &[String],
    ) -> Result<BTreeMap<String, String>, ValidationError> {
        for (k, v) in env {
            if !self.params.iter().any(|p| p.name == *k) {
                let declared: Vec<&str> = self.params.iter().map(|p| p.name.as_str()).collect();
                return Err(ValidationError::new(
                    format!("env.{k}"),
                    if declared.is_empty() {
                        format!("task {} declares no parameters", self.name)
                    } else {
                        format!(
                            "is not a parameter of task {}; it declares {}",
                            self.name,
                            declared.join(", ")
                        )
                    },
                ));
            }
            if v.len() > MAX_PARAM_BYTES || v.contains('\0') {
                return Err(ValidationError::new(
                    format!("env.{k}"),
                    format!("must be at most {MAX_PARAM_BYTES} bytes, without NUL"),
                ));
            }
        }
        if !args.is_empty() && !self.accepts_args {
            return Err(ValidationError::new(
                "args",
                format!(
                    "task {} does not accept arguments (accepts_args = false)",
                    self.name
                ),
            ));
        }
        if args.len() > MAX_START_ARGS {
            return Err(ValidationError::new(
                "args",
                format!("at most {MAX_START_ARGS} arguments"),
            ));
        }
        if let Some(i) = args
            .iter()
            .position(|a| a.len() > MAX_PARAM_BYTES || a.contains('\0'))
        {
            return Err(ValidationError::new(
                format!("args[{i}]"),
                format!("must be at most {MAX_PARAM_BYTES} bytes, without NUL"),
            ));
        }
        let mut values = env.clone();
        for p in &self.params {
            if let Some(d) = &p.default {
                values.entry(p.name.clone()).or_insert_with(|| d.clone());
            }
        }
        Ok(values)
    }

    /// [`TaskSpec::validate`], and refuses schedules that can never fire: an expression that
    /// names no real date (`0 0 30 2 *`), or a window that holds no fire time. What create,
    /// edit and `apply` check; a window that has merely ended passes.
    pub fn validate_fires(&self) -> Result<ScheduleSet, ValidationError> {
        let set = self.validate()?;
        if self.schedules.is_empty() {
            // On demand: it fires only when started.
            return Ok(set);
        }
        for (i, s) in set.schedules().iter().enumerate() {
            let alone = ScheduleSet::new(vec![s.clone()], set.time_zone().clone(), None, None);
            if alone.first_fire().is_none() {
                return Err(ValidationError::new(
                    format!("schedules[{i}]"),
                    format!(
                        "{:?} names no time that exists: it can never fire",
                        s.to_string()
                    ),
                ));
            }
        }
        if set.first_fire().is_none() {
            let bound = |t: Option<Timestamp>| t.map_or("-".to_string(), |t| t.to_string());
            return Err(ValidationError::new(
                "end_at",
                format!(
                    "no fire time falls in the window {}..{}: the task could never fire",
                    bound(self.start_at),
                    bound(self.end_at)
                ),
            ));
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn spec() -> TaskSpec {
        serde_json::from_value(serde_json::json!({
            "name": "backup",
            "command": "echo hi",
            "schedules": ["*/5 * * * *"],
        }))
        .expect("minimal spec parses")
    }

    #[test]
    fn a_secret_comes_as_a_value_or_a_fingerprint_and_is_never_debug_printed_or_redacted_kept() {
        let mut s: TaskSpec = serde_json::from_value(serde_json::json!({
            "name": "db", "command": "true",
            "secret_env": {
                "DB_PASSWORD": "hunter2",
                "API_KEY": {"salt": "ab", "sha256": Secret::fingerprint("ab", "k")},
            },
        }))
        .unwrap();
        assert!(s.validate().is_ok());
        let pw = &s.secret_env["DB_PASSWORD"];
        assert_eq!(pw.value.as_deref(), Some("hunter2"));
        assert!(!pw.is_sealed(), "the center seals it");
        let key = &s.secret_env["API_KEY"];
        assert!(key.value.is_none() && key.matches("k") && !key.matches("x"));
        assert!(!format!("{s:?}").contains("hunter2"));
        let sealed = Secret {
            salt: "00".into(),
            sha256: Secret::fingerprint("00", "hunter2"),
            ..pw.clone()
        };
        assert!(sealed.is_sealed());
        s.secret_env.insert("DB_PASSWORD".into(), sealed);
        let shown = serde_json::to_string(&s.clone().redacted()).unwrap();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains(&Secret::fingerprint("00", "hunter2")));
        // An entry is secret or not; a secret is no start parameter either.
        s.env.insert("DB_PASSWORD".into(), "x".into());
        assert_eq!(s.validate().unwrap_err().field, "secret_env.DB_PASSWORD");
        s.env.clear();
        s.secret_env
            .insert("CLOUDTASK_X".into(), Secret::new("v".into()));
        assert_eq!(s.validate().unwrap_err().field, "secret_env.CLOUDTASK_X");
    }

    #[test]
    fn minimal_spec_gets_defaults() {
        let s = spec();
        assert_eq!(s.cluster, "default");
        assert_eq!(s.timezone, "UTC");
        assert_eq!(s.concurrency, Concurrency::Forbid);
        assert_eq!(s.misfire, Misfire::RunOnce);
        assert!(s.validate().is_ok());
    }

    #[test]
    fn validation_names_the_field() {
        let mut s = spec();
        s.schedules = vec!["* * * * *".into(), "61 * * * *".into()];
        let err = s.validate().unwrap_err();
        assert_eq!(err.field, "schedules[1]");

        let mut s = spec();
        s.timezone = "Mars/Olympus".into();
        assert_eq!(s.validate().unwrap_err().field, "timezone");

        let mut s = spec();
        s.name = "bad name".into();
        let err = s.validate().unwrap_err();
        assert_eq!(err.field, "name");
        assert!(err.message.contains("' '"), "{err}");

        let mut s = spec();
        s.env.insert("CLOUDTASK_X".into(), "1".into());
        assert_eq!(s.validate().unwrap_err().field, "env.CLOUDTASK_X");

        // No schedule is an on-demand task, not an error.
        let mut s = spec();
        s.schedules.clear();
        assert!(s.validate_fires().is_ok());

        let mut s = spec();
        s.params = vec![
            Param {
                name: "VERSION".into(),
                default: None,
                description: String::new(),
            },
            Param {
                name: "VERSION".into(),
                default: None,
                description: String::new(),
            },
        ];
        assert_eq!(s.validate().unwrap_err().field, "params[1].name");
        s.params[1].name = "API_TOKEN".into();
        assert!(
            s.validate()
                .unwrap_err()
                .message
                .contains("looks like a secret")
        );
        s.params[1].name = "1X".into();
        assert_eq!(s.validate().unwrap_err().field, "params[1].name");
    }

    #[test]
    fn a_start_gets_its_values_then_the_declared_defaults() {
        let mut s = spec();
        s.params = vec![
            Param {
                name: "VERSION".into(),
                default: None,
                description: String::new(),
            },
            Param {
                name: "TARGET".into(),
                default: Some("staging".into()),
                description: String::new(),
            },
        ];
        let given: BTreeMap<String, String> = [("VERSION".to_string(), "2".to_string())].into();
        let values = s.resolve_start(&given, &[]).unwrap();
        assert_eq!(values["VERSION"], "2");
        assert_eq!(values["TARGET"], "staging");
        let other: BTreeMap<String, String> = [("DEBUG".to_string(), "1".to_string())].into();
        assert_eq!(s.resolve_start(&other, &[]).unwrap_err().field, "env.DEBUG");
        let err = s.resolve_start(&given, &["x".into()]).unwrap_err();
        assert_eq!(err.field, "args");
        s.accepts_args = true;
        assert!(s.resolve_start(&given, &["x".into()]).is_ok());
        let many = vec!["a".to_string(); MAX_START_ARGS + 1];
        assert_eq!(s.resolve_start(&given, &many).unwrap_err().field, "args");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_value::<TaskSpec>(serde_json::json!({
            "name": "a", "command": "x", "schedules": ["@daily"], "comand": "typo"
        }))
        .unwrap_err();
        assert!(err.to_string().contains("comand"), "{err}");
    }

    #[test]
    fn run_ids_are_deterministic_and_distinct() {
        let t = Timestamp::from_second(1_700_000_000).unwrap();
        assert_eq!(
            run_id("t1", t, 1, Trigger::Schedule),
            run_id("t1", t, 1, Trigger::Schedule)
        );
        assert_ne!(
            run_id("t1", t, 1, Trigger::Schedule),
            run_id("t1", t, 2, Trigger::Retry)
        );
        assert_ne!(
            run_id("t1", t, 1, Trigger::Schedule),
            run_id("t1", t, 1, Trigger::Manual)
        );
        let back = |trigger| scheduled_instant("t1", &run_id("t1", t, 3, trigger));
        assert_eq!(back(Trigger::Schedule), Some(t));
        assert_eq!(back(Trigger::Retry), Some(t));
        assert_eq!(back(Trigger::Manual), None);
        assert_eq!(
            scheduled_instant("t2", &run_id("t1", t, 1, Trigger::Schedule)),
            None
        );
        // Manual runs: one id per start, even in the same millisecond; retries keep the nonce.
        let a = manual_run_id("t1", t, "00aa");
        assert_ne!(a, manual_run_id("t1", t, "00ab"));
        assert_eq!(scheduled_instant("t1", &a), None);
        assert_eq!(
            attempt_id(&a, 2),
            format!("t1-m{}x00aa-2", t.as_millisecond())
        );
        assert_eq!(
            attempt_id(&run_id("t1", t, 1, Trigger::Schedule), 3),
            run_id("t1", t, 3, Trigger::Retry)
        );
    }

    #[test]
    fn retries_back_off_doubling_until_they_run_out_and_lost_requests_are_made_again() {
        let t = Timestamp::from_second(1_000).unwrap();
        let task = |retries: u32, backoff_ms: u64, paused: bool| -> TaskSpec {
            serde_json::from_value(serde_json::json!({
                "name": "t", "command": "true", "retries": retries,
                "retry_backoff_ms": backoff_ms, "paused": paused,
            }))
            .unwrap()
        };
        let finished = |status: RunStatus, attempt: u32, started: bool| RunRecord {
            id: attempt_id("t-1000000-1", attempt),
            task: "t".into(),
            task_name: "t".into(),
            scheduled_at: t,
            started_at: started.then_some(t),
            finished_at: Some(t),
            status,
            exit_code: None,
            node: "n1".into(),
            attempt,
            trigger: Trigger::Schedule,
            message: None,
            params: Default::default(),
            args: Vec::new(),
            not_before: None,
            requested_by: None,
        };
        let s = task(3, 1_000, false);
        let after = |status, attempt| {
            finished(status, attempt, true)
                .retry(&s, "n2")
                .map(|r| r.not_before.map(|nb| nb.duration_since(t)))
        };
        let secs = |n| Some(Some(SignedDuration::from_secs(n)));
        assert_eq!(after(RunStatus::Failed, 1), secs(1));
        assert_eq!(after(RunStatus::TimedOut, 2), secs(2));
        assert_eq!(after(RunStatus::Failed, 3), secs(4));
        assert_eq!(
            after(RunStatus::Failed, 4),
            None,
            "three retries, then no more"
        );
        assert_eq!(
            after(RunStatus::Lost, 1),
            Some(None),
            "a lost attempt goes again at once"
        );
        assert_eq!(after(RunStatus::Lost, 4), None, "…while retries are left");
        for status in [
            RunStatus::Succeeded,
            RunStatus::Killed,
            RunStatus::Skipped,
            RunStatus::Missed,
        ] {
            assert_eq!(after(status, 1), None, "{status:?} is not retried");
        }
        let next = finished(RunStatus::Failed, 1, true)
            .retry(&s, "n2")
            .unwrap();
        assert_eq!(
            (
                next.id.as_str(),
                next.attempt,
                next.node.as_str(),
                next.status
            ),
            ("t-1000000-2", 2, "n2", RunStatus::Scheduled)
        );
        // A request no node took before its node went is made again without using a retry.
        let none = task(0, 1_000, false);
        let untaken = finished(RunStatus::Lost, 1, false)
            .retry(&none, "n2")
            .unwrap();
        assert_eq!((untaken.attempt, untaken.not_before), (2, None));
        assert!(
            finished(RunStatus::Lost, 1, true)
                .retry(&none, "n2")
                .is_none()
        );
        assert!(
            finished(RunStatus::Lost, MAX_ATTEMPTS, false)
                .retry(&none, "n2")
                .is_none()
        );
        assert!(
            finished(RunStatus::Failed, 1, true)
                .retry(&task(3, 1_000, true), "n2")
                .is_none(),
            "a paused task is not retried"
        );
        let huge = task(100, u64::MAX, false);
        assert_eq!(
            finished(RunStatus::Failed, 90, true)
                .retry(&huge, "n2")
                .and_then(|r| r.not_before),
            Some(Timestamp::MAX),
            "saturates instead of overflowing"
        );
    }

    #[test]
    fn a_next_attempt_keeps_instant_parameters_and_arguments_and_starts_afresh() {
        let t = Timestamp::from_second(1_700_000_000).unwrap();
        let task = Task {
            id: "t1".into(),
            spec: spec(),
            version: 1,
            created_by: "a".into(),
            created_at: t,
            updated_by: "a".into(),
            updated_at: t,
        };
        let first = RunRecord {
            params: [("K".to_string(), "v".to_string())].into(),
            args: vec!["x".into()],
            ..RunRecord::scheduled(
                &task,
                manual_run_id("t1", t, "ab"),
                t,
                "n1",
                1,
                Trigger::Manual,
            )
        };
        assert_eq!(
            (first.status, first.task_name.as_str()),
            (RunStatus::Scheduled, task.spec.name.as_str())
        );
        let failed = RunRecord {
            started_at: Some(t),
            exit_code: Some(3),
            ..first.clone()
        }
        .ended(RunStatus::Failed, t, "exit 3");
        assert_eq!(
            (failed.finished_at, failed.message.as_deref()),
            (Some(t), Some("exit 3"))
        );
        let next = failed.next_attempt("n2", None);
        assert_eq!(next.id, attempt_id(&first.id, 2));
        assert_eq!(
            (next.attempt, next.trigger, next.status),
            (2, Trigger::Retry, RunStatus::Scheduled)
        );
        assert_eq!(
            (next.scheduled_at, &next.params, &next.args),
            (t, &first.params, &first.args)
        );
        assert_eq!(
            (
                next.started_at,
                next.finished_at,
                next.exit_code,
                next.node.as_str()
            ),
            (None, None, None, "n2")
        );
    }

    #[test]
    fn schedules_that_can_never_fire_are_refused_but_an_ended_window_is_not() {
        let mut s = spec();
        s.schedules = vec!["*/5 * * * *".into(), "0 0 30 2 *".into()];
        let err = s.validate_fires().unwrap_err();
        assert_eq!(err.field, "schedules[1]");
        assert!(err.message.contains("can never fire"), "{err}");
        // The plain check still passes: a stored task like this is listed, not lost.
        assert!(s.validate().is_ok());

        let mut s = spec();
        s.schedules = vec!["0 0 29 2 *".into()];
        s.start_at = Some("2027-03-01T00:00:00Z".parse().unwrap());
        s.end_at = Some("2027-12-31T00:00:00Z".parse().unwrap());
        let err = s.validate_fires().unwrap_err();
        assert_eq!(err.field, "end_at");
        assert!(
            err.message.contains("no fire time falls in the window"),
            "{err}"
        );

        // Last year's window held fire times: it has ended, it is not refused.
        s.schedules = vec!["@daily".into()];
        s.start_at = Some("2025-01-01T00:00:00Z".parse().unwrap());
        s.end_at = Some("2025-02-01T00:00:00Z".parse().unwrap());
        let set = s.validate_fires().expect("an ended window is accepted");
        assert!(set.next_after(Timestamp::now()).is_none());
        assert!(set.first_fire().is_some());
    }
}
