//! Wiring of one center process: store, tokens, coordination (embedded or ZooKeeper), HTTP
//! API, allocator and, in standalone mode, the in-process agent. Owns startup order and
//! shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use cloudtask_agent::AgentConfig;
use cloudtask_daemon_kit::archive::Limits;
use cloudtask_daemon_kit::stop_on_signal;
use cloudtask_shared::DEFAULT_CLUSTER;
use cloudtask_shared::backoff::Backoff;
use cloudtask_shared::coord::embedded::EmbeddedEngine;
use cloudtask_shared::coord::zookeeper::ZkSession;
use cloudtask_shared::coord::{Connect, Coordination, Sessions};
use cloudtask_shared::shutdown::{self, Shutdown};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::time::Duration;
use tokio::net::TcpListener;

use crate::allocator::{Allocator, Placements};
use crate::api::{self, AppState};
use crate::auth::{self, Credentials};
use crate::config::{Config, Mode};
use crate::hub::Hub;
use crate::service::Service;
use crate::service::outbox::{Dispatcher, Kick};
use crate::service::retention::Retention;
use crate::store::SharedStore;

pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let dir = &cfg.data_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("creating data dir {}", dir.display()))?;
    // Standalone: the users the in-process agent's runs execute as, checked before anything
    // starts.
    let run_as = match &cfg.mode {
        Mode::Standalone { run_as, .. } => Some(Arc::new(run_as.resolve()?)),
        Mode::Cluster(_) => None,
    };
    // The store holds every task's environment, the token files are credentials: the data
    // dir is its owner's alone, but for the in-process agent's directory when its runs
    // execute as other users (they pass through to their package and work directories).
    let pass_through: &[&str] = if run_as.as_ref().is_some_and(|r| r.switches()) {
        std::fs::create_dir_all(dir.join("agent"))
            .with_context(|| format!("creating {}", dir.join("agent").display()))?;
        &["agent"]
    } else {
        &[]
    };
    cloudtask_daemon_kit::secure_data_dir(dir, pass_through)
        .with_context(|| format!("making data dir {} private", dir.display()))?;
    let store: SharedStore = Arc::new(
        crate::store::sql::SqlStore::open(&cfg.store.0)
            .await
            .with_context(|| format!("opening the store {:?}", cfg.store))?,
    );
    let made = auth::bootstrap(&store, dir).await?;
    if let Some(file) = &made.password_file {
        println!(
            "first start: user \"admin\" created, its password is in {} (readable by you only); log in with: cloudtaskctl login --user admin --password-stdin < {}",
            file.display(),
            file.display()
        );
    }
    let credentials = Credentials::new(store.clone(), cfg.session_ttl);
    crate::service::packages::remove_stale_uploads(&dir.join("packages"));
    crate::service::packages::import_disk_blobs(&store, &dir.join("packages"))
        .await
        .context("moving package blobs from the data dir into the store")?;

    let (trigger, shutdown) = shutdown::channel();
    let (connect, agent_connect): (Connect, Option<Connect>) = match &cfg.mode {
        Mode::Standalone { node_name, .. } => {
            let engine =
                EmbeddedEngine::open(&dir.join("claims.log")).context("opening the claims log")?;
            let node = node_name.clone();
            (
                embedded(engine.clone(), "center"),
                Some(embedded(engine, &node)),
            )
        }
        Mode::Cluster(zk) => {
            let zk = zk.clone();
            let connect: Connect = Arc::new(move || {
                let zk = zk.clone();
                Box::pin(async move {
                    Ok(Arc::new(ZkSession::connect(&zk, "center").await?) as Arc<dyn Coordination>)
                })
            });
            (connect, None)
        }
    };
    // From here on, SIGTERM is the way out (it also ends a wait for ZooKeeper at startup).
    stop_on_signal(trigger);
    let sessions = Sessions::open(connect, &shutdown)
        .await
        .context("opening the coordination session")?;
    let hub = Hub::default();
    let placements = Placements::default();

    let tls = match &cfg.tls {
        Some(files) => Some(crate::tls::Acceptor::load(files.clone())?),
        None => None,
    };
    let listener = TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("listening on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let advertise = match &cfg.advertise {
        Some(url) => url.clone(),
        None => crate::config::default_advertise(scheme, addr)?,
    };
    let peers = crate::relay::Peers::new(sessions.clone(), &advertise, cfg.peer_ca_file.as_deref())
        .context("the client that reaches other centers")?;
    let kick = Kick::default();
    let alerts = Arc::new(cfg.alerts.clone());
    let deliver =
        crate::alerts::start(store.clone(), placements.clone(), alerts.clone(), &shutdown)
            .await
            .context("starting alerts")?;
    let service = Service {
        alerts,
        deliver,
        store: store.clone(),
        placements: placements.clone(),
        outbox: kick.clone(),
        packages_dir: dir.join("packages"),
        max_upload_bytes: cfg.max_upload_bytes,
        max_token_ttl: cfg.max_token_ttl,
    };
    let retention = Retention {
        store: store.clone(),
        policy: cfg.retention,
    };
    tokio::spawn(retention.run(shutdown.clone()));
    let dispatcher = Dispatcher::open(store.clone(), hub.clone(), format!("center@{addr}"), kick)
        .await
        .context("reading the outbox cursor")?;
    let dispatcher = tokio::spawn(dispatcher.run(shutdown.clone()));
    let state = AppState {
        store: store.clone(),
        service: service.clone(),
        hub: hub.clone(),
        credentials: credentials.clone(),
        placements: placements.clone(),
        sessions: sessions.clone(),
        peers: peers.clone(),
        mode: match cfg.mode {
            Mode::Standalone { .. } => "standalone",
            Mode::Cluster(_) => "cluster",
        },
        shutdown: shutdown.clone(),
    };
    hub.know_groups(&store.tasks().await.context("reading tasks")?);
    tokio::spawn(credentials.run_flusher(shutdown.clone()));
    let app = api::router(state, cfg.max_requests, cfg.idle_timeout);
    reload_on_hangup(tls.clone())?;
    let server = tokio::spawn(serve(
        listener,
        tls.clone(),
        app.clone(),
        cfg.idle_timeout,
        shutdown.clone(),
    ));

    // Standalone: the center's own node gets a fresh credential each start (before the first
    // allocation round, which places tasks only on credentialed nodes), kept in the data dir
    // (0600) for tools that act as that node.
    let local_token = match &cfg.mode {
        Mode::Standalone { node_name, .. } => {
            let token = service
                .local_node_credential(node_name, DEFAULT_CLUSTER)
                .await
                .context("making the local node's credential")?;
            auth::write_secret(&dir.join("node.token"), &token)?;
            Some(token)
        }
        Mode::Cluster(_) => None,
    };
    let allocator = Allocator {
        sessions,
        store,
        service,
        hub,
        placements,
        candidate: peers.candidate().to_string(),
        shared_store: agent_connect.is_none(),
    };
    tokio::spawn(allocator.run(shutdown.clone()));

    let Some(agent_connect) = agent_connect else {
        println!("cloudtask-center (cluster) listening on {scheme}://{addr}");
        println!("agents join with a join token: cloudtaskctl cluster token create NAME");
        shutdown.wait().await;
        server.await.context("http server")?;
        let _ = dispatcher.await;
        return Ok(());
    };
    let Mode::Standalone {
        node_name,
        capacity,
        launch_ahead,
        drain_timeout,
        ..
    } = &cfg.mode
    else {
        anyhow::bail!("an in-process agent runs in standalone mode only");
    };

    let token = local_token.context("the local node has no credential")?;
    // The in-process agent talks plain HTTP on loopback: with TLS on the public address, it
    // gets a loopback listener of its own (a certificate names the public host, not
    // 127.0.0.1).
    let agent_addr = match tls {
        None => loopback(addr),
        Some(_) => {
            let inner = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
                .await
                .context("listening on loopback for the in-process agent")?;
            let inner_addr = inner.local_addr()?;
            tokio::spawn(serve(inner, None, app, cfg.idle_timeout, shutdown.clone()));
            inner_addr
        }
    };
    let agent_cfg = AgentConfig {
        name: node_name.clone(),
        cluster: DEFAULT_CLUSTER.to_string(),
        centers: cloudtask_agent::client::Centers::new(&[format!("http://{agent_addr}")])
            .context("the in-process agent's center address")?,
        token,
        http: cloudtask_agent::client::http_client(None)?,
        data_dir: dir.join("agent"),
        address: None,
        labels: Default::default(),
        capacity: *capacity,
        launch_ahead: *launch_ahead,
        drain_timeout: *drain_timeout,
        // In-process: the stream is on loopback to this same process.
        stream_idle: std::time::Duration::from_secs(30),
        log_cap: cfg.log_cap_bytes,
        package_limits: Limits::default(),
        package_cache_max_bytes: cloudtask_agent::DEFAULT_PACKAGE_CACHE_MAX,
        // One process: nothing retries its runs elsewhere while it is frozen, but the keeper
        // still kills them when the center dies (its restart reports them lost).
        fence_lease: Some(std::time::Duration::from_secs(10)),
        run_as: run_as.context("the in-process agent has no run-as policy")?,
    };
    let agent_sessions = Sessions::open(agent_connect, &shutdown).await?;
    let agent = tokio::spawn(cloudtask_agent::run(
        agent_cfg,
        agent_sessions,
        shutdown.clone(),
    ));

    println!("cloudtask-center (standalone) listening on {scheme}://{addr}");
    println!("node {node_name:?} running tasks of cluster {DEFAULT_CLUSTER:?}");

    shutdown.wait().await;
    match agent.await {
        Ok(Err(e)) => tracing::error!(error = %e, "agent stopped with an error"),
        Err(e) => tracing::error!(error = %e, "agent task failed"),
        Ok(Ok(())) => {}
    }
    server.await.context("http server")?;
    let _ = dispatcher.await;
    Ok(())
}

/// SIGHUP reads the TLS certificate and key again (a renewed certificate is served to new
/// connections); nothing else is reloaded. Without TLS it is said and ignored, never the
/// default action (which would end the center).
fn reload_on_hangup(tls: Option<crate::tls::Acceptor>) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = signal(SignalKind::hangup()).context("listening for SIGHUP")?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            match &tls {
                None => tracing::info!("SIGHUP: no TLS certificate to reload"),
                Some(tls) => match tls.reload() {
                    Ok(()) => tracing::info!(
                        cert = %tls.files().cert.display(),
                        "SIGHUP: TLS certificate reloaded; new connections get it"
                    ),
                    Err(e) => tracing::error!(
                        error = %e,
                        "SIGHUP: cannot reload the TLS certificate; still serving the previous one"
                    ),
                },
            }
        }
    });
    Ok(())
}

/// Serves `app` until `shutdown`, then lets the requests in flight finish (event streams and
/// followed logs end on the same signal). A connection that sends no request headers for
/// `idle` is closed: idle keep-alive connections and clients that trickle their headers alike
/// (request bodies have their own idle timeout, in [`api::router`]); with `tls`, one that
/// does not finish its handshake within `idle` too.
async fn serve(
    listener: TcpListener,
    tls: Option<crate::tls::Acceptor>,
    app: axum::Router,
    idle: Duration,
    shutdown: Shutdown,
) {
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(idle);
    let mut refused = Backoff::new(Duration::from_millis(10), Duration::from_secs(1));
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = shutdown.wait() => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                refused.reset();
                accepted
            }
            // Out of file descriptors, most likely: wait a little, then take the next.
            Err(e) => {
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(refused.next_delay()).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        // Handlers and the gate learn where a request came from (rate limits, audit rows).
        let app = tower::ServiceExt::map_request(
            app.clone(),
            move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(api::Peer(peer));
                req
            },
        );
        let service = TowerToHyperService::new(app);
        let watcher = graceful.watcher();
        let http = http.clone();
        let tls = tls.as_ref().map(crate::tls::Acceptor::current);
        tokio::spawn(async move {
            let ended = match tls {
                None => {
                    let conn = http.serve_connection(TokioIo::new(stream), service);
                    watcher.watch(conn).await
                }
                // The handshake runs here, not in the accept loop: a slow client holds up
                // only its own connection.
                Some(tls) => match tokio::time::timeout(idle, tls.accept(stream)).await {
                    Ok(Ok(stream)) => {
                        let conn = http.serve_connection(TokioIo::new(stream), service);
                        watcher.watch(conn).await
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake not finished in time");
                        return;
                    }
                },
            };
            if let Err(e) = ended {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    graceful.shutdown().await;
}

/// Sessions on the in-process engine, labelled for claims.
fn embedded(engine: EmbeddedEngine, label: &str) -> Connect {
    let label = label.to_string();
    Arc::new(move || {
        let session = Arc::new(engine.session(&label)) as Arc<dyn Coordination>;
        Box::pin(async move { Ok(session) })
    })
}

/// The address agents in this process use to reach the API.
fn loopback(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    }
}
