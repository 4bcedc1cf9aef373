//! The soak: a real ZooKeeper, two centers sharing a store, three agents and 50 tasks firing
//! every second, under a seeded nemesis that kill -9s agents, freezes one past its session,
//! kill -9s the leading center or freezes it past its session, restarts ZooKeeper (keeping its data) and fills an agent's
//! disk, one fault at a time in random order. It runs twice: the centers sharing one SQLite
//! file, and the centers on one PostgreSQL with data dirs of their own and agents that know
//! both, where the nemesis also kill -9s PostgreSQL and starts it again. An independent checker then compares what ran —
//! every run appends `task instant attempt node` to a file outside CloudTask — with what the
//! store recorded: no (task, instant) ran twice, every run that ran is stored finished, every
//! instant is either run or recorded with a reason, and nothing is left active.
//!
//! `CLOUDTASK_SOAK_SECS` (120) sets the nemesis's length, `CLOUDTASK_SOAK_SEED` replays a
//! seed (printed at the start and in every failure), `CLOUDTASK_SOAK_TASKS` (50) the tasks;
//! `CLOUDTASK_SOAK_KEEP` keeps a failed soak's directory (logs, store) to look into.
//! CI runs it on its own, after the other tests (`.ci/test`).

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cloudtask_e2e::tmpfs::{Tmpfs, can_mount};
use cloudtask_e2e::zookeeper::ZooKeeper;
use cloudtask_e2e::{Agent, Center};
use cloudtask_shared::postgres_server::PostgresServer;
use cloudtask_shared::{RunRecord, RunStatus};
use jiff::Timestamp;
use reqwest::Method;
use serde_json::json;

/// splitmix64: a seeded sequence, so a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A duration between `lo` and `hi` milliseconds.
    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next() % (hi - lo + 1))
    }
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    KillAgent(usize),
    FreezeAgent(usize),
    KillLeader,
    FreezeLeader,
    RestartZooKeeper,
    FillAgentDisk(usize),
    RestartPostgres,
}

struct Soak {
    seed: u64,
    zk: ZooKeeper,
    dir: tempfile::TempDir,
    centers: Vec<Option<Center>>,
    addrs: Vec<String>,
    agents: Vec<Agent>,
    disks: Vec<Tmpfs>,
    executions: PathBuf,
    /// The shared PostgreSQL and its database's URL; none: the centers share an SQLite file
    /// in one data dir.
    pg: Option<(PostgresServer, String)>,
}

impl Soak {
    fn center(&self) -> &Center {
        self.centers.iter().flatten().next().unwrap()
    }

    /// Where center `i` keeps its data: one dir for both on SQLite (the file they share),
    /// one each on PostgreSQL (the first's tokens copied to the second).
    fn center_dir(&self, i: usize) -> PathBuf {
        match &self.pg {
            None => self.dir.path().to_path_buf(),
            Some(_) => self.dir.path().join(format!("center-{i}")),
        }
    }

    async fn start_center(&self, i: usize) -> Center {
        let dir = self.center_dir(i);
        let mut args = vec!["--listen", &self.addrs[i], "--keep-runs", "100000"];
        if let Some((_, url)) = &self.pg {
            std::fs::create_dir_all(&dir).unwrap();
            if i > 0 {
                for file in ["admin.token", "join.token"] {
                    let _ = std::fs::copy(self.center_dir(0).join(file), dir.join(file));
                }
            }
            args.extend(["--store", url.as_str()]);
        }
        Center::start_cluster(&dir, &self.zk.connect("/ct"), &args).await
    }

    /// The index of the center that leads now, if one does.
    async fn leader(&self) -> Option<usize> {
        for (i, c) in self.centers.iter().enumerate() {
            if let Some(c) = c {
                let (_, v) = c.api(Method::GET, "/version", None).await;
                if v["leader"].as_bool() == Some(true) {
                    return Some(i);
                }
            }
        }
        None
    }

    async fn inject(&mut self, fault: Fault, rng: &mut Rng) {
        match fault {
            Fault::KillAgent(i) => {
                self.agents[i].kill9();
                tokio::time::sleep(rng.millis(1_000, 5_000)).await;
                self.agents[i].restart();
            }
            Fault::FreezeAgent(i) => {
                // Past its 2 s session: its tasks move and it wakes fenced.
                self.agents[i].signal("STOP");
                tokio::time::sleep(rng.millis(3_000, 6_000)).await;
                self.agents[i].signal("CONT");
            }
            Fault::KillLeader => {
                let Some(i) = self.leader().await else {
                    return;
                };
                if let Some(mut c) = self.centers[i].take() {
                    c.kill9();
                }
                tokio::time::sleep(rng.millis(1_000, 4_000)).await;
                self.centers[i] = Some(self.start_center(i).await);
            }
            Fault::FreezeLeader => {
                // Past its 2 s session: the other center leads, and this one wakes deposed
                // (its leader-only writes carry an epoch the store no longer has).
                let Some(i) = self.leader().await else {
                    return;
                };
                if let Some(c) = &self.centers[i] {
                    c.signal("STOP");
                    tokio::time::sleep(rng.millis(3_000, 6_000)).await;
                    c.signal("CONT");
                }
            }
            Fault::RestartZooKeeper => {
                self.zk.kill9();
                tokio::time::sleep(rng.millis(500, 3_000)).await;
                self.zk.restart();
            }
            Fault::FillAgentDisk(i) => {
                let filler = self.disks[i].fill();
                tokio::time::sleep(rng.millis(2_000, 5_000)).await;
                std::fs::remove_file(filler).unwrap();
            }
            Fault::RestartPostgres => {
                let Some((pg, _)) = self.pg.as_mut() else {
                    return;
                };
                pg.kill9();
                tokio::time::sleep(rng.millis(1_000, 4_000)).await;
                pg.restart();
            }
        }
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for a in &self.agents {
            let log = a.log();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            out += &format!("--- agent {} (newest first)\n{}\n", a.name, tail.join("\n"));
        }
        out
    }
}

/// One line the tasks wrote: a run that really ran.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Ran {
    task: String,
    instant: Timestamp,
    attempt: u32,
    node: String,
}

fn read_ran(path: &Path) -> Vec<Ran> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut p = l.split_whitespace();
            Some(Ran {
                task: p.next()?.to_string(),
                instant: p.next()?.parse().ok()?,
                attempt: p.next()?.parse().ok()?,
                node: p.next()?.to_string(),
            })
        })
        .collect()
}

/// What the checker found; the soak passes when every count but `faults` and `ran` is 0.
#[derive(Debug, Default)]
struct Verdict {
    ran: usize,
    /// Stored runs up to the cutoff, by status.
    statuses: BTreeMap<String, usize>,
    /// Stored `lost` runs by why (the message up to its first comma or colon) and whether
    /// their instant ran: what the center presumed, and how often it presumed a run away
    /// that did run.
    lost: BTreeMap<(String, bool), usize>,
    /// (task, instant) pairs that ran more than once.
    duplicates: Vec<(String, Timestamp, usize)>,
    /// Instants of a task's span neither run nor recorded finished in the store.
    unaccounted: Vec<(String, Timestamp)>,
    /// Runs that ran but are not in the store as finished.
    lost_reports: Vec<Ran>,
    /// Runs the store holds active although their instant is long past.
    active: Vec<String>,
    /// Runs that ran but the store says never started (`missed`, `skipped`).
    contradictions: Vec<(Ran, RunStatus)>,
}

impl Verdict {
    fn clean(&self) -> bool {
        self.duplicates.is_empty()
            && self.unaccounted.is_empty()
            && self.lost_reports.is_empty()
            && self.active.is_empty()
            && self.contradictions.is_empty()
    }
}

/// Compares what ran with what the store recorded, for instants up to `cutoff`.
fn check(ran: &[Ran], stored: &HashMap<String, Vec<RunRecord>>, cutoff: Timestamp) -> Verdict {
    let mut v = Verdict {
        ran: ran.len(),
        ..Verdict::default()
    };
    let mut times: BTreeMap<(String, Timestamp), usize> = BTreeMap::new();
    for r in ran {
        *times.entry((r.task.clone(), r.instant)).or_default() += 1;
    }
    v.duplicates = times
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|((t, i), n)| (t.clone(), *i, *n))
        .collect();
    for runs in stored.values() {
        for r in runs.iter().filter(|r| r.scheduled_at <= cutoff) {
            *v.statuses.entry(r.status.to_string()).or_default() += 1;
        }
    }
    for (task, runs) in stored {
        for r in runs
            .iter()
            .filter(|r| r.status == RunStatus::Lost && r.scheduled_at <= cutoff)
        {
            let why = r.message.as_deref().unwrap_or("");
            let why = why.split([',', ':', '(']).next().unwrap_or(why).trim();
            let why = why.replace(&r.node, "N");
            let ran_it = ran
                .iter()
                .any(|x| &x.task == task && x.instant == r.scheduled_at);
            *v.lost.entry((why, ran_it)).or_default() += 1;
        }
        let finished: HashMap<Timestamp, RunStatus> = runs
            .iter()
            .filter(|r| r.status.is_terminal())
            .map(|r| (r.scheduled_at, r.status))
            .collect();
        v.active.extend(
            runs.iter()
                .filter(|r| !r.status.is_terminal() && r.scheduled_at <= cutoff)
                .map(|r| format!("{} {}", r.id, r.status)),
        );
        let ran_here: BTreeSet<Timestamp> = ran
            .iter()
            .filter(|r| &r.task == task)
            .map(|r| r.instant)
            .collect();
        for r in ran
            .iter()
            .filter(|r| &r.task == task && r.instant <= cutoff)
        {
            match finished.get(&r.instant) {
                None => v.lost_reports.push(r.clone()),
                Some(s @ (RunStatus::Missed | RunStatus::Skipped)) => {
                    v.contradictions.push((r.clone(), *s))
                }
                Some(_) => {}
            }
        }
        // The task's span: from its first instant seen anywhere to the cutoff, every second.
        let first = ran_here
            .iter()
            .copied()
            .chain(finished.keys().copied())
            .min();
        let Some(first) = first else { continue };
        let mut at = first;
        while at <= cutoff {
            if !ran_here.contains(&at) && !finished.contains_key(&at) {
                v.unaccounted.push((task.clone(), at));
            }
            at += jiff::SignedDuration::from_secs(1);
        }
    }
    v
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn under_a_nemesis_every_instant_runs_once_or_is_recorded_and_nothing_is_lost() {
    soak(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn on_postgres_under_a_nemesis_every_instant_runs_once_or_is_recorded_and_nothing_is_lost() {
    soak(true).await;
}

async fn soak(on_postgres: bool) {
    let secs = env_u64("CLOUDTASK_SOAK_SECS").unwrap_or(120);
    let tasks = env_u64("CLOUDTASK_SOAK_TASKS").unwrap_or(50) as usize;
    let seed =
        env_u64("CLOUDTASK_SOAK_SEED").unwrap_or_else(|| Timestamp::now().as_microsecond() as u64);
    let store = if on_postgres { "PostgreSQL" } else { "SQLite" };
    eprintln!(
        "soak on {store}: seed {seed}, {secs} s, {tasks} tasks (replay: CLOUDTASK_SOAK_SEED={seed})"
    );
    let mut rng = Rng(seed);
    let disks_allowed = can_mount();

    let zk = ZooKeeper::start();
    let dir = tempfile::tempdir().unwrap();
    let executions = dir.path().join("executions");
    std::fs::write(&executions, "").unwrap();
    let addrs: Vec<String> = (0..2)
        .map(|_| format!("127.0.0.1:{}", cloudtask_e2e::zookeeper::free_port()))
        .collect();
    let mut s = Soak {
        seed,
        zk,
        dir,
        centers: Vec::new(),
        addrs,
        agents: Vec::new(),
        disks: Vec::new(),
        executions,
        pg: on_postgres.then(|| {
            let pg = PostgresServer::start();
            let url = pg.create_database("soak");
            (pg, url)
        }),
    };
    for i in 0..2 {
        let c = s.start_center(i).await;
        s.centers.push(Some(c));
    }
    for (i, name) in ["a1", "a2", "a3"].iter().enumerate() {
        if disks_allowed {
            s.disks.push(Tmpfs::mount(
                &s.dir.path().join(format!("agent-{name}")),
                "64m",
            ));
        }
        // a1 and a2 report to the first center, a3 to the second; on PostgreSQL each knows
        // the other center too.
        let first = usize::from(i == 2);
        let mut center = format!("http://{}", s.addrs[first]);
        if on_postgres {
            center += &format!(",http://{}", s.addrs[1 - first]);
        }
        s.agents.push(Agent::start(
            name,
            "default",
            &s.zk.connect("/ct"),
            &center,
            &s.center_dir(0),
        ));
    }
    let mut ids = Vec::new();
    for i in 0..tasks {
        let body = s
            .center()
            .create_task(json!({
                "name": format!("soak-{i:03}"),
                "command": format!(
                    "echo \"$CLOUDTASK_TASK_ID $CLOUDTASK_SCHEDULED_AT $CLOUDTASK_ATTEMPT $CLOUDTASK_NODE\" >> {}",
                    s.executions.display()
                ),
                "schedules": ["@every 1s"],
            }))
            .await;
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    wait_all_firing(
        &s,
        &ids,
        Timestamp::now(),
        "every task firing before the nemesis",
    )
    .await;

    // The nemesis: one fault at a time, with calm in between.
    let started = Instant::now();
    let mut faults: Vec<Fault> = Vec::new();
    while started.elapsed() < Duration::from_secs(secs) {
        let agent = (rng.next() % 3) as usize;
        let mut kinds = vec![
            Fault::KillAgent(agent),
            Fault::FreezeAgent(agent),
            Fault::KillLeader,
            Fault::FreezeLeader,
            Fault::RestartZooKeeper,
        ];
        if disks_allowed {
            kinds.push(Fault::FillAgentDisk(agent));
        }
        if on_postgres {
            kinds.push(Fault::RestartPostgres);
        }
        let fault = kinds[(rng.next() % kinds.len() as u64) as usize];
        eprintln!("soak: {:>5.1}s {fault:?}", started.elapsed().as_secs_f64());
        s.inject(fault, &mut rng).await;
        faults.push(fault);
        tokio::time::sleep(rng.millis(2_000, 5_000)).await;
    }
    let cutoff = Timestamp::now();

    // Settle: every task fires again, then every instant up to the cutoff is accounted for.
    wait_all_firing(&s, &ids, cutoff, "every task firing after the nemesis").await;
    let deadline = Instant::now() + Duration::from_secs(120);
    let verdict = loop {
        let mut stored = HashMap::new();
        for id in &ids {
            stored.insert(id.clone(), s.center().runs(id).await);
        }
        let v = check(&read_ran(&s.executions), &stored, cutoff);
        if v.clean() || Instant::now() >= deadline {
            break v;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let count = |f: fn(&Fault) -> bool| faults.iter().filter(|x| f(x)).count();
    eprintln!(
        "soak on {store}: seed {seed}: {} faults (agents killed {}, frozen {}, leader killed {}, leader frozen {}, ZooKeeper restarted {}, disks filled {}, PostgreSQL restarted {}), {} runs ran, {} duplicates, {} unaccounted instants, {} lost reports, {} left active, {} contradictions; stored {:?}; lost by (why, ran) {:?}",
        faults.len(),
        count(|f| matches!(f, Fault::KillAgent(_))),
        count(|f| matches!(f, Fault::FreezeAgent(_))),
        count(|f| matches!(f, Fault::KillLeader)),
        count(|f| matches!(f, Fault::FreezeLeader)),
        count(|f| matches!(f, Fault::RestartZooKeeper)),
        count(|f| matches!(f, Fault::FillAgentDisk(_))),
        count(|f| matches!(f, Fault::RestartPostgres)),
        verdict.ran,
        verdict.duplicates.len(),
        verdict.unaccounted.len(),
        verdict.lost_reports.len(),
        verdict.active.len(),
        verdict.contradictions.len(),
        verdict.statuses,
        verdict.lost,
    );
    if verdict.clean() {
        return;
    }
    let report = format!(
        "soak on {store}, seed {} failed (replay: CLOUDTASK_SOAK_SEED={}):\nduplicates {}\nunaccounted {}\nlost reports {}\nactive {}\ncontradictions {}\n{}",
        s.seed,
        s.seed,
        first(&verdict.duplicates),
        first(&verdict.unaccounted),
        first(&verdict.lost_reports),
        first(&verdict.active),
        first(&verdict.contradictions),
        s.logs()
    );
    if std::env::var_os("CLOUDTASK_SOAK_KEEP").is_some() {
        std::mem::forget(s.disks);
        panic!("{report}\nkept {}", s.dir.keep().display());
    }
    panic!("{report}");
}

/// The first few of a list, for a failure message.
fn first<T: std::fmt::Debug>(items: &[T]) -> String {
    format!(
        "{} in all, first {:?}",
        items.len(),
        &items[..items.len().min(5)]
    )
}

/// Waits until every task ran an instant after `after`.
async fn wait_all_firing(s: &Soak, ids: &[String], after: Timestamp, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let fired: BTreeSet<String> = read_ran(&s.executions)
            .into_iter()
            .filter(|r| r.instant > after)
            .map(|r| r.task)
            .collect();
        let idle: Vec<&String> = ids.iter().filter(|t| !fired.contains(*t)).collect();
        if idle.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "soak seed {}: waited 90 s for {what}; {} tasks idle, e.g. {:?}\n{}",
            s.seed,
            idle.len(),
            idle.first(),
            s.logs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
