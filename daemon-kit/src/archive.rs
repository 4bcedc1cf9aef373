//! Safe unpacking of package archives (tar, tar.gz, zip, or a single executable), used by
//! the center to check an upload and by the agent to unpack it.
//!
//! Unpacking is defensive: entries with `..`, absolute paths, links or device
//! files are refused, as are archives over [`Limits`]; a refused or failed unpack leaves no
//! directory behind, because it happens in a scratch directory that is renamed into place
//! only when complete. A package that is not an archive is placed as a single executable file.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// Caps on what one archive may unpack to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_entries: usize,
    pub max_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 10_000,
            max_bytes: 1 << 30,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("archive entry {entry:?} {reason}")]
    Unsafe { entry: String, reason: &'static str },
    #[error("archive has more than {0} entries")]
    TooManyEntries(usize),
    #[error("archive unpacks to more than {0} bytes")]
    TooLarge(u64),
    #[error("package {file}: {message}")]
    Corrupt { file: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Names the path an I/O error happened on.
pub fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

fn link_refused(entry: String) -> Error {
    Error::Unsafe {
        entry,
        reason: "is a link; packages may not contain links",
    }
}

/// Checks an entry path and returns it as a plain relative path, or says why it is refused.
pub fn safe_relative(name: &str) -> Result<PathBuf, Error> {
    let unsafe_entry = |reason| Error::Unsafe {
        entry: name.to_string(),
        reason,
    };
    if name.contains('\0') {
        return Err(unsafe_entry("contains a NUL byte"));
    }
    let mut out = PathBuf::new();
    for c in Path::new(name).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => return Err(unsafe_entry("climbs out with '..'")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(unsafe_entry("is an absolute path"));
            }
        }
    }
    if name.contains('\\') {
        return Err(unsafe_entry("contains a backslash"));
    }
    Ok(out)
}

/// The archive formats we unpack; anything else is a single file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    TarGz,
    Tar,
    Zip,
    Plain,
}

impl Kind {
    pub fn of(file_name: &str) -> Kind {
        let n = file_name.to_ascii_lowercase();
        if n.ends_with(".tar.gz") || n.ends_with(".tgz") {
            Kind::TarGz
        } else if n.ends_with(".tar") {
            Kind::Tar
        } else if n.ends_with(".zip") {
            Kind::Zip
        } else {
            Kind::Plain
        }
    }
}

struct Budget {
    limits: Limits,
    entries: usize,
    bytes: u64,
}

impl Budget {
    fn entry(&mut self, size: u64) -> Result<(), Error> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(Error::TooManyEntries(self.limits.max_entries));
        }
        self.bytes = self.bytes.saturating_add(size);
        if self.bytes > self.limits.max_bytes {
            return Err(Error::TooLarge(self.limits.max_bytes));
        }
        Ok(())
    }
}

/// Writes one entry, counting what it really holds against the budget (declared sizes can lie).
/// Without a destination the bytes are only counted: that is how an upload is inspected.
fn write_file(
    dest: Option<&Path>,
    reader: &mut dyn Read,
    mode: u32,
    budget: &mut Budget,
) -> Result<(), Error> {
    let room = budget.limits.max_bytes - budget.bytes.min(budget.limits.max_bytes);
    let Some(dest) = dest else {
        let copied = std::io::copy(&mut reader.take(room + 1), &mut std::io::sink())
            .map_err(io(Path::new("-")))?;
        if copied > room {
            return Err(Error::TooLarge(budget.limits.max_bytes));
        }
        budget.bytes += copied;
        return Ok(());
    };
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let mut file = std::fs::File::create(dest).map_err(io(dest))?;
    let copied = std::io::copy(&mut reader.take(room + 1), &mut file).map_err(io(dest))?;
    if copied > room {
        return Err(Error::TooLarge(budget.limits.max_bytes));
    }
    budget.bytes += copied;
    set_mode(dest, mode)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    // The owner's bits decide (readable and writable always); the archive's group and other
    // bits, setuid, setgid and sticky are dropped. Everyone may read (and run, when the owner
    // may) but only the agent may write: runs executing as another user read their package
    // and cannot change it.
    let owner = (mode & 0o700) | 0o600;
    let mode = owner | if owner & 0o100 != 0 { 0o055 } else { 0o044 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io(path))
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> Result<(), Error> {
    Ok(())
}

/// Unpacks `archive` into `dest` (an empty directory), refusing anything unsafe. With no
/// `dest`, only checks: the center inspects uploads this way before accepting them. The
/// directories made are 0755 whatever the umask or the archive says (see [`set_mode`] for
/// files).
pub fn unpack(
    archive: &Path,
    kind: Kind,
    file_name: &str,
    dest: Option<&Path>,
    limits: Limits,
) -> Result<(), Error> {
    unpack_entries(archive, kind, file_name, dest, limits)?;
    if let Some(dest) = dest {
        open_dirs(dest)?;
    }
    Ok(())
}

/// Sets `dir` and every directory below it to 0755 (no links exist: unpacking refuses them).
fn open_dirs(dir: &Path) -> Result<(), Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).map_err(io(dir))?;
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let entry = entry.map_err(io(dir))?;
            if entry.file_type().map_err(io(dir))?.is_dir() {
                open_dirs(&entry.path())?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn unpack_entries(
    archive: &Path,
    kind: Kind,
    file_name: &str,
    dest: Option<&Path>,
    limits: Limits,
) -> Result<(), Error> {
    let mut budget = Budget {
        limits,
        entries: 0,
        bytes: 0,
    };
    let corrupt = |e: &dyn std::fmt::Display| Error::Corrupt {
        file: file_name.to_string(),
        message: e.to_string(),
    };
    let file = std::fs::File::open(archive).map_err(io(archive))?;
    match kind {
        Kind::Plain => {
            budget.entry(0)?;
            write_file(
                dest.map(|d| d.join(file_name)).as_deref(),
                &mut std::io::BufReader::new(file),
                0o755,
                &mut budget,
            )
        }
        Kind::Tar | Kind::TarGz => {
            let reader: Box<dyn Read> = if kind == Kind::TarGz {
                Box::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)))
            } else {
                Box::new(std::io::BufReader::new(file))
            };
            let mut tar = tar::Archive::new(reader);
            for entry in tar.entries().map_err(|e| corrupt(&e))? {
                let mut entry = entry.map_err(|e| corrupt(&e))?;
                let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
                let rel = safe_relative(&name)?;
                let kind = entry.header().entry_type();
                budget.entry(0)?;
                if kind.is_dir() {
                    make_dir(dest, &rel)?;
                } else if kind.is_file() || kind == tar::EntryType::Continuous {
                    let mode = entry.header().mode().unwrap_or(0o644);
                    write_file(
                        dest.map(|d| d.join(&rel)).as_deref(),
                        &mut entry,
                        mode,
                        &mut budget,
                    )?;
                } else if kind.is_pax_global_extensions()
                    || kind.is_pax_local_extensions()
                    || kind.is_gnu_longname()
                {
                    continue;
                } else if kind.is_symlink() || kind.is_hard_link() {
                    return Err(link_refused(name));
                } else {
                    return Err(Error::Unsafe {
                        entry: name,
                        reason: "is a device, fifo or other special file",
                    });
                }
            }
            Ok(())
        }
        Kind::Zip => {
            let mut zip =
                zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| corrupt(&e))?;
            if zip.len() > limits.max_entries {
                return Err(Error::TooManyEntries(limits.max_entries));
            }
            for i in 0..zip.len() {
                let mut entry = zip.by_index(i).map_err(|e| corrupt(&e))?;
                let name = entry.name().map_err(|e| corrupt(&e))?.into_owned();
                let rel = safe_relative(&name)?;
                budget.entry(0)?;
                if entry.is_symlink() {
                    return Err(link_refused(name));
                }
                if entry.is_dir() {
                    make_dir(dest, &rel)?;
                } else {
                    let mode = entry.unix_mode().unwrap_or(0o644);
                    write_file(
                        dest.map(|d| d.join(&rel)).as_deref(),
                        &mut entry,
                        mode,
                        &mut budget,
                    )?;
                }
            }
            Ok(())
        }
    }
}

fn make_dir(dest: Option<&Path>, rel: &Path) -> Result<(), Error> {
    if let Some(d) = dest.map(|d| d.join(rel)) {
        std::fs::create_dir_all(&d).map_err(io(&d))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_paths_are_checked() {
        assert_eq!(safe_relative("a/./b.sh").unwrap(), PathBuf::from("a/b.sh"));
        for bad in ["../x", "a/../../x", "/etc/passwd", "a\\..\\b"] {
            assert!(safe_relative(bad).is_err(), "{bad}");
        }
    }

    fn tar_gz(
        dir: &Path,
        build: impl FnOnce(&mut tar::Builder<flate2::write::GzEncoder<std::fs::File>>),
    ) -> PathBuf {
        let p = dir.join("pkg.tar.gz");
        let f = std::fs::File::create(&p).unwrap();
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
            f,
            flate2::Compression::fast(),
        ));
        build(&mut b);
        b.into_inner().unwrap().finish().unwrap();
        p
    }

    fn file_header(size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_size(size);
        h.set_mode(0o4755);
        h.set_entry_type(tar::EntryType::Regular);
        h
    }

    #[test]
    fn unpacks_a_good_archive_readable_by_all_writable_by_its_owner_only() {
        let t = tempfile::tempdir().unwrap();
        let p = tar_gz(t.path(), |b| {
            b.append_data(&mut file_header(3), "bin/run.sh", &b"hi\n"[..])
                .unwrap();
            let mut h = file_header(1);
            h.set_mode(0o666);
            b.append_data(&mut h, "conf/open.txt", &b"x"[..]).unwrap();
            let mut h = file_header(1);
            h.set_mode(0o600);
            b.append_data(&mut h, "conf/private.txt", &b"x"[..])
                .unwrap();
        });
        let out = t.path().join("out");
        std::fs::create_dir(&out).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        unpack(&p, Kind::TarGz, "pkg.tar.gz", Some(&out), Limits::default()).unwrap();
        assert_eq!(std::fs::read(out.join("bin/run.sh")).unwrap(), b"hi\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode =
                |p: &str| std::fs::metadata(out.join(p)).unwrap().permissions().mode() & 0o7777;
            // setuid and the archive's group/other bits go; all may read, the owner writes.
            assert_eq!(mode("bin/run.sh"), 0o755);
            assert_eq!(mode("conf/open.txt"), 0o644);
            assert_eq!(mode("conf/private.txt"), 0o644);
            assert_eq!(
                (mode("."), mode("bin"), mode("conf")),
                (0o755, 0o755, 0o755)
            );
        }
    }

    #[test]
    fn refuses_links_and_caps() {
        let t = tempfile::tempdir().unwrap();
        let p = tar_gz(t.path(), |b| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, "escape", "/etc").unwrap();
        });
        let out = t.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let err = unpack(&p, Kind::TarGz, "pkg.tar.gz", Some(&out), Limits::default()).unwrap_err();
        assert!(err.to_string().contains("is a link"), "{err}");

        let p = tar_gz(t.path(), |b| {
            for i in 0..5 {
                b.append_data(&mut file_header(1), format!("f{i}"), &b"x"[..])
                    .unwrap();
            }
        });
        let limits = Limits {
            max_entries: 3,
            max_bytes: 1 << 20,
        };
        let err = unpack(&p, Kind::TarGz, "pkg.tar.gz", Some(&out), limits).unwrap_err();
        assert!(matches!(err, Error::TooManyEntries(3)), "{err}");

        let p = tar_gz(t.path(), |b| {
            b.append_data(&mut file_header(100), "big", &[0u8; 100][..])
                .unwrap();
        });
        let limits = Limits {
            max_entries: 10,
            max_bytes: 50,
        };
        let err = unpack(&p, Kind::TarGz, "pkg.tar.gz", Some(&out), limits).unwrap_err();
        assert!(matches!(err, Error::TooLarge(50)), "{err}");
    }

    #[test]
    fn refuses_zip_traversal() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("p.zip");
        let mut w = zip::ZipWriter::new(std::fs::File::create(&p).unwrap());
        w.start_file("../evil", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut w, b"x").unwrap();
        w.finish().unwrap();
        let out = t.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let err = unpack(&p, Kind::Zip, "p.zip", Some(&out), Limits::default()).unwrap_err();
        assert!(err.to_string().contains(".."), "{err}");
        assert!(!t.path().join("evil").exists());
    }
}
