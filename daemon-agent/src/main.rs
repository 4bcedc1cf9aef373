//! `cloudtask-agent`: the node daemon of a CloudTask cluster.

use std::path::PathBuf;

use clap::Parser;

/// Runs this node's share of a cluster's tasks.
///
/// A cluster agent coordinates with the center through ZooKeeper. For a single machine,
/// `cloudtask-center --standalone` runs an agent in-process and needs no ZooKeeper.
#[derive(Debug, Parser)]
#[command(name = "cloudtask-agent", version)]
struct Args {
    /// ZooKeeper connection string with optional chroot (host1:2181,host2:2181/cloudtask).
    #[arg(long, env = "CLOUDTASK_ZK")]
    zk: String,
    /// Cluster this node belongs to.
    #[arg(long, env = "CLOUDTASK_CLUSTER", default_value = "default")]
    cluster: String,
    /// Base URL of the center.
    #[arg(long, env = "CLOUDTASK_CENTER")]
    center: String,
    /// Node name, unique in the cluster (default: host name).
    #[arg(long, env = "CLOUDTASK_NODE")]
    name: Option<String>,
    /// Where specs, packages and the result spool live.
    #[arg(long, env = "CLOUDTASK_DATA_DIR")]
    data_dir: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::bail!(
        "cluster mode needs the ZooKeeper coordination backend, which this build does not include yet \
         (cannot join {:?} at {}); run `cloudtask-center --standalone` for a single machine",
        args.cluster,
        args.zk
    )
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
