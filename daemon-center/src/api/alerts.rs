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
