//! Allocation: while this center leads, place every task on a live node of its cluster with
//! the sticky ring (`cloudtask_shared::ring`) and write each node's assignment. Wakes on
//! membership changes, task changes, and every few seconds as a safety net; writes only the
//! assignments that changed. A node that left gets an empty assignment first, which also
//! fences it should it come back from a freeze. A center that does not lead only reads the
//! assignments, so its API still shows where tasks are.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use cloudtask_shared::api::Event;
use cloudtask_shared::coord::{
    Assignment, Change, ClaimKey, Coordination, Error as CoordError, Sessions,
};
use cloudtask_shared::ring::{Ring, TaskSlot, place};
use cloudtask_shared::shutdown::Shutdown;
use cloudtask_shared::{RunRecord, RunStatus, Task, claim_owner};
use tokio::sync::{Notify, broadcast, watch};

use crate::hub::Hub;
use crate::service::Service;
use crate::store::{Placement, SharedStore};

/// Where each task is placed, as the API shows it; readable from any handler.
#[derive(Clone)]
pub struct Placements {
    /// Task id → node, for every task the last round considered (`None`: no eligible node).
    inner: Arc<RwLock<HashMap<String, Option<String>>>>,
    /// Wakes the allocator after a task change.
    pub wake: Arc<Notify>,
    /// Counts completed allocation rounds, so a caller can wait for the next one.
    rounds: Arc<watch::Sender<u64>>,
    leading: Arc<std::sync::atomic::AtomicBool>,
    /// The epoch this center took when it became leader (0: none): its leader-only writes
    /// carry it ([`crate::store::EpochStore`]).
    epoch: Arc<std::sync::atomic::AtomicU64>,
    /// The live, credentialed members (cluster, node) the last round of this leader saw.
    members: Arc<RwLock<Option<Members>>>,
}

/// Live, credentialed members: (cluster, node).
pub type Members = std::collections::BTreeSet<(String, String)>;

impl Default for Placements {
    fn default() -> Self {
        Placements {
            inner: Arc::default(),
            wake: Arc::default(),
            rounds: Arc::new(watch::channel(0).0),
            leading: Arc::default(),
            epoch: Arc::default(),
            members: Arc::default(),
        }
    }
}

impl Placements {
    /// The task's node, waiting up to `patience` for an allocation round if it has none yet
    /// (a task created a moment ago is placed by the next round).
    pub async fn settle(&self, task: &str, patience: Duration) -> Option<String> {
        if let Some(n) = self.node_of(task) {
            return Some(n);
        }
        let mut rounds = self.rounds.subscribe();
        rounds.mark_unchanged();
        let deadline = tokio::time::Instant::now() + patience;
        // A round already under way may have read the tasks before this one existed: wait on.
        loop {
            self.wake.notify_one();
            if tokio::time::timeout_at(deadline, rounds.changed())
                .await
                .is_err()
            {
                return None;
            }
            if let Some(n) = self.node_of(task) {
                return Some(n);
            }
        }
    }

    /// Whether this center currently leads (and so allocates).
    pub fn leading(&self) -> bool {
        self.leading.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The fence of this leader's writes: its epoch, while it leads.
    pub fn fence(&self) -> Option<u64> {
        let epoch = self.epoch.load(std::sync::atomic::Ordering::Relaxed);
        (self.leading() && epoch > 0).then_some(epoch)
    }

    pub fn node_of(&self, task: &str) -> Option<String> {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(task)
            .cloned()
            .flatten()
    }

    /// Whether an allocation round has looked at the task yet (a new task is `pending` until then).
    pub fn considered(&self, task: &str) -> bool {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(task)
    }

    pub fn count_on(&self, node: &str) -> usize {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|n| n.as_deref() == Some(node))
            .count()
    }

    /// The members the leader's last round saw (`None`: this center does not lead, or has
    /// not finished a round yet).
    pub fn members(&self) -> Option<Members> {
        self.members
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_members(&self, m: Option<Members>) {
        *self.members.write().unwrap_or_else(|e| e.into_inner()) = m;
    }

    /// Installs a round's placements; returns the tasks whose node changed.
    fn replace(&self, map: HashMap<String, Option<String>>) -> Vec<(String, Option<String>)> {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let changed = map
            .iter()
            .filter(|(id, node)| inner.get(*id) != Some(node))
            .map(|(id, node)| (id.clone(), node.clone()))
            .collect();
        *inner = map;
        drop(inner);
        self.rounds.send_modify(|n| *n += 1);
        changed
    }
}

pub struct Allocator {
    pub sessions: Sessions,
    pub store: SharedStore,
    /// Node-loss and retry bookkeeping go through the service, like every other write.
    pub service: Service,
    pub hub: Hub,
    pub placements: Placements,
    pub candidate: String,
    /// Other centers may change tasks in the same store: notice it on every safety tick.
    pub shared_store: bool,
}

/// What placement needs of a task; kept in memory and updated from task events, so an
/// allocation round does not reload every task from the store.
struct Slot {
    cluster: String,
    version: u64,
    target_nodes: Vec<String>,
    selector: BTreeMap<String, String>,
}

type Index = HashMap<String, Slot>;

/// After a leader takes over, how long before a run's node that is no member counts as gone:
/// agents join again after a center or ZooKeeper restart, and their runs are not lost.
const LOSS_GRACE: Duration = Duration::from_secs(20);

/// How long a run request may wait untaken before it is sent again, and between sends.
const REDELIVER_AFTER: Duration = Duration::from_secs(10);

/// How far back a node's claims are checked for runs it never recorded once its session
/// ended: far longer than it takes to notice a node left or restarted.
const CLAIM_CHECK_SPAN: jiff::SignedDuration = jiff::SignedDuration::from_mins(15);

/// Tasks whose claims one round checks: listing claims costs up to 256 names a task, so a
/// new leader's check of every task is spread over rounds.
const CLAIM_CHECKS_PER_ROUND: usize = 500;

/// The leader's memory between rounds: since when it leads, the run requests waiting to be
/// taken (first seen, last sent), the session each member held last round, and the tasks
/// whose claims are still to be checked (every task, once, when it starts leading).
#[derive(Default)]
struct Bookkeeping {
    leading_since: Option<std::time::Instant>,
    waiting: HashMap<String, (std::time::Instant, std::time::Instant)>,
    sessions: HashMap<String, String>,
    to_check: BTreeSet<String>,
    all_queued: bool,
    /// The placements the store has open, as this leader last wrote them (`None`: to be read).
    recorded: Option<HashSet<Placement>>,
    /// Members without a node credential, warned about once each.
    uncredentialed: HashSet<(String, String)>,
    /// Clusters laid out in the coordination service by this leader.
    laid_out: HashSet<String>,
}

impl Bookkeeping {
    /// The waiting requests due to be sent again; forgets the ones no longer waiting.
    fn due(&mut self, waiting: &[&RunRecord], now: std::time::Instant) -> HashSet<String> {
        self.waiting
            .retain(|id, _| waiting.iter().any(|r| r.id == *id));
        let mut due = HashSet::new();
        for r in waiting {
            let (first, last) = self.waiting.entry(r.id.clone()).or_insert((now, now));
            if now.duration_since(*first) >= REDELIVER_AFTER
                && (now.duration_since(*last) >= REDELIVER_AFTER || *last == *first)
            {
                *last = now;
                due.insert(r.id.clone());
            }
        }
        due
    }
}

fn slot(t: &Task) -> Slot {
    Slot {
        cluster: t.spec.cluster.clone(),
        version: t.version,
        target_nodes: t.spec.target_nodes.clone(),
        selector: t.spec.node_selector.clone(),
    }
}

/// Applies a task event to the index; false when the index must be rebuilt (events were lost).
fn apply(index: &mut Option<Index>, event: Result<Event, broadcast::error::TryRecvError>) -> bool {
    match (index.as_mut(), event) {
        (Some(ix), Ok(Event::TaskChanged { task })) => {
            ix.insert(task.id.clone(), slot(&task));
            true
        }
        (Some(ix), Ok(Event::TaskDeleted { id })) => {
            ix.remove(&id);
            true
        }
        (_, Err(broadcast::error::TryRecvError::Lagged(_))) => {
            *index = None;
            true
        }
        (_, Ok(Event::TaskChanged { .. } | Event::TaskDeleted { .. })) => true,
        _ => false,
    }
}

impl Allocator {
    pub async fn run(self, shutdown: Shutdown) {
        let mut coord = self.sessions.current();
        let mut changes = coord.changes();
        let mut events = self.hub.subscribe_tasks();
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        let mut index: Option<Index> = None;
        let mut fingerprint = None;
        let mut leading = false;
        let mut book = Bookkeeping::default();
        let mut expired = false;
        loop {
            // The session is gone (an operation said so, or its `SessionLost` change came;
            // a lagged change stream drops the latter): open a new one now, or the center
            // would stay on a dead session for good.
            if std::mem::take(&mut expired) {
                leading = false;
                book = Bookkeeping::default();
                if !self.renew_session(&mut coord, &shutdown).await {
                    return;
                }
                changes = coord.changes();
            }
            if self.shared_store {
                match self.store.tasks_fingerprint().await {
                    Ok(f) if Some(f) != fingerprint => {
                        fingerprint = Some(f);
                        index = None;
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot read the task fingerprint"),
                }
            }
            if index.is_none() {
                match self.store.tasks().await {
                    Ok(tasks) => {
                        index = Some(tasks.iter().map(|t| (t.id.clone(), slot(t))).collect())
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot load tasks for allocation"),
                }
            }
            match coord.campaign(&self.candidate).await {
                Ok(mut leads) => {
                    if leads && !leading {
                        // A new leader's first write: the epoch that fences the last one's.
                        match self.store.take_epoch(&self.candidate).await {
                            Ok(e) => self
                                .placements
                                .epoch
                                .store(e, std::sync::atomic::Ordering::Relaxed),
                            Err(e) => {
                                tracing::warn!(error = %e, "cannot take the leader's epoch; not leading until it can");
                                leads = false;
                            }
                        }
                    }
                    if leads != leading {
                        tracing::info!(candidate = %self.candidate, leads, "leadership changed");
                        leading = leads;
                        book = Bookkeeping {
                            leading_since: leads.then(std::time::Instant::now),
                            ..Bookkeeping::default()
                        };
                    }
                    self.placements
                        .leading
                        .store(leads, std::sync::atomic::Ordering::Relaxed);
                    if !leads {
                        self.placements.set_members(None);
                    }
                    if let Some(ix) = &index {
                        let round = if leads {
                            self.allocate(coord.as_ref(), ix, &mut book).await
                        } else {
                            self.observe(coord.as_ref(), ix).await
                        };
                        if let Err(e) = round {
                            expired = matches!(
                                e.downcast_ref::<CoordError>(),
                                Some(CoordError::SessionExpired)
                            );
                            tracing::warn!(error = %e, leads, "allocation round failed; retrying");
                            if leads && self.deposed().await {
                                // Another center led while this one was away (frozen, cut
                                // off): start over as a new leader, with a new epoch.
                                tracing::warn!(
                                    "another center has led since this one took the lead; taking it anew"
                                );
                                leading = false;
                                self.placements
                                    .leading
                                    .store(false, std::sync::atomic::Ordering::Relaxed);
                            }
                        }
                    }
                }
                Err(e) => {
                    expired = matches!(e, CoordError::SessionExpired);
                    tracing::warn!(error = %e, "leader campaign failed");
                }
            }
            if expired {
                continue;
            }
            // Sleep until something that can move a task happens.
            loop {
                tokio::select! {
                    c = changes.recv() => match c {
                        Ok(Change::Members { .. } | Change::Leadership | Change::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => break,
                        // Followers mirror assignments; the leader wrote them itself.
                        Ok(Change::Assignment { .. }) if !leading => break,
                        Ok(Change::Assignment { .. }) => {}
                        Ok(Change::SessionLost) | Err(broadcast::error::RecvError::Closed) => {
                            expired = true;
                            break;
                        }
                    },
                    e = events.recv() => match e {
                        Ok(ev) => if apply(&mut index, Ok(ev)) { break },
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            apply(&mut index, Err(broadcast::error::TryRecvError::Lagged(n)));
                            break;
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    () = self.placements.wake.notified() => break,
                    // Also frees tasks that stickiness held back while they ran.
                    _ = tick.tick() => break,
                    () = shutdown.wait() => return,
                }
            }
            // Changes come in bursts (a deploy creating hundreds of tasks): allocate once per burst.
            tokio::time::sleep(Duration::from_millis(100)).await;
            while changes.try_recv().is_ok() {}
            loop {
                match events.try_recv() {
                    Err(
                        broadcast::error::TryRecvError::Empty
                        | broadcast::error::TryRecvError::Closed,
                    ) => break,
                    other => {
                        apply(&mut index, other);
                    }
                }
            }
        }
    }

    /// The epoch this leader's writes carry.
    fn fence(&self) -> anyhow::Result<u64> {
        self.placements.fence().ok_or_else(|| {
            anyhow::anyhow!("this center does not lead: it has no epoch to write with")
        })
    }

    /// Whether the store's epoch is no longer the one this center took.
    async fn deposed(&self) -> bool {
        let ours = self
            .placements
            .epoch
            .load(std::sync::atomic::Ordering::Relaxed);
        self.store.epoch().await.is_ok_and(|e| e != ours)
    }

    /// The session ended: stop leading and open a new one (false when the center stops).
    async fn renew_session(&self, coord: &mut Arc<dyn Coordination>, shutdown: &Shutdown) -> bool {
        tracing::warn!("coordination session lost; not allocating until a new one is open");
        self.placements
            .leading
            .store(false, std::sync::atomic::Ordering::Relaxed);
        self.placements.set_members(None);
        match self.sessions.renew(coord, shutdown).await {
            Ok(c) => {
                *coord = c;
                true
            }
            Err(_) => false,
        }
    }

    /// Claims of `tasks` from the last [`CLAIM_CHECK_SPAN`] and of `requests` (waiting
    /// requests of those tasks) whose run the store has no record of, or only as a request,
    /// made by a session no member holds (`live`): the node ended between claiming and
    /// recording, so they are settled by the service.
    async fn settle_claims(
        &self,
        coord: &dyn Coordination,
        tasks: &[String],
        requests: Vec<ClaimKey>,
        live: &HashSet<String>,
        node_of: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> anyhow::Result<()> {
        if tasks.is_empty() {
            return Ok(());
        }
        let since = jiff::Timestamp::now()
            .checked_sub(CLAIM_CHECK_SPAN)
            .unwrap_or(jiff::Timestamp::MIN);
        let mut claims = coord.claimed_since(tasks, since).await?;
        let listed: HashSet<String> = claims.iter().map(|k| k.run.clone()).collect();
        claims.extend(requests.into_iter().filter(|k| !listed.contains(&k.run)));
        let ids: Vec<&str> = claims.iter().map(|k| k.run.as_str()).collect();
        let statuses = self.store.run_statuses(&ids).await?;
        let open: Vec<ClaimKey> = claims
            .iter()
            .filter(|k| {
                statuses
                    .get(&k.run)
                    .is_none_or(|(s, _)| *s == RunStatus::Scheduled)
            })
            .cloned()
            .collect();
        if open.is_empty() {
            return Ok(());
        }
        let owners = coord.claim_owners(&open).await?;
        let ended: Vec<(ClaimKey, String)> = open
            .into_iter()
            .zip(owners)
            .filter_map(|(key, owner)| {
                let (node, session) = claim_owner(owner.as_deref()?);
                (!live.contains(session)).then(|| (key, node.to_string()))
            })
            .collect();
        if !ended.is_empty() {
            self.service
                .claims_left_by_ended_sessions(&ended, node_of)
                .await?;
        }
        Ok(())
    }

    /// Mirrors the assignments the leader wrote into [`Placements`].
    async fn observe(&self, coord: &dyn Coordination, tasks: &Index) -> anyhow::Result<()> {
        let mut on: HashMap<String, String> = HashMap::new();
        for cluster in coord.clusters().await? {
            for m in coord.members(&cluster).await? {
                if let Some(a) = coord.read_assignment(&cluster, &m.name).await? {
                    for id in a.value.tasks.into_keys() {
                        on.insert(id, m.name.clone());
                    }
                }
            }
        }
        let placed = tasks.keys().map(|id| (id.clone(), on.remove(id))).collect();
        self.announce(placed);
        Ok(())
    }

    /// Installs placements and tells event followers (the console) which tasks moved.
    fn announce(&self, placed: HashMap<String, Option<String>>) {
        for (task, node) in self.placements.replace(placed) {
            self.hub.publish(Event::TaskPlaced { task, node });
        }
    }

    async fn allocate(
        &self,
        coord: &dyn Coordination,
        tasks: &Index,
        book: &mut Bookkeeping,
    ) -> anyhow::Result<()> {
        let active = self.store.active_runs(None).await?;
        let running: HashSet<String> = active.iter().map(|r| r.task.clone()).collect();
        let mut live: HashSet<String> = HashSet::new();
        let mut clusters: Vec<String> = tasks.values().map(|t| t.cluster.clone()).collect();
        clusters.extend(coord.clusters().await?);
        clusters.sort();
        clusters.dedup();
        let mut placed: HashMap<String, Option<String>> = HashMap::new();
        // Nodes that left this round: their runs are marked once the new placement is known,
        // so that the retries they earn are requested from their tasks' new nodes.
        let mut departed: Vec<(String, String)> = Vec::new();
        // Tasks whose claims a session that ended may have left unrecorded: those of nodes that
        // left or came back in a new session, and every task when this leader is new.
        if !std::mem::replace(&mut book.all_queued, true) {
            book.to_check.extend(tasks.keys().cloned());
        }
        let mut sessions: HashSet<String> = HashSet::new();
        // Only nodes with a credential get tasks: one whose credential was revoked is treated
        // as gone (fenced, its tasks moved), whether or not its agent is still up.
        let credentialed = self.service.credentialed_nodes().await?;
        // A cluster a node holds a credential of is laid out once per leadership (with
        // ZooKeeper credentials agents cannot do it themselves).
        for (_, cluster) in &credentialed {
            if !book.laid_out.contains(cluster) {
                coord.prepare_cluster(cluster).await?;
                book.laid_out.insert(cluster.clone());
            }
        }
        let mut recorded = match book.recorded.take() {
            Some(r) => r,
            None => self.store.current_placements().await?.into_iter().collect(),
        };
        let mut now_placed: HashSet<Placement> = HashSet::new();
        let mut seen_members = std::collections::BTreeSet::new();
        for cluster in clusters {
            let mut members = coord.members(&cluster).await?;
            members.retain(|m| {
                let key = (m.name.clone(), cluster.clone());
                let ok = credentialed.contains(&key);
                if !ok && book.uncredentialed.insert(key) {
                    tracing::warn!(%cluster, node = %m.name, "a member without a node credential (revoked, or never joined): no task is placed on it");
                }
                ok
            });
            live.extend(members.iter().map(|m| m.name.clone()));
            seen_members.extend(members.iter().map(|m| (cluster.clone(), m.name.clone())));
            sessions.extend(members.iter().filter_map(|m| m.session.clone()));
            // Nodes that left keep their assignment record: empty it before anything moves, so
            // the node, should it wake from a freeze, is fenced from the tasks.
            for gone in coord.assigned_nodes(&cluster).await? {
                if members.iter().any(|m| m.name == gone) {
                    continue;
                }
                let stale = coord.read_assignment(&cluster, &gone).await?;
                if let Some(stale) = stale.filter(|a| !a.value.tasks.is_empty()) {
                    coord
                        .write_assignment(&cluster, &gone, &Assignment::default())
                        .await?;
                    tracing::info!(%cluster, node = %gone, "node left; its tasks move");
                    book.to_check.extend(stale.value.tasks.into_keys());
                    departed.push((cluster.clone(), gone));
                }
            }
            let ring =
                Ring::with_labels(members.iter().map(|m| (m.name.clone(), m.labels.clone())));
            // Where tasks are now, read back from the engine: a restarted center moves nothing.
            let mut written: BTreeMap<String, Option<Assignment>> = BTreeMap::new();
            let mut now_on: HashMap<String, String> = HashMap::new();
            for m in &members {
                let a = coord
                    .read_assignment(&cluster, &m.name)
                    .await?
                    .map(|v| v.value);
                for id in a.iter().flat_map(|a| a.tasks.keys()) {
                    now_on.insert(id.clone(), m.name.clone());
                }
                if let Some(session) = &m.session
                    && let Some(before) = book.sessions.insert(m.name.clone(), session.clone())
                    && before != *session
                {
                    tracing::info!(%cluster, node = %m.name, "node is back in a new session; checking what the old one claimed");
                    book.to_check
                        .extend(a.iter().flat_map(|a| a.tasks.keys().cloned()));
                }
                written.insert(m.name.clone(), a);
            }
            let mine: Vec<(&String, &Slot)> =
                tasks.iter().filter(|(_, t)| t.cluster == cluster).collect();
            let current: Vec<Option<String>> = mine
                .iter()
                .map(|(id, _)| now_on.get(*id).cloned())
                .collect();
            let slots: Vec<TaskSlot> = mine
                .iter()
                .zip(&current)
                .map(|((id, t), cur)| TaskSlot {
                    id,
                    target_nodes: &t.target_nodes,
                    selector: &t.selector,
                    current: cur.as_deref(),
                    running: running.contains(*id),
                })
                .collect();
            let placement = place(&slots, &ring);
            let mut per_node: BTreeMap<String, Assignment> = members
                .iter()
                .map(|m| (m.name.clone(), Assignment::default()))
                .collect();
            for (id, t) in &mine {
                if let Some(Some(node)) = placement.get(id.as_str()) {
                    per_node
                        .entry(node.clone())
                        .or_default()
                        .tasks
                        .insert((*id).clone(), t.version);
                    placed.insert((*id).clone(), Some(node.clone()));
                } else {
                    placed.insert((*id).clone(), None);
                }
            }
            // The history first: a node may act on a task (read its spec, report its runs)
            // as soon as it sees the task in its assignment.
            let here: Vec<Placement> = per_node
                .iter()
                .flat_map(|(node, a)| {
                    a.tasks.keys().map(|task| Placement {
                        task: task.clone(),
                        node: node.clone(),
                        cluster: cluster.clone(),
                    })
                })
                .collect();
            let open: Vec<Placement> = here
                .iter()
                .filter(|p| !recorded.contains(*p))
                .cloned()
                .collect();
            if !open.is_empty() {
                self.store
                    .record_placements(&open, &[], jiff::Timestamp::now(), self.fence()?)
                    .await?;
                recorded.extend(open);
            }
            now_placed.extend(here);
            for (node, assignment) in per_node {
                if written.get(&node).cloned().flatten() != Some(assignment.clone()) {
                    coord.write_assignment(&cluster, &node, &assignment).await?;
                    tracing::debug!(%cluster, %node, tasks = assignment.tasks.len(), "assignment written");
                }
            }
        }
        // Then, once no assignment has them, the placements that ended.
        let close: Vec<Placement> = recorded.difference(&now_placed).cloned().collect();
        if !close.is_empty() {
            self.store
                .record_placements(&[], &close, jiff::Timestamp::now(), self.fence()?)
                .await?;
        }
        book.recorded = Some(now_placed);
        let node_of = |t: &str| placed.get(t).cloned().flatten();
        let mut lost = Vec::new();
        for (cluster, node) in departed {
            book.sessions.remove(&node);
            lost.extend(self.service.node_lost(&cluster, &node, &node_of).await?);
        }
        let check: Vec<String> = book
            .to_check
            .iter()
            .take(CLAIM_CHECKS_PER_ROUND)
            .cloned()
            .collect();
        // Requests are claimed by run id, not instant: those of the checked tasks join in.
        let checked: HashSet<&str> = check.iter().map(String::as_str).collect();
        let requests: Vec<ClaimKey> = active
            .iter()
            .filter(|r| r.status == RunStatus::Scheduled && checked.contains(r.task.as_str()))
            .map(|r| ClaimKey {
                task: r.task.clone(),
                run: r.id.clone(),
            })
            .collect();
        self.settle_claims(coord, &check, requests, &sessions, &node_of)
            .await?;
        for t in &check {
            book.to_check.remove(t);
        }
        // Resumable node-loss bookkeeping: runs still running on a node that is no member were
        // left by a leader that died between emptying the node's assignment and marking them:
        // they are lost now, once this leader has led long enough for live agents to have
        // joined again. (Requests waiting there follow their tasks, below.)
        let settled = book
            .leading_since
            .is_some_and(|t| t.elapsed() >= LOSS_GRACE);
        if settled {
            let marked: HashSet<String> = lost.iter().map(|r: &RunRecord| r.id.clone()).collect();
            let mut gone: BTreeMap<String, String> = BTreeMap::new();
            for r in &active {
                if r.status == RunStatus::Running
                    && !live.contains(&r.node)
                    && !marked.contains(&r.id)
                {
                    let cluster = tasks.get(&r.task).map_or("default", |t| t.cluster.as_str());
                    gone.insert(r.node.clone(), cluster.to_string());
                }
            }
            for (node, cluster) in gone {
                tracing::warn!(%cluster, %node, "runs left active on a node that is gone; marking them lost");
                self.service.node_lost(&cluster, &node, &node_of).await?;
            }
        }
        // Requests not taken yet on a node their task has left follow it (the old node will
        // not run them; one it already claimed stays its own: the new node finds it taken).
        let moves: Vec<(&RunRecord, String, u64)> = active
            .iter()
            .filter(|r| r.status == RunStatus::Scheduled)
            .filter_map(|r| {
                let to = placed.get(&r.task)?.as_ref()?;
                let version = tasks.get(&r.task)?.version;
                (*to != r.node).then(|| (r, to.clone(), version))
            })
            .collect();
        let moved: HashSet<String> = self
            .service
            .move_requests(&moves)
            .await?
            .into_iter()
            .map(|r| r.id)
            .collect();
        // Run requests not taken yet go out again (a missed broadcast, a failed claim); a
        // retry waiting for its backoff is not late yet.
        let now = jiff::Timestamp::now();
        let waiting: Vec<&RunRecord> = active
            .iter()
            .filter(|r| {
                r.status == RunStatus::Scheduled
                    && live.contains(&r.node)
                    && !moved.contains(&r.id)
                    && r.not_before.is_none_or(|nb| nb <= now)
            })
            .collect();
        let due = book.due(&waiting, std::time::Instant::now());
        if !due.is_empty() {
            // Built from the runs and the index this round already read: no second store read.
            let again: Vec<Event> = waiting
                .into_iter()
                .filter(|r| due.contains(&r.id))
                .filter_map(|r| {
                    Some(Event::RunRequested {
                        task: r.task.clone(),
                        node: r.node.clone(),
                        task_version: tasks.get(&r.task)?.version,
                        run: Box::new(r.clone()),
                    })
                })
                .collect();
            tracing::info!(
                requests = again.len(),
                "run requests not taken yet; sending them again"
            );
            self.service.redeliver(again).await?;
        }
        self.announce(placed);
        self.placements.set_members(Some(seen_members));
        Ok(())
    }
}
