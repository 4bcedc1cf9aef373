//! The center's requests for this node (run now, stop), and the event stream they come by.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use cloudtask_shared::api::Event;
use cloudtask_shared::backoff::Backoff;
use cloudtask_shared::shutdown::Shutdown;
use tokio::sync::mpsc;

use super::claims::Want;
use super::{Executor, Scheduler};
use crate::client::{CenterClient, Complaints};
use crate::exec::StopRequest;

/// How many handled run requests a node remembers (a redelivery comes within seconds).
const REQUESTS_KEPT: usize = 10_000;

/// Run ids of requests already handled, the oldest forgotten first.
#[derive(Default)]
pub(super) struct Requested {
    ids: HashSet<String>,
    order: VecDeque<String>,
}

impl Requested {
    /// False when `id` was handled already.
    fn insert(&mut self, id: &str) -> bool {
        if !self.ids.insert(id.to_string()) {
            return false;
        }
        self.order.push_back(id.to_string());
        if self.order.len() > REQUESTS_KEPT
            && let Some(old) = self.order.pop_front()
        {
            self.ids.remove(&old);
        }
        true
    }

    /// `id` was not acted on after all: its next delivery is.
    pub(super) fn forget(&mut self, id: &str) {
        if self.ids.remove(id) {
            self.order.retain(|o| o != id);
        }
    }
}

impl<E: Executor> Scheduler<E> {
    pub(super) async fn on_event(&mut self, ev: Event) {
        match ev {
            Event::RunRequested {
                node,
                run,
                task_version,
                ..
            } if node == self.cfg.name => {
                // The center delivers events at least once: a request this node already
                // handled is not run again (its claim would come back as this session's own).
                if !self.requested.insert(&run.id) {
                    tracing::debug!(run = %run.id, "run request delivered again; already handled");
                    return;
                }
                // The request may overtake the assignment change that brings the task, or the
                // edit just before it: catch up first.
                if self
                    .owned
                    .get(&run.task)
                    .is_none_or(|o| o.task.version < task_version)
                {
                    self.reconcile().await;
                }
                if let Some(o) = self
                    .owned
                    .get(&run.task)
                    .filter(|o| o.task.version < task_version)
                {
                    let id = o.task.id.clone();
                    if let Some(task) = self.fetch_spec(&id, task_version).await {
                        self.install(task);
                    }
                }
                if self.owned.contains_key(&run.task) {
                    if let Some(run) = self.defer(*run) {
                        self.claim_and_act(vec![Want::Manual { run }]).await;
                    }
                } else {
                    // The task moved on: the leader moves the request after it, to the node
                    // that owns the task now. Forgotten, so a later delivery is looked at again
                    // (the task may come back).
                    self.requested.forget(&run.id);
                    tracing::info!(run = %run.id, "run request for a task this node does not own; left to its new node");
                }
            }
            Event::StopRequested { node, task, runs } if node == self.cfg.name => {
                for (id, stop) in self.active.of_task(&task) {
                    if runs.is_empty() || runs.contains(id) {
                        let _ = stop.send(Some(StopRequest {
                            message: "stopped by user".into(),
                        }));
                    }
                }
            }
            _ => {}
        }
    }
}

/// Keeps a subscription to the center's event stream, reconnecting while the center is away.
pub(super) async fn follow_events(
    client: CenterClient,
    node: String,
    idle: Duration,
    tx: mpsc::Sender<Event>,
    shutdown: Shutdown,
) {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    let mut complaints = Complaints::default();
    loop {
        tokio::select! {
            r = client.follow_events(&node, idle, &tx) => {
                if let Err(e) = r {
                    complaints.failed("event stream", &e);
                } else {
                    complaints.succeeded("event stream");
                    backoff.reset();
                }
            }
            () = shutdown.wait() => return,
        }
        if tx.is_closed() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(backoff.next_delay()) => {}
            () = shutdown.wait() => return,
        }
    }
}
