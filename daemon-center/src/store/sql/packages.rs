//! Uploaded packages and the packages a task has had.

use async_trait::async_trait;
use cloudtask_shared::api::PackageInfo;
use jiff::Timestamp;

use super::{SqlStore, ms, ts};
use crate::store::{Effects, Error, PACKAGE_CHUNK, PackageStore, Result};

#[async_trait]
impl PackageStore for SqlStore {
    // A repeat upload refreshes the row's age: retention does not collect what was just
    // uploaded again, before a task names it.
    async fn put_package_chunk(&self, sha256: &str, n: u32, data: &[u8]) -> Result<()> {
        let mut w = self.write().await?;
        sqlx::query(
            "INSERT INTO package_chunks (sha256, n, data, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (sha256, n) DO UPDATE SET created_at = excluded.created_at",
        )
        .bind(sha256)
        .bind(i64::from(n))
        .bind(data.to_vec())
        .bind(ms(Timestamp::now()))
        .execute(&mut *w.tx)
        .await?;
        w.finish().await
    }

    async fn add_package(&self, sha256: &str, size: u64, fx: &Effects) -> Result<()> {
        let mut w = self.write().await?;
        let (chunks, bytes): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(SUM(LENGTH(data)), 0) AS BIGINT) FROM package_chunks WHERE sha256 = $1",
        )
        .bind(sha256)
        .fetch_one(&mut *w.tx)
        .await?;
        let expected = size.div_ceil(PACKAGE_CHUNK as u64) as i64;
        if chunks != expected || bytes != size as i64 {
            return Err(Error::Incomplete(format!(
                "package {sha256}: {chunks} of its {expected} chunks are stored ({bytes} of {size} bytes); retention removed an earlier copy while it was uploaded: upload it again"
            )));
        }
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

    async fn package_size(&self, sha256: &str) -> Result<Option<u64>> {
        let size: Option<i64> = sqlx::query_scalar("SELECT size FROM packages WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await?;
        Ok(size.map(|s| s as u64))
    }

    async fn package_chunk(&self, sha256: &str, n: u32) -> Result<Option<Vec<u8>>> {
        Ok(sqlx::query_scalar(
            "SELECT c.data FROM package_chunks c JOIN packages p ON p.sha256 = c.sha256
             WHERE c.sha256 = $1 AND c.n = $2",
        )
        .bind(sha256)
        .bind(i64::from(n))
        .fetch_optional(&self.pool)
        .await?)
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
