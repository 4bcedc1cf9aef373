//! The noticer: on the leader only, reads the outbox (every center's committed events, in
//! commit order) from its own cursor and turns run outcomes into incidents and messages,
//! committed in one transaction with the cursor's move ([`crate::store::AlertStore::notice`]).
//! An event is therefore noticed once, whichever center leads when: a leader that loses the
//! race for the cursor reloads and goes on from where the other left it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cloudtask_shared::api::{Event, Incident, IncidentKind};
use cloudtask_shared::shutdown::Shutdown;
use cloudtask_shared::{RunRecord, RunStatus};
use jiff::Timestamp;
use tokio::sync::Notify;

use super::Settings;
use super::rules::{self, Announce, Outcome, Step, TaskInfo};
use super::template::{self, Subject};
use crate::allocator::Placements;
use crate::store::{IncidentFilter, Message, Noticed, SharedStore};

/// Rows read per pass.
const BATCH: u32 = 500;

/// An idle noticer saves its unchanged cursor this often, so outbox pruning counts it live.
const HEARTBEAT: Duration = Duration::from_secs(20);

/// How often the outbox is looked at when nothing woke the noticer.
const POLL: Duration = Duration::from_millis(250);

pub struct Noticer {
    pub store: SharedStore,
    pub placements: Placements,
    pub settings: Arc<Settings>,
    /// Wakes the deliverers when messages were queued.
    pub deliver: Arc<Notify>,
}

/// What the leader's noticer holds between passes.
struct State {
    /// The cursor as the store has it.
    cursor: Option<i64>,
    tasks: HashMap<String, TaskInfo>,
    open: HashMap<(String, IncidentKind), Incident>,
    saved_at: Instant,
}

#[derive(Debug, thiserror::Error)]
enum PassError {
    #[error("another center moved the alert cursor")]
    Stale,
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

impl Noticer {
    pub async fn run(self, shutdown: Shutdown) {
        let mut state: Option<State> = None;
        loop {
            let mut again = false;
            if !self.placements.leading() {
                state = None;
            } else {
                if state.is_none() {
                    match self.load().await {
                        Ok(s) => state = Some(s),
                        Err(e) => tracing::warn!(error = %e, "cannot load alert state; retrying"),
                    }
                }
                if let Some(s) = state.as_mut() {
                    match self.pass(s).await {
                        Ok(more) => again = more,
                        Err(PassError::Stale) => {
                            tracing::info!("the alert cursor moved elsewhere; reloading");
                            state = None;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "noticing failed; reloading and retrying");
                            state = None;
                        }
                    }
                }
            }
            if again {
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                () = shutdown.wait() => return,
            }
        }
    }

    async fn load(&self) -> crate::store::Result<State> {
        let cursor = self.store.alert_cursor().await?;
        let tasks = self
            .store
            .tasks()
            .await?
            .iter()
            .map(|t| (t.id.clone(), TaskInfo::of(t)))
            .collect();
        let open = self
            .store
            .incidents(&IncidentFilter {
                open: true,
                limit: u32::MAX,
                ..IncidentFilter::default()
            })
            .await?
            .into_iter()
            .map(|i| ((i.subject.clone(), i.kind), i))
            .collect();
        Ok(State {
            cursor,
            tasks,
            open,
            saved_at: Instant::now() - HEARTBEAT,
        })
    }

    /// One pass; true when a full batch was read (more may be waiting).
    async fn pass(&self, s: &mut State) -> Result<bool, PassError> {
        // The center set the cursor at start (`alerts::start`); absent only if the store
        // lost it, and then what is left in the outbox is what there is to notice.
        let from = s.cursor.unwrap_or(0);
        let rows = self.store.outbox_after(from, BATCH).await?;
        let full = rows.len() == BATCH as usize;
        let to = rows.last().map_or(from, |r| r.seq);
        let now = Timestamp::now();
        let mut open = s.open.clone();
        let mut changed: HashMap<String, Incident> = HashMap::new();
        let mut messages = Vec::new();
        for row in rows {
            for event in row.events {
                match event {
                    Event::TaskChanged { task } => {
                        s.tasks.insert(task.id.clone(), TaskInfo::of(&task));
                    }
                    Event::TaskDeleted { id } => {
                        s.tasks.remove(&id);
                        // A deleted task's incident ends with it, quietly.
                        if let Some(mut i) = open.remove(&(id, IncidentKind::Failed)) {
                            i.resolved_at = Some(now);
                            i.updated_at = now;
                            i.summary = "the task was deleted".into();
                            changed.insert(i.id.clone(), i);
                        }
                    }
                    Event::RunChanged { run } if run.status.is_terminal() => {
                        let Some(task) = s.tasks.get(&run.task) else {
                            continue;
                        };
                        let key = (run.task.clone(), IncidentKind::Failed);
                        let step = match rules::outcome(&run, task) {
                            Outcome::Failure => rules::on_failure(
                                open.get(&key),
                                || crate::service::new_id().unwrap_or_else(|_| run.id.clone()),
                                &run.task,
                                task,
                                &run,
                                now,
                            ),
                            Outcome::Success => {
                                if task.alerts.on_success {
                                    messages.extend(
                                        self.render(
                                            None,
                                            Announce::Succeeded,
                                            &run.task,
                                            task,
                                            Some(&run),
                                        )
                                        .await?,
                                    );
                                }
                                rules::on_success(open.get(&key), &run, now)
                            }
                            Outcome::Nothing => None,
                        };
                        if let Some(step) = step {
                            self.apply(
                                step,
                                &mut open,
                                &mut changed,
                                &mut messages,
                                &s.tasks,
                                Some(&run),
                            )
                            .await?;
                        }
                    }
                    _ => {}
                }
            }
        }
        // Reminders of incidents still open.
        let reminders: Vec<Step> = open
            .values()
            .filter_map(|i| {
                let every = s.tasks.get(&i.subject)?.alerts.renotify_every_ms;
                rules::reminder(i, every, now)
            })
            .collect();
        for step in reminders {
            self.apply(step, &mut open, &mut changed, &mut messages, &s.tasks, None)
                .await?;
        }
        let quiet = changed.is_empty() && messages.is_empty() && Some(to) == s.cursor;
        if quiet && s.saved_at.elapsed() < HEARTBEAT {
            return Ok(full);
        }
        let n = Noticed {
            from: s.cursor,
            to,
            incidents: changed.into_values().collect(),
            messages,
        };
        if !self.store.notice(&n).await? {
            return Err(PassError::Stale);
        }
        for i in &n.incidents {
            tracing::info!(incident = %i.id, kind = %i.kind, subject = %i.subject, count = i.count, resolved = i.resolved_at.is_some(), "incident changed");
        }
        if !n.messages.is_empty() {
            self.deliver.notify_waiters();
        }
        s.cursor = Some(to);
        s.open = open;
        s.saved_at = Instant::now();
        Ok(full)
    }

    /// Records a step's incident and renders the message it announces, to every recipient.
    async fn apply(
        &self,
        step: Step,
        open: &mut HashMap<(String, IncidentKind), Incident>,
        changed: &mut HashMap<String, Incident>,
        messages: &mut Vec<Message>,
        tasks: &HashMap<String, TaskInfo>,
        run: Option<&RunRecord>,
    ) -> crate::store::Result<()> {
        let i = step.incident;
        let key = (i.subject.clone(), i.kind);
        if let (Some(a), Some(task)) = (step.announce, tasks.get(&i.subject)) {
            messages.extend(self.render(Some(&i), a, &i.subject, task, run).await?);
        }
        if i.resolved_at.is_some() {
            open.remove(&key);
        } else {
            open.insert(key, i.clone());
        }
        changed.insert(i.id.clone(), i);
        Ok(())
    }

    /// One message per recipient of `task`.
    async fn render(
        &self,
        incident: Option<&Incident>,
        announce: Announce,
        task_id: &str,
        task: &TaskInfo,
        run: Option<&RunRecord>,
    ) -> crate::store::Result<Vec<Message>> {
        let to = self.settings.recipients(task);
        if to.is_empty() {
            return Ok(Vec::new());
        }
        let failed = run.is_some_and(|r| r.status != RunStatus::Succeeded);
        let output = match run {
            Some(r) if failed => self.store.run_log(&r.id).await?.map(|l| template::tail(&l)),
            _ => None,
        };
        let now = Timestamp::now();
        let subject = Subject {
            announce,
            incident,
            task_id,
            task,
            run,
            output: output.as_deref(),
        };
        let (title, text, json) = (
            template::subject(&subject),
            template::body(&subject),
            template::payload(&subject, now).to_string(),
        );
        let stem = match (incident, announce) {
            (Some(i), Announce::Reminder) => format!("{}.reminder{}", i.id, now.as_millisecond()),
            (Some(i), a) => format!("{}.{}", i.id, a.label()),
            (None, a) => format!("{}.{}", run.map_or(task_id, |r| r.id.as_str()), a.label()),
        };
        Ok(to
            .iter()
            .enumerate()
            .map(|(k, r)| {
                let body = match r.channel() {
                    cloudtask_shared::Channel::Email => text.clone(),
                    cloudtask_shared::Channel::Webhook => json.clone(),
                };
                Message::new(
                    format!("{stem}.{k}"),
                    r.channel(),
                    r.address(),
                    title.clone(),
                    body,
                    incident.map(|i| i.id.clone()),
                    now,
                )
            })
            .collect())
    }
}
