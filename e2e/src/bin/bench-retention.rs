//! Retention benchmark (not a test): a month of a one-second task's runs poured into a real
//! standalone center through the agents' report API, in bulk and in order, while retention
//! runs every second. Prints the bytes on disk (database plus WAL) as the history goes in;
//! bounded means they stop growing once retention keeps up. At the end it checks the count
//! retention keeps, and that re-sending the oldest reports (a late spool) brings none back.
//!
//! Reproduce: `cargo build --release --workspace --bins && target/release/bench-retention`
//! (`BENCH_DAYS`, default 30, and `BENCH_KEEP_RUNS`, default 1000, adjust it).

#![allow(clippy::unwrap_used)]

use std::time::Instant;

use cloudtask_e2e::Center;
use cloudtask_e2e::bench::env_or;
use cloudtask_shared::api::TaskView;
use cloudtask_shared::{RunRecord, RunStatus, Trigger, run_id};
use jiff::{SignedDuration, Timestamp};
use reqwest::Method;
use serde_json::json;

/// Reports per request, as a busy agent sends them.
const BATCH: i64 = 2000;

fn disk_bytes(c: &Center) -> (u64, u64) {
    let size = |name: &str| {
        std::fs::metadata(c.dir.join(name))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    (size("cloudtask.db"), size("cloudtask.db-wal"))
}

fn mib(b: u64) -> f64 {
    b as f64 / (1 << 20) as f64
}

#[tokio::main]
async fn main() {
    let days: i64 = env_or("BENCH_DAYS", 30);
    let keep: u32 = env_or("BENCH_KEEP_RUNS", 1000);
    let keep_s = keep.to_string();
    let c = Center::start(&["--keep-runs", &keep_s, "--retention-every", "1s"]).await;
    let task = c
        .create_task(json!({"name": "every-second", "command": "echo tick"}))
        .await;
    let task: TaskView = serde_json::from_value(task).unwrap();
    let task = task.task;
    // The node reports only runs of a task placed on it.
    c.wait_task(
        &task.id,
        std::time::Duration::from_secs(30),
        "placed",
        |t| t.node.is_some(),
    )
    .await;
    let agent = c.node_token();
    let agent = agent.trim();
    let runs = days * 86_400;
    let start = Timestamp::now() - SignedDuration::from_hours(24 * days);
    let record = |i: i64| {
        let at = start + SignedDuration::from_secs(i);
        let id = run_id(&task.id, at, 1, Trigger::Schedule);
        RunRecord {
            status: RunStatus::Succeeded,
            started_at: Some(at),
            finished_at: Some(at + SignedDuration::from_millis(3)),
            exit_code: Some(0),
            ..RunRecord::scheduled(&task, id, at, "node-1", 1, Trigger::Schedule)
        }
    };
    let log = format!("{} tick\n", start);
    let send = async |from: i64| {
        let body: Vec<_> = (from..(from + BATCH).min(runs))
            .map(|i| json!({ "run": record(i), "log": log }))
            .collect();
        let (status, body) = c
            .api_as(Some(agent), Method::POST, "/agent/runs", Some(json!(body)))
            .await;
        assert!(status.is_success(), "{status} {body}");
    };

    println!("# bench-retention: {days} days of a one-second task ({runs} runs), keep {keep}");
    println!("| runs stored so far | database | WAL | elapsed |");
    println!("|---|---|---|---|");
    let t0 = Instant::now();
    let mut peak = 0;
    let mut next_print = 0;
    for from in (0..runs).step_by(BATCH as usize) {
        send(from).await;
        let (db, wal) = disk_bytes(&c);
        peak = peak.max(db + wal);
        if from >= next_print {
            println!(
                "| {from} | {:.1} MiB | {:.1} MiB | {:.0?} |",
                mib(db),
                mib(wal),
                t0.elapsed()
            );
            next_print += runs / 12;
        }
    }
    // One more pass of retention after the last batch: wait until the count is down.
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    let kept = loop {
        let n = c.runs("every-second").await.len();
        if n <= keep as usize || Instant::now() > deadline {
            break n;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let (db, wal) = disk_bytes(&c);
    println!(
        "| {runs} (all) | {:.1} MiB | {:.1} MiB | {:.0?} |",
        mib(db),
        mib(wal),
        t0.elapsed()
    );
    println!(
        "peak database + WAL: {:.1} MiB; runs kept: {kept} (keep {keep})",
        mib(peak)
    );
    // A late spool: the oldest reports again. Retention deleted them; they stay deleted.
    send(0).await;
    let after = c.runs("every-second").await.len();
    println!("after re-sending the oldest {BATCH} reports: {after} runs kept");
    assert!(
        kept <= keep as usize,
        "retention kept {kept} runs, not {keep}"
    );
    assert_eq!(after, kept, "a late report brought a deleted run back");
}
