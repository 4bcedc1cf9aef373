//! How the daemons write files that must survive a crash or a power loss, and what they do
//! with one that is damaged anyway (ARCHITECTURE.md, "Durability").
//!
//! A file is replaced by writing `<name>.tmp` beside it, renaming that over it, and — when
//! the contract needs it to outlive a power loss — fsyncing the file before the rename and
//! the directory after it. Readers then see the old content or the new, never a cut file. A
//! file that is damaged all the same is moved aside under a name that says so, kept for a
//! human, never read again as if it were sound and never silently deleted.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// What a replacement must survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// A crash of the process: write aside, rename. For caches that can be rebuilt (after a
    /// power loss the file may be empty; readers set such a file aside and rebuild it).
    Atomic,
    /// A power loss as well: the file is fsynced before the rename and its directory after.
    Synced,
}

/// Adds the path to an I/O error, so a log line names the file.
pub fn at(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Where a replacement of `path` is written before it is renamed over it: `<name>.tmp`.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// The file a leftover `<name>.tmp` was meant to become, if `tmp` is one.
pub fn target_of_tmp(tmp: &Path) -> Option<PathBuf> {
    let name = tmp.file_name()?.to_str()?;
    let target = name.strip_suffix(".tmp").filter(|t| !t.is_empty())?;
    Some(tmp.with_file_name(target))
}

/// Replaces `path` with `bytes`: all of it or nothing, and on disk when `durability` says.
pub fn write_atomic(path: &Path, bytes: &[u8], durability: Durability) -> io::Result<()> {
    let tmp = tmp_path(path);
    let mut file = File::create(&tmp).map_err(|e| at(&tmp, e))?;
    file.write_all(bytes).map_err(|e| at(&tmp, e))?;
    if durability == Durability::Synced {
        file.sync_data().map_err(|e| at(&tmp, e))?;
    }
    drop(file);
    std::fs::rename(&tmp, path).map_err(|e| at(path, e))?;
    if durability == Durability::Synced {
        sync_dir(parent_of(path))?;
    }
    Ok(())
}

/// Replaces `path` with a secret (a token, a password) readable by its owner only (0600 from
/// its first byte), durably: a credential acknowledged to its maker outlives a power loss.
pub fn write_secret(path: &Path, secret: &str) -> io::Result<()> {
    let tmp = tmp_path(path);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        opts.mode(0o600);
        // A leftover temp file keeps the mode it was made with: make sure of it.
        if tmp.exists() {
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| at(&tmp, e))?;
        }
    }
    let mut file = opts.open(&tmp).map_err(|e| at(&tmp, e))?;
    file.write_all(secret.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .map_err(|e| at(&tmp, e))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|e| at(path, e))?;
    sync_dir(parent_of(path))
}

/// Reads a secret written by [`write_secret`] (or by hand), without its line end.
pub fn read_secret(path: &Path) -> io::Result<String> {
    Ok(std::fs::read_to_string(path)
        .map_err(|e| at(path, e))?
        .trim()
        .to_string())
}

/// Makes the entries of `dir` (files created, renamed or removed in it) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| at(dir, e))
}

/// The directory `path` is in (`.` for a bare name).
pub fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Moves a damaged file aside as `<name>.damaged-<unix µs>` in the same directory and returns
/// the new path: kept for a human, never read again.
pub fn set_aside(path: &Path) -> io::Result<PathBuf> {
    let aside = damaged_name(path);
    std::fs::rename(path, &aside).map_err(|e| at(path, e))?;
    Ok(aside)
}

/// Keeps the damaged part of a file (a cut last line) as `<name>.damaged-<unix µs>` beside it,
/// durably, before the file is repaired; returns where.
pub fn keep_aside(path: &Path, damaged: &[u8]) -> io::Result<PathBuf> {
    let aside = damaged_name(path);
    write_atomic(&aside, damaged, Durability::Synced)?;
    Ok(aside)
}

fn damaged_name(path: &Path) -> PathBuf {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".damaged-{micros}"));
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_its_owners_alone_and_reads_back_without_its_line_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.token");
        // A world-readable leftover of an interrupted write does not lend its mode.
        std::fs::write(tmp_path(&path), "old").unwrap();
        write_secret(&path, "ct_abc").unwrap();
        assert_eq!(read_secret(&path).unwrap(), "ct_abc");
        assert!(!tmp_path(&path).exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let missing = read_secret(&dir.path().join("none")).unwrap_err();
        assert!(missing.to_string().contains("none"), "{missing}");
    }

    #[test]
    fn a_replacement_leaves_no_temporary_file_and_either_durability_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cursors.json");
        for (bytes, d) in [
            (&b"one"[..], Durability::Synced),
            (b"two", Durability::Atomic),
        ] {
            write_atomic(&path, bytes, d).unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), bytes);
        }
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no .tmp left behind");
    }

    #[test]
    fn a_temporary_name_maps_back_to_its_target_and_nothing_else_does() {
        let p = Path::new("/spool/0001.json");
        assert_eq!(target_of_tmp(&tmp_path(p)).as_deref(), Some(p));
        assert_eq!(target_of_tmp(Path::new("/spool/0001.json")), None);
        assert_eq!(target_of_tmp(Path::new("/spool/.tmp")), None);
    }

    #[test]
    fn a_damaged_file_is_kept_under_a_name_that_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("claims.log");
        std::fs::write(&path, b"torn").unwrap();
        let aside = set_aside(&path).unwrap();
        assert!(!path.exists());
        assert_eq!(std::fs::read(&aside).unwrap(), b"torn");
        let name = aside.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("claims.log.damaged-"), "{name}");
    }

    #[test]
    fn errors_name_the_file() {
        let e = write_atomic(
            Path::new("/nonexistent-dir/x.json"),
            b"x",
            Durability::Synced,
        )
        .unwrap_err();
        assert!(e.to_string().contains("/nonexistent-dir/x.json"), "{e}");
    }
}
