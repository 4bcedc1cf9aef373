//! Task placement: a consistent-hash ring with virtual nodes, sticky for running tasks.
//!
//! Pure and deterministic: the same inputs give the same placement on every center, so a
//! center restart moves nothing. Losing a node moves only its tasks; a node joining takes
//! about 1/N of the tasks, never one that is running.

use std::collections::{BTreeMap, BTreeSet};

/// Virtual nodes per node: enough to keep every node within ±25% of the mean.
pub const VNODES: u32 = 64;

/// What placement needs to know about one task.
#[derive(Debug, Clone)]
pub struct TaskSlot<'a> {
    pub id: &'a str,
    /// Node names the task may run on; empty means any.
    pub target_nodes: &'a [String],
    /// Labels an eligible node carries; empty means any.
    pub selector: &'a BTreeMap<String, String>,
    /// Where it is now, if anywhere.
    pub current: Option<&'a str>,
    /// A running task stays where it is while that node lives and matches.
    pub running: bool,
}

/// Stable 64-bit hash (FNV-1a with a splitmix64 finish): identical on every platform and release.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The ring over a set of live nodes.
#[derive(Debug, Clone)]
pub struct Ring {
    points: Vec<(u64, usize)>,
    nodes: Vec<String>,
    labels: Vec<BTreeMap<String, String>>,
}

impl Ring {
    /// A ring of nodes without labels.
    pub fn new<I: IntoIterator<Item = String>>(nodes: I) -> Ring {
        Ring::with_labels(nodes.into_iter().map(|n| (n, BTreeMap::new())))
    }

    /// A ring of nodes with the labels task selectors match against.
    pub fn with_labels<I>(nodes: I) -> Ring
    where
        I: IntoIterator<Item = (String, BTreeMap<String, String>)>,
    {
        let by_name: BTreeMap<String, BTreeMap<String, String>> = nodes.into_iter().collect();
        let (nodes, labels): (Vec<String>, Vec<_>) = by_name.into_iter().unzip();
        let mut points = Vec::with_capacity(nodes.len() * VNODES as usize);
        for (i, n) in nodes.iter().enumerate() {
            for v in 0..VNODES {
                points.push((stable_hash(format!("{n}#{v}").as_bytes()), i));
            }
        }
        points.sort_unstable();
        Ring {
            points,
            nodes,
            labels,
        }
    }

    /// Whether the node carries every label of `selector` with the same value.
    pub fn matches(&self, node: &str, selector: &BTreeMap<String, String>) -> bool {
        if selector.is_empty() {
            return true;
        }
        match self.nodes.binary_search_by(|n| n.as_str().cmp(node)) {
            Ok(i) => selector
                .iter()
                .all(|(k, v)| self.labels[i].get(k) == Some(v)),
            Err(_) => false,
        }
    }

    /// The first eligible node clockwise from the task's hash.
    pub fn owner(&self, task: &str, eligible: impl Fn(&str) -> bool) -> Option<&str> {
        if self.points.is_empty() {
            return None;
        }
        let h = stable_hash(task.as_bytes());
        let start = self.points.partition_point(|(p, _)| *p < h);
        let mut seen = BTreeSet::new();
        for k in 0..self.points.len() {
            let (_, i) = self.points[(start + k) % self.points.len()];
            if seen.insert(i) {
                let name = &self.nodes[i];
                if eligible(name) {
                    return Some(name);
                }
                if seen.len() == self.nodes.len() {
                    break;
                }
            }
        }
        None
    }

    pub fn contains(&self, node: &str) -> bool {
        self.nodes
            .binary_search_by(|n| n.as_str().cmp(node))
            .is_ok()
    }
}

/// Places every task: `None` means no eligible live node (the task shows as `unassigned`).
pub fn place<'a>(tasks: &[TaskSlot<'a>], ring: &Ring) -> BTreeMap<&'a str, Option<String>> {
    tasks
        .iter()
        .map(|t| {
            let eligible = |n: &str| {
                (t.target_nodes.is_empty() || t.target_nodes.iter().any(|x| x == n))
                    && ring.matches(n, t.selector)
            };
            let placed = match t.current {
                Some(cur) if t.running && ring.contains(cur) && eligible(cur) => {
                    Some(cur.to_string())
                }
                _ => ring.owner(t.id, eligible).map(str::to_string),
            };
            (t.id, placed)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    static NONE: BTreeMap<String, String> = BTreeMap::new();

    #[test]
    fn node_selectors_are_respected() {
        let label = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        let ring = Ring::with_labels([
            ("a".to_string(), label("zone", "eu")),
            ("b".to_string(), label("zone", "us")),
            ("c".to_string(), BTreeMap::new()),
        ]);
        let want = label("zone", "us");
        let all_b = place(&fresh(&ids(40), &[], &want), &ring)
            .values()
            .all(|n| n.as_deref() == Some("b"));
        assert!(all_b);
        let nowhere = label("gpu", "yes");
        let x = ["x".to_string()];
        assert_eq!(
            place(&fresh(&x, &[], &nowhere), &ring)["x"],
            None,
            "no node carries gpu=yes"
        );
    }

    /// Slots for tasks not placed yet and not running.
    fn fresh<'a>(
        ids: &'a [String],
        target_nodes: &'a [String],
        selector: &'a BTreeMap<String, String>,
    ) -> Vec<TaskSlot<'a>> {
        ids.iter()
            .map(|id| TaskSlot {
                id,
                target_nodes,
                selector,
                current: None,
                running: false,
            })
            .collect()
    }

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("task-{i}")).collect()
    }

    fn run(
        ids: &[String],
        nodes: &[&str],
        prev: &BTreeMap<&str, Option<String>>,
    ) -> BTreeMap<String, Option<String>> {
        let ring = Ring::new(nodes.iter().map(|s| s.to_string()));
        let slots: Vec<TaskSlot> = ids
            .iter()
            .map(|id| TaskSlot {
                id,
                target_nodes: &[],
                selector: &NONE,
                current: prev.get(id.as_str()).and_then(|n| n.as_deref()),
                running: false,
            })
            .collect();
        place(&slots, &ring)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    }

    #[test]
    fn no_nodes_means_unassigned() {
        let out = run(&ids(3), &[], &BTreeMap::new());
        assert!(out.values().all(Option::is_none));
    }

    #[test]
    fn target_nodes_are_respected() {
        let ring = Ring::new(["a".to_string(), "b".to_string(), "c".to_string()]);
        let target = vec!["c".to_string()];
        let all_c = place(&fresh(&ids(50), &target, &NONE), &ring)
            .values()
            .all(|n| n.as_deref() == Some("c"));
        assert!(all_c);
        let gone = vec!["z".to_string()];
        let x = ["x".to_string()];
        assert_eq!(place(&fresh(&x, &gone, &NONE), &ring)["x"], None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn node_loss_moves_only_its_tasks(n in 2usize..8, lost in 0usize..8, t in 50usize..400) {
            let names: Vec<String> = (0..n).map(|i| format!("node-{i}")).collect();
            let all: Vec<&str> = names.iter().map(String::as_str).collect();
            let lost = lost % n;
            let id = ids(t);
            let before = run(&id, &all, &BTreeMap::new());
            let prev: BTreeMap<&str, Option<String>> = before.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
            let rest: Vec<&str> = all.iter().copied().filter(|x| *x != all[lost]).collect();
            let after = run(&id, &rest, &prev);
            for (task, node) in &before {
                if node.as_deref() != Some(all[lost]) {
                    prop_assert_eq!(&after[task], node);
                } else {
                    prop_assert!(after[task].as_deref() != Some(all[lost]));
                }
            }
        }

        #[test]
        fn node_join_moves_about_one_nth_and_never_running(n in 1usize..8, t in 100usize..600) {
            let names: Vec<String> = (0..=n).map(|i| format!("node-{i}")).collect();
            let all: Vec<&str> = names.iter().map(String::as_str).collect();
            let id = ids(t);
            let before = run(&id, &all[..n], &BTreeMap::new());
            let ring = Ring::new(names.iter().cloned());
            let slots: Vec<TaskSlot> = id.iter().enumerate().map(|(i, id)| TaskSlot {
                id, target_nodes: &[], selector: &NONE, current: before[id].as_deref(), running: i % 3 == 0,
            }).collect();
            let after = place(&slots, &ring);
            let mut moved = 0;
            for (i, task) in id.iter().enumerate() {
                if after[task.as_str()] != before[task] {
                    moved += 1;
                    prop_assert!(i % 3 != 0, "running task {} moved", task);
                    prop_assert_eq!(after[task.as_str()].as_deref(), Some(all[n]));
                }
            }
            // Expected share t/(n+1), with generous slack for ring variance at small t.
            prop_assert!(moved <= t / (n + 1) * 2 + 10, "{} of {} moved to the new node", moved, t);
        }

        #[test]
        fn same_inputs_same_output(n in 1usize..6, t in 1usize..100) {
            let names: Vec<String> = (0..n).map(|i| format!("n{i}")).collect();
            let all: Vec<&str> = names.iter().map(String::as_str).collect();
            let id = ids(t);
            prop_assert_eq!(run(&id, &all, &BTreeMap::new()), run(&id, &all, &BTreeMap::new()));
        }
    }

    #[test]
    fn balance_within_a_quarter_of_the_mean() {
        let names: Vec<String> = (0..10).map(|i| format!("agent-{i}")).collect();
        let all: Vec<&str> = names.iter().map(String::as_str).collect();
        let out = run(&ids(20_000), &all, &BTreeMap::new());
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for n in out.values().flatten() {
            *counts.entry(n.clone()).or_default() += 1;
        }
        let mean = 2_000.0;
        for (n, c) in counts {
            assert!((c as f64 - mean).abs() <= mean * 0.25, "{n} has {c}");
        }
    }
}
