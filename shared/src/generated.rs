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

/// One row of the README's policy table: the method, the path under `/api/v1`, and the cells
/// (admin, editor, operator, viewer, node, no token).
pub type PolicyRow = (String, String, Vec<String>);

/// The rows of the policy table between `<!-- policy-table -->` markers in `readme`: the
/// center checks its routes against it, and the end-to-end test the answers.
pub fn policy_table(readme: &str) -> Result<Vec<PolicyRow>, String> {
    let table = readme
        .split("<!-- policy-table -->")
        .nth(1)
        .and_then(|t| t.split("<!-- /policy-table -->").next())
        .ok_or("README.md has no policy table")?;
    table
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<String> = l
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect();
            let route = cells
                .first()
                .map(|c| c.trim_matches('`'))
                .unwrap_or_default();
            let (method, path) = route
                .split_once(' ')
                .ok_or_else(|| format!("policy table row {l:?}: not `METHOD /path`"))?;
            let path = path.trim_start_matches("/api/v1").to_string();
            Ok((method.to_string(), path, cells[1..].to_vec()))
        })
        .collect()
}
