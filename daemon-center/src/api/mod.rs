//! The center's HTTP API under `/api/v1`: routing, authentication, and errors as
//! `{"error":{"code","message"}}` with proper status codes. Handlers parse the request, call
//! one operation of [`crate::service`] (or a store read) and format the answer.
//!
//! - [`tasks`]: tasks, their actions and packages.
//! - [`runs`]: runs, logs, nodes, the event stream and the agents' report endpoints.

mod runs;
mod tasks;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cloudtask_shared::api::{ErrorBody, ErrorCode, ErrorDetail};
use cloudtask_shared::coord::Sessions;
use cloudtask_shared::shutdown::Shutdown;
use tower_http::timeout::RequestBodyTimeoutLayer;

use crate::allocator::Placements;
use crate::auth::{Principal, Role, Tokens};
use crate::hub::Hub;
use crate::service::{Service, unparsable};
use crate::store::SharedStore;

/// Everything handlers share; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// For reads; every write goes through `service`.
    pub store: SharedStore,
    pub service: Service,
    pub hub: Hub,
    pub tokens: Tokens,
    pub placements: Placements,
    /// The coordination session (renewed after expiry), for live membership.
    pub sessions: Sessions,
    /// `standalone` or `cluster`, reported by `/version`.
    pub mode: &'static str,
    /// Turns true when the center stops: endless answers (event streams, followed logs) end.
    pub shutdown: Shutdown,
}

impl AppState {
    /// Resolves when the center starts shutting down.
    pub fn stopping(&self) -> impl std::future::Future<Output = ()> + Send + use<> {
        let shutdown = self.shutdown.clone();
        async move { shutdown.wait().await }
    }
}

/// An API error is the service's error: a code that names the problem (its status follows
/// from it) and a message.
pub type ApiError = crate::service::Error;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        (status, axum::Json(body)).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::new(ErrorCode::PayloadTooLarge, e.body_text());
        }
        unparsable(e.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        ApiError::new(ErrorCode::InvalidRequest, e.body_text())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// JSON bodies other than uploads stay small.
const MAX_JSON_BODY: usize = 1 << 20;

/// The API, behind its limits: at most `max_requests` handled at once (the rest shed with
/// 503 `busy`), and a request body that sends nothing for `idle` is cut.
pub fn router(state: AppState, max_requests: usize, idle: std::time::Duration) -> Router {
    let api = Router::new()
        .route("/version", get(runs::version))
        .route(
            "/clusters",
            get(tasks::list_clusters).post(tasks::create_cluster),
        )
        .route("/groups", get(tasks::list_groups).post(tasks::create_group))
        .route("/groups/{name}", axum::routing::delete(tasks::delete_group))
        .route("/tasks", get(tasks::list).post(tasks::create))
        .route(
            "/tasks/{task}",
            get(tasks::show).patch(tasks::patch).delete(tasks::delete),
        )
        .route("/tasks/{task}/next", get(tasks::next_fires))
        .route("/tasks/{task}/packages", get(tasks::package_history))
        .route("/tasks/{task}/runs", get(runs::task_runs))
        .route("/tasks/{task}/{action}", post(tasks::action))
        .route("/runs", get(runs::all_runs))
        .route("/runs/{id}", get(runs::show))
        .route("/runs/{id}/log", get(runs::log))
        .route("/nodes", get(runs::nodes))
        .route("/events", get(runs::events))
        .route("/audit", get(runs::audit))
        .route("/packages/{sha256}", get(tasks::download_package))
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
        // Agents' reports carry run logs: their own, larger limit.
        .merge(
            Router::new()
                .route("/agent/runs", post(runs::report))
                .route("/agent/output", post(runs::output))
                .route("/agent/active", post(runs::active))
                .layer(DefaultBodyLimit::max(
                    cloudtask_shared::api::AGENT_BODY_LIMIT,
                )),
        )
        // Uploads stream to disk under their own limit, so the JSON limit does not apply.
        .merge(
            Router::new()
                .route("/packages", post(tasks::upload_package))
                .route("/tasks/{task}/package", post(tasks::upload_task_package))
                .layer(DefaultBodyLimit::disable()),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authenticate,
        ));
    Router::new()
        .route("/api/v1/health", get(runs::health))
        .route("/api/v1/ready", get(runs::ready))
        .nest("/api/v1", api)
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such endpoint") })
        .with_state(state)
        .layer(
            tower::ServiceBuilder::new()
                .layer(HandleErrorLayer::new(move |_: tower::BoxError| async move {
                    ApiError::new(
                        ErrorCode::Busy,
                        format!("the center is handling {max_requests} requests already; retry shortly"),
                    )
                }))
                .load_shed()
                // Global: a plain concurrency limit would count each route on its own.
                .layer(tower::limit::GlobalConcurrencyLimitLayer::new(max_requests))
                .layer(RequestBodyTimeoutLayer::new(idle)),
        )
}

/// Checks the bearer token and what its role may reach; stores the caller for handlers.
async fn authenticate(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(token) = token else {
        return ApiError::new(
            ErrorCode::Unauthorized,
            "missing bearer token: send 'Authorization: Bearer <token>'",
        )
        .into_response();
    };
    let Some(principal) = st.tokens.check(token) else {
        return ApiError::new(ErrorCode::Unauthorized, "invalid token").into_response();
    };
    if principal.role == Role::Agent && !agent_may(req.method(), req.uri().path()) {
        return ApiError::new(
            ErrorCode::Forbidden,
            format!(
                "agent tokens may not call {} {}",
                req.method(),
                req.uri().path()
            ),
        )
        .into_response();
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}

/// Agents read task specs and packages, report runs and follow events; nothing else.
fn agent_may(method: &Method, path: &str) -> bool {
    let path = path.trim_start_matches("/api/v1");
    if path.starts_with("/agent/") {
        return true;
    }
    if method != Method::GET {
        return false;
    }
    path == "/events"
        || path.starts_with("/packages/")
        || (path.starts_with("/tasks/") && path.matches('/').count() == 2)
}

/// The caller, as authenticated.
pub type Caller = axum::Extension<Principal>;
