//! Runs and their logs (whole, or followed live), nodes, the event stream, and the endpoints
//! agents report through.

use std::collections::VecDeque;
use std::convert::Infallible;

use axum::body::Body;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{self, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use cloudtask_shared::api::{
    ActiveStatement, ErrorCode, Event, NodeView, OutputChunk, ReportAnswer, RunReport, VersionInfo,
};
use cloudtask_shared::{RunRecord, RunStatus, parse_duration_ms};
use futures_util::Stream;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use tokio::sync::broadcast;

use super::{ApiError, ApiResult, AppState, Caller, Target, credential_ends};
use crate::auth::Principal;
use crate::auth::policy::{self, Action, Scope};
use crate::store::{NameTable, RunFilter};

/// Liveness: the process answers.
pub async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: the store answers a query and the coordination backend a read, each within
/// 2 s; 503 naming which does not (the detail goes to the log, not to this unauthenticated
/// answer).
pub async fn ready(State(st): State<AppState>) -> Response {
    let patience = std::time::Duration::from_secs(2);
    let store = match tokio::time::timeout(patience, st.store.tasks_fingerprint()).await {
        Ok(Ok(_)) => "ok",
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the store fails");
            "failing"
        }
        Err(_) => "timed out",
    };
    let coordination = match tokio::time::timeout(patience, st.sessions.current().clusters()).await
    {
        Ok(Ok(_)) => "ok",
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: coordination fails");
            "failing"
        }
        Err(_) => "timed out",
    };
    let ready = store == "ok" && coordination == "ok";
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "unready" },
        "store": store,
        "coordination": coordination,
    });
    (status, Json(body)).into_response()
}

pub async fn version(State(st): State<AppState>) -> Json<VersionInfo> {
    Json(VersionInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        mode: st.mode.to_string(),
        leader: st.placements.leading(),
    })
}

#[derive(Debug, Deserialize)]
pub struct RunsQuery {
    /// Comma-separated statuses.
    pub status: Option<String>,
    /// RFC 3339 instant, or a duration back from now (`2h`).
    pub since: Option<String>,
    pub until: Option<String>,
    pub limit: Option<u32>,
}

/// A listing's `since` and `until`, each an RFC 3339 instant or a duration back from now.
fn window(
    since: Option<&str>,
    until: Option<&str>,
) -> ApiResult<(Option<Timestamp>, Option<Timestamp>)> {
    Ok((
        since.map(|s| instant("since", s)).transpose()?,
        until.map(|s| instant("until", s)).transpose()?,
    ))
}

fn instant(field: &str, text: &str) -> ApiResult<Timestamp> {
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(t);
    }
    let ms = parse_duration_ms(text).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidRequest,
            format!("{field}: {e}, nor an RFC 3339 instant"),
        )
    })?;
    Timestamp::now()
        .checked_sub(SignedDuration::from_millis(ms as i64))
        .map_err(|e| ApiError::new(ErrorCode::InvalidRequest, format!("{field}: {e}")))
}

pub async fn task_runs(
    State(st): State<AppState>,
    Extension(task): Target,
    q: Result<Query<RunsQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<RunRecord>>> {
    let Query(q) = q?;
    Ok(Json(st.store.runs(&run_filter(Some(task.id), &q)?).await?))
}

/// Runs of every task the caller may read, newest first, with the same filters as a task's
/// runs.
pub async fn all_runs(
    State(st): State<AppState>,
    who: Caller,
    q: Result<Query<RunsQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<RunRecord>>> {
    let Query(q) = q?;
    let mut filter = run_filter(None, &q)?;
    filter.groups = readable_groups(&st, &who).await?;
    Ok(Json(st.store.runs(&filter).await?))
}

/// The groups `who` may read, `None` when it may read them all.
pub(super) async fn readable_groups(
    st: &AppState,
    who: &Principal,
) -> ApiResult<Option<Vec<String>>> {
    if policy::allows(who, Action::Read, Scope::AllGroups).is_ok() {
        return Ok(None);
    }
    let known = st.store.names(NameTable::Groups).await?;
    Ok(Some(
        known
            .into_iter()
            .map(|(g, _)| g)
            .filter(|g| policy::may_read(who, g))
            .collect(),
    ))
}

fn run_filter(task: Option<String>, q: &RunsQuery) -> ApiResult<RunFilter> {
    let statuses = match &q.status {
        Some(s) => s
            .split(',')
            .map(|x| {
                x.trim()
                    .parse::<RunStatus>()
                    .map_err(|e| ApiError::new(ErrorCode::InvalidRequest, format!("status: {e}")))
            })
            .collect::<ApiResult<Vec<_>>>()?,
        None => vec![],
    };
    let (since, until) = window(q.since.as_deref(), q.until.as_deref())?;
    Ok(RunFilter {
        task,
        groups: None,
        statuses,
        since,
        until,
        limit: q.limit.unwrap_or(100).min(10_000),
    })
}

/// The run, as the gate read it.
pub async fn show(Extension(run): Extension<RunRecord>) -> Json<RunRecord> {
    Json(run)
}

#[derive(Debug, Deserialize)]
pub struct LogQuery {
    #[serde(default)]
    pub follow: bool,
    /// Only the live output this center received, nothing from the store and nothing
    /// relayed from others: what one center asks another for (see `relay`).
    #[serde(default)]
    pub relayed: bool,
}

fn text(body: Body) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// The run's log; with `follow=true` on an unfinished run, its output as it comes, ending
/// when the run ends: what its agent sent here, and what the other centers relay.
pub async fn log(
    State(st): State<AppState>,
    Extension(run): Extension<RunRecord>,
    headers: axum::http::HeaderMap,
    q: Result<Query<LogQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = q?;
    let id = run.id.clone();
    if q.relayed {
        return relayed_output(&st, &run).await;
    }
    if !q.follow || run.status.is_terminal() {
        return stored_log(&st, &id).await;
    }
    let (so_far, rx) = st.hub.follow(&id);
    // It may have ended between the two reads: then the stored log is the whole story.
    if ended(&st, &id).await? {
        return stored_log(&st, &id).await;
    }
    // The gate let this credential in, so every center sharing the store takes it too.
    let bearer = super::bearer(&headers).unwrap_or_default();
    let peers = Some(st.peers.follow(&id, bearer).await);
    // Live output and the final report travel separately: output the run printed just before
    // it ended may arrive after the end. When the live stream closes, the stored log (the
    // same lines) supplies whatever the follower has not seen.
    let sent = so_far.len();
    let store = st.store.clone();
    let live = futures_util::stream::unfold(
        (Some(rx), peers, sent),
        move |(rx, mut peers, sent)| {
            let (store, id) = (store.clone(), id.clone());
            async move {
                let mut rx = rx?;
                let chunk = tokio::select! {
                    r = rx.recv() => match r {
                        Ok(chunk) => chunk,
                        Err(broadcast::error::RecvError::Lagged(n)) => format!(
                            "[cloudtask: {n} live chunks dropped; the stored log is complete]\n"
                        ),
                        Err(broadcast::error::RecvError::Closed) => {
                            let stored = store.run_log(&id).await.ok().flatten().unwrap_or_default();
                            let rest = stored.get(sent..).unwrap_or_default().to_string();
                            return Some((Ok::<_, Infallible>(rest), (None, None, sent)));
                        }
                    },
                    Some(chunk) = relayed_chunk(&mut peers) => chunk,
                };
                let sent = sent + chunk.len();
                Some((Ok(chunk), (Some(rx), peers, sent)))
            }
        },
    );
    Ok(live_text(&st, so_far, live))
}

/// A followed log's answer: what was buffered, then `live`, until the center stops (the
/// client reads the rest from the store later).
fn live_text(
    st: &AppState,
    so_far: String,
    live: impl Stream<Item = Result<String, Infallible>> + Send + 'static,
) -> Response {
    let stream =
        futures_util::StreamExt::chain(futures_util::stream::once(async move { Ok(so_far) }), live);
    let stream = futures_util::StreamExt::take_until(stream, st.stopping());
    text(Body::from_stream(stream))
}

/// The next chunk another center relayed; `None` (and no more asking) once they all ended.
async fn relayed_chunk(peers: &mut Option<tokio::sync::mpsc::Receiver<String>>) -> Option<String> {
    let chunk = peers.as_mut()?.recv().await;
    if chunk.is_none() {
        *peers = None;
    }
    chunk
}

/// Whether the store has the run finished; if so its live buffer here is let go.
async fn ended(st: &AppState, id: &str) -> ApiResult<bool> {
    let ended = st
        .store
        .run(id)
        .await?
        .is_some_and(|r| r.status.is_terminal());
    if ended {
        st.hub.finish(id);
    }
    Ok(ended)
}

/// What this center's hub holds and receives of a run's live output, until the run ends.
async fn relayed_output(st: &AppState, run: &RunRecord) -> ApiResult<Response> {
    if run.status.is_terminal() {
        return Ok(text(Body::empty()));
    }
    let (so_far, rx) = st.hub.follow(&run.id);
    if ended(st, &run.id).await? {
        return Ok(text(Body::empty()));
    }
    let live = futures_util::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(chunk) => return Some((Ok::<_, Infallible>(chunk), rx)),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Ok(live_text(st, so_far, live))
}

async fn stored_log(st: &AppState, id: &str) -> ApiResult<Response> {
    Ok(text(Body::from(
        st.store.run_log(id).await?.unwrap_or_default(),
    )))
}

#[derive(Debug, Deserialize)]
pub struct NodesQuery {
    pub cluster: Option<String>,
}

pub async fn nodes(
    State(st): State<AppState>,
    q: Result<Query<NodesQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<NodeView>>> {
    let Query(q) = q?;
    let clusters = match q.cluster {
        Some(c) => vec![c],
        None => st
            .sessions
            .current()
            .clusters()
            .await
            .map_err(ApiError::internal)?,
    };
    let mut out = Vec::new();
    for c in clusters {
        for info in st
            .sessions
            .current()
            .members(&c)
            .await
            .map_err(ApiError::internal)?
        {
            let tasks = st.placements.count_on(&info.name);
            out.push(NodeView { info, tasks });
        }
    }
    Ok(Json(out))
}

#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    /// Only the commands (run now, stop) addressed to this node: what an agent follows.
    pub node: Option<String>,
}

fn wanted(ev: &Event, node: Option<&str>) -> bool {
    match (node, ev) {
        (None, _) => true,
        (Some(me), Event::RunRequested { node, .. } | Event::StopRequested { node, .. }) => {
            node == me
        }
        (Some(_), _) => false,
    }
}

/// Server-sent events of every change (or, with `node`, of that node's commands); a subscriber
/// that falls behind gets a `lagged` event and should re-read what it shows. An agent's stream
/// (`node`) starts with the run requests for that node still waiting to be taken, and gets
/// them again instead of `lagged`: a request made while its stream was down or behind is not
/// lost with the broadcast.
pub async fn events(
    State(st): State<AppState>,
    who: Caller,
    q: Result<Query<EventsQuery>, QueryRejection>,
) -> ApiResult<Sse<impl Stream<Item = Result<sse::Event, Infallible>>>> {
    let Query(q) = q?;
    // A caller that may not read every group sees only the events of the groups it may; a
    // node (the gate saw to it) only its own commands.
    let reader = (who.node_of().is_none()
        && policy::allows(&who, Action::Read, Scope::AllGroups).is_err())
    .then(|| who.0.clone());
    let hub = st.hub.clone();
    let visible = move |ev: &Event| match (&reader, hub.group_of(ev)) {
        (None, _) | (Some(_), None) => true,
        (Some(p), Some(Some(g))) => policy::may_read(p, &g),
        (Some(_), Some(None)) => false,
    };
    // Subscribe before reading what is pending: a request committed in between comes twice
    // (agents handle each run id once), never not at all.
    let rx = match q.node {
        Some(_) => st.hub.subscribe_commands(),
        None => st.hub.subscribe(),
    };
    let pending: VecDeque<Event> = match &q.node {
        Some(node) => st.service.pending_requests(node).await?.into(),
        None => VecDeque::new(),
    };
    let service = st.service.clone();
    let stream =
        futures_util::stream::unfold((rx, q.node, pending), move |(mut rx, node, mut pending)| {
            let service = service.clone();
            let visible = visible.clone();
            async move {
                let ev = loop {
                    if let Some(ev) = pending.pop_front() {
                        if !visible(&ev) {
                            continue;
                        }
                        break encode(&ev);
                    }
                    match rx.recv().await {
                        Ok(ev) if !wanted(&ev, node.as_deref()) || !visible(&ev) => continue,
                        Ok(ev) => break encode(&ev),
                        Err(broadcast::error::RecvError::Lagged(n)) => match node.as_deref() {
                            Some(me) => match service.pending_requests(me).await {
                                Ok(again) => pending = again.into(),
                                // Without the store, the agent is told it missed events.
                                Err(_) => {
                                    break sse::Event::default()
                                        .event("lagged")
                                        .data(n.to_string());
                                }
                            },
                            None => {
                                break sse::Event::default().event("lagged").data(n.to_string());
                            }
                        },
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                };
                Some((Ok(ev), (rx, node, pending)))
            }
        });
    // A stopping center ends its streams, so that graceful shutdown does not wait on them;
    // a revoked or expired credential ends its own.
    let ends = credential_ends(&st, &who);
    let stream = futures_util::StreamExt::take_until(stream, async move {
        tokio::select! {
            () = st.stopping() => {}
            () = ends => {}
        }
    });
    // Every 5 s, so a client's idle timeout (the agent's `--stream-idle-timeout`) can tell a
    // quiet stream from a dead one.
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(std::time::Duration::from_secs(5))))
}

fn encode(ev: &Event) -> sse::Event {
    sse::Event::default()
        .json_data(ev)
        .unwrap_or_else(|e| sse::Event::default().comment(format!("unencodable event: {e}")))
}

/// A batch of a node's run reports: those it may make are stored idempotently in one
/// transaction (the outbox announces the runs that moved); the answer lists the refused ones,
/// of which nothing is stored.
pub async fn report(
    State(st): State<AppState>,
    who: Caller,
    body: Result<Json<Vec<RunReport>>, JsonRejection>,
) -> ApiResult<Json<ReportAnswer>> {
    let Json(reports) = body?;
    let (keep, refused) = st.service.screen_reports(&who, &reports).await?;
    for run in st.service.record_reports(&keep).await? {
        st.hub.finish(&run);
    }
    Ok(Json(ReportAnswer { refused }))
}

/// An agent's statement of its active runs: the runs it does not know are reaped `lost`.
pub async fn active(
    State(st): State<AppState>,
    who: Caller,
    body: Result<Json<ActiveStatement>, JsonRejection>,
) -> ApiResult<StatusCode> {
    let Json(statement) = body?;
    policy::speaks_for(&who, &statement.node)
        .map_err(|policy::Denied(m)| ApiError::new(ErrorCode::Forbidden, m))?;
    st.service.reap_orphans(&statement).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    /// RFC 3339 instant, or a duration back from now (`2h`).
    pub since: Option<String>,
    pub until: Option<String>,
    /// A user (its API tokens' rows too), or any actor by its full name (`node:NAME`).
    pub user: Option<String>,
    /// A task, by id or name (`group` narrows a name); a deleted task by its id.
    pub task: Option<String>,
    pub group: Option<String>,
    pub action: Option<String>,
    pub limit: Option<u32>,
}

/// The audit log, newest first, filtered (`limit`, default 100, at most 10,000).
pub async fn audit(
    State(st): State<AppState>,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<crate::store::AuditEntry>>> {
    let Query(q) = q?;
    let target = match &q.task {
        None => None,
        Some(t) => match st.service.resolve(t, q.group.as_deref()).await {
            Ok(task) => Some(task.id),
            Err(e) if e.code == ErrorCode::TaskNotFound => Some(t.clone()),
            Err(e) => return Err(e),
        },
    };
    let (since, until) = window(q.since.as_deref(), q.until.as_deref())?;
    let filter = crate::store::AuditFilter {
        since,
        until,
        actor: q.user,
        target,
        group: q.group,
        action: q.action,
        limit: q.limit.unwrap_or(100).min(10_000),
    };
    Ok(Json(st.store.audit_log(&filter).await?))
}

/// Live output of a node's running runs; chunks of runs the store has on another node are
/// dropped (a node writes only into its own runs' logs).
pub async fn output(
    State(st): State<AppState>,
    who: Caller,
    body: Result<Json<Vec<OutputChunk>>, JsonRejection>,
) -> ApiResult<StatusCode> {
    let Json(chunks) = body?;
    let Some((me, _)) = who.node_of() else {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            format!("forbidden: {} is not a node", who.name),
        ));
    };
    let ids: Vec<&str> = chunks.iter().map(|c| c.run.as_str()).collect();
    let owners = st.store.run_statuses(&ids).await?;
    for c in &chunks {
        match owners.get(&c.run) {
            Some((_, node)) if node == me => st.hub.append(&c.run, &c.data),
            _ => {
                tracing::debug!(node = me, run = %c.run, "live output of a run not this node's dropped")
            }
        }
    }
    Ok(StatusCode::NO_CONTENT)
}
