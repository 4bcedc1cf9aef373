//! The tick: due instants (planned by [`crate::plan`]) and due retries, claimed in one batch
//! fenced by this node's assignment version; only what this node won is acted on.

use cloudtask_shared::coord::{self, ClaimKey, ClaimOutcome};
use cloudtask_shared::{RunRecord, Trigger, run_id};
use jiff::{SignedDuration, Timestamp};

use super::{CLAIMS_KEPT, CURSOR_SAVE_EVERY, Executor, Scheduler};
use crate::plan::{Fate, plan};

/// Why a launch is wanted: a scheduled instant, a retry, or an operator's "run now".
pub(super) enum Want {
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
    pub(super) fn task(&self) -> &str {
        match self {
            Want::Planned { task, .. } => task,
            Want::Retry { run } | Want::Manual { run } => &run.task,
        }
    }

    pub(super) fn key(&self) -> ClaimKey {
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

impl<E: Executor> Scheduler<E> {
    pub(super) async fn tick(&mut self, now: Timestamp) {
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
            if self.now().duration_since(self.cursors_saved) >= CURSOR_SAVE_EVERY {
                self.save_cursors().await;
            }
        }
        // Held processes whose instant has passed without their run starting (skipped, taken
        // elsewhere, paused, moved) are of no use any more; dropping one kills it.
        self.sweep_held(now);
        // Timers this tick set may already be within reach (a period shorter than the lead).
        self.hold_ahead(now, now);
    }

    /// Claims all wants in one batch and acts on those this node won.
    pub(super) async fn claim_and_act(&mut self, mut wants: Vec<Want>) {
        for attempt in 0..2 {
            wants.retain(|w| self.owned.contains_key(w.task()));
            let Some(version) = self.assignment_version else {
                return;
            };
            if wants.is_empty() {
                return;
            }
            let keys: Vec<ClaimKey> = wants.iter().map(Want::key).collect();
            let began = std::time::Instant::now();
            let claimed = self
                .coord
                .claim(&self.cfg.cluster, &self.cfg.name, version, &keys)
                .await;
            metrics::histogram!(cloudtask_daemon_kit::metrics::CLAIM_SECONDS)
                .record(began.elapsed());
            match claimed {
                Ok(outcomes) => {
                    let won = outcomes
                        .iter()
                        .filter(|o| matches!(o, ClaimOutcome::Claimed))
                        .count();
                    metrics::counter!(cloudtask_daemon_kit::metrics::FIRES).increment(won as u64);
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
    pub(super) fn try_again(&mut self, wants: Vec<Want>) {
        let again = self
            .now()
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
                    // Forgotten as handled, so the center's next delivery of the request (it
                    // sends requests again until one is taken) is acted on.
                    self.requested.forget(&run.id);
                    tracing::warn!(run = %run.id, "manual run not started: claims are failing; waiting for the request again");
                }
            }
        }
    }

    pub(super) async fn prune_claims(&mut self) {
        for id in std::mem::take(&mut self.claimed_since_gc) {
            if let Err(e) = self.coord.prune_claims(&id, CLAIMS_KEPT).await {
                tracing::warn!(task = %id, error = %e, "claim pruning failed");
            }
        }
    }
}
