//! The properties the fuzz targets check, one function per input the daemons take from
//! outside or read back from disk. Each takes arbitrary bytes and panics only when a property
//! fails: `fuzz/` (cargo fuzz, nightly) drives them with libFuzzer, and `tests/replay.rs`
//! replays the kept corpus through them on stable, in CI.
//!
//! A property is what the code promises for any input: it refuses with an error, or accepts
//! and then behaves (schedules fire strictly later and later, a spec that validates round-trips,
//! an archive never writes outside its directory, a damaged file is repaired or set aside and
//! reading it again changes nothing).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use cloudtask_daemon_kit::archive::{Kind, Limits, unpack};
use cloudtask_shared::TaskSpec;
use cloudtask_shared::coord::embedded::EmbeddedEngine;
use cloudtask_shared::schedule::Schedule;
use jiff::Timestamp;
use jiff::tz::TimeZone;

/// A check: panics when the input breaks a property.
pub type Check = fn(&[u8]);

/// The targets, by name: what `fuzz/fuzz_targets/<name>.rs` calls and the corpus folder
/// `fuzz/corpus/<name>/` replays into.
pub const TARGETS: &[(&str, Check)] = &[
    ("schedule", schedule),
    ("task_spec", task_spec),
    ("archive", archive),
    ("claims_log", claims_log),
    ("agent_files", agent_files),
];

fn origin() -> Timestamp {
    Timestamp::from_second(1_700_000_000).unwrap()
}

/// A schedule either does not parse, or its next fires (in UTC and in a zone with DST) are
/// each strictly later than the last.
pub fn schedule(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(s) = Schedule::parse(text) else {
        return;
    };
    let zones = [
        TimeZone::UTC,
        TimeZone::get("Europe/Berlin").unwrap_or(TimeZone::UTC),
    ];
    for tz in &zones {
        let mut at = origin();
        for _ in 0..8 {
            match s.next_after(at, tz, origin()) {
                Some(next) => {
                    assert!(next > at, "{text:?}: {next} is not after {at}");
                    at = next;
                }
                None => break,
            }
        }
    }
}

/// A task spec, as JSON (the API) or TOML (`apply`), either does not parse or validate, or it
/// round-trips through JSON unchanged and its schedule set fires strictly later and later.
pub fn task_spec(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = [
        serde_json::from_str::<TaskSpec>(text).ok(),
        toml::from_str::<TaskSpec>(text).ok(),
    ];
    for spec in parsed.into_iter().flatten() {
        let Ok(set) = spec.validate() else {
            continue;
        };
        let json = serde_json::to_string(&spec).unwrap();
        let back: TaskSpec = serde_json::from_str(&json).unwrap();
        assert_eq!(back, spec, "round trip of {json}");
        let mut at = origin();
        for _ in 0..4 {
            match set.next_after(at) {
                Some(next) => {
                    assert!(next > at, "{text:?}: {next} is not after {at}");
                    at = next;
                }
                None => break,
            }
        }
    }
}

/// An archive (as each kind) is unpacked or refused; either way nothing lands outside its
/// destination, and no link inside points out of it.
pub fn archive(data: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_entries: 64,
        max_bytes: 1 << 20,
    };
    for name in ["p.tar.gz", "p.tar", "p.zip"] {
        let file = dir.path().join(name);
        std::fs::write(&file, data).unwrap();
        let dest = dir.path().join(format!("out-{name}"));
        std::fs::create_dir(&dest).unwrap();
        let _ = unpack(&file, Kind::of(name), name, Some(&dest), limits);
        assert_within(&dest, &dest);
    }
    let mut top: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(
        top,
        [
            "out-p.tar",
            "out-p.tar.gz",
            "out-p.zip",
            "p.tar",
            "p.tar.gz",
            "p.zip"
        ],
        "an archive wrote beside its destination"
    );
}

/// Every entry under `dir` is a file or directory inside `root`, or a link whose target
/// resolves inside it.
fn assert_within(root: &Path, dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path).unwrap();
            let resolved = path.parent().unwrap().join(&target);
            let mut depth: i64 = resolved
                .strip_prefix(root)
                .map(|p| p.components().count() as i64)
                .unwrap_or(-1);
            assert!(
                !target.is_absolute(),
                "{} links to {}",
                path.display(),
                target.display()
            );
            for c in target.components() {
                if matches!(c, std::path::Component::ParentDir) {
                    depth -= 2;
                }
            }
            assert!(
                depth >= 0,
                "{} links out: {}",
                path.display(),
                target.display()
            );
        } else if meta.is_dir() {
            assert_within(root, &path);
        }
    }
}

/// A claims log of any content opens: a cut tail is kept aside and cut off, so the file then
/// ends with a whole line, and opening it again changes nothing.
pub fn claims_log(data: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("claims.log");
    std::fs::write(&path, data).unwrap();
    drop(EmbeddedEngine::open(&path).expect("any claims log opens"));
    let repaired = std::fs::read(&path).unwrap();
    assert!(
        repaired.is_empty() || repaired.ends_with(b"\n"),
        "a cut last line is left after repair"
    );
    assert!(data.starts_with(&repaired), "repair only cuts the tail");
    drop(EmbeddedEngine::open(&path).expect("a repaired claims log opens"));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        repaired,
        "a second open changed the file"
    );
}

/// The agent's files of any content (a spool batch, a ledger entry, their `.tmp` leftovers,
/// schedule cursors) are read, repaired or set aside at start; nothing left in place fails to
/// parse, and a second start finds nothing more to do.
pub fn agent_files(data: &[u8]) {
    use cloudtask_agent::spool::{Spool, read_or_set_aside};
    use cloudtask_shared::RunRecord;
    use cloudtask_shared::api::RunReport;
    use std::collections::BTreeMap;

    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let ledger = spool.join("ledger");
    std::fs::create_dir_all(&ledger).unwrap();
    for p in [
        spool.join("00000000000000000001.json"),
        spool.join("00000000000000000002.json.tmp"),
        ledger.join("00000000000000000003.json"),
        ledger.join("00000000000000000004.json.tmp"),
        dir.path().join("cursors.json"),
    ] {
        std::fs::write(&p, data).unwrap();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = Spool::open(spool.clone())
            .await
            .expect("a damaged spool opens");
        s.recover_lost().await.expect("ledger recovery runs");
        let cursors = dir.path().join("cursors.json");
        let read = read_or_set_aside::<BTreeMap<String, Timestamp>>(&cursors, "cursors").await;
        assert_eq!(
            read.is_some(),
            cursors.exists(),
            "damaged cursors are set aside"
        );
    });
    // What is left in place under a file's own name parses as what it claims to be (but the
    // spool batch itself, which delivery judges: sent, or moved to `undeliverable/`).
    for (d, is_ledger) in [(&spool, false), (&ledger, true)] {
        for e in std::fs::read_dir(d).unwrap() {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let judged_at_delivery = !is_ledger && name == "00000000000000000001.json";
            if !path.is_file()
                || judged_at_delivery
                || !(name.ends_with(".json") || name.ends_with(".tmp"))
            {
                continue;
            }
            assert!(!name.ends_with(".tmp"), "{name} left unrepaired");
            let bytes = std::fs::read(&path).unwrap();
            let ok = if is_ledger {
                serde_json::from_slice::<Vec<RunRecord>>(&bytes).is_ok()
            } else {
                serde_json::from_slice::<Vec<RunReport>>(&bytes).is_ok()
            };
            assert!(ok, "{} left in place but does not parse", path.display());
        }
    }
}
