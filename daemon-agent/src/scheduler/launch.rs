//! From a claimed run to a started one: the concurrency decision, the capacity queue and
//! shedding, the ledger write before any process starts, and launch-ahead (processes
//! started and held before their instant, released at it).

use std::collections::{BTreeSet, HashMap};

use cloudtask_shared::{RunRecord, RunStatus, Trigger};
use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;

use super::claims::Want;
use super::policy::{self, Overlap};
use super::{Executor, Launch, Scheduler, Stop};
use crate::exec::StopRequest;
use crate::plan::Fate;

/// A process started ahead for a scheduled run; `held` is empty while it is being spawned.
pub(super) struct HeldSlot<H> {
    pub(super) task: String,
    /// The task version it was started for: an edit in between makes it useless.
    pub(super) version: u64,
    pub(super) at: Timestamp,
    pub(super) held: Option<H>,
}

/// What a holding task sends back: the run id and its held process.
pub(super) type HeldResult<H> = (String, Result<H, String>);

/// Runs in flight, by run and by task: a tick asks "is this task running?" for every due
/// instant, so that answer must not scan every active run.
#[derive(Default)]
pub(super) struct ActiveRuns {
    by_run: HashMap<String, (String, Stop)>,
    by_task: HashMap<String, BTreeSet<String>>,
}

impl ActiveRuns {
    pub(super) fn insert(&mut self, task: &str, run: &str, stop: Stop) {
        self.by_run
            .insert(run.to_string(), (task.to_string(), stop));
        self.by_task
            .entry(task.to_string())
            .or_default()
            .insert(run.to_string());
        metrics::gauge!(cloudtask_daemon_kit::metrics::RUNS_ACTIVE).set(self.by_run.len() as f64);
    }

    pub(super) fn remove(&mut self, run: &str) {
        if let Some((task, _)) = self.by_run.remove(run)
            && let Some(runs) = self.by_task.get_mut(&task)
        {
            runs.remove(run);
            if runs.is_empty() {
                self.by_task.remove(&task);
            }
        }
        metrics::gauge!(cloudtask_daemon_kit::metrics::RUNS_ACTIVE).set(self.by_run.len() as f64);
    }

    /// The task's active runs: (run id, stop handle).
    pub(super) fn of_task<'a>(
        &'a self,
        task: &str,
    ) -> impl Iterator<Item = (&'a String, &'a Stop)> + 'a {
        self.by_task
            .get(task)
            .into_iter()
            .flatten()
            .filter_map(|run| self.by_run.get(run).map(|(_, stop)| (run, stop)))
    }

    pub(super) fn stops(&self) -> impl Iterator<Item = &Stop> {
        self.by_run.values().map(|(_, stop)| stop)
    }

    pub(super) fn len(&self) -> usize {
        self.by_run.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.by_run.is_empty()
    }
}

impl<E: Executor> Scheduler<E> {
    /// Decides what a claimed want becomes: a launch (returned, to start with the tick's
    /// batch), or a `missed` / `skipped` record.
    pub(super) async fn act(&mut self, want: Want) -> Option<Launch> {
        let task = self.owned.get(want.task()).map(|o| o.task.clone())?;
        let run = match want {
            Want::Planned {
                at,
                fate: Fate::Missed,
                ..
            } => {
                let run = self.record(&task, at, 1, Trigger::Schedule);
                let why = "the instant passed while no run could start (node or agent down); misfire policy did not catch it up";
                self.report(run.ended(RunStatus::Missed, self.now(), why))
                    .await;
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
        match policy::overlap(
            task.spec.concurrency,
            run.trigger,
            running.as_deref(),
            &run.id,
        ) {
            Overlap::Start => {}
            Overlap::Skip(message) => {
                self.report(run.ended(RunStatus::Skipped, self.now(), message))
                    .await;
                return None;
            }
            Overlap::Replace(message) => {
                for (_, stop) in self.active.of_task(&task.id) {
                    let _ = stop.send(Some(StopRequest {
                        message: message.clone(),
                    }));
                }
            }
        }
        let (stop_tx, stop_rx) = watch::channel(None);
        self.active.insert(&task.id, &run.id, stop_tx);
        Some((task, run, stop_rx))
    }

    /// Starts a tick's runs: one ledger write for all of them first (so a crash reports them
    /// `lost`, never forgets them), then the processes.
    pub(super) async fn launch(&mut self, mut launches: Vec<Launch>) {
        if launches.is_empty() {
            return;
        }
        // Over capacity, claimed runs wait in a bounded queue; beyond it they are skipped with
        // the reason, so an overloaded node sheds load instead of growing without bound.
        let room = policy::room(self.capacity(), self.started, self.waiting.len());
        if launches.len() > room {
            let message = policy::shed_message(&self.cfg.name, self.started, self.waiting.len());
            for (_, run, _) in launches.split_off(room) {
                self.active.remove(&run.id);
                let run = run.ended(RunStatus::Skipped, self.now(), message.clone());
                self.report(run).await;
            }
            if launches.is_empty() {
                return;
            }
        }
        let now = self.now();
        let runs: Vec<RunRecord> = launches
            .iter()
            .map(|(_, r, _)| RunRecord {
                status: RunStatus::Running,
                started_at: Some(now),
                ..r.clone()
            })
            .collect();
        let entry = match self.executor.ledger_add(&runs).await {
            Ok(e) => e,
            Err(e) => {
                // What is not recorded is not launched: a crash could not tell it ran. The
                // instant is recorded `failed` with the reason (the report reaches the center
                // directly when the disk refuses it too).
                self.not_launched += runs.len() as u64;
                tracing::error!(error = %e, runs = runs.len(), not_launched_total = self.not_launched, "cannot write the run ledger (disk full?); not launching");
                for run in runs {
                    self.active.remove(&run.id);
                    let why = format!("agent could not record the launch: {e}");
                    self.report(run.ended(RunStatus::Failed, now, why)).await;
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

    pub(super) fn capacity(&self) -> usize {
        self.cfg.capacity.max(1) as usize
    }

    /// Starts waiting runs while there are free slots.
    pub(super) fn start_waiting(&mut self) {
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
                }) if version == task.version => E::release(&mut held).then_some(held),
                _ => None,
            };
            starting.push((task, running, stop_rx, held));
        }
        for (task, running, stop_rx, held) in starting {
            let (executor, done) = (self.executor.clone(), self.done_tx.clone());
            tokio::spawn(async move {
                let finished = executor.run(task, running, stop_rx, held).await;
                let _ = done.send(finished).await;
            });
        }
    }

    /// When to start the processes of the next instant not yet considered for holding.
    pub(super) fn next_hold_at(&self) -> Option<Timestamp> {
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
    pub(super) fn hold_ahead(&mut self, now: Timestamp, after: Timestamp) {
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
            let (task, executor, tx) =
                (o.task.clone(), self.executor.clone(), self.held_tx.clone());
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
                let result = executor.hold(task, run.clone()).await;
                let _ = tx.send((run.id, result)).await;
            });
        }
    }

    /// A held process is ready, or could not be started (the run will try again at its
    /// instant, and report the error then if it persists).
    pub(super) fn on_held(&mut self, run: String, result: Result<E::Held, String>) {
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

    /// Kills the held processes that can no longer be used (see [`policy::keep_held`]):
    /// their task moved, was edited or paused, or their instant passed without their run.
    pub(super) fn sweep_held(&mut self, now: Timestamp) {
        let (owned, active) = (&self.owned, &self.active);
        self.held.retain(|run, slot| {
            policy::keep_held(
                slot.version,
                slot.at,
                owned.get(&slot.task).map(|o| &o.task),
                now,
                active.by_run.contains_key(run),
            )
        });
    }
}

impl<E: Executor> Scheduler<E> {
    /// A finished run: its slot is free, and its ledger entry goes once its report is on disk.
    pub(super) fn on_done(&mut self, (rec, spooled): (RunRecord, bool)) {
        self.active.remove(&rec.id);
        self.started = self.started.saturating_sub(1);
        self.start_waiting();
        if spooled && let Some(entry) = self.ledger.done(&rec.id) {
            let executor = self.executor.clone();
            tokio::spawn(async move { executor.ledger_release(entry).await });
        }
    }
}
