//! The noticer: on the leader only, reads the outbox (every center's committed events, in
//! commit order) from its own cursor and turns run outcomes into incidents and messages,
//! committed in one transaction with the cursor's move ([`crate::store::AlertStore::notice`]).
//! An event is therefore noticed once, whichever center leads when: a leader that loses the
//! race for the cursor reloads and goes on from where the other left it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cloudtask_shared::api::{Event, Incident, IncidentKind, Silence};
use cloudtask_shared::shutdown::Shutdown;
use cloudtask_shared::{Recipient, RunRecord, RunStatus};
use jiff::{SignedDuration, Timestamp};
use tokio::sync::Notify;

use super::Settings;
use super::rules::{self, Announce, Outcome, Step, TaskInfo};
use super::template::{self, About, Subject, human};
use super::watch::{NodeChange, Nodes, Watch};
use crate::allocator::Placements;
use crate::store::{IncidentFilter, Message, Noticed, RunFilter, SharedStore};

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
    /// How far it has read: ahead of the stored cursor while nothing it read changed
    /// anything (re-reading such events after a failover changes nothing either), so a
    /// quiet center writes its cursor only every [`HEARTBEAT`].
    at: i64,
    tasks: HashMap<String, TaskInfo>,
    open: HashMap<(String, IncidentKind), Incident>,
    watch: Watch,
    nodes: Nodes,
    /// Tasks without a node, since when (looked at every [`PLACEMENT_EVERY`]).
    unplaced: HashMap<String, Timestamp>,
    placement_checked: Option<Instant>,
    /// Nodes that shed runs, when they last did.
    shedding: HashMap<(String, String), Timestamp>,
    /// Incidents whose count or summary moved and are not written yet: a storm of failures
    /// on open incidents is written every [`COUNTS_EVERY`], not every pass. The cursor is
    /// written with them, so a new leader re-reads what they came from.
    dirty: HashMap<String, Incident>,
    saved_at: Instant,
}

/// How often counts that changed nothing else are written.
const COUNTS_EVERY: Duration = Duration::from_secs(2);

/// How often tasks without a node are looked for (a pass over every task).
const PLACEMENT_EVERY: Duration = Duration::from_secs(5);

/// What one pass decided, committed together.
#[derive(Default)]
struct Work {
    open: HashMap<(String, IncidentKind), Incident>,
    changed: HashMap<String, Incident>,
    /// Whether something changed that must be written now (an incident opened, announced
    /// or resolved), not only a count.
    urgent: bool,
    messages: Vec<Message>,
    /// The silences on now, read when first needed in a pass.
    silences: Option<Vec<Silence>>,
}

#[derive(Debug, thiserror::Error)]
enum PassError {
    #[error("another center moved the alert cursor")]
    Stale,
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

/// The subject of a node's incidents: `node:CLUSTER/NAME`.
pub fn node_subject(cluster: &str, name: &str) -> String {
    format!("node:{cluster}/{name}")
}

fn parse_node_subject(s: &str) -> Option<(&str, &str)> {
    s.strip_prefix("node:")?.split_once('/')
}

/// The count at which an incident of its kind is announced.
fn threshold(i: &Incident, tasks: &HashMap<String, TaskInfo>) -> u32 {
    match (i.kind, tasks.get(&i.subject)) {
        (IncidentKind::Failed, Some(t)) => t.alerts.threshold(),
        (IncidentKind::Failed, None) => u32::MAX,
        _ => 1,
    }
}

fn new_incident_id() -> String {
    crate::service::new_id().unwrap_or_else(|_| format!("{:x}", Timestamp::now().as_microsecond()))
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

    /// What a new leader starts from: tasks, open incidents, runs under way, and recent
    /// durations of tasks that judge by them; nothing before now is judged.
    async fn load(&self) -> crate::store::Result<State> {
        let now = Timestamp::now();
        let cursor = self.store.alert_cursor().await?;
        let mut watch = Watch::new(now);
        let mut tasks = HashMap::new();
        for t in self.store.tasks().await? {
            let info = TaskInfo::of(&t);
            watch.expect(&t.id, &info, now);
            if info.alerts.overrun_factor.is_some() {
                let recent = self
                    .store
                    .runs(&RunFilter {
                        task: Some(t.id.clone()),
                        statuses: vec![RunStatus::Succeeded],
                        limit: rules::TYPICAL_OF as u32,
                        ..RunFilter::default()
                    })
                    .await?;
                let ms = recent.iter().rev().filter_map(|r| {
                    Some(r.finished_at?.duration_since(r.started_at?).as_millis() as i64)
                });
                watch.durations(&t.id, ms);
            }
            tasks.insert(t.id.clone(), info);
        }
        for r in self.store.active_runs(None).await? {
            watch.running(&r);
        }
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
            .collect::<HashMap<_, _>>();
        let mut nodes = Nodes::default();
        for ((subject, kind), _) in open.iter() {
            if let (IncidentKind::Offline, Some((c, n))) = (kind, parse_node_subject(subject)) {
                nodes.presume_down((c.to_string(), n.to_string()), now);
            }
        }
        Ok(State {
            cursor,
            // The center set the cursor at start (`alerts::start`); absent only if the store
            // lost it, and then what is left in the outbox is what there is to notice.
            at: cursor.unwrap_or(0),
            tasks,
            open,
            watch,
            nodes,
            unplaced: HashMap::new(),
            placement_checked: None,
            shedding: HashMap::new(),
            dirty: HashMap::new(),
            saved_at: Instant::now() - HEARTBEAT,
        })
    }

    /// One pass; true when a full batch was read (more may be waiting).
    async fn pass(&self, s: &mut State) -> Result<bool, PassError> {
        let from = s.at;
        let rows = self.store.outbox_after(from, BATCH).await?;
        let full = rows.len() == BATCH as usize;
        let to = rows.last().map_or(from, |r| r.seq);
        let now = Timestamp::now();
        let mut w = Work {
            open: s.open.clone(),
            ..Work::default()
        };
        for row in rows {
            for event in row.events {
                match event {
                    Event::TaskChanged { task } => {
                        let info = TaskInfo::of(&task);
                        s.watch.expect(&task.id, &info, now);
                        s.tasks.insert(task.id.clone(), info);
                    }
                    Event::TaskDeleted { id } => {
                        s.tasks.remove(&id);
                        s.watch.forget(&id);
                        // A deleted task's incidents end with it, quietly.
                        for kind in IncidentKind::ALL {
                            if let Some(mut i) = w.open.remove(&(id.clone(), kind)) {
                                i.resolved_at = Some(now);
                                i.updated_at = now;
                                i.summary = "the task was deleted".into();
                                w.urgent = true;
                                w.changed.insert(i.id.clone(), i);
                            }
                        }
                    }
                    Event::RunChanged { run } => {
                        self.run_changed(s, &mut w, &run, row.created_at, now)
                            .await?;
                    }
                    _ => {}
                }
            }
        }
        let overdue = s
            .watch
            .overdue(now, &s.tasks, |id| self.placements.node_of(id));
        tracing::trace!(rows = to - from, overdue = overdue.len(), "alert pass");
        for o in overdue {
            let Some(task) = s.tasks.get(&o.task) else {
                continue;
            };
            let place = match self.placements.node_of(&o.task) {
                Some(n) => format!("on node {n}"),
                None => "on no node: no eligible node is up".to_string(),
            };
            let summary = format!(
                "no run of the {} instant started within {} ({place})",
                o.instant,
                human(o.grace)
            );
            let key = (o.task.clone(), IncidentKind::DidNotStart);
            let step = rules::occurred(
                w.open.get(&key),
                new_incident_id,
                IncidentKind::DidNotStart,
                &o.task,
                task,
                None,
                summary,
                1,
                now,
            );
            self.apply(step, &mut w, &s.tasks, None).await?;
        }
        for o in s.watch.overruns(now, &s.tasks) {
            let Some(task) = s.tasks.get(&o.task) else {
                continue;
            };
            let summary = format!(
                "run {} has run {}, past its limit of {}",
                o.run,
                human(o.running_for),
                human(o.limit)
            );
            let key = (o.task.clone(), IncidentKind::Overrunning);
            let step = rules::occurred(
                w.open.get(&key),
                new_incident_id,
                IncidentKind::Overrunning,
                &o.task,
                task,
                Some(&o.run),
                summary,
                1,
                now,
            );
            self.apply(step, &mut w, &s.tasks, None).await?;
        }
        if let Some(members) = self.placements.members() {
            s.nodes.observe(&members, now);
        }
        let damping = self.settings.node_damping;
        let changes = s.nodes.judge(now, damping, |(c, n)| {
            w.open
                .contains_key(&(node_subject(c, n), IncidentKind::Offline))
        });
        for change in changes {
            let step = match change {
                NodeChange::Offline {
                    node: (c, n),
                    since,
                } => {
                    let subject = node_subject(&c, &n);
                    let info = TaskInfo::node(&c, &n);
                    rules::occurred(
                        None,
                        new_incident_id,
                        IncidentKind::Offline,
                        &subject,
                        &info,
                        None,
                        format!("node {n} of cluster {c} has been away since {since}"),
                        1,
                        now,
                    )
                }
                NodeChange::Online {
                    node: (c, n),
                    since,
                } => {
                    let key = (node_subject(&c, &n), IncidentKind::Offline);
                    rules::resolved(
                        w.open.get(&key),
                        None,
                        format!("node {n} of cluster {c} is back since {since}"),
                        now,
                    )
                }
            };
            self.apply(step, &mut w, &s.tasks, None).await?;
        }
        self.placement(s, &mut w, now).await?;
        // Nodes that stopped shedding for the damping: resolved.
        let calm: Vec<(String, String)> = s
            .shedding
            .iter()
            .filter(|(_, last)| now.duration_since(**last) >= damping)
            .map(|(n, _)| n.clone())
            .collect();
        for (c, n) in calm {
            s.shedding.remove(&(c.clone(), n.clone()));
            let key = (node_subject(&c, &n), IncidentKind::Shedding);
            let step = rules::resolved(
                w.open.get(&key),
                None,
                format!("node {n} has skipped no run for {}", human(damping)),
                now,
            );
            self.apply(step, &mut w, &s.tasks, None).await?;
        }
        // Incidents kept quiet by a silence that has ended: announced now.
        let quiet: Vec<Incident> = w
            .open
            .values()
            .filter(|i| !i.announced && i.count >= threshold(i, &s.tasks))
            .cloned()
            .collect();
        for mut i in quiet {
            if self.silenced(&mut w, &i).await? {
                continue;
            }
            i.announced = true;
            i.last_announced_at = Some(now);
            let step = Step {
                incident: i,
                announce: Some(Announce::Opened),
            };
            self.apply(Some(step), &mut w, &s.tasks, None).await?;
        }
        // Reminders of incidents still open.
        let reminders: Vec<Step> = w
            .open
            .values()
            .filter_map(|i| {
                let every = s.tasks.get(&i.subject)?.alerts.renotify_every_ms;
                rules::reminder(i, every, now)
            })
            .collect();
        for step in reminders {
            self.apply(Some(step), &mut w, &s.tasks, None).await?;
        }
        let urgent = w.urgent || !w.messages.is_empty();
        let due = if s.dirty.is_empty() && w.changed.is_empty() {
            HEARTBEAT
        } else {
            COUNTS_EVERY
        };
        if !urgent && s.saved_at.elapsed() < due {
            s.at = to;
            s.dirty.extend(w.changed);
            s.open = w.open;
            return Ok(full);
        }
        let mut incidents = std::mem::take(&mut s.dirty);
        incidents.extend(w.changed);
        let n = Noticed {
            from: s.cursor,
            to,
            incidents: incidents.into_values().collect(),
            messages: w.messages,
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
        s.at = to;
        s.open = w.open;
        s.saved_at = Instant::now();
        Ok(full)
    }

    /// What a run's record (committed at `at`) changes: starts (late or not), ends,
    /// failures and successes.
    async fn run_changed(
        &self,
        s: &mut State,
        w: &mut Work,
        run: &RunRecord,
        at: Timestamp,
        now: Timestamp,
    ) -> crate::store::Result<()> {
        let Some(task) = s.tasks.get(&run.task) else {
            return Ok(());
        };
        let seen = s.watch.saw(run, task, at);
        let key = |kind| (run.task.clone(), kind);
        let mut steps: Vec<Option<Step>> = Vec::new();
        if let Some(late) = seen.started {
            let started = format!("run {} started", run.id);
            steps.push(rules::resolved(
                w.open.get(&key(IncidentKind::DidNotStart)),
                Some(&run.id),
                started.clone(),
                now,
            ));
            match late {
                Some(by) => steps.push(rules::occurred(
                    w.open.get(&key(IncidentKind::LateStart)),
                    new_incident_id,
                    IncidentKind::LateStart,
                    &run.task,
                    task,
                    Some(&run.id),
                    format!(
                        "the {} run started {} late, on {}",
                        run.scheduled_at,
                        human(by),
                        run.node
                    ),
                    1,
                    now,
                )),
                None => steps.push(rules::resolved(
                    w.open.get(&key(IncidentKind::LateStart)),
                    Some(&run.id),
                    format!("{started} on time"),
                    now,
                )),
            }
        }
        if let (Some(took), Some(min)) = (seen.succeeded, task.alerts.min_duration_ms) {
            let min = SignedDuration::from_millis(i64::try_from(min).unwrap_or(i64::MAX));
            steps.push(if took < min {
                rules::occurred(
                    w.open.get(&key(IncidentKind::TooFast)),
                    new_incident_id,
                    IncidentKind::TooFast,
                    &run.task,
                    task,
                    Some(&run.id),
                    format!(
                        "run {} succeeded in {}, under its minimum of {}",
                        run.id,
                        human(took),
                        human(min)
                    ),
                    1,
                    now,
                )
            } else {
                rules::resolved(
                    w.open.get(&key(IncidentKind::TooFast)),
                    Some(&run.id),
                    format!("run {} took {}", run.id, human(took)),
                    now,
                )
            });
        }
        if run.status.is_terminal() {
            let over = w.open.get(&key(IncidentKind::Overrunning));
            if over.is_some_and(|i| i.last_run.as_deref() == Some(run.id.as_str())) {
                steps.push(rules::resolved(
                    over,
                    Some(&run.id),
                    format!("run {} ended: {}", run.id, rules::summary(run)),
                    now,
                ));
            }
        }
        if cloudtask_agent::scheduler::policy::is_shed(run) {
            let node = (task.cluster.clone(), run.node.clone());
            s.shedding.insert(node.clone(), now);
            let subject = node_subject(&node.0, &node.1);
            let info = TaskInfo::node(&node.0, &node.1);
            steps.push(rules::occurred(
                w.open.get(&(subject.clone(), IncidentKind::Shedding)),
                new_incident_id,
                IncidentKind::Shedding,
                &subject,
                &info,
                Some(&run.id),
                format!(
                    "node {} skipped run {}: {}",
                    run.node,
                    run.id,
                    run.message.as_deref().unwrap_or("at capacity")
                ),
                1,
                now,
            ));
        }
        let failed = key(IncidentKind::Failed);
        match rules::outcome(run, task) {
            Outcome::Failure => steps.push(rules::on_failure(
                w.open.get(&failed),
                new_incident_id,
                &run.task,
                task,
                run,
                now,
            )),
            Outcome::Success => {
                if task.alerts.on_success {
                    let about = About::Task {
                        id: &run.task,
                        info: task,
                    };
                    let m = self
                        .render(None, Announce::Succeeded, about, Some(run))
                        .await?;
                    w.messages.extend(m);
                }
                steps.push(rules::on_success(w.open.get(&failed), run, now));
            }
            Outcome::Nothing => {}
        }
        let tasks = &s.tasks;
        for step in steps {
            self.apply(step, w, tasks, Some(run)).await?;
        }
        Ok(())
    }

    /// Records a step's incident and renders the message it announces, to every recipient.
    async fn apply(
        &self,
        step: Option<Step>,
        w: &mut Work,
        tasks: &HashMap<String, TaskInfo>,
        run: Option<&RunRecord>,
    ) -> crate::store::Result<()> {
        let Some(step) = step else {
            return Ok(());
        };
        let i = step.incident;
        let key = (i.subject.clone(), i.kind);
        let mut i = i;
        let mut announce = step.announce;
        if announce.is_some() && self.silenced(w, &i).await? {
            // Recorded, not announced: an incident opened under a silence stays quiet, and is
            // announced once the silence is over if it is still open.
            if announce == Some(Announce::Opened) {
                i.announced = false;
                i.last_announced_at = None;
            }
            announce = None;
        }
        let about = match parse_node_subject(&i.subject) {
            Some((cluster, name)) => Some(About::Node { cluster, name }),
            None => tasks.get(&i.subject).map(|info| About::Task {
                id: &i.subject,
                info,
            }),
        };
        if let (Some(a), Some(about)) = (announce, about) {
            // The run only when the incident is about it.
            let run = run.filter(|r| i.last_run.as_deref() == Some(r.id.as_str()));
            let m = self.render(Some(&i), a, about, run).await?;
            w.messages.extend(m);
        }
        let known = w
            .open
            .get(&key)
            .is_some_and(|o| o.id == i.id && o.announced == i.announced);
        w.urgent |= !known || announce.is_some() || i.resolved_at.is_some();
        if i.resolved_at.is_some() {
            w.open.remove(&key);
        } else {
            w.open.insert(key, i.clone());
        }
        w.changed.insert(i.id.clone(), i);
        Ok(())
    }

    /// Tasks with no eligible node for the damping are `unassigned`; placed again, resolved.
    /// Judged on the leader's own placements only, every [`PLACEMENT_EVERY`].
    async fn placement(
        &self,
        s: &mut State,
        w: &mut Work,
        now: Timestamp,
    ) -> crate::store::Result<()> {
        if s.placement_checked
            .is_some_and(|t| t.elapsed() < PLACEMENT_EVERY)
            || self.placements.members().is_none()
        {
            return Ok(());
        }
        s.placement_checked = Some(Instant::now());
        let damping = self.settings.node_damping;
        let mut steps = Vec::new();
        for (id, t) in &s.tasks {
            if t.paused || t.alerts.off || !self.placements.considered(id) {
                s.unplaced.remove(id);
                continue;
            }
            let key = (id.clone(), IncidentKind::Unassigned);
            match self.placements.node_of(id) {
                Some(node) => {
                    s.unplaced.remove(id);
                    steps.push(rules::resolved(
                        w.open.get(&key),
                        None,
                        format!("placed on node {node}"),
                        now,
                    ));
                }
                None => {
                    let since = *s.unplaced.entry(id.clone()).or_insert(now);
                    if now.duration_since(since) >= damping && !w.open.contains_key(&key) {
                        steps.push(rules::occurred(
                            None,
                            new_incident_id,
                            IncidentKind::Unassigned,
                            id,
                            t,
                            None,
                            format!("no eligible node of cluster {} since {since}", t.cluster),
                            1,
                            now,
                        ));
                    }
                }
            }
        }
        for step in steps {
            self.apply(step, w, &s.tasks, None).await?;
        }
        Ok(())
    }

    /// Whether a silence on now holds back `i`'s messages.
    async fn silenced(&self, w: &mut Work, i: &Incident) -> crate::store::Result<bool> {
        let now = Timestamp::now();
        if w.silences.is_none() {
            w.silences = Some(self.store.silences(now).await?);
        }
        Ok(w.silences
            .as_ref()
            .is_some_and(|all| all.iter().any(|s| s.silences(i, now))))
    }

    /// One message per recipient of `task`.
    async fn render(
        &self,
        incident: Option<&Incident>,
        announce: Announce,
        about: About<'_>,
        run: Option<&RunRecord>,
    ) -> crate::store::Result<Vec<Message>> {
        let named = match about {
            About::Task { info, .. } => self.settings.recipients(info),
            About::Node { .. } => self.settings.notify.clone(),
        };
        // A user recipient is the address that user has now.
        let mut to = Vec::with_capacity(named.len());
        for r in named {
            match r {
                Recipient::User(name) => {
                    match self.store.user(&name).await?.and_then(|u| u.email) {
                        Some(addr) => to.push(Recipient::Email(addr)),
                        None => {
                            tracing::warn!(user = %name, "an alert names user:{name}, who has no e-mail address (cloudtaskctl user set-email): not sent to them")
                        }
                    }
                }
                r => to.push(r),
            }
        }
        to.sort();
        to.dedup();
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
            about,
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
            (None, a) => format!("{}.{}", run.map_or("message", |r| r.id.as_str()), a.label()),
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
