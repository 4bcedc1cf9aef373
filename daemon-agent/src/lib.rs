//! The CloudTask node daemon as a library: `cloudtask-center --standalone` embeds it, the
//! `cloudtask-agent` binary runs it against a cluster.
//!
//! Layout, from the loop down:
//! - [`scheduler`]: the run loop — assignment, timers, batched claims, policies, retries.
//! - [`plan`]: pure planning of due instants (on time, catch-up, missed).
//! - [`runner`]: one run end to end — package, process, live output, spooled report.
//! - [`exec`]: the process group, timeout, stop and exit status.
//! - [`users`]: which user a run executes as (the task's, the node's default, the allow-list).
//! - [`spawner`]: the process that starts runs as other users without forking the agent.
//! - [`workdir`]: each run's fresh, private work directory.
//! - [`fence`]: the keeper process that kills runs when the agent freezes or dies.
//! - [`output`]: capped, timestamped output capture.
//! - [`package`]: package download, verification and the cache (unpacking is `cloudtask-daemon-kit`'s).
//! - [`spool`]: reports on disk until the center acknowledges them.
//! - [`client`]: the center's HTTP API as the agent uses it.
//!
//! Architecture invariant: the agent never writes the center's store; it only reports.

pub mod client;
pub mod credential;
pub mod exec;
pub mod fence;
pub mod metrics_http;
pub mod output;
pub mod package;
pub mod plan;
pub mod runner;
pub mod scheduler;
#[cfg(target_os = "linux")]
pub mod spawner;
pub mod spool;
pub mod tzdata;
pub mod users;
pub mod workdir;

pub use scheduler::{AgentConfig, Error, run};

/// Default lead of `--launch-ahead`, for `cloudtask-agent` and the standalone agent alike.
pub const DEFAULT_LAUNCH_AHEAD: &str = "500ms";

/// How long a stopping agent lets running runs finish before it kills them (`--drain-timeout`).
pub const DEFAULT_DRAIN_TIMEOUT: &str = "10s";

/// How long the agent's event stream may stay silent before it counts as dead and is opened
/// again (`--stream-idle-timeout`); the center sends a keep-alive every 5 s.
pub const DEFAULT_STREAM_IDLE: &str = "30s";

/// The package cache's default size bound (`--package-cache-max-bytes`): 10 GiB.
pub const DEFAULT_PACKAGE_CACHE_MAX: u64 = 10 << 30;
