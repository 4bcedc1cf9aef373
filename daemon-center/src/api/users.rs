//! Logging in and out, who the caller is, and users with their grants.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use cloudtask_shared::api::{
    CreateToken, CreateUser, Grant, IssuedToken, LoginRequest, SetEmail, SetPassword, TokenView,
    UserView, WhoAmI,
};
use serde::Deserialize;

use super::{ApiResult, AppState, Caller, Peer};
use crate::store::UserRow;

fn view(u: UserRow) -> UserView {
    UserView {
        name: u.name,
        grants: u.grants,
        created_at: u.created_at,
        created_by: u.created_by,
        email: u.email,
    }
}

/// Checks a user's password and answers a session token (rate limited per user and address
/// and per address).
pub async fn login(
    State(st): State<AppState>,
    peer: Option<axum::Extension<Peer>>,
    body: Result<Json<LoginRequest>, JsonRejection>,
) -> ApiResult<Json<IssuedToken>> {
    let Json(req) = body?;
    let from = Peer::address(peer.as_deref());
    Ok(Json(
        st.credentials
            .login(&req.user, &req.password, &from)
            .await?,
    ))
}

/// Ends the session (or revokes the API token) the request came with.
pub async fn logout(State(st): State<AppState>, who: Caller) -> ApiResult<StatusCode> {
    st.service.logout(&who).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn whoami(who: Caller) -> Json<WhoAmI> {
    Json(WhoAmI {
        principal: who.label(),
        user: who.user_name().map(str::to_string),
        grants: who.grants.clone(),
        expires_at: who.expires_at,
    })
}

pub async fn list(State(st): State<AppState>) -> ApiResult<Json<Vec<UserView>>> {
    Ok(Json(
        st.store.users().await?.into_iter().map(view).collect(),
    ))
}

pub async fn create(
    State(st): State<AppState>,
    who: Caller,
    body: Result<Json<CreateUser>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    let Json(req) = body?;
    let user = st
        .service
        .create_user(&who, &req.name, req.password, req.grants, req.email)
        .await?;
    Ok((StatusCode::CREATED, Json(view(user))))
}

pub async fn set_email(
    State(st): State<AppState>,
    who: Caller,
    Path(name): Path<String>,
    body: Result<Json<SetEmail>, JsonRejection>,
) -> ApiResult<StatusCode> {
    let Json(req) = body?;
    st.service.set_email(&who, &name, req.email).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn remove(
    State(st): State<AppState>,
    who: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    st.service.remove_user(&who, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn set_password(
    State(st): State<AppState>,
    who: Caller,
    Path(name): Path<String>,
    body: Result<Json<SetPassword>, JsonRejection>,
) -> ApiResult<StatusCode> {
    let Json(req) = body?;
    st.service
        .set_password(&who, &name, req.password, req.current)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn grant(
    State(st): State<AppState>,
    who: Caller,
    Path(name): Path<String>,
    body: Result<Json<Grant>, JsonRejection>,
) -> ApiResult<Json<Vec<Grant>>> {
    let Json(g) = body?;
    Ok(Json(st.service.change_grant(&who, &name, g, true).await?))
}

/// `DELETE /users/{name}/grants?role=…&group=…`.
pub async fn revoke(
    State(st): State<AppState>,
    who: Caller,
    Path(name): Path<String>,
    q: Result<Query<Grant>, QueryRejection>,
) -> ApiResult<Json<Vec<Grant>>> {
    let Query(g) = q?;
    Ok(Json(st.service.change_grant(&who, &name, g, false).await?))
}

/// Makes an API token of the caller's user; the answer is the only time it is shown.
pub async fn create_token(
    State(st): State<AppState>,
    who: Caller,
    body: Result<Json<CreateToken>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<IssuedToken>)> {
    let Json(req) = body?;
    let max = st.service.max_token_ttl;
    let issued = st.service.create_token(&who, req, max).await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

#[derive(Debug, Deserialize)]
pub struct TokensQuery {
    /// Every user's tokens (admins).
    #[serde(default)]
    pub all: bool,
    /// Whose token to revoke (admins; default: the caller's own).
    pub user: Option<String>,
}

pub async fn list_tokens(
    State(st): State<AppState>,
    who: Caller,
    q: Result<Query<TokensQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<TokenView>>> {
    let Query(q) = q?;
    Ok(Json(st.service.tokens(&who, q.all).await?))
}

pub async fn revoke_token(
    State(st): State<AppState>,
    who: Caller,
    Path(name): Path<String>,
    q: Result<Query<TokensQuery>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let Query(q) = q?;
    st.service
        .revoke_token(&who, &name, q.user.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
