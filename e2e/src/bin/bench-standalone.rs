//! Standalone benchmark (not a test): fire lateness, throughput, missed and duplicate
//! instants, center RSS, against the raw spawn rate of `/bin/true` measured in the same run.
//!
//! Reproduce: `cargo build --release --workspace --bins && target/release/bench-standalone`
//! (`BENCH_TASKS`, `BENCH_SECS`, `BENCH_OVERLOAD_TASKS`, `BENCH_DEFINED_TASKS` adjust it;
//! `BENCH_SCENARIOS=burst,spread,overload,defined,alerts` picks scenarios (`alerts`, not in
//! the default set: failing bursts with alerts off and on, `BENCH_ALERT_PAIRS` pairs of
//! `BENCH_ALERT_SECS`); `BENCH_KEEP_LOG_<b|s|o>=FILE`
//! keeps a scenario's center log; `BENCH_RUN_AS=USER` runs every task as USER, the center
//! started as root switching to it in each run's process).

#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use cloudtask_e2e::Center;
use cloudtask_e2e::bench::{env_or, rss_kib};
use cloudtask_shared::{RunRecord, RunStatus};
use futures_util::StreamExt;
use jiff::Timestamp;
use reqwest::Method;
use serde_json::json;

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Spawns `/bin/true` from a tokio loop with `parallel` in flight for `secs`; returns spawns/s.
async fn raw_spawn_rate(parallel: usize, secs: u64) -> f64 {
    let end = Instant::now() + Duration::from_secs(secs);
    let mut handles = Vec::new();
    for _ in 0..parallel {
        handles.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < end {
                tokio::process::Command::new("/bin/true")
                    .status()
                    .await
                    .unwrap();
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for h in handles {
        total += h.await.unwrap();
    }
    total as f64 / secs as f64
}

struct Fired {
    runs: Vec<RunRecord>,
    peak_rss_kib: u64,
    /// Steady state: from when every task exists until pausing starts.
    steady: (Timestamp, Timestamp),
    /// From pausing until every spooled report reached the center.
    drain: Duration,
}

/// Creates `tasks` tasks firing every second, lets them run `secs`, returns their runs.
/// `spread`: instants spread evenly over each second (via `start_at` anchors) instead of all
/// on the whole second.
/// `extra` is merged into every task's spec (another command, alerts).
async fn fire(
    c: &Center,
    tasks: usize,
    secs: u64,
    prefix: &str,
    spread: bool,
    extra: &serde_json::Value,
) -> Fired {
    for i in 0..tasks {
        let mut spec =
            json!({"name": format!("{prefix}-{i}"), "command": "true", "schedules": ["@every 1s"]});
        if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
            spec.extend(extra.clone());
        }
        if spread {
            let offset = (i * 1000 / tasks) as i64;
            spec["start_at"] =
                json!(Timestamp::from_millisecond(1_700_000_000_000 + offset).unwrap());
        }
        c.create_task(spec).await;
    }
    let steady_from = Timestamp::now();
    let start = Instant::now();
    let mut peak = 0;
    while start.elapsed() < Duration::from_secs(secs) {
        peak = peak.max(rss_kib(c.pid().unwrap()));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let steady_to = Timestamp::now();
    // Pausing is cleanup after the measured window. One at a time, each pause waited behind a
    // report batch at the store's writer (about 6 pauses a second under overload, 8 minutes for
    // 3,000 tasks); 32 at a time they interleave with the batches.
    let pauses: Vec<String> = (0..tasks)
        .map(|i| format!("/tasks/{prefix}-{i}/pause"))
        .collect();
    futures_util::stream::iter(pauses.iter().map(|p| c.api(Method::POST, p, None)))
        .buffer_unordered(32)
        .for_each(|_| async {})
        .await;
    // Every run that executed counts, however late its report: wait until the agent's ledger
    // is empty (every run it claimed, queued ones included, has its final report on disk) and
    // its spool has delivered everything (the drain time is the report path's backlog).
    let paused = Instant::now();
    let spool = c.dir.join("agent").join("spool");
    while (pending_reports(&spool) > 0 || pending_reports(&spool.join("ledger")) > 0)
        && paused.elapsed() < Duration::from_secs(300)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let drain = paused.elapsed();
    // Runs that ended while pausing write their reports just after.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut runs = Vec::new();
    for i in 0..tasks {
        runs.extend(c.runs(&format!("{prefix}-{i}")).await);
    }
    Fired {
        runs,
        peak_rss_kib: peak,
        steady: (steady_from, steady_to),
        drain,
    }
}

/// JSON files in an agent's spool directory (reports not yet delivered) or its ledger (runs
/// whose final report is not on disk yet).
fn pending_reports(spool: &std::path::Path) -> usize {
    std::fs::read_dir(spool)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                .count()
        })
        .unwrap_or(0)
}

struct Summary {
    window_secs: f64,
    executed: usize,
    per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// The three seconds of the window with the highest p99, as (seconds into the window,
    /// p99 ms): whether the tail is one event or spread.
    worst_seconds: Vec<(i64, f64)>,
    missed: usize,
    skipped: usize,
    failed: usize,
    duplicates: usize,
}

/// Statistics over the steady state (every task created, none paused yet), edges trimmed.
fn summarize(fired: &Fired, finished_lines: &HashMap<String, usize>) -> Summary {
    let runs = &fired.runs;
    let lo = fired.steady.0 + jiff::SignedDuration::from_secs(3);
    let hi = fired.steady.1 - jiff::SignedDuration::from_secs(3);
    let window: Vec<&RunRecord> = runs
        .iter()
        .filter(|r| r.scheduled_at >= lo && r.scheduled_at <= hi)
        .collect();
    let mut late: Vec<f64> = window
        .iter()
        .filter_map(|r| {
            r.started_at
                .map(|s| s.duration_since(r.scheduled_at).as_secs_f64() * 1000.0)
        })
        .collect();
    late.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mut by_second: HashMap<i64, Vec<f64>> = HashMap::new();
    for r in &window {
        if let Some(s) = r.started_at {
            by_second
                .entry(r.scheduled_at.duration_since(lo).as_secs())
                .or_default()
                .push(s.duration_since(r.scheduled_at).as_secs_f64() * 1000.0);
        }
    }
    let mut worst_seconds: Vec<(i64, f64)> = by_second
        .into_iter()
        .map(|(sec, mut l)| {
            l.sort_by(|a, b| a.partial_cmp(b).unwrap());
            (sec, pct(&l, 0.99))
        })
        .collect();
    worst_seconds.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap());
    worst_seconds.truncate(3);
    let window_secs = hi.duration_since(lo).as_secs_f64() + 1.0;
    let executed = window.iter().filter(|r| r.started_at.is_some()).count();
    // Per task, every whole second between its first and last instant in the window must have
    // a run (tasks are created and paused one by one, so their spans differ).
    let mut span: HashMap<&str, (Timestamp, Timestamp, HashSet<Timestamp>)> = HashMap::new();
    for r in &window {
        let e =
            span.entry(r.task.as_str())
                .or_insert((r.scheduled_at, r.scheduled_at, HashSet::new()));
        e.0 = e.0.min(r.scheduled_at);
        e.1 = e.1.max(r.scheduled_at);
        e.2.insert(r.scheduled_at);
    }
    let gaps: usize = span
        .values()
        .map(|(first, last, seen)| {
            (last.duration_since(*first).as_secs() as usize + 1).saturating_sub(seen.len())
        })
        .sum();
    Summary {
        window_secs,
        executed,
        per_sec: executed as f64 / window_secs,
        p50_ms: pct(&late, 0.50),
        p99_ms: pct(&late, 0.99),
        max_ms: late.last().copied().unwrap_or(f64::NAN),
        worst_seconds,
        missed: gaps
            + window
                .iter()
                .filter(|r| r.status == RunStatus::Missed)
                .count(),
        skipped: window
            .iter()
            .filter(|r| r.status == RunStatus::Skipped)
            .count(),
        failed: window
            .iter()
            .filter(|r| {
                !matches!(
                    r.status,
                    RunStatus::Succeeded | RunStatus::Missed | RunStatus::Skipped
                )
            })
            .count(),
        duplicates: window
            .iter()
            .filter(|r| finished_lines.get(&r.id).is_some_and(|n| *n > 1))
            .count(),
    }
}

/// How many times each run id was executed, from the agent's "run finished" log lines.
fn executions(log: &str) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for line in log.lines().filter(|l| l.contains("run finished")) {
        if let Some(id) = line
            .split("run=")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
        {
            *m.entry(id.to_string()).or_insert(0) += 1;
        }
    }
    m
}

fn print(label: &str, asked: usize, s: &Summary, raw: f64, fired: &Fired) {
    println!("## {label}");
    println!("- asked: {asked} fires/s; window: {:.0} s", s.window_secs);
    println!(
        "- executed: {} runs = {:.1} runs/s ({:.0}% of the raw spawn rate {raw:.0}/s)",
        s.executed,
        s.per_sec,
        100.0 * s.per_sec / raw
    );
    println!(
        "- fire lateness (process start − scheduled instant): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        s.p50_ms, s.p99_ms, s.max_ms
    );
    let worst: Vec<String> = s
        .worst_seconds
        .iter()
        .map(|(sec, p99)| format!("{sec} s: {p99:.0} ms"))
        .collect();
    println!("- worst seconds of the window by p99: {}", worst.join(", "));
    println!(
        "- missed instants: {}; skipped: {}; other non-success: {}; duplicate executions: {}",
        s.missed, s.skipped, s.failed, s.duplicates
    );
    println!(
        "- center peak RSS: {:.1} MiB; reports drained {:.1} s after pausing",
        fired.peak_rss_kib as f64 / 1024.0,
        fired.drain.as_secs_f64()
    );
}

/// One firing scenario on a fresh standalone center.
async fn scenario(label: &str, tasks: usize, secs: u64, prefix: &str, spread: bool, raw: f64) {
    variant(label, tasks, secs, prefix, spread, raw, &[], &json!({})).await;
}

/// A scenario with the center's `flags` and `extra` in every task's spec.
#[allow(clippy::too_many_arguments)]
async fn variant(
    label: &str,
    tasks: usize,
    secs: u64,
    prefix: &str,
    spread: bool,
    raw: f64,
    flags: &[String],
    extra: &serde_json::Value,
) {
    // BENCH_RUN_AS=USER: the runs execute as USER (the center runs as root and switches).
    let run_as = std::env::var("BENCH_RUN_AS").ok();
    let mut flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    if let Some(user) = &run_as {
        flags.extend(["--run-as", user]);
    }
    let c = Center::start(&flags).await;
    let fired = fire(&c, tasks, secs, prefix, spread, extra).await;
    let log = std::fs::read_to_string(c.dir.join("center.log")).unwrap_or_default();
    let s = summarize(&fired, &executions(&log));
    print(label, tasks, &s, raw, &fired);
    if let Ok(keep) = std::env::var(format!("BENCH_KEEP_LOG_{prefix}")) {
        std::fs::write(keep, &log).unwrap();
    }
}

#[tokio::main]
async fn main() {
    let tasks = env_or("BENCH_TASKS", 500);
    let secs = env_or("BENCH_SECS", 60) as u64;
    let overload = env_or("BENCH_OVERLOAD_TASKS", 3000);
    let defined = env_or("BENCH_DEFINED_TASKS", 10_000);
    println!(
        "# bench-standalone on {} cores, {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        Timestamp::now()
    );

    let raw1 = raw_spawn_rate(1, 5).await;
    let raw = raw_spawn_rate(8, 5).await;
    println!(
        "raw spawn rate of /bin/true from tokio: {raw1:.0}/s sequential, {raw:.0}/s with 8 in flight"
    );

    let wanted =
        std::env::var("BENCH_SCENARIOS").unwrap_or_else(|_| "burst,spread,overload,defined".into());
    let wanted: HashSet<&str> = wanted.split(',').map(str::trim).collect();
    if wanted.contains("burst") {
        let label = format!("{tasks} tasks every second for {secs} s, all on the whole second");
        scenario(&label, tasks, secs, "b", false, raw).await;
    }
    if wanted.contains("spread") {
        let label =
            format!("{tasks} tasks every second for {secs} s, instants spread over the second");
        scenario(&label, tasks, secs, "s", true, raw).await;
    }
    if wanted.contains("alerts") {
        // Every run fails: with alerts on, each task's incident is counted on every second and
        // announced (to a real SMTP server: the first burst becomes a digest); off, the same
        // failures with `alerts.off`. Pairs alternate, so drift hits both alike.
        let pairs = env_or("BENCH_ALERT_PAIRS", 2);
        let secs = env_or("BENCH_ALERT_SECS", 30) as u64;
        for pair in 0..pairs {
            let label =
                format!("alerts off, pair {pair}: {tasks} tasks failing every second for {secs} s");
            let off = json!({"command": "false", "alerts": {"off": true}});
            variant(&label, tasks, secs, "a", false, raw, &[], &off).await;
            let sink = cloudtask_e2e::sinks::Sink::smtp(cloudtask_e2e::sinks::SmtpMode::Plain);
            let flags: Vec<String> = [
                "--smtp-server",
                &format!("127.0.0.1:{}", sink.port),
                "--smtp-security",
                "plain",
                "--smtp-from",
                "CloudTask <ct@example.com>",
                "--notify",
                "ops@example.com",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            let label =
                format!("alerts on, pair {pair}: {tasks} tasks failing every second for {secs} s");
            variant(
                &label,
                tasks,
                secs,
                "a",
                false,
                raw,
                &flags,
                &json!({"command": "false"}),
            )
            .await;
            println!(
                "- messages the SMTP server received: {}",
                sink.received().len()
            );
        }
    }
    if wanted.contains("overload") {
        let label = format!("overload: {overload} tasks every second for 30 s");
        scenario(&label, overload, 30, "o", false, raw).await;
    }
    if !wanted.contains("defined") {
        return;
    }
    let c = Center::start(&[]).await;
    let t0 = Instant::now();
    for i in 0..defined {
        c.create_task(
            json!({"name": format!("d-{i}"), "command": "true", "schedules": ["0 0 3 * * *"]}),
        )
        .await;
    }
    let created = t0.elapsed();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let rss = rss_kib(c.pid().unwrap());
    println!("## {defined} tasks defined (daily schedule), idle");
    println!(
        "- created in {:.1} s ({:.0} creates/s over HTTP, one at a time)",
        created.as_secs_f64(),
        defined as f64 / created.as_secs_f64()
    );
    println!("- center RSS 10 s later: {:.1} MiB", rss as f64 / 1024.0);
}
