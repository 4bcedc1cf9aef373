//! Node identity over HTTP: join tokens (admins), revoking a node's credential (admins), and
//! the join itself (under a join token).

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use cloudtask_shared::DEFAULT_CLUSTER;
use cloudtask_shared::api::{
    CreateJoinToken, IssuedToken, JoinRequest, JoinTokenView, NodeCredential,
};
use serde::Deserialize;

use super::{ApiResult, AppState, Caller};

pub async fn create_join_token(
    State(st): State<AppState>,
    who: Caller,
    body: Result<Json<CreateJoinToken>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<IssuedToken>)> {
    let Json(req) = body?;
    let max = st.service.max_token_ttl;
    let issued = st.service.create_join_token(&who, req, max).await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

pub async fn list_join_tokens(State(st): State<AppState>) -> ApiResult<Json<Vec<JoinTokenView>>> {
    Ok(Json(st.service.join_tokens().await?))
}

pub async fn revoke_join_token(
    State(st): State<AppState>,
    who: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    st.service.revoke_join_token(&who, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
pub struct ClusterQuery {
    pub cluster: Option<String>,
}

/// Revokes a node's credential (`?cluster=`, default `default`): its tasks move.
pub async fn revoke_node(
    State(st): State<AppState>,
    who: Caller,
    Path(name): Path<String>,
    q: Result<Query<ClusterQuery>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let Query(q) = q?;
    let cluster = q.cluster.as_deref().unwrap_or(DEFAULT_CLUSTER);
    st.service.revoke_node(&who, &name, cluster).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A node joins: its credential, shown once.
pub async fn join(
    State(st): State<AppState>,
    who: Caller,
    body: Result<Json<JoinRequest>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<NodeCredential>)> {
    let Json(req) = body?;
    let cluster = req.cluster.clone();
    let credential = st.service.join(&who, req).await?;
    // With ZooKeeper credentials only a center may lay out the node's cluster: now, before
    // the node registers (the allocator's rounds do it too, should this fail).
    if let Err(e) = st.sessions.current().prepare_cluster(&cluster).await {
        tracing::warn!(%cluster, error = %e, "could not lay out the cluster in the coordination service yet");
    }
    Ok((StatusCode::CREATED, Json(credential)))
}
