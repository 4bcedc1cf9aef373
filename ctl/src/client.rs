//! The center's API as the console and CLI use it, with failures mapped to exit codes.

use std::fmt;
use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use cloudtask_shared::api::{API_PREFIX, ErrorBody, ErrorCode};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Exit codes scripts can rely on (README "Exit codes"), and those of `task start --wait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Failure,
    /// Usage or invalid input (a flag, a file, or what the center refused as invalid).
    Usage,
    NotFound,
    Conflict,
    Unauthorized,
    Forbidden,
    /// The center could not be reached.
    Unreachable,
    /// The center took the connection but did not answer in time (`--request-timeout`).
    TimedOut,
    /// How a waited-for run ended (see [`crate::tasks::run_exit`]).
    Run(i32),
}

impl Exit {
    pub fn code(self) -> i32 {
        match self {
            Exit::Failure => 1,
            Exit::Usage => 2,
            Exit::NotFound => 3,
            Exit::Conflict => 4,
            Exit::Unauthorized => 5,
            Exit::Forbidden => 6,
            Exit::Unreachable => 7,
            Exit::TimedOut => 8,
            Exit::Run(code) => code,
        }
    }
}

/// A failed command: what to tell the user and how to exit.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    /// The center's error code, when the center refused the request.
    pub code: Option<ErrorCode>,
    pub message: String,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Failure {
        Failure {
            exit,
            code: None,
            message: message.into(),
        }
    }

    /// The center's refusal: the exit code follows from the error code.
    fn refused(code: ErrorCode, message: String) -> Failure {
        let exit = match code.exit_code() {
            2 => Exit::Usage,
            3 => Exit::NotFound,
            4 => Exit::Conflict,
            5 => Exit::Unauthorized,
            6 => Exit::Forbidden,
            7 => Exit::Unreachable,
            _ => Exit::Failure,
        };
        Failure {
            exit,
            code: Some(code),
            message,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::new(Exit::Failure, e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, Failure>;

/// How long connecting to the center may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct Client {
    /// The centers `--server` names (comma-separated), in order; `current` is the one
    /// requests go to. A request that cannot connect is sent to the next (it never left, so
    /// sending it again is safe whatever it does), and the rest of the command stays there.
    bases: Vec<String>,
    current: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    token: Option<String>,
    /// Requests: fail when the center sends nothing for the request timeout.
    http: reqwest::Client,
    /// Followed logs and event streams: a quiet run or an idle cluster is not an error.
    streams: reqwest::Client,
    timeout: Duration,
}

impl Client {
    /// A client of the center at `server`; an `https` center's certificate must chain to
    /// `ca_file` (PEM), or without one to the system's roots.
    pub fn new(
        server: &str,
        token: Option<String>,
        timeout: Duration,
        ca_file: Option<&Path>,
    ) -> Result<Client> {
        let build = |read: Option<Duration>| -> Result<reqwest::Client> {
            let b = cloudtask_shared::tls::client_builder(ca_file)
                .map_err(|e| Failure::new(Exit::Usage, format!("--ca-file: {e}")))?
                .connect_timeout(CONNECT_TIMEOUT);
            match read {
                Some(t) => b.read_timeout(t),
                None => b,
            }
            .build()
            .map_err(|e| Failure::new(Exit::Failure, format!("cannot set up HTTP: {e}")))
        };
        let mut bases: Vec<String> = server
            .split(',')
            .map(|b| b.trim().trim_end_matches('/').to_string())
            .filter(|b| !b.is_empty())
            .collect();
        if bases.is_empty() {
            bases.push(String::new());
        }
        Ok(Client {
            bases,
            current: std::sync::Arc::default(),
            token,
            http: build(Some(timeout))?,
            streams: build(None)?,
            timeout,
        })
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.authorized(self.http.request(method, self.url(path)))
    }

    /// The center requests go to now.
    fn base(&self) -> &str {
        let i = self.current.load(std::sync::atomic::Ordering::Relaxed);
        &self.bases[i % self.bases.len()]
    }

    fn url(&self, path: &str) -> String {
        format!("{}{API_PREFIX}{path}", self.base())
    }

    /// Sends `req`; when its center cannot be reached and another is named, sends it there.
    async fn execute(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        let (http, request) = req.build_split();
        let mut request =
            request.map_err(|e| Failure::new(Exit::Failure, format!("bad request: {e}")))?;
        for _ in 1..self.bases.len() {
            // A streamed body (an upload) cannot be sent twice: it gets one center.
            let Some(again) = request.try_clone() else {
                break;
            };
            match http.execute(request).await {
                Err(e) if e.is_connect() => {
                    let from = self.base().to_string();
                    self.current
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let to = self.base().to_string();
                    request = again;
                    let rest = request
                        .url()
                        .as_str()
                        .strip_prefix(from.as_str())
                        .map(str::to_string);
                    if let Some(url) =
                        rest.and_then(|r| reqwest::Url::parse(&format!("{to}{r}")).ok())
                    {
                        *request.url_mut() = url;
                    }
                }
                other => return other.map_err(|e| self.transport(&e)),
            }
        }
        http.execute(request).await.map_err(|e| self.transport(&e))
    }

    fn authorized(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// What went wrong on the way to or from the center, with the exit code that says it.
    fn transport(&self, e: &reqwest::Error) -> Failure {
        if e.is_timeout() && !e.is_connect() {
            return Failure::new(
                Exit::TimedOut,
                format!(
                    "the center at {} did not answer within {:?} (--request-timeout)",
                    self.base(),
                    self.timeout
                ),
            );
        }
        let cause = cloudtask_shared::tls::with_causes(e);
        let hint = if cause.contains("certificate") {
            "the center's certificate is not trusted: pass --ca-file with the CA that signed it, or check --server names the host the certificate is for"
        } else {
            "set --server or CLOUDTASK_SERVER"
        };
        Failure::new(
            Exit::Unreachable,
            format!(
                "cannot reach the center at {}: {cause} ({hint})",
                self.base()
            ),
        )
    }

    /// Reads a JSON answer; a body that stops coming is a timeout, not a parse error.
    async fn json<T: DeserializeOwned>(&self, resp: reqwest::Response) -> Result<T> {
        let bytes = resp.bytes().await.map_err(|e| self.transport(&e))?;
        Ok(serde_json::from_slice(&bytes)?)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        let resp = self.execute(req).await?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let (code, message) = match resp.json::<ErrorBody>().await {
            Ok(b) => (b.error.code, b.error.message),
            // Not the center's error shape (a proxy, a load balancer): judge by the status.
            Err(_) => (
                match status {
                    StatusCode::NOT_FOUND => ErrorCode::NotFound,
                    StatusCode::UNAUTHORIZED => ErrorCode::Unauthorized,
                    StatusCode::FORBIDDEN => ErrorCode::Forbidden,
                    StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
                    _ => ErrorCode::Unknown,
                },
                format!("the center answered {status}"),
            ),
        };
        let message = match code {
            ErrorCode::Unauthorized if self.token.is_none() => {
                format!(
                    "{message}: no token given (cloudtaskctl login, or set --token or CLOUDTASK_TOKEN)"
                )
            }
            ErrorCode::Unauthorized => format!(
                "{message}: the center rejected the token (check --token or CLOUDTASK_TOKEN)"
            ),
            _ => message,
        };
        Err(Failure::refused(code, message))
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let resp = self.send(self.request(Method::GET, path)).await?;
        self.json(resp).await
    }

    /// One page of a paged list: its items and the `after=` of the next page, if any.
    pub async fn get_page<T: DeserializeOwned>(&self, path: &str) -> Result<(T, Option<String>)> {
        let resp = self.send(self.request(Method::GET, path)).await?;
        let next = resp
            .headers()
            .get(cloudtask_shared::api::NEXT_PAGE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok((self.json(resp).await?, next))
    }

    pub async fn send_json<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<T> {
        self.send_json_with(method, path, body, &[]).await
    }

    /// [`Client::send_json`] with extra headers (an idempotency key).
    pub async fn send_json_with<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
        headers: &[(&str, &str)],
    ) -> Result<T> {
        let mut req = self.request(method, path).json(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = self.send(req).await?;
        self.json(resp).await
    }

    /// Sends a JSON body to an endpoint that answers without one.
    pub async fn send_empty<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<()> {
        self.send(self.request(method, path).json(body))
            .await
            .map(drop)
    }

    pub async fn post_empty<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let resp = self.send(self.request(Method::POST, path)).await?;
        self.json(resp).await
    }

    pub async fn delete(&self, path: &str) -> Result<()> {
        self.send(self.request(Method::DELETE, path))
            .await
            .map(drop)
    }

    /// Streams a file to `path` in chunks, never whole in memory, with a progress bar on
    /// stderr when it is a terminal.
    pub async fn upload<T: DeserializeOwned>(&self, path: &str, file: &Path) -> Result<T> {
        let f = tokio::fs::File::open(file).await.map_err(|e| {
            Failure::new(
                Exit::Failure,
                format!("cannot read {}: {e}", file.display()),
            )
        })?;
        let len = f.metadata().await?.len();
        let bar = if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(len);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(
                file.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            );
            bar
        } else {
            indicatif::ProgressBar::hidden()
        };
        let chunks = {
            let bar = bar.clone();
            futures_util::stream::try_unfold(f, move |mut f| {
                let bar = bar.clone();
                async move {
                    let mut buf = vec![0u8; 64 << 10];
                    let n = f.read(&mut buf).await?;
                    if n == 0 {
                        return Ok::<_, std::io::Error>(None);
                    }
                    buf.truncate(n);
                    bar.inc(n as u64);
                    Ok(Some((buf, f)))
                }
            })
        };
        let req = self
            .request(Method::POST, path)
            .header(reqwest::header::CONTENT_LENGTH, len)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(reqwest::Body::wrap_stream(chunks));
        let result = self.send(req).await;
        bar.finish_and_clear();
        self.json(result?).await
    }

    /// A raw streaming response (a followed log, the event stream): no idle timeout.
    pub async fn stream(&self, path: &str) -> Result<reqwest::Response> {
        self.send(self.authorized(self.streams.get(self.url(path))))
            .await
    }
}

/// Percent-encodes one query or path component.
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
