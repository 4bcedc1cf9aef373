//! Each run's fresh, private work directory: `<agent data>/work/<run id>/`, mode 0700, owned
//! by the run's user; the run's HOME, TMPDIR and CLOUDTASK_WORK_DIR, and its working
//! directory when the task has no package. It goes when the run ends, so nothing one run
//! leaves there reaches the next.

use std::path::{Path, PathBuf};

use crate::users::RunUser;

/// A run's work directory; removed (with whatever the run left in it) on drop.
#[derive(Debug)]
pub struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    /// Makes `<root>/<run id>` afresh, owned by `owner` when the run switches user.
    pub fn create(root: &Path, run_id: &str, owner: Option<&RunUser>) -> Result<WorkDir, String> {
        let path = root.join(run_id);
        let failed = |what: &str, e: std::io::Error| {
            format!(
                "cannot {what} the run's work directory {}: {e}",
                root.join(run_id).display()
            )
        };
        // A leftover of an earlier attempt with this id (a crash between create and remove).
        if path.exists() {
            std::fs::remove_dir_all(&path).map_err(|e| failed("clear", e))?;
        }
        // A mkdir and a chown: microseconds, not worth a blocking-pool trip.
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&path).map_err(|e| failed("create", e))?;
        let dir = WorkDir { path };
        #[cfg(unix)]
        if let Some(user) = owner {
            std::os::unix::fs::chown(&dir.path, Some(user.uid), Some(user.gid))
                .map_err(|e| failed("hand over", e))?;
        }
        #[cfg(not(unix))]
        let _ = owner;
        Ok(dir)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        // Most runs leave it empty: one rmdir. Anything else goes on the blocking pool.
        if std::fs::remove_dir(&self.path).is_ok() {
            return;
        }
        let path = std::mem::take(&mut self.path);
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
    fn a_work_dir_is_fresh_private_and_gone_after_its_run() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path().join("work");
        std::fs::create_dir_all(root.join("stale-run")).unwrap();
        std::fs::write(root.join("stale-run/left"), "x").unwrap();
        prepare_root(&root, false).unwrap();
        assert!(!root.join("stale-run").exists(), "a dead process's dirs go");

        let dir = WorkDir::create(&root, "r1", None).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        std::fs::create_dir_all(dir.path().join("deep/er")).unwrap();
        std::fs::write(dir.path().join("deep/er/file"), "x").unwrap();
        let path = dir.path().to_path_buf();
        drop(dir);
        assert!(!path.exists(), "removed with its contents");
        // An empty one goes at once, and a second run with a leftover of the same id starts empty.
        std::fs::create_dir_all(root.join("r2/old")).unwrap();
        let dir = WorkDir::create(&root, "r2", None).unwrap();
        assert!(!dir.path().join("old").exists());
    }
}
