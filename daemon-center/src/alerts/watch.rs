//! What the center expects of scheduled tasks, for the alerts a run cannot raise itself:
//! an instant that did not start, a run that overruns. Pure bookkeeping over the events the
//! noticer reads, with `now` passed in, so the rules are tested without a clock.
//!
//! Each watched task has one expected instant: the first after the latest instant it has
//! accounted for (started, or skipped by its concurrency policy) and after `since` (when
//! this center began to lead: nothing before it is judged). Its deadline is the instant
//! plus the start grace. A deadline that passes is judged only once the center has caught
//! up with the task's node — the node has reported since `since` and its last reports were
//! not a backlog arriving late ([`DRAINING_LAG`]) — or, for a node that says nothing at all
//! (dead, frozen, cut off) or a task on no node, after [`WARMUP`]. So a center restart or a
//! node delivering its spool does not page anyone, and a silent node still does.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};

use cloudtask_shared::{RunRecord, RunStatus, Trigger};
use jiff::{SignedDuration, Timestamp};

use super::rules::{self, TaskInfo};

/// Reports that arrive this much after what they tell of are a backlog draining.
pub const DRAINING_LAG: SignedDuration = SignedDuration::from_secs(3);

/// How long after taking the lead a node that has not reported yet, or a task on no node,
/// is given before its instants are judged.
pub const WARMUP: SignedDuration = SignedDuration::from_secs(10);

/// Beyond the start grace, the time a start's report is given to reach the center.
pub const REPORT_SLACK: SignedDuration = SignedDuration::from_secs(1);

/// What one run record tells the watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Seen {
    /// A scheduled instant started: `Some(late)`, with `late` set when it started past its
    /// grace (by this much).
    pub started: Option<Option<SignedDuration>>,
    /// It succeeded, after this long.
    pub succeeded: Option<SignedDuration>,
}

#[derive(Debug, Clone, Copy)]
struct NodeSeen {
    /// When its last report was committed.
    at: Timestamp,
    /// How long after the run's own time it arrived.
    lag: SignedDuration,
}

/// A run under way, as far as the center knows.
#[derive(Debug, Clone)]
pub struct Running {
    pub task: String,
    pub started_at: Timestamp,
}

/// An instant judged not started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overdue {
    pub task: String,
    pub instant: Timestamp,
    pub grace: SignedDuration,
}

/// A run past its task's limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overrun {
    pub run: String,
    pub task: String,
    pub running_for: SignedDuration,
    pub limit: SignedDuration,
}

#[derive(Debug)]
pub struct Watch {
    since: Timestamp,
    /// The latest instant each task accounted for.
    accounted: HashMap<String, Timestamp>,
    /// Each watched task's expected instant, its deadline, and its grace.
    expected: HashMap<String, (Timestamp, Timestamp, SignedDuration)>,
    deadlines: BinaryHeap<Reverse<(Timestamp, String)>>,
    nodes: HashMap<String, NodeSeen>,
    running: HashMap<String, Running>,
    /// Runs already reported overrunning.
    overran: HashSet<String>,
    /// Recent successful durations (ms) of tasks that judge by their typical duration.
    durations: HashMap<String, VecDeque<i64>>,
}

impl Watch {
    pub fn new(since: Timestamp) -> Watch {
        Watch {
            since,
            accounted: HashMap::new(),
            expected: HashMap::new(),
            deadlines: BinaryHeap::new(),
            nodes: HashMap::new(),
            running: HashMap::new(),
            overran: HashSet::new(),
            durations: HashMap::new(),
        }
    }

    /// Sets the task's expected instant: the first after what it accounted for and after
    /// `since` and `from` (a task edited now is not judged for instants before the edit).
    pub fn expect(&mut self, id: &str, task: &TaskInfo, from: Timestamp) {
        self.expected.remove(id);
        if !task.watched() {
            return;
        }
        let after = self
            .accounted
            .get(id)
            .copied()
            .unwrap_or(self.since)
            .max(self.since)
            .max(from);
        let Some(instant) = task.schedules.as_ref().and_then(|s| s.next_after(after)) else {
            return;
        };
        let grace = rules::start_grace(task, task.period(instant));
        let deadline = instant
            .checked_add(grace)
            .and_then(|t| t.checked_add(REPORT_SLACK))
            .unwrap_or(Timestamp::MAX);
        self.expected
            .insert(id.to_string(), (instant, deadline, grace));
        self.deadlines.push(Reverse((deadline, id.to_string())));
    }

    pub fn forget(&mut self, id: &str) {
        self.expected.remove(id);
        self.accounted.remove(id);
        self.durations.remove(id);
        self.running.retain(|_, r| r.task != id);
    }

    /// A run's record committed at `at` (the outbox row's time).
    pub fn saw(&mut self, run: &RunRecord, task: &TaskInfo, at: Timestamp) -> Seen {
        if !run.node.is_empty() {
            let told = run
                .finished_at
                .or(run.started_at)
                .unwrap_or(run.scheduled_at);
            self.nodes.insert(
                run.node.clone(),
                NodeSeen {
                    at,
                    lag: at.duration_since(told),
                },
            );
        }
        let scheduled = matches!(run.trigger, Trigger::Schedule | Trigger::CatchUp);
        let was_running = self.running.contains_key(&run.id);
        if run.status.is_terminal() {
            self.running.remove(&run.id);
            self.overran.remove(&run.id);
        } else if let Some(s) = run.started_at {
            self.running.insert(
                run.id.clone(),
                Running {
                    task: run.task.clone(),
                    started_at: s,
                },
            );
        }
        // Started, or handled by the node on purpose (skipped by its concurrency policy,
        // recorded missed by its misfire policy): the node knows of the instant.
        let accounts = run.started_at.is_some()
            || matches!(run.status, RunStatus::Skipped | RunStatus::Missed);
        let mut seen = Seen::default();
        if scheduled && accounts {
            let before = self.accounted.get(&run.task).copied();
            if before.is_none_or(|b| run.scheduled_at > b) {
                self.accounted.insert(run.task.clone(), run.scheduled_at);
                self.expect(&run.task, task, run.scheduled_at);
            }
            // A start is news once per run: its `running` report, or its final one if it
            // ended before a `running` went out.
            let first_word = !was_running;
            if let (Some(started), true) = (run.started_at, first_word) {
                let grace = rules::start_grace(task, task.period(run.scheduled_at));
                let by = started.duration_since(run.scheduled_at);
                let judged = run.scheduled_at >= self.since;
                seen.started = Some((judged && by > grace).then_some(by));
            }
        }
        if run.status == RunStatus::Succeeded
            && let (Some(a), Some(z)) = (run.started_at, run.finished_at)
        {
            let took = z.duration_since(a);
            if task.alerts.overrun_factor.is_some() {
                let d = self.durations.entry(run.task.clone()).or_default();
                d.push_back(took.as_millis() as i64);
                while d.len() > rules::TYPICAL_OF {
                    d.pop_front();
                }
            }
            seen.succeeded = Some(took);
        }
        seen
    }

    /// Whether the center is caught up with what `node` reports, at `now`.
    fn caught_up(&self, node: Option<&str>, now: Timestamp) -> bool {
        let warmed = now.duration_since(self.since) >= WARMUP;
        let Some(n) = node else {
            return warmed;
        };
        match self.nodes.get(n) {
            // Its last report came late: its backlog drains (between deliveries it may wait
            // out a backoff), until a report arrives on time, or it has said nothing more
            // for the warm-up (frozen mid-backlog).
            Some(s) if s.at >= self.since && s.lag > DRAINING_LAG => {
                now.duration_since(s.at) >= WARMUP
            }
            Some(s) if s.at >= self.since => true,
            _ => warmed,
        }
    }

    /// The instants whose deadline passed by `now` without a start, for tasks whose node the
    /// center has caught up with; each judged once (the task then expects its next instant).
    pub fn overdue(
        &mut self,
        now: Timestamp,
        tasks: &HashMap<String, TaskInfo>,
        node_of: impl Fn(&str) -> Option<String>,
    ) -> Vec<Overdue> {
        let mut out = Vec::new();
        let mut later = Vec::new();
        while let Some(Reverse((deadline, id))) = self.deadlines.peek().cloned() {
            if deadline > now {
                break;
            }
            self.deadlines.pop();
            // A stale entry: the task expects something else now.
            let Some(&(instant, d, grace)) = self.expected.get(&id) else {
                continue;
            };
            if d != deadline {
                continue;
            }
            let Some(task) = tasks.get(&id) else {
                self.expected.remove(&id);
                continue;
            };
            if !self.caught_up(node_of(&id).as_deref(), now) {
                later.push(id);
                continue;
            }
            out.push(Overdue {
                task: id.clone(),
                instant,
                grace,
            });
            // Count it as accounted for (by this judgement), and expect the next one.
            self.accounted.insert(id.clone(), instant);
            self.expect(&id, task, instant);
        }
        // Not judged yet: looked at again in a second.
        for id in later {
            if let Some(e) = self.expected.get_mut(&id) {
                e.1 = now
                    .checked_add(SignedDuration::from_secs(1))
                    .unwrap_or(Timestamp::MAX);
                self.deadlines.push(Reverse((e.1, id)));
            }
        }
        out
    }

    /// A run known to be under way (loaded when the center takes the lead).
    pub fn running(&mut self, run: &RunRecord) {
        if let (RunStatus::Running, Some(s)) = (run.status, run.started_at) {
            self.running.insert(
                run.id.clone(),
                Running {
                    task: run.task.clone(),
                    started_at: s,
                },
            );
        }
    }

    /// Durations of recent successes (ms), oldest first (loaded at the lead).
    pub fn durations(&mut self, task: &str, ms: impl IntoIterator<Item = i64>) {
        self.durations
            .insert(task.to_string(), ms.into_iter().collect());
    }

    /// Runs now past their task's limit, each reported once.
    pub fn overruns(&mut self, now: Timestamp, tasks: &HashMap<String, TaskInfo>) -> Vec<Overrun> {
        let mut out = Vec::new();
        for (id, r) in &self.running {
            if self.overran.contains(id) {
                continue;
            }
            let Some(task) = tasks.get(&r.task) else {
                continue;
            };
            if task.alerts.off {
                continue;
            }
            let typical = self.durations.get(&r.task).and_then(rules::typical);
            let Some(limit) = rules::overrun_limit(task, typical) else {
                continue;
            };
            let running_for = now.duration_since(r.started_at);
            if running_for > limit {
                out.push(Overrun {
                    run: id.clone(),
                    task: r.task.clone(),
                    running_for,
                    limit,
                });
            }
        }
        for o in &out {
            self.overran.insert(o.run.clone());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudtask_shared::AlertPolicy;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    /// A task firing every 10 s (instants on multiples of 10 past the origin) with a 2 s grace.
    fn every_10s() -> TaskInfo {
        let spec: cloudtask_shared::TaskSpec = serde_json::from_value(serde_json::json!({
            "name": "tick", "command": "true", "schedules": ["@every 10s"],
            "alerts": {"start_grace_ms": 2000}
        }))
        .unwrap();
        TaskInfo::of(&cloudtask_shared::Task {
            id: "t".into(),
            spec,
            version: 1,
            created_by: "x".into(),
            created_at: at(0),
            updated_by: "x".into(),
            updated_at: at(0),
        })
    }

    fn run(instant: i64, started: Option<i64>, status: RunStatus, node: &str) -> RunRecord {
        let mut r: RunRecord = serde_json::from_value(serde_json::json!({
            "id": format!("t-{instant}-1"), "task": "t", "task_name": "tick",
            "scheduled_at": at(instant), "started_at": started.map(at),
            "finished_at": null, "status": "running", "exit_code": null, "node": node,
            "attempt": 1, "trigger": "schedule", "message": null
        }))
        .unwrap();
        r.status = status;
        if status.is_terminal() {
            r.finished_at = started.map(|s| at(s + 1));
        }
        r
    }

    fn tasks(t: &TaskInfo) -> HashMap<String, TaskInfo> {
        [("t".to_string(), t.clone())].into()
    }

    #[test]
    fn an_instant_with_no_start_by_its_grace_is_judged_once_and_a_start_clears_it() {
        let t = every_10s();
        let mut w = Watch::new(at(0));
        w.expect("t", &t, at(0));
        let on_node = |_: &str| Some("n1".to_string());
        // The node reports on time: seen, caught up.
        assert_eq!(
            w.saw(&run(10, Some(10), RunStatus::Running, "n1"), &t, at(10))
                .started,
            Some(None)
        );
        assert!(
            w.overdue(at(22), &tasks(&t), on_node).is_empty(),
            "20 has until 22, and 1 s for its report"
        );
        let due = w.overdue(at(23), &tasks(&t), on_node);
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].instant, due[0].grace.as_secs()), (at(20), 2));
        assert!(
            w.overdue(at(24), &tasks(&t), on_node).is_empty(),
            "judged once"
        );
        // The next instant is expected: 30, by 33.
        assert_eq!(w.overdue(at(33), &tasks(&t), on_node).len(), 1);
        // A start (or a missed record) accounts for an instant.
        w.saw(&run(40, None, RunStatus::Missed, "n1"), &t, at(40));
        assert!(w.overdue(at(44), &tasks(&t), on_node).is_empty());
    }

    #[test]
    fn a_start_past_its_grace_is_late_and_instants_before_the_lead_are_not_judged() {
        let t = every_10s();
        let mut w = Watch::new(at(15));
        w.expect("t", &t, at(15));
        // Instant 10 came before this center led: its late start is nobody's news.
        assert_eq!(
            w.saw(&run(10, Some(16), RunStatus::Running, "n1"), &t, at(16))
                .started,
            Some(None)
        );
        let seen = w.saw(&run(20, Some(25), RunStatus::Running, "n1"), &t, at(25));
        assert_eq!(seen.started, Some(Some(SignedDuration::from_secs(5))));
        // Its final report is not a second start.
        let end = w.saw(&run(20, Some(25), RunStatus::Succeeded, "n1"), &t, at(26));
        assert_eq!(
            end,
            Seen {
                started: None,
                succeeded: Some(SignedDuration::from_secs(1))
            }
        );
        // A run that ended before its `running` went out: its one report is both.
        let quick = w.saw(&run(30, Some(30), RunStatus::Succeeded, "n1"), &t, at(31));
        assert_eq!(
            quick,
            Seen {
                started: Some(None),
                succeeded: Some(SignedDuration::from_secs(1))
            }
        );
    }

    #[test]
    fn a_backlog_draining_or_a_node_not_heard_since_the_lead_holds_judgement_off() {
        let t = every_10s();
        let on_node = |_: &str| Some("n1".to_string());
        // The center led from 5 and has heard nothing of n1: instant 10 (due by 13) is held
        // until the warm-up ends at 15.
        let mut w = Watch::new(at(5));
        w.expect("t", &t, at(5));
        assert!(w.overdue(at(13), &tasks(&t), on_node).is_empty());
        assert_eq!(
            w.overdue(at(5 + WARMUP.as_secs()), &tasks(&t), on_node)
                .len(),
            1
        );
        // n1 is delivering a backlog (reports of runs long past): held while it does.
        let mut w = Watch::new(at(0));
        w.expect("t", &t, at(0));
        let mut old = run(0, Some(0), RunStatus::Succeeded, "n1");
        old.trigger = Trigger::Manual;
        w.saw(&old, &t, at(12));
        assert!(
            w.overdue(at(12), &tasks(&t), on_node).is_empty(),
            "draining"
        );
        assert!(
            w.overdue(at(12 + DRAINING_LAG.as_secs() + 1), &tasks(&t), on_node)
                .is_empty(),
            "between two deliveries of its backlog"
        );
        // Then it goes quiet (frozen): judged once it said nothing for the warm-up.
        let due = w.overdue(at(12 + WARMUP.as_secs()), &tasks(&t), on_node);
        assert_eq!(due.len(), 1, "{due:?}");
        assert_eq!(
            due[0].grace.as_secs(),
            2,
            "the grace, not the time it was held"
        );
        // A task on no node waits for the warm-up too.
        let mut w = Watch::new(at(5));
        w.expect("t", &t, at(5));
        assert!(w.overdue(at(14), &tasks(&t), |_| None).is_empty());
        assert_eq!(
            w.overdue(at(5 + WARMUP.as_secs()), &tasks(&t), |_| None)
                .len(),
            1
        );
    }

    #[test]
    fn runs_overrun_past_the_limit_once() {
        let mut t = every_10s();
        t.alerts = AlertPolicy {
            max_duration_ms: Some(5_000),
            ..AlertPolicy::default()
        };
        let mut w = Watch::new(at(0));
        w.saw(&run(10, Some(10), RunStatus::Running, "n1"), &t, at(10));
        assert!(w.overruns(at(15), &tasks(&t)).is_empty());
        let o = w.overruns(at(16), &tasks(&t));
        assert_eq!(o.len(), 1);
        assert_eq!((o[0].running_for.as_secs(), o[0].limit.as_secs()), (6, 5));
        assert!(w.overruns(at(17), &tasks(&t)).is_empty(), "once per run");
        w.saw(&run(10, Some(10), RunStatus::Succeeded, "n1"), &t, at(18));
        assert!(w.overruns(at(30), &tasks(&t)).is_empty(), "ended");
    }
}

/// A node as the leader's rounds see it: up or down, since when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NodeState {
    up: bool,
    since: Timestamp,
}

/// A node's change worth an incident, once it lasted the damping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeChange {
    Offline {
        node: (String, String),
        since: Timestamp,
    },
    Online {
        node: (String, String),
        since: Timestamp,
    },
}

/// Nodes coming and going, damped: a node is offline once it has been away for the damping,
/// and back once it has been back as long, so a node that flaps is one incident.
#[derive(Debug, Default)]
pub struct Nodes {
    state: std::collections::BTreeMap<(String, String), NodeState>,
}

impl Nodes {
    /// A node with an open offline incident is counted down from `now` until seen.
    pub fn presume_down(&mut self, node: (String, String), now: Timestamp) {
        self.state.entry(node).or_insert(NodeState {
            up: false,
            since: now,
        });
    }

    /// The members one round saw, at `now`.
    pub fn observe(
        &mut self,
        members: &std::collections::BTreeSet<(String, String)>,
        now: Timestamp,
    ) {
        for m in members {
            let s = self.state.entry(m.clone()).or_insert(NodeState {
                up: true,
                since: now,
            });
            if !s.up {
                *s = NodeState {
                    up: true,
                    since: now,
                };
            }
        }
        for (node, s) in self.state.iter_mut() {
            if s.up && !members.contains(node) {
                *s = NodeState {
                    up: false,
                    since: now,
                };
            }
        }
    }

    /// What has lasted the damping: nodes away (with no open incident) and nodes back (with
    /// one). `open` says whether a node has an open offline incident.
    pub fn judge(
        &self,
        now: Timestamp,
        damping: SignedDuration,
        open: impl Fn(&(String, String)) -> bool,
    ) -> Vec<NodeChange> {
        self.state
            .iter()
            .filter(|(_, s)| now.duration_since(s.since) >= damping)
            .filter_map(|(node, s)| match (s.up, open(node)) {
                (false, false) => Some(NodeChange::Offline {
                    node: node.clone(),
                    since: s.since,
                }),
                (true, true) => Some(NodeChange::Online {
                    node: node.clone(),
                    since: s.since,
                }),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod node_tests {
    use super::*;
    use std::collections::BTreeSet;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    #[test]
    fn a_node_away_past_the_damping_is_offline_once_and_a_flapping_node_is_one_incident() {
        let n = ("default".to_string(), "a1".to_string());
        let up: BTreeSet<_> = [n.clone()].into();
        let none = BTreeSet::new();
        let damp = SignedDuration::from_secs(30);
        let mut w = Nodes::default();
        w.observe(&up, at(0));
        w.observe(&none, at(10));
        assert!(w.judge(at(39), damp, |_| false).is_empty(), "not yet");
        let j = w.judge(at(40), damp, |_| false);
        assert_eq!(
            j,
            vec![NodeChange::Offline {
                node: n.clone(),
                since: at(10)
            }]
        );
        assert!(
            w.judge(at(41), damp, |_| true).is_empty(),
            "open already: once"
        );
        // It flaps: back 5 s, away again. Still the one open incident, no online.
        w.observe(&up, at(50));
        assert!(w.judge(at(55), damp, |_| true).is_empty());
        w.observe(&none, at(55));
        assert!(w.judge(at(100), damp, |_| true).is_empty());
        // Back for good.
        w.observe(&up, at(100));
        assert_eq!(
            w.judge(at(130), damp, |_| true),
            vec![NodeChange::Online {
                node: n,
                since: at(100)
            }]
        );
    }
}
