//! The coordination engine's contract: membership, leadership, assignments and fire claims.
//!
//! It is shaped after ZooKeeper so both backends fit it: a value of a type implementing
//! [`Coordination`] is one *session*; what it registers with [`Coordination::join`] and the
//! leadership it wins live exactly as long as the session (ephemeral nodes); assignments are
//! versioned records; a claim is one atomic multi-op "assignment still at version V, and this
//! claim does not exist yet → create it". [`embedded`] implements it in-process for
//! `--standalone` and fast tests; [`suite`] is the behavioural test suite every backend passes.

pub mod embedded;
#[cfg(any(test, feature = "coord-suite"))]
pub mod suite;
#[cfg(feature = "zookeeper")]
pub mod zookeeper;

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::model::NodeInfo;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The assignment moved on (or never existed): this node no longer owns what it tried to claim.
    #[error("claim fenced: the assignment of node {node:?} is no longer at version {expected}")]
    Fenced { node: String, expected: u64 },
    /// The session ended; nothing it registered or held survives, and it may not act any more.
    #[error("coordination session expired")]
    SessionExpired,
    #[error("coordination store i/o at {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("coordination backend: {0}")]
    Backend(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// The tasks the leader placed on one node: task id → task version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub tasks: BTreeMap<String, u64>,
}

/// A stored value with the version a conditional write or a fence compares against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    pub value: T,
    pub version: u64,
}

/// One (task, run) pair to claim; the run id already encodes the instant and attempt.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClaimKey {
    pub task: String,
    pub run: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// This session now holds the claim (or already held it): launch.
    Claimed,
    /// Someone else (another node, or an earlier life of this one) holds it: do not launch.
    Taken,
}

/// What changed, for watchers to re-read and reconcile (never to apply as a delta).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Members {
        cluster: String,
    },
    Assignment {
        cluster: String,
        node: String,
    },
    Leadership,
    /// The connection came back after a gap in which changes may have gone unseen: re-read all.
    Resync,
    /// This session ended: drop all state derived from it.
    SessionLost,
}

/// One session with the coordination engine.
#[async_trait]
pub trait Coordination: Send + Sync + 'static {
    /// Registers a live member of `node.cluster` for as long as this session lives.
    async fn join(&self, node: &NodeInfo) -> Result<()>;
    /// Live members of a cluster, by name.
    async fn members(&self, cluster: &str) -> Result<Vec<NodeInfo>>;
    /// Clusters that have or had assignments or members.
    async fn clusters(&self) -> Result<Vec<String>>;
    /// Becomes leader if no live session leads; true while this session leads.
    async fn campaign(&self, candidate: &str) -> Result<bool>;
    async fn read_assignment(
        &self,
        cluster: &str,
        node: &str,
    ) -> Result<Option<Versioned<Assignment>>>;
    /// Nodes of a cluster that have an assignment record, live or not.
    async fn assigned_nodes(&self, cluster: &str) -> Result<Vec<String>>;
    /// Replaces a node's assignment and returns its new version (leader only).
    async fn write_assignment(
        &self,
        cluster: &str,
        node: &str,
        assignment: &Assignment,
    ) -> Result<u64>;
    /// Claims every key atomically with a check that the node's assignment is still at
    /// `assignment_version`; [`Error::Fenced`] when it is not. Keys already held by another
    /// session come back [`ClaimOutcome::Taken`].
    async fn claim(
        &self,
        cluster: &str,
        node: &str,
        assignment_version: u64,
        keys: &[ClaimKey],
    ) -> Result<Vec<ClaimOutcome>>;
    /// The latest scheduled instant claimed for each task that has one (manual runs do not
    /// count): where a task's new owner picks up its schedule.
    async fn last_claimed(&self, tasks: &[String]) -> Result<HashMap<String, jiff::Timestamp>>;
    /// Drops all but the newest `keep` claims of a task; returns how many went.
    async fn prune_claims(&self, task: &str, keep: usize) -> Result<usize>;
    /// Ends the session: its members and leadership go at once.
    async fn close(&self) -> Result<()>;
    /// Notifications of changes anywhere in the engine and of this session's end.
    fn changes(&self) -> broadcast::Receiver<Change>;
}
