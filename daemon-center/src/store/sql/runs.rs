//! Runs, their logs and the idempotency keys of manual starts.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use async_trait::async_trait;
use cloudtask_shared::{RunRecord, RunStatus};
use jiff::Timestamp;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};

use super::{
    Sql, SqlStore, Values, corrupt, json_or_default, json_unless_empty, ms, placeholders, ranks,
    retention, select_in, ts,
};
use crate::store::{Effects, EffectsOf, Result, RunFilter, RunStore, RunWrite};

/// The columns every run insert writes, in [`push_run`]'s order.
pub(super) const RUN_INSERT: &str = "INSERT INTO runs (id, task_id, task_name, scheduled_at, started_at, finished_at, status, status_rank, exit_code, node, attempt, trigger_kind, message, params, args, not_before, requested_by) ";

/// Rows per multi-row statement: 17 columns each stays far below SQLite's 32,766 variables.
pub(super) const ROWS_PER_STATEMENT: usize = 500;

/// One run's values for [`RUN_INSERT`]: the one place a run becomes a row.
pub(super) fn push_run(b: &mut Values<'_>, run: &RunRecord) {
    push_row(b, run, run.requested_by.as_deref());
}

/// A node's report as a new row: who requested a run is the center's to say, never a node's.
fn push_report(b: &mut Values<'_>, run: &RunRecord) {
    push_row(b, run, None);
}

fn push_row(b: &mut Values<'_>, run: &RunRecord, requested_by: Option<&str>) {
    b.bind(run.id.clone())
        .bind(run.task.clone())
        .bind(run.task_name.clone())
        .bind(ms(run.scheduled_at))
        .bind(run.started_at.map(ms))
        .bind(run.finished_at.map(ms))
        .bind(run.status.as_str())
        .bind(i64::from(run.status.rank()))
        .bind(run.exit_code)
        .bind(run.node.clone())
        .bind(i64::from(run.attempt))
        .bind(run.trigger.as_str())
        .bind(run.message.clone())
        .bind(json_unless_empty(&run.params))
        .bind(json_unless_empty(&run.args))
        .bind(run.not_before.map(ms))
        .bind(requested_by.map(str::to_string));
}

fn run_from_row(row: &AnyRow) -> Result<RunRecord> {
    let status: String = row.try_get("status")?;
    let trigger: String = row.try_get("trigger_kind")?;
    Ok(RunRecord {
        id: row.try_get("id")?,
        task: row.try_get("task_id")?,
        task_name: row.try_get("task_name")?,
        scheduled_at: ts(row.try_get("scheduled_at")?),
        started_at: row.try_get::<Option<i64>, _>("started_at")?.map(ts),
        finished_at: row.try_get::<Option<i64>, _>("finished_at")?.map(ts),
        status: RunStatus::from_str(&status).map_err(|e| corrupt("run status", e))?,
        exit_code: row.try_get("exit_code")?,
        node: row.try_get("node")?,
        attempt: row.try_get::<i64, _>("attempt")? as u32,
        trigger: serde_json::from_value(serde_json::Value::String(trigger))
            .map_err(|e| corrupt("run trigger", e))?,
        message: row.try_get("message")?,
        params: json_or_default(row, "params")?,
        args: json_or_default(row, "args")?,
        not_before: row.try_get::<Option<i64>, _>("not_before")?.map(ts),
        requested_by: row.try_get("requested_by")?,
    })
}

async fn fetch_active(
    conn: &mut AnyConnection,
    column: Option<(&str, &str)>,
) -> Result<Vec<RunRecord>> {
    let ranks = ranks(true);
    let mut sql = format!(
        "SELECT * FROM runs WHERE status_rank IN ({})",
        placeholders(1, ranks.len())
    );
    if let Some((c, _)) = column {
        sql.push_str(&format!(" AND {c} = ${}", ranks.len() + 1));
    }
    // Only placeholders and fixed column names went into `sql`; values are bound.
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for r in ranks {
        q = q.bind(r);
    }
    if let Some((_, v)) = column {
        q = q.bind(v);
    }
    let rows = q.fetch_all(&mut *conn).await?;
    rows.iter().map(run_from_row).collect()
}

/// Upserts reports (already reduced to one per run) and first logs inside `tx`; returns the
/// ids of the runs that moved forward.
async fn upsert_runs(
    tx: &mut AnyConnection,
    runs: &[&RunRecord],
    logs: &[(&str, &str)],
) -> Result<HashSet<String>> {
    let mut applied = HashSet::new();
    for chunk in runs.chunks(ROWS_PER_STATEMENT) {
        let mut q = Sql::new(RUN_INSERT);
        q.values(chunk, |b, run| push_report(b, run));
        q.push(
            " ON CONFLICT (id) DO UPDATE SET started_at = COALESCE(excluded.started_at, runs.started_at), finished_at = excluded.finished_at,
                 status = excluded.status, status_rank = excluded.status_rank, exit_code = excluded.exit_code, node = excluded.node,
                 message = excluded.message
             WHERE runs.status_rank < excluded.status_rank
             RETURNING id",
        );
        let ids: Vec<String> = q.query_scalar().fetch_all(&mut *tx).await?;
        applied.extend(ids);
    }
    // An empty log needs no row: reading a run without one gives the same empty text.
    for chunk in logs.chunks(ROWS_PER_STATEMENT) {
        let mut q = Sql::new("INSERT INTO run_logs (run_id, log) ");
        q.values(chunk, |b, (id, log)| {
            b.bind(id.to_string()).bind(log.to_string());
        });
        q.push(" ON CONFLICT (run_id) DO NOTHING");
        q.query().execute(&mut *tx).await?;
    }
    Ok(applied)
}

/// `runs` without the reports retention must not let back in: runs not stored whose
/// instant is at or before the newest one retention deleted of their task.
async fn without_pruned<'r>(
    tx: &mut AnyConnection,
    runs: Vec<&'r RunRecord>,
) -> Result<Vec<&'r RunRecord>> {
    let mut tasks: Vec<&str> = runs.iter().map(|r| r.task.as_str()).collect();
    tasks.sort_unstable();
    tasks.dedup();
    let marks = retention::marks(tx, &tasks).await?;
    let old = |r: &RunRecord| {
        marks
            .get(&r.task)
            .is_some_and(|&through| ms(r.scheduled_at) <= through)
    };
    let suspects: Vec<&str> = runs
        .iter()
        .filter(|r| old(r))
        .map(|r| r.id.as_str())
        .collect();
    if suspects.is_empty() {
        return Ok(runs);
    }
    let stored = retention::stored(tx, &suspects).await?;
    Ok(runs
        .into_iter()
        .filter(|r| !old(r) || stored.contains(&r.id))
        .collect())
}

#[async_trait]
impl RunStore for SqlStore {
    // A statement costs a round trip to SQLite's worker thread, and one per report made the
    // store the bottleneck at a few thousand reports a second: a few hundred rows each.
    async fn put_runs(
        &self,
        reports: &[(&RunRecord, Option<&str>)],
        fx: EffectsOf<'_>,
    ) -> Result<Vec<RunWrite>> {
        // Per run: the first report of the highest rank (later equal ranks change nothing),
        // and the first non-empty log.
        let mut kept: HashMap<&str, usize> = HashMap::new();
        let mut logs: HashMap<&str, &str> = HashMap::new();
        for (i, (run, log)) in reports.iter().enumerate() {
            let k = kept.entry(run.id.as_str()).or_insert(i);
            if run.status.rank() > reports[*k].0.status.rank() {
                *k = i;
            }
            if let Some(log) = log.filter(|l| !l.is_empty()) {
                logs.entry(run.id.as_str()).or_insert(log);
            }
        }
        let mut rows: Vec<usize> = kept.values().copied().collect();
        rows.sort_unstable();
        let runs: Vec<&RunRecord> = rows.iter().map(|&i| reports[i].0).collect();

        let mut w = self.write().await?;
        let runs = without_pruned(&mut w.tx, runs).await?;
        let mut logs: Vec<(&str, &str)> = if runs.len() == rows.len() {
            logs.into_iter().collect()
        } else {
            let left: HashSet<&str> = runs.iter().map(|r| r.id.as_str()).collect();
            logs.into_iter()
                .filter(|(id, _)| left.contains(id))
                .collect()
        };
        logs.sort_unstable();
        let applied = upsert_runs(&mut w.tx, &runs, &logs).await?;
        let moved: Vec<&RunRecord> = runs
            .iter()
            .copied()
            .filter(|r| applied.contains(&r.id))
            .collect();
        w.commit(&fx(&moved)).await?;
        Ok(reports
            .iter()
            .enumerate()
            .map(|(i, (run, _))| {
                if kept.get(run.id.as_str()) == Some(&i) && applied.contains(&run.id) {
                    RunWrite::Applied
                } else {
                    RunWrite::Ignored
                }
            })
            .collect())
    }

    async fn request_run(
        &self,
        run: &RunRecord,
        key: Option<&str>,
        since: Timestamp,
        fx: &Effects,
    ) -> Result<Option<RunRecord>> {
        let mut w = self.write().await?;
        let existing = sqlx::query("SELECT * FROM runs WHERE id = $1")
            .bind(&run.id)
            .fetch_optional(&mut *w.tx)
            .await?;
        if let Some(row) = existing {
            return Ok(Some(run_from_row(&row)?));
        }
        if let Some(key) = key {
            sqlx::query(
                "DELETE FROM start_keys WHERE task_id = $1 AND key = $2 AND created_at < $3",
            )
            .bind(&run.task)
            .bind(key)
            .bind(ms(since))
            .execute(&mut *w.tx)
            .await?;
            let earlier = sqlx::query(
                "SELECT runs.* FROM start_keys JOIN runs ON runs.id = start_keys.run_id
                 WHERE start_keys.task_id = $1 AND start_keys.key = $2",
            )
            .bind(&run.task)
            .bind(key)
            .fetch_optional(&mut *w.tx)
            .await?;
            if let Some(row) = earlier {
                return Ok(Some(run_from_row(&row)?));
            }
            sqlx::query(
                "INSERT INTO start_keys (task_id, key, run_id, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (task_id, key) DO UPDATE SET run_id = excluded.run_id, created_at = excluded.created_at",
            )
            .bind(&run.task)
            .bind(key)
            .bind(&run.id)
            .bind(ms(run.scheduled_at))
            .execute(&mut *w.tx)
            .await?;
        }
        let mut q = Sql::new(RUN_INSERT);
        q.values(std::slice::from_ref(run), push_run);
        q.query().execute(&mut *w.tx).await?;
        w.commit(fx).await?;
        Ok(None)
    }

    async fn start_key(
        &self,
        task: &str,
        key: &str,
        since: Timestamp,
    ) -> Result<Option<RunRecord>> {
        let row = sqlx::query(
            "SELECT runs.* FROM start_keys JOIN runs ON runs.id = start_keys.run_id
             WHERE start_keys.task_id = $1 AND start_keys.key = $2 AND start_keys.created_at >= $3",
        )
        .bind(task)
        .bind(key)
        .bind(ms(since))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(run_from_row).transpose()
    }

    async fn run(&self, id: &str) -> Result<Option<RunRecord>> {
        let row = sqlx::query("SELECT * FROM runs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(run_from_row).transpose()
    }

    async fn run_statuses(&self, ids: &[&str]) -> Result<HashMap<String, (RunStatus, String)>> {
        let mut conn = self.pool.acquire().await?;
        let rows: Vec<(String, String, String)> =
            select_in(&mut conn, "SELECT id, status, node FROM runs", "id", ids).await?;
        rows.into_iter()
            .map(|(id, status, node)| {
                let status = RunStatus::from_str(&status).map_err(|e| corrupt("run status", e))?;
                Ok((id, (status, node)))
            })
            .collect()
    }

    async fn run_log(&self, id: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT log FROM run_logs WHERE run_id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn runs(&self, f: &RunFilter) -> Result<Vec<RunRecord>> {
        let mut sql = String::from("SELECT * FROM runs WHERE 1 = 1");
        let mut n = 0;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        if f.task.is_some() {
            sql.push_str(&format!(" AND task_id = {}", next()));
        }
        if let Some(groups) = &f.groups {
            if groups.is_empty() {
                return Ok(Vec::new());
            }
            let ps: Vec<String> = groups.iter().map(|_| next()).collect();
            sql.push_str(&format!(
                " AND task_id IN (SELECT id FROM tasks WHERE grp IN ({}))",
                ps.join(", ")
            ));
        }
        if !f.statuses.is_empty() {
            let ps: Vec<String> = f.statuses.iter().map(|_| next()).collect();
            sql.push_str(&format!(" AND status IN ({})", ps.join(", ")));
        }
        if f.since.is_some() {
            sql.push_str(&format!(" AND scheduled_at >= {}", next()));
        }
        if f.until.is_some() {
            sql.push_str(&format!(" AND scheduled_at <= {}", next()));
        }
        sql.push_str(&format!(
            " ORDER BY scheduled_at DESC, attempt DESC LIMIT {}",
            next()
        ));
        // Only fixed fragments and $n placeholders went into `sql`; values are bound.
        let mut q = sqlx::query(AssertSqlSafe(sql));
        if let Some(t) = &f.task {
            q = q.bind(t);
        }
        for g in f.groups.iter().flatten() {
            q = q.bind(g);
        }
        for s in &f.statuses {
            q = q.bind(s.as_str());
        }
        if let Some(t) = f.since {
            q = q.bind(ms(t));
        }
        if let Some(t) = f.until {
            q = q.bind(ms(t));
        }
        q = q.bind(i64::from(f.limit));
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(run_from_row).collect()
    }

    async fn active_runs(&self, task: Option<&str>) -> Result<Vec<RunRecord>> {
        let mut conn = self.pool.acquire().await?;
        fetch_active(&mut conn, task.map(|t| ("task_id", t))).await
    }

    async fn active_runs_on(&self, node: &str) -> Result<Vec<RunRecord>> {
        let mut conn = self.pool.acquire().await?;
        fetch_active(&mut conn, Some(("node", node))).await
    }

    async fn mark_node_runs_lost(
        &self,
        node: &str,
        why: &str,
        at: Timestamp,
        fx: EffectsOf<'_>,
    ) -> Result<Vec<RunRecord>> {
        self.mark_lost(node, why, at, fx, |r| r.status == RunStatus::Running)
            .await
    }

    async fn move_requests(
        &self,
        moves: &[(&str, &str, &str)],
        fx: EffectsOf<'_>,
    ) -> Result<Vec<RunRecord>> {
        if moves.is_empty() {
            return Ok(Vec::new());
        }
        let mut w = self.write().await?;
        let mut moved = Vec::new();
        for (id, from, to) in moves {
            let row = sqlx::query(
                "UPDATE runs SET node = $1 WHERE id = $2 AND node = $3 AND status_rank = $4 RETURNING *",
            )
            .bind(to)
            .bind(id)
            .bind(from)
            .bind(i64::from(RunStatus::Scheduled.rank()))
            .fetch_optional(&mut *w.tx)
            .await?;
            if let Some(row) = row {
                moved.push(run_from_row(&row)?);
            }
        }
        if moved.is_empty() {
            return Ok(moved);
        }
        let refs: Vec<&RunRecord> = moved.iter().collect();
        let effects = fx(&refs);
        w.commit(&effects).await?;
        Ok(moved)
    }

    async fn mark_orphans_lost(
        &self,
        node: &str,
        known: &[String],
        started_before: Timestamp,
        why: &str,
        at: Timestamp,
        fx: EffectsOf<'_>,
    ) -> Result<Vec<RunRecord>> {
        let known: HashSet<&str> = known.iter().map(String::as_str).collect();
        self.mark_lost(node, why, at, fx, |r| {
            r.status == RunStatus::Running
                && r.started_at.is_some_and(|s| s < started_before)
                && !known.contains(r.id.as_str())
        })
        .await
    }
}

impl SqlStore {
    /// Marks `lost` at `at` the active runs of `node` that `which` picks, in one transaction
    /// with `fx` of them.
    async fn mark_lost(
        &self,
        node: &str,
        why: &str,
        at: Timestamp,
        fx: EffectsOf<'_>,
        which: impl Fn(&RunRecord) -> bool,
    ) -> Result<Vec<RunRecord>> {
        let mut w = self.write().await?;
        let lost: Vec<RunRecord> = fetch_active(&mut w.tx, Some(("node", node)))
            .await?
            .into_iter()
            .filter(|r| which(r))
            .map(|r| r.ended(RunStatus::Lost, at, why))
            .collect();
        if lost.is_empty() {
            return Ok(lost);
        }
        let refs: Vec<&RunRecord> = lost.iter().collect();
        upsert_runs(&mut w.tx, &refs, &[]).await?;
        let effects = fx(&refs);
        w.commit(&effects).await?;
        Ok(lost)
    }
}
