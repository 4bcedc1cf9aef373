//! Copying a whole store into another (`cloudtask-center copy-store`): how an SQLite store
//! moves to PostgreSQL, or back. Both are migrated to this build's schema first, so their
//! tables and columns are the same (a test keeps it so); rows are read from one snapshot of the
//! source and written in one transaction into the target, which must be empty; each table's
//! count is then compared.

use futures_util::TryStreamExt;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Backend, Sql, SqlStore};
use crate::store::{Error, Result};

/// A column's values as both backends hold them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Text,
    Bytes,
}

/// One table of the schema: its name and columns. `rowid` is listed when the PostgreSQL
/// schema has it (SQLite's is implicit, and can be read and written by name), so the order it
/// keeps (the audit log's, for one) survives the move.
#[derive(Debug)]
struct Table {
    name: String,
    columns: Vec<(String, Kind)>,
}

fn kind(declared: &str) -> Result<Kind> {
    let d = declared.to_ascii_lowercase();
    if d.contains("int") {
        Ok(Kind::Int)
    } else if d.contains("text") || d.contains("char") {
        Ok(Kind::Text)
    } else if d.contains("blob") || d.contains("bytea") {
        Ok(Kind::Bytes)
    } else {
        Err(Error::Backend(format!(
            "a column of type {declared:?}: copy-store does not know it"
        )))
    }
}

/// The tables with rows to copy, and their columns, from `store`'s own catalog.
async fn tables(store: &SqlStore) -> Result<Vec<Table>> {
    let sql = match store.backend {
        Backend::Sqlite => {
            "SELECT m.name, p.name, p.type FROM sqlite_master m, pragma_table_info(m.name) p
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, p.cid"
        }
        Backend::Postgres => {
            "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns
             WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
        }
    };
    let rows: Vec<(String, String, String)> = sqlx::query_as(sql).fetch_all(&store.pool).await?;
    let mut out: Vec<Table> = Vec::new();
    for (table, column, declared) in rows {
        // The schema's version is each store's own, written by its migrations.
        if table == "schema_version" {
            continue;
        }
        if out.last().is_none_or(|t| t.name != table) {
            out.push(Table {
                name: table,
                columns: Vec::new(),
            });
        }
        if let Some(t) = out.last_mut() {
            t.columns.push((column, kind(&declared)?));
        }
    }
    Ok(out)
}

/// The columns both sides copy, SQLite's side given `rowid` where PostgreSQL's table has it.
fn with_rowids(sqlite: &mut [Table], postgres: &[Table]) {
    for t in sqlite {
        let has = postgres
            .iter()
            .any(|p| p.name == t.name && p.columns.iter().any(|(c, _)| c == "rowid"));
        if has && !t.columns.iter().any(|(c, _)| c == "rowid") {
            t.columns.insert(0, ("rowid".into(), Kind::Int));
        }
    }
}

/// One value read from the source, as bound into the target.
enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
}

impl Value {
    fn read(row: &AnyRow, i: usize, kind: Kind) -> Result<Value> {
        Ok(match kind {
            Kind::Int => Value::Int(row.try_get(i)?),
            Kind::Text => Value::Text(row.try_get(i)?),
            Kind::Bytes => Value::Bytes(row.try_get(i)?),
        })
    }

    fn size(&self) -> usize {
        match self {
            Value::Int(_) => 8,
            Value::Text(t) => t.as_ref().map_or(0, String::len),
            Value::Bytes(b) => b.as_ref().map_or(0, Vec::len),
        }
    }
}

/// Rows per insert, and bytes: package chunks are a MiB each.
const BATCH_ROWS: usize = 500;
const BATCH_BYTES: usize = 16 << 20;

/// What was copied: each table and its rows.
pub type Copied = Vec<(String, u64)>;

/// Copies every row of `from` into `to` (a `--store` value each) and verifies the counts.
pub async fn copy_store(from: &str, to: &str) -> Result<Copied> {
    // Opening an SQLite path creates the file: a mistyped source would copy nothing.
    let is_url = from.starts_with("postgres://") || from.starts_with("postgresql://");
    if !is_url && !std::path::Path::new(from).exists() {
        return Err(Error::Backend(format!(
            "no store at {from}: nothing to copy"
        )));
    }
    let src = SqlStore::open(from).await?;
    let dst = SqlStore::open(to).await?;
    let mut src_tables = tables(&src).await?;
    let mut dst_tables = tables(&dst).await?;
    match (src.backend, dst.backend) {
        (Backend::Sqlite, Backend::Postgres) => with_rowids(&mut src_tables, &dst_tables),
        (Backend::Postgres, Backend::Sqlite) => with_rowids(&mut dst_tables, &src_tables),
        _ => {}
    }
    let names = |ts: &[Table]| -> Vec<(String, Vec<String>)> {
        ts.iter()
            .map(|t| {
                let mut c: Vec<String> = t.columns.iter().map(|(c, _)| c.clone()).collect();
                c.sort();
                (t.name.clone(), c)
            })
            .collect()
    };
    if names(&src_tables) != names(&dst_tables) {
        return Err(Error::Backend(
            "the two stores' schemas differ: run the same cloudtask-center version on both".into(),
        ));
    }
    for t in &dst_tables {
        let n = count(&dst, &t.name).await?;
        if n > 0 {
            return Err(Error::Backend(format!(
                "the target store is not empty (table {} has {n} rows): copy-store only fills an empty store",
                t.name
            )));
        }
    }
    // One snapshot of the source: every table as of the same moment.
    let mut read = src.pool.acquire().await?;
    let begin = match src.backend {
        Backend::Sqlite => "BEGIN",
        Backend::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    };
    sqlx::raw_sql(begin).execute(&mut *read).await?;
    let mut w = dst.write().await?;
    let mut copied = Vec::new();
    for t in &src_tables {
        let cols: Vec<&str> = t.columns.iter().map(|(c, _)| c.as_str()).collect();
        let list = cols.join(", ");
        let select = format!("SELECT {list} FROM {} ORDER BY 1", t.name);
        let insert = format!("INSERT INTO {} ({list}) ", t.name);
        let mut rows = Vec::new();
        let mut bytes = 0;
        let mut n = 0u64;
        let mut stream = sqlx::query(sqlx::AssertSqlSafe(select)).fetch(&mut *read);
        while let Some(row) = stream.try_next().await? {
            let values = t
                .columns
                .iter()
                .enumerate()
                .map(|(i, (_, k))| Value::read(&row, i, *k))
                .collect::<Result<Vec<Value>>>()?;
            bytes += values.iter().map(Value::size).sum::<usize>();
            rows.push(values);
            n += 1;
            if rows.len() >= BATCH_ROWS || bytes >= BATCH_BYTES {
                insert_rows(&mut w.tx, &insert, &std::mem::take(&mut rows)).await?;
                bytes = 0;
            }
        }
        drop(stream);
        insert_rows(&mut w.tx, &insert, &rows).await?;
        copied.push((t.name.clone(), n));
    }
    if dst.backend == Backend::Postgres {
        // Serial columns continue after the rows copied in.
        let serials: Vec<(String, String)> = sqlx::query_as(
            "SELECT table_name::text, column_name::text FROM information_schema.columns
             WHERE table_schema = 'public' AND column_default LIKE 'nextval(%'",
        )
        .fetch_all(&mut *w.tx)
        .await?;
        for (table, column) in serials {
            // Names from the catalog, never from input.
            let sql = format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), COALESCE(MAX({column}), 0) + 1, false) FROM {table}"
            );
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut *w.tx)
                .await?;
        }
    }
    w.finish().await?;
    sqlx::raw_sql("COMMIT").execute(&mut *read).await?;
    for (table, n) in &copied {
        let there = count(&dst, table).await?;
        if there != *n {
            return Err(Error::Backend(format!(
                "table {table}: {n} rows read, {there} in the target"
            )));
        }
    }
    Ok(copied)
}

async fn count(store: &SqlStore, table: &str) -> Result<u64> {
    // Table names come from the store's own catalog, never from input.
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(&store.pool)
        .await?;
    Ok(n as u64)
}

async fn insert_rows(
    tx: &mut sqlx::AnyConnection,
    insert: &str,
    rows: &[Vec<Value>],
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut q = Sql::new(insert);
    q.values(rows, |b, row| {
        for v in row {
            match v {
                Value::Int(x) => b.bind(*x),
                Value::Text(x) => b.bind(x.clone()),
                Value::Bytes(x) => b.bind(x.clone()),
            };
        }
    });
    q.query().execute(&mut *tx).await?;
    Ok(())
}
