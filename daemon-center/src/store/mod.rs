//! The center's durable store behind a backend-neutral interface, one trait per concept:
//! [`TaskStore`] (tasks, their name index, clusters and groups), [`RunStore`] (runs and their
//! logs, manual starts), [`PackageStore`], [`TokenStore`] (bearer tokens and the
//! rate limit's counters), [`UserStore`], [`AuditStore`], [`OutboxStore`],
//! [`PlacementStore`] (who held which task when), [`RetentionStore`] (what may be deleted, in
//! small batches), [`AlertStore`] (incidents and the messages announcing them) and
//! [`EpochStore`] (the leader's fence); migrations are each backend's own business, run by
//! its `open`.
//!
//! Every write takes the [`Effects`] that must commit with it — its audit row and the
//! messages for the outbox — and commits them in the same transaction, so a write is either
//! whole (row, index, history, audit, outbox) or absent. The service layer decides the
//! effects; the store only keeps them together.
//!
//! [`sql`] holds the backends (SQLite, PostgreSQL); [`suite`] holds the promises every backend keeps, one
//! test per promise.

pub mod sql;
#[cfg(test)]
pub mod suite;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use std::time::Duration;

pub use cloudtask_shared::api::{AuditEntry, AuditFilter};
use cloudtask_shared::api::{Event, Grant, Incident, MessageView, PackageInfo, Silence};
use cloudtask_shared::{Channel, RunRecord, RunStatus, Task};
use jiff::Timestamp;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("store: {0}")]
    Backend(String),
    /// The disk under the store is full: the write was not made.
    #[error("store: the disk is full ({0})")]
    Full(String),
    #[error("store holds data it cannot read ({what}): {message}")]
    Corrupt { what: String, message: String },
    /// A task, group or cluster name that is taken.
    #[error("{0}")]
    NameTaken(String),
    /// An update based on a version that is no longer the stored one.
    #[error("{0}")]
    StaleVersion(String),
    /// A write that needs rows another write removed meanwhile: try it again.
    #[error("{0}")]
    Incomplete(String),
    /// A leader-only write of a leader another center has replaced since: not made.
    #[error("{0}")]
    Deposed(String),
    /// A group or cluster that still has tasks.
    #[error("{0}")]
    InUse(String),
    /// The database cannot be reached (down, restarting, a broken connection).
    #[error("store unreachable: {0}")]
    Unavailable(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// The store every center part holds: one object, all concepts.
pub type SharedStore = Arc<dyn Store>;

/// What commits together with a write: its audit row, and the events the outbox delivers
/// once the transaction has committed (to event followers and agents).
#[derive(Debug, Clone, Default)]
pub struct Effects {
    pub audit: Option<AuditEntry>,
    pub events: Vec<Event>,
    /// Runs this write requests (the retries a report or a node loss earns): each is stored
    /// with it unless it exists already, and only a new one is announced (`RunChanged`) and
    /// sent to its node (`RunRequested`), after `events`.
    pub requests: Vec<Request>,
    /// A leader-only write's epoch ([`EpochStore`]): the write commits only while it is still
    /// the store's ([`Error::Deposed`] otherwise, and nothing is written).
    pub fence: Option<u64>,
}

/// Which tasks a page of the task list holds: what the store filters on, and where the page
/// starts (after the `(group, name)` the previous page ended with).
#[derive(Debug, Clone, Default)]
pub struct TaskPage {
    pub cluster: Option<String>,
    pub group: Option<String>,
    pub name_prefix: Option<String>,
    pub after: Option<(String, String)>,
    pub limit: u32,
}

/// A run to request from its node, with the task version it must run at least.
#[derive(Debug, Clone)]
pub struct Request {
    pub run: RunRecord,
    pub task_version: u64,
}

impl Request {
    /// The events that announce the run and ask its node for it.
    pub fn events(&self) -> [Event; 2] {
        [
            Event::RunChanged {
                run: Box::new(self.run.clone()),
            },
            Event::RunRequested {
                task: self.run.task.clone(),
                node: self.run.node.clone(),
                task_version: self.task_version,
                run: Box::new(self.run.clone()),
            },
        ]
    }
}

impl Effects {
    /// Effects that only deliver events (writes nobody asked for: reports, the allocator's).
    pub fn events(events: Vec<Event>) -> Effects {
        Effects {
            audit: None,
            events,
            requests: Vec::new(),
            fence: None,
        }
    }
}

/// Decides the effects of a write whose outcome is known only inside the transaction (which
/// run reports moved a run forward): called once, with the runs the write changed.
pub type EffectsOf<'a> = &'a (dyn Fn(&[&RunRecord]) -> Effects + Sync);

/// One outbox row: events committed together, in commit order (`seq` only grows).
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub seq: i64,
    /// When it was committed.
    pub created_at: Timestamp,
    pub events: Vec<Event>,
}

/// Filters of a run listing.
#[derive(Debug, Default, Clone)]
pub struct RunFilter {
    pub task: Option<String>,
    /// Only runs of tasks in these groups (`None`: of every group).
    pub groups: Option<Vec<String>>,
    pub statuses: Vec<RunStatus>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub limit: u32,
}

/// What an applied run report changed.
#[derive(Debug, PartialEq, Eq)]
pub enum RunWrite {
    /// The record moved forward (or was new).
    Applied,
    /// A stale or repeated report: nothing changed.
    Ignored,
}

/// The two plain name tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameTable {
    Clusters,
    Groups,
}

/// Tasks, with the name index (unique per group) and the clusters and groups they name.
#[async_trait]
pub trait TaskStore: Send + Sync {
    /// Stores a new task; registers its cluster and group, and records `package` in its
    /// history. [`Error::NameTaken`] when its group has a task of that name.
    async fn create_task(
        &self,
        task: &Task,
        package: Option<&PackageInfo>,
        fx: &Effects,
    ) -> Result<()>;
    /// Saves `task` if the stored version is still `task.version - 1`
    /// ([`Error::StaleVersion`] otherwise); as [`TaskStore::create_task`] for the rest.
    async fn update_task(
        &self,
        task: &Task,
        package: Option<&PackageInfo>,
        fx: &Effects,
    ) -> Result<()>;
    /// Deletes a task with its runs, logs and package history; false when there was none.
    async fn delete_task(&self, id: &str, fx: &Effects) -> Result<bool>;
    async fn task(&self, id: &str) -> Result<Option<Task>>;
    /// Tasks with this name, in one group or in all.
    async fn tasks_named(&self, name: &str, group: Option<&str>) -> Result<Vec<Task>>;
    /// Every task, by group and name.
    async fn tasks(&self) -> Result<Vec<Task>>;
    /// One page of tasks by group and name, filtered on the `(grp, name)` index.
    async fn task_page(&self, q: &TaskPage) -> Result<Vec<Task>>;
    /// Which of these task ids exist (the report path uses it: no spec decoding).
    async fn existing_tasks(&self, ids: &[&str]) -> Result<HashSet<String>>;
    /// A cheap summary that changes whenever a task is created, edited or deleted, so a
    /// center sharing the store with another notices their changes.
    async fn tasks_fingerprint(&self) -> Result<(i64, i64, i64)>;
    async fn task_counts_by_cluster(&self) -> Result<Vec<(String, i64)>>;
    /// Names and descriptions, by name.
    async fn names(&self, table: NameTable) -> Result<Vec<(String, String)>>;
    /// Creates a cluster or group; false (and no effects) when it already exists.
    async fn add_name(
        &self,
        table: NameTable,
        name: &str,
        description: &str,
        fx: &Effects,
    ) -> Result<bool>;
    /// Removes a cluster or group: [`Error::InUse`] while tasks name it; false when absent.
    async fn remove_name(&self, table: NameTable, name: &str, fx: &Effects) -> Result<bool>;
}

/// Runs and their logs. A run only moves forward (scheduled → running → terminal), a terminal
/// run never changes, and the first log stored is kept: reports may come twice, late or out
/// of order. A report of a run retention deleted, or older than one it deleted, is ignored.
#[async_trait]
pub trait RunStore: Send + Sync {
    /// Stores a batch of reports in one transaction; within it, a run's reports reduce to
    /// what applying them in order would leave. `fx` gets the runs that moved.
    async fn put_runs(
        &self,
        reports: &[(&RunRecord, Option<&str>)],
        fx: EffectsOf<'_>,
    ) -> Result<Vec<RunWrite>>;
    /// Stores a requested run (a manual start, a retry) with its effects, unless it already
    /// exists or `key` was used for this task since `since`: then nothing is written and
    /// the earlier run is returned. The key and the run commit together.
    async fn request_run(
        &self,
        run: &RunRecord,
        key: Option<&str>,
        since: Timestamp,
        fx: &Effects,
    ) -> Result<Option<RunRecord>>;
    /// The run an idempotency key of `task` created since `since`, if any.
    async fn start_key(&self, task: &str, key: &str, since: Timestamp)
    -> Result<Option<RunRecord>>;
    async fn run(&self, id: &str) -> Result<Option<RunRecord>>;
    /// The status and node of each of these runs the store has (absent ones are not in the
    /// map).
    async fn run_statuses(&self, ids: &[&str]) -> Result<HashMap<String, (RunStatus, String)>>;
    async fn run_log(&self, id: &str) -> Result<Option<String>>;
    /// Runs newest first.
    async fn runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>>;
    /// Runs not finished yet ([`RunStatus::ACTIVE`]), optionally of one task.
    async fn active_runs(&self, task: Option<&str>) -> Result<Vec<RunRecord>>;
    /// Runs not finished yet that the store has on `node`.
    async fn active_runs_on(&self, node: &str) -> Result<Vec<RunRecord>>;
    /// Moves requests not taken yet (`scheduled` on `from`) to `to`, each `(id, from, to)`,
    /// in one transaction with `fx` of the moved runs: a request follows its task to the
    /// task's new node. One taken or moved meanwhile stays as it is.
    async fn move_requests(
        &self,
        moves: &[(&str, &str, &str)],
        fx: EffectsOf<'_>,
    ) -> Result<Vec<RunRecord>>;
    /// Marks the running runs of a node that left `lost` at `at`, in one transaction with
    /// `fx` of them; a real outcome reported later still replaces `lost`. Its requests not
    /// taken yet (`scheduled`) stay: they move to their tasks' new nodes
    /// ([`RunStore::move_requests`]).
    async fn mark_node_runs_lost(
        &self,
        node: &str,
        why: &str,
        at: Timestamp,
        fx: EffectsOf<'_>,
    ) -> Result<Vec<RunRecord>>;
    /// Marks `lost` at `at` the runs the store has `running` on `node`, started before
    /// `started_before`, that are not in `known` (the node's own statement of its active
    /// runs), in one transaction with `fx` of them.
    async fn mark_orphans_lost(
        &self,
        node: &str,
        known: &[String],
        started_before: Timestamp,
        why: &str,
        at: Timestamp,
        fx: EffectsOf<'_>,
    ) -> Result<Vec<RunRecord>>;
}

/// The size of a package chunk: a package's bytes are stored as chunks `0, 1, …` of this many
/// bytes (the last one shorter), so that no statement carries a whole package and uploads and
/// downloads stream.
pub const PACKAGE_CHUNK: usize = 1 << 20;

/// Uploaded packages, addressed by sha256, their bytes in the store (so every center sharing
/// it serves every package).
#[async_trait]
pub trait PackageStore: Send + Sync {
    /// Stores chunk `n` of an upload's bytes, in a write of its own (an upload never holds the
    /// writer for long); a chunk already there only has its age refreshed, so that retention
    /// does not collect it under a repeat upload.
    async fn put_package_chunk(&self, sha256: &str, n: u32, data: &[u8]) -> Result<()>;
    /// Records an uploaded package once its chunks are all stored ([`Error::Incomplete`]
    /// otherwise); a repeat upload of the same bytes only refreshes its age.
    async fn add_package(&self, sha256: &str, size: u64, fx: &Effects) -> Result<()>;
    async fn package_exists(&self, sha256: &str) -> Result<bool>;
    /// A recorded package's size.
    async fn package_size(&self, sha256: &str) -> Result<Option<u64>>;
    /// Chunk `n` of a recorded package's bytes.
    async fn package_chunk(&self, sha256: &str, n: u32) -> Result<Option<Vec<u8>>>;
    /// A task's packages, newest first.
    async fn task_packages(&self, task_id: &str) -> Result<Vec<PackageInfo>>;
    /// The groups of the tasks whose history names this package (who may download it).
    async fn package_groups(&self, sha256: &str) -> Result<Vec<String>>;
}

/// What a bearer token stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// The first admin's token, written to `admin.token` on first start; no expiry.
    Bootstrap,
    /// A user's login, with an expiry.
    Session,
    /// A named token a user made for scripts, scoped within the user's rights, with an expiry.
    Api,
    /// An admin's join token: lets agents join (of its cluster, if it names one) and get
    /// their node credentials; nothing else.
    Join,
    /// A node's credential, bound to its name (`name`) and its cluster.
    Node,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Bootstrap => "bootstrap",
            TokenKind::Session => "session",
            TokenKind::Api => "api",
            TokenKind::Join => "join",
            TokenKind::Node => "node",
        }
    }

    pub fn parse(s: &str) -> Option<TokenKind> {
        [
            TokenKind::Bootstrap,
            TokenKind::Session,
            TokenKind::Api,
            TokenKind::Join,
            TokenKind::Node,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A bearer token as stored: only its SHA-256, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub hash: String,
    pub name: String,
    pub kind: TokenKind,
    /// The user it acts for (sessions and API tokens).
    pub user: Option<String>,
    /// An API token's rights, each within its user's; `None`: all of the user's.
    pub scope: Option<Vec<Grant>>,
    /// A node credential's cluster; the one cluster a join token admits (`None`: any).
    pub cluster: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub last_used_from: Option<String>,
}

/// A user account: its Argon2id hash (PHC string) and its grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub name: String,
    pub password_hash: String,
    pub grants: Vec<Grant>,
    pub created_at: Timestamp,
    pub created_by: String,
    /// Where alerts naming `user:NAME` go.
    pub email: Option<String>,
}

/// Bearer tokens (kept only as hashes) and the failed attempts the rate limit counts, in the
/// store so that every center sharing it sees the same revocations and counters.
#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn token(&self, hash: &str) -> Result<Option<TokenRow>>;
    /// Tokens of one kind (all kinds when `None`), of one user or of all.
    async fn tokens(&self, kind: Option<TokenKind>, user: Option<&str>) -> Result<Vec<TokenRow>>;
    /// [`Error::NameTaken`] when the user has an API token of that name, a join token has
    /// that name, or the node of that name and cluster has a credential.
    async fn add_token(&self, token: &TokenRow, fx: &Effects) -> Result<()>;
    /// Deletes a token; false (and no effects) when there was none.
    async fn delete_token(&self, hash: &str, fx: &Effects) -> Result<bool>;
    /// Records when and from where tokens were last used (batched by the caller).
    async fn touch_tokens(&self, uses: &[(String, Timestamp, String)]) -> Result<()>;
    /// Deletes tokens that expired before `before`, and failure counters whose window began a
    /// day before that; returns how many tokens went.
    async fn prune_tokens(&self, before: Timestamp) -> Result<u64>;
    /// Counts a failure against each key (a window starts at the first failure after the
    /// last window ended) and returns each key's count in its window.
    async fn note_failures(
        &self,
        keys: &[&str],
        now: Timestamp,
        window: Duration,
    ) -> Result<Vec<u32>>;
    /// Each key's failures in a window still open at `now`.
    async fn failures(&self, keys: &[&str], now: Timestamp, window: Duration) -> Result<Vec<u32>>;
    /// Forgets a key's failures (a login that succeeded).
    async fn clear_failures(&self, key: &str) -> Result<()>;
}

/// User accounts and their grants.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Every user, by name.
    async fn users(&self) -> Result<Vec<UserRow>>;
    async fn user(&self, name: &str) -> Result<Option<UserRow>>;
    /// [`Error::NameTaken`] when the name is taken.
    async fn create_user(&self, user: &UserRow, fx: &Effects) -> Result<()>;
    /// Sets the hash and deletes the user's sessions (API tokens stay); false when absent.
    async fn set_password(&self, name: &str, password_hash: &str, fx: &Effects) -> Result<bool>;
    /// Sets (or clears) the user's e-mail address; false when absent.
    async fn set_email(&self, name: &str, email: Option<&str>, fx: &Effects) -> Result<bool>;
    /// Replaces the user's grants; false when absent.
    async fn set_grants(&self, name: &str, grants: &[Grant], fx: &Effects) -> Result<bool>;
    /// Deletes the user with its grants and tokens; false when absent.
    async fn delete_user(&self, name: &str, fx: &Effects) -> Result<bool>;
}

/// The audit log, written only as an effect of the write it describes.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// The entries the filter selects, newest first, at most its limit.
    async fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>>;
}

/// The transactional outbox: events written with the writes that caused them, read back in
/// commit order by each center's dispatcher, which remembers how far it has delivered.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Commits effects alone: an operation whose only rows are its audit row and its events
    /// (a stop request).
    async fn commit_effects(&self, fx: &Effects) -> Result<()>;
    /// Rows after `seq`, oldest first, at most `limit`.
    async fn outbox_after(&self, seq: i64, limit: u32) -> Result<Vec<OutboxRow>>;
    /// The highest `seq` written (0 when none ever was).
    async fn outbox_head(&self) -> Result<i64>;
    /// How far `center` has delivered, if it ever did.
    async fn outbox_cursor(&self, center: &str) -> Result<Option<i64>>;
    async fn save_outbox_cursor(&self, center: &str, seq: i64) -> Result<()>;
    /// Deletes the rows every center that saved its cursor since `live_since` has delivered,
    /// and every row written before `before` whoever has not; the newest row always stays,
    /// so `seq` never goes back. Returns how many went.
    async fn prune_outbox(&self, live_since: Timestamp, before: Timestamp) -> Result<u64>;
}

/// One task on one node of a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Placement {
    pub task: String,
    pub node: String,
    pub cluster: String,
}

/// Where each task was placed, and since and until when: what the center checks a node's
/// reports and reads against (claims in the coordination engine are pruned; this history is
/// kept for as long as the audit log).
#[async_trait]
pub trait PlacementStore: Send + Sync {
    /// The placements not closed yet.
    async fn current_placements(&self) -> Result<Vec<Placement>>;
    /// Opens `open` (unless open already) and closes `close` at `at`, in one transaction, if
    /// `fence` is still the leader's epoch ([`Error::Deposed`] otherwise).
    async fn record_placements(
        &self,
        open: &[Placement],
        close: &[Placement],
        at: Timestamp,
        fence: u64,
    ) -> Result<()>;
    /// For each placement, whether it was open at some time in `[from, to]`.
    async fn held(&self, checks: &[(Placement, Timestamp)], to: Timestamp) -> Result<Vec<bool>>;
    /// Whether the placement is open now.
    async fn holds(&self, p: &Placement) -> Result<bool>;
    /// Whether a task placed on this node now has had this package.
    async fn holds_package(&self, node: &str, cluster: &str, sha256: &str) -> Result<bool>;
}

/// Deletes what retention lets go, a bounded batch per call, so that no delete holds the
/// writer long: the caller loops while a call deleted a full batch.
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Deletes, with their logs, up to `limit` finished runs of `task` (oldest first) that
    /// fall outside its newest `keep` (runs of the `keep`-th newest instant all stay) or were
    /// scheduled before `before`; active runs always stay. The
    /// newest instant deleted is remembered, so that a late report of a deleted run (or of an
    /// older one) is not stored again. Returns how many went.
    async fn prune_runs(&self, task: &str, keep: u32, before: Timestamp, limit: u32)
    -> Result<u64>;
    /// Deletes up to `limit` audit rows written before `before`.
    async fn prune_audit(&self, before: Timestamp, limit: u32) -> Result<u64>;
    /// Deletes up to `limit` placements closed before `before`.
    async fn prune_placements(&self, before: Timestamp, limit: u32) -> Result<u64>;
    /// Trims every task's package history to its newest `keep` entries (a task's current
    /// package is its newest: giving a task a package, even an older one, records it anew).
    /// Returns how many entries went.
    async fn trim_package_histories(&self, keep: u32) -> Result<u64>;
    /// Deletes up to `limit` packages recorded before `before` that no task's history names,
    /// and returns their sha256s; their chunks go with [`RetentionStore::collect_chunks`].
    async fn collect_packages(&self, before: Timestamp, limit: u32) -> Result<Vec<String>>;
    /// Deletes up to `limit` chunks no package is recorded for, stored before `before`: those
    /// of collected packages, and of uploads that never finished. Returns how many went.
    async fn collect_chunks(&self, before: Timestamp, limit: u32) -> Result<u64>;
}

/// A message to one recipient, as queued: rendered when its incident was noticed, so that a
/// retry or another leader sends the same words under the same id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Stable: the e-mail's `Message-ID`, the webhook's `webhook-id`.
    pub id: String,
    pub channel: Channel,
    pub to: String,
    pub subject: String,
    /// Plain text for e-mail; the JSON payload for a webhook.
    pub body: String,
    pub incident: Option<String>,
    pub created_at: Timestamp,
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
}

impl Message {
    /// A message not tried yet, due at `now`.
    pub fn new(
        id: String,
        channel: Channel,
        to: &str,
        subject: String,
        body: String,
        incident: Option<String>,
        now: Timestamp,
    ) -> Message {
        Message {
            id,
            channel,
            to: to.to_string(),
            subject,
            body,
            incident,
            created_at: now,
            attempts: 0,
            next_attempt_at: now,
        }
    }
}

/// What the noticer decided from a stretch of the outbox, committed in one transaction with
/// the move of the alert cursor from `from` to `to` — refused whole when another center
/// moved the cursor first, so that an event is noticed once however leadership changes.
#[derive(Debug, Clone, Default)]
pub struct Noticed {
    /// Where the cursor must still be (`None`: never saved).
    pub from: Option<i64>,
    pub to: i64,
    /// Written whole, by id, except who acknowledged them (that is the API's).
    pub incidents: Vec<Incident>,
    pub messages: Vec<Message>,
}

/// How one channel's messages stand, counted in the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelCounts {
    pub queued: u64,
    pub retrying: u64,
    pub dead: u64,
    pub delivered: u64,
    pub last_delivered_at: Option<Timestamp>,
    pub last_error: Option<(String, Timestamp)>,
}

/// Which incidents a listing selects, newest first.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    /// Only open ones.
    pub open: bool,
    pub subject: Option<String>,
    /// Only incidents of tasks in these groups (`None`: every group).
    pub groups: Option<Vec<String>>,
    pub limit: u32,
}

/// Incidents and the messages that announce them (the notification outbox): written by the
/// leader's noticer, delivered by its deliverer, acknowledged through the API.
#[async_trait]
pub trait AlertStore: Send + Sync {
    /// How far the noticer has read the outbox.
    async fn alert_cursor(&self) -> Result<Option<i64>>;
    /// Commits what was noticed with the cursor's move; false (nothing written) when the
    /// cursor is no longer at `n.from`.
    async fn notice(&self, n: &Noticed) -> Result<bool>;
    async fn incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>>;
    async fn incident(&self, id: &str) -> Result<Option<Incident>>;
    /// Records who acknowledged an open incident; false when it is not open (or absent).
    async fn ack_incident(&self, id: &str, by: &str, at: Timestamp, fx: &Effects) -> Result<bool>;
    /// Queues messages outside any incident (`notify test`), with their effects.
    async fn queue_messages(&self, messages: &[Message], fx: &Effects) -> Result<()>;
    /// Messages of `channel` due by `now`, oldest first.
    async fn due_messages(
        &self,
        channel: Channel,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<Message>>;
    async fn message_delivered(&self, id: &str, at: Timestamp) -> Result<()>;
    /// Counts a failed try: retried at `retry_at`, or dead (`None`).
    async fn message_failed(
        &self,
        id: &str,
        error: &str,
        at: Timestamp,
        retry_at: Option<Timestamp>,
    ) -> Result<()>;
    /// Replaces queued messages by one digest, in one transaction: the parts are marked
    /// digested (never sent on their own), the digest queued.
    async fn digest_messages(&self, parts: &[String], digest: &Message) -> Result<()>;
    async fn channel_counts(&self, channel: Channel) -> Result<ChannelCounts>;
    /// Messages given up on, newest first.
    async fn dead_letters(&self, limit: u32) -> Result<Vec<MessageView>>;
    /// Messages by id (what `notify test` answers).
    async fn messages(&self, ids: &[&str]) -> Result<Vec<MessageView>>;
    /// Stores a silence with its effects.
    async fn add_silence(&self, s: &Silence, fx: &Effects) -> Result<()>;
    /// Silences not ended by `now` (those ended long ago are pruned), by start.
    async fn silences(&self, now: Timestamp) -> Result<Vec<Silence>>;
    async fn silence(&self, id: &str) -> Result<Option<Silence>>;
    /// Deletes a silence; false (and no effects) when there was none.
    async fn delete_silence(&self, id: &str, fx: &Effects) -> Result<bool>;
    /// Deletes up to `limit` resolved incidents resolved before `before`, and messages
    /// delivered, digested or dead before it; returns how many rows went.
    async fn prune_alerts(&self, before: Timestamp, limit: u32) -> Result<u64>;
}

/// The leader's epoch. A center that becomes leader takes the next one; its leader-only
/// writes (placements, node-loss bookkeeping, moved requests) carry it and commit only while
/// it is still the store's, in the same transaction. So a leader that was frozen, and wakes
/// up after another center has led, changes nothing — whichever centers share the store.
#[async_trait]
pub trait EpochStore: Send + Sync {
    /// Takes the next epoch for `center` and returns it.
    async fn take_epoch(&self, center: &str) -> Result<u64>;
    /// The current epoch (0 before any leader took one).
    async fn epoch(&self) -> Result<u64>;
    /// The secret stored under `name`, storing `offered` first if there is none: every center
    /// sharing the store ends with the same one (the webhook signing key).
    async fn shared_secret(&self, name: &str, offered: &str) -> Result<String>;
}

/// Every concept at once: what `open` returns and the center holds.
pub trait Store:
    TaskStore
    + RunStore
    + PackageStore
    + TokenStore
    + UserStore
    + AuditStore
    + OutboxStore
    + PlacementStore
    + RetentionStore
    + AlertStore
    + EpochStore
{
}

impl<T> Store for T where
    T: TaskStore
        + RunStore
        + PackageStore
        + TokenStore
        + UserStore
        + AuditStore
        + OutboxStore
        + PlacementStore
        + RetentionStore
        + AlertStore
        + EpochStore
{
}
