//! The run fence: a small keeper process beside the agent that kills the agent's runs when the
//! agent stops beating — frozen (SIGSTOP, a stalled host), hung, or dead (kill -9).
//!
//! Why: the center retries a lost run on another node once the old node's session expires,
//! but a frozen agent's children keep running. The exactly-once unit is (task, instant,
//! attempt), so attempt n+1 must not start while attempt n may live. The keeper kills every
//! run process group it watches once no beat came for the lease — half the ZooKeeper session
//! timeout, so before the session can expire and the center retry anything — and at once
//! when the agent's end of the pipe closes (the agent died, so nobody could report the run).
//!
//! The agent talks to the keeper over its stdin, one line per message: `b` (a beat), `+PID`
//! (watch the process group PID leads), `-PID` (it ended), `s N` (answer `s N`). The keeper
//! answers on its stdout: `f PID` before it kills PID's group, and `s N`; because the pipe
//! keeps order, a run whose process died of SIGKILL asks with `s N` and knows, once the answer
//! is back, whether the fence killed it.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

/// The argument that makes a daemon binary run as a fence keeper: `<exe> KEEPER_ARG <lease ms>`.
pub const KEEPER_ARG: &str = "__cloudtask-fence-keeper";

/// How long a run waits for the keeper's answer before it stops asking.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs the keeper when this process was started as one (call first in `main`); returns the
/// exit code then, `None` when it is an ordinary start.
pub fn keeper_entry() -> Option<i32> {
    let mut args = std::env::args();
    if args.nth(1).as_deref() != Some(KEEPER_ARG) {
        return None;
    }
    let lease = args
        .next()
        .and_then(|ms| ms.parse::<u64>().ok())
        .map(Duration::from_millis)?;
    cloudtask_daemon_kit::init_logging(cloudtask_daemon_kit::LogFormat::from_env());
    keep(lease);
    Some(0)
}

/// The keeper's loop: reads the agent's lines, fences on silence or end of file.
fn keep(lease: Duration) {
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut out = std::io::stdout().lock();
    let mut watched = BTreeSet::new();
    let mut last = Instant::now();
    loop {
        let wait = lease.saturating_sub(last.elapsed());
        match rx.recv_timeout(wait) {
            Ok(line) => {
                last = Instant::now();
                if let Some(pid) = line.strip_prefix('+').and_then(|p| p.parse::<i32>().ok()) {
                    watched.insert(pid);
                } else if let Some(pid) = line.strip_prefix('-').and_then(|p| p.parse::<i32>().ok())
                {
                    watched.remove(&pid);
                } else if let Some(n) = line.strip_prefix("s ") {
                    let _ = writeln!(out, "s {n}").and_then(|()| out.flush());
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if !watched.is_empty() {
                    tracing::error!(
                        runs = watched.len(),
                        lease_ms = lease.as_millis() as u64,
                        "the agent sent no beat for its lease (frozen or hung): killing its runs, so that no retry elsewhere overlaps them"
                    );
                    fence(&mut out, &mut watched);
                }
                last = Instant::now();
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                if !watched.is_empty() {
                    tracing::error!(
                        runs = watched.len(),
                        "the agent is gone: killing its runs (nobody is left to report them)"
                    );
                    fence(&mut out, &mut watched);
                }
                return;
            }
        }
    }
}

/// Says, then kills, every watched process group.
fn fence(out: &mut impl Write, watched: &mut BTreeSet<i32>) {
    for pid in std::mem::take(watched) {
        let _ = writeln!(out, "f {pid}").and_then(|()| out.flush());
        #[cfg(unix)]
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// The agent's side: the keeper process, a beat every quarter lease, and what it fenced.
#[derive(Debug, Clone)]
pub struct Fence {
    lines: mpsc::UnboundedSender<String>,
    inner: Arc<Mutex<Answers>>,
}

#[derive(Debug, Default)]
struct Answers {
    fenced: HashSet<i32>,
    asks: HashMap<u64, oneshot::Sender<()>>,
    next: u64,
}

/// Errors starting the keeper.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot find the agent's own executable to start the run fence: {0}")]
    Exe(std::io::Error),
    #[error("cannot start the run fence keeper: {0}")]
    Spawn(std::io::Error),
}

impl Fence {
    /// Starts the keeper (this executable, run with [`KEEPER_ARG`]) with `lease`, in a process
    /// group of its own so a terminal's Ctrl-C reaches the agent, which drains, not the keeper.
    pub fn start(lease: Duration) -> Result<Fence, Error> {
        let exe = std::env::current_exe().map_err(Error::Exe)?;
        let mut cmd = tokio::process::Command::new(exe);
        cmd.env(
            cloudtask_daemon_kit::LOG_FORMAT_ENV,
            cloudtask_daemon_kit::LogFormat::current().as_str(),
        );
        cmd.arg(KEEPER_ARG)
            .arg(lease.as_millis().to_string())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        #[cfg(unix)]
        cmd.process_group(0);
        let mut child = cmd.spawn().map_err(Error::Spawn)?;
        let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(Error::Spawn(std::io::Error::other(
                "no pipes to the keeper",
            )));
        };
        let (lines, mut rx) = mpsc::unbounded_channel::<String>();
        let inner = Arc::new(Mutex::new(Answers::default()));
        // Writer: every line in order, and a beat whenever a quarter lease passed without one.
        let beat = lease / 4;
        tokio::spawn(async move {
            loop {
                let line = match tokio::time::timeout(beat, rx.recv()).await {
                    Ok(Some(line)) => line,
                    Ok(None) => break,
                    Err(_) => "b".to_string(),
                };
                if stdin
                    .write_all(format!("{line}\n").as_bytes())
                    .await
                    .is_err()
                {
                    tracing::error!(
                        "the run fence keeper is gone: runs of this agent are no longer fenced"
                    );
                    break;
                }
            }
            // Keep the keeper's exit status from becoming a zombie's.
            let _ = child.wait().await;
        });
        let answers = inner.clone();
        tokio::spawn(async move {
            let mut stdout = tokio::io::BufReader::new(stdout).lines();
            while let Ok(Some(line)) = stdout.next_line().await {
                let Ok(mut a) = answers.lock() else { break };
                if let Some(pid) = line.strip_prefix("f ").and_then(|p| p.parse().ok()) {
                    a.fenced.insert(pid);
                } else if let Some(n) = line.strip_prefix("s ").and_then(|n| n.parse().ok())
                    && let Some(tx) = a.asks.remove(&n)
                {
                    let _ = tx.send(());
                }
            }
        });
        Ok(Fence { lines, inner })
    }

    /// Watches the process group `pid` leads until the returned guard drops.
    pub fn watch(&self, pid: u32) -> Watched {
        let _ = self.lines.send(format!("+{pid}"));
        Watched {
            fence: self.clone(),
            pid,
        }
    }

    /// Whether the keeper killed `pid`'s group: asks, so every earlier answer has arrived.
    async fn fenced(&self, pid: u32) -> bool {
        let (tx, rx) = oneshot::channel();
        let n = {
            let Ok(mut a) = self.inner.lock() else {
                return false;
            };
            a.next += 1;
            let n = a.next;
            a.asks.insert(n, tx);
            n
        };
        if self.lines.send(format!("s {n}")).is_ok() {
            let _ = tokio::time::timeout(ASK_TIMEOUT, rx).await;
        }
        self.inner
            .lock()
            .is_ok_and(|mut a| a.fenced.remove(&(pid as i32)))
    }
}

/// A run's process group under the fence; dropping it says the run ended.
#[derive(Debug)]
pub struct Watched {
    fence: Fence,
    pid: u32,
}

impl Watched {
    /// Whether the fence killed this run (ask only when it died of SIGKILL the agent did not send).
    pub async fn was_fenced(&self) -> bool {
        self.fence.fenced(self.pid).await
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        let _ = self.fence.lines.send(format!("-{}", self.pid));
    }
}
