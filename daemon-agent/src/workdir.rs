//! Each run's own, empty, private work directory: `<agent data>/work/<n>/`, mode 0700, owned
//! by the run's user; the run's HOME, TMPDIR and CLOUDTASK_WORK_DIR, and its working
//! directory when the task has no package. Nothing one run leaves there reaches the next.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::users::RunUser;

/// The runs' work directories under one root: `<root>/<n>/`. A directory a run left empty is
/// kept for the next run (handed to its user) instead of removed and made again: on ext4 a
/// directory made per run at 2,000 runs a second cost 11 % of the agent's CPU in inode
/// allocation. One left with anything in it is removed.
#[derive(Debug)]
pub struct WorkDirs {
    root: PathBuf,
    /// Directories left empty, with the owner each has now.
    free: Mutex<Vec<(PathBuf, Owner)>>,
    next: AtomicU64,
    /// The agent's own uid and gid: the owner of runs that do not switch user.
    me: Owner,
}

/// A directory's uid and gid.
type Owner = (u32, u32);

/// A run's work directory, empty when handed out; back to its pool, or removed with whatever
/// the run left in it, on drop.
#[derive(Debug)]
pub struct WorkDir {
    path: PathBuf,
    owner: Owner,
    pool: Arc<WorkDirs>,
}

impl WorkDirs {
    /// The pool on `root`, which [`prepare_root`] made.
    pub fn new(root: PathBuf) -> Arc<WorkDirs> {
        #[cfg(unix)]
        let me = (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        );
        #[cfg(not(unix))]
        let me = (0, 0);
        Arc::new(WorkDirs {
            root,
            free: Mutex::new(Vec::new()),
            next: AtomicU64::new(0),
            me,
        })
    }

    /// An empty directory, mode 0700, owned by `owner` when the run switches user (else by
    /// the agent): a reused one is handed over with one chown when its owner changes.
    pub fn take(self: &Arc<Self>, owner: Option<&RunUser>) -> Result<WorkDir, String> {
        let want = owner.map_or(self.me, |u| (u.uid, u.gid));
        let reused = self.free.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let (path, has) = match reused {
            Some(free) => free,
            None => {
                let p = self
                    .root
                    .join(self.next.fetch_add(1, Ordering::Relaxed).to_string());
                let mut builder = std::fs::DirBuilder::new();
                #[cfg(unix)]
                std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
                builder.create(&p).map_err(|e| {
                    format!(
                        "cannot create the run's work directory {}: {e}",
                        p.display()
                    )
                })?;
                (p, self.me)
            }
        };
        // Its owner as it is now, so that a failed hand-over returns it to the pool truthfully.
        let mut dir = WorkDir {
            path,
            owner: has,
            pool: self.clone(),
        };
        #[cfg(unix)]
        if has != want {
            std::os::unix::fs::chown(&dir.path, Some(want.0), Some(want.1)).map_err(|e| {
                format!(
                    "cannot hand the run's work directory {} to its user: {e}",
                    dir.path.display()
                )
            })?;
            dir.owner = want;
        }
        Ok(dir)
    }
}

impl WorkDir {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let path = std::mem::take(&mut self.path);
        let empty = std::fs::read_dir(&path).is_ok_and(|mut d| d.next().is_none());
        if empty {
            self.pool
                .free
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((path, self.owner));
            return;
        }
        // Whatever the run left goes on the blocking pool, with the directory.
        let remove = move || {
            if let Err(e) = std::fs::remove_dir_all(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(dir = %path.display(), error = %e, "a run's work directory could not be removed");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(remove)),
            Err(_) => remove(),
        }
    }
}

/// Makes the root of the runs' work directories, empty: what runs of a previous process left
/// (it crashed, or was killed) goes. `open` lets other users pass through it to their own
/// run's directory (0711); otherwise it is the agent's alone (0700).
pub fn prepare_root(root: &Path, open: bool) -> std::io::Result<()> {
    if root.exists() {
        std::fs::remove_dir_all(root)?;
    }
    std::fs::create_dir_all(root)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = if open { 0o711 } else { 0o700 };
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = open;
    Ok(())
}

/// Checks that users other than the agent's can pass through every directory above `dir`
/// (the data dir): otherwise every switched run would fail to enter its directory.
pub fn check_reachable(dir: &Path) -> Result<(), crate::Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::fs::canonicalize(dir).map_err(|source| crate::Error::Io {
            path: dir.display().to_string(),
            source,
        })?;
        for above in dir.ancestors().skip(1) {
            let mode = std::fs::metadata(above)
                .map_err(|source| crate::Error::Io {
                    path: above.display().to_string(),
                    source,
                })?
                .permissions()
                .mode();
            if mode & 0o001 == 0 {
                return Err(crate::Error::Unreachable {
                    dir: dir.display().to_string(),
                    above: above.display().to_string(),
                    mode: mode & 0o7777,
                });
            }
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_work_dir_is_empty_private_and_what_a_run_left_goes() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path().join("work");
        std::fs::create_dir_all(root.join("stale-run")).unwrap();
        std::fs::write(root.join("stale-run/left"), "x").unwrap();
        prepare_root(&root, false).unwrap();
        assert!(!root.join("stale-run").exists(), "a dead process's dirs go");

        let pool = WorkDirs::new(root.clone());
        let dir = pool.take(None).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        // Left empty: the next run gets the same directory.
        let first = dir.path().to_path_buf();
        drop(dir);
        let dir = pool.take(None).unwrap();
        assert_eq!(dir.path(), first);
        // Left with something in it: removed with it, and the next run gets a new one.
        std::fs::create_dir_all(dir.path().join("deep/er")).unwrap();
        std::fs::write(dir.path().join("deep/er/file"), "x").unwrap();
        drop(dir);
        assert!(!first.exists(), "removed with its contents");
        let dir = pool.take(None).unwrap();
        assert_ne!(dir.path(), first);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
