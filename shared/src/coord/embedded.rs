//! In-process coordination for `--standalone` and unit tests: one [`EmbeddedEngine`] per
//! process, any number of [`EmbeddedSession`]s on it. Claims are appended to a file so a
//! restart never re-fires an instant already claimed. Not distributed, and it never pretends.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::{Assignment, Change, ClaimKey, ClaimOutcome, Coordination, Error, Result, Versioned};
use crate::model::NodeInfo;

#[derive(Default)]
struct State {
    /// (cluster, node) → member and the session that registered it.
    members: BTreeMap<(String, String), (NodeInfo, u64)>,
    leader: Option<(u64, String)>,
    assignments: BTreeMap<(String, String), Versioned<Assignment>>,
    /// task → run → (sequence for age, owner session tag).
    claims: HashMap<String, HashMap<String, (u64, String)>>,
    claim_seq: u64,
    closed: std::collections::HashSet<u64>,
}

struct Shared {
    state: Mutex<State>,
    /// Serializes appends and compactions of the claims file.
    file: tokio::sync::Mutex<Option<ClaimLog>>,
    changes: broadcast::Sender<Change>,
    next_session: AtomicU64,
}

struct ClaimLog {
    path: PathBuf,
    file: std::fs::File,
    /// Lines in the file that pruning already dropped; compaction rewrites when it grows.
    dead_lines: usize,
}

/// The in-process engine; cheap to clone.
#[derive(Clone)]
pub struct EmbeddedEngine {
    shared: Arc<Shared>,
}

/// One session on the engine: its members and leadership end when it closes or drops.
pub struct EmbeddedSession {
    shared: Arc<Shared>,
    id: u64,
    /// Claim owner: unique per session, so an earlier life of the same node is "someone else".
    owner: String,
}

impl EmbeddedEngine {
    /// An engine whose claims live only in memory.
    pub fn in_memory() -> EmbeddedEngine {
        Self::build(None, HashMap::new(), 0)
    }

    /// An engine whose claims persist in `path` (created if missing).
    ///
    /// A crash in the middle of an append leaves a cut last line. That claim was never
    /// acknowledged (an append counts once fsynced), so nothing launched on it; but the next
    /// append would merge into it and make the *next* claim unreadable at the following start,
    /// a re-fire. So the cut tail is copied to `<file>.damaged-<µs>`, cut off, and said in the log.
    pub fn open(path: &Path) -> Result<EmbeddedEngine> {
        let io = |source| Error::Io {
            path: path.display().to_string(),
            source,
        };
        let mut claims: HashMap<String, HashMap<String, (u64, String)>> = HashMap::new();
        let mut seq = 0;
        match std::fs::read(path) {
            Ok(bytes) => {
                let sound = repair_torn_tail(path, &bytes).map_err(io)?;
                let mut unreadable = 0usize;
                for line in bytes[..sound].split(|b| *b == b'\n') {
                    if line.is_empty() {
                        continue;
                    }
                    let line = String::from_utf8_lossy(line);
                    let mut parts = line.splitn(3, '\t');
                    match (parts.next(), parts.next(), parts.next()) {
                        (Some(task), Some(run), Some(owner)) if !owner.is_empty() => {
                            seq += 1;
                            claims
                                .entry(task.to_string())
                                .or_default()
                                .insert(run.to_string(), (seq, owner.to_string()));
                        }
                        _ => unreadable += 1,
                    }
                }
                if unreadable > 0 {
                    tracing::error!(file = %path.display(), lines = unreadable, "claims file has unreadable lines; they are ignored");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        let engine = Self::build(
            Some(ClaimLog {
                path: path.to_path_buf(),
                file,
                dead_lines: 0,
            }),
            claims,
            seq,
        );
        Ok(engine)
    }

    fn build(
        log: Option<ClaimLog>,
        claims: HashMap<String, HashMap<String, (u64, String)>>,
        seq: u64,
    ) -> Self {
        let (changes, _) = broadcast::channel(1024);
        let seed = jiff::Timestamp::now().as_microsecond().unsigned_abs();
        EmbeddedEngine {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    claims,
                    claim_seq: seq,
                    ..State::default()
                }),
                file: tokio::sync::Mutex::new(log),
                changes,
                next_session: AtomicU64::new(seed),
            }),
        }
    }

    /// Opens a new session.
    pub fn session(&self, label: &str) -> EmbeddedSession {
        let id = self.shared.next_session.fetch_add(1, Ordering::Relaxed);
        EmbeddedSession {
            shared: self.shared.clone(),
            id,
            owner: format!("{label}@{id:x}"),
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn notify(&self, change: Change) {
        // No receivers is fine: nobody is watching yet.
        let _ = self.changes.send(change);
    }
}

impl EmbeddedSession {
    fn live(&self) -> Result<MutexGuard<'_, State>> {
        let st = self.shared.lock();
        if st.closed.contains(&self.id) {
            return Err(Error::SessionExpired);
        }
        Ok(st)
    }

    fn end(&self) {
        let mut st = self.shared.lock();
        if !st.closed.insert(self.id) {
            return;
        }
        let gone: Vec<(String, String)> = st
            .members
            .iter()
            .filter(|(_, (_, s))| *s == self.id)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &gone {
            st.members.remove(k);
        }
        let lost_lead = matches!(st.leader, Some((s, _)) if s == self.id);
        if lost_lead {
            st.leader = None;
        }
        drop(st);
        for (cluster, _) in gone {
            self.shared.notify(Change::Members { cluster });
        }
        if lost_lead {
            self.shared.notify(Change::Leadership);
        }
    }
}

impl Drop for EmbeddedSession {
    fn drop(&mut self) {
        self.end();
    }
}

#[async_trait]
impl Coordination for EmbeddedSession {
    async fn join(&self, node: &NodeInfo) -> Result<()> {
        let mut st = self.live()?;
        st.members.insert(
            (node.cluster.clone(), node.name.clone()),
            (node.clone(), self.id),
        );
        drop(st);
        self.shared.notify(Change::Members {
            cluster: node.cluster.clone(),
        });
        Ok(())
    }

    async fn members(&self, cluster: &str) -> Result<Vec<NodeInfo>> {
        let st = self.live()?;
        Ok(st
            .members
            .iter()
            .filter(|((c, _), _)| c == cluster)
            .map(|(_, (n, session))| NodeInfo {
                session: Some(format!("{session:x}")),
                ..n.clone()
            })
            .collect())
    }

    async fn clusters(&self) -> Result<Vec<String>> {
        let st = self.live()?;
        let mut out: Vec<String> = st
            .members
            .keys()
            .chain(st.assignments.keys())
            .map(|(c, _)| c.clone())
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    async fn campaign(&self, candidate: &str) -> Result<bool> {
        let mut st = self.live()?;
        let won = match &st.leader {
            Some((s, _)) => *s == self.id,
            None => {
                st.leader = Some((self.id, candidate.to_string()));
                drop(st);
                self.shared.notify(Change::Leadership);
                return Ok(true);
            }
        };
        Ok(won)
    }

    async fn candidates(&self) -> Result<Vec<String>> {
        Ok(self.live()?.leader.iter().map(|(_, c)| c.clone()).collect())
    }

    async fn read_assignment(
        &self,
        cluster: &str,
        node: &str,
    ) -> Result<Option<Versioned<Assignment>>> {
        let st = self.live()?;
        Ok(st
            .assignments
            .get(&(cluster.to_string(), node.to_string()))
            .cloned())
    }

    async fn assigned_nodes(&self, cluster: &str) -> Result<Vec<String>> {
        let st = self.live()?;
        Ok(st
            .assignments
            .keys()
            .filter(|(c, _)| c == cluster)
            .map(|(_, n)| n.clone())
            .collect())
    }

    async fn write_assignment(
        &self,
        cluster: &str,
        node: &str,
        assignment: &Assignment,
    ) -> Result<u64> {
        let mut st = self.live()?;
        if !matches!(st.leader, Some((s, _)) if s == self.id) {
            return Err(Error::NotLeader);
        }
        let key = (cluster.to_string(), node.to_string());
        let version = st.assignments.get(&key).map_or(0, |v| v.version + 1);
        st.assignments.insert(
            key,
            Versioned {
                value: assignment.clone(),
                version,
            },
        );
        drop(st);
        self.shared.notify(Change::Assignment {
            cluster: cluster.to_string(),
            node: node.to_string(),
        });
        Ok(version)
    }

    async fn claim(
        &self,
        cluster: &str,
        node: &str,
        assignment_version: u64,
        keys: &[ClaimKey],
    ) -> Result<Vec<ClaimOutcome>> {
        let mut log = self.shared.file.lock().await;
        let mut fresh = Vec::new();
        let outcomes = {
            let mut st = self.live()?;
            let current = st
                .assignments
                .get(&(cluster.to_string(), node.to_string()))
                .map(|a| a.version);
            if current != Some(assignment_version) {
                return Err(Error::Fenced {
                    node: node.to_string(),
                    expected: assignment_version,
                });
            }
            let mut outcomes = Vec::with_capacity(keys.len());
            for key in keys {
                st.claim_seq += 1;
                let seq = st.claim_seq;
                let runs = st.claims.entry(key.task.clone()).or_default();
                match runs.get(&key.run) {
                    Some((_, owner)) if *owner == self.owner => {
                        outcomes.push(ClaimOutcome::Claimed)
                    }
                    Some(_) => outcomes.push(ClaimOutcome::Taken),
                    None => {
                        runs.insert(key.run.clone(), (seq, self.owner.clone()));
                        fresh.push(key.clone());
                        outcomes.push(ClaimOutcome::Claimed);
                    }
                }
            }
            outcomes
        };
        if let Some(log) = log.as_mut()
            && !fresh.is_empty()
        {
            let mut buf = String::new();
            for k in &fresh {
                buf.push_str(&format!("{}\t{}\t{}\n", k.task, k.run, self.owner));
            }
            let written = log
                .file
                .write_all(buf.as_bytes())
                .and_then(|()| log.file.sync_data());
            if let Err(source) = written {
                // Not durable means not claimed: undo, so nobody launches on a claim a restart forgets.
                let mut st = self.shared.lock();
                for k in &fresh {
                    if let Some(runs) = st.claims.get_mut(&k.task) {
                        runs.remove(&k.run);
                    }
                }
                return Err(Error::Io {
                    path: log.path.display().to_string(),
                    source,
                });
            }
        }
        Ok(outcomes)
    }

    async fn claimed_runs(&self, tasks: &[String]) -> Result<Vec<(String, Vec<String>)>> {
        let st = self.live()?;
        Ok(tasks
            .iter()
            .filter_map(|t| Some((t.clone(), st.claims.get(t)?.keys().cloned().collect())))
            .collect())
    }

    async fn claim_owners(&self, keys: &[ClaimKey]) -> Result<Vec<Option<String>>> {
        let st = self.live()?;
        Ok(keys
            .iter()
            .map(|k| {
                let (_, owner) = st.claims.get(&k.task)?.get(&k.run)?;
                Some(owner.clone())
            })
            .collect())
    }

    async fn prune_claims(&self, task: &str, keep: usize) -> Result<usize> {
        let mut log = self.shared.file.lock().await;
        let (dropped, snapshot) = {
            let mut st = self.live()?;
            let Some(runs) = st.claims.get_mut(task) else {
                return Ok(0);
            };
            if runs.len() <= keep {
                return Ok(0);
            }
            let mut by_age: Vec<(u64, String)> =
                runs.iter().map(|(r, (s, _))| (*s, r.clone())).collect();
            by_age.sort_unstable();
            let dropped = by_age.len() - keep;
            for (_, run) in by_age.into_iter().take(dropped) {
                runs.remove(&run);
            }
            let total: usize = st.claims.values().map(HashMap::len).sum();
            let snapshot = match log.as_ref() {
                Some(l) if l.dead_lines + dropped > total.max(1024) => Some(
                    st.claims
                        .iter()
                        .flat_map(|(t, runs)| {
                            runs.iter()
                                .map(move |(r, (s, o))| (*s, t.clone(), r.clone(), o.clone()))
                        })
                        .collect::<Vec<_>>(),
                ),
                _ => None,
            };
            (dropped, snapshot)
        };
        if let Some(log) = log.as_mut() {
            log.dead_lines += dropped;
            if let Some(mut rows) = snapshot {
                rows.sort_unstable();
                compact(log, &rows)?;
            }
        }
        Ok(dropped)
    }

    async fn close(&self) -> Result<()> {
        self.end();
        let _ = self.shared.changes.send(Change::SessionLost);
        Ok(())
    }

    fn changes(&self) -> broadcast::Receiver<Change> {
        self.shared.changes.subscribe()
    }
}

/// Cuts a last line the file does not end with a newline (a crash mid-append) after keeping
/// it aside; returns how many bytes are sound.
fn repair_torn_tail(path: &Path, bytes: &[u8]) -> std::io::Result<usize> {
    let sound = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    if sound == bytes.len() {
        return Ok(sound);
    }
    let torn = &bytes[sound..];
    let aside = crate::durable::keep_aside(path, torn)?;
    let file = std::fs::OpenOptions::new().write(true).open(path)?;
    file.set_len(sound as u64)?;
    file.sync_all()?;
    tracing::warn!(
        file = %path.display(),
        bytes = torn.len(),
        kept = %aside.display(),
        "claims file ended in a cut line (a crash mid-append, never acknowledged); cut off and kept aside"
    );
    Ok(sound)
}

/// Rewrites the claims file with only live claims: write aside, fsync, rename over.
fn compact(log: &mut ClaimLog, rows: &[(u64, String, String, String)]) -> Result<()> {
    let tmp = log.path.with_extension("compact");
    let io = |source| Error::Io {
        path: tmp.display().to_string(),
        source,
    };
    let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io)?);
    for (_, t, r, o) in rows {
        writeln!(out, "{t}\t{r}\t{o}").map_err(io)?;
    }
    let file = out.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, &log.path).map_err(io)?;
    crate::durable::sync_dir(crate::durable::parent_of(&log.path)).map_err(io)?;
    log.file = std::fs::OpenOptions::new()
        .append(true)
        .open(&log.path)
        .map_err(io)?;
    log.dead_lines = 0;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The coordination suite: one test per promise.
    mod suite {
        use super::*;

        crate::coordination_suite!(EmbeddedEngine::in_memory(), |engine| {
            let e = engine.clone();
            async move { Ok(e.session("suite")) }
        });
    }

    #[tokio::test]
    async fn claims_survive_a_restart_and_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("claims");
        let a = Assignment::default();
        let key = |i: usize| ClaimKey {
            task: "t".into(),
            run: format!("t-{i}-1"),
        };
        {
            let engine = EmbeddedEngine::open(&path).unwrap();
            let s = engine.session("n1");
            assert!(s.campaign("n1").await.unwrap());
            let v = s.write_assignment("c", "n1", &a).await.unwrap();
            let keys: Vec<ClaimKey> = (0..3000).map(key).collect();
            let out = s.claim("c", "n1", v, &keys).await.unwrap();
            assert!(out.iter().all(|o| *o == ClaimOutcome::Claimed));
            assert_eq!(s.prune_claims("t", 100).await.unwrap(), 2900);
        }
        let engine = EmbeddedEngine::open(&path).unwrap();
        let s = engine.session("n1");
        assert!(s.campaign("n1").await.unwrap());
        let v = s.write_assignment("c", "n1", &a).await.unwrap();
        let out = s.claim("c", "n1", v, &[key(2999), key(5)]).await.unwrap();
        // A new life of the same node may not re-fire what the old one claimed.
        assert_eq!(out, [ClaimOutcome::Taken, ClaimOutcome::Claimed]);
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert!(lines <= 200, "compaction left {lines} lines");
    }

    #[tokio::test]
    async fn a_cut_last_line_is_kept_aside_and_the_claim_after_it_survives() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("claims");
        let key = |i: usize| ClaimKey {
            task: "t".into(),
            run: format!("t-{i}-1"),
        };
        let claim = |keys: Vec<ClaimKey>| {
            let path = path.clone();
            async move {
                let engine = EmbeddedEngine::open(&path).unwrap();
                let s = engine.session("n1");
                assert!(s.campaign("n1").await.unwrap());
                let v = s
                    .write_assignment("c", "n1", &Assignment::default())
                    .await
                    .unwrap();
                s.claim("c", "n1", v, &keys).await.unwrap()
            }
        };
        assert_eq!(claim(vec![key(1)]).await, [ClaimOutcome::Claimed]);
        // A crash in the middle of appending the claim of instant 2.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"t\tt-2-").unwrap();
        drop(f);
        assert_eq!(claim(vec![key(3)]).await, [ClaimOutcome::Claimed]);
        // Before the repair, claim 3 merged into the cut line and was gone here: a re-fire.
        assert_eq!(
            claim(vec![key(1), key(2), key(3)]).await,
            [
                ClaimOutcome::Taken,
                ClaimOutcome::Claimed, // never acknowledged, so never launched
                ClaimOutcome::Taken
            ]
        );
        let kept: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains(".damaged-"))
            .collect();
        assert_eq!(kept.len(), 1, "the cut line is kept for a human");
        assert_eq!(std::fs::read(&kept[0]).unwrap(), b"t\tt-2-");
    }
}
