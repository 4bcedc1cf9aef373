//! The outbox: rows written by [`super::write_effects`], read in `seq` order, and each
//! center's delivery cursor.

use async_trait::async_trait;
use cloudtask_shared::api::Event;
use jiff::Timestamp;

use super::{SqlStore, corrupt, ms, ts};
use crate::store::{Effects, OutboxRow, OutboxStore, Result};

#[async_trait]
impl OutboxStore for SqlStore {
    async fn commit_effects(&self, fx: &Effects) -> Result<()> {
        self.write().await?.commit(fx).await
    }

    async fn outbox_after(&self, seq: i64, limit: u32) -> Result<Vec<OutboxRow>> {
        let rows = sqlx::query_as::<_, (i64, i64, String)>(
            "SELECT seq, created_at, events FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(seq, created_at, events)| {
                let events: Vec<Event> =
                    serde_json::from_str(&events).map_err(|e| corrupt("outbox row", e))?;
                Ok(OutboxRow {
                    seq,
                    created_at: ts(created_at),
                    events,
                })
            })
            .collect()
    }

    async fn outbox_head(&self) -> Result<i64> {
        let v: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM outbox")
            .fetch_one(&self.pool)
            .await?;
        Ok(v.unwrap_or(0))
    }

    async fn outbox_cursor(&self, center: &str) -> Result<Option<i64>> {
        let mut conn = self.pool.acquire().await?;
        read_cursor(&mut conn, center).await
    }

    async fn save_outbox_cursor(&self, center: &str, seq: i64) -> Result<()> {
        let _write = self.writes.lock().await;
        let mut conn = self.pool.acquire().await?;
        put_cursor(&mut conn, center, seq).await
    }

    async fn prune_outbox(&self, live_since: Timestamp, before: Timestamp) -> Result<u64> {
        let _write = self.writes.lock().await;
        let r = sqlx::query(
            "DELETE FROM outbox WHERE seq < (SELECT MAX(seq) FROM outbox)
               AND (created_at < $1
                    OR seq <= (SELECT MIN(seq) FROM outbox_cursors WHERE updated_at >= $2))",
        )
        .bind(ms(before))
        .bind(ms(live_since))
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }
}

/// How far `center` (or the alert noticer) has read, on `conn` (a transaction's, when the
/// read decides a write).
pub(super) async fn read_cursor(
    conn: &mut sqlx::AnyConnection,
    center: &str,
) -> Result<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT seq FROM outbox_cursors WHERE center = $1")
            .bind(center)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// Saves a cursor, now, on `conn`.
pub(super) async fn put_cursor(
    conn: &mut sqlx::AnyConnection,
    center: &str,
    seq: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO outbox_cursors (center, seq, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (center) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at",
    )
    .bind(center)
    .bind(seq)
    .bind(ms(Timestamp::now()))
    .execute(&mut *conn)
    .await?;
    Ok(())
}
