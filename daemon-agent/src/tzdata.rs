//! Which tz database this node fires by: nodes with different versions can disagree on a
//! transition, so `node ls -o wide` shows it.

use std::path::{Path, PathBuf};

/// The version of the system tz database jiff reads (`$TZDIR`, else `/usr/share/zoneinfo`).
pub fn version() -> Option<String> {
    let dir = std::env::var_os("TZDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/zoneinfo"));
    version_in(&dir)
}

/// From `tzdata.zi`'s `# version` line, else the `+VERSION` file; `None` when neither says.
fn version_in(dir: &Path) -> Option<String> {
    let from_zi = std::fs::read_to_string(dir.join("tzdata.zi"))
        .ok()
        .and_then(|text| {
            text.lines()
                .next()
                .and_then(|l| l.strip_prefix("# version "))
                .map(|v| v.trim().to_string())
        });
    from_zi
        .or_else(|| {
            std::fs::read_to_string(dir.join("+VERSION"))
                .ok()
                .map(|v| v.trim().to_string())
        })
        .filter(|v| !v.is_empty() && v.len() <= 16)
}

#[cfg(test)]
mod tests {
    use super::version_in;

    #[test]
    fn reads_tzdata_zi_then_version_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(version_in(dir.path()), None);
        std::fs::write(dir.path().join("+VERSION"), "2031a\n").expect("write");
        assert_eq!(version_in(dir.path()).as_deref(), Some("2031a"));
        std::fs::write(dir.path().join("tzdata.zi"), "# version 2099z\n# zone\n").expect("write");
        assert_eq!(version_in(dir.path()).as_deref(), Some("2099z"));
    }
}
