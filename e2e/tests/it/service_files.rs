//! The systemd units in `deploy/systemd/` pass `systemd-analyze verify` without a word (its
//! warnings, an unknown key or a bad value, exit 0: they count as failures here), pointed at
//! the binaries this build made, and stop the way the daemons drain: SIGTERM to the main
//! process alone, with more time than the drain takes.

use std::path::Path;
use std::process::Command;

use cloudtask_e2e::bin;

fn setting<'a>(unit: &'a str, key: &str) -> Option<&'a str> {
    unit.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
}

#[test]
fn the_units_verify_clean_and_stop_by_draining() {
    let units = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/systemd");
    let temp = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for name in ["cloudtask-center.service", "cloudtask-agent.service"] {
        let text = std::fs::read_to_string(units.join(name)).unwrap();
        assert_eq!(setting(&text, "KillMode"), Some("mixed"), "{name}");
        let stop = setting(&text, "TimeoutStopSec").unwrap_or_default();
        let stop_ms = cloudtask_shared::parse_duration_ms(stop).unwrap();
        let drain_ms =
            cloudtask_shared::parse_duration_ms(cloudtask_agent::DEFAULT_DRAIN_TIMEOUT).unwrap();
        assert!(
            stop_ms > 2 * drain_ms,
            "{name}: TimeoutStopSec {stop} vs drain"
        );
        let exe = name.trim_end_matches(".service");
        let installed = format!("/usr/local/bin/{exe}");
        assert!(text.contains(&installed), "{name} runs {installed}");
        // The same unit, run from this build's binaries.
        let local = text.replace(&installed, &bin(exe).display().to_string());
        let file = temp.path().join(name);
        std::fs::write(&file, local).unwrap();
        files.push(file);
    }
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&files)
        .output()
        .expect("systemd-analyze (the test command installs systemd)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(
        said.trim().is_empty(),
        "systemd-analyze verify said: {said}"
    );
}
