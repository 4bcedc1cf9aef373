//! Tasks: CRUD with optimistic concurrency, actions (pause, resume, start, stop, clone),
//! packages (streamed upload, inspection, history, download), clusters and groups.

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cloudtask_daemon_kit::archive::{self, Kind, Limits};
use cloudtask_shared::api::{
    ActionResult, CloneRequest, ClusterView, ErrorCode, Event, PackageInfo, PatchRequest,
    StartRequest, TaskState, TaskView,
};
use cloudtask_shared::{
    Concurrency, PackageRef, RunRecord, RunStatus, Task, TaskSpec, Trigger, manual_run_id,
    validate_name,
};
use futures_util::StreamExt;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::{ApiError, ApiResult, AppState, Caller};
use crate::store::NameTable;

#[derive(Debug, Deserialize)]
pub struct TaskQuery {
    /// Disambiguates a task name used in several groups.
    pub group: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    pub cluster: Option<String>,
    pub group: Option<String>,
    /// Substring of the name.
    pub name: Option<String>,
    pub paused: Option<bool>,
}

/// Finds a task by id, or by name (within `group` when given).
pub async fn resolve(st: &AppState, key: &str, group: Option<&str>) -> ApiResult<Task> {
    if let Some(t) = st.store.task(key).await? {
        return Ok(t);
    }
    let mut found = st.store.tasks_named(key, group).await?;
    match found.len() {
        0 => Err(ApiError::new(
            ErrorCode::TaskNotFound,
            match group {
                Some(g) => format!("no task {key:?} in group {g:?}"),
                None => format!("no task {key:?}"),
            },
        )),
        1 => Ok(found.remove(0)),
        _ => {
            let groups: Vec<&str> = found.iter().map(|t| t.spec.group.as_str()).collect();
            Err(ApiError::new(
                ErrorCode::AmbiguousName,
                format!(
                    "task name {key:?} is used in groups {}: name the group",
                    groups.join(", ")
                ),
            ))
        }
    }
}

pub fn view(st: &AppState, task: Task) -> TaskView {
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

async fn audit(st: &AppState, who: &Caller, action: &str, target: &str, detail: &str) {
    if let Err(e) = st.store.audit(&who.name, action, target, detail).await {
        tracing::error!(error = %e, action, target, "audit log write failed");
    }
}

async fn check_package(st: &AppState, spec: &TaskSpec) -> ApiResult<()> {
    if let Some(p) = &spec.package
        && !st.store.package_exists(&p.sha256).await?
    {
        return Err(ApiError::new(
            ErrorCode::InvalidField,
            format!(
                "package.sha256: no uploaded package has sha256 {}",
                p.sha256
            ),
        ));
    }
    Ok(())
}

async fn register_names(st: &AppState, spec: &TaskSpec) -> ApiResult<()> {
    st.store
        .add_name(NameTable::Clusters, &spec.cluster, "")
        .await?;
    st.store
        .add_name(NameTable::Groups, &spec.group, "")
        .await?;
    Ok(())
}

fn new_task_id() -> ApiResult<String> {
    let mut r = [0u8; 5];
    getrandom::fill(&mut r).map_err(ApiError::internal)?;
    Ok(format!(
        "{:011x}{}",
        Timestamp::now().as_millisecond(),
        hex::encode(r)
    ))
}

/// Stores a new task made of `spec` and announces it.
async fn insert(
    st: &AppState,
    who: &Caller,
    spec: TaskSpec,
    action: &str,
) -> ApiResult<(StatusCode, Json<TaskView>)> {
    spec.validate_fires()?;
    check_package(st, &spec).await?;
    let now = Timestamp::now();
    let task = Task {
        id: new_task_id()?,
        spec,
        version: 1,
        created_by: who.name.clone(),
        created_at: now,
        updated_by: who.name.clone(),
        updated_at: now,
    };
    st.store.insert_task(&task).await?;
    register_names(st, &task.spec).await?;
    if let Some(p) = &task.spec.package {
        record_history(st, &task.id, p, &who.name).await?;
    }
    audit(st, who, action, &task.id, &task.spec.name).await;
    announce(st, &task);
    Ok((StatusCode::CREATED, Json(view(st, task))))
}

fn announce(st: &AppState, task: &Task) {
    st.hub.publish(Event::TaskChanged {
        task: Box::new(task.clone()),
    });
    st.placements.wake.notify_one();
}

async fn record_history(st: &AppState, task_id: &str, p: &PackageRef, by: &str) -> ApiResult<()> {
    let info = PackageInfo {
        sha256: p.sha256.clone(),
        file_name: p.file_name.clone(),
        size: p.size,
        uploaded_at: Timestamp::now(),
        uploaded_by: by.to_string(),
    };
    Ok(st.store.record_task_package(task_id, &info).await?)
}

/// Saves a changed spec as the next version, if nobody changed the task meanwhile.
async fn save(
    st: &AppState,
    who: &Caller,
    mut task: Task,
    spec: TaskSpec,
    action: &str,
) -> ApiResult<Task> {
    // A stored task that can never fire may still be paused or deleted; a changed schedule
    // must be able to fire.
    let when_changed = (&spec.schedules, &spec.timezone, spec.start_at, spec.end_at)
        != (
            &task.spec.schedules,
            &task.spec.timezone,
            task.spec.start_at,
            task.spec.end_at,
        );
    if when_changed {
        spec.validate_fires()?;
    } else {
        spec.validate()?;
    }
    check_package(st, &spec).await?;
    let package_changed = spec.package != task.spec.package;
    task.spec = spec;
    task.version += 1;
    task.updated_by = who.name.clone();
    task.updated_at = Timestamp::now();
    st.store.update_task(&task).await?;
    register_names(st, &task.spec).await?;
    if package_changed && let Some(p) = &task.spec.package {
        record_history(st, &task.id, p, &who.name).await?;
    }
    audit(
        st,
        who,
        action,
        &task.id,
        &format!("version {}", task.version),
    )
    .await;
    announce(st, &task);
    Ok(task)
}

pub async fn create(
    State(st): State<AppState>,
    who: Caller,
    body: Result<Json<TaskSpec>, JsonRejection>,
) -> ApiResult<impl IntoResponse> {
    let Json(spec) = body?;
    insert(&st, &who, spec, "task.create").await
}

pub async fn list(
    State(st): State<AppState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<TaskView>>> {
    let Query(q) = q?;
    let tasks = st.store.tasks().await?;
    let out = tasks
        .into_iter()
        .filter(|t| q.cluster.as_ref().is_none_or(|c| &t.spec.cluster == c))
        .filter(|t| q.group.as_ref().is_none_or(|g| &t.spec.group == g))
        .filter(|t| {
            q.name
                .as_ref()
                .is_none_or(|n| t.spec.name.contains(n.as_str()))
        })
        .filter(|t| q.paused.is_none_or(|p| t.spec.paused == p))
        .map(|t| view(&st, t))
        .collect();
    Ok(Json(out))
}

pub async fn show(
    State(st): State<AppState>,
    Path(key): Path<String>,
    q: Result<Query<TaskQuery>, QueryRejection>,
) -> ApiResult<Json<TaskView>> {
    let Query(q) = q?;
    let task = resolve(&st, &key, q.group.as_deref()).await?;
    Ok(Json(view(&st, task)))
}

/// Applies a JSON merge patch (RFC 7386) of spec fields to the task at `version`.
pub async fn patch(
    State(st): State<AppState>,
    who: Caller,
    Path(key): Path<String>,
    q: Result<Query<TaskQuery>, QueryRejection>,
    body: Result<Json<PatchRequest>, JsonRejection>,
) -> ApiResult<Json<TaskView>> {
    let (Query(q), Json(req)) = (q?, body?);
    let task = resolve(&st, &key, q.group.as_deref()).await?;
    if req.version != task.version {
        return Err(ApiError::new(
            ErrorCode::StaleVersion,
            format!(
                "task {} is at version {}, the edit was based on version {}: re-read it and edit again",
                task.spec.name, task.version, req.version
            ),
        ));
    }
    let mut doc = serde_json::to_value(&task.spec).map_err(ApiError::internal)?;
    merge(&mut doc, serde_json::Value::Object(req.changes));
    let spec: TaskSpec = serde_json::from_value(doc).map_err(ApiError::from)?;
    let saved = save(&st, &who, task, spec, "task.edit").await?;
    Ok(Json(view(&st, saved)))
}

fn merge(target: &mut serde_json::Value, patch: serde_json::Value) {
    match (target, patch) {
        (serde_json::Value::Object(t), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(&k);
                } else {
                    merge(t.entry(k).or_insert(serde_json::Value::Null), v);
                }
            }
        }
        (t, p) => *t = p,
    }
}

pub async fn delete(
    State(st): State<AppState>,
    who: Caller,
    Path(key): Path<String>,
    q: Result<Query<TaskQuery>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let Query(q) = q?;
    let task = resolve(&st, &key, q.group.as_deref()).await?;
    stop_runs(&st, &task).await?;
    st.store.delete_task(&task.id).await?;
    audit(&st, &who, "task.delete", &task.id, &task.spec.name).await;
    st.hub.publish(Event::TaskDeleted {
        id: task.id.clone(),
    });
    st.placements.wake.notify_one();
    Ok(StatusCode::NO_CONTENT)
}

/// How long an idempotency key is remembered: a start repeated with it within this window
/// returns the run it created.
pub const IDEMPOTENCY_WINDOW: SignedDuration = SignedDuration::from_hours(24);

/// The header a start may carry so that a retried request does not start a second run.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// Starts a run of `task` now: every accepted start is its own run (its id carries a nonce
/// of this request, or follows the idempotency key's earlier run). Under `concurrency =
/// forbid`, a start while a run is active is refused (409).
async fn start(
    st: &AppState,
    who: &Caller,
    task: Task,
    headers: &HeaderMap,
    req: StartRequest,
) -> ApiResult<Response> {
    let params = task
        .spec
        .resolve_start(&req.env, &req.args)
        .map_err(|e| ApiError::new(ErrorCode::InvalidParameter, e.to_string()))?;
    let key = match headers.get(IDEMPOTENCY_HEADER) {
        None => None,
        Some(v) => {
            let key = v
                .to_str()
                .ok()
                .filter(|k| !k.is_empty() && k.len() <= 255)
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::InvalidRequest,
                        "Idempotency-Key: must be 1 to 255 visible ASCII characters".to_string(),
                    )
                })?;
            Some(key.to_string())
        }
    };
    let now = Timestamp::now();
    if let Some(key) = &key
        && let Some(earlier) = st
            .store
            .start_key(&task.id, key, now - IDEMPOTENCY_WINDOW)
            .await?
    {
        return Ok(started(earlier, false));
    }
    if task.spec.concurrency == Concurrency::Forbid
        && let Some(active) = st.store.active_runs(Some(&task.id)).await?.first()
    {
        return Err(ApiError::new(
            ErrorCode::RunActive,
            format!(
                "task {} has run {} {} and concurrency is forbid: stop it, wait for it, or set concurrency to allow or replace",
                task.spec.name, active.id, active.status
            ),
        ));
    }
    let Some(node) = st
        .placements
        .settle(&task.id, std::time::Duration::from_secs(3))
        .await
    else {
        return Err(ApiError::new(
            ErrorCode::Unassigned,
            format!(
                "task {} is unassigned: no live node of cluster {:?} can run it",
                task.spec.name, task.spec.cluster
            ),
        ));
    };
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(ApiError::internal)?;
    let run = RunRecord {
        id: manual_run_id(&task.id, now, &hex::encode(nonce)),
        task: task.id.clone(),
        task_name: task.spec.name.clone(),
        scheduled_at: now,
        started_at: None,
        finished_at: None,
        status: RunStatus::Scheduled,
        exit_code: None,
        node: node.clone(),
        attempt: 1,
        trigger: Trigger::Manual,
        message: None,
        params,
        args: req.args,
    };
    // Two requests with one key racing past the check above: the store keeps the first.
    if let Some(earlier) = st
        .store
        .start_run(&run, key.as_deref(), now - IDEMPOTENCY_WINDOW)
        .await?
    {
        return Ok(started(earlier, false));
    }
    audit(st, who, "task.start", &task.id, &run.id).await;
    st.hub.publish(Event::RunChanged {
        run: Box::new(run.clone()),
    });
    st.hub.publish(Event::RunRequested {
        task: task.id.clone(),
        node,
        task_version: task.version,
        run: Box::new(run.clone()),
    });
    Ok(started(run, true))
}

/// The answer to a start: 202 for a new run, 200 for the run an idempotency key found.
fn started(run: RunRecord, created: bool) -> Response {
    let status = if created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    (
        status,
        Json(ActionResult {
            task: run.task.clone(),
            runs: vec![run.id],
        }),
    )
        .into_response()
}

/// Asks the owning agents to kill every active run of `task`; returns their ids.
async fn stop_runs(st: &AppState, task: &Task) -> ApiResult<Vec<String>> {
    let active = st.store.active_runs(Some(&task.id)).await?;
    let mut by_node: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for r in &active {
        by_node
            .entry(r.node.clone())
            .or_default()
            .push(r.id.clone());
    }
    for (node, runs) in by_node {
        st.hub.publish(Event::StopRequested {
            task: task.id.clone(),
            node,
            runs,
        });
    }
    Ok(active.into_iter().map(|r| r.id).collect())
}

pub async fn action(
    State(st): State<AppState>,
    who: Caller,
    Path((key, action)): Path<(String, String)>,
    headers: HeaderMap,
    q: Result<Query<TaskQuery>, QueryRejection>,
    body: Option<Json<serde_json::Value>>,
) -> ApiResult<Response> {
    let Query(q) = q?;
    let task = resolve(&st, &key, q.group.as_deref()).await?;
    match action.as_str() {
        "pause" | "resume" => {
            let want = action == "pause";
            if task.spec.paused == want {
                return Ok(Json(view(&st, task)).into_response());
            }
            let mut spec = task.spec.clone();
            spec.paused = want;
            let saved = save(&st, &who, task, spec, &format!("task.{action}")).await?;
            Ok(Json(view(&st, saved)).into_response())
        }
        "start" => {
            let req: StartRequest = match body {
                None => StartRequest::default(),
                Some(Json(v)) => serde_json::from_value(v).map_err(|e| {
                    ApiError::new(ErrorCode::InvalidParameter, format!("start request: {e}"))
                })?,
            };
            start(&st, &who, task, &headers, req).await
        }
        "stop" => {
            let runs = stop_runs(&st, &task).await?;
            audit(&st, &who, "task.stop", &task.id, &runs.join(",")).await;
            Ok((
                StatusCode::ACCEPTED,
                Json(ActionResult {
                    task: task.id,
                    runs,
                }),
            )
                .into_response())
        }
        "clone" => {
            let Some(Json(body)) = body else {
                return Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    "clone needs a JSON body {\"name\": \"new-name\"}",
                ));
            };
            let req: CloneRequest = serde_json::from_value(body).map_err(ApiError::from)?;
            let mut spec = task.spec.clone();
            spec.name = req.name;
            if let Some(g) = req.group {
                spec.group = g;
            }
            Ok(insert(&st, &who, spec, "task.clone").await?.into_response())
        }
        other => Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no task action {other:?}; actions are pause, resume, start, stop, clone"),
        )),
    }
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    pub n: Option<usize>,
    pub from: Option<Timestamp>,
    pub group: Option<String>,
}

pub async fn next_fires(
    State(st): State<AppState>,
    Path(key): Path<String>,
    q: Result<Query<NextQuery>, QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let Query(q) = q?;
    let task = resolve(&st, &key, q.group.as_deref()).await?;
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
    Path(key): Path<String>,
    q: Result<Query<TaskQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<PackageInfo>>> {
    let Query(q) = q?;
    let task = resolve(&st, &key, q.group.as_deref()).await?;
    Ok(Json(st.store.task_packages(&task.id).await?))
}

#[derive(Debug, Deserialize)]
pub struct UploadQuery {
    pub file_name: String,
    pub group: Option<String>,
}

/// Streams an upload to disk under the size limit, hashes it, inspects archives, and keeps it
/// under its sha256. Nothing is kept when any step fails.
async fn receive(
    st: &AppState,
    headers: &HeaderMap,
    file_name: &str,
    body: Body,
) -> ApiResult<PackageRef> {
    if file_name.is_empty()
        || file_name.contains('/')
        || file_name.contains('\\')
        || file_name.starts_with('.')
    {
        return Err(ApiError::new(
            ErrorCode::InvalidField,
            format!("file_name: {file_name:?} is not a plain file name"),
        ));
    }
    let limit = st.max_upload_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "upload of {} bytes is over the {limit}-byte limit",
                declared.unwrap_or(0)
            ),
        ));
    }
    tokio::fs::create_dir_all(&st.packages_dir)
        .await
        .map_err(ApiError::internal)?;
    let tmp = st.packages_dir.join(format!(".upload-{}", new_task_id()?));
    let result = stream_to(&tmp, body, limit).await;
    let checked = match result {
        Ok((sha, size)) => inspect(&tmp, file_name).await.map(|()| (sha, size)),
        Err(e) => Err(e),
    };
    let (sha256, size) = match checked {
        Ok(v) => v,
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
    };
    let dest = st.packages_dir.join(&sha256);
    tokio::fs::rename(&tmp, &dest)
        .await
        .map_err(ApiError::internal)?;
    st.store.add_package(&sha256, size).await?;
    Ok(PackageRef {
        sha256,
        file_name: file_name.to_string(),
        size,
    })
}

async fn stream_to(path: &std::path::Path, body: Body, limit: u64) -> ApiResult<(String, u64)> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(ApiError::internal)?;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                ErrorCode::InvalidRequest,
                format!("upload interrupted: {e}"),
            )
        })?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("upload is over the {limit}-byte limit"),
            ));
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(ApiError::internal)?;
    }
    file.sync_all().await.map_err(ApiError::internal)?;
    Ok((hex::encode(hasher.finalize()), size))
}

/// Refuses archives an agent would refuse, so the operator hears it now and not at 3 a.m.
async fn inspect(path: &std::path::Path, file_name: &str) -> ApiResult<()> {
    let (path, name) = (path.to_path_buf(), file_name.to_string());
    tokio::task::spawn_blocking(move || {
        archive::unpack(&path, Kind::of(&name), &name, None, Limits::default())
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| match e {
        archive::Error::TooLarge(_) => ApiError::new(ErrorCode::PayloadTooLarge, e.to_string()),
        other => ApiError::new(
            ErrorCode::InvalidPackage,
            format!("package refused: {other}"),
        ),
    })
}

pub async fn upload_package(
    State(st): State<AppState>,
    who: Caller,
    headers: HeaderMap,
    q: Result<Query<UploadQuery>, QueryRejection>,
    body: Body,
) -> ApiResult<impl IntoResponse> {
    let Query(q) = q?;
    let p = receive(&st, &headers, &q.file_name, body).await?;
    audit(&st, &who, "package.upload", &p.sha256, &p.file_name).await;
    Ok((StatusCode::CREATED, Json(p)))
}

/// Uploads a package and makes it the task's package (a new task version).
pub async fn upload_task_package(
    State(st): State<AppState>,
    who: Caller,
    Path(key): Path<String>,
    headers: HeaderMap,
    q: Result<Query<UploadQuery>, QueryRejection>,
    body: Body,
) -> ApiResult<Json<TaskView>> {
    let Query(q) = q?;
    let task = resolve(&st, &key, q.group.as_deref()).await?;
    let p = receive(&st, &headers, &q.file_name, body).await?;
    let mut spec = task.spec.clone();
    spec.package = Some(p);
    let saved = save(&st, &who, task, spec, "task.upload").await?;
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
    let file = match tokio::fs::File::open(st.packages_dir.join(&sha)).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::new(
                ErrorCode::PackageNotFound,
                format!("no package {sha}"),
            ));
        }
        Err(e) => return Err(ApiError::internal(e)),
    };
    let len = file.metadata().await.map_err(ApiError::internal)?.len();
    let body = Body::from_stream(tokio_util_stream(file));
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, len.to_string()),
        ],
        body,
    )
        .into_response())
}

/// A file as a stream of chunks, without loading it into memory.
fn tokio_util_stream(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = std::io::Result<Vec<u8>>> {
    futures_util::stream::unfold(file, |mut f| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 64 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(buf), f))
            }
            Err(e) => Some((Err(e), f)),
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
    validate_name("name", &b.name)?;
    if !st.store.add_name(table, &b.name, &b.description).await? {
        return Err(ApiError::new(
            ErrorCode::NameTaken,
            format!("{:?} already exists", b.name),
        ));
    }
    audit(st, who, "name.create", &b.name, &format!("{table:?}")).await;
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
    if !st.store.remove_name(NameTable::Groups, &name).await? {
        return Err(ApiError::new(
            ErrorCode::GroupNotFound,
            format!("no group {name:?}"),
        ));
    }
    audit(&st, &who, "group.delete", &name, "").await;
    Ok(StatusCode::NO_CONTENT)
}
