//! Reading the audit log (rows are written by [`super::write_effects`], inside the write
//! they describe).

use async_trait::async_trait;
use sqlx::Row;

use super::{SqlStore, corrupt, ms, ts};
use crate::store::{AuditEntry, AuditFilter, AuditStore, Result};

#[async_trait]
impl AuditStore for SqlStore {
    async fn audit_log(&self, f: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT at, actor, source, action, target, grp, version_before, version_after, fields, detail FROM audit
             WHERE ($1 IS NULL OR at >= $1) AND ($2 IS NULL OR at < $2)
               AND ($3 IS NULL OR actor = $3 OR actor LIKE $3 || '/%')
               AND ($4 IS NULL OR target = $4) AND ($5 IS NULL OR grp = $5) AND ($6 IS NULL OR action = $6)
             ORDER BY at DESC, rowid DESC LIMIT $7",
        )
        .bind(f.since.map(ms))
        .bind(f.until.map(ms))
        .bind(&f.actor)
        .bind(&f.target)
        .bind(&f.group)
        .bind(&f.action)
        .bind(i64::from(f.limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let fields: Option<String> = r.try_get("fields")?;
                let version = |c: &str| -> Result<Option<u64>> {
                    Ok(r.try_get::<Option<i64>, _>(c)?.map(|v| v as u64))
                };
                Ok(AuditEntry {
                    at: ts(r.try_get("at")?),
                    actor: r.try_get("actor")?,
                    from: r.try_get("source")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    group: r.try_get("grp")?,
                    version_before: version("version_before")?,
                    version_after: version("version_after")?,
                    fields: fields
                        .map(|f| serde_json::from_str(&f))
                        .transpose()
                        .map_err(|e| corrupt("audit fields", e))?
                        .unwrap_or_default(),
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }
}
