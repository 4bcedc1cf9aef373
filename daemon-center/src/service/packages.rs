//! Package uploads: streamed to disk under the size limit, hashed, inspected as an agent
//! would unpack them, kept under their sha256, and recorded in the store.

use cloudtask_daemon_kit::archive::{self, Kind, Limits};
use cloudtask_shared::PackageRef;
use cloudtask_shared::api::ErrorCode;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::{Error, Result, Service, new_id};
use crate::auth::Principal;

impl Service {
    /// Receives an upload of `file_name` (`declared`: its Content-Length, when sent). Nothing
    /// is kept when any step fails.
    pub async fn upload_package<S, B, E>(
        &self,
        who: &Principal,
        file_name: &str,
        declared: Option<u64>,
        body: S,
    ) -> Result<PackageRef>
    where
        S: Stream<Item = std::result::Result<B, E>> + Unpin,
        B: AsRef<[u8]>,
        E: std::fmt::Display,
    {
        if file_name.is_empty()
            || file_name.contains('/')
            || file_name.contains('\\')
            || file_name.starts_with('.')
        {
            return Err(Error::new(
                ErrorCode::InvalidField,
                format!("file_name: {file_name:?} is not a plain file name"),
            ));
        }
        let limit = self.max_upload_bytes;
        if let Some(n) = declared.filter(|n| *n > limit) {
            return Err(Error::new(
                ErrorCode::PayloadTooLarge,
                format!("upload of {n} bytes is over the {limit}-byte limit"),
            ));
        }
        tokio::fs::create_dir_all(&self.packages_dir)
            .await
            .map_err(Error::io)?;
        let tmp = self.packages_dir.join(format!(".upload-{}", new_id()?));
        let checked = match stream_to(&tmp, body, limit).await {
            Ok((sha, size)) => inspect(&tmp, file_name).await.map(|()| (sha, size)),
            Err(e) => Err(e),
        };
        let (sha256, size) = match checked {
            Ok(v) => v,
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(e);
            }
        };
        let dest = self.packages_dir.join(&sha256);
        // The blob is on disk (fsynced in `stream_to`, its name by the directory's fsync)
        // before the row that points at it commits.
        let dir = self.packages_dir.clone();
        tokio::task::spawn_blocking(move || {
            std::fs::rename(&tmp, &dest)?;
            cloudtask_shared::durable::sync_dir(&dir)
        })
        .await
        .map_err(Error::internal)?
        .map_err(Error::io)?;
        let fx = Self::effects(who, "package.upload", &sha256, file_name, vec![]);
        self.store.add_package(&sha256, size, &fx).await?;
        Ok(PackageRef {
            sha256,
            file_name: file_name.to_string(),
            size,
        })
    }
}

/// An upload's temporary file untouched this long was left by a center that died mid-upload.
/// (Centers sharing the data dir may be receiving uploads right now: theirs are fresh.)
const STALE_UPLOAD: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes the temporary files of uploads a dead center left behind, saying how many.
pub fn remove_stale_uploads(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return; // no packages yet
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let stale = entry.file_name().to_string_lossy().starts_with(".upload-")
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age >= STALE_UPLOAD);
        if !stale {
            continue;
        }
        match std::fs::remove_file(entry.path()) {
            Ok(()) => removed += 1,
            Err(e) => {
                tracing::warn!(file = %entry.path().display(), error = %e, "cannot remove a stale upload")
            }
        }
    }
    if removed > 0 {
        tracing::info!(removed, dir = %dir.display(), "removed uploads a stopped center left unfinished");
    }
}

async fn stream_to<S, B, E>(
    path: &std::path::Path,
    mut body: S,
    limit: u64,
) -> Result<(String, u64)>
where
    S: Stream<Item = std::result::Result<B, E>> + Unpin,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    let mut file = tokio::fs::File::create(path).await.map_err(Error::io)?;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            Error::new(
                ErrorCode::InvalidRequest,
                format!("upload interrupted: {e}"),
            )
        })?;
        let chunk = chunk.as_ref();
        size += chunk.len() as u64;
        if size > limit {
            return Err(Error::new(
                ErrorCode::PayloadTooLarge,
                format!("upload is over the {limit}-byte limit"),
            ));
        }
        hasher.update(chunk);
        file.write_all(chunk).await.map_err(Error::io)?;
    }
    file.sync_all().await.map_err(Error::io)?;
    Ok((hex::encode(hasher.finalize()), size))
}

/// Refuses archives an agent would refuse, so the operator hears it now and not at 3 a.m.
async fn inspect(path: &std::path::Path, file_name: &str) -> Result<()> {
    let (path, name) = (path.to_path_buf(), file_name.to_string());
    tokio::task::spawn_blocking(move || {
        archive::unpack(&path, Kind::of(&name), &name, None, Limits::default())
    })
    .await
    .map_err(Error::internal)?
    .map_err(|e| match e {
        archive::Error::TooLarge(_) => Error::new(ErrorCode::PayloadTooLarge, e.to_string()),
        other => Error::new(
            ErrorCode::InvalidPackage,
            format!("package refused: {other}"),
        ),
    })
}
