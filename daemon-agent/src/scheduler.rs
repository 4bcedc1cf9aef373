//! The agent's run loop: it owns the timers of the tasks assigned to this node and wakes for
//! the earliest of: a due instant or retry, an assignment change, a command from the center
//! (run now, stop), a finished run, or shutdown.
//!
//! Each tick claims every due (task, instant) in one batch, fenced by this node's assignment
//! version, and launches only what it claimed: an instant runs at most once, cluster-wide and
//! across restarts. The last instant examined per task (its *cursor*) is kept on disk, so after
//! a restart the instants missed meanwhile follow the task's misfire policy.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cloudtask_shared::api::{Event, RunReport};
use cloudtask_shared::backoff::Backoff;
use cloudtask_shared::coord::{self, Change, ClaimKey, ClaimOutcome, Coordination, Sessions};
use cloudtask_shared::shutdown::Shutdown;
use cloudtask_shared::{
    Concurrency, NodeInfo, RunRecord, RunStatus, Task, Trigger, attempt_id, run_id,
};
use jiff::{SignedDuration, Timestamp};
use tokio::sync::{broadcast, mpsc, watch};

use crate::client::CenterClient;
use crate::exec::{Held, StopRequest};
use crate::package::PackageCache;
use crate::plan::{Fate, plan};
use crate::runner::{self, RunContext};
use crate::spool::{Ledger, Spool, SpoolWriter, write_atomic};
use cloudtask_daemon_kit::archive::Limits;

/// A run ready to start: its task, its record, and the receiving end of its stop channel.
type Launch = (Task, RunRecord, watch::Receiver<Option<StopRequest>>);

/// How often schedule cursors go to disk (and at shutdown).
const CURSOR_SAVE_EVERY: Duration = Duration::from_secs(5);

/// Claims kept per task: enough to cover retries and late reports, small enough to bound the store.
const CLAIMS_KEPT: usize = 256;

/// Everything an agent needs to know about itself.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub name: String,
    pub cluster: String,
    pub center_url: String,
    pub token: String,
    pub data_dir: PathBuf,
    /// Base URL of this agent's own API, when it serves one.
    pub address: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub capacity: u32,
    /// How long before its instant a run's process is started and held (zero: never).
    pub launch_ahead: Duration,
    /// At shutdown: how long running runs may go on before they are killed (`shutdown`).
    pub drain_timeout: Duration,
    /// Bytes of output kept per run (head and tail).
    pub log_cap: usize,
    pub package_limits: Limits,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("agent data directory {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Coord(#[from] coord::Error),
}

/// A task this node owns. Parsed schedules are not kept: a parsed cron expression holds KiBs,
/// and a node may own tens of thousands of tasks that fire rarely; they are parsed again (and
/// shared between tasks with the same expression) when the task's timer comes due.
struct Owned {
    task: Task,
    /// Instants up to here are handled (fired, skipped or missed).
    cursor: Timestamp,
    next: Option<Timestamp>,
}

type Stop = watch::Sender<Option<StopRequest>>;

/// A process started ahead for a scheduled run; `held` is empty while it is being spawned.
struct HeldSlot {
    task: String,
    /// The task version it was started for: an edit in between makes it useless.
    version: u64,
    at: Timestamp,
    held: Option<Held>,
}

/// What a holding task sends back: the run id and its held process.
type HeldResult = (String, Result<Held, String>);

/// Runs in flight, by run and by task: a tick asks "is this task running?" for every due
/// instant, so that answer must not scan every active run.
#[derive(Default)]
struct ActiveRuns {
    by_run: HashMap<String, (String, Stop)>,
    by_task: HashMap<String, BTreeSet<String>>,
}

impl ActiveRuns {
    fn insert(&mut self, task: &str, run: &str, stop: Stop) {
        self.by_run
            .insert(run.to_string(), (task.to_string(), stop));
        self.by_task
            .entry(task.to_string())
            .or_default()
            .insert(run.to_string());
    }

    fn remove(&mut self, run: &str) {
        if let Some((task, _)) = self.by_run.remove(run)
            && let Some(runs) = self.by_task.get_mut(&task)
        {
            runs.remove(run);
            if runs.is_empty() {
                self.by_task.remove(&task);
            }
        }
    }

    /// The task's active runs: (run id, stop handle).
    fn of_task<'a>(&'a self, task: &str) -> impl Iterator<Item = (&'a String, &'a Stop)> + 'a {
        self.by_task
            .get(task)
            .into_iter()
            .flatten()
            .filter_map(|run| self.by_run.get(run).map(|(_, stop)| (run, stop)))
    }

    fn stops(&self) -> impl Iterator<Item = &Stop> {
        self.by_run.values().map(|(_, stop)| stop)
    }

    fn len(&self) -> usize {
        self.by_run.len()
    }

    fn is_empty(&self) -> bool {
        self.by_run.is_empty()
    }
}

/// Why a launch is wanted: a scheduled instant, a retry, or an operator's "run now".
enum Want {
    Planned {
        task: String,
        at: Timestamp,
        fate: Fate,
    },
    /// The next attempt's record, made from the failed one (its id, parameters, arguments).
    Retry {
        run: RunRecord,
    },
    Manual {
        run: RunRecord,
    },
}

impl Want {
    fn task(&self) -> &str {
        match self {
            Want::Planned { task, .. } => task,
            Want::Retry { run } | Want::Manual { run } => &run.task,
        }
    }

    fn key(&self) -> ClaimKey {
        let run = match self {
            Want::Planned { task, at, .. } => run_id(task, *at, 1, Trigger::Schedule),
            Want::Retry { run } | Want::Manual { run } => run.id.clone(),
        };
        ClaimKey {
            task: self.task().to_string(),
            run,
        }
    }
}

/// Runs the agent until `shutdown` turns true. When the coordination session ends (expiry:
/// the node was cut off or frozen past its timeout) the agent drops every task at once,
/// launches nothing more, lets its running runs finish and report, and joins again with a
/// fresh session; the leader then gives it tasks as it would a new node.
pub async fn run(cfg: AgentConfig, sessions: Sessions, shutdown: Shutdown) -> Result<(), Error> {
    let coord = sessions.current();
    let io = |path: &PathBuf| {
        let path = path.display().to_string();
        move |source| Error::Io { path, source }
    };
    let spool_dir = cfg.data_dir.join("spool");
    let spool = Arc::new(
        Spool::open(spool_dir.clone())
            .await
            .map_err(io(&spool_dir))?,
    );
    let lost = spool.recover_lost().await.map_err(io(&spool_dir))?;
    if lost > 0 {
        tracing::warn!(
            lost,
            "runs active when the agent last stopped are reported lost"
        );
    }
    let client = CenterClient::new(&cfg.center_url, &cfg.token);
    let specs_dir = cfg.data_dir.join("specs");
    tokio::fs::create_dir_all(&specs_dir)
        .await
        .map_err(io(&specs_dir))?;

    {
        let (spool, client, shutdown) = (spool.clone(), client.clone(), shutdown.clone());
        tokio::spawn(async move { spool.deliver(client, shutdown).await });
    }
    let (event_tx, event_rx) = mpsc::channel(256);
    tokio::spawn(follow_events(
        client.clone(),
        cfg.name.clone(),
        event_tx,
        shutdown.clone(),
    ));

    let changes = coord.changes();
    let me = NodeInfo {
        name: cfg.name.clone(),
        cluster: cfg.cluster.clone(),
        address: cfg.address.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        os: std::env::consts::OS.to_string(),
        labels: cfg.labels.clone(),
        capacity: cfg.capacity,
        started_at: Timestamp::now(),
        tzdata: crate::tzdata::version(),
    };
    coord.join(&me).await?;
    tracing::info!(node = %cfg.name, cluster = %cfg.cluster, "agent joined");

    let cursors_path = cfg.data_dir.join("cursors.json");
    let cursors: BTreeMap<String, Timestamp> = match tokio::fs::read(&cursors_path).await {
        Ok(b) => serde_json::from_slice(&b).unwrap_or_default(),
        Err(_) => BTreeMap::new(),
    };
    let (done_tx, done_rx) = mpsc::channel(1024);
    let (held_tx, held_rx) = mpsc::channel(1024);
    let ctx = RunContext {
        node: cfg.name.clone(),
        client: client.clone(),
        packages: PackageCache::new(cfg.data_dir.join("packages"), cfg.package_limits),
        writer: SpoolWriter::start(spool.clone()),
        work_dir: cfg.data_dir.join("work"),
        log_cap: cfg.log_cap,
        live: runner::start_output_forwarder(client.clone()),
        inherited_env: runner::inherited_env(),
    };
    let mut s = Scheduler {
        cfg,
        me,
        sessions,
        coord,
        claimed_since_gc: HashSet::new(),
        ctx,
        client,
        specs_dir,
        cursors_path,
        cursors_saved: tokio::time::Instant::now(),
        owned: HashMap::new(),
        assignment_version: None,
        timers: BTreeSet::new(),
        active: ActiveRuns::default(),
        retries: BTreeMap::new(),
        waiting: VecDeque::new(),
        started: 0,
        saved_cursors: cursors,
        stale: HashSet::new(),
        done_tx,
        held: HashMap::new(),
        held_upto: Timestamp::now(),
        held_tx,
        spool,
        ledger: Ledger::default(),
    };
    s.reconcile().await;
    s.run(changes, event_rx, done_rx, held_rx, shutdown).await
}

struct Scheduler {
    cfg: AgentConfig,
    /// What this node registers as, again after a new session.
    me: NodeInfo,
    sessions: Sessions,
    coord: Arc<dyn Coordination>,
    /// Tasks claimed since claims were last pruned: only they can have grown past the bound.
    claimed_since_gc: HashSet<String>,
    ctx: RunContext,
    client: CenterClient,
    specs_dir: PathBuf,
    cursors_path: PathBuf,
    cursors_saved: tokio::time::Instant,
    owned: HashMap<String, Owned>,
    assignment_version: Option<u64>,
    timers: BTreeSet<(Timestamp, String)>,
    active: ActiveRuns,
    /// (due, task, scheduled instant, attempt)
    /// Attempts due again, by (due, run id): each the next attempt's record.
    retries: BTreeMap<(Timestamp, String), RunRecord>,
    /// Claimed runs waiting for a free slot (at most `capacity` run at once).
    waiting: VecDeque<Launch>,
    /// Runs whose process side is under way.
    started: usize,
    /// Cursors from disk, used when a task is first installed after a restart.
    saved_cursors: BTreeMap<String, Timestamp>,
    /// Tasks whose current spec could not be fetched yet.
    stale: HashSet<String>,
    done_tx: mpsc::Sender<(RunRecord, bool)>,
    /// Processes started ahead of their instant, by run id (see `hold_ahead`).
    held: HashMap<String, HeldSlot>,
    /// Timers up to this instant have been considered for holding.
    held_upto: Timestamp,
    held_tx: mpsc::Sender<HeldResult>,
    spool: Arc<Spool>,
    ledger: Ledger,
}

fn until(at: Timestamp) -> tokio::time::Instant {
    let wait = at.duration_since(Timestamp::now());
    let wait = Duration::try_from(wait).unwrap_or(Duration::ZERO);
    tokio::time::Instant::now() + wait
}

async fn sleep_until_opt(at: Option<Timestamp>) {
    match at {
        Some(t) => tokio::time::sleep_until(until(t)).await,
        None => std::future::pending().await,
    }
}

impl Scheduler {
    async fn run(
        &mut self,
        mut changes: broadcast::Receiver<Change>,
        mut events: mpsc::Receiver<Event>,
        mut done: mpsc::Receiver<(RunRecord, bool)>,
        mut held: mpsc::Receiver<HeldResult>,
        shutdown: Shutdown,
    ) -> Result<(), Error> {
        let mut gc = tokio::time::interval(Duration::from_secs(60));
        let mut resync = tokio::time::interval(Duration::from_secs(5));
        loop {
            let wake = self
                .timers
                .first()
                .map(|(t, _)| *t)
                .into_iter()
                .chain(self.retries.first_key_value().map(|((at, _), _)| *at))
                .min();
            let hold_at = self.next_hold_at();
            tokio::select! {
                () = sleep_until_opt(wake) => self.tick(Timestamp::now()).await,
                () = sleep_until_opt(hold_at) => {
                    let upto = self.held_upto;
                    self.hold_ahead(Timestamp::now(), upto);
                }
                Some((run, result)) = held.recv() => self.on_held(run, result),
                change = changes.recv() => match change {
                    Ok(Change::Assignment { cluster, node }) if cluster == self.cfg.cluster && node == self.cfg.name => self.reconcile().await,
                    Ok(Change::SessionLost) | Err(broadcast::error::RecvError::Closed) => {
                        match self.rejoin(&shutdown).await {
                            Some(fresh) => changes = fresh,
                            None => continue,
                        }
                    }
                    Ok(Change::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => self.reconcile().await,
                    Ok(_) => {}
                },
                Some(ev) = events.recv() => self.on_event(ev).await,
                Some(rec) = done.recv() => self.on_done(rec),
                _ = resync.tick(), if !self.stale.is_empty() => self.reconcile().await,
                _ = gc.tick() => self.prune_claims().await,
                () = shutdown.wait() => {
                    self.drain(&mut done).await;
                    return Ok(());
                }
            }
        }
    }

    /// Shutdown: claims nothing more; runs waiting for a slot are `skipped`; running runs get
    /// up to `drain_timeout` to end, then are killed (`killed`, "shutdown" — never `lost`, which
    /// would retry them elsewhere while they might still run); last, the spool is delivered.
    async fn drain(&mut self, done: &mut mpsc::Receiver<(RunRecord, bool)>) {
        self.save_cursors().await;
        // Runs still waiting for a slot never start: say so (their ledger entry
        // stays, so a crash before delivery still reports them).
        while let Some((_, mut run, _)) = self.waiting.pop_front() {
            self.active.remove(&run.id);
            run.status = RunStatus::Skipped;
            run.finished_at = Some(Timestamp::now());
            run.message = Some("the agent shut down before the run could start".into());
            self.report(run).await;
        }
        self.held.clear();
        let drained = tokio::time::Instant::now() + self.cfg.drain_timeout;
        while !self.active.is_empty() {
            match tokio::time::timeout_at(drained, done.recv()).await {
                Ok(Some(d)) => self.on_done(d),
                _ => break,
            }
        }
        if !self.active.is_empty() {
            tracing::warn!(
                runs = self.active.len(),
                "drain timeout: killing the runs still going"
            );
            for stop in self.active.stops() {
                let _ = stop.send(Some(StopRequest {
                    message: "shutdown".into(),
                }));
            }
            // Their kill grace, then their final reports.
            let killed = tokio::time::Instant::now() + Duration::from_secs(30);
            while !self.active.is_empty() {
                match tokio::time::timeout_at(killed, done.recv()).await {
                    Ok(Some(d)) => self.on_done(d),
                    _ => break,
                }
            }
        }
        match tokio::time::timeout(Duration::from_secs(5), self.spool.flush(&self.client)).await {
            Ok(Ok(())) => tracing::info!("spool delivered"),
            Ok(Err(e)) => tracing::warn!(error = %e, "spool kept for the next start"),
            Err(_) => {
                tracing::warn!("the center did not take the spool in time; kept for the next start")
            }
        }
    }

    /// After the session ended: forget every task (another node may own it now), keep running
    /// runs to their end, and join again with a fresh session. `None` at shutdown.
    async fn rejoin(&mut self, shutdown: &Shutdown) -> Option<broadcast::Receiver<Change>> {
        tracing::warn!(
            running = self.active.len(),
            "coordination session lost: this node launches nothing until it has joined again"
        );
        self.save_cursors().await;
        for (id, o) in self.owned.drain() {
            self.saved_cursors.insert(id, o.cursor);
        }
        self.timers.clear();
        self.retries.clear();
        self.stale.clear();
        self.held.clear();
        self.assignment_version = None;
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
        loop {
            let fresh = match self.sessions.renew(&self.coord, shutdown).await {
                Ok(c) => c,
                Err(_) => return None,
            };
            self.coord = fresh;
            let changes = self.coord.changes();
            match self.coord.join(&self.me).await {
                Ok(()) => {
                    tracing::info!(node = %self.cfg.name, "joined again with a new session");
                    self.reconcile().await;
                    return Some(changes);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot join with the new session; retrying");
                    tokio::time::sleep(backoff.next_delay()).await;
                }
            }
        }
    }

    /// Re-reads this node's assignment and brings owned tasks in line with it.
    async fn reconcile(&mut self) {
        let assignment = match self
            .coord
            .read_assignment(&self.cfg.cluster, &self.cfg.name)
            .await
        {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read assignment");
                return;
            }
        };
        self.assignment_version = assignment.as_ref().map(|a| a.version);
        let wanted = assignment.map(|a| a.value.tasks).unwrap_or_default();
        let gone: Vec<String> = self
            .owned
            .keys()
            .filter(|id| !wanted.contains_key(*id))
            .cloned()
            .collect();
        for id in gone {
            self.drop_held(&id);
            if let Some(o) = self.owned.remove(&id) {
                tracing::info!(task = %o.task.spec.name, "task moved away from this node");
                if let Some(n) = o.next {
                    self.timers.remove(&(n, id.clone()));
                }
            }
            self.stale.remove(&id);
        }
        self.retries.retain(|_, r| wanted.contains_key(&r.task));
        // A task new to this node picks up where its last owner left off (its latest claimed
        // instant), so instants missed in between follow the misfire policy.
        let arriving: Vec<String> = wanted
            .keys()
            .filter(|id| !self.owned.contains_key(*id))
            .cloned()
            .collect();
        if !arriving.is_empty() {
            match self.coord.last_claimed(&arriving).await {
                Ok(last) => {
                    for (id, at) in last {
                        let c = self.saved_cursors.entry(id).or_insert(at);
                        *c = (*c).max(at);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read where arriving tasks left off"),
            }
        }
        for (id, version) in wanted {
            if self
                .owned
                .get(&id)
                .is_some_and(|o| o.task.version == version)
            {
                self.stale.remove(&id);
                continue;
            }
            match self.fetch_spec(&id, version).await {
                Some(task) => self.install(task),
                None => tracing::warn!(task = %id, "no spec for assigned task yet; retrying"),
            }
        }
    }

    /// The task's spec: from the center, else the copy on disk (so tasks keep firing while the
    /// center is away). Marks the task stale unless the exact version was found.
    async fn fetch_spec(&mut self, id: &str, version: u64) -> Option<Task> {
        let path = self.specs_dir.join(format!("{id}.json"));
        match self.client.task(id).await {
            Ok(view) => {
                if let Ok(bytes) = serde_json::to_vec(&view.task)
                    && let Err(e) = write_atomic(&path, &bytes).await
                {
                    tracing::warn!(error = %e, "cannot cache task spec");
                }
                if view.task.version >= version {
                    self.stale.remove(id);
                } else {
                    self.stale.insert(id.to_string());
                }
                return Some(view.task);
            }
            Err(e) if e.is_not_found() => {
                self.stale.remove(id);
                return None;
            }
            Err(e) => {
                tracing::debug!(task = %id, error = %e, "center unavailable; using cached spec")
            }
        }
        self.stale.insert(id.to_string());
        let bytes = tokio::fs::read(&path).await.ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn install(&mut self, task: Task) {
        let schedules = match task.spec.validate() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(task = %task.spec.name, error = %e, "assigned task does not validate");
                return;
            }
        };
        let now = Timestamp::now();
        let id = task.id.clone();
        let cursor = match self.owned.remove(&id) {
            // An edit or a resume re-bases the schedule at now: nothing to catch up.
            Some(old) => {
                self.drop_held(&id);
                if let Some(n) = old.next {
                    self.timers.remove(&(n, id.clone()));
                }
                now
            }
            None => self
                .saved_cursors
                .get(&id)
                .copied()
                .filter(|c| *c <= now)
                .unwrap_or(now),
        };
        let cursor = if task.spec.paused { now } else { cursor };
        let next = if task.spec.paused {
            None
        } else {
            schedules.next_after(cursor)
        };
        if let Some(n) = next {
            self.timers.insert((n, id.clone()));
        }
        tracing::info!(task = %task.spec.name, version = task.version, paused = task.spec.paused, "task installed");
        self.owned.insert(id, Owned { task, cursor, next });
    }

    async fn tick(&mut self, now: Timestamp) {
        let mut wants = Vec::new();
        while let Some((at, id)) = self.timers.first().cloned() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            let Some(o) = self.owned.get_mut(&id) else {
                continue;
            };
            // Validated when installed; a failure here would mean the zone database changed.
            let schedules = match o.task.spec.validate() {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(task = %o.task.spec.name, error = %e, "task no longer validates; not firing");
                    continue;
                }
            };
            let p = plan(
                &schedules,
                o.cursor,
                now,
                o.task.spec.misfire,
                SignedDuration::from_millis(o.task.spec.misfire_grace_ms as i64),
            );
            if p.uncounted {
                tracing::warn!(task = %o.task.spec.name, "more missed instants than can be recorded; only the latest are");
            }
            if let Some(last) = p.due.last() {
                o.cursor = last.at;
            }
            o.next = p.next;
            if let Some(n) = p.next {
                self.timers.insert((n, id.clone()));
            }
            wants.extend(p.due.into_iter().map(|d| Want::Planned {
                task: id.clone(),
                at: d.at,
                fate: d.fate,
            }));
        }
        while self
            .retries
            .first_key_value()
            .is_some_and(|((at, _), _)| *at <= now)
        {
            if let Some((_, run)) = self.retries.pop_first() {
                wants.push(Want::Retry { run });
            }
        }
        if !wants.is_empty() {
            self.claim_and_act(wants).await;
            // Rewriting every cursor each tick is wasted I/O at high fire rates. Losing the last
            // few seconds of cursors in a crash is harmless: those instants were claimed, so
            // after a restart they come back `Taken` and are neither run nor recorded again.
            if self.cursors_saved.elapsed() >= CURSOR_SAVE_EVERY {
                self.save_cursors().await;
            }
        }
        // Held processes whose instant has passed without their run starting (skipped, taken
        // elsewhere, paused, moved) are of no use any more; dropping one kills it.
        let active = &self.active;
        self.held
            .retain(|run, slot| slot.at > now || active.by_run.contains_key(run));
        // Timers this tick set may already be within reach (a period shorter than the lead).
        self.hold_ahead(now, now);
    }

    /// Kills the processes held for a task that changed or left this node.
    fn drop_held(&mut self, task: &str) {
        self.held.retain(|_, slot| slot.task != task);
    }

    /// When to start the processes of the next instant not yet considered for holding.
    fn next_hold_at(&self) -> Option<Timestamp> {
        if self.cfg.launch_ahead.is_zero() {
            return None;
        }
        let from = self
            .held_upto
            .checked_add(SignedDuration::from_nanos(1))
            .ok()?;
        let (at, _) = self.timers.range((from, String::new())..).next()?;
        at.checked_sub(self.cfg.launch_ahead).ok()
    }

    /// Starts and holds the processes of scheduled runs due within `launch_ahead`, so that at
    /// their instant they are released instead of spawned: a burst of runs on the same second
    /// then starts within milliseconds instead of queueing behind each other's spawns. Runs are
    /// still claimed and decided (concurrency policy, capacity) at their instant; a held
    /// process that ends up unused is killed before it ran anything.
    fn hold_ahead(&mut self, now: Timestamp, after: Timestamp) {
        if self.cfg.launch_ahead.is_zero() {
            return;
        }
        let Ok(horizon) = now.checked_add(self.cfg.launch_ahead) else {
            return;
        };
        self.held_upto = self.held_upto.max(horizon);
        // A node with a backlog spends its spawns on runs already due; processes held for
        // instants it will likely have to skip would be wasted work.
        if !self.waiting.is_empty() || self.started >= self.capacity() {
            return;
        }
        let Ok(from) = after.checked_add(SignedDuration::from_nanos(1)) else {
            return;
        };
        let due: Vec<(Timestamp, String)> = self
            .timers
            .range((from, String::new())..)
            .take_while(|(at, _)| *at <= horizon)
            .cloned()
            .collect();
        for (at, id) in due {
            if self.held.len() >= self.capacity() {
                break;
            }
            let Some(o) = self.owned.get(&id) else {
                continue;
            };
            if o.task.spec.paused {
                continue;
            }
            let run = self.record(&o.task, at, 1, Trigger::Schedule);
            if self.held.contains_key(&run.id) {
                continue;
            }
            let (task, ctx, tx) = (o.task.clone(), self.ctx.clone(), self.held_tx.clone());
            self.held.insert(
                run.id.clone(),
                HeldSlot {
                    task: task.id.clone(),
                    version: task.version,
                    at,
                    held: None,
                },
            );
            tokio::spawn(async move {
                let result = runner::hold(&ctx, &task, &run).await;
                let _ = tx.send((run.id, result)).await;
            });
        }
    }

    /// A held process is ready, or could not be started (the run will try again at its
    /// instant, and report the error then if it persists).
    fn on_held(&mut self, run: String, result: Result<Held, String>) {
        match (self.held.get_mut(&run), result) {
            (Some(slot), Ok(held)) => slot.held = Some(held),
            (Some(_), Err(e)) => {
                tracing::debug!(%run, error = %e, "could not start the run's process ahead");
                self.held.remove(&run);
            }
            // Its run started without it, or its instant passed: dropping it kills it.
            (None, _) => {}
        }
    }

    /// Claims all wants in one batch and acts on those this node won.
    async fn claim_and_act(&mut self, mut wants: Vec<Want>) {
        for attempt in 0..2 {
            wants.retain(|w| self.owned.contains_key(w.task()));
            let Some(version) = self.assignment_version else {
                return;
            };
            if wants.is_empty() {
                return;
            }
            let keys: Vec<ClaimKey> = wants.iter().map(Want::key).collect();
            match self
                .coord
                .claim(&self.cfg.cluster, &self.cfg.name, version, &keys)
                .await
            {
                Ok(outcomes) => {
                    self.claimed_since_gc
                        .extend(wants.iter().map(|w| w.task().to_string()));
                    let mut launches = Vec::new();
                    for (want, outcome) in wants.into_iter().zip(outcomes) {
                        match outcome {
                            ClaimOutcome::Claimed => launches.extend(self.act(want).await),
                            ClaimOutcome::Taken => {
                                tracing::debug!(run = %want.key().run, "already claimed; not launching")
                            }
                        }
                    }
                    self.launch(launches).await;
                    return;
                }
                Err(coord::Error::Fenced { .. }) if attempt == 0 => self.reconcile().await,
                Err(e) => {
                    tracing::warn!(error = %e, "claims failed; nothing launched this tick");
                    self.try_again(wants);
                    return;
                }
            }
        }
    }

    /// Puts wants whose claim failed (connection lost, outcome unknown) back to be claimed
    /// again in a second: a claim that did go through comes back as this session's own.
    fn try_again(&mut self, wants: Vec<Want>) {
        let again = Timestamp::now()
            .checked_add(SignedDuration::from_secs(1))
            .unwrap_or(Timestamp::MAX);
        for want in wants {
            match want {
                Want::Planned { task, at, .. } => {
                    let Some(o) = self.owned.get_mut(&task) else {
                        continue;
                    };
                    let before = at.checked_sub(SignedDuration::from_millis(1)).unwrap_or(at);
                    o.cursor = o.cursor.min(before);
                    if let Some(n) = o.next.take() {
                        self.timers.remove(&(n, task.clone()));
                    }
                    o.next = Some(again);
                    self.timers.insert((again, task));
                }
                Want::Retry { run } => {
                    self.retries.insert((again, run.id.clone()), run);
                }
                Want::Manual { run } => {
                    tracing::warn!(run = %run.id, "manual run not started: claims are failing");
                }
            }
        }
    }

    fn record(
        &self,
        task: &Task,
        scheduled_at: Timestamp,
        attempt: u32,
        trigger: Trigger,
    ) -> RunRecord {
        RunRecord {
            id: run_id(&task.id, scheduled_at, attempt, trigger),
            task: task.id.clone(),
            task_name: task.spec.name.clone(),
            scheduled_at,
            started_at: None,
            finished_at: None,
            status: RunStatus::Scheduled,
            exit_code: None,
            node: self.cfg.name.clone(),
            attempt,
            trigger,
            message: None,
            params: Default::default(),
            args: Vec::new(),
        }
    }

    /// Decides what a claimed want becomes: a launch (returned, to start with the tick's
    /// batch), or a `missed` / `skipped` record.
    async fn act(&mut self, want: Want) -> Option<Launch> {
        let task = self.owned.get(want.task()).map(|o| o.task.clone())?;
        let run = match want {
            Want::Planned {
                at,
                fate: Fate::Missed,
                ..
            } => {
                let mut run = self.record(&task, at, 1, Trigger::Schedule);
                run.status = RunStatus::Missed;
                run.finished_at = Some(Timestamp::now());
                run.message = Some("the instant passed while no run could start (node or agent down); misfire policy did not catch it up".into());
                self.report(run).await;
                return None;
            }
            Want::Planned {
                at,
                fate: Fate::Fire(trigger),
                ..
            } => self.record(&task, at, 1, trigger),
            Want::Retry { run } | Want::Manual { run } => run,
        };
        let running = self
            .active
            .of_task(&task.id)
            .next()
            .map(|(id, _)| id.clone());
        if let Some(running) = running
            && run.trigger != Trigger::Retry
        {
            match task.spec.concurrency {
                Concurrency::Forbid => {
                    let mut run = run;
                    run.status = RunStatus::Skipped;
                    run.finished_at = Some(Timestamp::now());
                    run.message =
                        Some(format!("concurrency forbid: run {running} is still active"));
                    self.report(run).await;
                    return None;
                }
                Concurrency::Replace => {
                    for (_, stop) in self.active.of_task(&task.id) {
                        let _ = stop.send(Some(StopRequest {
                            message: format!("replaced by run {}", run.id),
                        }));
                    }
                }
                Concurrency::Allow => {}
            }
        }
        let (stop_tx, stop_rx) = watch::channel(None);
        self.active.insert(&task.id, &run.id, stop_tx);
        Some((task, run, stop_rx))
    }

    /// Starts a tick's runs: one ledger write for all of them first (so a crash reports them
    /// `lost`, never forgets them), then the processes.
    async fn launch(&mut self, mut launches: Vec<Launch>) {
        if launches.is_empty() {
            return;
        }
        // Over capacity, claimed runs wait in a bounded queue; beyond it they are skipped with
        // the reason, so an overloaded node sheds load instead of growing without bound.
        let room = (self.capacity() + self.waiting_max())
            .saturating_sub(self.started + self.waiting.len());
        if launches.len() > room {
            for (_, mut run, _) in launches.split_off(room) {
                self.active.remove(&run.id);
                run.status = RunStatus::Skipped;
                run.finished_at = Some(Timestamp::now());
                run.message = Some(format!(
                    "node {} at capacity: {} runs running and {} waiting",
                    self.cfg.name,
                    self.started,
                    self.waiting.len()
                ));
                self.report(run).await;
            }
            if launches.is_empty() {
                return;
            }
        }
        let now = Timestamp::now();
        let runs: Vec<RunRecord> = launches
            .iter()
            .map(|(_, r, _)| RunRecord {
                status: RunStatus::Running,
                started_at: Some(now),
                ..r.clone()
            })
            .collect();
        let entry = match self.spool.ledger_add(&runs).await {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %e, runs = runs.len(), "cannot write the run ledger; not launching");
                for mut run in runs {
                    self.active.remove(&run.id);
                    run.status = RunStatus::Failed;
                    run.finished_at = Some(Timestamp::now());
                    run.message = Some(format!("agent could not record the launch: {e}"));
                    self.report(run).await;
                }
                return;
            }
        };
        self.ledger.add(entry, runs.iter().map(|r| r.id.clone()));
        for ((task, _, stop_rx), running) in launches.into_iter().zip(runs) {
            self.waiting.push_back((task, running, stop_rx));
        }
        self.start_waiting();
    }

    fn capacity(&self) -> usize {
        self.cfg.capacity.max(1) as usize
    }

    fn waiting_max(&self) -> usize {
        self.capacity().saturating_mul(16).max(1024)
    }

    /// Starts waiting runs while there are free slots.
    fn start_waiting(&mut self) {
        // Held processes are released first, in one tight loop over the runs starting
        // together, and only then do the runs' tasks start: the whole burst is let go before
        // any of its bookkeeping competes for the CPU. A held process that died meanwhile is
        // replaced by a fresh spawn.
        let mut starting = Vec::new();
        while self.started < self.capacity() {
            let Some((task, running, stop_rx)) = self.waiting.pop_front() else {
                break;
            };
            self.started += 1;
            let held = match self.held.remove(&running.id) {
                Some(HeldSlot {
                    version,
                    held: Some(mut held),
                    ..
                }) if version == task.version => held.release().ok().map(|_| held),
                _ => None,
            };
            starting.push((task, running, stop_rx, held));
        }
        for (task, running, stop_rx, held) in starting {
            let (ctx, done) = (self.ctx.clone(), self.done_tx.clone());
            tokio::spawn(async move {
                let finished = runner::run(ctx, task, running, stop_rx, held).await;
                let _ = done.send(finished).await;
            });
        }
    }

    async fn report(&self, run: RunRecord) {
        self.ctx.writer.send(RunReport { run, log: None }).await;
    }

    fn on_done(&mut self, (rec, spooled): (RunRecord, bool)) {
        self.active.remove(&rec.id);
        self.started = self.started.saturating_sub(1);
        self.start_waiting();
        if spooled && let Some(entry) = self.ledger.done(&rec.id) {
            let spool = self.spool.clone();
            tokio::spawn(async move { spool.ledger_release(entry).await });
        }
        let Some(o) = self.owned.get(&rec.task) else {
            return;
        };
        let retryable = matches!(rec.status, RunStatus::Failed | RunStatus::TimedOut);
        if retryable && rec.attempt <= o.task.spec.retries {
            let factor = 1u64 << (rec.attempt - 1).min(20);
            let delay = SignedDuration::from_millis(
                o.task
                    .spec
                    .retry_backoff_ms
                    .saturating_mul(factor)
                    .min(i64::MAX as u64) as i64,
            );
            let at = Timestamp::now()
                .checked_add(delay)
                .unwrap_or(Timestamp::MAX);
            tracing::info!(run = %rec.id, attempt = rec.attempt + 1, %at, "retry scheduled");
            let attempt = rec.attempt + 1;
            let next = RunRecord {
                id: attempt_id(&rec.id, attempt),
                params: rec.params,
                args: rec.args,
                ..self.record(&o.task, rec.scheduled_at, attempt, Trigger::Retry)
            };
            self.retries.insert((at, next.id.clone()), next);
        }
    }

    async fn on_event(&mut self, ev: Event) {
        match ev {
            Event::RunRequested {
                node,
                run,
                task_version,
                ..
            } if node == self.cfg.name => {
                // The request may overtake the assignment change that brings the task, or the
                // edit just before it: catch up first.
                if self
                    .owned
                    .get(&run.task)
                    .is_none_or(|o| o.task.version < task_version)
                {
                    self.reconcile().await;
                }
                if let Some(o) = self
                    .owned
                    .get(&run.task)
                    .filter(|o| o.task.version < task_version)
                {
                    let id = o.task.id.clone();
                    if let Some(task) = self.fetch_spec(&id, task_version).await {
                        self.install(task);
                    }
                }
                if self.owned.contains_key(&run.task) {
                    self.claim_and_act(vec![Want::Manual { run: *run }]).await;
                } else {
                    let mut run = *run;
                    run.status = RunStatus::Skipped;
                    run.finished_at = Some(Timestamp::now());
                    run.message = Some(format!(
                        "node {} does not own this task (it moved): start it again",
                        self.cfg.name
                    ));
                    self.report(run).await;
                }
            }
            Event::StopRequested { node, task, runs } if node == self.cfg.name => {
                for (id, stop) in self.active.of_task(&task) {
                    if runs.is_empty() || runs.contains(id) {
                        let _ = stop.send(Some(StopRequest {
                            message: "stopped by user".into(),
                        }));
                    }
                }
            }
            _ => {}
        }
    }

    async fn save_cursors(&mut self) {
        self.cursors_saved = tokio::time::Instant::now();
        let cursors: BTreeMap<&String, Timestamp> =
            self.owned.iter().map(|(id, o)| (id, o.cursor)).collect();
        match serde_json::to_vec(&cursors) {
            Ok(bytes) => {
                if let Err(e) = write_atomic(&self.cursors_path, &bytes).await {
                    tracing::warn!(error = %e, "cannot save schedule cursors");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot encode schedule cursors"),
        }
    }

    async fn prune_claims(&mut self) {
        for id in std::mem::take(&mut self.claimed_since_gc) {
            if let Err(e) = self.coord.prune_claims(&id, CLAIMS_KEPT).await {
                tracing::warn!(task = %id, error = %e, "claim pruning failed");
            }
        }
    }
}

/// Keeps a subscription to the center's event stream, reconnecting while the center is away.
async fn follow_events(
    client: CenterClient,
    node: String,
    tx: mpsc::Sender<Event>,
    shutdown: Shutdown,
) {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    loop {
        tokio::select! {
            r = client.follow_events(&node, &tx) => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "event stream unavailable");
                } else {
                    backoff.reset();
                }
            }
            () = shutdown.wait() => return,
        }
        if tx.is_closed() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(backoff.next_delay()) => {}
            () = shutdown.wait() => return,
        }
    }
}
