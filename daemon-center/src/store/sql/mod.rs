//! The SQL backends: SQLite (embedded, one file in the data dir, the default) and PostgreSQL
//! (one database every center shares), through one implementation over sqlx's `Any` driver.
//!
//! Queries are written once, in the SQL both accept (`$n` placeholders, BIGINT Unix
//! milliseconds, TEXT ids and JSON, `rowid` — SQLite's own, a column of PostgreSQL's tables).
//! One module per concept of [`super`]'s interface; [`sqlite`] and [`postgres`] open their
//! backend, hold its migrations (the same version numbers in both) and say how a write takes
//! the one writer's lock; this module holds what they share: the writer, row mapping helpers,
//! a statement builder and the writer of a write's [`Effects`].

mod alerts;
mod audit;
pub mod copy;
mod epoch;
mod outbox;
mod packages;
mod placements;
pub mod postgres;
mod retention;
mod runs;
pub mod sqlite;
mod tasks;
mod tokens;
mod users;

use std::sync::Arc;

use cloudtask_shared::api::Event;
use jiff::Timestamp;
use sqlx::AnyPool;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Any, AnyConnection, Arguments, Row};

use super::{Effects, Error, Result};

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        let code = e.as_database_error().and_then(|d| d.code());
        // SQLITE_FULL (13, and its extended codes): SQLite maps a write's ENOSPC to it;
        // PostgreSQL says disk_full (53100).
        let full = code
            .as_deref()
            .is_some_and(|c| c == "53100" || c.parse::<i64>().is_ok_and(|n| n & 0xff == 13));
        // A connection that broke or could not be made, and PostgreSQL's connection
        // exceptions (class 08) and shutdowns (57P01–57P03).
        let unreachable = matches!(
            e,
            sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
        ) || code
            .as_deref()
            .is_some_and(|c| c.starts_with("08") || matches!(c, "57P01" | "57P02" | "57P03"));
        if full {
            Error::Full(e.to_string())
        } else if unreachable {
            Error::Unavailable(e.to_string())
        } else {
            Error::Backend(e.to_string())
        }
    }
}

/// Which database is behind the pool: the few places the two differ ask it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Cheap to clone: a connection pool.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
    /// One writer at a time, in arrival order: SQLite's busy handler retries by sleeping, so
    /// under a stream of run reports another writer could wait past the busy timeout.
    /// PostgreSQL's writers also queue on a lock in the database ([`postgres::BEGIN_WRITE`]),
    /// which orders the writers of every center.
    writes: Arc<tokio::sync::Mutex<()>>,
}

/// A write in progress: the writer lock and a connection inside a transaction that holds the
/// database's writer lock, committed together.
///
/// A write that does not commit (an error, a dropped future) closes its connection rather
/// than handing it back: after an error such as `SQLITE_FULL`, SQLite may or may not have
/// rolled the transaction back itself, and a connection whose state is in doubt must not
/// serve the next write (one that kept its transaction open held the write lock, and every
/// later write answered "database is locked").
struct Write<'a> {
    _lock: tokio::sync::MutexGuard<'a, ()>,
    tx: sqlx::pool::PoolConnection<Any>,
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

impl SqlStore {
    /// Opens the store a `--store` value names: a `postgres://` (or `postgresql://`) URL, else
    /// the path of an SQLite file.
    pub async fn open(store: &str) -> Result<SqlStore> {
        if store.starts_with("postgres://") || store.starts_with("postgresql://") {
            postgres::open(store).await
        } else {
            sqlite::open(std::path::Path::new(store)).await
        }
    }

    /// The schema version the store is at (the number of migrations applied).
    #[cfg(test)]
    pub async fn schema_version(&self) -> Result<i64> {
        let v: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_version")
            .fetch_one(&self.pool)
            .await?;
        Ok(v.unwrap_or(0))
    }

    /// Runs one statement as it is: tests set up rows no interface writes (an older
    /// center's).
    #[cfg(test)]
    pub async fn execute_for_test(&self, sql: &str) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&self.pool)
            .await
            .unwrap();
    }

    async fn write(&self) -> Result<Write<'_>> {
        let lock = self.writes.lock().await;
        let tx = self.pool.acquire().await?;
        let mut w = Write {
            _lock: lock,
            tx,
            open: true,
        };
        match self.backend {
            Backend::Sqlite => sqlx::raw_sql(sqlite::BEGIN_WRITE),
            Backend::Postgres => sqlx::raw_sql(postgres::BEGIN_WRITE),
        }
        .execute(&mut *w.tx)
        .await?;
        Ok(w)
    }
}

/// A schema newer than this build knows: refused rather than guessed at.
fn too_new(found: i64, known: usize) -> Error {
    Error::Backend(format!(
        "the store's schema is at version {found}, newer than the {known} this center knows: \
         upgrade this center (or point it at another store)"
    ))
}

/// Applies the migrations not applied yet, each in its own transaction opened by `begin`,
/// which takes the writer's lock: centers starting together on one store migrate once.
async fn migrate(
    conn: &mut AnyConnection,
    migrations: &[&str],
    create_version_table: &'static str,
    begin: &'static str,
) -> Result<()> {
    let mut first = true;
    loop {
        sqlx::raw_sql(begin).execute(&mut *conn).await?;
        if std::mem::take(&mut first) {
            sqlx::raw_sql(create_version_table)
                .execute(&mut *conn)
                .await?;
        }
        let current: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_version")
            .fetch_one(&mut *conn)
            .await?;
        let current = current.unwrap_or(0);
        if current > migrations.len() as i64 {
            sqlx::query("ROLLBACK").execute(&mut *conn).await?;
            return Err(too_new(current, migrations.len()));
        }
        let Some(sql) = migrations.get(current as usize) else {
            sqlx::query("COMMIT").execute(&mut *conn).await?;
            return Ok(());
        };
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&mut *conn)
            .await?;
        sqlx::query("INSERT INTO schema_version (version) VALUES ($1)")
            .bind(current + 1)
            .execute(&mut *conn)
            .await?;
        sqlx::query("COMMIT").execute(&mut *conn).await?;
        tracing::info!(version = current + 1, "store migrated");
    }
}

/// A statement built from fixed fragments and bound values, numbering its placeholders
/// `$1, $2, …` (sqlx's own builder writes `?` for the `Any` driver, which PostgreSQL does not
/// read). Only fixed fragments go into the text; every value is bound.
pub(super) struct Sql {
    text: String,
    args: AnyArguments,
}

/// One row of a multi-row `VALUES` list being built: binds separated by commas.
pub(super) struct Values<'a> {
    sql: &'a mut Sql,
    first: bool,
}

impl Values<'_> {
    pub fn bind<'t, T: sqlx::Encode<'t, Any> + sqlx::Type<Any> + 't>(&mut self, v: T) -> &mut Self {
        if !self.first {
            self.sql.text.push_str(", ");
        }
        self.first = false;
        self.sql.bind(v);
        self
    }
}

impl Sql {
    pub fn new(text: &str) -> Sql {
        Sql {
            text: text.to_string(),
            args: AnyArguments::default(),
        }
    }

    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder and binds `v` to it.
    pub fn bind<'t, T: sqlx::Encode<'t, Any> + sqlx::Type<Any> + 't>(&mut self, v: T) -> &mut Self {
        // Encoding into the `Any` buffer only copies the value: it cannot fail.
        let _ = self.args.add(v);
        let n = self.args.len();
        self.text.push_str(&format!("${n}"));
        self
    }

    /// `VALUES (…), (…)`: one row per item, its values bound by `row`.
    pub fn values<T>(
        &mut self,
        items: &[T],
        mut row: impl FnMut(&mut Values<'_>, &T),
    ) -> &mut Self {
        self.text.push_str("VALUES ");
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.text.push('(');
            row(
                &mut Values {
                    sql: self,
                    first: true,
                },
                item,
            );
            self.text.push(')');
        }
        self
    }

    pub fn query(self) -> sqlx::query::Query<'static, Any, AnyArguments> {
        sqlx::query_with(sqlx::AssertSqlSafe(self.text), self.args)
    }

    pub fn query_scalar<O>(self) -> sqlx::query::QueryScalar<'static, Any, O, AnyArguments>
    where
        (O,): for<'r> sqlx::FromRow<'r, AnyRow>,
    {
        sqlx::query_scalar_with(sqlx::AssertSqlSafe(self.text), self.args)
    }
}

use epoch::check_fence;

/// The audit row and the outbox row of a write, inside its transaction (refused whole when
/// the write is a deposed leader's).
async fn write_effects(tx: &mut AnyConnection, fx: &Effects) -> Result<()> {
    if let Some(fence) = fx.fence {
        check_fence(tx, fence).await?;
    }
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
        let mut q = Sql::new(runs::RUN_INSERT);
        q.values(std::slice::from_ref(&req.run), runs::push_run);
        q.push(" ON CONFLICT (id) DO NOTHING");
        if q.query().execute(&mut *tx).await?.rows_affected() == 1 {
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
    row: &AnyRow,
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
    conn: &mut AnyConnection,
    select: &str,
    column: &str,
    ids: &[&str],
) -> Result<Vec<T>>
where
    T: for<'r> sqlx::FromRow<'r, AnyRow> + Send + Unpin,
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
