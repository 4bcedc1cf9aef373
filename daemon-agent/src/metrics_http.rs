//! The agent's `/metrics` endpoint (`--metrics-listen`): Prometheus text of what this agent
//! recorded, answered under the center's rule for its own `/metrics` (any user role, not a
//! node or join token). The agent cannot judge a token itself, so it asks the center — a
//! `GET /api/v1/clusters`, which has that rule — and remembers a token the center accepted
//! for a minute.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cloudtask_shared::shutdown::Shutdown;
use sha2::{Digest, Sha256};

/// How long a token the center accepted is taken without asking again.
const REMEMBER: Duration = Duration::from_secs(60);

#[derive(Clone)]
struct Gate {
    centers: crate::client::Centers,
    http: reqwest::Client,
    accepted: Arc<Mutex<HashMap<[u8; 32], Instant>>>,
}

impl Gate {
    /// Whether the center lets `token` read cluster-wide state; the status to answer if not.
    async fn check(&self, token: &str) -> Result<(), (StatusCode, String)> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        {
            let mut seen = self.accepted.lock().unwrap_or_else(|e| e.into_inner());
            seen.retain(|_, at| at.elapsed() < REMEMBER);
            if seen.contains_key(&key) {
                return Ok(());
            }
        }
        let url = format!(
            "{}{}/clusters",
            self.centers.current(),
            cloudtask_shared::api::API_PREFIX
        );
        let resp = self
            .http
            .get(&url)
            .bearer_auth(token)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| {
                self.centers.unreachable(&url);
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("cannot ask the center whether the token may read metrics: {e}"),
                )
            })?;
        match resp.status() {
            s if s.is_success() => {
                let mut seen = self.accepted.lock().unwrap_or_else(|e| e.into_inner());
                seen.insert(key, Instant::now());
                Ok(())
            }
            StatusCode::UNAUTHORIZED => Err((
                StatusCode::UNAUTHORIZED,
                "the center does not know this token".into(),
            )),
            StatusCode::FORBIDDEN => Err((
                StatusCode::FORBIDDEN,
                "this token may not read cluster state (the center's rule for /metrics)".into(),
            )),
            s => Err((
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the center answered {s} when asked about the token"),
            )),
        }
    }
}

async fn metrics(State(gate): State<Gate>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(token) = token else {
        return (
            StatusCode::UNAUTHORIZED,
            "a bearer token is needed (one the center accepts for its /metrics)",
        )
            .into_response();
    };
    if let Err((status, why)) = gate.check(token).await {
        return (status, why).into_response();
    }
    let body = cloudtask_daemon_kit::metrics::render();
    (
        [(
            header::CONTENT_TYPE,
            cloudtask_daemon_kit::metrics::CONTENT_TYPE,
        )],
        body,
    )
        .into_response()
}

/// Serves `/metrics` on `listener` until `shutdown`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    centers: crate::client::Centers,
    http: reqwest::Client,
    shutdown: Shutdown,
) {
    let gate = Gate {
        centers,
        http,
        accepted: Arc::default(),
    };
    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(metrics))
        .with_state(gate);
    let stop = async move { shutdown.wait().await };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::error!(error = %e, "the metrics endpoint stopped");
    }
}
