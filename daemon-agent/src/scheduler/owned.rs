//! Owned tasks: bringing them in line with this node's assignment, their specs (from the
//! center, cached on disk), installing their timers, and their cursors on disk.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use cloudtask_shared::Task;
use jiff::Timestamp;

use futures_util::StreamExt;

use super::{Executor, Owned, Scheduler};

/// Spec fetches in flight at once while bringing owned tasks in line.
pub(super) const SPEC_FETCHES: usize = 16;
use crate::client::CenterClient;
use crate::spool::{read_or_set_aside, write_atomic};
use cloudtask_shared::durable::Durability;

/// What asking for a task's spec gave.
#[derive(Debug)]
pub enum SpecFetch {
    Found(Box<Task>),
    /// The task does not exist (any more).
    Gone,
    /// The center could not be asked: use the copy on disk.
    Unavailable(String),
}

/// Where the agent gets the specs of the tasks it is assigned.
pub trait SpecSource: Send + Sync + 'static {
    fn fetch<'a>(&'a self, id: &'a str) -> Pin<Box<dyn Future<Output = SpecFetch> + Send + 'a>>;
}

/// Specs from the center's API.
pub struct CenterSpecs {
    pub client: CenterClient,
}

impl SpecSource for CenterSpecs {
    fn fetch<'a>(&'a self, id: &'a str) -> Pin<Box<dyn Future<Output = SpecFetch> + Send + 'a>> {
        Box::pin(async move {
            match self.client.task(id).await {
                Ok(view) => SpecFetch::Found(Box::new(view.task)),
                Err(e) if e.is_not_found() => SpecFetch::Gone,
                Err(e) => SpecFetch::Unavailable(e.to_string()),
            }
        })
    }
}

impl<E: Executor> Scheduler<E> {
    /// Re-reads this node's assignment and brings owned tasks in line with it.
    pub(super) async fn reconcile(&mut self) {
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
            if let Some(o) = self.owned.remove(&id) {
                tracing::info!(task = %o.task.spec.name, "task moved away from this node");
                if let Some(n) = o.next {
                    self.timers.remove(&(n, id.clone()));
                }
            }
            self.stale.remove(&id);
        }
        self.drop_retries(|r| wanted.contains_key(&r.task));
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
        let mut needed = Vec::new();
        for (id, version) in wanted {
            if self
                .owned
                .get(&id)
                .is_some_and(|o| o.task.version == version)
            {
                self.stale.remove(&id);
            } else {
                needed.push((id, version));
            }
        }
        // Fetched several at a time; once the center fails one, the rest come from the disk
        // cache without asking (an agent restarted while the center is away starts its timers
        // at once, and the resync fetches them again every few seconds).
        let away = std::sync::atomic::AtomicBool::new(false);
        let fetched: Vec<(String, u64, SpecFetch)> = {
            let (specs, away) = (&self.specs, &away);
            futures_util::stream::iter(needed)
                .map(|(id, version)| async move {
                    let fetch = if away.load(std::sync::atomic::Ordering::Relaxed) {
                        SpecFetch::Unavailable("the center failed an earlier fetch".into())
                    } else {
                        specs.fetch(&id).await
                    };
                    if matches!(fetch, SpecFetch::Unavailable(_)) {
                        away.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    (id, version, fetch)
                })
                .buffer_unordered(SPEC_FETCHES)
                .collect()
                .await
        };
        for (id, version, fetch) in fetched {
            match self.take_spec(&id, version, fetch).await {
                Some(task) => self.install(task),
                None => tracing::warn!(task = %id, "no spec for assigned task yet; retrying"),
            }
        }
        self.sweep_held(self.now());
    }

    /// The task's spec: from the center, else the copy on disk (so tasks keep firing while the
    /// center is away). Marks the task stale unless the exact version was found.
    pub(super) async fn fetch_spec(&mut self, id: &str, version: u64) -> Option<Task> {
        let fetch = self.specs.fetch(id).await;
        self.take_spec(id, version, fetch).await
    }

    /// What a fetch of the spec gave, cached on disk; the cached copy when the center was away.
    async fn take_spec(&mut self, id: &str, version: u64, fetch: SpecFetch) -> Option<Task> {
        let path = self.specs_dir.join(format!("{id}.json"));
        match fetch {
            SpecFetch::Found(task) => {
                // A cache: replaced atomically, not fsynced (a spec fetched again costs little,
                // an fsync per spec would cost seconds at start with thousands of tasks).
                if let Ok(bytes) = serde_json::to_vec(&task)
                    && let Err(e) = write_atomic(&path, bytes, Durability::Atomic).await
                {
                    tracing::warn!(error = %e, "cannot cache task spec");
                }
                if task.version >= version {
                    self.stale.remove(id);
                } else {
                    self.stale.insert(id.to_string());
                }
                return Some(*task);
            }
            SpecFetch::Gone => {
                self.stale.remove(id);
                return None;
            }
            SpecFetch::Unavailable(e) => {
                tracing::debug!(task = %id, error = %e, "center unavailable; using cached spec")
            }
        }
        self.stale.insert(id.to_string());
        read_or_set_aside(&path, "cached task spec").await
    }

    pub(super) fn install(&mut self, task: Task) {
        let schedules = match task.spec.validate() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(task = %task.spec.name, error = %e, "assigned task does not validate");
                return;
            }
        };
        let now = self.now();
        let id = task.id.clone();
        let cursor = match self.owned.remove(&id) {
            // An edit or a resume re-bases the schedule at now: nothing to catch up.
            Some(old) => {
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
        self.sweep_held(now);
    }

    pub(super) async fn save_cursors(&mut self) {
        self.cursors_saved = self.now();
        let cursors: BTreeMap<&String, Timestamp> =
            self.owned.iter().map(|(id, o)| (id, o.cursor)).collect();
        match serde_json::to_vec(&cursors) {
            Ok(bytes) => {
                if let Err(e) = write_atomic(&self.cursors_path, bytes, Durability::Synced).await {
                    tracing::warn!(error = %e, "cannot save schedule cursors");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot encode schedule cursors"),
        }
    }
}
