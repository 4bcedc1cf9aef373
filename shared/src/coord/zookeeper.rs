//! Coordination on ZooKeeper for cluster mode. One [`ZkSession`] is one ZooKeeper session:
//! what it registers is ephemeral, its leadership is an ephemeral-sequential candidate, and
//! its claims carry its owner tag so a retry after a lost connection recognises its own.
//!
//! Layout under the chroot (see ARCHITECTURE.md):
//!
//! ```text
//! /clusters/{cluster}/members/{node}          ephemeral, NodeInfo as JSON
//! /clusters/{cluster}/assignments/{node}      header {generation, chunks[, tasks]}; its version fences claims
//! /clusters/{cluster}/assignments/{node}/{i}  chunk i of a large assignment ("{generation}\n" + bytes)
//! /leader/c-{seq}                             ephemeral-sequential candidates; the lowest leads
//! /claims/{hh}/{task}/{run}                   one per claimed run, data = owner; hh = hash bucket
//! ```
//!
//! With credentials, the center lays the tree out and owns it; agents read it, register in
//! `members` and create claims (see [`Access`]).

use std::collections::HashSet;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use zookeeper_client as zk;

use super::{Assignment, Change, ClaimKey, ClaimOutcome, Coordination, Error, Result, Versioned};
use crate::model::NodeInfo;

/// Assignment bytes kept in the header znode; larger ones go to chunk znodes of this size, far
/// below ZooKeeper's 1 MiB packet limit.
const CHUNK_BYTES: usize = 256 << 10;
/// Claims created per multi-op, keeping each request well under the packet limit.
const CLAIMS_PER_OP: usize = 1000;

/// How to reach ZooKeeper.
#[derive(Debug, Clone)]
pub struct ZkConfig {
    /// `host1:2181,host2:2181/chroot`; the chroot is created when missing.
    pub connect: String,
    /// Requested session timeout; the server clamps it to 2–20 × its tickTime.
    pub session_timeout: Duration,
    /// This process's identity, `user:password` for digest authentication. None: the tree
    /// is open to anyone who reaches ZooKeeper (`--zk-insecure`).
    pub digest: Option<String>,
    /// On a center: the agents' identity (`user:password`). The znodes the center makes are
    /// then its own, readable by agents, which may register in `members` and claim under
    /// `/claims` and nothing else. None with a `digest`: this is an agent.
    pub agent_digest: Option<String>,
}

impl ZkConfig {
    pub fn new(connect: &str) -> ZkConfig {
        ZkConfig {
            connect: connect.to_string(),
            session_timeout: Duration::from_secs(10),
            digest: None,
            agent_digest: None,
        }
    }
}

/// Reads `user:password` for digest authentication from a file (kept out of argv and env).
pub fn read_digest_file(path: &std::path::Path) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    let digest = text.trim();
    match digest.split_once(':') {
        Some((user, _)) if !user.is_empty() => Ok(digest.to_string()),
        _ => Err(Error::Backend(format!(
            "ZooKeeper digest file {} must hold user:password",
            path.display()
        ))),
    }
}

/// The ACL id ZooKeeper's digest scheme gives `user:password`: `user:base64(sha1(user:password))`.
pub fn digest_id(digest: &str) -> String {
    use base64::Engine;
    use sha1::Digest as _;
    let user = digest.split_once(':').map_or(digest, |(u, _)| u);
    let hash = sha1::Sha1::digest(digest.as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// Which ACLs the znodes a session makes get (ARCHITECTURE.md, "Coordination layout").
#[derive(Debug, Clone)]
enum Access {
    /// No credentials: everything open to anyone.
    Open,
    /// An agent: what it makes (its member znode, claim directories and claims) is its
    /// identity's, readable by anyone — the center reads them, and an agent cannot name the
    /// center's identity without knowing its password. It lays out nothing.
    Agent { own: Vec<zk::Acl> },
    /// A center: the tree is its own; agents read it, and may also register (create and
    /// delete) in `members` and create under `/claims`.
    Center {
        dirs: Vec<zk::Acl>,
        members: Vec<zk::Acl>,
        claims: Vec<zk::Acl>,
    },
}

impl Access {
    fn of(cfg: &ZkConfig) -> Access {
        use zk::{Acl, AuthId, Permission};
        let creator = Acl::new(Permission::ALL, AuthId::new("auth", ""));
        match (&cfg.digest, &cfg.agent_digest) {
            (None, _) => Access::Open,
            (Some(_), None) => Access::Agent {
                own: vec![
                    creator,
                    Acl::new(Permission::READ, AuthId::new("world", "anyone")),
                ],
            },
            (Some(_), Some(agents)) => {
                let agent = |p| Acl::new(p, AuthId::new("digest", &digest_id(agents)));
                Access::Center {
                    dirs: vec![creator.clone(), agent(Permission::READ)],
                    members: vec![
                        creator.clone(),
                        agent(Permission::READ | Permission::CREATE | Permission::DELETE),
                    ],
                    claims: vec![creator, agent(Permission::READ | Permission::CREATE)],
                }
            }
        }
    }

    /// For the tree's directories, assignments and leader candidates.
    fn dirs(&self) -> zk::Acls<'_> {
        match self {
            Access::Open => zk::Acls::anyone_all(),
            Access::Agent { own } => zk::Acls::new(own),
            Access::Center { dirs, .. } => zk::Acls::new(dirs),
        }
    }

    /// For a cluster's `members` directory.
    fn members(&self) -> zk::Acls<'_> {
        match self {
            Access::Center { members, .. } => zk::Acls::new(members),
            other => other.dirs(),
        }
    }

    /// For `/claims`.
    fn claims(&self) -> zk::Acls<'_> {
        match self {
            Access::Center { claims, .. } => zk::Acls::new(claims),
            other => other.dirs(),
        }
    }
}

/// One ZooKeeper session.
pub struct ZkSession {
    client: zk::Client,
    /// Written into claims: node label and session id.
    owner: String,
    access: Access,
    changes: broadcast::Sender<Change>,
    candidate: Mutex<Option<String>>,
    /// Claim directories known to exist, so a claim normally costs one round trip.
    claim_dirs: Mutex<HashSet<String>>,
    closed: AtomicBool,
    op_timeout: Duration,
    watchers: Vec<JoinHandle<()>>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    generation: u64,
    chunks: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tasks: Option<Assignment>,
}

fn backend(what: &str, e: zk::Error) -> Error {
    match e {
        zk::Error::SessionExpired | zk::Error::ClientClosed => Error::SessionExpired,
        e => Error::Backend(format!("zookeeper {what}: {e}")),
    }
}

fn members_dir(cluster: &str) -> String {
    format!("/clusters/{cluster}/members")
}

fn assignment_path(cluster: &str, node: &str) -> String {
    format!("/clusters/{cluster}/assignments/{node}")
}

fn claim_dir(task: &str) -> String {
    let hash = sha2::Sha256::digest(task.as_bytes());
    format!("/claims/{:02x}/{task}", hash[0])
}

/// Splits `hosts/chroot` into the hosts and the chroot ("" when none).
fn split_chroot(connect: &str) -> (&str, &str) {
    match connect.find('/') {
        Some(i) => (&connect[..i], connect[i..].trim_end_matches('/')),
        None => (connect, ""),
    }
}

impl ZkSession {
    /// Opens a session; `label` names this process in claims (node name, or `center`).
    pub async fn connect(cfg: &ZkConfig, label: &str) -> Result<ZkSession> {
        let (hosts, chroot) = split_chroot(&cfg.connect);
        let mut connector = zk::Client::connector()
            .with_session_timeout(cfg.session_timeout)
            .with_connection_timeout(cfg.session_timeout.min(Duration::from_secs(5)));
        if let Some(d) = &cfg.digest {
            connector = connector.with_auth("digest", d.as_bytes());
        }
        let client = connector
            .connect(hosts)
            .await
            .map_err(|e| Error::Backend(format!("connecting to zookeeper at {hosts}: {e}")))?;
        let access = Access::of(cfg);
        let lays_out = !matches!(access, Access::Agent { .. });
        let dir = zk::CreateMode::Persistent.with_acls(access.dirs());
        let client = if chroot.is_empty() {
            client
        } else {
            if lays_out {
                client
                    .mkdir(chroot, &dir)
                    .await
                    .map_err(|e| backend(&format!("creating chroot {chroot}"), e))?;
            }
            client.chroot(chroot.to_string()).map_err(|_| {
                Error::Backend(format!(
                    "invalid zookeeper chroot {chroot:?} in {}",
                    cfg.connect
                ))
            })?
        };
        let claims_dir = zk::CreateMode::Persistent.with_acls(access.claims());
        for (d, opts) in [
            ("/clusters", &dir),
            ("/leader", &dir),
            ("/claims", &claims_dir),
        ] {
            if lays_out {
                client
                    .mkdir(d, opts)
                    .await
                    .map_err(|e| backend(&format!("creating {d}"), e))?;
            } else if client
                .check_stat(d)
                .await
                .map_err(|e| backend(&format!("looking for {d}"), e))?
                .is_none()
            {
                return Err(Error::Backend(format!(
                    "ZooKeeper has no {chroot}{d} yet: a center lays the tree out with its credentials (start one first)"
                )));
            }
        }
        let (changes, _) = broadcast::channel(1024);
        let watchers = vec![
            tokio::spawn(watch_tree(client.clone(), changes.clone())),
            tokio::spawn(watch_leader(client.clone(), changes.clone())),
            tokio::spawn(watch_state(client.clone(), changes.clone())),
        ];
        let owner = format!("{label}@{:x}", client.session_id().0);
        tracing::info!(session = %format!("{:x}", client.session_id().0), timeout_ms = client.session_timeout().as_millis() as u64, "zookeeper session established");
        Ok(ZkSession {
            op_timeout: client.session_timeout().max(Duration::from_secs(2)),
            client,
            owner,
            access,
            changes,
            candidate: Mutex::new(None),
            claim_dirs: Mutex::new(HashSet::new()),
            closed: AtomicBool::new(false),
            watchers,
        })
    }

    /// The session's negotiated timeout.
    pub fn session_timeout(&self) -> Duration {
        self.client.session_timeout()
    }

    fn acls(&self) -> zk::Acls<'_> {
        self.access.dirs()
    }

    fn persistent(&self) -> zk::CreateOptions<'_> {
        zk::CreateMode::Persistent.with_acls(self.acls())
    }

    /// Fails fast once closed, and bounds every operation: while disconnected a request waits
    /// for the reconnect, and its outcome is unknown if that takes too long. The inner result
    /// is ZooKeeper's answer, for callers that treat some answers (`NoNode`) as data.
    async fn call<T, F>(&self, what: &str, f: F) -> Result<std::result::Result<T, zk::Error>>
    where
        F: Future<Output = std::result::Result<T, zk::Error>>,
    {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::SessionExpired);
        }
        tokio::time::timeout(self.op_timeout, f).await.map_err(|_| {
            Error::Backend(format!(
                "zookeeper {what}: no answer within {:?}",
                self.op_timeout
            ))
        })
    }

    async fn op<T, F>(&self, what: &str, f: F) -> Result<T>
    where
        F: Future<Output = std::result::Result<T, zk::Error>>,
    {
        self.call(what, f).await?.map_err(|e| backend(what, e))
    }

    async fn ensure_claim_dirs(&self, keys: &[ClaimKey]) -> Result<()> {
        let missing: Vec<String> = {
            let known = self.claim_dirs.lock().unwrap_or_else(|p| p.into_inner());
            let mut m: Vec<String> = keys
                .iter()
                .map(|k| claim_dir(&k.task))
                .filter(|d| !known.contains(d))
                .collect();
            m.sort();
            m.dedup();
            m
        };
        let opts = self.persistent();
        for d in missing {
            self.op("creating a claim directory", self.client.mkdir(&d, &opts))
                .await?;
            self.claim_dirs
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(d);
        }
        Ok(())
    }

    /// Whether an existing claim is this session's (a retry after a lost answer).
    async fn is_own(&self, path: &str) -> Result<bool> {
        match self
            .call("reading a claim", self.client.get_data(path))
            .await?
        {
            Ok((data, _)) => Ok(data == self.owner.as_bytes()),
            // Pruned meanwhile: it was an old claim, so not this batch's.
            Err(zk::Error::NoNode) => Ok(false),
            Err(e) => Err(backend("reading a claim", e)),
        }
    }

    /// Claims one batch (at most [`CLAIMS_PER_OP`] keys) under the fence.
    async fn claim_batch(
        &self,
        fence: &str,
        node: &str,
        version: u64,
        keys: &[ClaimKey],
    ) -> Result<Vec<ClaimOutcome>> {
        let mut out: Vec<Option<ClaimOutcome>> = vec![None; keys.len()];
        let version = i32::try_from(version).map_err(|_| Error::Fenced {
            node: node.to_string(),
            expected: version,
        })?;
        let opts = self.persistent();
        let mut dirs_rechecked = false;
        loop {
            let pending: Vec<usize> = (0..keys.len()).filter(|i| out[*i].is_none()).collect();
            if pending.is_empty() {
                break;
            }
            let paths: Vec<String> = pending
                .iter()
                .map(|i| format!("{}/{}", claim_dir(&keys[*i].task), keys[*i].run))
                .collect();
            let mut w = self.client.new_multi_writer();
            w.add_check_version(fence, version)
                .map_err(|e| backend("building a claim", e))?;
            for p in &paths {
                w.add_create(p, self.owner.as_bytes(), &opts)
                    .map_err(|e| backend("building a claim", e))?;
            }
            if self.closed.load(Ordering::Acquire) {
                return Err(Error::SessionExpired);
            }
            let result = tokio::time::timeout(self.op_timeout, w.commit()).await;
            match result {
                Err(_) => {
                    return Err(Error::Backend(format!(
                        "zookeeper claim: no answer within {:?}",
                        self.op_timeout
                    )));
                }
                Ok(Ok(_)) => {
                    for i in pending {
                        out[i] = Some(ClaimOutcome::Claimed);
                    }
                }
                Ok(Err(zk::MultiWriteError::OperationFailed { index: 0, .. })) => {
                    return Err(Error::Fenced {
                        node: node.to_string(),
                        expected: version as u64,
                    });
                }
                Ok(Err(zk::MultiWriteError::OperationFailed {
                    index,
                    source: zk::Error::NodeExists,
                })) => {
                    let i = pending[index - 1];
                    out[i] = Some(if self.is_own(&paths[index - 1]).await? {
                        ClaimOutcome::Claimed
                    } else {
                        ClaimOutcome::Taken
                    });
                }
                Ok(Err(zk::MultiWriteError::OperationFailed {
                    source: zk::Error::NoNode,
                    ..
                })) if !dirs_rechecked => {
                    // A claim directory went away (its task's claims were dropped): recreate.
                    dirs_rechecked = true;
                    self.claim_dirs
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .clear();
                    self.ensure_claim_dirs(keys).await?;
                }
                Ok(Err(zk::MultiWriteError::OperationFailed { source, .. }))
                | Ok(Err(zk::MultiWriteError::RequestFailed { source })) => {
                    return Err(backend("claim", source));
                }
            }
        }
        Ok(out
            .into_iter()
            .map(|o| o.unwrap_or(ClaimOutcome::Taken))
            .collect())
    }

    /// Reads an assignment: the header, then its chunks.
    async fn read_assignment_once(&self, path: &str) -> Result<Read> {
        let what = "reading an assignment";
        let (data, stat) = match self.call(what, self.client.get_data(path)).await? {
            Ok(r) => r,
            Err(zk::Error::NoNode) => return Ok(Read::Missing),
            Err(e) => return Err(backend(what, e)),
        };
        let unreadable = |e: serde_json::Error| {
            Error::Backend(format!("assignment {path} is not readable: {e}"))
        };
        let header: Header = serde_json::from_slice(&data).map_err(unreadable)?;
        let version = u64::try_from(stat.version).unwrap_or(0);
        if let Some(tasks) = header.tasks {
            return Ok(Read::Got(Versioned {
                value: tasks,
                version,
            }));
        }
        let mut r = self.client.new_multi_reader();
        for i in 0..header.chunks {
            r.add_get_data(&format!("{path}/{i}"))
                .map_err(|e| backend(what, e))?;
        }
        let prefix = format!("{}\n", header.generation);
        let mut bytes = Vec::new();
        for part in self.op(what, r.commit()).await? {
            match part {
                zk::MultiReadResult::Data { data, .. } if data.starts_with(prefix.as_bytes()) => {
                    bytes.extend_from_slice(&data[prefix.len()..]);
                }
                _ => return Ok(Read::Torn),
            }
        }
        let value: Assignment = serde_json::from_slice(&bytes).map_err(unreadable)?;
        Ok(Read::Got(Versioned { value, version }))
    }
}

/// One attempt at reading a chunked assignment.
enum Read {
    Missing,
    /// A writer was midway between chunks and header: read again.
    Torn,
    Got(Versioned<Assignment>),
}

impl Drop for ZkSession {
    fn drop(&mut self) {
        for w in &self.watchers {
            w.abort();
        }
    }
}

/// Member and assignment changes, from one persistent recursive watch on `/clusters`.
async fn watch_tree(client: zk::Client, changes: broadcast::Sender<Change>) {
    let Ok(mut watcher) = client
        .watch("/clusters", zk::AddWatchMode::PersistentRecursive)
        .await
    else {
        tracing::warn!("cannot watch /clusters; changes are seen by polling only");
        return;
    };
    loop {
        let event = watcher.changed().await;
        if event.event_type == zk::EventType::Session {
            if event.session_state.is_terminated() {
                return;
            }
            continue;
        }
        let parts: Vec<&str> = event.path.split('/').collect();
        let change = match parts.as_slice() {
            ["", "clusters", cluster, "members", _] => Change::Members {
                cluster: cluster.to_string(),
            },
            ["", "clusters", cluster, "assignments", node] => Change::Assignment {
                cluster: cluster.to_string(),
                node: node.to_string(),
            },
            _ => continue,
        };
        let _ = changes.send(change);
    }
}

async fn watch_leader(client: zk::Client, changes: broadcast::Sender<Change>) {
    let Ok(mut watcher) = client.watch("/leader", zk::AddWatchMode::Persistent).await else {
        tracing::warn!("cannot watch /leader; leadership is seen by polling only");
        return;
    };
    loop {
        let event = watcher.changed().await;
        if event.event_type == zk::EventType::Session && event.session_state.is_terminated() {
            return;
        }
        if event.event_type == zk::EventType::NodeChildrenChanged {
            let _ = changes.send(Change::Leadership);
        }
    }
}

/// Session states: a reconnect means watches may have missed changes (re-read everything);
/// expiry ends the session for good.
async fn watch_state(client: zk::Client, changes: broadcast::Sender<Change>) {
    let mut states = client.state_watcher();
    let mut was_disconnected = false;
    loop {
        let state = states.changed().await;
        tracing::info!(%state, "zookeeper session state");
        match state {
            zk::SessionState::Disconnected => was_disconnected = true,
            zk::SessionState::SyncConnected | zk::SessionState::ConnectedReadOnly
                if was_disconnected =>
            {
                was_disconnected = false;
                let _ = changes.send(Change::Resync);
            }
            s if s.is_terminated() => {
                let _ = changes.send(Change::SessionLost);
                return;
            }
            _ => {}
        }
    }
}

/// Parses the sequence of a candidate znode `c-0000000042`.
fn candidate_seq(name: &str) -> Option<u64> {
    name.strip_prefix("c-")?.parse().ok()
}

#[async_trait]
impl Coordination for ZkSession {
    async fn join(&self, node: &NodeInfo) -> Result<()> {
        let dir = members_dir(&node.cluster);
        let path = format!("{dir}/{}", node.name);
        let data = serde_json::to_vec(node).map_err(|e| Error::Backend(e.to_string()))?;
        let laid_out = self
            .op(
                "looking for the members directory",
                self.client.check_stat(&dir),
            )
            .await?
            .is_some();
        if !laid_out {
            if matches!(self.access, Access::Agent { .. }) {
                return Err(Error::Backend(format!(
                    "cluster {:?} is not laid out in ZooKeeper yet (a center does it when a node of the cluster joins, and on its rounds)",
                    node.cluster
                )));
            }
            self.prepare_cluster(&node.cluster).await?;
        }
        let ephemeral = zk::CreateMode::Ephemeral.with_acls(self.acls());
        // A restarted agent may find the node of its previous, not yet expired session.
        let deadline = tokio::time::Instant::now() + self.client.session_timeout() * 2;
        loop {
            if self.closed.load(Ordering::Acquire) {
                return Err(Error::SessionExpired);
            }
            match self.client.create(&path, &data, &ephemeral).await {
                Ok(_) => return Ok(()),
                Err(zk::Error::NodeExists) => {}
                Err(e) => return Err(backend("registering the node", e)),
            }
            let (stat, watcher) = self
                .op("watching the node", self.client.check_and_watch_stat(&path))
                .await?;
            match stat {
                Some(s) if s.ephemeral_owner == self.client.session_id().0 => {
                    self.op(
                        "updating the node",
                        self.client.set_data(&path, &data, None),
                    )
                    .await?;
                    return Ok(());
                }
                Some(s) => {
                    tracing::info!(node = %node.name, owner = %format!("{:x}", s.ephemeral_owner), "waiting for the previous session of this node to expire");
                    if tokio::time::timeout_at(deadline, watcher.changed())
                        .await
                        .is_err()
                    {
                        return Err(Error::Backend(format!(
                            "node name {:?} in cluster {:?} is held by another live session (0x{:x}); is another agent running with this name?",
                            node.name, node.cluster, s.ephemeral_owner
                        )));
                    }
                }
                None => {}
            }
        }
    }

    async fn prepare_cluster(&self, cluster: &str) -> Result<()> {
        if matches!(self.access, Access::Agent { .. }) {
            return Ok(());
        }
        // `assignments` first: its parent, the cluster's directory, gets the directories' ACL.
        let dirs = self.persistent();
        self.op(
            "creating the assignments directory",
            self.client
                .mkdir(&format!("/clusters/{cluster}/assignments"), &dirs),
        )
        .await?;
        let members = zk::CreateMode::Persistent.with_acls(self.access.members());
        self.op(
            "creating the members directory",
            self.client.mkdir(&members_dir(cluster), &members),
        )
        .await
    }

    async fn members(&self, cluster: &str) -> Result<Vec<NodeInfo>> {
        let dir = members_dir(cluster);
        let names = match self
            .call("listing members", self.client.list_children(&dir))
            .await?
        {
            Ok(n) => n,
            Err(zk::Error::NoNode) => return Ok(Vec::new()),
            Err(e) => return Err(backend("listing members", e)),
        };
        let mut r = self.client.new_multi_reader();
        for n in &names {
            r.add_get_data(&format!("{dir}/{n}"))
                .map_err(|e| backend("reading members", e))?;
        }
        let mut out = Vec::new();
        for res in self.op("reading members", r.commit()).await? {
            if let zk::MultiReadResult::Data { data, stat } = res {
                match serde_json::from_slice::<NodeInfo>(&data) {
                    Ok(info) => out.push(NodeInfo {
                        session: Some(format!("{:x}", stat.ephemeral_owner)),
                        ..info
                    }),
                    Err(e) => tracing::warn!(error = %e, "unreadable member znode ignored"),
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn clusters(&self) -> Result<Vec<String>> {
        let mut c = self
            .op("listing clusters", self.client.list_children("/clusters"))
            .await?;
        c.sort();
        Ok(c)
    }

    async fn campaign(&self, candidate: &str) -> Result<bool> {
        let mine = self
            .candidate
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut children = self
            .op(
                "listing leader candidates",
                self.client.list_children("/leader"),
            )
            .await?;
        let mine = match mine.filter(|m| children.contains(m)) {
            Some(m) => m,
            None => {
                let opts = zk::CreateMode::EphemeralSequential.with_acls(self.acls());
                let (_, seq) = self
                    .op(
                        "becoming a leader candidate",
                        self.client
                            .create("/leader/c-", candidate.as_bytes(), &opts),
                    )
                    .await?;
                let name = format!("c-{seq}");
                *self.candidate.lock().unwrap_or_else(|p| p.into_inner()) = Some(name.clone());
                children.push(name.clone());
                name
            }
        };
        let lowest = children
            .iter()
            .filter_map(|c| candidate_seq(c).map(|s| (s, c)))
            .min()
            .map(|(_, c)| c.clone());
        Ok(lowest.as_deref() == Some(mine.as_str()))
    }

    async fn candidates(&self) -> Result<Vec<String>> {
        let names = self
            .op(
                "listing leader candidates",
                self.client.list_children("/leader"),
            )
            .await?;
        let mut r = self.client.new_multi_reader();
        for n in &names {
            r.add_get_data(&format!("/leader/{n}"))
                .map_err(|e| backend("reading leader candidates", e))?;
        }
        // A candidate gone between the two reads answers an error of its own: left out.
        Ok(self
            .op("reading leader candidates", r.commit())
            .await?
            .into_iter()
            .filter_map(|res| match res {
                zk::MultiReadResult::Data { data, .. } => String::from_utf8(data).ok(),
                _ => None,
            })
            .collect())
    }

    async fn read_assignment(
        &self,
        cluster: &str,
        node: &str,
    ) -> Result<Option<Versioned<Assignment>>> {
        let path = assignment_path(cluster, node);
        for _ in 0..5 {
            match self.read_assignment_once(&path).await? {
                Read::Missing => return Ok(None),
                Read::Got(v) => return Ok(Some(v)),
                Read::Torn => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        Err(Error::Backend(format!(
            "assignment {path} kept changing while read"
        )))
    }

    async fn assigned_nodes(&self, cluster: &str) -> Result<Vec<String>> {
        let what = "listing assignments";
        let dir = format!("/clusters/{cluster}/assignments");
        match self.call(what, self.client.list_children(&dir)).await? {
            Ok(n) => Ok(n),
            Err(zk::Error::NoNode) => Ok(Vec::new()),
            Err(e) => Err(backend(what, e)),
        }
    }

    async fn write_assignment(
        &self,
        cluster: &str,
        node: &str,
        assignment: &Assignment,
    ) -> Result<u64> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::SessionExpired);
        }
        let Some(candidate) = self
            .candidate
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        else {
            return Err(Error::NotLeader);
        };
        // The lowest candidate leads, and sequence numbers only grow: a candidate that is the
        // lowest now stays the leader for as long as its znode lives, which the write below
        // checks atomically. So: lowest now, and still there at the commit.
        let children = self
            .op(
                "listing leader candidates",
                self.client.list_children("/leader"),
            )
            .await?;
        let lowest = children
            .iter()
            .filter_map(|c| candidate_seq(c).map(|s| (s, c)))
            .min()
            .map(|(_, c)| c.clone());
        if lowest.as_deref() != Some(candidate.as_str()) {
            return Err(Error::NotLeader);
        }
        let path = assignment_path(cluster, node);
        let opts = self.persistent();
        let parent = format!("/clusters/{cluster}/assignments");
        self.op(
            "creating the assignments directory",
            self.client.mkdir(&parent, &opts),
        )
        .await?;
        let mut current = match self
            .call("reading an assignment", self.client.get_data(&path))
            .await?
        {
            Ok((data, stat)) => Some((
                serde_json::from_slice::<Header>(&data)
                    .map(|h| h.generation)
                    .unwrap_or(0),
                stat.version,
            )),
            Err(zk::Error::NoNode) => None,
            Err(e) => return Err(backend("reading an assignment", e)),
        };
        let generation = current.map(|c| c.0).unwrap_or(0) + 1;
        let bytes = serde_json::to_vec(assignment).map_err(|e| Error::Backend(e.to_string()))?;
        let header = if bytes.len() <= CHUNK_BYTES {
            Header {
                generation,
                chunks: 0,
                tasks: Some(assignment.clone()),
            }
        } else {
            if current.is_none() {
                // The header must exist to hold chunks; it is set (version 0 → 1) below.
                self.op("creating an assignment", self.client.mkdir(&path, &opts))
                    .await?;
                current = Some((0, 0));
            }
            let chunks: Vec<&[u8]> = bytes.chunks(CHUNK_BYTES).collect();
            for (i, chunk) in chunks.iter().enumerate() {
                let mut data = format!("{generation}\n").into_bytes();
                data.extend_from_slice(chunk);
                let chunk_path = format!("{path}/{i}");
                match self.client.set_data(&chunk_path, &data, None).await {
                    Ok(_) => {}
                    Err(zk::Error::NoNode) => {
                        self.op(
                            "writing an assignment chunk",
                            self.client.create(&chunk_path, &data, &opts),
                        )
                        .await?;
                    }
                    Err(e) => return Err(backend("writing an assignment chunk", e)),
                }
            }
            Header {
                generation,
                chunks: chunks.len() as u32,
                tasks: None,
            }
        };
        let data = serde_json::to_vec(&header).map_err(|e| Error::Backend(e.to_string()))?;
        // Written only while this session's candidate znode exists: a deposed leader cannot.
        // A missing candidate znode fails the check: the session lost the lead.
        let mut w = self.client.new_multi_writer();
        let build = |e| backend("building an assignment write", e);
        w.add_check_version(&format!("/leader/{candidate}"), 0)
            .map_err(build)?;
        match current {
            Some((_, v)) => w.add_set_data(&path, &data, Some(v)).map_err(build)?,
            None => w.add_create(&path, &data, &opts).map_err(build)?,
        }
        let results = self
            .op("writing an assignment", async {
                w.commit().await.map_err(zk::Error::from)
            })
            .await?;
        let version = match results.last() {
            Some(zk::MultiWriteResult::SetData { stat }) => stat.version,
            _ => 0,
        };
        Ok(u64::try_from(version).unwrap_or(0))
    }

    async fn claim(
        &self,
        cluster: &str,
        node: &str,
        assignment_version: u64,
        keys: &[ClaimKey],
    ) -> Result<Vec<ClaimOutcome>> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::SessionExpired);
        }
        self.ensure_claim_dirs(keys).await?;
        let fence = assignment_path(cluster, node);
        let mut out = Vec::with_capacity(keys.len());
        for batch in keys.chunks(CLAIMS_PER_OP) {
            out.extend(
                self.claim_batch(&fence, node, assignment_version, batch)
                    .await?,
            );
        }
        Ok(out)
    }

    // Listed [`CLAIMS_PER_OP`] directories per multi-read.
    async fn claimed_runs(&self, tasks: &[String]) -> Result<Vec<(String, Vec<String>)>> {
        let mut out = Vec::new();
        for batch in tasks.chunks(CLAIMS_PER_OP) {
            let mut r = self.client.new_multi_reader();
            for t in batch {
                r.add_get_children(&claim_dir(t))
                    .map_err(|e| backend("listing claims", e))?;
            }
            for (t, res) in batch
                .iter()
                .zip(self.op("listing claims", r.commit()).await?)
            {
                if let zk::MultiReadResult::Children { children } = res {
                    out.push((t.clone(), children));
                }
            }
        }
        Ok(out)
    }

    async fn claim_owners(&self, keys: &[ClaimKey]) -> Result<Vec<Option<String>>> {
        let mut out = Vec::with_capacity(keys.len());
        for batch in keys.chunks(CLAIMS_PER_OP) {
            let mut r = self.client.new_multi_reader();
            for k in batch {
                r.add_get_data(&format!("{}/{}", claim_dir(&k.task), k.run))
                    .map_err(|e| backend("reading claims", e))?;
            }
            for res in self.op("reading claims", r.commit()).await? {
                out.push(match res {
                    zk::MultiReadResult::Data { data, .. } => {
                        Some(String::from_utf8_lossy(&data).into_owned())
                    }
                    _ => None,
                });
            }
        }
        Ok(out)
    }

    async fn prune_claims(&self, task: &str, keep: usize) -> Result<usize> {
        let dir = claim_dir(task);
        let runs = match self
            .call("listing claims", self.client.list_children(&dir))
            .await?
        {
            Ok(r) => r,
            Err(zk::Error::NoNode) => return Ok(0),
            Err(e) => return Err(backend("listing claims", e)),
        };
        if runs.len() <= keep {
            return Ok(0);
        }
        let mut by_age = Vec::with_capacity(runs.len());
        for batch in runs.chunks(CLAIMS_PER_OP) {
            let mut r = self.client.new_multi_reader();
            for run in batch {
                r.add_get_data(&format!("{dir}/{run}"))
                    .map_err(|e| backend("reading claims", e))?;
            }
            for (run, res) in batch
                .iter()
                .zip(self.op("reading claims", r.commit()).await?)
            {
                if let zk::MultiReadResult::Data { stat, .. } = res {
                    by_age.push((stat.czxid, run));
                }
            }
        }
        by_age.sort_unstable();
        let drop_count = by_age.len().saturating_sub(keep);
        let mut dropped = 0;
        for batch in by_age[..drop_count].chunks(CLAIMS_PER_OP) {
            let mut w = self.client.new_multi_writer();
            for (_, run) in batch {
                w.add_delete(&format!("{dir}/{run}"), None)
                    .map_err(|e| backend("dropping claims", e))?;
            }
            self.op("dropping claims", async {
                w.commit().await.map_err(zk::Error::from)
            })
            .await?;
            dropped += batch.len();
        }
        Ok(dropped)
    }

    async fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        // Deleting our ephemerals first makes their end visible at once, as closing does.
        let candidate = self
            .candidate
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(c) = candidate {
            let _ = self.client.delete(&format!("/leader/{c}"), None).await;
        }
        let eph = self.client.list_ephemerals("/").await.unwrap_or_default();
        for p in eph {
            let _ = self.client.delete(&p, None).await;
        }
        for w in &self.watchers {
            w.abort();
        }
        let _ = self.changes.send(Change::SessionLost);
        Ok(())
    }

    fn changes(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_strings_split_into_hosts_and_chroot() {
        assert_eq!(
            split_chroot("a:2181,b:2181/cloudtask"),
            ("a:2181,b:2181", "/cloudtask")
        );
        assert_eq!(split_chroot("a:2181"), ("a:2181", ""));
        assert_eq!(split_chroot("a:2181/x/y/"), ("a:2181", "/x/y"));
    }

    #[test]
    fn claim_directories_bucket_by_hash() {
        let d = claim_dir("task-1");
        assert!(d.starts_with("/claims/") && d.ends_with("/task-1"), "{d}");
        assert_eq!(d.len(), "/claims/xx/task-1".len());
        assert_eq!(candidate_seq("c-0000000042"), Some(42));
        assert_eq!(candidate_seq("x"), None);
    }
}
