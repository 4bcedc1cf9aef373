//! What the scheduler does to the world outside coordination, behind one interface: start a
//! run's process (now, or ahead of its instant and held), journal a tick's launches in the
//! ledger before they start, and report outcomes. [`ProcessExecutor`] is the real one; the
//! loop tests use one that records each launch and lets the test end it.

use std::future::Future;
use std::sync::Arc;

use cloudtask_shared::api::{ActiveStatement, RunReport};
use cloudtask_shared::{RunRecord, Task};
use tokio::sync::watch;

use crate::client::CenterClient;
use crate::exec::{Held, StopRequest};
use crate::runner::{self, RunContext};
use crate::spool::Spool;

pub trait Executor: Clone + Send + Sync + 'static {
    /// A process started ahead of its instant, waiting to be released.
    type Held: Send + 'static;

    /// Starts the run's process without letting it run yet.
    fn hold(
        &self,
        task: Task,
        run: RunRecord,
    ) -> impl Future<Output = Result<Self::Held, String>> + Send;

    /// Lets a held process go; false when it can no longer run (it died meanwhile).
    fn release(held: &mut Self::Held) -> bool;

    /// Runs `run` (status `running`, already in the ledger) to its end, in `held` when its
    /// process was started ahead; returns the final record and whether its report reached
    /// the disk (if not, the run stays in the ledger).
    fn run(
        &self,
        task: Task,
        run: RunRecord,
        stop: watch::Receiver<Option<StopRequest>>,
        held: Option<Self::Held>,
    ) -> impl Future<Output = (RunRecord, bool)> + Send;

    /// Records the outcome of a run that never started (missed, skipped).
    fn report(&self, run: RunRecord) -> impl Future<Output = ()> + Send;

    /// Journals runs about to start; the entry is released once all have reported.
    fn ledger_add(&self, runs: &[RunRecord]) -> impl Future<Output = std::io::Result<u64>> + Send;

    fn ledger_release(&self, entry: u64) -> impl Future<Output = ()> + Send;

    /// Delivers what is reported but not yet acknowledged (at shutdown).
    fn flush(&self) -> impl Future<Output = Result<(), String>> + Send;

    /// Tells the center which runs this node has active, but only once every report written
    /// before is acknowledged (so a run missing from the list really is unknown here, not a
    /// report still on its way); false when it was not sent.
    fn state_active(&self, statement: ActiveStatement) -> impl Future<Output = bool> + Send;
}

/// Processes on this node, reports through the spool.
#[derive(Clone)]
pub struct ProcessExecutor {
    pub ctx: RunContext,
    pub spool: Arc<Spool>,
    pub client: CenterClient,
}

impl Executor for ProcessExecutor {
    type Held = Held;

    async fn hold(&self, task: Task, run: RunRecord) -> Result<Held, String> {
        runner::hold(&self.ctx, &task, &run).await
    }

    fn release(held: &mut Held) -> bool {
        held.release().is_ok()
    }

    async fn run(
        &self,
        task: Task,
        run: RunRecord,
        stop: watch::Receiver<Option<StopRequest>>,
        held: Option<Held>,
    ) -> (RunRecord, bool) {
        runner::run(self.ctx.clone(), task, run, stop, held).await
    }

    async fn report(&self, run: RunRecord) {
        self.ctx.writer.send(RunReport { run, log: None }).await;
    }

    async fn ledger_add(&self, runs: &[RunRecord]) -> std::io::Result<u64> {
        self.spool.ledger_add(runs).await
    }

    async fn ledger_release(&self, entry: u64) {
        self.spool.ledger_release(entry).await;
    }

    async fn flush(&self) -> Result<(), String> {
        self.spool.flush(&self.client).await
    }

    async fn state_active(&self, statement: ActiveStatement) -> bool {
        if self.spool.backlog().await > 0 {
            return false;
        }
        match self.client.active(&statement).await {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(error = %e, "active runs not stated");
                false
            }
        }
    }
}
