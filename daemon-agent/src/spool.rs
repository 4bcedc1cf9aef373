//! Results on disk until the center has them: every report is written here first and
//! delivered at least once, in order; the center stores them idempotently by run id.
//!
//! Also keeps an *active marker* per running run: markers left over after a crash are the runs
//! this node lost, reported as `lost` when it starts again.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cloudtask_shared::api::RunReport;
use cloudtask_shared::{RunRecord, RunStatus};
use jiff::Timestamp;
use tokio::sync::{Notify, watch};

use crate::client::{CenterClient, Error as ClientError};

#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    active: PathBuf,
    dead: PathBuf,
    seq: AtomicU64,
    wake: Notify,
}

fn io_err(path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Writes a file so that readers see all of it or nothing: write aside, then rename.
pub async fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    tokio::fs::write(&tmp, bytes)
        .await
        .map_err(|e| io_err(&tmp, e))?;
    tokio::fs::rename(&tmp, path)
        .await
        .map_err(|e| io_err(path, e))
}

impl Spool {
    pub async fn open(dir: PathBuf) -> std::io::Result<Spool> {
        let active = dir.join("active");
        let dead = dir.join("undeliverable");
        for d in [&dir, &active, &dead] {
            tokio::fs::create_dir_all(d)
                .await
                .map_err(|e| io_err(d, e))?;
        }
        Ok(Spool {
            dir,
            active,
            dead,
            // Time-based start keeps file order across restarts.
            seq: AtomicU64::new(Timestamp::now().as_microsecond().unsigned_abs()),
            wake: Notify::new(),
        })
    }

    /// Queues a report for delivery.
    pub async fn push(&self, report: &RunReport) -> std::io::Result<()> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let path = self.dir.join(format!("{seq:020}-{}.json", report.run.id));
        let bytes = serde_json::to_vec(report).map_err(std::io::Error::other)?;
        write_atomic(&path, &bytes).await?;
        self.wake.notify_one();
        Ok(())
    }

    pub async fn mark_active(&self, run: &RunRecord) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(run).map_err(std::io::Error::other)?;
        write_atomic(&self.active.join(format!("{}.json", run.id)), &bytes).await
    }

    pub async fn clear_active(&self, run_id: &str) {
        let _ = tokio::fs::remove_file(self.active.join(format!("{run_id}.json"))).await;
    }

    /// Turns markers left by an earlier life of this agent into `lost` reports.
    pub async fn recover_lost(&self) -> std::io::Result<usize> {
        let mut n = 0;
        let mut dir = tokio::fs::read_dir(&self.active)
            .await
            .map_err(|e| io_err(&self.active, e))?;
        while let Some(entry) = dir.next_entry().await? {
            let path = entry.path();
            if let Ok(bytes) = tokio::fs::read(&path).await
                && let Ok(mut run) = serde_json::from_slice::<RunRecord>(&bytes)
            {
                run.status = RunStatus::Lost;
                run.finished_at = Some(Timestamp::now());
                run.message = Some("the agent stopped while the run was active".into());
                self.push(&RunReport { run, log: None }).await?;
                n += 1;
            }
            let _ = tokio::fs::remove_file(&path).await;
        }
        Ok(n)
    }

    async fn pending(&self) -> std::io::Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        let mut dir = tokio::fs::read_dir(&self.dir).await?;
        while let Some(e) = dir.next_entry().await? {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json") {
                out.push(p);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Number of reports waiting for the center.
    pub async fn backlog(&self) -> usize {
        self.pending().await.map(|p| p.len()).unwrap_or(0)
    }

    /// Delivers reports in order until `shutdown`; waits and retries while the center is away.
    pub async fn deliver(&self, client: CenterClient, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(200);
        loop {
            let mut failed = false;
            match self.pending().await {
                Ok(files) => {
                    for path in files {
                        match self.deliver_one(&client, &path).await {
                            Ok(()) => backoff = Duration::from_millis(200),
                            Err(e) => {
                                tracing::debug!(error = %e, "report delivery deferred");
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
            let wait = if failed {
                backoff
            } else {
                Duration::from_secs(5)
            };
            if failed {
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            tokio::select! {
                () = self.wake.notified(), if !failed => {}
                () = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    async fn deliver_one(&self, client: &CenterClient, path: &Path) -> Result<(), ClientError> {
        let bytes = match tokio::fs::read(path).await {
            Ok(b) => b,
            Err(_) => return Ok(()), // delivered and removed meanwhile
        };
        let report: RunReport = match serde_json::from_slice(&bytes) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(file = %path.display(), error = %e, "unreadable spool file set aside");
                self.set_aside(path).await;
                return Ok(());
            }
        };
        match client.report(&report).await {
            Ok(()) => {
                let _ = tokio::fs::remove_file(path).await;
                Ok(())
            }
            // The center refused it for good (bad data, deleted task): keep it for a human, move on.
            Err(ClientError::Status {
                status, message, ..
            }) if (400..500).contains(&status)
                && status != 401
                && status != 408
                && status != 429 =>
            {
                tracing::error!(run = %report.run.id, status, %message, "center refused run report; set aside");
                self.set_aside(path).await;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    async fn set_aside(&self, path: &Path) {
        if let Some(name) = path.file_name() {
            let _ = tokio::fs::rename(path, self.dead.join(name)).await;
        }
    }
}
