//! `cloudtask-center`: the HTTP API, store, allocation and (with `--standalone`) a whole
//! single-machine CloudTask in one process.

mod alerts;
mod allocator;
mod api;
mod auth;
mod config;
mod hub;
mod relay;
mod server;
mod service;
mod store;
mod tls;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    cloudtask_daemon_kit::limit_malloc_arenas();
    cloudtask_shared::tls::install_provider();
    // The standalone agent's run fence is this binary started again as its keeper.
    if let Some(code) = cloudtask_agent::fence::keeper_entry() {
        std::process::exit(code);
    }
    // And its spawner, which starts runs as other users.
    #[cfg(target_os = "linux")]
    if let Some(code) = cloudtask_agent::spawner::spawner_entry() {
        std::process::exit(code);
    }
    cloudtask_daemon_kit::private_umask();
    let mut args = config::Args::parse();
    cloudtask_daemon_kit::init_logging(args.log_format);
    if let Some(config::Command::CopyStore { from, to }) = args.command.take() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let copied = rt.block_on(store::sql::copy::copy_store(&from, &to))?;
        let total: u64 = copied.iter().map(|(_, n)| n).sum();
        for (table, n) in &copied {
            println!("{table:<20} {n:>10}");
        }
        println!(
            "copied {total} rows in {} tables; every count verified",
            copied.len()
        );
        return Ok(());
    }
    // Before anything records a metric.
    cloudtask_daemon_kit::metrics::handle();
    let cfg = config::Config::load(args)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(server::run(cfg))
}
