//! Process plumbing both daemons share (`cloudtask-center` and `cloudtask-agent`): safe
//! archive unpacking, logging set-up and the operating-system stop signals. It exists so the
//! center does not depend on the agent library for plumbing (only standalone mode embeds
//! the agent), and so `cloudtask-shared` keeps doing no I/O outside its coordination
//! backends.

pub mod archive;
pub mod metrics;

use cloudtask_shared::shutdown::Trigger;

/// Caps glibc's malloc at one arena, unless the operator set `MALLOC_ARENA_MAX`. By default
/// glibc gives each thread that allocates an arena of its own (up to 8 per core) and keeps
/// what is freed in each: the center's SQLite workers, tokio's workers and blocking threads
/// each held freed memory apart, 14 MiB of a 60 MiB center with 10,000 tasks. Throughput
/// under overload is unchanged with one (BENCHMARKS.md). Call it first thing in `main`,
/// before any thread exists.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: `mallopt` only sets a parameter of the allocator; called before any other
        // thread runs, so no allocation is in flight while it changes.
        #[allow(unsafe_code)]
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}

/// Sets the umask to 077: every file and directory a daemon creates is its owner's alone
/// unless it says otherwise (as PostgreSQL does). Runs do not inherit it: their shell is
/// started with umask 022.
pub fn private_umask() {
    #[cfg(unix)]
    // SAFETY: umask only swaps the process's file-creation mask; it cannot fail.
    #[allow(unsafe_code)]
    unsafe {
        libc::umask(0o077);
    }
}

/// Makes a daemon's data directory private: the directory 0700, every file directly in it
/// 0600 and every directory 0700 — except the `pass_through` directories, which runs executing
/// as other users must reach (a package, a work directory): those and the data directory
/// itself become 0711, passable but not listable. What lies below keeps its own modes; files
/// made by older versions under a wider umask are narrowed here.
pub fn secure_data_dir(dir: &std::path::Path, pass_through: &[&str]) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let set = |path: &std::path::Path, mode: u32| {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))
        };
        set(
            dir,
            if pass_through.is_empty() {
                0o700
            } else {
                0o711
            },
        )?;
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            let open = pass_through.iter().any(|p| entry.file_name() == *p);
            if kind.is_dir() {
                set(&entry.path(), if open { 0o711 } else { 0o700 })?;
            } else if kind.is_file() {
                set(&entry.path(), 0o600)?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (dir, pass_through);
    Ok(())
}

/// Logs to stderr, filtered by `CLOUDTASK_LOG` (default `info`), coloured only on a terminal.
/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Text,
    /// One JSON object per line (timestamp, level, target, fields, span), for log shippers.
    Json,
}

/// The format [`init_logging`] set, for helper processes a daemon starts (they log to the
/// same place): passed on in [`LOG_FORMAT_ENV`].
static FORMAT: std::sync::OnceLock<LogFormat> = std::sync::OnceLock::new();

/// The variable a helper process reads its log format from.
pub const LOG_FORMAT_ENV: &str = "CLOUDTASK_LOG_FORMAT";

impl LogFormat {
    /// The format this process logs in.
    pub fn current() -> LogFormat {
        FORMAT.get().copied().unwrap_or_default()
    }

    /// What [`LOG_FORMAT_ENV`] says (a helper process started by a daemon).
    pub fn from_env() -> LogFormat {
        match std::env::var(LOG_FORMAT_ENV).as_deref() {
            Ok("json") => LogFormat::Json,
            _ => LogFormat::Text,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

pub fn init_logging(format: LogFormat) {
    let _ = FORMAT.set(format);
    let b = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CLOUDTASK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // A log that cannot be written (its disk full) is not worth dying for: by default the
        // subscriber reports a failed write with `eprintln!`, which panics when stderr fails
        // too — that took the agent's loop, and the agent, down (found by the soak test).
        .log_internal_errors(false);
    match format {
        LogFormat::Text => b
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => b.json().with_ansi(false).init(),
    }
}

/// Waits for SIGTERM or SIGINT (Ctrl-C elsewhere).
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Fires `trigger` on the first SIGTERM or SIGINT: the daemon's one way in to its shutdown.
pub fn stop_on_signal(trigger: Trigger) {
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("stop signal received; shutting down");
        trigger.fire();
    });
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &std::path::Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_data_dir_is_narrowed_to_its_owner_but_for_what_runs_pass_through() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::write(dir.join("cloudtask.db"), "x").unwrap();
        std::fs::set_permissions(
            dir.join("cloudtask.db"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        std::fs::create_dir(dir.join("specs")).unwrap();
        std::fs::create_dir(dir.join("work")).unwrap();
        let modes = || ["", "cloudtask.db", "specs", "work"].map(|name| mode(&dir.join(name)));
        secure_data_dir(dir, &[]).unwrap();
        assert_eq!(modes(), [0o700, 0o600, 0o700, 0o700]);
        secure_data_dir(dir, &["work"]).unwrap();
        assert_eq!(modes(), [0o711, 0o600, 0o700, 0o711]);
    }
}
