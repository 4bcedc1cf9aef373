//! Console benchmark (not a test): the real `cloudtaskctl` in tmux against a standalone
//! center holding 10,000 tasks. Measures key → frame time of `/` filter keystrokes (from the
//! console's frame trace), CPU and requests while idle for 60 s with the stream healthy, and
//! the console's RSS.
//!
//! Reproduce: `cargo build --release --workspace --bins && target/release/bench-console`
//! (`BENCH_TASKS`, `BENCH_IDLE_SECS` adjust it).

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use cloudtask_e2e::bench::{env_or, rss_kib};
use cloudtask_e2e::tmux::Tmux;
use cloudtask_e2e::{Center, bin};
use serde_json::json;

/// utime + stime of a process, in clock ticks (1/100 s on Linux).
fn cpu_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = stat.rsplit(')').next().unwrap();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[tokio::main]
async fn main() {
    let tasks = env_or("BENCH_TASKS", 10_000);
    let idle = env_or("BENCH_IDLE_SECS", 60);
    let c = Center::start(&[]).await;
    let http = cloudtask_e2e::http();
    let t0 = Instant::now();
    // Daily tasks: the console sees a big, quiet cluster.
    let mut pending = Vec::new();
    for i in 0..tasks {
        let req = http
            .post(format!("{}/api/v1/tasks", c.url))
            .bearer_auth(&c.token)
            .json(&json!({
                "name": format!("task-{i:05}"),
                "group": format!("team-{}", i % 20),
                "command": "true",
                "schedules": [format!("0 {} {} * * *", i % 60, i % 24)],
            }));
        pending.push(tokio::spawn(req.send()));
        if pending.len() >= 16 {
            for p in pending.drain(..) {
                assert!(p.await.unwrap().unwrap().status().is_success());
            }
        }
    }
    for p in pending {
        assert!(p.await.unwrap().unwrap().status().is_success());
    }
    println!("{tasks} tasks created in {:?}", t0.elapsed());

    let trace = c.dir.join("console.trace");
    let trace_s = trace.display().to_string();
    let t = Tmux::start(&c, 160, 48, &[("CLOUDTASK_TUI_TRACE", trace_s.as_str())]);
    t.type_text(&format!("{}", bin("cloudtaskctl").display()));
    t.keys(&["Enter"]);
    t.wait_for("dashboard");
    t.keys(&["Enter"]);
    t.wait_for(&format!("tasks {tasks}/{tasks}"));
    let pid = t.child_pid();

    // `/` then a filter typed one key at a time; each key's frame is traced.
    std::fs::write(&trace, "").unwrap();
    t.keys(&["/"]);
    std::thread::sleep(Duration::from_millis(300));
    for ch in ["t", "a", "s", "k", "-", "0", "1", "2"] {
        t.type_text(ch);
        std::thread::sleep(Duration::from_millis(300));
    }
    t.wait_for(&format!("tasks 100/{tasks}"));
    t.keys(&["Escape"]);
    std::thread::sleep(Duration::from_millis(300));
    let mut frames: Vec<u64> = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("key_to_frame_us "))
        .filter_map(|v| v.parse().ok())
        .collect();
    frames.sort_unstable();
    let median = frames.get(frames.len() / 2).copied().unwrap_or(0);
    let max = frames.last().copied().unwrap_or(0);
    println!(
        "filter keystroke → frame over {tasks} tasks: {} frames, median {:.1} ms, max {:.1} ms",
        frames.len(),
        median as f64 / 1000.0,
        max as f64 / 1000.0
    );

    // Idle: nothing typed, the stream healthy.
    std::fs::write(&trace, "").unwrap();
    let before = cpu_ticks(&pid);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(idle) {
        std::thread::sleep(Duration::from_millis(500));
    }
    let ticks = cpu_ticks(&pid) - before;
    let requests = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("request"))
        .count();
    println!(
        "idle {idle} s: CPU {:.2} s ({:.2}% of one core), {requests} requests ({:.1}/min), RSS {} MiB",
        ticks as f64 / 100.0,
        ticks as f64 / idle as f64,
        requests as f64 * 60.0 / idle as f64,
        rss_kib(&pid) / 1024
    );
    t.keys(&["C-c"]);
}
