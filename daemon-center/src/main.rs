//! `cloudtask-center`: the HTTP API, store, allocation and (with `--standalone`) a whole
//! single-machine CloudTask in one process.

mod allocator;
mod api;
mod auth;
mod config;
mod hub;
mod server;
mod store;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let args = config::Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CLOUDTASK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cfg = config::Config::load(args)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(server::run(cfg))
}
