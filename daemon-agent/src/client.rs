//! The agent's side of the center's HTTP API: specs, packages, run reports, live output, events.

use std::path::Path;
use std::time::Duration;

use cloudtask_shared::api::{
    API_PREFIX, ActiveStatement, ErrorBody, Event, JoinRequest, NodeCredential, OutputChunk,
    ReportAnswer, RunReport, StreamFrame, TaskView,
};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "center unreachable at {url}: {}",
        cloudtask_shared::tls::with_causes(source)
    )]
    Unreachable { url: String, source: reqwest::Error },
    #[error("center answered {status} for {url}: {message}")]
    Status {
        url: String,
        status: u16,
        message: String,
    },
    #[error(
        "the center's event stream at {url} sent nothing for {idle:?} (a dead or half-open connection)"
    )]
    Idle { url: String, idle: Duration },
    #[error("writing {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl Error {
    /// Whether the center said the thing does not exist (as opposed to being away).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Status { status: 404, .. })
    }

    /// Whether the center refused this agent's token.
    pub fn is_refused_token(&self) -> bool {
        matches!(
            self,
            Error::Status {
                status: 401 | 403,
                ..
            }
        )
    }
}

/// How often a connection to the center that keeps failing is said at error level.
const COMPLAIN_EVERY: Duration = Duration::from_secs(30);

/// Says that talking to the center fails, at error level — a wrong token or a center that is
/// away is the operator's problem to fix — but at most every 30 s per loop, so the log is not
/// flooded; and says when it works again.
#[derive(Debug, Default)]
pub struct Complaints {
    since: Option<std::time::Instant>,
    last: Option<std::time::Instant>,
}

impl Complaints {
    pub fn failed(&mut self, what: &str, e: &Error) {
        let now = std::time::Instant::now();
        self.since.get_or_insert(now);
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < COMPLAIN_EVERY)
        {
            tracing::debug!(error = %e, "{what} failed");
            return;
        }
        self.last = Some(now);
        if e.is_refused_token() {
            tracing::error!(error = %e, "{what}: the center refuses this node's credential (revoked, or another center's): remove node.token from the data dir and start again with --join-token-file to join anew");
        } else {
            tracing::error!(error = %e, "{what}: cannot talk to the center; retrying");
        }
    }

    pub fn succeeded(&mut self, what: &str) {
        if let Some(since) = self.since.take() {
            self.last = None;
            tracing::info!(failing_for = ?since.elapsed(), "{what}: the center answers again");
        }
    }
}

/// The HTTP client an agent talks to its center with: an `https` center's certificate must
/// chain to `ca_file` (PEM), or without one to the system's roots.
pub fn http_client(ca_file: Option<&Path>) -> Result<reqwest::Client, HttpSetupError> {
    Ok(cloudtask_shared::tls::client_builder(ca_file)?
        .connect_timeout(Duration::from_secs(5))
        .build()?)
}

/// Why the agent's HTTP client could not be made.
#[derive(Debug, thiserror::Error)]
pub enum HttpSetupError {
    #[error(transparent)]
    Tls(#[from] cloudtask_shared::tls::TlsError),
    #[error("cannot set up HTTP: {0}")]
    Build(#[from] reqwest::Error),
}

/// The centers an agent may talk to, and the one it talks to now. A request that cannot reach
/// the current one (no connection, or a stream gone silent) moves every later request to the
/// next, so the agent follows whichever center is up; the callers' own retries do the rest.
#[derive(Debug, Clone)]
pub struct Centers {
    urls: std::sync::Arc<[String]>,
    current: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Centers {
    /// Base URLs, in the order to try them; at least one.
    pub fn new(urls: &[String]) -> Option<Centers> {
        let urls: Vec<String> = urls
            .iter()
            .map(|u| u.trim().trim_end_matches('/').to_string())
            .filter(|u| !u.is_empty())
            .collect();
        (!urls.is_empty()).then(|| Centers {
            urls: urls.into(),
            current: std::sync::Arc::default(),
        })
    }

    /// The center requests go to now.
    pub fn current(&self) -> &str {
        let i = self.current.load(std::sync::atomic::Ordering::Relaxed);
        &self.urls[i % self.urls.len()]
    }

    /// A request to `url` found its center unreachable: if that is still the current center,
    /// the next one is from now on.
    pub fn unreachable(&self, url: &str) {
        use std::sync::atomic::Ordering::Relaxed;
        let i = self.current.load(Relaxed);
        if self.urls.len() > 1 && url.starts_with(&self.urls[i % self.urls.len()]) {
            let next = (i + 1) % self.urls.len();
            if self
                .current
                .compare_exchange(i, next, Relaxed, Relaxed)
                .is_ok()
            {
                tracing::warn!(from = %self.urls[i % self.urls.len()], to = %self.urls[next], "center unreachable; moving to the next one");
            }
        }
    }
}

/// Cheap to clone; one connection pool per agent.
#[derive(Clone)]
pub struct CenterClient {
    centers: Centers,
    token: String,
    http: reqwest::Client,
}

/// Without the token: a client is logged at times, its credential never.
impl std::fmt::Debug for CenterClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CenterClient")
            .field("centers", &self.centers.urls)
            .finish_non_exhaustive()
    }
}

impl CenterClient {
    /// A client of whichever of `centers` is up (they share the one it moves on); `http` is
    /// shared (one connection pool, one set of TLS roots), see [`http_client`].
    pub fn with_centers(centers: &Centers, token: &str, http: &reqwest::Client) -> CenterClient {
        CenterClient {
            centers: centers.clone(),
            token: token.to_string(),
            http: http.clone(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{API_PREFIX}{path}", self.centers.current())
    }

    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<reqwest::Response, Error> {
        let resp = req
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|source| {
                self.centers.unreachable(url);
                Error::Unreachable {
                    url: url.to_string(),
                    source,
                }
            })?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let message = match resp.json::<ErrorBody>().await {
            Ok(b) => {
                // A center cut off from the store every center shares: another may reach it.
                if b.error.code == cloudtask_shared::api::ErrorCode::StoreUnavailable {
                    self.centers.unreachable(url);
                }
                b.error.message
            }
            Err(_) => "no error body".to_string(),
        };
        Err(Error::Status {
            url: url.to_string(),
            status,
            message,
        })
    }

    pub async fn task(&self, id: &str) -> Result<TaskView, Error> {
        let url = self.url(&format!("/tasks/{id}"));
        let resp = self
            .send(self.http.get(&url).timeout(Duration::from_secs(30)), &url)
            .await?;
        resp.json()
            .await
            .map_err(|source| Error::Unreachable { url, source })
    }

    /// Streams a package to `dest` and returns the sha256 of what arrived.
    pub async fn download_package(&self, sha256: &str, dest: &Path) -> Result<String, Error> {
        let url = self.url(&format!("/packages/{sha256}"));
        let resp = self.send(self.http.get(&url), &url).await?;
        let io = |source| Error::Io {
            path: dest.display().to_string(),
            source,
        };
        let mut file = tokio::fs::File::create(dest).await.map_err(io)?;
        let mut hasher = Sha256::new();
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|source| Error::Unreachable {
                url: url.clone(),
                source,
            })?;
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.flush().await.map_err(io)?;
        Ok(hex::encode(hasher.finalize()))
    }

    /// Delivers a batch of run reports; the center stores those this node may make in one
    /// transaction. The ones it refuses are said at error level and not sent again: the
    /// center keeps nothing of them, and would refuse them again.
    pub async fn report(&self, report: &[RunReport]) -> Result<(), Error> {
        let url = self.url("/agent/runs");
        let resp = self
            .send(
                self.http
                    .post(&url)
                    .json(report)
                    .timeout(Duration::from_secs(30)),
                &url,
            )
            .await?;
        let body = resp.bytes().await.map_err(|source| Error::Unreachable {
            url: url.clone(),
            source,
        })?;
        let answer: ReportAnswer = if body.is_empty() {
            ReportAnswer::default()
        } else {
            serde_json::from_slice(&body).unwrap_or_default()
        };
        for r in answer.refused {
            tracing::error!(run = %r.run, reason = %r.reason, "the center refused this node's report of a run; it is not stored");
        }
        Ok(())
    }

    /// Joins the cluster under the join token this client was made with: the node's
    /// credential.
    pub async fn join(&self, req: &JoinRequest) -> Result<NodeCredential, Error> {
        let url = self.url("/agent/join");
        let resp = self
            .send(
                self.http
                    .post(&url)
                    .json(req)
                    .timeout(Duration::from_secs(30)),
                &url,
            )
            .await?;
        resp.json()
            .await
            .map_err(|source| Error::Unreachable { url, source })
    }

    /// States the runs this node has active; the center reaps the ones it does not know.
    pub async fn active(&self, statement: &ActiveStatement) -> Result<(), Error> {
        let url = self.url("/agent/active");
        self.send(
            self.http
                .post(&url)
                .json(statement)
                .timeout(Duration::from_secs(30)),
            &url,
        )
        .await
        .map(drop)
    }

    /// Live output of running runs, several runs per request.
    pub async fn output(&self, chunks: &[OutputChunk]) -> Result<(), Error> {
        let url = self.url("/agent/output");
        self.send(
            self.http
                .post(&url)
                .json(chunks)
                .timeout(Duration::from_secs(10)),
            &url,
        )
        .await
        .map(drop)
    }

    /// Follows the event stream, sending each event to `tx` until the stream ends or fails.
    /// Only the commands addressed to `node` are sent (run now, stop). A stream that sends
    /// nothing, not even the center's keep-alive, for `idle` is given up as dead.
    pub async fn follow_events(
        &self,
        node: &str,
        idle: Duration,
        tx: &tokio::sync::mpsc::Sender<Event>,
    ) -> Result<(), Error> {
        let url = self.url(&format!("/events?node={node}"));
        let followed = self.follow(&url, idle, tx).await;
        if let Err(Error::Idle { .. } | Error::Unreachable { .. }) = &followed {
            // A center that went silent (frozen, cut off): the next one is followed.
            self.centers.unreachable(&url);
        }
        followed
    }

    async fn follow(
        &self,
        url: &str,
        idle: Duration,
        tx: &tokio::sync::mpsc::Sender<Event>,
    ) -> Result<(), Error> {
        let url = url.to_string();
        let silent = || Error::Idle {
            url: url.clone(),
            idle,
        };
        let resp = tokio::time::timeout(idle, self.send(self.http.get(&url), &url))
            .await
            .map_err(|_| silent())??;
        let mut body = resp.bytes_stream();
        let mut buf: Vec<u8> = Vec::new();
        while let Some(chunk) = tokio::time::timeout(idle, body.next())
            .await
            .map_err(|_| silent())?
        {
            let chunk = chunk.map_err(|source| Error::Unreachable {
                url: url.clone(),
                source,
            })?;
            buf.extend_from_slice(&chunk);
            while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
                let frame: Vec<u8> = buf.drain(..end + 2).collect();
                if let StreamFrame::Event(ev) = StreamFrame::parse(&frame)
                    && tx.send(*ev).await.is_err()
                {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Centers;

    #[test]
    fn an_unreachable_center_moves_requests_to_the_next_once_and_round() {
        let c = Centers::new(&["https://a:7878/".into(), " https://b:7878".into()]).unwrap();
        assert_eq!(c.current(), "https://a:7878");
        c.unreachable("https://a:7878/api/v1/agent/runs");
        assert_eq!(c.current(), "https://b:7878");
        // A late failure of a request that went to a, after the move, moves nothing.
        c.unreachable("https://a:7878/api/v1/events");
        assert_eq!(c.current(), "https://b:7878");
        c.unreachable("https://b:7878/api/v1/agent/runs");
        assert_eq!(c.current(), "https://a:7878", "round to the first again");
        let one = Centers::new(&["https://a:7878".into()]).unwrap();
        one.unreachable("https://a:7878/x");
        assert_eq!(one.current(), "https://a:7878");
        assert!(Centers::new(&[" ".into()]).is_none());
    }
}
