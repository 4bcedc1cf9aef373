//! Cluster mode end to end: a real ZooKeeper, real `cloudtask-center --zk` processes and real
//! `cloudtask-agent` processes, killed with -9, frozen with SIGSTOP, and restarted.
//!
//! Every task appends "task instant node" to one executions file per test, so "no instant ran
//! twice" is checked against what actually executed, not against the store.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cloudtask_e2e::zookeeper::ZooKeeper;
use cloudtask_e2e::{Agent, Center};
use cloudtask_shared::coord::zookeeper::{ZkConfig, ZkSession};
use cloudtask_shared::coord::{ClaimKey, ClaimOutcome, Coordination};
use cloudtask_shared::{NodeInfo, RunRecord, RunStatus, Trigger, run_id};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Session timeout the harness gives agents and centers.
const SESSION: Duration = Duration::from_secs(2);

struct Cluster {
    zk: ZooKeeper,
    /// Holds the shared store, tokens and agents' data dirs.
    dir: tempfile::TempDir,
    centers: Vec<Center>,
    agents: Vec<Agent>,
    executions: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Execution {
    task: String,
    instant: String,
    node: String,
}

impl Cluster {
    async fn start(agents: &[&str]) -> Cluster {
        let zk = ZooKeeper::start();
        let dir = tempfile::tempdir().unwrap();
        let center = Center::start_cluster(dir.path(), &zk.connect("/ct"), &[]).await;
        let executions = dir.path().join("executions");
        std::fs::write(&executions, "").unwrap();
        let mut c = Cluster {
            zk,
            dir,
            centers: vec![center],
            agents: Vec::new(),
            executions,
        };
        for a in agents {
            c.add_agent(a);
        }
        c
    }

    fn add_agent(&mut self, name: &str) {
        let center = self.centers[0].url.clone();
        self.agents.push(Agent::start(
            name,
            "default",
            &self.zk.connect("/ct"),
            &center,
            self.dir.path(),
        ));
    }

    fn center(&self) -> &Center {
        &self.centers[0]
    }

    fn agent(&mut self, name: &str) -> &mut Agent {
        self.agents.iter_mut().find(|a| a.name == name).unwrap()
    }

    /// Creates `n` tasks firing every second that record each execution.
    async fn every_second_tasks(&self, n: usize) -> Vec<String> {
        let mut ids = Vec::new();
        for i in 0..n {
            let body = self
                .center()
                .create_task(json!({
                    "name": format!("tick-{i:02}"),
                    "command": format!(
                        "echo \"$CLOUDTASK_TASK_ID $CLOUDTASK_SCHEDULED_AT $CLOUDTASK_NODE\" >> {}",
                        self.executions.display()
                    ),
                    "schedules": ["@every 1s"],
                }))
                .await;
            ids.push(body["id"].as_str().unwrap().to_string());
        }
        ids
    }

    fn executions(&self) -> Vec<Execution> {
        read_executions(&self.executions)
    }

    /// Where each task is placed, as the center reports it.
    async fn placements(&self) -> BTreeMap<String, Option<String>> {
        placements(self.center()).await
    }

    /// Waits until every task has executed at least once after `since` (by line count).
    async fn wait_all_firing(&self, tasks: &[String], within: Duration, what: &str) {
        let start_len = self.executions().len();
        let deadline = Instant::now() + within;
        loop {
            let fresh: HashSet<String> = self.executions()[start_len..]
                .iter()
                .map(|e| e.task.clone())
                .collect();
            if tasks.iter().all(|t| fresh.contains(t)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "waited {within:?} for {what}; not firing: {:?}\n{}",
                tasks
                    .iter()
                    .filter(|t| !fresh.contains(*t))
                    .collect::<Vec<_>>(),
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for a in &self.agents {
            let log = a.log();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            out += &format!(
                "--- agent {} (last lines, newest first)\n{}\n",
                a.name,
                tail.join("\n")
            );
        }
        out
    }
}

fn read_executions(path: &Path) -> Vec<Execution> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut p = l.split_whitespace();
            Some(Execution {
                task: p.next()?.to_string(),
                instant: p.next()?.to_string(),
                node: p.next()?.to_string(),
            })
        })
        .collect()
}

async fn placements(center: &Center) -> BTreeMap<String, Option<String>> {
    let (status, body) = center.api(Method::GET, "/tasks", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_string(),
                t["node"].as_str().map(str::to_string),
            )
        })
        .collect()
}

/// Asserts no (task, instant) executed twice, naming the duplicates.
fn assert_no_duplicates(executions: &[Execution]) {
    let mut seen: HashMap<(&str, &str), &str> = HashMap::new();
    let mut dups = Vec::new();
    for e in executions {
        if let Some(first) = seen.insert((&e.task, &e.instant), &e.node) {
            dups.push(format!(
                "{} at {} on {} and {}",
                e.task, e.instant, first, e.node
            ));
        }
    }
    assert!(dups.is_empty(), "instants executed twice: {dups:#?}");
}

/// Waits until the center places every task on a live node, each node having some.
async fn wait_placed(
    center: &Center,
    nodes: &[&str],
    within: Duration,
) -> BTreeMap<String, String> {
    let deadline = Instant::now() + within;
    loop {
        let p = placements(center).await;
        let on: HashSet<&str> = p.values().flatten().map(String::as_str).collect();
        if p.values()
            .all(|n| n.as_deref().is_some_and(|n| nodes.contains(&n)))
            && nodes.iter().all(|n| on.contains(n))
        {
            return p
                .into_iter()
                .map(|(t, n)| (t, n.unwrap_or_default()))
                .collect();
        }
        assert!(
            Instant::now() < deadline,
            "tasks not placed on {nodes:?}: {p:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// All runs in the store, by task.
async fn store_runs(center: &Center, tasks: &[String]) -> HashMap<String, Vec<RunRecord>> {
    let mut out = HashMap::new();
    for t in tasks {
        out.insert(t.clone(), center.runs(t).await);
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_agent_tasks_fail_over_and_nothing_runs_twice() {
    let mut c = Cluster::start(&["a1", "a2", "a3"]).await;
    let tasks = c.every_second_tasks(30).await;
    let before = wait_placed(c.center(), &["a1", "a2", "a3"], Duration::from_secs(30)).await;
    c.wait_all_firing(&tasks, Duration::from_secs(30), "all 30 tasks firing")
        .await;

    c.agent("a2").kill9();
    let killed_at = Instant::now();
    let moved: Vec<String> = before
        .iter()
        .filter(|(_, n)| n.as_str() == "a2")
        .map(|(t, _)| t.clone())
        .collect();
    assert!(!moved.is_empty(), "a2 had no tasks: {before:#?}");
    let mark = c.executions().len();
    // Every task of a2 fires on another node within session timeout + 2 s.
    let mut first_elsewhere: HashMap<String, Duration> = HashMap::new();
    while first_elsewhere.len() < moved.len() {
        for e in &c.executions()[mark..] {
            if moved.contains(&e.task) && e.node != "a2" {
                first_elsewhere
                    .entry(e.task.clone())
                    .or_insert_with(|| killed_at.elapsed());
            }
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(60),
            "a2's tasks never moved; fired elsewhere: {first_elsewhere:?}\n{}",
            c.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let slowest = first_elsewhere.values().max().copied().unwrap_or_default();
    assert!(
        slowest <= SESSION + Duration::from_secs(2),
        "failover took {slowest:?}, over session timeout + 2 s"
    );
    // Let them run a few more seconds on their new nodes.
    c.wait_all_firing(
        &tasks,
        Duration::from_secs(30),
        "all tasks firing after failover",
    )
    .await;

    let after = c.executions();
    // Tasks of the surviving agents never moved.
    for e in &after[mark..] {
        let was = &before[&e.task];
        if was != "a2" {
            assert_eq!(
                &e.node, was,
                "task {} moved off surviving node {was}",
                e.task
            );
        }
    }
    assert_no_duplicates(&after);
    // The store agrees: one run per (task, instant), and each executed instant is recorded.
    let runs = store_runs(c.center(), &tasks).await;
    let mut instants = HashSet::new();
    for r in runs.values().flatten() {
        assert!(
            instants.insert((r.task.clone(), r.scheduled_at, r.attempt)),
            "two runs for one instant in the store: {r:?}"
        );
    }
    // Instants that passed while nobody owned a2's tasks follow the misfire policy: every
    // second from the first to the last run has a record (run, caught up, or `missed`).
    for t in &moved {
        let mut secs: Vec<i64> = runs[t]
            .iter()
            .filter(|r| r.trigger == cloudtask_shared::Trigger::Schedule)
            .map(|r| r.scheduled_at.as_second())
            .collect();
        secs.sort_unstable();
        secs.dedup();
        let gaps: Vec<i64> = secs
            .windows(2)
            .filter(|w| w[1] - w[0] != 1)
            .map(|w| w[0])
            .collect();
        assert!(
            gaps.is_empty(),
            "task {t} has instants with no record after {gaps:?}: {:#?}",
            runs[t]
        );
    }
    println!("failover: slowest task {slowest:?} after kill -9 (session {SESSION:?})");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_joining_agent_takes_only_its_share_and_no_running_task() {
    let mut c = Cluster::start(&["a1", "a2", "a3"]).await;
    let tasks = c.every_second_tasks(30).await;
    // Three long runs, started by hand: their tasks must not move while they run.
    let mut long = Vec::new();
    for i in 0..3 {
        let body = c
            .center()
            .create_task(json!({
                "name": format!("long-{i}"),
                "command": "sleep 30",
                "schedules": ["0 0 0 1 1 *"],
            }))
            .await;
        long.push(body["id"].as_str().unwrap().to_string());
    }
    let before = wait_placed(c.center(), &["a1", "a2", "a3"], Duration::from_secs(30)).await;
    for id in &long {
        let (status, body) = c
            .center()
            .api(Method::POST, &format!("/tasks/{id}/start"), None)
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    for id in &long {
        c.center()
            .wait_runs(id, Duration::from_secs(30), "the long run running", |r| {
                r.iter().any(|r| r.status == RunStatus::Running)
            })
            .await;
    }
    c.wait_all_firing(&tasks, Duration::from_secs(30), "all tasks firing")
        .await;

    c.add_agent("a4");
    let all = ["a1", "a2", "a3", "a4"];
    let after = wait_placed(c.center(), &all, Duration::from_secs(30)).await;
    let moved: Vec<&String> = before.keys().filter(|t| before[*t] != after[*t]).collect();
    for t in &moved {
        assert_eq!(after[*t], "a4", "task {t} moved between old nodes");
    }
    for id in &long {
        assert_eq!(before[id], after[id], "running task {id} moved");
    }
    let total = before.len();
    let bound = total.div_ceil(4) + 2;
    assert!(
        !moved.is_empty() && moved.len() <= bound,
        "{} of {total} tasks moved; expected 1..={bound}",
        moved.len()
    );
    // The moved tasks now fire on a4, and nothing ran twice.
    let moved_ids: Vec<String> = moved.iter().map(|t| (*t).clone()).collect();
    let moved_ticks: Vec<String> = moved_ids
        .iter()
        .filter(|t| tasks.contains(t))
        .cloned()
        .collect();
    let mark = c.executions().len();
    c.wait_all_firing(&moved_ticks, Duration::from_secs(30), "moved tasks firing")
        .await;
    for e in &c.executions()[mark..] {
        assert_eq!(e.node, after[&e.task], "{} fired off its node", e.task);
    }
    assert_no_duplicates(&c.executions());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_frozen_agent_wakes_fenced_and_runs_nothing_twice() {
    let mut c = Cluster::start(&["a1", "a2", "a3"]).await;
    let tasks = c.every_second_tasks(30).await;
    let before = wait_placed(c.center(), &["a1", "a2", "a3"], Duration::from_secs(30)).await;
    c.wait_all_firing(&tasks, Duration::from_secs(30), "all tasks firing")
        .await;
    let lost: Vec<String> = before
        .iter()
        .filter(|(_, n)| n.as_str() == "a3")
        .map(|(t, _)| t.clone())
        .collect();

    c.agent("a3").signal("STOP");
    // Wait until a3's tasks fire elsewhere: its session expired and the leader moved them.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let p = c.placements().await;
        if lost
            .iter()
            .all(|t| p[t].as_deref().is_some_and(|n| n != "a3"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "a3's tasks never moved: {p:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.wait_all_firing(
        &lost,
        Duration::from_secs(30),
        "a3's tasks firing elsewhere",
    )
    .await;
    let mark = c.executions().len();
    c.agent("a3").signal("CONT");
    // It wakes with instants due for every task it had: it must launch none of those it lost.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !c
        .agent("a3")
        .log()
        .contains("joined again with a new session")
    {
        assert!(
            Instant::now() < deadline,
            "a3 never rejoined:\n{}",
            c.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.wait_all_firing(
        &tasks,
        Duration::from_secs(30),
        "all tasks firing after the wake",
    )
    .await;
    let now_on = c.placements().await;
    let woke: Vec<String> = c
        .agent("a3")
        .log()
        .lines()
        .filter(|l| l.contains("session") || l.contains("claims failed"))
        .map(str::to_string)
        .collect();
    println!("a3 after the wake:\n{}", woke.join("\n"));
    for e in &c.executions()[mark..] {
        if e.node == "a3" {
            assert_eq!(
                now_on[&e.task].as_deref(),
                Some("a3"),
                "a3 launched {} at {} after losing it",
                e.task,
                e.instant
            );
        }
    }
    assert_no_duplicates(&c.executions());
}

#[tokio::test(flavor = "multi_thread")]
async fn standby_center_takes_over_and_an_absent_center_loses_nothing() {
    let mut c = Cluster::start(&[]).await;
    // A second center on the same host and store: it must not allocate while the first leads.
    let standby = Center::start_cluster(c.dir.path(), &c.zk.connect("/ct"), &[]).await;
    let leader_of = |v: &Value| v["leader"].as_bool().unwrap_or(false);
    let (_, v1) = c.center().api(Method::GET, "/version", None).await;
    let (_, v2) = standby.api(Method::GET, "/version", None).await;
    assert!(leader_of(&v1) && !leader_of(&v2), "{v1} {v2}");
    // Agents report to the standby, which stays up.
    for a in ["a1", "a2", "a3"] {
        c.agents.push(Agent::start(
            a,
            "default",
            &c.zk.connect("/ct"),
            &standby.url,
            c.dir.path(),
        ));
    }
    let tasks = c.every_second_tasks(30).await;
    wait_placed(&standby, &["a1", "a2", "a3"], Duration::from_secs(30)).await;
    c.wait_all_firing(&tasks, Duration::from_secs(30), "tasks firing")
        .await;

    c.centers[0].kill9();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, v) = standby.api(Method::GET, "/version", None).await;
        if leader_of(&v) {
            break;
        }
        assert!(Instant::now() < deadline, "standby never took over: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The new leader allocates: a node lost now still gets its tasks moved.
    let before = placements(&standby).await;
    c.agent("a1").kill9();
    let after = wait_placed(&standby, &["a2", "a3"], Duration::from_secs(30)).await;
    for (t, n) in &before {
        if n.as_deref() != Some("a1") {
            assert_eq!(
                n.as_deref(),
                Some(after[t].as_str()),
                "task {t} moved needlessly"
            );
        }
    }
    c.wait_all_firing(&tasks, Duration::from_secs(30), "tasks firing on a2, a3")
        .await;

    // Now no center at all for 20 s: agents keep firing and spool their results.
    let dir = standby.dir.clone();
    let addr = standby.url.trim_start_matches("http://").to_string();
    drop(standby);
    let mark = c.executions().len();
    let gone_at = Instant::now();
    while gone_at.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let during = c.executions()[mark..].to_vec();
    let fired: HashSet<&String> = during.iter().map(|e| &e.task).collect();
    assert!(
        tasks.iter().all(|t| fired.contains(t)),
        "tasks stopped firing without a center: {} of {} fired",
        fired.len(),
        tasks.len()
    );
    // Back on the same address, where the agents look for it.
    let back = Center::start_cluster(&dir, &c.zk.connect("/ct"), &["--listen", &addr]).await;
    // Every execution of the outage reaches the store as a finished run.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let runs = store_runs(&back, &tasks).await;
        let stored: HashSet<(String, String)> = runs
            .values()
            .flatten()
            .filter(|r| r.status == RunStatus::Succeeded)
            .map(|r| (r.task.clone(), r.scheduled_at.to_string()))
            .collect();
        let missing: Vec<&Execution> = during
            .iter()
            .filter(|e| !stored.contains(&(e.task.clone(), normalize(&e.instant))))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} executions of the outage never reached the store, e.g. {:?}",
            missing.len(),
            missing.first()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_no_duplicates(&c.executions());
}

/// Polls the center's `/ready` until it answers `want` (within 30 s); returns that body.
async fn readiness_becomes(c: &Cluster, want: StatusCode) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = c.center().api_as(None, Method::GET, "/ready", None).await;
        if status == want {
            return body;
        }
        if Instant::now() >= deadline {
            let log =
                std::fs::read_to_string(c.center().dir.join("center.log")).unwrap_or_default();
            let readiness: Vec<&str> = log.lines().filter(|l| l.contains("readiness")).collect();
            panic!(
                "/ready still answers {status} {body}, not {want}; the center's readiness lines:\n{}",
                readiness[readiness.len().saturating_sub(5)..].join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn zookeeper_restart_is_survived_without_double_runs() {
    let mut c = Cluster::start(&["a1", "a2", "a3"]).await;
    let tasks = c.every_second_tasks(30).await;
    wait_placed(c.center(), &["a1", "a2", "a3"], Duration::from_secs(30)).await;
    c.wait_all_firing(&tasks, Duration::from_secs(30), "tasks firing")
        .await;

    let (status, body) = c.center().api_as(None, Method::GET, "/ready", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    c.zk.kill9();
    // The center is alive but not ready while ZooKeeper is down, and says which part fails.
    let body = readiness_becomes(&c, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["store"], "ok", "{body}");
    assert_ne!(body["coordination"], "ok", "{body}");
    let (status, _) = c.center().api_as(None, Method::GET, "/health", None).await;
    assert_eq!(status, StatusCode::OK, "alive all the same");
    c.zk.restart();
    c.wait_all_firing(
        &tasks,
        Duration::from_secs(60),
        "tasks firing after the ZooKeeper restart",
    )
    .await;
    let p = wait_placed(c.center(), &["a1", "a2", "a3"], Duration::from_secs(30)).await;
    assert_eq!(p.len(), tasks.len());
    // The center's own session comes back on its own schedule (the agents' may be first).
    readiness_becomes(&c, StatusCode::OK).await;
    // Longer than a session: any expiry would show as a rejoin and moved tasks; either way no
    // instant may run twice.
    let mark = c.executions().len();
    c.wait_all_firing(&tasks, Duration::from_secs(30), "tasks firing steadily")
        .await;
    assert!(c.executions().len() > mark);
    assert_no_duplicates(&c.executions());
}

/// The executions file has the agent's RFC 3339 instant; the store's is jiff's display.
fn normalize(instant: &str) -> String {
    instant
        .parse::<jiff::Timestamp>()
        .map(|t| t.to_string())
        .unwrap_or_else(|_| instant.to_string())
}

/// Creates a task from `spec` whose schedule stays out of the way (it fires at New Year's
/// midnight only) and starts it by hand; its id.
async fn start_by_hand(c: &Cluster, mut spec: Value) -> String {
    spec["schedules"] = json!(["0 0 0 1 1 *"]);
    let body = c.center().create_task(spec).await;
    let id = body["id"].as_str().unwrap().to_string();
    let (status, body) = c
        .center()
        .api(Method::POST, &format!("/tasks/{id}/start"), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    id
}

/// Creates task `name` (never scheduled, one retry) running `command`, starts it by hand and
/// waits until it runs: the task id, the running attempt, and the other of nodes a1 and a2.
async fn one_running_run(
    c: &Cluster,
    name: &str,
    command: String,
) -> (String, RunRecord, &'static str) {
    let id = start_by_hand(c, json!({"name": name, "command": command, "retries": 1})).await;
    let runs = c
        .center()
        .wait_runs(&id, Duration::from_secs(30), "the run running", |r| {
            r.iter().any(|r| r.status == RunStatus::Running)
        })
        .await;
    let first = runs[0].clone();
    let survivor = if first.node == "a1" { "a2" } else { "a1" };
    (id, first, survivor)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_lost_with_its_node_is_retried_once_on_the_new_owner() {
    let mut c = Cluster::start(&["a1", "a2"]).await;
    let command = format!(
        "echo \"$CLOUDTASK_RUN_ID $CLOUDTASK_ATTEMPT $CLOUDTASK_NODE\" >> {}; sleep 600",
        c.executions.display()
    );
    let (id, first, survivor) = one_running_run(&c, "slow", command).await;
    c.agent(&first.node).kill9();

    let runs = c
        .center()
        .wait_runs(
            &id,
            Duration::from_secs(30),
            "lost, then retried elsewhere",
            |r| {
                r.iter()
                    .any(|r| r.id == first.id && r.status == RunStatus::Lost)
                    && r.iter().any(|r| {
                        r.attempt == 2 && r.status == RunStatus::Running && r.node == survivor
                    })
            },
        )
        .await;
    assert_eq!(runs.len(), 2, "one lost run and one retry: {runs:#?}");
    let lines = std::fs::read_to_string(&c.executions).unwrap();
    assert_eq!(lines.lines().count(), 2, "executions: {lines}");
    // The dead agent's fence keeper killed the first attempt when the agent died.
    assert!(
        cloudtask_e2e::processes_with_env("CLOUDTASK_RUN_ID", &first.id).is_empty(),
        "the first attempt outlived its agent"
    );
    cloudtask_e2e::kill_orphaned_runs(&id);
}

/// Lines of a run that says it is alive every 50 ms: `start ATTEMPT NS` once, then
/// `alive ATTEMPT NS`, nanoseconds by the machine's clock.
fn heartbeat_command(file: &Path) -> String {
    let f = file.display();
    format!(
        "echo \"start $CLOUDTASK_ATTEMPT $(date +%s%N)\" >> {f}; \
         while :; do echo \"alive $CLOUDTASK_ATTEMPT $(date +%s%N)\" >> {f}; sleep 0.05; done"
    )
}

/// (kind, attempt, ns) of each line [`heartbeat_command`] wrote.
fn heartbeats(file: &Path) -> Vec<(String, u32, u128)> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut p = l.split_whitespace();
            Some((
                p.next()?.to_string(),
                p.next()?.parse().ok()?,
                p.next()?.parse().ok()?,
            ))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_frozen_nodes_run_is_fenced_before_its_retry_starts_and_its_report_wins() {
    let mut c = Cluster::start(&["a1", "a2"]).await;
    let beats = c.dir.path().join("heartbeats");
    let (id, first, survivor) = one_running_run(&c, "long", heartbeat_command(&beats)).await;
    c.agent(&first.node).signal("STOP");

    c.center()
        .wait_runs(&id, Duration::from_secs(30), "the retry running", |r| {
            r.iter()
                .any(|r| r.attempt == 2 && r.status == RunStatus::Running && r.node == survivor)
        })
        .await;
    // The retry's own clock says when it started; the first attempt said nothing after it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let second_start = loop {
        if let Some((_, _, at)) = heartbeats(&beats)
            .into_iter()
            .find(|(kind, attempt, _)| kind == "start" && *attempt == 2)
        {
            break at;
        }
        assert!(Instant::now() < deadline, "attempt 2 never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let overlap: Vec<_> = heartbeats(&beats)
        .into_iter()
        .filter(|(_, attempt, at)| *attempt == 1 && *at >= second_start)
        .collect();
    assert!(
        overlap.is_empty(),
        "attempt 1 still alive after attempt 2 started: {overlap:?}"
    );
    assert!(
        cloudtask_e2e::processes_with_env("CLOUDTASK_RUN_ID", &first.id).is_empty(),
        "the frozen node's attempt is still alive"
    );
    assert!(
        c.agent(&first.node)
            .log()
            .contains("sent no beat for its lease"),
        "the keeper did not say why it killed:\n{}",
        c.logs()
    );

    // The node wakes: its own report of the attempt (`killed` by the fence, with the reason)
    // replaces the `lost` the center declared, and nothing else changes.
    c.agent(&first.node).signal("CONT");
    let runs = c
        .center()
        .wait_runs(&id, Duration::from_secs(60), "the node's own report", |r| {
            r.iter().any(|r| {
                r.id == first.id
                    && r.status == RunStatus::Killed
                    && r.message
                        .as_deref()
                        .is_some_and(|m| m.contains("run fence"))
            })
        })
        .await;
    assert_eq!(runs.len(), 2, "one fenced attempt and one retry: {runs:#?}");
    cloudtask_e2e::kill_orphaned_runs(&id);
}

/// Creates task `name` that records `attempt node` and fails, with one retry after `backoff`,
/// starts it by hand and waits for the first attempt's failure: (task id, that attempt).
async fn one_failed_attempt(c: &Cluster, name: &str, backoff_ms: u64) -> (String, RunRecord) {
    let command = format!(
        "echo \"$CLOUDTASK_ATTEMPT $CLOUDTASK_NODE\" >> {}; exit 1",
        c.executions.display()
    );
    let spec =
        json!({"name": name, "command": command, "retries": 1, "retry_backoff_ms": backoff_ms});
    let id = start_by_hand(c, spec).await;
    let runs = c
        .center()
        .wait_runs(
            &id,
            Duration::from_secs(30),
            "the first attempt failed",
            |r| {
                r.iter()
                    .any(|r| r.attempt == 1 && r.status == RunStatus::Failed)
            },
        )
        .await;
    let first = runs.into_iter().find(|r| r.attempt == 1).unwrap();
    (id, first)
}

/// (attempt, node) of each line [`one_failed_attempt`]'s command wrote.
fn attempts(file: &Path) -> Vec<(u32, String)> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (a, n) = l.split_once(' ')?;
            Some((a.parse().ok()?, n.to_string()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_survives_its_agents_restart() {
    let mut c = Cluster::start(&["a1"]).await;
    let (id, first) = one_failed_attempt(&c, "flaky", 3_000).await;
    // The retry waits out its backoff in the store, not in the agent: kill it, start it again.
    c.agent("a1").kill9();
    c.agent("a1").restart();
    let runs = c
        .center()
        .wait_runs(&id, Duration::from_secs(60), "the retry ran", |r| {
            r.iter()
                .any(|r| r.attempt == 2 && r.status == RunStatus::Failed)
        })
        .await;
    let retry = runs.iter().find(|r| r.attempt == 2).unwrap();
    let waited = retry
        .started_at
        .unwrap()
        .duration_since(first.finished_at.unwrap());
    assert!(
        waited >= jiff::SignedDuration::from_secs(3),
        "the retry did not wait for its backoff: {waited:?}"
    );
    assert_eq!(runs.len(), 2, "one attempt and one retry: {runs:#?}");
    assert_eq!(
        attempts(&c.executions),
        vec![(1, "a1".to_string()), (2, "a1".to_string())]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_follows_its_task_when_the_node_goes() {
    let mut c = Cluster::start(&["a1", "a2"]).await;
    let (id, first) = one_failed_attempt(&c, "flaky", 4_000).await;
    let survivor = if first.node == "a1" { "a2" } else { "a1" };
    c.agent(&first.node).kill9();
    let runs = c
        .center()
        .wait_runs(
            &id,
            Duration::from_secs(60),
            "the retry ran elsewhere",
            |r| {
                r.iter()
                    .any(|r| r.attempt >= 2 && r.status == RunStatus::Failed && r.node == survivor)
            },
        )
        .await;
    // Run once: the first attempt where it failed, its retry on the task's new node (a
    // request the gone node never took is made again there, without using up a retry).
    let ran = attempts(&c.executions);
    assert_eq!(ran.len(), 2, "executions: {ran:?}\nruns: {runs:#?}");
    assert_eq!(ran[0], (1, first.node.clone()));
    assert_eq!(ran[1].1, survivor);
    assert!(
        runs.iter().all(|r| r.status.is_terminal()),
        "nothing left active: {runs:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_waiting_retry_follows_its_task_when_an_edit_moves_it() {
    let c = Cluster::start(&["a1", "a2"]).await;
    let (id, first) = one_failed_attempt(&c, "flaky", 6_000).await;
    let other = if first.node == "a1" { "a2" } else { "a1" };
    // While the retry waits out its backoff on the first node, the task is moved off it.
    let (_, task) = c
        .center()
        .api(Method::GET, &format!("/tasks/{id}"), None)
        .await;
    let version = task["version"].as_u64().unwrap();
    let (status, body) = c
        .center()
        .api(
            Method::PATCH,
            &format!("/tasks/{id}"),
            Some(json!({"version": version, "target_nodes": [other]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let runs = c
        .center()
        .wait_runs(&id, Duration::from_secs(60), "the retry ran", |r| {
            r.iter().any(|r| r.attempt == 2 && r.status.is_terminal())
        })
        .await;
    let retry = runs.iter().find(|r| r.attempt == 2).unwrap();
    assert_eq!(
        (retry.status, retry.node.as_str()),
        (RunStatus::Failed, other),
        "the retry ran on the task's new node: {runs:#?}"
    );
    assert_eq!(
        attempts(&c.executions),
        vec![(1, first.node.clone()), (2, other.to_string())]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn one_center_runs_several_clusters_apart() {
    let mut c = Cluster::start(&["a1"]).await;
    for b in ["b1", "b2"] {
        let center = c.center().url.clone();
        c.agents.push(Agent::start(
            b,
            "batch",
            &c.zk.connect("/ct"),
            &center,
            c.dir.path(),
        ));
    }
    let default_tasks = c.every_second_tasks(4).await;
    let mut batch_tasks = Vec::new();
    for i in 0..6 {
        let body = c
            .center()
            .create_task(json!({
                "name": format!("batch-{i}"),
                "cluster": "batch",
                "command": format!(
                    "echo \"$CLOUDTASK_TASK_ID $CLOUDTASK_SCHEDULED_AT $CLOUDTASK_NODE\" >> {}",
                    c.executions.display()
                ),
                "schedules": ["@every 1s"],
            }))
            .await;
        batch_tasks.push(body["id"].as_str().unwrap().to_string());
    }
    let all: Vec<String> = default_tasks.iter().chain(&batch_tasks).cloned().collect();
    c.wait_all_firing(
        &all,
        Duration::from_secs(30),
        "tasks of both clusters firing",
    )
    .await;
    for e in c.executions() {
        let want: &[&str] = if batch_tasks.contains(&e.task) {
            &["b1", "b2"]
        } else {
            &["a1"]
        };
        assert!(
            want.contains(&e.node.as_str()),
            "{e:?} ran outside its cluster"
        );
    }
    // Live state through the real cloudtaskctl.
    let out = c.center().ctl(&["cluster", "ls", "-o", "json"]);
    assert!(out.status.success(), "{out:?}");
    let clusters: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let nodes_of = |name: &str| {
        clusters
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| (c["nodes"].as_u64().unwrap(), c["tasks"].as_u64().unwrap()))
    };
    assert_eq!(nodes_of("default"), Some((1, 4)), "{clusters:?}");
    assert_eq!(nodes_of("batch"), Some((2, 6)), "{clusters:?}");
    let out = c.center().ctl(&["node", "ls", "--cluster", "batch"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("b1") && text.contains("b2") && !text.contains("a1"),
        "{text}"
    );
    // A node going away shows at once in the live listing.
    c.agent("b2").kill9();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = c
            .center()
            .ctl(&["node", "ls", "--cluster", "batch", "-o", "json"]);
        let nodes: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        if nodes.len() == 1 {
            assert_eq!(nodes[0]["name"], "b1");
            break;
        }
        assert!(Instant::now() < deadline, "b2 still listed: {nodes:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.wait_all_firing(&batch_tasks, Duration::from_secs(30), "batch tasks on b1")
        .await;
    assert_no_duplicates(&c.executions());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_runs_no_more_than_its_capacity_at_once_and_places_by_labels() {
    let mut c = Cluster::start(&[]).await;
    let center = c.center().url.clone();
    c.agents.push(Agent::start_with(
        "small",
        "default",
        &c.zk.connect("/ct"),
        &center,
        c.dir.path(),
        &["--capacity", "1", "--label", "size=small"],
    ));
    c.agents.push(Agent::start_with(
        "big",
        "default",
        &c.zk.connect("/ct"),
        &center,
        c.dir.path(),
        &["--label", "size=big"],
    ));
    let mut ids = Vec::new();
    for i in 0..3 {
        let body = c
            .center()
            .create_task(json!({
                "name": format!("slow-{i}"),
                "command": "sleep 1",
                "schedules": ["0 0 0 1 1 *"],
                "node_selector": {"size": "small"},
            }))
            .await;
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    let placed = wait_placed(c.center(), &["small"], Duration::from_secs(30)).await;
    assert!(
        placed.values().all(|n| n == "small"),
        "selector ignored: {placed:?}"
    );
    for id in &ids {
        let (status, body) = c
            .center()
            .api(Method::POST, &format!("/tasks/{id}/start"), None)
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    let mut runs: Vec<RunRecord> = Vec::new();
    for id in &ids {
        runs.extend(
            c.center()
                .wait_runs(id, Duration::from_secs(60), "the run finished", |r| {
                    r.iter().any(|r| r.status == RunStatus::Succeeded)
                })
                .await,
        );
    }
    // With capacity 1 the three runs went one after another, never overlapping.
    runs.sort_by_key(|r| r.started_at);
    for w in runs.windows(2) {
        assert!(
            w[1].started_at >= w[0].finished_at,
            "runs overlapped on a node of capacity 1: {runs:#?}"
        );
    }
}

/// A cluster whose one agent, `a1`, reaches the center through a proxy the test can break
/// (its ZooKeeper session is direct, so the node stays live and keeps its task), with task
/// `now` (no schedule soon) placed on it.
async fn proxied_agent_with_a_task(extra: &[&str]) -> (Cluster, cloudtask_e2e::proxy::Proxy) {
    let mut c = Cluster::start(&[]).await;
    let proxy = cloudtask_e2e::proxy::Proxy::start(&c.center().url).await;
    c.agents.push(Agent::start_with(
        "a1",
        "default",
        &c.zk.connect("/ct"),
        &proxy.url,
        c.dir.path(),
        extra,
    ));
    c.center()
        .create_task(json!({"name": "now", "command": "echo ran", "schedules": ["@yearly"]}))
        .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while placements(c.center()).await.values().next() != Some(&Some("a1".to_string())) {
        assert!(Instant::now() < deadline, "the task never reached a1");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (c, proxy)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_now_sent_while_the_agents_stream_is_down_still_runs() {
    let (c, proxy) = proxied_agent_with_a_task(&[]).await;
    proxy.cut().await;
    let (status, body) = c.center().api(Method::POST, "/tasks/now/start", None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let run = body["runs"][0].as_str().unwrap().to_string();
    // The request was broadcast while the stream was down; it must not be lost with it.
    proxy.restore();
    let runs = c
        .center()
        .wait_runs("now", Duration::from_secs(60), "the run to succeed", |r| {
            r.iter()
                .any(|r| r.id == run && r.status == RunStatus::Succeeded)
        })
        .await;
    assert_eq!(runs.len(), 1, "one request, one run: {runs:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_with_a_wrong_join_token_says_so_and_stops() {
    let c = Cluster::start(&[]).await;
    let wrong = tempfile::tempdir().unwrap();
    std::fs::write(wrong.path().join("join.token"), "ct_not_a_join_token\n").unwrap();
    let mut agent = Agent::start(
        "a1",
        "default",
        &c.zk.connect("/ct"),
        &c.center().url,
        wrong.path(),
    );
    let status = agent
        .wait_exit(Duration::from_secs(30))
        .await
        .expect("the agent stops: it cannot join");
    assert!(!status.success());
    let log = agent.log();
    assert!(
        log.contains("joining the cluster") && log.contains("401"),
        "the error names the refused join:\n{log}"
    );
    assert!(!agent.dir.join("node.token").exists());
}

/// Each node's credential, and where the tasks are (at least one on each of `a1` and `a2`).
async fn two_nodes_with_tasks(c: &Cluster) -> (String, String, BTreeMap<String, String>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, nodes) = c.center().api(Method::GET, "/nodes", None).await;
        if nodes.as_array().is_some_and(|n| n.len() == 2) {
            break;
        }
        assert!(Instant::now() < deadline, "two nodes never joined: {nodes}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Tasks go where the ring puts their (random) ids: add some until each node has one.
    let mut placed = BTreeMap::new();
    for i in 0..64 {
        c.center()
            .create_task(
                json!({"name": format!("t{i}"), "command": "true", "schedules": ["@yearly"]}),
            )
            .await;
        if i % 8 < 7 {
            continue;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        placed = loop {
            let p = placements(c.center()).await;
            if p.values().all(Option::is_some) {
                break p;
            }
            assert!(Instant::now() < deadline, "tasks not placed: {p:#?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let on: HashSet<&str> = placed.values().flatten().map(String::as_str).collect();
        if on.contains("a1") && on.contains("a2") {
            break;
        }
    }
    let placed: BTreeMap<String, String> = placed
        .into_iter()
        .map(|(t, n)| (t, n.unwrap_or_default()))
        .collect();
    let token = |name: &str| {
        std::fs::read_to_string(c.dir.path().join(format!("agent-{name}/node.token")))
            .unwrap()
            .trim()
            .to_string()
    };
    (token("a1"), token("a2"), placed)
}

/// A finished run of `task` on `node`, as that node would report it.
fn finished_run(task: &Value, node: &str, status: RunStatus) -> RunRecord {
    let task: cloudtask_shared::Task = serde_json::from_value(task.clone()).unwrap();
    let at = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second() - 5).unwrap();
    let id = run_id(&task.id, at, 1, Trigger::Schedule);
    RunRecord {
        status,
        started_at: Some(at),
        finished_at: Some(at),
        exit_code: Some(0),
        ..RunRecord::scheduled(&task, id, at, node, 1, Trigger::Schedule)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_reports_and_reads_only_what_was_placed_on_it() {
    let c = Cluster::start(&["a1", "a2"]).await;
    let (a1, _a2, placed) = two_nodes_with_tasks(&c).await;
    let of = |node: &str| placed.iter().find(|(_, n)| *n == node).unwrap().0.clone();
    let (mine, theirs) = (of("a1"), of("a2"));
    let center = c.center();
    // Specs: its own task's, not another node's.
    let (s, mine_spec) = center
        .api_as(Some(&a1), Method::GET, &format!("/tasks/{mine}"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{mine_spec}");
    let (s, body) = center
        .api_as(Some(&a1), Method::GET, &format!("/tasks/{theirs}"), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("only what is placed on it"),
        "{body}"
    );
    // Its own command stream only.
    let (s, _) = center
        .api_as(Some(&a1), Method::GET, "/events?node=a2", None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Reports: a run of a task it never held, one in another node's name, and one of its own.
    let (_, theirs_spec) = center
        .api(Method::GET, &format!("/tasks/{theirs}"), None)
        .await;
    let forged = finished_run(&theirs_spec, "a1", RunStatus::Succeeded);
    let impersonated = finished_run(&mine_spec, "a2", RunStatus::Succeeded);
    // (Who requested a run is the center's to say: a node's claim of it is not stored.)
    let honest = RunRecord {
        requested_by: Some("admin".into()),
        ..finished_run(&mine_spec, "a1", RunStatus::Succeeded)
    };
    let (s, answer) = center
        .api_as(
            Some(&a1),
            Method::POST,
            "/agent/runs",
            Some(json!([{"run": forged}, {"run": impersonated}, {"run": honest}])),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{answer}");
    let refused: Vec<&str> = answer["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run"].as_str().unwrap())
        .collect();
    assert_eq!(
        refused,
        [forged.id.as_str(), impersonated.id.as_str()],
        "{answer}"
    );
    assert!(
        center.runs(&theirs).await.is_empty(),
        "nothing of it stored"
    );
    let stored = center.runs(&mine).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].id, honest.id);
    assert_eq!(stored[0].requested_by, None);
    // A run another node ran and reported is that node's: a1 cannot rewrite it.
    let (real, _) = center.run_now(&theirs).await;
    assert_eq!(real.node, "a2");
    let rewrite = RunRecord {
        status: RunStatus::Failed,
        exit_code: Some(1),
        node: "a1".into(),
        ..real.clone()
    };
    let (s, answer) = center
        .api_as(
            Some(&a1),
            Method::POST,
            "/agent/runs",
            Some(json!([{"run": rewrite}])),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{answer}");
    assert_eq!(answer["refused"][0]["run"], real.id.as_str(), "{answer}");
    let after = center.runs(&theirs).await;
    assert_eq!(
        after.iter().find(|r| r.id == real.id).unwrap().status,
        real.status
    );
    // Refusals are audited, with the reason.
    let (_, audit) = center.api(Method::GET, "/audit?limit=1000", None).await;
    let refusals = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "report.refused" && a["actor"] == "node:a1")
        .count();
    assert_eq!(refusals, 3, "{audit}");
    // The node keeps its credential (and cached specs, secrets included) to itself.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: std::path::PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = c.dir.path().join("agent-a1");
    assert_eq!(mode(dir.join("node.token")), 0o600);
    assert_eq!(mode(dir), 0o700);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_node_is_refused_and_its_tasks_move_and_a_revoked_join_token_cannot_join() {
    let mut c = Cluster::start(&["a1", "a2"]).await;
    let (a1, _, _) = two_nodes_with_tasks(&c).await;
    let out = c.center().ctl(&["node", "revoke", "a1"]);
    assert!(out.status.success(), "{out:?}");
    // Every task moves to a2, and a1's credential is refused.
    wait_placed(c.center(), &["a2"], Duration::from_secs(30)).await;
    let (s, body) = c
        .center()
        .api_as(Some(&a1), Method::GET, "/whoami", None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !c
        .agent("a1")
        .log()
        .contains("refuses this node's credential")
    {
        assert!(
            Instant::now() < deadline,
            "a1 never said its credential is refused:\n{}",
            c.agent("a1").log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A second revocation finds nothing.
    let again = c.center().ctl(&["node", "revoke", "a1"]);
    assert_eq!(again.status.code(), Some(3), "{again:?}");

    // A join token made and revoked through the CLI joins nobody.
    let made = c
        .center()
        .ctl(&["cluster", "token", "create", "rack-9", "--expires-in", "1h"]);
    assert!(made.status.success(), "{made:?}");
    let join = String::from_utf8(made.stdout).unwrap().trim().to_string();
    let listed = c.center().ctl(&["cluster", "token", "ls"]);
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains("rack-9"),
        "{listed:?}"
    );
    let out = c.center().ctl(&["cluster", "token", "revoke", "rack-9"]);
    assert!(out.status.success(), "{out:?}");
    let (s, body) = c
        .center()
        .api_as(
            Some(&join),
            Method::POST,
            "/agent/join",
            Some(json!({"node": "a3", "cluster": "default"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
    // A name that has joined cannot join again while its credential stands.
    let harness = std::fs::read_to_string(c.dir.path().join("join.token")).unwrap();
    let (s, body) = c
        .center()
        .api_as(
            Some(harness.trim()),
            Method::POST,
            "/agent/join",
            Some(json!({"node": "a2", "cluster": "default"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_half_open_agent_stream_is_noticed_and_reopened() {
    let (c, proxy) = proxied_agent_with_a_task(&["--stream-idle-timeout", "8s"]).await;
    // Nothing closes: the agent's stream just goes silent, keep-alives included.
    proxy.hang();
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let log = c.agents[0].log();
        if log.contains("sent nothing for 8s") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the silent stream went unnoticed:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    proxy.restore();
    let (status, body) = c.center().api(Method::POST, "/tasks/now/start", None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let run = body["runs"][0].as_str().unwrap().to_string();
    c.center()
        .wait_runs("now", Duration::from_secs(60), "the run to succeed", |r| {
            r.iter()
                .any(|r| r.id == run && r.status == RunStatus::Succeeded)
        })
        .await;
}

/// The ghost's credential: the leader places tasks only on nodes that have one.
async fn join_ghost(c: &Cluster) {
    let join = std::fs::read_to_string(c.dir.path().join("join.token")).unwrap();
    let (s, body) = c
        .center()
        .api_as(
            Some(join.trim()),
            Method::POST,
            "/agent/join",
            Some(json!({"node": "ghost", "cluster": "default"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
}

/// A node that registers and claims through ZooKeeper like an agent, and launches nothing: a
/// node that dies between its claims and its first record of them.
async fn ghost(c: &Cluster) -> ZkSession {
    let cfg = ZkConfig {
        session_timeout: SESSION,
        ..ZkConfig::new(&c.zk.connect("/ct"))
    };
    let s = ZkSession::connect(&cfg, "ghost").await.unwrap();
    s.join(&NodeInfo {
        name: "ghost".into(),
        cluster: "default".into(),
        address: None,
        version: "test".into(),
        os: "linux".into(),
        labels: Default::default(),
        capacity: 4,
        started_at: jiff::Timestamp::now(),
        tzdata: None,
        session: None,
    })
    .await
    .unwrap();
    s
}

/// Claims `runs` of `task` as the ghost, under its current assignment (waiting for the
/// leader to give it the task).
async fn ghost_claims(s: &ZkSession, task: &str, runs: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let version = loop {
        if let Some(a) = s.read_assignment("default", "ghost").await.unwrap()
            && a.value.tasks.contains_key(task)
        {
            break a.version;
        }
        assert!(Instant::now() < deadline, "ghost never assigned {task}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let keys: Vec<ClaimKey> = runs
        .iter()
        .map(|r| ClaimKey {
            task: task.to_string(),
            run: r.clone(),
        })
        .collect();
    let out = s.claim("default", "ghost", version, &keys).await.unwrap();
    assert!(out.iter().all(|o| *o == ClaimOutcome::Claimed), "{out:?}");
}

/// An instant of `task` a minute ago (its id, attempt 1).
fn past_instant(task: &str, secs_ago: i64) -> String {
    let at = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second() - secs_ago).unwrap();
    run_id(task, at, 1, Trigger::Schedule)
}

#[tokio::test(flavor = "multi_thread")]
async fn what_a_node_claimed_and_never_recorded_is_lost_when_its_session_ends() {
    let c = Cluster::start(&[]).await;
    join_ghost(&c).await;
    let first = ghost(&c).await;
    let task = start_by_hand(&c, json!({"name": "claimed", "command": "true"})).await;
    let request = c
        .center()
        .wait_runs(&task, Duration::from_secs(30), "the request", |r| {
            r.iter().any(|r| r.status == RunStatus::Scheduled)
        })
        .await[0]
        .id
        .clone();
    let instant = past_instant(&task, 60);
    ghost_claims(&first, &task, &[instant.clone(), request.clone()]).await;

    // The node comes back in a new session before the leader notices it was gone: frozen
    // meanwhile, the leader sees the same member with another session.
    let pid = c.center().pid().unwrap().to_string();
    let signal = |sig: &str| {
        let ok = std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    };
    signal("-STOP");
    first.close().await.unwrap();
    let second = ghost(&c).await;
    signal("-CONT");
    let why = "claimed by node ghost, whose session ended before it recorded the run";
    let runs = c
        .center()
        .wait_runs(
            &task,
            Duration::from_secs(30),
            "both claims lost, the request asked again",
            |r| {
                [&instant, &request].iter().all(|id| {
                    r.iter().any(|r| {
                        r.id == **id
                            && r.status == RunStatus::Lost
                            && r.message.as_deref() == Some(why)
                    })
                }) && r
                    .iter()
                    .any(|r| r.attempt == 2 && r.status == RunStatus::Scheduled)
            },
        )
        .await;
    assert_eq!(runs.len(), 3, "{runs:#?}");

    // The node claims once more and leaves for good: its tasks move, and the claim is lost.
    let later = past_instant(&task, 30);
    ghost_claims(&second, &task, std::slice::from_ref(&later)).await;
    second.close().await.unwrap();
    c.center()
        .wait_runs(&task, Duration::from_secs(30), "the last claim lost", |r| {
            r.iter().any(|r| {
                r.id == later && r.status == RunStatus::Lost && r.message.as_deref() == Some(why)
            })
        })
        .await;
    // Nothing else was marked so: a claim with a record is left alone on every check.
    let mut marked: Vec<String> = c
        .center()
        .runs(&task)
        .await
        .into_iter()
        .filter(|r| r.message.as_deref() == Some(why))
        .map(|r| r.id)
        .collect();
    marked.sort();
    let mut want = vec![instant, request, later];
    want.sort();
    assert_eq!(marked, want);
}
