//! User accounts and their grants (`grp` '*' is every group).

use std::collections::BTreeMap;

use super::{SqlStore, corrupt, ms, ts};
use crate::store::{Effects, Error, Result, UserRow, UserStore};
use async_trait::async_trait;
use cloudtask_shared::api::{Grant, Role};

/// The `grp` of a grant to every group.
const ALL_GROUPS: &str = "*";

fn grant(role: &str, grp: String) -> Result<Grant> {
    Ok(Grant {
        role: role.parse::<Role>().map_err(|e| corrupt("grant role", e))?,
        group: (grp != ALL_GROUPS).then_some(grp),
    })
}

async fn insert_grants(conn: &mut sqlx::AnyConnection, user: &str, grants: &[Grant]) -> Result<()> {
    for g in grants {
        sqlx::query(
            "INSERT INTO grants (user_name, role, grp) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(user)
        .bind(g.role.as_str())
        .bind(g.group.as_deref().unwrap_or(ALL_GROUPS))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

#[async_trait]
impl UserStore for SqlStore {
    async fn users(&self) -> Result<Vec<UserRow>> {
        let rows = sqlx::query_as::<_, (String, String, i64, String, Option<String>)>(
            "SELECT name, password_hash, created_at, created_by, email FROM users ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut grants: BTreeMap<String, Vec<Grant>> = BTreeMap::new();
        for (user, role, grp) in sqlx::query_as::<_, (String, String, String)>(
            "SELECT user_name, role, grp FROM grants ORDER BY user_name, role, grp",
        )
        .fetch_all(&self.pool)
        .await?
        {
            grants.entry(user).or_default().push(grant(&role, grp)?);
        }
        Ok(rows
            .into_iter()
            .map(|(name, password_hash, at, by, email)| UserRow {
                grants: grants.remove(&name).unwrap_or_default(),
                name,
                password_hash,
                created_at: ts(at),
                created_by: by,
                email,
            })
            .collect())
    }

    async fn user(&self, name: &str) -> Result<Option<UserRow>> {
        let Some((password_hash, at, by, email)) =
            sqlx::query_as::<_, (String, i64, String, Option<String>)>(
                "SELECT password_hash, created_at, created_by, email FROM users WHERE name = $1",
            )
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let grants = sqlx::query_as::<_, (String, String)>(
            "SELECT role, grp FROM grants WHERE user_name = $1 ORDER BY role, grp",
        )
        .bind(name)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|(role, grp)| grant(&role, grp))
        .collect::<Result<Vec<_>>>()?;
        Ok(Some(UserRow {
            name: name.to_string(),
            password_hash,
            grants,
            created_at: ts(at),
            created_by: by,
            email,
        }))
    }

    async fn create_user(&self, u: &UserRow, fx: &Effects) -> Result<()> {
        let mut w = self.write().await?;
        let taken = sqlx::query(
            "INSERT INTO users (name, password_hash, created_at, created_by, email) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING",
        )
        .bind(&u.name)
        .bind(&u.password_hash)
        .bind(ms(u.created_at))
        .bind(&u.created_by)
        .bind(&u.email)
        .execute(&mut *w.tx)
        .await?
        .rows_affected()
            == 0;
        if taken {
            return Err(Error::NameTaken(format!(
                "a user named {:?} exists already",
                u.name
            )));
        }
        insert_grants(&mut w.tx, &u.name, &u.grants).await?;
        w.commit(fx).await
    }

    async fn set_password(&self, name: &str, password_hash: &str, fx: &Effects) -> Result<bool> {
        let mut w = self.write().await?;
        let n = sqlx::query("UPDATE users SET password_hash = $2 WHERE name = $1")
            .bind(name)
            .bind(password_hash)
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM tokens WHERE user_name = $1 AND kind = 'session'")
            .bind(name)
            .execute(&mut *w.tx)
            .await?;
        w.commit(fx).await?;
        Ok(true)
    }

    async fn set_email(&self, name: &str, email: Option<&str>, fx: &Effects) -> Result<bool> {
        let mut w = self.write().await?;
        let n = sqlx::query("UPDATE users SET email = $2 WHERE name = $1")
            .bind(name)
            .bind(email)
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        w.commit(fx).await?;
        Ok(true)
    }

    async fn set_grants(&self, name: &str, grants: &[Grant], fx: &Effects) -> Result<bool> {
        let mut w = self.write().await?;
        let exists: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE name = $1")
            .bind(name)
            .fetch_one(&mut *w.tx)
            .await?;
        if exists == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM grants WHERE user_name = $1")
            .bind(name)
            .execute(&mut *w.tx)
            .await?;
        insert_grants(&mut w.tx, name, grants).await?;
        w.commit(fx).await?;
        Ok(true)
    }

    async fn delete_user(&self, name: &str, fx: &Effects) -> Result<bool> {
        let mut w = self.write().await?;
        let n = sqlx::query("DELETE FROM users WHERE name = $1")
            .bind(name)
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        for sql in [
            "DELETE FROM grants WHERE user_name = $1",
            "DELETE FROM tokens WHERE user_name = $1",
        ] {
            sqlx::query(sql).bind(name).execute(&mut *w.tx).await?;
        }
        w.commit(fx).await?;
        Ok(true)
    }
}
