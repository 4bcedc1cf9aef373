//! Run operations: request a run (the one sequence behind a manual start and a lost run's
//! retry), stop runs, store agents' reports, and the bookkeeping of a node that left.

use std::collections::{BTreeMap, HashMap, HashSet};

use cloudtask_daemon_kit::metrics as m;
use cloudtask_shared::api::{ActiveStatement, ErrorCode, Event, RunReport, StartRequest};
use cloudtask_shared::coord::ClaimKey;
use cloudtask_shared::{
    Concurrency, RunRecord, RunStatus, Task, Trigger, manual_run_id, scheduled_instant,
};
use jiff::{SignedDuration, Timestamp};

use super::{Error, Result, Service};
use crate::auth::Principal;
use crate::store::{Effects, Request, RunWrite};

/// How long an idempotency key is remembered: a start repeated with it within this window
/// returns the run it created.
pub const IDEMPOTENCY_WINDOW: SignedDuration = SignedDuration::from_hours(24);

/// A start's outcome: the run, and whether this request created it (or an idempotency key
/// found the one an earlier request created).
#[derive(Debug)]
pub struct Started {
    pub run: RunRecord,
    pub created: bool,
}

impl Service {
    /// The one way a run is requested: the run row, its audit row and the two events (the
    /// run's record for followers, the request for its node) commit together, and the outbox
    /// delivers them. A run that already exists (by id, or by `key` within the window) is
    /// returned instead and nothing is written.
    async fn request_run(
        &self,
        task: &Task,
        run: RunRecord,
        key: Option<&str>,
        mut fx: Effects,
    ) -> Result<Started> {
        fx.events.push(Event::RunChanged {
            run: Box::new(run.clone()),
        });
        fx.events.push(Event::RunRequested {
            task: task.id.clone(),
            node: run.node.clone(),
            task_version: task.version,
            run: Box::new(run.clone()),
        });
        let since = run.scheduled_at - IDEMPOTENCY_WINDOW;
        if let Some(earlier) = self.store.request_run(&run, key, since, &fx).await? {
            return Ok(Started {
                run: earlier,
                created: false,
            });
        }
        self.committed(false);
        Ok(Started { run, created: true })
    }

    /// Starts a run of `task` now: every accepted start is its own run (its id carries a
    /// nonce of this request, or follows the idempotency key's earlier run). Under
    /// `concurrency = forbid`, a start while a run is active is refused.
    pub async fn start_run(
        &self,
        who: &Principal,
        task: &Task,
        key: Option<&str>,
        req: StartRequest,
    ) -> Result<Started> {
        let params = task
            .spec
            .resolve_start(&req.env, &req.args)
            .map_err(|e| Error::new(ErrorCode::InvalidParameter, e.to_string()))?;
        // To the millisecond, as the store keeps it: the run's CLOUDTASK_SCHEDULED_AT (from
        // the request event) and its stored instant are then the same.
        let now = Timestamp::now();
        let now = Timestamp::from_millisecond(now.as_millisecond()).unwrap_or(now);
        if let Some(key) = key
            && let Some(earlier) = self
                .store
                .start_key(&task.id, key, now - IDEMPOTENCY_WINDOW)
                .await?
        {
            return Ok(Started {
                run: earlier,
                created: false,
            });
        }
        if task.spec.concurrency == Concurrency::Forbid
            && let Some(active) = self.store.active_runs(Some(&task.id)).await?.first()
        {
            return Err(Error::new(
                ErrorCode::RunActive,
                format!(
                    "task {} has run {} {} and concurrency is forbid: stop it, wait for it, or set concurrency to allow or replace",
                    task.spec.name, active.id, active.status
                ),
            ));
        }
        let Some(node) = self
            .placements
            .settle(&task.id, std::time::Duration::from_secs(3))
            .await
        else {
            return Err(Error::new(
                ErrorCode::Unassigned,
                format!(
                    "task {} is unassigned: no live node of cluster {:?} can run it",
                    task.spec.name, task.spec.cluster
                ),
            ));
        };
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).map_err(Error::internal)?;
        let id = manual_run_id(&task.id, now, &hex::encode(nonce));
        let run = RunRecord {
            params,
            args: req.args,
            requested_by: Some(who.name.clone()),
            ..RunRecord::scheduled(task, id, now, &node, 1, Trigger::Manual)
        };
        let mut fx = Self::effects(who, "task.start", &task.id, &run.id, vec![]);
        if let Some(a) = fx.audit.as_mut() {
            a.group = Some(task.spec.group.clone());
        }
        self.request_run(task, run, key, fx).await
    }

    /// The active runs of `task` and the stop requests for their nodes.
    pub(super) async fn stop_events(&self, task: &Task) -> Result<(Vec<String>, Vec<Event>)> {
        let active = self.store.active_runs(Some(&task.id)).await?;
        let mut by_node: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in &active {
            by_node
                .entry(r.node.clone())
                .or_default()
                .push(r.id.clone());
        }
        let events = by_node
            .into_iter()
            .map(|(node, runs)| Event::StopRequested {
                task: task.id.clone(),
                node,
                runs,
            })
            .collect();
        Ok((active.into_iter().map(|r| r.id).collect(), events))
    }

    /// Asks the owning agents to kill every active run of `task`; returns their ids.
    pub async fn stop_runs(&self, who: &Principal, task: &Task) -> Result<Vec<String>> {
        let (runs, events) = self.stop_events(task).await?;
        let mut fx = Self::effects(who, "task.stop", &task.id, &runs.join(","), events);
        if let Some(a) = fx.audit.as_mut() {
            a.group = Some(task.spec.group.clone());
        }
        self.store.commit_effects(&fx).await?;
        self.committed(false);
        Ok(runs)
    }

    /// Stores a batch of an agent's reports idempotently in one transaction; the runs that
    /// moved are announced. Reports of tasks deleted meanwhile are dropped (their runs went
    /// with the task). Returns the runs whose live output is over (finished or dropped).
    pub async fn record_reports(&self, reports: &[&RunReport]) -> Result<Vec<String>> {
        let mut ids: Vec<&str> = reports.iter().map(|r| r.run.task.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let known = self.store.existing_tasks(&ids).await?;
        let mut over = Vec::new();
        let mut keep = Vec::with_capacity(reports.len());
        for r in reports {
            if known.contains(&r.run.task) {
                keep.push((&r.run, r.log.as_deref()));
            } else {
                over.push(r.run.id.clone());
            }
        }
        // The tasks of finished runs that may earn a retry, read before the write.
        let tasks = self
            .tasks_of(
                keep.iter()
                    .map(|(run, _)| *run)
                    .filter(|r| may_retry(r))
                    .map(|r| r.task.as_str()),
            )
            .await?;
        let fx = |moved: &[&RunRecord]| Effects {
            requests: retries(moved, &tasks, |t| self.placements.node_of(t)),
            ..announce_runs(moved)
        };
        let began = std::time::Instant::now();
        let writes = self.store.put_runs(&keep, &fx).await?;
        metrics::histogram!(m::STORE_SECONDS, "op" => "reports").record(began.elapsed());
        metrics::counter!(m::REPORTS).increment(reports.len() as u64);
        for ((run, _), w) in keep.iter().zip(&writes) {
            if *w == RunWrite::Applied && run.status.is_terminal() {
                metrics::counter!(m::RUNS, "status" => run.status.as_str()).increment(1);
            }
        }
        if writes.contains(&RunWrite::Applied) {
            self.committed(false);
        }
        over.extend(
            keep.iter()
                .filter(|(run, _)| run.status.is_terminal())
                .map(|(run, _)| run.id.clone()),
        );
        Ok(over)
    }

    /// A node left its cluster: its running runs become `lost` (nobody will report them), the
    /// retries they earn are requested from where `node_of` (the leader's new placement) puts
    /// their tasks, all in one transaction, and followers hear of the node and the runs. Its
    /// requests not taken yet are left to follow their tasks (the leader moves them).
    /// Returns the lost runs.
    pub async fn node_lost(
        &self,
        cluster: &str,
        node: &str,
        node_of: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> Result<Vec<RunRecord>> {
        let why =
            format!("node {node} left the cluster (its session expired) while the run was running");
        let down = Event::NodeDown {
            cluster: cluster.to_string(),
            name: node.to_string(),
        };
        let active = self.store.active_runs_on(node).await?;
        let tasks = self
            .tasks_of(active.iter().map(|r| r.task.as_str()))
            .await?;
        // Leader-only: refused whole if another center has led since this one took the lead.
        let fence = self.placements.fence();
        let fx = |lost: &[&RunRecord]| {
            let mut fx = announce_runs(lost);
            fx.events.insert(0, down.clone());
            fx.requests = retries(lost, &tasks, node_of);
            fx.fence = fence;
            fx
        };
        let lost = self
            .store
            .mark_node_runs_lost(node, &why, Timestamp::now(), &fx)
            .await?;
        if lost.is_empty() {
            // No run to mark, but followers still hear the node went.
            self.store
                .commit_effects(&Effects {
                    fence,
                    ..Effects::events(vec![down.clone()])
                })
                .await?;
        }
        self.committed(false);
        Ok(lost)
    }

    /// Claims made by sessions that ended (`ended`: each claim with the node that made it)
    /// whose run the store has no record of, or only as a request: the node claimed them and
    /// ended before it recorded them, and nobody else can run them now (the claim is taken).
    /// An instant is recorded `lost`, not retried (whether it started is unknown, and its time
    /// is past); a request is `lost` and asked again, as one never taken. A real report the
    /// node's spool still holds replaces `lost` later. Returns the runs marked.
    pub async fn claims_left_by_ended_sessions(
        &self,
        ended: &[(ClaimKey, String)],
        node_of: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> Result<Vec<RunRecord>> {
        let now = Timestamp::now();
        let ids: Vec<&str> = ended.iter().map(|(k, _)| k.run.as_str()).collect();
        let statuses = self.store.run_statuses(&ids).await?;
        let mut lost = Vec::new();
        let mut requests = Vec::new();
        let mut task_ids = Vec::new();
        for (key, node) in ended {
            let why =
                format!("claimed by node {node}, whose session ended before it recorded the run");
            match statuses.get(&key.run).map(|(status, _)| status) {
                None => {
                    let Some(at) = scheduled_instant(&key.task, &key.run) else {
                        continue;
                    };
                    task_ids.push((key.task.clone(), key.run.clone(), at, node.clone(), why));
                }
                Some(RunStatus::Scheduled) => {
                    if let Some(run) = self.store.run(&key.run).await? {
                        requests.push(run.ended(RunStatus::Lost, now, why));
                    }
                }
                Some(_) => {}
            }
        }
        let tasks = self
            .tasks_of(
                requests
                    .iter()
                    .map(|r| r.task.as_str())
                    .chain(task_ids.iter().map(|(t, ..)| t.as_str())),
            )
            .await?;
        for (task, run, at, node, why) in task_ids {
            let Some(t) = tasks.get(&task) else {
                continue;
            };
            let attempt = run
                .rsplit_once('-')
                .and_then(|(_, a)| a.parse().ok())
                .unwrap_or(1);
            let trigger = if attempt > 1 {
                Trigger::Retry
            } else {
                Trigger::Schedule
            };
            lost.push(
                RunRecord::scheduled(t, run, at, &node, attempt, trigger).ended(
                    RunStatus::Lost,
                    now,
                    why,
                ),
            );
        }
        if lost.is_empty() && requests.is_empty() {
            return Ok(Vec::new());
        }
        let asked: HashSet<&str> = requests.iter().map(|r| r.id.as_str()).collect();
        let reports: Vec<(&RunRecord, Option<&str>)> =
            lost.iter().chain(&requests).map(|r| (r, None)).collect();
        let fx = |moved: &[&RunRecord]| {
            let again: Vec<&RunRecord> = moved
                .iter()
                .filter(|m| asked.contains(m.id.as_str()))
                .copied()
                .collect();
            Effects {
                requests: retries(&again, &tasks, node_of),
                ..announce_runs(moved)
            }
        };
        let writes = self.store.put_runs(&reports, &fx).await?;
        let marked: Vec<RunRecord> = reports
            .iter()
            .zip(&writes)
            .filter(|(_, w)| **w == RunWrite::Applied)
            .map(|((r, _), _)| (*r).clone())
            .collect();
        for r in &marked {
            tracing::warn!(run = %r.id, node = %r.node, "claimed by a session that ended before the run was recorded; marked lost");
        }
        if !marked.is_empty() {
            self.committed(false);
        }
        Ok(marked)
    }

    /// The tasks of `runs`, by id (deleted ones are absent).
    async fn tasks_of<'a>(
        &self,
        ids: impl Iterator<Item = &'a str>,
    ) -> Result<HashMap<String, Task>> {
        let mut tasks = HashMap::new();
        for id in ids {
            if !tasks.contains_key(id)
                && let Some(t) = self.store.task(id).await?
            {
                tasks.insert(id.to_string(), t);
            }
        }
        Ok(tasks)
    }
}

/// Whether a run's status may earn a retry ([`RunRecord::retry`]).
fn may_retry(run: &RunRecord) -> bool {
    matches!(
        run.status,
        RunStatus::Failed | RunStatus::TimedOut | RunStatus::Lost
    )
}

/// The retries `ended` runs earn, each requested from the node `node_of` gives its task (its
/// old node when the task has none now: the leader's node-loss pass moves it on from there).
fn retries(
    ended: &[&RunRecord],
    tasks: &HashMap<String, Task>,
    node_of: impl Fn(&str) -> Option<String>,
) -> Vec<Request> {
    ended
        .iter()
        .filter(|r| may_retry(r))
        .filter_map(|r| {
            let task = tasks.get(&r.task)?;
            let node = node_of(&r.task).unwrap_or_else(|| r.node.clone());
            let run = r.retry(&task.spec, &node)?;
            tracing::info!(run = %run.id, %node, not_before = ?run.not_before, "retry requested");
            Some(Request {
                run,
                task_version: task.version,
            })
        })
        .collect()
}

impl Service {
    /// Run requests for `node` that no agent has taken yet (still `scheduled`): sent again to
    /// an agent whose event stream (re)connects or fell behind, so a request never depends on
    /// one broadcast reaching its node (the leader re-sends waiting ones too).
    pub async fn pending_requests(&self, node: &str) -> Result<Vec<Event>> {
        let runs = self.store.active_runs(None).await?;
        let mut versions: BTreeMap<String, Option<u64>> = BTreeMap::new();
        let mut out = Vec::new();
        for run in runs {
            if run.status != RunStatus::Scheduled || run.node != node {
                continue;
            }
            let version = match versions.get(&run.task) {
                Some(v) => *v,
                None => {
                    let v = self.store.task(&run.task).await?.map(|t| t.version);
                    versions.insert(run.task.clone(), v);
                    v
                }
            };
            let Some(task_version) = version else {
                continue;
            };
            out.push(Event::RunRequested {
                task: run.task.clone(),
                node: run.node.clone(),
                task_version,
                run: Box::new(run),
            });
        }
        Ok(out)
    }

    /// Sends run requests again, through the outbox (so the agents of every center hear them).
    /// Requests not taken yet whose task has moved: each `(run, new node, task version)` is
    /// moved to the task's new node and requested from it, in one transaction. The old node
    /// would not run it (it does not own the task), so without this the request waited for
    /// good. Returns the moved runs.
    pub async fn move_requests(
        &self,
        moves: &[(&RunRecord, String, u64)],
    ) -> Result<Vec<RunRecord>> {
        let triples: Vec<(&str, &str, &str)> = moves
            .iter()
            .map(|(r, to, _)| (r.id.as_str(), r.node.as_str(), to.as_str()))
            .collect();
        let versions: HashMap<&str, u64> =
            moves.iter().map(|(r, _, v)| (r.id.as_str(), *v)).collect();
        let fence = self.placements.fence();
        let fx = |moved: &[&RunRecord]| {
            let mut fx = announce_runs(moved);
            fx.fence = fence;
            fx.events.extend(moved.iter().filter_map(|r| {
                Some(Event::RunRequested {
                    task: r.task.clone(),
                    node: r.node.clone(),
                    task_version: *versions.get(r.id.as_str())?,
                    run: Box::new((*r).clone()),
                })
            }));
            fx
        };
        let moved = self.store.move_requests(&triples, &fx).await?;
        for r in &moved {
            tracing::info!(run = %r.id, node = %r.node, "request not taken yet follows its task to its new node");
        }
        if !moved.is_empty() {
            self.committed(false);
        }
        Ok(moved)
    }

    pub async fn redeliver(&self, requests: Vec<Event>) -> Result<()> {
        if requests.is_empty() {
            return Ok(());
        }
        self.store
            .commit_effects(&Effects::events(requests))
            .await?;
        self.committed(false);
        Ok(())
    }

    /// An agent's statement of the runs it has active (taken when all its earlier reports
    /// were acknowledged): a run the store has `running` on that node, started before the
    /// statement, that the node does not list, was orphaned (its ledger lost, a report never
    /// made) and becomes `lost`, retried per policy. `scheduled` runs are not judged here:
    /// they are requests still being delivered.
    pub async fn reap_orphans(&self, statement: &ActiveStatement) -> Result<Vec<RunRecord>> {
        // Read first: most statements find nothing to mark, and then write nothing.
        let candidates: Vec<RunRecord> = self
            .store
            .active_runs_on(&statement.node)
            .await?
            .into_iter()
            .filter(|r| {
                r.status == RunStatus::Running
                    && r.started_at.is_some_and(|s| s < statement.taken_at)
                    && !statement.runs.contains(&r.id)
            })
            .collect();
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let tasks = self
            .tasks_of(candidates.iter().map(|r| r.task.as_str()))
            .await?;
        let why = format!(
            "node {} does not know this run (orphaned: it has no record of it running)",
            statement.node
        );
        let fx = |orphans: &[&RunRecord]| Effects {
            requests: retries(orphans, &tasks, |t| self.placements.node_of(t)),
            ..announce_runs(orphans)
        };
        let orphans = self
            .store
            .mark_orphans_lost(
                &statement.node,
                &statement.runs,
                statement.taken_at,
                &why,
                Timestamp::now(),
                &fx,
            )
            .await?;
        if !orphans.is_empty() {
            tracing::warn!(node = %statement.node, runs = orphans.len(), "orphaned runs marked lost");
            self.committed(false);
        }
        Ok(orphans)
    }
}

/// Followers hear of every run a write moved.
fn announce_runs(moved: &[&RunRecord]) -> Effects {
    Effects::events(
        moved
            .iter()
            .map(|r| Event::RunChanged {
                run: Box::new((*r).clone()),
            })
            .collect(),
    )
}
