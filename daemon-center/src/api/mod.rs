//! The center's HTTP API under `/api/v1`: routing, authentication, and errors as
//! `{"error":{"code","message"}}` with proper status codes. Handlers parse the request, call
//! one operation of [`crate::service`] (or a store read) and format the answer.
//!
//! - [`tasks`]: tasks, their actions and packages.
//! - [`runs`]: runs, logs, nodes, the event stream and the agents' report endpoints.
//! - [`users`]: logins, users and their grants.
//! - [`nodes`]: join tokens, node credentials, joining.
//!
//! Every route is declared once in [`routes`] with its [`Rule`]: the action it does and
//! what it acts on. [`gate`] enforces the rule before the handler runs, with
//! [`policy::allows`] deciding; the README's policy table is the same table.

mod alerts;
mod nodes;
mod runs;
mod tasks;
mod users;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequestParts, Query, RawPathParams, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, patch, post, put};
use cloudtask_shared::api::TaskAction;
use cloudtask_shared::api::{ErrorBody, ErrorCode, ErrorDetail};
use cloudtask_shared::coord::Sessions;
use cloudtask_shared::shutdown::Shutdown;
use serde::Deserialize;
use tower_http::timeout::RequestBodyTimeoutLayer;

use crate::allocator::Placements;
use crate::auth::policy::{self, Action, Denied, Scope};
use crate::auth::{Credentials, Principal, Who};
use crate::hub::Hub;
use crate::service::{Service, unparsable};
use crate::store::{Placement, SharedStore};

/// Everything handlers share; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// For reads; every write goes through `service`.
    pub store: SharedStore,
    pub service: Service,
    pub hub: Hub,
    pub credentials: Credentials,
    pub placements: Placements,
    /// The coordination session (renewed after expiry), for live membership.
    pub sessions: Sessions,
    /// The other centers, which relay live output of runs whose agents report to them.
    pub peers: crate::relay::Peers,
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

/// A refusal a handler (its service operation) answered: the gate audits it as it audits its
/// own.
#[derive(Debug, Clone)]
struct Refusal(String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let refusal = (self.code == ErrorCode::Forbidden).then(|| Refusal(self.message.clone()));
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        let mut resp = (status, axum::Json(body)).into_response();
        if let Some(r) = refusal {
            resp.extensions_mut().insert(r);
        }
        resp
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

/// Who may call a route: nobody needs a token, or a principal the policy lets do `action`
/// on `resource`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Public,
    Gated(Action, Resource),
}

/// What a gated route acts on, which decides the group its action is checked in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// Nothing of a group (users, clusters, nodes): the action alone decides.
    Cluster,
    /// The task in the path (`{task}`, by id or by name with `?group=`): the gate resolves it,
    /// its group decides, and the handler gets it as an [`Extension`](axum::Extension).
    Task,
    /// The run in the path (`{id}`): its task's group decides; the handler gets the run.
    Run,
    /// The package in the path (`{sha256}`): the groups of the tasks that have had it.
    Package,
    /// A listing (tasks, runs, events): the handler shows only the groups the caller may read.
    Listing,
    /// The group is in the body (a new task, an upload): the gate asks for the action in some
    /// group and the service checks the body's group before it writes.
    Body,
    /// The user in the path: that user itself (its session), or an admin.
    User,
    /// The event stream: users see the groups they may read; a node only its own commands
    /// (`?node=` its own name).
    Stream,
}

/// The limit a route's body is read under.
#[derive(Debug, Clone, Copy)]
enum BodyLimit {
    Json,
    /// Agents' reports carry run logs.
    Agent,
    /// Uploads stream to disk under their own limit.
    Upload,
}

/// One route: its method and path, its rule and its handler. The router is built from
/// [`routes`] only, so a route cannot exist without a rule.
struct Route {
    method: Method,
    path: &'static str,
    rule: Rule,
    body: BodyLimit,
    handler: MethodRouter<AppState>,
}

fn r(method: Method, path: &'static str, rule: Rule, handler: MethodRouter<AppState>) -> Route {
    Route {
        method,
        path,
        rule,
        body: BodyLimit::Json,
        handler,
    }
}

fn gated(action: Action, resource: Resource) -> Rule {
    Rule::Gated(action, resource)
}

/// Every route of `/api/v1`, with the rule that guards it (the README's policy table).
fn routes() -> Vec<Route> {
    use Action::*;
    use Resource::*;
    let mut v = vec![
        r(Method::GET, "/health", Rule::Public, get(runs::health)),
        r(Method::GET, "/ready", Rule::Public, get(runs::ready)),
        r(Method::POST, "/login", Rule::Public, post(users::login)),
        r(
            Method::POST,
            "/logout",
            gated(Authenticated, Cluster),
            post(users::logout),
        ),
        r(
            Method::GET,
            "/whoami",
            gated(Authenticated, Cluster),
            get(users::whoami),
        ),
        r(
            Method::GET,
            "/version",
            gated(Authenticated, Cluster),
            get(runs::version),
        ),
        r(
            Method::GET,
            "/clusters",
            gated(ReadCluster, Cluster),
            get(tasks::list_clusters),
        ),
        r(
            Method::POST,
            "/clusters",
            gated(Administer, Cluster),
            post(tasks::create_cluster),
        ),
        r(
            Method::GET,
            "/groups",
            gated(ReadCluster, Cluster),
            get(tasks::list_groups),
        ),
        r(
            Method::POST,
            "/groups",
            gated(Administer, Cluster),
            post(tasks::create_group),
        ),
        r(
            Method::DELETE,
            "/groups/{name}",
            gated(Administer, Cluster),
            delete(tasks::delete_group),
        ),
        r(
            Method::GET,
            "/nodes",
            gated(ReadCluster, Cluster),
            get(runs::nodes),
        ),
        r(
            Method::GET,
            "/tasks",
            gated(Read, Listing),
            get(tasks::list),
        ),
        r(
            Method::POST,
            "/tasks",
            gated(Edit, Body),
            post(tasks::create),
        ),
        r(
            Method::GET,
            "/tasks/{task}",
            gated(Read, Task),
            get(tasks::show),
        ),
        r(
            Method::PATCH,
            "/tasks/{task}",
            gated(Edit, Task),
            patch(tasks::patch),
        ),
        r(
            Method::DELETE,
            "/tasks/{task}",
            gated(Edit, Task),
            delete(tasks::delete),
        ),
        r(
            Method::GET,
            "/tasks/{task}/next",
            gated(Read, Task),
            get(tasks::next_fires),
        ),
        r(
            Method::GET,
            "/tasks/{task}/packages",
            gated(Read, Task),
            get(tasks::package_history),
        ),
        r(
            Method::GET,
            "/tasks/{task}/runs",
            gated(Read, Task),
            get(runs::task_runs),
        ),
        r(
            Method::POST,
            "/tasks/{task}/pause",
            gated(Operate, Task),
            tasks::action(TaskAction::Pause),
        ),
        r(
            Method::POST,
            "/tasks/{task}/resume",
            gated(Operate, Task),
            tasks::action(TaskAction::Resume),
        ),
        r(
            Method::POST,
            "/tasks/{task}/start",
            gated(Operate, Task),
            tasks::action(TaskAction::Start),
        ),
        r(
            Method::POST,
            "/tasks/{task}/stop",
            gated(Operate, Task),
            tasks::action(TaskAction::Stop),
        ),
        r(
            Method::POST,
            "/tasks/{task}/clone",
            gated(Edit, Task),
            tasks::action(TaskAction::Clone),
        ),
        r(
            Method::GET,
            "/runs",
            gated(Read, Listing),
            get(runs::all_runs),
        ),
        r(Method::GET, "/runs/{id}", gated(Read, Run), get(runs::show)),
        r(
            Method::GET,
            "/runs/{id}/log",
            gated(Read, Run),
            get(runs::log),
        ),
        r(
            Method::GET,
            "/events",
            gated(Read, Stream),
            get(runs::events),
        ),
        r(
            Method::GET,
            "/audit",
            gated(Administer, Cluster),
            get(runs::audit),
        ),
        r(
            Method::GET,
            "/alerts",
            gated(Read, Listing),
            get(alerts::list),
        ),
        r(
            Method::GET,
            "/alerts/{incident}",
            gated(Read, Listing),
            get(alerts::show),
        ),
        r(
            Method::POST,
            "/alerts/{incident}/ack",
            gated(Operate, Body),
            post(alerts::ack),
        ),
        r(
            Method::GET,
            "/metrics",
            gated(ReadCluster, Cluster),
            get(alerts::metrics),
        ),
        r(
            Method::GET,
            "/silences",
            gated(Read, Listing),
            get(alerts::list_silences),
        ),
        r(
            Method::POST,
            "/silences",
            gated(Operate, Body),
            post(alerts::create_silence),
        ),
        r(
            Method::DELETE,
            "/silences/{silence}",
            gated(Operate, Body),
            delete(alerts::delete_silence),
        ),
        r(
            Method::GET,
            "/notify/status",
            gated(Administer, Cluster),
            get(alerts::notify_status),
        ),
        r(
            Method::POST,
            "/notify/test",
            gated(Administer, Cluster),
            post(alerts::notify_test),
        ),
        r(
            Method::GET,
            "/packages/{sha256}",
            gated(Read, Package),
            get(tasks::download_package),
        ),
        r(
            Method::GET,
            "/users",
            gated(Administer, Cluster),
            get(users::list),
        ),
        r(
            Method::POST,
            "/users",
            gated(Administer, Cluster),
            post(users::create),
        ),
        r(
            Method::DELETE,
            "/users/{name}",
            gated(Administer, Cluster),
            delete(users::remove),
        ),
        r(
            Method::PUT,
            "/users/{name}/password",
            gated(Authenticated, User),
            put(users::set_password),
        ),
        r(
            Method::PUT,
            "/users/{name}/email",
            gated(Authenticated, User),
            put(users::set_email),
        ),
        r(
            Method::POST,
            "/users/{name}/grants",
            gated(Administer, Cluster),
            post(users::grant),
        ),
        r(
            Method::DELETE,
            "/users/{name}/grants",
            gated(Administer, Cluster),
            delete(users::revoke),
        ),
        r(
            Method::GET,
            "/tokens",
            gated(OwnTokens, Cluster),
            get(users::list_tokens),
        ),
        r(
            Method::POST,
            "/tokens",
            gated(OwnTokens, Cluster),
            post(users::create_token),
        ),
        r(
            Method::DELETE,
            "/tokens/{name}",
            gated(OwnTokens, Cluster),
            delete(users::revoke_token),
        ),
        r(
            Method::GET,
            "/join-tokens",
            gated(Administer, Cluster),
            get(nodes::list_join_tokens),
        ),
        r(
            Method::POST,
            "/join-tokens",
            gated(Administer, Cluster),
            post(nodes::create_join_token),
        ),
        r(
            Method::DELETE,
            "/join-tokens/{name}",
            gated(Administer, Cluster),
            delete(nodes::revoke_join_token),
        ),
        r(
            Method::DELETE,
            "/nodes/{name}/credential",
            gated(Administer, Cluster),
            delete(nodes::revoke_node),
        ),
        r(
            Method::POST,
            "/agent/join",
            gated(Join, Cluster),
            post(nodes::join),
        ),
    ];
    for (path, handler) in [
        ("/agent/runs", post(runs::report)),
        ("/agent/output", post(runs::output)),
        ("/agent/active", post(runs::active)),
    ] {
        v.push(Route {
            body: BodyLimit::Agent,
            ..r(Method::POST, path, gated(Report, Cluster), handler)
        });
    }
    for (path, rule, handler) in [
        ("/packages", gated(Edit, Body), post(tasks::upload_package)),
        (
            "/tasks/{task}/package",
            gated(Edit, Task),
            post(tasks::upload_task_package),
        ),
    ] {
        v.push(Route {
            body: BodyLimit::Upload,
            ..r(Method::POST, path, rule, handler)
        });
    }
    v
}

/// Every route as `(method, path, rule)`, for the policy tests.
#[cfg(test)]
pub fn rules() -> Vec<(Method, &'static str, Rule)> {
    routes()
        .into_iter()
        .map(|r| (r.method, r.path, r.rule))
        .collect()
}

/// The API, behind its limits: at most `max_requests` handled at once (the rest shed with
/// 503 `busy`), and a request body that sends nothing for `idle` is cut. Each route runs
/// behind [`gate`] with its own rule.
pub fn router(state: AppState, max_requests: usize, idle: std::time::Duration) -> Router {
    let mut api = Router::new();
    for route in routes() {
        tracing::trace!(method = %route.method, path = route.path, rule = ?route.rule, "route");
        let limit = match route.body {
            BodyLimit::Json => DefaultBodyLimit::max(MAX_JSON_BODY),
            BodyLimit::Agent => DefaultBodyLimit::max(cloudtask_shared::api::AGENT_BODY_LIMIT),
            BodyLimit::Upload => DefaultBodyLimit::disable(),
        };
        let handler = route.handler.layer(limit);
        let handler = match route.rule {
            Rule::Public => handler,
            Rule::Gated(action, resource) => handler.route_layer(
                axum::middleware::from_fn_with_state((state.clone(), action, resource), gate),
            ),
        };
        api = api.route(route.path, handler);
    }
    Router::new()
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

/// The address a request came from (set per connection by the server).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub std::net::SocketAddr);

impl Peer {
    /// The caller's address, for rate limits and audit rows: the IP without the port.
    pub fn address(peer: Option<&Peer>) -> String {
        peer.map_or_else(|| "unknown".to_string(), |p| p.0.ip().to_string())
    }
}

/// Authenticates the bearer token, resolves what the route acts on and asks the policy;
/// refusals are audited. The caller (and the resolved task or run) go to the handler.
async fn gate(
    State((st, action, resource)): State<(AppState, Action, Resource)>,
    req: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = req.into_parts();
    let request = format!("{} {}", parts.method, parts.uri.path());
    match admit(&st, action, resource, &mut parts).await {
        Ok(p) => {
            let resp = next.run(Request::from_parts(parts, body)).await;
            // Refused past the gate (a body's group, a token's scope): audited the same way.
            if let Some(Refusal(why)) = resp.extensions().get::<Refusal>() {
                st.service.refused(&p, &p.from, &request, why).await;
            }
            resp
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct GroupQuery {
    group: Option<String>,
}

#[derive(Debug, Deserialize)]
struct NodeQuery {
    node: Option<String>,
}

/// The request's bearer token, if it sent one.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

async fn admit(
    st: &AppState,
    action: Action,
    resource: Resource,
    parts: &mut axum::http::request::Parts,
) -> ApiResult<Principal> {
    let from = Peer::address(parts.extensions.get::<Peer>());
    let Some(token) = bearer(&parts.headers) else {
        return Err(ApiError::new(
            ErrorCode::Unauthorized,
            "missing bearer token: send 'Authorization: Bearer <token>' (cloudtaskctl login)",
        ));
    };
    let p = st.credentials.authenticate(token, &from).await?;
    let params = RawPathParams::from_request_parts(parts, &())
        .await
        .map_err(|e| ApiError::new(ErrorCode::InvalidRequest, e.body_text()))?;
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
            .unwrap_or_default()
    };
    let decided = match resource {
        Resource::Cluster => policy::allows(&p, action, Scope::AllGroups),
        Resource::Listing | Resource::Body => policy::allows(&p, action, Scope::AnyGroup),
        Resource::Task => {
            let group = Query::<GroupQuery>::try_from_uri(&parts.uri)
                .map_err(ApiError::from)?
                .0
                .group;
            let task = st.service.resolve(&param("task"), group.as_deref()).await?;
            let scope = match p.node_of() {
                Some((node, cluster)) => {
                    let here = Placement {
                        task: task.id.clone(),
                        node: node.to_string(),
                        cluster: cluster.to_string(),
                    };
                    if st.store.holds(&here).await? {
                        Scope::Held
                    } else {
                        Scope::Group(&task.spec.group)
                    }
                }
                None => Scope::Group(&task.spec.group),
            };
            let d = policy::allows(&p, action, scope);
            parts.extensions.insert(task);
            d
        }
        Resource::Run => {
            let id = param("id");
            let run =
                st.store.run(&id).await?.ok_or_else(|| {
                    ApiError::new(ErrorCode::RunNotFound, format!("no run {id:?}"))
                })?;
            let group = st.store.task(&run.task).await?.map(|t| t.spec.group);
            let d = match &group {
                Some(g) => policy::allows(&p, action, Scope::Group(g)),
                None => policy::allows(&p, action, Scope::AllGroups),
            };
            parts.extensions.insert(run);
            d
        }
        Resource::Package => match p.node_of() {
            // A node downloads the packages of the tasks placed on it.
            Some((node, cluster)) => {
                if st
                    .store
                    .holds_package(node, cluster, &param("sha256"))
                    .await?
                {
                    policy::allows(&p, action, Scope::Held)
                } else {
                    policy::allows(&p, action, Scope::AnyGroup)
                }
            }
            None => {
                let groups = st.store.package_groups(&param("sha256")).await?;
                match groups.iter().find(|g| policy::may_read(&p, g)) {
                    Some(_) => Ok(()),
                    None => match groups.first() {
                        Some(g) => policy::allows(&p, action, Scope::Group(g)),
                        None => policy::allows(&p, action, Scope::AllGroups),
                    },
                }
            }
        },
        Resource::Stream => match p.node_of() {
            Some((node, _)) => {
                let asked = Query::<NodeQuery>::try_from_uri(&parts.uri)
                    .map_err(ApiError::from)?
                    .0
                    .node;
                match asked {
                    Some(n) if n == node => policy::allows(&p, action, Scope::Held),
                    _ => Err(Denied(format!(
                        "forbidden: {} follows only its own commands: ask for ?node={node}",
                        p.name
                    ))),
                }
            }
            None => policy::allows(&p, action, Scope::AnyGroup),
        },
        Resource::User => {
            let own = matches!(p.who, Who::User { .. } | Who::Bootstrap { .. })
                && p.user_name() == Some(param("name").as_str());
            if own {
                Ok(())
            } else {
                policy::allows(&p, Action::Administer, Scope::AllGroups)
            }
        }
    };
    if let Err(Denied(message)) = decided {
        st.service
            .refused(
                &p,
                &from,
                &format!("{} {}", parts.method, parts.uri.path()),
                &message,
            )
            .await;
        return Err(ApiError::new(ErrorCode::Forbidden, message));
    }
    parts.extensions.insert(p.clone());
    Ok(p)
}

/// Resolves once `p`'s credential is revoked or expires (checked every few seconds): endless
/// answers (event streams, followed logs) end with it.
pub fn credential_ends(
    st: &AppState,
    p: &Principal,
) -> impl std::future::Future<Output = ()> + Send + use<> {
    let store = st.store.clone();
    let hash = p.token_hash.clone();
    let expires_at = p.expires_at;
    async move {
        let Some(hash) = hash else {
            return std::future::pending().await;
        };
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            let expired = expires_at.is_some_and(|at| at <= jiff::Timestamp::now());
            match store.token(&hash).await {
                Ok(None) => return,
                Ok(Some(_)) if expired => return,
                // The store is briefly unreadable: keep the stream; look again later.
                Ok(Some(_)) | Err(_) => {}
            }
        }
    }
}

/// The caller, as authenticated.
pub type Caller = axum::Extension<Principal>;

/// The task a route acts on, resolved (and its group checked) by the gate.
pub type Target = axum::Extension<cloudtask_shared::Task>;

#[cfg(test)]
mod tests {
    use super::*;

    fn readme_rows() -> Vec<cloudtask_shared::generated::PolicyRow> {
        cloudtask_shared::generated::policy_table(include_str!("../../../README.md")).unwrap()
    }

    #[test]
    fn every_route_has_a_rule_and_a_row_in_the_readme_policy_table() {
        let rows = readme_rows();
        let served: Vec<(String, String, Rule)> = rules()
            .into_iter()
            .map(|(m, p, r)| (m.to_string(), p.to_string(), r))
            .collect();
        for (m, p, rule) in &served {
            let row = rows
                .iter()
                .find(|(rm, rp, _)| rm == m && rp == p)
                .unwrap_or_else(|| {
                    panic!("{m} {p} is served but not in the README's policy table")
                });
            let public = row.2.iter().all(|c| c == "public");
            assert_eq!(
                public,
                *rule == Rule::Public,
                "{m} {p}: {:?} vs {rule:?}",
                row.2
            );
            assert_eq!(row.2.len(), 7, "{m} {p}: seven columns");
        }
        for (m, p, _) in &rows {
            assert!(
                served.iter().any(|(sm, sp, _)| sm == m && sp == p),
                "the README's policy table has {m} {p}, which is not served"
            );
        }
        assert_eq!(rows.len(), served.len(), "each route once");
    }
}
