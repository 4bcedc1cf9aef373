//! This node's credential: read from `node.token` in the data dir, or, on the first start,
//! obtained by joining the cluster with a join token (an admin's `cloudtaskctl cluster token
//! create`) and kept there (0600, durably) for every later start.

use std::path::Path;
use std::time::Duration;

use cloudtask_shared::api::JoinRequest;
use cloudtask_shared::backoff::Backoff;
use cloudtask_shared::durable::{read_secret, write_secret};
use cloudtask_shared::shutdown::Shutdown;

use crate::client::{CenterClient, Error};

/// The credential's file in the agent's data dir.
pub const NODE_TOKEN_FILE: &str = "node.token";

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error(
        "no node credential in {file} and no join token to get one: pass --join-token-file (cloudtaskctl cluster token create NAME)"
    )]
    NoJoinToken { file: String },
    #[error("reading {0}")]
    Read(#[source] std::io::Error),
    #[error(
        "{file} is empty: remove it and start with --join-token-file to join again (an admin revokes the old credential first: cloudtaskctl node revoke)"
    )]
    Empty { file: String },
    #[error("keeping the node credential: {0}")]
    Write(#[source] std::io::Error),
    #[error("joining the cluster: {0}")]
    Refused(#[source] Error),
    #[error("stopped before the node could join")]
    Stopped,
}

/// The node's credential: the one kept in `data_dir`, or a new one from joining under the
/// token in `join_token_file`. A center that is away is waited for (with backoff); a refusal
/// (a wrong, revoked or expired join token, a name that has joined already) is an error.
pub async fn obtain(
    centers: &crate::client::Centers,
    http: &reqwest::Client,
    data_dir: &Path,
    join_token_file: Option<&Path>,
    req: &JoinRequest,
    shutdown: &Shutdown,
) -> Result<String, CredentialError> {
    let file = data_dir.join(NODE_TOKEN_FILE);
    if file.exists() {
        let token = read_secret(&file).map_err(CredentialError::Read)?;
        if token.is_empty() {
            return Err(CredentialError::Empty {
                file: file.display().to_string(),
            });
        }
        return Ok(token);
    }
    let join_file = join_token_file.ok_or_else(|| CredentialError::NoJoinToken {
        file: file.display().to_string(),
    })?;
    let join = read_secret(join_file).map_err(CredentialError::Read)?;
    let client = CenterClient::with_centers(centers, &join, http);
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    loop {
        match client.join(req).await {
            Ok(credential) => {
                write_secret(&file, &credential.token).map_err(CredentialError::Write)?;
                tracing::info!(node = %req.node, cluster = %req.cluster, file = %file.display(), "joined the cluster; the node's credential is kept");
                return Ok(credential.token);
            }
            Err(e @ Error::Status { status, .. }) if status < 500 => {
                return Err(CredentialError::Refused(e));
            }
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %e, retry_in = ?delay, "cannot join yet (the center is away, or its certificate is not trusted: see --ca-file); retrying");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = shutdown.wait() => return Err(CredentialError::Stopped),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> JoinRequest {
        JoinRequest {
            node: "n1".into(),
            cluster: "default".into(),
        }
    }

    fn http() -> reqwest::Client {
        crate::client::http_client(None).unwrap()
    }

    /// `obtain` without a join token, against a center nobody listens for.
    async fn obtain_unreachable(
        dir: &Path,
        shutdown: &Shutdown,
    ) -> Result<String, CredentialError> {
        let centers =
            crate::client::Centers::new(&["http://127.0.0.1:9".into()]).expect("a center");
        obtain(&centers, &http(), dir, None, &req(), shutdown).await
    }

    #[tokio::test]
    async fn a_kept_credential_is_used_an_empty_one_refused_and_none_needs_a_join_token() {
        let dir = tempfile::tempdir().unwrap();
        let (_trigger, shutdown) = cloudtask_shared::shutdown::channel();
        // Nothing kept and no join token: said, naming the file and the flag.
        let e = obtain_unreachable(dir.path(), &shutdown).await.unwrap_err();
        assert!(e.to_string().contains("--join-token-file"), "{e}");
        assert!(e.to_string().contains("node.token"), "{e}");
        // An empty file is no credential (the center is not even asked).
        std::fs::write(dir.path().join(NODE_TOKEN_FILE), "\n").unwrap();
        let e = obtain_unreachable(dir.path(), &shutdown).await.unwrap_err();
        assert!(matches!(e, CredentialError::Empty { .. }), "{e}");
        // A kept one is used as it is.
        write_secret(&dir.path().join(NODE_TOKEN_FILE), "ct_kept").unwrap();
        let t = obtain_unreachable(dir.path(), &shutdown).await.unwrap();
        assert_eq!(t, "ct_kept");
    }
}
