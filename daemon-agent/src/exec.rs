//! Runs one attempt of a task as a process group and turns what happened into a run status.
//!
//! The command runs through `sh -c` (`cmd /C` on Windows) in its own process group, so a
//! timeout or a stop reaches every process it started: SIGTERM to the group, the task's kill
//! grace, then SIGKILL. When the main process exits, whatever it left running in its group is
//! killed too (as systemd does), so a run never leaks processes past its end.

use std::path::PathBuf;
use std::time::Duration;

use cloudtask_shared::RunStatus;
use jiff::Timestamp;
use process_wrap::tokio::{ChildWrapper, CommandWrap, KillOnDrop};
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::output::{CappedLog, LineSplitter, Stream, format_line};

#[cfg(unix)]
const SIGTERM: i32 = 15;
#[cfg(unix)]
const SIGKILL: i32 = 9;

/// Everything needed to start one attempt.
#[derive(Clone)]
pub struct Launch {
    pub command: String,
    /// The command's positional parameters (`"$@"`): a manual start's extra arguments.
    pub args: Vec<String>,
    pub workdir: PathBuf,
    /// Keeps the package `workdir` is in from the cache's eviction while the process lives.
    pub package: Option<crate::package::Lease>,
    pub env: Vec<(String, String)>,
    pub timeout: Option<Duration>,
    pub kill_grace: Duration,
    pub log_cap: usize,
    /// The run fence that watches the process group while it lives, when the agent runs one.
    pub fence: Option<crate::fence::Fence>,
    /// The user the run executes as when it is not the agent's (started by the spawner).
    pub switch: Option<crate::users::Switch>,
    /// The run's private work directory, removed when the last holder drops it.
    pub work: Option<std::sync::Arc<crate::workdir::WorkDir>>,
}

impl std::fmt::Debug for Launch {
    // The environment's names only: its values include the task's secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Launch")
            .field("command", &self.command)
            .field("args", &self.args)
            .field("workdir", &self.workdir)
            .field("env", &env)
            .field("timeout", &self.timeout)
            .field("user", &self.switch.as_ref().map(|s| s.user.name.as_str()))
            .finish_non_exhaustive()
    }
}

/// Where live output goes: the run's id and the agent's output forwarder.
pub type LiveSink = (
    std::sync::Arc<str>,
    mpsc::Sender<(std::sync::Arc<str>, String)>,
);

/// How an attempt ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: RunStatus,
    pub exit_code: Option<i32>,
    pub message: Option<String>,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub log: String,
}

/// Why a run is being stopped from outside; sent on the stop channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopRequest {
    pub message: String,
}

/// What every Unix run goes through: the shell waits for one line on stdin (the release), then
/// runs the task's command (`$1`, evaluated with the remaining arguments as its positional
/// parameters — none unless a manual start passed some —, as `sh -c` would) with stdin from
/// /dev/null. End of file instead of the line (the agent dropped a held
/// process, or died) exits without running anything. This lets a run's process be started
/// ahead of its instant and released at the instant (see [`hold`]).
#[cfg(unix)]
const GATE: &str = r#"read -r _ || exit 0; exec </dev/null; eval "shift; $1""#;

/// A run's process: spawned by the agent (`posix_spawn`), or by the spawner as another user.
#[derive(Debug)]
enum Proc {
    Own(Box<dyn ChildWrapper>),
    #[cfg(target_os = "linux")]
    Switched(crate::spawner::SwitchedChild),
}

/// One of a run's output pipes.
type Output = Box<dyn tokio::io::AsyncRead + Send + Unpin>;

impl Proc {
    fn id(&self) -> Option<u32> {
        match self {
            Proc::Own(c) => c.id(),
            #[cfg(target_os = "linux")]
            Proc::Switched(c) => Some(c.id()),
        }
    }

    async fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        match self {
            Proc::Own(c) => c.wait().await,
            #[cfg(target_os = "linux")]
            Proc::Switched(c) => c.wait().await,
        }
    }

    /// Sends `signal` to the run's whole process group.
    #[cfg(unix)]
    fn signal(&self, signal: i32) {
        let _ = match self {
            Proc::Own(c) => c.signal(signal),
            #[cfg(target_os = "linux")]
            Proc::Switched(c) => c.signal(signal),
        };
    }

    /// The write end of the gate (the process's stdin).
    #[cfg(unix)]
    fn take_gate(&mut self) -> Result<Option<std::fs::File>, String> {
        match self {
            Proc::Own(c) => match c.stdin().take().map(|g| g.into_owned_fd()) {
                Some(Ok(fd)) => Ok(Some(std::fs::File::from(fd))),
                Some(Err(e)) => Err(format!("the run's process has no usable stdin: {e}")),
                None => Ok(None),
            },
            #[cfg(target_os = "linux")]
            Proc::Switched(c) => Ok(c.stdin.take()),
        }
    }

    fn take_output(&mut self) -> (Option<Output>, Option<Output>) {
        match self {
            Proc::Own(c) => (
                c.stdout().take().map(|o| Box::new(o) as Output),
                c.stderr().take().map(|o| Box::new(o) as Output),
            ),
            #[cfg(target_os = "linux")]
            Proc::Switched(c) => (
                c.stdout.take().map(|o| Box::new(o) as Output),
                c.stderr.take().map(|o| Box::new(o) as Output),
            ),
        }
    }
}

/// Starts the run's process, held at the gate.
fn spawn(launch: &Launch) -> Result<Proc, String> {
    let failed = |e: &dyn std::fmt::Display| {
        format!(
            "could not start {:?} in {}: {e}",
            launch.command,
            launch.workdir.display()
        )
    };
    #[cfg(target_os = "linux")]
    if let Some(switch) = &launch.switch {
        let mut args = vec!["sh", "-c", GATE, "sh", launch.command.as_str()];
        args.extend(launch.args.iter().map(String::as_str));
        let req = crate::spawner::SpawnRequest {
            user: &switch.user,
            cwd: &launch.workdir,
            program: "/bin/sh",
            args: &args,
            env: &launch.env,
        };
        return switch
            .spawner
            .spawn(&req)
            .map(Proc::Switched)
            .map_err(|e| failed(&e));
    }
    command(launch)
        .spawn()
        .map(Proc::Own)
        .map_err(|e| failed(&e))
}

fn command(launch: &Launch) -> CommandWrap {
    // An absolute path: with a PATH of its own in the environment, std would fork the whole
    // agent to look a bare name up instead of using posix_spawn (50× the cost at 100 MiB RSS).
    let mut cmd = CommandWrap::with_new(if cfg!(unix) { "/bin/sh" } else { "cmd" }, |c| {
        // The environment is exactly `launch.env` (on Windows, added to the agent's: programs
        // there need the system's variables).
        #[cfg(unix)]
        c.arg("-c")
            .arg(GATE)
            .arg("sh")
            .arg(&launch.command)
            .args(&launch.args)
            .env_clear();
        #[cfg(windows)]
        c.arg("/C").arg(&launch.command);
        c.current_dir(&launch.workdir)
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .stdin(if cfg!(unix) {
                std::process::Stdio::piped()
            } else {
                std::process::Stdio::null()
            })
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
    });
    #[cfg(unix)]
    cmd.wrap(process_wrap::tokio::ProcessGroup::leader());
    #[cfg(windows)]
    cmd.wrap(process_wrap::tokio::JobObject);
    cmd.wrap(KillOnDrop);
    cmd
}

/// A run's process, started and waiting at the gate for its release. Dropping it unreleased
/// kills the process before it ran anything.
#[derive(Debug)]
pub struct Held {
    launch: Launch,
    child: Proc,
    /// The fence's watch on the process group, from spawn to exit.
    watched: Option<crate::fence::Watched>,
    /// The write end of the gate (a plain file: releasing is one small write, never blocked).
    #[cfg(unix)]
    gate: Option<std::fs::File>,
    released_at: Option<Timestamp>,
}

/// How a run gets its process.
#[derive(Debug)]
pub enum Start {
    /// Spawn it now.
    Now(Launch),
    /// The one started ahead (released already, or now).
    Held(Held),
}

/// Starts a run's process without letting its command run yet: spawning is the slow part of a
/// launch (a burst of 500 takes ~150 ms on 2 cores), releasing a held process is one write.
pub fn hold(launch: Launch) -> Result<Held, String> {
    let mut child = spawn(&launch)?;
    #[cfg(unix)]
    let gate = child.take_gate()?;
    let watched = launch
        .fence
        .as_ref()
        .zip(child.id())
        .map(|(f, pid)| f.watch(pid));
    Ok(Held {
        launch,
        child,
        watched,
        #[cfg(unix)]
        gate,
        released_at: None,
    })
}

impl Held {
    /// The held process's id (the leader of the run's process group).
    #[cfg(test)]
    fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Lets the command run (once) and says when it was let go; an error means the held
    /// process is gone.
    pub fn release(&mut self) -> std::io::Result<Timestamp> {
        if let Some(at) = self.released_at {
            return Ok(at);
        }
        #[cfg(unix)]
        if let Some(mut gate) = self.gate.take() {
            use std::io::Write;
            gate.write_all(b"go\n")?;
        }
        Ok(*self.released_at.insert(Timestamp::now()))
    }
}

/// Both output pipes of a run, read inside the run's own task: no task or channel per pipe.
struct Pipes {
    out: Option<Output>,
    err: Option<Output>,
    out_lines: LineSplitter,
    err_lines: LineSplitter,
    buf_out: Vec<u8>,
    buf_err: Vec<u8>,
}

/// Reads from a pipe; 0 on end of file or error; never ready when the pipe is closed.
async fn read_some<R: tokio::io::AsyncRead + Unpin>(pipe: &mut Option<R>, buf: &mut [u8]) -> usize {
    match pipe {
        Some(p) => p.read(buf).await.unwrap_or(0),
        None => std::future::pending().await,
    }
}

impl Pipes {
    fn open(&self) -> bool {
        self.out.is_some() || self.err.is_some()
    }

    /// The next lines from whichever pipe has data; empty once both are closed.
    async fn next(&mut self) -> Vec<(Timestamp, Stream, String)> {
        let Pipes {
            out,
            err,
            out_lines,
            err_lines,
            buf_out,
            buf_err,
        } = self;
        while out.is_some() || err.is_some() {
            let (stream, n, split, pipe_done) = tokio::select! {
                n = read_some(out, buf_out) => (Stream::Stdout, n, &mut *out_lines, n == 0),
                n = read_some(err, buf_err) => (Stream::Stderr, n, &mut *err_lines, n == 0),
            };
            let now = Timestamp::now();
            if pipe_done {
                match stream {
                    Stream::Stdout => *out = None,
                    Stream::Stderr => *err = None,
                }
                let last = std::mem::take(split).finish();
                if let Some(line) = last {
                    return vec![(now, stream, line)];
                }
                continue;
            }
            let buf = if stream == Stream::Stdout {
                &buf_out[..n]
            } else {
                &buf_err[..n]
            };
            let lines = split.feed(buf);
            if !lines.is_empty() {
                return lines.into_iter().map(|l| (now, stream, l)).collect();
            }
        }
        Vec::new()
    }
}

/// Runs one attempt to its end. Lines go to `live` as they come (dropped if it lags: the final log is
/// the authoritative copy); a value on `stop` ends the run as `killed`.
pub async fn execute(
    start: Start,
    live: Option<LiveSink>,
    mut stop: watch::Receiver<Option<StopRequest>>,
) -> Outcome {
    // When the command is let go; a run spawned now counts its spawn.
    let spawning_at = Timestamp::now();
    let mut log = CappedLog::new(match &start {
        Start::Now(l) | Start::Held(Held { launch: l, .. }) => l.log_cap,
    });
    let failed_to_start = |message: String, log: CappedLog| Outcome {
        status: RunStatus::Failed,
        exit_code: None,
        message: Some(message),
        started_at: spawning_at,
        finished_at: Timestamp::now(),
        log: log.finish(),
    };
    let (mut held, spawned_now) = match start {
        Start::Held(h) => (h, false),
        Start::Now(launch) => match hold(launch) {
            Ok(h) => (h, true),
            Err(message) => return failed_to_start(message, log),
        },
    };
    let started_at = match held.release() {
        Ok(_) if spawned_now => spawning_at,
        Ok(released_at) => released_at,
        Err(e) => {
            return failed_to_start(
                format!("the run's process was gone before it could be released: {e}"),
                log,
            );
        }
    };
    let Held {
        launch,
        mut child,
        watched,
        ..
    } = held;
    let (out, err) = child.take_output();
    let mut pipes = Pipes {
        out,
        err,
        out_lines: LineSplitter::default(),
        err_lines: LineSplitter::default(),
        buf_out: vec![0; 4096],
        buf_err: vec![0; 4096],
    };

    let deadline = launch.timeout.map(|t| Instant::now() + t);
    // Set once we start killing: the status to report and when SIGKILL follows SIGTERM.
    let mut killing: Option<(RunStatus, String, Instant)> = None;
    let mut sigkilled = false;
    let record = |log: &mut CappedLog, (at, stream, text): (Timestamp, Stream, String)| {
        let line = format_line(at, stream, &text);
        if let Some((run, tx)) = &live {
            let _ = tx.try_send((run.clone(), line.clone()));
        }
        log.push(line);
    };

    let waited = loop {
        tokio::select! {
            status = child.wait() => break status,
            lines = pipes.next(), if pipes.open() => {
                for line in lines {
                    record(&mut log, line);
                }
            }
            () = sleep_until_opt(deadline), if killing.is_none() => {
                let limit = launch.timeout.unwrap_or_default();
                killing = Some((RunStatus::TimedOut, format!("timed out after {:#}", jiff::SignedDuration::try_from(limit).unwrap_or_default()), Instant::now() + launch.kill_grace));
                terminate(&child);
            }
            changed = stop.changed(), if killing.is_none() => {
                let why = match changed {
                    Ok(()) => stop.borrow().clone(),
                    Err(_) => None,
                };
                if let Some(req) = why {
                    killing = Some((RunStatus::Killed, req.message, Instant::now() + launch.kill_grace));
                    terminate(&child);
                }
            }
            () = sleep_until_opt(killing.as_ref().map(|k| k.2)), if !sigkilled => {
                sigkilled = true;
                force_kill(&child);
            }
        }
    };
    // Whatever the main process left behind in its group goes now; then drain its output.
    force_kill(&child);
    let drain = async {
        while pipes.open() {
            for line in pipes.next().await {
                record(&mut log, line);
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(2), drain)
        .await
        .is_err()
    {
        log.push(format_line(
            Timestamp::now(),
            Stream::Stderr,
            "[cloudtask: output still open 2s after exit; rest dropped]",
        ));
    }
    let fenced = match (&killing, &waited, &watched) {
        (None, Ok(st), Some(w)) if killed_by_sigkill(st) => w.was_fenced().await,
        _ => false,
    };
    drop(watched);
    let finished_at = Timestamp::now();
    let (status, exit_code, message) = match (killing, waited) {
        // `killed`, not `lost`: it is what happened, and it replaces the `lost` the center
        // declared when the node's session expired (the retry was made then).
        _ if fenced => (
            RunStatus::Killed,
            None,
            Some("killed by the node's run fence: the agent sent no beat for its lease (frozen, hung or dead), so the center may already have retried this attempt elsewhere".to_string()),
        ),
        (Some((status, message, _)), Ok(st)) => (status, st.code(), Some(message)),
        (Some((status, message, _)), Err(_)) => (status, None, Some(message)),
        (None, Ok(st)) if st.success() => (RunStatus::Succeeded, Some(0), None),
        (None, Ok(st)) => (RunStatus::Failed, st.code(), Some(describe_exit(&st))),
        (None, Err(e)) => (
            RunStatus::Failed,
            None,
            Some(format!("waiting for the process failed: {e}")),
        ),
    };
    Outcome {
        status,
        exit_code,
        message,
        started_at,
        finished_at,
        log: log.finish(),
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Whether the process died of SIGKILL (which the agent did not send: it was not killing it).
fn killed_by_sigkill(st: &std::process::ExitStatus) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        st.signal() == Some(SIGKILL)
    }
    #[cfg(not(unix))]
    {
        let _ = st;
        false
    }
}

fn describe_exit(st: &std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = st.signal() {
            return format!("killed by signal {sig}");
        }
    }
    match st.code() {
        Some(c) => format!("exited with code {c}"),
        None => "exited abnormally".into(),
    }
}

fn terminate(child: &Proc) {
    #[cfg(unix)]
    {
        child.signal(SIGTERM);
    }
    #[cfg(windows)]
    {
        let _ = child;
    }
}

fn force_kill(child: &Proc) {
    #[cfg(unix)]
    {
        child.signal(SIGKILL);
    }
    #[cfg(windows)]
    {
        let _ = child;
    }
}

/// Whether process `pid` (decimal, as `ps` prints it) exists and is not a zombie: how tests
/// and diagnostics tell that a run's processes are gone. Linux (`/proc`); false elsewhere.
pub fn process_alive(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())) {
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(cmd: &str) -> Launch {
        Launch {
            command: cmd.into(),
            args: Vec::new(),
            workdir: std::env::temp_dir(),
            package: None,
            env: vec![("GREETING".into(), "hello".into())],
            timeout: None,
            kill_grace: Duration::from_millis(500),
            log_cap: 64 * 1024,
            fence: None,
            switch: None,
            work: None,
        }
    }

    fn no_stop() -> watch::Receiver<Option<StopRequest>> {
        let (tx, rx) = watch::channel(None);
        std::mem::forget(tx);
        rx
    }

    #[tokio::test]
    async fn success_captures_both_streams_with_env() {
        let out = execute(
            Start::Now(launch("echo $GREETING; echo oops >&2")),
            None,
            no_stop(),
        )
        .await;
        assert_eq!(out.status, RunStatus::Succeeded);
        assert!(out.log.contains(" out hello\n"), "{}", out.log);
        assert!(out.log.contains(" err oops\n"), "{}", out.log);
    }

    #[tokio::test]
    async fn a_held_process_runs_its_command_only_once_released() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let cmd = format!("echo ran > {}; echo done", marker.display());

        // Dropped unreleased: the process goes, and the command never ran.
        let held = hold(launch(&cmd)).unwrap();
        let pid = held.pid().unwrap().to_string();
        assert!(process_alive(&pid), "held process {pid} not running");
        drop(held);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while process_alive(&pid) {
            assert!(
                std::time::Instant::now() < deadline,
                "dropped held process {pid} lives on"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            !marker.exists(),
            "a held process ran its command without a release"
        );

        // Released: the command runs, and the run starts when it was let go.
        let mut held = hold(launch(&cmd)).unwrap();
        let before = Timestamp::now();
        held.release().unwrap();
        let out = execute(Start::Held(held), None, no_stop()).await;
        assert_eq!(out.status, RunStatus::Succeeded, "{}", out.log);
        assert!(out.log.contains(" out done\n"), "{}", out.log);
        assert!(marker.exists());
        assert!(out.started_at >= before, "started before its release");
    }

    #[tokio::test]
    async fn the_gate_keeps_what_sh_c_gives_a_command() {
        // No positional parameters, $0 is sh, stdin is empty (not the gate), exit codes and
        // syntax errors come through.
        let out = execute(
            Start::Now(launch(r#"echo "args=$# zero=$0"; cat; echo "stdin done""#)),
            None,
            no_stop(),
        )
        .await;
        assert_eq!(out.status, RunStatus::Succeeded, "{}", out.log);
        assert!(out.log.contains(" out args=0 zero=sh\n"), "{}", out.log);
        assert!(out.log.contains(" out stdin done\n"), "{}", out.log);
        let out = execute(Start::Now(launch("if then")), None, no_stop()).await;
        assert_eq!(
            (out.status, out.exit_code),
            (RunStatus::Failed, Some(2)),
            "{}",
            out.log
        );
        assert!(out.log.contains("Syntax error"), "{}", out.log);
    }

    #[tokio::test]
    async fn failure_keeps_the_exit_code() {
        let out = execute(Start::Now(launch("exit 7")), None, no_stop()).await;
        assert_eq!((out.status, out.exit_code), (RunStatus::Failed, Some(7)));
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let mut l = launch(&format!(
            "sh -c 'echo $$ > {}; sleep 300' & wait",
            pidfile.display()
        ));
        l.timeout = Some(Duration::from_millis(300));
        let out = execute(Start::Now(l), None, no_stop()).await;
        assert_eq!(out.status, RunStatus::TimedOut);
        let pid = std::fs::read_to_string(&pidfile).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while process_alive(pid.trim()) {
            assert!(
                std::time::Instant::now() < deadline,
                "grandchild {pid} survived the timeout"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[tokio::test]
    async fn term_ignoring_process_gets_killed_after_grace() {
        let mut l = launch("trap '' TERM; sleep 300");
        l.timeout = Some(Duration::from_millis(100));
        l.kill_grace = Duration::from_millis(100);
        let out = execute(Start::Now(l), None, no_stop()).await;
        assert_eq!(out.status, RunStatus::TimedOut);
    }

    #[tokio::test]
    async fn stop_reports_killed() {
        let (tx, rx) = watch::channel(None);
        let run = tokio::spawn(execute(
            Start::Now(launch("echo started; sleep 300")),
            None,
            rx,
        ));
        // Stop once the process has shown it runs.
        tokio::task::yield_now().await;
        tx.send(Some(StopRequest {
            message: "stopped by test".into(),
        }))
        .unwrap();
        let out = run.await.unwrap();
        assert_eq!(out.status, RunStatus::Killed);
        assert_eq!(out.message.as_deref(), Some("stopped by test"));
    }

    #[tokio::test]
    async fn missing_workdir_is_a_clear_failure() {
        let mut l = launch("true");
        l.workdir = "/nonexistent/cloudtask".into();
        let out = execute(Start::Now(l), None, no_stop()).await;
        assert_eq!(out.status, RunStatus::Failed);
        assert!(out.message.unwrap().contains("/nonexistent/cloudtask"));
    }
}
