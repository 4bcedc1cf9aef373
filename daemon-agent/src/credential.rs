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
    center: &str,
    data_dir: &Path,
    join_token_file: Option<&Path>,
    req: &JoinRequest,
    shutdown: &Shutdown,
) -> Result<String, CredentialError> {
    let file = data_dir.join(NODE_TOKEN_FILE);
    if file.exists() {
        return read_secret(&file).map_err(CredentialError::Read);
    }
    let join_file = join_token_file.ok_or_else(|| CredentialError::NoJoinToken {
        file: file.display().to_string(),
    })?;
    let join = read_secret(join_file).map_err(CredentialError::Read)?;
    let client = CenterClient::new(center, &join);
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
                tracing::warn!(error = %e, retry_in = ?delay, "cannot join yet: the center is away");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = shutdown.wait() => return Err(CredentialError::Stopped),
                }
            }
        }
    }
}
