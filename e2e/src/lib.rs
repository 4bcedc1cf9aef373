//! Test harness: starts real `cloudtask-center --standalone` processes on free ports with
//! temporary data dirs, talks to them over HTTP and through the real `cloudtaskctl` binary.
//! Binaries come from the workspace's target directory (`cargo build --workspace --bins`).

#![allow(clippy::unwrap_used)] // test support: a failed step should fail the test loudly

pub mod bench;
pub mod proxy;
pub mod sinks;
pub mod tls;
pub mod tmpfs;
pub mod tmux;
pub mod zookeeper;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use cloudtask_shared::RunRecord;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Where cargo put the workspace's binaries: beside this executable (a bench binary) or one
/// level up (a test executable in `deps/`).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let here = exe.parent().unwrap();
    let dir = if here.join(name).exists() {
        here
    } else {
        here.parent().unwrap()
    };
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} missing: run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

/// An HTTP client for tests (plain HTTP, or HTTPS against the system's roots), with the
/// build's one rustls provider installed.
pub fn http() -> reqwest::Client {
    cloudtask_shared::tls::client_builder(None)
        .unwrap()
        .build()
        .unwrap()
}

/// A running standalone center.
pub struct Center {
    child: Option<Child>,
    pub url: String,
    pub token: String,
    pub dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    http: reqwest::Client,
}

/// What every standalone center and agent the harness starts is given: CI runs as root, and
/// runs as root are refused unless asked for (the isolation test starts its own without it).
const ROOT_RUNS: &[&str] = &["--allow-root-runs"];

/// The harness's ZooKeeper has no credentials, which daemons must be told
/// (`--zk-insecure`), unless a test gives them some.
fn zk_insecure_unless_credentials(extra: &[&str]) -> &'static [&'static str] {
    if extra.contains(&"--zk-digest-file") {
        &[]
    } else {
        &["--zk-insecure"]
    }
}

impl Center {
    pub async fn start(extra: &[&str]) -> Center {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().to_path_buf();
        let mut c = Center::start_in(&dir, extra).await;
        c._temp = Some(temp);
        c
    }

    /// Starts on an existing data dir (a restart keeps the dir).
    pub async fn start_in(dir: &Path, extra: &[&str]) -> Center {
        Center::start_as(dir, "node-1", extra).await
    }

    /// Starts on `dir` with its own node named `node`.
    pub async fn start_as(dir: &Path, node: &str, extra: &[&str]) -> Center {
        let mut args = vec!["--standalone", "--node-name", node];
        args.extend_from_slice(ROOT_RUNS);
        args.extend_from_slice(extra);
        Center::spawn(dir, &args).await
    }

    /// Starts a center on `dir` with exactly `args` (and `--data-dir`, `--listen` unless
    /// given): none of the harness's defaults.
    pub async fn start_exact(dir: &Path, args: &[&str]) -> Center {
        Center::spawn(dir, args).await
    }

    /// Starts a standalone center on `dir` under `wrapper` (a program and its arguments that
    /// take the center's command line after them, e.g. `strace -f -o FILE`).
    pub async fn start_under(dir: &Path, wrapper: &[&str], extra: &[&str]) -> Center {
        let mut args = vec!["--standalone", "--node-name", "node-1"];
        args.extend_from_slice(ROOT_RUNS);
        args.extend_from_slice(extra);
        Center::spawn_under(dir, wrapper, &args).await
    }

    /// Starts the center of a cluster on ZooKeeper `zk` (several may share `dir`'s store).
    /// Agents join with the join token it makes (once per store) in `dir/join.token`.
    pub async fn start_cluster(dir: &Path, zk: &str, extra: &[&str]) -> Center {
        let mut args = vec!["--zk", zk, "--zk-session-timeout", "2s"];
        args.extend_from_slice(zk_insecure_unless_credentials(extra));
        args.extend_from_slice(extra);
        let c = Center::spawn(dir, &args).await;
        let file = dir.join("join.token");
        if !file.exists() {
            let (status, body) = c
                .api(
                    Method::POST,
                    "/join-tokens",
                    Some(json!({"name": "harness", "expires_in": "7d"})),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            std::fs::write(&file, body["token"].as_str().unwrap()).unwrap();
        }
        c
    }

    /// The standalone center's own node credential (node `node-1`), as its agent uses it.
    pub fn node_token(&self) -> String {
        std::fs::read_to_string(self.dir.join("node.token"))
            .unwrap()
            .trim()
            .to_string()
    }

    async fn spawn(dir: &Path, args: &[&str]) -> Center {
        Center::spawn_under(dir, &[], args).await
    }

    async fn spawn_under(dir: &Path, wrapper: &[&str], args: &[&str]) -> Center {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("center.log"))
            .unwrap();
        let listen: &[&str] = if args.contains(&"--listen") {
            &[]
        } else {
            &["--listen", "127.0.0.1:0"]
        };
        let mut command = match wrapper.split_first() {
            Some((program, wrapper_args)) => {
                let mut c = Command::new(program);
                c.args(wrapper_args).arg(bin("cloudtask-center"));
                c
            }
            None => Command::new(bin("cloudtask-center")),
        };
        let mut child = command
            .args(listen)
            .arg("--data-dir")
            .arg(dir)
            .args(args)
            .env(
                "CLOUDTASK_LOG",
                std::env::var("CLOUDTASK_LOG")
                    .unwrap_or_else(|_| "info,cloudtask_agent=debug".into()),
            )
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if let Some(url) = line.split("listening on ").nth(1) {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                panic!(
                    "center did not start; log:\n{}",
                    std::fs::read_to_string(dir.join("center.log")).unwrap_or_default()
                )
            });
        let token = std::fs::read_to_string(dir.join("admin.token"))
            .unwrap()
            .trim()
            .to_string();
        // A center serving TLS is trusted through the CA the test wrote to `dir/ca.pem`.
        let http = if args.contains(&"--tls-cert") {
            cloudtask_shared::tls::client_builder(Some(&dir.join("ca.pem")))
                .unwrap()
                .build()
                .unwrap()
        } else {
            http()
        };
        Center {
            child: Some(child),
            url,
            token,
            dir: dir.to_path_buf(),
            _temp: None,
            http,
        }
    }

    /// The center's process id (for RSS readings).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends `sig` (`HUP`, `STOP`, …) to the center process.
    pub fn signal(&self, sig: &str) {
        signal(self.pid().expect("a running center"), sig);
    }

    /// SIGTERM, then waits for the process to exit: how long it took, or `None` (and kill -9)
    /// if it had not exited within `within`.
    pub async fn terminate(&mut self, within: Duration) -> Option<Duration> {
        terminate(&mut self.child, within).await
    }

    /// kill -9: no shutdown path runs.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// Sends a request with the admin token; returns status and JSON body (Null if none).
    pub async fn api(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.api_as(Some(&self.token), method, path, body).await
    }

    pub async fn api_as(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}/api/v1{path}", self.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn upload(&self, path: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(format!("{}/api/v1{path}", self.url))
            .bearer_auth(&self.token)
            .body(bytes)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// A GET's body as bytes (a package download), with the admin token.
    pub async fn bytes(&self, path: &str) -> Vec<u8> {
        let resp = self
            .http
            .get(format!("{}/api/v1{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
        resp.bytes().await.unwrap().to_vec()
    }

    pub async fn text(&self, path: &str) -> String {
        self.http
            .get(format!("{}/api/v1{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn create_task(&self, spec: Value) -> Value {
        let (status, body) = self.api(Method::POST, "/tasks", Some(spec)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    pub async fn runs(&self, task: &str) -> Vec<RunRecord> {
        let (status, body) = self
            .api(
                Method::GET,
                &format!("/tasks/{task}/runs?limit=10000"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_value(body).unwrap()
    }

    /// Polls the task's runs until `done` holds, or fails after `within`.
    pub async fn wait_runs(
        &self,
        task: &str,
        within: Duration,
        what: &str,
        done: impl Fn(&[RunRecord]) -> bool,
    ) -> Vec<RunRecord> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let runs = self.runs(task).await;
            if done(&runs) {
                return runs;
            }
            if tokio::time::Instant::now() >= deadline {
                let log = std::fs::read_to_string(self.dir.join("center.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                panic!(
                    "waited {within:?} for {what}; runs: {runs:#?}\ncenter log, newest first:\n{}",
                    tail.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Starts a run of `task` now and waits until it ends: its final record and its log.
    /// Polls the task until `done` holds of it, or panics after `within` naming `what`.
    pub async fn wait_task(
        &self,
        task: &str,
        within: Duration,
        what: &str,
        done: impl Fn(&cloudtask_shared::api::TaskView) -> bool,
    ) -> cloudtask_shared::api::TaskView {
        let deadline = std::time::Instant::now() + within;
        loop {
            let (status, body) = self.api(Method::GET, &format!("/tasks/{task}"), None).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let view: cloudtask_shared::api::TaskView = serde_json::from_value(body).unwrap();
            if done(&view) {
                return view;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "task {task} not {what} within {within:?}: {view:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn run_now(&self, task: &str) -> (RunRecord, String) {
        let (status, body) = self
            .api(Method::POST, &format!("/tasks/{task}/start"), None)
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let id = body["runs"][0].as_str().unwrap().to_string();
        let runs = self
            .wait_runs(task, Duration::from_secs(30), "the run to end", |r| {
                r.iter().any(|r| r.id == id && r.status.is_terminal())
            })
            .await;
        let run = runs.into_iter().find(|r| r.id == id).unwrap();
        let log = self.text(&format!("/runs/{id}/log")).await;
        (run, log)
    }

    /// Runs the real `cloudtaskctl` against this center.
    pub fn ctl(&self, args: &[&str]) -> Output {
        self.ctl_env(args, &[])
    }

    pub fn ctl_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(bin("cloudtaskctl"));
        cmd.args(args)
            .env("CLOUDTASK_SERVER", &self.url)
            .env("CLOUDTASK_TOKEN", &self.token)
            .env("XDG_CONFIG_HOME", self.dir.join("ctl-config"))
            .env_remove("CLOUDTASK_CONTEXT")
            .env_remove("CLOUDTASK_CA_FILE")
            .env("NO_COLOR", "1");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }
}

impl Drop for Center {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A running `cloudtask-agent` process with its own data dir.
pub struct Agent {
    child: Option<Child>,
    pub name: String,
    pub dir: PathBuf,
    args: Vec<String>,
}

impl Agent {
    /// Starts agent `name` of `cluster` against ZooKeeper `zk` and the center at `center`,
    /// with a 2 s session, joining with the join token in `center_dir` (see
    /// [`Center::start_cluster`]).
    pub fn start(name: &str, cluster: &str, zk: &str, center: &str, center_dir: &Path) -> Agent {
        Agent::start_with(name, cluster, zk, center, center_dir, &[])
    }

    /// Like [`Agent::start`], with extra flags (`--capacity 1`, `--label k=v`).
    pub fn start_with(
        name: &str,
        cluster: &str,
        zk: &str,
        center: &str,
        center_dir: &Path,
        extra: &[&str],
    ) -> Agent {
        let dir = center_dir.join(format!("agent-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        let args = [
            "--zk",
            zk,
            "--zk-session-timeout",
            "2s",
            "--cluster",
            cluster,
            "--center",
            center,
            "--name",
            name,
            "--join-token-file",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([
            center_dir.join("join.token").display().to_string(),
            "--data-dir".into(),
            dir.display().to_string(),
        ])
        .chain(ROOT_RUNS.iter().map(|s| s.to_string()))
        .chain(
            zk_insecure_unless_credentials(extra)
                .iter()
                .map(|s| s.to_string()),
        )
        .chain(extra.iter().map(|s| s.to_string()))
        .collect();
        let mut agent = Agent {
            child: None,
            name: name.to_string(),
            dir,
            args,
        };
        agent.restart();
        agent
    }

    /// SIGTERM, then waits for the process to exit (see [`Center::terminate`]).
    pub async fn terminate(&mut self, within: Duration) -> Option<Duration> {
        terminate(&mut self.child, within).await
    }

    /// Starts the process again with the same name and data dir.
    pub fn restart(&mut self) {
        self.kill9();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("agent.log"))
            .unwrap();
        let child = Command::new(bin("cloudtask-agent"))
            .args(&self.args)
            .env(
                "CLOUDTASK_LOG",
                std::env::var("CLOUDTASK_LOG")
                    .unwrap_or_else(|_| "info,cloudtask_agent=debug".into()),
            )
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap()
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends a signal (`STOP`, `CONT`, `TERM`) to the agent process alone.
    pub fn signal(&self, sig: &str) {
        signal(self.pid(), sig);
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("agent.log")).unwrap_or_default()
    }

    /// Waits for the process to exit by itself: its status, or `None` after `within`.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + within;
        let child = self.child.as_mut()?;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// This node's credential, as it keeps it after joining (waiting up to 30 s for it).
    pub async fn node_token(&self) -> String {
        let file = self.dir.join("node.token");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !file.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "agent {} never joined:\n{}",
                self.name,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        std::fs::read_to_string(&file).unwrap().trim().to_string()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.signal("CONT");
        }
        self.kill9();
    }
}

/// A .tar.gz holding `files` (path, mode, content).
/// SIGTERM to `child`, then polls for its exit until `within` has passed.
async fn terminate(child: &mut Option<Child>, within: Duration) -> Option<Duration> {
    let mut c = child.take()?;
    let started = std::time::Instant::now();
    let ok = Command::new("kill")
        .args(["-TERM", &c.id().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -TERM failed");
    while started.elapsed() < within {
        if c.try_wait().ok().flatten().is_some() {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = c.kill();
    let _ = c.wait();
    None
}

/// A finished command's exit code and output, for assertion messages.
/// `kill -SIG PID`, asserting it was delivered.
fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} {pid} failed");
}

/// Polls `done` every 100 ms until it holds; panics naming `what` after `within`.
pub async fn wait_for(within: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + within;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "waited {within:?} for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn output_text(out: &std::process::Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn tar_gz(files: &[(&str, u32, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (path, mode, content) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(*mode);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, content.as_bytes()).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

/// A .tar.gz with one entry whose raw name is `name` (bypassing the tar crate's own checks),
/// or a symlink to `link_target` when given.
pub fn hostile_tar_gz(name: &str, link_target: Option<&str>) -> Vec<u8> {
    let mut h = tar::Header::new_old();
    {
        let raw = h.as_old_mut();
        raw.name[..name.len()].copy_from_slice(name.as_bytes());
    }
    h.set_mode(0o755);
    let data: &[u8] = b"echo pwned\n";
    match link_target {
        Some(t) => {
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_link_name(t).unwrap();
            h.set_size(0);
        }
        None => {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(data.len() as u64);
        }
    }
    h.set_cksum();
    let mut out = Vec::new();
    out.extend_from_slice(h.as_bytes());
    if link_target.is_none() {
        let mut block = [0u8; 512];
        block[..data.len()].copy_from_slice(data);
        out.extend_from_slice(&block);
    }
    out.extend_from_slice(&[0u8; 1024]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &out).unwrap();
    gz.finish().unwrap()
}

/// The agent's own check (present and not a zombie), for tests that watch run processes.
pub use cloudtask_agent::exec::process_alive;

/// Processes whose environment has `var` = `value` (every run's process carries
/// `CLOUDTASK_TASK_ID`, `CLOUDTASK_TASK_NAME`, `CLOUDTASK_SCHEDULED_AT`…): (pid, environment).
pub fn processes_with_env(var: &str, value: &str) -> Vec<(String, HashMap<String, String>)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = entry.file_name().to_string_lossy().to_string();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(raw) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        let env: HashMap<String, String> = raw
            .split(|b| *b == 0)
            .filter_map(|kv| {
                let kv = String::from_utf8_lossy(kv);
                kv.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect();
        if env.get(var).is_some_and(|v| v == value) && process_alive(&pid) {
            found.push((pid, env));
        }
    }
    found
}

/// Kills, with their process groups, the runs of a task still running after their agent was
/// killed -9 (nothing else is left to stop them).
pub fn kill_orphaned_runs(task_id: &str) {
    for (pid, _) in processes_with_env("CLOUDTASK_TASK_ID", task_id) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .status();
    }
}
