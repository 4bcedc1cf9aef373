//! Reading the audit log (rows are written by [`super::write_effects`], inside the write
//! they describe).

use async_trait::async_trait;

use super::{SqliteStore, ts};
use crate::store::{AuditEntry, AuditStore, Result};

#[async_trait]
impl AuditStore for SqliteStore {
    async fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query_as::<_, (i64, String, String, String, String)>(
            "SELECT at, actor, action, target, detail FROM audit ORDER BY at DESC, rowid DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(at, actor, action, target, detail)| AuditEntry {
                at: ts(at),
                actor,
                action,
                target,
                detail,
            })
            .collect())
    }
}
