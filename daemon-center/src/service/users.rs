//! Users: create, remove, set a password, grant and revoke roles; and the audit row of a
//! request the gate refused.

use cloudtask_shared::api::{ErrorCode, Grant, Role};
use cloudtask_shared::validate_name;
use jiff::Timestamp;

use super::{Error, Result, Service};
use crate::auth::{Principal, Who, password};
use crate::store::{AuditEntry, Effects, UserRow};

fn no_user(name: &str) -> Error {
    Error::new(ErrorCode::UserNotFound, format!("no user {name:?}"))
}

/// Refuses a grant that cannot be: the admin role is for every group.
fn check_grant(g: &Grant) -> Result<()> {
    match (&g.role, &g.group) {
        (Role::Admin, Some(_)) => Err(Error::new(
            ErrorCode::InvalidField,
            "grants: the admin role is for all groups; grant it without a group",
        )),
        (_, Some(group)) => Ok(validate_name("grants.group", group)?),
        _ => Ok(()),
    }
}

fn describe(grants: &[Grant]) -> String {
    if grants.is_empty() {
        return "no role".into();
    }
    grants
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Service {
    pub async fn create_user(
        &self,
        who: &Principal,
        name: &str,
        pass: String,
        grants: Vec<Grant>,
        email: Option<String>,
    ) -> Result<UserRow> {
        validate_name("name", name)?;
        password::check(&pass)?;
        let email = email.map(|e| check_email(&e)).transpose()?;
        for g in &grants {
            check_grant(g)?;
        }
        let user = UserRow {
            name: name.to_string(),
            password_hash: password::hash(pass).await?,
            grants,
            created_at: Timestamp::now(),
            created_by: who.name.clone(),
            email,
        };
        let fx = Self::effects(who, "user.create", name, &describe(&user.grants), vec![]);
        self.store.create_user(&user, &fx).await?;
        Ok(user)
    }

    /// Sets or clears the address alerts naming `user:NAME` go to (the gate lets only the user
    /// itself, or an admin, call it).
    pub async fn set_email(
        &self,
        who: &Principal,
        name: &str,
        email: Option<String>,
    ) -> Result<()> {
        let email = email.map(|e| check_email(&e)).transpose()?;
        let detail = if email.is_some() { "set" } else { "cleared" };
        let fx = Self::effects(who, "user.email", name, detail, vec![]);
        if !self.store.set_email(name, email.as_deref(), &fx).await? {
            return Err(no_user(name));
        }
        Ok(())
    }

    /// Deletes a user with its sessions and tokens; nobody removes the last admin.
    pub async fn remove_user(&self, who: &Principal, name: &str) -> Result<()> {
        let user = self.store.user(name).await?.ok_or_else(|| no_user(name))?;
        if user.grants.iter().any(|g| g.role == Role::Admin) {
            self.keep_an_admin(name).await?;
        }
        let fx = Self::effects(who, "user.delete", name, "", vec![]);
        if !self.store.delete_user(name, &fx).await? {
            return Err(no_user(name));
        }
        Ok(())
    }

    /// Refuses to take the admin role from `name` when no other user has it.
    async fn keep_an_admin(&self, name: &str) -> Result<()> {
        let others = self
            .store
            .users()
            .await?
            .into_iter()
            .filter(|u| u.name != name && u.grants.iter().any(|g| g.role == Role::Admin))
            .count();
        if others == 0 {
            return Err(Error::new(
                ErrorCode::Forbidden,
                format!("forbidden: {name:?} is the last admin; make another admin first"),
            ));
        }
        Ok(())
    }

    /// Sets a password: an admin for anyone, a user for itself with its current password.
    /// The user's sessions end (its API tokens stay).
    pub async fn set_password(
        &self,
        who: &Principal,
        name: &str,
        pass: String,
        current: Option<String>,
    ) -> Result<()> {
        password::check(&pass)?;
        let user = self.store.user(name).await?.ok_or_else(|| no_user(name))?;
        let own = matches!(who.who, Who::User { .. }) && who.user_name() == Some(name);
        let admin = who.grants.iter().any(|g| g.role == Role::Admin);
        if own && !admin {
            let Some(current) = current else {
                return Err(Error::new(
                    ErrorCode::InvalidField,
                    "current: changing your own password needs the current one",
                ));
            };
            if !password::verify(current, Some(user.password_hash)).await? {
                return Err(Error::new(
                    ErrorCode::Forbidden,
                    "forbidden: the current password is wrong",
                ));
            }
        }
        let hash = password::hash(pass).await?;
        let fx = Self::effects(who, "user.password", name, "sessions ended", vec![]);
        if !self.store.set_password(name, &hash, &fx).await? {
            return Err(no_user(name));
        }
        Ok(())
    }

    /// Adds a grant (`add`) or takes one away; returns the user's grants after.
    pub async fn change_grant(
        &self,
        who: &Principal,
        name: &str,
        grant: Grant,
        add: bool,
    ) -> Result<Vec<Grant>> {
        check_grant(&grant)?;
        let user = self.store.user(name).await?.ok_or_else(|| no_user(name))?;
        let mut grants = user.grants.clone();
        if add {
            if !grants.contains(&grant) {
                grants.push(grant.clone());
            }
        } else {
            let before = grants.len();
            grants.retain(|g| g != &grant);
            if grants.len() == before {
                return Err(Error::new(
                    ErrorCode::NotFound,
                    format!(
                        "{name:?} does not have {grant} (it has {})",
                        describe(&user.grants)
                    ),
                ));
            }
            if grant.role == Role::Admin {
                self.keep_an_admin(name).await?;
            }
        }
        grants.sort();
        let action = if add { "user.grant" } else { "user.revoke" };
        let detail = format!("{grant}; now {}", describe(&grants));
        let fx = Self::effects(who, action, name, &detail, vec![]);
        if !self.store.set_grants(name, &grants, &fx).await? {
            return Err(no_user(name));
        }
        Ok(grants)
    }

    /// Ends the login session a request came with. Other tokens are not sessions: the
    /// bootstrap and agent tokens, and API tokens, are revoked by name, not by logging out.
    pub async fn logout(&self, who: &Principal) -> Result<()> {
        let (Who::User { .. }, Some(hash)) = (&who.who, &who.token_hash) else {
            return Err(Error::new(
                ErrorCode::InvalidRequest,
                format!("{} is not a login session: nothing to log out of", who.name),
            ));
        };
        let fx = Self::effects(who, "logout", &who.name, "", vec![]);
        self.store.delete_token(hash, &fx).await?;
        Ok(())
    }

    /// Records a request the gate refused, in its own transaction. A failure to record is
    /// logged: the refusal stands either way.
    pub async fn refused(&self, who: &Principal, from: &str, request: &str, why: &str) {
        let fx = Effects {
            audit: Some(AuditEntry {
                from: Some(from.to_string()),
                ..AuditEntry::new(Timestamp::now(), &who.name, "request.refused", request, why)
            }),
            ..Effects::default()
        };
        if let Err(e) = self.store.commit_effects(&fx).await {
            tracing::warn!(error = %e, "cannot audit a refused request");
        }
    }
}

/// An e-mail address a user may give (what alert recipients take as one).
fn check_email(e: &str) -> Result<String> {
    match cloudtask_shared::Recipient::parse(e) {
        Ok(cloudtask_shared::Recipient::Email(a)) => Ok(a),
        _ => Err(Error::new(
            ErrorCode::InvalidField,
            format!("email: {e:?} is not an e-mail address (name@example.com)"),
        )),
    }
}
