//! Argon2id password hashes (PHC strings), computed off the async threads: one hash takes
//! tens of milliseconds of CPU by design.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use cloudtask_shared::api::ErrorCode;

use crate::service::Error;

/// The shortest password a user may set.
pub const MIN_LENGTH: usize = 10;

/// Refuses a password too short to be one.
pub fn check(password: &str) -> Result<(), Error> {
    if password.chars().count() < MIN_LENGTH {
        return Err(Error::new(
            ErrorCode::InvalidField,
            format!("password: must be at least {MIN_LENGTH} characters"),
        ));
    }
    Ok(())
}

fn hash_now(password: &[u8]) -> Result<String, Error> {
    Argon2::default()
        .hash_password(password)
        .map(|h| h.to_string())
        .map_err(Error::internal)
}

/// The PHC string of `password`, with a fresh salt.
pub async fn hash(password: String) -> Result<String, Error> {
    tokio::task::spawn_blocking(move || hash_now(password.as_bytes()))
        .await
        .map_err(Error::internal)?
}

/// Whether `password` matches `stored`. With no stored hash (no such user) it spends the
/// same time on a hash of its own and answers false, so the answer's delay does not tell
/// which user names exist.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, Error> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    tokio::task::spawn_blocking(move || {
        let (stored, real) = match stored {
            Some(s) => (s, true),
            None => {
                let dummy = match DUMMY.get() {
                    Some(d) => d.clone(),
                    None => {
                        let d = hash_now(b"no such user")?;
                        DUMMY.get_or_init(|| d).clone()
                    }
                };
                (dummy, false)
            }
        };
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), stored.as_str())
            .is_ok();
        Ok(ok && real)
    })
    .await
    .map_err(Error::internal)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let h = hash("correct horse battery".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(!h.contains("correct"));
        assert!(
            verify("correct horse battery".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(!verify("wrong horse battery".into(), Some(h)).await.unwrap());
        assert!(!verify("no such user".into(), None).await.unwrap());
        assert_ne!(
            hash("same".repeat(3)).await.unwrap(),
            hash("same".repeat(3)).await.unwrap(),
            "salted"
        );
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(check("short").is_err());
        assert!(check("long enough!").is_ok());
    }
}
