//! The SQLite backend: embedded, WAL mode, one file in the data dir.
//!
//! Queries stay portable (`$n` placeholders, BIGINT Unix milliseconds, TEXT ids and JSON) so
//! the PostgreSQL backend can share them. One module per concept of [`super`]'s interface;
//! this one opens the file, migrates it, and holds what they share: the writer lock, row
//! mapping helpers and the writer of a write's [`Effects`].

mod alerts;
mod audit;
mod outbox;
mod packages;
mod placements;
mod retention;
mod runs;
mod tasks;
mod tokens;
mod users;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cloudtask_shared::api::Event;
use jiff::Timestamp;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, Row, SqliteConnection};

use super::{Effects, Error, Result};

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        // SQLITE_FULL (13, and its extended codes): SQLite maps a write's ENOSPC to it.
        let full = e
            .as_database_error()
            .and_then(|d| d.code())
            .and_then(|c| c.parse::<i64>().ok())
            .is_some_and(|c| c & 0xff == 13);
        if full {
            Error::Full(e.to_string())
        } else {
            Error::Backend(e.to_string())
        }
    }
}

/// Schema migrations, applied in order once each; never edit one that has shipped.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE clusters (name TEXT PRIMARY KEY, description TEXT NOT NULL, created_at BIGINT NOT NULL);
CREATE TABLE task_groups (name TEXT PRIMARY KEY, description TEXT NOT NULL, created_at BIGINT NOT NULL);
CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    grp TEXT NOT NULL,
    name TEXT NOT NULL,
    cluster TEXT NOT NULL,
    spec TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (grp, name)
);
CREATE TABLE packages (sha256 TEXT PRIMARY KEY, size BIGINT NOT NULL, created_at BIGINT NOT NULL);
CREATE TABLE task_packages (
    task_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    file_name TEXT NOT NULL,
    size BIGINT NOT NULL,
    uploaded_at BIGINT NOT NULL,
    uploaded_by TEXT NOT NULL,
    PRIMARY KEY (task_id, sha256, file_name)
);
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL,
    task_name TEXT NOT NULL,
    scheduled_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT,
    status TEXT NOT NULL,
    status_rank INTEGER NOT NULL,
    exit_code INTEGER,
    node TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    trigger_kind TEXT NOT NULL,
    message TEXT
);
CREATE INDEX runs_by_task ON runs (task_id, scheduled_at);
CREATE INDEX runs_by_status ON runs (status_rank, task_id);
CREATE TABLE run_logs (run_id TEXT PRIMARY KEY, log TEXT NOT NULL);
CREATE TABLE tokens (hash TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, created_at BIGINT NOT NULL);
CREATE TABLE audit (at BIGINT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL);
"#,
    r#"
UPDATE runs SET status_rank = 3 WHERE status_rank = 2 AND status <> 'lost';
"#,
    r#"
CREATE TABLE start_keys (task_id TEXT NOT NULL, key TEXT NOT NULL, run_id TEXT NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (task_id, key));
ALTER TABLE runs ADD COLUMN params TEXT;
ALTER TABLE runs ADD COLUMN args TEXT;
"#,
    r#"
CREATE TABLE outbox (seq INTEGER PRIMARY KEY, created_at BIGINT NOT NULL, events TEXT NOT NULL);
CREATE INDEX outbox_by_age ON outbox (created_at);
CREATE TABLE outbox_cursors (center TEXT PRIMARY KEY, seq BIGINT NOT NULL, updated_at BIGINT NOT NULL);
CREATE INDEX audit_by_age ON audit (at);
"#,
    r#"
CREATE TABLE run_marks (task_id TEXT PRIMARY KEY, pruned_through BIGINT NOT NULL);
CREATE INDEX packages_by_age ON packages (created_at);
CREATE INDEX task_packages_by_sha ON task_packages (sha256);
"#,
    r#"
ALTER TABLE runs ADD COLUMN not_before BIGINT;
"#,
    r#"
CREATE TABLE users (name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, created_at BIGINT NOT NULL, created_by TEXT NOT NULL);
CREATE TABLE grants (user_name TEXT NOT NULL, role TEXT NOT NULL, grp TEXT NOT NULL, PRIMARY KEY (user_name, role, grp));
ALTER TABLE tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'api';
ALTER TABLE tokens ADD COLUMN user_name TEXT;
ALTER TABLE tokens ADD COLUMN scope TEXT;
ALTER TABLE tokens ADD COLUMN expires_at BIGINT;
ALTER TABLE tokens ADD COLUMN last_used_at BIGINT;
ALTER TABLE tokens ADD COLUMN last_used_from TEXT;
UPDATE tokens SET kind = 'bootstrap', name = 'bootstrap' WHERE role = 'admin';
UPDATE tokens SET kind = 'agent' WHERE role = 'agent';
CREATE INDEX tokens_by_user ON tokens (user_name, kind);
CREATE INDEX tokens_by_expiry ON tokens (expires_at);
CREATE TABLE auth_failures (key TEXT PRIMARY KEY, count BIGINT NOT NULL, window_start BIGINT NOT NULL);
"#,
    r#"
ALTER TABLE tokens ADD COLUMN cluster TEXT;
DELETE FROM tokens WHERE kind = 'agent';
CREATE TABLE placements (task_id TEXT NOT NULL, node TEXT NOT NULL, cluster TEXT NOT NULL, since BIGINT NOT NULL, until BIGINT);
CREATE INDEX placements_by_node ON placements (node, cluster, task_id, since);
CREATE INDEX placements_by_end ON placements (until);
"#,
    r#"
ALTER TABLE audit ADD COLUMN source TEXT;
ALTER TABLE audit ADD COLUMN grp TEXT;
ALTER TABLE audit ADD COLUMN version_before BIGINT;
ALTER TABLE audit ADD COLUMN version_after BIGINT;
ALTER TABLE audit ADD COLUMN fields TEXT;
CREATE INDEX audit_by_target ON audit (target, at);
CREATE INDEX audit_by_group ON audit (grp, at);
CREATE INDEX audit_by_actor ON audit (actor, at);
"#,
    r#"
ALTER TABLE runs ADD COLUMN requested_by TEXT;
"#,
    r#"
CREATE TABLE incidents (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    name TEXT NOT NULL,
    grp TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    resolved_at BIGINT,
    count BIGINT NOT NULL,
    announced BIGINT NOT NULL,
    last_announced_at BIGINT,
    last_run TEXT,
    summary TEXT NOT NULL,
    acked_by TEXT,
    acked_at BIGINT
);
CREATE UNIQUE INDEX incidents_open ON incidents (subject, kind) WHERE resolved_at IS NULL;
CREATE INDEX incidents_by_age ON incidents (opened_at);
CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    incident TEXT,
    created_at BIGINT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_attempt_at BIGINT,
    delivered_at BIGINT,
    last_error TEXT
);
CREATE INDEX messages_due ON messages (state, channel, next_attempt_at);
CREATE INDEX messages_by_age ON messages (created_at);
"#,
    r#"
CREATE TABLE silences (
    id TEXT PRIMARY KEY,
    task_id TEXT,
    grp TEXT,
    kind TEXT,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX silences_by_end ON silences (ends_at);
"#,
    r#"
ALTER TABLE users ADD COLUMN email TEXT;
"#,
];

/// Cheap to clone: a connection pool.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// One writer at a time, in arrival order: SQLite's busy handler retries by sleeping, so
    /// under a stream of run reports another writer could wait past the busy timeout.
    writes: Arc<tokio::sync::Mutex<()>>,
}

/// A write in progress: the writer lock and a connection inside `BEGIN IMMEDIATE`, committed
/// together.
///
/// A write that does not commit (an error, a dropped future) closes its connection rather
/// than handing it back: after an error such as `SQLITE_FULL`, SQLite may or may not have
/// rolled the transaction back itself, and a connection whose state is in doubt must not
/// serve the next write (one that kept its transaction open held the write lock, and every
/// later write answered "database is locked").
struct Write<'a> {
    _lock: tokio::sync::MutexGuard<'a, ()>,
    tx: sqlx::pool::PoolConnection<sqlx::Sqlite>,
    open: bool,
}

impl Write<'_> {
    /// Writes `fx` (audit row, outbox row) into this transaction and commits.
    async fn commit(mut self, fx: &Effects) -> Result<()> {
        write_effects(&mut self.tx, fx).await?;
        self.finish().await
    }

    /// Commits what was written, with no effects of its own.
    async fn finish(mut self) -> Result<()> {
        sqlx::query("COMMIT").execute(&mut *self.tx).await?;
        self.open = false;
        Ok(())
    }
}

impl Drop for Write<'_> {
    fn drop(&mut self) {
        if self.open {
            // Closing the connection rolls back whatever it still had open.
            self.tx.close_on_drop();
        }
    }
}

impl SqliteStore {
    pub async fn open(path: &Path) -> Result<SqliteStore> {
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: in WAL mode every commit fsyncs the log, so what the center acknowledges
            // (a report, an edit) outlives a power loss (ARCHITECTURE.md, "Durability").
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            // A checkpointed WAL is cut back to this size, so that a burst of reports does
            // not leave a huge log file behind for good.
            .pragma("journal_size_limit", (64u64 << 20).to_string())
            .foreign_keys(true);
        // Migrate on a connection of its own, closed before the pool opens: a connection that
        // saw the schema before a migration changed a table's columns could read that table's
        // rows by the old column list (seen with `SELECT *` after `ALTER TABLE … ADD COLUMN`).
        let mut conn = opts.connect().await?;
        migrate(&mut conn).await?;
        conn.close().await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await?;
        Ok(SqliteStore {
            pool,
            writes: Default::default(),
        })
    }

    /// The schema version this file is at (the number of migrations applied).
    #[cfg(test)]
    pub async fn schema_version(&self) -> Result<i64> {
        let v: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_version")
            .fetch_one(&self.pool)
            .await?;
        Ok(v.unwrap_or(0))
    }

    async fn write(&self) -> Result<Write<'_>> {
        let lock = self.writes.lock().await;
        let tx = self.pool.acquire().await?;
        let mut w = Write {
            _lock: lock,
            tx,
            open: true,
        };
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *w.tx).await?;
        Ok(w)
    }
}

/// Applies the migrations not applied yet, each in its own transaction.
async fn migrate(conn: &mut SqliteConnection) -> Result<()> {
    sqlx::query("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
        .execute(&mut *conn)
        .await?;
    let current: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_version")
        .fetch_one(&mut *conn)
        .await?;
    let current = current.unwrap_or(0) as usize;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let mut tx = conn.begin().await?;
        sqlx::raw_sql(*sql).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO schema_version (version) VALUES ($1)")
            .bind((i + 1) as i64)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version = i + 1, "store migrated");
    }
    Ok(())
}

/// The audit row and the outbox row of a write, inside its transaction.
async fn write_effects(tx: &mut SqliteConnection, fx: &Effects) -> Result<()> {
    if let Some(a) = &fx.audit {
        sqlx::query(
            "INSERT INTO audit (at, actor, action, target, detail, source, grp, version_before, version_after, fields) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(ms(a.at))
        .bind(&a.actor)
        .bind(&a.action)
        .bind(&a.target)
        .bind(&a.detail)
        .bind(&a.from)
        .bind(&a.group)
        .bind(a.version_before.map(|v| v as i64))
        .bind(a.version_after.map(|v| v as i64))
        .bind(json_unless_empty(&a.fields))
        .execute(&mut *tx)
        .await?;
    }
    // Requested runs go in unless they exist; only new ones are announced and sent.
    let mut events: Vec<Event> = Vec::new();
    for req in &fx.requests {
        let mut q = sqlx::QueryBuilder::new(runs::RUN_INSERT);
        q.push_values([&req.run], runs::push_run);
        q.push(" ON CONFLICT (id) DO NOTHING");
        if q.build().execute(&mut *tx).await?.rows_affected() == 1 {
            events.extend(req.events());
        }
    }
    let events: Vec<&Event> = fx.events.iter().chain(&events).collect();
    if !events.is_empty() {
        let events = serde_json::to_string(&events).map_err(|e| corrupt("outbox events", e))?;
        sqlx::query("INSERT INTO outbox (created_at, events) VALUES ($1, $2)")
            .bind(ms(Timestamp::now()))
            .bind(events)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

fn ts(v: i64) -> Timestamp {
    Timestamp::from_millisecond(v).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A JSON column that stays NULL when there is nothing in it (string maps and lists always
/// encode).
fn json_unless_empty<T: serde::Serialize + ?Sized>(value: &T) -> Option<String> {
    serde_json::to_string(value)
        .ok()
        .filter(|j| j != "{}" && j != "[]")
}

/// Reads a JSON column written by [`json_unless_empty`].
fn json_or_default<T: serde::de::DeserializeOwned + Default>(
    row: &SqliteRow,
    column: &str,
) -> Result<T> {
    match row.try_get::<Option<String>, _>(column)? {
        None => Ok(T::default()),
        Some(text) => serde_json::from_str(&text).map_err(|e| corrupt(column, e)),
    }
}

fn corrupt(what: &str, message: impl ToString) -> Error {
    Error::Corrupt {
        what: what.to_string(),
        message: message.to_string(),
    }
}

/// The distinct ranks of the statuses `active` picks ([`RunStatus::ACTIVE`] or the rest), for
/// `status_rank IN (…)`: the filter the run indexes serve (one on `status` would scan).
fn ranks(active: bool) -> Vec<i64> {
    let mut ranks: Vec<i64> = cloudtask_shared::RunStatus::ALL
        .iter()
        .filter(|s| cloudtask_shared::RunStatus::ACTIVE.contains(s) == active)
        .map(|s| i64::from(s.rank()))
        .collect();
    ranks.sort_unstable();
    ranks.dedup();
    ranks
}

/// The rows of `select … WHERE column IN (ids)`, in statements of [`runs::ROWS_PER_STATEMENT`]
/// ids each (SQLite bounds the variables of one statement).
async fn select_in<T>(
    conn: &mut SqliteConnection,
    select: &str,
    column: &str,
    ids: &[&str],
) -> Result<Vec<T>>
where
    T: for<'r> sqlx::FromRow<'r, SqliteRow> + Send + Unpin,
{
    let mut out = Vec::new();
    for chunk in ids.chunks(runs::ROWS_PER_STATEMENT) {
        let sql = format!(
            "{select} WHERE {column} IN ({})",
            placeholders(1, chunk.len())
        );
        // Only fixed fragments and placeholders went into `sql`; values are bound.
        let mut q = sqlx::query_as::<_, T>(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(*id);
        }
        out.extend(q.fetch_all(&mut *conn).await?);
    }
    Ok(out)
}

/// `$first, $first+1, …` for `n` values: placeholders built from counts, never from input.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::store::suite::store_suite!(async {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db")).await.unwrap();
        (std::sync::Arc::new(store) as crate::store::SharedStore, dir)
    });

    #[tokio::test]
    async fn the_hot_queries_use_their_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db")).await.unwrap();
        // The allocator asks for active runs every round: with a month of runs, a scan of
        // the table made pausing 3,000 tasks take minutes.
        for sql in [
            "EXPLAIN QUERY PLAN SELECT * FROM runs WHERE status_rank IN (0, 1)",
            "EXPLAIN QUERY PLAN SELECT * FROM runs WHERE status_rank IN (0, 1) AND node = 'n'",
            "EXPLAIN QUERY PLAN SELECT seq, events FROM outbox WHERE seq > 5 ORDER BY seq LIMIT 500",
            // Retention, per task, every minute: a month of one-second runs made a scan of a
            // task's history per batch fall behind the inserts.
            "EXPLAIN QUERY PLAN SELECT scheduled_at FROM runs WHERE task_id = 't' AND status_rank IN (2, 3) ORDER BY scheduled_at DESC LIMIT 1 OFFSET 999",
            "EXPLAIN QUERY PLAN SELECT id, scheduled_at FROM runs WHERE task_id = 't' AND status_rank IN (2, 3) AND scheduled_at < 5 ORDER BY scheduled_at LIMIT 500",
            // The gate asks these on every node read of a spec or package, and per new run
            // of a report batch.
            "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM placements WHERE node = 'n' AND cluster = 'c' AND task_id = 't' AND until IS NULL",
            "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM placements WHERE node = 'n' AND cluster = 'c' AND task_id = 't' AND since <= 5 AND (until IS NULL OR until >= 1)",
            "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM placements p JOIN task_packages k ON k.task_id = p.task_id WHERE p.node = 'n' AND p.cluster = 'c' AND p.until IS NULL AND k.sha256 = 's'",
        ] {
            let plan: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(sql).fetch_all(&store.pool).await.unwrap();
            let detail: Vec<&str> = plan.iter().map(|r| r.3.as_str()).collect();
            assert!(
                detail.iter().all(|d| !d.starts_with("SCAN")),
                "{sql}: {detail:?}"
            );
        }
    }

    #[tokio::test]
    async fn reopening_applies_no_migration_twice_and_keeps_the_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let store = SqliteStore::open(&path).await.unwrap();
        let version = store.schema_version().await.unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let task = crate::store::suite::task("kept", "g");
        crate::store::TaskStore::create_task(&store, &task, None, &Effects::default())
            .await
            .unwrap();
        drop(store);
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(store.schema_version().await.unwrap(), version);
        let got = crate::store::TaskStore::task(&store, &task.id)
            .await
            .unwrap();
        assert_eq!(got.map(|t| t.spec.name), Some("kept".to_string()));
    }
}
