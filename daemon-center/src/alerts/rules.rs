//! What a run's outcome does to its task's incident: pure decisions, no I/O, no clock.
//!
//! A run that ends `failed`, `timed_out` or `lost` (or `killed`, when the task says so) with
//! no retry left is a failure; a `succeeded` run is a success; anything else (a retry still
//! to come, `skipped`, `missed`) says nothing. Failures in a row count on one open incident,
//! announced once the count reaches the task's `after_failures`; a success resolves it, with
//! one recovery message only if it was announced.

use cloudtask_shared::api::{Incident, IncidentKind};
use cloudtask_shared::{AlertPolicy, RunRecord, RunStatus};
use jiff::{SignedDuration, Timestamp};

/// What the noticer keeps of a task: enough to judge its runs, not its whole spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskInfo {
    pub name: String,
    pub group: String,
    pub retries: u32,
    pub paused: bool,
    pub alerts: AlertPolicy,
}

impl TaskInfo {
    pub fn of(task: &cloudtask_shared::Task) -> TaskInfo {
        TaskInfo {
            name: task.spec.name.clone(),
            group: task.spec.group.clone(),
            retries: task.spec.retries,
            paused: task.spec.paused,
            alerts: task.spec.alerts.clone(),
        }
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

/// A failure of `task`'s run: counts on the open incident (`open`), or opens one with `id`.
/// The same run seen again (reported `lost`, then `killed` by its fence) counts once.
pub fn on_failure(
    open: Option<&Incident>,
    id: impl FnOnce() -> String,
    subject: &str,
    task: &TaskInfo,
    run: &RunRecord,
    now: Timestamp,
) -> Option<Step> {
    let mut i = match open {
        Some(i) if i.last_run.as_deref() == Some(run.id.as_str()) => return None,
        Some(i) => i.clone(),
        None => Incident {
            id: id(),
            kind: IncidentKind::Failed,
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
    i.last_run = Some(run.id.clone());
    i.summary = summary(run);
    let announce = if !i.announced && i.count >= task.alerts.threshold() {
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

/// A success resolves the open incident; only an announced one sends a recovery message.
pub fn on_success(open: Option<&Incident>, run: &RunRecord, now: Timestamp) -> Option<Step> {
    let mut i = open?.clone();
    i.resolved_at = Some(now);
    i.updated_at = now;
    i.last_run = Some(run.id.clone());
    i.summary = format!("recovered: {}", summary(run));
    let announce = i.announced.then_some(Announce::Resolved);
    Some(Step {
        incident: i,
        announce,
    })
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
            retries: 0,
            paused: false,
            alerts: AlertPolicy {
                after_failures: after,
                ..AlertPolicy::default()
            },
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
}
