//! A finished run: its slot is free, its ledger entry released, and a failed or timed-out
//! attempt with retries left is scheduled again ([`super::policy::retry_at`]).

use cloudtask_shared::RunRecord;

use super::{Executor, Scheduler, policy};

impl<E: Executor> Scheduler<E> {
    pub(super) fn on_done(&mut self, (rec, spooled): (RunRecord, bool)) {
        self.active.remove(&rec.id);
        self.started = self.started.saturating_sub(1);
        self.start_waiting();
        if spooled && let Some(entry) = self.ledger.done(&rec.id) {
            let executor = self.executor.clone();
            tokio::spawn(async move { executor.ledger_release(entry).await });
        }
        let Some(o) = self.owned.get(&rec.task) else {
            return;
        };
        if let Some(at) = policy::retry_at(&rec, &o.task.spec, self.now()) {
            tracing::info!(run = %rec.id, attempt = rec.attempt + 1, %at, "retry scheduled");
            let next = rec.next_attempt(&self.cfg.name, None);
            self.retries.insert((at, next.id.clone()), next);
        }
    }
}
