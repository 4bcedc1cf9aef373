//! Packages on the node: fetched from the center by sha256, verified, unpacked once into a
//! cache keyed by hash (the unpacking itself is [`cloudtask_daemon_kit::archive`]'s).

use std::path::{Path, PathBuf};

use cloudtask_daemon_kit::archive::{self, Kind, Limits, unpack};
use cloudtask_shared::PackageRef;

use crate::client::CenterClient;

/// Why a package could not be made ready on this node.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Archive(#[from] archive::Error),
    #[error("package {file}: sha256 is {actual}, expected {expected}")]
    Checksum {
        file: String,
        expected: String,
        actual: String,
    },
    #[error("package download: {0}")]
    Fetch(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    let named = archive::io(path);
    move |source| Error::Archive(named(source))
}

/// The node's package cache: `<dir>/<sha256>/` holds one unpacked package.
#[derive(Debug, Clone)]
pub struct PackageCache {
    dir: PathBuf,
    limits: Limits,
}

impl PackageCache {
    pub fn new(dir: PathBuf, limits: Limits) -> PackageCache {
        PackageCache { dir, limits }
    }

    /// The unpacked directory of `pkg`, downloading and unpacking it first if needed.
    pub async fn ensure(&self, pkg: &PackageRef, client: &CenterClient) -> Result<PathBuf, Error> {
        let ready = self.dir.join(&pkg.sha256);
        // Hot path of every run: a stat is microseconds, not worth a blocking-pool trip.
        if ready.is_dir() {
            return Ok(ready);
        }
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(io(&self.dir))?;
        let nonce = jiff::Timestamp::now().as_nanosecond();
        let download = self.dir.join(format!(".{}.{nonce}.download", pkg.sha256));
        let result = self
            .fetch_and_unpack(pkg, client, &download, &ready, nonce)
            .await;
        let _ = tokio::fs::remove_file(&download).await;
        result.map(|()| ready)
    }

    async fn fetch_and_unpack(
        &self,
        pkg: &PackageRef,
        client: &CenterClient,
        download: &Path,
        ready: &Path,
        nonce: i128,
    ) -> Result<(), Error> {
        let actual = client
            .download_package(&pkg.sha256, download)
            .await
            .map_err(|e| Error::Fetch(e.to_string()))?;
        if actual != pkg.sha256 {
            return Err(Error::Checksum {
                file: pkg.file_name.clone(),
                expected: pkg.sha256.clone(),
                actual,
            });
        }
        let scratch = self.dir.join(format!(".{}.{nonce}.unpack", pkg.sha256));
        let (archive, file_name, limits, ready) = (
            download.to_path_buf(),
            pkg.file_name.clone(),
            self.limits,
            ready.to_path_buf(),
        );
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&scratch).map_err(io(&scratch))?;
            let unpacked = unpack(
                &archive,
                Kind::of(&file_name),
                &file_name,
                Some(&scratch),
                limits,
            )
            .map_err(Error::from)
            .and_then(|()| match std::fs::rename(&scratch, &ready) {
                Ok(()) => Ok(()),
                // Another run of the same package finished first: theirs is as good as ours.
                Err(_) if ready.is_dir() => Ok(()),
                Err(e) => Err(io(&ready)(e)),
            });
            if unpacked.is_err() || scratch.exists() {
                let _ = std::fs::remove_dir_all(&scratch);
            }
            unpacked
        })
        .await
        .map_err(|e| Error::Fetch(format!("unpack task failed: {e}")))?
    }
}
