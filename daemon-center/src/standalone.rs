//! Wiring of one center process: store, tokens, coordination, HTTP API, allocator and, in
//! standalone mode, the in-process agent. Owns startup order and shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use cloudtask_agent::AgentConfig;
use cloudtask_agent::package::Limits;
use cloudtask_shared::DEFAULT_CLUSTER;
use cloudtask_shared::coord::Coordination;
use cloudtask_shared::coord::embedded::EmbeddedEngine;
use tokio::sync::watch;

use crate::allocator::{Allocator, Placements};
use crate::api::{self, AppState};
use crate::auth::{Role, Tokens};
use crate::config::Config;
use crate::hub::Hub;
use crate::store::Store;

pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let dir = &cfg.data_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("creating data dir {}", dir.display()))?;
    let store = Store::open(&dir.join("cloudtask.db"))
        .await
        .context("opening the store")?;
    let tokens = Tokens::load(&store).await?;
    let admin_file = dir.join("admin.token");
    if tokens
        .bootstrap(&store, Role::Admin, "admin", &admin_file)
        .await?
    {
        println!(
            "admin token written to {} (readable by you only)",
            admin_file.display()
        );
    }
    let agent_file = dir.join("agent.token");
    tokens
        .bootstrap(&store, Role::Agent, "agent", &agent_file)
        .await?;

    let engine = EmbeddedEngine::open(&dir.join("claims.log")).context("opening the claims log")?;
    let coord: Arc<dyn Coordination> = Arc::new(engine.session("center"));
    let (shutdown_tx, shutdown) = watch::channel(false);
    let hub = Hub::default();
    let placements = Placements::default();

    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("listening on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let state = AppState {
        store: store.clone(),
        hub: hub.clone(),
        tokens,
        placements: placements.clone(),
        coord: coord.clone(),
        packages_dir: dir.join("packages"),
        max_upload_bytes: cfg.max_upload_bytes,
        mode: "standalone",
    };
    let app = api::router(state);
    let mut server_shutdown = shutdown.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = server_shutdown.changed().await;
            })
            .await
    });

    let allocator = Allocator {
        coord: coord.clone(),
        store,
        hub,
        placements,
        candidate: format!("center@{addr}"),
    };
    tokio::spawn(allocator.run(shutdown.clone()));

    let agent_cfg = AgentConfig {
        name: cfg.node_name.clone(),
        cluster: DEFAULT_CLUSTER.to_string(),
        center_url: format!("http://{}", loopback(addr)),
        token: Tokens::read_secret(&agent_file)
            .with_context(|| format!("reading {}", agent_file.display()))?,
        data_dir: dir.join("agent"),
        address: None,
        labels: Default::default(),
        capacity: 64,
        log_cap: cfg.log_cap_bytes,
        package_limits: Limits::default(),
    };
    let agent_coord: Arc<dyn Coordination> = Arc::new(engine.session(&cfg.node_name));
    let agent = tokio::spawn(cloudtask_agent::run(
        agent_cfg,
        agent_coord,
        shutdown.clone(),
    ));

    println!("cloudtask-center (standalone) listening on http://{addr}");
    println!(
        "node {:?} running tasks of cluster {DEFAULT_CLUSTER:?}",
        cfg.node_name
    );

    wait_for_signal().await;
    tracing::info!("shutting down");
    let _ = shutdown_tx.send(true);
    match agent.await {
        Ok(Err(e)) => tracing::error!(error = %e, "agent stopped with an error"),
        Err(e) => tracing::error!(error = %e, "agent task failed"),
        Ok(Ok(())) => {}
    }
    server.await?.context("http server")?;
    Ok(())
}

/// The address agents in this process use to reach the API.
fn loopback(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    }
}

async fn wait_for_signal() {
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
