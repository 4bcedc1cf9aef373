//! Packages on the node: fetched from the center by sha256, verified, unpacked once into a
//! cache keyed by hash (the unpacking itself is [`cloudtask_daemon_kit::archive`]'s).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

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

/// The node's package cache: `<dir>/<sha256>/` holds one unpacked package. It is bounded by
/// size: when a new package makes it larger than its limit, the packages used least recently
/// (and not in use by a run) go first.
#[derive(Debug, Clone)]
pub struct PackageCache {
    dir: PathBuf,
    limits: Limits,
    max_bytes: u64,
    state: Arc<Mutex<CacheState>>,
    /// When this cache opened: scratch files with an older nonce are a dead process's.
    opened: i128,
}

#[derive(Debug, Default)]
struct CacheState {
    /// Runs holding each package's directory.
    in_use: HashMap<String, usize>,
    /// When each package was last used by this process.
    last_used: HashMap<String, SystemTime>,
    /// When each package's directory mtime (the order across restarts) was last set.
    touched: HashMap<String, SystemTime>,
    /// Bytes of each unpacked package, once measured.
    sizes: Option<HashMap<String, u64>>,
}

/// A package's directory, kept from eviction while a run may use it.
#[derive(Debug)]
pub struct Lease {
    pub dir: PathBuf,
    sha: String,
    state: Arc<Mutex<CacheState>>,
}

impl Clone for Lease {
    fn clone(&self) -> Self {
        *lock(&self.state)
            .in_use
            .entry(self.sha.clone())
            .or_default() += 1;
        Lease {
            dir: self.dir.clone(),
            sha: self.sha.clone(),
            state: self.state.clone(),
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut st = lock(&self.state);
        if let Some(n) = st.in_use.get_mut(&self.sha) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                st.in_use.remove(&self.sha);
            }
        }
    }
}

/// The state stays consistent whatever panicked while holding it (counts and sizes only).
fn lock(state: &Mutex<CacheState>) -> std::sync::MutexGuard<'_, CacheState> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// A used package's directory mtime is brought forward at most this often.
const TOUCH_EVERY: Duration = Duration::from_secs(3600);

impl PackageCache {
    pub fn new(dir: PathBuf, limits: Limits, max_bytes: u64) -> PackageCache {
        PackageCache {
            dir,
            limits,
            max_bytes,
            state: Arc::default(),
            opened: jiff::Timestamp::now().as_nanosecond(),
        }
    }

    /// The unpacked directory of `pkg`, downloading and unpacking it first if needed, held
    /// for as long as the lease lives.
    pub async fn ensure(&self, pkg: &PackageRef, client: &CenterClient) -> Result<Lease, Error> {
        // Hot path of every run: a stat is microseconds, not worth a blocking-pool trip.
        if let Some(lease) = self.lease(&pkg.sha256) {
            return Ok(lease);
        }
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(io(&self.dir))?;
        let nonce = jiff::Timestamp::now().as_nanosecond();
        let download = self.dir.join(format!(".{}.{nonce}.download", pkg.sha256));
        let ready = self.dir.join(&pkg.sha256);
        let result = self
            .fetch_and_unpack(pkg, client, &download, &ready, nonce)
            .await;
        let _ = tokio::fs::remove_file(&download).await;
        result?;
        let lease = self.lease(&pkg.sha256).ok_or_else(|| {
            Error::Fetch(format!(
                "package {} vanished after unpacking",
                pkg.file_name
            ))
        })?;
        let cache = self.clone();
        let sha = pkg.sha256.clone();
        // The cache grew: bring it back under its limit (never the package just leased).
        let _ = tokio::task::spawn_blocking(move || cache.evict(&sha)).await;
        Ok(lease)
    }

    /// A lease on `sha` if it is unpacked here. Under the lock, so eviction never takes a
    /// directory between the check and the lease.
    fn lease(&self, sha: &str) -> Option<Lease> {
        let ready = self.dir.join(sha);
        let mut st = lock(&self.state);
        if !ready.is_dir() {
            return None;
        }
        *st.in_use.entry(sha.to_string()).or_default() += 1;
        let now = SystemTime::now();
        let due = st
            .touched
            .get(sha)
            .is_none_or(|t| now.duration_since(*t).unwrap_or_default() >= TOUCH_EVERY);
        if due {
            // Best effort: the order across restarts only (this process keeps its own).
            let _ = std::fs::File::open(&ready).and_then(|f| f.set_modified(now));
            st.touched.insert(sha.to_string(), now);
        }
        st.last_used.insert(sha.to_string(), now);
        Some(Lease {
            dir: ready,
            sha: sha.to_string(),
            state: self.state.clone(),
        })
    }

    /// Removes the least recently used packages not in use until the cache fits its limit,
    /// and what a dead process left half-done. Blocking: file-system walks.
    fn evict(&self, newest: &str) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut present: Vec<(String, SystemTime)> = Vec::new();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(rest) = name.strip_prefix('.') {
                // `.<sha>.<nonce>.<download|unpack|evict>`: a dead process's, or ours.
                let nonce = rest.split('.').nth(1).and_then(|n| n.parse::<i128>().ok());
                if nonce.is_some_and(|n| n < self.opened) || name.ends_with(".evict") {
                    let _ = remove_any(&e.path());
                }
                continue;
            }
            let mtime = e
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            present.push((name, mtime));
        }
        // Measure what is not measured yet, outside the lock (a walk of each new package).
        let known: HashMap<String, u64> = lock(&self.state).sizes.clone().unwrap_or_default();
        let measured: Vec<(String, u64)> = present
            .iter()
            .filter(|(sha, _)| !known.contains_key(sha))
            .map(|(sha, _)| (sha.clone(), disk_usage(&self.dir.join(sha))))
            .collect();
        let mut doomed = Vec::new();
        let (total, held) = {
            let mut st = lock(&self.state);
            let sizes = st.sizes.get_or_insert_with(HashMap::new);
            sizes.extend(measured);
            sizes.retain(|sha, _| present.iter().any(|(p, _)| p == sha));
            let mut total: u64 = sizes.values().sum();
            let mut order: Vec<(SystemTime, String)> = present
                .iter()
                .map(|(sha, mtime)| {
                    let used = st.last_used.get(sha).copied().unwrap_or(*mtime);
                    (used, sha.clone())
                })
                .collect();
            order.sort();
            for (_, sha) in order {
                if total <= self.max_bytes {
                    break;
                }
                if sha == newest || st.in_use.contains_key(&sha) {
                    continue;
                }
                // Renamed under the lock: no lease can find it half-removed.
                let gone = self.dir.join(format!(".{sha}.{}.evict", self.opened));
                if std::fs::rename(self.dir.join(&sha), &gone).is_ok() {
                    let size = st.sizes.as_mut().and_then(|s| s.remove(&sha)).unwrap_or(0);
                    st.last_used.remove(&sha);
                    st.touched.remove(&sha);
                    total = total.saturating_sub(size);
                    doomed.push((gone, sha, size));
                }
            }
            (total, st.in_use.len())
        };
        for (gone, sha, size) in &doomed {
            match remove_any(gone) {
                Ok(()) => {
                    tracing::info!(package = %sha, bytes = size, "package cache over its limit: least recently used package removed")
                }
                Err(e) => {
                    tracing::warn!(dir = %gone.display(), error = %e, "cannot remove an evicted package")
                }
            }
        }
        if total > self.max_bytes {
            tracing::warn!(
                bytes = total,
                limit = self.max_bytes,
                packages_in_use = held,
                "package cache is over its limit with packages runs are using"
            );
        }
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

/// Bytes of the files under `path` (not following links).
fn disk_usage(path: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&p) {
                stack.extend(entries.flatten().map(|e| e.path()));
            }
        } else {
            total += meta.len();
        }
    }
    total
}

fn remove_any(path: &Path) -> std::io::Result<()> {
    if std::fs::symlink_metadata(path)?.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An unpacked package of `bytes` bytes, last used at `age_s` seconds after the epoch.
    fn unpacked(dir: &Path, sha: &str, bytes: usize, age_s: u64) {
        let d = dir.join(sha);
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/run.sh"), vec![b'x'; bytes]).unwrap();
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(age_s);
        std::fs::File::open(&d).unwrap().set_modified(t).unwrap();
    }

    fn left(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn the_least_recently_used_packages_no_run_holds_go_first() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        unpacked(&dir, "a", 100, 1_000);
        unpacked(&dir, "b", 100, 2_000);
        unpacked(&dir, "c", 100, 3_000);
        // Half-done work of a process that died (its nonce is older than this cache).
        std::fs::write(dir.join(".d.1.download"), "partial").unwrap();
        std::fs::create_dir_all(dir.join(".d.1.unpack")).unwrap();
        let cache = PackageCache::new(dir.clone(), Limits::default(), 250);

        // "a" is oldest on disk, but a run holds it (and used it just now): "b" goes.
        let a = cache.lease("a").unwrap();
        assert!(a.dir.ends_with("a"));
        cache.evict("c");
        assert_eq!(left(&dir), ["a", "c"]);
        assert!(
            cache.lease("b").is_none(),
            "an evicted package is not leased"
        );

        // With "a" released and used more recently than "c", a new "d" pushes "c" out.
        drop(a);
        unpacked(&dir, "d", 100, 4_000);
        cache.evict("d");
        assert_eq!(left(&dir), ["a", "d"]);

        // Everything in use: the cache stays over its limit rather than pull a package from
        // under a run.
        let held: Vec<Lease> = ["a", "d"].iter().map(|s| cache.lease(s).unwrap()).collect();
        let twice = held[0].clone();
        unpacked(&dir, "e", 100, 5_000);
        cache.evict("e");
        assert_eq!(left(&dir), ["a", "d", "e"]);
        drop(held);
        // "a" is still held by the clone.
        cache.evict("e");
        assert_eq!(left(&dir), ["a", "e"]);
        drop(twice);
    }
}
