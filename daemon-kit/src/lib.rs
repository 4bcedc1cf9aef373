//! Process plumbing both daemons share (`cloudtask-center` and `cloudtask-agent`): safe
//! archive unpacking, logging set-up and the operating-system stop signals. It exists so the
//! center does not depend on the agent library for plumbing (only standalone mode embeds
//! the agent), and so `cloudtask-shared` keeps doing no I/O outside its coordination
//! backends.

pub mod archive;

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

/// Logs to stderr, filtered by `CLOUDTASK_LOG` (default `info`), coloured only on a terminal.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CLOUDTASK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // A log that cannot be written (its disk full) is not worth dying for: by default the
        // subscriber reports a failed write with `eprintln!`, which panics when stderr fails
        // too — that took the agent's loop, and the agent, down (found by the soak test).
        .log_internal_errors(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
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
