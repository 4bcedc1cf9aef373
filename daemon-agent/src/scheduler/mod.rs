//! The agent's run loop: it owns the timers of the tasks assigned to this node and wakes for
//! the earliest of: a due instant or retry, an assignment change, a command from the center
//! (run now, stop), a finished run, or shutdown.
//!
//! Each tick claims every due (task, instant) in one batch, fenced by this node's assignment
//! version, and launches only what it claimed: an instant runs at most once, cluster-wide and
//! across restarts. The last instant examined per task (its *cursor*) is kept on disk, so after
//! a restart the instants missed meanwhile follow the task's misfire policy.
//!
//! The loop takes "now" and every sleep from a [`Clock`], launches through an [`Executor`]
//! and reads specs from a [`SpecSource`]; [`run`] wires the real ones (system clock,
//! processes, the center), the loop tests a manual clock and a recording executor. By concept:
//! - this module: the loop, shutdown drain, rejoin after a session loss;
//! - [`owned`]: owned tasks, reconcile with the assignment, specs, cursors;
//! - [`claims`]: the tick — due instants and retries claimed in one batch;
//! - [`launch`]: deciding a claimed run, capacity, launch and launch-ahead;
//! - [`retries`]: retries the center requested, waiting for their backoff;
//! - [`events`]: the center's run and stop requests, and the event stream;
//! - [`policy`]: the pure decisions behind all of them;
//! - [`executor`]: the interface to processes, the ledger and reports.

mod claims;
mod events;
pub mod executor;
mod launch;
mod owned;
pub mod policy;
mod retries;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cloudtask_daemon_kit::archive::Limits;
use cloudtask_shared::api::{ActiveStatement, Event};
use cloudtask_shared::backoff::Backoff;
use cloudtask_shared::clock::{Clock, SharedClock, SystemClock};
use cloudtask_shared::coord::{self, Change, Coordination, Sessions};
use cloudtask_shared::shutdown::Shutdown;
use cloudtask_shared::{NodeInfo, RunRecord, RunStatus, Task, Trigger, run_id};
use jiff::{SignedDuration, Timestamp};
use tokio::sync::{broadcast, mpsc, watch};

use crate::client::CenterClient;
use crate::exec::StopRequest;
use crate::fence::Fence;
use crate::package::PackageCache;
use crate::runner::{self, RunContext};
use crate::spool::{Ledger, Spool, SpoolWriter};
pub use executor::{Executor, ProcessExecutor};
use launch::{ActiveRuns, HeldResult, HeldSlot};
pub use owned::{CenterSpecs, SpecFetch, SpecSource};

/// A run ready to start: its task, its record, and the receiving end of its stop channel.
type Launch = (Task, RunRecord, watch::Receiver<Option<StopRequest>>);

/// Marks a package cache whose packages all have the modes runs as other users need.
const PACKAGE_MODES_MARKER: &str = ".modes-readable";

/// How often schedule cursors go to disk (and at shutdown).
const CURSOR_SAVE_EVERY: SignedDuration = SignedDuration::from_secs(5);

/// Claims kept per task: enough to cover retries and late reports, small enough to bound the store.
const CLAIMS_KEPT: usize = 256;

/// How often claims are pruned to their bound, and stale specs fetched again.
const PRUNE_EVERY: SignedDuration = SignedDuration::from_secs(60);

/// How often the node tells the center which runs it has active (the center reaps the rest).
const STATE_EVERY: SignedDuration = SignedDuration::from_secs(10);
const RESYNC_EVERY: SignedDuration = SignedDuration::from_secs(5);

/// Everything an agent needs to know about itself.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub name: String,
    pub cluster: String,
    /// The centers it reports to, whichever is up.
    pub centers: crate::client::Centers,
    pub token: String,
    /// The HTTP client ([`crate::client::http_client`]): its TLS roots check the center.
    pub http: reqwest::Client,
    pub data_dir: PathBuf,
    /// Base URL of this agent's own API, when it serves one.
    pub address: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub capacity: u32,
    /// How long before its instant a run's process is started and held (zero: never).
    pub launch_ahead: Duration,
    /// At shutdown: how long running runs may go on before they are killed (`shutdown`).
    pub drain_timeout: Duration,
    /// A silent event stream is dead after this long (a half-open connection) and reopened.
    pub stream_idle: Duration,
    /// Bytes of output kept per run (head and tail).
    pub log_cap: usize,
    pub package_limits: Limits,
    /// The package cache's size bound; least recently used packages go beyond it.
    pub package_cache_max_bytes: u64,
    /// The run fence's lease ([`crate::fence`]): runs die when the agent sends no beat for
    /// this long. Shorter than the coordination session's timeout; `None` runs no keeper.
    pub fence_lease: Option<Duration>,
    /// Which user each run executes as ([`crate::users`]).
    pub run_as: Arc<crate::users::RunAs>,
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
    #[error(transparent)]
    Fence(#[from] crate::fence::Error),
    #[error(
        "runs execute as other users but cannot reach the data dir {dir}: {above} has mode {mode:o}, which others may not pass through (chmod o+x it, or put the data dir elsewhere)"
    )]
    Unreachable {
        dir: String,
        above: String,
        mode: u32,
    },
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

/// What the loop is built from: who it is, its coordination session, its clock, executor and
/// spec source, and where its cursors are kept.
pub struct Parts<E> {
    pub cfg: AgentConfig,
    pub sessions: Sessions,
    pub clock: SharedClock,
    pub executor: E,
    pub specs: Arc<dyn SpecSource>,
    /// Where specs are cached on disk, so tasks keep firing while the center is away.
    pub specs_dir: PathBuf,
    pub cursors_path: PathBuf,
}

/// Runs the agent until `shutdown` turns true. When the coordination session ends (expiry:
/// the node was cut off or frozen past its timeout) the agent drops every task at once,
/// launches nothing more, lets its running runs finish and report, and joins again with a
/// fresh session; the leader then gives it tasks as it would a new node.
pub async fn run(cfg: AgentConfig, sessions: Sessions, shutdown: Shutdown) -> Result<(), Error> {
    let io = |path: &PathBuf| {
        let path = path.display().to_string();
        move |source| Error::Io { path, source }
    };
    // Runs executing as other users pass through the data dir to their package and work
    // directories; everything else in it stays the agent's alone.
    let work_root = cfg.data_dir.join("work");
    let packages_dir = cfg.data_dir.join("packages");
    let switches = cfg.run_as.switches();
    // Packages unpacked before unpacking made them readable to other users (files could be
    // 0600) would fail runs as another user: such a cache is dropped once (its packages are
    // fetched again), and marked.
    let modes_marker = packages_dir.join(PACKAGE_MODES_MARKER);
    if switches && packages_dir.exists() && !modes_marker.exists() {
        tracing::info!(dir = %packages_dir.display(), "package cache from before runs could switch users: emptied, packages are fetched again");
        std::fs::remove_dir_all(&packages_dir).map_err(io(&packages_dir))?;
    }
    std::fs::create_dir_all(&packages_dir).map_err(io(&packages_dir))?;
    std::fs::write(&modes_marker, b"").map_err(io(&modes_marker))?;
    crate::workdir::prepare_root(&work_root, switches).map_err(io(&work_root))?;
    if switches {
        crate::workdir::check_reachable(&cfg.data_dir)?;
    }
    let pass_through: &[&str] = if switches { &["packages", "work"] } else { &[] };
    cloudtask_daemon_kit::secure_data_dir(&cfg.data_dir, pass_through)
        .map_err(io(&cfg.data_dir))?;
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
    let client = CenterClient::with_centers(&cfg.centers, &cfg.token, &cfg.http);
    let specs_dir = cfg.data_dir.join("specs");
    tokio::fs::create_dir_all(&specs_dir)
        .await
        .map_err(io(&specs_dir))?;
    {
        let (spool, client, shutdown) = (spool.clone(), client.clone(), shutdown.clone());
        tokio::spawn(async move { spool.deliver(client, shutdown).await });
    }
    let (event_tx, event_rx) = mpsc::channel(256);
    tokio::spawn(events::follow_events(
        client.clone(),
        cfg.name.clone(),
        cfg.stream_idle,
        event_tx,
        shutdown.clone(),
    ));
    let fence = cfg.fence_lease.map(Fence::start).transpose()?;
    let ctx = RunContext {
        fence,
        node: cfg.name.clone(),
        client: client.clone(),
        packages: PackageCache::new(
            packages_dir,
            cfg.package_limits,
            cfg.package_cache_max_bytes,
        ),
        writer: SpoolWriter::start(spool.clone(), client.clone()),
        work_dirs: crate::workdir::WorkDirs::new(work_root),
        run_as: cfg.run_as.clone(),
        log_cap: cfg.log_cap,
        live: runner::start_output_forwarder(client.clone()),
        inherited_env: runner::inherited_env(),
    };
    let parts = Parts {
        cursors_path: cfg.data_dir.join("cursors.json"),
        cfg,
        sessions,
        clock: Arc::new(SystemClock),
        executor: ProcessExecutor {
            ctx,
            spool,
            client: client.clone(),
        },
        specs: Arc::new(CenterSpecs { client }),
        specs_dir,
    };
    let (mut scheduler, inbox) = Scheduler::new(parts).await;
    scheduler.run(inbox, event_rx, shutdown).await
}

/// The loop's own channels: finished runs and processes started ahead.
struct Inbox<H> {
    done: mpsc::Receiver<(RunRecord, bool)>,
    held: mpsc::Receiver<HeldResult<H>>,
}

struct Scheduler<E: Executor> {
    cfg: AgentConfig,
    /// What this node registers as, again after a new session.
    me: NodeInfo,
    sessions: Sessions,
    coord: Arc<dyn Coordination>,
    clock: SharedClock,
    executor: E,
    specs: Arc<dyn SpecSource>,
    /// Tasks claimed since claims were last pruned: only they can have grown past the bound.
    claimed_since_gc: HashSet<String>,
    specs_dir: PathBuf,
    cursors_path: PathBuf,
    cursors_saved: Timestamp,
    owned: HashMap<String, Owned>,
    assignment_version: Option<u64>,
    timers: BTreeSet<(Timestamp, String)>,
    active: ActiveRuns,
    /// Requested retries waiting for their backoff, by (not before, run id).
    retries: BTreeMap<(Timestamp, String), RunRecord>,
    /// Claimed runs waiting for a free slot (at most `capacity` run at once).
    waiting: VecDeque<Launch>,
    /// Runs whose process side is under way.
    started: usize,
    /// Runs not launched because their launch could not be recorded (a full disk), since
    /// start: said in every such error line.
    not_launched: u64,
    /// Cursors from disk, used when a task is first installed after a restart.
    saved_cursors: BTreeMap<String, Timestamp>,
    /// Tasks whose current spec could not be fetched yet.
    stale: HashSet<String>,
    done_tx: mpsc::Sender<(RunRecord, bool)>,
    /// Processes started ahead of their instant, by run id (see `hold_ahead`).
    held: HashMap<String, HeldSlot<E::Held>>,
    /// Timers up to this instant have been considered for holding.
    held_upto: Timestamp,
    held_tx: mpsc::Sender<HeldResult<E::Held>>,
    ledger: Ledger,
    /// Run requests already handled (the center may deliver one twice).
    requested: events::Requested,
}

/// Sleeps until `at` on `clock`, or forever.
fn sleep_until_opt(clock: &dyn Clock, at: Option<Timestamp>) -> cloudtask_shared::clock::Sleep {
    match at {
        Some(t) => clock.sleep_until(t),
        None => Box::pin(std::future::pending()),
    }
}

impl<E: Executor> Scheduler<E> {
    async fn new(parts: Parts<E>) -> (Scheduler<E>, Inbox<E::Held>) {
        let Parts {
            cfg,
            sessions,
            clock,
            executor,
            specs,
            specs_dir,
            cursors_path,
        } = parts;
        let now = clock.now();
        // Without cursors, instants missed while the agent was down are not recorded `missed`;
        // nothing re-fires (the claims say what already ran).
        let saved_cursors: BTreeMap<String, Timestamp> =
            crate::spool::read_or_set_aside(&cursors_path, "schedule cursors")
                .await
                .unwrap_or_default();
        let me = NodeInfo {
            name: cfg.name.clone(),
            cluster: cfg.cluster.clone(),
            address: cfg.address.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            os: std::env::consts::OS.to_string(),
            labels: cfg.labels.clone(),
            capacity: cfg.capacity,
            started_at: now,
            tzdata: crate::tzdata::version(),
            session: None,
        };
        let (done_tx, done) = mpsc::channel(1024);
        let (held_tx, held) = mpsc::channel(1024);
        let scheduler = Scheduler {
            cfg,
            me,
            coord: sessions.current(),
            sessions,
            clock,
            executor,
            specs,
            claimed_since_gc: HashSet::new(),
            specs_dir,
            cursors_path,
            cursors_saved: now,
            owned: HashMap::new(),
            assignment_version: None,
            timers: BTreeSet::new(),
            active: ActiveRuns::default(),
            retries: BTreeMap::new(),
            waiting: VecDeque::new(),
            started: 0,
            not_launched: 0,
            saved_cursors,
            stale: HashSet::new(),
            done_tx,
            held: HashMap::new(),
            held_upto: now,
            held_tx,
            ledger: Ledger::default(),
            requested: Default::default(),
        };
        (scheduler, Inbox { done, held })
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Joins the cluster and runs the loop until `shutdown`.
    async fn run(
        &mut self,
        inbox: Inbox<E::Held>,
        mut events: mpsc::Receiver<Event>,
        shutdown: Shutdown,
    ) -> Result<(), Error> {
        let Inbox { mut done, mut held } = inbox;
        let mut changes = self.coord.changes();
        // The cluster's part of the tree may not be laid out yet (a center with ZooKeeper
        // credentials does it): wait for it rather than stop.
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
        loop {
            match self.coord.join(&self.me).await {
                Ok(()) => {
                    metrics::gauge!(cloudtask_daemon_kit::metrics::SESSION_UP, "daemon" => "agent")
                        .set(1.0);
                    break;
                }
                Err(e @ coord::Error::Backend(_)) => {
                    tracing::warn!(error = %e, "cannot register with the coordination service yet; retrying");
                    tokio::select! {
                        () = self.clock.sleep(backoff.next_delay()) => {}
                        () = shutdown.wait() => return Ok(()),
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        tracing::info!(node = %self.cfg.name, cluster = %self.cfg.cluster, "agent joined");
        self.reconcile().await;
        let mut next_prune = self.now() + PRUNE_EVERY;
        let mut next_state = self.now() + STATE_EVERY;
        let mut next_resync = self.now() + RESYNC_EVERY;
        loop {
            let wake = self
                .timers
                .first()
                .map(|(t, _)| *t)
                .into_iter()
                .chain(self.retries.first_key_value().map(|((at, _), _)| *at))
                .min();
            let hold_at = self.next_hold_at();
            let resync_at = (!self.stale.is_empty()).then_some(next_resync);
            let clock = self.clock.clone();
            tokio::select! {
                () = sleep_until_opt(clock.as_ref(), wake) => self.tick(self.now()).await,
                () = sleep_until_opt(clock.as_ref(), hold_at) => {
                    let upto = self.held_upto;
                    self.hold_ahead(self.now(), upto);
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
                () = sleep_until_opt(clock.as_ref(), resync_at) => {
                    next_resync = self.now() + RESYNC_EVERY;
                    self.reconcile().await;
                }
                () = clock.sleep_until(next_prune) => {
                    next_prune = self.now() + PRUNE_EVERY;
                    self.prune_claims().await;
                }
                () = clock.sleep_until(next_state) => {
                    next_state = self.now() + STATE_EVERY;
                    self.state_active();
                }
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
        while let Some((_, run, _)) = self.waiting.pop_front() {
            self.active.remove(&run.id);
            let why = "the agent shut down before the run could start";
            self.report(run.ended(RunStatus::Skipped, self.now(), why))
                .await;
        }
        self.held.clear();
        let drained = self.clock.sleep(self.cfg.drain_timeout);
        self.await_runs(done, drained).await;
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
            let killed = self.clock.sleep(Duration::from_secs(30));
            self.await_runs(done, killed).await;
        }
        let flush = self.executor.flush();
        tokio::select! {
            r = flush => match r {
                Ok(()) => tracing::info!("spool delivered"),
                Err(e) => tracing::warn!(error = %e, "spool kept for the next start"),
            },
            () = self.clock.sleep(Duration::from_secs(5)) => {
                tracing::warn!("the center did not take the spool in time; kept for the next start")
            }
        }
    }

    /// Takes finished runs until none is active or `until` passes.
    async fn await_runs(
        &mut self,
        done: &mut mpsc::Receiver<(RunRecord, bool)>,
        until: cloudtask_shared::clock::Sleep,
    ) {
        tokio::pin!(until);
        while !self.active.is_empty() {
            tokio::select! {
                d = done.recv() => match d {
                    Some(d) => self.on_done(d),
                    None => break,
                },
                () = &mut until => break,
            }
        }
    }

    /// After the session ended: forget every task (another node may own it now), keep running
    /// runs to their end, and join again with a fresh session. `None` at shutdown.
    async fn rejoin(&mut self, shutdown: &Shutdown) -> Option<broadcast::Receiver<Change>> {
        metrics::gauge!(cloudtask_daemon_kit::metrics::SESSION_UP, "daemon" => "agent").set(0.0);
        tracing::warn!(
            running = self.active.len(),
            "coordination session lost: this node launches nothing until it has joined again"
        );
        self.save_cursors().await;
        for (id, o) in self.owned.drain() {
            self.saved_cursors.insert(id, o.cursor);
        }
        self.timers.clear();
        self.drop_retries(|_| false);
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
                    metrics::gauge!(cloudtask_daemon_kit::metrics::SESSION_UP, "daemon" => "agent")
                        .set(1.0);
                    self.reconcile().await;
                    return Some(changes);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot join with the new session; retrying");
                    self.clock.sleep(backoff.next_delay()).await;
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
        let id = run_id(&task.id, scheduled_at, attempt, trigger);
        RunRecord::scheduled(task, id, scheduled_at, &self.cfg.name, attempt, trigger)
    }

    async fn report(&self, run: RunRecord) {
        self.executor.report(run).await;
    }

    /// Sends the statement of this node's active runs (those in the ledger) without holding
    /// up the loop.
    fn state_active(&self) {
        let mut runs: Vec<String> = self.ledger.runs().cloned().collect();
        runs.sort_unstable();
        let statement = ActiveStatement {
            node: self.cfg.name.clone(),
            taken_at: self.now(),
            runs,
        };
        let executor = self.executor.clone();
        tokio::spawn(async move { executor.state_active(statement).await });
    }
}
