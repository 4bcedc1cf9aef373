//! Prometheus metrics: the names both daemons record under (one place, so the README's list
//! and the code agree), the histograms' buckets, and the process's one recorder, rendered
//! from an HTTP route by whoever serves it.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Instants claimed by an agent (fires), by trigger.
pub const FIRES: &str = "cloudtask_fires_total";
/// How long a batch of claims took, seconds.
pub const CLAIM_SECONDS: &str = "cloudtask_claim_seconds";
/// Runs an agent has under way.
pub const RUNS_ACTIVE: &str = "cloudtask_runs_active";
/// Spool files waiting for the center (an agent's report backlog).
pub const SPOOL_FILES: &str = "cloudtask_spool_files";
/// Whether the daemon's coordination session is open (1) or not (0).
pub const SESSION_UP: &str = "cloudtask_coordination_session_up";
/// Finished runs the center stored, by status.
pub const RUNS: &str = "cloudtask_runs_total";
/// Run reports the center received.
pub const REPORTS: &str = "cloudtask_reports_total";
/// How late scheduled runs started (start − instant), seconds, as reported.
pub const FIRE_LATENESS: &str = "cloudtask_fire_lateness_seconds";
/// How long a store write took, seconds, by operation.
pub const STORE_SECONDS: &str = "cloudtask_store_write_seconds";
/// Whether this center leads (1) or not (0).
pub const LEADER: &str = "cloudtask_leader";
/// Outbox rows this center has not delivered yet.
pub const OUTBOX_BEHIND: &str = "cloudtask_outbox_rows_behind";
/// Messages waiting to be delivered, by channel.
pub const NOTIFY_QUEUED: &str = "cloudtask_notify_queued";
/// Messages given up on, by channel.
pub const NOTIFY_DEAD: &str = "cloudtask_notify_dead";
/// Delivered messages and failed tries, by channel.
pub const NOTIFY_DELIVERED: &str = "cloudtask_notify_delivered_total";
pub const NOTIFY_FAILURES: &str = "cloudtask_notify_failures_total";
/// Open incidents.
pub const INCIDENTS_OPEN: &str = "cloudtask_incidents_open";

/// Seconds: from a millisecond to a minute (lateness, claims, store writes).
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's recorder, installed on first use (the standalone center's agent shares it).
/// `None` if another recorder was installed first.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let b = PrometheusBuilder::new();
            // Every histogram gets buckets, so they aggregate across processes.
            let b = [FIRE_LATENESS, CLAIM_SECONDS, STORE_SECONDS]
                .iter()
                .try_fold(b, |b, name| {
                    b.set_buckets_for_metric(Matcher::Full((*name).to_string()), BUCKETS)
                })
                .ok()?;
            b.install_recorder().ok()
        })
        .as_ref()
}

/// The text exposition of everything recorded (Prometheus format 0.0.4).
pub fn render() -> String {
    match handle() {
        Some(h) => {
            h.run_upkeep();
            h.render()
        }
        None => String::new(),
    }
}

/// The `Content-Type` of [`render`]'s answer.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
