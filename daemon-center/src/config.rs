//! Configuration: a TOML file, overridden by `CLOUDTASK_*` environment variables, overridden
//! by flags.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use serde::Deserialize;

/// The CloudTask center: HTTP API, store, allocation, notifications.
///
/// `--standalone` runs the whole system on this machine: the center, one agent in-process and
/// the embedded coordination engine, with no ZooKeeper or other service. `--zk CONNECT` runs
/// the center of a cluster: agents (`cloudtask-agent`) run the tasks, and several centers may
/// share one ZooKeeper; only the elected leader allocates.
#[derive(Debug, Parser)]
#[command(name = "cloudtask-center", version)]
pub struct Args {
    /// Run center and one agent in this process with embedded coordination.
    #[arg(long)]
    pub standalone: bool,
    /// TOML configuration file.
    #[arg(long, env = "CLOUDTASK_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where the store, packages, tokens and the agent's spool live.
    #[arg(long, env = "CLOUDTASK_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address the HTTP API listens on (port 0 picks a free port).
    #[arg(long, env = "CLOUDTASK_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Largest package upload, in bytes.
    #[arg(long, env = "CLOUDTASK_MAX_UPLOAD_BYTES")]
    pub max_upload_bytes: Option<u64>,
    /// Output kept per run, in bytes (head and tail).
    #[arg(long, env = "CLOUDTASK_LOG_CAP_BYTES")]
    pub log_cap_bytes: Option<usize>,
    /// Name of the in-process agent's node (standalone).
    #[arg(long, env = "CLOUDTASK_NODE")]
    pub node_name: Option<String>,
    /// Runs the in-process agent runs at once (standalone; default 512).
    #[arg(long, env = "CLOUDTASK_CAPACITY")]
    pub capacity: Option<u32>,
    /// How long before its instant a run's process is started and held, so that runs due on
    /// the same instant start together (standalone; default 500ms; 0s turns it off).
    #[arg(long, env = "CLOUDTASK_LAUNCH_AHEAD")]
    pub launch_ahead: Option<String>,
    /// At shutdown, how long the in-process agent lets running runs finish before it kills
    /// them (standalone; default 10s).
    #[arg(long, env = "CLOUDTASK_DRAIN_TIMEOUT")]
    pub drain_timeout: Option<String>,
    /// ZooKeeper connection string with optional chroot (host1:2181,host2:2181/cloudtask):
    /// run as the center of a cluster.
    #[arg(long, env = "CLOUDTASK_ZK", conflicts_with = "standalone")]
    pub zk: Option<String>,
    /// ZooKeeper session timeout, e.g. 10s; the server clamps it to its own bounds.
    #[arg(long, env = "CLOUDTASK_ZK_SESSION_TIMEOUT")]
    pub zk_session_timeout: Option<String>,
    /// File holding `user:password` for ZooKeeper digest authentication; znodes are then
    /// created readable and writable by that identity only.
    #[arg(long, env = "CLOUDTASK_ZK_DIGEST_FILE")]
    pub zk_digest_file: Option<PathBuf>,
}

/// Keys of the TOML file; the same names as the flags, with underscores.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    standalone: Option<bool>,
    data_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
    max_upload_bytes: Option<u64>,
    log_cap_bytes: Option<usize>,
    node_name: Option<String>,
    capacity: Option<u32>,
    launch_ahead: Option<String>,
    drain_timeout: Option<String>,
    zk: Option<String>,
    zk_session_timeout: Option<String>,
    zk_digest_file: Option<PathBuf>,
}

/// How this center coordinates.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Embedded coordination and an in-process agent.
    Standalone {
        node_name: String,
        capacity: u32,
        launch_ahead: std::time::Duration,
        drain_timeout: std::time::Duration,
    },
    /// ZooKeeper; agents are separate processes.
    Cluster(cloudtask_shared::coord::zookeeper::ZkConfig),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub max_upload_bytes: u64,
    pub log_cap_bytes: usize,
    pub mode: Mode,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:7878";

impl Config {
    pub fn load(args: Args) -> anyhow::Result<Config> {
        let file = match &args.config {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading config file {}", p.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .with_context(|| format!("config file {}", p.display()))?
            }
            None => FileConfig::default(),
        };
        let data_dir = match args.data_dir.or(file.data_dir) {
            Some(d) => d,
            None => directories::ProjectDirs::from("", "", "cloudtask")
                .map(|p| p.data_dir().to_path_buf())
                .context("no home directory to put the data dir in: pass --data-dir")?,
        };
        let node_name = args
            .node_name
            .or(file.node_name)
            .or_else(|| std::env::var("HOSTNAME").ok())
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|h| h.trim().to_string())
            })
            .filter(|n| cloudtask_shared::validate_name("node", n).is_ok())
            .unwrap_or_else(|| "local".to_string());
        let standalone = args.standalone || file.standalone.unwrap_or(false);
        let zk = args.zk.or(file.zk);
        let mode = match (standalone, zk) {
            (true, Some(_)) => {
                anyhow::bail!("--standalone and --zk exclude each other: choose one mode")
            }
            (true, None) => {
                let ahead = args.launch_ahead.or(file.launch_ahead);
                let ahead = ahead
                    .as_deref()
                    .unwrap_or(cloudtask_agent::DEFAULT_LAUNCH_AHEAD);
                let ms = cloudtask_shared::parse_duration_ms(ahead)
                    .map_err(|e| anyhow::anyhow!("--launch-ahead {ahead:?}: {e}"))?;
                let drain = args.drain_timeout.or(file.drain_timeout);
                let drain = drain
                    .as_deref()
                    .unwrap_or(cloudtask_agent::DEFAULT_DRAIN_TIMEOUT);
                let drain_ms = cloudtask_shared::parse_duration_ms(drain)
                    .map_err(|e| anyhow::anyhow!("--drain-timeout {drain:?}: {e}"))?;
                Mode::Standalone {
                    node_name,
                    capacity: args.capacity.or(file.capacity).unwrap_or(512),
                    launch_ahead: std::time::Duration::from_millis(ms),
                    drain_timeout: std::time::Duration::from_millis(drain_ms),
                }
            }
            (false, Some(connect)) => {
                let mut zk = cloudtask_shared::coord::zookeeper::ZkConfig::new(&connect);
                if let Some(t) = args.zk_session_timeout.or(file.zk_session_timeout) {
                    let ms = cloudtask_shared::parse_duration_ms(&t)
                        .map_err(|e| anyhow::anyhow!("--zk-session-timeout {t:?}: {e}"))?;
                    zk.session_timeout = std::time::Duration::from_millis(ms);
                }
                if let Some(f) = args.zk_digest_file.or(file.zk_digest_file) {
                    zk.digest = Some(cloudtask_shared::coord::zookeeper::read_digest_file(&f)?);
                }
                Mode::Cluster(zk)
            }
            (false, None) => anyhow::bail!(
                "choose a mode: --standalone (everything on this machine) or --zk CONNECT (a cluster's center)"
            ),
        };
        Ok(Config {
            data_dir,
            listen: args.listen.or(file.listen).unwrap_or_else(|| {
                DEFAULT_LISTEN
                    .parse()
                    .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 7878)))
            }),
            max_upload_bytes: args
                .max_upload_bytes
                .or(file.max_upload_bytes)
                .unwrap_or(256 << 20),
            log_cap_bytes: args.log_cap_bytes.or(file.log_cap_bytes).unwrap_or(1 << 20),
            mode,
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn generated_man_page_is_current() {
        cloudtask_shared::generated::check_man_page(
            super::Args::command(),
            "8",
            "cloudtask-center.8",
        )
        .unwrap();
    }

    #[test]
    fn the_standalone_agent_takes_capacity_and_launch_ahead_from_file_and_flags() {
        use clap::Parser;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("center.toml");
        std::fs::write(&file, "capacity = 100\nlaunch_ahead = \"2s\"\n").unwrap();
        let load = |extra: &[&str]| {
            let mut argv = vec!["cloudtask-center", "--standalone", "--config"];
            argv.push(file.to_str().unwrap());
            argv.extend_from_slice(&["--data-dir", "/nonexistent"]);
            argv.extend_from_slice(extra);
            super::Config::load(super::Args::try_parse_from(argv).unwrap())
        };
        let ahead = |cfg: super::Config| match cfg.mode {
            super::Mode::Standalone {
                capacity,
                launch_ahead,
                ..
            } => (capacity, launch_ahead),
            super::Mode::Cluster(_) => panic!("not standalone"),
        };
        let secs = std::time::Duration::from_secs;
        assert_eq!(ahead(load(&[]).unwrap()), (100, secs(2)));
        assert_eq!(
            ahead(load(&["--capacity", "7", "--launch-ahead", "0s"]).unwrap()),
            (7, secs(0))
        );
        let err = load(&["--launch-ahead", "soon"]).unwrap_err();
        assert!(err.to_string().contains("--launch-ahead \"soon\""), "{err}");
    }

    #[test]
    fn config_file_keys_are_checked() {
        let err = toml::from_str::<super::FileConfig>("listen = \"127.0.0.1:1\"\nlisen = 1\n")
            .unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");
    }
}
