//! Bearer tokens, as hashes, and the failed attempts the rate limit counts.

use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{SqlStore, corrupt, ms, ts};
use crate::store::{Effects, Error, Result, TokenKind, TokenRow, TokenStore};

const TOKEN_COLUMNS: &str = "hash, name, kind, user_name, scope, cluster, created_at, expires_at, last_used_at, last_used_from";

fn token_from_row(r: &AnyRow) -> Result<TokenRow> {
    let kind: String = r.try_get("kind")?;
    let scope: Option<String> = r.try_get("scope")?;
    Ok(TokenRow {
        hash: r.try_get("hash")?,
        name: r.try_get("name")?,
        kind: TokenKind::parse(&kind).ok_or_else(|| corrupt("token kind", &kind))?,
        user: r.try_get("user_name")?,
        scope: scope
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(|e| corrupt("token scope", e))?,
        cluster: r.try_get("cluster")?,
        created_at: ts(r.try_get("created_at")?),
        expires_at: r.try_get::<Option<i64>, _>("expires_at")?.map(ts),
        last_used_at: r.try_get::<Option<i64>, _>("last_used_at")?.map(ts),
        last_used_from: r.try_get("last_used_from")?,
    })
}

fn window_ms(window: Duration) -> i64 {
    i64::try_from(window.as_millis()).unwrap_or(i64::MAX)
}

#[async_trait]
impl TokenStore for SqlStore {
    async fn token(&self, hash: &str) -> Result<Option<TokenRow>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn tokens(&self, kind: Option<TokenKind>, user: Option<&str>) -> Result<Vec<TokenRow>> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE ($1 IS NULL OR kind = $1) AND ($2 IS NULL OR user_name = $2) ORDER BY user_name, name, created_at"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(kind.map(TokenKind::as_str))
            .bind(user)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(token_from_row).collect()
    }

    async fn add_token(&self, t: &TokenRow, fx: &Effects) -> Result<()> {
        let mut w = self.write().await?;
        // Names that must be unique: a user's API tokens, join tokens, a cluster's nodes.
        let taken = match t.kind {
            TokenKind::Api => Some(format!(
                "{} has a token named {:?} already",
                t.user.as_deref().unwrap_or("?"),
                t.name
            )),
            TokenKind::Join => Some(format!("a join token named {:?} exists already", t.name)),
            TokenKind::Node => Some(format!(
                "node {:?} of cluster {:?} has a credential already (revoke it first: cloudtaskctl node revoke)",
                t.name,
                t.cluster.as_deref().unwrap_or("?")
            )),
            TokenKind::Bootstrap | TokenKind::Session => None,
        };
        if let Some(taken) = taken {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM tokens WHERE kind = $1 AND name = $2 AND ($1 <> 'api' OR user_name = $3) AND ($1 <> 'node' OR cluster = $4)",
            )
            .bind(t.kind.as_str())
            .bind(&t.name)
            .bind(&t.user)
            .bind(&t.cluster)
            .fetch_one(&mut *w.tx)
            .await?;
            if n > 0 {
                return Err(Error::NameTaken(taken));
            }
        }
        let scope = t
            .scope
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| corrupt("token scope", e))?;
        sqlx::query(
            "INSERT INTO tokens (hash, name, role, created_at, kind, user_name, scope, expires_at, cluster) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&t.hash)
        .bind(&t.name)
        // The column of schema 1, kept for older readers: what the token is.
        .bind(t.kind.as_str())
        .bind(ms(t.created_at))
        .bind(t.kind.as_str())
        .bind(&t.user)
        .bind(scope)
        .bind(t.expires_at.map(ms))
        .bind(&t.cluster)
        .execute(&mut *w.tx)
        .await?;
        w.commit(fx).await
    }

    async fn delete_token(&self, hash: &str, fx: &Effects) -> Result<bool> {
        let mut w = self.write().await?;
        let gone = sqlx::query("DELETE FROM tokens WHERE hash = $1")
            .bind(hash)
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        if gone == 0 {
            return Ok(false);
        }
        w.commit(fx).await?;
        Ok(true)
    }

    async fn touch_tokens(&self, uses: &[(String, Timestamp, String)]) -> Result<()> {
        if uses.is_empty() {
            return Ok(());
        }
        let mut w = self.write().await?;
        for (hash, at, from) in uses {
            sqlx::query("UPDATE tokens SET last_used_at = $2, last_used_from = $3 WHERE hash = $1 AND (last_used_at IS NULL OR last_used_at < $2)")
                .bind(hash)
                .bind(ms(*at))
                .bind(from)
                .execute(&mut *w.tx)
                .await?;
        }
        w.finish().await
    }

    async fn prune_tokens(&self, before: Timestamp) -> Result<u64> {
        let mut w = self.write().await?;
        let n = sqlx::query("DELETE FROM tokens WHERE expires_at IS NOT NULL AND expires_at < $1")
            .bind(ms(before))
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM auth_failures WHERE window_start < $1")
            .bind(ms(before) - window_ms(Duration::from_secs(24 * 3600)))
            .execute(&mut *w.tx)
            .await?;
        w.finish().await?;
        Ok(n)
    }

    async fn note_failures(
        &self,
        keys: &[&str],
        now: Timestamp,
        window: Duration,
    ) -> Result<Vec<u32>> {
        let mut w = self.write().await?;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let count: i64 = sqlx::query_scalar(
                "INSERT INTO auth_failures (key, count, window_start) VALUES ($1, 1, $2)
                 ON CONFLICT (key) DO UPDATE SET
                   count = CASE WHEN auth_failures.window_start <= $2 - $3 THEN 1 ELSE auth_failures.count + 1 END,
                   window_start = CASE WHEN auth_failures.window_start <= $2 - $3 THEN $2 ELSE auth_failures.window_start END
                 RETURNING count",
            )
            .bind(key)
            .bind(ms(now))
            .bind(window_ms(window))
            .fetch_one(&mut *w.tx)
            .await?;
            out.push(u32::try_from(count).unwrap_or(u32::MAX));
        }
        w.finish().await?;
        Ok(out)
    }

    async fn failures(&self, keys: &[&str], now: Timestamp, window: Duration) -> Result<Vec<u32>> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let count: Option<i64> = sqlx::query_scalar(
                "SELECT count FROM auth_failures WHERE key = $1 AND window_start > $2 - $3",
            )
            .bind(key)
            .bind(ms(now))
            .bind(window_ms(window))
            .fetch_optional(&self.pool)
            .await?;
            out.push(count.map_or(0, |c| u32::try_from(c).unwrap_or(u32::MAX)));
        }
        Ok(out)
    }

    async fn clear_failures(&self, key: &str) -> Result<()> {
        let mut w = self.write().await?;
        sqlx::query("DELETE FROM auth_failures WHERE key = $1")
            .bind(key)
            .execute(&mut *w.tx)
            .await?;
        w.finish().await
    }
}
