//! SQLite: one file in the data dir, WAL mode, every commit fsynced; the default store and
//! what `--standalone` uses.

use std::path::Path;
use std::sync::Arc;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use super::{Backend, SqlStore, migrate};
use crate::store::Result;

/// Schema migrations, applied in order once each; never edit one that has shipped.
pub(super) const MIGRATIONS: &[&str] = &[
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
    r#"
CREATE TABLE package_chunks (sha256 TEXT NOT NULL, n BIGINT NOT NULL, data BLOB NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (sha256, n));
CREATE INDEX package_chunks_by_age ON package_chunks (created_at);
"#,
    r#"
CREATE TABLE leader_epoch (id BIGINT PRIMARY KEY, epoch BIGINT NOT NULL, center TEXT NOT NULL, taken_at BIGINT NOT NULL);
"#,
    r#"
CREATE TABLE shared_secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"#,
];

/// What every connection sets first. FULL: in WAL mode every commit fsyncs the log, so what
/// the center acknowledges (a report, an edit) outlives a power loss (ARCHITECTURE.md,
/// "Durability"). A checkpointed WAL is cut back to 64 MiB, so that a burst of reports does not
/// leave a huge log file behind for good.
/// Opens a write: IMMEDIATE takes the file's write lock at once, so a writer never finds
/// another one's commit between its reads and its writes.
pub(super) const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

const PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; PRAGMA journal_size_limit = 67108864; PRAGMA foreign_keys = ON;";

/// Opens (creating it if missing) and migrates the file at `path`.
pub async fn open(path: &Path) -> Result<SqlStore> {
    sqlx::any::install_default_drivers();
    let file = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true);
    let opts = AnyConnectOptions::from_url(&file.to_url_lossy())?;
    // Migrate on a connection of its own, closed before the pool opens: a connection that
    // saw the schema before a migration changed a table's columns could read that table's
    // rows by the old column list (seen with `SELECT *` after `ALTER TABLE … ADD COLUMN`).
    let mut conn = opts.connect().await?;
    sqlx::raw_sql(PRAGMAS).execute(&mut conn).await?;
    migrate(
        &mut conn,
        MIGRATIONS,
        "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)",
        BEGIN_WRITE,
    )
    .await?;
    conn.close().await?;
    let pool = AnyPoolOptions::new()
        .max_connections(4)
        .after_connect(|conn, _| {
            Box::pin(async move {
                sqlx::raw_sql(PRAGMAS).execute(&mut *conn).await?;
                Ok(())
            })
        })
        .connect_with(opts)
        .await?;
    Ok(SqlStore {
        pool,
        backend: Backend::Sqlite,
        writes: Arc::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Effects;

    crate::store::suite::store_suite!(async {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir.path().join("db")).await.unwrap();
        (std::sync::Arc::new(store) as crate::store::SharedStore, dir)
    });

    #[tokio::test]
    async fn the_hot_queries_use_their_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir.path().join("db")).await.unwrap();
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
        let store = open(&path).await.unwrap();
        let version = store.schema_version().await.unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let task = crate::store::suite::task("kept", "g");
        crate::store::TaskStore::create_task(&store, &task, None, &Effects::default())
            .await
            .unwrap();
        drop(store);
        let store = open(&path).await.unwrap();
        assert_eq!(store.schema_version().await.unwrap(), version);
        let got = crate::store::TaskStore::task(&store, &task.id)
            .await
            .unwrap();
        assert_eq!(got.map(|t| t.spec.name), Some("kept".to_string()));
    }

    #[tokio::test]
    async fn a_schema_newer_than_this_build_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let store = open(&path).await.unwrap();
        sqlx::query("INSERT INTO schema_version (version) VALUES ($1)")
            .bind(MIGRATIONS.len() as i64 + 1)
            .execute(&store.pool)
            .await
            .unwrap();
        drop(store);
        let err = open(&path).await.unwrap_err().to_string();
        assert!(err.contains("newer than"), "{err}");
    }
}
