//! Checks files generated from code (man pages, completions) against the checked-in copies:
//! a test fails when they drift, and `CLOUDTASK_REGENERATE=1` rewrites them instead.
//! Test support only (feature `generated`); the programs never call it.

use std::path::Path;

/// Compares `content` with the file at `path`, or writes it when regenerating.
/// Returns a message naming the stale file, for the test to fail with.
pub fn check(path: &Path, content: &[u8]) -> Result<(), String> {
    if std::env::var_os("CLOUDTASK_REGENERATE").is_some() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        return std::fs::write(path, content).map_err(|e| format!("{}: {e}", path.display()));
    }
    match std::fs::read(path) {
        Ok(current) if current == content => Ok(()),
        _ => Err(format!(
            "{} is missing or stale: run `CLOUDTASK_REGENERATE=1 cargo test --workspace --all-features generated` and commit",
            path.display()
        )),
    }
}

/// Renders a man page of `cmd` in `section` and checks it against `man/<file>` in the repo.
pub fn check_man_page(cmd: clap::Command, section: &str, file: &str) -> Result<(), String> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd)
        .section(section)
        .manual("CloudTask")
        .render(&mut buf)
        .map_err(|e| format!("rendering {file}: {e}"))?;
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("man")
        .join(file);
    check(&path, &buf)
}
