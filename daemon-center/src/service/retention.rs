//! Retention: what the center lets go, so that its disk holds a bounded history. Finished
//! runs with their logs go by count and by age (the center's defaults, or the task's own),
//! audit rows by age, each task's package history by count, and the packages (with their
//! chunks) no history names any more. Each pass deletes in small batches and yields between them, so reports
//! and API writes never wait long behind it.

use std::time::Duration;

use cloudtask_shared::shutdown::Shutdown;
use jiff::{SignedDuration, Timestamp};

use crate::store::{self, SharedStore};

/// What the center keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Finished runs kept per task, unless the task says otherwise.
    pub keep_runs: u32,
    /// How long finished runs are kept, unless the task says otherwise.
    pub keep_runs_for: SignedDuration,
    /// How long audit rows are kept.
    pub keep_audit_for: SignedDuration,
    /// Packages kept in each task's history (its current one always among them).
    pub keep_packages: u32,
    /// How often a pass runs.
    pub every: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            keep_runs: 1000,
            keep_runs_for: SignedDuration::from_hours(30 * 24),
            keep_audit_for: SignedDuration::from_hours(365 * 24),
            keep_packages: 10,
            every: Duration::from_secs(60),
        }
    }
}

/// Rows deleted per transaction.
const BATCH: u32 = 500;

/// A package uploaded this recently is not collected even when no task names it yet: its
/// uploader is about to create or edit the task that will.
const UPLOAD_GRACE: SignedDuration = SignedDuration::from_hours(1);

/// What one pass deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub runs: u64,
    pub audit: u64,
    pub history: u64,
    pub packages: u64,
    /// Chunks of collected packages and of uploads that never finished.
    pub chunks: u64,
    /// Expired sessions and API tokens.
    pub tokens: u64,
    /// Placements closed before the audit horizon.
    pub placements: u64,
    /// Resolved incidents and sent (or dead) messages older than `keep_runs_for`.
    pub alerts: u64,
}

pub struct Retention {
    pub store: SharedStore,
    pub policy: Policy,
}

impl Retention {
    /// A pass every [`Policy::every`] until `shutdown`.
    pub async fn run(self, shutdown: Shutdown) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.policy.every) => {}
                () = shutdown.wait() => return,
            }
            match self.pass(Timestamp::now()).await {
                Ok(s) if s == Swept::default() => {}
                Ok(s) => tracing::info!(
                    runs = s.runs,
                    audit = s.audit,
                    package_history = s.history,
                    packages = s.packages,
                    package_chunks = s.chunks,
                    tokens = s.tokens,
                    alerts = s.alerts,
                    "retention deleted what its policy lets go"
                ),
                Err(e) => tracing::warn!(error = %e, "retention pass failed; the next one retries"),
            }
        }
    }

    /// One pass, as of `now`.
    pub async fn pass(&self, now: Timestamp) -> store::Result<Swept> {
        let mut swept = Swept::default();
        for task in self.store.tasks().await? {
            let keep = task.spec.keep_runs.unwrap_or(self.policy.keep_runs);
            let age = task
                .spec
                .keep_runs_for_ms
                .map(|ms| SignedDuration::from_millis(i64::try_from(ms).unwrap_or(i64::MAX)))
                .unwrap_or(self.policy.keep_runs_for);
            let before = now.checked_sub(age).unwrap_or(Timestamp::MIN);
            swept.runs += batches(|| self.store.prune_runs(&task.id, keep, before, BATCH)).await?;
        }
        // Incidents and their messages are history of runs: kept as long as runs are.
        let before = now
            .checked_sub(self.policy.keep_runs_for)
            .unwrap_or(Timestamp::MIN);
        swept.alerts += batches(|| self.store.prune_alerts(before, BATCH)).await?;
        let before = now
            .checked_sub(self.policy.keep_audit_for)
            .unwrap_or(Timestamp::MIN);
        swept.audit += batches(|| self.store.prune_audit(before, BATCH)).await?;
        // Who held a task when is the evidence reports are checked against: kept as long.
        swept.placements += batches(|| self.store.prune_placements(before, BATCH)).await?;
        swept.history += self
            .store
            .trim_package_histories(self.policy.keep_packages)
            .await?;
        let before = now - UPLOAD_GRACE;
        swept.packages += batches(|| async {
            Ok(self.store.collect_packages(before, BATCH).await?.len() as u64)
        })
        .await?;
        swept.chunks += batches(|| self.store.collect_chunks(before, BATCH)).await?;
        swept.tokens += self.store.prune_tokens(now).await?;
        Ok(swept)
    }
}

/// Calls `delete` until it deletes less than a batch, yielding between calls; returns the
/// total.
async fn batches<F, Fut>(mut delete: F) -> store::Result<u64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = store::Result<u64>>,
{
    let mut total = 0;
    loop {
        let n = delete().await?;
        total += n;
        if n < u64::from(BATCH) {
            return Ok(total);
        }
        tokio::task::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sql::sqlite;
    use crate::store::suite;
    use crate::store::{Effects, RunFilter};
    use cloudtask_shared::api::PackageInfo;
    use cloudtask_shared::{PackageRef, RunRecord, RunStatus, Task};
    use std::sync::Arc;

    fn none(_: &[&RunRecord]) -> Effects {
        Effects::default()
    }

    /// `n` finished runs of `task`, one a minute, the last one a minute before `end`.
    async fn finished(store: &SharedStore, task: &Task, n: i64, end: Timestamp) {
        let runs: Vec<RunRecord> = (0..n)
            .map(|i| {
                let mut r = suite::run(&format!("{}-{i}", task.id), &task.id, RunStatus::Succeeded);
                r.scheduled_at = end - SignedDuration::from_mins(n - i);
                r
            })
            .collect();
        let reports: Vec<_> = runs.iter().map(|r| (r, Some("output"))).collect();
        store.put_runs(&reports, &none).await.unwrap();
    }

    async fn count(store: &SharedStore, task: &str) -> usize {
        let f = RunFilter {
            task: Some(task.into()),
            limit: 100_000,
            ..Default::default()
        };
        store.runs(&f).await.unwrap().len()
    }

    #[tokio::test]
    async fn a_pass_keeps_the_default_count_the_tasks_own_and_age_and_collects_packages() {
        let dir = tempfile::tempdir().unwrap();
        let store: SharedStore = Arc::new(sqlite::open(&dir.path().join("db")).await.unwrap());
        let now = Timestamp::now();
        let plain = suite::task("plain", "g");
        let mut own = suite::task("own", "g");
        own.spec.keep_runs = Some(3);
        let mut young = suite::task("young", "g");
        young.spec.keep_runs_for_ms = Some(10 * 60 * 1000);
        for t in [&plain, &own, &young] {
            store
                .create_task(t, None, &Effects::default())
                .await
                .unwrap();
            finished(&store, t, 1200, now).await;
        }
        // The chunk of an upload whose row never came: within the upload grace it may be an
        // upload in flight, and stays; after it, it goes.
        store
            .put_package_chunk("unfinished", 0, b"blob")
            .await
            .unwrap();
        // Two packages: one a task's history names, one nobody names.
        for sha in ["aa", "bb"] {
            store.put_package_chunk(sha, 0, b"xx").await.unwrap();
            store
                .add_package(sha, 2, &Effects::default())
                .await
                .unwrap();
        }
        let mut named = suite::task("named", "g");
        named.spec.package = Some(PackageRef {
            sha256: "aa".into(),
            file_name: "a.sh".into(),
            size: 2,
        });
        let info = PackageInfo {
            sha256: "aa".into(),
            file_name: "a.sh".into(),
            size: 2,
            uploaded_at: now,
            uploaded_by: "t".into(),
        };
        store
            .create_task(&named, Some(&info), &Effects::default())
            .await
            .unwrap();

        let retention = Retention {
            store: store.clone(),
            policy: Policy::default(),
        };
        // Right now: counts apply, the young task's ten minutes hold ten runs, and the
        // unnamed package is still within its upload grace.
        let swept = retention.pass(now).await.unwrap();
        assert_eq!(count(&store, &plain.id).await, 1000);
        assert_eq!(count(&store, &own.id).await, 3);
        assert_eq!(count(&store, &young.id).await, 10);
        assert_eq!(swept.runs, 200 + 1197 + 1190);
        assert_eq!(
            (swept.packages, swept.chunks),
            (0, 0),
            "all within the upload grace"
        );
        // The newest runs stay, with their logs; the deleted ones' logs are gone.
        assert!(
            store
                .run(&format!("{}-1199", own.id))
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            store
                .run(&format!("{}-1196", own.id))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .run_log(&format!("{}-0", plain.id))
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            store
                .run_log(&format!("{}-1199", plain.id))
                .await
                .unwrap()
                .as_deref(),
            Some("output")
        );
        // Two hours on: the young task's runs have aged out, and the unnamed package goes,
        // row and blob; the named one stays.
        let later = now + SignedDuration::from_hours(2);
        let swept = retention.pass(later).await.unwrap();
        assert_eq!(count(&store, &young.id).await, 0);
        assert_eq!(
            (swept.runs, swept.packages, swept.chunks),
            (10, 1, 2),
            "bb with its chunk, and the chunk of the upload that never got its row"
        );
        assert!(store.package_exists("aa").await.unwrap());
        assert_eq!(
            store.package_chunk("aa", 0).await.unwrap(),
            Some(b"xx".to_vec())
        );
        assert!(!store.package_exists("bb").await.unwrap());
        assert_eq!(store.package_chunk("bb", 0).await.unwrap(), None);
        // Nothing more to do.
        assert_eq!(retention.pass(later).await.unwrap(), Swept::default());
    }
}
