//! Configuration: a TOML file, overridden by `CLOUDTASK_*` environment variables, overridden
//! by flags.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use jiff::SignedDuration;
use serde::Deserialize;

use crate::service::retention::Policy;

/// The CloudTask center: HTTP API, store, allocation, notifications.
///
/// `--standalone` runs the whole system on this machine: the center, one agent in-process and
/// the embedded coordination engine, with no ZooKeeper or other service. `--zk CONNECT` runs
/// the center of a cluster: agents (`cloudtask-agent`) run the tasks, and several centers may
/// share one ZooKeeper; only the elected leader allocates.
#[derive(Debug, Parser)]
#[command(name = "cloudtask-center", version)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Run center and one agent in this process with embedded coordination.
    #[arg(long)]
    pub standalone: bool,
    /// TOML configuration file.
    #[arg(long, env = "CLOUDTASK_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where the store, packages, tokens and the agent's spool live.
    #[arg(long, env = "CLOUDTASK_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The store: a PostgreSQL URL (postgres://USER@HOST/DB), one database every center
    /// shares, or an SQLite file [default: cloudtask.db in the data dir].
    #[arg(long, env = "CLOUDTASK_STORE", value_name = "URL|FILE")]
    pub store: Option<String>,
    /// Address the HTTP API listens on (port 0 picks a free port).
    #[arg(long, env = "CLOUDTASK_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// The URL other centers reach this one at, to relay the live output of runs whose
    /// agent reports here [default: the scheme and --listen address, the host's name in
    /// place of an unspecified one].
    #[arg(long, env = "CLOUDTASK_ADVERTISE", value_name = "URL")]
    pub advertise: Option<String>,
    /// PEM CA certificates other centers' HTTPS is checked against when relaying [default:
    /// the system's].
    #[arg(long, env = "CLOUDTASK_PEER_CA_FILE", value_name = "FILE")]
    pub peer_ca_file: Option<PathBuf>,
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
    /// A connection that sends no request for this long, or a request body (an upload) that
    /// sends no data for this long, is closed (default 30s; a transfer is never cut while
    /// data flows).
    #[arg(long, env = "CLOUDTASK_IDLE_TIMEOUT", value_name = "DURATION")]
    pub idle_timeout: Option<String>,
    /// Requests handled at once; beyond it the center answers 503 `busy` at once rather than
    /// queue (default 256; event streams and followed logs count only while they start).
    #[arg(long, env = "CLOUDTASK_MAX_REQUESTS", value_name = "N")]
    pub max_requests: Option<usize>,
    /// How long a login (`cloudtaskctl login --user`) lasts (default 12h).
    #[arg(long, env = "CLOUDTASK_SESSION_TTL", value_name = "DURATION")]
    pub session_ttl: Option<String>,
    /// The longest an API token may last (`token create --expires-in`; default 90d).
    #[arg(long, env = "CLOUDTASK_MAX_TOKEN_TTL", value_name = "DURATION")]
    pub max_token_ttl: Option<String>,
    /// Finished runs (with their logs) kept per task, unless the task sets its own
    /// (default 1000).
    #[arg(long, env = "CLOUDTASK_KEEP_RUNS", value_name = "N")]
    pub keep_runs: Option<u32>,
    /// How long finished runs are kept, unless the task sets its own (default 30d).
    #[arg(long, env = "CLOUDTASK_KEEP_RUNS_FOR", value_name = "DURATION")]
    pub keep_runs_for: Option<String>,
    /// How long audit rows are kept (default 365d).
    #[arg(long, env = "CLOUDTASK_KEEP_AUDIT_FOR", value_name = "DURATION")]
    pub keep_audit_for: Option<String>,
    /// Packages kept in each task's history; older ones no task names are deleted
    /// (default 10).
    #[arg(long, env = "CLOUDTASK_KEEP_PACKAGES", value_name = "N")]
    pub keep_packages: Option<u32>,
    /// How often retention deletes what it lets go (default 1m).
    #[arg(long, env = "CLOUDTASK_RETENTION_EVERY", value_name = "DURATION")]
    pub retention_every: Option<String>,
    /// PEM certificate chain to serve HTTPS with (with --tls-key); read again on SIGHUP.
    #[arg(
        long,
        env = "CLOUDTASK_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1); read again on SIGHUP.
    #[arg(
        long,
        env = "CLOUDTASK_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP on an address other than loopback: tokens, secrets and commands then
    /// cross the network in clear text. Without it such a center needs --tls-cert.
    #[arg(long, env = "CLOUDTASK_PLAIN_HTTP")]
    pub plain_http: bool,
    /// ZooKeeper connection string with optional chroot (host1:2181,host2:2181/cloudtask):
    /// run as the center of a cluster.
    #[arg(long, env = "CLOUDTASK_ZK", conflicts_with = "standalone")]
    pub zk: Option<String>,
    /// ZooKeeper session timeout, e.g. 10s; the server clamps it to its own bounds.
    #[arg(long, env = "CLOUDTASK_ZK_SESSION_TIMEOUT")]
    pub zk_session_timeout: Option<String>,
    /// File holding the center's ZooKeeper identity, `user:password` (digest
    /// authentication): the tree is then the center's own.
    #[arg(
        long,
        env = "CLOUDTASK_ZK_DIGEST_FILE",
        requires = "zk_agent_digest_file"
    )]
    pub zk_digest_file: Option<PathBuf>,
    /// File holding the agents' ZooKeeper identity, `user:password`: agents may read the
    /// tree, register and claim, nothing more.
    #[arg(
        long,
        env = "CLOUDTASK_ZK_AGENT_DIGEST_FILE",
        requires = "zk_digest_file"
    )]
    pub zk_agent_digest_file: Option<PathBuf>,
    /// Use ZooKeeper without credentials: anyone who reaches it can then delete claims (a run
    /// fires twice) or rewrite assignments. For a ZooKeeper only this cluster can reach.
    #[arg(long, env = "CLOUDTASK_ZK_INSECURE")]
    pub zk_insecure: bool,
    /// Standalone: which users the in-process agent's runs execute as.
    #[command(flatten)]
    pub run_as: cloudtask_agent::users::RunAsArgs,
    /// Who hears about failing tasks, and how.
    #[command(flatten)]
    pub alerts: crate::alerts::AlertArgs,
    /// Log lines as text, or as one JSON object per line for log shippers.
    #[arg(long, env = "CLOUDTASK_LOG_FORMAT", value_enum, default_value_t)]
    pub log_format: cloudtask_daemon_kit::LogFormat,
}

/// What the binary does instead of serving.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Copy every row of a store, packages included, into another, empty store, and verify
    /// each table's count: how an SQLite store moves to PostgreSQL (or back). Stop the
    /// centers that use the source first.
    CopyStore {
        /// The store to read: an SQLite file or a postgres:// URL.
        #[arg(long, value_name = "URL|FILE")]
        from: String,
        /// The store to fill, which must be empty: a postgres:// URL or an SQLite file.
        #[arg(long, value_name = "URL|FILE")]
        to: String,
    },
}

/// Keys of the TOML file; the same names as the flags, with underscores.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    standalone: Option<bool>,
    data_dir: Option<PathBuf>,
    store: Option<String>,
    listen: Option<SocketAddr>,
    advertise: Option<String>,
    peer_ca_file: Option<PathBuf>,
    max_upload_bytes: Option<u64>,
    log_cap_bytes: Option<usize>,
    node_name: Option<String>,
    capacity: Option<u32>,
    launch_ahead: Option<String>,
    drain_timeout: Option<String>,
    idle_timeout: Option<String>,
    max_requests: Option<usize>,
    session_ttl: Option<String>,
    max_token_ttl: Option<String>,
    keep_runs: Option<u32>,
    keep_runs_for: Option<String>,
    keep_audit_for: Option<String>,
    keep_packages: Option<u32>,
    retention_every: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    plain_http: Option<bool>,
    zk: Option<String>,
    zk_session_timeout: Option<String>,
    zk_digest_file: Option<PathBuf>,
    zk_agent_digest_file: Option<PathBuf>,
    zk_insecure: Option<bool>,
    run_as: Option<String>,
    allow_run_as: Option<Vec<String>>,
    allow_root_runs: Option<bool>,
    /// Alerting keys (`[alerts]`): the alert flags' names with underscores, and
    /// `[alerts.notify_groups]`.
    alerts: Option<crate::alerts::AlertFile>,
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
        /// Which users the in-process agent's runs execute as.
        run_as: cloudtask_agent::users::RunAsArgs,
    },
    /// ZooKeeper; agents are separate processes.
    Cluster(cloudtask_shared::coord::zookeeper::ZkConfig),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub store: StoreLocation,
    pub listen: SocketAddr,
    /// How other centers reach this one; `None`: from the bound address.
    pub advertise: Option<reqwest::Url>,
    pub peer_ca_file: Option<PathBuf>,
    pub max_upload_bytes: u64,
    pub log_cap_bytes: usize,
    /// Idle connections and stalled request bodies are closed after this long.
    pub idle_timeout: std::time::Duration,
    /// Requests handled at once before the center sheds load.
    pub max_requests: usize,
    /// How long a login lasts.
    pub session_ttl: std::time::Duration,
    /// The longest an API token may last.
    pub max_token_ttl: std::time::Duration,
    pub retention: Policy,
    /// The certificate and key HTTPS is served with; none: plain HTTP.
    pub tls: Option<crate::tls::TlsFiles>,
    pub mode: Mode,
    pub alerts: crate::alerts::Settings,
}

/// This host's name, from `$HOSTNAME` or `/etc/hostname`.
fn host_name() -> Option<String> {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|h| !h.is_empty())
}

/// Where other centers reach a center that was not told (`--advertise`): the address it
/// listens on, or this host's name when that address is unspecified (0.0.0.0, ::).
pub fn default_advertise(scheme: &str, addr: SocketAddr) -> anyhow::Result<reqwest::Url> {
    let host = if addr.ip().is_unspecified() {
        host_name()
            .context("listening on every address and no host name known: pass --advertise")?
    } else {
        match addr.ip() {
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        }
    };
    let url = format!("{scheme}://{host}:{}", addr.port());
    reqwest::Url::parse(&url).with_context(|| format!("the advertised address {url}"))
}

/// A duration flag: its value, or `default` when it was not given.
fn duration_or(
    flag: &str,
    given: Option<String>,
    default: SignedDuration,
) -> anyhow::Result<SignedDuration> {
    match given {
        None => Ok(default),
        Some(text) => {
            let ms = cloudtask_shared::parse_duration_ms(&text)
                .map_err(|e| anyhow::anyhow!("--{flag} {text:?}: {e}"))?;
            if ms == 0 {
                anyhow::bail!("--{flag} {text:?}: must be positive");
            }
            Ok(SignedDuration::from_millis(
                i64::try_from(ms).unwrap_or(i64::MAX),
            ))
        }
    }
}

/// Where the store is: what `--store` names, its password kept out of `Debug` (configs are
/// logged).
#[derive(Clone, PartialEq, Eq)]
pub struct StoreLocation(pub String);

impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match url_without_password(&self.0) {
            Some(shown) => write!(f, "{shown}"),
            None => write!(f, "{}", self.0),
        }
    }
}

/// `scheme://user:***@host…` for a URL with a password in it.
fn url_without_password(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let (userinfo, host) = rest.split_once('@')?;
    let (user, _password) = userinfo.split_once(':')?;
    Some(format!("{scheme}://{user}:***@{host}"))
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
            .or_else(host_name)
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
                let mut run_as = args.run_as.clone();
                run_as.run_as = run_as.run_as.or(file.run_as.clone());
                if run_as.allow_run_as.is_empty() {
                    run_as.allow_run_as = file.allow_run_as.clone().unwrap_or_default();
                }
                run_as.allow_root_runs |= file.allow_root_runs.unwrap_or(false);
                Mode::Standalone {
                    node_name,
                    capacity: args.capacity.or(file.capacity).unwrap_or(512),
                    launch_ahead: std::time::Duration::from_millis(ms),
                    drain_timeout: std::time::Duration::from_millis(drain_ms),
                    run_as,
                }
            }
            (false, Some(connect)) => {
                let ra = &args.run_as;
                if ra.run_as.is_some()
                    || !ra.allow_run_as.is_empty()
                    || ra.allow_root_runs
                    || file.run_as.is_some()
                    || file.allow_run_as.is_some()
                    || file.allow_root_runs.is_some()
                {
                    anyhow::bail!(
                        "--run-as, --allow-run-as and --allow-root-runs are for --standalone: a cluster's runs execute on its agents, which take these flags"
                    );
                }
                let mut zk = cloudtask_shared::coord::zookeeper::ZkConfig::new(&connect);
                if let Some(t) = args.zk_session_timeout.or(file.zk_session_timeout) {
                    let ms = cloudtask_shared::parse_duration_ms(&t)
                        .map_err(|e| anyhow::anyhow!("--zk-session-timeout {t:?}: {e}"))?;
                    zk.session_timeout = std::time::Duration::from_millis(ms);
                }
                let insecure = args.zk_insecure || file.zk_insecure.unwrap_or(false);
                let read = cloudtask_shared::coord::zookeeper::read_digest_file;
                match (
                    args.zk_digest_file.or(file.zk_digest_file),
                    args.zk_agent_digest_file.or(file.zk_agent_digest_file),
                ) {
                    (Some(own), Some(agents)) if !insecure => {
                        zk.digest = Some(read(&own)?);
                        zk.agent_digest = Some(read(&agents)?);
                    }
                    (None, None) if insecure => {}
                    (Some(_), Some(_)) => anyhow::bail!(
                        "--zk-insecure and ZooKeeper credentials exclude each other: choose one"
                    ),
                    (Some(_), None) | (None, Some(_)) => anyhow::bail!(
                        "ZooKeeper credentials come in pairs: --zk-digest-file (the center's) and --zk-agent-digest-file (the agents')"
                    ),
                    (None, None) => anyhow::bail!(
                        "ZooKeeper without credentials lets anyone who reaches it delete claims (a run fires twice) or rewrite assignments: give --zk-digest-file (the center's identity) and --zk-agent-digest-file (the agents'), or --zk-insecure for a ZooKeeper only this cluster can reach"
                    ),
                }
                Mode::Cluster(zk)
            }
            (false, None) => anyhow::bail!(
                "choose a mode: --standalone (everything on this machine) or --zk CONNECT (a cluster's center)"
            ),
        };
        let defaults = Policy::default();
        let every = duration_or(
            "retention-every",
            args.retention_every.or(file.retention_every),
            SignedDuration::try_from(defaults.every)?,
        )?;
        let retention = Policy {
            keep_runs: match args.keep_runs.or(file.keep_runs) {
                Some(0) => anyhow::bail!("--keep-runs 0: keep at least 1 run per task"),
                n => n.unwrap_or(defaults.keep_runs),
            },
            keep_runs_for: duration_or(
                "keep-runs-for",
                args.keep_runs_for.or(file.keep_runs_for),
                defaults.keep_runs_for,
            )?,
            keep_audit_for: duration_or(
                "keep-audit-for",
                args.keep_audit_for.or(file.keep_audit_for),
                defaults.keep_audit_for,
            )?,
            keep_packages: match args.keep_packages.or(file.keep_packages) {
                Some(0) => anyhow::bail!("--keep-packages 0: a task's current package is kept"),
                n => n.unwrap_or(defaults.keep_packages),
            },
            every: every.unsigned_abs(),
        };
        let idle_timeout = duration_or(
            "idle-timeout",
            args.idle_timeout.or(file.idle_timeout),
            SignedDuration::from_secs(30),
        )?
        .unsigned_abs();
        let max_requests = match args.max_requests.or(file.max_requests) {
            Some(0) => anyhow::bail!("--max-requests 0: the center would answer nothing"),
            n => n.unwrap_or(256),
        };
        let session_ttl = duration_or(
            "session-ttl",
            args.session_ttl.or(file.session_ttl),
            SignedDuration::from_hours(12),
        )?;
        if session_ttl.is_zero() {
            anyhow::bail!("--session-ttl 0s: every login would have ended already");
        }
        let max_token_ttl = duration_or(
            "max-token-ttl",
            args.max_token_ttl.or(file.max_token_ttl),
            SignedDuration::from_hours(90 * 24),
        )?;
        if max_token_ttl.is_zero() {
            anyhow::bail!("--max-token-ttl 0s: no API token could be made");
        }
        let listen = args.listen.or(file.listen).unwrap_or_else(|| {
            DEFAULT_LISTEN
                .parse()
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 7878)))
        });
        let tls = match (
            args.tls_cert.or(file.tls_cert),
            args.tls_key.or(file.tls_key),
        ) {
            (Some(cert), Some(key)) => Some(crate::tls::TlsFiles { cert, key }),
            (None, None) => None,
            _ => anyhow::bail!("--tls-cert and --tls-key go together: give both or neither"),
        };
        let plain_http = args.plain_http || file.plain_http.unwrap_or(false);
        if tls.is_none() && !listen.ip().is_loopback() && !plain_http {
            anyhow::bail!(
                "--listen {listen} is reachable from the network, and without TLS tokens and secrets would cross it in clear text: pass --tls-cert and --tls-key, or --plain-http to accept that"
            );
        }
        let advertise = match args.advertise.or(file.advertise) {
            None => None,
            Some(u) => {
                let url = reqwest::Url::parse(&u)
                    .map_err(|e| anyhow::anyhow!("--advertise {u:?}: not a URL: {e}"))?;
                if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                    anyhow::bail!("--advertise {u:?}: give http://HOST:PORT or https://HOST:PORT");
                }
                Some(url)
            }
        };
        let alerts =
            crate::alerts::Settings::load(args.alerts, file.alerts.unwrap_or_default(), &data_dir)?;
        let store = StoreLocation(
            args.store
                .or(file.store)
                .unwrap_or_else(|| data_dir.join("cloudtask.db").display().to_string()),
        );
        Ok(Config {
            store,
            alerts,
            idle_timeout,
            tls,
            max_requests,
            session_ttl: session_ttl.unsigned_abs(),
            max_token_ttl: max_token_ttl.unsigned_abs(),
            retention,
            data_dir,
            listen,
            advertise,
            peer_ca_file: args.peer_ca_file.or(file.peer_ca_file),
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
    fn a_store_url_shows_without_its_password() {
        let url = super::StoreLocation("postgres://ct:s3cret@db.example:5432/ct".into());
        assert_eq!(format!("{url:?}"), "postgres://ct:***@db.example:5432/ct");
        let file = super::StoreLocation("/var/lib/cloudtask/cloudtask.db".into());
        assert_eq!(format!("{file:?}"), "/var/lib/cloudtask/cloudtask.db");
    }

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
    fn a_center_reachable_from_the_network_serves_tls_unless_plain_http_is_asked_for() {
        use clap::Parser;
        let load = |extra: &[&str]| {
            let mut argv = vec!["cloudtask-center", "--standalone", "--data-dir", "/x"];
            argv.extend_from_slice(extra);
            super::Config::load(super::Args::try_parse_from(argv).unwrap())
        };
        let err = load(&["--listen", "0.0.0.0:7878"]).unwrap_err().to_string();
        assert!(
            err.contains("--tls-cert") && err.contains("--plain-http"),
            "{err}"
        );
        assert!(load(&["--listen", "0.0.0.0:7878", "--plain-http"]).is_ok());
        let cfg = load(&[
            "--listen",
            "0.0.0.0:7878",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
        ])
        .unwrap();
        assert_eq!(cfg.tls.map(|t| t.key), Some("k.pem".into()));
        // Loopback needs neither.
        assert!(load(&["--listen", "127.0.0.1:0"]).unwrap().tls.is_none());
        // One of the pair alone is a usage error.
        let argv = ["cloudtask-center", "--standalone", "--tls-cert", "c.pem"];
        assert!(super::Args::try_parse_from(argv).is_err());
    }

    #[test]
    fn the_advertised_url_is_checked_and_defaults_to_the_listen_address() {
        use clap::Parser;
        let load = |extra: &[&str]| {
            let mut argv = vec!["cloudtask-center", "--standalone", "--data-dir", "/x"];
            argv.extend_from_slice(extra);
            super::Config::load(super::Args::try_parse_from(argv).unwrap())
        };
        let cfg = load(&["--advertise", "https://center-2.example:7878"]).unwrap();
        assert_eq!(
            cfg.advertise.map(|u| u.to_string()).as_deref(),
            Some("https://center-2.example:7878/")
        );
        for bad in ["center-2:7878", "ftp://center-2", "not a url"] {
            let err = load(&["--advertise", bad]).unwrap_err().to_string();
            assert!(err.contains("--advertise"), "{bad}: {err}");
        }
        let url = super::default_advertise("http", "127.0.0.1:7001".parse().unwrap()).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:7001/");
        let url = super::default_advertise("https", "[::1]:7002".parse().unwrap()).unwrap();
        assert_eq!(url.as_str(), "https://[::1]:7002/");
    }

    #[test]
    fn retention_and_limits_come_from_file_and_flags_and_bad_values_are_named() {
        use clap::Parser;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("center.toml");
        std::fs::write(
            &file,
            "keep_runs = 50\nkeep_runs_for = \"7d\"\nmax_requests = 8\n",
        )
        .unwrap();
        let load = |extra: &[&str]| {
            let mut argv = vec!["cloudtask-center", "--standalone", "--config"];
            argv.push(file.to_str().unwrap());
            argv.extend_from_slice(extra);
            super::Config::load(super::Args::try_parse_from(argv).unwrap())
        };
        let cfg = load(&["--keep-audit-for", "90d", "--idle-timeout", "5s"]).unwrap();
        assert_eq!(cfg.retention.keep_runs, 50);
        assert_eq!(
            cfg.retention.keep_runs_for,
            jiff::SignedDuration::from_hours(7 * 24)
        );
        assert_eq!(
            cfg.retention.keep_audit_for,
            jiff::SignedDuration::from_hours(90 * 24)
        );
        assert_eq!(cfg.retention.keep_packages, 10, "the default");
        assert_eq!((cfg.max_requests, cfg.idle_timeout.as_secs()), (8, 5));
        for (flag, value, named) in [
            ("--keep-runs", "0", "--keep-runs 0"),
            ("--keep-packages", "0", "--keep-packages 0"),
            ("--max-requests", "0", "--max-requests 0"),
            ("--keep-runs-for", "a while", "--keep-runs-for \"a while\""),
            ("--retention-every", "0s", "must be positive"),
        ] {
            let err = load(&[flag, value]).unwrap_err().to_string();
            assert!(err.contains(named), "{flag} {value}: {err}");
        }
    }

    #[test]
    fn config_file_keys_are_checked() {
        let err = toml::from_str::<super::FileConfig>("listen = \"127.0.0.1:1\"\nlisen = 1\n")
            .unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");
    }
}
