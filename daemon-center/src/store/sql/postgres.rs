//! PostgreSQL: one database every center shares (`--store postgres://…`).
//!
//! Writers of every center take one lock in the database (a transaction-scoped advisory
//! lock) before they write, so writes are ordered as SQLite orders them: a writer never finds
//! another's commit between its reads and its writes, and outbox rows commit in `seq` order
//! (a reader that has seen `seq` n has seen every row before it).

use std::str::FromStr;
use std::sync::Arc;

use sqlx::ConnectOptions;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};

use super::{Backend, SqlStore, migrate};
use crate::store::Result;

/// Opens a write: the advisory lock every center's writers queue on, held to the commit.
pub(super) const BEGIN_WRITE: &str = "BEGIN; SELECT pg_advisory_xact_lock(7411001)";

/// Schema migrations, the same version numbers as SQLite's ([`super::sqlite::MIGRATIONS`]),
/// in PostgreSQL's types: every integer BIGINT, text compared byte by byte (`COLLATE "C"`)
/// as SQLite compares it, and a `rowid` column where the SQLite schema uses its implicit one.
/// Never edit one that has shipped.
pub(super) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE clusters (name TEXT COLLATE "C" PRIMARY KEY, description TEXT COLLATE "C" NOT NULL, created_at BIGINT NOT NULL);
CREATE TABLE task_groups (name TEXT COLLATE "C" PRIMARY KEY, description TEXT COLLATE "C" NOT NULL, created_at BIGINT NOT NULL);
CREATE TABLE tasks (
    id TEXT COLLATE "C" PRIMARY KEY,
    grp TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    cluster TEXT COLLATE "C" NOT NULL,
    spec TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    created_by TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    updated_by TEXT COLLATE "C" NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (grp, name)
);
CREATE TABLE packages (sha256 TEXT COLLATE "C" PRIMARY KEY, size BIGINT NOT NULL, created_at BIGINT NOT NULL);
CREATE TABLE task_packages (
    rowid BIGSERIAL,
    task_id TEXT COLLATE "C" NOT NULL,
    sha256 TEXT COLLATE "C" NOT NULL,
    file_name TEXT COLLATE "C" NOT NULL,
    size BIGINT NOT NULL,
    uploaded_at BIGINT NOT NULL,
    uploaded_by TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (task_id, sha256, file_name)
);
CREATE TABLE runs (
    id TEXT COLLATE "C" PRIMARY KEY,
    task_id TEXT COLLATE "C" NOT NULL,
    task_name TEXT COLLATE "C" NOT NULL,
    scheduled_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT,
    status TEXT COLLATE "C" NOT NULL,
    status_rank BIGINT NOT NULL,
    exit_code BIGINT,
    node TEXT COLLATE "C" NOT NULL,
    attempt BIGINT NOT NULL,
    trigger_kind TEXT COLLATE "C" NOT NULL,
    message TEXT COLLATE "C"
);
CREATE INDEX runs_by_task ON runs (task_id, scheduled_at);
CREATE INDEX runs_by_status ON runs (status_rank, task_id);
CREATE TABLE run_logs (run_id TEXT COLLATE "C" PRIMARY KEY, log TEXT COLLATE "C" NOT NULL);
CREATE TABLE tokens (hash TEXT COLLATE "C" PRIMARY KEY, name TEXT COLLATE "C" NOT NULL, role TEXT COLLATE "C" NOT NULL, created_at BIGINT NOT NULL);
CREATE TABLE audit (rowid BIGSERIAL, at BIGINT NOT NULL, actor TEXT COLLATE "C" NOT NULL, action TEXT COLLATE "C" NOT NULL, target TEXT COLLATE "C" NOT NULL, detail TEXT COLLATE "C" NOT NULL);
"#,
    r#"
UPDATE runs SET status_rank = 3 WHERE status_rank = 2 AND status <> 'lost';
"#,
    r#"
CREATE TABLE start_keys (task_id TEXT COLLATE "C" NOT NULL, key TEXT COLLATE "C" NOT NULL, run_id TEXT COLLATE "C" NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (task_id, key));
ALTER TABLE runs ADD COLUMN params TEXT COLLATE "C";
ALTER TABLE runs ADD COLUMN args TEXT COLLATE "C";
"#,
    r#"
CREATE TABLE outbox (seq BIGSERIAL PRIMARY KEY, created_at BIGINT NOT NULL, events TEXT COLLATE "C" NOT NULL);
CREATE INDEX outbox_by_age ON outbox (created_at);
CREATE TABLE outbox_cursors (center TEXT COLLATE "C" PRIMARY KEY, seq BIGINT NOT NULL, updated_at BIGINT NOT NULL);
CREATE INDEX audit_by_age ON audit (at);
"#,
    r#"
CREATE TABLE run_marks (task_id TEXT COLLATE "C" PRIMARY KEY, pruned_through BIGINT NOT NULL);
CREATE INDEX packages_by_age ON packages (created_at);
CREATE INDEX task_packages_by_sha ON task_packages (sha256);
"#,
    r#"
ALTER TABLE runs ADD COLUMN not_before BIGINT;
"#,
    r#"
CREATE TABLE users (name TEXT COLLATE "C" PRIMARY KEY, password_hash TEXT COLLATE "C" NOT NULL, created_at BIGINT NOT NULL, created_by TEXT COLLATE "C" NOT NULL);
CREATE TABLE grants (user_name TEXT COLLATE "C" NOT NULL, role TEXT COLLATE "C" NOT NULL, grp TEXT COLLATE "C" NOT NULL, PRIMARY KEY (user_name, role, grp));
ALTER TABLE tokens ADD COLUMN kind TEXT COLLATE "C" NOT NULL DEFAULT 'api';
ALTER TABLE tokens ADD COLUMN user_name TEXT COLLATE "C";
ALTER TABLE tokens ADD COLUMN scope TEXT COLLATE "C";
ALTER TABLE tokens ADD COLUMN expires_at BIGINT;
ALTER TABLE tokens ADD COLUMN last_used_at BIGINT;
ALTER TABLE tokens ADD COLUMN last_used_from TEXT COLLATE "C";
UPDATE tokens SET kind = 'bootstrap', name = 'bootstrap' WHERE role = 'admin';
UPDATE tokens SET kind = 'agent' WHERE role = 'agent';
CREATE INDEX tokens_by_user ON tokens (user_name, kind);
CREATE INDEX tokens_by_expiry ON tokens (expires_at);
CREATE TABLE auth_failures (key TEXT COLLATE "C" PRIMARY KEY, count BIGINT NOT NULL, window_start BIGINT NOT NULL);
"#,
    r#"
ALTER TABLE tokens ADD COLUMN cluster TEXT COLLATE "C";
DELETE FROM tokens WHERE kind = 'agent';
CREATE TABLE placements (rowid BIGSERIAL, task_id TEXT COLLATE "C" NOT NULL, node TEXT COLLATE "C" NOT NULL, cluster TEXT COLLATE "C" NOT NULL, since BIGINT NOT NULL, until BIGINT);
CREATE INDEX placements_by_node ON placements (node, cluster, task_id, since);
CREATE INDEX placements_by_end ON placements (until);
"#,
    r#"
ALTER TABLE audit ADD COLUMN source TEXT COLLATE "C";
ALTER TABLE audit ADD COLUMN grp TEXT COLLATE "C";
ALTER TABLE audit ADD COLUMN version_before BIGINT;
ALTER TABLE audit ADD COLUMN version_after BIGINT;
ALTER TABLE audit ADD COLUMN fields TEXT COLLATE "C";
CREATE INDEX audit_by_target ON audit (target, at);
CREATE INDEX audit_by_group ON audit (grp, at);
CREATE INDEX audit_by_actor ON audit (actor, at);
"#,
    r#"
ALTER TABLE runs ADD COLUMN requested_by TEXT COLLATE "C";
"#,
    r#"
CREATE TABLE incidents (
    id TEXT COLLATE "C" PRIMARY KEY,
    kind TEXT COLLATE "C" NOT NULL,
    subject TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    grp TEXT COLLATE "C" NOT NULL,
    opened_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    resolved_at BIGINT,
    count BIGINT NOT NULL,
    announced BIGINT NOT NULL,
    last_announced_at BIGINT,
    last_run TEXT COLLATE "C",
    summary TEXT COLLATE "C" NOT NULL,
    acked_by TEXT COLLATE "C",
    acked_at BIGINT
);
CREATE UNIQUE INDEX incidents_open ON incidents (subject, kind) WHERE resolved_at IS NULL;
CREATE INDEX incidents_by_age ON incidents (opened_at);
CREATE TABLE messages (
    id TEXT COLLATE "C" PRIMARY KEY,
    channel TEXT COLLATE "C" NOT NULL,
    recipient TEXT COLLATE "C" NOT NULL,
    subject TEXT COLLATE "C" NOT NULL,
    body TEXT COLLATE "C" NOT NULL,
    incident TEXT COLLATE "C",
    created_at BIGINT NOT NULL,
    state TEXT COLLATE "C" NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_attempt_at BIGINT,
    delivered_at BIGINT,
    last_error TEXT COLLATE "C"
);
CREATE INDEX messages_due ON messages (state, channel, next_attempt_at);
CREATE INDEX messages_by_age ON messages (created_at);
"#,
    r#"
CREATE TABLE silences (
    id TEXT COLLATE "C" PRIMARY KEY,
    task_id TEXT COLLATE "C",
    grp TEXT COLLATE "C",
    kind TEXT COLLATE "C",
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    reason TEXT COLLATE "C" NOT NULL,
    created_by TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX silences_by_end ON silences (ends_at);
"#,
    r#"
ALTER TABLE users ADD COLUMN email TEXT COLLATE "C";
"#,
    r#"
CREATE TABLE package_chunks (rowid BIGSERIAL, sha256 TEXT COLLATE "C" NOT NULL, n BIGINT NOT NULL, data BYTEA NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (sha256, n));
CREATE INDEX package_chunks_by_age ON package_chunks (created_at);
"#,
    r#"
CREATE TABLE leader_epoch (id BIGINT PRIMARY KEY, epoch BIGINT NOT NULL, center TEXT COLLATE "C" NOT NULL, taken_at BIGINT NOT NULL);
"#,
    r#"
CREATE TABLE shared_secrets (name TEXT COLLATE "C" PRIMARY KEY, value TEXT COLLATE "C" NOT NULL);
"#,
];

/// Opens and migrates the database at `url`.
pub async fn open(url: &str) -> Result<SqlStore> {
    sqlx::any::install_default_drivers();
    let opts = AnyConnectOptions::from_str(url)?;
    let mut conn = opts.connect().await?;
    migrate(
        &mut conn,
        MIGRATIONS,
        "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)",
        BEGIN_WRITE,
    )
    .await?;
    sqlx::Connection::close(conn).await?;
    // With the database away, a request waits this long for a connection, not sqlx's 30 s,
    // then is answered `store_unavailable`.
    let pool = AnyPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect_with(opts)
        .await?;
    Ok(SqlStore {
        pool,
        backend: Backend::Postgres,
        writes: Arc::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudtask_shared::postgres_server::PostgresServer;

    /// A fresh server and database per test (nextest runs each test in its own process).
    async fn fresh() -> (SqlStore, PostgresServer) {
        let server = PostgresServer::start();
        let url = server.create_database("cloudtask");
        let store = open(&url).await.unwrap();
        (store, server)
    }

    crate::store::suite::store_suite!(async {
        let (store, server) = fresh().await;
        (
            std::sync::Arc::new(store) as crate::store::SharedStore,
            server,
        )
    });

    /// Table → column names, from the database's own catalog.
    async fn columns(store: &SqlStore, sql: &'static str) -> Vec<(String, String)> {
        let mut rows: Vec<(String, String)> =
            sqlx::query_as(sql).fetch_all(&store.pool).await.unwrap();
        rows.sort();
        rows
    }

    #[tokio::test]
    async fn both_schemas_end_with_the_same_tables_and_columns() {
        let (pg, _server) = fresh().await;
        let dir = tempfile::tempdir().unwrap();
        let lite = super::super::sqlite::open(&dir.path().join("db"))
            .await
            .unwrap();
        assert_eq!(MIGRATIONS.len(), super::super::sqlite::MIGRATIONS.len());
        assert_eq!(
            pg.schema_version().await.unwrap(),
            lite.schema_version().await.unwrap()
        );
        // PostgreSQL's `rowid` columns stand for SQLite's implicit one.
        let pg_columns: Vec<(String, String)> = columns(
            &pg,
            "SELECT table_name::text, column_name::text FROM information_schema.columns
             WHERE table_schema = 'public' AND column_name <> 'rowid'",
        )
        .await;
        let lite_columns = columns(
            &lite,
            "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
             WHERE m.type = 'table'",
        )
        .await;
        assert_eq!(pg_columns, lite_columns);
        assert!(pg_columns.len() > 100, "{}", pg_columns.len());
    }

    #[tokio::test]
    async fn centers_starting_together_migrate_once() {
        let server = PostgresServer::start();
        let url = server.create_database("together");
        let opens = (0..4).map(|_| open(&url));
        let stores = futures_util::future::try_join_all(opens).await.unwrap();
        let versions: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM schema_version ORDER BY version")
                .fetch_all(&stores[0].pool)
                .await
                .unwrap();
        let expected: Vec<i64> = (1..=MIGRATIONS.len() as i64).collect();
        assert_eq!(versions, expected);
    }

    #[tokio::test]
    async fn a_schema_newer_than_this_build_is_refused() {
        let (store, server) = fresh().await;
        sqlx::query("INSERT INTO schema_version (version) VALUES ($1)")
            .bind(MIGRATIONS.len() as i64 + 1)
            .execute(&store.pool)
            .await
            .unwrap();
        let err = open(&server.url("cloudtask"))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("newer than"), "{err}");
    }

    /// A store with a row in most tables, written through the interface.
    async fn filled(store: &dyn crate::store::Store) {
        use crate::store::suite;
        use crate::store::{Effects, TokenKind, UserRow};
        use cloudtask_shared::RunStatus;
        let t = suite::task("backup", "ops");
        store
            .create_task(&t, None, &suite::audited("task.create", &t.id))
            .await
            .unwrap();
        for i in 0..700 {
            let mut r = suite::run(&format!("r{i}"), &t.id, RunStatus::Succeeded);
            r.scheduled_at = jiff::Timestamp::from_second(1_700_000_000 + i).unwrap();
            store
                .put_runs(
                    &[(&r, Some("the output\n"))],
                    &|_: &[&cloudtask_shared::RunRecord]| Effects::default(),
                )
                .await
                .unwrap();
        }
        let bytes: Vec<u8> = (0..crate::store::PACKAGE_CHUNK * 3 / 2)
            .map(|i| (i % 13) as u8)
            .collect();
        suite::upload(store, &"e".repeat(64), &bytes).await;
        let user = UserRow {
            name: "ann".into(),
            password_hash: "$argon2id$x".into(),
            grants: vec![],
            created_at: jiff::Timestamp::now(),
            created_by: "admin".into(),
            email: Some("ann@example.com".into()),
        };
        store.create_user(&user, &Effects::default()).await.unwrap();
        let token = suite::token_row("h1", "ci", TokenKind::Api, Some("ann"));
        store.add_token(&token, &Effects::default()).await.unwrap();
        store.take_epoch("center-a").await.unwrap();
    }

    #[tokio::test]
    async fn an_sqlite_store_moves_to_postgres_whole_and_back() {
        use crate::store::{AuditFilter, OutboxStore, RunFilter, Store};
        let dir = tempfile::tempdir().unwrap();
        let lite_path = dir.path().join("db");
        let lite = super::super::sqlite::open(&lite_path).await.unwrap();
        filled(&lite).await;
        let server = PostgresServer::start();
        let url = server.create_database("moved");
        let lite_path = lite_path.display().to_string();
        let copied = super::super::copy::copy_store(&lite_path, &url)
            .await
            .unwrap();
        let rows = |name: &str| copied.iter().find(|(t, _)| t == name).map(|(_, n)| *n);
        assert_eq!(rows("runs"), Some(700));
        assert_eq!(rows("package_chunks"), Some(2));
        let pg = open(&url).await.unwrap();
        let same = async |a: &dyn Store, b: &dyn Store| {
            let all = RunFilter {
                limit: 10_000,
                ..RunFilter::default()
            };
            assert_eq!(a.tasks().await.unwrap(), b.tasks().await.unwrap());
            assert_eq!(a.runs(&all).await.unwrap(), b.runs(&all).await.unwrap());
            assert_eq!(
                b.run_log("r699").await.unwrap().as_deref(),
                Some("the output\n")
            );
            let sha = "e".repeat(64);
            for n in 0..2 {
                assert!(
                    a.package_chunk(&sha, n).await.unwrap()
                        == b.package_chunk(&sha, n).await.unwrap(),
                    "chunk {n} differs"
                );
            }
            assert!(b.package_chunk(&sha, 1).await.unwrap().is_some());
            assert_eq!(a.users().await.unwrap(), b.users().await.unwrap());
            assert_eq!(
                a.tokens(None, None).await.unwrap(),
                b.tokens(None, None).await.unwrap()
            );
            let audit = AuditFilter {
                limit: 100,
                ..AuditFilter::default()
            };
            assert_eq!(
                a.audit_log(&audit).await.unwrap(),
                b.audit_log(&audit).await.unwrap()
            );
            let (ra, rb) = (
                a.outbox_after(0, 10_000).await.unwrap(),
                b.outbox_after(0, 10_000).await.unwrap(),
            );
            assert_eq!(
                ra.iter().map(|r| r.seq).collect::<Vec<_>>(),
                rb.iter().map(|r| r.seq).collect::<Vec<_>>()
            );
            assert_eq!(a.epoch().await.unwrap(), b.epoch().await.unwrap());
        };
        same(&lite, &pg).await;
        // Serial columns continue after the copied rows: a new outbox row follows the last.
        let head = pg.outbox_head().await.unwrap();
        pg.commit_effects(&crate::store::Effects::events(vec![
            cloudtask_shared::api::Event::TaskDeleted { id: "x".into() },
        ]))
        .await
        .unwrap();
        assert_eq!(pg.outbox_head().await.unwrap(), head + 1);
        // A second copy into a store that has rows is refused, and changes nothing.
        let err = super::super::copy::copy_store(&lite_path, &url)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("not empty"), "{err}");
        // A source that is not there is said so, not created and copied empty.
        let missing = dir.path().join("typo.db");
        let err = super::super::copy::copy_store(&missing.display().to_string(), &url)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("no store at"), "{err}");
        assert!(!missing.exists());
        // And back, into a new SQLite file.
        let back_path = dir.path().join("back").display().to_string();
        super::super::copy::copy_store(&url, &back_path)
            .await
            .unwrap();
        let back = super::super::sqlite::open(std::path::Path::new(&back_path))
            .await
            .unwrap();
        same(&pg, &back).await;
    }
}
