//! In-memory fan-out: the event stream every subscriber sees, and the live output of runs
//! still in progress (the final log lands in the store when the run's report arrives).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, RwLock};

use cloudtask_shared::Task;
use cloudtask_shared::api::Event;
use tokio::sync::broadcast;

/// Live output kept per running run, so a follower who arrives late sees the start.
const LIVE_CAP: usize = 256 * 1024;

struct LiveLog {
    text: String,
    tx: broadcast::Sender<String>,
}

/// Runs whose output is buffered at once, and the bytes buffered across them: the hub's
/// memory stays bounded whatever agents send (runs beyond the bound are still followed
/// through the store's final log).
const LIVE_RUNS_MAX: usize = 8192;
const LIVE_BYTES_MAX: usize = 64 << 20;

/// Runs remembered as finished, so a live chunk that arrives after the final report does not
/// open a buffer nobody will ever close.
const FINISHED_KEPT: usize = 10_000;

#[derive(Default)]
struct Live {
    logs: HashMap<String, LiveLog>,
    /// Bytes of text buffered across `logs`.
    bytes: usize,
    finished: HashSet<String>,
    finished_order: VecDeque<String>,
}

/// Events also go to a topic of their own, so a subscriber that needs only task changes (the
/// allocator) or only node commands (agents) never lags behind a storm of run records: a
/// report batch announces thousands of runs at once.
#[derive(Clone)]
pub struct Hub {
    events: broadcast::Sender<Event>,
    tasks: broadcast::Sender<Event>,
    commands: broadcast::Sender<Event>,
    live: Arc<Mutex<Live>>,
    /// Each task's group, learnt from task events (and the store at start), so that a stream
    /// shows a caller only the groups it may read. A deleted task's entry stays: its deletion
    /// event is still to be filtered when a subscriber reads it.
    groups: Arc<RwLock<HashMap<String, String>>>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            events: broadcast::channel(4096).0,
            tasks: broadcast::channel(4096).0,
            commands: broadcast::channel(4096).0,
            live: Arc::default(),
            groups: Arc::default(),
        }
    }
}

impl Hub {
    /// Learns the groups of these tasks (the store's tasks, at start).
    pub fn know_groups<'a>(&self, tasks: impl IntoIterator<Item = &'a Task>) {
        let mut g = self.groups.write().unwrap_or_else(|e| e.into_inner());
        for t in tasks {
            g.insert(t.id.clone(), t.spec.group.clone());
        }
    }

    /// The group of the task an event is about; `None` for cluster-wide events (nodes) and
    /// `Some(None)` for a task whose group this hub never learnt.
    pub fn group_of(&self, event: &Event) -> Option<Option<String>> {
        let task = match event {
            Event::TaskChanged { task } => return Some(Some(task.spec.group.clone())),
            Event::NodeUp { .. } | Event::NodeDown { .. } => return None,
            Event::TaskDeleted { id } => id,
            Event::RunChanged { run } => &run.task,
            Event::TaskPlaced { task, .. }
            | Event::StopRequested { task, .. }
            | Event::RunRequested { task, .. } => task,
        };
        let g = self.groups.read().unwrap_or_else(|e| e.into_inner());
        Some(g.get(task).cloned())
    }

    pub fn publish(&self, event: Event) {
        if let Event::TaskChanged { task } = &event {
            self.know_groups([task.as_ref()]);
        }
        // Nobody listening is fine.
        match &event {
            Event::TaskChanged { .. } | Event::TaskDeleted { .. } => {
                let _ = self.tasks.send(event.clone());
            }
            Event::RunRequested { .. } | Event::StopRequested { .. } => {
                let _ = self.commands.send(event.clone());
            }
            // However it ended (reported, declared lost, through whichever center), a run's
            // live followers stop here.
            Event::RunChanged { run } if run.status.is_terminal() => self.finish(&run.id),
            _ => {}
        }
        let _ = self.events.send(event);
    }

    /// Every event.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Task changes and deletions only.
    pub fn subscribe_tasks(&self) -> broadcast::Receiver<Event> {
        self.tasks.subscribe()
    }

    /// Run and stop requests for nodes only.
    pub fn subscribe_commands(&self) -> broadcast::Receiver<Event> {
        self.commands.subscribe()
    }

    fn live(&self) -> std::sync::MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends output of a running run and passes it to its followers.
    pub fn append(&self, run: &str, data: &str) {
        let mut live = self.live();
        if live.finished.contains(run) {
            return;
        }
        if !live.logs.contains_key(run) && live.logs.len() >= LIVE_RUNS_MAX {
            return; // nobody follows it yet; its final log will be complete
        }
        let room = live.bytes < LIVE_BYTES_MAX;
        let entry = live.logs.entry(run.to_string()).or_insert_with(|| LiveLog {
            text: String::new(),
            tx: broadcast::channel(1024).0,
        });
        let mut added = 0;
        if room && entry.text.len() + data.len() <= LIVE_CAP {
            entry.text.push_str(data);
            added = data.len();
        }
        let _ = entry.tx.send(data.to_string());
        live.bytes += added;
    }

    /// What a run printed so far and a receiver for what follows, atomically.
    pub fn follow(&self, run: &str) -> (String, broadcast::Receiver<String>) {
        let mut live = self.live();
        let entry = live.logs.entry(run.to_string()).or_insert_with(|| LiveLog {
            text: String::new(),
            tx: broadcast::channel(1024).0,
        });
        (entry.text.clone(), entry.tx.subscribe())
    }

    /// The run ended: followers' streams close once they have read what was sent.
    pub fn finish(&self, run: &str) {
        let mut live = self.live();
        if let Some(log) = live.logs.remove(run) {
            live.bytes -= log.text.len();
        }
        if live.finished.insert(run.to_string()) {
            live.finished_order.push_back(run.to_string());
            if live.finished_order.len() > FINISHED_KEPT
                && let Some(old) = live.finished_order.pop_front()
            {
                live.finished.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudtask_shared::RunRecord;

    #[test]
    fn live_output_is_bounded_in_runs_and_bytes() {
        let hub = Hub::default();
        for i in 0..LIVE_RUNS_MAX + 10 {
            hub.append(&format!("r{i}"), "x");
        }
        assert_eq!(hub.live().logs.len(), LIVE_RUNS_MAX);
        assert_eq!(hub.live().bytes, LIVE_RUNS_MAX);
        // A run beyond the bound is not buffered, but a follower still gets what follows.
        let (so_far, mut rx) = hub.follow(&format!("r{}", LIVE_RUNS_MAX + 1));
        assert_eq!(so_far, "");
        hub.append(&format!("r{}", LIVE_RUNS_MAX + 1), "late");
        assert_eq!(rx.try_recv().ok().as_deref(), Some("late"));
        // Finishing runs gives their bytes back.
        for i in 0..LIVE_RUNS_MAX + 10 {
            hub.finish(&format!("r{i}"));
        }
        let live = hub.live();
        assert_eq!((live.logs.len(), live.bytes), (0, 0));
        drop(live);
        // Past the byte budget, output still reaches followers but is not kept.
        let chunk = "y".repeat(LIVE_CAP);
        let runs = LIVE_BYTES_MAX / LIVE_CAP + 2;
        for i in 0..runs {
            hub.append(&format!("big{i}"), &chunk);
        }
        assert_eq!(hub.live().bytes, LIVE_BYTES_MAX);
        let (so_far, _) = hub.follow(&format!("big{}", runs - 1));
        assert_eq!(so_far, "");
    }

    #[test]
    fn a_storm_of_run_records_does_not_make_task_or_command_subscribers_lag() {
        let hub = Hub::default();
        let (mut all, mut tasks, mut commands) = (
            hub.subscribe(),
            hub.subscribe_tasks(),
            hub.subscribe_commands(),
        );
        let run: RunRecord = serde_json::from_value(serde_json::json!({
            "id": "t-1-1", "task": "t", "task_name": "t", "scheduled_at": "2030-01-01T00:00:00Z",
            "started_at": null, "finished_at": null, "status": "succeeded", "exit_code": 0,
            "node": "n1", "attempt": 1, "trigger": "schedule", "message": null,
        }))
        .unwrap();
        for _ in 0..10_000 {
            hub.publish(Event::RunChanged {
                run: Box::new(run.clone()),
            });
        }
        hub.publish(Event::TaskDeleted { id: "t".into() });
        hub.publish(Event::StopRequested {
            task: "t".into(),
            node: "n1".into(),
            runs: vec![],
        });
        assert!(matches!(
            all.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(_))
        ));
        assert!(matches!(tasks.try_recv(), Ok(Event::TaskDeleted { .. })));
        assert!(tasks.try_recv().is_err(), "only task events");
        assert!(matches!(
            commands.try_recv(),
            Ok(Event::StopRequested { .. })
        ));
        assert!(commands.try_recv().is_err(), "only node commands");
    }
}
