//! Store benchmark (not a test): report ingest rate and `task ls` latency of a standalone
//! center on SQLite and on PostgreSQL, in the same run.
//!
//! Reproduce: `cargo build --release --workspace --bins && target/release/bench-store`
//! (`BENCH_TASKS` tasks, default 2,000; `BENCH_REPORTS` reports, default 40,000, posted in
//! batches of `BENCH_BATCH` (500) by `BENCH_SENDERS` (4) senders at once, as agents post them;
//! `BENCH_LS` listings of every task, default 20).
//!
//! Reports go through the real path: HTTP, the node's credential, the report gate (placement
//! history), one store transaction per batch. PostgreSQL runs with its durable defaults
//! (`fsync`, `synchronous_commit`), as SQLite runs with `synchronous=FULL`.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use cloudtask_e2e::Center;
use cloudtask_e2e::bench::env_or;
use cloudtask_shared::postgres_server::PostgresServer;
use futures_util::StreamExt;
use jiff::Timestamp;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

struct Figures {
    reports_per_sec: f64,
    ls_p50_ms: f64,
    ls_p99_ms: f64,
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn measure(label: &str, extra: &[&str]) -> Figures {
    let tasks = env_or("BENCH_TASKS", 2000usize);
    let reports = env_or("BENCH_REPORTS", 40_000usize);
    let batch = env_or("BENCH_BATCH", 500usize);
    let senders = env_or("BENCH_SENDERS", 4usize);
    let listings = env_or("BENCH_LS", 20usize);
    let c = Center::start(extra).await;
    // Daily tasks at 03:00: placed on the standalone node, never firing during the run.
    let mut ids: Vec<(String, String)> = Vec::new();
    for i in 0..tasks {
        let name = format!("t-{i}");
        let t = c
            .create_task(json!({"name": name, "command": "true", "schedules": ["0 0 3 * * *"]}))
            .await;
        ids.push((t["id"].as_str().unwrap().to_string(), name));
    }
    // Every task placed (the gate takes reports only of tasks the node held).
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, last) = c
            .api(Method::GET, &format!("/tasks/{}", ids[tasks - 1].1), None)
            .await;
        if last["node"].as_str().is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "tasks never placed: {last}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let node_token = std::fs::read_to_string(c.dir.join("node.token")).unwrap();
    let node_token = node_token.trim();
    let base = Timestamp::now();
    let bodies: Vec<Value> = (0..reports.div_ceil(batch))
        .map(|b| {
            let runs: Vec<Value> = (0..batch)
                .map(|k| {
                    let n = b * batch + k;
                    let (task, name) = &ids[n % tasks];
                    let at = base + jiff::SignedDuration::from_millis(n as i64);
                    json!({
                        "run": {
                            "id": format!("bench-{n}"),
                            "task": task,
                            "task_name": name,
                            "scheduled_at": at,
                            "started_at": at,
                            "finished_at": at + jiff::SignedDuration::from_millis(5),
                            "status": "succeeded",
                            "exit_code": 0,
                            "node": "node-1",
                            "attempt": 0,
                            "trigger": "manual",
                        },
                        "log": "one line of output\n",
                    })
                })
                .collect();
            Value::Array(runs)
        })
        .collect();
    let start = Instant::now();
    let sent: Vec<(StatusCode, Value)> = futures_util::stream::iter(
        bodies
            .into_iter()
            .map(|b| c.api_as(Some(node_token), Method::POST, "/agent/runs", Some(b))),
    )
    .buffer_unordered(senders)
    .collect()
    .await;
    let took = start.elapsed();
    for (status, body) in &sent {
        assert_eq!(*status, StatusCode::OK, "{body}");
        assert!(
            body["refused"].as_array().is_none_or(|r| r.is_empty()),
            "{body}"
        );
    }
    let (_, stored) = c
        .api(
            Method::GET,
            &format!("/tasks/{}/runs?limit=100000", ids[0].1),
            None,
        )
        .await;
    assert_eq!(
        stored.as_array().map(Vec::len),
        Some(reports.div_ceil(tasks)),
        "every report of a task is stored"
    );
    let mut ls = Vec::new();
    for _ in 0..listings {
        let t0 = Instant::now();
        let (status, body) = c.api(Method::GET, "/tasks", None).await;
        ls.push(t0.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body.as_array().map(Vec::len), Some(tasks));
    }
    ls.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let f = Figures {
        reports_per_sec: reports as f64 / took.as_secs_f64(),
        ls_p50_ms: pct(&ls, 0.5),
        ls_p99_ms: pct(&ls, 0.99),
    };
    println!("## {label}");
    println!(
        "- ingest: {reports} reports in batches of {batch}, {senders} senders: {:.1} s = {:.0} reports/s",
        took.as_secs_f64(),
        f.reports_per_sec
    );
    println!(
        "- task ls of {tasks} tasks ({listings} times): p50 {:.1} ms, p99 {:.1} ms",
        f.ls_p50_ms, f.ls_p99_ms
    );
    f
}

#[tokio::main]
async fn main() {
    println!(
        "# bench-store on {} cores, {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        Timestamp::now()
    );
    let lite = measure("SQLite (the data dir's cloudtask.db)", &[]).await;
    let pg = PostgresServer::start_with(&[]);
    let url = pg.create_database("bench");
    let post = measure(
        "PostgreSQL (local server, durable defaults)",
        &["--store", &url],
    )
    .await;
    println!("## PostgreSQL against SQLite");
    println!(
        "- ingest: {:.2}×; task ls p50: {:.2}×",
        post.reports_per_sec / lite.reports_per_sec,
        post.ls_p50_ms / lite.ls_p50_ms
    );
}
