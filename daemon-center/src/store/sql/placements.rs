//! The placement history: which node of which cluster held which task, since and until when.

use async_trait::async_trait;
use jiff::Timestamp;

use super::{SqlStore, check_fence, ms};
use crate::store::{Placement, PlacementStore, Result};

#[async_trait]
impl PlacementStore for SqlStore {
    async fn current_placements(&self) -> Result<Vec<Placement>> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT task_id, node, cluster FROM placements WHERE until IS NULL ORDER BY task_id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(task, node, cluster)| Placement {
                task,
                node,
                cluster,
            })
            .collect())
    }

    async fn record_placements(
        &self,
        open: &[Placement],
        close: &[Placement],
        at: Timestamp,
        fence: u64,
    ) -> Result<()> {
        if open.is_empty() && close.is_empty() {
            return Ok(());
        }
        let mut w = self.write().await?;
        check_fence(&mut w.tx, fence).await?;
        for p in close {
            sqlx::query("UPDATE placements SET until = $4 WHERE task_id = $1 AND node = $2 AND cluster = $3 AND until IS NULL")
                .bind(&p.task)
                .bind(&p.node)
                .bind(&p.cluster)
                .bind(ms(at))
                .execute(&mut *w.tx)
                .await?;
        }
        for p in open {
            sqlx::query("INSERT INTO placements (task_id, node, cluster, since) SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM placements WHERE task_id = $1 AND node = $2 AND cluster = $3 AND until IS NULL)")
                .bind(&p.task)
                .bind(&p.node)
                .bind(&p.cluster)
                .bind(ms(at))
                .execute(&mut *w.tx)
                .await?;
        }
        w.finish().await
    }

    async fn held(&self, checks: &[(Placement, Timestamp)], to: Timestamp) -> Result<Vec<bool>> {
        let mut conn = self.pool.acquire().await?;
        let mut out = Vec::with_capacity(checks.len());
        for (p, from) in checks {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM placements WHERE node = $1 AND cluster = $2 AND task_id = $3 AND since <= $5 AND (until IS NULL OR until >= $4)")
                .bind(&p.node)
                .bind(&p.cluster)
                .bind(&p.task)
                .bind(ms(*from))
                .bind(ms(to))
                .fetch_one(&mut *conn)
                .await?;
            out.push(n > 0);
        }
        Ok(out)
    }

    async fn holds(&self, p: &Placement) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM placements WHERE node = $1 AND cluster = $2 AND task_id = $3 AND until IS NULL")
            .bind(&p.node)
            .bind(&p.cluster)
            .bind(&p.task)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    async fn holds_package(&self, node: &str, cluster: &str, sha256: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM placements p JOIN task_packages k ON k.task_id = p.task_id WHERE p.node = $1 AND p.cluster = $2 AND p.until IS NULL AND k.sha256 = $3")
            .bind(node)
            .bind(cluster)
            .bind(sha256)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }
}
