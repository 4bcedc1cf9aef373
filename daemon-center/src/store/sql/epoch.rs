//! The leader's epoch (one row, bumped by each center that becomes leader), and the secrets
//! every center must hold alike.

use async_trait::async_trait;
use jiff::Timestamp;
use sqlx::AnyConnection;

use super::{SqlStore, ms};
use crate::store::{EpochStore, Error, Result};

#[async_trait]
impl EpochStore for SqlStore {
    async fn take_epoch(&self, center: &str) -> Result<u64> {
        let mut w = self.write().await?;
        let epoch: i64 = sqlx::query_scalar(
            "INSERT INTO leader_epoch (id, epoch, center, taken_at) VALUES (1, 1, $1, $2)
             ON CONFLICT (id) DO UPDATE SET epoch = leader_epoch.epoch + 1,
               center = excluded.center, taken_at = excluded.taken_at
             RETURNING epoch",
        )
        .bind(center)
        .bind(ms(Timestamp::now()))
        .fetch_one(&mut *w.tx)
        .await?;
        w.finish().await?;
        Ok(epoch as u64)
    }

    async fn epoch(&self) -> Result<u64> {
        let epoch: Option<i64> = sqlx::query_scalar("SELECT epoch FROM leader_epoch WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(epoch.unwrap_or(0) as u64)
    }

    async fn shared_secret(&self, name: &str, offered: &str) -> Result<String> {
        let mut w = self.write().await?;
        sqlx::query("INSERT INTO shared_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(offered)
            .execute(&mut *w.tx)
            .await?;
        let value: String = sqlx::query_scalar("SELECT value FROM shared_secrets WHERE name = $1")
            .bind(name)
            .fetch_one(&mut *w.tx)
            .await?;
        w.finish().await?;
        Ok(value)
    }
}

/// Refuses a leader-only write whose epoch is no longer the store's; inside the write's
/// transaction, which holds the writer lock, so no new leader's epoch can come between.
pub(super) async fn check_fence(tx: &mut AnyConnection, fence: u64) -> Result<()> {
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT epoch, center FROM leader_epoch WHERE id = 1")
            .fetch_optional(&mut *tx)
            .await?;
    match row {
        Some((epoch, _)) if epoch as u64 == fence => Ok(()),
        Some((epoch, center)) => Err(Error::Deposed(format!(
            "a leader-only write of epoch {fence} was refused: center {center} has led since (epoch {epoch})"
        ))),
        None => Err(Error::Deposed(format!(
            "a leader-only write of epoch {fence} was refused: no leader ever took an epoch"
        ))),
    }
}
