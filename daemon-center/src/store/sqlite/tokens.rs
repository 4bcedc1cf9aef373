//! API tokens, as hashes.

use async_trait::async_trait;
use jiff::Timestamp;

use super::{SqliteStore, ms};
use crate::store::{Effects, Result, TokenStore};

#[async_trait]
impl TokenStore for SqliteStore {
    async fn tokens(&self) -> Result<Vec<(String, String, String)>> {
        let rows =
            sqlx::query_as::<_, (String, String, String)>("SELECT hash, name, role FROM tokens")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows)
    }

    async fn add_token(&self, hash: &str, name: &str, role: &str, fx: &Effects) -> Result<()> {
        let mut w = self.write().await?;
        sqlx::query("INSERT INTO tokens (hash, name, role, created_at) VALUES ($1, $2, $3, $4)")
            .bind(hash)
            .bind(name)
            .bind(role)
            .bind(ms(Timestamp::now()))
            .execute(&mut *w.tx)
            .await?;
        w.commit(fx).await
    }
}
