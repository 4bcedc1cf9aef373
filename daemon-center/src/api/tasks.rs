//! Tasks: CRUD with optimistic concurrency, actions (pause, resume, start, stop, clone),
//! packages (streamed upload, inspection, history, download), clusters and groups.

use axum::body::Body;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use axum::{Extension, Json};
use cloudtask_shared::api::{
    ActionResult, CloneRequest, ClusterView, ErrorCode, PackageInfo, PatchRequest, StartRequest,
    TaskAction, TaskState, TaskView,
};
use cloudtask_shared::{Task, TaskSpec};
use jiff::Timestamp;
use serde::Deserialize;

use super::{ApiError, ApiResult, AppState, Caller, Target};
use crate::auth::policy;
use crate::service::runs::Started;
use crate::store::NameTable;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    pub cluster: Option<String>,
    pub group: Option<String>,
    /// Substring of the name.
    pub name: Option<String>,
    /// Start of the name (read on the store's index, unlike `name`).
    pub name_prefix: Option<String>,
    pub paused: Option<bool>,
    /// At most this many tasks are read for the page (up to 10,000); without it, all.
    pub limit: Option<u32>,
    /// `GROUP/NAME`: the page starts after this task (the previous page's `cloudtask-next`).
    pub after: Option<String>,
}

/// A task as answers show it: where it is, what it does next, and no secret value.
pub fn view(st: &AppState, mut task: Task) -> TaskView {
    task.spec = task.spec.redacted();
    let node = st.placements.node_of(&task.id);
    let schedules = task.spec.validate();
    let next_fires = match (&task.spec.paused, &schedules) {
        (false, Ok(s)) => s.upcoming(Timestamp::now(), 5),
        _ => vec![],
    };
    let state = if task.spec.paused {
        TaskState::Paused
    } else if task.spec.schedules.is_empty() {
        TaskState::OnDemand
    } else if let Ok(s) = &schedules
        && next_fires.is_empty()
    {
        // Nothing ahead: its window ended, or (stored before create refused it) it never could.
        if s.first_fire().is_some() {
            TaskState::Ended
        } else {
            TaskState::NeverFires
        }
    } else if node.is_some() {
        TaskState::Scheduled
    } else if st.placements.considered(&task.id) {
        TaskState::Unassigned
    } else {
        TaskState::Pending
    };
    TaskView {
        state,
        node,
        next_fires,
        task,
    }
}

pub async fn create(
    State(st): State<AppState>,
    who: Caller,
    body: Result<Json<TaskSpec>, JsonRejection>,
) -> ApiResult<impl IntoResponse> {
    let Json(spec) = body?;
    let task = st.service.create_task(&who, spec, "task.create").await?;
    Ok((StatusCode::CREATED, Json(view(&st, task))))
}

/// The tasks the caller may read, with the query's filters.
pub async fn list(
    State(st): State<AppState>,
    who: Caller,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = q?;
    let after = match q.after.as_deref() {
        None => None,
        Some(a) => match a.split_once('/') {
            Some((g, n)) if !g.is_empty() && !n.is_empty() => Some((g.to_string(), n.to_string())),
            _ => {
                return Err(ApiError::new(
                    ErrorCode::InvalidParameter,
                    format!(
                        "after={a:?}: expected GROUP/NAME, as the cloudtask-next header gives it"
                    ),
                ));
            }
        },
    };
    let limit = match q.limit {
        Some(0) => {
            return Err(ApiError::new(
                ErrorCode::InvalidParameter,
                "limit=0: a page holds at least one task",
            ));
        }
        Some(n) => n.min(10_000),
        None => u32::MAX,
    };
    let page = st
        .store
        .task_page(&crate::store::TaskPage {
            cluster: q.cluster,
            group: q.group,
            name_prefix: q.name_prefix,
            after,
            limit,
        })
        .await?;
    // Where the next page starts: after the last task read, shown or not (a page may show
    // fewer than `limit` when some were filtered out here).
    let next = (page.len() as u64 == u64::from(limit))
        .then(|| {
            page.last()
                .map(|t| format!("{}/{}", t.spec.group, t.spec.name))
        })
        .flatten();
    let out: Vec<TaskView> = page
        .into_iter()
        .filter(|t| policy::may_read(&who, &t.spec.group))
        .filter(|t| {
            q.name
                .as_ref()
                .is_none_or(|n| t.spec.name.contains(n.as_str()))
        })
        .filter(|t| q.paused.is_none_or(|p| t.spec.paused == p))
        .map(|t| view(&st, t))
        .collect();
    let mut resp = Json(out).into_response();
    if let Some(next) = next
        && let Ok(v) = axum::http::HeaderValue::from_str(&next)
    {
        resp.headers_mut()
            .insert(cloudtask_shared::api::NEXT_PAGE_HEADER, v);
    }
    Ok(resp)
}

/// A task; to the node it is placed on (the gate saw to that), with its secret values.
pub async fn show(
    State(st): State<AppState>,
    who: Caller,
    Extension(task): Target,
) -> Json<TaskView> {
    let full = who.node_of().is_some().then(|| task.clone());
    let mut shown = view(&st, task);
    if let Some(full) = full {
        shown.task = full;
    }
    Json(shown)
}

/// Applies a JSON merge patch (RFC 7386) of spec fields to the task at `version`.
pub async fn patch(
    State(st): State<AppState>,
    who: Caller,
    Extension(task): Target,
    body: Result<Json<PatchRequest>, JsonRejection>,
) -> ApiResult<Json<TaskView>> {
    let Json(req) = body?;
    let saved = st
        .service
        .patch_task(&who, task, req.version, req.changes)
        .await?;
    Ok(Json(view(&st, saved)))
}

pub async fn delete(
    State(st): State<AppState>,
    who: Caller,
    Extension(task): Target,
) -> ApiResult<StatusCode> {
    st.service.delete_task(&who, &task).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The header a start may carry so that a retried request does not start a second run.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// The start's idempotency key, if the request has one.
fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<&str>> {
    let Some(v) = headers.get(IDEMPOTENCY_HEADER) else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .map(Some)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidRequest,
                "Idempotency-Key: must be 1 to 255 visible ASCII characters",
            )
        })
}

/// The answer to a start: 202 for a new run, 200 for the run an idempotency key found.
fn started(s: Started) -> Response {
    let status = if s.created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    (
        status,
        Json(ActionResult {
            task: s.run.task.clone(),
            runs: vec![s.run.id],
        }),
    )
        .into_response()
}

/// The handler of one task action (each action is a route of its own, with its own rule).
pub fn action(action: TaskAction) -> MethodRouter<AppState> {
    post(
        move |st: State<AppState>,
              who: Caller,
              task: Target,
              headers: HeaderMap,
              body: Option<Json<serde_json::Value>>| async move {
            act(st, who, task, action, headers, body).await
        },
    )
}

async fn act(
    State(st): State<AppState>,
    who: Caller,
    Extension(task): Target,
    action: TaskAction,
    headers: HeaderMap,
    body: Option<Json<serde_json::Value>>,
) -> ApiResult<Response> {
    match action {
        TaskAction::Pause | TaskAction::Resume => {
            let paused = action == TaskAction::Pause;
            let saved = st.service.set_paused(&who, task, paused).await?;
            Ok(Json(view(&st, saved)).into_response())
        }
        TaskAction::Start => {
            let req: StartRequest = match body {
                None => StartRequest::default(),
                Some(Json(v)) => serde_json::from_value(v).map_err(|e| {
                    ApiError::new(ErrorCode::InvalidParameter, format!("start request: {e}"))
                })?,
            };
            let key = idempotency_key(&headers)?;
            Ok(started(st.service.start_run(&who, &task, key, req).await?))
        }
        TaskAction::Stop => {
            let runs = st.service.stop_runs(&who, &task).await?;
            Ok((
                StatusCode::ACCEPTED,
                Json(ActionResult {
                    task: task.id,
                    runs,
                }),
            )
                .into_response())
        }
        TaskAction::Clone => {
            let Some(Json(body)) = body else {
                return Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    "clone needs a JSON body {\"name\": \"new-name\"}",
                ));
            };
            let req: CloneRequest = serde_json::from_value(body).map_err(ApiError::from)?;
            let clone = st
                .service
                .clone_task(&who, &task, req.name, req.group)
                .await?;
            Ok((StatusCode::CREATED, Json(view(&st, clone))).into_response())
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    pub n: Option<usize>,
    pub from: Option<Timestamp>,
}

pub async fn next_fires(
    Extension(task): Target,
    q: Result<Query<NextQuery>, QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let Query(q) = q?;
    let schedules = task.spec.validate()?;
    let n = q.n.unwrap_or(10).min(1000);
    let fires = schedules.upcoming(q.from.unwrap_or_else(Timestamp::now), n);
    let tz = schedules.time_zone().clone();
    let local: Vec<String> = fires
        .iter()
        .map(|t| {
            t.to_zoned(tz.clone())
                .strftime("%Y-%m-%dT%H:%M:%S%:z")
                .to_string()
        })
        .collect();
    Ok(Json(
        serde_json::json!({ "timezone": task.spec.timezone, "fires": fires, "local": local }),
    ))
}

pub async fn package_history(
    State(st): State<AppState>,
    Extension(task): Target,
) -> ApiResult<Json<Vec<PackageInfo>>> {
    Ok(Json(st.store.task_packages(&task.id).await?))
}

#[derive(Debug, Deserialize)]
pub struct UploadQuery {
    pub file_name: String,
}

/// Streams an upload into the service, with the length the client declared.
async fn receive(
    st: &AppState,
    who: &Caller,
    headers: &HeaderMap,
    file_name: &str,
    body: Body,
) -> ApiResult<cloudtask_shared::PackageRef> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    st.service
        .upload_package(who, file_name, declared, body.into_data_stream())
        .await
}

pub async fn upload_package(
    State(st): State<AppState>,
    who: Caller,
    headers: HeaderMap,
    q: Result<Query<UploadQuery>, QueryRejection>,
    body: Body,
) -> ApiResult<impl IntoResponse> {
    let Query(q) = q?;
    let p = receive(&st, &who, &headers, &q.file_name, body).await?;
    Ok((StatusCode::CREATED, Json(p)))
}

/// Uploads a package and makes it the task's package (a new task version).
pub async fn upload_task_package(
    State(st): State<AppState>,
    who: Caller,
    Extension(task): Target,
    headers: HeaderMap,
    q: Result<Query<UploadQuery>, QueryRejection>,
    body: Body,
) -> ApiResult<Json<TaskView>> {
    let Query(q) = q?;
    let p = receive(&st, &who, &headers, &q.file_name, body).await?;
    let saved = st.service.set_package(&who, task, p).await?;
    Ok(Json(view(&st, saved)))
}

pub async fn download_package(
    State(st): State<AppState>,
    Path(sha): Path<String>,
) -> ApiResult<Response> {
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("{sha:?} is not a sha256 hex digest"),
        ));
    }
    let Some(len) = st.service.store.package_size(&sha).await? else {
        return Err(ApiError::new(
            ErrorCode::PackageNotFound,
            format!("no package {sha}"),
        ));
    };
    let body = Body::from_stream(chunks(st.service.store.clone(), sha, len));
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, len.to_string()),
        ],
        body,
    )
        .into_response())
}

/// A package's bytes as a stream of its chunks, read one at a time (never the whole package in
/// memory). A chunk that is missing ends the stream with an error, so the client sees a body
/// shorter than its Content-Length, never wrong bytes.
fn chunks(
    store: crate::store::SharedStore,
    sha: String,
    len: u64,
) -> impl futures_util::Stream<Item = std::io::Result<Vec<u8>>> {
    let count = len.div_ceil(crate::store::PACKAGE_CHUNK as u64) as u32;
    futures_util::stream::unfold(0u32, move |n| {
        let (store, sha) = (store.clone(), sha.clone());
        async move {
            if n >= count {
                return None;
            }
            let item = match store.package_chunk(&sha, n).await {
                Ok(Some(data)) => Ok(data),
                Ok(None) => Err(std::io::Error::other(format!(
                    "package {sha}: chunk {n} is missing"
                ))),
                Err(e) => Err(std::io::Error::other(e.to_string())),
            };
            let next = if item.is_ok() { n + 1 } else { count };
            Some((item, next))
        }
    })
}

#[derive(Debug, Deserialize)]
pub struct NameBody {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

async fn create_name(
    st: &AppState,
    who: &Caller,
    table: NameTable,
    body: Result<Json<NameBody>, JsonRejection>,
) -> ApiResult<StatusCode> {
    let Json(b) = body?;
    st.service
        .create_name(who, table, &b.name, &b.description)
        .await?;
    Ok(StatusCode::CREATED)
}

fn names_json(rows: Vec<(String, String)>) -> Json<Vec<serde_json::Value>> {
    Json(rows.into_iter().map(|(name, description)| serde_json::json!({ "name": name, "description": description })).collect())
}

/// Clusters known to the store or live in coordination, with live node and task counts.
pub async fn list_clusters(State(st): State<AppState>) -> ApiResult<Json<Vec<ClusterView>>> {
    let mut out: std::collections::BTreeMap<String, ClusterView> = st
        .store
        .names(NameTable::Clusters)
        .await?
        .into_iter()
        .map(|(name, description)| {
            let v = ClusterView {
                name: name.clone(),
                description,
                nodes: 0,
                tasks: 0,
            };
            (name, v)
        })
        .collect();
    let coord = st.sessions.current();
    for name in coord.clusters().await.map_err(ApiError::internal)? {
        let nodes = coord
            .members(&name)
            .await
            .map_err(ApiError::internal)?
            .len();
        out.entry(name.clone())
            .or_insert_with(|| ClusterView {
                name,
                description: String::new(),
                nodes: 0,
                tasks: 0,
            })
            .nodes = nodes;
    }
    for (name, n) in st.store.task_counts_by_cluster().await? {
        if let Some(v) = out.get_mut(&name) {
            v.tasks = u64::try_from(n).unwrap_or(0);
        }
    }
    Ok(Json(out.into_values().collect()))
}

pub async fn create_cluster(
    State(st): State<AppState>,
    who: Caller,
    body: Result<Json<NameBody>, JsonRejection>,
) -> ApiResult<StatusCode> {
    create_name(&st, &who, NameTable::Clusters, body).await
}

pub async fn list_groups(State(st): State<AppState>) -> ApiResult<Json<Vec<serde_json::Value>>> {
    Ok(names_json(st.store.names(NameTable::Groups).await?))
}

pub async fn create_group(
    State(st): State<AppState>,
    who: Caller,
    body: Result<Json<NameBody>, JsonRejection>,
) -> ApiResult<StatusCode> {
    create_name(&st, &who, NameTable::Groups, body).await
}

pub async fn delete_group(
    State(st): State<AppState>,
    who: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    st.service.remove_group(&who, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
