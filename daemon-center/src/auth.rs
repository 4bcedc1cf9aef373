//! Bearer tokens: 256 random bits shown once, stored only as their SHA-256.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use sha2::{Digest, Sha256};

use crate::store::{AuditEntry, Effects, Store};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything.
    Admin,
    /// An agent: read specs and packages, report runs, follow events.
    Agent,
}

impl Role {
    fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "agent" => Some(Role::Agent),
            _ => None,
        }
    }
}

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Principal {
    pub name: String,
    pub role: Role,
}

/// Token hashes in memory: checking a request never touches the store.
#[derive(Clone, Default)]
pub struct Tokens {
    by_hash: Arc<RwLock<HashMap<String, Principal>>>,
}

pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn generate() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("ct_{}", hex::encode(bytes)))
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error("no randomness for a token: {0}")]
    Random(getrandom::Error),
    #[error("writing token file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl Tokens {
    pub async fn load(store: &dyn Store) -> Result<Tokens, Error> {
        let t = Tokens::default();
        for (hash, name, role) in store.tokens().await? {
            if let Some(role) = Role::parse(&role) {
                t.insert(hash, Principal { name, role });
            }
        }
        Ok(t)
    }

    fn insert(&self, hash: String, p: Principal) {
        self.by_hash
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hash, p);
    }

    pub fn check(&self, token: &str) -> Option<Principal> {
        self.by_hash
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&hash(token))
            .cloned()
    }

    fn has_role(&self, role: Role) -> bool {
        self.by_hash
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .any(|p| p.role == role)
    }

    /// On first start: creates the token of `role` and writes it to `file` (mode 0600).
    /// Returns whether it created one.
    pub async fn bootstrap(
        &self,
        store: &dyn Store,
        role: Role,
        name: &str,
        file: &Path,
    ) -> Result<bool, Error> {
        if self.has_role(role) && file.exists() {
            return Ok(false);
        }
        let token = generate().map_err(Error::Random)?;
        write_secret(file, &token).map_err(|source| Error::Io {
            path: file.display().to_string(),
            source,
        })?;
        let h = hash(&token);
        let role_name = match role {
            Role::Admin => "admin",
            Role::Agent => "agent",
        };
        let fx = Effects {
            audit: Some(AuditEntry {
                at: jiff::Timestamp::now(),
                actor: "center".into(),
                action: "token.create".into(),
                target: name.to_string(),
                detail: format!("role {role_name}, written to {}", file.display()),
            }),
            events: vec![],
            requests: vec![],
        };
        store.add_token(&h, name, role_name, &fx).await?;
        self.insert(
            h,
            Principal {
                name: name.to_string(),
                role,
            },
        );
        Ok(true)
    }

    /// Reads a token this center wrote earlier (the in-process agent uses the agent token).
    pub fn read_secret(file: &Path) -> std::io::Result<String> {
        Ok(std::fs::read_to_string(file)?.trim().to_string())
    }
}

/// Writes a secret readable by its owner only, atomically.
fn write_secret(path: &Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    f.write_all(secret.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    cloudtask_shared::durable::sync_dir(cloudtask_shared::durable::parent_of(path))
}
