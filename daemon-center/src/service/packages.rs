//! Package uploads: streamed to a scratch file in the data dir under the size limit, hashed,
//! inspected as an agent would unpack them, then copied into the store chunk by chunk and
//! recorded under their sha256; the scratch file goes. The bytes live in the store, so every
//! center sharing it serves every package.

use cloudtask_daemon_kit::archive::{self, Kind, Limits};
use cloudtask_shared::PackageRef;
use cloudtask_shared::api::ErrorCode;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Error, Result, Service, new_id};
use crate::auth::Principal;
use crate::store::{PACKAGE_CHUNK, SharedStore};

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
        let stored = store_file(&self.store, &tmp, &sha256).await;
        let _ = tokio::fs::remove_file(&tmp).await;
        stored?;
        let fx = Self::effects(who, "package.upload", &sha256, file_name, vec![]);
        self.store.add_package(&sha256, size, &fx).await?;
        Ok(PackageRef {
            sha256,
            file_name: file_name.to_string(),
            size,
        })
    }
}

/// Copies a file into the store as `sha256`'s chunks, one write each.
async fn store_file(store: &SharedStore, path: &std::path::Path, sha256: &str) -> Result<()> {
    let mut file = tokio::fs::File::open(path).await.map_err(Error::io)?;
    let mut buf = vec![0u8; PACKAGE_CHUNK];
    for n in 0u32.. {
        let mut len = 0;
        while len < buf.len() {
            match file.read(&mut buf[len..]).await.map_err(Error::io)? {
                0 => break,
                k => len += k,
            }
        }
        if len == 0 {
            return Ok(());
        }
        store.put_package_chunk(sha256, n, &buf[..len]).await?;
    }
    Ok(())
}

/// Moves the package blobs an older center kept as files in the data dir into the store: each
/// is copied in, then its file removed (a crash between the two copies it again next start). A
/// blob no package row names is what retention would have removed: it goes.
pub async fn import_disk_blobs(store: &SharedStore, dir: &std::path::Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(()); // no packages dir: nothing was ever kept there
    };
    let mut moved = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.len() != 64 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        let path = entry.path();
        if let Some(size) = store.package_size(&name).await? {
            let len = entry.metadata().map_err(Error::io)?.len();
            if len != size {
                return Err(Error::internal(format!(
                    "package blob {} holds {len} bytes, its row says {size}: left in place",
                    path.display()
                )));
            }
            store_file(store, &path, &name).await?;
            moved += 1;
        }
        std::fs::remove_file(&path).map_err(Error::io)?;
    }
    if moved > 0 {
        cloudtask_shared::durable::sync_dir(dir).map_err(Error::io)?;
        tracing::info!(
            moved,
            "package blobs moved from the data dir into the store"
        );
    }
    Ok(())
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
    // No fsync: the file is scratch. What is kept is what commits into the store.
    file.flush().await.map_err(Error::io)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sql::sqlite;
    use std::sync::Arc;

    #[tokio::test]
    async fn blobs_kept_as_files_move_into_the_store_and_unnamed_ones_go() {
        let dir = tempfile::tempdir().unwrap();
        let lite = sqlite::open(&dir.path().join("db")).await.unwrap();
        let blobs = dir.path().join("packages");
        std::fs::create_dir_all(&blobs).unwrap();
        let (kept, unnamed) = ("a".repeat(64), "b".repeat(64));
        let bytes: Vec<u8> = (0..PACKAGE_CHUNK + 10).map(|i| (i % 7) as u8).collect();
        std::fs::write(blobs.join(&kept), &bytes).unwrap();
        std::fs::write(blobs.join(&unnamed), b"nobody").unwrap();
        std::fs::write(blobs.join(".upload-x"), b"in flight").unwrap();
        // The row an older center wrote, its bytes in the file.
        lite.execute_for_test(&format!(
            "INSERT INTO packages (sha256, size, created_at) VALUES ('{kept}', {}, 0)",
            bytes.len()
        ))
        .await;
        let store: SharedStore = Arc::new(lite);
        import_disk_blobs(&store, &blobs).await.unwrap();
        let mut back = store.package_chunk(&kept, 0).await.unwrap().unwrap();
        back.extend(store.package_chunk(&kept, 1).await.unwrap().unwrap());
        assert!(back == bytes, "the bytes read back differ");
        assert!(!blobs.join(&kept).exists());
        assert!(!blobs.join(&unnamed).exists());
        assert!(blobs.join(".upload-x").exists(), "uploads are not blobs");
        // Done once: a second start finds nothing to move.
        import_disk_blobs(&store, &blobs).await.unwrap();
    }
}
