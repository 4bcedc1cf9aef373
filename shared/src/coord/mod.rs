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
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

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
    /// Only the leader writes assignments: this session does not lead (any more).
    #[error("this session does not lead: only the leader writes assignments")]
    NotLeader,
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
    /// Lays out a cluster's part of the tree (its members and assignments directories) where
    /// the backend's access control needs its owner to: called by centers, for every cluster
    /// a node joins or holds a credential of.
    async fn prepare_cluster(&self, _cluster: &str) -> Result<()> {
        Ok(())
    }
    /// Live members of a cluster, by name.
    async fn members(&self, cluster: &str) -> Result<Vec<NodeInfo>>;
    /// Clusters that have or had assignments or members.
    async fn clusters(&self) -> Result<Vec<String>>;
    /// Becomes leader if no live session leads; true while this session leads.
    async fn campaign(&self, candidate: &str) -> Result<bool>;
    /// What every live candidate campaigned with, this session's included: how centers find
    /// each other (a center campaigns with its advertised address).
    async fn candidates(&self) -> Result<Vec<String>>;
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
    /// The claimed run ids of each of `tasks` that has claims.
    async fn claimed_runs(&self, tasks: &[String]) -> Result<Vec<(String, Vec<String>)>>;
    /// The latest scheduled instant claimed for each task that has one (manual runs do not
    /// count): where a task's new owner picks up its schedule.
    async fn last_claimed(&self, tasks: &[String]) -> Result<HashMap<String, jiff::Timestamp>> {
        Ok(self
            .claimed_runs(tasks)
            .await?
            .into_iter()
            .filter_map(|(t, runs)| {
                let latest = runs
                    .iter()
                    .filter_map(|run| crate::model::scheduled_instant(&t, run))
                    .max()?;
                Some((t, latest))
            })
            .collect())
    }
    /// The claims of `tasks` for scheduled instants at or after `since` (manual runs do not
    /// count): what a node that ended may have claimed and never recorded.
    async fn claimed_since(
        &self,
        tasks: &[String],
        since: jiff::Timestamp,
    ) -> Result<Vec<ClaimKey>> {
        let mut out = Vec::new();
        for (task, runs) in self.claimed_runs(tasks).await? {
            for run in runs {
                if crate::model::scheduled_instant(&task, &run).is_some_and(|at| at >= since) {
                    out.push(ClaimKey {
                        task: task.clone(),
                        run,
                    });
                }
            }
        }
        Ok(out)
    }
    /// The owner tag (`<label>@<session hex>`) of each claim, `None` where it was pruned.
    async fn claim_owners(&self, keys: &[ClaimKey]) -> Result<Vec<Option<String>>>;
    /// Drops all but the newest `keep` claims of a task; returns how many went.
    async fn prune_claims(&self, task: &str, keep: usize) -> Result<usize>;
    /// Ends the session: its members and leadership go at once.
    async fn close(&self) -> Result<()>;
    /// Notifications of changes anywhere in the engine and of this session's end.
    fn changes(&self) -> broadcast::Receiver<Change>;
}

/// Opens a fresh session; a daemon calls it again after its session ends.
pub type Connect = Arc<
    dyn Fn() -> Pin<Box<dyn Future<Output = Result<Arc<dyn Coordination>>> + Send>> + Send + Sync,
>;

/// A daemon's current session, replaced by a new one when it ends: nothing of the old
/// session (members, leadership) carries over, so holders re-join and re-campaign.
#[derive(Clone)]
pub struct Sessions {
    current: Arc<RwLock<Arc<dyn Coordination>>>,
    connect: Connect,
}

impl Sessions {
    /// Opens the first session, retrying with backoff until it succeeds or `shutdown` turns true.
    pub async fn open(connect: Connect, shutdown: &crate::shutdown::Shutdown) -> Result<Sessions> {
        let first = connect_with_backoff(&connect, shutdown).await?;
        Ok(Sessions {
            current: Arc::new(RwLock::new(first)),
            connect,
        })
    }

    pub fn current(&self) -> Arc<dyn Coordination> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces an ended session (once, however many holders noticed the end).
    pub async fn renew(
        &self,
        ended: &Arc<dyn Coordination>,
        shutdown: &crate::shutdown::Shutdown,
    ) -> Result<Arc<dyn Coordination>> {
        let now = self.current();
        if !Arc::ptr_eq(&now, ended) {
            return Ok(now);
        }
        let _ = ended.close().await;
        let fresh = connect_with_backoff(&self.connect, shutdown).await?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
        Ok(fresh)
    }
}

async fn connect_with_backoff(
    connect: &Connect,
    shutdown: &crate::shutdown::Shutdown,
) -> Result<Arc<dyn Coordination>> {
    let mut backoff = crate::backoff::Backoff::new(
        std::time::Duration::from_millis(200),
        std::time::Duration::from_secs(5),
    );
    loop {
        match connect().await {
            Ok(s) => return Ok(s),
            Err(e) => tracing::warn!(error = %e, "cannot open a coordination session; retrying"),
        }
        if shutdown.is_stopping() {
            return Err(Error::SessionExpired);
        }
        tokio::select! {
            () = tokio::time::sleep(backoff.next_delay()) => {}
            () = shutdown.wait() => return Err(Error::SessionExpired),
        }
    }
}
