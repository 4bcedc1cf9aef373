//! Who is calling. Bearer tokens are 256 random bits shown once and stored only as their
//! SHA-256; each stands for a user's login (a session), a user's named API token, the first
//! admin's bootstrap token, an admin's join token (agents join with it) or a node's
//! credential (bound to its name and cluster). Users log in with an Argon2id-hashed
//! password ([`password`]). Failed logins and tokens are counted in the store, per (user,
//! address) and per address, so the limit holds across centers. What a caller may then do is
//! [`policy`]'s to decide.

pub mod password;
pub mod policy;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloudtask_shared::api::{ErrorCode, Grant, IssuedToken, Role};
use cloudtask_shared::shutdown::Shutdown;
use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};

use crate::service::Error;
use crate::store::{AuditEntry, Effects, SharedStore, TokenKind, TokenRow, UserRow};

/// Whose credential a request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// A user's login session.
    User { user: String },
    /// A user's named API token.
    Token { user: String, token: String },
    /// The first admin's token from `admin.token`: the admin role, whatever the user's grants.
    Bootstrap { user: String },
    /// A node's credential: that node of that cluster, nothing else.
    Node { name: String, cluster: String },
    /// A join token: may ask for a node credential (of its cluster, if it names one).
    Joiner {
        token: String,
        cluster: Option<String>,
    },
}

/// Who is calling and what it may do: the effective grants (an API token's scope within
/// its user's current grants).
#[derive(Debug, Clone)]
pub struct Principal {
    pub who: Who,
    /// How audit rows and `created_by` name it: the user, `user/token`, or the node.
    pub name: String,
    pub grants: Vec<Grant>,
    /// The hash of the token the request came with (a logout revokes it).
    pub token_hash: Option<String>,
    pub expires_at: Option<Timestamp>,
    /// The address the request came from (empty when none: the center's own doing).
    pub from: String,
}

impl Principal {
    /// A user acting with these grants.
    #[cfg(test)]
    pub fn user(name: &str, grants: Vec<Grant>) -> Principal {
        Principal {
            who: Who::User {
                user: name.to_string(),
            },
            name: name.to_string(),
            grants,
            token_hash: None,
            expires_at: None,
            from: String::new(),
        }
    }

    /// The node `name` of `cluster`.
    pub fn node(name: &str, cluster: &str) -> Principal {
        Principal {
            who: Who::Node {
                name: name.to_string(),
                cluster: cluster.to_string(),
            },
            name: format!("node:{name}"),
            grants: Vec::new(),
            token_hash: None,
            expires_at: None,
            from: String::new(),
        }
    }

    /// The user it acts for, if it is a user's credential.
    pub fn user_name(&self) -> Option<&str> {
        match &self.who {
            Who::User { user } | Who::Token { user, .. } | Who::Bootstrap { user } => Some(user),
            Who::Node { .. } | Who::Joiner { .. } => None,
        }
    }

    /// The node and cluster it is, if it is a node's credential.
    pub fn node_of(&self) -> Option<(&str, &str)> {
        match &self.who {
            Who::Node { name, cluster } => Some((name, cluster)),
            _ => None,
        }
    }

    /// How `/whoami` names it: `user:NAME`, `token:USER/NAME`, `bootstrap`, `node:NAME` or
    /// `join:NAME`.
    pub fn label(&self) -> String {
        match &self.who {
            Who::User { user } => format!("user:{user}"),
            Who::Token { user, token } => format!("token:{user}/{token}"),
            Who::Bootstrap { .. } => "bootstrap".to_string(),
            Who::Node { name, .. } => format!("node:{name}"),
            Who::Joiner { token, .. } => format!("join:{token}"),
        }
    }
}

pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new token: `ct_` and 256 random bits in hex.
pub fn generate() -> Result<String, Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(Error::internal)?;
    Ok(format!("ct_{}", hex::encode(bytes)))
}

/// Failed logins of one user from one address before that pair is refused for a window.
pub const FAILURES_PER_USER_AND_ADDRESS: u32 = 5;
/// Failed logins and tokens from one address before every login from it is refused.
pub const FAILURES_PER_ADDRESS: u32 = 50;
/// How long failures count.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// How often the last-used times of tokens are written.
const USES_FLUSH: Duration = Duration::from_secs(10);

fn user_key(user: &str, from: &str) -> String {
    format!("login:{user}@{from}")
}

fn address_key(from: &str) -> String {
    format!("address:{from}")
}

fn rate_limited(what: &str) -> Error {
    Error::new(
        ErrorCode::RateLimited,
        format!(
            "too many failed attempts {what}: refused for up to {} minutes",
            FAILURE_WINDOW.as_secs() / 60
        ),
    )
}

/// Checks credentials against the store. Cheap to clone.
#[derive(Clone)]
pub struct Credentials {
    store: SharedStore,
    /// Last use of each token since the last flush: written in batches, not per request.
    uses: Arc<Mutex<HashMap<String, (Timestamp, String)>>>,
    /// How long a login lasts.
    pub session_ttl: Duration,
}

impl Credentials {
    pub fn new(store: SharedStore, session_ttl: Duration) -> Credentials {
        Credentials {
            store,
            uses: Default::default(),
            session_ttl,
        }
    }

    /// The principal a bearer token stands for, or why not. A failure counts against the
    /// address; past [`FAILURES_PER_ADDRESS`] the answer is `rate_limited`.
    pub async fn authenticate(&self, token: &str, from: &str) -> Result<Principal, Error> {
        let h = hash(token);
        let row = self.store.token(&h).await?;
        let now = Timestamp::now();
        let refusal = match &row {
            None => "invalid token: the center knows no such token".to_string(),
            Some(t) => match t.expires_at {
                Some(at) if at <= now => format!("token expired at {at}: log in again"),
                _ => String::new(),
            },
        };
        let Some(row) = row.filter(|_| refusal.is_empty()) else {
            return Err(self.refuse_token(refusal, from, now).await?);
        };
        let principal = Principal {
            from: from.to_string(),
            ..self.principal(row).await?
        };
        self.uses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(h, (now, from.to_string()));
        Ok(principal)
    }

    /// The answer to a failed token: counted against the address, until the address is past
    /// [`FAILURES_PER_ADDRESS`]; then `rate_limited`, and no more writes for it.
    async fn refuse_token(&self, why: String, from: &str, now: Timestamp) -> Result<Error, Error> {
        let key = address_key(from);
        let over = |n: &[u32]| n.first().is_some_and(|n| *n >= FAILURES_PER_ADDRESS);
        if over(&self.store.failures(&[&key], now, FAILURE_WINDOW).await?) {
            return Ok(rate_limited(&format!("from {from}")));
        }
        self.store
            .note_failures(&[&key], now, FAILURE_WINDOW)
            .await?;
        Ok(Error::new(ErrorCode::Unauthorized, why))
    }

    async fn principal(&self, t: TokenRow) -> Result<Principal, Error> {
        let user = t.user.clone().unwrap_or_default();
        let (who, grants) = match t.kind {
            TokenKind::Node => {
                return Ok(Principal {
                    token_hash: Some(t.hash),
                    expires_at: t.expires_at,
                    ..Principal::node(&t.name, t.cluster.as_deref().unwrap_or_default())
                });
            }
            TokenKind::Join => {
                return Ok(Principal {
                    who: Who::Joiner {
                        token: t.name.clone(),
                        cluster: t.cluster.clone(),
                    },
                    name: format!("join:{}", t.name),
                    grants: Vec::new(),
                    token_hash: Some(t.hash),
                    expires_at: t.expires_at,
                    from: String::new(),
                });
            }
            TokenKind::Bootstrap => (
                Who::Bootstrap { user: user.clone() },
                vec![Grant {
                    role: Role::Admin,
                    group: None,
                }],
            ),
            TokenKind::Session | TokenKind::Api => {
                let Some(u) = self.store.user(&user).await? else {
                    return Err(Error::new(
                        ErrorCode::Unauthorized,
                        format!("the token's user {user:?} no longer exists"),
                    ));
                };
                match (t.kind, &t.scope) {
                    (TokenKind::Api, Some(scope)) => (
                        Who::Token {
                            user: user.clone(),
                            token: t.name.clone(),
                        },
                        within(scope, &u.grants),
                    ),
                    (TokenKind::Api, None) => (
                        Who::Token {
                            user: user.clone(),
                            token: t.name.clone(),
                        },
                        u.grants,
                    ),
                    _ => (Who::User { user: user.clone() }, u.grants),
                }
            }
        };
        let name = match &who {
            Who::Token { user, token } => format!("{user}/{token}"),
            _ => user,
        };
        Ok(Principal {
            who,
            name,
            grants,
            token_hash: Some(t.hash),
            expires_at: t.expires_at,
            from: String::new(),
        })
    }

    /// Checks a password and starts a session. Refused without checking once the user has
    /// [`FAILURES_PER_USER_AND_ADDRESS`] failures from this address, or the address
    /// [`FAILURES_PER_ADDRESS`]; a wrong user and a wrong password are the same answer.
    pub async fn login(&self, user: &str, pass: &str, from: &str) -> Result<IssuedToken, Error> {
        let now = Timestamp::now();
        let (ukey, akey) = (user_key(user, from), address_key(from));
        let counts = self
            .store
            .failures(&[&ukey, &akey], now, FAILURE_WINDOW)
            .await?;
        if counts
            .first()
            .is_some_and(|n| *n >= FAILURES_PER_USER_AND_ADDRESS)
        {
            return Err(rate_limited(&format!("for {user:?} from {from}")));
        }
        if counts.get(1).is_some_and(|n| *n >= FAILURES_PER_ADDRESS) {
            return Err(rate_limited(&format!("from {from}")));
        }
        let stored = self.store.user(user).await?;
        let ok = password::verify(
            pass.to_string(),
            stored.as_ref().map(|u| u.password_hash.clone()),
        )
        .await?;
        let Some(u) = stored.filter(|_| ok) else {
            self.store
                .note_failures(&[&ukey, &akey], now, FAILURE_WINDOW)
                .await?;
            let fx = Effects {
                audit: Some(AuditEntry {
                    from: Some(from.to_string()),
                    ..AuditEntry::new(now, user, "login.fail", user, "wrong user name or password")
                }),
                ..Effects::default()
            };
            self.store.commit_effects(&fx).await?;
            return Err(Error::new(
                ErrorCode::Unauthorized,
                "wrong user name or password",
            ));
        };
        self.store.clear_failures(&ukey).await?;
        let token = generate()?;
        let expires_at = now
            .checked_add(SignedDuration::try_from(self.session_ttl).map_err(Error::internal)?)
            .map_err(Error::internal)?;
        let row = TokenRow {
            hash: hash(&token),
            name: format!("session {}", &hash(&token)[..8]),
            kind: TokenKind::Session,
            user: Some(u.name.clone()),
            scope: None,
            cluster: None,
            created_at: now,
            expires_at: Some(expires_at),
            last_used_at: None,
            last_used_from: None,
        };
        let fx = Effects {
            audit: Some(AuditEntry {
                from: Some(from.to_string()),
                ..AuditEntry::new(
                    now,
                    &u.name,
                    "login",
                    &u.name,
                    &format!("until {expires_at}"),
                )
            }),
            ..Effects::default()
        };
        self.store.add_token(&row, &fx).await?;
        Ok(IssuedToken {
            token,
            name: row.name,
            expires_at,
        })
    }

    /// Writes the last-used times gathered since the last call.
    pub async fn flush_uses(&self) {
        let uses: Vec<(String, Timestamp, String)> = {
            let mut m = self.uses.lock().unwrap_or_else(|e| e.into_inner());
            m.drain().map(|(h, (at, from))| (h, at, from)).collect()
        };
        if let Err(e) = self.store.touch_tokens(&uses).await {
            tracing::warn!(error = %e, "cannot record when tokens were last used");
        }
    }

    /// Flushes last-used times every few seconds until shutdown, then once more.
    pub async fn run_flusher(self, shutdown: Shutdown) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(USES_FLUSH) => self.flush_uses().await,
                () = shutdown.wait() => break,
            }
        }
        self.flush_uses().await;
    }
}

/// The grants of `scope` that `held` covers: an API token never exceeds its user's rights,
/// even after the user lost some.
pub fn within(scope: &[Grant], held: &[Grant]) -> Vec<Grant> {
    scope
        .iter()
        .filter(|s| {
            held.iter()
                .any(|h| h.role >= s.role && (h.group.is_none() || h.group == s.group))
        })
        .cloned()
        .collect()
}

/// What the first start made.
pub struct Bootstrapped {
    /// The first admin's password file, when this start created the first admin.
    pub password_file: Option<std::path::PathBuf>,
}

/// On first start (no user yet): creates the user `admin` with the admin role and a random
/// password written to `admin.password` (mode 0600), and the bootstrap token in
/// `admin.token`. (Agents no longer share a token: each joins with a join token and gets its
/// own credential; an `agent.token` left by an older center is removed.)
pub async fn bootstrap(store: &SharedStore, dir: &Path) -> Result<Bootstrapped, Error> {
    let mut made = Bootstrapped {
        password_file: None,
    };
    let now = Timestamp::now();
    if store.users().await?.is_empty() {
        // The bootstrap token first: a crash before the user commits leaves the store without
        // users, so the next start makes the user (and finds the token made).
        if store
            .tokens(Some(TokenKind::Bootstrap), None)
            .await?
            .is_empty()
        {
            make_token(
                store,
                TokenKind::Bootstrap,
                "admin",
                &dir.join("admin.token"),
            )
            .await?;
        }
        let secret = generate()?;
        let pass = secret.trim_start_matches("ct_")[..32].to_string();
        let file = dir.join("admin.password");
        write_secret(&file, &pass)?;
        let user = UserRow {
            name: "admin".into(),
            password_hash: password::hash(pass).await?,
            grants: vec![Grant {
                role: Role::Admin,
                group: None,
            }],
            created_at: now,
            created_by: "center".into(),
            email: None,
        };
        store
            .create_user(&user, &bootstrap_audit("user.create", "admin", &file))
            .await?;
        made.password_file = Some(file);
    }
    // Its token went with the store's migration; the file would only mislead.
    let agent_file = dir.join("agent.token");
    if agent_file.exists() {
        std::fs::remove_file(&agent_file).map_err(Error::io)?;
        tracing::warn!(file = %agent_file.display(), "removed the agents' shared token of an older center: agents now join with a join token (cloudtaskctl cluster token create)");
    }
    Ok(made)
}

fn bootstrap_audit(action: &str, target: &str, file: &Path) -> Effects {
    Effects {
        audit: Some(AuditEntry::new(
            Timestamp::now(),
            "center",
            action,
            target,
            &format!("first start: secret written to {}", file.display()),
        )),
        ..Effects::default()
    }
}

async fn make_token(
    store: &SharedStore,
    kind: TokenKind,
    name: &str,
    file: &Path,
) -> Result<(), Error> {
    let token = generate()?;
    write_secret(file, &token)?;
    let row = TokenRow {
        hash: hash(&token),
        name: name.to_string(),
        kind,
        user: (kind == TokenKind::Bootstrap).then(|| name.to_string()),
        scope: None,
        cluster: None,
        created_at: Timestamp::now(),
        expires_at: None,
        last_used_at: None,
        last_used_from: None,
    };
    store
        .add_token(&row, &bootstrap_audit("token.create", name, file))
        .await?;
    Ok(())
}

/// Writes a secret readable by its owner only, atomically and durably.
pub fn write_secret(path: &Path, secret: &str) -> Result<(), Error> {
    cloudtask_shared::durable::write_secret(path, secret).map_err(Error::io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(role: Role, group: Option<&str>) -> Grant {
        Grant {
            role,
            group: group.map(str::to_string),
        }
    }

    #[tokio::test]
    async fn the_first_start_is_finished_by_the_next_one_after_a_crash_in_between() {
        let dir = tempfile::tempdir().unwrap();
        let store: SharedStore = std::sync::Arc::new(
            crate::store::sql::sqlite::open(&dir.path().join("db"))
                .await
                .unwrap(),
        );
        // A first start that died after the bootstrap token, before the user.
        make_token(
            &store,
            TokenKind::Bootstrap,
            "admin",
            &dir.path().join("admin.token"),
        )
        .await
        .unwrap();
        let made = bootstrap(&store, dir.path()).await.unwrap();
        assert!(made.password_file.is_some(), "the user is made");
        assert_eq!(store.users().await.unwrap().len(), 1);
        let boot = store
            .tokens(Some(TokenKind::Bootstrap), None)
            .await
            .unwrap();
        assert_eq!(boot.len(), 1, "and no second bootstrap token");
        // Later starts make nothing again.
        let again = bootstrap(&store, dir.path()).await.unwrap();
        assert!(again.password_file.is_none());
        assert_eq!(
            store
                .tokens(Some(TokenKind::Bootstrap), None)
                .await
                .unwrap()
                .len(),
            1
        );
    }

    #[tokio::test]
    async fn an_older_centers_shared_agent_token_file_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store: SharedStore = std::sync::Arc::new(
            crate::store::sql::sqlite::open(&dir.path().join("db"))
                .await
                .unwrap(),
        );
        std::fs::write(dir.path().join("agent.token"), "ct_old\n").unwrap();
        bootstrap(&store, dir.path()).await.unwrap();
        assert!(!dir.path().join("agent.token").exists());
        assert!(dir.path().join("admin.token").exists());
    }

    #[test]
    fn a_token_keeps_only_what_its_user_still_holds() {
        let scope = [g(Role::Editor, Some("ops")), g(Role::Viewer, Some("web"))];
        let held = [g(Role::Operator, None), g(Role::Editor, Some("ops"))];
        assert_eq!(within(&scope, &held), scope.to_vec());
        let held = [g(Role::Operator, Some("ops"))];
        assert!(within(&scope, &held).is_empty());
        let held = [g(Role::Viewer, None)];
        assert_eq!(within(&scope, &held), vec![g(Role::Viewer, Some("web"))]);
    }
}
