//! API tokens: named, scoped within their creator's rights, with a mandatory expiry, shown
//! once and stored hashed; listed with their last use; revoked by name.

use std::time::Duration;

use cloudtask_shared::api::{CreateToken, ErrorCode, IssuedToken, TokenView};
use cloudtask_shared::{parse_duration_ms, validate_name};
use jiff::{SignedDuration, Timestamp};

use super::{Error, Result, Service};
use crate::auth::{self, Principal, Who};
use crate::store::{TokenKind, TokenRow};

fn view(t: TokenRow) -> TokenView {
    TokenView {
        name: t.name,
        user: t.user.unwrap_or_default(),
        grants: t.scope.unwrap_or_default(),
        created_at: t.created_at,
        expires_at: t.expires_at,
        last_used_at: t.last_used_at,
        last_used_from: t.last_used_from,
    }
}

/// The user a token request is for: a user's own session (or the bootstrap token's user),
/// never a token making tokens.
fn owner(who: &Principal) -> Result<&str> {
    match &who.who {
        Who::User { user } | Who::Bootstrap { user } => Ok(user),
        _ => Err(Error::new(
            ErrorCode::Forbidden,
            format!(
                "forbidden: {} may not manage API tokens: log in as the user",
                who.name
            ),
        )),
    }
}

/// When a token asked to last `expires_in` from `now` expires: more than zero, at most
/// `max_ttl` (the center's `--max-token-ttl`).
pub fn expiry(now: Timestamp, expires_in: &str, max_ttl: Duration) -> Result<Timestamp> {
    let ms = parse_duration_ms(expires_in)
        .map_err(|e| Error::new(ErrorCode::InvalidField, format!("expires_in: {e}")))?;
    let ttl = Duration::from_millis(ms);
    if ttl.is_zero() || ttl > max_ttl {
        return Err(Error::new(
            ErrorCode::InvalidField,
            format!(
                "expires_in: must be more than zero and at most the center's --max-token-ttl ({}d)",
                max_ttl.as_secs() / 86_400
            ),
        ));
    }
    now.checked_add(SignedDuration::try_from(ttl).map_err(Error::internal)?)
        .map_err(Error::internal)
}

impl Service {
    /// Makes an API token of `who`'s user; `max_ttl` bounds its life.
    pub async fn create_token(
        &self,
        who: &Principal,
        req: CreateToken,
        max_ttl: Duration,
    ) -> Result<IssuedToken> {
        let user = owner(who)?.to_string();
        validate_name("name", &req.name)?;
        let scope = if req.grants.is_empty() {
            None
        } else {
            let covered = auth::within(&req.grants, &who.grants);
            if covered.len() != req.grants.len() {
                let missing: Vec<String> = req
                    .grants
                    .iter()
                    .filter(|g| !covered.contains(g))
                    .map(ToString::to_string)
                    .collect();
                return Err(Error::new(
                    ErrorCode::Forbidden,
                    format!(
                        "forbidden: a token gets no more than its creator has; {user} lacks {}",
                        missing.join(", ")
                    ),
                ));
            }
            Some(req.grants)
        };
        let token = auth::generate()?;
        let now = Timestamp::now();
        let expires_at = expiry(now, &req.expires_in, max_ttl)?;
        let row = TokenRow {
            hash: auth::hash(&token),
            name: req.name.clone(),
            kind: TokenKind::Api,
            user: Some(user.clone()),
            scope,
            cluster: None,
            created_at: now,
            expires_at: Some(expires_at),
            last_used_at: None,
            last_used_from: None,
        };
        let detail = match &row.scope {
            Some(s) => format!(
                "until {expires_at}, scope {}",
                s.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => format!("until {expires_at}, all of {user}'s rights"),
        };
        let fx = Self::effects(
            who,
            "token.create",
            &format!("{user}/{}", req.name),
            &detail,
            vec![],
        );
        self.store.add_token(&row, &fx).await?;
        Ok(IssuedToken {
            token,
            name: req.name,
            expires_at,
        })
    }

    /// The API tokens of `who`'s user, or (`all`, admins) of every user.
    pub async fn tokens(&self, who: &Principal, all: bool) -> Result<Vec<TokenView>> {
        let user = if all {
            super::permit_everywhere(who, crate::auth::policy::Action::Administer)?;
            None
        } else {
            Some(owner(who)?)
        };
        Ok(self
            .store
            .tokens(Some(TokenKind::Api), user)
            .await?
            .into_iter()
            .map(view)
            .collect())
    }

    /// Revokes an API token of `who`'s user by name (an admin may name another `user`).
    pub async fn revoke_token(
        &self,
        who: &Principal,
        name: &str,
        user: Option<&str>,
    ) -> Result<()> {
        let own = owner(who)?;
        let user = match user {
            Some(u) if u != own => {
                super::permit_everywhere(who, crate::auth::policy::Action::Administer)?;
                u
            }
            _ => own,
        };
        let found = self
            .store
            .tokens(Some(TokenKind::Api), Some(user))
            .await?
            .into_iter()
            .find(|t| t.name == name)
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::NotFound,
                    format!("{user} has no API token named {name:?}"),
                )
            })?;
        let fx = Self::effects(who, "token.revoke", &format!("{user}/{name}"), "", vec![]);
        self.store.delete_token(&found.hash, &fx).await?;
        Ok(())
    }
}
