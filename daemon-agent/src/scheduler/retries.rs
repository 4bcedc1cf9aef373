//! Retries the center requested: a failed attempt's next one comes as a run request with a
//! not-before instant (its backoff), and waits here until the tick claims it. The center
//! owns retries: it stores the next attempt with the report that earned it, so a retry
//! survives this agent's restart (the request is delivered again) and follows a task that
//! moved (the new node is asked).

use cloudtask_shared::RunRecord;

use super::{Executor, Scheduler};

impl<E: Executor> Scheduler<E> {
    /// Keeps a requested run until its not-before instant; gives it back when it is due now.
    pub(super) fn defer(&mut self, run: RunRecord) -> Option<RunRecord> {
        match run.not_before {
            Some(at) if at > self.now() => {
                tracing::info!(run = %run.id, %at, "retry waits for its backoff");
                self.retries.insert((at, run.id.clone()), run);
                None
            }
            _ => Some(run),
        }
    }

    /// Drops the waiting retries `keep` rejects (their task left, the session ended), and
    /// forgets them as handled: the center's next delivery of one is acted on.
    pub(super) fn drop_retries(&mut self, keep: impl Fn(&RunRecord) -> bool) {
        let requested = &mut self.requested;
        self.retries.retain(|_, r| {
            let kept = keep(r);
            if !kept {
                requested.forget(&r.id);
            }
            kept
        });
    }
}
