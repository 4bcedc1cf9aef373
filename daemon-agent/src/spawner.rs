//! Starting a run's process as another user at the cost of a `posix_spawn`, not of a fork of
//! the agent (Linux).
//!
//! std's `Command` gives up `posix_spawn` and forks the whole agent once a uid is set: the
//! fork copies the page tables of ~100 MiB and turns every page the agent writes afterwards
//! into a copy. Instead a spawner — this binary started again with [`SPAWNER_ARG`], once, as
//! root, single-threaded and a few MiB — receives each spawn over a socket (the request as
//! bytes, the run's pipe ends as file descriptors) and clones itself as `posix_spawn` does
//! (`CLONE_VM | CLONE_VFORK`, on a stack of its own) with `CLONE_PARENT`, so that the agent
//! is the new process's parent. The clone leads a process group of its own,
//! takes the pipes as stdin, stdout and stderr, drops to the run's groups, gid and uid, sets
//! umask 022, changes into the run's directory and execs. The agent waits for it through a
//! pidfd and signals its group as it does any run's. There are a few spawners, as several
//! threads of the agent would `posix_spawn` at once.
//!
//! Wire format, agent to spawner: 8 bytes of payload length (little endian) carrying three
//! descriptors (stdin, stdout, stderr), then the payload: NUL-terminated fields `uid`, `gid`,
//! `groups` (comma-separated), `cwd`, `program`, `argc`, the arguments, then `NAME=value`
//! environment entries. Spawner to agent: 12 bytes (little endian): the new pid (0 when it
//! could not clone), the step that failed (1-based, 0: none) and its errno. Between the clone
//! and the spawner, a close-on-exec pipe carries the failed step, if any.
//!
//! This is the agent's one module with `unsafe`: clone, credentials, pidfds and descriptor
//! passing, which std does not offer; each block says why it is sound.
#![allow(unsafe_code)]

use std::ffi::{CString, OsStr};
use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::Mutex;

use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};
use tokio::io::unix::AsyncFd;

use crate::users::RunUser;

/// The argument that makes a daemon binary run as the spawner: `<exe> SPAWNER_ARG`.
pub const SPAWNER_ARG: &str = "__cloudtask-spawner";

/// The largest request the spawner reads (arguments and environment of one run).
const MAX_REQUEST: u64 = 16 << 20;

/// The steps of a switched start, as the failure pipe names them.
const STEPS: [&str; 7] = [
    "joining its own process group",
    "taking its stdin, stdout and stderr",
    "setting its supplementary groups",
    "setting its group id",
    "setting its user id",
    "changing into its directory",
    "executing the shell",
];

/// Why a switched start did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("the spawner (the process that starts runs as other users): {0}")]
    Spawner(std::io::Error),
    #[error("as user {user}: {step}: {source}")]
    Step {
        user: String,
        step: &'static str,
        source: std::io::Error,
    },
    #[error("{0} holds a NUL byte, which no process argument or environment entry can")]
    Nul(&'static str),
}

/// Runs the spawner when this process was started as one (call first in `main`, before any
/// thread exists); returns the exit code then, `None` on an ordinary start.
pub fn spawner_entry() -> Option<i32> {
    if std::env::args_os().nth(1).as_deref() != Some(OsStr::new(SPAWNER_ARG)) {
        return None;
    }
    // SAFETY: fd 0 is the socket the agent handed over; nothing else in this process owns it.
    let sock = UnixStream::from(unsafe { OwnedFd::from_raw_fd(0) });
    Some(match serve(sock) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("cloudtask spawner: {e}");
            1
        }
    })
}

/// The spawner's loop: one request, one clone, one answer, until the agent closes the socket.
fn serve(mut sock: UnixStream) -> std::io::Result<()> {
    // Every signal blocked: none may run a handler in a clone that shares our memory (the
    // clone unblocks them just before it execs). The agent ends us by closing the socket.
    // SAFETY: plain system calls on a local signal set.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::sigprocmask(libc::SIG_SETMASK, &all, std::ptr::null_mut());
    }
    let mut stack = vec![0u8; CHILD_STACK];
    loop {
        let mut header = [0u8; 8];
        let (n, fds) = recv_with_fds(&sock, &mut header)?;
        if n == 0 {
            return Ok(());
        }
        sock.read_exact(&mut header[n..])?;
        let len = u64::from_le_bytes(header);
        if len > MAX_REQUEST {
            return Err(std::io::Error::other(format!(
                "a request of {len} bytes is over the {MAX_REQUEST}-byte limit"
            )));
        }
        let mut payload = vec![0u8; len as usize];
        sock.read_exact(&mut payload)?;
        let answer = match (Request::parse(&payload), <[OwnedFd; 3]>::try_from(fds)) {
            (Some(req), Ok(fds)) => start_one(&req, &fds, &mut stack),
            _ => Answer::failed(0, 0, libc::EINVAL),
        };
        sock.write_all(&answer.encode())?;
    }
}

/// Receives up to `buf.len()` bytes and the descriptors sent with them (close-on-exec).
fn recv_with_fds(sock: &UnixStream, buf: &mut [u8]) -> std::io::Result<(usize, Vec<OwnedFd>)> {
    let mut space = nix::cmsg_space!([RawFd; 3]);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(std::io::Error::from)?;
    let mut fds = Vec::new();
    for cmsg in msg.cmsgs().map_err(std::io::Error::from)? {
        if let ControlMessageOwned::ScmRights(raw) = cmsg {
            // SAFETY: the kernel just installed these descriptors in this process for us.
            fds.extend(
                raw.into_iter()
                    .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
            );
        }
    }
    Ok((msg.bytes, fds))
}

/// One decoded request, with everything the clone needs allocated before it exists.
struct Request {
    uid: libc::uid_t,
    gid: libc::gid_t,
    groups: Vec<libc::gid_t>,
    cwd: CString,
    program: CString,
    // Kept alive for the pointers below.
    _strings: Vec<CString>,
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
}

impl Request {
    fn parse(payload: &[u8]) -> Option<Request> {
        let mut fields = payload
            .strip_suffix(&[0])?
            .split(|b| *b == 0)
            .map(|f| CString::new(f).ok());
        let mut number = || -> Option<u32> { fields.next()??.to_str().ok()?.parse().ok() };
        let uid = number()?;
        let gid = number()?;
        let groups_field = fields.next()??;
        let groups = groups_field
            .to_str()
            .ok()?
            .split(',')
            .filter(|g| !g.is_empty())
            .map(|g| g.parse().ok())
            .collect::<Option<Vec<_>>>()?;
        let cwd = fields.next()??;
        let program = fields.next()??;
        let argc: usize = fields.next()??.to_str().ok()?.parse().ok()?;
        let strings: Vec<CString> = fields.collect::<Option<_>>()?;
        if strings.len() < argc {
            return None;
        }
        let ptrs = |s: &[CString]| {
            s.iter()
                .map(|c| c.as_ptr())
                .chain(std::iter::once(std::ptr::null()))
                .collect::<Vec<_>>()
        };
        let argv = ptrs(&strings[..argc]);
        let envp = ptrs(&strings[argc..]);
        Some(Request {
            uid,
            gid,
            groups,
            cwd,
            program,
            _strings: strings,
            argv,
            envp,
        })
    }
}

/// The stack the clone runs on until it execs.
const CHILD_STACK: usize = 256 << 10;

/// What the clone is given: its request, its stdio and the write end of the failure pipe.
struct ChildArgs<'a> {
    req: &'a Request,
    fds: &'a [OwnedFd; 3],
    failure: RawFd,
}

/// The spawner's answer: the pid, and the step that failed (1-based; 0: none) with its errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Answer {
    pid: i32,
    step: u32,
    errno: i32,
}

impl Answer {
    fn failed(pid: i32, step: u32, errno: i32) -> Answer {
        Answer { pid, step, errno }
    }

    fn encode(self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[..4].copy_from_slice(&self.pid.to_le_bytes());
        b[4..8].copy_from_slice(&self.step.to_le_bytes());
        b[8..].copy_from_slice(&self.errno.to_le_bytes());
        b
    }

    fn decode(b: [u8; 12]) -> Answer {
        let word = |i: usize| [b[i], b[i + 1], b[i + 2], b[i + 3]];
        Answer {
            pid: i32::from_le_bytes(word(0)),
            step: u32::from_le_bytes(word(4)),
            errno: i32::from_le_bytes(word(8)),
        }
    }
}

/// Starts one request's process and says how it went: by the time the clone returns the
/// process has exec'd (the pipe closed with it) or written the step that failed.
fn start_one(req: &Request, fds: &[OwnedFd; 3], stack: &mut [u8]) -> Answer {
    let (mut failure_r, failure_w) = match std::io::pipe() {
        Ok(p) => p,
        Err(e) => return Answer::failed(0, 0, e.raw_os_error().unwrap_or(libc::EIO)),
    };
    let pid = clone_and_exec(req, fds, failure_w.as_raw_fd(), stack);
    drop(failure_w);
    if pid < 0 {
        return Answer::failed(0, 0, -pid);
    }
    let mut msg = Vec::with_capacity(8);
    let _ = failure_r.read_to_end(&mut msg);
    match (msg.get(..4), msg.get(4..8)) {
        (Some(step), Some(errno)) => Answer::failed(
            pid,
            u32::from_le_bytes(step.try_into().unwrap_or_default()) + 1,
            i32::from_le_bytes(errno.try_into().unwrap_or_default()),
        ),
        _ => Answer::failed(pid, 0, 0),
    }
}

/// Starts the request's process as `posix_spawn` does — `CLONE_VM | CLONE_VFORK`: no copy of
/// the spawner's memory (copying even a few MiB of page tables per run cost a fifth of the
/// throughput), the spawner suspended until the clone has exec'd or exited — on a stack of
/// its own, with `CLONE_PARENT` so that the agent is the process's parent. Answers its pid,
/// or minus the errno.
fn clone_and_exec(req: &Request, fds: &[OwnedFd; 3], failure: RawFd, stack: &mut [u8]) -> i32 {
    extern "C" fn child(arg: *mut libc::c_void) -> libc::c_int {
        // SAFETY: `arg` is the `ChildArgs` the spawner passed, alive (the spawner is
        // suspended) until this process execs or exits.
        let args = unsafe { &*(arg as *const ChildArgs<'_>) };
        // SAFETY: we are the fresh clone; `become_run` never returns.
        unsafe { become_run(args.req, args.fds, args.failure) }
    }
    let args = ChildArgs { req, fds, failure };
    // The stack grows down: its top, 16-byte aligned.
    let top = stack.as_mut_ptr_range().end as usize & !15;
    // SAFETY: the clone shares our memory but we are suspended until it execs or exits; it
    // runs on `stack` (ours is untouched), reads `args` and makes only async-signal-safe
    // calls. The spawner is single-threaded and blocks every signal, so no handler runs in
    // the clone before it resets its mask.
    let pid = unsafe {
        libc::clone(
            child,
            top as *mut libc::c_void,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PARENT | libc::SIGCHLD,
            &args as *const ChildArgs<'_> as *mut libc::c_void,
        )
    };
    if pid < 0 {
        return -std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO);
    }
    pid
}

/// The clone's side: becomes the run's process or reports the failed step and exits 127.
///
/// # Safety
/// Only in a fresh clone of the single-threaded spawner, on its own stack.
unsafe fn become_run(req: &Request, fds: &[OwnedFd; 3], failure: RawFd) -> ! {
    let fail = |step: u32| -> ! {
        // SAFETY: errno read and two plain writes, then _exit: async-signal-safe.
        unsafe {
            let errno = *libc::__errno_location();
            let mut msg = [0u8; 8];
            msg[..4].copy_from_slice(&step.to_le_bytes());
            msg[4..].copy_from_slice(&errno.to_le_bytes());
            libc::write(failure, msg.as_ptr().cast(), msg.len());
            libc::_exit(127)
        }
    };
    // SAFETY: plain system calls on values owned by `req` and `fds`, which outlive them.
    unsafe {
        // Rust ignores SIGPIPE; a task's `yes | head` must not. (Our own copy of the
        // handlers: no CLONE_SIGHAND.)
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        if libc::setpgid(0, 0) != 0 {
            fail(0);
        }
        for (target, fd) in fds.iter().enumerate() {
            if libc::dup2(fd.as_raw_fd(), target as libc::c_int) < 0 {
                fail(1);
            }
        }
        // Raw system calls: glibc's wrappers would try to change every thread of the
        // process whose memory we share; these change this process alone.
        if libc::syscall(libc::SYS_setgroups, req.groups.len(), req.groups.as_ptr()) != 0 {
            fail(2);
        }
        if libc::syscall(libc::SYS_setgid, req.gid) != 0 {
            fail(3);
        }
        if libc::syscall(libc::SYS_setuid, req.uid) != 0 {
            fail(4);
        }
        // umask and the directory are this process's own (no CLONE_FS), as are the
        // descriptors (no CLONE_FILES).
        libc::umask(0o022);
        if libc::chdir(req.cwd.as_ptr()) != 0 {
            fail(5);
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        libc::execve(req.program.as_ptr(), req.argv.as_ptr(), req.envp.as_ptr());
        fail(6)
    }
}

/// The agent's handle on its spawners. Each starts one process at a time and is suspended
/// until that one has exec'd, so there are several (twice the cores, 2 to 8), as several
/// threads of an agent `posix_spawn` at once; a spawn takes one that is free.
#[derive(Debug)]
pub struct Spawner {
    exe: PathBuf,
    pool: Vec<Mutex<Connection>>,
    next: std::sync::atomic::AtomicUsize,
}

#[derive(Debug)]
struct Connection {
    sock: UnixStream,
    process: std::process::Child,
}

impl Connection {
    fn start(exe: &Path) -> std::io::Result<Connection> {
        let (ours, theirs) = UnixStream::pair()?;
        let process = std::process::Command::new(exe)
            .arg(SPAWNER_ARG)
            .stdin(OwnedFd::from(theirs))
            .stdout(std::process::Stdio::null())
            .env_clear()
            .spawn()?;
        Ok(Connection {
            sock: ours,
            process,
        })
    }

    /// Sends one request with its descriptors and reads the answer.
    fn ask(&mut self, payload: &[u8], fds: &[RawFd; 3]) -> std::io::Result<Answer> {
        let header = (payload.len() as u64).to_le_bytes();
        let sent = sendmsg::<()>(
            self.sock.as_raw_fd(),
            &[IoSlice::new(&header)],
            &[ControlMessage::ScmRights(fds)],
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .map_err(std::io::Error::from)?;
        self.sock.write_all(&header[sent..])?;
        self.sock.write_all(payload)?;
        let mut answer = [0u8; 12];
        self.sock.read_exact(&mut answer)?;
        Ok(Answer::decode(answer))
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Closing the socket ends the spawner's loop; reap it.
        let _ = self.sock.shutdown(std::net::Shutdown::Both);
        let _ = self.process.wait();
    }
}

/// What to start: the program, its arguments (`argv[0]` first) and environment, where, as whom.
pub struct SpawnRequest<'a> {
    pub user: &'a RunUser,
    pub cwd: &'a Path,
    pub program: &'a str,
    pub args: &'a [&'a str],
    pub env: &'a [(String, String)],
}

impl std::fmt::Debug for SpawnRequest<'_> {
    // The environment's names only: its values include the task's secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("SpawnRequest")
            .field("user", &self.user.name)
            .field("cwd", &self.cwd)
            .field("program", &self.program)
            .field("args", &self.args)
            .field("env", &env)
            .finish()
    }
}

impl SpawnRequest<'_> {
    fn encode(&self) -> Result<Vec<u8>, SpawnError> {
        let mut out = Vec::with_capacity(256);
        let mut field = |bytes: &[u8], what: &'static str| {
            if bytes.contains(&0) {
                return Err(SpawnError::Nul(what));
            }
            out.extend_from_slice(bytes);
            out.push(0);
            Ok(())
        };
        let groups: Vec<String> = self.user.groups.iter().map(u32::to_string).collect();
        field(self.user.uid.to_string().as_bytes(), "the uid")?;
        field(self.user.gid.to_string().as_bytes(), "the gid")?;
        field(groups.join(",").as_bytes(), "the groups")?;
        field(
            std::os::unix::ffi::OsStrExt::as_bytes(self.cwd.as_os_str()),
            "the directory",
        )?;
        field(self.program.as_bytes(), "the program")?;
        field(self.args.len().to_string().as_bytes(), "the argument count")?;
        for a in self.args {
            field(a.as_bytes(), "an argument")?;
        }
        // A later entry of a name wins, as with `Command::env` (execve would keep both).
        let mut seen = std::collections::HashSet::new();
        for (k, v) in self.env.iter().rev() {
            if seen.insert(k.as_str()) {
                field(format!("{k}={v}").as_bytes(), "an environment entry")?;
            }
        }
        Ok(out)
    }
}

impl Spawner {
    /// Starts the spawners from `exe` (a daemon binary whose `main` calls [`spawner_entry`]).
    pub fn start(exe: PathBuf) -> std::io::Result<Spawner> {
        let n = std::thread::available_parallelism().map_or(2, |n| (n.get() * 2).clamp(2, 8));
        let pool = (0..n)
            .map(|_| Connection::start(&exe).map(Mutex::new))
            .collect::<std::io::Result<_>>()?;
        Ok(Spawner {
            exe,
            pool,
            next: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// The spawner processes' ids (one changes when a dead spawner is started again).
    pub fn process_ids(&self) -> Vec<u32> {
        self.pool
            .iter()
            .map(|c| c.lock().unwrap_or_else(|p| p.into_inner()).process.id())
            .collect()
    }

    /// A free spawner, or (all busy) the next one in turn, waited for.
    fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        let start = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let n = self.pool.len();
        for i in 0..n {
            if let Ok(c) = self.pool[(start + i) % n].try_lock() {
                return c;
            }
        }
        self.pool[start % n]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Starts the request's process, its own process group's leader, with the three pipes as
    /// its stdin, stdout and stderr; the agent is its parent. Must be called inside a tokio
    /// runtime (the pidfd and the output pipes are registered with it).
    pub fn spawn(&self, req: &SpawnRequest<'_>) -> Result<SwitchedChild, SpawnError> {
        let payload = req.encode()?;
        let io = SpawnError::Spawner;
        let (stdin_r, stdin_w) = std::io::pipe().map_err(io)?;
        let (stdout_r, stdout_w) = std::io::pipe().map_err(io)?;
        let (stderr_r, stderr_w) = std::io::pipe().map_err(io)?;
        let fds = [
            stdin_r.as_raw_fd(),
            stdout_w.as_raw_fd(),
            stderr_w.as_raw_fd(),
        ];
        let answer = {
            let mut conn = self.connection();
            match conn.ask(&payload, &fds) {
                Ok(a) => a,
                // Gone (crashed, killed): start it again once and retry.
                Err(first) => {
                    tracing::warn!(error = %first, "a spawner is gone: starting it again");
                    *conn = Connection::start(&self.exe).map_err(io)?;
                    conn.ask(&payload, &fds).map_err(io)?
                }
            }
        };
        drop((stdin_r, stdout_w, stderr_w));
        if answer.pid <= 0 {
            return Err(SpawnError::Spawner(std::io::Error::from_raw_os_error(
                answer.errno,
            )));
        }
        let pid = answer.pid;
        // The process has exec'd (it led its own group first) or failed a step and exited.
        let child = SwitchedChild::adopt(pid);
        if answer.step > 0 {
            if let Ok(mut c) = child {
                c.reap_blocking();
            }
            return Err(SpawnError::Step {
                user: req.user.name.clone(),
                step: STEPS
                    .get(answer.step as usize - 1)
                    .copied()
                    .unwrap_or("starting"),
                source: std::io::Error::from_raw_os_error(answer.errno),
            });
        }
        let mut child = child.map_err(io)?;
        child.stdin = Some(std::fs::File::from(OwnedFd::from(stdin_w)));
        child.stdout = Some(
            tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(stdout_r)).map_err(io)?,
        );
        child.stderr = Some(
            tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(stderr_r)).map_err(io)?,
        );
        Ok(child)
    }
}

/// A run's process started by the spawner: the agent's child, waited for through its pidfd.
#[derive(Debug)]
pub struct SwitchedChild {
    pid: i32,
    pidfd: Option<AsyncFd<OwnedFd>>,
    status: Option<ExitStatus>,
    pub stdin: Option<std::fs::File>,
    pub stdout: Option<tokio::net::unix::pipe::Receiver>,
    pub stderr: Option<tokio::net::unix::pipe::Receiver>,
}

impl SwitchedChild {
    fn adopt(pid: i32) -> std::io::Result<SwitchedChild> {
        // SAFETY: pidfd_open on our own unreaped child (the pid cannot be reused meanwhile).
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: the kernel just gave us this descriptor.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
        Ok(SwitchedChild {
            pid,
            // SAFETY: an OwnedFd returns the same open descriptor for as long as it lives.
            pidfd: Some(unsafe {
                AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)?
            }),
            status: None,
            stdin: None,
            stdout: None,
            stderr: None,
        })
    }

    /// The process id, which is also its process group's id.
    pub fn id(&self) -> u32 {
        self.pid as u32
    }

    /// Waits for the process to end and reaps it.
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        loop {
            if let Some(st) = self.try_reap()? {
                return Ok(st);
            }
            let Some(fd) = &self.pidfd else {
                return Err(std::io::Error::other("the process was already given up"));
            };
            fd.readable().await?.clear_ready();
        }
    }

    fn try_reap(&mut self) -> std::io::Result<Option<ExitStatus>> {
        if let Some(st) = self.status {
            return Ok(Some(st));
        }
        let Some(fd) = &self.pidfd else {
            return Ok(None);
        };
        let st = waitid(fd.get_ref().as_raw_fd(), libc::WNOHANG)?;
        if st.is_some() {
            self.status = st;
        }
        Ok(st)
    }

    fn reap_blocking(&mut self) {
        if self.status.is_none()
            && let Some(fd) = &self.pidfd
        {
            self.status = waitid(fd.get_ref().as_raw_fd(), 0).ok().flatten();
        }
    }

    /// Sends `signal` to the process's whole group.
    pub fn signal(&self, signal: i32) -> std::io::Result<()> {
        // SAFETY: plain system call.
        if unsafe { libc::killpg(self.pid, signal) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for SwitchedChild {
    /// Like the runs std spawns (kill on drop): a process given up is killed with its group,
    /// and reaped.
    fn drop(&mut self) {
        if self.status.is_some() {
            return;
        }
        let _ = self.signal(libc::SIGKILL);
        let Some(fd) = self.pidfd.take() else { return };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    loop {
                        match waitid(fd.get_ref().as_raw_fd(), libc::WNOHANG) {
                            Ok(None) => match fd.readable().await {
                                Ok(mut g) => g.clear_ready(),
                                Err(_) => return,
                            },
                            _ => return,
                        }
                    }
                });
            }
            Err(_) => {
                let _ = waitid(fd.get_ref().as_raw_fd(), 0);
            }
        }
    }
}

/// `waitid(P_PIDFD, …, WEXITED | flags)`: the exit status once the process has ended.
fn waitid(pidfd: RawFd, flags: libc::c_int) -> std::io::Result<Option<ExitStatus>> {
    // SAFETY: zeroed siginfo_t is a valid out-parameter; the call fills it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: plain system call on a descriptor we own.
        let r = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                pidfd as libc::id_t,
                &mut info,
                libc::WEXITED | flags,
            )
        };
        if r == 0 {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    // SAFETY: filled by waitid for a CLD_* event.
    let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    if pid == 0 {
        return Ok(None);
    }
    let raw = match info.si_code {
        libc::CLD_EXITED => (status & 0xff) << 8,
        libc::CLD_DUMPED => status | 0x80,
        _ => status,
    };
    Ok(Some(ExitStatus::from_raw(raw)))
}
