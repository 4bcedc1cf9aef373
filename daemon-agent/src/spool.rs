//! Results on disk until the center has them, and the ledger of runs in flight.
//!
//! - **Spool**: every report is written here first and delivered at least once, in order; the
//!   center stores reports idempotently by run id. Reports are written in batches (one file per
//!   batch) by a [`SpoolWriter`], so a thousand runs a second cost a few file writes, not
//!   thousands.
//! - **Ledger**: before a tick's runs launch, one file lists them; it is deleted once they have
//!   all finished *and* their final reports are on disk. Whatever a crash leaves in the ledger is
//!   reported `lost` on the next start — harmless for a run whose final report got out first,
//!   because the center never moves a finished run backwards.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cloudtask_shared::api::RunReport;
use cloudtask_shared::backoff::Backoff;
use cloudtask_shared::durable::{self, Durability};
use cloudtask_shared::shutdown::Shutdown;
use cloudtask_shared::{RunRecord, RunStatus};
use jiff::Timestamp;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::client::{CenterClient, Complaints, Error as ClientError};

/// Most reports per spool file.
const BATCH: usize = 500;

/// Reports per delivery request, gathered from as many spool files as that takes.
const DELIVERY_MAX: usize = 2000;

/// Bytes per delivery request (about: a report counts its log plus [`REPORT_OVERHEAD`]), far
/// below what the center takes ([`cloudtask_shared::api::AGENT_BODY_LIMIT`]).
const DELIVERY_BYTES: usize = cloudtask_shared::api::AGENT_BODY_LIMIT / 8;

/// What a report's record adds to its log, JSON-encoded, at most.
const REPORT_OVERHEAD: usize = 1024;

#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    ledger: PathBuf,
    dead: PathBuf,
    seq: AtomicU64,
    wake: Notify,
}

fn io_err(path: &Path, e: std::io::Error) -> std::io::Error {
    durable::at(path, e)
}

/// Replaces a file so that readers see all of it or nothing, and on disk when `durability`
/// says (see [`durable`]); off the async threads.
pub async fn write_atomic(
    path: &Path,
    bytes: Vec<u8>,
    durability: Durability,
) -> std::io::Result<()> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || durable::write_atomic(&path, &bytes, durability))
        .await
        .map_err(std::io::Error::other)?
}

/// Reads a JSON file the agent wrote itself. A missing file is `None`; a damaged one (empty
/// or cut after a power loss, when it was not fsynced) is `None` too, after it is moved aside
/// with a warning, so it is neither trusted nor read again.
pub async fn read_or_set_aside<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &str,
) -> Option<T> {
    let bytes = match tokio::fs::read(path).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "cannot read {what}");
            return None;
        }
    };
    match serde_json::from_slice(&bytes) {
        Ok(v) => Some(v),
        Err(error) => {
            match durable::set_aside(path) {
                Ok(aside) => {
                    tracing::warn!(file = %aside.display(), %error, "damaged {what} kept aside; starting without it")
                }
                Err(e) => {
                    tracing::warn!(file = %path.display(), %error, aside = %e, "damaged {what}; cannot move it aside")
                }
            }
            None
        }
    }
}

/// Finishes or sets aside the `<name>.tmp` files a crash left in `dir`. A temporary file that
/// parses as `T` was written whole and only its rename is missing; one that does not was cut
/// mid-write, before anything was acknowledged on it.
async fn repair_dir<T: serde::de::DeserializeOwned>(dir: &Path, what: &str) -> std::io::Result<()> {
    let mut repaired = 0;
    let mut entries = tokio::fs::read_dir(dir).await.map_err(|e| io_err(dir, e))?;
    while let Some(entry) = entries.next_entry().await? {
        let tmp = entry.path();
        let Some(target) = durable::target_of_tmp(&tmp) else {
            continue;
        };
        let whole = tokio::fs::read(&tmp)
            .await
            .is_ok_and(|b| serde_json::from_slice::<T>(&b).is_ok());
        if whole {
            tokio::fs::rename(&tmp, &target)
                .await
                .map_err(|e| io_err(&tmp, e))?;
            tracing::warn!(file = %target.display(), "finished a {what} write a crash interrupted before its rename");
        } else {
            let aside = durable::set_aside(&tmp)?;
            tracing::warn!(file = %aside.display(), "{what} file cut by a crash mid-write (never acknowledged); kept aside");
        }
        repaired += 1;
    }
    if repaired > 0 {
        durable::sync_dir(dir)?;
    }
    Ok(())
}

impl Spool {
    pub async fn open(dir: PathBuf) -> std::io::Result<Spool> {
        let ledger = dir.join("ledger");
        let dead = dir.join("undeliverable");
        for d in [&dir, &ledger, &dead] {
            tokio::fs::create_dir_all(d)
                .await
                .map_err(|e| io_err(d, e))?;
        }
        repair_dir::<Vec<RunReport>>(&dir, "spool").await?;
        repair_dir::<Vec<RunRecord>>(&ledger, "ledger").await?;
        Ok(Spool {
            dir,
            ledger,
            dead,
            // Time-based start keeps file order across restarts.
            seq: AtomicU64::new(Timestamp::now().as_microsecond().unsigned_abs()),
            wake: Notify::new(),
        })
    }

    fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    /// Queues reports for delivery as one file, on disk (fsynced, directory too) before it
    /// returns: what a report's acknowledgment to its run waits for.
    pub async fn push(&self, reports: &[RunReport]) -> std::io::Result<()> {
        if reports.is_empty() {
            return Ok(());
        }
        let path = self.dir.join(format!("{:020}.json", self.next_seq()));
        let bytes = serde_json::to_vec(reports).map_err(std::io::Error::other)?;
        write_atomic(&path, bytes, Durability::Synced).await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Records runs about to launch, on disk before it returns (a launch waits for it);
    /// returns the ledger entry to release when they are done.
    pub async fn ledger_add(&self, runs: &[RunRecord]) -> std::io::Result<u64> {
        let seq = self.next_seq();
        let bytes = serde_json::to_vec(runs).map_err(std::io::Error::other)?;
        let path = self.ledger.join(format!("{seq:020}.json"));
        write_atomic(&path, bytes, Durability::Synced).await?;
        Ok(seq)
    }

    /// Drops a ledger entry whose runs have all finished and been spooled.
    pub async fn ledger_release(&self, entry: u64) {
        let _ = tokio::fs::remove_file(self.ledger.join(format!("{entry:020}.json"))).await;
    }

    /// Turns runs left in the ledger by an earlier life of this agent into `lost` reports. A
    /// ledger file that cannot be read is kept aside with an error: its runs' fate is unknown
    /// here, and the center's reaping finds them active on a node that does not know them.
    pub async fn recover_lost(&self) -> std::io::Result<usize> {
        let mut lost = Vec::new();
        let mut files = Vec::new();
        for path in json_files(&self.ledger).await? {
            let runs = match tokio::fs::read(&path).await {
                Ok(bytes) => {
                    serde_json::from_slice::<Vec<RunRecord>>(&bytes).map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            };
            match runs {
                Ok(runs) => {
                    for mut run in runs {
                        run.status = RunStatus::Lost;
                        run.finished_at = Some(Timestamp::now());
                        run.message = Some("the agent stopped while the run was active".into());
                        lost.push(RunReport { run, log: None });
                    }
                    files.push(path);
                }
                Err(error) => {
                    let aside = durable::set_aside(&path)?;
                    tracing::error!(file = %aside.display(), %error, "unreadable ledger file kept aside; its runs are not reported from here");
                }
            }
        }
        for chunk in lost.chunks(BATCH) {
            self.push(chunk).await?;
        }
        for f in files {
            let _ = tokio::fs::remove_file(&f).await;
        }
        Ok(lost.len())
    }

    async fn pending(&self) -> std::io::Result<Vec<PathBuf>> {
        json_files(&self.dir).await
    }

    /// Number of spool files waiting for the center.
    pub async fn backlog(&self) -> usize {
        self.pending().await.map(|p| p.len()).unwrap_or(0)
    }

    /// Delivers reports in order until `shutdown`; waits and retries while the center is away.
    pub async fn deliver(&self, client: CenterClient, shutdown: Shutdown) {
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
        let mut complaints = Complaints::default();
        loop {
            let mut failed = false;
            match self.pending().await {
                Ok(files) => {
                    let mut files = files.as_slice();
                    while !files.is_empty() {
                        metrics::gauge!(cloudtask_daemon_kit::metrics::SPOOL_FILES)
                            .set(files.len() as f64);
                        let (sent, result) = self.deliver_some(&client, files).await;
                        files = &files[sent..];
                        match result {
                            Ok(()) => {
                                complaints.succeeded("report delivery");
                                backoff.reset();
                            }
                            Err(e) => {
                                complaints.failed("report delivery", &e);
                                failed = true;
                                break;
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, dir = %self.dir.display(), "cannot read spool");
                    failed = true;
                }
            }
            if !failed {
                metrics::gauge!(cloudtask_daemon_kit::metrics::SPOOL_FILES).set(0.0);
            }
            let wait = if failed {
                backoff.next_delay()
            } else {
                Duration::from_secs(5)
            };
            tokio::select! {
                () = self.wake.notified(), if !failed => {}
                () = tokio::time::sleep(wait) => {}
                () = shutdown.wait() => return,
            }
        }
    }

    /// One delivery of everything spooled, in order: what a stopping agent does last.
    pub async fn flush(&self, client: &CenterClient) -> Result<(), String> {
        let files = self.pending().await.map_err(|e| e.to_string())?;
        let mut files = files.as_slice();
        while !files.is_empty() {
            let (sent, result) = self.deliver_some(client, files).await;
            result.map_err(|e| e.to_string())?;
            files = &files[sent..];
        }
        Ok(())
    }

    /// Delivers the first files of `files` (in order) together, in requests of up to
    /// [`DELIVERY_MAX`] reports: a backlog of small batch files drains in few requests.
    /// Returns how many files it dealt with. A request the center refuses for good is split
    /// into single files, so that only the bad one is set aside.
    async fn deliver_some(
        &self,
        client: &CenterClient,
        files: &[PathBuf],
    ) -> (usize, Result<(), ClientError>) {
        let mut reports: Vec<RunReport> = Vec::new();
        let mut taken = 0;
        let mut read = 0;
        for path in files {
            if taken > 0 && (reports.len() >= DELIVERY_MAX || read >= DELIVERY_BYTES) {
                break;
            }
            taken += 1;
            let bytes = match tokio::fs::read(path).await {
                Ok(b) => b,
                Err(_) => continue, // delivered and removed meanwhile
            };
            read += bytes.len();
            match serde_json::from_slice::<Vec<RunReport>>(&bytes) {
                Ok(r) => reports.extend(r),
                Err(e) => {
                    tracing::error!(file = %path.display(), error = %e, "unreadable spool file set aside");
                    self.set_aside(path).await;
                }
            }
        }
        let files = &files[..taken];
        match self.send_in_parts(client, &reports).await {
            Ok(()) => {
                for path in files {
                    let _ = tokio::fs::remove_file(path).await;
                }
                (taken, Ok(()))
            }
            // The center refused it for good (bad data): find the file, keep it for a human,
            // move on.
            Err(ClientError::Status {
                status, message, ..
            }) if (400..500).contains(&status) && !matches!(status, 401 | 408 | 429) => {
                if let [path] = files {
                    tracing::error!(file = %path.display(), status, %message, "center refused run reports; set aside");
                    self.set_aside(path).await;
                    return (taken, Ok(()));
                }
                for (i, path) in files.iter().enumerate() {
                    if let (_, Err(e)) =
                        Box::pin(self.deliver_some(client, std::slice::from_ref(path))).await
                    {
                        return (i, Err(e));
                    }
                }
                (taken, Ok(()))
            }
            Err(e) => (0, Err(e)),
        }
    }

    /// Sends reports in requests of at most [`DELIVERY_MAX`] reports and about
    /// [`DELIVERY_BYTES`]; the center stores each idempotently, so a part sent twice after a
    /// failure changes nothing.
    async fn send_in_parts(
        &self,
        client: &CenterClient,
        reports: &[RunReport],
    ) -> Result<(), ClientError> {
        let mut rest = reports;
        while !rest.is_empty() {
            let mut bytes = 0;
            let n = rest
                .iter()
                .take(DELIVERY_MAX)
                .take_while(|r| {
                    bytes += REPORT_OVERHEAD + r.log.as_ref().map_or(0, |l| l.len());
                    bytes <= DELIVERY_BYTES
                })
                .count()
                .max(1);
            let (part, later) = rest.split_at(n);
            client.report(part).await?;
            rest = later;
        }
        Ok(())
    }

    async fn set_aside(&self, path: &Path) {
        if let Some(name) = path.file_name() {
            let _ = tokio::fs::rename(path, self.dead.join(name)).await;
        }
    }
}

/// The `*.json` files of `dir`, in name order (which is write order).
async fn json_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut entries = tokio::fs::read_dir(dir).await.map_err(|e| io_err(dir, e))?;
    while let Some(e) = entries.next_entry().await? {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

type Ack = Option<oneshot::Sender<()>>;

/// Gathers reports from many runs into batch files: whatever arrives while one batch is
/// being written goes into the next. Cheap to clone.
///
/// When the disk refuses a batch (full, most likely), the reports are not dropped: they are
/// sent to the center directly, and count as kept (acknowledged) once it has stored them.
/// While the center cannot take them either, they wait in memory (up to
/// [`STRANDED_MAX`]) and both ways are tried again.
#[derive(Debug, Clone)]
pub struct SpoolWriter {
    tx: mpsc::Sender<(RunReport, Ack)>,
}

/// Reports held in memory while neither the disk nor the center takes them; beyond it the
/// oldest are dropped, with an error (their runs stay in the ledger, reported `lost` later).
pub const STRANDED_MAX: usize = 20_000;

impl SpoolWriter {
    /// Starts the writer task over `spool`; `client` is the way out when the disk refuses.
    pub fn start(spool: std::sync::Arc<Spool>, client: CenterClient) -> SpoolWriter {
        let (tx, mut rx) = mpsc::channel::<(RunReport, Ack)>(8192);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            let mut stranded: Vec<(RunReport, Ack)> = Vec::new();
            let mut retry = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
            let mut refused_total: u64 = 0;
            loop {
                let open = if stranded.is_empty() {
                    rx.recv_many(&mut batch, BATCH).await > 0
                } else {
                    tokio::select! {
                        n = rx.recv_many(&mut batch, BATCH) => n > 0,
                        () = tokio::time::sleep(retry.next_delay()) => true,
                    }
                };
                if !open && stranded.is_empty() {
                    return;
                }
                let mut pending = std::mem::take(&mut stranded);
                pending.append(&mut batch);
                let (reports, acks): (Vec<RunReport>, Vec<Ack>) = pending.into_iter().unzip();
                let kept = match spool.push(&reports).await {
                    Ok(()) => true,
                    Err(e) => {
                        refused_total += reports.len() as u64;
                        tracing::error!(error = %e, reports = reports.len(), refused_total, "cannot spool run reports (disk full?): sending them to the center directly");
                        match client.report(&reports).await {
                            Ok(()) => true,
                            Err(e) => {
                                tracing::error!(error = %e, reports = reports.len(), "the center cannot take them either: held in memory, retrying");
                                false
                            }
                        }
                    }
                };
                if kept {
                    retry.reset();
                    for ack in acks.into_iter().flatten() {
                        let _ = ack.send(());
                    }
                    continue;
                }
                stranded = reports.into_iter().zip(acks).collect();
                if stranded.len() > STRANDED_MAX {
                    let dropped = stranded.len() - STRANDED_MAX;
                    stranded.drain(..dropped);
                    tracing::error!(
                        dropped,
                        "run reports dropped: neither the disk nor the center takes them"
                    );
                }
                if !open {
                    return; // shutting down: what the ledger holds is reported `lost` later
                }
            }
        });
        SpoolWriter { tx }
    }

    /// Queues a report without waiting for it to reach the disk.
    pub async fn send(&self, report: RunReport) {
        if self.tx.send((report, None)).await.is_err() {
            tracing::error!("spool writer is gone; report dropped");
        }
    }

    /// Queues a report and waits until it is on disk; false if it could not be written.
    pub async fn write(&self, report: RunReport) -> bool {
        let (ack, done) = oneshot::channel();
        if self.tx.send((report, Some(ack))).await.is_err() {
            return false;
        }
        done.await.is_ok()
    }
}

/// Which ledger entry each launched run belongs to, and how many of each entry's runs remain.
#[derive(Debug, Default)]
pub struct Ledger {
    entry_of: HashMap<String, u64>,
    remaining: HashMap<u64, usize>,
}

impl Ledger {
    pub fn add(&mut self, entry: u64, runs: impl IntoIterator<Item = String>) {
        let mut n = 0;
        for r in runs {
            self.entry_of.insert(r, entry);
            n += 1;
        }
        if n > 0 {
            self.remaining.insert(entry, n);
        }
    }

    /// The runs launched whose final report is not on disk yet: what the node has active.
    pub fn runs(&self) -> impl Iterator<Item = &String> {
        self.entry_of.keys()
    }

    /// A run is done (final report on disk); returns the entry to release if it was the last.
    pub fn done(&mut self, run: &str) -> Option<u64> {
        let entry = self.entry_of.remove(run)?;
        let left = self.remaining.get_mut(&entry)?;
        *left -= 1;
        if *left == 0 {
            self.remaining.remove(&entry);
            return Some(entry);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudtask_shared::Trigger;

    fn rec(id: &str) -> RunRecord {
        RunRecord {
            id: id.into(),
            task: "t".into(),
            task_name: "t".into(),
            scheduled_at: Timestamp::UNIX_EPOCH,
            started_at: None,
            finished_at: None,
            status: RunStatus::Running,
            exit_code: None,
            node: "n".into(),
            attempt: 1,
            trigger: Trigger::Schedule,
            message: None,
            params: Default::default(),
            args: Vec::new(),
            not_before: None,
            requested_by: None,
        }
    }

    #[tokio::test]
    async fn ledger_leftovers_become_lost_reports() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path().to_path_buf()).await.unwrap();
        let a = spool.ledger_add(&[rec("a"), rec("b")]).await.unwrap();
        let c = spool.ledger_add(&[rec("c")]).await.unwrap();
        let mut ledger = Ledger::default();
        ledger.add(a, ["a".to_string(), "b".to_string()]);
        ledger.add(c, ["c".to_string()]);
        assert_eq!(ledger.done("a"), None);
        assert_eq!(ledger.done("c"), Some(c));
        spool.ledger_release(c).await;
        // "crash": a and b's entry is still there.
        let spool = Spool::open(dir.path().to_path_buf()).await.unwrap();
        assert_eq!(spool.recover_lost().await.unwrap(), 2);
        assert_eq!(spool.backlog().await, 1);
        let file = spool.pending().await.unwrap().remove(0);
        let reports: Vec<RunReport> =
            serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        assert!(reports.iter().all(|r| r.run.status == RunStatus::Lost));
        assert_eq!(
            spool.recover_lost().await.unwrap(),
            0,
            "the ledger is cleared once reported"
        );
    }

    #[tokio::test]
    async fn writer_batches_and_acks() {
        let dir = tempfile::tempdir().unwrap();
        let spool = std::sync::Arc::new(Spool::open(dir.path().to_path_buf()).await.unwrap());
        let w = SpoolWriter::start(
            spool.clone(),
            CenterClient::with_centers(
                &crate::client::Centers::new(&["http://127.0.0.1:1".to_string()]).unwrap(),
                "t",
                &crate::client::http_client(None).unwrap(),
            ),
        );
        for i in 0..10 {
            w.send(RunReport {
                run: rec(&format!("r{i}")),
                log: None,
            })
            .await;
        }
        assert!(
            w.write(RunReport {
                run: rec("last"),
                log: Some("x".into())
            })
            .await
        );
        let mut total = 0;
        for f in spool.pending().await.unwrap() {
            total += serde_json::from_slice::<Vec<RunReport>>(&std::fs::read(f).unwrap())
                .unwrap()
                .len();
        }
        assert_eq!(total, 11);
    }

    /// What a crash can leave in the spool and the ledger, and what start-up makes of it.
    #[tokio::test]
    async fn interrupted_writes_are_finished_or_kept_aside_and_cut_ledgers_are_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let spool_dir = dir.path().to_path_buf();
        drop(Spool::open(spool_dir.clone()).await.unwrap());
        let whole = serde_json::to_vec(&[RunReport {
            run: rec("whole"),
            log: None,
        }])
        .unwrap();
        // Written whole, crashed before the rename: finished on start.
        std::fs::write(spool_dir.join("00000000000000000001.json.tmp"), &whole).unwrap();
        // Cut mid-write: kept aside, never delivered.
        std::fs::write(
            spool_dir.join("00000000000000000002.json.tmp"),
            &whole[..whole.len() / 2],
        )
        .unwrap();
        // A ledger entry cut in half (a disk that lied about a flush): kept aside, with its
        // runs not reported from here (and no panic, no silent deletion).
        let ledger = serde_json::to_vec(&[rec("a"), rec("b")]).unwrap();
        std::fs::write(
            spool_dir.join("ledger/00000000000000000003.json"),
            &ledger[..ledger.len() - 3],
        )
        .unwrap();
        std::fs::write(spool_dir.join("ledger/00000000000000000004.json"), &ledger).unwrap();

        let spool = Spool::open(spool_dir.clone()).await.unwrap();
        assert_eq!(
            spool.recover_lost().await.unwrap(),
            2,
            "only the sound entry"
        );
        let pending = spool.pending().await.unwrap();
        assert_eq!(pending.len(), 2, "the finished write and the lost reports");
        let first: Vec<RunReport> =
            serde_json::from_slice(&std::fs::read(&pending[0]).unwrap()).unwrap();
        assert_eq!(first[0].run.id, "whole");
        let kept = |sub: &str| {
            std::fs::read_dir(spool_dir.join(sub))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(".damaged-"))
                .count()
        };
        assert_eq!(kept(""), 1, "the cut spool write is kept");
        assert_eq!(kept("ledger"), 1, "the cut ledger entry is kept");
        assert!(
            !std::fs::read_dir(&spool_dir).unwrap().any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".tmp")),
            "no temporary file is left to be read later"
        );
    }

    #[tokio::test]
    async fn a_damaged_cache_file_is_moved_aside_and_read_as_absent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cursors.json");
        assert_eq!(read_or_set_aside::<Vec<u8>>(&path, "cursors").await, None);
        std::fs::write(&path, b"").unwrap(); // what a power loss leaves of a file not fsynced
        assert_eq!(read_or_set_aside::<Vec<u8>>(&path, "cursors").await, None);
        assert!(!path.exists(), "not read again");
        write_atomic(&path, b"[1,2]".to_vec(), Durability::Synced)
            .await
            .unwrap();
        assert_eq!(
            read_or_set_aside::<Vec<u8>>(&path, "cursors").await,
            Some(vec![1, 2])
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
