//! The real scheduler loop, driven on the embedded coordination engine with a manual clock
//! and an executor that records each launch and lets the test end it: no processes, no
//! sleeps. Each test moves time only once the loop sleeps until the instant it expects
//! ([`ManualClock::sleeper_at`]), and waits on what the loop does (launches, reports).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloudtask_shared::api::{ActiveStatement, Event};
use cloudtask_shared::clock::{Clock, ManualClock};
use cloudtask_shared::coord::embedded::{EmbeddedEngine, EmbeddedSession};
use cloudtask_shared::coord::{Assignment, Change, Connect, Coordination, Sessions};
use cloudtask_shared::shutdown::{self, Trigger as Stopper};
use cloudtask_shared::{RunRecord, RunStatus, Task, TaskSpec, Trigger, attempt_id, run_id};
use jiff::{SignedDuration, Timestamp};
use tokio::sync::{mpsc, oneshot, watch};

use super::*;

const CLUSTER: &str = "default";
const NODE: &str = "node-1";
/// Every wait has this deadline: a loop that does not act fails the test, it never hangs it.
const DEADLINE: Duration = Duration::from_secs(10);

fn t0() -> Timestamp {
    "2030-01-01T00:00:00Z".parse().expect("a valid instant")
}

fn at(secs: i64) -> Timestamp {
    t0() + SignedDuration::from_secs(secs)
}

/// One launch the executor was asked for; the test ends it with `finish`.
struct Launched {
    run: RunRecord,
    held: bool,
    stop: watch::Receiver<Option<StopRequest>>,
    finish: oneshot::Sender<RunStatus>,
}

/// A process "held" ahead of its instant: records whether it was released or dropped.
struct TestHeld {
    run: String,
    released: bool,
    dropped: Arc<Mutex<Vec<String>>>,
}

impl Drop for TestHeld {
    fn drop(&mut self) {
        if !self.released {
            self.dropped
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(self.run.clone());
        }
    }
}

#[derive(Clone)]
struct TestExecutor {
    clock: ManualClock,
    launched: mpsc::UnboundedSender<Launched>,
    reports: mpsc::UnboundedSender<RunRecord>,
    holds: mpsc::UnboundedSender<(String, oneshot::Sender<()>)>,
    dropped: Arc<Mutex<Vec<String>>>,
    ledger: Arc<AtomicU64>,
    statements: mpsc::UnboundedSender<ActiveStatement>,
}

impl Executor for TestExecutor {
    type Held = TestHeld;

    /// The process is "started" when the test says so.
    async fn hold(&self, _task: Task, run: RunRecord) -> Result<TestHeld, String> {
        let (started, go) = oneshot::channel();
        let _ = self.holds.send((run.id.clone(), started));
        let _ = go.await;
        Ok(TestHeld {
            run: run.id,
            released: false,
            dropped: self.dropped.clone(),
        })
    }

    fn release(held: &mut TestHeld) -> bool {
        held.released = true;
        true
    }

    async fn run(
        &self,
        _task: Task,
        mut run: RunRecord,
        mut stop: watch::Receiver<Option<StopRequest>>,
        held: Option<TestHeld>,
    ) -> (RunRecord, bool) {
        let (finish, ended) = oneshot::channel();
        let _ = self.launched.send(Launched {
            run: run.clone(),
            held: held.is_some(),
            stop: stop.clone(),
            finish,
        });
        let status = tokio::select! {
            s = ended => s.unwrap_or(RunStatus::Killed),
            _ = stop.wait_for(|s| s.is_some()) => RunStatus::Killed,
        };
        run.status = status;
        run.finished_at = Some(self.clock.now());
        let _ = self.reports.send(run.clone());
        (run, true)
    }

    async fn report(&self, run: RunRecord) {
        let _ = self.reports.send(run);
    }

    async fn ledger_add(&self, _runs: &[RunRecord]) -> std::io::Result<u64> {
        Ok(self.ledger.fetch_add(1, Ordering::Relaxed))
    }

    async fn ledger_release(&self, _entry: u64) {}

    async fn flush(&self) -> Result<(), String> {
        Ok(())
    }

    async fn state_active(&self, statement: ActiveStatement) -> bool {
        self.statements.send(statement).is_ok()
    }
}

/// Specs the test sets; the loop reads them as it would the center's.
#[derive(Default)]
struct TestSpecs {
    specs: Mutex<HashMap<String, Task>>,
    /// The center is away: every fetch is `Unavailable`.
    away: std::sync::atomic::AtomicBool,
    asked: AtomicU64,
}

impl SpecSource for TestSpecs {
    fn fetch<'a>(
        &'a self,
        id: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = SpecFetch> + Send + 'a>> {
        self.asked.fetch_add(1, Ordering::Relaxed);
        let found = self
            .specs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned();
        let away = self.away.load(Ordering::Relaxed);
        Box::pin(async move {
            match found {
                _ if away => SpecFetch::Unavailable("connection refused".into()),
                Some(t) => SpecFetch::Found(Box::new(t)),
                None => SpecFetch::Gone,
            }
        })
    }
}

struct Harness {
    clock: ManualClock,
    /// The leader's session: it writes this node's assignment.
    leader: EmbeddedSession,
    specs: Arc<TestSpecs>,
    sessions: Sessions,
    launched: mpsc::UnboundedReceiver<Launched>,
    reports: mpsc::UnboundedReceiver<RunRecord>,
    holds: mpsc::UnboundedReceiver<(String, oneshot::Sender<()>)>,
    dropped: Arc<Mutex<Vec<String>>>,
    statements: mpsc::UnboundedReceiver<ActiveStatement>,
    events: mpsc::Sender<Event>,
    stopper: Stopper,
    looping: tokio::task::JoinHandle<Result<(), Error>>,
    _dir: tempfile::TempDir,
}

fn task(name: &str, schedule: &str, extra: serde_json::Value) -> Task {
    let mut spec = serde_json::json!({"name": name, "command": "true", "schedules": [schedule]});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    let spec: TaskSpec = serde_json::from_value(spec).expect("a valid spec");
    Task {
        id: format!("id-{name}"),
        spec,
        version: 1,
        created_by: "test".into(),
        created_at: t0(),
        updated_by: "test".into(),
        updated_at: t0(),
    }
}

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(DEADLINE, f).await {
        Ok(v) => v,
        Err(_) => panic!("the loop did not get to {what} within {DEADLINE:?}"),
    }
}

impl Harness {
    /// A loop for `tasks` (assigned before it starts), at `t0` unless `cursor_age` puts the
    /// clock later with the tasks' cursors saved at `t0`.
    async fn start(tasks: &[Task], capacity: u32, launch_ahead: Duration) -> Harness {
        Harness::start_at(tasks, capacity, launch_ahead, t0(), None).await
    }

    async fn start_at(
        tasks: &[Task],
        capacity: u32,
        launch_ahead: Duration,
        now: Timestamp,
        cursors: Option<Timestamp>,
    ) -> Harness {
        Harness::start_with(tasks, capacity, launch_ahead, now, cursors, false).await
    }

    /// `away`: the center cannot be asked for specs; the tasks' specs are on disk from an
    /// earlier life.
    async fn start_with(
        tasks: &[Task],
        capacity: u32,
        launch_ahead: Duration,
        now: Timestamp,
        cursors: Option<Timestamp>,
        away: bool,
    ) -> Harness {
        let dir = tempfile::tempdir().expect("a temp dir");
        let clock = ManualClock::new(now);
        let engine = EmbeddedEngine::in_memory();
        let leader = engine.session("center");
        assert!(leader.campaign("center").await.expect("campaign"));
        let specs = Arc::new(TestSpecs::default());
        let h_specs = specs.clone();
        let (launched_tx, launched) = mpsc::unbounded_channel();
        let (reports_tx, reports) = mpsc::unbounded_channel();
        let (holds_tx, holds) = mpsc::unbounded_channel();
        let dropped = Arc::new(Mutex::new(Vec::new()));
        let (statements_tx, statements) = mpsc::unbounded_channel();
        let executor = TestExecutor {
            clock: clock.clone(),
            launched: launched_tx,
            reports: reports_tx,
            holds: holds_tx,
            dropped: dropped.clone(),
            ledger: Arc::default(),
            statements: statements_tx,
        };
        let e = engine.clone();
        let connect: Connect = Arc::new(move || {
            let s = Arc::new(e.session(NODE)) as Arc<dyn Coordination>;
            Box::pin(async move { Ok(s) })
        });
        let (stop, shutdown) = shutdown::channel();
        let sessions = Sessions::open(connect, &shutdown).await.expect("a session");
        let cursors_path = dir.path().join("cursors.json");
        if let Some(c) = cursors {
            let saved: BTreeMap<&str, Timestamp> =
                tasks.iter().map(|t| (t.id.as_str(), c)).collect();
            std::fs::write(&cursors_path, serde_json::to_vec(&saved).expect("json"))
                .expect("cursors written");
        }
        let parts = Parts {
            cfg: AgentConfig {
                name: NODE.into(),
                cluster: CLUSTER.into(),
                centers: crate::client::Centers::new(&["http://127.0.0.1:9".into()])
                    .expect("a center"),
                token: String::new(),
                http: crate::client::http_client(None).expect("http client"),
                data_dir: dir.path().to_path_buf(),
                address: None,
                labels: BTreeMap::new(),
                capacity,
                launch_ahead,
                drain_timeout: Duration::from_secs(10),
                stream_idle: Duration::from_secs(30),
                log_cap: 1 << 16,
                package_limits: Limits::default(),
                package_cache_max_bytes: crate::DEFAULT_PACKAGE_CACHE_MAX,
                fence_lease: None,
                run_as: Arc::new(crate::users::RunAs::as_agent()),
            },
            sessions: sessions.clone(),
            clock: Arc::new(clock.clone()),
            executor,
            specs,
            specs_dir: dir.path().join("specs"),
            cursors_path,
        };
        std::fs::create_dir_all(dir.path().join("specs")).expect("specs dir");
        if away {
            for t in tasks {
                let path = dir.path().join("specs").join(format!("{}.json", t.id));
                std::fs::write(path, serde_json::to_vec(t).expect("json")).expect("spec cached");
            }
            h_specs.away.store(true, Ordering::Relaxed);
        }
        let (events, events_rx) = mpsc::channel(16);
        let mut h = Harness {
            clock,
            leader,
            specs: h_specs,
            sessions,
            launched,
            reports,
            holds,
            dropped,
            statements,
            events,
            stopper: stop,
            looping: tokio::spawn(async { Ok(()) }),
            _dir: dir,
        };
        h.assign(tasks).await;
        let (mut scheduler, inbox) = Scheduler::new(parts).await;
        h.looping = tokio::spawn(async move { scheduler.run(inbox, events_rx, shutdown).await });
        h
    }

    /// Makes these tasks (at their versions) this node's assignment.
    async fn assign(&self, tasks: &[Task]) {
        let mut a = Assignment::default();
        {
            let mut specs = self.specs.specs.lock().unwrap_or_else(|p| p.into_inner());
            for t in tasks {
                specs.insert(t.id.clone(), t.clone());
                a.tasks.insert(t.id.clone(), t.version);
            }
        }
        self.leader
            .write_assignment(CLUSTER, NODE, &a)
            .await
            .expect("the leader writes the assignment");
    }

    /// Lets the process held for the next instant start, and waits until the loop has taken
    /// it (it went back to sleep until `instant`, the only thing that could wake it).
    async fn hold_for(&mut self, instant: Timestamp) -> String {
        let (run, go) = within("a hold", self.holds.recv())
            .await
            .expect("executor alive");
        within("idle", self.clock.sleeper_at(instant)).await;
        let before = self.clock.sleeps_started();
        let _ = go.send(());
        within(
            "the held process taken",
            self.clock.sleeper_at_since(instant, before),
        )
        .await;
        run
    }

    /// Moves the clock to `to` once the loop sleeps until exactly then.
    async fn reach(&self, to: Timestamp) {
        within(&format!("sleep until {to}"), self.clock.sleeper_at(to)).await;
        self.clock.set(to);
    }

    async fn launch(&mut self) -> Launched {
        within("a launch", self.launched.recv())
            .await
            .expect("the executor is alive")
    }

    async fn report(&mut self) -> RunRecord {
        within("a report", self.reports.recv())
            .await
            .expect("the executor is alive")
    }

    fn no_launch(&mut self) {
        if let Ok(l) = self.launched.try_recv() {
            panic!("unexpected launch of {}", l.run.id);
        }
    }

    async fn last_claimed(&self, task: &Task) -> Option<Timestamp> {
        self.leader
            .last_claimed(std::slice::from_ref(&task.id))
            .await
            .expect("claims readable")
            .get(&task.id)
            .copied()
    }

    async fn stop(self) {
        self.stopper.fire();
        within("shutdown", self.looping)
            .await
            .expect("the loop task ends")
            .expect("the loop ends cleanly");
    }
}

fn scheduled(task: &Task, secs: i64) -> String {
    run_id(&task.id, at(secs), 1, Trigger::Schedule)
}

#[tokio::test]
async fn each_instant_is_claimed_and_launched_once_on_the_clock() {
    let t = task("tick", "@every 10s", serde_json::json!({}));
    let mut h = Harness::start(std::slice::from_ref(&t), 4, Duration::ZERO).await;
    for secs in [10, 20, 30] {
        h.reach(at(secs)).await;
        let l = h.launch().await;
        assert_eq!(l.run.id, scheduled(&t, secs));
        assert_eq!(
            (l.run.status, l.run.started_at),
            (RunStatus::Running, Some(at(secs)))
        );
        let _ = l.finish.send(RunStatus::Succeeded);
        assert_eq!(h.report().await.status, RunStatus::Succeeded);
        assert_eq!(h.last_claimed(&t).await, Some(at(secs)));
    }
    h.no_launch();
    h.stop().await;
}

#[tokio::test]
async fn forbid_skips_an_instant_while_a_run_is_active_and_a_retry_still_runs() {
    let t = task(
        "forbid",
        "@every 10s",
        serde_json::json!({"concurrency": "forbid", "retries": 1, "retry_backoff_ms": 1000}),
    );
    let mut h = Harness::start(std::slice::from_ref(&t), 4, Duration::ZERO).await;
    h.reach(at(10)).await;
    let first = h.launch().await;
    h.reach(at(20)).await;
    let skipped = h.report().await;
    assert_eq!(
        (skipped.id.as_str(), skipped.status),
        (scheduled(&t, 20).as_str(), RunStatus::Skipped)
    );
    assert!(skipped.message.unwrap_or_default().contains(&first.run.id));
    assert_eq!(
        h.last_claimed(&t).await,
        Some(at(20)),
        "the skipped instant is claimed too"
    );
    // A failed attempt's retry is not "another run": it starts after its backoff.
    let _ = first.finish.send(RunStatus::Failed);
    let failed = h.report().await;
    assert_eq!(failed.status, RunStatus::Failed);
    h.events
        .send(retry_request(&t, &failed))
        .await
        .expect("loop alive");
    h.reach(at(21)).await;
    let retry = h.launch().await;
    assert_eq!(retry.run.id, attempt_id(&first.run.id, 2));
    assert_eq!((retry.run.attempt, retry.run.trigger), (2, Trigger::Retry));
    let _ = retry.finish.send(RunStatus::Succeeded);
    h.report().await;
    h.stop().await;
}

#[tokio::test]
async fn replace_stops_the_active_run_and_allow_runs_both() {
    let r = task(
        "replace",
        "@every 10s",
        serde_json::json!({"concurrency": "replace"}),
    );
    let a = task(
        "allow",
        "@every 10s",
        serde_json::json!({"concurrency": "allow"}),
    );
    let mut h = Harness::start(&[r.clone(), a.clone()], 8, Duration::ZERO).await;
    h.reach(at(10)).await;
    let mut first: HashMap<String, Launched> = HashMap::new();
    for _ in 0..2 {
        let l = h.launch().await;
        first.insert(l.run.task.clone(), l);
    }
    h.reach(at(20)).await;
    let mut second: HashMap<String, Launched> = HashMap::new();
    for _ in 0..2 {
        let l = h.launch().await;
        second.insert(l.run.task.clone(), l);
    }
    let killed = h.report().await;
    assert_eq!(
        (killed.id.as_str(), killed.status),
        (scheduled(&r, 10).as_str(), RunStatus::Killed)
    );
    let why = first[&r.id].stop.borrow().clone().map(|s| s.message);
    assert_eq!(why, Some(format!("replaced by run {}", scheduled(&r, 20))));
    assert!(
        first[&a.id].stop.borrow().is_none(),
        "allow leaves the first run alone"
    );
    for (_, l) in first.into_iter().chain(second) {
        let _ = l.finish.send(RunStatus::Succeeded);
    }
    h.stop().await;
}

#[tokio::test]
async fn runs_past_capacity_wait_and_past_the_queue_are_shed() {
    // Capacity 1: one runs, 1,024 wait, the rest of the instant's runs are shed.
    let tasks: Vec<Task> = (0..1027)
        .map(|i| task(&format!("t{i:04}"), "@every 1h", serde_json::json!({})))
        .collect();
    let mut h = Harness::start(&tasks, 1, Duration::ZERO).await;
    h.reach(at(3600)).await;
    let first = h.launch().await;
    let mut shed = Vec::new();
    for _ in 0..2 {
        shed.push(h.report().await);
    }
    assert!(
        shed.iter().all(|r| r.status == RunStatus::Skipped
            && r.message
                .as_deref()
                .is_some_and(|m| m.contains("at capacity"))),
        "{shed:?}"
    );
    h.no_launch();
    // Each finished run lets the next waiting one start.
    let _ = first.finish.send(RunStatus::Succeeded);
    assert_eq!(h.report().await.status, RunStatus::Succeeded);
    let next = h.launch().await;
    assert_ne!(next.run.task, first.run.task);
    h.no_launch();
    let _ = next.finish.send(RunStatus::Succeeded);
    h.report().await;
    h.launch().await;
    // Every instant was claimed once, the shed ones included.
    for t in &tasks {
        assert_eq!(h.last_claimed(t).await, Some(at(3600)), "{}", t.id);
    }
}

#[tokio::test]
async fn a_requested_retry_waits_for_its_backoff_and_runs_once() {
    let t = task(
        "flaky",
        "@every 1h",
        serde_json::json!({"retries": 2, "retry_backoff_ms": 1000}),
    );
    let mut h = Harness::start(std::slice::from_ref(&t), 4, Duration::ZERO).await;
    h.reach(at(3600)).await;
    let l = h.launch().await;
    let _ = l.finish.send(RunStatus::Failed);
    let failed = h.report().await;
    assert_eq!(failed.status, RunStatus::Failed);
    // The agent does not retry on its own: the center requests the next attempt, due a
    // backoff after the attempt finished; the loop sleeps until then and launches it.
    h.no_launch();
    let request = retry_request(&t, &failed);
    h.events.send(request).await.expect("loop alive");
    h.reach(at(3601)).await;
    let l = h.launch().await;
    assert_eq!(
        (l.run.attempt, l.run.trigger, l.run.scheduled_at),
        (2, Trigger::Retry, at(3600))
    );
    let _ = l.finish.send(RunStatus::Failed);
    let failed = h.report().await;
    // The next one waits for its doubled backoff, and a redelivery runs nothing twice.
    let request = retry_request(&t, &failed);
    h.events.send(request.clone()).await.expect("loop alive");
    h.events.send(request).await.expect("loop alive");
    h.reach(at(3603)).await;
    let l = h.launch().await;
    assert_eq!(l.run.attempt, 3);
    let _ = l.finish.send(RunStatus::Failed);
    assert!(
        h.report().await.retry(&t.spec, NODE).is_none(),
        "retries ran out"
    );
    h.reach(at(7200)).await;
    assert_eq!(h.launch().await.run.id, scheduled(&t, 7200));
    h.no_launch();
}

/// The request the center makes for the retry `failed` earns.
fn retry_request(t: &Task, failed: &RunRecord) -> Event {
    Event::RunRequested {
        task: t.id.clone(),
        node: NODE.into(),
        task_version: t.version,
        run: Box::new(failed.retry(&t.spec, NODE).expect("a retry is due")),
    }
}

#[tokio::test]
async fn after_downtime_run_once_catches_up_the_latest_instant_and_skip_only_records() {
    let once = task(
        "once",
        "@every 10s",
        serde_json::json!({"misfire": "run_once", "misfire_grace_ms": 60000}),
    );
    let skip = task("skip", "@every 10s", serde_json::json!({"misfire": "skip"}));
    // The agent was down from t0 (its saved cursors) to t0 + 35 s.
    let mut h = Harness::start_at(
        &[once.clone(), skip.clone()],
        4,
        Duration::ZERO,
        at(35),
        Some(t0()),
    )
    .await;
    // Its first tick happens at once; wait for everything it decided.
    let caught = h.launch().await;
    assert_eq!(
        (caught.run.id.as_str(), caught.run.trigger),
        (
            run_id(&once.id, at(30), 1, Trigger::CatchUp).as_str(),
            Trigger::CatchUp
        )
    );
    let mut missed: Vec<(String, Timestamp)> = Vec::new();
    for _ in 0..5 {
        let r = h.report().await;
        assert_eq!(r.status, RunStatus::Missed, "{r:?}");
        missed.push((r.task.clone(), r.scheduled_at));
    }
    missed.sort();
    let want: Vec<(String, Timestamp)> = [
        (&once, 10),
        (&once, 20),
        (&skip, 10),
        (&skip, 20),
        (&skip, 30),
    ]
    .iter()
    .map(|(t, s)| (t.id.clone(), at(*s)))
    .collect();
    assert_eq!(missed, want);
    h.no_launch();
    let _ = caught.finish.send(RunStatus::Succeeded);
    h.report().await;
    // And then both are back on their schedule.
    h.reach(at(40)).await;
    h.launch().await;
    h.launch().await;
}

#[tokio::test]
async fn a_held_process_is_dropped_when_its_task_changes_and_used_when_it_does_not() {
    let t = task("ahead", "@every 10s", serde_json::json!({}));
    let mut h = Harness::start(std::slice::from_ref(&t), 4, Duration::from_millis(500)).await;
    // 500 ms before the instant the process is started and held…
    h.reach(at(10) - SignedDuration::from_millis(500)).await;
    assert_eq!(h.hold_for(at(10)).await, scheduled(&t, 10));
    // …and released at it.
    h.reach(at(10)).await;
    let l = h.launch().await;
    assert!(l.held, "the run used its held process");
    let _ = l.finish.send(RunStatus::Succeeded);
    h.report().await;
    // An edit between hold and instant makes the held process useless: it is dropped
    // unreleased, and the run spawns fresh for the new version.
    h.reach(at(20) - SignedDuration::from_millis(500)).await;
    let held = h.hold_for(at(20)).await;
    let mut v2 = t.clone();
    v2.version = 2;
    v2.spec.command = "echo v2".into();
    h.assign(std::slice::from_ref(&v2)).await;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !h
        .dropped
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains(&held)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the held process was never dropped"
        );
        tokio::task::yield_now().await;
    }
    // The edit re-bases the schedule at the edit's instant: the next instant is at 20 s.
    h.reach(at(20)).await;
    let l = h.launch().await;
    assert_eq!(l.run.id, scheduled(&t, 20));
    assert!(!l.held);
    let _ = l.finish.send(RunStatus::Succeeded);
    h.report().await;
    h.stop().await;
}

#[tokio::test]
async fn a_manual_run_is_claimed_by_its_id_and_forbid_refuses_it_while_a_run_is_active() {
    let t = task(
        "manual",
        "@every 1h",
        serde_json::json!({"concurrency": "forbid"}),
    );
    let mut h = Harness::start(std::slice::from_ref(&t), 4, Duration::ZERO).await;
    h.reach(at(3600)).await;
    let scheduled_run = h.launch().await;
    let manual = RunRecord {
        id: format!("{}-m1x1-1", t.id),
        trigger: Trigger::Manual,
        scheduled_at: at(3600),
        ..scheduled_run.run.clone()
    };
    let request = Event::RunRequested {
        task: t.id.clone(),
        node: NODE.into(),
        task_version: 1,
        run: Box::new(manual.clone()),
    };
    h.events.send(request.clone()).await.expect("loop alive");
    let refused = h.report().await;
    assert_eq!(
        (refused.id.as_str(), refused.status),
        (manual.id.as_str(), RunStatus::Skipped)
    );
    let _ = scheduled_run.finish.send(RunStatus::Succeeded);
    h.report().await;
    // The same request again (a redelivery): its id is claimed already, so nothing runs.
    h.events.send(request).await.expect("loop alive");
    let other = RunRecord {
        id: format!("{}-m2x2-1", t.id),
        ..manual
    };
    h.events
        .send(Event::RunRequested {
            task: t.id.clone(),
            node: NODE.into(),
            task_version: 1,
            run: Box::new(other.clone()),
        })
        .await
        .expect("loop alive");
    let l = h.launch().await;
    assert_eq!(l.run.id, other.id, "only the new request runs");
    let _ = l.finish.send(RunStatus::Succeeded);
    h.report().await;
    h.no_launch();
    h.stop().await;
}

#[tokio::test]
async fn a_request_for_a_task_the_node_does_not_own_is_left_to_the_center() {
    let t = task("mine", "@yearly", serde_json::json!({}));
    let mut h = Harness::start(std::slice::from_ref(&t), 4, Duration::ZERO).await;
    let request = |task: &Task, id: String| Event::RunRequested {
        task: task.id.clone(),
        node: NODE.into(),
        task_version: 1,
        run: Box::new(RunRecord {
            trigger: Trigger::Manual,
            ..RunRecord::scheduled(task, id, at(5), NODE, 1, Trigger::Manual)
        }),
    };
    // A task that moved to another node: its request is not run, and not ended either (a
    // `skipped` from here would end the run the center moves to the task's new node).
    let moved = task("moved", "@yearly", serde_json::json!({}));
    h.events
        .send(request(&moved, format!("{}-m5x1-1", moved.id)))
        .await
        .expect("loop alive");
    let mine = format!("{}-m5x2-1", t.id);
    h.events
        .send(request(&t, mine.clone()))
        .await
        .expect("loop alive");
    let l = h.launch().await;
    assert_eq!(l.run.id, mine);
    let _ = l.finish.send(RunStatus::Succeeded);
    let report = h.report().await;
    assert_eq!(
        (report.id.as_str(), report.status),
        (mine.as_str(), RunStatus::Succeeded),
        "the first report is the owned task's: nothing was said of the other"
    );
    h.no_launch();
    h.stop().await;
}

#[tokio::test]
async fn after_a_session_loss_running_runs_go_on_and_nothing_fires_twice() {
    let t = task(
        "steady",
        "@every 10s",
        serde_json::json!({"concurrency": "allow"}),
    );
    let mut h = Harness::start(std::slice::from_ref(&t), 4, Duration::ZERO).await;
    h.reach(at(10)).await;
    let running = h.launch().await;
    // The session ends (the node was cut off past its timeout); the loop joins again.
    let mut changes = h.leader.changes();
    h.sessions.current().close().await.expect("close");
    within("the node joins again", async {
        loop {
            if let Ok(Change::Members { .. }) = changes.recv().await
                && h.leader
                    .members(CLUSTER)
                    .await
                    .expect("members")
                    .iter()
                    .any(|m| m.name == NODE)
            {
                break;
            }
        }
    })
    .await;
    // The run under way was not stopped, and the instant it ran for is not run again.
    assert!(running.stop.borrow().is_none());
    h.reach(at(20)).await;
    let next = h.launch().await;
    assert_eq!(next.run.id, scheduled(&t, 20));
    h.no_launch();
    assert_eq!(h.last_claimed(&t).await, Some(at(20)));
    for l in [running, next] {
        let _ = l.finish.send(RunStatus::Succeeded);
        assert_eq!(h.report().await.status, RunStatus::Succeeded);
    }
    h.stop().await;
}

#[tokio::test]
async fn shutdown_drains_running_runs_then_kills_them_as_shutdown() {
    let t = task("long", "@every 1h", serde_json::json!({}));
    let mut h = Harness::start(std::slice::from_ref(&t), 4, Duration::ZERO).await;
    h.reach(at(3600)).await;
    let l = h.launch().await;
    h.stopper.fire();
    // The drain waits 10 s of the loop's clock for the run, then stops it.
    h.reach(at(3610)).await;
    let why = within("the stop", async {
        let mut stop = l.stop.clone();
        let _ = stop.wait_for(|s| s.is_some()).await;
        stop.borrow().clone().map(|s| s.message)
    })
    .await;
    assert_eq!(why.as_deref(), Some("shutdown"));
    assert_eq!(h.report().await.status, RunStatus::Killed);
    within("the loop to end", h.looping)
        .await
        .expect("joined")
        .expect("clean");
}

#[tokio::test]
async fn the_node_states_the_runs_it_has_active_until_their_final_report_is_on_disk() {
    let t = task("long", "@every 60s", serde_json::json!({}));
    let mut h = Harness::start(std::slice::from_ref(&t), 4, Duration::ZERO).await;
    async fn stated_at(h: &mut Harness, when: Timestamp) -> Vec<String> {
        loop {
            let s = within("a statement", h.statements.recv())
                .await
                .expect("the executor is alive");
            assert_eq!(s.node, NODE);
            if s.taken_at == when {
                return s.runs;
            }
        }
    }
    h.reach(at(10)).await;
    assert!(stated_at(&mut h, at(10)).await.is_empty());
    h.reach(at(60)).await;
    let l = h.launch().await;
    h.reach(at(70)).await;
    assert_eq!(
        stated_at(&mut h, at(70)).await,
        std::slice::from_ref(&l.run.id)
    );
    let _ = l.finish.send(RunStatus::Succeeded);
    assert_eq!(h.report().await.status, RunStatus::Succeeded);
    // The statement at 80 may come before or after the loop takes the run's end (both are
    // due); by the next one the run is gone from it.
    h.reach(at(80)).await;
    let _ = stated_at(&mut h, at(80)).await;
    h.reach(at(90)).await;
    assert!(
        stated_at(&mut h, at(90)).await.is_empty(),
        "a run whose final report is on disk is no longer active"
    );
    h.stop().await;
}

#[tokio::test]
async fn restarted_with_the_center_away_it_fires_from_cached_specs_without_waiting_on_each() {
    let tasks: Vec<Task> = (0..50)
        .map(|i| task(&format!("t{i}"), "@every 10s", serde_json::json!({})))
        .collect();
    let mut h = Harness::start_with(&tasks, 64, Duration::ZERO, t0(), None, true).await;
    // Once the center failed a fetch, the rest came from the disk: one round of asking, not
    // one timeout per task.
    within("idle", h.clock.sleeper_at(at(10))).await;
    let asked = h.specs.asked.load(Ordering::Relaxed);
    assert!(
        asked <= super::owned::SPEC_FETCHES as u64,
        "asked the center {asked} times for 50 tasks"
    );
    h.clock.set(at(10));
    let mut fired = std::collections::HashSet::new();
    for _ in 0..tasks.len() {
        fired.insert(h.launch().await.run.task);
    }
    assert_eq!(
        fired.len(),
        tasks.len(),
        "every task fires from its cached spec"
    );
    h.stop().await;
}
