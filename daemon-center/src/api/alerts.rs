//! Incidents (list, show, acknowledge) and the notification channels (status, test).

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use cloudtask_shared::api::{
    CreateSilence, ErrorCode, Incident, NotifyStatus, NotifyTest, NotifyTestAnswer, Silence,
};
use serde::Deserialize;

use super::{ApiError, ApiResult, AppState, Caller};
use crate::store::IncidentFilter;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsQuery {
    /// Resolved ones too.
    #[serde(default)]
    all: bool,
    /// One task's (by id, or by name with `group`).
    task: Option<String>,
    group: Option<String>,
    limit: Option<u32>,
}

pub async fn list(
    State(st): State<AppState>,
    who: Caller,
    q: Result<Query<AlertsQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<Incident>>> {
    let Query(q) = q?;
    let subject = match &q.task {
        Some(t) => Some(st.service.resolve(t, q.group.as_deref()).await?.id),
        None => None,
    };
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > 10_000 {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "limit: between 1 and 10000",
        ));
    }
    let filter = IncidentFilter {
        open: !q.all,
        subject,
        groups: super::runs::readable_groups(&st, &who).await?,
        limit,
    };
    Ok(Json(st.store.incidents(&filter).await?))
}

pub async fn show(
    State(st): State<AppState>,
    who: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Incident>> {
    Ok(Json(st.service.incident(&who, &id).await?))
}

pub async fn ack(
    State(st): State<AppState>,
    who: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Incident>> {
    Ok(Json(st.service.ack_incident(&who, &id).await?))
}

pub async fn notify_status(State(st): State<AppState>) -> ApiResult<Json<NotifyStatus>> {
    Ok(Json(st.service.notify_status().await?))
}

pub async fn notify_test(
    State(st): State<AppState>,
    who: Caller,
    body: Result<Json<NotifyTest>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<NotifyTestAnswer>)> {
    let Json(t) = body?;
    Ok((
        StatusCode::ACCEPTED,
        Json(st.service.notify_test(&who, t).await?),
    ))
}

pub async fn list_silences(
    State(st): State<AppState>,
    who: Caller,
) -> ApiResult<Json<Vec<Silence>>> {
    Ok(Json(st.service.silences(&who).await?))
}

pub async fn create_silence(
    State(st): State<AppState>,
    who: Caller,
    body: Result<Json<CreateSilence>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Silence>)> {
    let Json(c) = body?;
    Ok((
        StatusCode::CREATED,
        Json(st.service.create_silence(&who, c).await?),
    ))
}

pub async fn delete_silence(
    State(st): State<AppState>,
    who: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    st.service.delete_silence(&who, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /metrics`: Prometheus text; the gauges that are states (leadership, queues) are read
/// now, the counters and histograms are what this process recorded.
pub async fn metrics(State(st): State<AppState>) -> ApiResult<impl axum::response::IntoResponse> {
    use cloudtask_daemon_kit::metrics as m;
    metrics::gauge!(m::LEADER).set(if st.placements.leading() { 1.0 } else { 0.0 });
    for c in cloudtask_shared::Channel::ALL {
        let n = st.store.channel_counts(c).await?;
        metrics::gauge!(m::NOTIFY_QUEUED, "channel" => c.as_str()).set(n.queued as f64);
        metrics::gauge!(m::NOTIFY_DEAD, "channel" => c.as_str()).set(n.dead as f64);
    }
    let open = st
        .store
        .incidents(&IncidentFilter {
            open: true,
            limit: 100_000,
            ..IncidentFilter::default()
        })
        .await?;
    metrics::gauge!(m::INCIDENTS_OPEN).set(open.len() as f64);
    let patience = std::time::Duration::from_secs(2);
    let up = matches!(
        tokio::time::timeout(patience, st.sessions.current().clusters()).await,
        Ok(Ok(_))
    );
    metrics::gauge!(m::SESSION_UP, "daemon" => "center").set(if up { 1.0 } else { 0.0 });
    Ok((
        [(axum::http::header::CONTENT_TYPE, m::CONTENT_TYPE)],
        m::render(),
    ))
}
