//! Allocation: while this center leads, place every task on a live node of its cluster with
//! the sticky ring (`cloudtask_shared::ring`) and write each node's assignment. Wakes on
//! membership changes, task changes, and every few seconds as a safety net; writes only the
//! assignments that changed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use cloudtask_shared::api::Event;
use cloudtask_shared::coord::{Assignment, Change, Coordination};
use cloudtask_shared::ring::{Ring, TaskSlot, place};
use tokio::sync::{Notify, broadcast, watch};

use crate::hub::Hub;
use crate::store::Store;

/// Where each task is placed, as the API shows it; readable from any handler.
#[derive(Clone)]
pub struct Placements {
    inner: Arc<RwLock<HashMap<String, String>>>,
    /// Wakes the allocator after a task change.
    pub wake: Arc<Notify>,
    /// Counts completed allocation rounds, so a caller can wait for the next one.
    rounds: Arc<watch::Sender<u64>>,
}

impl Default for Placements {
    fn default() -> Self {
        Placements {
            inner: Arc::default(),
            wake: Arc::default(),
            rounds: Arc::new(watch::channel(0).0),
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

    pub fn node_of(&self, task: &str) -> Option<String> {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(task)
            .cloned()
    }

    pub fn count_on(&self, node: &str) -> usize {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|n| *n == node)
            .count()
    }

    fn replace(&self, map: HashMap<String, String>) {
        *self.inner.write().unwrap_or_else(|e| e.into_inner()) = map;
        self.rounds.send_modify(|n| *n += 1);
    }
}

pub struct Allocator {
    pub coord: Arc<dyn Coordination>,
    pub store: Store,
    pub hub: Hub,
    pub placements: Placements,
    pub candidate: String,
}

impl Allocator {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut changes = self.coord.changes();
        let mut events = self.hub.subscribe();
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            match self.coord.campaign(&self.candidate).await {
                Ok(true) => {
                    if let Err(e) = self.allocate().await {
                        tracing::warn!(error = %e, "allocation failed; retrying");
                    }
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "leader campaign failed"),
            }
            tokio::select! {
                c = changes.recv() => match c {
                    Ok(Change::Members { .. } | Change::Leadership) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                e = events.recv() => match e {
                    // Run ends are not awaited: the periodic tick frees tasks held back while running.
                    Ok(Event::TaskChanged { .. } | Event::TaskDeleted { .. }) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                () = self.placements.wake.notified() => {}
                _ = tick.tick() => {}
                _ = shutdown.changed() => return,
            }
            // Changes come in bursts (a deploy creating hundreds of tasks): allocate once per burst.
            tokio::time::sleep(Duration::from_millis(100)).await;
            while changes.try_recv().is_ok() || events.try_recv().is_ok() {}
        }
    }

    async fn allocate(&self) -> anyhow::Result<()> {
        let tasks = self.store.tasks().await?;
        let running: HashSet<String> = self
            .store
            .active_runs(None)
            .await?
            .into_iter()
            .map(|r| r.task)
            .collect();
        let mut clusters: Vec<String> = tasks.iter().map(|t| t.spec.cluster.clone()).collect();
        clusters.extend(self.coord.clusters().await?);
        clusters.sort();
        clusters.dedup();
        let mut placed: HashMap<String, String> = HashMap::new();
        for cluster in clusters {
            let members = self.coord.members(&cluster).await?;
            let ring = Ring::new(members.iter().map(|m| m.name.clone()));
            // Where tasks are now, read back from the engine: a restarted center moves nothing.
            let mut written: BTreeMap<String, Option<Assignment>> = BTreeMap::new();
            let mut now_on: HashMap<String, String> = HashMap::new();
            for m in &members {
                let a = self
                    .coord
                    .read_assignment(&cluster, &m.name)
                    .await?
                    .map(|v| v.value);
                for id in a.iter().flat_map(|a| a.tasks.keys()) {
                    now_on.insert(id.clone(), m.name.clone());
                }
                written.insert(m.name.clone(), a);
            }
            let mine: Vec<_> = tasks.iter().filter(|t| t.spec.cluster == cluster).collect();
            let current: Vec<Option<String>> =
                mine.iter().map(|t| now_on.get(&t.id).cloned()).collect();
            let slots: Vec<TaskSlot> = mine
                .iter()
                .zip(&current)
                .map(|(t, cur)| TaskSlot {
                    id: &t.id,
                    target_nodes: &t.spec.target_nodes,
                    current: cur.as_deref(),
                    running: running.contains(&t.id),
                })
                .collect();
            let placement = place(&slots, &ring);
            let mut per_node: BTreeMap<String, Assignment> = members
                .iter()
                .map(|m| (m.name.clone(), Assignment::default()))
                .collect();
            for t in &mine {
                if let Some(Some(node)) = placement.get(t.id.as_str()) {
                    per_node
                        .entry(node.clone())
                        .or_default()
                        .tasks
                        .insert(t.id.clone(), t.version);
                    placed.insert(t.id.clone(), node.clone());
                }
            }
            for (node, assignment) in per_node {
                if written.get(&node).cloned().flatten() != Some(assignment.clone()) {
                    self.coord
                        .write_assignment(&cluster, &node, &assignment)
                        .await?;
                    tracing::debug!(%cluster, %node, tasks = assignment.tasks.len(), "assignment written");
                }
            }
        }
        self.placements.replace(placed);
        Ok(())
    }
}
