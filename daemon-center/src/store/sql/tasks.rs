//! Tasks, their name index, clusters and groups.

use std::collections::HashSet;

use async_trait::async_trait;
use cloudtask_shared::api::PackageInfo;
use cloudtask_shared::{Task, TaskSpec};
use jiff::Timestamp;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};

use super::{Sql, SqlStore, corrupt, ms, select_in, ts};
use crate::store::{Effects, Error, NameTable, Result, TaskPage, TaskStore};

/// Table and column names come from here, never from input.
fn table(t: NameTable) -> (&'static str, &'static str) {
    match t {
        NameTable::Clusters => ("clusters", "cluster"),
        NameTable::Groups => ("task_groups", "grp"),
    }
}

fn name_taken(spec: &TaskSpec) -> Error {
    Error::NameTaken(format!(
        "a task named {:?} already exists in group {:?}",
        spec.name, spec.group
    ))
}

fn task_from_row(row: &AnyRow) -> Result<Task> {
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

async fn insert_name(
    tx: &mut AnyConnection,
    t: NameTable,
    name: &str,
    description: &str,
) -> Result<bool> {
    let sql = format!(
        "INSERT INTO {} (name, description, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
        table(t).0
    );
    let r = sqlx::query(AssertSqlSafe(sql))
        .bind(name)
        .bind(description)
        .bind(ms(Timestamp::now()))
        .execute(&mut *tx)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// What every task write does beside the task row: the cluster and group exist, and a new
/// package enters the task's history.
async fn index_task(
    tx: &mut AnyConnection,
    task: &Task,
    package: Option<&PackageInfo>,
) -> Result<()> {
    insert_name(tx, NameTable::Clusters, &task.spec.cluster, "").await?;
    insert_name(tx, NameTable::Groups, &task.spec.group, "").await?;
    if let Some(p) = package {
        sqlx::query(
            "INSERT INTO task_packages (task_id, sha256, file_name, size, uploaded_at, uploaded_by) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (task_id, sha256, file_name) DO UPDATE SET uploaded_at = excluded.uploaded_at, uploaded_by = excluded.uploaded_by",
        )
        .bind(&task.id)
        .bind(&p.sha256)
        .bind(&p.file_name)
        .bind(p.size as i64)
        .bind(ms(p.uploaded_at))
        .bind(&p.uploaded_by)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

#[async_trait]
impl TaskStore for SqlStore {
    async fn create_task(
        &self,
        task: &Task,
        package: Option<&PackageInfo>,
        fx: &Effects,
    ) -> Result<()> {
        let spec = serde_json::to_string(&task.spec).map_err(|e| corrupt("task spec", e))?;
        let mut w = self.write().await?;
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
        .execute(&mut *w.tx)
        .await?;
        if r.rows_affected() == 0 {
            return Err(name_taken(&task.spec));
        }
        index_task(&mut w.tx, task, package).await?;
        w.commit(fx).await
    }

    async fn update_task(
        &self,
        task: &Task,
        package: Option<&PackageInfo>,
        fx: &Effects,
    ) -> Result<()> {
        let spec = serde_json::to_string(&task.spec).map_err(|e| corrupt("task spec", e))?;
        let mut w = self.write().await?;
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
        .execute(&mut *w.tx)
        .await;
        match r {
            Ok(r) if r.rows_affected() == 1 => {}
            Ok(_) => {
                return Err(Error::StaleVersion(format!(
                    "task {} was changed by someone else (it is no longer at version {})",
                    task.spec.name,
                    task.version - 1
                )));
            }
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(name_taken(&task.spec));
            }
            Err(e) => return Err(e.into()),
        }
        index_task(&mut w.tx, task, package).await?;
        w.commit(fx).await
    }

    async fn delete_task(&self, id: &str, fx: &Effects) -> Result<bool> {
        let mut w = self.write().await?;
        sqlx::query(
            "DELETE FROM run_logs WHERE run_id IN (SELECT id FROM runs WHERE task_id = $1)",
        )
        .bind(id)
        .execute(&mut *w.tx)
        .await?;
        for sql in [
            "DELETE FROM runs WHERE task_id = $1",
            "DELETE FROM task_packages WHERE task_id = $1",
            "DELETE FROM start_keys WHERE task_id = $1",
            "DELETE FROM run_marks WHERE task_id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *w.tx).await?;
        }
        let r = sqlx::query("DELETE FROM tasks WHERE id = $1")
            .bind(id)
            .execute(&mut *w.tx)
            .await?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        w.commit(fx).await?;
        Ok(true)
    }

    async fn task(&self, id: &str) -> Result<Option<Task>> {
        let row = sqlx::query("SELECT * FROM tasks WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(task_from_row).transpose()
    }

    async fn tasks_named(&self, name: &str, group: Option<&str>) -> Result<Vec<Task>> {
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
        rows.iter().map(task_from_row).collect()
    }

    async fn tasks(&self) -> Result<Vec<Task>> {
        let rows = sqlx::query("SELECT * FROM tasks ORDER BY grp, name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(task_from_row).collect()
    }

    async fn task_page(&self, q: &TaskPage) -> Result<Vec<Task>> {
        let mut sql = Sql::new("SELECT * FROM tasks WHERE 1 = 1");
        if let Some((grp, name)) = &q.after {
            sql.push(" AND (grp > ")
                .bind(grp.clone())
                .push(" OR (grp = ")
                .bind(grp.clone())
                .push(" AND name > ")
                .bind(name.clone())
                .push("))");
        }
        if let Some(g) = &q.group {
            sql.push(" AND grp = ").bind(g.clone());
        }
        if let Some(c) = &q.cluster {
            sql.push(" AND cluster = ").bind(c.clone());
        }
        // Names are letters, digits, '-', '_' and '.', all below '~': a range the index reads.
        if let Some(p) = &q.name_prefix {
            sql.push(" AND name >= ")
                .bind(p.clone())
                .push(" AND name < ")
                .bind(format!("{p}~"));
        }
        sql.push(" ORDER BY grp, name LIMIT ")
            .bind(i64::from(q.limit));
        let rows = sql.query().fetch_all(&self.pool).await?;
        rows.iter().map(task_from_row).collect()
    }

    async fn existing_tasks(&self, ids: &[&str]) -> Result<HashSet<String>> {
        let mut conn = self.pool.acquire().await?;
        let rows: Vec<(String,)> = select_in(&mut conn, "SELECT id FROM tasks", "id", ids).await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    async fn tasks_fingerprint(&self) -> Result<(i64, i64, i64)> {
        let row = sqlx::query(
            "SELECT COUNT(*), COALESCE(MAX(updated_at), 0), CAST(COALESCE(SUM(version), 0) AS BIGINT) FROM tasks",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
    }

    async fn task_counts_by_cluster(&self) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT cluster, COUNT(*) FROM tasks GROUP BY cluster")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    async fn names(&self, t: NameTable) -> Result<Vec<(String, String)>> {
        let sql = format!("SELECT name, description FROM {} ORDER BY name", table(t).0);
        Ok(sqlx::query_as::<_, (String, String)>(AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?)
    }

    async fn add_name(
        &self,
        t: NameTable,
        name: &str,
        description: &str,
        fx: &Effects,
    ) -> Result<bool> {
        let mut w = self.write().await?;
        if !insert_name(&mut w.tx, t, name, description).await? {
            return Ok(false);
        }
        w.commit(fx).await?;
        Ok(true)
    }

    async fn remove_name(&self, t: NameTable, name: &str, fx: &Effects) -> Result<bool> {
        let (tbl, column) = table(t);
        let mut w = self.write().await?;
        let used: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM tasks WHERE {column} = $1"
        )))
        .bind(name)
        .fetch_one(&mut *w.tx)
        .await?;
        if used > 0 {
            return Err(Error::InUse(format!("{name:?} still has {used} task(s)")));
        }
        let r = sqlx::query(AssertSqlSafe(format!("DELETE FROM {tbl} WHERE name = $1")))
            .bind(name)
            .execute(&mut *w.tx)
            .await?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        w.commit(fx).await?;
        Ok(true)
    }
}
