//! The scheduler's decisions, as pure functions of what it knows: what a run does when
//! another of its task is active, how many claimed runs a node takes, and whether a process started ahead is still of use. Misfire (`run_once`,
//! `skip`) is decided by [`crate::plan`].

use cloudtask_shared::{Concurrency, Task, Trigger};
use jiff::Timestamp;

/// What a claimed run does while another run of its task is active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlap {
    /// It starts (nothing active, `allow`, or a retry — the active run is the one it retries
    /// after, or the retry of another attempt).
    Start,
    /// It is recorded `skipped` with this message (`forbid`).
    Skip(String),
    /// The active runs are stopped with this message, then it starts (`replace`).
    Replace(String),
}

pub fn overlap(
    concurrency: Concurrency,
    trigger: Trigger,
    running: Option<&str>,
    run: &str,
) -> Overlap {
    let Some(running) = running else {
        return Overlap::Start;
    };
    if trigger == Trigger::Retry {
        return Overlap::Start;
    }
    match concurrency {
        Concurrency::Allow => Overlap::Start,
        Concurrency::Forbid => {
            Overlap::Skip(format!("concurrency forbid: run {running} is still active"))
        }
        Concurrency::Replace => Overlap::Replace(format!("replaced by run {run}")),
    }
}

/// How many more claimed runs a node takes: `capacity` run at once, and a bounded queue
/// waits behind them (16 × capacity, at least 1,024); past that, runs are shed.
pub fn room(capacity: usize, started: usize, waiting: usize) -> usize {
    let capacity = capacity.max(1);
    let queue = capacity.saturating_mul(16).max(1024);
    (capacity + queue).saturating_sub(started + waiting)
}

/// Why a shed run was skipped.
pub fn shed_message(node: &str, started: usize, waiting: usize) -> String {
    format!("node {node} at capacity: {started} runs running and {waiting} waiting")
}

/// Whether `run` is one its node skipped for want of capacity ([`shed_message`]): what the
/// center's `shedding` alert counts.
pub fn is_shed(run: &cloudtask_shared::RunRecord) -> bool {
    run.status == cloudtask_shared::RunStatus::Skipped
        && run
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with(&format!("node {} at capacity", run.node)))
}

/// Whether a process held for the run at `at` of a task at `held_version` is still of use:
/// not when the task left this node, was edited (another version) or paused, nor once its
/// instant has passed without its run having started.
pub fn keep_held(
    held_version: u64,
    at: Timestamp,
    owner: Option<&Task>,
    now: Timestamp,
    run_active: bool,
) -> bool {
    let Some(task) = owner else {
        return false;
    };
    if task.version != held_version || task.spec.paused {
        return false;
    }
    at > now || run_active
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_follows_the_concurrency_policy_and_retries_always_start() {
        use Concurrency::*;
        assert_eq!(
            overlap(Forbid, Trigger::Schedule, None, "r2"),
            Overlap::Start
        );
        assert_eq!(
            overlap(Forbid, Trigger::Schedule, Some("r1"), "r2"),
            Overlap::Skip("concurrency forbid: run r1 is still active".into())
        );
        assert_eq!(
            overlap(Forbid, Trigger::Manual, Some("r1"), "r2"),
            Overlap::Skip("concurrency forbid: run r1 is still active".into())
        );
        assert_eq!(
            overlap(Forbid, Trigger::Retry, Some("r1"), "r2"),
            Overlap::Start
        );
        assert_eq!(
            overlap(Allow, Trigger::Schedule, Some("r1"), "r2"),
            Overlap::Start
        );
        assert_eq!(
            overlap(Replace, Trigger::Schedule, Some("r1"), "r2"),
            Overlap::Replace("replaced by run r2".into())
        );
    }

    #[test]
    fn room_is_capacity_plus_a_bounded_queue() {
        assert_eq!(room(4, 0, 0), 4 + 1024);
        assert_eq!(room(4, 4, 1020), 4);
        assert_eq!(room(4, 4, 1024), 0);
        assert_eq!(room(4, 4, 5000), 0, "never negative");
        assert_eq!(room(100, 0, 0), 100 + 1600);
        assert_eq!(room(0, 0, 0), 1 + 1024, "a capacity of 0 means 1");
    }

    #[test]
    fn a_held_process_is_kept_only_while_its_run_can_still_use_it() {
        let now = Timestamp::from_second(1_000).unwrap();
        let ahead = now + jiff::SignedDuration::from_millis(300);
        let passed = now - jiff::SignedDuration::from_millis(1);
        let task: cloudtask_shared::Task = cloudtask_shared::Task {
            id: "t".into(),
            spec: serde_json::from_value(serde_json::json!({"name": "t", "command": "true"}))
                .unwrap(),
            version: 3,
            created_by: "a".into(),
            created_at: now,
            updated_by: "a".into(),
            updated_at: now,
        };
        assert!(keep_held(3, ahead, Some(&task), now, false));
        assert!(!keep_held(3, ahead, None, now, false), "moved away");
        assert!(!keep_held(2, ahead, Some(&task), now, false), "edited");
        let mut paused = task.clone();
        paused.spec.paused = true;
        assert!(!keep_held(3, ahead, Some(&paused), now, false), "paused");
        assert!(
            !keep_held(3, passed, Some(&task), now, false),
            "instant passed unused"
        );
        assert!(
            keep_held(3, passed, Some(&task), now, true),
            "its run is starting"
        );
    }
}
