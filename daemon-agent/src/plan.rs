//! Which instants of a task are due at `now`, and what becomes of each: fired on time, caught
//! up once (misfire `run_once`), or recorded `missed`. Pure: time is an argument.

use cloudtask_shared::schedule::ScheduleSet;
use cloudtask_shared::{Misfire, Trigger};
use jiff::{SignedDuration, Timestamp};

/// A fire this late is still "on time" (timer jitter, a busy tick).
pub const ON_TIME: SignedDuration = SignedDuration::from_secs(1);

/// Most instants examined in one plan: after a long outage, older ones are summarized.
pub const MAX_INSTANTS: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    Fire(Trigger),
    Missed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub at: Timestamp,
    pub fate: Fate,
}

/// The instants in `(after, now]` and their fates; `next` is the first instant after `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub due: Vec<Planned>,
    /// Instants not examined because there were more than [`MAX_INSTANTS`].
    pub uncounted: bool,
    pub next: Option<Timestamp>,
}

pub fn plan(
    schedules: &ScheduleSet,
    after: Timestamp,
    now: Timestamp,
    misfire: Misfire,
    grace: SignedDuration,
) -> Plan {
    let mut instants = Vec::new();
    let mut cursor = after;
    let mut uncounted = false;
    let next = loop {
        match schedules.next_after(cursor) {
            Some(t) if t <= now => {
                if instants.len() == MAX_INSTANTS {
                    uncounted = true;
                    instants.remove(0);
                }
                instants.push(t);
                cursor = t;
            }
            other => break other,
        }
    };
    let last = instants.len().saturating_sub(1);
    let due = instants
        .into_iter()
        .enumerate()
        .map(|(i, at)| {
            let late = now.duration_since(at);
            let fate = if i < last {
                Fate::Missed
            } else if late <= ON_TIME {
                Fate::Fire(Trigger::Schedule)
            } else if misfire == Misfire::RunOnce && late <= grace {
                Fate::Fire(Trigger::CatchUp)
            } else {
                Fate::Missed
            };
            Planned { at, fate }
        })
        .collect();
    Plan {
        due,
        uncounted,
        next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudtask_shared::schedule::Schedule;

    fn every_second() -> ScheduleSet {
        every(1)
    }

    fn every(secs: u32) -> ScheduleSet {
        ScheduleSet::new(
            vec![Schedule::parse(&format!("@every {secs}s")).unwrap()],
            jiff::tz::TimeZone::UTC,
            None,
            None,
        )
    }

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    #[test]
    fn on_time_fire() {
        let p = plan(
            &every_second(),
            ts(100),
            ts(101),
            Misfire::RunOnce,
            SignedDuration::from_secs(60),
        );
        assert_eq!(
            p.due,
            [Planned {
                at: ts(101),
                fate: Fate::Fire(Trigger::Schedule)
            }]
        );
        assert_eq!(p.next, Some(ts(102)));
    }

    #[test]
    fn outage_catches_up_once_and_records_the_rest_missed() {
        let now = ts(150) + SignedDuration::from_millis(2500);
        let p = plan(
            &every(5),
            ts(100),
            now,
            Misfire::RunOnce,
            SignedDuration::from_secs(60),
        );
        assert_eq!(p.due.len(), 10);
        assert!(p.due[..9].iter().all(|x| x.fate == Fate::Missed));
        assert_eq!(
            p.due[9],
            Planned {
                at: ts(150),
                fate: Fate::Fire(Trigger::CatchUp)
            }
        );
    }

    #[test]
    fn skip_policy_and_grace_bound_catch_up() {
        let now = ts(150) + SignedDuration::from_millis(2500);
        let p = plan(
            &every(5),
            ts(100),
            now,
            Misfire::Skip,
            SignedDuration::from_secs(60),
        );
        assert!(p.due.iter().all(|x| x.fate == Fate::Missed));
        let p = plan(
            &every(5),
            ts(100),
            now,
            Misfire::RunOnce,
            SignedDuration::from_secs(2),
        );
        assert!(p.due.iter().all(|x| x.fate == Fate::Missed));
    }

    #[test]
    fn long_outages_are_capped() {
        let p = plan(
            &every_second(),
            ts(0),
            ts(5000),
            Misfire::RunOnce,
            SignedDuration::from_secs(60),
        );
        assert_eq!(p.due.len(), MAX_INSTANTS);
        assert!(p.uncounted);
        assert_eq!(p.due.last().map(|x| x.at), Some(ts(5000)));
        assert_eq!(p.next, Some(ts(5001)));
    }
}
