//! The center's durable store: tasks, packages, runs and their logs, tokens, the audit log.
//!
//! Embedded SQLite in WAL mode, one file in the data dir. Queries stay portable (`$n`
//! placeholders, BIGINT Unix milliseconds, TEXT ids and JSON, no AUTOINCREMENT) so a PostgreSQL
//! backend can follow. Package blobs live on disk beside it, addressed by sha256.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use cloudtask_shared::api::PackageInfo;
use cloudtask_shared::{RunRecord, RunStatus, Task, TaskSpec};
use jiff::Timestamp;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Row};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("store: {0}")]
    Db(#[from] sqlx::Error),
    #[error("store holds data it cannot read ({what}): {message}")]
    Corrupt { what: String, message: String },
    #[error("{0}")]
    Conflict(String),
}

pub type Result<T> = std::result::Result<T, Error>;

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
];

/// Cheap to clone: a connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    /// One writer at a time, in arrival order: SQLite's busy handler retries by sleeping, so
    /// under a stream of run reports another writer could wait past the busy timeout.
    writes: std::sync::Arc<tokio::sync::Mutex<()>>,
}

fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

fn ts(v: i64) -> Timestamp {
    Timestamp::from_millisecond(v).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The columns every run insert writes, in [`push_run`]'s order.
const RUN_INSERT: &str = "INSERT INTO runs (id, task_id, task_name, scheduled_at, started_at, finished_at, status, status_rank, exit_code, node, attempt, trigger_kind, message, params, args) ";

/// One run's values for [`RUN_INSERT`]: the one place a run becomes a row.
fn push_run(
    mut b: sqlx::query_builder::Separated<'_, sqlx::Sqlite, &'static str>,
    run: &RunRecord,
) {
    b.push_bind(&run.id)
        .push_bind(&run.task)
        .push_bind(&run.task_name)
        .push_bind(ms(run.scheduled_at))
        .push_bind(run.started_at.map(ms))
        .push_bind(run.finished_at.map(ms))
        .push_bind(run.status.as_str())
        .push_bind(i64::from(run.status.rank()))
        .push_bind(run.exit_code)
        .push_bind(&run.node)
        .push_bind(i64::from(run.attempt))
        .push_bind(run.trigger.as_str())
        .push_bind(&run.message)
        .push_bind(json_unless_empty(&run.params))
        .push_bind(json_unless_empty(&run.args));
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

fn name_taken(spec: &TaskSpec) -> Error {
    Error::Conflict(format!(
        "a task named {:?} already exists in group {:?}",
        spec.name, spec.group
    ))
}

/// Filters of a run listing.
#[derive(Debug, Default, Clone)]
pub struct RunFilter {
    pub task: Option<String>,
    pub statuses: Vec<RunStatus>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub limit: u32,
}

/// Rows per multi-row statement: 15 columns each stays far below SQLite's 32,766 variables.
const ROWS_PER_STATEMENT: usize = 500;

/// What an applied run report changed.
#[derive(Debug, PartialEq, Eq)]
pub enum RunWrite {
    /// The record moved forward (or was new).
    Applied,
    /// A stale or repeated report: nothing changed.
    Ignored,
}

impl Store {
    pub async fn open(path: &Path) -> Result<Store> {
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
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
        Ok(Store {
            pool,
            writes: Default::default(),
        })
    }
}

/// Applies the migrations not applied yet, each in its own transaction.
async fn migrate(conn: &mut sqlx::SqliteConnection) -> Result<()> {
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

impl Store {
    // ---- tokens and audit

    pub async fn tokens(&self) -> Result<Vec<(String, String, String)>> {
        let rows =
            sqlx::query_as::<_, (String, String, String)>("SELECT hash, name, role FROM tokens")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows)
    }

    pub async fn add_token(&self, hash: &str, name: &str, role: &str) -> Result<()> {
        let _write = self.writes.lock().await;
        sqlx::query("INSERT INTO tokens (hash, name, role, created_at) VALUES ($1, $2, $3, $4)")
            .bind(hash)
            .bind(name)
            .bind(role)
            .bind(ms(Timestamp::now()))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn audit(&self, actor: &str, action: &str, target: &str, detail: &str) -> Result<()> {
        let _write = self.writes.lock().await;
        sqlx::query(
            "INSERT INTO audit (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(ms(Timestamp::now()))
        .bind(actor)
        .bind(action)
        .bind(target)
        .bind(detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    // ---- clusters and groups (table and column names come from `NameTable`, never from input)

    pub async fn names(&self, table: NameTable) -> Result<Vec<(String, String)>> {
        let sql = format!(
            "SELECT name, description FROM {} ORDER BY name",
            table.table()
        );
        Ok(sqlx::query_as::<_, (String, String)>(AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?)
    }

    /// Creates a cluster or group; false when it already exists.
    pub async fn add_name(&self, table: NameTable, name: &str, description: &str) -> Result<bool> {
        let _write = self.writes.lock().await;
        let sql = format!(
            "INSERT INTO {} (name, description, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
            table.table()
        );
        let r = sqlx::query(AssertSqlSafe(sql))
            .bind(name)
            .bind(description)
            .bind(ms(Timestamp::now()))
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn remove_name(&self, table: NameTable, name: &str) -> Result<bool> {
        let _write = self.writes.lock().await;
        let column = match table {
            NameTable::Clusters => "cluster",
            NameTable::Groups => "grp",
        };
        let used: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM tasks WHERE {column} = $1"
        )))
        .bind(name)
        .fetch_one(&self.pool)
        .await?;
        if used > 0 {
            return Err(Error::Conflict(format!(
                "{name:?} still has {used} task(s)"
            )));
        }
        let r = sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM {} WHERE name = $1",
            table.table()
        )))
        .bind(name)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    // ---- tasks

    fn task_from_row(row: &SqliteRow) -> Result<Task> {
        let spec: String = row.try_get("spec")?;
        let spec: TaskSpec = serde_json::from_str(&spec).map_err(|e| corrupt("task spec", e))?;
        Ok(Task {
            id: row.try_get("id")?,
            spec,
            version: row.try_get::<i64, _>("version")? as u64,
            created_by: row.try_get("created_by")?,
            created_at: ts(row.try_get("created_at")?),
            updated_by: row.try_get("updated_by")?,
            updated_at: ts(row.try_get("updated_at")?),
        })
    }

    pub async fn insert_task(&self, task: &Task) -> Result<()> {
        let _write = self.writes.lock().await;
        let spec = serde_json::to_string(&task.spec).map_err(|e| corrupt("task spec", e))?;
        let r = sqlx::query(
            "INSERT INTO tasks (id, grp, name, cluster, spec, version, created_by, created_at, updated_by, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (grp, name) DO NOTHING",
        )
        .bind(&task.id)
        .bind(&task.spec.group)
        .bind(&task.spec.name)
        .bind(&task.spec.cluster)
        .bind(spec)
        .bind(task.version as i64)
        .bind(&task.created_by)
        .bind(ms(task.created_at))
        .bind(&task.updated_by)
        .bind(ms(task.updated_at))
        .execute(&self.pool)
        .await?;
        if r.rows_affected() == 0 {
            return Err(name_taken(&task.spec));
        }
        Ok(())
    }

    /// Saves `task` if the stored version is still `task.version - 1`.
    pub async fn update_task(&self, task: &Task) -> Result<()> {
        let _write = self.writes.lock().await;
        let spec = serde_json::to_string(&task.spec).map_err(|e| corrupt("task spec", e))?;
        let r = sqlx::query(
            "UPDATE tasks SET grp = $1, name = $2, cluster = $3, spec = $4, version = $5, updated_by = $6, updated_at = $7
             WHERE id = $8 AND version = $9",
        )
        .bind(&task.spec.group)
        .bind(&task.spec.name)
        .bind(&task.spec.cluster)
        .bind(spec)
        .bind(task.version as i64)
        .bind(&task.updated_by)
        .bind(ms(task.updated_at))
        .bind(&task.id)
        .bind(task.version as i64 - 1)
        .execute(&self.pool)
        .await;
        match r {
            Ok(r) if r.rows_affected() == 1 => Ok(()),
            Ok(_) => Err(Error::Conflict(format!(
                "task {} was changed by someone else (it is no longer at version {})",
                task.spec.name,
                task.version - 1
            ))),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(name_taken(&task.spec)),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn task(&self, id: &str) -> Result<Option<Task>> {
        let row = sqlx::query("SELECT * FROM tasks WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::task_from_row).transpose()
    }

    /// Which of these task ids exist (one query, no spec decoding: the report path uses it).
    pub async fn existing_tasks(&self, ids: &[&str]) -> Result<std::collections::HashSet<String>> {
        let mut out = std::collections::HashSet::new();
        for chunk in ids.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!("SELECT id FROM tasks WHERE id IN ({})", marks.join(", "));
            // Only placeholders went into `sql`; the ids are bound.
            let mut q = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(*id);
            }
            out.extend(q.fetch_all(&self.pool).await?);
        }
        Ok(out)
    }

    /// Tasks with this name, in one group or in all.
    pub async fn tasks_named(&self, name: &str, group: Option<&str>) -> Result<Vec<Task>> {
        let rows = match group {
            Some(g) => {
                sqlx::query("SELECT * FROM tasks WHERE name = $1 AND grp = $2")
                    .bind(name)
                    .bind(g)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query("SELECT * FROM tasks WHERE name = $1")
                    .bind(name)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(Self::task_from_row).collect()
    }

    pub async fn tasks(&self) -> Result<Vec<Task>> {
        let rows = sqlx::query("SELECT * FROM tasks ORDER BY grp, name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Self::task_from_row).collect()
    }

    /// A cheap summary that changes whenever a task is created, edited or deleted, so a center
    /// sharing the store with another notices their changes without reloading every task.
    pub async fn tasks_fingerprint(&self) -> Result<(i64, i64, i64)> {
        let row = sqlx::query(
            "SELECT COUNT(*), COALESCE(MAX(updated_at), 0), COALESCE(SUM(version), 0) FROM tasks",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
    }

    /// Number of tasks per cluster.
    pub async fn task_counts_by_cluster(&self) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT cluster, COUNT(*) FROM tasks GROUP BY cluster")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Deletes a task with its runs, logs and package history.
    pub async fn delete_task(&self, id: &str) -> Result<bool> {
        let _write = self.writes.lock().await;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "DELETE FROM run_logs WHERE run_id IN (SELECT id FROM runs WHERE task_id = $1)",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM runs WHERE task_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM task_packages WHERE task_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let r = sqlx::query("DELETE FROM tasks WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    // ---- packages

    pub async fn add_package(&self, sha256: &str, size: u64) -> Result<()> {
        let _write = self.writes.lock().await;
        sqlx::query("INSERT INTO packages (sha256, size, created_at) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING")
            .bind(sha256)
            .bind(size as i64)
            .bind(ms(Timestamp::now()))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn package_exists(&self, sha256: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM packages WHERE sha256 = $1")
            .bind(sha256)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    pub async fn record_task_package(&self, task_id: &str, p: &PackageInfo) -> Result<()> {
        let _write = self.writes.lock().await;
        sqlx::query(
            "INSERT INTO task_packages (task_id, sha256, file_name, size, uploaded_at, uploaded_by) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (task_id, sha256, file_name) DO UPDATE SET uploaded_at = excluded.uploaded_at, uploaded_by = excluded.uploaded_by",
        )
        .bind(task_id)
        .bind(&p.sha256)
        .bind(&p.file_name)
        .bind(p.size as i64)
        .bind(ms(p.uploaded_at))
        .bind(&p.uploaded_by)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn task_packages(&self, task_id: &str) -> Result<Vec<PackageInfo>> {
        let rows = sqlx::query_as::<_, (String, String, i64, i64, String)>(
            "SELECT sha256, file_name, size, uploaded_at, uploaded_by FROM task_packages WHERE task_id = $1 ORDER BY uploaded_at DESC",
        )
        .bind(task_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(sha256, file_name, size, at, by)| PackageInfo {
                sha256,
                file_name,
                size: size as u64,
                uploaded_at: ts(at),
                uploaded_by: by,
            })
            .collect())
    }

    // ---- runs

    fn run_from_row(row: &SqliteRow) -> Result<RunRecord> {
        let status: String = row.try_get("status")?;
        let trigger: String = row.try_get("trigger_kind")?;
        Ok(RunRecord {
            id: row.try_get("id")?,
            task: row.try_get("task_id")?,
            task_name: row.try_get("task_name")?,
            scheduled_at: ts(row.try_get("scheduled_at")?),
            started_at: row.try_get::<Option<i64>, _>("started_at")?.map(ts),
            finished_at: row.try_get::<Option<i64>, _>("finished_at")?.map(ts),
            status: RunStatus::from_str(&status).map_err(|e| corrupt("run status", e))?,
            exit_code: row.try_get("exit_code")?,
            node: row.try_get("node")?,
            attempt: row.try_get::<i64, _>("attempt")? as u32,
            trigger: serde_json::from_value(serde_json::Value::String(trigger))
                .map_err(|e| corrupt("run trigger", e))?,
            message: row.try_get("message")?,
            params: json_or_default(row, "params")?,
            args: json_or_default(row, "args")?,
        })
    }

    /// Stores a run report idempotently: a record only moves forward (scheduled → running →
    /// terminal), a terminal record never changes, and the first log stored is kept.
    pub async fn put_run(&self, run: &RunRecord, log: Option<&str>) -> Result<RunWrite> {
        let out = self.put_runs(&[(run, log)]).await?;
        Ok(out.into_iter().next().unwrap_or(RunWrite::Ignored))
    }

    /// Stores a batch of run reports in one transaction (see [`Store::put_run`]), a few
    /// hundred rows per statement: a statement costs a round trip to SQLite's worker thread,
    /// and one per report made the store the bottleneck at a few thousand reports a second.
    /// Within the batch, a run's reports reduce to what applying them in order would leave.
    pub async fn put_runs(&self, reports: &[(&RunRecord, Option<&str>)]) -> Result<Vec<RunWrite>> {
        // Per run: the first report of the highest rank (later equal ranks change nothing),
        // and the first non-empty log.
        let mut kept: HashMap<&str, usize> = HashMap::new();
        let mut logs: HashMap<&str, &str> = HashMap::new();
        for (i, (run, log)) in reports.iter().enumerate() {
            let k = kept.entry(run.id.as_str()).or_insert(i);
            if run.status.rank() > reports[*k].0.status.rank() {
                *k = i;
            }
            if let Some(log) = log.filter(|l| !l.is_empty()) {
                logs.entry(run.id.as_str()).or_insert(log);
            }
        }
        let mut rows: Vec<usize> = kept.values().copied().collect();
        rows.sort_unstable();
        let mut logs: Vec<(&str, &str)> = logs.into_iter().collect();
        logs.sort_unstable();

        let _write = self.writes.lock().await;
        let mut tx = self.pool.begin().await?;
        let mut applied: HashSet<String> = HashSet::new();
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let mut q = sqlx::QueryBuilder::new(RUN_INSERT);
            q.push_values(chunk, |b, &i| push_run(b, reports[i].0));
            q.push(
                " ON CONFLICT (id) DO UPDATE SET started_at = COALESCE(excluded.started_at, runs.started_at), finished_at = excluded.finished_at,
                     status = excluded.status, status_rank = excluded.status_rank, exit_code = excluded.exit_code, node = excluded.node,
                     message = excluded.message
                 WHERE runs.status_rank < excluded.status_rank
                 RETURNING id",
            );
            let ids: Vec<String> = q.build_query_scalar().fetch_all(&mut *tx).await?;
            applied.extend(ids);
        }
        // An empty log needs no row: reading a run without one gives the same empty text.
        for chunk in logs.chunks(ROWS_PER_STATEMENT) {
            let mut q = sqlx::QueryBuilder::new("INSERT INTO run_logs (run_id, log) ");
            q.push_values(chunk, |mut b, (id, log)| {
                b.push_bind(*id).push_bind(*log);
            });
            q.push(" ON CONFLICT (run_id) DO NOTHING");
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(reports
            .iter()
            .enumerate()
            .map(|(i, (run, _))| {
                if kept.get(run.id.as_str()) == Some(&i) && applied.contains(&run.id) {
                    RunWrite::Applied
                } else {
                    RunWrite::Ignored
                }
            })
            .collect())
    }

    /// The run an idempotency key of `task` created since `since`, if any.
    pub async fn start_key(
        &self,
        task: &str,
        key: &str,
        since: Timestamp,
    ) -> Result<Option<RunRecord>> {
        let row = sqlx::query(
            "SELECT runs.* FROM start_keys JOIN runs ON runs.id = start_keys.run_id
             WHERE start_keys.task_id = $1 AND start_keys.key = $2 AND start_keys.created_at >= $3",
        )
        .bind(task)
        .bind(key)
        .bind(ms(since))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::run_from_row).transpose()
    }

    /// Stores a manual run, or, when `key` was used for this task since `since`, stores
    /// nothing and returns the run that key created: a retried start is answered, not rerun.
    /// The key and the run commit together.
    pub async fn start_run(
        &self,
        run: &RunRecord,
        key: Option<&str>,
        since: Timestamp,
    ) -> Result<Option<RunRecord>> {
        let _write = self.writes.lock().await;
        let mut tx = self.pool.begin().await?;
        if let Some(key) = key {
            sqlx::query(
                "DELETE FROM start_keys WHERE task_id = $1 AND key = $2 AND created_at < $3",
            )
            .bind(&run.task)
            .bind(key)
            .bind(ms(since))
            .execute(&mut *tx)
            .await?;
            let earlier: Option<String> =
                sqlx::query_scalar("SELECT run_id FROM start_keys WHERE task_id = $1 AND key = $2")
                    .bind(&run.task)
                    .bind(key)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some(id) = earlier {
                let row = sqlx::query("SELECT * FROM runs WHERE id = $1")
                    .bind(&id)
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some(row) = row {
                    return Ok(Some(Self::run_from_row(&row)?));
                }
            }
            sqlx::query(
                "INSERT INTO start_keys (task_id, key, run_id, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (task_id, key) DO UPDATE SET run_id = excluded.run_id, created_at = excluded.created_at",
            )
            .bind(&run.task)
            .bind(key)
            .bind(&run.id)
            .bind(ms(run.scheduled_at))
            .execute(&mut *tx)
            .await?;
        }
        let mut q = sqlx::QueryBuilder::new(RUN_INSERT);
        q.push_values([run], push_run);
        q.build().execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(None)
    }

    pub async fn run(&self, id: &str) -> Result<Option<RunRecord>> {
        let row = sqlx::query("SELECT * FROM runs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::run_from_row).transpose()
    }

    pub async fn run_log(&self, id: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT log FROM run_logs WHERE run_id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Runs newest first.
    pub async fn runs(&self, f: &RunFilter) -> Result<Vec<RunRecord>> {
        let mut sql = String::from("SELECT * FROM runs WHERE 1 = 1");
        let mut n = 0;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        if f.task.is_some() {
            sql.push_str(&format!(" AND task_id = {}", next()));
        }
        if !f.statuses.is_empty() {
            let ps: Vec<String> = f.statuses.iter().map(|_| next()).collect();
            sql.push_str(&format!(" AND status IN ({})", ps.join(", ")));
        }
        if f.since.is_some() {
            sql.push_str(&format!(" AND scheduled_at >= {}", next()));
        }
        if f.until.is_some() {
            sql.push_str(&format!(" AND scheduled_at <= {}", next()));
        }
        sql.push_str(&format!(
            " ORDER BY scheduled_at DESC, attempt DESC LIMIT {}",
            next()
        ));
        // Only fixed fragments and $n placeholders went into `sql`; values are bound.
        let mut q = sqlx::query(AssertSqlSafe(sql));
        if let Some(t) = &f.task {
            q = q.bind(t);
        }
        for s in &f.statuses {
            q = q.bind(s.as_str());
        }
        if let Some(t) = f.since {
            q = q.bind(ms(t));
        }
        if let Some(t) = f.until {
            q = q.bind(ms(t));
        }
        q = q.bind(i64::from(f.limit));
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(Self::run_from_row).collect()
    }

    /// Marks the active runs of a node that left the cluster `lost`: nobody will report them.
    /// A real outcome reported later (the node was only frozen) still replaces it.
    pub async fn mark_node_runs_lost(&self, node: &str, why: &str) -> Result<Vec<RunRecord>> {
        let now = Timestamp::now();
        let lost: Vec<RunRecord> = self
            .active_runs(None)
            .await?
            .into_iter()
            .filter(|r| r.node == node)
            .map(|r| RunRecord {
                status: RunStatus::Lost,
                finished_at: Some(now),
                message: Some(why.to_string()),
                ..r
            })
            .collect();
        let reports: Vec<(&RunRecord, Option<&str>)> = lost.iter().map(|r| (r, None)).collect();
        self.put_runs(&reports).await?;
        Ok(lost)
    }

    /// Runs not yet finished (scheduled or running), optionally of one task.
    pub async fn active_runs(&self, task: Option<&str>) -> Result<Vec<RunRecord>> {
        let rows = match task {
            Some(t) => {
                sqlx::query("SELECT * FROM runs WHERE status_rank < 2 AND task_id = $1")
                    .bind(t)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query("SELECT * FROM runs WHERE status_rank < 2")
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(Self::run_from_row).collect()
    }
}

/// The two plain name tables.
#[derive(Debug, Clone, Copy)]
pub enum NameTable {
    Clusters,
    Groups,
}

impl NameTable {
    fn table(self) -> &'static str {
        match self {
            NameTable::Clusters => "clusters",
            NameTable::Groups => "task_groups",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudtask_shared::Trigger;

    fn run(status: RunStatus) -> RunRecord {
        RunRecord {
            id: "t-1000-1".into(),
            task: "t".into(),
            task_name: "n".into(),
            scheduled_at: ts(1000),
            started_at: Some(ts(1001)),
            finished_at: None,
            status,
            exit_code: None,
            node: "n1".into(),
            attempt: 1,
            trigger: Trigger::Schedule,
            message: None,
            params: Default::default(),
            args: Vec::new(),
        }
    }

    #[tokio::test]
    async fn a_batch_of_reports_ends_as_applying_them_in_order_would() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).await.unwrap();
        let running = run(RunStatus::Running);
        let mut done = run(RunStatus::Succeeded);
        done.exit_code = Some(0);
        let mut again = done.clone();
        again.exit_code = Some(9);
        // More runs than one statement holds, to cross a chunk boundary.
        let others: Vec<RunRecord> = (0..ROWS_PER_STATEMENT + 7)
            .map(|i| RunRecord {
                id: format!("other-{i}"),
                ..run(RunStatus::Failed)
            })
            .collect();
        let mut batch: Vec<(&RunRecord, Option<&str>)> = vec![
            (&running, None),
            (&done, Some("log one")),
            (&again, Some("log two")),
            (&running, None),
        ];
        batch.extend(others.iter().map(|r| (r, Some(""))));
        let writes = store.put_runs(&batch).await.unwrap();
        use RunWrite::{Applied, Ignored};
        assert_eq!(writes[..4], [Ignored, Applied, Ignored, Ignored]);
        assert!(writes[4..].iter().all(|w| *w == Applied));
        let got = store.run("t-1000-1").await.unwrap().unwrap();
        assert_eq!((got.status, got.exit_code), (RunStatus::Succeeded, Some(0)));
        assert_eq!(
            store.run_log("t-1000-1").await.unwrap().as_deref(),
            Some("log one")
        );
        let last = format!("other-{}", ROWS_PER_STATEMENT + 6);
        assert_eq!(
            store.run(&last).await.unwrap().map(|r| r.status),
            Some(RunStatus::Failed)
        );
        assert_eq!(
            store.run_log(&last).await.unwrap(),
            None,
            "an empty log has no row"
        );
        // The same batch again (a redelivery) changes nothing.
        let writes = store.put_runs(&batch).await.unwrap();
        assert!(writes.iter().all(|w| *w == Ignored), "{writes:?}");
    }

    #[tokio::test]
    async fn run_reports_only_move_forward_and_keep_the_first_log() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).await.unwrap();
        assert_eq!(
            store.put_run(&run(RunStatus::Running), None).await.unwrap(),
            RunWrite::Applied
        );
        let mut done = run(RunStatus::Succeeded);
        done.exit_code = Some(0);
        assert_eq!(
            store.put_run(&done, Some("log one")).await.unwrap(),
            RunWrite::Applied
        );
        // Redelivery and late, out-of-order reports change nothing.
        assert_eq!(
            store.put_run(&done, Some("log two")).await.unwrap(),
            RunWrite::Ignored
        );
        assert_eq!(
            store.put_run(&run(RunStatus::Running), None).await.unwrap(),
            RunWrite::Ignored
        );
        let got = store.run("t-1000-1").await.unwrap().unwrap();
        assert_eq!((got.status, got.exit_code), (RunStatus::Succeeded, Some(0)));
        assert_eq!(
            store.run_log("t-1000-1").await.unwrap().as_deref(),
            Some("log one")
        );
        // Reopening applies no migration twice.
        drop(store);
        let store = Store::open(&dir.path().join("db")).await.unwrap();
        assert_eq!(
            store
                .runs(&RunFilter {
                    limit: 10,
                    ..Default::default()
                })
                .await
                .unwrap()
                .len(),
            1
        );
    }
}
