//! What a run's outcome does to its task's incident: pure decisions, no I/O, no clock.
//!
//! A run that ends `failed`, `timed_out` or `lost` (or `killed`, when the task says so) with
//! no retry left is a failure; a `succeeded` run is a success; anything else (a retry still
//! to come, `skipped`, `missed`) says nothing. Failures in a row count on one open incident,
//! announced once the count reaches the task's `after_failures`; a success resolves it, with
//! one recovery message only if it was announced.

use cloudtask_shared::api::{Incident, IncidentKind};
use cloudtask_shared::schedule::ScheduleSet;
use cloudtask_shared::{AlertPolicy, RunRecord, RunStatus};
use jiff::{SignedDuration, Timestamp};

/// What the noticer keeps of a task: enough to judge its runs, not its whole spec.
#[derive(Debug, Clone)]
pub struct TaskInfo {
    pub name: String,
    pub group: String,
    pub cluster: String,
    pub retries: u32,
    pub paused: bool,
    pub alerts: AlertPolicy,
    /// Its fire times (`None`: on demand, or a spec that no longer parses).
    pub schedules: Option<ScheduleSet>,
}

impl TaskInfo {
    pub fn of(task: &cloudtask_shared::Task) -> TaskInfo {
        TaskInfo {
            name: task.spec.name.clone(),
            group: task.spec.group.clone(),
            cluster: task.spec.cluster.clone(),
            retries: task.spec.retries,
            paused: task.spec.paused,
            alerts: task.spec.alerts.clone(),
            schedules: if task.spec.schedules.is_empty() {
                None
            } else {
                task.spec.validate().ok()
            },
        }
    }

    /// What a node's incident records as its name and group: the node's name, no group (only
    /// those who may read every group see node incidents).
    pub fn node(cluster: &str, name: &str) -> TaskInfo {
        TaskInfo {
            name: name.to_string(),
            group: String::new(),
            cluster: cluster.to_string(),
            retries: 0,
            paused: false,
            alerts: AlertPolicy::default(),
            schedules: None,
        }
    }

    /// Whether the center should expect its instants to start (did not start, late start).
    pub fn watched(&self) -> bool {
        self.schedules.is_some() && !self.paused && !self.alerts.off
    }

    /// The time between its next two instants after `now`.
    pub fn period(&self, now: Timestamp) -> Option<SignedDuration> {
        let s = self.schedules.as_ref()?;
        let a = s.next_after(now)?;
        let b = s.next_after(a)?;
        Some(b.duration_since(a))
    }
}

/// What a finished run says about its task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Failure,
    Success,
    Nothing,
}

pub fn outcome(run: &RunRecord, task: &TaskInfo) -> Outcome {
    if task.alerts.off {
        return Outcome::Nothing;
    }
    match run.status {
        RunStatus::Succeeded => Outcome::Success,
        RunStatus::Failed | RunStatus::TimedOut | RunStatus::Lost => {
            if run.earns_retry(task.retries, task.paused) {
                Outcome::Nothing
            } else {
                Outcome::Failure
            }
        }
        RunStatus::Killed if task.alerts.on_killed => Outcome::Failure,
        _ => Outcome::Nothing,
    }
}

/// Which message an incident's change sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announce {
    Opened,
    /// Still open, `renotify_every` after it was last announced.
    Reminder,
    Resolved,
    /// A run succeeded, for a task that asks to hear of every success (no incident).
    Succeeded,
}

impl Announce {
    /// The webhook payload's `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Announce::Opened => "incident.opened",
            Announce::Reminder => "incident.reminder",
            Announce::Resolved => "incident.resolved",
            Announce::Succeeded => "run.succeeded",
        }
    }

    /// The part of a message id that says which announcement it is.
    pub fn label(self) -> &'static str {
        match self {
            Announce::Opened => "opened",
            Announce::Reminder => "reminder",
            Announce::Resolved => "resolved",
            Announce::Succeeded => "succeeded",
        }
    }
}

/// An incident as it is after a change, and the message the change sends (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub incident: Incident,
    pub announce: Option<Announce>,
}

/// A one-line account of how a run ended.
pub fn summary(run: &RunRecord) -> String {
    let mut s = run.status.to_string();
    if let Some(code) = run.exit_code {
        s.push_str(&format!(" (exit code {code})"));
    }
    if !run.node.is_empty() {
        s.push_str(&format!(" on {}", run.node));
    }
    if let Some(m) = &run.message {
        let m: String = m.chars().take(200).collect();
        s.push_str(&format!(": {m}"));
    }
    s
}

/// An occurrence of `kind` for `subject` (a failure, a late start, an instant that did not
/// start…): counts on the open incident (`open`), or opens one with `id`, announced when the
/// count reaches `threshold`. The same run seen again (reported `lost`, then `killed` by its
/// fence) counts once.
#[allow(clippy::too_many_arguments)]
pub fn occurred(
    open: Option<&Incident>,
    id: impl FnOnce() -> String,
    kind: IncidentKind,
    subject: &str,
    task: &TaskInfo,
    run: Option<&str>,
    summary: String,
    threshold: u32,
    now: Timestamp,
) -> Option<Step> {
    let mut i = match open {
        Some(i) if run.is_some() && i.last_run.as_deref() == run => return None,
        Some(i) => i.clone(),
        None => Incident {
            id: id(),
            kind,
            subject: subject.to_string(),
            name: task.name.clone(),
            group: task.group.clone(),
            opened_at: now,
            updated_at: now,
            resolved_at: None,
            count: 0,
            announced: false,
            last_announced_at: None,
            last_run: None,
            summary: String::new(),
            acked_by: None,
            acked_at: None,
        },
    };
    i.count = i.count.saturating_add(1);
    i.updated_at = now;
    if let Some(r) = run {
        i.last_run = Some(r.to_string());
    }
    i.summary = summary;
    let announce = if !i.announced && i.count >= threshold.max(1) {
        i.announced = true;
        i.last_announced_at = Some(now);
        Some(Announce::Opened)
    } else {
        None
    };
    Some(Step {
        incident: i,
        announce,
    })
}

/// A failure of `task`'s run, counted against its `after_failures`.
pub fn on_failure(
    open: Option<&Incident>,
    id: impl FnOnce() -> String,
    subject: &str,
    task: &TaskInfo,
    run: &RunRecord,
    now: Timestamp,
) -> Option<Step> {
    occurred(
        open,
        id,
        IncidentKind::Failed,
        subject,
        task,
        Some(&run.id),
        summary(run),
        task.alerts.threshold(),
        now,
    )
}

/// The open incident ends (a success, a start, the run ending); only an announced one sends
/// a recovery message.
pub fn resolved(
    open: Option<&Incident>,
    run: Option<&str>,
    summary: String,
    now: Timestamp,
) -> Option<Step> {
    let mut i = open?.clone();
    i.resolved_at = Some(now);
    i.updated_at = now;
    if let Some(r) = run {
        i.last_run = Some(r.to_string());
    }
    i.summary = summary;
    let announce = i.announced.then_some(Announce::Resolved);
    Some(Step {
        incident: i,
        announce,
    })
}

/// A success resolves the open failure incident.
pub fn on_success(open: Option<&Incident>, run: &RunRecord, now: Timestamp) -> Option<Step> {
    resolved(
        open,
        Some(&run.id),
        format!("recovered: {}", summary(run)),
        now,
    )
}

/// The default start grace, when a task sets none.
pub const DEFAULT_START_GRACE: SignedDuration = SignedDuration::from_secs(60);

/// How late a start may be: the task's grace, else [`DEFAULT_START_GRACE`], never more than
/// its period (the time between its next two instants).
pub fn start_grace(task: &TaskInfo, period: Option<SignedDuration>) -> SignedDuration {
    let grace = task
        .alerts
        .start_grace_ms
        .and_then(|ms| i64::try_from(ms).ok())
        .map_or(DEFAULT_START_GRACE, SignedDuration::from_millis);
    match period {
        Some(p) if p < grace && p.is_positive() => p,
        _ => grace,
    }
}

/// Runs counted for a task's typical duration.
pub const TYPICAL_OF: usize = 20;

/// The median of the durations (ms) of recent successful runs, once there are 5.
pub fn typical(durations: &std::collections::VecDeque<i64>) -> Option<i64> {
    if durations.len() < 5 {
        return None;
    }
    let mut v: Vec<i64> = durations.iter().copied().collect();
    v.sort_unstable();
    Some(v[v.len() / 2])
}

/// How long a run may run before it is overrunning: the task's maximum, or its factor times
/// the typical duration, whichever comes first.
pub fn overrun_limit(task: &TaskInfo, typical: Option<i64>) -> Option<SignedDuration> {
    let max = task
        .alerts
        .max_duration_ms
        .and_then(|ms| i64::try_from(ms).ok());
    let by_factor = match (task.alerts.overrun_factor, typical) {
        (Some(f), Some(t)) => Some(t.saturating_mul(i64::from(f)).max(1)),
        _ => None,
    };
    let ms = match (max, by_factor) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b)?,
    };
    Some(SignedDuration::from_millis(ms))
}

/// An announced incident still open `every` after it was last announced is announced again.
pub fn reminder(open: &Incident, every: Option<u64>, now: Timestamp) -> Option<Step> {
    let every = SignedDuration::from_millis(i64::try_from(every?).ok()?);
    let last = open.last_announced_at?;
    if !open.announced || open.resolved_at.is_some() || now.duration_since(last) < every {
        return None;
    }
    let mut i = open.clone();
    i.last_announced_at = Some(now);
    Some(Step {
        incident: i,
        announce: Some(Announce::Reminder),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(after: Option<u32>) -> TaskInfo {
        TaskInfo {
            name: "backup".into(),
            group: "ops".into(),
            cluster: "default".into(),
            retries: 0,
            paused: false,
            alerts: AlertPolicy {
                after_failures: after,
                ..AlertPolicy::default()
            },
            schedules: None,
        }
    }

    fn run(n: u32, status: RunStatus) -> RunRecord {
        let mut r: RunRecord = serde_json::from_value(serde_json::json!({
            "id": format!("t-{n}-1"), "task": "t", "task_name": "backup",
            "scheduled_at": "2026-12-01T00:00:00Z", "started_at": "2026-12-01T00:00:00Z",
            "finished_at": null, "status": "running", "exit_code": null, "node": "n1",
            "attempt": 1, "trigger": "schedule", "message": null
        }))
        .unwrap();
        r.status = status;
        r.exit_code = (status == RunStatus::Failed).then_some(3);
        r
    }

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    #[test]
    fn failures_in_a_row_are_one_incident_announced_at_the_threshold_and_resolved_once() {
        let t = task(Some(3));
        let mut open: Option<Incident> = None;
        let mut sent = Vec::new();
        for n in 0..50 {
            let r = run(n, RunStatus::Failed);
            assert_eq!(outcome(&r, &t), Outcome::Failure);
            let s = on_failure(open.as_ref(), || "inc1".into(), "t", &t, &r, at(n.into())).unwrap();
            if let Some(a) = s.announce {
                sent.push((n, a));
            }
            open = Some(s.incident);
        }
        assert_eq!(
            sent,
            vec![(2, Announce::Opened)],
            "one message, at the third failure"
        );
        let i = open.clone().unwrap();
        assert_eq!((i.id.as_str(), i.count), ("inc1", 50));
        assert!(
            i.summary.starts_with("failed (exit code 3) on n1"),
            "{}",
            i.summary
        );
        let ok = run(50, RunStatus::Succeeded);
        assert_eq!(outcome(&ok, &t), Outcome::Success);
        let s = on_success(open.as_ref(), &ok, at(60)).unwrap();
        assert_eq!(s.announce, Some(Announce::Resolved));
        assert_eq!(s.incident.resolved_at, Some(at(60)));
        // With nothing open, a success changes nothing.
        assert!(on_success(None, &ok, at(61)).is_none());
    }

    #[test]
    fn a_quiet_incident_resolves_without_a_message_and_a_run_counts_once() {
        let t = task(Some(3));
        let r = run(1, RunStatus::Lost);
        let s = on_failure(None, || "i".into(), "t", &t, &r, at(0)).unwrap();
        assert_eq!(s.announce, None);
        // The same run again (its fence's `killed` replacing `lost`): not a second failure.
        assert!(on_failure(Some(&s.incident), || "x".into(), "t", &t, &r, at(1)).is_none());
        let s = on_success(Some(&s.incident), &run(2, RunStatus::Succeeded), at(2)).unwrap();
        assert_eq!(s.announce, None, "never announced, so no recovery message");
        assert!(s.incident.resolved_at.is_some());
    }

    #[test]
    fn retries_still_to_come_killed_runs_and_silenced_tasks_say_nothing() {
        let mut t = task(None);
        t.retries = 2;
        assert_eq!(outcome(&run(1, RunStatus::Failed), &t), Outcome::Nothing);
        let mut last = run(1, RunStatus::Failed);
        last.attempt = 3;
        assert_eq!(
            outcome(&last, &t),
            Outcome::Failure,
            "the last attempt counts"
        );
        assert_eq!(outcome(&run(1, RunStatus::Killed), &t), Outcome::Nothing);
        t.alerts.on_killed = true;
        assert_eq!(outcome(&run(1, RunStatus::Killed), &t), Outcome::Failure);
        assert_eq!(outcome(&run(1, RunStatus::Skipped), &t), Outcome::Nothing);
        t.alerts.off = true;
        assert_eq!(outcome(&last, &t), Outcome::Nothing);
    }

    #[test]
    fn an_open_incident_is_announced_again_only_after_its_interval() {
        let t = task(None);
        let s = on_failure(
            None,
            || "i".into(),
            "t",
            &t,
            &run(1, RunStatus::Failed),
            at(0),
        )
        .unwrap();
        assert_eq!(s.announce, Some(Announce::Opened));
        let hour = Some(3_600_000);
        assert!(reminder(&s.incident, hour, at(3599)).is_none());
        assert!(reminder(&s.incident, None, at(99_999)).is_none());
        let r = reminder(&s.incident, hour, at(3600)).unwrap();
        assert_eq!(r.announce, Some(Announce::Reminder));
        assert!(
            reminder(&r.incident, hour, at(3601)).is_none(),
            "counted from the reminder"
        );
    }

    #[test]
    fn the_start_grace_is_the_tasks_or_a_minute_and_never_more_than_its_period() {
        let mut t = task(None);
        assert_eq!(start_grace(&t, None), DEFAULT_START_GRACE);
        let second = SignedDuration::from_secs(1);
        assert_eq!(
            start_grace(&t, Some(second)),
            second,
            "an every-second task"
        );
        t.alerts.start_grace_ms = Some(5_000);
        assert_eq!(
            start_grace(&t, Some(SignedDuration::from_hours(1))).as_secs(),
            5
        );
    }

    #[test]
    fn a_run_overruns_past_the_maximum_or_a_multiple_of_the_typical_duration() {
        let mut t = task(None);
        let few: std::collections::VecDeque<i64> = [100, 100, 100].into();
        assert_eq!(typical(&few), None, "five runs are needed");
        let d: std::collections::VecDeque<i64> = [90, 100, 5000, 110, 100, 95].into();
        assert_eq!(
            typical(&d),
            Some(100),
            "the median, not swayed by one long run"
        );
        assert_eq!(overrun_limit(&t, Some(100)), None, "nothing set: no limit");
        t.alerts.overrun_factor = Some(3);
        assert_eq!(
            overrun_limit(&t, Some(100)),
            Some(SignedDuration::from_millis(300))
        );
        assert_eq!(overrun_limit(&t, None), None);
        t.alerts.max_duration_ms = Some(200);
        assert_eq!(
            overrun_limit(&t, Some(100)),
            Some(SignedDuration::from_millis(200))
        );
        assert_eq!(
            overrun_limit(&t, None),
            Some(SignedDuration::from_millis(200))
        );
    }

    #[test]
    fn any_kind_counts_on_one_incident_per_subject_and_resolves_once() {
        let t = task(None);
        let s = occurred(
            None,
            || "i".into(),
            IncidentKind::DidNotStart,
            "t",
            &t,
            None,
            "no start of 10:00".into(),
            1,
            at(0),
        )
        .unwrap();
        assert_eq!(
            (s.announce, s.incident.kind),
            (Some(Announce::Opened), IncidentKind::DidNotStart)
        );
        // Instants without a run id all count.
        let s = occurred(
            Some(&s.incident),
            || "x".into(),
            IncidentKind::DidNotStart,
            "t",
            &t,
            None,
            "no start of 10:01".into(),
            1,
            at(60),
        )
        .unwrap();
        assert_eq!((s.incident.count, s.announce), (2, None));
        let r = resolved(Some(&s.incident), Some("run-9"), "started".into(), at(61)).unwrap();
        assert_eq!(r.announce, Some(Announce::Resolved));
        assert_eq!(r.incident.last_run.as_deref(), Some("run-9"));
    }
}
