//! Cluster benchmark (not a test), against a real local ZooKeeper:
//! 1. allocation of 100,000 tasks on 50 simulated agents, then one agent lost: time to compute
//!    and write the new allocation, tasks moved, bytes of znode data written;
//! 2. failover end to end with real processes: kill -9 an agent while 30 tasks fire every
//!    second → first fire of each of its tasks on another node (median and max over runs);
//! 3. claims per second one agent session sustains, one claim per multi-op and 100 per multi-op.
//!
//! Reproduce: `cargo build --release --workspace --bins && target/release/bench-cluster`
//! (`BENCH_TASKS`, `BENCH_AGENTS`, `BENCH_FAILOVER_RUNS`, `BENCH_CLAIM_SECS` adjust it).

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cloudtask_e2e::bench::env_or;
use cloudtask_e2e::zookeeper::ZooKeeper;
use cloudtask_e2e::{Agent, Center};
use cloudtask_shared::coord::zookeeper::{ZkConfig, ZkSession};
use cloudtask_shared::coord::{Assignment, ClaimKey, Coordination};
use cloudtask_shared::model::NodeInfo;
use cloudtask_shared::ring::{Ring, TaskSlot, place};
use reqwest::Method;
use serde_json::json;

fn node(name: &str) -> NodeInfo {
    NodeInfo {
        name: name.into(),
        cluster: "bench".into(),
        address: None,
        version: "bench".into(),
        os: "linux".into(),
        labels: Default::default(),
        capacity: 64,
        started_at: jiff::Timestamp::now(),
        tzdata: None,
        session: None,
    }
}

/// Places `ids` on the live members and writes every assignment that changed; returns
/// (tasks moved, assignments written, bytes written).
async fn allocate(
    leader: &ZkSession,
    ids: &[String],
    current: &mut HashMap<String, String>,
    written: &mut BTreeMap<String, Assignment>,
) -> (usize, usize, usize) {
    let members = leader.members("bench").await.unwrap();
    for gone in leader.assigned_nodes("bench").await.unwrap() {
        if !members.iter().any(|m| m.name == gone)
            && written.get(&gone).is_some_and(|a| !a.tasks.is_empty())
        {
            leader
                .write_assignment("bench", &gone, &Assignment::default())
                .await
                .unwrap();
            written.insert(gone, Assignment::default());
        }
    }
    let ring = Ring::new(members.iter().map(|m| m.name.clone()));
    let slots: Vec<TaskSlot> = ids
        .iter()
        .map(|id| TaskSlot {
            id,
            target_nodes: &[],
            selector: &EMPTY,
            current: current.get(id).map(String::as_str),
            running: false,
        })
        .collect();
    let placed = place(&slots, &ring);
    let mut per_node: BTreeMap<String, Assignment> = members
        .iter()
        .map(|m| (m.name.clone(), Assignment::default()))
        .collect();
    let placed: Vec<(String, String)> = placed
        .into_iter()
        .filter_map(|(id, n)| Some((id.to_string(), n?)))
        .collect();
    drop(slots);
    let mut moved = 0;
    for (id, n) in placed {
        per_node.get_mut(&n).unwrap().tasks.insert(id.clone(), 1);
        if current.get(&id) != Some(&n) {
            moved += 1;
            current.insert(id, n);
        }
    }
    let (mut writes, mut bytes) = (0, 0);
    for (n, a) in per_node {
        if written.get(&n) != Some(&a) {
            bytes += serde_json::to_vec(&a).unwrap().len();
            leader.write_assignment("bench", &n, &a).await.unwrap();
            written.insert(n, a);
            writes += 1;
        }
    }
    (moved, writes, bytes)
}

static EMPTY: BTreeMap<String, String> = BTreeMap::new();

async fn allocation_bench(zk: &ZooKeeper, tasks: usize, agents: usize) {
    let cfg = ZkConfig {
        session_timeout: Duration::from_secs(4),
        ..ZkConfig::new(&zk.connect("/alloc"))
    };
    let leader = ZkSession::connect(&cfg, "center").await.unwrap();
    assert!(leader.campaign("center").await.unwrap());
    let mut sessions = Vec::new();
    for i in 0..agents {
        let s = ZkSession::connect(&cfg, &format!("agent-{i:02}"))
            .await
            .unwrap();
        s.join(&node(&format!("agent-{i:02}"))).await.unwrap();
        sessions.push(s);
    }
    let ids: Vec<String> = (0..tasks).map(|i| format!("01JDTASK{i:013}")).collect();
    let mut current = HashMap::new();
    let mut written = BTreeMap::new();
    let t = Instant::now();
    let (_, writes, bytes) = allocate(&leader, &ids, &mut current, &mut written).await;
    println!(
        "initial allocation: {tasks} tasks on {agents} agents in {:?} ({writes} assignments, {} KiB written)",
        t.elapsed(),
        bytes / 1024
    );
    let victim = sessions.remove(7);
    let share = current.values().filter(|n| *n == "agent-07").count();
    victim.close().await.unwrap();
    let t = Instant::now();
    let (moved, writes, bytes) = allocate(&leader, &ids, &mut current, &mut written).await;
    let took = t.elapsed();
    println!(
        "agent lost: {moved} tasks moved (its share: {share}), {writes} assignments written, {} KiB of znode data, in {took:?}",
        bytes / 1024
    );
    assert_eq!(moved, share, "only the lost agent's tasks may move");
    for s in sessions {
        s.close().await.unwrap();
    }
}

async fn failover_once(zk: &ZooKeeper) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let chroot = format!("/failover-{}", jiff::Timestamp::now().as_millisecond());
    let center = Center::start_cluster(dir.path(), &zk.connect(&chroot), &[]).await;
    let mut agents: Vec<Agent> = ["a1", "a2", "a3"]
        .iter()
        .map(|n| Agent::start(n, "default", &zk.connect(&chroot), &center.url, dir.path()))
        .collect();
    let log = dir.path().join("executions");
    std::fs::write(&log, "").unwrap();
    let mut ids = Vec::new();
    for i in 0..30 {
        let body = center
            .create_task(json!({
                "name": format!("t{i}"),
                "command": format!("echo \"$CLOUDTASK_TASK_ID $CLOUDTASK_NODE\" >> {}", log.display()),
                "schedules": ["@every 1s"],
            }))
            .await;
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    // Wait until a2 is running its share.
    let on_a2: Vec<String> = loop {
        let (_, body) = center.api(Method::GET, "/tasks", None).await;
        let placed: Vec<(String, Option<String>)> = body
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["id"].as_str().unwrap().to_string(),
                    t["node"].as_str().map(str::to_string),
                )
            })
            .collect();
        let text = std::fs::read_to_string(&log).unwrap();
        let a2: Vec<String> = placed
            .iter()
            .filter(|(_, n)| n.as_deref() == Some("a2"))
            .map(|(t, _)| t.clone())
            .collect();
        if !a2.is_empty()
            && placed.iter().all(|(_, n)| n.is_some())
            && a2.iter().all(|t| text.contains(&format!("{t} a2")))
        {
            break a2;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mark = std::fs::read_to_string(&log).unwrap().len();
    agents[1].kill9();
    let killed = Instant::now();
    let mut first: HashMap<String, Duration> = HashMap::new();
    while first.len() < on_a2.len() {
        let text = std::fs::read_to_string(&log).unwrap();
        for line in text[mark..].lines() {
            if let Some((task, node)) = line.split_once(' ')
                && node != "a2"
                && on_a2.iter().any(|t| t == task)
            {
                first
                    .entry(task.to_string())
                    .or_insert_with(|| killed.elapsed());
            }
        }
        assert!(
            killed.elapsed() < Duration::from_secs(120),
            "failover never completed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.values().max().copied().unwrap()
}

async fn claims_bench(zk: &ZooKeeper, secs: u64) {
    let cfg = ZkConfig::new(&zk.connect("/claims-bench"));
    let s = Arc::new(ZkSession::connect(&cfg, "agent").await.unwrap());
    assert!(s.campaign("center").await.unwrap());
    let v = s
        .write_assignment("bench", "agent", &Assignment::default())
        .await
        .unwrap();
    for batch in [1usize, 100] {
        let end = Instant::now() + Duration::from_secs(secs);
        let mut n = 0usize;
        let mut seq = 0u64;
        while Instant::now() < end {
            let keys: Vec<ClaimKey> = (0..batch)
                .map(|i| {
                    seq += 1;
                    ClaimKey {
                        task: format!("task-{}", i % 50),
                        run: format!("task-{}-{batch}-{seq}-1", i % 50),
                    }
                })
                .collect();
            s.claim("bench", "agent", v, &keys).await.unwrap();
            n += batch;
        }
        println!(
            "claims: {:.0}/s with {batch} claim(s) per multi-op (one session, sequential)",
            n as f64 / secs as f64
        );
    }
}

#[tokio::main]
async fn main() {
    let tasks = env_or("BENCH_TASKS", 100_000);
    let agents = env_or("BENCH_AGENTS", 50);
    let runs = env_or("BENCH_FAILOVER_RUNS", 5);
    let claim_secs = env_or("BENCH_CLAIM_SECS", 10) as u64;
    let zk = ZooKeeper::start();
    allocation_bench(&zk, tasks, agents).await;
    claims_bench(&zk, claim_secs).await;
    let mut times = Vec::new();
    for i in 0..runs {
        let t = failover_once(&zk).await;
        println!(
            "failover run {}: {t:?} (kill -9 → last of the node's tasks fired elsewhere; 2 s session)",
            i + 1
        );
        times.push(t);
    }
    times.sort();
    if !times.is_empty() {
        println!(
            "failover over {runs} runs: median {:?}, max {:?}",
            times[times.len() / 2],
            times[times.len() - 1]
        );
    }
}
