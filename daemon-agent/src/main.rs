//! `cloudtask-agent`: the node daemon of a CloudTask cluster.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use cloudtask_agent::{AgentConfig, credential};
use cloudtask_daemon_kit::archive::Limits;
use cloudtask_daemon_kit::{init_logging, stop_on_signal};
use cloudtask_shared::api::JoinRequest;
use cloudtask_shared::coord::zookeeper::{ZkConfig, ZkSession, read_digest_file};
use cloudtask_shared::coord::{Connect, Coordination, Sessions};
use cloudtask_shared::shutdown;

/// Runs this node's share of a cluster's tasks.
///
/// The agent registers with ZooKeeper (its session is its heartbeat), runs the tasks the
/// center's leader assigns to it, claims every fire through ZooKeeper so it runs exactly
/// once, and reports results to the center (spooled on disk while the center is away).
/// For a single machine, `cloudtask-center --standalone` runs an agent in-process and needs
/// no ZooKeeper.
#[derive(Debug, Parser)]
#[command(
    name = "cloudtask-agent",
    version,
    after_help = "Example:\n  cloudtask-agent --zk zk1:2181,zk2:2181/cloudtask --cluster prod \\\n    --center https://center:7878 --ca-file /etc/cloudtask/ca.pem \\\n    --join-token-file /etc/cloudtask/join.token \\\n    --data-dir /var/lib/cloudtask-agent --label zone=eu1"
)]
struct Args {
    /// ZooKeeper connection string with optional chroot (host1:2181,host2:2181/cloudtask).
    #[arg(long, env = "CLOUDTASK_ZK")]
    zk: String,
    /// ZooKeeper session timeout: how long a silent node keeps its tasks (e.g. 10s).
    #[arg(long, env = "CLOUDTASK_ZK_SESSION_TIMEOUT", default_value = "10s")]
    zk_session_timeout: String,
    /// File holding the agents' ZooKeeper identity, `user:password` (digest authentication):
    /// the same file the center gets as --zk-agent-digest-file.
    #[arg(long, env = "CLOUDTASK_ZK_DIGEST_FILE")]
    zk_digest_file: Option<PathBuf>,
    /// Use ZooKeeper without credentials: anyone who reaches it can then delete claims (a run
    /// fires twice) or rewrite assignments. For a ZooKeeper only this cluster can reach.
    #[arg(long, env = "CLOUDTASK_ZK_INSECURE", conflicts_with = "zk_digest_file")]
    zk_insecure: bool,
    /// Cluster this node belongs to.
    #[arg(long, env = "CLOUDTASK_CLUSTER", default_value = "default")]
    cluster: String,
    /// Base URL of the center (`https://` when it serves TLS); several, comma-separated or
    /// repeated, for centers sharing a store: the agent moves to the next when its center
    /// cannot be reached.
    #[arg(long, env = "CLOUDTASK_CENTER", value_delimiter = ',', required = true)]
    center: Vec<String>,
    /// PEM file of the CA the center's certificate must chain to (default: the system's
    /// roots).
    #[arg(long, env = "CLOUDTASK_CA_FILE", value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// File holding a join token (cloudtaskctl cluster token create): on the first start the
    /// node joins with it and keeps its own credential in DATA_DIR/node.token; later starts
    /// need neither the file nor the flag.
    #[arg(long, env = "CLOUDTASK_JOIN_TOKEN_FILE")]
    join_token_file: Option<PathBuf>,
    /// Node name, unique in the cluster (default: host name).
    #[arg(long, env = "CLOUDTASK_NODE")]
    name: Option<String>,
    /// Where specs, packages and the result spool live.
    #[arg(long, env = "CLOUDTASK_DATA_DIR")]
    data_dir: PathBuf,
    /// A label the center can place tasks by, KEY=VALUE (repeatable).
    #[arg(long = "label", value_parser = parse_label)]
    labels: Vec<(String, String)>,
    /// Concurrent runs this node accepts.
    #[arg(long, env = "CLOUDTASK_CAPACITY", default_value_t = 64)]
    capacity: u32,
    /// How long before its instant a run's process is started and held, so that runs due on
    /// the same instant start together (0s turns it off).
    #[arg(long, env = "CLOUDTASK_LAUNCH_AHEAD", default_value = cloudtask_agent::DEFAULT_LAUNCH_AHEAD, value_parser = parse_duration)]
    launch_ahead: Duration,
    /// At shutdown, how long running runs may finish before they are killed (recorded
    /// `killed`, "shutdown").
    #[arg(long, env = "CLOUDTASK_DRAIN_TIMEOUT", default_value = cloudtask_agent::DEFAULT_DRAIN_TIMEOUT, value_parser = parse_duration)]
    drain_timeout: Duration,
    /// How long the center's event stream may send nothing (it sends a keep-alive every 5 s)
    /// before the agent counts the connection dead and opens it again.
    #[arg(long, env = "CLOUDTASK_STREAM_IDLE_TIMEOUT", default_value = cloudtask_agent::DEFAULT_STREAM_IDLE, value_parser = parse_duration)]
    stream_idle_timeout: Duration,
    /// Output kept per run, in bytes (head and tail).
    #[arg(long, env = "CLOUDTASK_LOG_CAP_BYTES", default_value_t = 1 << 20)]
    log_cap_bytes: usize,
    /// Size bound of the unpacked package cache, in bytes; the least recently used packages
    /// no run is using go beyond it.
    #[arg(long, env = "CLOUDTASK_PACKAGE_CACHE_MAX_BYTES", default_value_t = cloudtask_agent::DEFAULT_PACKAGE_CACHE_MAX)]
    package_cache_max_bytes: u64,
    #[command(flatten)]
    run_as: cloudtask_agent::users::RunAsArgs,
    /// Serve Prometheus metrics at http://ADDR/metrics (a bare PORT listens on loopback);
    /// scrapers present a token the center accepts for its own /metrics. Off when not given.
    #[arg(long, env = "CLOUDTASK_METRICS_LISTEN", value_name = "[ADDR:]PORT", value_parser = parse_listen)]
    metrics_listen: Option<std::net::SocketAddr>,
    /// Log lines as text, or as one JSON object per line for log shippers.
    #[arg(long, env = "CLOUDTASK_LOG_FORMAT", value_enum, default_value_t)]
    log_format: cloudtask_daemon_kit::LogFormat,
}

fn parse_listen(s: &str) -> Result<std::net::SocketAddr, String> {
    if let Ok(port) = s.parse::<u16>() {
        return Ok(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    }
    s.parse()
        .map_err(|_| format!("{s:?} is neither a port nor an address:port"))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    cloudtask_shared::parse_duration_ms(s).map(Duration::from_millis)
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("label {s:?} is not KEY=VALUE")),
    }
}

fn host_name() -> Option<String> {
    std::env::var("HOSTNAME").ok().or_else(|| {
        std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_string())
    })
}

fn main() -> anyhow::Result<()> {
    cloudtask_daemon_kit::limit_malloc_arenas();
    cloudtask_shared::tls::install_provider();
    if let Some(code) = cloudtask_agent::fence::keeper_entry() {
        std::process::exit(code);
    }
    #[cfg(target_os = "linux")]
    if let Some(code) = cloudtask_agent::spawner::spawner_entry() {
        std::process::exit(code);
    }
    cloudtask_daemon_kit::private_umask();
    let args = Args::parse();
    init_logging(args.log_format);
    // Before anything records a metric.
    cloudtask_daemon_kit::metrics::handle();
    let name = args
        .name
        .clone()
        .or_else(host_name)
        .context("no node name: pass --name")?;
    cloudtask_shared::validate_name("node", &name).map_err(|e| anyhow::anyhow!("--name: {e}"))?;
    cloudtask_shared::validate_name("cluster", &args.cluster)
        .map_err(|e| anyhow::anyhow!("--cluster: {e}"))?;
    let timeout_ms = cloudtask_shared::parse_duration_ms(&args.zk_session_timeout)
        .map_err(|e| anyhow::anyhow!("--zk-session-timeout {:?}: {e}", args.zk_session_timeout))?;
    let mut zk = ZkConfig::new(&args.zk);
    zk.session_timeout = Duration::from_millis(timeout_ms);
    match &args.zk_digest_file {
        Some(f) => zk.digest = Some(read_digest_file(f)?),
        None if args.zk_insecure => {}
        None => anyhow::bail!(
            "ZooKeeper without credentials lets anyone who reaches it delete claims (a run fires twice) or rewrite assignments: give --zk-digest-file (the agents' identity, which the center knows), or --zk-insecure for a ZooKeeper only this cluster can reach"
        ),
    }
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating data dir {}", args.data_dir.display()))?;
    // It holds the node's credential and the cached specs, secret values included: its
    // owner's alone (runs as other users may only pass through it).
    cloudtask_daemon_kit::secure_data_dir(&args.data_dir, &[])
        .with_context(|| format!("making data dir {} private", args.data_dir.display()))?;
    let run_as = Arc::new(args.run_as.resolve()?);
    let centers = cloudtask_agent::client::Centers::new(&args.center)
        .context("--center: give the URL of at least one center")?;
    let http =
        cloudtask_agent::client::http_client(args.ca_file.as_deref()).context("--ca-file")?;
    let mut cfg = AgentConfig {
        name: name.clone(),
        cluster: args.cluster.clone(),
        centers: centers.clone(),
        token: String::new(),
        http: http.clone(),
        data_dir: args.data_dir.clone(),
        address: None,
        labels: args.labels.iter().cloned().collect::<BTreeMap<_, _>>(),
        capacity: args.capacity,
        launch_ahead: args.launch_ahead,
        drain_timeout: args.drain_timeout,
        stream_idle: args.stream_idle_timeout,
        log_cap: args.log_cap_bytes,
        package_limits: Limits::default(),
        package_cache_max_bytes: args.package_cache_max_bytes,
        // Half the session: runs die before the session can expire and the center retry them.
        fence_lease: Some(zk.session_timeout / 2),
        run_as,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let (trigger, shutdown) = shutdown::channel();
        stop_on_signal(trigger);
        if let Some(addr) = args.metrics_listen {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("--metrics-listen {addr}"))?;
            tracing::info!(%addr, "metrics at /metrics");
            tokio::spawn(cloudtask_agent::metrics_http::serve(
                listener,
                centers.clone(),
                http.clone(),
                shutdown.clone(),
            ));
        }
        // The credential before the registration: the center places tasks only on nodes
        // that have one.
        let join = JoinRequest {
            node: name.clone(),
            cluster: args.cluster.clone(),
        };
        cfg.token = credential::obtain(
            &centers,
            &http,
            &args.data_dir,
            args.join_token_file.as_deref(),
            &join,
            &shutdown,
        )
        .await?;
        let connect: Connect = Arc::new(move || {
            let (zk, name) = (zk.clone(), name.clone());
            Box::pin(async move {
                Ok(Arc::new(ZkSession::connect(&zk, &name).await?) as Arc<dyn Coordination>)
            })
        });
        let sessions = Sessions::open(connect, &shutdown)
            .await
            .context("connecting to ZooKeeper")?;
        cloudtask_agent::run(cfg, sessions, shutdown)
            .await
            .context("agent stopped")
    })
}

#[cfg(test)]
mod generated {
    use clap::CommandFactory;

    #[test]
    fn generated_man_page_is_current() {
        cloudtask_shared::generated::check_man_page(
            super::Args::command(),
            "8",
            "cloudtask-agent.8",
        )
        .unwrap();
    }
}
