//! Retention's deletes: finished runs with their logs, old audit rows, package history and
//! the packages nobody's history names. Each call deletes one bounded batch.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use jiff::Timestamp;
use sqlx::{AnyConnection, AssertSqlSafe};

use super::runs::ROWS_PER_STATEMENT;
use super::{SqlStore, ms, placeholders, ranks, select_in};
use crate::store::{Result, RetentionStore};

/// The newest instant retention deleted of each of these tasks, if any.
pub(super) async fn marks(tx: &mut AnyConnection, tasks: &[&str]) -> Result<HashMap<String, i64>> {
    let rows: Vec<(String, i64)> = select_in(
        tx,
        "SELECT task_id, pruned_through FROM run_marks",
        "task_id",
        tasks,
    )
    .await?;
    Ok(rows.into_iter().collect())
}

/// Which of these run ids are stored.
pub(super) async fn stored(tx: &mut AnyConnection, ids: &[&str]) -> Result<HashSet<String>> {
    let rows: Vec<(String,)> = select_in(tx, "SELECT id FROM runs", "id", ids).await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

#[async_trait]
impl RetentionStore for SqlStore {
    async fn prune_runs(
        &self,
        task: &str,
        keep: u32,
        before: Timestamp,
        limit: u32,
    ) -> Result<u64> {
        let ranks = ranks(false);
        let n = ranks.len();
        let finished = placeholders(2, n);
        // The instant of the `keep`-th newest finished run: everything finished before it is
        // past the count. A walk of `keep` index entries (`runs_by_task`), never of the
        // task's whole history.
        let sql = format!(
            "SELECT scheduled_at FROM runs WHERE task_id = $1 AND status_rank IN ({finished})
             ORDER BY scheduled_at DESC LIMIT 1 OFFSET ${}",
            n + 2
        );
        // Only placeholders went into `sql`; values are bound.
        let mut q = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql)).bind(task);
        for r in &ranks {
            q = q.bind(*r);
        }
        let kept_from: Option<i64> = q
            .bind(i64::from(keep.saturating_sub(1)))
            .fetch_optional(&self.pool)
            .await?;
        let cut = kept_from.map_or(ms(before), |at| at.max(ms(before)));
        // The oldest finished runs before the cut, one batch (an index range from the oldest);
        // read before taking the writer, which is held only when there is something to delete.
        let sql = format!(
            "SELECT id, scheduled_at FROM runs WHERE task_id = $1 AND status_rank IN ({finished})
             AND scheduled_at < ${} ORDER BY scheduled_at LIMIT ${}",
            n + 2,
            n + 3
        );
        // Only placeholders went into `sql`; values are bound.
        let mut q = sqlx::query_as::<_, (String, i64)>(AssertSqlSafe(sql)).bind(task);
        for r in &ranks {
            q = q.bind(*r);
        }
        let doomed = q
            .bind(cut)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        let Some(through) = doomed.iter().map(|(_, at)| *at).max() else {
            return Ok(0);
        };
        let ids: Vec<&str> = doomed.iter().map(|(id, _)| id.as_str()).collect();
        let mut w = self.write().await?;
        let mut deleted = 0;
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            let list = placeholders(1, chunk.len());
            for sql in [
                format!("DELETE FROM run_logs WHERE run_id IN ({list})"),
                format!("DELETE FROM start_keys WHERE run_id IN ({list})"),
            ] {
                // Only placeholders went into `sql`; values are bound.
                let mut q = sqlx::query(AssertSqlSafe(sql));
                for id in chunk {
                    q = q.bind(*id);
                }
                q.execute(&mut *w.tx).await?;
            }
            // Finished when read, finished now: a finished run never becomes active again.
            let sql = format!("DELETE FROM runs WHERE id IN ({list})");
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(*id);
            }
            deleted += q.execute(&mut *w.tx).await?.rows_affected();
        }
        sqlx::query(
            "INSERT INTO run_marks (task_id, pruned_through) VALUES ($1, $2)
             ON CONFLICT (task_id) DO UPDATE SET pruned_through = CASE WHEN run_marks.pruned_through > excluded.pruned_through THEN run_marks.pruned_through ELSE excluded.pruned_through END",
        )
        .bind(task)
        .bind(through)
        .execute(&mut *w.tx)
        .await?;
        w.finish().await?;
        Ok(deleted)
    }

    async fn prune_audit(&self, before: Timestamp, limit: u32) -> Result<u64> {
        let mut w = self.write().await?;
        let r = sqlx::query(
            "DELETE FROM audit WHERE rowid IN (SELECT rowid FROM audit WHERE at < $1 ORDER BY at LIMIT $2)",
        )
        .bind(ms(before))
        .bind(i64::from(limit))
        .execute(&mut *w.tx)
        .await?;
        w.finish().await?;
        Ok(r.rows_affected())
    }

    async fn prune_placements(&self, before: Timestamp, limit: u32) -> Result<u64> {
        let mut w = self.write().await?;
        let r = sqlx::query(
            "DELETE FROM placements WHERE rowid IN (SELECT rowid FROM placements WHERE until < $1 ORDER BY until LIMIT $2)",
        )
        .bind(ms(before))
        .bind(i64::from(limit))
        .execute(&mut *w.tx)
        .await?;
        w.finish().await?;
        Ok(r.rows_affected())
    }

    async fn trim_package_histories(&self, keep: u32) -> Result<u64> {
        let mut w = self.write().await?;
        let r = sqlx::query(
            "DELETE FROM task_packages WHERE rowid IN (
                 SELECT rowid FROM (
                     SELECT rowid, ROW_NUMBER() OVER (PARTITION BY task_id ORDER BY uploaded_at DESC, rowid DESC) AS n
                     FROM task_packages
                 ) AS ranked WHERE n > $1
             )",
        )
        .bind(i64::from(keep))
        .execute(&mut *w.tx)
        .await?;
        w.finish().await?;
        Ok(r.rows_affected())
    }

    async fn collect_packages(&self, before: Timestamp, limit: u32) -> Result<Vec<String>> {
        let mut w = self.write().await?;
        let gone: Vec<String> = sqlx::query_scalar(
            "DELETE FROM packages WHERE sha256 IN (
                 SELECT sha256 FROM packages WHERE created_at < $1
                 AND sha256 NOT IN (SELECT sha256 FROM task_packages) LIMIT $2
             ) RETURNING sha256",
        )
        .bind(ms(before))
        .bind(i64::from(limit))
        .fetch_all(&mut *w.tx)
        .await?;
        w.finish().await?;
        Ok(gone)
    }

    async fn collect_chunks(&self, before: Timestamp, limit: u32) -> Result<u64> {
        let mut w = self.write().await?;
        let r = sqlx::query(
            "DELETE FROM package_chunks WHERE rowid IN (
                 SELECT c.rowid FROM package_chunks c WHERE c.created_at < $1
                 AND NOT EXISTS (SELECT 1 FROM packages p WHERE p.sha256 = c.sha256) LIMIT $2
             )",
        )
        .bind(ms(before))
        .bind(i64::from(limit))
        .execute(&mut *w.tx)
        .await?;
        w.finish().await?;
        Ok(r.rows_affected())
    }
}
