//! Uploaded packages and the packages a task has had.

use async_trait::async_trait;
use cloudtask_shared::api::PackageInfo;
use jiff::Timestamp;

use super::{SqliteStore, ms, ts};
use crate::store::{Effects, PackageStore, Result};

#[async_trait]
impl PackageStore for SqliteStore {
    // A repeat upload refreshes the row's age: retention does not collect what was just
    // uploaded again, before a task names it.
    async fn add_package(&self, sha256: &str, size: u64, fx: &Effects) -> Result<()> {
        let mut w = self.write().await?;
        sqlx::query("INSERT INTO packages (sha256, size, created_at) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO UPDATE SET created_at = excluded.created_at")
            .bind(sha256)
            .bind(size as i64)
            .bind(ms(Timestamp::now()))
            .execute(&mut *w.tx)
            .await?;
        w.commit(fx).await
    }

    async fn package_exists(&self, sha256: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM packages WHERE sha256 = $1")
            .bind(sha256)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    async fn package_groups(&self, sha256: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT t.grp FROM task_packages p JOIN tasks t ON t.id = p.task_id WHERE p.sha256 = $1 ORDER BY t.grp",
        )
        .bind(sha256)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn task_packages(&self, task_id: &str) -> Result<Vec<PackageInfo>> {
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
}
