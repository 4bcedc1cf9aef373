//! The durability contract (ARCHITECTURE.md, "Durability"), shown with `strace -f` on a real
//! standalone center and its agent: the fsyncs the contract names happen before each launch,
//! each acknowledgment of a final report to its run, each spool deletion and each package row.

use std::collections::HashMap;
use std::time::Duration;

use cloudtask_e2e::{Center, tar_gz};
use cloudtask_shared::RunStatus;
use reqwest::StatusCode;
use serde_json::json;

/// One system call, in the order it completed (a call split by another thread's is joined).
#[derive(Debug, Clone)]
struct Call {
    name: String,
    args: String,
    ok: bool,
}

impl Call {
    /// The path strace's `-y` shows for the first argument (`7</a/b>` → `/a/b`).
    fn fd_path(&self) -> Option<&str> {
        let start = self.args.find('<')? + 1;
        let end = start + self.args[start..].find('>')?;
        Some(&self.args[start..end])
    }

    /// The quoted strings among the arguments, unescaped enough for paths.
    fn strings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut chars = self.args.chars();
        while let Some(c) = chars.next() {
            if c != '"' {
                continue;
            }
            let mut s = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            s.push(n);
                        }
                    }
                    '"' => break,
                    c => s.push(c),
                }
            }
            out.push(s);
        }
        out
    }

    fn is_sync(&self) -> bool {
        self.ok && matches!(self.name.as_str(), "fsync" | "fdatasync")
    }

    fn synced(&self, path: &str) -> bool {
        self.is_sync() && self.fd_path() == Some(path)
    }

    /// (from, to) of a rename.
    fn renamed(&self) -> Option<(String, String)> {
        if !self.ok || !self.name.starts_with("rename") {
            return None;
        }
        let s = self.strings();
        let [.., from, to] = s.as_slice() else {
            return None;
        };
        Some((from.clone(), to.clone()))
    }

    fn unlinked(&self) -> Option<String> {
        if !self.ok || !self.name.starts_with("unlink") {
            return None;
        }
        self.strings().into_iter().next()
    }
}

fn parse(trace: &str) -> Vec<Call> {
    let mut calls = Vec::new();
    let mut pending: HashMap<u32, (String, String)> = HashMap::new();
    for line in trace.lines() {
        let Some((pid, rest)) = line.split_once(' ') else {
            continue;
        };
        let Ok(pid) = pid.trim().parse::<u32>() else {
            continue;
        };
        let rest = rest.trim_start();
        if let Some(head) = rest.strip_suffix(" <unfinished ...>") {
            if let Some((name, args)) = head.split_once('(') {
                pending.insert(pid, (name.to_string(), args.to_string()));
            }
            continue;
        }
        let (name, args_and_ret) = if let Some(resumed) = rest.strip_prefix("<... ") {
            let Some((name, tail)) = resumed.split_once(" resumed>") else {
                continue;
            };
            let Some((_, first)) = pending.remove(&pid) else {
                continue;
            };
            (name.to_string(), format!("{first}{tail}"))
        } else {
            let Some((name, tail)) = rest.split_once('(') else {
                continue; // signals, exits
            };
            (name.to_string(), tail.to_string())
        };
        // strace pads a resumed call's `)` from ` = ret` with spaces.
        let Some((args, ret)) = args_and_ret.rsplit_once(" = ") else {
            continue;
        };
        let Some(args) = args.trim_end().strip_suffix(')') else {
            continue;
        };
        calls.push(Call {
            name,
            args: args.to_string(),
            ok: !ret.trim_start().starts_with('-'),
        });
    }
    calls
}

/// Where a durable replacement of `target` (`<target>.tmp` written, fsynced, renamed over,
/// directory fsynced) completed in `calls`, searching before `before`; the index of the
/// directory fsync. `wrote` picks the write of the temporary file that matters.
fn durable_replacement(
    calls: &[Call],
    before: usize,
    wrote: impl Fn(&Call) -> bool,
) -> Option<(usize, String)> {
    let dir_of = |p: &str| p.rsplit_once('/').map(|(d, _)| d.to_string());
    let write = calls[..before].iter().position(|c| {
        c.ok && c.name == "write" && c.fd_path().is_some_and(|p| p.ends_with(".tmp")) && wrote(c)
    })?;
    let tmp = calls[write].fd_path()?.to_string();
    let sync = write + calls[write..before].iter().position(|c| c.synced(&tmp))?;
    let rename = sync
        + calls[sync..before]
            .iter()
            .position(|c| c.renamed().is_some_and(|(from, _)| from == tmp))?;
    let (_, target) = calls[rename].renamed()?;
    let dir = dir_of(&target)?;
    let dir_sync = rename + calls[rename..before].iter().position(|c| c.synced(&dir))?;
    Some((dir_sync, target))
}

#[tokio::test]
async fn fsyncs_come_before_each_launch_acknowledgment_spool_deletion_and_package_row() {
    let which = std::process::Command::new("strace").arg("-V").output();
    assert!(
        which.is_ok_and(|o| o.status.success()),
        "strace is needed (the README's test command installs it)"
    );
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let trace = dir.join("trace");
    let trace_arg = trace.display().to_string();
    let mut c = Center::start_under(
        dir,
        &[
            "strace",
            "-f",
            "-y",
            "-qq",
            "-s",
            "65536",
            "-e",
            "trace=fsync,fdatasync,write,rename,renameat,renameat2,unlink,unlinkat,openat",
            "-o",
            &trace_arg,
        ],
        &[],
    )
    .await;

    // A package first, while nothing else commits: its row's commit is the next WAL sync.
    let (status, pkg) = c
        .upload(
            "/packages?file_name=hello.tar.gz",
            tar_gz(&[("hello.sh", 0o755, "echo hello\n")]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{pkg}");

    let marks = dir.join("marks");
    std::fs::create_dir(&marks).unwrap();
    c.create_task(json!({
        "name": "beat",
        "command": format!("echo ran > {}/ran-$CLOUDTASK_RUN_ID", marks.display()),
        "schedules": ["@every 1s"],
    }))
    .await;
    c.wait_runs("beat", Duration::from_secs(60), "3 succeeded runs", |r| {
        r.iter()
            .filter(|r| r.status == RunStatus::Succeeded)
            .count()
            >= 3
    })
    .await;
    // The spool files of those reports are deleted once the center answered.
    let spool = dir.join("agent/spool");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::fs::read_dir(&spool)
        .unwrap()
        .any(|e| e.unwrap().path().extension().is_some_and(|x| x == "json"))
    {
        assert!(std::time::Instant::now() < deadline, "spool never drained");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let first_pid = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap();
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &first_pid])
        .status()
        .unwrap();
    assert!(ok.success());
    assert!(
        c.terminate(Duration::from_secs(30)).await.is_some(),
        "strace and the center exit"
    );
    let calls = parse(&std::fs::read_to_string(&trace).unwrap());
    let wal = dir.join("cloudtask.db-wal").display().to_string();

    // An upload: its bytes commit into the store (chunk writes, WAL syncs) before its scratch
    // file goes, and its row commits after that.
    let upload_prefix = format!("{}/.upload-", dir.join("packages").display());
    let opened = calls
        .iter()
        .position(|c| {
            c.ok && c.name == "openat"
                && c.strings()
                    .into_iter()
                    .next()
                    .is_some_and(|p| p.starts_with(&upload_prefix))
        })
        .expect("the upload is received into a scratch file");
    let scratch = calls[opened].strings().into_iter().next().unwrap();
    let removed = calls
        .iter()
        .position(|c| c.unlinked().as_deref() == Some(scratch.as_str()))
        .expect("the scratch file is removed");
    assert!(
        calls[opened..removed].iter().any(|c| c.synced(&wal)),
        "the package's bytes commit into the store before its scratch file goes"
    );
    assert!(
        calls[removed..].iter().any(|c| c.synced(&wal)),
        "the package row commits after its bytes"
    );

    // Each launch: its ledger entry is on disk (file and directory) before the command runs.
    let launches: Vec<(usize, String)> = calls
        .iter()
        .enumerate()
        .filter(|(_, c)| c.ok && c.name == "openat")
        .filter_map(|(i, c)| {
            let path = c.strings().into_iter().next()?;
            let run = path.strip_prefix(&format!("{}/ran-", marks.display()))?;
            Some((i, run.to_string()))
        })
        .collect();
    assert!(launches.len() >= 3, "{} launches traced", launches.len());
    let ledger_dir = dir.join("agent/spool/ledger").display().to_string();
    for (at, run) in &launches {
        let (_, entry) = durable_replacement(&calls, *at, |c| c.args.contains(run.as_str()))
            .unwrap_or_else(|| panic!("run {run} launched before its ledger entry was durable"));
        assert!(entry.starts_with(&ledger_dir), "{entry}");

        // Its final report is durable before the agent forgets the run (releases the entry).
        let Some(release) = calls
            .iter()
            .position(|c| c.unlinked().as_deref() == Some(entry.as_str()))
        else {
            continue; // the last run may still have been running at the stop
        };
        let (_, spooled) = durable_replacement(&calls, release, |c| {
            c.args.contains(run.as_str()) && c.args.contains("succeeded")
        })
        .unwrap_or_else(|| panic!("run {run} released before its final report was durable"));
        assert!(spooled.starts_with(&dir.join("agent/spool").display().to_string()));
    }

    // Each spool deletion: the center's commit (a WAL fsync) came between the file's arrival
    // and its deletion.
    let spool_prefix = format!("{}/", spool.display());
    let mut deletions = 0;
    for (i, c) in calls.iter().enumerate() {
        let Some(path) = c.unlinked() else { continue };
        let Some(name) = path.strip_prefix(&spool_prefix) else {
            continue;
        };
        if name.contains('/') {
            continue; // the ledger
        }
        deletions += 1;
        let arrived = calls[..i]
            .iter()
            .rposition(|c| c.renamed().is_some_and(|(_, to)| to == path))
            .unwrap_or_else(|| panic!("{path} deleted but never written"));
        assert!(
            calls[arrived..i].iter().any(|c| c.synced(&wal)),
            "{path} deleted without a store commit after it was written"
        );
    }
    assert!(deletions >= 3, "{deletions} spool deletions traced");
}
